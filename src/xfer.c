/* xfer.c - the data phase of put and get.
 *
 * With verification on, a hashing thread (hasher.c) runs beside the I/O
 * loop, so reading, hashing and sending (or receiving, hashing and
 * writing) overlap and the slowest stage alone sets the pace. The loop
 * cycles through a ring of FT_HASHER_DEPTH slots and waits for the hasher
 * only before it reuses one. A slot holds several frames' worth (an
 * encrypted frame carries under 64 KiB): the file is read, hashed and
 * written a slot at a time, so handing a slot to the hasher and the
 * syscalls around it are paid per MiB, not per frame. */
#include "xfer.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compress.h"
#include "ft/net.h"
#include "hasher.h"
#include "io.h"
#include "slots.h"
#include "xfer_z.h"

#define RING FT_HASHER_DEPTH
/* File bytes a slot holds: a plaintext frame, or four sealed ones. */
#define SLOT_BYTES FT_FRAME_MAX_PAYLOAD


/* A file that fits in one slot is hashed on the I/O thread: starting a
 * thread would cost more than the hash, many times over for small files. */
static bool fits_one_slot(uint64_t expect_size, size_t slot_size)
{
    return expect_size != FT_SIZE_UNKNOWN && expect_size <= slot_size;
}

enum ft_err ft_xfer_ring_init(struct ft_xfer_ring *r, size_t size, bool verify,
                             size_t min_count, bool small)
{
    bool threaded = verify && !small;

    memset(r, 0, sizeof(*r));
    r->count = threaded ? RING : min_count;
    r->size = size;
    r->verify = verify;
    if (verify && !threaded)
        ft_hash_init(&r->inline_hash);
    for (size_t i = 0; i < r->count; i++) {
        r->buf[i] = ft_slot_get(size);
        if (r->buf[i] == NULL)
            return FT_ERR_NOMEM;
    }
    return threaded ? ft_hasher_start(&r->hasher) : FT_OK;
}

/* Slot k, once the hasher no longer reads it. */
uint8_t *ft_xfer_ring_take(struct ft_xfer_ring *r, size_t k)
{
    if (r->pending[k])
        ft_hasher_wait(r->hasher, r->ticket[k]);
    r->pending[k] = false;
    return r->buf[k];
}

/* Hands n bytes at p (inside slot k's buffers) to the hasher, if any. */
void ft_xfer_ring_hash(struct ft_xfer_ring *r, size_t k, const void *p, size_t n)
{
    if (!r->verify)
        return;
    if (r->hasher == NULL) {
        ft_hash_update(&r->inline_hash, p, n);
        return;
    }
    r->ticket[k] = ft_hasher_submit(r->hasher, p, n);
    r->pending[k] = true;
}

void ft_xfer_ring_digest(struct ft_xfer_ring *r, uint8_t digest[FT_HASH_BYTES])
{
    if (r->hasher == NULL) {
        ft_hash_final(&r->inline_hash, digest);
        return;
    }
    ft_hasher_finish(r->hasher, digest);
    r->hasher = NULL;
}

/* The hasher stops before the buffers it may be reading are freed. */
void ft_xfer_ring_free(struct ft_xfer_ring *r)
{
    ft_hasher_free(r->hasher);
    r->hasher = NULL;
    for (size_t i = 0; i < RING; i++)
        ft_slot_put(r->buf[i], r->size);
}

/* Whether fd has bytes to read at once. */
static bool readable_now(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 0) > 0;
}

/* Fills buf from in_fd until cap bytes or end of file. A source that may
 * stall (a pipe, a terminal) gives what it has: once some bytes are in,
 * they go unless more are already waiting, so a slow source's bytes go out
 * as they come and a fast one's fill the buffer. It is waited on with
 * heartbeats to the peer, so that the peer's idle timeout does not cut a
 * slow but live upload. */
static enum ft_err read_chunk(struct ft_conn *c, int in_fd, bool regular,
                              uint8_t *buf, size_t cap, size_t *got)
{
    size_t done = 0;

    if (regular)
        return ft_io_read_full(in_fd, buf, cap, FT_IO_NO_DEADLINE, got);
    while (done < cap) {
        size_t n = 0;
        enum ft_err err;

        if (done > 0 && !readable_now(in_fd))
            break;
        err = ft_io_wait(in_fd, POLLIN, ft_io_deadline(FT_HEARTBEAT_MS));
        if (err == FT_ERR_TIMEOUT) {
            err = ft_conn_heartbeat(c);
            if (err != FT_OK)
                return err;
            continue;
        }
        if (err != FT_OK)
            return err;
        err = ft_io_read_some(in_fd, buf + done, cap - done, &n);
        if (err != FT_OK)
            return err;
        if (n == 0)
            break;
        done += n;
    }
    *got = done;
    return FT_OK;
}

/* Feeds the first offset bytes of src to the hasher: a resumed transfer
 * is verified whole, the part already there included. */
static enum ft_err hash_prefix(struct ft_xfer_ring *r, const struct ft_reader *src,
                               uint64_t offset)
{
    uint64_t off = 0;

    for (size_t k = 0; r->verify && off < offset; k = (k + 1) % r->count) {
        uint8_t *buf = ft_xfer_ring_take(r, k);
        size_t want = offset - off < r->size ? (size_t)(offset - off) : r->size;
        size_t got = 0;
        enum ft_err err = src->read_at(src, buf, want, off, &got);

        if (err != FT_OK)
            return err;
        if (got != want)
            return FT_ERR_CHANGED; /* the part on disk shrank meanwhile */
        ft_xfer_ring_hash(r, k, buf, got);
        off += got;
    }
    return FT_OK;
}

/* One transfer's watcher and pace: its options, when it started, and the
 * bytes already there before it (not paced). */
struct pace {
    const struct ft_xfer_opts *opts;
    int64_t started;
    uint64_t offset;
    /* A sender not pipelined: a frame from the peer can only be its
     * refusal, and is read meanwhile. */
    bool listen;
};

static const struct ft_xfer_opts no_opts;

static struct pace pace_start(const struct ft_xfer_opts *opts, uint64_t offset,
                              bool listen)
{
    return (struct pace){ .opts = opts != NULL ? opts : &no_opts,
                          .started = ft_io_now_ms(), .offset = offset,
                          .listen = listen };
}

/* After each data frame: total bytes have moved. Tells the watcher, and
 * waits as long as the rate limit asks. */
static enum ft_err moved(struct ft_conn *c, const struct pace *p, uint64_t total)
{
    if (p->opts->progress != NULL)
        p->opts->progress(p->opts->progress_ctx, total);
    return ft_conn_pace(c, p->opts->rate_limit, p->started, total - p->offset,
                        p->listen);
}

/* -z on the sending side: the deflater, the DATA_Z payload being built
 * (NULL without -z), and the policy (xfer_z.c) that says which chunks go
 * through deflate. */
struct zsend {
    struct ft_deflater def;
    uint8_t *buf;
    struct ft_xfer_z policy;
};

/* One file being sent: its connection, its -z, and how its frames go. */
struct send {
    struct ft_conn *c;
    struct zsend z;
    bool hold; /* its frames wait for its END (MSG_MORE) */
    struct pace pace;
    uint64_t polled; /* *sent when the peer's word was last looked for */
};

static int64_t clock_us(void *ctx)
{
    (void)ctx;
    return ft_io_now_us();
}

static bool socket_unsent(void *ctx, size_t *bytes)
{
    const struct ft_conn *c = ctx;

    return ft_net_unsent(c->fd, bytes);
}

static enum ft_err zsend_init(struct zsend *z, struct ft_conn *c)
{
    struct ft_xfer_z_probe probe = { .now_us = clock_us, .unsent = socket_unsent,
                                     .ctx = c };
    enum ft_err err;

    z->buf = malloc(FT_DATA_Z_HEADER_BYTES + c->send_chunk);
    err = z->buf == NULL ? FT_ERR_NOMEM : ft_deflater_init(&z->def, FT_XFER_Z_LEVEL);
    if (err == FT_OK)
        ft_xfer_z_init(&z->policy, c->send_chunk, &probe);
    return err;
}

static void zsend_free(struct zsend *z)
{
    ft_deflater_free(&z->def);
    free(z->buf);
    z->buf = NULL;
}

static enum ft_err send_data(struct send *s, enum ft_msg_type type,
                             const void *payload, size_t n)
{
    return (s->hold ? ft_conn_send_raw_more : ft_conn_send_raw)(s->c, type,
                                                                payload, n);
}

/* A refusal from the peer (a full disk, say) ends the stream now rather
 * than after the whole file. */
static enum ft_err refused(struct send *s)
{
    return s->pace.listen ? ft_conn_poll_error(s->c) : FT_OK;
}

enum ft_err ft_xfer_send(struct ft_conn *c, int in_fd, uint32_t flags,
                         uint64_t expect_size, const struct ft_xfer_opts *opts,
                         struct ft_xfer_result *res)
{
    return ft_xfer_send_from(c, in_fd, flags, expect_size, 0, NULL, opts, res);
}

/* The zero-copy path: DATA frames straight from the file with sendfile. */
static enum ft_err send_file_frames(struct send *s, int in_fd, uint64_t size,
                                    uint64_t *total)
{
    enum ft_err err = FT_OK;

    while (*total < size && err == FT_OK) {
        uint64_t left = size - *total;
        size_t n = left < s->c->send_chunk ? (size_t)left : s->c->send_chunk;

        err = refused(s);
        if (err == FT_OK)
            err = ft_conn_send_file(s->c, in_fd, *total, n);
        if (err != FT_OK)
            break;
        *total += n;
        err = moved(s->c, &s->pace, *total);
    }
    return err;
}

/* Sends one chunk as DATA_Z when the policy deflates it and it shrinks,
 * else as DATA. */
static enum ft_err send_chunk(struct send *s, const uint8_t *chunk, size_t n)
{
    struct zsend *z = &s->z;
    int64_t deflate_us = 0;
    size_t zlen = 0;
    enum ft_err err;

    if (z->buf == NULL)
        return send_data(s, FT_MSG_DATA, chunk, n);
    if (ft_xfer_z_next(&z->policy)) {
        int64_t start = ft_io_now_us();
        bool shrank;

        ft_deflater_set_level(&z->def, ft_xfer_z_level(&z->policy));
        shrank = ft_deflate_chunk(&z->def, chunk, n, z->buf + FT_DATA_Z_HEADER_BYTES,
                                  s->c->send_chunk, &zlen);
        deflate_us = ft_io_now_us() - start;
        if (!shrank) {
            ft_xfer_z_no_gain(&z->policy);
            return send_data(s, FT_MSG_DATA, chunk, n);
        }
        ft_msg_put_u32(z->buf, (uint32_t)n);
        err = send_data(s, FT_MSG_DATA_Z, z->buf, FT_DATA_Z_HEADER_BYTES + zlen);
    } else {
        err = send_data(s, FT_MSG_DATA, chunk, n);
    }
    ft_xfer_z_sent(&z->policy, n, deflate_us);
    return err;
}

/* Sends a slot's got bytes as frames of at most send_chunk; *sent counts
 * the file bytes that have gone out. */
static enum ft_err send_slot(struct send *s, const uint8_t *slot, size_t got,
                             uint64_t *sent)
{
    for (size_t off = 0; off < got;) {
        size_t n = got - off < s->c->send_chunk ? got - off : s->c->send_chunk;
        enum ft_err err = FT_OK;

        /* A poll per frame of a delta's small literal chunks would cost
         * more than they do: the peer's word is looked for once in a
         * while. */
        if (*sent - s->polled >= FT_CHUNK_BYTES || *sent == 0) {
            s->polled = *sent;
            err = refused(s);
        }

        if (err == FT_OK)
            err = send_chunk(s, slot + off, n);
        if (err != FT_OK)
            return err;
        off += n;
        *sent += n;
        err = moved(s->c, &s->pace, *sent);
        if (err != FT_OK)
            return err;
    }
    return FT_OK;
}

/* A sender's data frames outside a whole-file stream: the delta
 * exchange's literal chunks (xfer_delta.c). */
struct ft_xfer_out {
    struct send s;
};

enum ft_err ft_xfer_out_new(struct ft_conn *c, bool compress,
                            const struct ft_xfer_opts *opts,
                            struct ft_xfer_out **out)
{
    struct ft_xfer_out *o = calloc(1, sizeof(*o));
    enum ft_err err;

    if (o == NULL)
        return FT_ERR_NOMEM;
    o->s.c = c;
    o->s.pace = pace_start(opts, 0, true);
    err = compress ? zsend_init(&o->s.z, c) : FT_OK;
    if (err != FT_OK) {
        ft_xfer_out_free(o);
        return err;
    }
    *out = o;
    return FT_OK;
}

enum ft_err ft_xfer_out_data(struct ft_xfer_out *o, const uint8_t *p, size_t n,
                             uint64_t *done)
{
    return send_slot(&o->s, p, n, done);
}

void ft_xfer_out_free(struct ft_xfer_out *o)
{
    if (o == NULL)
        return;
    zsend_free(&o->s.z);
    free(o);
}

/* Reads in_fd to its end a slot at a time (or src from *total, when
 * given), hashing and sending each slot (through deflate as -z decides,
 * with compress); *total counts the bytes read. */
static enum ft_err send_stream(struct send *s, struct ft_xfer_ring *ring, int in_fd,
                               const struct ft_reader *src, bool regular,
                               bool compress, uint64_t expect_size, uint64_t *total)
{
    enum ft_err err = compress ? zsend_init(&s->z, s->c) : FT_OK;

    for (size_t k = 0; err == FT_OK; k = (k + 1) % ring->count) {
        uint8_t *slot = ft_xfer_ring_take(ring, k);
        uint64_t sent = *total;
        size_t got = 0;

        if (src != NULL)
            err = src->read_at(src, slot, ring->size, *total, &got);
        else
            err = read_chunk(s->c, in_fd, regular, slot, ring->size, &got);
        if (err != FT_OK || got == 0)
            break;
        *total += got;
        if (expect_size != FT_SIZE_UNKNOWN && *total > expect_size) {
            err = FT_ERR_CHANGED; /* it grew */
            break;
        }
        ft_xfer_ring_hash(ring, k, slot, got);
        err = send_slot(s, slot, got, &sent);
    }
    if (err == FT_OK && expect_size != FT_SIZE_UNKNOWN && *total != expect_size)
        err = FT_ERR_CHANGED; /* it shrank */
    zsend_free(&s->z);
    return err;
}

/* Ends the stream with END: the bytes sent and, when asked for, the
 * digest (hashed here, or the one known). */
static enum ft_err send_end(struct ft_conn *c, struct ft_xfer_ring *ring, uint32_t flags,
                            const uint8_t *known_digest, uint64_t total,
                            struct ft_xfer_result *res)
{
    struct ft_msg end = { .type = FT_MSG_END };

    end.u.end.total = total;
    if (ring->verify) {
        ft_xfer_ring_digest(ring, end.u.end.digest);
        end.u.end.has_digest = true;
    } else if (known_digest != NULL && (flags & FT_XFER_VERIFY)) {
        memcpy(end.u.end.digest, known_digest, FT_HASH_BYTES);
        end.u.end.has_digest = true;
    }
    if (end.u.end.has_digest)
        memcpy(res->digest, end.u.end.digest, FT_HASH_BYTES);
    return ft_conn_send(c, &end);
}

/* ft_xfer_send_from and ft_xfer_send_reader: from in_fd (src NULL), or
 * from src (in_fd -1). */
static enum ft_err send_from(struct ft_conn *c, int in_fd, const struct ft_reader *src,
                             uint32_t flags, uint64_t expect_size, uint64_t offset,
                             const uint8_t *known_digest,
                             const struct ft_xfer_opts *opts,
                             struct ft_xfer_result *res)
{
    struct send s = { .c = c, .z = { .def = { .ready = false } },
                      .pace = pace_start(opts, offset, !(flags & FT_XFER_PIPELINE)) };
    struct ft_xfer_ring ring;
    struct ft_reader fd_reader = ft_io_reader(in_fd);
    struct stat sb;
    bool verify = (flags & FT_XFER_VERIFY) && known_digest == NULL;
    bool regular = src != NULL || (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode));
    size_t chunks_per_slot = SLOT_BYTES / c->send_chunk;
    size_t slot_size = c->send_chunk * (chunks_per_slot > 0 ? chunks_per_slot : 1);
    uint64_t total = offset;
    enum ft_err err = ft_xfer_ring_init(&ring, slot_size, verify, 1,
                                fits_one_slot(expect_size, slot_size));

    if (err == FT_OK)
        err = hash_prefix(&ring, src != NULL ? src : &fd_reader, offset);
    if (err != FT_OK)
        goto out;
    /* A small file's frames wait for its END, to leave in one segment: a
     * put -r or get -r of small files then costs the peer one wake-up per
     * file, not three. */
    s.hold = regular && fits_one_slot(expect_size, slot_size);
    if (src == NULL && known_digest != NULL && !(flags & FT_XFER_COMPRESS) &&
        !c->sealed && expect_size != FT_SIZE_UNKNOWN)
        err = send_file_frames(&s, in_fd, expect_size, &total);
    else
        err = send_stream(&s, &ring, in_fd, src, regular,
                          (flags & FT_XFER_COMPRESS) != 0, expect_size, &total);
    if (err == FT_OK)
        err = send_end(c, &ring, flags, known_digest, total, res);
out:
    res->bytes = total;
    ft_xfer_ring_free(&ring);
    return err;
}

enum ft_err ft_xfer_send_from(struct ft_conn *c, int in_fd, uint32_t flags,
                              uint64_t expect_size, uint64_t offset,
                              const uint8_t *known_digest,
                              const struct ft_xfer_opts *opts,
                              struct ft_xfer_result *res)
{
    return send_from(c, in_fd, NULL, flags, expect_size, offset, known_digest, opts,
                     res);
}

enum ft_err ft_xfer_send_reader(struct ft_conn *c, const struct ft_reader *src,
                                uint32_t flags, uint64_t expect_size, uint64_t offset,
                                const uint8_t *known_digest,
                                const struct ft_xfer_opts *opts,
                                struct ft_xfer_result *res)
{
    return send_from(c, -1, src, flags, expect_size, offset, known_digest, opts, res);
}

/* Checks END against what arrived. */
static enum ft_err check_end(const struct ft_msg *m, uint64_t total,
                             uint64_t expect_size, struct ft_xfer_ring *ring,
                             struct ft_xfer_result *res)
{
    if (m->u.end.total != total)
        return FT_ERR_PROTOCOL;
    if (expect_size != FT_SIZE_UNKNOWN && total != expect_size)
        return FT_ERR_PROTOCOL;
    res->bytes = total;
    if (!ring->verify)
        return FT_OK;
    if (!m->u.end.has_digest)
        return FT_ERR_PROTOCOL;
    ft_xfer_ring_digest(ring, res->digest);
    if (!ft_hash_equal(res->digest, m->u.end.digest))
        return FT_ERR_INTEGRITY;
    res->verified = true;
    return FT_OK;
}

enum ft_err ft_xfer_recv(struct ft_conn *c, uint32_t flags,
                         uint64_t expect_size, uint64_t limit,
                         ft_xfer_sink sink, void *ctx,
                         const struct ft_xfer_opts *opts,
                         struct ft_xfer_result *res)
{
    return ft_xfer_recv_from(c, flags, expect_size, limit, 0, NULL, sink, ctx,
                             opts, res);
}

/* One file being received: where the loop is (filling slot k of the
 * ring), where the bytes go, and the inflater of its DATA_Z frames. */
struct recv {
    struct ft_xfer_ring ring;
    size_t k;
    uint8_t *slot;
    size_t fill;
    ft_xfer_sink sink;
    void *ctx;
    struct ft_inflater inf;
};

/* Hands the filled part of the slot to the hasher and the sink, and moves
 * on to the next slot. */
static enum ft_err next_slot(struct recv *r)
{
    enum ft_err err = FT_OK;

    if (r->fill > 0) {
        ft_xfer_ring_hash(&r->ring, r->k, r->slot, r->fill);
        err = r->sink(r->ctx, r->slot, r->fill);
    }
    r->k = (r->k + 1) % r->ring.count;
    r->slot = ft_xfer_ring_take(&r->ring, r->k);
    r->fill = 0;
    return err;
}

/* After a failure: the bytes the slot holds arrived whole (and, sealed,
 * authenticated) before it, so they go to the sink too: an upload cut off
 * is kept with every byte received, not short of a slot's worth. Their
 * digest no longer matters. */
static void keep_received(struct recv *r)
{
    if (r->fill > 0)
        (void)r->sink(r->ctx, r->slot, r->fill);
    r->fill = 0;
}

/* Takes a DATA or DATA_Z frame, received at the slot's fill; *n receives
 * the file bytes it carried, which then follow the slot's fill. */
static enum ft_err take_data(struct recv *r, const struct ft_msg *m,
                             uint32_t flags, size_t *n)
{
    enum ft_err err;

    if (m->type == FT_MSG_DATA) {
        *n = m->u.data.bytes.len;
        if (m->u.data.bytes.ptr != r->slot + r->fill)
            memmove(r->slot + r->fill, m->u.data.bytes.ptr, *n);
        return FT_OK;
    }
    if (!(flags & FT_XFER_COMPRESS))
        return FT_ERR_PROTOCOL;
    if (!r->inf.ready && ft_inflater_init(&r->inf) != FT_OK)
        return FT_ERR_NOMEM;
    /* The deflated bytes sit where the raw ones would go: pass on what the
     * slot holds and inflate into the next one. */
    err = next_slot(r);
    if (err == FT_OK)
        err = ft_inflate_chunk(&r->inf, m->u.data_z.deflated.ptr,
                               m->u.data_z.deflated.len, r->slot,
                               m->u.data_z.raw_len);
    *n = m->u.data_z.raw_len;
    return err;
}

/* n more bytes after total: beyond limit, or beyond the size announced. */
static enum ft_err too_many(size_t n, uint64_t total, uint64_t limit,
                            uint64_t expect_size)
{
    if (n > limit - total)
        return FT_ERR_TOO_LARGE;
    if (expect_size != FT_SIZE_UNKNOWN && n > expect_size - total)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}

enum ft_err ft_xfer_recv_from(struct ft_conn *c, uint32_t flags,
                              uint64_t expect_size, uint64_t limit,
                              uint64_t offset, const struct ft_reader *prefix,
                              ft_xfer_sink sink, void *ctx,
                              const struct ft_xfer_opts *opts,
                              struct ft_xfer_result *res)
{
    struct recv r = { .k = 0, .sink = sink, .ctx = ctx, .inf = { .ready = false } };
    struct pace pace = pace_start(opts, offset, false);
    uint64_t total = offset;
    /* Two slots at least: a DATA_Z frame is inflated from one into the
     * next. */
    enum ft_err err = ft_xfer_ring_init(&r.ring, SLOT_BYTES, (flags & FT_XFER_VERIFY) != 0,
                                2, fits_one_slot(expect_size, SLOT_BYTES));

    if (err == FT_OK)
        err = hash_prefix(&r.ring, prefix, offset);
    if (err == FT_OK)
        r.slot = ft_xfer_ring_take(&r.ring, 0);
    while (err == FT_OK) {
        struct ft_msg m;
        size_t n = 0;

        /* Frames land in the slot, after the bytes already there. */
        if (r.ring.size - r.fill < c->max_payload) {
            err = next_slot(&r);
            if (err != FT_OK)
                break;
        }
        err = ft_conn_recv_into(c, r.slot + r.fill, r.ring.size - r.fill, &m,
                                c->timeout_ms);
        if (err != FT_OK)
            break;
        switch (m.type) {
        case FT_MSG_DATA:
        case FT_MSG_DATA_Z:
            err = take_data(&r, &m, flags, &n);
            break;
        case FT_MSG_END:
            res->end_seen = true;
            err = next_slot(&r);
            if (err == FT_OK)
                err = check_end(&m, total, expect_size, &r.ring, res);
            goto out;
        case FT_MSG_ERROR:
            err = c->peer_code;
            goto out;
        default:
            err = FT_ERR_PROTOCOL;
            goto out;
        }
        if (err == FT_OK)
            err = too_many(n, total, limit, expect_size);
        if (err != FT_OK)
            break;
        total += n;
        r.fill += n;
        /* Reading slower holds the sender back through TCP's window. */
        err = moved(c, &pace, total);
    }
out:
    if (err != FT_OK)
        keep_received(&r);
    ft_xfer_ring_free(&r.ring);
    ft_inflater_free(&r.inf);
    return err;
}
