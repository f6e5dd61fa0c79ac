/* xfer.c - the data phase of put and get.
 *
 * With verification on, a hashing thread (hasher.c) runs beside the I/O
 * loop, so reading, hashing and sending (or receiving, hashing and
 * writing) overlap and the slowest stage alone sets the pace. The loop
 * cycles through a ring of FT_HASHER_DEPTH buffers and waits for the
 * hasher only before it reuses one. */
#include "xfer.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compress.h"
#include "hasher.h"
#include "io.h"

/* zlib level 1: on fast links deflate, not the wire, is the bottleneck,
 * and level 1 keeps most of the gain on text. */
#define DEFLATE_LEVEL 1
#define RING FT_HASHER_DEPTH
/* How often a waiting side says it is still there. */
#define HEARTBEAT_MS 1000
/* At most this many chunks go raw, untried, after one that did not shrink. */
#define MAX_RAW_BACKOFF 64u

/* The buffers a transfer cycles through, and the hasher reading them. */
struct ring {
    uint8_t *buf[RING];
    uint64_t ticket[RING];
    bool pending[RING];
    size_t count;       /* RING with a hasher, else 1 */
    size_t size;
    struct ft_hasher *hasher;
};

static enum ft_err ring_init(struct ring *r, size_t size, bool verify)
{
    memset(r, 0, sizeof(*r));
    r->count = verify ? RING : 1;
    r->size = size;
    for (size_t i = 0; i < r->count; i++) {
        r->buf[i] = malloc(size);
        if (r->buf[i] == NULL)
            return FT_ERR_NOMEM;
    }
    return verify ? ft_hasher_start(&r->hasher) : FT_OK;
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
    if (r->hasher == NULL)
        return;
    r->ticket[k] = ft_hasher_submit(r->hasher, p, n);
    r->pending[k] = true;
}

static void ring_digest(struct ring *r, uint8_t digest[FT_HASH_BYTES])
{
    ft_hasher_finish(r->hasher, digest);
    r->hasher = NULL;
}

/* The hasher stops before the buffers it may be reading are freed. */
static void ring_free(struct ring *r)
{
    ft_hasher_free(r->hasher);
    r->hasher = NULL;
    for (size_t i = 0; i < RING; i++)
        free(r->buf[i]);
}

/* Fills buf from in_fd until cap bytes or end of file. A source that may
 * stall (a pipe, a terminal) is waited on with heartbeats to the peer, so
 * that its idle timeout does not cut a slow but live upload. */
static enum ft_err read_chunk(struct ft_conn *c, int in_fd, uint8_t *buf,
                              size_t cap, size_t *got)
{
    struct stat sb;
    size_t done = 0;

    if (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode))
        return ft_io_read_full(in_fd, buf, cap, FT_IO_NO_DEADLINE, got);
    while (done < cap) {
        size_t n = 0;
        enum ft_err err = ft_io_wait(in_fd, POLLIN, ft_io_deadline(HEARTBEAT_MS));

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

    for (size_t k = 0; r->hasher != NULL && off < offset; k = (k + 1) % r->count) {
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

enum ft_err ft_xfer_send_from(struct ft_conn *c, int in_fd, uint32_t flags,
                              uint64_t expect_size, uint64_t offset,
                              const uint8_t *known_digest,
                              struct ft_xfer_result *res)
{
    struct ft_deflater def = { .ready = false };
    struct ft_msg end = { .type = FT_MSG_END };
    struct ring ring;
    bool verify = (flags & FT_XFER_VERIFY) && known_digest == NULL;
    bool compress = flags & FT_XFER_COMPRESS;
    size_t chunk_len = c->send_chunk;
    uint8_t *zbuf = NULL;
    uint64_t total = offset;
    int64_t started = ft_io_now_ms();
    unsigned raw_left = 0, backoff = 1;
    bool try_z;
    enum ft_err err = ring_init(&ring, chunk_len, verify);

    if (err == FT_OK)
        err = hash_prefix(&ring, in_fd, offset);
    if (err != FT_OK)
        goto out;
    if (known_digest != NULL && !compress && !c->sealed &&
        expect_size != FT_SIZE_UNKNOWN) {
        err = send_file_frames(c, in_fd, expect_size, &total);
        if (err != FT_OK)
            goto out;
        goto finish;
    }
    if (compress) {
        zbuf = malloc(FT_DATA_Z_HEADER_BYTES + chunk_len);
        err = zbuf == NULL ? FT_ERR_NOMEM : ft_deflater_init(&def, DEFLATE_LEVEL);
        if (err != FT_OK)
            goto out;
    }
    for (size_t k = 0;; k = (k + 1) % ring.count) {
        uint8_t *chunk = ring_take(&ring, k);
        size_t got = 0;
        size_t zlen = 0;

        err = read_chunk(c, in_fd, chunk, chunk_len, &got);
        if (err != FT_OK)
            goto out;
        if (got == 0)
            break;
        total += got;
        if (expect_size != FT_SIZE_UNKNOWN && total > expect_size) {
            err = FT_ERR_CHANGED; /* it grew */
            goto out;
        }
        ring_hash(&ring, k, chunk, got);
        /* A refusal from the peer (a full disk, say) ends the stream now
         * rather than after the whole file. */
        err = ft_conn_poll_error(c);
        if (err != FT_OK)
            goto out;
        try_z = compress && raw_left == 0;
        if (compress && raw_left > 0)
            raw_left--;
        if (try_z && ft_deflate_chunk(&def, chunk, got,
                                      zbuf + FT_DATA_Z_HEADER_BYTES, chunk_len,
                                      &zlen)) {
            backoff = 1;
            ft_msg_put_u32(zbuf, (uint32_t)got);
            err = ft_conn_send_raw(c, FT_MSG_DATA_Z, zbuf,
                                   FT_DATA_Z_HEADER_BYTES + zlen);
        } else {
            /* Data that did not shrink (random, already compressed) is
             * likely to go on so: skip deflate for a while, backing off
             * further each time, so -z costs little on such files. */
            if (try_z) {
                raw_left = backoff;
                backoff = backoff < MAX_RAW_BACKOFF ? 2 * backoff : MAX_RAW_BACKOFF;
            }
            err = ft_conn_send_raw(c, FT_MSG_DATA, chunk, got);
        }
        if (err != FT_OK)
            goto out;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, total);
        err = ft_conn_pace(c, started, total - offset, true);
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
    err = ft_conn_send(c, &end);
out:
    res->bytes = total;
    ring_free(&ring);
    ft_deflater_free(&def);
    free(zbuf);
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
    if (ring->hasher == NULL)
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

enum ft_err ft_xfer_recv_from(struct ft_conn *c, uint32_t flags,
                              uint64_t expect_size, uint64_t limit,
                              uint64_t offset, int prefix_fd, ft_xfer_sink sink,
                              void *ctx, struct ft_xfer_result *res)
{
    struct ft_inflater inf = { .ready = false };
    struct ring ring;
    uint8_t *raw[RING] = { NULL };
    uint64_t total = offset;
    int64_t started = ft_io_now_ms();
    enum ft_err err = ring_init(&ring, c->max_payload,
                                (flags & FT_XFER_VERIFY) != 0);

    if (err == FT_OK)
        err = hash_prefix(&ring, prefix_fd, offset);

    for (size_t k = 0; err == FT_OK; k = (k + 1) % ring.count) {
        uint8_t *frame_buf = ring_take(&ring, k);
        struct ft_msg m;
        const uint8_t *bytes;
        size_t n;

        err = ft_conn_recv_into(c, frame_buf, ring.size, &m, c->timeout_ms);
        if (err != FT_OK)
            break;
        switch (m.type) {
        case FT_MSG_DATA:
            bytes = m.u.data.bytes.ptr;
            n = m.u.data.bytes.len;
            break;
        case FT_MSG_DATA_Z:
            if (!(flags & FT_XFER_COMPRESS)) {
                err = FT_ERR_PROTOCOL;
                goto out;
            }
            if (raw[k] == NULL) {
                raw[k] = malloc(FT_CHUNK_BYTES);
                if (raw[k] == NULL || (!inf.ready && ft_inflater_init(&inf) != FT_OK)) {
                    err = FT_ERR_NOMEM;
                    goto out;
                }
            }
            err = ft_inflate_chunk(&inf, m.u.data_z.deflated.ptr,
                                   m.u.data_z.deflated.len, raw[k],
                                   m.u.data_z.raw_len);
            if (err != FT_OK)
                goto out;
            bytes = raw[k];
            n = m.u.data_z.raw_len;
            break;
        case FT_MSG_END:
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
        ring_hash(&ring, k, bytes, n);
        err = sink(ctx, bytes, n);
        if (err == FT_OK && c->progress != NULL)
            c->progress(c->progress_ctx, total);
        /* Reading slower holds the sender back through TCP's window. */
        if (err == FT_OK)
            err = ft_conn_pace(c, started, total - offset, false);
    }
out:
    ring_free(&ring);
    ft_inflater_free(&inf);
    for (size_t i = 0; i < RING; i++)
        free(raw[i]);
    return err;
}
