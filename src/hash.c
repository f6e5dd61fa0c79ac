/* hash.c - BLAKE2b-256 over libsodium's crypto_generichash. */
#include "hash.h"

int ft_hash_library_init(void)
{
    /* sodium_init is thread-safe and returns 1 when already initialised. */
    return sodium_init() < 0 ? -1 : 0;
}

void ft_hash_init(struct ft_hash *h)
{
    crypto_generichash_init(&h->state, NULL, 0, FT_HASH_BYTES);
}

void ft_hash_update(struct ft_hash *h, const void *p, size_t n)
{
    crypto_generichash_update(&h->state, p, n);
}

void ft_hash_final(struct ft_hash *h, uint8_t out[FT_HASH_BYTES])
{
    crypto_generichash_final(&h->state, out, FT_HASH_BYTES);
}

void ft_hash_hex(const uint8_t digest[FT_HASH_BYTES],
                 char hex[FT_HASH_HEX_BYTES])
{
    sodium_bin2hex(hex, FT_HASH_HEX_BYTES, digest, FT_HASH_BYTES);
}

int ft_hash_equal(const uint8_t a[FT_HASH_BYTES], const uint8_t b[FT_HASH_BYTES])
{
    return sodium_memcmp(a, b, FT_HASH_BYTES) == 0;
}
