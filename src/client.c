/* client.c - put, get, list and remove over one connection. */
#define _GNU_SOURCE
#include "ft/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "ft/net.h"
#include "hash.h"
#include "io.h"
#include "name.h"
#include "noise.h"
#include "resume.h"
#include "secure.h"
#include "xfer.h"

#define DEFAULT_TIMEOUT_MS 30000
/* How long to wait for the reason after the server cut a transfer short. */
#define LAST_WORDS_TIMEOUT_MS 2000
/* A busy server is asked again this many times, after 200, 400, 800 ms. */
#define BUSY_RETRIES 3
#define BUSY_RETRY_MS 200

struct ft_client {
    struct ft_conn conn;
    uint32_t features;   /* negotiated in the handshake */
    bool encrypted;
    bool pinned_now;     /* the server's key was pinned by this connection */
    const char *protocol; /* the Noise protocol name, when encrypted */
    char fingerprint[FT_FINGERPRINT_MAX];
    bool broken;         /* a request died mid-stream: the link is unusable */
    char err[FT_ERROR_TEXT_MAX + 256];
    /* Pipelined puts sent whose answers are still to come, oldest first. */
    struct {
        struct ft_xfer_result res;
        int64_t started;
    } due[FT_PIPELINE_MAX];
    size_t due_first, due_count;
    /* A pipelined put was given up with an ERROR to the server, which then
     * answers the puts before it and closes: those answers can be read. */
    bool answers_after_break;
    size_t gets_due; /* pipelined gets sent whose answers are still to come */
};

static void set_error(struct ft_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct ft_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

const char *ft_client_error(const struct ft_client *c)
{
    return c->err;
}

bool ft_client_encrypted(const struct ft_client *c)
{
    return c->encrypted;
}

const char *ft_client_protocol(const struct ft_client *c)
{
    return c->encrypted ? c->protocol : "plaintext";
}

const char *ft_client_server_key(const struct ft_client *c)
{
    return c->encrypted ? c->fingerprint : NULL;
}

bool ft_client_pinned_now(const struct ft_client *c)
{
    return c->pinned_now;
}

/* Records why a request failed and returns err. A refusal from the server
 * is quoted and leaves the connection usable (callers mark it broken when
 * the refusal cut a stream short); so does a digest mismatch found after a
 * complete download. Anything else leaves it unusable. */
static enum ft_err fail(struct ft_client *c, enum ft_err err)
{
    int saved = errno;

    if (c->conn.peer_code != FT_OK) {
        set_error(c, "server refused: %s", c->conn.peer_text);
        return c->conn.peer_code;
    }
    switch (err) {
    case FT_ERR_IO:
        set_error(c, "local I/O error: %s", strerror(saved));
        break;
    case FT_ERR_TIMEOUT:
        set_error(c, "the server stopped answering: nothing from it for %d s "
                     "(not even a heartbeat)", c->conn.timeout_ms / 1000);
        break;
    case FT_ERR_CLOSED:
        set_error(c, "the server closed the connection");
        break;
    case FT_ERR_INTEGRITY:
        set_error(c, "integrity check failed: the BLAKE2b-256 digest of the "
                     "received data does not match the sender's; nothing was kept");
        break;
    default:
        set_error(c, "%s", ft_strerror(err));
        break;
    }
    if (err != FT_ERR_INTEGRITY)
        c->broken = true;
    return err;
}

/* After the server cut a stream short, its ERROR frame may still be waiting
 * in the socket: read it so the user learns why. */
static enum ft_err last_words(struct ft_client *c, enum ft_err err)
{
    struct ft_msg m;

    if (c->conn.peer_code != FT_OK || (err != FT_ERR_CLOSED && err != FT_ERR_IO))
        return err;
    if (ft_conn_recv(&c->conn, &m, LAST_WORDS_TIMEOUT_MS) == FT_OK &&
        m.type == FT_MSG_ERROR)
        return c->conn.peer_code;
    return err;
}

/* Sends HELLO and reads WELCOME; hello_out and welcome_out receive their
 * payloads, which the encrypted channel's prologue binds. */
/* The channels this client can run and the configuration allows. */
static uint32_t offered_channels(const struct ft_client_config *cfg)
{
    uint32_t offer = 0;

    if (cfg->cipher != FT_CIPHER_AESGCM)
        offer |= FT_FEATURE_CHACHAPOLY;
    if (cfg->cipher != FT_CIPHER_CHACHAPOLY &&
        ft_noise_cipher_available(FT_NOISE_AESGCM))
        offer |= FT_FEATURE_AESGCM;
    if (cfg->plaintext)
        offer |= FT_FEATURE_PLAINTEXT;
    return offer;
}

static enum ft_err negotiate(struct ft_client *c, const struct ft_client_config *cfg,
                             struct ft_msg *welcome, uint8_t *hello_out,
                             size_t *hello_len, uint8_t *welcome_out,
                             size_t *welcome_len)
{
    struct ft_msg hello = { .type = FT_MSG_HELLO };
    enum ft_err err;

    hello.u.hello.version = FT_PROTO_VERSION;
    hello.u.hello.features = FT_FEATURE_ZLIB | FT_FEATURE_PIPELINE |
                             offered_channels(cfg);
    if (cfg->token != NULL)
        hello.u.hello.features |= FT_FEATURE_TOKEN;
    if ((hello.u.hello.features & FT_FEATURE_CHANNELS) == 0) {
        set_error(c, "this machine has no AES-GCM in hardware: leave out "
                     "--cipher aes-256-gcm");
        return FT_ERR_USAGE;
    }
    err = ft_msg_encode(&hello, hello_out, FT_PROLOGUE_MAX / 2, hello_len);
    if (err == FT_OK)
        err = ft_conn_send(&c->conn, &hello);
    if (err != FT_OK)
        return fail(c, err);
    err = ft_conn_recv(&c->conn, welcome, c->conn.timeout_ms);
    if (err == FT_ERR_FRAME_TOO_BIG || err == FT_ERR_NOT_FT ||
        err == FT_ERR_PROTOCOL ||
        (err == FT_OK && welcome->type != FT_MSG_WELCOME &&
         welcome->type != FT_MSG_ERROR)) {
        set_error(c, "the server does not speak the ft protocol");
        return FT_ERR_NOT_FT;
    }
    if (err != FT_OK)
        return fail(c, err);
    if (welcome->type == FT_MSG_ERROR)
        return fail(c, c->conn.peer_code);
    if (welcome->u.welcome.version != FT_PROTO_VERSION) {
        set_error(c, "the server chose protocol version %u; this client speaks %u",
                  (unsigned)welcome->u.welcome.version, FT_PROTO_VERSION);
        return FT_ERR_VERSION;
    }
    if (welcome->u.welcome.max_payload < FT_MIN_MAX_PAYLOAD) {
        set_error(c, "the server's frame limit (%u bytes) is below the minimum",
                  (unsigned)welcome->u.welcome.max_payload);
        return FT_ERR_PROTOCOL;
    }
    if (c->conn.last_len > FT_PROLOGUE_MAX / 2)
        return fail(c, FT_ERR_PROTOCOL);
    memcpy(welcome_out, c->conn.buf, c->conn.last_len);
    *welcome_len = c->conn.last_len;
    c->features = welcome->u.welcome.features & (FT_FEATURE_ZLIB | FT_FEATURE_PIPELINE);
    c->conn.send_chunk = welcome->u.welcome.max_payload - FT_DATA_Z_HEADER_BYTES;
    if (c->conn.send_chunk > FT_CHUNK_BYTES)
        c->conn.send_chunk = FT_CHUNK_BYTES;
    return FT_OK;
}

/* Checks what WELCOME chose against what we offered and hold. */
static enum ft_err check_channel(struct ft_client *c,
                                 const struct ft_client_config *cfg,
                                 uint32_t chosen, uint32_t offered)
{
    uint32_t channel = chosen & FT_FEATURE_CHANNELS;

    if (channel == FT_FEATURE_PLAINTEXT && !cfg->plaintext) {
        /* We never asked: someone on the path is stripping encryption. */
        set_error(c, "the server offered an unencrypted connection, which this "
                     "client did not ask for: refusing");
        return FT_ERR_TAMPERED;
    }
    if (channel == FT_FEATURE_PLAINTEXT &&
        (cfg->token != NULL || cfg->server_key != NULL)) {
        /* Without the handshake neither a token nor a key can be checked. */
        set_error(c, "the server offered an unencrypted connection, over which "
                     "its %s cannot be checked: refusing",
                  cfg->token != NULL ? "token" : "key");
        return cfg->token != NULL ? FT_ERR_TOKEN : FT_ERR_KEY_CHANGED;
    }
    if ((channel & offered) == 0 || (channel & (channel - 1)) != 0) {
        set_error(c, "the server chose no channel this client offered");
        return FT_ERR_PROTOCOL;
    }
    if ((chosen & FT_FEATURE_TOKEN) && cfg->token == NULL) {
        ft_conn_send_error(&c->conn, FT_ERR_TOKEN, "client has no token");
        set_error(c, "the server requires a token: pass --token-file FILE or "
                     "set FT_TOKEN_FILE");
        return FT_ERR_TOKEN;
    }
    if (!(chosen & FT_FEATURE_TOKEN) && cfg->token != NULL) {
        set_error(c, "the server does not use a token, so it cannot prove it "
                     "knows ours: it may be an impostor; refusing");
        return FT_ERR_TOKEN;
    }
    return FT_OK;
}

static enum ft_err handshake(struct ft_client *c, const struct ft_client_config *cfg)
{
    struct ft_secure_params params;
    struct ft_msg welcome;
    uint8_t hello_bytes[FT_PROLOGUE_MAX / 2];
    uint8_t welcome_bytes[FT_PROLOGUE_MAX / 2];
    uint8_t server_key[FT_KEY_BYTES];
    size_t hello_len = 0, welcome_len = 0;
    uint32_t offered;
    enum ft_err err;

    err = negotiate(c, cfg, &welcome, hello_bytes, &hello_len, welcome_bytes,
                    &welcome_len);
    if (err != FT_OK)
        return err;
    offered = offered_channels(cfg);
    err = check_channel(c, cfg, welcome.u.welcome.features, offered);
    if (err != FT_OK || (welcome.u.welcome.features & FT_FEATURE_PLAINTEXT))
        return err;
    memset(&params, 0, sizeof(params));
    params.cipher = (welcome.u.welcome.features & FT_FEATURE_AESGCM)
                        ? FT_NOISE_AESGCM : FT_NOISE_CHACHAPOLY;
    params.psk = cfg->token;
    err = ft_secure_prologue(&params, hello_bytes, hello_len, welcome_bytes,
                             welcome_len);
    if (err == FT_OK)
        err = ft_secure_client(&c->conn, &params, server_key);
    if (err == FT_ERR_TOKEN) {
        /* Tell the server, which cannot know otherwise, then give up. */
        ft_conn_send_error(&c->conn, FT_ERR_TOKEN, "token mismatch");
        set_error(c, "wrong token: the server's handshake does not verify "
                     "with ours (or the connection was tampered with)");
        return err;
    }
    if (err != FT_OK)
        return fail(c, err);
    c->encrypted = true;
    c->protocol = ft_noise_protocol_name(cfg->token != NULL, params.cipher);
    ft_keys_fingerprint(server_key, c->fingerprint);
    if (cfg->server_key != NULL && strcmp(cfg->server_key, c->fingerprint) != 0) {
        set_error(c, "the server's key is %s, not %s as given with --server-key",
                  c->fingerprint, cfg->server_key);
        return FT_ERR_KEY_CHANGED;
    }
    return FT_OK;
}

/* Pins the server's key on first use, and refuses a changed one. */
static enum ft_err check_pin(struct ft_client *c, const struct ft_client_config *cfg,
                             const char *host, uint16_t port)
{
    char old[FT_FINGERPRINT_MAX];
    char why[512];
    enum ft_known known;
    enum ft_err err;

    if (!c->encrypted || cfg->server_key != NULL || cfg->known_hosts == NULL)
        return FT_OK;
    err = ft_keys_check_known_host(cfg->known_hosts, host, port, c->fingerprint,
                                   &known, old, why, sizeof(why));
    if (err != FT_OK) {
        set_error(c, "%s", why);
        return err;
    }
    c->pinned_now = known == FT_KNOWN_NEW;
    if (known != FT_KNOWN_CHANGED)
        return FT_OK;
    set_error(c,
              "THE SERVER'S KEY HAS CHANGED. Pinned for %s port %u: %s; offered "
              "now: %s. Someone may be intercepting the connection. If the "
              "server's key was replaced on purpose, delete the line '%s %u' "
              "from %s, or pass --server-key %s",
              host, (unsigned)port, old, c->fingerprint, host, (unsigned)port,
              cfg->known_hosts, c->fingerprint);
    return FT_ERR_KEY_CHANGED;
}

enum ft_err ft_client_attach(struct ft_client **out, int fd,
                             const struct ft_client_config *cfg,
                             char *errbuf, size_t errlen)
{
    int timeout = cfg->timeout_ms != 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    struct ft_client *c = NULL;
    enum ft_err err;

    *out = NULL;
    if (ft_hash_library_init() != 0) {
        close(fd);
        snprintf(errbuf, errlen, "libsodium failed to start");
        return FT_ERR_NOMEM;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        snprintf(errbuf, errlen, "out of memory");
        return FT_ERR_NOMEM;
    }
    err = ft_conn_init(&c->conn, fd, timeout);
    if (err == FT_OK)
        err = handshake(c, cfg);
    c->conn.keepalives = err == FT_OK;
    if (err != FT_OK) {
        snprintf(errbuf, errlen, "%s",
                 err == FT_ERR_NOMEM ? "out of memory" : c->err);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    ft_client_close(c);
    return err;
}

enum ft_err ft_client_connect(struct ft_client **out,
                              const struct ft_client_config *cfg,
                              char *errbuf, size_t errlen)
{
    const char *host = cfg->host != NULL ? cfg->host : FT_DEFAULT_HOST;
    uint16_t port = cfg->port != 0 ? cfg->port : FT_DEFAULT_PORT;
    int timeout = cfg->timeout_ms != 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    char why[FT_ERROR_TEXT_MAX + 256];
    enum ft_err err;
    int fd = -1;

    *out = NULL;
    for (int attempt = 0;; attempt++) {
        err = ft_net_connect(host, port,
                             cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms
                                                          : timeout,
                             &fd, why, sizeof(why));
        if (err == FT_OK)
            err = ft_client_attach(out, fd, cfg, why, sizeof(why));
        /* A server at its limit of clients is often so for a moment only
         * (our own last session still closing, say): ask again, a few
         * times, waiting longer each time. */
        if (err != FT_ERR_BUSY || attempt == BUSY_RETRIES)
            break;
        poll(NULL, 0, BUSY_RETRY_MS << attempt);
    }
    if (err == FT_OK) {
        err = check_pin(*out, cfg, host, port);
        if (err != FT_OK) {
            snprintf(why, sizeof(why), "%s", (*out)->err);
            ft_client_close(*out);
            *out = NULL;
        }
    }
    if (err == FT_ERR_CONNECT)
        snprintf(errbuf, errlen, "%s", why);
    else if (err != FT_OK)
        snprintf(errbuf, errlen, "%s port %u: %s", host, (unsigned)port, why);
    return err;
}

void ft_client_close(struct ft_client *c)
{
    if (c == NULL)
        return;
    ft_conn_free(&c->conn);
    free(c);
}

/* Starts a request: refuses when an earlier one broke the link. Names are
 * not checked here: the server is the authority on what it accepts. */
static enum ft_err begin_pipelined(struct ft_client *c)
{
    c->conn.peer_code = FT_OK;
    c->err[0] = '\0';
    if (c->broken) {
        set_error(c, "the connection was lost by an earlier request");
        return FT_ERR_CLOSED;
    }
    return FT_OK;
}

/* The same for a request that waits for its answer: none may be due. */
static enum ft_err begin(struct ft_client *c)
{
    enum ft_err err = begin_pipelined(c);

    if (err != FT_OK)
        return err;
    if (c->due_count > 0 || c->gets_due > 0) {
        set_error(c, "answers to pipelined requests are still due");
        return FT_ERR_USAGE;
    }
    return FT_OK;
}

/* Reads the answer to a request already sent: of type want, or an ERROR. */
static enum ft_err read_answer(struct ft_client *c, enum ft_msg_type want,
                               struct ft_msg *reply)
{
    enum ft_err err = ft_conn_recv(&c->conn, reply, c->conn.timeout_ms);

    if (err != FT_OK)
        return fail(c, last_words(c, err));
    if (reply->type == FT_MSG_ERROR)
        return fail(c, c->conn.peer_code);
    if (reply->type != want)
        return fail(c, FT_ERR_PROTOCOL);
    return FT_OK;
}

/* Sends req and waits for the answer of type want (or an ERROR). */
static enum ft_err request(struct ft_client *c, const struct ft_msg *req,
                           enum ft_msg_type want, struct ft_msg *reply)
{
    enum ft_err err = ft_conn_send(&c->conn, req);

    if (err != FT_OK)
        return fail(c, last_words(c, err));
    return read_answer(c, want, reply);
}

static uint32_t xfer_flags(const struct ft_client *c,
                           const struct ft_transfer_options *opt)
{
    uint32_t flags = 0;

    if (opt != NULL && opt->compress && (c->features & FT_FEATURE_ZLIB))
        flags |= FT_XFER_COMPRESS;
    if (opt == NULL || !opt->no_verify)
        flags |= FT_XFER_VERIFY;
    return flags;
}

/* Relays the connection's progress to the caller's callback, with the
 * total the caller cannot see from inside a chunk loop. */
struct progress_relay {
    const struct ft_transfer_options *opt;
    uint64_t total;
    struct ft_xfer_opts xo;
};

static void relay_progress(void *ctx, uint64_t done)
{
    const struct progress_relay *r = ctx;

    r->opt->progress(r->opt->progress_ctx, done, r->total);
}

/* The options of the next transfer: its progress reports routed to opt's
 * callback, if any, and opt's rate limit. */
static const struct ft_xfer_opts *watch(const struct ft_transfer_options *opt,
                                        struct progress_relay *relay,
                                        uint64_t total)
{
    relay->opt = opt;
    relay->total = total;
    relay->xo.progress = opt != NULL && opt->progress != NULL ? relay_progress : NULL;
    relay->xo.progress_ctx = relay;
    relay->xo.rate_limit = opt != NULL ? opt->rate_limit : 0;
    return &relay->xo;
}

static void report(struct ft_transfer *out, const struct ft_xfer_result *res,
                   int64_t started_ms)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    out->bytes = res->bytes;
    out->seconds = (double)(ft_io_now_ms() - started_ms) / 1000.0;
    out->verified = res->verified;
    if (res->verified)
        ft_hash_hex(res->digest, out->digest_hex);
}

/* put --continue: the server holds have bytes of an earlier run; compare
 * them with ours chunk by chunk and tell it where to go on from. */
static enum ft_err resume_put(struct ft_client *c, int in_fd, uint64_t have,
                              uint64_t *offset)
{
    struct ft_msg at = { .type = FT_MSG_RESUME_AT };
    uint64_t src_size = 0;
    int64_t src_mtime = 0;
    enum ft_err err = ft_resume_match_sums(&c->conn, in_fd, offset, &src_size,
                                           &src_mtime);

    if (err == FT_OK && *offset > have)
        err = FT_ERR_PROTOCOL;
    if (err != FT_OK)
        return fail(c, last_words(c, err));
    at.u.resume_at.offset = *offset;
    err = ft_conn_send(&c->conn, &at);
    if (err == FT_OK && lseek(in_fd, (off_t)*offset, SEEK_SET) < 0)
        err = FT_ERR_IO;
    return err == FT_OK ? FT_OK : fail(c, err);
}

/* A PUT of what in_fd holds, with extra_flags; a regular file's time and
 * mode go along. */
static void put_request(const struct ft_client *c, int in_fd, int64_t size,
                        const char *remote, const struct ft_transfer_options *opt,
                        uint32_t extra_flags, struct ft_msg *req)
{
    struct stat sb;

    req->u.put.flags = xfer_flags(c, opt) | extra_flags;
    req->u.put.size = size < 0 ? FT_SIZE_UNKNOWN : (uint64_t)size;
    req->u.put.name.ptr = (const uint8_t *)remote;
    req->u.put.name.len = strlen(remote);
    if (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        req->u.put.flags |= FT_XFER_META;
        req->u.put.mtime = (int64_t)sb.st_mtime;
        req->u.put.mode = (uint32_t)(sb.st_mode & 0777);
        /* A resume is checked whole, or not done at all. */
        if (opt != NULL && opt->resume && size >= 0 &&
            (req->u.put.flags & FT_XFER_VERIFY))
            req->u.put.flags |= FT_XFER_RESUME;
    }
}

enum ft_err ft_client_put(struct ft_client *c, int in_fd, int64_t size,
                          const char *remote,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out)
{
    struct ft_msg req = { .type = FT_MSG_PUT };
    struct ft_msg reply;
    struct ft_xfer_result res;
    struct progress_relay relay;
    uint64_t offset = 0, held = 0;
    int64_t started = ft_io_now_ms();
    enum ft_err err = begin(c);

    if (err != FT_OK)
        return err;
    memset(&res, 0, sizeof(res));
    put_request(c, in_fd, size, remote, opt, 0, &req);
    err = request(c, &req, FT_MSG_READY, &reply);
    if (err != FT_OK)
        return err;
    held = reply.u.ready.offset;
    if (req.u.put.flags & FT_XFER_RESUME) {
        err = resume_put(c, in_fd, held, &offset);
        if (err != FT_OK)
            return err;
    }
    errno = 0;
    err = ft_xfer_send_from(&c->conn, in_fd, req.u.put.flags, req.u.put.size,
                            offset, NULL, watch(opt, &relay, req.u.put.size), &res);
    if (err != FT_OK) {
        /* The server refused mid-stream and hung up, or the link died. */
        c->broken = true;
        return fail(c, last_words(c, err));
    }
    err = ft_conn_recv(&c->conn, &reply, c->conn.timeout_ms);
    if (err != FT_OK)
        return fail(c, err);
    if (reply.type == FT_MSG_ERROR)
        return fail(c, c->conn.peer_code);
    if (reply.type != FT_MSG_DONE || reply.u.done.count != res.bytes)
        return fail(c, FT_ERR_PROTOCOL);
    /* The server compared our digest with its own before it said DONE. */
    res.verified = (req.u.put.flags & FT_XFER_VERIFY) != 0;
    report(out, &res, started);
    if (out != NULL) {
        out->resumed_from = offset;
        out->restarted = (req.u.put.flags & FT_XFER_RESUME) && held > 0 &&
                         offset == 0;
    }
    return FT_OK;
}

bool ft_client_can_pipeline(const struct ft_client *c)
{
    return (c->features & FT_FEATURE_PIPELINE) != 0;
}

size_t ft_client_puts_due(const struct ft_client *c)
{
    return c->due_count;
}

enum ft_err ft_client_put_send(struct ft_client *c, int in_fd, int64_t size,
                               const char *remote,
                               const struct ft_transfer_options *opt)
{
    struct ft_msg req = { .type = FT_MSG_PUT };
    struct ft_xfer_result *res;
    struct ft_xfer_opts xo = { .rate_limit = opt != NULL ? opt->rate_limit : 0 };
    size_t at = (c->due_first + c->due_count) % FT_PIPELINE_MAX;
    enum ft_err err = begin_pipelined(c);

    if (err != FT_OK)
        return err;
    if (!ft_client_can_pipeline(c) || size < 0 || c->due_count == FT_PIPELINE_MAX ||
        c->gets_due > 0 || (opt != NULL && opt->resume)) {
        set_error(c, "this put cannot be pipelined");
        return FT_ERR_USAGE;
    }
    put_request(c, in_fd, size, remote, opt, FT_XFER_PIPELINE, &req);
    res = &c->due[at].res;
    memset(res, 0, sizeof(*res));
    c->due[at].started = ft_io_now_ms();
    err = ft_conn_send_more(&c->conn, &req); /* its data follows at once */
    if (err == FT_OK)
        err = ft_xfer_send_from(&c->conn, in_fd, req.u.put.flags, req.u.put.size,
                                0, NULL, &xo, res);
    if (err != FT_OK) {
        /* The server waits for the rest of this file: the link is out of
         * step. Unless it is dead, say we give this file up; the server
         * then answers the puts before it, and closes. */
        if (c->conn.peer_code == FT_OK && !c->conn.mid_frame &&
            ft_conn_send_error(&c->conn, FT_ERR_INTERRUPTED,
                               "client: gave up on '%s'", remote) == FT_OK)
            c->answers_after_break = true;
        c->broken = true;
        return fail(c, err);
    }
    /* The server compares our digest with its own before it says DONE. */
    res->verified = (req.u.put.flags & FT_XFER_VERIFY) != 0;
    c->due_count++;
    return FT_OK;
}

enum ft_err ft_client_put_wait(struct ft_client *c, struct ft_transfer *out)
{
    struct ft_msg reply;
    size_t at = c->due_first;
    enum ft_err err;

    c->conn.peer_code = FT_OK;
    c->err[0] = '\0';
    if (c->due_count == 0) {
        set_error(c, "no pipelined put is waiting for its answer");
        return FT_ERR_USAGE;
    }
    c->due_first = (c->due_first + 1) % FT_PIPELINE_MAX;
    c->due_count--;
    if (c->broken && !c->answers_after_break) {
        set_error(c, "the connection was lost before the server answered: the "
                     "file may or may not be stored");
        return FT_ERR_CLOSED;
    }
    err = ft_conn_recv(&c->conn, &reply, c->conn.timeout_ms);
    if (err != FT_OK) {
        c->answers_after_break = false;
        return fail(c, err);
    }
    if (reply.type == FT_MSG_ERROR)
        return fail(c, c->conn.peer_code);
    if (reply.type != FT_MSG_DONE || reply.u.done.count != c->due[at].res.bytes)
        return fail(c, FT_ERR_PROTOCOL);
    report(out, &c->due[at].res, c->due[at].started);
    return FT_OK;
}

static enum ft_err write_to_fd(void *ctx, const void *buf, size_t n)
{
    return ft_io_write_file(*(int *)ctx, buf, n);
}

/* The part file's companion, ".NAME.ft-part.src": the size and mtime of
 * the remote file the part came from, so that a changed source is not
 * resumed. */
static void write_source(const char *tmp, uint64_t size, int64_t mtime)
{
    char path[4200], line[64];
    int fd, n;

    snprintf(path, sizeof(path), "%s.src", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRId64 "\n", size, mtime);
    ft_io_write_file(fd, line, (size_t)n);
    close(fd);
}

static bool read_source(const char *tmp, uint64_t *size, int64_t *mtime)
{
    char path[4200];
    FILE *f;
    bool ok;

    snprintf(path, sizeof(path), "%s.src", tmp);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    ok = fscanf(f, "%" SCNu64 " %" SCNd64, size, mtime) == 2;
    fclose(f);
    return ok;
}

static void remove_source(const char *tmp)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s.src", tmp);
    unlink(path);
}

/* What a download resumes from: the part already in its file. */
struct part {
    int fd;
    uint64_t size;
    uint64_t src_size; /* the remote file's when the part was made */
    int64_t src_mtime;
};

/* The download proper. With part, the client first sends the digests of
 * the part's chunks; the server answers with where the data resumes, and
 * the part's prefix up to there is hashed into the whole-file check. With
 * sent, the request went out earlier, pipelined: only its answer is read,
 * and no DONE goes back. The server's READY is copied to *ready for the
 * caller. */
static enum ft_err get_into(struct ft_client *c, const char *remote, int out_fd,
                            const struct ft_transfer_options *opt,
                            struct ft_transfer *out, const struct part *part,
                            const char *part_path, bool sent,
                            struct ft_msg *ready)
{
    struct ft_msg req = { .type = FT_MSG_GET };
    struct ft_msg ack = { .type = FT_MSG_DONE };
    struct ft_xfer_result res;
    struct progress_relay relay;
    int64_t started = ft_io_now_ms();
    uint64_t offset;
    enum ft_err err = sent ? FT_OK : begin(c);

    if (err != FT_OK)
        return err;
    memset(&res, 0, sizeof(res));
    req.u.get.flags = xfer_flags(c, opt) | (part != NULL ? FT_XFER_RESUME : 0) |
                      (sent ? FT_XFER_PIPELINE : 0);
    req.u.get.name.ptr = (const uint8_t *)remote;
    req.u.get.name.len = strlen(remote);
    if (sent) {
        err = read_answer(c, FT_MSG_READY, ready);
        if (err != FT_OK)
            return err;
    } else if (part != NULL) {
        err = ft_conn_send(&c->conn, &req);
        if (err == FT_OK)
            err = ft_resume_send_sums(&c->conn, part->fd, part->size,
                                      part->src_size, part->src_mtime);
        if (err != FT_OK)
            return fail(c, last_words(c, err));
        err = read_answer(c, FT_MSG_READY, ready);
        if (err != FT_OK)
            return err;
    } else {
        err = request(c, &req, FT_MSG_READY, ready);
        if (err != FT_OK)
            return err;
    }
    offset = ready->u.ready.offset;
    /* Written before any data: a download killed from here on can still be
     * continued, and only from this source. A file of one resume chunk or
     * less could only start over: no note, which spares small files of a
     * get -r two file-system operations each. */
    if (part_path != NULL && ready->u.ready.size > FT_RESUME_CHUNK_BYTES)
        write_source(part_path, ready->u.ready.size, ready->u.ready.mtime);
    if (offset > ready->u.ready.size || (part == NULL && offset != 0) ||
        (part != NULL && offset > part->size))
        return fail(c, FT_ERR_PROTOCOL);
    if (part != NULL && (ftruncate(out_fd, (off_t)offset) != 0 ||
                         lseek(out_fd, (off_t)offset, SEEK_SET) < 0))
        return fail(c, FT_ERR_IO);
    errno = 0;
    err = ft_xfer_recv_from(&c->conn, req.u.get.flags, ready->u.ready.size,
                            UINT64_MAX, offset, out_fd, write_to_fd, &out_fd,
                            watch(opt, &relay, ready->u.ready.size), &res);
    if (err != FT_OK && err != FT_ERR_INTEGRITY && c->conn.peer_code != FT_OK)
        c->broken = true; /* the server hangs up after an ERROR mid-stream */
    /* The stream ended cleanly: tell the server, which logs it (a
     * pipelined GET is not answered: the server reads requests only). */
    if (err == FT_ERR_INTEGRITY && !sent)
        ft_conn_send_error(&c->conn, FT_ERR_INTEGRITY,
                           "client: digest mismatch on '%s'", remote);
    if (err != FT_OK)
        return fail(c, err);
    ack.u.done.count = res.bytes;
    err = sent ? FT_OK : ft_conn_send(&c->conn, &ack);
    if (err != FT_OK)
        return fail(c, err);
    report(out, &res, started);
    if (out != NULL) {
        out->mtime = ready->u.ready.mtime;
        out->mode = ready->u.ready.mode;
        out->resumed_from = offset;
    }
    return FT_OK;
}

enum ft_err ft_client_get(struct ft_client *c, const char *remote, int out_fd,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out)
{
    struct ft_msg ready;

    return get_into(c, remote, out_fd, opt, out, NULL, NULL, false, &ready);
}

/* The temporary name a download is written under: ".NAME.ft-part" in the
 * directory of the final name, so that the rename stays on one file
 * system and an interrupted download never sits under the final name. */
static int partial_path(const char *local, char *out, size_t cap)
{
    char *copy_dir = strdup(local);
    char *copy_base = strdup(local);
    int n = -1;

    if (copy_dir != NULL && copy_base != NULL)
        n = snprintf(out, cap, "%s/.%s.ft-part", dirname(copy_dir),
                     basename(copy_base));
    free(copy_dir);
    free(copy_base);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Gives a download the server's modification time, and its executable bits
 * where the file is readable, as cp -p would (the rest follows umask). */
static int keep_metadata(int fd, const struct ft_transfer *t)
{
    struct timespec times[2] = {
        { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
        { .tv_sec = (time_t)t->mtime, .tv_nsec = 0 },
    };
    struct stat sb;
    mode_t exec;

    if (fstat(fd, &sb) != 0)
        return -1;
    exec = (mode_t)(t->mode & 0111) & ((sb.st_mode & 0444) >> 2);
    if (exec != 0 && fchmod(fd, (sb.st_mode & 07777) | exec) != 0)
        return -1;
    return futimens(fd, times);
}

/* Failures after which the part is worth keeping: the link went, not the
 * content. */
static bool worth_resuming(enum ft_err err)
{
    return err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT ||
           err == FT_ERR_TAMPERED || err == FT_ERR_INTERRUPTED;
}

/* A pipelined GET's answer that has nowhere to go is read all the same,
 * into /dev/null, so that the answers after it stay in step. Returns err. */
static enum ft_err drop_answer(struct ft_client *c, const char *remote,
                               const struct ft_transfer_options *opt,
                               enum ft_err err)
{
    struct ft_msg ready;
    char why[sizeof(c->err)];
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

    memcpy(why, c->err, sizeof(why));
    if (fd >= 0) {
        /* A failure here that leaves the stream out of step breaks it. */
        get_into(c, remote, fd, opt, NULL, NULL, NULL, true, &ready);
        close(fd);
    } else {
        c->broken = true;
    }
    memcpy(c->err, why, sizeof(why));
    return err;
}

/* ft_client_get_file, or with sent the answer to a pipelined GET. */
static enum ft_err get_file(struct ft_client *c, const char *remote,
                            const char *local_path,
                            const struct ft_transfer_options *opt,
                            struct ft_transfer *out, bool sent)
{
    struct ft_transfer t;
    struct ft_msg ready = { .type = FT_MSG_ERROR };
    struct part part = { .fd = -1 };
    struct stat sb;
    char tmp[4096];
    bool resuming = false;
    bool fresh = false; /* the part file is new: no earlier run's note */
    enum ft_err err;
    int fd;

    memset(&t, 0, sizeof(t));
    if (partial_path(local_path, tmp, sizeof(tmp)) != 0) {
        set_error(c, "%s: name too long", local_path);
        return sent ? drop_answer(c, remote, opt, FT_ERR_USAGE) : FT_ERR_USAGE;
    }
    if (!sent && opt != NULL && opt->resume) {
        fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        resuming = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
                   read_source(tmp, &part.src_size, &part.src_mtime);
        if (!resuming && fd >= 0)
            close(fd);
        if (resuming) {
            part.fd = fd;
            part.size = (uint64_t)sb.st_size;
        }
    }
    if (!resuming) {
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        fresh = fd >= 0;
        if (fd < 0 && errno == EEXIST)
            fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    }
    if (fd < 0) {
        set_error(c, "%s: %s", tmp, strerror(errno));
        return sent ? drop_answer(c, remote, opt, FT_ERR_IO) : FT_ERR_IO;
    }
    err = get_into(c, remote, fd, opt, &t, resuming ? &part : NULL, tmp, sent,
                   &ready);
    if (err == FT_OK && keep_metadata(fd, &t) != 0) {
        err = FT_ERR_IO;
        set_error(c, "%s: %s", tmp, strerror(errno));
    }
    if (close(fd) != 0 && err == FT_OK) {
        err = FT_ERR_IO;
        set_error(c, "%s: %s", tmp, strerror(errno));
    }
    if (err == FT_OK && rename(tmp, local_path) != 0) {
        err = FT_ERR_IO;
        set_error(c, "%s: %s", local_path, strerror(errno));
    }
    if (err == FT_OK || !worth_resuming(err)) {
        if (err != FT_OK)
            unlink(tmp);
        /* A note is there only if this run wrote one (get_into: for a file
         * over one chunk) or an earlier one left it beside its part. */
        if (!fresh || (ready.type == FT_MSG_READY &&
                       ready.u.ready.size > FT_RESUME_CHUNK_BYTES))
            remove_source(tmp);
    }
    if (err == FT_OK && out != NULL) {
        t.restarted = resuming && t.resumed_from == 0 && part.size > 0;
        *out = t;
    }
    return err;
}

enum ft_err ft_client_get_file(struct ft_client *c, const char *remote,
                               const char *local_path,
                               const struct ft_transfer_options *opt,
                               struct ft_transfer *out)
{
    return get_file(c, remote, local_path, opt, out, false);
}

enum ft_err ft_client_get_send(struct ft_client *c, const char *remote,
                               const struct ft_transfer_options *opt)
{
    struct ft_msg req = { .type = FT_MSG_GET };
    enum ft_err err = begin_pipelined(c);

    if (err != FT_OK)
        return err;
    if (!ft_client_can_pipeline(c) || c->due_count > 0 ||
        c->gets_due == FT_PIPELINE_MAX || (opt != NULL && opt->resume)) {
        set_error(c, "this get cannot be pipelined");
        return FT_ERR_USAGE;
    }
    req.u.get.flags = xfer_flags(c, opt) | FT_XFER_PIPELINE;
    req.u.get.name.ptr = (const uint8_t *)remote;
    req.u.get.name.len = strlen(remote);
    err = ft_conn_send(&c->conn, &req);
    if (err != FT_OK)
        return fail(c, err);
    c->gets_due++;
    return FT_OK;
}

size_t ft_client_gets_due(const struct ft_client *c)
{
    return c->gets_due;
}

void ft_client_batch_begin(struct ft_client *c)
{
    ft_conn_cork(&c->conn, true);
}

void ft_client_batch_end(struct ft_client *c)
{
    ft_conn_cork(&c->conn, false);
}

/* Takes the oldest pipelined get's answer as the one to read now. */
static enum ft_err take_get_answer(struct ft_client *c)
{
    if (c->gets_due == 0) {
        set_error(c, "no pipelined get is waiting for its answer");
        return FT_ERR_USAGE;
    }
    c->gets_due--;
    return begin_pipelined(c);
}

enum ft_err ft_client_get_drop(struct ft_client *c,
                               const struct ft_transfer_options *opt)
{
    enum ft_err err = take_get_answer(c);

    return err != FT_OK ? err : drop_answer(c, "", opt, FT_OK);
}

enum ft_err ft_client_get_file_wait(struct ft_client *c, const char *remote,
                                    const char *local_path,
                                    const struct ft_transfer_options *opt,
                                    struct ft_transfer *out)
{
    enum ft_err err = take_get_answer(c);

    return err != FT_OK ? err : get_file(c, remote, local_path, opt, out, true);
}

enum ft_err ft_client_list(struct ft_client *c, ft_list_fn fn, void *ctx)
{
    return ft_client_list_folder(c, NULL, false, fn, ctx);
}

enum ft_err ft_client_list_folder(struct ft_client *c, const char *folder,
                                  bool recursive, ft_list_fn fn, void *ctx)
{
    struct ft_msg req = { .type = FT_MSG_LIST };
    struct ft_msg m;
    uint64_t seen = 0;
    enum ft_err err = begin(c);

    if (err != FT_OK)
        return err;
    req.u.list.flags = recursive ? FT_TREE_RECURSIVE : 0;
    req.u.list.folder.ptr = (const uint8_t *)(folder != NULL ? folder : "");
    req.u.list.folder.len = folder != NULL ? strlen(folder) : 0;
    err = ft_conn_send(&c->conn, &req);
    while (err == FT_OK) {
        char name[FT_PATH_MAX + 1];
        struct ft_entry e;

        err = ft_conn_recv(&c->conn, &m, c->conn.timeout_ms);
        if (err != FT_OK)
            break;
        if (m.type == FT_MSG_DONE)
            return m.u.done.count == seen ? FT_OK : fail(c, FT_ERR_PROTOCOL);
        if (m.type == FT_MSG_ERROR)
            return fail(c, c->conn.peer_code);
        if (m.type != FT_MSG_ENTRY ||
            ft_name_check(m.u.entry.name.ptr, m.u.entry.name.len) != FT_OK)
            return fail(c, FT_ERR_PROTOCOL);
        memcpy(name, m.u.entry.name.ptr, m.u.entry.name.len);
        name[m.u.entry.name.len] = '\0';
        e.name = name;
        e.size = m.u.entry.size;
        e.mtime = m.u.entry.mtime;
        e.mode = m.u.entry.mode;
        e.is_dir = (m.u.entry.mode & FT_MODE_TYPE) == FT_MODE_DIR;
        seen++;
        if (fn(&e, ctx) != 0) {
            /* The rest of the listing is still on its way: drop the link. */
            set_error(c, "listing stopped by the caller");
            c->broken = true;
            return FT_ERR_INTERRUPTED;
        }
    }
    return fail(c, err);
}

enum ft_err ft_client_remove(struct ft_client *c, const char *remote)
{
    return ft_client_remove_tree(c, remote, false);
}

enum ft_err ft_client_remove_tree(struct ft_client *c, const char *remote,
                                  bool recursive)
{
    struct ft_msg req = { .type = FT_MSG_DELETE };
    struct ft_msg reply;
    enum ft_err err = begin(c);

    if (err != FT_OK)
        return err;
    req.u.del.flags = recursive ? FT_TREE_RECURSIVE : 0;
    req.u.del.name.ptr = (const uint8_t *)remote;
    req.u.del.name.len = strlen(remote);
    return request(c, &req, FT_MSG_DONE, &reply);
}

enum ft_err ft_client_move(struct ft_client *c, const char *from,
                           const char *to)
{
    struct ft_msg req = { .type = FT_MSG_MOVE };
    struct ft_msg reply;
    enum ft_err err = begin(c);

    if (err != FT_OK)
        return err;
    req.u.move.from.ptr = (const uint8_t *)from;
    req.u.move.from.len = strlen(from);
    req.u.move.to.ptr = (const uint8_t *)to;
    req.u.move.to.len = strlen(to);
    return request(c, &req, FT_MSG_DONE, &reply);
}

static enum ft_err stat_with(struct ft_client *c, const char *remote,
                             uint32_t flags, struct ft_stat *out)
{
    struct ft_msg req = { .type = FT_MSG_STAT };
    struct ft_msg reply;
    enum ft_err err = begin(c);

    if (err != FT_OK)
        return err;
    req.u.stat.name.ptr = (const uint8_t *)remote;
    req.u.stat.name.len = strlen(remote);
    req.u.stat.flags = flags;
    err = request(c, &req, FT_MSG_STAT_INFO, &reply);
    if (err != FT_OK)
        return err;
    out->size = reply.u.stat_info.size;
    out->mtime = reply.u.stat_info.mtime;
    out->mode = reply.u.stat_info.mode;
    ft_hash_hex(reply.u.stat_info.digest, out->digest_hex);
    return FT_OK;
}

enum ft_err ft_client_stat(struct ft_client *c, const char *remote,
                           struct ft_stat *out)
{
    return stat_with(c, remote, 0, out);
}

enum ft_err ft_client_stat_quick(struct ft_client *c, const char *remote,
                                 struct ft_stat *out)
{
    /* A server from before STAT had flags refuses them; those that know
     * PIPELINE know NO_HASH too. */
    return stat_with(c, remote, ft_client_can_pipeline(c) ? FT_STAT_NO_HASH : 0, out);
}
