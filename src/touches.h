/* touches.h - packed TOUCH requests and their answers: TOUCHES and
 * TOUCHED payloads <-> entries. No I/O here.
 *
 * TOUCHES: a 16-byte salt the client draws for the request, then entries
 * coded as ENTRIES' (entries.h) without the size, each followed by its
 * tag: the keyed BLAKE2b-128 of the file's BLAKE2b-256 under the salt
 * (why a tag is enough: PROTOCOL.md 9.14). The previous name and mtime
 * start afresh in each request. TOUCHED: a bitmap, bit k (of byte k / 8,
 * lowest first) set when entry k's content was the same and took the new
 * mtime and mode, then for each entry that failed, in order, its index and
 * its error code (varints); an entry neither set nor failed has other
 * content. */
#ifndef FT_TOUCHES_H
#define FT_TOUCHES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entries.h"
#include "ft/error.h"

#define FT_TOUCHES_SALT_BYTES 16
#define FT_TOUCH_TAG_BYTES 16
/* Entries of one TOUCHES at most: the server refuses a request with more,
 * so that one request's work and answer stay small. */
#define FT_TOUCHES_MAX 256u
/* The longest TOUCHED: the bitmap and every entry failed (an index and a
 * code of at most 3 bytes each). */
#define FT_TOUCHED_MAX_BYTES (FT_TOUCHES_MAX / 8u + FT_TOUCHES_MAX * 6u)

/* The tag of a file's digest under a request's salt. */
void ft_touch_tag(const uint8_t salt[FT_TOUCHES_SALT_BYTES],
                  const uint8_t digest[FT_DIGEST_BYTES],
                  uint8_t tag[FT_TOUCH_TAG_BYTES]);

/* A TOUCHES being written into buf: a fresh salt, no entry yet. */
struct ft_touches_out {
    struct ft_entries_state st;
    uint8_t salt[FT_TOUCHES_SALT_BYTES];
    size_t n; /* entries */
};

void ft_touches_begin(struct ft_touches_out *w, uint8_t *buf, size_t *len);

/* Appends one entry (the digest is tagged here). False, with nothing
 * changed, when it does not fit in cap or the request has FT_TOUCHES_MAX
 * entries already. */
bool ft_touches_put(struct ft_touches_out *w, uint8_t *buf, size_t cap, size_t *len,
                    const char *name, size_t name_len, int64_t mtime, uint32_t mode,
                    const uint8_t digest[FT_DIGEST_BYTES]);

/* One entry as read; its name is then the state's prev. */
struct ft_touch_entry {
    int64_t mtime;
    uint32_t mode;
    uint8_t tag[FT_TOUCH_TAG_BYTES];
};

/* Reads the salt at the start of a TOUCHES: *off past it. */
enum ft_err ft_touches_salt(const uint8_t *payload, size_t len, size_t *off,
                            uint8_t salt[FT_TOUCHES_SALT_BYTES]);

/* Reads the entry at payload[*off]: FT_ERR_PROTOCOL for anything out of
 * bounds (entries.h), or a mode outside 0777. */
enum ft_err ft_touches_next(struct ft_entries_state *st, const uint8_t *payload,
                            size_t len, size_t *off, struct ft_touch_entry *e);

/* How many entries a TOUCHES holds, all of them read: FT_ERR_PROTOCOL for
 * a malformed one or more than FT_TOUCHES_MAX. st is scratch. */
enum ft_err ft_touches_count(struct ft_entries_state *st, const uint8_t *payload,
                             size_t len, size_t *n);

/* The answer for n entries: same[k], or err[k] (FT_OK: other content).
 * buf holds FT_TOUCHED_MAX_BYTES; n is at most FT_TOUCHES_MAX. */
void ft_touched_encode(const bool *same, const enum ft_err *err, size_t n, uint8_t *buf,
                       size_t *len);

/* Reads the answer for n entries into same[] and err[]: FT_ERR_PROTOCOL
 * when it is not one (a short bitmap, bits past n, an index out of order
 * or past n, a code 0 or unknown, an entry both set and failed). */
enum ft_err ft_touched_decode(const uint8_t *payload, size_t len, size_t n, bool *same,
                              enum ft_err *err);

#endif
