/* server.c - accept loop, one thread per connection, request handlers. */
#define _GNU_SOURCE
#include "ft/server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "ft/net.h"
#include "hash.h"
#include "io.h"
#include "ft/keys.h"
#include "name.h"
#include "noise.h"
#include "secure.h"
#include "slots.h"
#include "resume.h"
#include "store.h"
#include "xfer.h"

#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_IDLE_TIMEOUT_MS (300 * 1000)
#define DEFAULT_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define DEFAULT_PARTIAL_TTL_S (24 * 3600)
/* Before the handshake a peer is unknown: its frames may be small. */
#define HANDSHAKE_MAX_PAYLOAD 256
/* After refusing an upload mid-stream, how long and how much to keep
 * reading so that the client sees the refusal rather than a reset. */
#define DRAIN_MS 2000
#define DRAIN_MAX_BYTES (64u * 1024u * 1024u)
#define BUSY_REPLY_TIMEOUT_MS 200
#define BUSY_GRACE_MS 100
#define ACCEPT_BACKOFF_MS 100
/* How often a busy server tells its client it is still there. */
#define HEARTBEAT_MS 1000
/* Pipelined uploads committed together at most, and how long a quiet
 * client may leave some waiting before they are committed anyway. */
#define QUEUE_MAX 256
#define QUEUE_IDLE_MS 5
/* A pipelined upload of at most HELD_MAX bytes is held in its queue's
 * HELD_BYTES until its batch is committed, and its file made then: by the
 * session while it waits for the batch before, else by the commit's
 * thread. Making a file costs more than receiving it; so both share it. */
#define HELD_MAX (64u * 1024u)
#define HELD_BYTES (1024u * 1024u)
/* A session whose client sends nothing for this long gives its transfer
 * buffers back (slots.c), and its queues' held bytes: they are kept
 * between requests only while the requests keep coming. */
#define IDLE_RELEASE_MS 100

struct session;

struct ft_server {
    struct ft_server_config cfg;
    uint8_t token[FT_TOKEN_BYTES]; /* cfg.token points here when set */
    struct ft_keypair key;
    bool key_created;
    char fingerprint[FT_FINGERPRINT_MAX];
    struct ft_store *store;
    int listen_fd;
    uint16_t port;
    int stop_pipe[2];
    pthread_mutex_t lock;
    pthread_cond_t drained;
    unsigned active;
    struct session *sessions; /* under lock: to cut them off at stop */
};

/* Pipelined uploads received whole and checked, waiting to be committed
 * together; their answers go out in order once they are. */
struct put_queue {
    struct ft_upload ups[QUEUE_MAX];
    uint64_t bytes[QUEUE_MAX];
    int64_t started[QUEUE_MAX];
    enum ft_err errs[QUEUE_MAX]; /* each upload's commit */
    size_t count;
    uint8_t *held;    /* HELD_BYTES, made at the first held upload */
    size_t held_used;
};

/* A commit of uploads (flush, rename) on a thread of its own: a batch of
 * pipelined uploads is committed while the session receives the next (the
 * second core then works too), and any commit lets the session tell the
 * client every HEARTBEAT_MS that we are alive, since flushing a large file
 * can outlast the client's timeout. */
struct commit_job {
    struct ft_store *store;
    struct ft_upload *ups;
    size_t count;
    enum ft_err *errs;
    bool done;
    bool threaded; /* false: committed already, on the session's thread */
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t finished;
};

struct session {
    struct ft_server *srv;
    struct ft_conn conn;
    char peer[FT_NET_PEER_MAX];
    uint32_t features;
    const char *protocol;  /* the channel, for the log */
    /* Pipelined uploads: the queue being filled (made at the first) and
     * the one being committed meanwhile, on a thread of its own. */
    struct put_queue *queue;
    struct put_queue *spare;  /* the other one: being committed, or empty */
    struct commit_job commit; /* spare's commit, while committing */
    bool committing;
    struct session *prev, *next;
};

/* What a request did, for its log line. */
struct outcome {
    const char *op;
    char name[FT_PATH_MAX * 4 + 8];
    uint64_t bytes;
    enum ft_err err;
    bool keep_open; /* the stream is still in step: serve the next request */
    bool queued;    /* a pipelined upload: logged when it is committed */
};

static void flush_queue(struct session *s);

static void log_line(struct ft_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_line(struct ft_server *srv, const char *fmt, ...)
{
    char line[1024];
    char stamp[32];
    struct tm tm;
    time_t now = time(NULL);
    size_t n;
    va_list ap;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = (size_t)snprintf(line, sizeof(line), "%s ", stamp);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (srv->cfg.log != NULL)
        srv->cfg.log(srv->cfg.log_ctx, line);
    else
        fprintf(stderr, "%s\n", line);
}

/* The wire code for a local failure: the client need not know our errno. */
static enum ft_err wire_code(enum ft_err err)
{
    switch (err) {
    case FT_ERR_IO:
    case FT_ERR_NOMEM:
        return FT_ERR_SERVER;
    case FT_ERR_FRAME_TOO_BIG:
    case FT_ERR_NOT_FT:
        return FT_ERR_PROTOCOL; /* all the same to the client: a broken peer */
    default:
        return err;
    }
}

/* Tells the client why its request failed, in words it can print. */
static void send_refusal(struct session *s, struct outcome *o, enum ft_err err)
{
    enum ft_err code = wire_code(err);

    o->err = err;
    switch (code) {
    case FT_ERR_BAD_NAME:
        ft_conn_send_error(&s->conn, code, "invalid name '%s'", o->name);
        break;
    case FT_ERR_NOT_FOUND:
        ft_conn_send_error(&s->conn, code, "no such file '%s'", o->name);
        break;
    case FT_ERR_DENIED:
        ft_conn_send_error(&s->conn, code,
                           "'%s': a folder, a link or a file stands in the way "
                           "(ft moves regular files, and folders with -r)",
                           o->name);
        break;
    case FT_ERR_TOO_LARGE:
        ft_conn_send_error(&s->conn, code,
                           "file too large: this server accepts at most %" PRIu64
                           " bytes", s->srv->cfg.max_file_size);
        break;
    case FT_ERR_INTEGRITY:
        ft_conn_send_error(&s->conn, code,
                           "integrity check failed: the BLAKE2b-256 digest of "
                           "'%s' does not match; the upload was discarded",
                           o->name);
        break;
    case FT_ERR_SERVER:
        ft_conn_send_error(&s->conn, code, "server-side failure on '%s': %s",
                           o->name, strerror(errno));
        break;
    default:
        ft_conn_send_error(&s->conn, code, "%s", ft_strerror(err));
        break;
    }
}

/* The same, in its place: after the answers to the uploads before it. */
static void refuse(struct session *s, struct outcome *o, enum ft_err err)
{
    flush_queue(s);
    send_refusal(s, o, err);
}

static bool is_folder(struct session *s, const char *name)
{
    struct ft_store_entry e;

    return ft_store_stat(s->srv->store, name, &e) == FT_OK &&
           (e.mode & FT_MODE_TYPE) == FT_MODE_DIR;
}

/* Reads the request's name, refusing it when the rules say no. */
static bool take_name(struct session *s, struct outcome *o, struct ft_bytes name,
                      char *out)
{
    ft_name_quote(name.ptr, name.len, o->name, sizeof(o->name));
    if (ft_name_check(name.ptr, name.len) != FT_OK) {
        refuse(s, o, FT_ERR_BAD_NAME);
        o->keep_open = true;
        return false;
    }
    memcpy(out, name.ptr, name.len);
    out[name.len] = '\0';
    return true;
}

/* Flags the request may carry, given what the handshake agreed. */
static bool flags_ok(const struct session *s, uint32_t flags)
{
    if (flags & ~FT_XFER_KNOWN_FLAGS)
        return false;
    if ((flags & FT_XFER_PIPELINE) &&
        ((flags & FT_XFER_RESUME) || !(s->features & FT_FEATURE_PIPELINE)))
        return false;
    return !(flags & FT_XFER_COMPRESS) || (s->features & FT_FEATURE_ZLIB);
}

/* A refused pipelined PUT's data is already on its way: read and drop it,
 * up to its END, so that the next request is read in step. */
static bool skip_upload(struct session *s)
{
    for (;;) {
        struct ft_msg m;

        if (ft_conn_recv(&s->conn, &m, s->conn.timeout_ms) != FT_OK)
            return false;
        if (m.type == FT_MSG_END)
            return true;
        if (m.type != FT_MSG_DATA && m.type != FT_MSG_DATA_Z)
            return false;
    }
}

/* Keeps reading (and discarding) for a moment after a refusal mid-upload,
 * so the client reads our ERROR instead of a connection reset. */
static void drain(struct session *s)
{
    int64_t deadline = ft_io_deadline(DRAIN_MS);
    size_t total = 0;

    shutdown(s->conn.fd, SHUT_WR);
    while (total < DRAIN_MAX_BYTES) {
        size_t got = 0;

        if (ft_io_read_full(s->conn.fd, s->conn.buf, FT_FRAME_MAX_PAYLOAD,
                            deadline, &got) != FT_OK || got == 0)
            break;
        total += got;
    }
}

static void *commit_main(void *arg)
{
    struct commit_job *job = arg;

    ft_store_upload_commit_batch(job->store, job->ups, job->count, job->errs);
    pthread_mutex_lock(&job->lock);
    job->done = true;
    pthread_cond_signal(&job->finished);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

/* Starts committing count uploads, errs[i] the result of each; without a
 * thread to spare, commits them before it returns. */
static void commit_start(struct commit_job *job, struct ft_store *store,
                         struct ft_upload *ups, size_t count, enum ft_err *errs)
{
    *job = (struct commit_job){ .store = store, .ups = ups, .count = count,
                                .errs = errs, .done = false, .threaded = true };
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->finished, NULL);
    if (pthread_create(&job->tid, NULL, commit_main, job) != 0) {
        job->threaded = false;
        ft_store_upload_commit_batch(store, ups, count, errs);
        job->done = true;
    }
}

/* Waits for the commit to end, with a heartbeat to the client each
 * HEARTBEAT_MS. */
static void commit_wait(struct session *s, struct commit_job *job)
{
    pthread_mutex_lock(&job->lock);
    while (!job->done) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += HEARTBEAT_MS / 1000;
        if (pthread_cond_timedwait(&job->finished, &job->lock, &until) != 0 &&
            !job->done) {
            pthread_mutex_unlock(&job->lock);
            ft_conn_send_keepalive(&s->conn); /* a dead client: commit anyway */
            pthread_mutex_lock(&job->lock);
        }
    }
    pthread_mutex_unlock(&job->lock);
    if (job->threaded)
        pthread_join(job->tid, NULL);
    pthread_cond_destroy(&job->finished);
    pthread_mutex_destroy(&job->lock);
}

/* Commits count uploads, errs[i] the result of each. */
static void commit_with_heartbeats(struct session *s, struct ft_upload *ups,
                                   size_t count, enum ft_err *errs)
{
    struct commit_job job;

    commit_start(&job, s->srv->store, ups, count, errs);
    commit_wait(s, &job);
}

static void log_outcome(struct session *s, const struct outcome *o,
                        int64_t started)
{
    /* "Is there a file of that name?" answered no is no failure: every
     * `ft put FILE NAME` asks it before a new name. */
    bool absent = o->err == FT_ERR_NOT_FOUND && strcmp(o->op, "stat") == 0;
    const char *verdict = o->err == FT_OK ? "ok" : absent ? "answered: " : "failed: ";

    log_line(s->srv, "%s %s %s %" PRIu64 " %s %" PRId64 " ms %s%s", s->peer,
             o->op, o->name[0] ? o->name : "-", o->bytes,
             strcmp(o->op, "ls") == 0 ? "entries" : "bytes",
             ft_io_now_ms() - started, verdict,
             o->err == FT_OK ? "" : ft_strerror(o->err));
}

/* Sends the answers of a committed queue, in order, and empties it. */
static void answer_queue(struct session *s, struct put_queue *q)
{
    /* The answers leave together: one wake-up for the client, not one each. */
    ft_conn_cork(&s->conn, true);
    for (size_t i = 0; i < q->count; i++) {
        struct outcome o = { .op = "put", .bytes = q->bytes[i], .err = q->errs[i] };

        ft_name_quote((const uint8_t *)q->ups[i].name, strlen(q->ups[i].name),
                      o.name, sizeof(o.name));
        if (q->errs[i] == FT_OK) {
            struct ft_msg done = { .type = FT_MSG_DONE };

            done.u.done.count = q->bytes[i];
            ft_conn_send(&s->conn, &done);
            ft_store_upload_drop_old(s->srv->store, &q->ups[i]);
        } else {
            /* The failed call was made on the commit's thread: its errno
             * is not ours to quote. */
            errno = EIO;
            send_refusal(s, &o, q->errs[i]);
        }
        log_outcome(s, &o, q->started[i]);
    }
    ft_conn_cork(&s->conn, false);
    q->count = 0;
    q->held_used = 0;
}

/* Waits for the queue being committed, if any, and answers it. */
static void finish_commit(struct session *s)
{
    if (!s->committing)
        return;
    s->committing = false;
    commit_wait(s, &s->commit);
    answer_queue(s, s->spare);
}

/* Starts committing the filled queue; the spare one is filled meanwhile.
 * Without memory for that, commits it at once. */
static void commit_queue(struct session *s)
{
    struct put_queue *q = s->queue;

    if (s->spare == NULL)
        s->spare = calloc(1, sizeof(*s->spare));
    if (s->spare == NULL) {
        commit_with_heartbeats(s, q->ups, q->count, q->errs);
        answer_queue(s, q);
        return;
    }
    s->queue = s->spare;
    s->spare = q;
    s->committing = true;
    commit_start(&s->commit, s->srv->store, q->ups, q->count, q->errs);
}

/* Commits every queued upload and answers each, in order. */
static void flush_queue(struct session *s)
{
    finish_commit(s);
    if (s->queue == NULL || s->queue->count == 0)
        return;
    commit_queue(s);
    finish_commit(s);
}

static bool commit_running(struct commit_job *job)
{
    bool done;

    pthread_mutex_lock(&job->lock);
    done = job->done;
    pthread_mutex_unlock(&job->lock);
    return !done;
}

/* A full queue waits for the commit before it: meanwhile its held uploads
 * are written here, so that the commit's thread has less to do. */
static void write_while_committing(struct session *s, struct put_queue *q)
{
    for (size_t i = 0; i < q->count && s->committing && commit_running(&s->commit); i++) {
        if (q->ups[i].held != NULL)
            q->errs[i] = ft_store_upload_unhold(s->srv->store, &q->ups[i]);
    }
}

/* Whether pipelined uploads wait for their commit or their answers. */
static bool uploads_waiting(const struct session *s)
{
    return s->committing || (s->queue != NULL && s->queue->count > 0);
}

/* The queue being filled, made at the first upload; NULL: out of memory. */
static struct put_queue *filling_queue(struct session *s)
{
    if (s->queue == NULL)
        s->queue = calloc(1, sizeof(*s->queue));
    return s->queue;
}

/* Takes over a pipelined upload received whole. A full queue starts being
 * committed once the one before it is answered. */
static enum ft_err enqueue_upload(struct session *s, struct ft_upload *up,
                                  uint64_t bytes, int64_t started)
{
    struct put_queue *q = filling_queue(s);

    if (q == NULL)
        return FT_ERR_NOMEM;
    q->ups[q->count] = *up;
    q->bytes[q->count] = bytes;
    q->started[q->count] = started;
    q->errs[q->count] = FT_OK;
    q->count++;
    if (up->held != NULL)
        q->held_used += (size_t)up->written;
    up->fd = up->dir_fd = -1;
    up->tmp[0] = '\0';
    if (q->count == QUEUE_MAX) {
        write_while_committing(s, q);
        finish_commit(s);
        commit_queue(s);
    }
    return FT_OK;
}

/* Room in the queue being filled for the bytes of a small pipelined
 * upload; NULL: it goes to its temporary as it arrives. */
static uint8_t *held_room(struct session *s, uint64_t size)
{
    struct put_queue *q = size <= HELD_MAX ? filling_queue(s) : NULL;

    if (q == NULL)
        return NULL;
    if (q->held == NULL && (q->held = malloc(HELD_BYTES)) == NULL)
        return NULL;
    return size <= HELD_BYTES - q->held_used ? q->held + q->held_used : NULL;
}

/* Frees the queues of pipelined uploads, none waiting. */
static void free_queues(struct session *s)
{
    struct put_queue *both[] = { s->queue, s->spare };

    for (size_t i = 0; i < 2; i++) {
        if (both[i] != NULL)
            free(both[i]->held);
        free(both[i]);
    }
    s->queue = s->spare = NULL;
}

static enum ft_err upload_sink(void *ctx, const void *buf, size_t n)
{
    return ft_store_upload_write(ctx, buf, n);
}

/* Begins an upload. One of a regular file of known size and time is kept
 * if interrupted, under a key that only the same upload (name, size,
 * mtime) finds again; *have says what an earlier run left. A pipelined one
 * (a small file, cheaper to send again than to resume) is not: keeping
 * costs a scan of the kept uploads per file. */
static enum ft_err begin_upload(struct session *s, const struct ft_msg *req,
                                const char *name, struct ft_upload *up,
                                uint64_t *have)
{
    struct ft_server *srv = s->srv;
    crypto_generichash_state st;
    uint8_t key[16];
    char hex[2 * sizeof(key) + 1];
    uint8_t fields[16];
    enum ft_err err;

    *have = 0;
    if (req->u.put.flags & FT_XFER_PIPELINE) {
        uint8_t *room = held_room(s, req->u.put.size);

        return room != NULL ? ft_store_upload_begin_held(srv->store, name, room,
                                                         (size_t)req->u.put.size, up)
                            : ft_store_upload_begin(srv->store, name, up);
    }
    if (!(req->u.put.flags & FT_XFER_META) || req->u.put.size == FT_SIZE_UNKNOWN)
        return ft_store_upload_begin(srv->store, name, up);
    ft_msg_put_u32(fields, (uint32_t)(req->u.put.size >> 32));
    ft_msg_put_u32(fields + 4, (uint32_t)req->u.put.size);
    ft_msg_put_u32(fields + 8, (uint32_t)((uint64_t)req->u.put.mtime >> 32));
    ft_msg_put_u32(fields + 12, (uint32_t)req->u.put.mtime);
    crypto_generichash_init(&st, NULL, 0, sizeof(key));
    crypto_generichash_update(&st, (const uint8_t *)"ft partial v1", 14);
    crypto_generichash_update(&st, (const uint8_t *)name, strlen(name) + 1);
    crypto_generichash_update(&st, fields, sizeof(fields));
    crypto_generichash_final(&st, key, sizeof(key));
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    err = ft_store_upload_begin_kept(srv->store, name, hex, srv->cfg.partial_ttl_s,
                                     up, have);
    /* Only a put --continue uses what is there; any other starts afresh. */
    if (err == FT_OK && !(req->u.put.flags & FT_XFER_RESUME)) {
        *have = 0;
        err = ft_store_upload_resize(up, 0);
        if (err != FT_OK)
            ft_store_upload_abort(srv->store, up); /* fails whole: nothing left open */
    }
    return err;
}

/* For put --continue: our chunk digests out, the client's choice of where
 * to go on from back. */
static enum ft_err agree_offset(struct session *s, const struct ft_msg *req,
                                struct ft_upload *up, uint64_t have,
                                uint64_t *offset)
{
    struct ft_msg m;
    enum ft_err err;

    *offset = 0;
    if (!(req->u.put.flags & FT_XFER_RESUME))
        return FT_OK;
    err = ft_resume_send_sums(&s->conn, up->fd, have, req->u.put.size,
                              req->u.put.mtime);
    if (err == FT_OK)
        err = ft_conn_recv(&s->conn, &m, s->conn.timeout_ms);
    if (err == FT_OK && (m.type != FT_MSG_RESUME_AT || m.u.resume_at.offset > have ||
                         m.u.resume_at.offset % FT_RESUME_CHUNK_BYTES != 0))
        err = FT_ERR_PROTOCOL;
    if (err == FT_OK)
        err = ft_store_upload_resize(up, m.u.resume_at.offset);
    if (err == FT_OK)
        *offset = m.u.resume_at.offset;
    return err;
}

/* A refused pipelined upload: its data is skipped, and the connection
 * goes on if that works. */
static void refuse_put(struct session *s, struct outcome *o, enum ft_err err,
                       bool pipelined)
{
    refuse(s, o, err);
    if (pipelined)
        o->keep_open = skip_upload(s);
}

/* Whether a failure while receiving left the connection usable: a local
 * one (a full disk, a file over the limit) did, a broken or hostile peer
 * did not. */
static bool local_failure(enum ft_err err)
{
    switch (err) {
    case FT_ERR_CLOSED:
    case FT_ERR_TIMEOUT:
    case FT_ERR_TAMPERED:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
    case FT_ERR_NOT_FT:
        return false;
    default:
        return true;
    }
}

static void handle_put(struct session *s, const struct ft_msg *req,
                       struct outcome *o, int64_t started)
{
    struct ft_server *srv = s->srv;
    struct ft_upload up = { .fd = -1 };
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_msg done = { .type = FT_MSG_DONE };
    struct ft_xfer_result res;
    struct ft_xfer_opts xo = { .rate_limit = srv->cfg.max_rate };
    uint64_t limit = srv->cfg.max_file_size ? srv->cfg.max_file_size : UINT64_MAX;
    char name[FT_PATH_MAX + 1];
    uint64_t have = 0, offset = 0;
    bool pipelined = (req->u.put.flags & FT_XFER_PIPELINE) != 0;
    bool stream_done;
    enum ft_err err;

    o->op = "put";
    if (!flags_ok(s, req->u.put.flags)) {
        refuse(s, o, FT_ERR_PROTOCOL);
        return;
    }
    if (!take_name(s, o, req->u.put.name, name)) {
        if (pipelined)
            o->keep_open = skip_upload(s);
        return;
    }
    /* Without the whole-file check, a resume could publish a part that
     * another client (who knew name, size and mtime) left. */
    if ((req->u.put.flags & FT_XFER_RESUME) && !(req->u.put.flags & FT_XFER_VERIFY)) {
        refuse(s, o, FT_ERR_PROTOCOL);
        return;
    }
    o->keep_open = true;
    if (req->u.put.size != FT_SIZE_UNKNOWN && req->u.put.size > limit) {
        refuse_put(s, o, FT_ERR_TOO_LARGE, pipelined);
        return;
    }
    err = begin_upload(s, req, name, &up, &have);
    if (err != FT_OK && uploads_waiting(s)) {
        /* Queued uploads hold descriptors: out of them, say, commit those
         * and try once more. */
        flush_queue(s);
        err = begin_upload(s, req, name, &up, &have);
    }
    if (err != FT_OK) {
        refuse_put(s, o, err, pipelined);
        return;
    }
    up.has_meta = (req->u.put.flags & FT_XFER_META) != 0;
    up.mtime = req->u.put.mtime;
    up.mode = req->u.put.mode;
    memset(&res, 0, sizeof(res));
    ready.u.ready.offset = have;
    err = pipelined ? FT_OK : ft_conn_send(&s->conn, &ready);
    if (err == FT_OK)
        err = agree_offset(s, req, &up, have, &offset);
    if (err == FT_OK)
        err = ft_xfer_recv_from(&s->conn, req->u.put.flags, req->u.put.size,
                                limit, offset, up.fd, upload_sink, &up, &xo, &res);
    o->bytes = up.written;
    if (err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT || err == FT_ERR_TAMPERED ||
        s->conn.peer_code != FT_OK)
        ft_store_upload_keep(srv->store, &up); /* for a later put --continue */
    /* After END (a digest mismatch, a failed commit) the stream is still in
     * step; a failure before it leaves the client's data in flight. */
    stream_done = err == FT_OK || err == FT_ERR_INTEGRITY || res.end_seen;
    up.has_digest = res.verified;
    memcpy(up.digest, res.digest, sizeof(up.digest));
    if (err == FT_OK && pipelined) {
        err = enqueue_upload(s, &up, res.bytes, started);
        o->queued = err == FT_OK;
    } else if (err == FT_OK) {
        commit_with_heartbeats(s, &up, 1, &err);
    }
    ft_store_upload_abort(srv->store, &up);
    if (err == FT_OK) {
        if (o->queued)
            return;
        done.u.done.count = res.bytes;
        o->err = ft_conn_send(&s->conn, &done);
        o->keep_open = o->err == FT_OK;
        ft_store_upload_drop_old(srv->store, &up);
        return;
    }
    o->keep_open = stream_done;
    if (s->conn.peer_code != FT_OK || err == FT_ERR_CLOSED ||
        err == FT_ERR_TIMEOUT) {
        /* The client gave up or vanished: nothing to tell it. */
        o->err = err;
        o->keep_open = false;
        return;
    }
    if (pipelined && !stream_done && local_failure(err)) {
        refuse_put(s, o, err, true);
        return;
    }
    refuse(s, o, err);
    if (!o->keep_open)
        drain(s);
}

/* A refused GET --continue: the client's digests follow its request; read
 * them, so that the connection stays in step. False if it did not. */
static bool skip_sums(struct session *s, uint32_t flags)
{
    uint64_t ignored_size = 0, ignored_offset = 0;
    int64_t ignored_mtime = 0;

    if (!(flags & FT_XFER_RESUME))
        return true;
    return ft_resume_match_sums(&s->conn, -1, &ignored_offset, &ignored_size,
                                &ignored_mtime) == FT_OK;
}

static void handle_get(struct session *s, const struct ft_msg *req,
                       struct outcome *o)
{
    struct ft_store_entry info;
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_msg ack;
    struct ft_xfer_result res;
    struct ft_xfer_opts xo = { .rate_limit = s->srv->cfg.max_rate };
    struct stat before;
    char name[FT_PATH_MAX + 1];
    uint64_t offset = 0;
    uint8_t digest[FT_HASH_BYTES];
    bool known = false, record;
    enum ft_err err;
    int fd = -1;

    o->op = "get";
    if (!take_name(s, o, req->u.get.name, name) || !flags_ok(s, req->u.get.flags)) {
        if (o->err == FT_OK)
            refuse(s, o, FT_ERR_PROTOCOL);
        if (o->keep_open)
            o->keep_open = skip_sums(s, req->u.get.flags);
        return;
    }
    err = ft_store_open_file(s->srv->store, name, &fd, &info);
    if (err == FT_ERR_DENIED && is_folder(s, name)) {
        o->err = err;
        ft_conn_send_error(&s->conn, err, "'%s' is a folder: get it with -r",
                           o->name);
        o->keep_open = skip_sums(s, req->u.get.flags);
        return;
    }
    if (req->u.get.flags & FT_XFER_RESUME) {
        /* The client's part comes first, even when we have no file: read
         * it, and resume only if it is of this very file. */
        uint64_t src_size = 0;
        int64_t src_mtime = 0;
        enum ft_err sums = ft_resume_match_sums(&s->conn, err == FT_OK ? fd : -1,
                                                &offset, &src_size, &src_mtime);

        if (sums != FT_OK) {
            o->err = sums;
            goto out;
        }
        if (err == FT_OK && (src_size != info.size || src_mtime != info.mtime))
            offset = 0;
    }
    if (err != FT_OK) {
        o->keep_open = true;
        refuse(s, o, err);
        return;
    }
    memset(&res, 0, sizeof(res));
    ready.u.ready.size = info.size;
    ready.u.ready.mtime = info.mtime;
    ready.u.ready.mode = info.mode;
    ready.u.ready.offset = offset;
    /* A digest recorded at upload spares hashing the file again. */
    known = (req->u.get.flags & FT_XFER_VERIFY) && ft_store_known_digest(fd, digest);
    /* Hashed whole for this get (stored with --no-verify, say): the digest
     * is recorded, so the next get goes out without reading it through us. */
    record = (req->u.get.flags & FT_XFER_VERIFY) && !known;
    /* The data follows at once: READY leaves with it. */
    err = ft_conn_send_more(&s->conn, &ready);
    if (err == FT_OK && (lseek(fd, (off_t)offset, SEEK_SET) < 0 ||
                         (record && fstat(fd, &before) != 0)))
        err = FT_ERR_IO;
    if (err == FT_OK)
        err = ft_xfer_send_from(&s->conn, fd, req->u.get.flags, info.size,
                                offset, known ? digest : NULL, &xo, &res);
    if (err == FT_OK && record)
        ft_store_remember_digest(fd, &before, res.digest);
    o->bytes = res.bytes;
    if (err != FT_OK && err != FT_ERR_CLOSED && err != FT_ERR_TIMEOUT &&
        s->conn.peer_code == FT_OK && !s->conn.mid_frame) {
        /* Our side failed (a read error, the file changed): say so, then
         * hang up, since the client may hold part of the stream. */
        refuse(s, o, err);
        goto out;
    }
    /* A pipelined GET is not acknowledged: the next frame is a request. */
    if (err == FT_OK && (req->u.get.flags & FT_XFER_PIPELINE)) {
        o->keep_open = true;
        goto out;
    }
    if (err == FT_OK)
        err = ft_conn_recv(&s->conn, &ack, s->conn.timeout_ms);
    if (err == FT_OK && ack.type == FT_MSG_ERROR)
        err = s->conn.peer_code;
    else if (err == FT_OK && (ack.type != FT_MSG_DONE || ack.u.done.count != res.bytes))
        err = FT_ERR_PROTOCOL;
    o->err = err;
    /* A client that reported a bad digest is still in step. */
    o->keep_open = err == FT_OK || s->conn.peer_code == FT_ERR_INTEGRITY;
out:
    if (fd >= 0)
        close(fd);
}

struct list_ctx {
    struct session *s;
    uint64_t count;
    bool send_failed;
};

static enum ft_err send_entry(const struct ft_store_entry *e, void *ctx)
{
    struct list_ctx *lc = ctx;
    struct ft_msg m = { .type = FT_MSG_ENTRY };

    m.u.entry.size = e->size;
    m.u.entry.mtime = e->mtime;
    m.u.entry.mode = e->mode;
    m.u.entry.name.ptr = (const uint8_t *)e->name;
    m.u.entry.name.len = strlen(e->name);
    lc->count++;
    if (ft_conn_send(&lc->s->conn, &m) != FT_OK) {
        lc->send_failed = true;
        return FT_ERR_CLOSED;
    }
    return FT_OK;
}

static void handle_list(struct session *s, const struct ft_msg *req,
                        struct outcome *o)
{
    struct list_ctx lc = { .s = s, .count = 0, .send_failed = false };
    struct ft_msg done = { .type = FT_MSG_DONE };
    char folder[FT_PATH_MAX + 1] = "";
    enum ft_err err;

    o->op = "ls";
    if (req->u.list.folder.len > 0 && !take_name(s, o, req->u.list.folder, folder))
        return;
    err = ft_store_list(s->srv->store, folder,
                        (req->u.list.flags & FT_TREE_RECURSIVE) != 0, send_entry,
                        &lc);
    o->bytes = lc.count;
    if (lc.send_failed) {
        o->err = err; /* the link itself failed: nothing more to say */
        return;
    }
    if (err != FT_OK) {
        /* Entries may have gone out: an ERROR still ends the reply. */
        refuse(s, o, err);
        o->keep_open = true;
        return;
    }
    done.u.done.count = lc.count;
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
}

/* Hashes a stored file for STAT: the digest b2sum -l 256 prints. */
static enum ft_err hash_file(struct session *s, int fd, uint8_t digest[FT_HASH_BYTES])
{
    int64_t beat = ft_io_now_ms() + HEARTBEAT_MS;
    struct ft_hash h;

    ft_hash_init(&h);
    for (;;) {
        size_t got = 0;
        enum ft_err err = ft_io_read_full(fd, s->conn.buf, FT_FRAME_MAX_PAYLOAD,
                                          FT_IO_NO_DEADLINE, &got);

        if (err != FT_OK)
            return err;
        if (got == 0)
            break;
        ft_hash_update(&h, s->conn.buf, got);
        /* A large file takes a while: the client must know we live. */
        if (ft_io_now_ms() >= beat) {
            err = ft_conn_send_keepalive(&s->conn);
            if (err != FT_OK)
                return err;
            beat = ft_io_now_ms() + HEARTBEAT_MS;
        }
    }
    ft_hash_final(&h, digest);
    return FT_OK;
}

static void handle_stat(struct session *s, const struct ft_msg *req,
                        struct outcome *o)
{
    struct ft_msg info = { .type = FT_MSG_STAT_INFO };
    struct ft_store_entry e;
    char name[FT_PATH_MAX + 1];
    enum ft_err err;
    int fd = -1;

    o->op = "stat";
    if (!take_name(s, o, req->u.stat.name, name))
        return;
    o->keep_open = true;
    /* A folder has no digest: it reports its type, with zeros. */
    err = ft_store_stat(s->srv->store, name, &e);
    if (err == FT_OK && (e.mode & FT_MODE_TYPE) != FT_MODE_DIR)
        err = ft_store_open_file(s->srv->store, name, &fd, &e);
    if (err == FT_OK && fd >= 0 && !ft_store_known_digest(fd, info.u.stat_info.digest) &&
        !(req->u.stat.flags & FT_STAT_NO_HASH)) {
        struct stat before;

        err = fstat(fd, &before) == 0 ? hash_file(s, fd, info.u.stat_info.digest)
                                      : FT_ERR_IO;
        if (err == FT_OK)
            ft_store_remember_digest(fd, &before, info.u.stat_info.digest);
    }
    if (fd >= 0)
        close(fd);
    if (err != FT_OK) {
        refuse(s, o, err);
        return;
    }
    o->bytes = e.size;
    info.u.stat_info.size = e.size;
    info.u.stat_info.mtime = e.mtime;
    info.u.stat_info.mode = (e.mode & FT_MODE_TYPE) == FT_MODE_DIR
                                ? e.mode : FT_MODE_FILE | (e.mode & 07777);
    o->err = ft_conn_send(&s->conn, &info);
    o->keep_open = o->err == FT_OK;
}

static void handle_move(struct session *s, const struct ft_msg *req,
                        struct outcome *o)
{
    struct ft_msg done = { .type = FT_MSG_DONE };
    char from[FT_PATH_MAX + 1], to[FT_PATH_MAX + 1];
    enum ft_err err;

    o->op = "mv";
    if (!take_name(s, o, req->u.move.to, to) ||
        !take_name(s, o, req->u.move.from, from))
        return;
    o->keep_open = true;
    err = ft_store_move(s->srv->store, from, to);
    if (err != FT_OK) {
        refuse(s, o, err);
        return;
    }
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
}

static void handle_delete(struct session *s, const struct ft_msg *req,
                          struct outcome *o)
{
    struct ft_msg done = { .type = FT_MSG_DONE };
    char name[FT_PATH_MAX + 1];
    enum ft_err err;

    o->op = "rm";
    if (!take_name(s, o, req->u.del.name, name))
        return;
    o->keep_open = true;
    err = ft_store_remove(s->srv->store, name,
                          (req->u.del.flags & FT_TREE_RECURSIVE) != 0);
    if (err == FT_ERR_DENIED && is_folder(s, name)) {
        o->err = err;
        ft_conn_send_error(&s->conn, err, "'%s' is a folder: remove it with rm -r",
                           o->name);
        return;
    }
    if (err != FT_OK) {
        refuse(s, o, err);
        return;
    }
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
}

/* A first frame that is not an ft HELLO: tell the peer in a form it can
 * read. Text-speaking peers (a browser, someone typing into nc) get text,
 * HTTP clients an HTTP answer, anything else an ERROR frame. */
static void reject_stranger(struct session *s)
{
    static const char *const http_methods[] = { "GET ", "POST", "HEAD",
                                                "PUT ", "OPTI", "DELE",
                                                "CONN", "PATC" };
    static const char http_reply[] =
        "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
        "Connection: close\r\n\r\n"
        "This is an ft file server: it speaks the ft protocol, not HTTP.\n";
    static const char text_reply[] =
        "ft: this is an ft file server; it speaks the ft protocol "
        "(docs/PROTOCOL.md), not text. Use the ft client. Bye.\n";
    const uint8_t *h = s->conn.last_header;
    bool text = true;
    int64_t deadline = ft_io_deadline(BUSY_REPLY_TIMEOUT_MS);

    /* A short first line ("hi\n") leaves the rest of the header zero. */
    for (size_t i = 0; i < FT_FRAME_HEADER_BYTES && h[i] != 0; i++) {
        if ((h[i] < 0x20 || h[i] > 0x7e) && h[i] != '\r' && h[i] != '\n' &&
            h[i] != '\t')
            text = false;
    }
    text = text && h[0] != 0;
    if (!text) {
        ft_conn_send_error(&s->conn, FT_ERR_NOT_FT,
                           "not an ft client: expected an ft HELLO frame");
        return;
    }
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(*http_methods); i++) {
        if (memcmp(h, http_methods[i], 4) == 0) {
            ft_io_write_full(s->conn.fd, http_reply, sizeof(http_reply) - 1,
                             deadline);
            return;
        }
    }
    ft_io_write_full(s->conn.fd, text_reply, sizeof(text_reply) - 1, deadline);
}

static enum ft_err open_channel(struct session *s, const struct ft_msg *hello);

static enum ft_err handshake(struct session *s)
{
    struct ft_server *srv = s->srv;
    struct ft_msg m;
    enum ft_err err;

    s->conn.max_payload = HANDSHAKE_MAX_PAYLOAD;
    err = ft_conn_recv(&s->conn, &m, srv->cfg.handshake_timeout_ms);
    if (err == FT_OK && m.type != FT_MSG_HELLO)
        err = FT_ERR_NOT_FT;
    switch (err) {
    case FT_OK:
        break;
    case FT_ERR_NOT_FT:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
        reject_stranger(s);
        return FT_ERR_NOT_FT;
    case FT_ERR_TIMEOUT:
        ft_conn_send_error(&s->conn, FT_ERR_TIMEOUT,
                           "no ft handshake within %d ms",
                           srv->cfg.handshake_timeout_ms);
        return err;
    default:
        return err;
    }
    if (m.u.hello.version < 1) {
        ft_conn_send_error(&s->conn, FT_ERR_VERSION,
                           "protocol version %u is not supported; this server "
                           "speaks %u", (unsigned)m.u.hello.version,
                           FT_PROTO_VERSION);
        return FT_ERR_VERSION;
    }
    return open_channel(s, &m);
}

/* The channel a client gets: plaintext only when it asks and we allow it
 * (never with a token, which only an encrypted handshake can check);
 * otherwise AES-256-GCM where both sides have it in hardware (faster
 * here), else ChaCha20-Poly1305. 0 when the client offers nothing we run. */
static uint32_t choose_channel(const struct ft_server *srv, uint32_t offered)
{
    if ((offered & FT_FEATURE_PLAINTEXT) && srv->cfg.allow_plaintext &&
        srv->cfg.token == NULL)
        return FT_FEATURE_PLAINTEXT;
    if ((offered & FT_FEATURE_AESGCM) && ft_noise_cipher_available(FT_NOISE_AESGCM))
        return FT_FEATURE_AESGCM;
    if (offered & FT_FEATURE_CHACHAPOLY)
        return FT_FEATURE_CHACHAPOLY;
    return 0;
}

/* Answers HELLO with WELCOME, then runs the Noise handshake when the
 * channel is encrypted. A newer client speaks our version too: we answer
 * with ours. */
static enum ft_err open_channel(struct session *s, const struct ft_msg *hello)
{
    struct ft_server *srv = s->srv;
    struct ft_msg welcome = { .type = FT_MSG_WELCOME };
    struct ft_secure_params params;
    uint8_t hello_bytes[HANDSHAKE_MAX_PAYLOAD];
    uint8_t welcome_bytes[64];
    size_t hello_len = s->conn.last_len;
    size_t welcome_len = 0;
    uint32_t channel = choose_channel(srv, hello->u.hello.features);
    enum ft_err err;

    if (channel == 0) {
        ft_conn_send_error(&s->conn, FT_ERR_VERSION,
                           "this server requires an encrypted connection, "
                           "which the client does not offer");
        return FT_ERR_VERSION;
    }
    memcpy(hello_bytes, s->conn.buf, hello_len);
    s->features = hello->u.hello.features & (FT_FEATURE_ZLIB | FT_FEATURE_PIPELINE);
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = s->features | channel |
                                 (srv->cfg.token != NULL ? FT_FEATURE_TOKEN : 0);
    welcome.u.welcome.max_payload = srv->cfg.max_frame_payload;
    if (channel != FT_FEATURE_PLAINTEXT &&
        welcome.u.welcome.max_payload > FT_NOISE_MAX_MESSAGE_BYTES)
        welcome.u.welcome.max_payload = FT_NOISE_MAX_MESSAGE_BYTES;
    err = ft_msg_encode(&welcome, welcome_bytes, sizeof(welcome_bytes),
                        &welcome_len);
    if (err == FT_OK)
        err = ft_conn_send(&s->conn, &welcome);
    if (err != FT_OK || channel == FT_FEATURE_PLAINTEXT) {
        s->conn.max_payload = srv->cfg.max_frame_payload;
        s->protocol = "plaintext";
        return err;
    }
    memset(&params, 0, sizeof(params));
    params.cipher = channel == FT_FEATURE_AESGCM ? FT_NOISE_AESGCM
                                                 : FT_NOISE_CHACHAPOLY;
    params.psk = srv->cfg.token;
    err = ft_secure_prologue(&params, hello_bytes, hello_len, welcome_bytes,
                             welcome_len);
    if (err == FT_OK)
        err = ft_secure_server(&s->conn, &params, &srv->key,
                               srv->cfg.handshake_timeout_ms);
    if (err != FT_OK)
        return err;
    s->conn.max_payload = welcome.u.welcome.max_payload;
    s->protocol = ft_noise_protocol_name(params.psk != NULL, params.cipher);
    return FT_OK;
}

/* Whether the client has stopped sending for now: then the uploads it
 * pipelined are committed, not left waiting for company. */
static bool client_paused(struct session *s)
{
    return uploads_waiting(s) && !ft_conn_input_waits(&s->conn, QUEUE_IDLE_MS);
}

static void serve_loop(struct session *s)
{
    struct ft_server *srv = s->srv;
    bool first = true;

    for (;;) {
        struct outcome o = { .op = "?", .err = FT_OK, .keep_open = false };
        struct ft_msg m;
        int64_t started;
        /* Until its first request proves the handshake (a token checks only
         * then), a client gets the handshake's shorter time. */
        int waited_ms = first && srv->cfg.token != NULL
                            ? srv->cfg.handshake_timeout_ms
                            : srv->cfg.idle_timeout_ms;
        enum ft_err err;

        if (client_paused(s))
            flush_queue(s);
        /* A client that goes quiet leaves its session's transfer buffers
         * to the system, not held until it leaves. */
        if (!ft_conn_input_waits(&s->conn, IDLE_RELEASE_MS)) {
            ft_slot_release_kept();
            if (!uploads_waiting(s))
                free_queues(s);
        }
        err = ft_conn_recv(&s->conn, &m, waited_ms);

        if (err == FT_ERR_CLOSED)
            return;
        if (err == FT_ERR_TAMPERED && first && srv->cfg.token != NULL) {
            /* The client could not verify our half of the handshake. */
            log_line(srv, "%s dropped: the client did not complete the "
                          "handshake: wrong or missing token, or data altered "
                          "in transit", s->peer);
            return;
        }
        first = false;
        if (err == FT_ERR_TIMEOUT)
            log_line(srv, "%s dropped: the client stopped answering (nothing "
                          "for %d ms)", s->peer, waited_ms);
        else if (err != FT_OK)
            log_line(srv, "%s dropped: %s", s->peer, ft_strerror(err));
        if (err != FT_OK) {
            /* The answers due go first, in their order. */
            flush_queue(s);
            if (err == FT_ERR_TIMEOUT)
                ft_conn_send_error(&s->conn, err, "nothing from you for %d ms: "
                                   "goodbye", waited_ms);
            else if (err != FT_ERR_IO)
                ft_conn_send_error(&s->conn, FT_ERR_PROTOCOL,
                                   "protocol error: %s", ft_strerror(err));
            return;
        }
        s->conn.peer_code = FT_OK;
        started = ft_io_now_ms();
        if (m.type != FT_MSG_PUT || !(m.u.put.flags & FT_XFER_PIPELINE))
            flush_queue(s);
        switch (m.type) {
        case FT_MSG_PUT:
            handle_put(s, &m, &o, started);
            break;
        case FT_MSG_GET:
            handle_get(s, &m, &o);
            break;
        case FT_MSG_LIST:
            handle_list(s, &m, &o);
            break;
        case FT_MSG_DELETE:
            handle_delete(s, &m, &o);
            break;
        case FT_MSG_STAT:
            handle_stat(s, &m, &o);
            break;
        case FT_MSG_MOVE:
            handle_move(s, &m, &o);
            break;
        default:
            log_line(srv, "%s dropped: unexpected %s frame", s->peer,
                     ft_msg_name(m.type));
            ft_conn_send_error(&s->conn, FT_ERR_PROTOCOL,
                               "protocol error: unexpected %s frame",
                               ft_msg_name(m.type));
            return;
        }
        if (!o.queued)
            log_outcome(s, &o, started);
        if (!o.keep_open)
            return;
    }
}

static void serve_requests(struct session *s)
{
    serve_loop(s);
    /* Uploads received whole are committed even if the client is gone. */
    flush_queue(s);
    free_queues(s);
}

static void session_end(struct session *s)
{
    struct ft_server *srv = s->srv;

    pthread_mutex_lock(&srv->lock);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    srv->active--;
    pthread_cond_broadcast(&srv->drained);
    pthread_mutex_unlock(&srv->lock);
    ft_conn_free(&s->conn);
    free(s);
}

static void *session_main(void *arg)
{
    struct session *s = arg;
    int64_t started = ft_io_now_ms();
    enum ft_err err;

    log_line(s->srv, "%s connected", s->peer);
    err = handshake(s);
    if (err == FT_OK) {
        s->conn.keepalives = true;
        log_line(s->srv, "%s channel %s%s", s->peer, s->protocol,
                 s->conn.sealed ? "" : ": NOT ENCRYPTED");
        serve_requests(s);
    } else if (s->conn.peer_code != FT_OK) {
        log_line(s->srv, "%s gave up at handshake: %s", s->peer,
                 s->conn.peer_text);
    } else {
        log_line(s->srv, "%s refused at handshake: %s", s->peer,
                 ft_strerror(err));
    }
    log_line(s->srv, "%s disconnected after %" PRId64 " ms", s->peer,
             ft_io_now_ms() - started);
    session_end(s);
    return NULL;
}

/* Turns away a client over the cap with a reason, not a silent drop. */
static void turn_away(struct ft_server *srv, int fd, const char *peer)
{
    struct ft_conn c;

    if (ft_conn_init(&c, fd, BUSY_REPLY_TIMEOUT_MS) == FT_OK)
        ft_conn_send_error(&c, FT_ERR_BUSY,
                           "server busy: %u clients connected, try again later",
                           srv->cfg.max_clients);
    ft_conn_free(&c);
    log_line(srv, "%s turned away: server busy", peer);
}

/* Registers a session for fd, which it then owns; NULL (fd closed) when
 * memory is short. The caller holds srv->lock. */
static struct session *session_add(struct ft_server *srv, int fd,
                                   const char *peer)
{
    struct session *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        close(fd);
        return NULL;
    }
    if (ft_conn_init(&s->conn, fd, srv->cfg.idle_timeout_ms) != FT_OK) {
        ft_conn_free(&s->conn);
        free(s);
        return NULL;
    }
    s->srv = srv;
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    s->next = srv->sessions;
    if (s->next != NULL)
        s->next->prev = s;
    srv->sessions = s;
    srv->active++;
    return s;
}

static void accept_one(struct ft_server *srv)
{
    struct session *s;
    char peer[FT_NET_PEER_MAX];
    pthread_attr_t attr;
    pthread_t tid;
    int fd = -1;
    int rc;

    switch (ft_net_accept(srv->listen_fd, 0, &fd, peer, sizeof(peer))) {
    case FT_OK:
        break;
    case FT_ERR_TIMEOUT:
        return; /* another thread's, or a client that left */
    default:
        /* Out of descriptors, say: the listener stays readable, so wait a
         * moment instead of spinning. */
        log_line(srv, "accept: %s", strerror(errno));
        poll(NULL, 0, ACCEPT_BACKOFF_MS);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    /* A client that reconnects at once may find its last session still
     * finishing (committing, freeing a replaced file): give sessions a
     * moment to end before turning anyone away. */
    if (srv->active >= srv->cfg.max_clients) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += BUSY_GRACE_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (srv->active >= srv->cfg.max_clients &&
               pthread_cond_timedwait(&srv->drained, &srv->lock, &until) == 0)
            ;
    }
    if (srv->active >= srv->cfg.max_clients) {
        pthread_mutex_unlock(&srv->lock);
        turn_away(srv, fd, peer);
        return;
    }
    s = session_add(srv, fd, peer);
    pthread_mutex_unlock(&srv->lock);
    if (s == NULL)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, session_main, s);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_line(srv, "%s dropped: cannot start a thread", peer);
        session_end(s);
    }
}

void ft_server_serve_fd(struct ft_server *srv, int fd, const char *peer)
{
    struct session *s;

    pthread_mutex_lock(&srv->lock);
    s = session_add(srv, fd, peer);
    pthread_mutex_unlock(&srv->lock);
    if (s != NULL)
        session_main(s);
}

/* The long-term key: --key-file, or the store's metadata folder. */
static enum ft_err load_key(struct ft_server *srv, char *errbuf, size_t errlen)
{
    char *path = NULL;
    enum ft_err err;

    if (srv->cfg.key_file != NULL)
        path = strdup(srv->cfg.key_file);
    else if (asprintf(&path, "%s/%s/server.key", srv->cfg.root,
                      FT_STORE_META) < 0)
        path = NULL;
    if (path == NULL)
        return FT_ERR_NOMEM;
    err = ft_keys_load_or_create(path, &srv->key, &srv->key_created, errbuf,
                                 errlen);
    free(path);
    if (err == FT_OK)
        ft_keys_fingerprint(srv->key.public_key, srv->fingerprint);
    return err;
}

enum ft_err ft_server_start(struct ft_server **out,
                            const struct ft_server_config *cfg, char *errbuf,
                            size_t errlen)
{
    struct ft_server *srv = calloc(1, sizeof(*srv));
    enum ft_err err;

    *out = NULL;
    if (srv == NULL)
        return FT_ERR_NOMEM;
    /* Everything ft_server_free releases is valid before the first exit. */
    srv->listen_fd = srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    srv->cfg = *cfg;
    if (srv->cfg.root == NULL)
        srv->cfg.root = FT_DEFAULT_ROOT;
    if (srv->cfg.host == NULL)
        srv->cfg.host = "127.0.0.1";
    if (srv->cfg.max_clients == 0)
        srv->cfg.max_clients = DEFAULT_MAX_CLIENTS;
    if (srv->cfg.idle_timeout_ms == 0)
        srv->cfg.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (srv->cfg.handshake_timeout_ms == 0)
        srv->cfg.handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (srv->cfg.max_frame_payload == 0)
        srv->cfg.max_frame_payload = FT_FRAME_MAX_PAYLOAD;
    if (srv->cfg.partial_ttl_s == 0)
        srv->cfg.partial_ttl_s = DEFAULT_PARTIAL_TTL_S;
    if (srv->cfg.max_frame_payload < FT_MIN_MAX_PAYLOAD ||
        srv->cfg.max_frame_payload > FT_FRAME_MAX_PAYLOAD) {
        snprintf(errbuf, errlen, "the frame limit must be %u to %u bytes",
                 FT_MIN_MAX_PAYLOAD, FT_FRAME_MAX_PAYLOAD);
        err = FT_ERR_USAGE;
        goto out;
    }
    if (cfg->token != NULL) {
        memcpy(srv->token, cfg->token, FT_TOKEN_BYTES);
        srv->cfg.token = srv->token;
    }
    err = ft_store_open(&srv->store, srv->cfg.root, srv->cfg.read_only, errbuf,
                        errlen);
    if (err != FT_OK)
        goto out;
    err = load_key(srv, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    ft_store_expire_partials(srv->store, srv->cfg.partial_ttl_s);
    if (pipe2(srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        err = FT_ERR_IO;
        goto out;
    }
    err = ft_net_listen(srv->cfg.host, srv->cfg.port, &srv->listen_fd,
                        &srv->port, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    *out = srv;
    srv = NULL;
out:
    ft_server_free(srv);
    return err;
}

uint16_t ft_server_port(const struct ft_server *s)
{
    return s->port;
}

const char *ft_server_fingerprint(const struct ft_server *s)
{
    return s->fingerprint;
}

bool ft_server_key_created(const struct ft_server *s)
{
    return s->key_created;
}

void ft_server_stop(struct ft_server *s)
{
    char byte = 1;
    ssize_t ignored = write(s->stop_pipe[1], &byte, 1);

    (void)ignored; /* a full pipe already holds a stop request */
}

enum ft_err ft_server_run(struct ft_server *srv)
{
    struct pollfd p[2] = {
        { .fd = srv->listen_fd, .events = POLLIN },
        { .fd = srv->stop_pipe[0], .events = POLLIN },
    };

    for (;;) {
        int rc = poll(p, 2, -1);

        if (rc < 0 && errno != EINTR) {
            log_line(srv, "poll: %s: stopping", strerror(errno));
            break; /* through the shutdown below: sessions still use srv */
        }
        if (rc <= 0)
            continue;
        if (p[1].revents)
            break;
        if (p[0].revents)
            accept_one(srv);
    }
    /* Cut every connection: their reads and writes fail at once, their
     * uploads are discarded, and their threads end. */
    pthread_mutex_lock(&srv->lock);
    for (struct session *s = srv->sessions; s != NULL; s = s->next)
        shutdown(s->conn.fd, SHUT_RDWR);
    while (srv->active > 0)
        pthread_cond_wait(&srv->drained, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    return FT_OK;
}

void ft_server_free(struct ft_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->stop_pipe[0] >= 0)
        close(srv->stop_pipe[0]);
    if (srv->stop_pipe[1] >= 0)
        close(srv->stop_pipe[1]);
    ft_store_close(srv->store);
    sodium_memzero(&srv->key, sizeof(srv->key));
    sodium_memzero(srv->token, sizeof(srv->token));
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
