/* compress.h - zlib, one self-contained chunk at a time.
 *
 * Each chunk is compressed on its own (zlib format, RFC 1950) so that the
 * receiver can bound every inflate by the chunk's announced raw length; a
 * chunk that does not shrink is sent raw by the caller. */
#ifndef FT_COMPRESS_H
#define FT_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "ft/error.h"

struct ft_deflater {
    z_stream z;
    bool ready;
    int level; /* for the next chunk */
    int applied;
};

struct ft_inflater {
    z_stream z;
    bool ready;
};

enum ft_err ft_deflater_init(struct ft_deflater *d, int level);
/* The zlib level (1 to 9) for the chunks from now on. */
void ft_deflater_set_level(struct ft_deflater *d, int level);
void ft_deflater_free(struct ft_deflater *d);

/* Compresses src into dst. Returns true with *out_len when the result is
 * smaller than n and fits in cap; false when the chunk should travel raw. */
bool ft_deflate_chunk(struct ft_deflater *d, const void *src, size_t n,
                      void *dst, size_t cap, size_t *out_len);

enum ft_err ft_inflater_init(struct ft_inflater *i);
void ft_inflater_free(struct ft_inflater *i);

/* Inflates src into dst, which must come out to exactly raw_len bytes.
 * Anything else (a corrupt stream, fewer bytes, or more: a decompression
 * bomb) is FT_ERR_PROTOCOL; at most raw_len bytes are ever written. */
enum ft_err ft_inflate_chunk(struct ft_inflater *i, const void *src, size_t n,
                             void *dst, size_t raw_len);

#endif
