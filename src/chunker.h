/* chunker.h - content-defined chunks: FastCDC over a gear hash.
 *
 * A file is cut where a rolling hash of its last bytes meets a mask, so
 * the cuts follow the content, not the offsets: an insertion or a
 * deletion moves only the cuts around it, and both sides of a sync find
 * the same chunks in what they share. The cut rule is part of the wire
 * protocol (PROTOCOL.md 9.12): both sides must cut alike, byte for byte.
 *
 * The chunk size grows with the file (its level), so that a file is at
 * most about FT_CHUNKER_TARGET_COUNT chunks whatever its size, and the
 * memory a list of them takes stays bounded. */
#ifndef FT_CHUNKER_H
#define FT_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/* Average chunk: 2 KiB << level; smallest a quarter of it, largest eight
 * times (a chunk stops there whatever its content). */
#define FT_CHUNKER_LEVEL_MAX 12
#define FT_CHUNKER_TARGET_COUNT (1u << 18)

struct ft_chunker {
    uint32_t min, avg, max;
    uint64_t mask_small; /* before avg: harder to meet */
    uint64_t mask_large; /* after avg: easier (normalized chunking) */
    uint64_t hash;
    uint32_t len; /* bytes of the current chunk scanned so far */
    uint8_t level;
};

/* The level a file of size bytes is cut at on its own. */
unsigned ft_chunker_level_for(uint64_t size);

/* Starts at the beginning of a file; level at most FT_CHUNKER_LEVEL_MAX. */
void ft_chunker_init(struct ft_chunker *k, unsigned level);

/* Scans on through the next n bytes of the file and returns how many of
 * them belong to the current chunk; *cut tells whether it ends there (the
 * next call starts a new one). At end of file the current chunk ends
 * wherever it is, if it has any bytes (k->len). */
size_t ft_chunker_scan(struct ft_chunker *k, const uint8_t *buf, size_t n,
                       bool *cut);

/* A chunk's hash on the wire: the first 8 bytes of its BLAKE2b-256,
 * little-endian. A match is a hint, never trusted alone: the receiver
 * checks the whole file's digest. */
uint64_t ft_chunk_hash_of(const uint8_t digest[FT_HASH_BYTES]);

#endif
