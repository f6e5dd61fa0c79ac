/* conn.c - ft messages over frames. */
#include "conn.h"

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ft/net.h"
#include "io.h"
#include "name.h"

/* Room for any message other than DATA: a name of the longest wire length
 * plus fixed fields. */
#define SMALL_MSG_MAX (FT_WIRE_NAME_MAX + 64)

/* What one read takes beyond the frame asked for: many small frames (the
 * requests and answers of small files) per system call. */
#define READAHEAD_BYTES (16u * 1024u)

enum ft_err ft_conn_init(struct ft_conn *c, int fd, int timeout_ms)
{
    uint8_t *ahead;

    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    c->max_payload = FT_FRAME_MAX_PAYLOAD;
    c->send_chunk = FT_CHUNK_BYTES;
    c->now_ms = ft_io_now_ms;
    c->beat_ms = c->now_ms();
    c->buf = malloc(FT_FRAME_MAX_PAYLOAD);
    ahead = malloc(READAHEAD_BYTES);
    ft_frame_reader_init(&c->in, fd, ahead, READAHEAD_BYTES);
    return c->buf == NULL || ahead == NULL ? FT_ERR_NOMEM : FT_OK;
}

void ft_conn_free(struct ft_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    free(c->in.ahead);
    c->in.ahead = NULL;
    free(c->seal_buf);
    c->seal_buf = NULL;
    free(c->batch);
    c->batch = NULL;
    ft_noise_cipherstate_wipe(&c->tx);
    ft_noise_cipherstate_wipe(&c->rx);
}

enum ft_err ft_conn_seal(struct ft_conn *c, struct ft_noise_cipherstate *tx,
                         struct ft_noise_cipherstate *rx)
{
    size_t chunk = FT_NOISE_MAX_PAYLOAD_BYTES - FT_DATA_Z_HEADER_BYTES;
    /* Each sealed frame grows by its tag, which the peer's frame limit
     * (send_chunk was derived from it) must also hold. */
    size_t after_tag = c->send_chunk > FT_NOISE_TAG_BYTES
                           ? c->send_chunk - FT_NOISE_TAG_BYTES : 1;

    c->seal_buf = malloc(FT_NOISE_MAX_MESSAGE_BYTES);
    if (c->seal_buf == NULL)
        return FT_ERR_NOMEM;
    c->tx = *tx;
    c->rx = *rx;
    ft_noise_cipherstate_wipe(tx);
    ft_noise_cipherstate_wipe(rx);
    c->sealed = true;
    if (c->max_payload > FT_NOISE_MAX_MESSAGE_BYTES)
        c->max_payload = FT_NOISE_MAX_MESSAGE_BYTES;
    c->send_chunk = after_tag < chunk ? after_tag : chunk;
    return FT_OK;
}

static void put_header(uint8_t header[FT_FRAME_HEADER_BYTES], uint8_t type,
                       size_t len)
{
    ft_msg_put_u32(header, (uint32_t)len);
    header[4] = type;
}

/* Writes the batched frames. */
static enum ft_err flush_batch(struct ft_conn *c)
{
    struct iovec iov = { .iov_base = c->batch, .iov_len = c->batch_len };
    enum ft_err err;

    if (c->batch_len == 0)
        return FT_OK;
    err = ft_io_writev_full(c->fd, &iov, 1, ft_io_deadline(c->timeout_ms), false);
    c->mid_frame = err != FT_OK;
    c->batch_len = 0;
    c->beat_ms = c->now_ms();
    return err;
}

/* A frame joins the batch; a long gap since the peer last heard from us
 * sends it now. */
static enum ft_err batch_frame(struct ft_conn *c, uint8_t type,
                               const void *payload, size_t len)
{
    uint8_t *at = c->batch + c->batch_len;

    put_header(at, type, len);
    memcpy(at + FT_FRAME_HEADER_BYTES, payload, len);
    c->batch_len += FT_FRAME_HEADER_BYTES + len;
    c->wire_sent += FT_FRAME_HEADER_BYTES + len;
    return c->now_ms() - c->beat_ms >= FT_HEARTBEAT_MS ? flush_batch(c) : FT_OK;
}

enum ft_err ft_conn_batch(struct ft_conn *c, bool on)
{
    enum ft_err err = flush_batch(c);

    if (!on || err != FT_OK) {
        free(c->batch);
        c->batch = NULL;
        return err;
    }
    if (c->batch == NULL)
        c->batch = malloc(FT_CONN_BATCH_BYTES);
    return c->batch == NULL ? FT_ERR_NOMEM : FT_OK;
}

/* Held frames (more) wait for the next (MSG_MORE); batched ones for the
 * batch to fill. */
static enum ft_err write_frame(struct ft_conn *c, uint8_t type,
                               const void *payload, size_t len, bool more)
{
    enum ft_err err = FT_OK;

    if (c->batch != NULL) {
        if (FT_CONN_BATCH_BYTES - c->batch_len < FT_FRAME_HEADER_BYTES + len)
            err = flush_batch(c);
        if (err != FT_OK || FT_FRAME_HEADER_BYTES + len <= FT_CONN_BATCH_BYTES)
            return err == FT_OK ? batch_frame(c, type, payload, len) : err;
    }
    err = (more ? ft_frame_write_more : ft_frame_write)(
        c->fd, type, payload, len, c->timeout_ms);

    c->beat_ms = c->now_ms();
    if (err == FT_OK)
        c->wire_sent += FT_FRAME_HEADER_BYTES + len;
    return err;
}

/* Every frame leaves here: sealed when the connection is. The header, in
 * clear on the wire, is bound to the ciphertext as associated data, so a
 * changed type or length fails authentication too. */
static enum ft_err send_frame(struct ft_conn *c, uint8_t type,
                              const void *payload, size_t len, bool more)
{
    uint8_t header[FT_FRAME_HEADER_BYTES];
    enum ft_err err;

    if (!c->sealed)
        return write_frame(c, type, payload, len, more);
    if (len > FT_NOISE_MAX_PAYLOAD_BYTES)
        return FT_ERR_FRAME_TOO_BIG;
    put_header(header, type, len + FT_NOISE_TAG_BYTES);
    err = ft_noise_encrypt(&c->tx, header, sizeof(header), payload, len,
                           c->seal_buf);
    if (err != FT_OK)
        return err;
    return write_frame(c, type, c->seal_buf, len + FT_NOISE_TAG_BYTES, more);
}

static enum ft_err send_msg(struct ft_conn *c, const struct ft_msg *m, bool more)
{
    uint8_t out[SMALL_MSG_MAX];
    size_t len = 0;
    enum ft_err err = ft_msg_encode(m, out, sizeof(out), &len);

    if (err != FT_OK)
        return err;
    return send_frame(c, (uint8_t)m->type, out, len, more);
}

enum ft_err ft_conn_send_more(struct ft_conn *c, const struct ft_msg *m)
{
    return send_msg(c, m, true);
}

enum ft_err ft_conn_send(struct ft_conn *c, const struct ft_msg *m)
{
    return send_msg(c, m, false);
}

enum ft_err ft_conn_send_error(struct ft_conn *c, enum ft_err code,
                               const char *fmt, ...)
{
    char text[FT_ERROR_TEXT_MAX + 1];
    struct ft_msg m = { .type = FT_MSG_ERROR };
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    m.u.error.code = (uint16_t)code;
    m.u.error.text.ptr = (const uint8_t *)text;
    m.u.error.text.len = strlen(text);
    return ft_conn_send(c, &m);
}

enum ft_err ft_conn_send_raw(struct ft_conn *c, enum ft_msg_type type,
                             const void *payload, size_t len)
{
    return send_frame(c, (uint8_t)type, payload, len, false);
}

enum ft_err ft_conn_send_raw_more(struct ft_conn *c, enum ft_msg_type type,
                                  const void *payload, size_t len)
{
    return send_frame(c, (uint8_t)type, payload, len, true);
}

/* Keeps the peer's error as printable text, quoted as every line is
 * (name.c): control bytes would let a hostile peer rewrite the user's
 * terminal or forge lines of the server's log. */
static void keep_peer_error(struct ft_conn *c, const struct ft_msg *m)
{
    c->peer_code = (enum ft_err)m->u.error.code;
    ft_text_quote(m->u.error.text.ptr, m->u.error.text.len, c->peer_text,
                  sizeof(c->peer_text));
    if (c->peer_code == FT_OK)
        c->peer_code = FT_ERR_SERVER;
}

static enum ft_err recv_frame(struct ft_conn *c, uint8_t *buf, size_t cap,
                              struct ft_msg *m, int timeout_ms,
                              bool skip_heartbeats);

enum ft_err ft_conn_recv(struct ft_conn *c, struct ft_msg *m, int timeout_ms)
{
    return ft_conn_recv_into(c, c->buf, c->max_payload, m, timeout_ms);
}

enum ft_err ft_conn_recv_into(struct ft_conn *c, uint8_t *buf, size_t cap,
                              struct ft_msg *m, int timeout_ms)
{
    return recv_frame(c, buf, cap, m, timeout_ms, true);
}

enum ft_err ft_conn_recv_any(struct ft_conn *c, struct ft_msg *m, int timeout_ms)
{
    return recv_frame(c, c->buf, c->max_payload, m, timeout_ms, false);
}

/* Receives one message; with skip_heartbeats, KEEPALIVEs are taken and the
 * wait starts over, otherwise a KEEPALIVE is returned like any message. */
static enum ft_err recv_frame(struct ft_conn *c, uint8_t *buf, size_t cap,
                              struct ft_msg *m, int timeout_ms,
                              bool skip_heartbeats)
{
    struct ft_frame f;
    enum ft_err err;

    if (cap > c->max_payload)
        cap = c->max_payload;
    /* The peer may be waiting for what we hold before it answers. */
    err = flush_batch(c);
    if (err != FT_OK)
        return err;
again:
    err = ft_frame_reader_next(&c->in, buf, cap, &f, timeout_ms);
    memcpy(c->last_header, f.header, sizeof(c->last_header));
    /* A frame cut off (the one PROTOCOL the frame layer gives) is, once
     * the handshake is done, a peer that went (killed, or the link lost),
     * as a reset would say: the transfer is kept for --continue. Before
     * it, a stranger's bytes, which the server answers (PROTOCOL.md 7.4). */
    if (err == FT_ERR_PROTOCOL && c->keepalives)
        err = FT_ERR_CLOSED;
    if (err != FT_OK)
        return err;
    c->wire_received += FT_FRAME_HEADER_BYTES + f.len;
    if (c->sealed) {
        /* The one frame a sealed connection takes in clear: the server's
         * word that our token is wrong, which it can only say so (XXpsk3
         * checks the token in the client's last handshake message). Only
         * as the first frame, and only that word: anyone on the path can
         * end a connection, but can say nothing else. Kept aside, as a
         * failed decryption wipes the payload. */
        uint8_t clear[FT_ERROR_TEXT_MAX + 16];
        bool maybe_clear = c->clear_token_word && f.type == FT_MSG_ERROR &&
                           f.len <= sizeof(clear);

        c->clear_token_word = false;

        if (maybe_clear)
            memcpy(clear, f.payload, f.len);
        /* Altered, replayed, reordered or unencrypted: all the same. */
        if (f.len < FT_NOISE_TAG_BYTES ||
            ft_noise_decrypt(&c->rx, f.header, sizeof(f.header), f.payload,
                             f.len, f.payload) != FT_OK) {
            if (!maybe_clear)
                return FT_ERR_TAMPERED;
            memcpy(f.payload, clear, f.len);
            if (ft_msg_decode(f.type, f.payload, f.len, m) != FT_OK ||
                m->u.error.code != FT_ERR_TOKEN)
                return FT_ERR_TAMPERED;
            keep_peer_error(c, m);
            return FT_OK;
        }
        f.len -= FT_NOISE_TAG_BYTES;
    }
    c->last_len = f.len;
    c->beat_ms = c->now_ms();
    err = ft_msg_decode(f.type, f.payload, f.len, m);
    if (err != FT_OK)
        return err;
    /* A busy peer's heartbeat: the wait for the real answer starts over. */
    if (m->type == FT_MSG_KEEPALIVE) {
        if (!c->keepalives)
            return FT_ERR_PROTOCOL;
        if (skip_heartbeats)
            goto again;
    }
    if (m->type == FT_MSG_ERROR)
        keep_peer_error(c, m);
    return FT_OK;
}

enum ft_err ft_conn_send_file(struct ft_conn *c, int fd, uint64_t off,
                              size_t len)
{
    uint8_t header[FT_FRAME_HEADER_BYTES];
    struct iovec iov = { .iov_base = header, .iov_len = sizeof(header) };
    int64_t deadline = ft_io_deadline(c->timeout_ms);
    enum ft_err err;

    if (c->sealed || len > FT_FRAME_MAX_PAYLOAD)
        return FT_ERR_USAGE;
    err = flush_batch(c);
    if (err != FT_OK)
        return err;
    put_header(header, FT_MSG_DATA, len);
    /* The header waits for the payload, to leave in one segment with it. */
    err = ft_io_writev_full(c->fd, &iov, 1, deadline, true);
    if (err == FT_OK) {
        err = ft_io_sendfile_full(c->fd, fd, off, len, deadline);
        c->mid_frame = err != FT_OK;
    }
    if (err == FT_OK)
        c->wire_sent += FT_FRAME_HEADER_BYTES + len;
    c->beat_ms = c->now_ms();
    return err;
}

enum ft_err ft_conn_send_keepalive(struct ft_conn *c)
{
    struct ft_msg m = { .type = FT_MSG_KEEPALIVE };

    return ft_conn_send(c, &m);
}

enum ft_err ft_conn_heartbeat(struct ft_conn *c)
{
    if (c->now_ms() - c->beat_ms < FT_HEARTBEAT_MS)
        return FT_OK;
    /* Frames held in a batch say it as well as a KEEPALIVE. */
    return c->batch_len > 0 ? flush_batch(c) : ft_conn_send_keepalive(c);
}

enum ft_err ft_conn_pace(struct ft_conn *c, uint64_t rate_limit,
                         int64_t started_ms, uint64_t done, bool listen)
{
    int64_t due;

    if (rate_limit == 0)
        return FT_OK;
    due = started_ms + (int64_t)(done * 1000 / rate_limit);
    /* Waits in slices: the peer hears from us every heartbeat, and a
     * socket shut down by a stopping server (or a peer's word) ends the
     * wait. */
    for (;;) {
        int64_t wait = due - ft_io_now_ms();
        struct pollfd p = { .fd = listen ? c->fd : -1, .events = POLLIN };
        enum ft_err err;

        if (wait <= 0)
            return FT_OK;
        if (listen && ft_frame_reader_holds(&c->in))
            return ft_conn_poll_error(c); /* read already, with a frame before */
        if (poll(&p, 1, wait > FT_HEARTBEAT_MS ? FT_HEARTBEAT_MS : (int)wait) > 0)
            return ft_conn_poll_error(c);
        if (wait > FT_HEARTBEAT_MS) { /* a whole slice passed, in silence */
            err = ft_conn_heartbeat(c);
            if (err != FT_OK)
                return err;
        }
    }
}

bool ft_conn_input_waits(const struct ft_conn *c, int timeout_ms)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };

    return ft_frame_reader_holds(&c->in) || poll(&p, 1, timeout_ms) > 0;
}

enum ft_err ft_conn_poll_error(struct ft_conn *c)
{
    for (;;) {
        struct ft_msg m;
        enum ft_err err;

        if (!ft_conn_input_waits(c, 0))
            return FT_OK;
        /* One frame at a time: a heartbeat is taken and we go on, rather
         * than block for a frame that is not coming. */
        err = recv_frame(c, c->buf, c->max_payload, &m, c->timeout_ms, false);
        if (err != FT_OK)
            return err;
        if (m.type == FT_MSG_KEEPALIVE)
            continue;
        return m.type == FT_MSG_ERROR ? c->peer_code : FT_ERR_PROTOCOL;
    }
}

void ft_conn_cork(struct ft_conn *c, bool on)
{
    ft_net_cork(c->fd, on);
}
