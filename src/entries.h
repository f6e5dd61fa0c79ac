/* entries.h - the packed listing: ENTRIES payloads <-> entries. No I/O here.
 *
 * Each entry: varint prefix (bytes shared with the previous name), varint
 * suffix length, the suffix, varint size, zigzag varint of mtime minus the
 * previous entry's, varint mode (PROTOCOL.md 9.13). The previous name and
 * mtime run through the whole listing, across frames. */
#ifndef FT_ENTRIES_H
#define FT_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "proto.h"

/* Payload bytes of one ENTRIES frame at most (less if the peer takes less):
 * within a sealed frame's limit. */
#define FT_ENTRIES_FRAME_BYTES (63u * 1024u)

/* What one side of a listing remembers between entries. The name last
 * decoded is in prev, NUL-terminated. */
struct ft_entries_state {
    char prev[FT_WIRE_NAME_MAX + 1];
    size_t prev_len;
    int64_t prev_mtime;
};

struct ft_entries_item {
    uint64_t size;
    int64_t mtime;
    uint32_t mode;
};

void ft_entries_start(struct ft_entries_state *st);

/* Appends one entry to buf (*len bytes used of cap). Returns false, with
 * nothing changed, when it does not fit: send the frame and start another. */
bool ft_entries_put(struct ft_entries_state *st, uint8_t *buf, size_t cap,
                    size_t *len, const char *name, size_t name_len,
                    const struct ft_entries_item *item);

/* Decodes the entry at payload[*off], advancing *off; its name is then
 * st->prev (st->prev_len bytes). FT_ERR_PROTOCOL for anything out of
 * bounds: a prefix longer than the previous name, a name over
 * FT_WIRE_NAME_MAX, a varint over 10 bytes, bytes past the payload. */
enum ft_err ft_entries_next(struct ft_entries_state *st,
                            const uint8_t *payload, size_t len, size_t *off,
                            struct ft_entries_item *item);

/* The varints of the coding (LEB128, at most 10 bytes), for the packed
 * messages beside ENTRIES. put writes at most 10 bytes; get is false for
 * one that runs past len or over 10 bytes. */
size_t ft_entries_varint_put(uint8_t *p, uint64_t v);
bool ft_entries_varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *v);

/* The same coding without the size, each entry followed by tail_len bytes
 * of tail: TOUCHES' entries (touches.h). item->size is read as 0. */
bool ft_entries_put_unsized(struct ft_entries_state *st, uint8_t *buf, size_t cap,
                            size_t *len, const char *name, size_t name_len,
                            int64_t mtime, uint32_t mode, const uint8_t *tail,
                            size_t tail_len);
enum ft_err ft_entries_next_unsized(struct ft_entries_state *st, const uint8_t *payload,
                                    size_t len, size_t *off, struct ft_entries_item *item,
                                    uint8_t *tail, size_t tail_len);

#endif
