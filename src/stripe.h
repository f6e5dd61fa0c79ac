/* stripe.h - one file moved over several connections at once.
 *
 * The file from start to its end is cut into units of FT_STRIPE_UNIT
 * bytes. Each sending connection claims the next unit and sends it as a
 * STRIPE message (offset, length) and the DATA or DATA_Z frames of that
 * length; the receiving side writes each unit where it belongs. The
 * sender's claims come in file order, so the fast connections take more
 * units and a slow one holds up no one.
 *
 * BLAKE2b-256 is sequential: a thread follows the units in file order
 * (ft_stripes_hash_start), reading back from the file what has arrived
 * (on the sending side, what is there), so the digest of the whole file
 * is ready as soon as the last unit is, and memory stays a frame or two
 * per connection and two bits per unit (64 KiB per 256 GiB of file),
 * however unevenly the connections progress. */
#ifndef FT_STRIPE_H
#define FT_STRIPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "ft/client.h" /* FT_MAX_STREAMS */
#include "hash.h"
#include "xfer.h"

/* Small enough that the last units, shared out at the end, leave no
 * connection idle for long; large enough that a STRIPE message per unit
 * costs nothing. */
#define FT_STRIPE_UNIT (1024u * 1024u)


/* Where a receiving side puts a unit's bytes: at offset off of the file
 * (a regular file: units arrive in any order). */
typedef enum ft_err (*ft_stripe_writer)(void *ctx, const void *buf, size_t n,
                                        uint64_t off);

struct ft_stripes {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int fd;                /* read from (sending), read back (receiving) */
    uint64_t start, size;  /* the units cover [start, size) */
    uint64_t units;
    bool receiving;
    ft_stripe_writer write_at; /* receiving */
    void *write_ctx;
    uint32_t flags;        /* FT_XFER_COMPRESS: the sender may deflate */
    /* Under lock: */
    uint64_t next;         /* sending: the next unit to claim */
    uint64_t *claimed;     /* receiving: a STRIPE for the unit came */
    uint64_t *done;        /* receiving: all its bytes are written */
    uint64_t units_done;
    uint64_t moved;        /* content bytes sent or received, all streams */
    enum ft_err failed;    /* the first failure: every stream stops */
    /* The whole-file hash. */
    bool hashing;
    pthread_t hasher;
    enum ft_err hash_err;
    uint8_t digest[FT_HASH_BYTES];
    /* Content bytes per second for all streams together (0: no limit),
     * counted from started_ms. */
    uint64_t rate_limit;
    int64_t started_ms;
};

/* A sending side (write_at NULL) or a receiving one, over fd. */
enum ft_err ft_stripes_init(struct ft_stripes *st, int fd, uint64_t start,
                            uint64_t size, uint32_t flags,
                            ft_stripe_writer write_at, void *write_ctx);

/* Waits for the hashing thread, if any, and frees what init took. */
void ft_stripes_free(struct ft_stripes *st);

/* Ends the transfer for every stream: the first failure is the one kept. */
void ft_stripes_fail(struct ft_stripes *st, enum ft_err err);

/* The first failure, or FT_OK. */
enum ft_err ft_stripes_failed(struct ft_stripes *st);

/* Content bytes moved so far by every stream. */
uint64_t ft_stripes_moved(struct ft_stripes *st);

/* Sending: claims units and sends them on c until none is left. */
enum ft_err ft_stripes_send(struct ft_conn *c, struct ft_stripes *st);

/* Receiving: the unit that the STRIPE message m (just read from c)
 * announced, its frames read and written. A unit outside the file, not on
 * a unit's boundary, of the wrong length or sent twice: FT_ERR_PROTOCOL. */
enum ft_err ft_stripes_recv_unit(struct ft_conn *c, struct ft_stripes *st,
                                 const struct ft_msg *m);

/* Receiving: waits until every unit is written or a stream failed, calling
 * tick(ctx) every tick_ms meanwhile (a heartbeat, progress). */
enum ft_err ft_stripes_wait(struct ft_stripes *st, int tick_ms,
                            void (*tick)(void *ctx), void *ctx);

/* Starts the thread that hashes the whole file, [0, size), in order. */
enum ft_err ft_stripes_hash_start(struct ft_stripes *st);

/* Waits for it and gives its digest; a failure of the transfer or of the
 * reading stops it. */
enum ft_err ft_stripes_hash_finish(struct ft_stripes *st,
                                   uint8_t digest[FT_HASH_BYTES]);

/* Receiving, on the connection that made the request: the units sent on
 * it until END, then the other streams' (tick every FT_HEARTBEAT_MS
 * meanwhile), then END checked against the whole file: its total, and
 * with FT_XFER_VERIFY in flags its digest (st's hashing thread must run). */
enum ft_err ft_stripes_recv_main(struct ft_conn *c, struct ft_stripes *st,
                                 uint32_t flags, void (*tick)(void *ctx),
                                 void *ctx, struct ft_xfer_result *res);

/* Sending, on that connection once every unit is sent: END with the whole
 * file's digest under FT_XFER_VERIFY, known_digest or else the hashing
 * thread's. */
enum ft_err ft_stripes_send_end(struct ft_conn *c, struct ft_stripes *st,
                                uint32_t flags, const uint8_t *known_digest,
                                struct ft_xfer_result *res);

/* The proof that a connection knows a striped transfer's secret, bound to
 * that connection's own channel (ft_conn.channel): a recorded JOIN is
 * worth nothing on another connection. */
void ft_stripes_join_proof(const uint8_t secret[FT_JOIN_SECRET_BYTES],
                           const struct ft_conn *c,
                           uint8_t proof[FT_DIGEST_BYTES]);

#endif
