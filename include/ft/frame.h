/* ft/frame.h - the framing layer: length-prefixed frames on any descriptor.
 *
 * A frame is a 4-byte payload length in network byte order, a 1-byte type,
 * then the payload. The layer knows nothing of what the types mean (that is
 * the protocol's business) and works on sockets, pipes and socketpairs alike.
 * Short reads and writes and EINTR are handled; on a non-blocking descriptor
 * each frame must complete within timeout_ms (negative: no limit). */
#ifndef FT_FRAME_H
#define FT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

#define FT_FRAME_HEADER_BYTES 5
/* The largest payload any ft peer sends or accepts: a data chunk plus room
 * for its small header. */
#define FT_FRAME_MAX_PAYLOAD (256u * 1024u + 64u)

struct ft_frame {
    uint8_t type;
    uint32_t len;        /* payload bytes */
    uint8_t *payload;    /* points into the caller's buffer */
    uint8_t header[FT_FRAME_HEADER_BYTES]; /* raw bytes, kept for diagnosis */
};

/* Sends one frame. len must not exceed FT_FRAME_MAX_PAYLOAD. */
enum ft_err ft_frame_write(int fd, uint8_t type, const void *payload,
                           size_t len, int timeout_ms);

/* The same, for a frame that another follows at once: on a socket it waits
 * for the next (MSG_MORE), so that small frames sent in a row leave in one
 * segment. The last of the row goes through ft_frame_write. */
enum ft_err ft_frame_write_more(int fd, uint8_t type, const void *payload,
                                size_t len, int timeout_ms);

/* Receives one frame into buf, whose capacity cap is the largest payload
 * accepted: the length is checked against it before any payload byte is
 * read. Returns FT_ERR_CLOSED when the stream ends cleanly before a frame,
 * FT_ERR_PROTOCOL when it ends inside one, FT_ERR_FRAME_TOO_BIG when the
 * announced length exceeds cap (out->len then holds it), FT_ERR_TIMEOUT
 * when the frame does not arrive in time. */
enum ft_err ft_frame_read(int fd, void *buf, size_t cap, struct ft_frame *out,
                          int timeout_ms);

/* A reader that takes, in each read, whatever has arrived up to the size of
 * its own buffer: small frames that come together then cost one system
 * call between them, not two each. A payload larger than that buffer is
 * read straight into the caller's. Once a descriptor has a reader, all its
 * frames must come through it. */
struct ft_frame_reader {
    int fd;
    uint8_t *ahead;   /* the caller's buffer, size bytes */
    size_t size;
    size_t pos, len;  /* ahead[pos..len) is read but not taken yet */
};

/* size must be at least FT_FRAME_HEADER_BYTES; 16 KiB is plenty. */
void ft_frame_reader_init(struct ft_frame_reader *r, int fd, uint8_t *ahead,
                          size_t size);

/* As ft_frame_read, from what the reader holds first. After
 * FT_ERR_TIMEOUT between frames it may be called again. */
enum ft_err ft_frame_reader_next(struct ft_frame_reader *r, void *buf,
                                 size_t cap, struct ft_frame *out,
                                 int timeout_ms);

/* Whether bytes of a frame not yet returned are held: a frame is waiting
 * even if the descriptor has nothing more to read. */
bool ft_frame_reader_holds(const struct ft_frame_reader *r);

#endif
