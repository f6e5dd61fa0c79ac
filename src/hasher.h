/* hasher.h - BLAKE2b-256 on a thread of its own, beside the I/O.
 *
 * A verified transfer reads, hashes and sends (or receives, hashes and
 * writes) every byte. Hashing on the I/O thread serialises the two; here
 * the I/O thread hands over each buffer and goes on, and only waits before
 * it reuses a buffer the hasher has not finished with. The buffers stay
 * the caller's: the hasher reads them, never copies or frees them. */
#ifndef FT_HASHER_H
#define FT_HASHER_H

#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "hash.h"

/* How many buffers may be handed over and not yet hashed. */
#define FT_HASHER_DEPTH 4

struct ft_hasher;

enum ft_err ft_hasher_start(struct ft_hasher **out);

/* Hands over n bytes at p, to be hashed after everything handed over
 * before. Returns a ticket for ft_hasher_wait. Blocks while
 * FT_HASHER_DEPTH buffers are pending. */
uint64_t ft_hasher_submit(struct ft_hasher *h, const void *p, size_t n);

/* Returns once the buffer of that ticket is hashed, so it may be reused. */
void ft_hasher_wait(struct ft_hasher *h, uint64_t ticket);

/* Waits for everything handed over, writes the digest, and frees the
 * hasher. */
void ft_hasher_finish(struct ft_hasher *h, uint8_t digest[FT_HASH_BYTES]);

/* Stops and frees a hasher whose digest is not wanted; NULL is accepted. */
void ft_hasher_free(struct ft_hasher *h);

#endif
