/* sync_plan.c - what a sync has to do: both sides listed, in one order,
 * and compared name by name. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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

enum ft_err ft_sync_list_add(struct sync_list *l, const struct sync_entry *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        struct sync_entry *grown = realloc(l->e, cap * sizeof(*grown));

        if (grown == NULL)
            return FT_ERR_NOMEM;
        l->e = grown;
        l->cap = cap;
    }
    l->e[l->n++] = *e;
    return FT_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    return ft_sync_name_cmp(((const struct sync_entry *)a)->name,
                            ((const struct sync_entry *)b)->name);
}

void ft_sync_list_sort(struct sync_list *l)
{
    size_t i = 1;

    /* A listing may come in this order already: one pass tells. */
    while (i < l->n && entry_cmp(&l->e[i - 1], &l->e[i]) <= 0)
        i++;
    if (i < l->n)
        qsort(l->e, l->n, sizeof(*l->e), entry_cmp);
}

/* The blocks names are packed in; a name is at most FT_PATH_MAX bytes. */
#define NAME_BLOCK (64 * 1024)

const char *ft_sync_list_name(struct sync_list *l, const char *prefix, const char *leaf)
{
    bool both = leaf != NULL && prefix[0] != '\0';
    const char *one = leaf != NULL && !both ? leaf : prefix;
    size_t n = strlen(one) + (both ? 1 + strlen(leaf) : 0) + 1;
    char *at;

    if (n > NAME_BLOCK)
        return NULL;
    if (n > l->room) {
        char **blocks = realloc(l->blocks, (l->nblocks + 1) * sizeof(*blocks));

        if (blocks == NULL)
            return NULL;
        l->blocks = blocks;
        if ((blocks[l->nblocks] = malloc(NAME_BLOCK)) == NULL)
            return NULL;
        l->nblocks++;
        l->room = NAME_BLOCK;
    }
    at = l->blocks[l->nblocks - 1] + (NAME_BLOCK - l->room);
    if (both)
        snprintf(at, n, "%s/%s", prefix, leaf);
    else
        memcpy(at, one, n);
    l->room -= n;
    return at;
}

void ft_sync_list_free(struct sync_list *l)
{
    for (size_t i = 0; i < l->nblocks; i++)
        free(l->blocks[i]);
    free(l->blocks);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

enum ft_err ft_sync_list_take(struct sync *s, struct sync_list *out,
                              const struct ft_entry *f)
{
    struct sync_entry e = { NULL, f->is_dir ? 0 : f->size, f->mtime, f->mode,
                            f->is_dir ? SYNC_DIR : SYNC_FILE };

    if (!ft_sync_name_safe(f->name)) {
        ft_sync_keep(s, ft_sync_failed(s, f->name, FT_ERR_BAD_NAME,
                                       "a name that leads out of the folder, left alone"));
        return FT_OK;
    }
    e.name = ft_sync_list_name(out, f->name, NULL);
    if (e.name != NULL && ft_sync_list_add(out, &e) == FT_OK)
        return FT_OK;
    return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
}

/* A remote listing under way: where its entries go. */
struct listing {
    struct sync *s;
    struct sync_list *out;
    enum ft_err err;
};

static int listed(const struct ft_entry *e, void *ctx)
{
    struct listing *l = ctx;

    l->err = ft_sync_list_take(l->s, l->out, e);
    return l->err != FT_OK;
}

/* The entries below the remote folder s->remote into out, as they come:
 * no copy of the whole listing is held besides. */
static enum ft_err remote_list(struct sync *s, struct sync_list *out)
{
    struct listing l = { s, out, FT_OK };
    enum ft_err err = ft_client_list_folder(s->c, s->remote, true, listed, &l);

    if (l.err != FT_OK)
        return l.err;
    if (err != FT_OK)
        return ft_sync_failed(s, s->remote, err, ft_client_error(s->c));
    return FT_OK;
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

/* The source's root: a folder (listed later), or a single file. */
static enum ft_err src_root(struct sync *s, bool *single)
{
    struct sync_entry e = { 0 };
    bool exists, is_dir;
    enum ft_err err;

    if (s->o->push) {
        err = local_root(s, &exists, &is_dir, &e);
        if (err == FT_OK && !is_dir)
            err = local_single(s);
    } else {
        err = remote_root(s, &exists, &is_dir, &e);
        if (err == FT_OK && !exists)
            err = ft_sync_failed(s, s->remote, FT_ERR_NOT_FOUND, "no such file or folder");
    }
    *single = err == FT_OK && !is_dir;
    if (*single && ft_sync_list_add(&s->src, &e) != FT_OK)
        err = ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
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

/* The destination's root: what is there of a single file, or the folder
 * (*listed: to be listed). */
static enum ft_err dst_root(struct sync *s, bool single, bool *listed)
{
    struct sync_entry e = { 0 };
    bool exists, is_dir;
    enum ft_err err = s->o->push ? remote_root(s, &exists, &is_dir, &e)
                                 : local_root(s, &exists, &is_dir, &e);

    *listed = false;
    if (err != FT_OK)
        return err;
    if (single) {
        if (!s->o->push && (err = local_single(s)) != FT_OK)
            return err;
        e.type = is_dir ? SYNC_DIR : SYNC_FILE;
        return exists && ft_sync_list_add(&s->dst, &e) != FT_OK
                   ? ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory") : FT_OK;
    }
    if (exists && !is_dir)
        return ft_sync_failed(s, s->o->push ? s->remote : s->local.path, FT_ERR_USAGE,
                              "is a file, and the source a folder");
    s->dst_missing = !exists;
    *listed = exists;
    return FT_OK;
}

/* The local side's walk, on a thread of its own while the server lists
 * its side: its notes wait in the copy of the sync it runs with. */
struct walk_job {
    struct sync w;
    struct sync_list *out;
    bool tell;
    enum ft_err err;
};

static void *walk_job_run(void *arg)
{
    struct walk_job *j = arg;

    /* Sorted as walked (ft_dir_names); ft_sync_plan checks the order. */
    j->err = ft_sync_local_list(&j->w, j->out, j->tell);
    return NULL;
}

/* Lists the sides that are folders: the local walk and the server's
 * listing at once, when both are due (two round trips of work overlap). */
static enum ft_err list_sides(struct sync *s, bool local_due, bool remote_due)
{
    struct sync_list *local = s->o->push ? &s->src : &s->dst;
    struct sync_list *remote = s->o->push ? &s->dst : &s->src;
    struct walk_job j = { .w = *s, .out = local, .tell = s->o->push, .err = FT_OK };
    pthread_t thread;
    bool threaded = false;
    enum ft_err err = FT_OK;

    j.w.defer = true;
    if (local_due && remote_due)
        threaded = pthread_create(&thread, NULL, walk_job_run, &j) == 0;
    if (local_due && !threaded)
        walk_job_run(&j);
    if (remote_due)
        err = remote_list(s, remote);
    if (threaded)
        pthread_join(thread, NULL);
    ft_sync_notes_flush(s, &j.w);
    return err != FT_OK ? err : j.err;
}

/* How the file a of SRC differs from b, DST's, by what a listing tells. */
static unsigned differences(const struct sync_entry *a, const struct sync_entry *b)
{
    unsigned why = 0;

    if (a->size != b->size)
        why |= FT_SYNC_WHY_SIZE;
    if (a->mtime != b->mtime)
        why |= FT_SYNC_WHY_TIME;
    if (((a->mode & 0111) != 0) != ((b->mode & 0111) != 0))
        why |= FT_SYNC_WHY_PERMS;
    return why;
}

/* Whether name is below the folder folder ("" holds everything). */
static bool below(const char *name, const char *folder)
{
    size_t n = strlen(folder);

    return folder[0] == '\0' || (strncmp(name, folder, n) == 0 && name[n] == '/');
}

/* SRC's entry i, which DST lacks: a folder to make or a file to send. */
static void plan_new(struct sync *s, size_t i)
{
    if (s->src.e[i].type == SYNC_DIR) {
        s->mkdir[s->nmkdir++] = i;
        return;
    }
    s->why[i] = SYNC_WHY_NEW;
    s->send[s->nsend++] = i;
}

/* DST's entry j is removed; a folder takes what is below it along. */
static void plan_delete(struct sync *s, size_t j, const char **gone)
{
    s->del[s->ndel++] = j;
    if (s->dst.e[j].type == SYNC_DIR)
        *gone = s->dst.e[j].name;
}

/* The entry of the same name on both sides: SRC's i, DST's j. A folder in
 * the way of a file, or anything else in the way, is replaced; a folder
 * with something in it only with --delete. */
static void plan_both(struct sync *s, size_t i, size_t j, const char **gone)
{
    const struct sync_entry *a = &s->src.e[i], *b = &s->dst.e[j];
    bool full;

    if (a->type == b->type) {
        if (a->type != SYNC_FILE)
            return;
        s->why[i] = differences(a, b);
        if (s->why[i] & FT_SYNC_WHY_SIZE)
            s->send[s->nsend++] = i;
        else if (s->why[i] != 0 || s->o->checksum)
            s->check[s->ncheck++] = i;
        return;
    }
    full = b->type == SYNC_DIR &&
           (s->local.single || (j + 1 < s->dst.n && below(s->dst.e[j + 1].name, b->name)));
    if (full && !s->o->delete_extra) {
        ft_sync_keep(s, ft_sync_failed(s, a->name[0] ? a->name : ".", FT_ERR_IO,
                                       "a folder with files in it is in the way "
                                       "(--delete replaces it)"));
        return;
    }
    plan_delete(s, j, gone);
    plan_new(s, i);
}

/* Walks both sorted lists at once, name by name. */
static void compare(struct sync *s)
{
    const char *gone = NULL; /* the last folder of DST to be removed */
    size_t i = 0, j = 0;

    while (i < s->src.n || j < s->dst.n) {
        int cmp = i == s->src.n   ? 1
                  : j == s->dst.n ? -1
                                  : ft_sync_name_cmp(s->src.e[i].name, s->dst.e[j].name);

        if (cmp <= 0 && s->src.e[i].type == SYNC_FILE) {
            s->st->checked++;
            s->st->total_bytes += s->src.e[i].size;
        }
        if (cmp < 0) {
            plan_new(s, i++);
        } else if (cmp > 0) {
            if (!(gone != NULL && below(s->dst.e[j].name, gone)) && s->o->delete_extra)
                plan_delete(s, j, &gone);
            j++;
        } else {
            plan_both(s, i++, j++, &gone);
        }
    }
}

enum ft_err ft_sync_plan(struct sync *s)
{
    bool single = false, dst_listed = false;
    enum ft_err err = src_root(s, &single);

    if (err == FT_OK && single)
        err = dst_into(s);
    if (err == FT_OK)
        err = dst_root(s, single, &dst_listed);
    if (err == FT_OK)
        err = list_sides(s, s->o->push ? !single : dst_listed,
                         s->o->push ? dst_listed : !single);
    if (err != FT_OK)
        return err;
    ft_sync_list_sort(&s->src);
    ft_sync_list_sort(&s->dst);
    s->send = malloc((s->src.n + 1) * sizeof(*s->send));
    s->mkdir = malloc((s->src.n + 1) * sizeof(*s->mkdir));
    s->check = malloc((s->src.n + 1) * sizeof(*s->check));
    s->why = calloc(s->src.n + 1, sizeof(*s->why));
    s->del = malloc((s->dst.n + 1) * sizeof(*s->del));
    if (s->send == NULL || s->mkdir == NULL || s->check == NULL || s->why == NULL ||
        s->del == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    compare(s);
    return FT_OK;
}
