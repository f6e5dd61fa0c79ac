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
#include "hasher.h"
#include "io.h"
#include "slots.h"

/* zlib level 1 to start with: it keeps most of the gain on text at the
 * least cost; a link far behind (LAG_LEVEL_UP chunks waiting unsent) earns
 * a higher one, up to 6, one lagging less than LAG_LEVEL_DOWN a lower one. */
#define DEFLATE_LEVEL 1
#define MAX_DEFLATE_LEVEL 6
#define LAG_LEVEL_UP 4
#define LAG_LEVEL_DOWN 2
#define RING FT_HASHER_DEPTH
/* How often a waiting side says it is still there. */
#define HEARTBEAT_MS 1000
/* -z's epochs, at most this many of them raw untried after deflate did not
 * pay, and how much faster deflate must move the data to be kept on. */
#define EPOCH_BYTES (1024u * 1024u)
#define Z_EPOCH_BYTES (256u * 1024u) /* short: a try that fails costs little */
#define MAX_RAW_EPOCHS 1024u
#define Z_GAIN 1.1
/* File bytes a slot holds: a plaintext frame, or four sealed ones. */
#define SLOT_BYTES FT_FRAME_MAX_PAYLOAD

/* The buffers a transfer cycles through, and the hasher reading them. */
struct ring {
    uint8_t *buf[RING];
    uint64_t ticket[RING];
    bool pending[RING];
    size_t count;       /* RING with a hasher, else min_count */
    size_t size;
    bool verify;
    struct ft_hasher *hasher; /* NULL: hashed inline, into inline_hash */
    struct ft_hash inline_hash;
};

/* A file that fits in one slot is hashed on the I/O thread: starting a
 * thread would cost more than the hash, many times over for small files. */
static bool fits_one_slot(uint64_t expect_size, size_t slot_size)
{
    return expect_size != FT_SIZE_UNKNOWN && expect_size <= slot_size;
}

static enum ft_err ring_init(struct ring *r, size_t size, bool verify,
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
static uint8_t *ring_take(struct ring *r, size_t k)
{
    if (r->pending[k])
        ft_hasher_wait(r->hasher, r->ticket[k]);
    r->pending[k] = false;
    return r->buf[k];
}

/* Hands n bytes at p (inside slot k's buffers) to the hasher, if any. */
static void ring_hash(struct ring *r, size_t k, const void *p, size_t n)
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

static void ring_digest(struct ring *r, uint8_t digest[FT_HASH_BYTES])
{
    if (r->hasher == NULL) {
        ft_hash_final(&r->inline_hash, digest);
        return;
    }
    ft_hasher_finish(r->hasher, digest);
    r->hasher = NULL;
}

/* The hasher stops before the buffers it may be reading are freed. */
static void ring_free(struct ring *r)
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
        err = ft_io_wait(in_fd, POLLIN, ft_io_deadline(HEARTBEAT_MS));
        if (err == FT_ERR_TIMEOUT) {
            err = ft_conn_send_keepalive(c);
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

/* Feeds the first offset bytes of fd to the hasher: a resumed transfer
 * is verified whole, the part already there included. */
static enum ft_err hash_prefix(struct ring *r, int fd, uint64_t offset)
{
    uint64_t off = 0;

    for (size_t k = 0; r->verify && off < offset; k = (k + 1) % r->count) {
        uint8_t *buf = ring_take(r, k);
        size_t want = offset - off < r->size ? (size_t)(offset - off) : r->size;
        size_t got = 0;
        enum ft_err err = ft_io_pread_full(fd, buf, want, off, &got);

        if (err != FT_OK)
            return err;
        if (got != want)
            return FT_ERR_CHANGED; /* the part on disk shrank meanwhile */
        ring_hash(r, k, buf, got);
        off += got;
    }
    return FT_OK;
}

enum ft_err ft_xfer_send(struct ft_conn *c, int in_fd, uint32_t flags,
                         uint64_t expect_size, struct ft_xfer_result *res)
{
    return ft_xfer_send_from(c, in_fd, flags, expect_size, 0, NULL, res);
}

/* The zero-copy path: DATA frames straight from the file with sendfile. */
static enum ft_err send_file_frames(struct ft_conn *c, int in_fd,
                                    uint64_t size, uint64_t *total)
{
    int64_t started = ft_io_now_ms();
    uint64_t offset = *total;
    enum ft_err err = FT_OK;

    while (*total < size && err == FT_OK) {
        uint64_t left = size - *total;
        size_t n = left < c->send_chunk ? (size_t)left : c->send_chunk;

        err = ft_conn_poll_error(c);
        if (err == FT_OK)
            err = ft_conn_send_file(c, in_fd, *total, n);
        if (err != FT_OK)
            break;
        *total += n;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, *total);
        err = ft_conn_pace(c, started, *total - offset, true);
    }
    return err;
}

/* -z on the sending side. The stream goes in epochs (EPOCH_BYTES raw,
 * Z_EPOCH_BYTES through deflate), each sent one way or the other, timed:
 * deflate is tried only while the link (or the peer) is slower than we
 * are, with bytes waiting unsent in the socket, and kept only while its
 * epochs move the data at least Z_GAIN faster than the last raw epoch did
 * (as zstd --adapt). A peer slow for want of CPU gains nothing from it, a
 * slow link does. Otherwise, and at once when a chunk does not shrink, the
 * next 1, 2, 4 ... up to MAX_RAW_EPOCHS epochs go raw untried. Nor is a
 * try made while the link takes raw data faster than deflate alone last
 * made it: it could not pay, and on a fast link the tries were most of
 * what -z cost. */
struct zsend {
    struct ft_deflater def;
    uint8_t *buf;       /* DATA_Z payload being built; NULL without -z */
    bool deflating;     /* this epoch goes through deflate */
    uint64_t epoch_bytes;
    int64_t epoch_start_us;
    double raw_rate;    /* bytes per second of the last raw epoch; 0: none */
    int64_t deflate_us; /* spent in deflate itself this epoch */
    size_t unsent_at_start; /* bytes waiting in the socket then; SIZE_MAX: unknown */
    double deflate_rate; /* bytes per second deflate itself took last; 0: none */
    unsigned raw_left;  /* epochs still to send raw, untried */
    unsigned backoff;   /* raw_left after the next deflate epoch that did not pay */
    int level;
};

/* Bytes waiting unsent in the socket; SIZE_MAX when it cannot tell. */
static size_t socket_unsent(const struct ft_conn *c)
{
    size_t unsent = 0;

    return ft_conn_unsent(c, &unsent) ? unsent : SIZE_MAX;
}

/* How far the link lags behind us, in chunks of the unsent bytes; "far
 * behind" when that cannot be told, so that -z then compresses as asked. */
static size_t link_lag(const struct ft_conn *c, size_t unsent)
{
    return unsent == SIZE_MAX ? SIZE_MAX : unsent / c->send_chunk;
}

static double per_second(uint64_t bytes, int64_t us)
{
    return (double)bytes * 1e6 / (double)(us > 0 ? us : 1);
}

/* Deflate did not pay: raw for a while, longer each time. */
static void stop_deflating(struct zsend *z)
{
    z->deflating = false;
    z->raw_left = z->backoff;
    z->backoff = z->backoff < MAX_RAW_EPOCHS ? 2 * z->backoff : MAX_RAW_EPOCHS;
}

/* Bytes per second that left the socket for the link during an epoch of
 * bytes written in us, unsent bytes waiting at its end: what the link took,
 * whether the socket's buffer filled or emptied meanwhile (the rate of the
 * writes alone says more of the buffer than of the link). 0 when the
 * socket cannot tell. */
static double drain_rate(const struct zsend *z, uint64_t bytes, int64_t us,
                         size_t unsent)
{
    if (z->unsent_at_start == SIZE_MAX || unsent == SIZE_MAX ||
        bytes + z->unsent_at_start < unsent)
        return 0;
    return per_second(bytes + z->unsent_at_start - unsent, us);
}

/* Ends an epoch: decides how the next one goes. */
static void end_epoch(struct ft_conn *c, struct zsend *z)
{
    int64_t us = ft_io_now_us() - z->epoch_start_us;
    uint64_t bytes = z->epoch_bytes;
    double rate = per_second(bytes, us);
    size_t unsent = socket_unsent(c);
    size_t lag = link_lag(c, unsent);
    bool was_deflating = z->deflating;

    z->epoch_bytes = 0;
    if (!was_deflating) {
        z->raw_rate = rate;
        if (z->raw_left > 0)
            z->raw_left--;
        z->deflating = z->raw_left == 0 && lag >= 1;
        if (z->deflating && z->deflate_rate > 0 &&
            z->deflate_rate < Z_GAIN * drain_rate(z, bytes, us, unsent))
            stop_deflating(z);
        return;
    }
    z->deflate_rate = per_second(bytes, z->deflate_us);
    /* Deflate pays while the link still lags and we move faster than raw. */
    if (lag >= 1 && (z->raw_rate == 0 || rate >= Z_GAIN * z->raw_rate)) {
        z->backoff = 1;
        /* The further behind the link, the harder deflate may work. */
        if (lag != SIZE_MAX && lag >= LAG_LEVEL_UP && z->level < MAX_DEFLATE_LEVEL)
            z->level++;
        else if (lag < LAG_LEVEL_DOWN && z->level > DEFLATE_LEVEL)
            z->level--;
        ft_deflater_set_level(&z->def, z->level);
        return;
    }
    stop_deflating(z);
}

static bool deflate_timed(struct ft_conn *c, struct zsend *z,
                          const uint8_t *chunk, size_t n, size_t *zlen)
{
    int64_t start = ft_io_now_us();
    bool shrank = ft_deflate_chunk(&z->def, chunk, n, z->buf + FT_DATA_Z_HEADER_BYTES,
                                   c->send_chunk, zlen);

    z->deflate_us += ft_io_now_us() - start;
    return shrank;
}

/* Sends one chunk as DATA_Z when this epoch deflates and the chunk
 * shrinks, else as DATA. */
static enum ft_err send_chunk(struct ft_conn *c, struct zsend *z,
                              const uint8_t *chunk, size_t n)
{
    size_t zlen = 0;
    enum ft_err err;

    if (z->buf == NULL)
        return ft_conn_send_raw(c, FT_MSG_DATA, chunk, n);
    if (z->epoch_bytes == 0) {
        z->epoch_start_us = ft_io_now_us();
        z->deflate_us = 0;
        z->unsent_at_start = socket_unsent(c);
    }
    if (z->deflating && !deflate_timed(c, z, chunk, n, &zlen)) {
        /* It did not shrink: the data (random, already compressed) is
         * likely to go on so. */
        stop_deflating(z);
        z->epoch_bytes = 0;
        return ft_conn_send_raw(c, FT_MSG_DATA, chunk, n);
    }
    if (z->deflating) {
        ft_msg_put_u32(z->buf, (uint32_t)n);
        err = ft_conn_send_raw(c, FT_MSG_DATA_Z, z->buf,
                               FT_DATA_Z_HEADER_BYTES + zlen);
    } else {
        err = ft_conn_send_raw(c, FT_MSG_DATA, chunk, n);
    }
    z->epoch_bytes += n;
    if (z->epoch_bytes >= (z->deflating ? Z_EPOCH_BYTES : EPOCH_BYTES))
        end_epoch(c, z);
    return err;
}

/* Sends a slot's got bytes as frames of at most c->send_chunk; *sent counts
 * the file bytes that have gone out. */
static enum ft_err send_slot(struct ft_conn *c, struct zsend *z,
                             const uint8_t *slot, size_t got, int64_t started,
                             uint64_t offset, uint64_t *sent)
{
    for (size_t off = 0; off < got;) {
        size_t n = got - off < c->send_chunk ? got - off : c->send_chunk;
        /* A refusal from the peer (a full disk, say) ends the stream now
         * rather than after the whole file. */
        enum ft_err err = ft_conn_poll_error(c);

        if (err == FT_OK)
            err = send_chunk(c, z, slot + off, n);
        if (err != FT_OK)
            return err;
        off += n;
        *sent += n;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, *sent);
        err = ft_conn_pace(c, started, *sent - offset, true);
        if (err != FT_OK)
            return err;
    }
    return FT_OK;
}

enum ft_err ft_xfer_send_from(struct ft_conn *c, int in_fd, uint32_t flags,
                              uint64_t expect_size, uint64_t offset,
                              const uint8_t *known_digest,
                              struct ft_xfer_result *res)
{
    struct zsend z = { .def = { .ready = false }, .backoff = 1, .level = DEFLATE_LEVEL };
    struct ft_msg end = { .type = FT_MSG_END };
    struct ring ring;
    struct stat sb;
    bool verify = (flags & FT_XFER_VERIFY) && known_digest == NULL;
    bool regular = fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode);
    size_t chunks_per_slot = SLOT_BYTES / c->send_chunk;
    size_t slot_size = c->send_chunk * (chunks_per_slot > 0 ? chunks_per_slot : 1);
    uint64_t total = offset;
    int64_t started = ft_io_now_ms();
    enum ft_err err = ring_init(&ring, slot_size, verify, 1,
                                fits_one_slot(expect_size, slot_size));

    if (err == FT_OK)
        err = hash_prefix(&ring, in_fd, offset);
    if (err != FT_OK)
        goto out;
    /* A small file's frames wait for its END, to leave in one segment: a
     * put -r or get -r of small files then costs the peer one wake-up per
     * file, not three. */
    c->hold = regular && fits_one_slot(expect_size, slot_size);
    if (known_digest != NULL && !(flags & FT_XFER_COMPRESS) && !c->sealed &&
        expect_size != FT_SIZE_UNKNOWN) {
        err = send_file_frames(c, in_fd, expect_size, &total);
        if (err != FT_OK)
            goto out;
        goto finish;
    }
    if (flags & FT_XFER_COMPRESS) {
        z.buf = malloc(FT_DATA_Z_HEADER_BYTES + c->send_chunk);
        err = z.buf == NULL ? FT_ERR_NOMEM : ft_deflater_init(&z.def, DEFLATE_LEVEL);
        if (err != FT_OK)
            goto out;
        /* Deflate from the start where the link's pace cannot be read, or
         * where it already lags (an earlier file of a put -r, say). */
        z.deflating = link_lag(c, socket_unsent(c)) >= 1;
    }
    for (size_t k = 0;; k = (k + 1) % ring.count) {
        uint8_t *slot = ring_take(&ring, k);
        uint64_t sent = total;
        size_t got = 0;

        err = read_chunk(c, in_fd, regular, slot, ring.size, &got);
        if (err != FT_OK)
            goto out;
        if (got == 0)
            break;
        total += got;
        if (expect_size != FT_SIZE_UNKNOWN && total > expect_size) {
            err = FT_ERR_CHANGED; /* it grew */
            goto out;
        }
        ring_hash(&ring, k, slot, got);
        err = send_slot(c, &z, slot, got, started, offset, &sent);
        if (err != FT_OK)
            goto out;
    }
    if (expect_size != FT_SIZE_UNKNOWN && total != expect_size) {
        err = FT_ERR_CHANGED; /* it shrank */
        goto out;
    }
finish:
    end.u.end.total = total;
    if (verify) {
        ring_digest(&ring, end.u.end.digest);
        end.u.end.has_digest = true;
    } else if (known_digest != NULL && (flags & FT_XFER_VERIFY)) {
        memcpy(end.u.end.digest, known_digest, FT_HASH_BYTES);
        end.u.end.has_digest = true;
    }
    if (end.u.end.has_digest)
        memcpy(res->digest, end.u.end.digest, FT_HASH_BYTES);
    c->hold = false;
    err = ft_conn_send(c, &end);
out:
    c->hold = false;
    res->bytes = total;
    ring_free(&ring);
    ft_deflater_free(&z.def);
    free(z.buf);
    return err;
}

/* Checks END against what arrived. */
static enum ft_err check_end(const struct ft_msg *m, uint64_t total,
                             uint64_t expect_size, struct ring *ring,
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
    ring_digest(ring, res->digest);
    if (!ft_hash_equal(res->digest, m->u.end.digest))
        return FT_ERR_INTEGRITY;
    res->verified = true;
    return FT_OK;
}

enum ft_err ft_xfer_recv(struct ft_conn *c, uint32_t flags,
                         uint64_t expect_size, uint64_t limit,
                         ft_xfer_sink sink, void *ctx,
                         struct ft_xfer_result *res)
{
    return ft_xfer_recv_from(c, flags, expect_size, limit, 0, -1, sink, ctx, res);
}

/* Where the receiving loop is: filling slot k of the ring. */
struct recv_pos {
    size_t k;
    uint8_t *slot;
    size_t fill;
};

/* Hands the filled part of the slot to the hasher and the sink, and moves
 * on to the next slot. */
static enum ft_err next_slot(struct ring *r, struct recv_pos *at,
                             ft_xfer_sink sink, void *ctx)
{
    enum ft_err err = FT_OK;

    if (at->fill > 0) {
        ring_hash(r, at->k, at->slot, at->fill);
        err = sink(ctx, at->slot, at->fill);
    }
    at->k = (at->k + 1) % r->count;
    at->slot = ring_take(r, at->k);
    at->fill = 0;
    return err;
}

enum ft_err ft_xfer_recv_from(struct ft_conn *c, uint32_t flags,
                              uint64_t expect_size, uint64_t limit,
                              uint64_t offset, int prefix_fd, ft_xfer_sink sink,
                              void *ctx, struct ft_xfer_result *res)
{
    struct ft_inflater inf = { .ready = false };
    struct ring ring;
    struct recv_pos at = { .k = 0 };
    uint64_t total = offset;
    int64_t started = ft_io_now_ms();
    /* Two slots at least: a DATA_Z frame is inflated from one into the
     * next. */
    enum ft_err err = ring_init(&ring, SLOT_BYTES, (flags & FT_XFER_VERIFY) != 0,
                                2, fits_one_slot(expect_size, SLOT_BYTES));

    if (err == FT_OK)
        err = hash_prefix(&ring, prefix_fd, offset);
    if (err == FT_OK)
        at.slot = ring_take(&ring, 0);

    while (err == FT_OK) {
        struct ft_msg m;
        size_t n;

        /* Frames land in the slot, after the bytes already there. */
        if (ring.size - at.fill < c->max_payload) {
            err = next_slot(&ring, &at, sink, ctx);
            if (err != FT_OK)
                break;
        }
        err = ft_conn_recv_into(c, at.slot + at.fill, ring.size - at.fill, &m,
                                c->timeout_ms);
        if (err != FT_OK)
            break;
        switch (m.type) {
        case FT_MSG_DATA:
            n = m.u.data.bytes.len;
            if (m.u.data.bytes.ptr != at.slot + at.fill)
                memmove(at.slot + at.fill, m.u.data.bytes.ptr, n);
            break;
        case FT_MSG_DATA_Z:
            if (!(flags & FT_XFER_COMPRESS)) {
                err = FT_ERR_PROTOCOL;
                goto out;
            }
            if (!inf.ready && ft_inflater_init(&inf) != FT_OK) {
                err = FT_ERR_NOMEM;
                goto out;
            }
            /* The deflated bytes sit where the raw ones would go: pass on
             * what the slot holds and inflate into the next one. */
            err = next_slot(&ring, &at, sink, ctx);
            if (err == FT_OK)
                err = ft_inflate_chunk(&inf, m.u.data_z.deflated.ptr,
                                       m.u.data_z.deflated.len, at.slot,
                                       m.u.data_z.raw_len);
            if (err != FT_OK)
                goto out;
            n = m.u.data_z.raw_len;
            break;
        case FT_MSG_END:
            res->end_seen = true;
            err = next_slot(&ring, &at, sink, ctx);
            if (err == FT_OK)
                err = check_end(&m, total, expect_size, &ring, res);
            goto out;
        case FT_MSG_ERROR:
            err = c->peer_code;
            goto out;
        default:
            err = FT_ERR_PROTOCOL;
            goto out;
        }
        if (n > limit - total ||
            (expect_size != FT_SIZE_UNKNOWN && n > expect_size - total)) {
            err = n > limit - total ? FT_ERR_TOO_LARGE : FT_ERR_PROTOCOL;
            goto out;
        }
        total += n;
        at.fill += n;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, total);
        /* Reading slower holds the sender back through TCP's window. */
        err = ft_conn_pace(c, started, total - offset, false);
    }
out:
    ring_free(&ring);
    ft_inflater_free(&inf);
    return err;
}
