/* store_s3_ns.c - the S3 backend's names: stat, listings, folders as markers, rm, mv. */
#define _GNU_SOURCE
#include "store_s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum ft_err ft_store_s3_stat(struct ft_store *store, const char *name,
                             struct ft_store_entry *info)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_s3_head h;
    struct ft_s3 *s = NULL;
    enum ft_err err = ft_store_s3_take(st, &s);

    if (err == FT_OK)
        err = ft_store_s3_find(st, s, name, info, &h);
    ft_store_s3_put_back(st, s);
    return err;
}

enum ft_store_kind ft_store_s3_obstacle(struct ft_store *store, const char *name,
                                        size_t *at)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_store_entry e;
    struct ft_s3_head h;
    struct ft_s3 *s = NULL;
    enum ft_store_kind kind = FT_STORE_NOTHING;
    enum ft_err err = ft_store_s3_take(st, &s);
    size_t above = err == FT_OK ? ft_store_s3_file_above(st, s, name, &err) : 0;

    *at = strlen(name);
    if (err == FT_OK && above > 0) {
        *at = above;
        kind = FT_STORE_FILE;
    } else if (err == FT_OK && ft_store_s3_what(st, s, name, &e, &h) == FT_OK) {
        kind = (e.mode & S_IFMT) == S_IFDIR ? FT_STORE_FOLDER : FT_STORE_FILE;
    }
    ft_store_s3_put_back(st, s);
    return kind;
}

static enum ft_err put_marker(struct ft_store_s3 *st, struct ft_s3 *s, const char *name)
{
    char key[FT_S3_KEY_MAX + 1];
    enum ft_err err = ft_store_s3_key(st, NULL, name, "/", key);

    return err == FT_OK ? ft_s3_put(s, key, "", 0, NULL, 0, NULL) : err;
}

/* Markers for the folders above name that have none (with parents). */
static enum ft_err make_above(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                              bool parents)
{
    char up[FT_PATH_MAX + 1];
    struct ft_store_entry e;
    struct ft_s3_head h;
    enum ft_err err = FT_OK;

    for (const char *p = strchr(name, '/'); err == FT_OK && p != NULL;
         p = strchr(p + 1, '/')) {
        snprintf(up, sizeof(up), "%.*s", (int)(p - name), name);
        err = ft_store_s3_what(st, s, up, &e, &h);
        if (err == FT_OK && (e.mode & S_IFMT) != S_IFDIR)
            err = FT_ERR_DENIED;
        else if (err == FT_ERR_NOT_FOUND && parents)
            err = put_marker(st, s, up);
    }
    return err;
}

/* The start of every change to name: a name ft takes, a store that may
 * change, a handle (*s, for the caller to give back), what is there now. */
static enum ft_err begin_change(struct ft_store_s3 *st, const char *name, struct ft_s3 **s,
                                struct ft_store_entry *e, struct ft_s3_head *h)
{
    enum ft_err err = ft_name_check(name, strlen(name));

    *s = NULL;
    if (err == FT_OK && st->read_only)
        err = FT_ERR_READ_ONLY;
    if (err == FT_OK)
        err = ft_store_s3_take(st, s);
    return err == FT_OK ? ft_store_s3_find(st, *s, name, e, h) : err;
}

enum ft_err ft_store_s3_mkdir(struct ft_store *store, const char *name, bool parents,
                              bool *made)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_store_entry e;
    struct ft_s3_head h;
    struct ft_s3 *s;
    enum ft_err err = begin_change(st, name, &s, &e, &h);

    *made = false;
    if (err == FT_OK) {
        err = parents && (e.mode & S_IFMT) == S_IFDIR ? FT_OK : FT_ERR_DENIED;
    } else if (err == FT_ERR_NOT_FOUND) {
        err = make_above(st, s, name, parents);
        if (err == FT_OK)
            err = put_marker(st, s, name);
        *made = err == FT_OK;
    }
    ft_store_s3_put_back(st, s);
    return err;
}

/* Keys gathered for DeleteObjects, sent a batch at a time. */
struct doomed {
    struct ft_s3 *s;
    char *keys[FT_S3_BATCH_MAX];
    size_t n;
    enum ft_err err;
};

static enum ft_err doomed_flush(struct doomed *d)
{
    enum ft_err err = FT_OK;

    if (d->n > 0)
        err = ft_s3_delete_batch(d->s, (const char *const *)d->keys, d->n);
    for (size_t i = 0; i < d->n; i++)
        free(d->keys[i]);
    d->n = 0;
    if (d->err == FT_OK)
        d->err = err;
    return err;
}

static enum ft_err doomed_add(struct doomed *d, const char *key)
{
    if (d->n == FT_S3_BATCH_MAX && doomed_flush(d) != FT_OK)
        return d->err;
    d->keys[d->n] = strdup(key);
    if (d->keys[d->n] == NULL)
        return d->err = FT_ERR_NOMEM;
    d->n++;
    return FT_OK;
}

enum ft_err ft_store_s3_copy(struct ft_store_s3 *st, struct ft_s3 *s, const char *from_key,
                             const char *to_key, const struct ft_s3_head *src,
                             char etag[FT_S3_ETAG_MAX])
{
    static const char *const kept[] = { FT_S3_META_MTIME, FT_S3_META_MODE, FT_S3_META_B2 };
    struct ft_s3_meta meta[3];
    size_t n = 0;

    if (src->size <= st->copy_max)
        return ft_s3_copy(s, from_key, to_key, etag);
    /* A multipart upload takes its metadata at create: the source's. */
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        const char *v = ft_s3_head_meta(src, kept[i]);

        if (v != NULL)
            meta[n++] = (struct ft_s3_meta){ kept[i], v };
    }
    return ft_s3_copy_parts(s, from_key, src->size, to_key, meta, n, st->copy_max, etag);
}

/* A file's digest sidecar follows it to its new name: copied as it is
 * while the copy kept the ETag it vouches for, written anew for the copy's
 * own ETag otherwise (a copy in parts has one of its own). */
static enum ft_err follow_digest(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                                 const char *to, const struct ft_s3_head *src,
                                 const char *new_etag, const char *from_key,
                                 const char *to_key)
{
    uint8_t digest[32];

    if (new_etag[0] == '\0' || strcmp(new_etag, src->etag) == 0)
        return ft_s3_copy(s, from_key, to_key, NULL);
    if (!ft_store_s3_digest_of(st, s, name, src, digest))
        return FT_ERR_NOT_FOUND; /* none to follow */
    return ft_store_s3_record(st, s, to, new_etag, digest);
}

/* A move copies each key before the batch deletes it. */
struct walk {
    struct ft_store_s3 *st;
    struct doomed d;
    size_t from_len;     /* the part of each key that is replaced */
    const char *to;      /* by this (a move), or NULL (a remove) */
    struct ft_s3 *s;     /* the listing's handle */
};

static int doom_entry(void *arg, const struct ft_s3_entry *e)
{
    struct walk *w = arg;
    char dst[FT_S3_KEY_MAX + 1];

    if (w->to != NULL) {
        /* The listing gives the size; only a copy in parts needs the
         * metadata, which takes a HEAD. */
        struct ft_s3_head h = { .size = e->size };
        int n = snprintf(dst, sizeof(dst), "%s%s", w->to, e->key + w->from_len);

        if (n < 0 || (size_t)n >= sizeof(dst))
            w->d.err = FT_ERR_BAD_NAME;
        else if (e->size > w->st->copy_max)
            w->d.err = ft_s3_head(w->d.s, e->key, &h);
        if (w->d.err == FT_OK)
            w->d.err = ft_store_s3_copy(w->st, w->d.s, e->key, dst, &h, NULL);
    }
    if (w->d.err == FT_OK)
        doomed_add(&w->d, e->key);
    return w->d.err != FT_OK;
}

/* Copies (to: non-NULL) and deletes every key under from_key (a prefix),
 * in batches. */
static enum ft_err walk_prefix(struct ft_store_s3 *st, struct ft_s3 *s, const char *from_key,
                               const char *to_key)
{
    struct walk w = { .st = st, .from_len = strlen(from_key), .to = to_key, .s = s };
    enum ft_err err = ft_store_s3_take(st, &w.d.s);

    if (err == FT_OK)
        err = ft_s3_list(s, from_key, NULL, 0, doom_entry, &w);
    if (err == FT_ERR_INTERRUPTED)
        err = w.d.err;
    if (err == FT_OK)
        err = doomed_flush(&w.d);
    else
        doomed_flush(&w.d); /* what was copied whole is not left twice */
    ft_store_s3_put_back(st, w.d.s);
    return err;
}

/* Moves (to non-NULL) or removes the file or folder name: its keys, and
 * its digest sidecars beside them (a file's HEAD is src). Below a folder
 * the sidecars are copied as they are: one whose object was copied in
 * parts (over copy_max) no longer matches its ETag, and that file's
 * digest is computed again at its first read. */
static enum ft_err shift(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                         bool folder, const struct ft_s3_head *src, const char *to)
{
    char from_key[FT_S3_KEY_MAX + 1], to_key[FT_S3_KEY_MAX + 1];
    char etag[FT_S3_ETAG_MAX] = "";
    const char *suffix = folder ? "/" : "";
    enum ft_err err = FT_OK;

    for (int side = 0; err == FT_OK && side < 2; side++) {
        const char *below = side == 0 ? NULL : FT_S3_B2_DIR;

        err = ft_store_s3_key(st, below, name, suffix, from_key);
        if (err == FT_OK && to != NULL)
            err = ft_store_s3_key(st, below, to, suffix, to_key);
        if (err != FT_OK)
            break;
        if (folder)
            err = walk_prefix(st, s, from_key, to != NULL ? to_key : NULL);
        else if (to != NULL && side == 0)
            err = ft_store_s3_copy(st, s, from_key, to_key, src, etag);
        else if (to != NULL)
            err = follow_digest(st, s, name, to, src, etag, from_key, to_key);
        if (!folder && (err == FT_OK || side == 1))
            err = ft_s3_delete(s, from_key);
        if (side == 1 && err == FT_ERR_NOT_FOUND)
            err = FT_OK; /* no sidecar */
    }
    return err;
}

enum ft_err ft_store_s3_remove(struct ft_store *store, const char *name, bool recursive)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_store_entry e;
    struct ft_s3_head h;
    struct ft_s3 *s;
    enum ft_err err = begin_change(st, name, &s, &e, &h);

    if (err == FT_OK && (e.mode & S_IFMT) == S_IFDIR && !recursive)
        err = FT_ERR_DENIED;
    if (err == FT_OK)
        err = shift(st, s, name, (e.mode & S_IFMT) == S_IFDIR, &h, NULL);
    ft_store_s3_put_back(st, s);
    return err;
}

/* Copy then delete, key by key below a folder: not atomic (a reader sees
 * the old name, the new, or both for a while), but every object is whole
 * under either name. */
enum ft_err ft_store_s3_move(struct ft_store *store, const char *from, const char *to)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_store_entry src, dst;
    struct ft_s3_head h = { .size = 0 }; /* copied below even if begin_change failed */
    struct ft_s3 *s;
    size_t from_len = strlen(from);
    enum ft_err err = begin_change(st, from, &s, &src, &h);
    struct ft_s3_head src_head = h;
    bool folder;

    if (err == FT_OK)
        err = ft_name_check(to, strlen(to));
    if (err != FT_OK)
        goto out;
    folder = (src.mode & S_IFMT) == S_IFDIR;
    /* Into itself, or over a folder (a file) or a file (a folder). */
    if (err == FT_OK && strncmp(to, from, from_len) == 0 && to[from_len] == '/')
        err = FT_ERR_DENIED;
    if (err == FT_OK && ft_store_s3_file_above(st, s, to, &err) > 0)
        err = FT_ERR_DENIED; /* the folders it needs are implicit, files are not */
    if (err == FT_OK) {
        err = ft_store_s3_what(st, s, to, &dst, &h);
        if (err == FT_OK)
            err = folder || (dst.mode & S_IFMT) == S_IFDIR ? FT_ERR_DENIED : FT_OK;
        else if (err == FT_ERR_NOT_FOUND)
            err = FT_OK;
    }
    if (err == FT_OK && strcmp(from, to) != 0)
        err = shift(st, s, from, folder, &src_head, to);
out:
    ft_store_s3_put_back(st, s);
    return err;
}

/* What a file's HEAD found: enough for its entry. */
struct found {
    enum ft_err err; /* INTERRUPTED: no answer (dropped when another failed) */
    uint64_t size;
    int64_t mtime;
    uint32_t mode;
};

/* One listing handed to the caller as entries, a page at a time: the
 * HEADs of a page's files (their mtime and mode) go out together first,
 * then the page is handed on in key order. */
struct lister {
    struct ft_s3_heads *heads;
    size_t base_len;    /* the listed prefix, cut from each key */
    bool top;           /* listing the root: .ft is left out */
    bool recursive;
    char open[FT_PATH_MAX + 1]; /* the folder the last key was in */
    ft_store_list_fn fn;
    void *ctx;
    enum ft_err err;
    enum ft_err failed; /* the first HEAD that failed (not NOT_FOUND) */
    /* The page's files: their keys (the page's strings) and HEADs. */
    const char **keys;
    struct found *found;
    size_t cap;
};

static enum ft_err emit_folder(struct lister *l, const char *rel, size_t len, time_t when)
{
    struct ft_store_entry e = { .mode = S_IFDIR | 0755, .mtime = (int64_t)when };

    snprintf(e.name, sizeof(e.name), "%.*s", (int)len, rel);
    return l->fn(&e, l->ctx);
}

/* The folders of path (a folder) not handed out yet: keys come in order,
 * so a folder's keys are together, and each is told once. */
static enum ft_err emit_folders(struct lister *l, const char *path, time_t when)
{
    size_t len = strlen(path), open_len = strlen(l->open);
    enum ft_err err = FT_OK;

    for (size_t i = 1; err == FT_OK && i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (i <= open_len && memcmp(l->open, path, i) == 0 &&
            (i == open_len || l->open[i] == '/'))
            continue; /* told before */
        err = emit_folder(l, path, i, when);
    }
    snprintf(l->open, sizeof(l->open), "%s", path);
    return err;
}

static enum ft_err emit_file(struct lister *l, const char *rel, const struct found *f)
{
    struct ft_store_entry out = { .size = f->size, .mtime = f->mtime, .mode = f->mode };

    if (f->err == FT_ERR_NOT_FOUND)
        return FT_OK; /* gone since it was listed */
    if (f->err == FT_ERR_INTERRUPTED)
        return l->failed;
    if (f->err != FT_OK)
        return f->err;
    snprintf(out.name, sizeof(out.name), "%s", rel);
    return l->fn(&out, l->ctx);
}

/* What a listed entry is to the caller: its name below the listed folder
 * (path) and whether it is a folder; false for one it is not shown (the
 * listed folder's own marker, the metadata folder, names ft does not
 * serve). */
static bool shown(const struct lister *l, const struct ft_s3_entry *e,
                  char path[FT_PATH_MAX + 1], bool *folder)
{
    const char *rel = e->key + l->base_len;
    size_t len = strlen(rel);

    *folder = e->is_prefix || (len > 0 && rel[len - 1] == '/');
    if (len == 0 || len > FT_PATH_MAX)
        return false;
    snprintf(path, FT_PATH_MAX + 1, "%.*s", (int)(*folder ? len - 1 : len), rel);
    return (l->top ? ft_name_check : ft_name_check_below)(path, strlen(path)) == FT_OK;
}

/* A folder of a listing with a delimiter (a common prefix, which has no
 * time): its marker's time, from the HEAD of NAME/ that went with the
 * page's files; one only implied by the keys below it has none. */
static enum ft_err emit_listed_folder(struct lister *l, const char *path,
                                      const struct found *f)
{
    if (f->err == FT_ERR_INTERRUPTED)
        return l->failed;
    if (f->err != FT_OK && f->err != FT_ERR_NOT_FOUND)
        return f->err;
    return emit_folder(l, path, strlen(path), f->err == FT_OK ? (time_t)f->mtime : 0);
}

/* One entry; f is its HEAD's answer: a file's, or (not recursive) a
 * folder's marker's. */
static enum ft_err emit(struct lister *l, const struct ft_s3_entry *e, const char *path,
                        bool folder, const struct found *f)
{
    const char *slash = strrchr(path, '/');
    char dir[FT_PATH_MAX + 1];
    enum ft_err err = FT_OK;

    if (!l->recursive)
        return folder ? emit_listed_folder(l, path, f) : emit_file(l, path, f);
    if (folder)
        return emit_folders(l, path, e->mtime);
    if (slash == NULL) {
        l->open[0] = '\0'; /* the listed folder itself */
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        err = emit_folders(l, dir, e->mtime);
    }
    return err == FT_OK ? emit_file(l, path, f) : err;
}

static int head_found(void *arg, size_t i, enum ft_err err, const struct ft_s3_head *h)
{
    struct lister *l = arg;
    struct ft_store_entry e;

    l->found[i].err = err;
    if (err == FT_OK) {
        ft_store_s3_entry(h, &e);
        l->found[i] = (struct found){ FT_OK, e.size, e.mtime, e.mode };
    } else if (err != FT_ERR_NOT_FOUND && l->failed == FT_OK) {
        l->failed = err;
    }
    /* A failure ends the listing: the rest of the page is not asked. */
    return err != FT_OK && err != FT_ERR_NOT_FOUND;
}

/* Room for n files' keys and HEADs (a page's worth at most). */
static enum ft_err room(struct lister *l, size_t n)
{
    const char **keys;
    struct found *found;

    if (n <= l->cap)
        return FT_OK;
    keys = realloc(l->keys, n * sizeof(*keys));
    if (keys != NULL)
        l->keys = keys;
    found = keys != NULL ? realloc(l->found, n * sizeof(*found)) : NULL;
    if (found == NULL)
        return FT_ERR_NOMEM;
    l->found = found;
    l->cap = n;
    return FT_OK;
}

/* Whether an entry of the page gets a HEAD: a file (its mtime and mode),
 * and, not recursive, a folder (its marker's time: the prefix is the
 * marker's key). */
static bool headed(const struct lister *l, bool folder)
{
    return !folder || !l->recursive;
}

static int list_page(void *arg, const struct ft_s3_entry *e, size_t n)
{
    struct lister *l = arg;
    char path[FT_PATH_MAX + 1];
    size_t heads = 0;
    bool folder;
    enum ft_err err = room(l, n);

    for (size_t i = 0; err == FT_OK && i < n; i++) {
        if (shown(l, &e[i], path, &folder) && headed(l, folder)) {
            l->keys[heads] = e[i].key;
            l->found[heads++].err = FT_ERR_INTERRUPTED;
        }
    }
    if (err == FT_OK)
        err = ft_s3_heads_run(l->heads, l->keys, heads, head_found, l);
    if (err == FT_ERR_INTERRUPTED)
        err = FT_OK; /* a HEAD failed: the listing stops at its entry */
    heads = 0;
    for (size_t i = 0; err == FT_OK && i < n; i++) {
        if (shown(l, &e[i], path, &folder))
            err = emit(l, &e[i], path, folder,
                       headed(l, folder) ? &l->found[heads++] : NULL);
    }
    l->err = err;
    return err != FT_OK;
}

/* Lists folder's keys (ListObjectsV2 with a delimiter, or without one
 * for recursive), page by page; a file's mtime and mode are its
 * metadata, a HEAD each, a page's at once (see store_backend.h). */
static enum ft_err list_keys(struct ft_s3 *s, const char *base,
                             bool top, bool recursive, ft_store_list_fn fn, void *ctx)
{
    struct lister *l = calloc(1, sizeof(*l));
    enum ft_err err = l != NULL ? FT_OK : FT_ERR_NOMEM;

    if (err == FT_OK) {
        *l = (struct lister){ .base_len = strlen(base), .top = top,
                              .recursive = recursive, .fn = fn, .ctx = ctx };
        err = ft_s3_heads_open(s, &l->heads);
    }
    if (err == FT_OK)
        err = ft_s3_list_pages(s, base, recursive ? NULL : "/", 0, list_page, l);
    if (err == FT_ERR_INTERRUPTED)
        err = l->err;
    if (l != NULL) {
        ft_s3_heads_close(l->heads);
        free(l->keys);
        free(l->found);
    }
    free(l);
    return err;
}

enum ft_err ft_store_s3_list_as(struct ft_store *store, const char *folder, const char *shown,
                                bool recursive, ft_store_list_fn fn, void *ctx)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct ft_store_entry e;
    struct ft_s3_head h;
    char base[FT_S3_KEY_MAX + 1];
    struct ft_s3 *s = NULL;
    bool top = folder == NULL || folder[0] == '\0';
    enum ft_err err = top ? FT_OK : ft_name_check(folder, strlen(folder));

    if (err == FT_OK)
        err = ft_store_s3_take(st, &s);
    if (err == FT_OK && !top)
        err = ft_store_s3_what(st, s, folder, &e, &h);
    if (err == FT_OK && !top && (e.mode & S_IFMT) == S_IFREG) {
        snprintf(e.name, sizeof(e.name), "%s", shown);
        err = fn(&e, ctx); /* a file lists itself, as ls(1) does */
        goto out;
    }
    if (err == FT_OK)
        err = top ? ft_store_s3_key(st, NULL, "", "", base)
                  : ft_store_s3_key(st, NULL, folder, "/", base);
    if (err == FT_OK)
        err = list_keys(s, base, top, recursive, fn, ctx);
out:
    ft_store_s3_put_back(st, s);
    return err;
}

struct usage {
    uint64_t bytes, files;
};

static int count_key(void *arg, const struct ft_s3_entry *e)
{
    struct usage *u = arg;
    size_t len = strlen(e->key);

    if (len > 0 && e->key[len - 1] != '/') { /* not a folder's marker */
        u->bytes += e->size;
        u->files++;
    }
    return 0;
}

/* A folder that names a file counts that file. */
static enum ft_err usage_file(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                              struct usage *u)
{
    char key[FT_S3_KEY_MAX + 1];
    struct ft_s3_head h;
    enum ft_err err = ft_store_s3_key(st, NULL, name, "", key);

    if (err == FT_OK)
        err = ft_s3_head(s, key, &h);
    if (err == FT_OK) {
        u->bytes += h.size;
        u->files++;
    }
    return err == FT_ERR_NOT_FOUND ? FT_OK : err;
}

/* Sizes come with the listing: no HEAD per file. At the root, the
 * metadata folder is listed apart and taken off. */
enum ft_err ft_store_s3_usage(struct ft_store *store, const char *folder, uint64_t *bytes,
                              uint64_t *files)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct usage all = { 0, 0 }, meta = { 0, 0 };
    char base[FT_S3_KEY_MAX + 1];
    struct ft_s3 *s = NULL;
    bool top = folder == NULL || folder[0] == '\0';
    enum ft_err err = ft_store_s3_take(st, &s);

    if (err == FT_OK && !top)
        err = usage_file(st, s, folder, &all);
    if (err == FT_OK)
        err = ft_store_s3_key(st, NULL, top ? "" : folder, top ? "" : "/", base);
    if (err == FT_OK)
        err = ft_s3_list(s, base, NULL, 0, count_key, &all);
    if (err == FT_OK && top)
        err = ft_store_s3_key(st, NULL, FT_STORE_META, "/", base);
    if (err == FT_OK && top)
        err = ft_s3_list(s, base, NULL, 0, count_key, &meta);
    ft_store_s3_put_back(st, s);
    if (err == FT_ERR_NOT_FOUND)
        err = FT_OK;
    *bytes = all.bytes - meta.bytes;
    *files = all.files - meta.files;
    return err;
}
