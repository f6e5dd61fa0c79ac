/* ft/server.h - the server side of ft: serve a directory to many clients.
 *
 * Each connection is served by a thread of its own, so one slow client
 * never holds up the others. Logs go to the log callback, one line per
 * connection and per request. */
#ifndef FT_SERVER_H
#define FT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

#define FT_DEFAULT_ROOT "ft-store"

struct ft_server;

struct ft_server_config {
    /* The store's location: a folder (NULL: FT_DEFAULT_ROOT, created if
     * missing) or s3://BUCKET[/PREFIX], which this build refuses (the S3
     * store is not built yet), and what an S3 store would need: its
     * endpoint (path-style addressing), region (NULL: us-east-1) and keys.
     * A store on S3 has no folder for the server's key: key_file then. */
    const char *root;
    const char *s3_endpoint;
    const char *s3_region;
    const char *s3_access_key;
    const char *s3_secret_key;
    const char *host;         /* NULL: 127.0.0.1 */
    uint16_t port;            /* 0: any free port (see ft_server_port) */
    unsigned max_clients;     /* 0: 64; one more is told "server busy" */
    /* Connections one transfer may use, its own included (each joined one
     * counts toward max_clients too); 0: 8, 1: no striped transfers. */
    unsigned max_streams;
    uint64_t max_file_size;   /* 0: no limit */
    int idle_timeout_ms;      /* 0: 300 s; also bounds each frame */
    int handshake_timeout_ms; /* 0: 10 s */
    uint32_t max_frame_payload; /* 0: FT_FRAME_MAX_PAYLOAD; at least 4096 */
    bool read_only;           /* refuse put and rm */
    /* Every connection is encrypted (Noise NX) with the server's long-term
     * key, made on first start; a token (NXpsk2) decides who may come in. */
    const char *key_file;     /* NULL: ROOT/.ft/server.key */
    const uint8_t *token;     /* 32 bytes from ft_keys_load_token, or NULL */
    bool allow_plaintext;     /* grant clients that ask for plaintext */
    uint64_t max_rate;        /* bytes per second per client; 0: no limit */
    /* Who may connect and with what rights (one line per client key);
     * NULL: anyone, with every right on the whole store. */
    const char *clients_file;
    /* With a clients file: the rights (FT_ALLOW_* of src/clients.h) of a
     * key it does not name, on the whole store; 0: such a key is refused.
     * Without one: everyone's rights; 0: every right. */
    unsigned anonymous_allow;
    int64_t partial_ttl_s;    /* how long an interrupted upload is kept for
                                 put --continue; 0: one day */
    /* Receives each log line (no newline); NULL: standard error. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    /* Log lines as JSON objects, one a line, instead of text. */
    bool log_json;
    /* Programs run after each published upload and each delete, never
     * through a shell: the name as their one argument, FT_EVENT, FT_NAME,
     * FT_SIZE, FT_DIGEST and FT_CLIENT in their environment; a few at a
     * time, from a launcher process forked by ft_server_open. NULL: none. */
    const char *on_upload;
    const char *on_delete;
    /* "ADDR:PORT" ("[::1]:9100" for IPv6) where GET /metrics answers in
     * the Prometheus text format, bound by ft_server_listen; NULL: none. */
    const char *metrics;
};

/* Opens the store (taking its lock) and loads or makes the server's key,
 * without listening: such a server can already serve a connected
 * descriptor (ft_server_serve_fd). It also raises this process's soft
 * limit on open descriptors to the hard one: pipelined uploads hold theirs
 * until their batch is committed. On failure errbuf receives the reason. */
enum ft_err ft_server_open(struct ft_server **out,
                           const struct ft_server_config *cfg, char *errbuf,
                           size_t errlen);

/* Binds the listening socket of an opened server (cfg's host and port);
 * ft_server_run needs it. Calling it again does nothing. On failure
 * errbuf receives the reason, and the server stays opened. */
enum ft_err ft_server_listen(struct ft_server *s, char *errbuf, size_t errlen);

/* ft_server_open, then ft_server_listen; on failure nothing is left. */
enum ft_err ft_server_start(struct ft_server **out,
                            const struct ft_server_config *cfg, char *errbuf,
                            size_t errlen);

/* Gives up, for good, what a listening server no longer needs (Landlock,
 * the kernel's unprivileged sandbox, at the highest ABI it offers): the
 * whole file system but read and write beneath the root (only read for a
 * read_only server) and read beneath the clients file's folder; with ABI 4
 * or later, TCP bind but on the server's port, and TCP connect; with ABI 6,
 * signals and abstract unix sockets beyond this process. It also sets
 * no_new_privs. Call it after ft_server_listen, before ft_server_run, while
 * the process has one thread: it confines the calling thread and what it
 * starts later, the whole process so (FT_ERR_USAGE when other threads run,
 * or before ft_server_listen). *confined tells whether it did: a kernel
 * without Landlock leaves the process as it was, FT_OK. report receives
 * what it got, or why not, in one line. Not for a process that does more
 * than serve: a test embedding a server confines itself with it. */
enum ft_err ft_server_confine(struct ft_server *s, bool *confined,
                              char *report, size_t len);

/* The port the server listens on, useful after asking for port 0; 0
 * before ft_server_listen. */
uint16_t ft_server_port(const struct ft_server *s);
/* The same for cfg.metrics' port; 0 without one or before listening. */
uint16_t ft_server_metrics_port(const struct ft_server *s);

/* The fingerprint of the server's key, and whether this start made it. */
const char *ft_server_fingerprint(const struct ft_server *s);
bool ft_server_key_created(const struct ft_server *s);
/* Whether the key lives only as long as this server: a read-only server
 * writes nothing, and its store held no key yet. */
bool ft_server_key_temporary(const struct ft_server *s);

/* Serves until ft_server_stop; then closes every connection, discards the
 * uploads they had under way, and returns once all of them are gone.
 * FT_ERR_USAGE for a server that is not listening. */
enum ft_err ft_server_run(struct ft_server *s);

/* Serves one connected descriptor in the calling thread until the peer
 * leaves, then closes it: for inetd-style use, tests and fuzzers. The
 * server need only be opened (ft_server_open). peer names it in the log. */
void ft_server_serve_fd(struct ft_server *s, int fd, const char *peer);

/* Asks ft_server_run to return. Async-signal-safe: call it from a SIGINT
 * or SIGTERM handler, or from another thread. */
void ft_server_stop(struct ft_server *s);

/* Rereads cfg.clients_file: connections from now on are admitted by the
 * new file; those admitted already keep the rights they were given. A
 * file that cannot be read or parsed leaves the old one in force, and
 * errbuf says why ("FILE:LINE: what"). Without a clients file it does
 * nothing. Safe while the server runs, from any thread but not from a
 * signal handler (see ft_server_ask_reload). */
enum ft_err ft_server_reload(struct ft_server *s, char *errbuf, size_t errlen);

/* Asks ft_server_run to call ft_server_reload and log what came of it.
 * Async-signal-safe: call it from a SIGHUP handler. */
void ft_server_ask_reload(struct ft_server *s);

/* Frees a server that is not running; NULL is accepted. */
void ft_server_free(struct ft_server *s);

#endif
