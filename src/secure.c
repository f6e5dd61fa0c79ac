/* secure.c - XX / XXpsk3 over NOISE frames, then seal the connection. */
#include "secure.h"

#include <string.h>

#define PROLOGUE_LABEL "ft/1 channel"

enum ft_err ft_secure_prologue(struct ft_secure_params *p, const uint8_t *hello,
                               size_t hello_len, const uint8_t *welcome,
                               size_t welcome_len)
{
    size_t label = sizeof(PROLOGUE_LABEL) - 1;
    size_t n = label + 2 + hello_len + 2 + welcome_len;
    uint8_t *o = p->prologue;

    if (n > sizeof(p->prologue) || hello_len > UINT16_MAX ||
        welcome_len > UINT16_MAX)
        return FT_ERR_PROTOCOL;
    memcpy(o, PROLOGUE_LABEL, label);
    o += label;
    *o++ = (uint8_t)(hello_len >> 8);
    *o++ = (uint8_t)hello_len;
    memcpy(o, hello, hello_len);
    o += hello_len;
    *o++ = (uint8_t)(welcome_len >> 8);
    *o++ = (uint8_t)welcome_len;
    memcpy(o, welcome, welcome_len);
    p->prologue_len = n;
    return FT_OK;
}

static enum ft_err send_noise(struct ft_conn *c, const uint8_t *msg, size_t len)
{
    struct ft_msg m = { .type = FT_MSG_NOISE };

    m.u.noise.bytes.ptr = msg;
    m.u.noise.bytes.len = len;
    return ft_conn_send(c, &m);
}

/* Receives the peer's NOISE frame; an ERROR (the peer gave up) is returned
 * as its code, with the text in c->peer_text. */
static enum ft_err recv_noise(struct ft_conn *c, int timeout_ms,
                              struct ft_msg *m)
{
    enum ft_err err = ft_conn_recv(c, m, timeout_ms);

    if (err != FT_OK)
        return err;
    if (m->type == FT_MSG_ERROR)
        return c->peer_code;
    return m->type == FT_MSG_NOISE ? FT_OK : FT_ERR_PROTOCOL;
}

static enum ft_err finish(struct ft_conn *c, struct ft_noise_handshake *hs)
{
    struct ft_noise_cipherstate tx, rx;
    enum ft_err err = ft_noise_split(hs, &tx, &rx);

    ft_noise_handshake_hash(hs, c->channel);
    if (err == FT_OK)
        err = ft_conn_seal(c, &tx, &rx);
    ft_noise_cipherstate_wipe(&tx);
    ft_noise_cipherstate_wipe(&rx);
    return err;
}

enum ft_err ft_secure_client_begin(struct ft_conn *c,
                                   struct ft_noise_handshake *hs,
                                   const struct ft_secure_params *p,
                                   const struct ft_keypair *me,
                                   uint8_t server_key[FT_KEY_BYTES])
{
    uint8_t out[256];
    size_t len = 0;
    struct ft_msg m;
    enum ft_err err;

    err = ft_noise_init(hs, true, p->cipher, p->prologue, p->prologue_len,
                        me->private_key, p->psk, NULL);
    if (err != FT_OK)
        return err;
    err = ft_noise_write_message(hs, NULL, 0, out, sizeof(out), &len);
    if (err == FT_OK)
        err = send_noise(c, out, len);
    if (err == FT_OK)
        err = recv_noise(c, c->timeout_ms, &m);
    if (err == FT_OK)
        err = ft_noise_read_message(hs, m.u.noise.bytes.ptr,
                                    m.u.noise.bytes.len, out, sizeof(out), &len);
    if (err == FT_ERR_INTEGRITY)
        err = FT_ERR_TAMPERED;
    if (err == FT_OK && ft_noise_remote_static(hs) == NULL)
        err = FT_ERR_PROTOCOL;
    if (err == FT_OK)
        memcpy(server_key, ft_noise_remote_static(hs), FT_KEY_BYTES);
    else
        ft_noise_handshake_wipe(hs);
    return err;
}

enum ft_err ft_secure_client_finish(struct ft_conn *c,
                                    struct ft_noise_handshake *hs)
{
    uint8_t out[256];
    size_t len = 0;
    bool psk = hs->has_psk;
    enum ft_err err;

    err = ft_noise_write_message(hs, NULL, 0, out, sizeof(out), &len);
    if (err == FT_OK)
        err = send_noise(c, out, len);
    if (err == FT_OK)
        err = finish(c, hs);
    c->clear_token_word = err == FT_OK && psk;
    ft_noise_handshake_wipe(hs);
    return err;
}

enum ft_err ft_secure_server(struct ft_conn *c, const struct ft_secure_params *p,
                             const struct ft_keypair *server, int timeout_ms,
                             uint8_t client_key[FT_KEY_BYTES])
{
    struct ft_noise_handshake hs;
    uint8_t out[256];
    size_t len = 0;
    struct ft_msg m;
    enum ft_err err;

    err = ft_noise_init(&hs, false, p->cipher, p->prologue, p->prologue_len,
                        server->private_key, p->psk, NULL);
    if (err != FT_OK)
        return err;
    err = recv_noise(c, timeout_ms, &m);
    if (err == FT_OK)
        err = ft_noise_read_message(&hs, m.u.noise.bytes.ptr,
                                    m.u.noise.bytes.len, out, sizeof(out), &len);
    if (err == FT_ERR_INTEGRITY)
        err = FT_ERR_TAMPERED;
    if (err == FT_OK)
        err = ft_noise_write_message(&hs, NULL, 0, out, sizeof(out), &len);
    if (err == FT_OK)
        err = send_noise(c, out, len);
    if (err == FT_OK)
        err = recv_noise(c, timeout_ms, &m);
    if (err == FT_OK) {
        err = ft_noise_read_message(&hs, m.u.noise.bytes.ptr,
                                    m.u.noise.bytes.len, out, sizeof(out), &len);
        /* With a token, a failed check most likely means a different one. */
        if (err == FT_ERR_INTEGRITY)
            err = p->psk != NULL ? FT_ERR_TOKEN : FT_ERR_TAMPERED;
    }
    if (err == FT_OK) {
        memcpy(client_key, ft_noise_remote_static(&hs), FT_KEY_BYTES);
        err = finish(c, &hs);
    }
    ft_noise_handshake_wipe(&hs);
    return err;
}
