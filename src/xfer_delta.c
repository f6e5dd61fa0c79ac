/* xfer_delta.c - the delta exchange over a connection: signatures, the
 * sender's matching stream and the receiver's assembly. */
#include "xfer_delta.h"

#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "compress.h"
#include "io.h"

/* The receiver's slots: copies are read from the old file a slot at a
 * time. */
#define SLOT_BYTES (1024u * 1024u)
/* Entries of a recorded list read at once. */
#define LIST_BATCH 4096u
/* Copied bytes between progress reports: a copy moves nothing on the
 * wire, but the file advances. */
#define TELL_BYTES (1024u * 1024u)

void ft_xfer_chunks_out_init(struct ft_xfer_chunks_out *o, struct ft_conn *c,
                             unsigned level)
{
    o->c = c;
    o->level = level;
    o->n = 0;
}

static enum ft_err chunks_flush(struct ft_xfer_chunks_out *o)
{
    struct ft_msg m = { .type = FT_MSG_CHUNKS };

    m.u.chunks.level = (uint8_t)o->level;
    m.u.chunks.entries.ptr = o->buf;
    m.u.chunks.entries.len = (size_t)o->n * FT_CHUNK_ENTRY_BYTES;
    o->n = 0;
    return ft_conn_send(o->c, &m);
}

enum ft_err ft_xfer_chunks_out_add(struct ft_xfer_chunks_out *o, uint32_t len,
                                   uint64_t hash)
{
    ft_delta_entry_put(o->buf + (size_t)o->n * FT_CHUNK_ENTRY_BYTES, len, hash);
    return ++o->n == FT_CHUNKS_PER_FRAME ? chunks_flush(o) : FT_OK;
}

enum ft_err ft_xfer_chunks_out_end(struct ft_xfer_chunks_out *o)
{
    enum ft_err err = o->n > 0 ? chunks_flush(o) : FT_OK;

    return err == FT_OK ? chunks_flush(o) : err;
}

void ft_xfer_signing_init(struct ft_xfer_signing *g, struct ft_conn *c,
                          unsigned level, struct ft_delta_list *l,
                          ft_delta_chunk_fn record, void *record_ctx)
{
    ft_xfer_chunks_out_init(&g->out, c, level);
    ft_delta_list_init(l, level);
    g->l = l;
    g->record = record;
    g->record_ctx = record_ctx;
}

enum ft_err ft_xfer_signing_add(void *ctx, const uint8_t *p, uint32_t len,
                                uint64_t hash)
{
    struct ft_xfer_signing *g = ctx;
    enum ft_err err = ft_delta_list_add(g->l, len, hash);

    if (err == FT_OK && g->record != NULL)
        err = g->record(g->record_ctx, p, len, hash);
    return err == FT_OK ? ft_xfer_chunks_out_add(&g->out, len, hash) : err;
}

enum ft_err ft_xfer_delta_send_signature(struct ft_conn *c, int fd,
                                         unsigned level, struct ft_delta_list *l)
{
    struct ft_xfer_signing g;
    uint64_t total = 0;
    enum ft_err err = FT_OK;

    ft_xfer_signing_init(&g, c, level, l, NULL, NULL);
    if (fd >= 0)
        err = ft_delta_cut(c, fd, level, NULL, ft_xfer_signing_add, &g, &total);
    return err == FT_OK ? ft_xfer_chunks_out_end(&g.out) : err;
}

enum ft_err ft_xfer_delta_recv_signature(struct ft_conn *c, struct ft_delta_list *l)
{
    enum ft_err kept = FT_OK;
    bool first = true;

    ft_delta_list_init(l, 0);
    for (;;) {
        struct ft_msg m;
        enum ft_err err = ft_conn_recv(c, &m, c->timeout_ms);

        if (err != FT_OK)
            return err;
        if (m.type == FT_MSG_ERROR)
            return c->peer_code;
        if (m.type != FT_MSG_CHUNKS || m.u.chunks.level > FT_CHUNKER_LEVEL_MAX ||
            (!first && m.u.chunks.level != l->level))
            return FT_ERR_PROTOCOL;
        if (first)
            ft_delta_list_init(l, m.u.chunks.level);
        first = false;
        if (m.u.chunks.entries.len == 0)
            return kept;
        if (kept == FT_OK)
            kept = ft_delta_list_add_entries(l, m.u.chunks.entries.ptr,
                                             m.u.chunks.entries.len);
        if (kept != FT_OK && kept != FT_ERR_TOO_LARGE)
            return kept;
    }
}

/* The sender: the run of old chunks being matched, sent as one
 * DELTA_COPY when it breaks. */
struct dsend {
    struct ft_conn *c;
    const struct ft_xfer_delta_source *src;
    const struct ft_delta_list *sig;
    struct ft_xfer_out *out;
    uint32_t run_first, run_count;
    uint64_t pos;     /* bytes of the new version done */
    uint64_t matched;
    uint64_t told;    /* pos when progress was last reported */
    const struct ft_xfer_opts *opts;
    uint8_t *lit;     /* a literal chunk read from disk */
};

static void tell(const struct ft_xfer_opts *opts, uint64_t *told, uint64_t pos)
{
    if (opts == NULL || opts->progress == NULL || pos - *told < TELL_BYTES)
        return;
    *told = pos;
    opts->progress(opts->progress_ctx, pos);
}

static enum ft_err flush_run(struct dsend *d)
{
    struct ft_msg m = { .type = FT_MSG_DELTA_COPY };

    if (d->run_count == 0)
        return FT_OK;
    m.u.delta_copy.first = d->run_first;
    m.u.delta_copy.count = d->run_count;
    d->run_count = 0;
    return ft_conn_send(d->c, &m);
}

static enum ft_err send_literal(struct dsend *d, const uint8_t *p, uint32_t len)
{
    struct ft_msg m = { .type = FT_MSG_DELTA_CHUNK };
    enum ft_err err = flush_run(d);

    if (err == FT_OK && p == NULL) {
        size_t got = 0;

        err = ft_io_pread_full(d->src->fd, d->lit, len, d->pos, &got);
        if (err == FT_OK && got != len)
            err = FT_ERR_CHANGED;
        p = d->lit;
    }
    m.u.delta_chunk.length = len;
    if (err == FT_OK)
        err = ft_conn_send(d->c, &m);
    return err == FT_OK ? ft_xfer_out_data(d->out, p, len, &d->pos) : err;
}

static enum ft_err send_one(void *ctx, const uint8_t *p, uint32_t len,
                            uint64_t hash)
{
    struct dsend *d = ctx;
    uint32_t next = d->run_count > 0 ? d->run_first + d->run_count : UINT32_MAX;
    uint32_t idx;
    enum ft_err err = FT_OK;

    if (d->pos + len > d->src->size)
        return FT_ERR_CHANGED; /* it grew */
    if (d->src->record != NULL &&
        (err = d->src->record(d->src->record_ctx, p, len, hash)) != FT_OK)
        return err;
    if (!ft_delta_find(d->sig, hash, len, next, &idx))
        return send_literal(d, p, len);
    if (idx == next) {
        d->run_count++;
    } else {
        err = flush_run(d);
        d->run_first = idx;
        d->run_count = 1;
    }
    d->pos += len;
    d->matched += len;
    tell(d->opts, &d->told, d->pos);
    return err;
}

enum ft_err ft_xfer_delta_read_list(struct ft_conn *c, int fd, uint64_t off,
                                    uint64_t count, ft_delta_chunk_fn fn,
                                    void *ctx)
{
    uint8_t *batch = malloc(LIST_BATCH * FT_CHUNK_ENTRY_BYTES);
    enum ft_err err = batch == NULL ? FT_ERR_NOMEM : FT_OK;

    for (uint64_t i = 0; err == FT_OK && i < count;) {
        uint64_t n = count - i < LIST_BATCH ? count - i : LIST_BATCH;
        size_t want = (size_t)n * FT_CHUNK_ENTRY_BYTES, got = 0;

        err = ft_io_pread_full(fd, batch, want, off + i * FT_CHUNK_ENTRY_BYTES, &got);
        if (err == FT_OK && got != want)
            err = FT_ERR_CHANGED;
        for (size_t j = 0; err == FT_OK && j < n; j++) {
            uint32_t len;
            uint64_t hash;

            ft_delta_entry_get(batch + j * FT_CHUNK_ENTRY_BYTES, &len, &hash);
            err = len == 0 ? FT_ERR_CHANGED : fn(ctx, NULL, len, hash);
        }
        i += n;
        if (err == FT_OK && c != NULL)
            err = ft_conn_heartbeat(c);
    }
    free(batch);
    return err;
}

static enum ft_err send_end(struct ft_conn *c, uint64_t total,
                            const uint8_t digest[FT_HASH_BYTES])
{
    struct ft_msg end = { .type = FT_MSG_END };

    end.u.end.total = total;
    end.u.end.has_digest = true;
    memcpy(end.u.end.digest, digest, FT_HASH_BYTES);
    return ft_conn_send(c, &end);
}

enum ft_err ft_xfer_delta_send(struct ft_conn *c, const struct ft_xfer_delta_source *src,
                               struct ft_delta_list *sig, uint32_t flags,
                               const struct ft_xfer_opts *opts,
                               struct ft_xfer_delta_result *res)
{
    struct dsend d = { .c = c, .src = src, .sig = sig, .opts = opts };
    struct ft_hasher *whole = NULL;
    bool recorded = src->digest != NULL && src->list_fd >= 0;
    uint64_t total = 0;
    enum ft_err err = ft_delta_list_index(sig), batch_err;

    memset(res, 0, sizeof(*res));
    if (err == FT_OK)
        err = ft_xfer_out_new(c, (flags & FT_XFER_COMPRESS) != 0, opts, &d.out);
    if (err == FT_OK && recorded) {
        d.lit = malloc(ft_delta_max_chunk(sig->level));
        err = d.lit == NULL ? FT_ERR_NOMEM : FT_OK;
    }
    if (err == FT_OK && src->digest == NULL)
        err = ft_hasher_start(&whole);
    if (err == FT_OK)
        err = ft_conn_batch(c, true);
    if (err != FT_OK)
        goto out;
    ft_conn_cork(c, true);
    /* From the recorded list, only the literal chunks' bytes are read. */
    if (recorded)
        err = ft_xfer_delta_read_list(c, src->list_fd, src->list_off,
                                      src->list_count, send_one, &d);
    else
        err = ft_delta_cut(c, src->fd, sig->level, whole, send_one, &d, &total);
    if (err == FT_OK && d.pos != src->size)
        err = FT_ERR_CHANGED; /* it shrank */
    if (err == FT_OK)
        err = flush_run(&d);
    if (src->digest != NULL)
        memcpy(res->digest, src->digest, FT_HASH_BYTES);
    else
        ft_hasher_finish(whole, res->digest);
    whole = NULL;
    if (err == FT_OK)
        err = send_end(c, d.pos, res->digest);
    batch_err = ft_conn_batch(c, false);
    if (err == FT_OK)
        err = batch_err;
    ft_conn_cork(c, false);
out:
    res->bytes = d.pos;
    res->matched = d.matched;
    ft_hasher_free(whole);
    ft_xfer_out_free(d.out);
    free(d.lit);
    return err;
}

/* The receiver: the new version is assembled in the ring's slots, which
 * are hashed and written as they fill; the literal chunk in progress is
 * hashed for the new list. */
struct drecv {
    struct ft_conn *c;
    const struct ft_delta_list *old;
    int old_fd;
    uint32_t flags;
    uint64_t limit;
    struct ft_xfer_ring ring;
    size_t k, fill;
    uint8_t *slot;
    ft_xfer_sink sink;
    void *sink_ctx;
    ft_delta_chunk_fn record;
    void *record_ctx;
    uint32_t lit_len, lit_left;
    struct ft_hash lit_hash;
    struct ft_inflater inf;
    uint8_t *zbuf;
    const struct ft_xfer_opts *opts;
    int64_t started;
    uint64_t literal; /* bytes received, for the rate limit */
    uint64_t told;    /* bytes when progress was last reported */
    struct ft_xfer_delta_result *res;
};

static enum ft_err next_slot(struct drecv *r)
{
    enum ft_err err = FT_OK;

    if (r->fill > 0) {
        ft_xfer_ring_hash(&r->ring, r->k, r->slot, r->fill);
        err = r->sink(r->sink_ctx, r->slot, r->fill);
    }
    r->k = (r->k + 1) % r->ring.count;
    r->slot = ft_xfer_ring_take(&r->ring, r->k);
    r->fill = 0;
    /* A long copy is no silence to the sender, which waits for our word. */
    return err == FT_OK ? ft_conn_heartbeat(r->c) : err;
}

static enum ft_err room(struct drecv *r, size_t need)
{
    return r->ring.size - r->fill < need ? next_slot(r) : FT_OK;
}

static enum ft_err record(struct drecv *r, uint32_t len, uint64_t hash)
{
    return r->record != NULL ? r->record(r->record_ctx, NULL, len, hash) : FT_OK;
}

static enum ft_err take_copy(struct drecv *r, const struct ft_msg *m)
{
    uint32_t first = m->u.delta_copy.first, count = m->u.delta_copy.count;
    uint64_t off, len;
    enum ft_err err = ft_delta_range(r->old, first, count, &off, &len);

    if (err == FT_OK && (r->lit_left != 0 || len > r->limit - r->res->bytes))
        err = FT_ERR_PROTOCOL;
    for (uint32_t i = first; err == FT_OK && i < first + count; i++)
        err = record(r, ft_delta_chunk_len(r->old, i), r->old->hash[i]);
    while (err == FT_OK && len > 0) {
        size_t n, got = 0;

        err = room(r, 64 * 1024);
        if (err != FT_OK)
            break;
        n = r->ring.size - r->fill < len ? r->ring.size - r->fill : (size_t)len;
        err = ft_io_pread_full(r->old_fd, r->slot + r->fill, n, off, &got);
        if (err == FT_OK && got != n)
            err = FT_ERR_CHANGED; /* the old version shrank meanwhile */
        r->fill += got;
        off += got;
        len -= got;
        r->res->bytes += got;
        r->res->matched += got;
        tell(r->opts, &r->told, r->res->bytes);
    }
    return err;
}

static enum ft_err take_chunk(struct drecv *r, const struct ft_msg *m)
{
    uint32_t len = m->u.delta_chunk.length;

    if (r->lit_left != 0 || len == 0 || len > ft_delta_max_chunk(r->old->level) ||
        len > r->limit - r->res->bytes)
        return FT_ERR_PROTOCOL;
    r->lit_len = r->lit_left = len;
    ft_hash_init(&r->lit_hash);
    return FT_OK;
}

/* n literal bytes at p (in the slot, or zbuf) join the chunk in progress. */
static enum ft_err take_bytes(struct drecv *r, const uint8_t *p, size_t n)
{
    if (n > r->lit_left)
        return FT_ERR_PROTOCOL;
    if (p != r->slot + r->fill)
        memmove(r->slot + r->fill, p, n);
    ft_hash_update(&r->lit_hash, r->slot + r->fill, n);
    r->fill += n;
    r->lit_left -= (uint32_t)n;
    r->res->bytes += n;
    r->literal += n;
    if (r->opts != NULL && r->opts->progress != NULL)
        r->opts->progress(r->opts->progress_ctx, r->res->bytes);
    if (r->lit_left == 0) {
        uint8_t digest[FT_HASH_BYTES];
        enum ft_err err;

        ft_hash_final(&r->lit_hash, digest);
        err = record(r, r->lit_len, ft_chunk_hash_of(digest));
        if (err != FT_OK)
            return err;
    }
    return ft_conn_pace(r->c, r->opts != NULL ? r->opts->rate_limit : 0,
                        r->started, r->literal, false);
}

static enum ft_err take_deflated(struct drecv *r, const struct ft_msg *m)
{
    uint32_t n = m->u.data_z.raw_len;
    enum ft_err err = FT_OK;

    if (!(r->flags & FT_XFER_COMPRESS) || n > r->lit_left)
        return FT_ERR_PROTOCOL;
    if (r->zbuf == NULL) {
        r->zbuf = malloc(FT_CHUNK_BYTES);
        err = r->zbuf == NULL ? FT_ERR_NOMEM : ft_inflater_init(&r->inf);
    }
    if (err == FT_OK)
        err = ft_inflate_chunk(&r->inf, m->u.data_z.deflated.ptr,
                               m->u.data_z.deflated.len, r->zbuf, n);
    /* The deflated bytes in the slot are spent: the raw ones may go
     * where they were, or to the next slot. */
    if (err == FT_OK)
        err = room(r, n);
    return err == FT_OK ? take_bytes(r, r->zbuf, n) : err;
}

static enum ft_err take_end(struct drecv *r, const struct ft_msg *m)
{
    uint8_t digest[FT_HASH_BYTES];
    enum ft_err err;

    r->res->end_seen = true;
    if (r->lit_left != 0 || m->u.end.total != r->res->bytes || !m->u.end.has_digest)
        return FT_ERR_PROTOCOL;
    err = next_slot(r);
    if (err != FT_OK)
        return err;
    ft_xfer_ring_digest(&r->ring, digest);
    memcpy(r->res->digest, digest, FT_HASH_BYTES);
    return ft_hash_equal(digest, m->u.end.digest) ? FT_OK : FT_ERR_INTEGRITY;
}

enum ft_err ft_xfer_delta_recv(struct ft_conn *c, const struct ft_delta_list *old,
                               int old_fd, uint32_t flags, uint64_t limit,
                               ft_xfer_sink sink, void *sink_ctx,
                               ft_delta_chunk_fn record_fn, void *record_ctx,
                               const struct ft_xfer_opts *opts,
                               struct ft_xfer_delta_result *res)
{
    struct drecv r = { .c = c, .old = old, .old_fd = old_fd, .flags = flags,
                       .limit = limit, .sink = sink, .sink_ctx = sink_ctx,
                       .record = record_fn, .record_ctx = record_ctx,
                       .inf = { .ready = false }, .opts = opts,
                       .started = ft_io_now_ms(), .res = res };
    enum ft_err err = ft_xfer_ring_init(&r.ring, SLOT_BYTES, true, 2, false);

    memset(res, 0, sizeof(*res));
    if (err == FT_OK)
        r.slot = ft_xfer_ring_take(&r.ring, 0);
    while (err == FT_OK) {
        struct ft_msg m;

        err = room(&r, c->max_payload);
        if (err == FT_OK)
            err = ft_conn_recv_into(c, r.slot + r.fill, r.ring.size - r.fill, &m,
                                    c->timeout_ms);
        if (err != FT_OK)
            break;
        switch (m.type) {
        case FT_MSG_DELTA_COPY: err = take_copy(&r, &m); break;
        case FT_MSG_DELTA_CHUNK: err = take_chunk(&r, &m); break;
        case FT_MSG_DATA:
            err = take_bytes(&r, m.u.data.bytes.ptr, m.u.data.bytes.len);
            break;
        case FT_MSG_DATA_Z: err = take_deflated(&r, &m); break;
        case FT_MSG_END: err = take_end(&r, &m); goto out;
        case FT_MSG_ERROR: err = c->peer_code; goto out;
        default: err = FT_ERR_PROTOCOL; goto out;
        }
    }
out:
    ft_xfer_ring_free(&r.ring);
    ft_inflater_free(&r.inf);
    free(r.zbuf);
    return err;
}
