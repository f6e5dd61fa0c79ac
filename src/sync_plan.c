/* sync_plan.c - what a sync has to do: the roots of both sides found,
 * which is SRC and which DST, and their entries handed to the merge. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client_int.h"
#include "sync_int.h"

/* Room for why a local root failed: a path and the reason. */
#define WHY_MAX (PATH_MAX + 512)

int ft_sync_name_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

    while (*x != '\0' && *x == *y)
        x++, y++;
    /* '/' right after '\0': a folder's entries follow it at once. */
    return (*x == '/' ? 1 : *x == '\0' ? 0 : *x + 1) -
           (*y == '/' ? 1 : *y == '\0' ? 0 : *y + 1);
}

bool ft_sync_name_safe(const char *name)
{
    const char *p = name;

    if (name[0] == '\0')
        return false;
    for (;;) {
        size_t n = strcspn(p, "/");

        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

enum ft_err ft_sync_list_take(struct sync *s, struct sync_list *out,
                              const struct ft_entry *f)
{
    struct sync_entry e = { f->name, f->is_dir ? 0 : f->size, f->mtime, f->mode,
                            f->is_dir ? SYNC_DIR : SYNC_FILE };

    if (!ft_sync_name_safe(f->name)) {
        ft_sync_keep(s, ft_sync_failed(s, f->name, FT_ERR_BAD_NAME,
                                       "a name that leads out of the folder, left alone"));
        return FT_OK;
    }
    if (ft_sync_list_add(out, &e) == FT_OK)
        return FT_OK;
    return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
}

/* What the remote root is: *exists, *is_dir, and for a file its entry. */
static enum ft_err remote_root(struct sync *s, bool *exists, bool *is_dir,
                               struct sync_entry *e)
{
    struct ft_stat st;
    enum ft_err err;

    *exists = *is_dir = true;
    if (ft_client_names_top(s->remote))
        return FT_OK;
    err = ft_client_stat_quick(s->c, s->remote, &st);
    if (err == FT_ERR_NOT_FOUND) {
        *exists = *is_dir = false;
        return FT_OK;
    }
    if (err != FT_OK)
        return ft_sync_failed(s, s->remote, err, ft_client_error(s->c));
    *is_dir = st.is_dir;
    *e = (struct sync_entry){ "", st.size, st.mtime, st.mode, SYNC_FILE };
    return FT_OK;
}

static bool ends_in_slash(const char *p)
{
    size_t n = strlen(p);

    return n > 0 && p[n - 1] == '/';
}

static const char *leaf_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/* dir/leaf, allocated; dir "" or the remote top: leaf. */
static char *path_join(const char *dir, const char *leaf, bool remote)
{
    size_t n = strlen(dir);
    char *out = NULL;

    if (remote && ft_client_names_top(dir))
        return strdup(leaf);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return asprintf(&out, "%.*s%s%s", (int)n, dir, n == 1 && dir[0] == '/' ? "" : "/",
                    leaf) < 0 ? NULL : out;
}

/* Opens the local side; a single file's entry in *e (exists says). */
static enum ft_err local_root(struct sync *s, bool *exists, bool *is_dir,
                              struct sync_entry *e)
{
    char why[WHY_MAX];
    struct stat sb;
    enum ft_err err = ft_sync_local_open(&s->local, exists, is_dir, why, sizeof(why));

    if (err != FT_OK)
        return ft_sync_failed(s, s->local.path, err, why);
    if (*is_dir || (!*exists && !s->o->push))
        return FT_OK;
    if (*exists && stat(s->local.path, &sb) == 0)
        *e = (struct sync_entry){ "", (uint64_t)sb.st_size, (int64_t)sb.st_mtime,
                                  (uint32_t)sb.st_mode, SYNC_FILE };
    if (!*exists)
        return ft_sync_failed(s, s->local.path, FT_ERR_IO, "no such file or folder");
    return FT_OK;
}

/* The local side is a single file: its folder opened. */
static enum ft_err local_single(struct sync *s)
{
    char why[WHY_MAX];
    enum ft_err err = ft_client_local_name_open(&s->local.file, s->local.path, why,
                                                sizeof(why));

    if (err != FT_OK)
        return ft_sync_failed(s, s->local.path, err, why);
    s->local.single = true;
    return FT_OK;
}

/* The source's root: a folder (listed later), or a single file (*e). */
static enum ft_err src_root(struct sync *s, bool *single, struct sync_entry *e)
{
    bool exists, is_dir;
    enum ft_err err;

    if (s->o->push) {
        err = local_root(s, &exists, &is_dir, e);
        if (err == FT_OK && !is_dir)
            err = local_single(s);
    } else {
        err = remote_root(s, &exists, &is_dir, e);
        if (err == FT_OK && !exists)
            err = ft_sync_failed(s, s->remote, FT_ERR_NOT_FOUND, "no such file or folder");
    }
    *single = err == FT_OK && !is_dir;
    return err;
}

/* A single file goes into DST when DST is a folder or ends in '/', as cp
 * does; otherwise DST is its new name. */
static enum ft_err dst_into(struct sync *s)
{
    const char *src_leaf = leaf_of(s->o->push ? s->local.path : s->remote);
    struct stat sb;
    char *joined;

    if (s->o->push) {
        bool exists, is_dir;
        struct sync_entry e;
        enum ft_err err = remote_root(s, &exists, &is_dir, &e);

        if (err != FT_OK || !(is_dir || ends_in_slash(s->remote)))
            return err;
        joined = path_join(s->remote, src_leaf, true);
        free(s->remote);
        s->remote = joined;
    } else {
        if (!ends_in_slash(s->local.path) &&
            !(stat(s->local.path, &sb) == 0 && S_ISDIR(sb.st_mode)))
            return FT_OK;
        joined = path_join(s->local.path, src_leaf, false);
        free(s->local_owned);
        s->local_owned = joined;
        s->local.path = joined;
    }
    return joined != NULL ? FT_OK : ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
}

/* The destination's root: what is there of a single file (*e, *has), or
 * the folder (*listed: to be listed). */
static enum ft_err dst_root(struct sync *s, bool single, bool *listed,
                            struct sync_entry *e, bool *has)
{
    bool exists, is_dir;
    enum ft_err err = s->o->push ? remote_root(s, &exists, &is_dir, e)
                                 : local_root(s, &exists, &is_dir, e);

    *listed = false;
    if (err != FT_OK)
        return err;
    if (single) {
        if (!s->o->push && (err = local_single(s)) != FT_OK)
            return err;
        e->name = "";
        e->type = is_dir ? SYNC_DIR : SYNC_FILE;
        *has = exists;
        return FT_OK;
    }
    if (exists && !is_dir)
        return ft_sync_failed(s, s->o->push ? s->remote : s->local.path, FT_ERR_USAGE,
                              "is a file, and the source a folder");
    s->dst_missing = !exists;
    *listed = exists;
    return FT_OK;
}

enum ft_err ft_sync_plan(struct sync *s)
{
    struct sync_entry src_one = { 0 }, dst_one = { 0 };
    bool single = false, dst_listed = false, dst_has = false;
    enum ft_err err = src_root(s, &single, &src_one);
    const struct sync_entry *src1 = single ? &src_one : NULL, *dst1;

    if (err == FT_OK && single)
        err = dst_into(s);
    if (err == FT_OK)
        err = dst_root(s, single, &dst_listed, &dst_one, &dst_has);
    if (err != FT_OK)
        return err;
    dst1 = dst_has ? &dst_one : NULL;
    return ft_sync_merge(s, s->o->push ? !single : dst_listed,
                         s->o->push ? dst_listed : !single, s->o->push ? src1 : dst1,
                         s->o->push ? dst1 : src1);
}
