/* server_int.h - what the server's files share: the server, a session,
 * a request's outcome. */
#ifndef FT_SERVER_INT_H
#define FT_SERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients.h"
#include "conn.h"
#include "ft/keys.h"
#include "ft/net.h"
#include "ft/server.h"
#include "metrics.h"
#include "name.h"
#include "server_batch.h"
#include "server_quota.h"
#include "stripe.h"
#include "xfer.h"

/* How long a reply to a peer we will not serve may take. */
#define BUSY_REPLY_TIMEOUT_MS 200

struct session;

struct ft_server {
    struct ft_server_config cfg;
    uint8_t token[FT_TOKEN_BYTES]; /* cfg.token points here when set */
    struct ft_keypair key;
    struct ft_clients *clients; /* cfg.clients_file's keys, under lock */
    bool key_created;
    bool key_temporary; /* read-only, no key stored: made for this run */
    char fingerprint[FT_FINGERPRINT_MAX];
    struct ft_store *store;
    struct ft_quotas *quotas; /* the usage of the roots clients have */
    struct ft_server_fd_budget fds; /* what pipelined uploads may hold */
    int listen_fd;  /* -1 until ft_server_listen */
    uint16_t port;
    int stop_pipe[2];
    pthread_mutex_t lock;
    pthread_cond_t drained;
    unsigned active;
    struct session *sessions; /* under lock: to cut them off at stop */
    /* Session threads that ended, to join (under lock): a thread is gone
     * only once joined, after its thread-local destructors (OpenSSL's
     * among them: one still running while the process exited crashed it
     * in OpenSSL's freed lock). */
    pthread_t *ended;
    size_t nended, ended_cap;
    /* Striped transfers that connections may join, under lock; detached
     * is signalled when a joined connection leaves one. */
    struct ft_server_striped *striped;
    pthread_cond_t detached;
    /* The hooks' launcher (server_hooks.c): its socket, -1 without hooks. */
    int hook_fd;
    pid_t hook_pid;
    pthread_t hook_reporter;
    bool hook_reporting;
    /* The counters, and the metrics port (server_metrics.c): -1 without. */
    struct ft_metrics metrics;
    int metrics_fd;
    int metrics_wake[2];
    uint16_t metrics_port;
    pthread_t metrics_thread;
    bool metrics_running;
};

/* A striped transfer as joining connections find it (server_stripes.c). */
struct ft_server_striped {
    uint8_t ticket[FT_JOIN_TICKET_BYTES];
    uint8_t secret[FT_JOIN_SECRET_BYTES];
    struct ft_stripes *st;
    bool sending;          /* a get: the server's side sends */
    bool sealed;           /* joiners must be encrypted as the session is */
    unsigned joined, max;  /* connections joined now, and at most */
    int fds[FT_MAX_STREAMS]; /* theirs, to cut them off at the end */
    struct ft_server_striped *next;
};

struct session {
    struct ft_server *srv;
    struct ft_conn conn;
    /* How log lines name it: the address, and once admitted the client's
     * name or key fingerprint before it ("alice@127.0.0.1:5555"). */
    char peer[FT_FINGERPRINT_MAX + FT_CLIENT_NAME_MAX + FT_NET_PEER_MAX];
    uint32_t features;
    const char *protocol;  /* the channel, for the log */
    struct ft_server_batch batch; /* pipelined uploads awaiting commit */
    struct ft_xfer_opts xfer_opts; /* every transfer's: the rate limit */
    /* The client's key, as the handshake proved it, and what that key may
     * do here (ft_server_admit). */
    uint8_t client_key[FT_KEY_BYTES];
    bool has_client_key;
    char client_fingerprint[FT_FINGERPRINT_MAX];
    struct ft_client_rights rights;
    /* Its root's usage, when counted: for a quota, or once asked by df. */
    struct ft_quota *quota;
    /* The connection's bytes the metrics have counted so far. */
    uint64_t counted_in, counted_out;
    bool own_thread; /* started by accept_one: joined once it ends */
    struct session *prev, *next;
};

struct operation; /* what a request is, for its log line (server_session.c) */

/* What a request did, for its log line. */
struct outcome {
    const struct operation *op;
    char name[FT_PATH_MAX * 4 + 8];
    /* The names as the store knows them, while the handler runs, for a
     * refusal to say what stood in their way: the request's (the last one
     * taken), and MOVE's new name. NULL: none. */
    const char *subject, *other;
    uint64_t bytes;
    int64_t started; /* ms, when the request arrived */
    enum ft_err err;
    bool keep_open; /* the stream is still in step: serve the next request */
    bool queued;    /* a pipelined upload: logged when it is committed */
};

/* server_log.c: a log line, text or JSON (cfg.log_json). */
void ft_server_log(struct ft_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same for what went wrong (JSON's "level":"warn"). */
void ft_server_log_warn(struct ft_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A request's line: its fields apart in JSON. */
struct ft_log_request {
    const char *client, *op, *name, *unit; /* name: quoted already */
    uint64_t bytes;
    int64_t ms;
    enum ft_err err;
    bool answered; /* err is an answer, not a failure ("no such file" to stat) */
};
void ft_server_log_request(struct ft_server *srv, const struct ft_log_request *r);

/* server_hooks.c: the launcher, forked by ft_server_open when a hook is
 * set (errbuf says why not); its end, in ft_server_free. */
enum ft_err ft_server_hooks_open(struct ft_server *srv, char *errbuf, size_t errlen);
void ft_server_hooks_start(struct ft_server *srv);
void ft_server_hooks_close(struct ft_server *srv);
/* After an upload of name (as the store knows it) is published and the
 * client answered: runs --on-upload. digest: its BLAKE2b-256, NULL when
 * the upload was not verified. Never waits. */
void ft_server_hook_upload(struct session *s, const char *name, uint64_t size,
                           const uint8_t *digest);
/* The same after a delete of name, of size bytes. */
void ft_server_hook_delete(struct session *s, const char *name, uint64_t size);

/* server_metrics.c: the metrics port, bound by ft_server_listen, served
 * from ft_server_run's start to its end, closed by ft_server_free. */
enum ft_err ft_server_metrics_listen(struct ft_server *srv, char *errbuf,
                                     size_t errlen);
void ft_server_metrics_start(struct ft_server *srv);
void ft_server_metrics_stop(struct ft_server *srv);
void ft_server_metrics_close(struct ft_server *srv);

/* server_hello.c: HELLO, WELCOME and the Noise handshake; FT_OK when the
 * session may serve requests. */
enum ft_err ft_server_hello(struct session *s);

/* server_admit.c: after the handshake, decides whether the client's key
 * may use this server and fills s->rights; anything but FT_OK ends the
 * session (the client has been told why). */
enum ft_err ft_server_admit(struct session *s);

/* server_session.c */
/* Runs a registered session to its end: handshake, requests, log. */
void ft_server_session_main(struct session *s);
/* Tells the client why its request failed, in words it can print; for
 * FT_ERR_DENIED, what stood in the way of o->subject or o->other, where. */
void ft_server_session_refuse(struct session *s, struct outcome *o, enum ft_err err);
/* The code the client is told for err: a local failure is the server's. */
enum ft_err ft_server_session_wire_code(enum ft_err err);
/* Before the session ends on a refusal: stops sending and reads (and
 * drops) what the client still sends, for a moment, so that it reads the
 * refusal rather than a connection reset. */
void ft_server_session_drain(struct session *s);
/* Quotes the request's name into o->name for the log and checks it; on
 * FT_OK out holds it as the store knows it (beneath the client's root),
 * NUL-terminated, and o->subject points to it. */
enum ft_err ft_server_session_name(const struct session *s, struct outcome *o,
                                   struct ft_bytes name, char *out);
/* A name as the store knows it, as the client knows it: without its root. */
const char *ft_server_session_shown(const struct session *s, const char *name);
/* The same, refusing a bad name (the stream stays in step). */
bool ft_server_session_take_name(struct session *s, struct outcome *o,
                                 struct ft_bytes name, char *out);
/* Flags the request may carry, given what the handshake agreed. */
bool ft_server_session_flags_ok(const struct session *s, uint32_t flags);

/* The request handlers: each answers its request and fills the outcome. */
void ft_server_put(struct session *s, const struct ft_msg *req, struct outcome *o);
/* After an upload's commit: DONE with its bytes, the version it replaced
 * removed, and the upload hook told. */
void ft_server_put_answer_done(struct session *s, struct ft_upload *up,
                               uint64_t bytes, struct outcome *o);
/* A refused PUT: reads a pipelined one's data, up to its END. */
bool ft_server_put_skip(struct session *s, const struct ft_msg *req);
void ft_server_ops_get(struct session *s, const struct ft_msg *req, struct outcome *o);
/* A refused GET: reads a resumed one's SUMS. */
bool ft_server_ops_get_skip(struct session *s, const struct ft_msg *req);
/* After a file went out to a GET or DELTA_GET (err how): reads the
 * client's DONE, or says what failed; fills o's err and keep_open. */
void ft_server_ops_finish_get(struct session *s, uint32_t flags,
                              struct outcome *o, enum ft_err err, uint64_t bytes);
void ft_server_ops_list(struct session *s, const struct ft_msg *req, struct outcome *o);
void ft_server_ops_stat(struct session *s, const struct ft_msg *req, struct outcome *o);
void ft_server_ops_move(struct session *s, const struct ft_msg *req, struct outcome *o);
void ft_server_ops_delete(struct session *s, const struct ft_msg *req, struct outcome *o);
void ft_server_ops_mkdir(struct session *s, const struct ft_msg *req, struct outcome *o);
/* USAGE: the client's usage and quota (ft df). */
void ft_server_ops_usage(struct session *s, const struct ft_msg *req, struct outcome *o);

/* server_delta.c: DELTA_PUT and DELTA_GET (ft sync). */
void ft_server_delta_put(struct session *s, const struct ft_msg *req, struct outcome *o);
void ft_server_delta_get(struct session *s, const struct ft_msg *req, struct outcome *o);
/* A refused DELTA_GET: reads the client's CHUNKS that follow it. */
bool ft_server_delta_get_skip(struct session *s, const struct ft_msg *req);
/* TOUCH: takes mtime and mode if the content is the one named. */
void ft_server_ops_touch(struct session *s, const struct ft_msg *req, struct outcome *o);
/* What a client claims a file's content is: its digest, or (TOUCHES) its
 * tag under the request's salt. */
struct ft_touch_claim {
    const uint8_t *digest;
    const uint8_t *salt, *tag;
};
/* The stored file name takes mtime and mode if its content is the one
 * claimed (*same); FT_OK with *same false for other content. */
enum ft_err ft_server_ops_touch_file(struct session *s, const char *name, int64_t mtime,
                                     uint32_t mode, const struct ft_touch_claim *want,
                                     bool *same);
/* TOUCHES (server_touches.c): many TOUCHes, one TOUCHED answer. */
void ft_server_touches(struct session *s, const struct ft_msg *req, struct outcome *o);

/* server_stripes.c: a striped transfer's main connection, and the
 * connections that join it. */
/* Makes st joinable and sends STREAMS (or STREAMS of 0 when striping is
 * off: the caller then moves the data as for any request); *on says which. */
enum ft_err ft_server_stripes_open(struct session *s, struct ft_server_striped *x,
                                   struct ft_stripes *st, bool sending, bool *on);
/* No more joins: cuts the joined connections off once they are done, and
 * returns when none uses st any longer. */
void ft_server_stripes_close(struct session *s, struct ft_server_striped *x);
/* JOIN: the connection becomes one stream of another session's transfer. */
void ft_server_join(struct session *s, const struct ft_msg *req, struct outcome *o);

#endif
