/* store.c - store.h's calls, sent to the backend the store was opened with. */
#include "store_backend.h"

#include <stdio.h>
#include <string.h>

/* S3's bucket names: 3 to 63 lower-case letters, digits, dots and
 * hyphens, beginning and ending with a letter or digit. */
static bool bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static enum ft_err parse_s3(const char *loc, struct ft_store_location *out,
                            char *errbuf, size_t errlen)
{
    const char *b = loc + strlen("s3://");
    const char *slash = strchr(b, '/');
    size_t blen = slash != NULL ? (size_t)(slash - b) : strlen(b);
    const char *p = slash != NULL ? slash + 1 : "";
    size_t plen = strlen(p);

    while (plen > 0 && p[plen - 1] == '/')
        plen--; /* s3://bucket/dir/ is s3://bucket/dir */
    if (!bucket_ok(b, blen)) {
        snprintf(errbuf, errlen,
                 "%s: not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')", loc);
        return FT_ERR_BAD_NAME;
    }
    if (plen > 0 && (plen >= sizeof(out->prefix) ||
                     ft_name_check(p, plen) != FT_OK)) {
        snprintf(errbuf, errlen, "%s: the prefix after the bucket is not a name "
                 "ft accepts", loc);
        return FT_ERR_BAD_NAME;
    }
    out->scheme = FT_STORE_S3;
    memcpy(out->bucket, b, blen);
    out->bucket[blen] = '\0';
    memcpy(out->prefix, p, plen);
    out->prefix[plen] = '\0';
    return FT_OK;
}

enum ft_err ft_store_location_parse(const char *loc, struct ft_store_location *out,
                                    char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (loc == NULL || loc[0] == '\0') {
        snprintf(errbuf, errlen, "the store's location is empty");
        return FT_ERR_BAD_NAME;
    }
    if (strncmp(loc, "s3://", strlen("s3://")) == 0)
        return parse_s3(loc, out, errbuf, errlen);
    out->scheme = FT_STORE_DIR;
    return FT_OK;
}

enum ft_err ft_store_open_at(struct ft_store **out, const char *location,
                             const struct ft_store_options *opt, char *errbuf,
                             size_t errlen)
{
    static const struct ft_store_options none = { .read_only = false };
    struct ft_store_location loc;
    enum ft_err err = ft_store_location_parse(location, &loc, errbuf, errlen);

    *out = NULL;
    if (err != FT_OK)
        return err;
    if (loc.scheme == FT_STORE_S3)
        return ft_store_s3_open(out, &loc, opt != NULL ? opt : &none, errbuf, errlen);
    return ft_store_dir_open(out, location, opt != NULL ? opt : &none, errbuf,
                             errlen);
}

enum ft_err ft_store_open(struct ft_store **out, const char *root,
                          bool read_only, char *errbuf, size_t errlen)
{
    struct ft_store_options opt = { .read_only = read_only };

    *out = NULL;
    return ft_store_dir_open(out, root, &opt, errbuf, errlen);
}

void ft_store_close(struct ft_store *st)
{
    if (st != NULL)
        st->be->close(st);
}

bool ft_store_can(const struct ft_store *st, enum ft_store_cap cap)
{
    return (st->be->caps & (unsigned)cap) != 0;
}

int ft_store_meta_fd(const struct ft_store *st)
{
    return st->be->meta_fd(st);
}

int ft_store_root_fd(const struct ft_store *st)
{
    return st->be->root_fd(st);
}

enum ft_err ft_store_open_file(struct ft_store *st, const char *name,
                               struct ft_store_file *f)
{
    return st->be->open_file(st, name, f);
}

void ft_store_file_close(struct ft_store_file *f)
{
    if (f->be != NULL)
        f->be->file_close(f);
}

enum ft_err ft_store_file_read_at(struct ft_store_file *f, void *buf, size_t n,
                                  uint64_t off, size_t *got)
{
    return f->be->file_read_at(f, buf, n, off, got);
}

int ft_store_file_fd(const struct ft_store_file *f)
{
    return f->be != NULL ? f->be->file_fd(f) : -1;
}

bool ft_store_file_is_open(const struct ft_store_file *f)
{
    return f->be != NULL;
}

static enum ft_err file_reader_read(const struct ft_reader *r, void *buf, size_t n,
                                    uint64_t off, size_t *got)
{
    return ft_store_file_read_at(r->ctx, buf, n, off, got);
}

struct ft_reader ft_store_file_reader(struct ft_store_file *f)
{
    return (struct ft_reader){ .read_at = file_reader_read, .ctx = f, .fd = -1 };
}

bool ft_store_file_digest(const struct ft_store_file *f, uint8_t digest[32])
{
    return f->be != NULL && f->be->file_digest(f, digest);
}

void ft_store_file_remember(struct ft_store *st, const struct ft_store_file *f,
                            const uint8_t digest[32])
{
    st->be->file_remember(st, f, digest);
}

enum ft_err ft_store_file_set_meta(struct ft_store *st, const struct ft_store_file *f,
                                   int64_t mtime, uint32_t mode,
                                   const uint8_t digest[32])
{
    return st->be->file_set_meta(st, f, mtime, mode, digest);
}

enum ft_err ft_store_upload_begin(struct ft_store *st, const char *name,
                                  struct ft_upload *up)
{
    return st->be->upload_begin(st, name, up);
}

enum ft_err ft_store_upload_begin_held(struct ft_store *st, const char *name,
                                       uint8_t *buf, size_t cap, struct ft_upload *up)
{
    return st->be->upload_begin_held(st, name, buf, cap, up);
}

enum ft_err ft_store_upload_unhold(struct ft_store *st, struct ft_upload *up)
{
    return st->be->upload_unhold(st, up);
}

void ft_store_upload_recover(struct ft_store *st, const char *key, int64_t ttl_s)
{
    if (st->be->upload_recover != NULL)
        st->be->upload_recover(st, key, ttl_s);
}

enum ft_err ft_store_upload_begin_kept(struct ft_store *st, const char *name,
                                       const char *key, int64_t ttl_s,
                                       struct ft_upload *up, uint64_t *have)
{
    return st->be->upload_begin_kept(st, name, key, ttl_s, up, have);
}

enum ft_err ft_store_upload_write(struct ft_upload *up, const void *buf, size_t n)
{
    return up->be->upload_write(up, buf, n);
}

enum ft_err ft_store_upload_write_at(struct ft_upload *up, const void *buf,
                                     size_t n, uint64_t off)
{
    return up->be->upload_write_at(up, buf, n, off);
}

enum ft_err ft_store_upload_resize(struct ft_upload *up, uint64_t size)
{
    return up->be->upload_resize(up, size);
}

enum ft_err ft_store_upload_read_at(struct ft_upload *up, void *buf, size_t n,
                                    uint64_t off, size_t *got)
{
    return up->be->upload_read_at(up, buf, n, off, got);
}

int ft_store_upload_fd(const struct ft_upload *up)
{
    return up->be != NULL ? up->be->upload_fd(up) : -1;
}

static enum ft_err upload_reader_read(const struct ft_reader *r, void *buf, size_t n,
                                      uint64_t off, size_t *got)
{
    return ft_store_upload_read_at(r->ctx, buf, n, off, got);
}

struct ft_reader ft_store_upload_reader(struct ft_upload *up)
{
    return (struct ft_reader){ .read_at = upload_reader_read, .ctx = up, .fd = -1 };
}

void ft_store_upload_keep(struct ft_store *st, struct ft_upload *up)
{
    st->be->upload_keep(st, up);
}

enum ft_err ft_store_upload_commit(struct ft_store *st, struct ft_upload *up)
{
    return st->be->upload_commit(st, up);
}

void ft_store_upload_commit_batch(struct ft_store *st, struct ft_upload *ups,
                                  size_t n, enum ft_err *errs)
{
    st->be->upload_commit_batch(st, ups, n, errs);
}

void ft_store_upload_abort(struct ft_store *st, struct ft_upload *up)
{
    st->be->upload_abort(st, up);
}

void ft_store_upload_drop_old(struct ft_store *st, struct ft_upload *up)
{
    st->be->upload_drop_old(st, up);
}

void ft_store_expire_partials(struct ft_store *st, int64_t ttl_s)
{
    st->be->expire_partials(st, ttl_s);
}

uint64_t ft_store_partial_count(struct ft_store *st)
{
    return st->be->partial_count(st);
}

enum ft_err ft_store_partial_size(struct ft_store *st, const char *key,
                                  int64_t ttl_s, uint64_t *size)
{
    return st->be->partial_size(st, key, ttl_s, size);
}

enum ft_err ft_store_stat(struct ft_store *st, const char *name,
                          struct ft_store_entry *info)
{
    return st->be->stat(st, name, info);
}

enum ft_store_kind ft_store_obstacle(struct ft_store *st, const char *name,
                                     size_t *at)
{
    return st->be->obstacle(st, name, at);
}

const char *ft_store_name_refusal(struct ft_store *st, const char *name)
{
    return st->be->name_refusal != NULL ? st->be->name_refusal(name) : NULL;
}

enum ft_err ft_store_remove(struct ft_store *st, const char *name, bool recursive)
{
    return st->be->remove(st, name, recursive);
}

enum ft_err ft_store_move(struct ft_store *st, const char *from, const char *to)
{
    return st->be->move(st, from, to);
}

enum ft_err ft_store_mkdir(struct ft_store *st, const char *name, bool parents,
                           bool *made)
{
    return st->be->mkdir(st, name, parents, made);
}

enum ft_err ft_store_list(struct ft_store *st, const char *folder, bool recursive,
                          ft_store_list_fn fn, void *ctx)
{
    return st->be->list_as(st, folder, folder, recursive, fn, ctx);
}

enum ft_err ft_store_list_as(struct ft_store *st, const char *folder,
                             const char *shown, bool recursive,
                             ft_store_list_fn fn, void *ctx)
{
    return st->be->list_as(st, folder, shown, recursive, fn, ctx);
}

enum ft_err ft_store_usage(struct ft_store *st, const char *folder,
                           uint64_t *bytes, uint64_t *files)
{
    return st->be->usage(st, folder, bytes, files);
}

enum ft_err ft_store_chunks_open(struct ft_store *st, const struct ft_store_file *f,
                                 struct ft_store_chunks *out)
{
    return st->be->chunks_open(st, f, out);
}

bool ft_store_chunks_is_open(const struct ft_store_chunks *c)
{
    return c->be != NULL;
}

enum ft_err ft_store_chunks_read(struct ft_store_chunks *c, void *buf, size_t n,
                                 uint64_t off, size_t *got)
{
    return c->be->chunks_read(c, buf, n, off, got);
}

int ft_store_chunks_fd(const struct ft_store_chunks *c)
{
    return c->be != NULL ? c->be->chunks_fd(c) : -1;
}

void ft_store_chunks_close(struct ft_store_chunks *c)
{
    if (c->be != NULL)
        c->be->chunks_close(c);
}

enum ft_err ft_store_chunks_begin(struct ft_store *st, unsigned level,
                                  struct ft_store_chunks_writer **out)
{
    return st->be->chunks_begin(st, level, out);
}

enum ft_err ft_store_chunks_add(struct ft_store_chunks_writer *w, uint32_t len,
                                uint64_t hash)
{
    return w->be->chunks_add(w, len, hash);
}

void ft_store_chunks_abort(struct ft_store_chunks_writer *w)
{
    if (w != NULL)
        w->be->chunks_abort(w);
}

void ft_store_upload_set_chunks(struct ft_upload *up, struct ft_store_chunks_writer *w)
{
    ft_store_chunks_abort(up->chunks);
    up->chunks = w;
}

void ft_store_file_remember_chunks(struct ft_store *st, const struct ft_store_file *f,
                                   struct ft_store_chunks_writer *w)
{
    st->be->file_remember_chunks(st, f, w);
}
