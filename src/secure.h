/* secure.h - the Noise handshake that turns a connection into an encrypted,
 * authenticated channel, run right after HELLO and WELCOME chose it.
 *
 * The pattern is NX (the server has a long-term key, the client none), or
 * NXpsk2 when the server has a token: a client without the token cannot
 * finish the handshake, and neither can a server without it. The prologue
 * binds the plaintext HELLO and WELCOME, so an attacker who alters the
 * negotiation (to strip encryption, say) breaks the handshake. */
#ifndef FT_SECURE_H
#define FT_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "ft/keys.h"
#include "noise.h"

#define FT_PROLOGUE_MAX 1024

struct ft_secure_params {
    enum ft_noise_cipher cipher;
    const uint8_t *psk; /* FT_TOKEN_BYTES, or NULL: no token */
    uint8_t prologue[FT_PROLOGUE_MAX];
    size_t prologue_len;
};

/* Builds the prologue from the HELLO and WELCOME payloads as sent. */
enum ft_err ft_secure_prologue(struct ft_secure_params *p, const uint8_t *hello,
                               size_t hello_len, const uint8_t *welcome,
                               size_t welcome_len);

/* The client's side: on success the connection is sealed and server_key
 * holds the key the server proved it holds. FT_ERR_TOKEN when the token
 * does not match the server's; FT_ERR_TAMPERED when the handshake was
 * altered. */
enum ft_err ft_secure_client(struct ft_conn *c, const struct ft_secure_params *p,
                             uint8_t server_key[FT_KEY_BYTES]);

/* The server's side, with its long-term key; timeout_ms bounds the wait
 * for the client's message. */
enum ft_err ft_secure_server(struct ft_conn *c, const struct ft_secure_params *p,
                             const struct ft_keypair *server, int timeout_ms);

#endif
