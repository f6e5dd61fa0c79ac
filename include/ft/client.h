/* ft/client.h - the client side of ft: connect, put, get, list, remove.
 *
 * One struct ft_client is one connection; requests on it run one after the
 * other. Every function returns an enum ft_err; after a failure,
 * ft_client_error() says what failed and why in one line, ready to print.
 * Many files and whole folders at once: ft/tree.h. */
#ifndef FT_CLIENT_H
#define FT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

struct ft_keypair;

#define FT_DEFAULT_HOST "127.0.0.1"
#define FT_DEFAULT_PORT 65432
#define FT_DIGEST_HEX_BYTES 65

struct ft_client;

struct ft_client_config {
    const char *host;   /* NULL: FT_DEFAULT_HOST */
    uint16_t port;      /* 0: FT_DEFAULT_PORT */
    /* How long the server may stay silent (it sends heartbeats while busy)
     * before the client gives up; 0: 30 s, <0: no limit. */
    int timeout_ms;
    int connect_timeout_ms; /* 0: timeout_ms */
    /* Every connection is encrypted and the server authenticated, unless
     * plaintext is asked for and the server allows it (trusted networks
     * and benchmarks only). */
    bool plaintext;
    /* The cipher to offer: by default both, and the server picks AES-256-GCM
     * where both have it in hardware. Forcing one is for benchmarks. */
    enum ft_cipher { FT_CIPHER_ANY, FT_CIPHER_CHACHAPOLY, FT_CIPHER_AESGCM } cipher;
    const uint8_t *token;    /* 32 bytes from ft_keys_load_token, or NULL */
    const char *server_key;  /* the fingerprint the server must have, or NULL */
    const char *known_hosts; /* pins keys on first use (ft_client_connect
                                only); NULL: no pinning */
    /* The client's own key pair, which the handshake proves to the server;
     * NULL: a new one for this connection only. */
    const struct ft_keypair *identity;
};

/* The outcome of one put or get. */
struct ft_transfer {
    uint64_t bytes;                     /* file content, uncompressed */
    double seconds;
    bool verified;                      /* BLAKE2b-256 checked end to end */
    char digest_hex[FT_DIGEST_HEX_BYTES]; /* when verified */
    int64_t mtime;  /* get: the server's modification time of the file */
    uint32_t mode;  /* get: its permission bits */
    /* With resume: where the data started (the part before it was already
     * there and checked), and whether a part existed but could not be
     * used (its source changed, or its first chunk differed). */
    uint64_t resumed_from;
    bool restarted;
    unsigned streams; /* connections that carried it (--streams) */
    /* A delta transfer (ft_client_put_delta, ft_client_get_delta_file):
     * the bytes of the new version the receiver took from its old one;
     * the rest (bytes - matched) travelled. */
    bool delta;
    uint64_t matched;
};

/* Options of one put or get. */
struct ft_transfer_options {
    bool compress;  /* zlib, chunk by chunk; chunks that do not shrink go raw */
    bool no_verify; /* skip the BLAKE2b-256 check */
    uint64_t rate_limit; /* bytes of content per second at most; 0: none */
    /* Continue an interrupted transfer: what the other side already holds
     * is compared chunk by chunk (BLAKE2b-256), and the data goes on from
     * the first chunk that differs. The whole file is verified at the end.
     * put: the server keeps interrupted uploads of regular files for a
     * while; get: the part is ft_client_get_file's temporary file. */
    bool resume;
    /* Called after each chunk with the bytes of content moved so far and
     * the total (FT_SIZE_UNKNOWN_TOTAL when the size is not known); NULL:
     * no calls. It runs on the transfer's thread: keep it short. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    /* Connections for one large file: 0 lets ft decide (one on a short
     * path; on a long one more, while each adds throughput), 1 keeps to
     * the request's own, N uses up to N at once (the server may cap it).
     * Only for a client made with ft_client_connect. */
    unsigned streams;
    /* put: ask the server to record the file's chunk list for later syncs
     * (it cuts the file as it arrives), so that a delta against it needs
     * no reading of it. Ignored by a server without ft sync's messages
     * (ft_client_can_delta), and for striped, pipelined or resumed puts. */
    bool chunks;
};
#define FT_SIZE_UNKNOWN_TOTAL UINT64_MAX
/* The most connections one transfer uses, its own included. */
#define FT_MAX_STREAMS 16

/* What a failure concerns, as a program using the client sees it: whether
 * a copy of many files goes on past it (ft/tree.h), and the ft command's
 * exit code. */
enum ft_failure {
    FT_FAILURE_NONE,       /* FT_OK */
    FT_FAILURE_USAGE,      /* a call or an argument the library refuses */
    FT_FAILURE_CONNECT,    /* no connection, or not to the right server */
    FT_FAILURE_REFUSED,    /* the server refused this request alone */
    FT_FAILURE_LOCAL,      /* this side's files or memory */
    FT_FAILURE_INTEGRITY,  /* data arrived altered */
    FT_FAILURE_CONNECTION, /* the connection was lost or went out of step */
};
enum ft_failure ft_client_failure(enum ft_err err);

/* Connects and performs the handshake. On failure *out is NULL and errbuf
 * receives the reason. */
enum ft_err ft_client_connect(struct ft_client **out,
                              const struct ft_client_config *cfg,
                              char *errbuf, size_t errlen);

/* The same over a descriptor already connected to a server (a socket, one
 * end of a socketpair, an ssh tunnel): performs the handshake on it. fd
 * belongs to the client from then on, and is closed on failure. */
enum ft_err ft_client_attach(struct ft_client **out, int fd,
                             const struct ft_client_config *cfg,
                             char *errbuf, size_t errlen);

/* Closes the connection and frees the client; NULL is accepted. */
void ft_client_close(struct ft_client *c);

/* The last failure, as one line ("server refused: invalid name '../x'"). */
const char *ft_client_error(const struct ft_client *c);

/* Whether the connection is encrypted, and with which Noise protocol
 * ("plaintext" when not). */
bool ft_client_encrypted(const struct ft_client *c);
const char *ft_client_protocol(const struct ft_client *c);

/* The server's key fingerprint (NULL over plaintext), and whether this
 * connection pinned it for the first time in the known-hosts file. */
const char *ft_client_server_key(const struct ft_client *c);
bool ft_client_pinned_now(const struct ft_client *c);

/* Pipelined puts, for many small files: ft_client_put_send sends the
 * request and the whole file without waiting for the server, which
 * commits several such uploads together (one flush for all of them) and
 * answers each in order; ft_client_put_wait reads the answer to the oldest
 * one still due. At most FT_PIPELINE_MAX may be due: wait for one before
 * sending more. While answers are due, no other request may be made.
 * Only for files of known size, without resume, and only when
 * ft_client_can_pipeline says the server takes them. */
#define FT_PIPELINE_MAX 512
bool ft_client_can_pipeline(const struct ft_client *c);
size_t ft_client_puts_due(const struct ft_client *c);
enum ft_err ft_client_put_send(struct ft_client *c, int in_fd, int64_t size,
                               const char *remote,
                               const struct ft_transfer_options *opt);
/* out (may be NULL) gets the transfer's figures; its seconds run from the
 * send to the answer. A refusal leaves the connection usable. */
enum ft_err ft_client_put_wait(struct ft_client *c, struct ft_transfer *out);

/* Uploads what in_fd yields until end of file under the name remote. size
 * is the number of bytes that will come, or -1 when unknown (a pipe). When
 * in_fd is a regular file, its modification time and executable bits go
 * along and the server sets them on its copy. */
enum ft_err ft_client_put(struct ft_client *c, int in_fd, int64_t size,
                          const char *remote,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out);

/* Downloads remote and writes it to out_fd as it arrives. On an integrity
 * failure the bytes are already written: use ft_client_get_file to publish
 * only verified content. */
enum ft_err ft_client_get(struct ft_client *c, const char *remote, int out_fd,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out);

/* Downloads remote into a temporary file beside local_path, then renames it
 * to local_path once the whole file has arrived and been verified, with the
 * server's modification time and executable bits. On any failure
 * local_path is untouched, and the temporary file is removed unless the
 * connection was lost (FT_ERR_CLOSED, TIMEOUT, INTERRUPTED, TAMPERED) with
 * a file that ft_client_get_keeps_part says is kept: a later get with the
 * resume option continues it. */
enum ft_err ft_client_get_file(struct ft_client *c, const char *remote,
                               const char *local_path,
                               const struct ft_transfer_options *opt,
                               struct ft_transfer *out);

/* Whether a download of a file of size bytes that is cut off keeps its
 * part for a later resume: a file of one resume chunk (4 MiB) or less is
 * fetched whole again, and nothing of it is kept. */
bool ft_client_get_keeps_part(uint64_t size);

/* Pipelined gets, for many small files: ft_client_get_send asks for remote
 * without waiting; ft_client_get_file_wait reads the answer to the oldest
 * get still due (remote must be the name it asked for) into local_path, as
 * ft_client_get_file does. At most FT_PIPELINE_MAX may be due, and no other
 * request may be made meanwhile. A refusal (no such file, say) leaves the
 * connection usable, and so does a local failure (the answer is then read
 * and dropped). Not with resume; only when ft_client_can_pipeline. */
enum ft_err ft_client_get_send(struct ft_client *c, const char *remote,
                               const struct ft_transfer_options *opt);
size_t ft_client_gets_due(const struct ft_client *c);

/* Requests sent between these wait to leave together, in as few segments
 * as they fill: a batch of pipelined gets costs the server one wake-up,
 * not one per file. The end sends them. */
void ft_client_batch_begin(struct ft_client *c);
void ft_client_batch_end(struct ft_client *c);
enum ft_err ft_client_get_file_wait(struct ft_client *c, const char *remote,
                                    const char *local_path,
                                    const struct ft_transfer_options *opt,
                                    struct ft_transfer *out);
/* Reads the answer to the oldest pipelined get and drops it: for a file
 * that turned out to have nowhere to go. */
enum ft_err ft_client_get_drop(struct ft_client *c,
                               const struct ft_transfer_options *opt);

/* Delta transfers (ft sync): only the parts of a file that differ from
 * the version the other side holds travel. Both sides cut files into
 * content-defined chunks; the receiver sends its old version's chunk
 * list, the sender sends the chunks the receiver lacks and tells where
 * the others are; the receiver builds the new version in a temporary from
 * both, checks the whole file's BLAKE2b-256 and publishes it atomically.
 * An old version that turns out damaged (the digest does not match) is
 * not trusted: the file is then sent whole, in the same call. A server
 * without them: FT_ERR_VERSION, and the connection stays usable. */
bool ft_client_can_delta(const struct ft_client *c);

/* Uploads in_fd, a regular file of size bytes, to remote as a delta
 * against the server's version (none: the whole file travels), with the
 * file's modification time and executable bits. */
enum ft_err ft_client_put_delta(struct ft_client *c, int in_fd, int64_t size,
                                const char *remote,
                                const struct ft_transfer_options *opt,
                                struct ft_transfer *out);

/* Downloads remote to local_path as a delta against the file now at
 * local_path (none: the whole file travels), as ft_client_get_file does:
 * local_path is replaced only by the new version, verified. */
enum ft_err ft_client_get_delta_file(struct ft_client *c, const char *remote,
                                     const char *local_path,
                                     const struct ft_transfer_options *opt,
                                     struct ft_transfer *out);

/* The bytes this connection has sent and received, frames and their
 * encryption included: what crossed the wire, for a summary. */
void ft_client_wire_bytes(const struct ft_client *c, uint64_t *sent,
                          uint64_t *received);

struct ft_entry {
    const char *name; /* relative to the folder listed; may hold folders */
    uint64_t size;
    int64_t mtime;    /* seconds since the epoch */
    uint32_t mode;    /* type and permission bits, as in st_mode */
    bool is_dir;
};

/* Calls fn for each file the server holds; fn returns 0 to go on. */
typedef int (*ft_list_fn)(const struct ft_entry *e, void *ctx);
enum ft_err ft_client_list(struct ft_client *c, ft_list_fn fn, void *ctx);

/* Lists a folder (NULL, "", "/" or ".": the top), and with recursive
 * everything below it, names relative to the folder; a file lists as
 * itself alone, named folder. */
enum ft_err ft_client_list_folder(struct ft_client *c, const char *folder,
                                  bool recursive, ft_list_fn fn, void *ctx);

/* A whole listing, held in memory: the entries in the server's order,
 * their names owned by it. Zeroed, it is empty. */
struct ft_listing {
    struct ft_entry *entries;
    size_t n, cap;
};

/* ft_client_list_folder into l, which the caller frees with
 * ft_listing_free (after a failure too). */
enum ft_err ft_client_list_all(struct ft_client *c, const char *folder,
                               bool recursive, struct ft_listing *l);
void ft_listing_free(struct ft_listing *l);

enum ft_err ft_client_remove(struct ft_client *c, const char *remote);

/* Removes a file, or with recursive a folder and everything in it. */
enum ft_err ft_client_remove_tree(struct ft_client *c, const char *remote,
                                  bool recursive);

/* Renames a file on the server, atomically, replacing any file under the
 * new name. */
enum ft_err ft_client_move(struct ft_client *c, const char *from,
                           const char *to);

/* Makes the folder remote; with parents the missing folders above it too,
 * and an existing folder is no failure (as mkdir -p). *made (may be NULL)
 * tells whether the folder was made or was there. A server too old to
 * make folders: FT_ERR_VERSION, and the connection stays usable. */
enum ft_err ft_client_mkdir(struct ft_client *c, const char *remote, bool parents,
                            bool *made);

struct ft_stat {
    uint64_t size;
    int64_t mtime;
    uint32_t mode;    /* type and permission bits, as in st_mode */
    bool is_dir;
    /* BLAKE2b-256 of the content, as `b2sum -l 256` prints it. */
    char digest_hex[FT_DIGEST_HEX_BYTES];
};

enum ft_err ft_client_stat(struct ft_client *c, const char *remote,
                           struct ft_stat *out);

/* The same, answered at once: digest_hex is all zeros unless the server
 * recorded the file's digest when it was published (a file stored with
 * --no-verify, or changed behind the server's back, has none). For
 * questions such as "is it a folder?" that must not cost a read of a large
 * file. */
enum ft_err ft_client_stat_quick(struct ft_client *c, const char *remote,
                                 struct ft_stat *out);

/* What the client holds on the server, under its root, and may: stored,
 * and pending (uploads under way and interrupted ones kept, which count
 * against the quota too); a quota of FT_CLIENT_NO_QUOTA is none. */
#define FT_CLIENT_NO_QUOTA UINT64_MAX
struct ft_usage {
    uint64_t bytes, pending_bytes, quota_bytes;
    uint64_t files, pending_files, quota_files;
};

/* Asks the server for the client's usage and quota (ft df). A server too
 * old to tell: FT_ERR_VERSION, and the connection stays usable. */
enum ft_err ft_client_usage(struct ft_client *c, struct ft_usage *out);

/* Many requests on names at once: each is sent without waiting for the
 * answers to those before it (up to FT_NAMES_WINDOW due at a time, when the
 * server takes pipelined requests; one at a time otherwise), and the
 * answers are read in order, each handed to the callback as it comes. A
 * refusal of one request leaves the connection usable and the others go
 * on; so does an unsent mkdir (FT_ERR_VERSION, from a server too old to
 * make folders). */
#define FT_NAMES_WINDOW 64
/* A batch of touches only, on a server that takes them packed (feature
 * TOUCH_PACKED: many files a request, two requests in flight): up to this
 * many due at once (ft_client_names_ahead). */
#define FT_TOUCHES_WINDOW 256
enum ft_name_op {
    FT_NAME_STAT,          /* as ft_client_stat */
    FT_NAME_STAT_QUICK,    /* as ft_client_stat_quick */
    FT_NAME_REMOVE,        /* as ft_client_remove_tree, not recursive */
    FT_NAME_REMOVE_TREE,   /* ... recursive */
    FT_NAME_MOVE,          /* name to to, as ft_client_move */
    FT_NAME_MKDIR,         /* as ft_client_mkdir, without parents */
    FT_NAME_MKDIR_PARENTS, /* ... with parents */
    /* If the file's content has digest, it takes mtime and mode (same
     * says whether it had); nothing changes otherwise. Needs
     * ft_client_can_delta (FT_ERR_VERSION otherwise, nothing sent). */
    FT_NAME_TOUCH,
};
struct ft_name_request {
    enum ft_name_op op;
    const char *name;
    const char *to; /* FT_NAME_MOVE's new name; otherwise unused */
    /* FT_NAME_TOUCH's: the content's BLAKE2b-256, and what to set. */
    const uint8_t *digest;
    int64_t mtime;
    uint32_t mode;
};
/* What a request's answer told: st for a stat, made for a mkdir, same for
 * a touch. */
struct ft_name_answer {
    struct ft_stat st;
    bool made;
    bool same;
};
/* Called once for each request, in order, with its outcome: FT_OK and
 * what the answer told, or the failure that ft_client_error tells during
 * the call. Returns 0 to go on; anything else stops the batch: requests
 * not sent yet are not sent, and the answers still due are read and
 * dropped, so that the connection stays usable (a request already sent
 * may have been carried out). */
typedef int (*ft_name_fn)(void *ctx, size_t i, enum ft_err err,
                          const struct ft_name_answer *a);
/* Runs the n requests. Returns FT_OK when each succeeded; otherwise the
 * first failure told, unless a later one lost the connection. A lost
 * connection ends the batch: the requests sent before it learnt so are
 * told as lost (FT_ERR_CLOSED; each may or may not have been carried
 * out), those not sent are not told. */
enum ft_err ft_client_names(struct ft_client *c, const struct ft_name_request *reqs,
                            size_t n, ft_name_fn fn, void *ctx);
/* How many requests of a batch of op (ft_client_names) may be due at once:
 * request k + this many is sent only once request k has been told (so the
 * caller may fill in a touch's digest until then). */
size_t ft_client_names_ahead(const struct ft_client *c, enum ft_name_op op);

#endif
