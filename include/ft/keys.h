/* ft/keys.h - the long-term keys of servers and clients, their
 * fingerprints, the client's pins of known servers (as ssh's known_hosts),
 * and access tokens. */
#ifndef FT_KEYS_H
#define FT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

#define FT_KEY_BYTES 32
#define FT_TOKEN_BYTES 32
/* "b2:" and 43 characters of base64: BLAKE2b-256 of the public key. */
#define FT_FINGERPRINT_MAX 48

struct ft_keypair {
    uint8_t public_key[FT_KEY_BYTES];
    uint8_t private_key[FT_KEY_BYTES];
};

/* Loads the X25519 key pair kept in path, or makes one and writes it there
 * (mode 0600, its folder created 0700) when the file does not exist;
 * *created says which. A key file that other users may read is refused. */
enum ft_err ft_keys_load_or_create(const char *path, struct ft_keypair *kp,
                                   bool *created, char *errbuf, size_t errlen);

/* A new key pair in memory only, written nowhere. */
void ft_keys_generate(struct ft_keypair *kp);

/* The same as ft_keys_load_or_create for the key file name in the open
 * folder dir_fd (shown: how a person finds it, for messages), never
 * following a link: one in the key's place is refused. No folder is made. */
enum ft_err ft_keys_load_or_create_at(int dir_fd, const char *name,
                                      const char *shown, struct ft_keypair *kp,
                                      bool *created, char *errbuf,
                                      size_t errlen);

/* The fingerprint a person compares: "b2:" + base64 of BLAKE2b-256. */
void ft_keys_fingerprint(const uint8_t public_key[FT_KEY_BYTES],
                         char out[FT_FINGERPRINT_MAX]);

/* Writes a new token of 32 random bytes, as hex, to path (mode 0600); an
 * existing file is never overwritten, and no folder is made: a path whose
 * folder does not exist is refused (a typo would otherwise leave a secret
 * somewhere unexpected). */
enum ft_err ft_keys_make_token(const char *path, char *errbuf, size_t errlen);

/* Reads a token file and derives the 32-byte pre-shared key both sides mix
 * into the handshake. Refused: a file other users may read or write, and
 * one holding fewer than 16 bytes of secret. */
enum ft_err ft_keys_load_token(const char *path, uint8_t psk[FT_TOKEN_BYTES],
                               char *errbuf, size_t errlen);

/* The file name in the client's configuration folder: $XDG_CONFIG_HOME/ft
 * or ~/.config/ft; NULL when neither can be found. free() it. */
char *ft_keys_config_file(const char *name);

/* The default known-hosts file: ft_keys_config_file("known_hosts"). */
char *ft_keys_default_known_hosts(void);

/* The client's own key pair, which proves who it is to servers, lives in
 * ft_keys_config_file(FT_KEYS_IDENTITY), made on first use
 * (ft_keys_load_or_create). */
#define FT_KEYS_IDENTITY "id"

enum ft_known {
    FT_KNOWN_MATCH,   /* pinned, and the same key */
    FT_KNOWN_NEW,     /* first use: now pinned */
    FT_KNOWN_CHANGED, /* pinned to another key: *old_fingerprint says which */
};

/* Looks up "host port" in the known-hosts file and, with pin_new, pins
 * fingerprint there on first use. */
enum ft_err ft_keys_check_known_host(const char *file, const char *host,
                                     uint16_t port, const char *fingerprint,
                                     bool pin_new, enum ft_known *result,
                                     char old_fingerprint[FT_FINGERPRINT_MAX],
                                     char *errbuf, size_t errlen);

/* Appends the line "host port fingerprint" to the known-hosts file (made
 * mode 0600, with its folder, if missing). */
enum ft_err ft_keys_pin_known_host(const char *file, const char *host,
                                   uint16_t port, const char *fingerprint,
                                   char *errbuf, size_t errlen);

/* Overwrites a secret (a token, a private key) in memory once it is no
 * longer needed, in a way the compiler does not optimise away. */
void ft_keys_wipe(void *secret, size_t len);

#endif
