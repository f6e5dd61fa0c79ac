/* delta.h - a chunk list as the delta exchange holds it: where each chunk
 * of the receiver's old version lies and its hash, found by hash for the
 * sender's matching and by index for the receiver's copies. No I/O here.
 *
 * Memory is the only thing of a delta that grows with the file: 16 bytes
 * an entry, and for the sender 8 more of index, at most
 * FT_DELTA_MAX_CHUNKS entries (the level rule keeps a file near
 * FT_CHUNKER_TARGET_COUNT). */
#ifndef FT_DELTA_H
#define FT_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

#define FT_DELTA_MAX_CHUNKS (1u << 21)

struct ft_delta_list {
    uint64_t *hash;  /* of chunk i */
    uint64_t *end;   /* offset just past chunk i in the file */
    uint32_t count, cap;
    unsigned level;
    /* The sender's index (ft_delta_list_index): open addressing over
     * the entries, index + 1 in each slot (0: empty). */
    uint32_t *table;
    uint32_t mask;
};

void ft_delta_list_init(struct ft_delta_list *l, unsigned level);
void ft_delta_list_free(struct ft_delta_list *l);

/* The largest chunk of a level: the chunker's max (chunker.h). */
uint32_t ft_delta_max_chunk(unsigned level);

/* Appends a chunk of len bytes: FT_ERR_PROTOCOL for a length of 0 or
 * beyond the level's largest chunk, FT_ERR_TOO_LARGE beyond
 * FT_DELTA_MAX_CHUNKS entries. */
enum ft_err ft_delta_list_add(struct ft_delta_list *l, uint32_t len,
                              uint64_t hash);

/* Appends the entries of one CHUNKS frame (n bytes at p, a multiple of
 * FT_CHUNK_ENTRY_BYTES, else FT_ERR_PROTOCOL). */
enum ft_err ft_delta_list_add_entries(struct ft_delta_list *l, const uint8_t *p,
                                      size_t n);

/* The bytes the chunks of the list cover. */
uint64_t ft_delta_list_bytes(const struct ft_delta_list *l);
uint32_t ft_delta_chunk_len(const struct ft_delta_list *l, uint32_t i);

/* Builds the index the sender looks chunks up in. */
enum ft_err ft_delta_list_index(struct ft_delta_list *l);

/* A chunk of the list with that hash and length; prefer, when it is one
 * (the chunk after the run being copied), is taken before any other so
 * that runs grow. */
bool ft_delta_find(const struct ft_delta_list *l, uint64_t hash, uint32_t len,
                   uint32_t prefer, uint32_t *idx);

/* Where count chunks from first lie in the old file: FT_ERR_PROTOCOL
 * unless all are in the list and count is not 0. */
enum ft_err ft_delta_range(const struct ft_delta_list *l, uint32_t first,
                           uint32_t count, uint64_t *off, uint64_t *len);

/* An entry as CHUNKS (and the store's list) carries it: length u32, hash
 * u64, big-endian. */
void ft_delta_entry_put(uint8_t *p, uint32_t len, uint64_t hash);
void ft_delta_entry_get(const uint8_t *p, uint32_t *len, uint64_t *hash);

#endif
