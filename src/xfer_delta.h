/* xfer_delta.h - the delta exchange over a connection (PROTOCOL.md 9.12):
 * a signature (the receiver's chunk list) in CHUNKS frames, and the new
 * version as DELTA_COPY of chunks the receiver has and DELTA_CHUNK of
 * those it lacks (their bytes in DATA or DATA_Z frames), then END with the
 * whole file's digest. Both ends of both directions: the client and the
 * server call the same code. */
#ifndef FT_XFER_DELTA_H
#define FT_XFER_DELTA_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "delta.h"
#include "delta_cut.h"
#include "hasher.h"
#include "xfer.h"

/* Tells fn (bytes NULL) each of the count entries of a recorded chunk
 * list at off of fd, read in batches: FT_ERR_CHANGED if fewer are there
 * or one is empty. The connection, if any, hears a heartbeat per batch. */
enum ft_err ft_xfer_delta_read_list(struct ft_conn *c, int fd, uint64_t off,
                                    uint64_t count, ft_delta_chunk_fn fn,
                                    void *ctx);

/* A signature going out: entries are gathered into CHUNKS frames. */
struct ft_xfer_chunks_out {
    struct ft_conn *c;
    unsigned level;
    uint32_t n;
    uint8_t buf[FT_CHUNKS_PER_FRAME * FT_CHUNK_ENTRY_BYTES];
};
void ft_xfer_chunks_out_init(struct ft_xfer_chunks_out *o, struct ft_conn *c,
                             unsigned level);
enum ft_err ft_xfer_chunks_out_add(struct ft_xfer_chunks_out *o, uint32_t len,
                                   uint64_t hash);
/* Sends what is gathered and the empty CHUNKS that ends the list. */
enum ft_err ft_xfer_chunks_out_end(struct ft_xfer_chunks_out *o);

/* A signature on its way out: each chunk goes to the peer, into the list
 * kept for the copies to come (initialised here), and to record, if not
 * NULL. ft_xfer_signing_add is an ft_delta_chunk_fn; end with
 * ft_xfer_chunks_out_end(&g->out). */
struct ft_xfer_signing {
    struct ft_xfer_chunks_out out;
    struct ft_delta_list *l;
    ft_delta_chunk_fn record;
    void *record_ctx;
};
void ft_xfer_signing_init(struct ft_xfer_signing *g, struct ft_conn *c,
                          unsigned level, struct ft_delta_list *l,
                          ft_delta_chunk_fn record, void *record_ctx);
enum ft_err ft_xfer_signing_add(void *g, const uint8_t *p, uint32_t len,
                                uint64_t hash);

/* Cuts fd at level and sends it as a signature, keeping the list in *l
 * (initialised here) for the copies to come. */
enum ft_err ft_xfer_delta_send_signature(struct ft_conn *c, int fd,
                                         unsigned level, struct ft_delta_list *l);

/* Reads a signature to its empty CHUNKS into *l (initialised here at the
 * first frame's level). A list over FT_DELTA_MAX_CHUNKS is read to its end
 * all the same, so that the stream stays in step, and answered
 * FT_ERR_TOO_LARGE. An ERROR frame: its code. */
enum ft_err ft_xfer_delta_recv_signature(struct ft_conn *c, struct ft_delta_list *l);

/* The new version a sender sends. */
struct ft_xfer_delta_source {
    int fd;
    uint64_t size;          /* what the receiver was told; the file must keep it */
    const uint8_t *digest;  /* recorded with it (then not hashed), or NULL */
    /* Its recorded chunk list at the signature's level, with digest: only
     * the chunks the receiver lacks are read. list_fd -1: cut as read. */
    int list_fd;
    uint64_t list_off, list_count;
    /* Told each chunk of a version cut as read, for its list (NULL:
     * nobody). */
    ft_delta_chunk_fn record;
    void *record_ctx;
};

/* What a delta moved: the new version's bytes, those the receiver took
 * from its old version, and the digest. */
struct ft_xfer_delta_result {
    uint64_t bytes, matched;
    bool end_seen; /* the receiver read END: the stream is in step */
    uint8_t digest[FT_HASH_BYTES];
};

/* Sends src against the signature sig (indexed here), then END. flags:
 * FT_XFER_COMPRESS lets literal chunks go as DATA_Z. */
enum ft_err ft_xfer_delta_send(struct ft_conn *c, const struct ft_xfer_delta_source *src,
                               struct ft_delta_list *sig, uint32_t flags,
                               const struct ft_xfer_opts *opts,
                               struct ft_xfer_delta_result *res);

/* Receives a delta against old (the signature this side sent, of old_fd),
 * up to END: at most limit bytes, written to sink; each chunk of the new
 * version is told to record (NULL: nobody). The END digest must match that
 * of the bytes written (FT_ERR_INTEGRITY). */
enum ft_err ft_xfer_delta_recv(struct ft_conn *c, const struct ft_delta_list *old,
                               int old_fd, uint32_t flags, uint64_t limit,
                               ft_xfer_sink sink, void *sink_ctx,
                               ft_delta_chunk_fn record, void *record_ctx,
                               const struct ft_xfer_opts *opts,
                               struct ft_xfer_delta_result *res);

#endif
