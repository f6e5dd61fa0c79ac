/* cutter.h - a file's bytes cut into chunks as they pass, on a thread of
 * its own.
 *
 * PUT with FT_XFER_CHUNKS: the server cuts the upload as it arrives
 * (chunker.h, at the level for its size), hashes each chunk (BLAKE2b) and
 * writes the list for the store to record at commit, so that the next
 * sync need not read the file. Cutting and hashing cost about as much CPU
 * as the rest of a loopback upload: here the receiving thread only copies
 * each buffer into a ring and goes on, as with the digest (hasher.h). */
#ifndef FT_CUTTER_H
#define FT_CUTTER_H

#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "store.h"

struct ft_cutter;

/* Starts cutting a file of size bytes whose list st will record. */
enum ft_err ft_cutter_start(struct ft_store *st, uint64_t size,
                            struct ft_cutter **out);

/* Hands over the next n bytes of the file (copied: p is the caller's
 * again on return). Blocks while the ring is full. A failure to write the
 * list is told by ft_cutter_finish: the upload goes on without. */
void ft_cutter_feed(struct ft_cutter *c, const void *p, size_t n);

/* Waits for the bytes handed over, ends the last chunk, and frees the
 * cutter; *w is the list, the caller's (ft_store_upload_set_chunks). */
enum ft_err ft_cutter_finish(struct ft_cutter *c,
                             struct ft_store_chunks_writer **w);

/* Stops and frees a cutter whose list is not wanted; NULL is accepted. */
void ft_cutter_free(struct ft_cutter *c);

#endif
