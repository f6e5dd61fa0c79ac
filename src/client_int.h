/* client_int.h - what the client's files share: the connection's state and
 * the request plumbing of client.c.
 *
 * client.c makes the connection and runs one request at a time over it;
 * client_xfer.c moves files, pipelined or not, and alone knows the
 * requests that are due; client_tree.c copies many files through both. */
#ifndef FT_CLIENT_INT_H
#define FT_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "ft/client.h"
#include "xfer.h"
#include "ft/keys.h"

struct ft_client_pipeline; /* client_xfer.c's */
struct ft_local_name;      /* client_local.h's */
struct ft_client_stripes;  /* client_stripes.c's */

/* Room for one failure's line: the server's words quoted (a control byte
 * takes four) and what the client adds around them. */
#define FT_CLIENT_ERROR_MAX (4 * FT_ERROR_TEXT_MAX + 256)

struct ft_client {
    struct ft_conn conn;  /* conn.sealed: the connection is encrypted */
    uint32_t features;    /* negotiated in the handshake */
    bool pinned_now;      /* the server's key was pinned by this connection */
    bool pin_due;         /* ... is to be, once the server proved its token */
    const char *protocol; /* the Noise protocol name, when encrypted */
    char fingerprint[FT_FINGERPRINT_MAX];
    bool broken;          /* a request died mid-stream: the link is unusable */
    char err[FT_CLIENT_ERROR_MAX];
    /* The pipelined requests whose answers are due; NULL until the first. */
    struct ft_client_pipeline *pipeline;
    /* How this connection was made, for the extra connections of a striped
     * transfer; not joinable: made over a descriptor (ft_client_attach). */
    bool joinable;
    struct ft_client_config cfg;
    char host[256];
    uint8_t token[FT_TOKEN_BYTES];
    struct ft_keypair identity; /* the key this client proves */
    /* A striped transfer's extra connections, opened while its request
     * travels (client_stripes.c); NULL when none. */
    struct ft_client_stripes *stripes;
};

/* Sets the text ft_client_error returns. */
void ft_client_set_error(struct ft_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records why a request failed and returns err. A refusal from the server
 * is quoted and leaves the connection usable (callers mark it broken when
 * the refusal cut a stream short); so does a digest mismatch found after a
 * complete download. Anything else leaves it unusable. */
enum ft_err ft_client_fail(struct ft_client *c, enum ft_err err);

/* After the server cut a stream short, its ERROR frame may still be waiting
 * in the socket: reads it, so that the user learns why. Returns the
 * server's code when it came, err otherwise. */
enum ft_err ft_client_last_words(struct ft_client *c, enum ft_err err);

/* Starts a request: refuses when an earlier one broke the link. Names are
 * not checked here: the server is the authority on what it accepts. */
enum ft_err ft_client_begin_pipelined(struct ft_client *c);

/* The same for a request that waits for its answer: none may be due. */
enum ft_err ft_client_begin(struct ft_client *c);

/* Reads the answer to a request already sent: of type want, or an ERROR. */
enum ft_err ft_client_read_answer(struct ft_client *c, enum ft_msg_type want,
                                  struct ft_msg *reply);

/* Sends req and waits for the answer of type want (or an ERROR). */
enum ft_err ft_client_request(struct ft_client *c, const struct ft_msg *req,
                              enum ft_msg_type want, struct ft_msg *reply);

/* client_xfer.c: the FT_XFER_* flags opt asks for (-z, verification). */
uint32_t ft_client_xfer_flags(const struct ft_client *c,
                              const struct ft_transfer_options *opt);

/* Relays the connection's progress to the caller's callback, with the
 * total the caller cannot see from inside a chunk loop. */
struct ft_client_progress {
    const struct ft_transfer_options *opt;
    uint64_t total;
    struct ft_xfer_opts xo;
};
/* The options of the next transfer of total bytes: its progress reports
 * routed to opt's callback, if any, and opt's rate limit. */
const struct ft_xfer_opts *ft_client_watch(const struct ft_transfer_options *opt,
                                          struct ft_client_progress *relay,
                                          uint64_t total);
/* Reads the server's answer to an upload whose stream went out: DONE
 * with bytes, or its refusal. */
enum ft_err ft_client_read_done(struct ft_client *c, uint64_t bytes);
/* Fills *out (if not NULL) with what a transfer moved, from started_ms. */
void ft_client_report(struct ft_transfer *out, const struct ft_xfer_result *res,
                      int64_t started_ms, unsigned streams);

/* client_xfer.c: frees what the pipelined requests held. */
void ft_client_pipeline_free(struct ft_client *c);

/* ft_client_put_send with a tag that waits beside the put until
 * ft_client_put_wait_tagged hands it back with the put's answer: the
 * caller's note of which file it was, so that it keeps no list of its own
 * in step with the client's. The tag is the caller's: it is handed back
 * whatever the answer, and not kept when the send fails. */
enum ft_err ft_client_put_send_tagged(struct ft_client *c, int in_fd,
                                      int64_t size, const char *remote,
                                      const struct ft_transfer_options *opt,
                                      void *tag);
enum ft_err ft_client_put_wait_tagged(struct ft_client *c,
                                      struct ft_transfer *out, void **tag);

/* ft_client_get_file, or with sent ft_client_get_file_wait, into the
 * name to->leaf of the folder to->dir_fd, already open: a tree copy's
 * files go into the folders it opened, never through a path that a link
 * could redirect. Messages name to->path. */
enum ft_err ft_client_get_file_at(struct ft_client *c, const char *remote,
                                  const struct ft_local_name *to,
                                  const struct ft_transfer_options *opt,
                                  struct ft_transfer *out, bool sent);

/* client_delta.c: ft_client_get_delta_file into the name to->leaf of the
 * folder to->dir_fd, already open (a sync's files, as
 * ft_client_get_file_at's): the old version is the file there now. */
enum ft_err ft_client_get_delta_at(struct ft_client *c, const char *remote,
                                   const struct ft_local_name *to,
                                   const struct ft_transfer_options *opt,
                                   struct ft_transfer *out);

/* client_stripes.c: whether to ask for a striped transfer of the file fd
 * (size: FT_SIZE_UNKNOWN for a get, whose size the server tells): asked
 * for with opt->streams, or by default on a long path. Call it just before
 * sending the request: when it says yes, the connections the transfer
 * starts with are opened meanwhile (ft_client_stripes_move uses them). */
bool ft_client_stripes_wanted(struct ft_client *c,
                              const struct ft_transfer_options *opt, int fd,
                              uint64_t size);

/* Closes the connections opened early that no transfer took (the request
 * failed, say), once their handshakes are done, so that the server sees a
 * client that came and went; ft_client_close calls it. */
void ft_client_stripes_drop(struct ft_client *c);

/* After READY (and the resume exchange, if any) of a request made with
 * FT_XFER_STRIPED: reads STREAMS and, when the server stripes the
 * transfer, moves fd's content from offset over the streams (sending:
 * then END; receiving: up to END, checked), *streams the connections that
 * carried it; *streams is 0 when the server does not stripe it, and the
 * data then moves as for any request. */
enum ft_err ft_client_stripes_move(struct ft_client *c, int fd, bool sending,
                                   uint32_t flags, uint64_t size, uint64_t offset,
                                   const struct ft_transfer_options *opt,
                                   struct ft_xfer_result *res, unsigned *streams);

/* Whether folder means the top of the store: nothing, or nothing but "/"
 * and "." ("/", ".", "./"), as a user who types `ft ls /` or `ft ls .`
 * means. On the wire the top is the empty name; those are no names. */
bool ft_client_names_top(const char *folder);

/* client_touches.c: whether the n requests are touches the server takes
 * packed (TOUCHES), and ft_client_names for such a batch. */
bool ft_client_touches_fit(const struct ft_client *c, const struct ft_name_request *reqs,
                           size_t n);
enum ft_err ft_client_touches(struct ft_client *c, const struct ft_name_request *reqs,
                              size_t n, ft_name_fn fn, void *ctx);

#endif
