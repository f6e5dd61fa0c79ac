/* store_s3_file.c - the S3 backend's stored files: HEAD, ranged reads, the digest's record. */
#define _GNU_SOURCE
#include "store_s3_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An open object: what its HEAD said, and one GET kept open to read it. */
struct s3_file {
    struct ft_store_s3 *st;
    struct ft_s3 *s;
    struct ft_s3_reader *r; /* made at the first read */
    pthread_mutex_t lock;   /* reads from several threads take turns */
    char name[FT_PATH_MAX + 1];
    char etag[FT_S3_ETAG_MAX];
    bool has_digest;
    uint8_t digest[32];
};

/* The sidecar's text: the ETag it vouches for, then the digest in hex. */
#define SIDECAR_MAX (FT_S3_ETAG_MAX + 2 * 32 + 4)

struct small {
    char buf[SIDECAR_MAX + 1];
    size_t len;
};

static int gather_small(void *arg, const void *data, size_t n)
{
    struct small *b = arg;

    if (n > SIDECAR_MAX - b->len)
        return 1; /* not a sidecar of ours */
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return 0;
}

static bool from_hex(const char *hex, size_t len, uint8_t digest[32])
{
    size_t bin_len = 0;

    return len == 64 && sodium_hex2bin(digest, 32, hex, len, NULL, &bin_len, NULL) == 0 &&
           bin_len == 32;
}

bool ft_store_s3_digest_of(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                           const struct ft_s3_head *h, uint8_t digest[32])
{
    const char *meta = ft_s3_head_meta(h, FT_S3_META_B2);
    char key[FT_S3_KEY_MAX + 1];
    struct small b = { .len = 0 };
    char *nl;

    if (meta != NULL)
        return from_hex(meta, strlen(meta), digest);
    if (ft_store_s3_key(st, FT_S3_B2_DIR, name, "", key) != FT_OK ||
        ft_s3_get(s, key, 0, 0, gather_small, &b) != FT_OK)
        return false;
    b.buf[b.len] = '\0';
    nl = strchr(b.buf, '\n');
    /* Trusted only for the object it was written for. */
    if (nl == NULL || (size_t)(nl - b.buf) != strlen(h->etag) ||
        memcmp(b.buf, h->etag, strlen(h->etag)) != 0)
        return false;
    return from_hex(nl + 1, strcspn(nl + 1, "\n"), digest);
}

enum ft_err ft_store_s3_record(struct ft_store_s3 *st, struct ft_s3 *s,
                               const char *name, const char *etag,
                               const uint8_t digest[32])
{
    char key[FT_S3_KEY_MAX + 1];
    char text[SIDECAR_MAX + 1];
    char hex[65];
    int n;

    sodium_bin2hex(hex, sizeof(hex), digest, 32);
    n = snprintf(text, sizeof(text), "%s\n%s\n", etag, hex);
    if (n < 0 || (size_t)n >= sizeof(text) || etag[0] == '\0')
        return FT_ERR_USAGE;
    if (ft_store_s3_key(st, FT_S3_B2_DIR, name, "", key) != FT_OK)
        return FT_ERR_BAD_NAME;
    return ft_s3_put(s, key, text, (size_t)n, NULL, 0, NULL);
}

enum ft_err ft_store_s3_open_file(struct ft_store *store, const char *name,
                                  struct ft_store_file *f)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct s3_file *o = calloc(1, sizeof(*o));
    struct ft_s3_head *h = malloc(sizeof(*h));
    struct ft_store_entry info;
    enum ft_err err = o != NULL && h != NULL ? FT_OK : FT_ERR_NOMEM;

    *f = (struct ft_store_file)FT_STORE_FILE_INIT;
    if (err == FT_OK)
        err = ft_name_check(name, strlen(name));
    if (err == FT_OK)
        err = ft_store_s3_take(st, &o->s);
    if (err == FT_OK)
        err = ft_store_s3_find(st, o->s, name, &info, h);
    if (err == FT_OK && (info.mode & S_IFMT) != S_IFREG)
        err = FT_ERR_DENIED; /* a folder is not read as a file */
    if (err != FT_OK)
        goto out;
    o->st = st;
    pthread_mutex_init(&o->lock, NULL);
    snprintf(o->name, sizeof(o->name), "%s", name);
    snprintf(o->etag, sizeof(o->etag), "%s", h->etag);
    o->has_digest = ft_store_s3_digest_of(st, o->s, name, h, o->digest);
    f->be = store->be;
    f->info = info;
    f->priv = o;
    o = NULL;
out:
    if (o != NULL)
        ft_store_s3_put_back(st, o->s);
    free(o);
    free(h);
    return err;
}

void ft_store_s3_file_close(struct ft_store_file *f)
{
    struct s3_file *o = f->priv;

    if (o != NULL) {
        ft_s3_reader_close(o->r);
        ft_store_s3_put_back(o->st, o->s);
        pthread_mutex_destroy(&o->lock);
        free(o);
    }
    *f = (struct ft_store_file)FT_STORE_FILE_INIT;
}

/* Reads from the one GET kept open (reopened where an offset jumps). */
enum ft_err ft_store_s3_file_read_at(struct ft_store_file *f, void *buf, size_t n,
                                     uint64_t off, size_t *got)
{
    struct s3_file *o = f->priv;
    enum ft_err err = FT_OK;
    size_t step = 0;

    *got = 0;
    if (off >= f->info.size || n == 0)
        return FT_OK;
    pthread_mutex_lock(&o->lock);
    if (o->r == NULL) {
        char key[FT_S3_KEY_MAX + 1];

        err = ft_store_s3_key(o->st, NULL, o->name, "", key);
        if (err == FT_OK)
            err = ft_s3_reader_open(o->s, key, o->etag, &o->r);
    }
    while (err == FT_OK && *got < n) {
        err = ft_s3_reader_read_at(o->r, (uint8_t *)buf + *got, n - *got, off + *got,
                                   &step);
        if (step == 0)
            break;
        *got += step;
    }
    pthread_mutex_unlock(&o->lock);
    /* Shorter than HEAD said: it was replaced under us; never a mix. */
    if (err == FT_OK && *got < n && off + *got < f->info.size)
        err = FT_ERR_CHANGED;
    return err;
}

int ft_store_s3_file_fd(const struct ft_store_file *f)
{
    (void)f;
    return -1;
}

bool ft_store_s3_file_digest(const struct ft_store_file *f, uint8_t digest[32])
{
    const struct s3_file *o = f->priv;

    if (o == NULL || !o->has_digest)
        return false;
    memcpy(digest, o->digest, 32);
    return true;
}

void ft_store_s3_file_remember(struct ft_store *store, const struct ft_store_file *f,
                               const uint8_t digest[32])
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct s3_file *o = f->priv;

    /* Keyed by the ETag read: if the object changed, the record is not
     * trusted for the new one. */
    if (o != NULL && !st->read_only && !o->has_digest)
        ft_store_s3_record(st, o->s, o->name, o->etag, digest);
}

/* An object's metadata is fixed when it is put: only a copy onto itself
 * changes it, which the client (no metadata-replacing copy) does not do.
 * An unchanged mtime and mode is no change; any other is answered as a
 * file that changed, so the client sends it again. */
enum ft_err ft_store_s3_file_set_meta(struct ft_store *store, const struct ft_store_file *f,
                                      int64_t mtime, uint32_t mode,
                                      const uint8_t digest[32])
{
    struct ft_store_s3 *st = ft_store_s3_of(store);

    if (st->read_only)
        return FT_ERR_READ_ONLY;
    if (f->info.mtime != mtime || (f->info.mode & 0111) != (mode & 0111))
        return FT_ERR_CHANGED;
    ft_store_s3_file_remember(store, f, digest);
    return FT_OK;
}
