/* secure.h - the Noise handshake that turns a connection into an encrypted,
 * mutually authenticated channel, run right after HELLO and WELCOME chose it.
 *
 * The pattern is XX (each side proves a long-term key), or XXpsk3 when the
 * server has a token: a client without the token cannot finish the
 * handshake. The client's side comes in two steps so that it can check the
 * server's key (pin, --server-key) before it sends its own: a server it does
 * not trust never learns who it is. The prologue binds the plaintext HELLO
 * and WELCOME, so an attacker who alters the negotiation (to strip
 * encryption, say) breaks the handshake. */
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

/* The client's messages 1 and 2: on success server_key holds the key the
 * server proved it holds, and hs waits for ft_secure_client_finish (or
 * ft_noise_handshake_wipe, to give up). FT_ERR_TAMPERED when the handshake
 * was altered; on failure hs is wiped. */
enum ft_err ft_secure_client_begin(struct ft_conn *c,
                                   struct ft_noise_handshake *hs,
                                   const struct ft_secure_params *p,
                                   const struct ft_keypair *me,
                                   uint8_t server_key[FT_KEY_BYTES]);

/* The client's message 3, which proves its key (and the token); then the
 * connection is sealed. A wrong token shows only at the server, which says
 * so in a plaintext ERROR (ft_conn_recv reports it, see conn.h). */
enum ft_err ft_secure_client_finish(struct ft_conn *c,
                                    struct ft_noise_handshake *hs);

/* The server's side, with its long-term key; timeout_ms bounds each wait
 * for the client's messages. On success client_key holds the key the client
 * proved it holds. FT_ERR_TOKEN when message 3 does not verify with the
 * server's token; FT_ERR_TAMPERED when the handshake was altered. */
enum ft_err ft_secure_server(struct ft_conn *c, const struct ft_secure_params *p,
                             const struct ft_keypair *server, int timeout_ms,
                             uint8_t client_key[FT_KEY_BYTES]);

#endif
