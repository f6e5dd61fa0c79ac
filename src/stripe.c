/* stripe.c - one file moved over several connections at once. */
#include "stripe.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "io.h"
#include "slots.h"

/* Room for one frame's payload, sent or received, and for its inflated
 * or deflated twin. */
#define BUF_BYTES FT_FRAME_MAX_PAYLOAD
/* zlib level of striped -z: streams run on a path long enough to be
 * worth them, where the fastest level keeps up with the link. */
#define STRIPE_Z_LEVEL 1
/* How often a connection waiting for its next message looks whether
 * another stream failed. */
#define FAILURE_CHECK_MS 200

static const char join_label[] = "ft join v1";

enum ft_err ft_stripes_init(struct ft_stripes *st, int fd, uint64_t start,
                            uint64_t size, uint32_t flags,
                            ft_stripe_writer write_at, void *write_ctx)
{
    size_t words;

    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->changed, NULL);
    st->fd = fd;
    st->start = start;
    st->size = size;
    st->units = size > start ? (size - start + FT_STRIPE_UNIT - 1) / FT_STRIPE_UNIT : 0;
    st->receiving = write_at != NULL;
    st->write_at = write_at;
    st->write_ctx = write_ctx;
    st->flags = flags;
    st->started_ms = ft_io_now_ms();
    if (!st->receiving)
        return FT_OK;
    words = (size_t)(st->units / 64 + 1);
    st->claimed = calloc(words, sizeof(uint64_t));
    st->done = calloc(words, sizeof(uint64_t));
    return st->claimed == NULL || st->done == NULL ? FT_ERR_NOMEM : FT_OK;
}

void ft_stripes_free(struct ft_stripes *st)
{
    uint8_t unused[FT_HASH_BYTES];

    if (st->hashing) {
        ft_stripes_fail(st, FT_ERR_INTERRUPTED);
        ft_stripes_hash_finish(st, unused);
    }
    free(st->claimed);
    free(st->done);
    st->claimed = st->done = NULL;
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
}

void ft_stripes_fail(struct ft_stripes *st, enum ft_err err)
{
    pthread_mutex_lock(&st->lock);
    if (st->failed == FT_OK)
        st->failed = err;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}

enum ft_err ft_stripes_failed(struct ft_stripes *st)
{
    enum ft_err err;

    pthread_mutex_lock(&st->lock);
    err = st->failed;
    pthread_mutex_unlock(&st->lock);
    return err;
}

uint64_t ft_stripes_moved(struct ft_stripes *st)
{
    uint64_t moved;

    pthread_mutex_lock(&st->lock);
    moved = st->moved;
    pthread_mutex_unlock(&st->lock);
    return moved;
}

static bool bit(const uint64_t *map, uint64_t i)
{
    return (map[i / 64] >> (i % 64)) & 1u;
}

static void set_bit(uint64_t *map, uint64_t i)
{
    map[i / 64] |= (uint64_t)1 << (i % 64);
}

static size_t unit_length(const struct ft_stripes *st, uint64_t i)
{
    uint64_t off = st->start + i * FT_STRIPE_UNIT;

    return (size_t)(st->size - off < FT_STRIPE_UNIT ? st->size - off : FT_STRIPE_UNIT);
}

/* Counts n bytes moved; the total is what every stream paces itself by. */
static uint64_t count_moved(struct ft_stripes *st, size_t n)
{
    uint64_t moved;

    pthread_mutex_lock(&st->lock);
    st->moved += n;
    moved = st->moved;
    pthread_mutex_unlock(&st->lock);
    return moved;
}

/* The next unit not yet claimed by any sending stream. */
static bool claim(struct ft_stripes *st, uint64_t *off, size_t *len)
{
    bool ok;

    pthread_mutex_lock(&st->lock);
    ok = st->failed == FT_OK && st->next < st->units;
    if (ok) {
        *off = st->start + st->next * FT_STRIPE_UNIT;
        *len = unit_length(st, st->next);
        st->next++;
    }
    pthread_mutex_unlock(&st->lock);
    return ok;
}

/* One frame of a unit: DATA_Z when deflating makes it smaller. */
static enum ft_err send_chunk(struct ft_conn *c, struct ft_deflater *z,
                              const uint8_t *raw, size_t n, uint8_t *zbuf)
{
    size_t zlen = 0;

    if (z != NULL && ft_deflate_chunk(z, raw, n, zbuf + FT_DATA_Z_HEADER_BYTES,
                                      c->send_chunk, &zlen)) {
        ft_msg_put_u32(zbuf, (uint32_t)n);
        return ft_conn_send_raw(c, FT_MSG_DATA_Z, zbuf,
                                zlen + FT_DATA_Z_HEADER_BYTES);
    }
    return ft_conn_send_raw(c, FT_MSG_DATA, raw, n);
}

static enum ft_err send_unit(struct ft_conn *c, struct ft_stripes *st,
                             uint64_t off, size_t len, struct ft_deflater *z,
                             uint8_t *buf, uint8_t *zbuf)
{
    struct ft_msg m = { .type = FT_MSG_STRIPE };
    enum ft_err err;

    m.u.stripe.offset = off;
    m.u.stripe.length = (uint32_t)len;
    err = ft_conn_send_more(c, &m);
    while (err == FT_OK && len > 0) {
        size_t n = len < c->send_chunk ? len : c->send_chunk;
        size_t got = 0;
        uint64_t moved;

        err = ft_io_pread_full(st->fd, buf, n, off, &got);
        if (err == FT_OK && got != n)
            err = FT_ERR_CHANGED; /* the file shrank under us */
        if (err == FT_OK)
            err = send_chunk(c, z, buf, n, zbuf);
        if (err != FT_OK)
            break;
        off += n;
        len -= n;
        moved = count_moved(st, n);
        err = ft_conn_pace(c, st->rate_limit, st->started_ms, moved, false);
        if (err == FT_OK)
            err = ft_stripes_failed(st);
    }
    return err;
}

enum ft_err ft_stripes_send(struct ft_conn *c, struct ft_stripes *st)
{
    struct ft_deflater z;
    bool deflating = (st->flags & FT_XFER_COMPRESS) != 0;
    uint8_t *buf = ft_slot_get(BUF_BYTES);
    uint8_t *zbuf = deflating ? ft_slot_get(BUF_BYTES) : NULL;
    enum ft_err err = buf == NULL || (deflating && zbuf == NULL) ? FT_ERR_NOMEM
                                                                  : FT_OK;
    uint64_t off;
    size_t len;

    if (err == FT_OK && deflating)
        err = ft_deflater_init(&z, STRIPE_Z_LEVEL);
    if (err != FT_OK) {
        deflating = false;
        goto out;
    }
    while (claim(st, &off, &len)) {
        err = send_unit(c, st, off, len, deflating ? &z : NULL, buf, zbuf);
        /* The receiver says nothing while units come, unless it fails (a
         * full disk): then its ERROR is why. */
        if (err == FT_OK)
            err = ft_conn_poll_error(c);
        if (err != FT_OK)
            break;
    }
out:
    if (deflating)
        ft_deflater_free(&z);
    if (err != FT_OK)
        ft_stripes_fail(st, err);
    ft_slot_put(buf, BUF_BYTES);
    ft_slot_put(zbuf, BUF_BYTES);
    return err == FT_OK ? ft_stripes_failed(st) : err;
}

/* Checks a STRIPE against the file and the units already announced, and
 * claims its unit. */
static enum ft_err take_unit(struct ft_stripes *st, const struct ft_msg *m,
                             uint64_t *unit)
{
    uint64_t off = m->u.stripe.offset;
    enum ft_err err = FT_ERR_PROTOCOL;

    pthread_mutex_lock(&st->lock);
    if (st->failed != FT_OK) {
        err = st->failed;
    } else if (off >= st->start && off < st->size &&
               (off - st->start) % FT_STRIPE_UNIT == 0) {
        *unit = (off - st->start) / FT_STRIPE_UNIT;
        if (!bit(st->claimed, *unit) &&
            m->u.stripe.length == unit_length(st, *unit)) {
            set_bit(st->claimed, *unit);
            err = FT_OK;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return err;
}

/* The content of one DATA or DATA_Z frame of a unit with room bytes still
 * to come: *p, *n (a DATA_Z frame inflated into zbuf; without inf, one
 * not asked for). */
static enum ft_err frame_content(struct ft_conn *c, const struct ft_msg *d,
                                 struct ft_inflater *inf, uint8_t *zbuf,
                                 size_t room, const uint8_t **p, size_t *n)
{
    switch (d->type) {
    case FT_MSG_DATA:
        *p = d->u.data.bytes.ptr;
        *n = d->u.data.bytes.len;
        break;
    case FT_MSG_DATA_Z:
        if (inf == NULL || d->u.data_z.raw_len > room ||
            d->u.data_z.raw_len > BUF_BYTES)
            return FT_ERR_PROTOCOL;
        *p = zbuf;
        *n = d->u.data_z.raw_len;
        return ft_inflate_chunk(inf, d->u.data_z.deflated.ptr,
                                d->u.data_z.deflated.len, zbuf, *n);
    case FT_MSG_ERROR:
        return c->peer_code;
    default:
        return FT_ERR_PROTOCOL;
    }
    return *n == 0 || *n > room ? FT_ERR_PROTOCOL : FT_OK;
}

static enum ft_err recv_frames(struct ft_conn *c, struct ft_stripes *st,
                               uint64_t off, size_t len, struct ft_inflater *inf,
                               uint8_t *buf, uint8_t *zbuf)
{
    enum ft_err err = FT_OK;

    while (err == FT_OK && len > 0) {
        struct ft_msg d;
        const uint8_t *p = NULL;
        size_t n = 0;

        err = ft_conn_recv_into(c, buf, BUF_BYTES, &d, c->timeout_ms);
        if (err == FT_OK)
            err = frame_content(c, &d, inf, zbuf, len, &p, &n);
        if (err == FT_OK)
            err = st->write_at(st->write_ctx, p, n, off);
        if (err != FT_OK)
            break;
        off += n;
        len -= n;
        /* A receiver's limit holds by reading no faster (TCP slows the
         * sender down). */
        err = ft_conn_pace(c, st->rate_limit, st->started_ms, count_moved(st, n),
                           false);
        if (err == FT_OK)
            err = ft_stripes_failed(st);
    }
    return err;
}

/* Only a -z transfer's units need an inflater and its output buffer: the
 * rest take none per unit. */
enum ft_err ft_stripes_recv_unit(struct ft_conn *c, struct ft_stripes *st,
                                 const struct ft_msg *m)
{
    struct ft_inflater inf;
    bool inflating = false, compressed = (st->flags & FT_XFER_COMPRESS) != 0;
    uint8_t *buf = ft_slot_get(BUF_BYTES);
    uint8_t *zbuf = compressed ? ft_slot_get(BUF_BYTES) : NULL;
    uint64_t unit = 0;
    enum ft_err err = buf == NULL || (compressed && zbuf == NULL) ? FT_ERR_NOMEM
                                                                  : FT_OK;

    if (err == FT_OK)
        err = take_unit(st, m, &unit);
    if (err == FT_OK && compressed) {
        err = ft_inflater_init(&inf);
        inflating = err == FT_OK;
    }
    if (err == FT_OK)
        err = recv_frames(c, st, m->u.stripe.offset, m->u.stripe.length,
                          inflating ? &inf : NULL, buf, zbuf);
    if (inflating)
        ft_inflater_free(&inf);
    ft_slot_put(buf, BUF_BYTES);
    ft_slot_put(zbuf, BUF_BYTES);
    if (err != FT_OK) {
        ft_stripes_fail(st, err);
        return err;
    }
    pthread_mutex_lock(&st->lock);
    set_bit(st->done, unit);
    st->units_done++;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return FT_OK;
}

/* Waits on st->changed for at most ms; the caller holds st->lock. */
static void wait_changed(struct ft_stripes *st, int ms)
{
    struct timespec until;

    ft_io_abstime(ms, &until);
    pthread_cond_timedwait(&st->changed, &st->lock, &until);
}

enum ft_err ft_stripes_wait(struct ft_stripes *st, int tick_ms,
                            void (*tick)(void *ctx), void *ctx)
{
    enum ft_err err;

    pthread_mutex_lock(&st->lock);
    while (st->units_done < st->units && st->failed == FT_OK) {
        int64_t before = ft_io_now_ms();

        wait_changed(st, tick_ms);
        if (ft_io_now_ms() - before >= tick_ms && tick != NULL) {
            pthread_mutex_unlock(&st->lock);
            tick(ctx);
            pthread_mutex_lock(&st->lock);
        }
    }
    err = st->failed;
    pthread_mutex_unlock(&st->lock);
    return err;
}

/* Whether unit i is there to be hashed, waiting for it on a receiving
 * side; false when the transfer failed first. */
static bool unit_ready(struct ft_stripes *st, uint64_t i)
{
    bool ready;

    pthread_mutex_lock(&st->lock);
    while (st->receiving && !bit(st->done, i) && st->failed == FT_OK)
        pthread_cond_wait(&st->changed, &st->lock);
    ready = st->failed == FT_OK;
    pthread_mutex_unlock(&st->lock);
    return ready;
}

static enum ft_err hash_range(struct ft_stripes *st, struct ft_hash *h,
                              uint8_t *buf, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = len < BUF_BYTES ? (size_t)len : BUF_BYTES;
        size_t got = 0;
        enum ft_err err = ft_io_pread_full(st->fd, buf, n, off, &got);

        if (err != FT_OK)
            return err;
        if (got != n)
            return FT_ERR_CHANGED;
        ft_hash_update(h, buf, n);
        off += n;
        len -= n;
    }
    return FT_OK;
}

static void *hash_main(void *arg)
{
    struct ft_stripes *st = arg;
    struct ft_hash h;
    uint8_t *buf = ft_slot_get(BUF_BYTES);
    enum ft_err err = buf == NULL ? FT_ERR_NOMEM : FT_OK;

    ft_hash_init(&h);
    if (err == FT_OK)
        err = hash_range(st, &h, buf, 0, st->start);
    for (uint64_t i = 0; err == FT_OK && i < st->units; i++) {
        if (!unit_ready(st, i))
            err = ft_stripes_failed(st);
        else
            err = hash_range(st, &h, buf, st->start + i * FT_STRIPE_UNIT,
                             unit_length(st, i));
    }
    ft_hash_final(&h, st->digest);
    ft_slot_put(buf, BUF_BYTES);
    st->hash_err = err;
    return NULL;
}

enum ft_err ft_stripes_hash_start(struct ft_stripes *st)
{
    if (pthread_create(&st->hasher, NULL, hash_main, st) != 0)
        return FT_ERR_NOMEM;
    st->hashing = true;
    return FT_OK;
}

enum ft_err ft_stripes_hash_finish(struct ft_stripes *st,
                                   uint8_t digest[FT_HASH_BYTES])
{
    if (!st->hashing)
        return FT_ERR_USAGE;
    pthread_join(st->hasher, NULL);
    st->hashing = false;
    memcpy(digest, st->digest, FT_HASH_BYTES);
    return st->hash_err;
}

/* The next message on the request's connection; while none comes, a
 * failure of another stream ends the wait. */
static enum ft_err next_message(struct ft_conn *c, struct ft_stripes *st,
                                struct ft_msg *m)
{
    int64_t deadline = ft_io_deadline(c->timeout_ms);

    for (;;) {
        enum ft_err err = ft_stripes_failed(st);

        if (err != FT_OK)
            return err;
        if (ft_conn_input_waits(c, FAILURE_CHECK_MS)) {
            /* A heartbeat is no message, but says the peer lives. */
            err = ft_conn_recv_any(c, m, c->timeout_ms);
            if (err != FT_OK || m->type != FT_MSG_KEEPALIVE)
                return err;
            deadline = ft_io_deadline(c->timeout_ms);
        }
        if (c->timeout_ms > 0 && ft_io_now_ms() > deadline)
            return FT_ERR_TIMEOUT;
    }
}

/* END against the whole file. */
static enum ft_err check_end(struct ft_stripes *st, const struct ft_msg *end,
                             uint32_t flags, struct ft_xfer_result *res)
{
    enum ft_err err;

    if (end->u.end.total != st->size)
        return FT_ERR_PROTOCOL;
    res->bytes = st->size;
    if (!(flags & FT_XFER_VERIFY))
        return FT_OK;
    if (!end->u.end.has_digest)
        return FT_ERR_PROTOCOL;
    err = ft_stripes_hash_finish(st, res->digest);
    if (err != FT_OK)
        return err;
    if (!ft_hash_equal(res->digest, end->u.end.digest))
        return FT_ERR_INTEGRITY;
    res->verified = true;
    return FT_OK;
}

enum ft_err ft_stripes_recv_main(struct ft_conn *c, struct ft_stripes *st,
                                 uint32_t flags, void (*tick)(void *ctx),
                                 void *ctx, struct ft_xfer_result *res)
{
    struct ft_msg m, end;
    enum ft_err err = FT_OK;

    while (err == FT_OK && !res->end_seen) {
        err = next_message(c, st, &m);
        if (err != FT_OK)
            break;
        if (m.type == FT_MSG_STRIPE) {
            err = ft_stripes_recv_unit(c, st, &m);
        } else if (m.type == FT_MSG_END) {
            end = m;
            res->end_seen = true;
        } else {
            err = m.type == FT_MSG_ERROR ? c->peer_code : FT_ERR_PROTOCOL;
        }
    }
    if (err == FT_OK)
        err = ft_stripes_wait(st, FT_HEARTBEAT_MS, tick, ctx);
    if (err == FT_OK)
        err = check_end(st, &end, flags, res);
    if (err != FT_OK)
        ft_stripes_fail(st, err);
    return err;
}

enum ft_err ft_stripes_send_end(struct ft_conn *c, struct ft_stripes *st,
                                uint32_t flags, const uint8_t *known_digest,
                                struct ft_xfer_result *res)
{
    struct ft_msg end = { .type = FT_MSG_END };
    enum ft_err err = FT_OK;

    end.u.end.total = st->size;
    res->bytes = st->size;
    if (flags & FT_XFER_VERIFY) {
        if (known_digest != NULL)
            memcpy(end.u.end.digest, known_digest, FT_HASH_BYTES);
        else
            err = ft_stripes_hash_finish(st, end.u.end.digest);
        end.u.end.has_digest = true;
        memcpy(res->digest, end.u.end.digest, FT_HASH_BYTES);
    }
    if (err == FT_OK)
        err = ft_conn_send(c, &end);
    return err;
}

void ft_stripes_join_proof(const uint8_t secret[FT_JOIN_SECRET_BYTES],
                           const struct ft_conn *c,
                           uint8_t proof[FT_DIGEST_BYTES])
{
    crypto_generichash_state h;

    crypto_generichash_init(&h, secret, FT_JOIN_SECRET_BYTES, FT_DIGEST_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)join_label, sizeof(join_label));
    crypto_generichash_update(&h, c->channel, sizeof(c->channel));
    crypto_generichash_final(&h, proof, FT_DIGEST_BYTES);
}
