/* server_session.c - a session's request loop: one dispatch table, the
 * outcome log, refusals. */
#define _GNU_SOURCE
#include "server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "io.h"
#include "slots.h"
#include "store.h"
#include "xfer.h"

/* How long a quiet client may leave pipelined uploads waiting before they
 * are committed anyway. */
#define QUEUE_IDLE_MS 5
/* A session whose client sends nothing for this long gives its transfer
 * buffers back (slots.c), and its queues' held bytes: they are kept
 * between requests only while the requests keep coming. */
#define IDLE_RELEASE_MS 100
/* After a refusal that ends the session while the client may still be
 * sending, how long and how much to keep reading so that it sees the
 * refusal rather than a reset (PROTOCOL.md 11.3). */
#define DRAIN_MS 2000
#define DRAIN_MAX_BYTES (64u * 1024u * 1024u)

typedef void (*handler_fn)(struct session *s, const struct ft_msg *req,
                           struct outcome *o);
/* Reads what follows a request unasked, so that a refused one leaves the
 * stream in step; false when that failed. */
typedef bool (*skip_fn)(struct session *s, const struct ft_msg *req);

/* What a request is: its message, its name in the log and what the log's
 * count is of, the rights it needs, and its handler. Access checks belong
 * here, in dispatch, once for every request. */
struct operation {
    enum ft_msg_type type;
    const char *name;
    const char *unit;
    /* "Is there a file of that name?" answered no is no failure: every
     * `ft put FILE NAME` asks it before a new name. */
    bool absent_is_answer;
    unsigned needs; /* FT_ALLOW_*: a move takes its source away */
    handler_fn handle;
    skip_fn skip;   /* NULL: nothing follows the request unasked */
};

static const struct operation operations[] = {
    { FT_MSG_PUT, "put", "bytes", false, FT_ALLOW_WRITE, ft_server_put,
      ft_server_put_skip },
    { FT_MSG_GET, "get", "bytes", false, FT_ALLOW_READ, ft_server_ops_get,
      ft_server_ops_get_skip },
    { FT_MSG_LIST, "ls", "entries", false, FT_ALLOW_LIST, ft_server_ops_list, NULL },
    { FT_MSG_DELETE, "rm", "bytes", false, FT_ALLOW_DELETE, ft_server_ops_delete,
      NULL },
    { FT_MSG_STAT, "stat", "bytes", true, FT_ALLOW_READ, ft_server_ops_stat, NULL },
    /* It changes the file's time and mode, if its content is the one named. */
    { FT_MSG_TOUCH, "touch", "files set", false, FT_ALLOW_WRITE, ft_server_ops_touch,
      NULL },
    /* Many touches: logged and counted as one touch, of the files set. */
    { FT_MSG_TOUCHES, "touch", "files set", false, FT_ALLOW_WRITE, ft_server_touches,
      NULL },
    { FT_MSG_MOVE, "mv", "bytes", false, FT_ALLOW_WRITE | FT_ALLOW_DELETE,
      ft_server_ops_move, NULL },
    { FT_MSG_MKDIR, "mkdir", "folders made", false, FT_ALLOW_WRITE,
      ft_server_ops_mkdir, NULL },
    /* A joined connection serves a transfer its session was allowed. */
    { FT_MSG_JOIN, "join", "bytes", false, 0, ft_server_join, NULL },
    { FT_MSG_DELTA_PUT, "delta-put", "bytes", false, FT_ALLOW_WRITE,
      ft_server_delta_put, NULL },
    { FT_MSG_DELTA_GET, "delta-get", "bytes", false, FT_ALLOW_READ,
      ft_server_delta_get, ft_server_delta_get_skip },
    /* Every client may see its own usage. */
    { FT_MSG_USAGE, "df", "bytes used", false, 0, ft_server_ops_usage, NULL },
};

static const struct operation *operation_of(enum ft_msg_type type)
{
    for (size_t i = 0; i < sizeof(operations) / sizeof(*operations); i++) {
        if (operations[i].type == type)
            return &operations[i];
    }
    return NULL;
}

/* The connection's bytes since last counted go to the metrics. */
static void count_bytes(struct session *s)
{
    uint64_t in = s->conn.wire_received, out = s->conn.wire_sent;

    ft_metrics_bytes(&s->srv->metrics, in - s->counted_in, out - s->counted_out);
    s->counted_in = in;
    s->counted_out = out;
}

static void log_outcome(struct session *s, const struct outcome *o)
{
    struct ft_log_request r = {
        .client = s->peer, .op = o->op->name, .name = o->name, .unit = o->op->unit,
        .bytes = o->bytes, .ms = ft_io_now_ms() - o->started, .err = o->err,
        .answered = o->err == FT_ERR_NOT_FOUND && o->op->absent_is_answer,
    };

    count_bytes(s);
    ft_metrics_request(&s->srv->metrics, r.op, r.err, r.ms);
    ft_server_log_request(s->srv, &r);
}

/* The wire code for a local failure: the client need not know our errno. */
enum ft_err ft_server_session_wire_code(enum ft_err err)
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

/* The refusals that quote the request's name: the words around it. */
static const struct {
    enum ft_err code;
    const char *before, *after;
} about_name[] = {
    { FT_ERR_BAD_NAME, "invalid name ", "" },
    { FT_ERR_NOT_FOUND, "no such file ", "" },
    /* When the store finds nothing to blame (refuse_obstacle). */
    { FT_ERR_DENIED, "", ": permission denied" },
    { FT_ERR_INTEGRITY, "integrity check failed: the BLAKE2b-256 digest of ",
      " does not match; the upload was discarded" },
};

/* What a thing the store met is, and why it stops a request. */
static const struct {
    const char *what, *why;
} kinds[] = {
    [FT_STORE_FILE] = { "a file", "" },
    [FT_STORE_FOLDER] = { "a folder", ", which stands in the way" },
    [FT_STORE_LINK] = { "a symbolic link", " (ft never follows links)" },
    [FT_STORE_SPECIAL] = { "a special file",
                           " (ft serves regular files and folders only)" },
};

/* Says what stands in name's way, as the store finds it: the first thing
 * on the way that is not a folder ("'a/b': 'a' is a file"), or what is at
 * the name itself, a folder only if folder_counts (a folder being moved
 * is no obstacle to its move). False when there is nothing to blame. */
static bool refuse_obstacle(struct session *s, const char *name, bool folder_counts)
{
    char quoted[FT_PATH_MAX * 4 + 8], where[FT_PATH_MAX * 4 + 8];
    const char *shown = ft_server_session_shown(s, name);
    size_t at = 0, len = strlen(name), hidden = (size_t)(shown - name);
    enum ft_store_kind kind = ft_store_obstacle(s->srv->store, name, &at);

    ft_name_quote(shown, strlen(shown), quoted, sizeof(quoted));
    /* What stands at the client's root or above it is not the client's
     * to see: the refusal then names nothing. */
    if (kind != FT_STORE_NOTHING && at < len && at > hidden) {
        ft_name_quote(shown, at - hidden, where, sizeof(where));
        ft_conn_send_error(&s->conn, FT_ERR_DENIED,
                           "'%s': '%s' is %s, where a folder should be%s", quoted,
                           where, kinds[kind].what, kinds[kind].why);
        return true;
    }
    if (kind == FT_STORE_NOTHING || kind == FT_STORE_FILE || at < len ||
        (kind == FT_STORE_FOLDER && !folder_counts))
        return false;
    ft_conn_send_error(&s->conn, FT_ERR_DENIED, "'%s' is %s%s", quoted,
                       kinds[kind].what, kinds[kind].why);
    return true;
}

/* NOT_ALLOWED, saying what the client lacks and what it has. */
static void refuse_not_allowed(struct session *s, const struct operation *op)
{
    char lacks[64], has[64];

    ft_clients_allow_text(op->needs & ~s->rights.allow, " and ", lacks, sizeof(lacks));
    ft_clients_allow_text(s->rights.allow, ",", has, sizeof(has));
    ft_conn_send_error(&s->conn, FT_ERR_NOT_ALLOWED,
                       "not allowed: this client may not %s%s (its allow= is %s)",
                       lacks, op->needs == (FT_ALLOW_WRITE | FT_ALLOW_DELETE)
                                  ? ": a move writes its new name and deletes "
                                    "its old one" : "",
                       has);
}

void ft_server_session_refuse(struct session *s, struct outcome *o, enum ft_err err)
{
    enum ft_err code = ft_server_session_wire_code(err);
    const char *rule;

    o->err = err;
    if (code == FT_ERR_DENIED &&
        ((o->subject != NULL && refuse_obstacle(s, o->subject, o->other == NULL)) ||
         (o->other != NULL && refuse_obstacle(s, o->other, true))))
        return;
    /* A valid name the store cannot hold: the store says why. */
    if (code == FT_ERR_BAD_NAME && o->subject != NULL &&
        (rule = ft_store_name_refusal(s->srv->store, o->subject)) != NULL) {
        ft_conn_send_error(&s->conn, code, "invalid name '%s': %s", o->name, rule);
        return;
    }
    for (size_t i = 0; i < sizeof(about_name) / sizeof(*about_name); i++) {
        if (about_name[i].code == code) {
            ft_conn_send_error(&s->conn, code, "%s'%s'%s", about_name[i].before,
                               o->name, about_name[i].after);
            return;
        }
    }
    if (code == FT_ERR_QUOTA && s->quota != NULL) {
        char why[FT_ERROR_TEXT_MAX];

        ft_quota_describe(s->quota, &s->rights, why, sizeof(why));
        ft_conn_send_error(&s->conn, code, "%s", why);
    } else if (code == FT_ERR_TOO_LARGE)
        ft_conn_send_error(&s->conn, code,
                           "file too large: this server accepts at most %" PRIu64
                           " bytes", s->srv->cfg.max_file_size);
    else if (code == FT_ERR_SERVER)
        ft_conn_send_error(&s->conn, code, "server-side failure on '%s': %s",
                           o->name, strerror(errno));
    else
        ft_conn_send_error(&s->conn, code, "%s", ft_strerror(err));
}

void ft_server_session_drain(struct session *s)
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

enum ft_err ft_server_session_name(const struct session *s, struct outcome *o,
                                   struct ft_bytes name, char *out)
{
    size_t root = strlen(s->rights.root);
    size_t at = root > 0 ? root + 1 : 0;

    ft_name_quote(name.ptr, name.len, o->name, sizeof(o->name));
    /* Checked as the client wrote it (no "..", nothing absolute, no
     * metadata folder), then whole beneath its root. */
    if (ft_name_check(name.ptr, name.len) != FT_OK || at + name.len > FT_PATH_MAX)
        return FT_ERR_BAD_NAME;
    memcpy(out, s->rights.root, root);
    if (root > 0)
        out[root] = '/';
    memcpy(out + at, name.ptr, name.len);
    out[at + name.len] = '\0';
    if (ft_name_check(out, at + name.len) != FT_OK)
        return FT_ERR_BAD_NAME;
    o->subject = out;
    return FT_OK;
}

const char *ft_server_session_shown(const struct session *s, const char *name)
{
    size_t root = strlen(s->rights.root);

    if (root > 0 && strncmp(name, s->rights.root, root) == 0 && name[root] == '/')
        return name + root + 1;
    return name;
}

bool ft_server_session_take_name(struct session *s, struct outcome *o,
                                 struct ft_bytes name, char *out)
{
    if (ft_server_session_name(s, o, name, out) == FT_OK)
        return true;
    ft_server_session_refuse(s, o, FT_ERR_BAD_NAME);
    o->keep_open = true;
    return false;
}

bool ft_server_session_flags_ok(const struct session *s, uint32_t flags)
{
    if (flags & ~FT_XFER_KNOWN_FLAGS)
        return false;
    if ((flags & FT_XFER_PIPELINE) &&
        ((flags & FT_XFER_RESUME) || !(s->features & FT_FEATURE_PIPELINE)))
        return false;
    if ((flags & FT_XFER_STRIPED) &&
        ((flags & FT_XFER_PIPELINE) || !(s->features & FT_FEATURE_STREAMS)))
        return false;
    if ((flags & FT_XFER_CHUNKS) && !(s->features & FT_FEATURE_DELTA))
        return false;
    return !(flags & FT_XFER_COMPRESS) || (s->features & FT_FEATURE_ZLIB);
}

/* The batch's answer to a committed pipelined upload. */
static void answer_upload(void *ctx, const struct ft_upload *up,
                          struct ft_quota_hold *hold, uint64_t bytes,
                          int64_t started, enum ft_err err)
{
    struct session *s = ctx;
    struct outcome o = { .op = operation_of(FT_MSG_PUT), .subject = up->name,
                         .bytes = bytes, .started = started, .err = err };
    const char *shown = ft_server_session_shown(s, up->name);

    ft_quota_finish(s->srv->quotas, hold, up, err == FT_OK);
    ft_name_quote((const uint8_t *)shown, strlen(shown), o.name, sizeof(o.name));
    if (err == FT_OK) {
        struct ft_msg done = { .type = FT_MSG_DONE };

        done.u.done.count = bytes;
        ft_conn_send(&s->conn, &done);
        ft_server_hook_upload(s, up->name, bytes, up->has_digest ? up->digest : NULL);
    } else {
        /* The failed call was made on the commit's thread: its errno is
         * not ours to quote. */
        errno = EIO;
        ft_server_session_refuse(s, &o, err);
    }
    log_outcome(s, &o);
}

/* The answers leave together: one wake-up for the client, not one each. */
static void gather_answers(void *ctx, bool on)
{
    struct session *s = ctx;

    ft_conn_cork(&s->conn, on);
}

/* Each heartbeat_ms of a commit awaited. A dead client: commit anyway. */
static void commit_heartbeat(void *ctx)
{
    struct session *s = ctx;

    ft_conn_heartbeat(&s->conn);
}

/* Whether the client has stopped sending for now: then the uploads it
 * pipelined are committed, not left waiting for company. */
static bool client_paused(struct session *s)
{
    return ft_server_batch_waiting(&s->batch) &&
           !ft_conn_input_waits(&s->conn, QUEUE_IDLE_MS);
}

/* Says why the session ends when reading a request failed. */
static void hang_up(struct session *s, enum ft_err err, int waited_ms)
{
    struct ft_server *srv = s->srv;

    if (err == FT_ERR_TIMEOUT)
        ft_server_log(srv, "%s dropped: the client stopped answering (nothing "
                           "for %d ms)", s->peer, waited_ms);
    else
        ft_server_log(srv, "%s dropped: %s", s->peer, ft_strerror(err));
    /* The answers due go first, in their order. */
    ft_server_batch_flush(&s->batch);
    if (err == FT_ERR_TIMEOUT)
        ft_conn_send_error(&s->conn, err, "nothing from you for %d ms: "
                           "goodbye", waited_ms);
    else if (err != FT_ERR_IO)
        ft_conn_send_error(&s->conn, FT_ERR_PROTOCOL,
                           "protocol error: %s", ft_strerror(err));
}

/* Reads the next request into m; false when the session is over. */
static bool next_request(struct session *s, bool *first, struct ft_msg *m)
{
    struct ft_server *srv = s->srv;
    /* Until its first request proves the handshake (a token checks only
     * then), a client gets the handshake's shorter time. */
    int waited_ms = *first && srv->cfg.token != NULL ? srv->cfg.handshake_timeout_ms
                                                    : srv->cfg.idle_timeout_ms;
    enum ft_err err;

    if (client_paused(s))
        ft_server_batch_flush(&s->batch);
    /* A client that goes quiet leaves its session's transfer buffers to
     * the system, not held until it leaves. */
    if (!ft_conn_input_waits(&s->conn, IDLE_RELEASE_MS)) {
        ft_slot_release_kept();
        if (!ft_server_batch_waiting(&s->batch))
            ft_server_batch_release(&s->batch);
    }
    err = ft_conn_recv(&s->conn, m, waited_ms);
    if (err == FT_ERR_CLOSED)
        return false;
    if (err == FT_ERR_TAMPERED && *first && srv->cfg.token != NULL) {
        /* The client could not verify our half of the handshake. */
        ft_server_log(srv, "%s dropped: the client did not complete the "
                           "handshake: wrong or missing token, or data altered "
                           "in transit", s->peer);
        return false;
    }
    *first = false;
    if (err != FT_OK) {
        hang_up(s, err, waited_ms);
        return false;
    }
    return true;
}

/* The name a request is on, for the log of its refusal. */
static struct ft_bytes request_name(const struct ft_msg *m)
{
    static const struct ft_bytes none = { NULL, 0 };

    switch (m->type) {
    case FT_MSG_PUT: return m->u.put.name;
    case FT_MSG_GET: return m->u.get.name;
    case FT_MSG_LIST: return m->u.list.folder;
    case FT_MSG_DELETE: return m->u.del.name;
    case FT_MSG_STAT: return m->u.stat.name;
    case FT_MSG_MOVE: return m->u.move.from;
    case FT_MSG_MKDIR: return m->u.mkdir.name;
    case FT_MSG_DELTA_PUT: return m->u.delta_put.name;
    case FT_MSG_DELTA_GET: return m->u.delta_get.name;
    case FT_MSG_TOUCH: return m->u.touch.name;
    default: return none;
    }
}

/* Refuses a request the client's rights do not allow: nothing is done,
 * what follows it unasked is read, and the session goes on. */
static void refuse_request(struct session *s, const struct ft_msg *m,
                           struct outcome *o)
{
    struct ft_bytes name = request_name(m);

    ft_name_quote(name.ptr, name.len, o->name, sizeof(o->name));
    /* A refused pipelined upload is answered after those before it. */
    ft_server_batch_flush(&s->batch);
    o->err = FT_ERR_NOT_ALLOWED;
    refuse_not_allowed(s, o->op);
    o->keep_open = o->op->skip == NULL || o->op->skip(s, m);
}

/* Serves one request; false when the session is over. */
static bool dispatch(struct session *s, const struct ft_msg *m)
{
    const struct operation *op;
    struct outcome o = { .err = FT_OK, .keep_open = false };

    s->conn.peer_code = FT_OK;
    o.started = ft_io_now_ms();
    /* Only a pipelined upload joins the ones waiting; any other request is
     * answered after them, so they are committed and answered first. */
    if (m->type != FT_MSG_PUT || !(m->u.put.flags & FT_XFER_PIPELINE))
        ft_server_batch_flush(&s->batch);
    op = operation_of(m->type);
    if (op == NULL) {
        ft_server_log(s->srv, "%s dropped: unexpected %s frame", s->peer,
                      ft_msg_name(m->type));
        ft_conn_send_error(&s->conn, FT_ERR_PROTOCOL,
                           "protocol error: unexpected %s frame",
                           ft_msg_name(m->type));
        return false;
    }
    o.op = op;
    if ((op->needs & s->rights.allow) != op->needs)
        refuse_request(s, m, &o);
    else
        op->handle(s, m, &o);
    if (!o.queued)
        log_outcome(s, &o);
    return o.keep_open;
}

static void serve_requests(struct session *s)
{
    bool first = true;
    struct ft_msg m;

    while (next_request(s, &first, &m) && dispatch(s, &m))
        ;
    /* Uploads received whole are committed even if the client is gone. */
    ft_server_batch_flush(&s->batch);
    ft_server_batch_release(&s->batch);
}

/* Makes the client's root where it is missing (a writable store), so
 * that its world is there, empty, from its first session on; and counts
 * the root's usage when the client has a quota. */
static enum ft_err enter_world(struct session *s)
{
    struct ft_server *srv = s->srv;
    const char *root = s->rights.root;
    bool made = false;
    enum ft_err err = FT_OK;

    if (root[0] != '\0' && !srv->cfg.read_only)
        err = ft_store_mkdir(srv->store, root, true, &made);
    if (made)
        ft_server_log(srv, "%s made its root folder '%s'", s->peer, root);
    if (err == FT_OK && (s->rights.quota_bytes != FT_UNLIMITED ||
                         s->rights.quota_files != FT_UNLIMITED))
        err = ft_quota_attach(srv->quotas, root, &s->quota);
    else if (err == FT_OK)
        s->quota = ft_quota_find(srv->quotas, root);
    if (err == FT_OK)
        return FT_OK;
    ft_server_log(srv, "%s refused: its root folder '%s' is unusable: %s", s->peer,
                  root, ft_strerror(err));
    ft_conn_send_error(&s->conn, FT_ERR_SERVER, "this server cannot open your "
                       "folder: ask its operator");
    ft_server_session_drain(s);
    return err;
}

/* Why a session was not served, for the metrics: the handshake, or the
 * key (ft_server_admit's codes). The root's refusal is counted where it
 * happens. */
static void count_refusal(struct session *s, enum ft_err hello, enum ft_err admit)
{
    if (hello != FT_OK)
        ft_metrics_refused(&s->srv->metrics, FT_REFUSED_HANDSHAKE);
    else if (admit == FT_ERR_UNKNOWN_KEY)
        ft_metrics_refused(&s->srv->metrics, FT_REFUSED_UNKNOWN_KEY);
    else if (admit != FT_OK)
        ft_metrics_refused(&s->srv->metrics, FT_REFUSED_KEY);
}

void ft_server_session_main(struct session *s)
{
    struct ft_server_batch_replies replies = {
        .answer = answer_upload, .gather = gather_answers,
        .heartbeat = commit_heartbeat, .heartbeat_ms = FT_HEARTBEAT_MS, .ctx = s,
    };
    int64_t started = ft_io_now_ms();
    enum ft_err err, hello, admitted = FT_OK;

    ft_server_batch_init(&s->batch, s->srv->store, &s->srv->fds, &replies);
    ft_server_log(s->srv, "%s connected", s->peer);
    s->xfer_opts.rate_limit = s->srv->cfg.max_rate;
    err = hello = ft_server_hello(s);
    if (hello != FT_OK)
        ft_metrics_handshake_failed(&s->srv->metrics);
    if (err == FT_OK)
        err = admitted = ft_server_admit(s);
    /* The first sealed frame, sent at once: a client on its first contact
     * with a token waits for it, as the proof that we know the token
     * (PROTOCOL.md 8.9). A client already gone (a striped transfer's spare
     * connection, closed after its handshake) is no failure of the
     * handshake: the request loop sees it leave. */
    if (err == FT_OK && s->conn.sealed)
        (void)ft_conn_send_keepalive(&s->conn);
    if (err == FT_OK && (err = enter_world(s)) != FT_OK)
        ft_metrics_refused(&s->srv->metrics, FT_REFUSED_ROOT);
    if (err == FT_OK) {
        s->conn.keepalives = true;
        ft_server_log(s->srv, "%s channel %s%s%s", s->peer, s->protocol,
                      s->has_client_key ? ", client " : ": NOT ENCRYPTED",
                      s->has_client_key ? s->client_fingerprint : "");
        serve_requests(s);
    } else if (s->conn.peer_code != FT_OK) {
        ft_server_log(s->srv, "%s gave up at handshake: %s", s->peer,
                      s->conn.peer_text);
    } else {
        ft_server_log(s->srv, "%s refused at handshake: %s", s->peer,
                      ft_strerror(err));
    }
    count_refusal(s, hello, admitted);
    count_bytes(s);
    ft_server_log(s->srv, "%s disconnected after %" PRId64 " ms", s->peer,
                  ft_io_now_ms() - started);
}
