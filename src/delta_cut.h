/* delta_cut.h - a file cut into chunks (chunker.h) and each chunk hashed
 * as it goes on the wire, in one pass over the file. The chunks of one
 * buffer are hashed on a thread of their own while the next buffer is
 * read and cut; a file of one buffer or less is hashed inline. */
#ifndef FT_DELTA_CUT_H
#define FT_DELTA_CUT_H

#include <stdint.h>

#include "conn.h"
#include "ft/error.h"
#include "hasher.h"

/* Told each chunk, in file order: its bytes (NULL when they were not
 * read), length and hash on the wire. */
typedef enum ft_err (*ft_delta_chunk_fn)(void *ctx, const uint8_t *p,
                                         uint32_t len, uint64_t hash);

/* Cuts fd whole (from offset 0, as pread) at level, telling fn each chunk;
 * with whole, every byte is handed to that hasher too. *total: the bytes
 * read. The connection, if any, hears a heartbeat per buffer. */
enum ft_err ft_delta_cut(struct ft_conn *c, int fd, unsigned level,
                         struct ft_hasher *whole, ft_delta_chunk_fn fn,
                         void *ctx, uint64_t *total);

#endif
