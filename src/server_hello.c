/* server_hello.c - before a session serves: HELLO, the channel, the
 * Noise handshake, and a word for peers that are not ft clients. */
#define _GNU_SOURCE
#include "server_int.h"

#include <string.h>

#include "io.h"
#include "noise.h"
#include "secure.h"

/* Before the handshake a peer is unknown: its frames may be small. */
#define HANDSHAKE_MAX_PAYLOAD 256

/* A first frame that is not an ft HELLO: tell the peer in a form it can
 * read. Text-speaking peers (a browser, someone typing into nc) get text,
 * HTTP clients an HTTP answer, anything else an ERROR frame. */
static void reject_stranger(struct session *s)
{
    static const char *const http_methods[] = { "GET ", "POST", "HEAD",
                                                "PUT ", "OPTI", "DELE",
                                                "CONN", "PATC" };
    static const char http_reply[] =
        "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
        "Connection: close\r\n\r\n"
        "This is an ft file server: it speaks the ft protocol, not HTTP.\n";
    static const char text_reply[] =
        "ft: this is an ft file server; it speaks the ft protocol "
        "(docs/PROTOCOL.md), not text. Use the ft client. Bye.\n";
    const uint8_t *h = s->conn.last_header;
    bool text = true;
    int64_t deadline = ft_io_deadline(BUSY_REPLY_TIMEOUT_MS);

    /* A short first line ("hi\n") leaves the rest of the header zero. */
    for (size_t i = 0; i < FT_FRAME_HEADER_BYTES && h[i] != 0; i++) {
        if ((h[i] < 0x20 || h[i] > 0x7e) && h[i] != '\r' && h[i] != '\n' &&
            h[i] != '\t')
            text = false;
    }
    text = text && h[0] != 0;
    if (!text) {
        ft_conn_send_error(&s->conn, FT_ERR_NOT_FT,
                           "not an ft client: expected an ft HELLO frame");
        return;
    }
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(*http_methods); i++) {
        if (memcmp(h, http_methods[i], 4) == 0) {
            ft_io_write_full(s->conn.fd, http_reply, sizeof(http_reply) - 1,
                             deadline);
            return;
        }
    }
    ft_io_write_full(s->conn.fd, text_reply, sizeof(text_reply) - 1, deadline);
}

/* The channel a client gets: plaintext only when it asks and we allow it
 * (never with a token or a clients file: only an encrypted handshake can
 * check a token or prove a client's key);
 * otherwise AES-256-GCM where both sides have it in hardware (faster
 * here), else ChaCha20-Poly1305. 0 when the client offers nothing we run. */
static uint32_t choose_channel(const struct ft_server *srv, uint32_t offered)
{
    if ((offered & FT_FEATURE_PLAINTEXT) && srv->cfg.allow_plaintext &&
        srv->cfg.token == NULL && srv->cfg.clients_file == NULL)
        return FT_FEATURE_PLAINTEXT;
    if ((offered & FT_FEATURE_AESGCM) && ft_noise_cipher_available(FT_NOISE_AESGCM))
        return FT_FEATURE_AESGCM;
    if (offered & FT_FEATURE_CHACHAPOLY)
        return FT_FEATURE_CHACHAPOLY;
    return 0;
}

/* Answers HELLO with WELCOME, then runs the Noise handshake when the
 * channel is encrypted. A newer client speaks our version too: we answer
 * with ours. */
static enum ft_err open_channel(struct session *s, const struct ft_msg *hello)
{
    struct ft_server *srv = s->srv;
    struct ft_msg welcome = { .type = FT_MSG_WELCOME };
    struct ft_secure_params params;
    uint8_t hello_bytes[HANDSHAKE_MAX_PAYLOAD];
    uint8_t welcome_bytes[64];
    size_t hello_len = s->conn.last_len;
    size_t welcome_len = 0;
    uint32_t channel = choose_channel(srv, hello->u.hello.features);
    enum ft_err err;

    if (channel == 0) {
        ft_conn_send_error(&s->conn, FT_ERR_VERSION,
                           "this server requires an encrypted connection, "
                           "which the client does not offer");
        return FT_ERR_VERSION;
    }
    memcpy(hello_bytes, s->conn.buf, hello_len);
    s->features = hello->u.hello.features & FT_FEATURE_SHARED;
    if (!ft_store_can(srv->store, FT_STORE_CAN_FD))
        s->features &= ~FT_FEATURE_DELTA; /* its DELTA_GET needs descriptors */
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = s->features | channel |
                                 (srv->cfg.token != NULL ? FT_FEATURE_TOKEN : 0);
    welcome.u.welcome.max_payload = srv->cfg.max_frame_payload;
    if (channel != FT_FEATURE_PLAINTEXT &&
        welcome.u.welcome.max_payload > FT_NOISE_MAX_MESSAGE_BYTES)
        welcome.u.welcome.max_payload = FT_NOISE_MAX_MESSAGE_BYTES;
    err = ft_msg_encode(&welcome, welcome_bytes, sizeof(welcome_bytes),
                        &welcome_len);
    if (err == FT_OK)
        err = ft_conn_send(&s->conn, &welcome);
    if (err != FT_OK || channel == FT_FEATURE_PLAINTEXT) {
        s->conn.max_payload = srv->cfg.max_frame_payload;
        s->protocol = "plaintext";
        return err;
    }
    memset(&params, 0, sizeof(params));
    params.cipher = channel == FT_FEATURE_AESGCM ? FT_NOISE_AESGCM
                                                 : FT_NOISE_CHACHAPOLY;
    params.psk = srv->cfg.token;
    err = ft_secure_prologue(&params, hello_bytes, hello_len, welcome_bytes,
                             welcome_len);
    if (err == FT_OK)
        err = ft_secure_server(&s->conn, &params, &srv->key,
                               srv->cfg.handshake_timeout_ms, s->client_key);
    if (err == FT_ERR_TOKEN) {
        /* Only we can tell: the client's side of XXpsk3 ends before the
         * token is checked. In clear, as the channel never came up. */
        ft_conn_send_error(&s->conn, FT_ERR_TOKEN,
                           "wrong token: the client's handshake does not "
                           "verify with this server's token");
        ft_server_session_drain(s);
        return err;
    }
    if (err != FT_OK)
        return err;
    s->has_client_key = true;
    ft_keys_fingerprint(s->client_key, s->client_fingerprint);
    s->conn.max_payload = welcome.u.welcome.max_payload;
    s->protocol = ft_noise_protocol_name(params.psk != NULL, params.cipher);
    return FT_OK;
}

enum ft_err ft_server_hello(struct session *s)
{
    struct ft_server *srv = s->srv;
    struct ft_msg m;
    enum ft_err err;

    s->conn.max_payload = HANDSHAKE_MAX_PAYLOAD;
    err = ft_conn_recv(&s->conn, &m, srv->cfg.handshake_timeout_ms);
    if (err == FT_OK && m.type != FT_MSG_HELLO)
        err = FT_ERR_NOT_FT;
    switch (err) {
    case FT_OK:
        break;
    case FT_ERR_NOT_FT:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
        reject_stranger(s);
        return FT_ERR_NOT_FT;
    case FT_ERR_TIMEOUT:
        ft_conn_send_error(&s->conn, FT_ERR_TIMEOUT,
                           "no ft handshake within %d ms",
                           srv->cfg.handshake_timeout_ms);
        return err;
    default:
        return err;
    }
    if (m.u.hello.version < FT_PROTO_VERSION) {
        ft_conn_send_error(&s->conn, FT_ERR_VERSION,
                           "protocol version %u is not supported; this server "
                           "speaks %u", (unsigned)m.u.hello.version,
                           FT_PROTO_VERSION);
        return FT_ERR_VERSION;
    }
    return open_channel(s, &m);
}
