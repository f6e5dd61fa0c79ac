/* noise.h - the Noise Protocol Framework (revision 34), just the handshakes
 * ft uses, over libsodium:
 *
 *   Noise_XX_25519_ChaChaPoly_BLAKE2b     Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b
 *   Noise_XX_25519_AESGCM_BLAKE2b         Noise_XXpsk3_25519_AESGCM_BLAKE2b
 *
 *   XX:      -> e
 *            <- e, ee, s, es
 *            -> s, se
 *   XXpsk3:  the same, with psk at the end of the third message
 *
 * Each side has a static key and sends it encrypted: the responder (the
 * server) in the second message, which the initiator (the client) reads and
 * decides whether to trust (ft_noise_remote_static) before it writes the
 * third, which carries its own. So an onlooker sees neither key, and a
 * server the client does not trust never learns who it is. With a
 * pre-shared key both sides must hold the same 32 bytes, or the
 * responder's reading of the third message fails.
 *
 * Everything lives in plain structs: no allocation. They hold secrets, so
 * callers end with ft_noise_handshake_wipe / ft_noise_cipherstate_wipe. A
 * handshake that failed has already wiped itself and refuses further use. */
#ifndef FT_NOISE_H
#define FT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

#define FT_NOISE_DH_BYTES 32     /* X25519 keys, private and public */
#define FT_NOISE_KEY_BYTES 32    /* AEAD keys; also the pre-shared key */
#define FT_NOISE_PSK_BYTES 32
#define FT_NOISE_HASH_BYTES 64   /* BLAKE2b-512: HASHLEN */
#define FT_NOISE_TAG_BYTES 16    /* AEAD tag added to every encryption */
#define FT_NOISE_MAX_MESSAGE_BYTES 65535

/* Largest payload of a transport message: the tag counts against the
 * 65535-byte limit of a Noise message. */
#define FT_NOISE_MAX_PAYLOAD_BYTES                                             \
    (FT_NOISE_MAX_MESSAGE_BYTES - FT_NOISE_TAG_BYTES)

enum ft_noise_cipher {
    FT_NOISE_CHACHAPOLY, /* ChaCha20-Poly1305 (IETF), little-endian nonce */
    FT_NOISE_AESGCM      /* AES-256-GCM, big-endian nonce; needs AES-NI */
};

/* A Noise CipherState: one direction of a transport. */
struct ft_noise_cipherstate {
    uint8_t k[FT_NOISE_KEY_BYTES];
    uint64_t n; /* the next nonce; 2^64-1 is reserved and never used */
    enum ft_noise_cipher cipher;
    bool has_key;
};

/* A Noise HandshakeState with its SymmetricState. The fields are internal;
 * they are visible only so that the struct can live on the stack. */
struct ft_noise_handshake {
    struct ft_noise_cipherstate cs; /* the SymmetricState's CipherState */
    uint8_t ck[FT_NOISE_HASH_BYTES];
    uint8_t h[FT_NOISE_HASH_BYTES];
    uint8_t s_priv[FT_NOISE_DH_BYTES]; /* responder only */
    uint8_t s_pub[FT_NOISE_DH_BYTES];
    uint8_t e_priv[FT_NOISE_DH_BYTES];
    uint8_t e_pub[FT_NOISE_DH_BYTES];
    uint8_t re[FT_NOISE_DH_BYTES];
    uint8_t rs[FT_NOISE_DH_BYTES]; /* initiator only, once received */
    uint8_t psk[FT_NOISE_PSK_BYTES];
    enum ft_noise_cipher cipher;
    bool initiator;
    bool has_psk;
    bool has_rs;
    int step; /* internal: 0 before ft_noise_init and after a wipe */
};

/* Whether this machine can run the cipher (AES-GCM needs AES-NI and
 * PCLMUL; ChaChaPoly always runs). Initialises libsodium if needed. */
bool ft_noise_cipher_available(enum ft_noise_cipher cipher);

/* The full Noise protocol name, such as "Noise_XXpsk3_25519_AESGCM_BLAKE2b";
 * NULL for a cipher value outside the enum. */
const char *ft_noise_protocol_name(bool psk, enum ft_noise_cipher cipher);

/* Starts a handshake with this side's 32-byte X25519 private key. psk (32
 * bytes) selects XXpsk3, NULL selects XX. Both sides must use the same prologue (bytes the
 * application already agreed on, bound into the handshake hash).
 * fixed_ephemeral_private is for test vectors only: NULL draws a fresh
 * ephemeral key from libsodium's generator, as every real handshake must.
 * FT_ERR_USAGE for a bad argument or an AES-GCM request on a machine
 * without it (see ft_noise_cipher_available); FT_ERR_NOMEM if libsodium
 * cannot start. *hs is wiped on failure. */
enum ft_err ft_noise_init(struct ft_noise_handshake *hs, bool initiator,
                          enum ft_noise_cipher cipher, const uint8_t *prologue,
                          size_t prologue_len,
                          const uint8_t *local_static_private,
                          const uint8_t *psk,
                          const uint8_t *fixed_ephemeral_private);

/* Writes the next handshake message, carrying payload, into out (cap bytes)
 * and sets *out_len. The message is 32 + len bytes for the first (plus 16
 * with a psk), 96 + len bytes for the second, 64 + len for the third.
 * payload and out must not overlap.
 * FT_ERR_USAGE for bad arguments, a too small out or a message that would
 * exceed 65535 bytes: the handshake is unchanged and the call may be
 * repeated. FT_ERR_PROTOCOL when it is not this side's turn to write, or
 * when the peer's ephemeral key was unusable (a low-order point); the
 * latter fails the handshake. */
enum ft_err ft_noise_write_message(struct ft_noise_handshake *hs,
                                   const uint8_t *payload, size_t len,
                                   uint8_t *out, size_t cap, size_t *out_len);

/* Reads the peer's next handshake message and writes its payload into
 * payload (cap bytes), setting *payload_len. msg and payload must not
 * overlap.
 * FT_ERR_PROTOCOL for a message shorter than the pattern requires, longer
 * than 65535 bytes, out of turn, or carrying an unusable public key;
 * FT_ERR_INTEGRITY when authentication fails (a tampered message, a wrong
 * pre-shared key); FT_ERR_USAGE for bad arguments or a too small payload
 * buffer. A short message or a usage error leaves the handshake unchanged;
 * any other failure fails it for good. */
enum ft_err ft_noise_read_message(struct ft_noise_handshake *hs,
                                  const uint8_t *msg, size_t len,
                                  uint8_t *payload, size_t cap,
                                  size_t *payload_len);

/* True once all three handshake messages went through. */
bool ft_noise_handshake_done(const struct ft_noise_handshake *hs);

/* Hands out the transport CipherStates once the handshake is done: the
 * initiator sends with the first CipherState of Split() and receives with
 * the second, the responder the other way round. The handshake's own keys
 * are wiped; its hash and the remote static key stay readable until
 * ft_noise_handshake_wipe. FT_ERR_PROTOCOL before the handshake is done or
 * on a second call. */
enum ft_err ft_noise_split(struct ft_noise_handshake *hs,
                           struct ft_noise_cipherstate *send,
                           struct ft_noise_cipherstate *recv);

/* The peer's static public key (32 bytes) once this side has read the
 * message that carries it (the second for the initiator, the third for the
 * responder), with every tag checked; NULL before. */
const uint8_t *ft_noise_remote_static(const struct ft_noise_handshake *hs);

/* The handshake hash h: once the handshake is done, a value both sides share
 * that names this session (channel binding). */
void ft_noise_handshake_hash(const struct ft_noise_handshake *hs,
                             uint8_t out[FT_NOISE_HASH_BYTES]);

/* Encrypts len bytes (at most FT_NOISE_MAX_PAYLOAD_BYTES) into out, which
 * receives len + 16 bytes; out may equal plain. FT_ERR_USAGE for bad
 * arguments, FT_ERR_PROTOCOL for a CipherState without a key or whose
 * nonces are used up. */
enum ft_err ft_noise_encrypt(struct ft_noise_cipherstate *cs,
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *plain, size_t len, uint8_t *out);

/* Decrypts a transport message of len bytes (16 to 65535) into out, which
 * receives len - 16 bytes; out may equal cipher (in place). FT_ERR_INTEGRITY
 * when authentication fails, which includes a message replayed or out of
 * order: the nonce then does not advance, and out holds zeros, not the
 * ciphertext. FT_ERR_PROTOCOL for a length outside 16..65535, a
 * CipherState without a key or whose nonces are used up. */
enum ft_err ft_noise_decrypt(struct ft_noise_cipherstate *cs,
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *cipher, size_t len, uint8_t *out);

/* Zero every secret (sodium_memzero); the state is then unusable until
 * initialised again. Safe on a state already wiped or never initialised. */
void ft_noise_handshake_wipe(struct ft_noise_handshake *hs);
void ft_noise_cipherstate_wipe(struct ft_noise_cipherstate *cs);

#endif
