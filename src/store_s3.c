/* store_s3.c - the S3 backend: opening a bucket, its handles, names as keys. */
#define _GNU_SOURCE
#include "store_s3_int.h"
#include "name.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum ft_err ft_store_s3_take(struct ft_store_s3 *st, struct ft_s3 **out)
{
    struct ft_s3 *s = NULL;

    pthread_mutex_lock(&st->lock);
    if (st->nidle > 0)
        s = st->idle[--st->nidle];
    pthread_mutex_unlock(&st->lock);
    *out = s;
    return s != NULL ? FT_OK : ft_s3_open(&st->cfg, out);
}

void ft_store_s3_put_back(struct ft_store_s3 *st, struct ft_s3 *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    if (st->nidle < FT_S3_IDLE_MAX) {
        st->idle[st->nidle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&st->lock);
    ft_s3_close(s);
}

const char *ft_store_s3_name_refusal(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0, len; i < n; i += len) {
        if ((len = ft_utf8_len(name + i, n - i)) == 0)
            return "S3 names must be UTF-8";
    }
    return NULL;
}

enum ft_err ft_store_s3_key(const struct ft_store_s3 *st, const char *below,
                            const char *name, const char *suffix,
                            char out[FT_S3_KEY_MAX + 1])
{
    int n;

    /* S3 keys are UTF-8: another name would be refused as a bad request. */
    if (ft_store_s3_name_refusal(name) != NULL)
        return FT_ERR_BAD_NAME;
    n = snprintf(out, FT_S3_KEY_MAX + 1, "%s%s%s%s%s", st->prefix,
                 below != NULL ? FT_STORE_META "/" : "", below != NULL ? below : "", name,
                 suffix);

    return n < 0 || n > FT_S3_KEY_MAX ? FT_ERR_BAD_NAME : FT_OK;
}

void ft_store_s3_entry(const struct ft_s3_head *h, struct ft_store_entry *e)
{
    const char *mtime = ft_s3_head_meta(h, FT_S3_META_MTIME);
    const char *mode = ft_s3_head_meta(h, FT_S3_META_MODE);

    e->size = h->size;
    e->mtime = mtime != NULL ? strtoll(mtime, NULL, 10) : (int64_t)h->mtime;
    e->mode = S_IFREG | (mode != NULL ? (0644 | ((uint32_t)strtoul(mode, NULL, 8) & 0111))
                                      : 0644);
}

static int any_key(void *arg, const struct ft_s3_entry *e)
{
    *(time_t *)arg = e->mtime;
    return 1; /* one is enough */
}

enum ft_err ft_store_s3_what(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                             struct ft_store_entry *info, struct ft_s3_head *head)
{
    char key[FT_S3_KEY_MAX + 1];
    time_t when = 0;
    enum ft_err err;

    memset(info, 0, sizeof(*info));
    if (name == NULL || name[0] == '\0') {
        info->mode = S_IFDIR | 0755; /* the root is always there */
        return FT_OK;
    }
    snprintf(info->name, sizeof(info->name), "%s", name);
    err = ft_store_s3_key(st, NULL, name, "", key);
    if (err == FT_OK)
        err = ft_s3_head(s, key, head);
    if (err == FT_OK) {
        ft_store_s3_entry(head, info);
        return FT_OK;
    }
    if (err != FT_ERR_NOT_FOUND)
        return err;
    err = ft_store_s3_key(st, NULL, name, "/", key);
    if (err == FT_OK)
        err = ft_s3_list(s, key, "/", 1, any_key, &when);
    if (err == FT_ERR_INTERRUPTED) { /* a marker, or a key below */
        info->mode = S_IFDIR | 0755;
        info->mtime = (int64_t)when;
        return FT_OK;
    }
    return err == FT_OK ? FT_ERR_NOT_FOUND : err;
}

/* The first name above name (a prefix of it, cut at a '/') that is a file:
 * its length, or 0 when every one above is a folder or nothing. */
size_t ft_store_s3_file_above(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                              enum ft_err *err)
{
    char up[FT_PATH_MAX + 1];
    struct ft_s3_head h;

    *err = FT_OK;
    for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
        char key[FT_S3_KEY_MAX + 1];

        snprintf(up, sizeof(up), "%.*s", (int)(p - name), name);
        *err = ft_store_s3_key(st, NULL, up, "", key);
        if (*err == FT_OK)
            *err = ft_s3_head(s, key, &h);
        if (*err == FT_OK)
            return (size_t)(p - name);
        if (*err != FT_ERR_NOT_FOUND)
            return 0;
        *err = FT_OK;
    }
    return 0;
}

enum ft_err ft_store_s3_find(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                             struct ft_store_entry *info, struct ft_s3_head *head)
{
    enum ft_err err = ft_store_s3_what(st, s, name, info, head);
    size_t at;

    /* Only a miss pays for the HEADs above: a hit needs none. */
    if (err == FT_ERR_NOT_FOUND) {
        at = ft_store_s3_file_above(st, s, name, &err);
        if (err == FT_OK)
            err = at > 0 ? FT_ERR_DENIED : FT_ERR_NOT_FOUND;
    }
    return err;
}

static void s3_close(struct ft_store *store)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);

    for (size_t i = 0; i < st->nidle; i++)
        ft_s3_close(st->idle[i]);
    pthread_cond_destroy(&st->released);
    pthread_mutex_destroy(&st->lock);
    free((char *)st->cfg.endpoint);
    free((char *)st->cfg.region);
    free((char *)st->cfg.access_key);
    free((char *)st->cfg.secret_key);
    free((char *)st->cfg.bucket);
    free(st);
}

/* No folder on disk: the key comes from --key-file, the sandbox has no
 * path to allow (store_backend.h). */
static int s3_no_fd(const struct ft_store *st)
{
    (void)st;
    return -1;
}

/* Writes at offsets, held uploads, chunk lists and descriptors are off:
 * the server falls back as store.h says (see store_backend.h). */
static const struct ft_store_backend s3_backend = {
    .name = "s3",
    .caps = FT_STORE_CAN_KEEP,
    .close = s3_close,
    .meta_fd = s3_no_fd,
    .root_fd = s3_no_fd,
    .open_file = ft_store_s3_open_file,
    .file_close = ft_store_s3_file_close,
    .file_read_at = ft_store_s3_file_read_at,
    .file_fd = ft_store_s3_file_fd,
    .file_digest = ft_store_s3_file_digest,
    .file_remember = ft_store_s3_file_remember,
    .file_set_meta = ft_store_s3_file_set_meta,
    .stat = ft_store_s3_stat,
    .obstacle = ft_store_s3_obstacle,
    .name_refusal = ft_store_s3_name_refusal,
    .remove = ft_store_s3_remove,
    .move = ft_store_s3_move,
    .mkdir = ft_store_s3_mkdir,
    .list_as = ft_store_s3_list_as,
    .usage = ft_store_s3_usage,
    .upload_begin = ft_store_s3_upload_begin,
    .upload_begin_held = ft_store_s3_upload_begin_held,
    .upload_unhold = ft_store_s3_upload_unhold,
    .upload_recover = ft_store_s3_recover,
    .upload_begin_kept = ft_store_s3_upload_begin_kept,
    .upload_write = ft_store_s3_upload_write,
    .upload_write_at = ft_store_s3_upload_write_at,
    .upload_resize = ft_store_s3_upload_resize,
    .upload_read_at = ft_store_s3_upload_read_at,
    .upload_fd = ft_store_s3_upload_fd,
    .upload_keep = ft_store_s3_upload_keep,
    .upload_commit = ft_store_s3_upload_commit,
    .upload_commit_batch = ft_store_s3_upload_commit_batch,
    .upload_abort = ft_store_s3_upload_abort,
    .upload_drop_old = ft_store_s3_upload_drop_old,
    .expire_partials = ft_store_s3_expire_partials,
    .partial_count = ft_store_s3_partial_count,
    .partial_size = ft_store_s3_partial_size,
    .chunks_open = ft_store_s3_chunks_open,
    .chunks_read = ft_store_s3_chunks_read,
    .chunks_fd = ft_store_s3_chunks_fd,
    .chunks_close = ft_store_s3_chunks_close,
    .chunks_begin = ft_store_s3_chunks_begin,
    .chunks_add = ft_store_s3_chunks_add,
    .chunks_abort = ft_store_s3_chunks_abort,
    .file_remember_chunks = ft_store_s3_file_remember_chunks,
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static enum ft_err take_config(struct ft_store_s3 *st, const struct ft_store_location *loc,
                               const struct ft_store_options *opt, char *errbuf,
                               size_t errlen)
{
    if (opt->s3_endpoint == NULL || opt->s3_access_key == NULL ||
        opt->s3_secret_key == NULL) {
        snprintf(errbuf, errlen, "s3://%s: give the endpoint (--s3-endpoint) and the "
                 "credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", loc->bucket);
        return FT_ERR_USAGE;
    }
    st->cfg.endpoint = strdup(opt->s3_endpoint);
    st->cfg.region = dup_or_null(opt->s3_region);
    st->cfg.access_key = strdup(opt->s3_access_key);
    st->cfg.secret_key = strdup(opt->s3_secret_key);
    st->cfg.bucket = strdup(loc->bucket);
    if (st->cfg.endpoint == NULL || st->cfg.access_key == NULL ||
        st->cfg.secret_key == NULL || st->cfg.bucket == NULL ||
        (opt->s3_region != NULL && st->cfg.region == NULL))
        return FT_ERR_NOMEM;
    if (loc->prefix[0] != '\0')
        snprintf(st->prefix, sizeof(st->prefix), "%s/", loc->prefix);
    return FT_OK;
}

/* Reaches the bucket once, so that a wrong endpoint, key or bucket is
 * told at start; a bucket not there yet is made (not on a read-only
 * store). */
static enum ft_err reach(struct ft_store_s3 *st, char *errbuf, size_t errlen)
{
    struct ft_s3 *s = NULL;
    time_t when;
    enum ft_err err = ft_store_s3_take(st, &s);

    if (err == FT_OK)
        err = ft_s3_list(s, st->prefix, "/", 1, any_key, &when);
    if (err == FT_ERR_INTERRUPTED)
        err = FT_OK;
    /* Never made here: a name mistyped would get a bucket of its own. */
    if (err == FT_ERR_NOT_FOUND)
        snprintf(errbuf, errlen, "s3://%s: no such bucket (ft makes none: make it with "
                 "the engine's tools)", st->cfg.bucket);
    else if (err != FT_OK)
        snprintf(errbuf, errlen, "s3://%s: %s", st->cfg.bucket,
                 s != NULL && ft_s3_error(s)[0] ? ft_s3_error(s) : ft_strerror(err));
    ft_store_s3_put_back(st, s);
    return err;
}

enum ft_err ft_store_s3_open(struct ft_store **out, const struct ft_store_location *loc,
                             const struct ft_store_options *opt, char *errbuf,
                             size_t errlen)
{
    struct ft_store_s3 *st = calloc(1, sizeof(*st));
    enum ft_err err = st != NULL ? FT_OK : FT_ERR_NOMEM;

    *out = NULL;
    if (err == FT_OK) {
        st->base.be = &s3_backend;
        pthread_mutex_init(&st->lock, NULL);
        pthread_cond_init(&st->released, NULL);
        st->read_only = opt->read_only;
        st->copy_max = FT_S3_PART_MAX;
        err = take_config(st, loc, opt, errbuf, errlen);
        if (err == FT_OK)
            err = reach(st, errbuf, errlen);
        if (err != FT_OK)
            s3_close(&st->base);
        else
            *out = &st->base;
    }
    return err;
}
