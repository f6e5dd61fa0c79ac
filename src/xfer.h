/* xfer.h - streaming a file's content over a connection, in either
 * direction: DATA or DATA_Z frames then END, hashed as the bytes pass.
 * The same code sends for the client's put and the server's get, and
 * receives for the server's put and the client's get. */
#ifndef FT_XFER_H
#define FT_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "hash.h"
#include "hasher.h"
#include "io.h"

struct ft_xfer_result {
    uint64_t bytes;
    bool end_seen;                 /* END was read: the stream is in step */
    bool verified;                 /* a digest was sent and matched */
    uint8_t digest[FT_HASH_BYTES]; /* valid when verified, or when sent */
};

/* What a caller asks of one transfer beyond its flags. A NULL pointer to
 * it asks for none of it. */
struct ft_xfer_opts {
    /* Told the content bytes moved so far after each data frame sent or
     * received; NULL when nobody watches. */
    void (*progress)(void *ctx, uint64_t done);
    void *progress_ctx;
    /* Content bytes per second this side moves at most; 0: no limit. */
    uint64_t rate_limit;
};

/* Where received bytes go. Returns FT_OK or the error that ends the
 * transfer. */
typedef enum ft_err (*ft_xfer_sink)(void *ctx, const void *buf, size_t n);

/* Sends everything read from in_fd until end of file. flags are the
 * FT_XFER_* of the request; expect_size, unless FT_SIZE_UNKNOWN, is what the
 * peer was told, and a file that grew or shrank meanwhile is an error.
 * Unless the request is pipelined (FT_XFER_PIPELINE), a frame from the
 * peer meanwhile is its refusal, and ends the transfer. */
enum ft_err ft_xfer_send(struct ft_conn *c, int in_fd, uint32_t flags,
                         uint64_t expect_size, const struct ft_xfer_opts *opts,
                         struct ft_xfer_result *res);

/* The same from offset: in_fd is positioned there, and its first offset
 * bytes, already with the peer, go into the digest. With known_digest
 * (the store recorded it when the file was published) nothing is hashed:
 * the receiver's check then covers the data from upload to its disk, and
 * on a plaintext connection without compression the file goes out with
 * sendfile, never through our memory. */
enum ft_err ft_xfer_send_from(struct ft_conn *c, int in_fd, uint32_t flags,
                              uint64_t expect_size, uint64_t offset,
                              const uint8_t *known_digest,
                              const struct ft_xfer_opts *opts,
                              struct ft_xfer_result *res);
/* The same read through src from offset on (a stored file without a
 * descriptor): never sendfile, every byte through our memory. */
enum ft_err ft_xfer_send_reader(struct ft_conn *c, const struct ft_reader *src,
                                uint32_t flags, uint64_t expect_size, uint64_t offset,
                                const uint8_t *known_digest,
                                const struct ft_xfer_opts *opts,
                                struct ft_xfer_result *res);

/* Receives until END, passing bytes to sink. At most limit bytes are
 * accepted (FT_ERR_TOO_LARGE beyond). When FT_XFER_VERIFY is in flags the
 * END digest must match (FT_ERR_INTEGRITY otherwise). On an ERROR frame
 * from the peer, returns its code (c->peer_text says why). */
enum ft_err ft_xfer_recv(struct ft_conn *c, uint32_t flags,
                         uint64_t expect_size, uint64_t limit,
                         ft_xfer_sink sink, void *ctx,
                         const struct ft_xfer_opts *opts,
                         struct ft_xfer_result *res);

/* The same for a transfer resumed at offset: the first offset bytes,
 * already received, are read back through prefix for the digest. */
enum ft_err ft_xfer_recv_from(struct ft_conn *c, uint32_t flags,
                              uint64_t expect_size, uint64_t limit,
                              uint64_t offset, const struct ft_reader *prefix,
                              ft_xfer_sink sink, void *ctx,
                              const struct ft_xfer_opts *opts,
                              struct ft_xfer_result *res);

/* The pieces of a stream that the delta exchange (xfer_delta.c) shares. */

/* The buffers a transfer cycles through, and the hasher reading them. A
 * slot handed to the hasher (ft_xfer_ring_hash) is not written again
 * before ft_xfer_ring_take gives it back. */
struct ft_xfer_ring {
    uint8_t *buf[FT_HASHER_DEPTH];
    uint64_t ticket[FT_HASHER_DEPTH];
    bool pending[FT_HASHER_DEPTH];
    size_t count;       /* FT_HASHER_DEPTH with a hasher, else min_count */
    size_t size;
    bool verify;
    struct ft_hasher *hasher; /* NULL: hashed inline, into inline_hash */
    struct ft_hash inline_hash;
};

/* count slots of size bytes (min_count without a hasher thread: not
 * verifying, or small, a stream that fits one slot); free it with
 * ft_xfer_ring_free even on failure. */
enum ft_err ft_xfer_ring_init(struct ft_xfer_ring *r, size_t size, bool verify,
                              size_t min_count, bool small);
uint8_t *ft_xfer_ring_take(struct ft_xfer_ring *r, size_t k);
void ft_xfer_ring_hash(struct ft_xfer_ring *r, size_t k, const void *p, size_t n);
void ft_xfer_ring_digest(struct ft_xfer_ring *r, uint8_t digest[FT_HASH_BYTES]);
void ft_xfer_ring_free(struct ft_xfer_ring *r);

/* Data frames sent one run of bytes at a time, each as DATA or DATA_Z as
 * -z (compress) decides, paced, watched, and ended early by the peer's
 * refusal. */
struct ft_xfer_out;
enum ft_err ft_xfer_out_new(struct ft_conn *c, bool compress,
                            const struct ft_xfer_opts *opts,
                            struct ft_xfer_out **out);
/* Sends n bytes at p; *done, the stream's position for progress and the
 * rate limit, grows by n. */
enum ft_err ft_xfer_out_data(struct ft_xfer_out *o, const uint8_t *p, size_t n,
                             uint64_t *done);
void ft_xfer_out_free(struct ft_xfer_out *o);

#endif
