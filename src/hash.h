/* hash.h - BLAKE2b-256 of a stream, as its bytes pass (libsodium). */
#ifndef FT_HASH_H
#define FT_HASH_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define FT_HASH_BYTES 32
#define FT_HASH_HEX_BYTES (2 * FT_HASH_BYTES + 1)

struct ft_hash {
    crypto_generichash_state state;
};

/* Calls sodium_init once; returns -1 if libsodium cannot start. Every entry
 * point of the library that hashes or draws random bytes calls it first. */
int ft_hash_library_init(void);

void ft_hash_init(struct ft_hash *h);
void ft_hash_update(struct ft_hash *h, const void *p, size_t n);
void ft_hash_final(struct ft_hash *h, uint8_t out[FT_HASH_BYTES]);

/* Lower-case hex, as b2sum -l 256 prints it. */
void ft_hash_hex(const uint8_t digest[FT_HASH_BYTES],
                 char hex[FT_HASH_HEX_BYTES]);

/* Compares two digests in constant time: 1 when equal. */
int ft_hash_equal(const uint8_t a[FT_HASH_BYTES], const uint8_t b[FT_HASH_BYTES]);

#endif
