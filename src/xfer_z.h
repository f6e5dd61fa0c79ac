/* xfer_z.h - when -z deflates: the sending side's adaptive policy.
 *
 * The stream goes in epochs (FT_XFER_Z_EPOCH_BYTES raw,
 * FT_XFER_Z_TRY_BYTES through deflate), each sent one way or the other,
 * timed: deflate is tried only while the link (or the peer) is slower than
 * we are, with bytes waiting unsent in the socket, and kept only while its
 * epochs move the data at least FT_XFER_Z_GAIN faster than the last raw
 * epoch did (as zstd --adapt). A peer slow for want of CPU gains nothing
 * from it, a slow link does. Otherwise, and at once when a chunk does not
 * shrink, the next 1, 2, 4 ... up to FT_XFER_Z_MAX_RAW_EPOCHS epochs go raw
 * untried. Nor is a try made while the link takes raw data faster than
 * deflate alone last made it: it could not pay, and on a fast link the
 * tries were most of what -z cost.
 *
 * zlib level FT_XFER_Z_LEVEL to start with: it keeps most of the gain on
 * text at the least cost; a link far behind (FT_XFER_Z_LAG_UP chunks
 * waiting unsent) earns a higher one, up to FT_XFER_Z_MAX_LEVEL, one
 * lagging less than FT_XFER_Z_LAG_DOWN a lower one.
 *
 * The data loop asks before each chunk whether to deflate it
 * (ft_xfer_z_next), and says after how it went (ft_xfer_z_sent, or
 * ft_xfer_z_no_gain when it did not shrink). The clock and the socket's
 * unsent bytes are read through a probe, so a test can drive the policy
 * with its own. */
#ifndef FT_XFER_Z_H
#define FT_XFER_Z_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FT_XFER_Z_LEVEL 1
#define FT_XFER_Z_MAX_LEVEL 6
#define FT_XFER_Z_LAG_UP 4
#define FT_XFER_Z_LAG_DOWN 2
#define FT_XFER_Z_EPOCH_BYTES (1024u * 1024u)
#define FT_XFER_Z_TRY_BYTES (256u * 1024u) /* short: a try that fails costs little */
#define FT_XFER_Z_MAX_RAW_EPOCHS 1024u
#define FT_XFER_Z_GAIN 1.1

/* What the policy reads: microseconds on a monotonic clock, and the bytes
 * written to the socket that wait there unsent (false when the socket
 * cannot tell: not TCP, a pipe). */
struct ft_xfer_z_probe {
    int64_t (*now_us)(void *ctx);
    bool (*unsent)(void *ctx, size_t *bytes);
    void *ctx;
};

/* The fields are the policy's own; visible so that it lives on the stack. */
struct ft_xfer_z {
    struct ft_xfer_z_probe probe;
    size_t chunk;       /* bytes per frame: the link's lag counts in them */
    bool deflating;     /* this epoch goes through deflate */
    uint64_t epoch_bytes;
    int64_t epoch_start_us;
    double raw_rate;    /* bytes per second of the last raw epoch; 0: none */
    int64_t deflate_us; /* spent in deflate itself this epoch */
    size_t unsent_at_start; /* bytes waiting in the socket then; SIZE_MAX: unknown */
    double deflate_rate; /* bytes per second deflate itself took last; 0: none */
    unsigned raw_left;  /* epochs still to send raw, untried */
    unsigned backoff;   /* raw_left after the next deflate epoch that did not pay */
    int level;
};

/* Starts the policy for a stream of chunks of at most chunk bytes. It
 * deflates from the start where the link's pace cannot be read, or where
 * it already lags (an earlier file of a put -r, say). */
void ft_xfer_z_init(struct ft_xfer_z *z, size_t chunk,
                    const struct ft_xfer_z_probe *probe);

/* Before each chunk: whether to deflate it. */
bool ft_xfer_z_next(struct ft_xfer_z *z);

/* The zlib level for the chunk about to be deflated. */
int ft_xfer_z_level(const struct ft_xfer_z *z);

/* After each chunk sent: its n raw bytes went out, deflated in deflate_us
 * (0 when sent raw). */
void ft_xfer_z_sent(struct ft_xfer_z *z, size_t n, int64_t deflate_us);

/* A chunk deflated did not shrink, and goes raw: the data (random, already
 * compressed) is likely to go on so. */
void ft_xfer_z_no_gain(struct ft_xfer_z *z);

#endif
