/* client.c - the connection: handshake, pinning, requests, ls/rm/mv/stat/df. */
#define _GNU_SOURCE
#include "ft/client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "entries.h"
#include "ft/net.h"
#include "hash.h"
#include "name.h"
#include "noise.h"
#include "secure.h"

#define DEFAULT_TIMEOUT_MS 30000
/* How long to wait for the reason after the server cut a transfer short. */
#define LAST_WORDS_TIMEOUT_MS 2000
/* A busy server is asked again this many times, after 200, 400, 800 ms. */
#define BUSY_RETRIES 3
#define BUSY_RETRY_MS 200

void ft_client_set_error(struct ft_client *c, const char *fmt, ...)
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
    return c->conn.sealed;
}

const char *ft_client_protocol(const struct ft_client *c)
{
    return c->conn.sealed ? c->protocol : "plaintext";
}

const char *ft_client_server_key(const struct ft_client *c)
{
    return c->conn.sealed ? c->fingerprint : NULL;
}

bool ft_client_pinned_now(const struct ft_client *c)
{
    return c->pinned_now;
}

enum ft_failure ft_client_failure(enum ft_err err)
{
    switch (err) {
    case FT_ERR_OK:
        return FT_FAILURE_NONE;
    case FT_ERR_USAGE:
        return FT_FAILURE_USAGE;
    case FT_ERR_CONNECT:
    case FT_ERR_NOT_FT:
    case FT_ERR_VERSION:
    case FT_ERR_KEY_CHANGED:
        return FT_FAILURE_CONNECT;
    case FT_ERR_BAD_NAME:
    case FT_ERR_NOT_FOUND:
    case FT_ERR_NO_SPACE:
    case FT_ERR_TOO_LARGE:
    case FT_ERR_READ_ONLY:
    case FT_ERR_BUSY:
    case FT_ERR_DENIED:
    case FT_ERR_SERVER:
    case FT_ERR_TOKEN:
    case FT_ERR_UNKNOWN_KEY:
    case FT_ERR_KEY_REFUSED:
    case FT_ERR_NOT_ALLOWED:
    case FT_ERR_QUOTA:
        return FT_FAILURE_REFUSED;
    case FT_ERR_IO:
    case FT_ERR_NOMEM:
    case FT_ERR_CHANGED:
        return FT_FAILURE_LOCAL;
    case FT_ERR_INTEGRITY:
    case FT_ERR_TAMPERED:
        return FT_FAILURE_INTEGRITY;
    case FT_ERR_CLOSED:
    case FT_ERR_TIMEOUT:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
    case FT_ERR_INTERRUPTED:
        return FT_FAILURE_CONNECTION;
    }
    return FT_FAILURE_CONNECTION;
}

enum ft_err ft_client_fail(struct ft_client *c, enum ft_err err)
{
    int saved = errno;

    if (c->conn.peer_code != FT_OK) {
        ft_client_set_error(c, "server refused: %s", c->conn.peer_text);
        return c->conn.peer_code;
    }
    switch (err) {
    case FT_ERR_IO:
        ft_client_set_error(c, "local I/O error: %s", strerror(saved));
        break;
    case FT_ERR_TIMEOUT:
        ft_client_set_error(c, "the server stopped answering: nothing from it for "
                               "%d s (not even a heartbeat)",
                               c->conn.timeout_ms / 1000);
        break;
    case FT_ERR_CLOSED:
        ft_client_set_error(c, "the server closed the connection");
        break;
    case FT_ERR_INTEGRITY:
        ft_client_set_error(c, "integrity check failed: the BLAKE2b-256 digest of "
                               "the received data does not match the sender's; "
                               "nothing was kept");
        break;
    default:
        ft_client_set_error(c, "%s", ft_strerror(err));
        break;
    }
    if (err != FT_ERR_INTEGRITY)
        c->broken = true;
    return err;
}

enum ft_err ft_client_last_words(struct ft_client *c, enum ft_err err)
{
    struct ft_msg m;

    if (c->conn.peer_code != FT_OK || (err != FT_ERR_CLOSED && err != FT_ERR_IO))
        return err;
    if (ft_conn_recv(&c->conn, &m, LAST_WORDS_TIMEOUT_MS) == FT_OK &&
        m.type == FT_MSG_ERROR)
        return c->conn.peer_code;
    return err;
}

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

/* Sends HELLO and reads WELCOME; hello_out and welcome_out receive their
 * payloads, which the encrypted channel's prologue binds. */
static enum ft_err negotiate(struct ft_client *c, const struct ft_client_config *cfg,
                             struct ft_msg *welcome, uint8_t *hello_out,
                             size_t *hello_len, uint8_t *welcome_out,
                             size_t *welcome_len)
{
    struct ft_msg hello = { .type = FT_MSG_HELLO };
    enum ft_err err;

    hello.u.hello.version = FT_PROTO_VERSION;
    hello.u.hello.features = FT_FEATURE_SHARED | offered_channels(cfg);
    if (cfg->token != NULL)
        hello.u.hello.features |= FT_FEATURE_TOKEN;
    if ((hello.u.hello.features & FT_FEATURE_CHANNELS) == 0) {
        ft_client_set_error(c, "this machine has no AES-GCM in hardware: leave out "
                            "--cipher aes-256-gcm");
        return FT_ERR_USAGE;
    }
    err = ft_msg_encode(&hello, hello_out, FT_PROLOGUE_MAX / 2, hello_len);
    if (err == FT_OK)
        err = ft_conn_send(&c->conn, &hello);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    err = ft_conn_recv(&c->conn, welcome, c->conn.timeout_ms);
    if (err == FT_ERR_FRAME_TOO_BIG || err == FT_ERR_NOT_FT ||
        err == FT_ERR_PROTOCOL ||
        (err == FT_OK && welcome->type != FT_MSG_WELCOME &&
         welcome->type != FT_MSG_ERROR)) {
        ft_client_set_error(c, "the server does not speak the ft protocol");
        return FT_ERR_NOT_FT;
    }
    if (err != FT_OK)
        return ft_client_fail(c, err);
    if (welcome->type == FT_MSG_ERROR)
        return ft_client_fail(c, c->conn.peer_code);
    if (welcome->u.welcome.version != FT_PROTO_VERSION) {
        ft_client_set_error(c, "the server chose protocol version %u; this client "
                               "speaks %u", (unsigned)welcome->u.welcome.version,
                               FT_PROTO_VERSION);
        return FT_ERR_VERSION;
    }
    if (welcome->u.welcome.max_payload < FT_MIN_MAX_PAYLOAD) {
        ft_client_set_error(c, "the server's frame limit (%u bytes) is below the "
                               "minimum", (unsigned)welcome->u.welcome.max_payload);
        return FT_ERR_PROTOCOL;
    }
    if (c->conn.last_len > FT_PROLOGUE_MAX / 2)
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    memcpy(welcome_out, c->conn.buf, c->conn.last_len);
    *welcome_len = c->conn.last_len;
    c->features = welcome->u.welcome.features & FT_FEATURE_SHARED;
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
        ft_client_set_error(c, "the server offered an unencrypted connection, "
                               "which this client did not ask for: refusing");
        return FT_ERR_TAMPERED;
    }
    if (channel == FT_FEATURE_PLAINTEXT &&
        (cfg->token != NULL || cfg->server_key != NULL)) {
        /* Without the handshake neither a token nor a key can be checked. */
        ft_client_set_error(c, "the server offered an unencrypted connection, over "
                               "which its %s cannot be checked: refusing",
                               cfg->token != NULL ? "token" : "key");
        return cfg->token != NULL ? FT_ERR_TOKEN : FT_ERR_KEY_CHANGED;
    }
    if ((channel & offered) == 0 || (channel & (channel - 1)) != 0) {
        ft_client_set_error(c, "the server chose no channel this client offered");
        return FT_ERR_PROTOCOL;
    }
    if ((chosen & FT_FEATURE_TOKEN) && cfg->token == NULL) {
        ft_conn_send_error(&c->conn, FT_ERR_TOKEN, "client has no token");
        ft_client_set_error(c, "the server requires a token: pass --token-file "
                               "FILE or set FT_TOKEN_FILE");
        return FT_ERR_TOKEN;
    }
    if (!(chosen & FT_FEATURE_TOKEN) && cfg->token != NULL) {
        ft_client_set_error(c, "the server does not use a token, so it cannot "
                               "prove it knows ours: it may be an impostor; "
                               "refusing");
        return FT_ERR_TOKEN;
    }
    return FT_OK;
}

/* Refuses a changed key, and pins a new one (with pin_new; otherwise
 * c->pin_due says one is to be pinned). */
static enum ft_err check_pin(struct ft_client *c, const struct ft_client_config *cfg,
                             const char *host, uint16_t port, bool pin_new)
{
    char old[FT_FINGERPRINT_MAX];
    char why[512], target[300];
    enum ft_known known;
    enum ft_err err;

    if (cfg->server_key != NULL || cfg->known_hosts == NULL)
        return FT_OK;
    err = ft_keys_check_known_host(cfg->known_hosts, host, port, c->fingerprint,
                                   pin_new, &known, old, why, sizeof(why));
    if (err != FT_OK) {
        ft_client_set_error(c, "%s", why);
        return err;
    }
    c->pinned_now = known == FT_KNOWN_NEW && pin_new;
    c->pin_due = known == FT_KNOWN_NEW && !pin_new;
    if (known != FT_KNOWN_CHANGED)
        return FT_OK;
    /* As ft forget and ft trust take it: an IPv6 address in brackets. */
    snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             (unsigned)port);
    ft_client_set_error(c, "THE SERVER'S KEY HAS CHANGED. Pinned for %s port %u: "
                           "%s; offered now: %s. Someone may be intercepting the "
                           "connection. If the server's key was replaced on "
                           "purpose, pin the new one with 'ft trust %s %s' (or "
                           "forget the old one with 'ft forget %s'), or pass "
                           "--server-key %s", host, (unsigned)port, old,
                           c->fingerprint, target, c->fingerprint, target,
                           c->fingerprint);
    return FT_ERR_KEY_CHANGED;
}

/* With a token, a first contact's key is pinned only once the server has
 * shown that it knows the token too, which XXpsk3 leaves to its first
 * sealed frame: the KEEPALIVE it sends when it admits the client. An
 * impostor without the token cannot seal it. One round trip, on a first
 * contact with a token only. */
static enum ft_err pin_once_proved(struct ft_client *c,
                                   const struct ft_client_config *cfg,
                                   const char *host, uint16_t port)
{
    char why[512];
    struct ft_msg m;
    enum ft_err err;

    c->conn.keepalives = true;
    err = ft_conn_recv_any(&c->conn, &m, c->conn.timeout_ms);
    if (err == FT_OK && m.type == FT_MSG_ERROR)
        err = c->conn.peer_code;
    else if (err == FT_OK && m.type != FT_MSG_KEEPALIVE)
        err = FT_ERR_PROTOCOL;
    if (err != FT_OK)
        return ft_client_fail(c, err);
    err = ft_keys_pin_known_host(cfg->known_hosts, host, port, c->fingerprint,
                                 why, sizeof(why));
    if (err != FT_OK) {
        ft_client_set_error(c, "%s", why);
        return err;
    }
    c->pinned_now = true;
    return FT_OK;
}

/* HELLO, WELCOME and the Noise handshake. The server's key is checked
 * (against --server-key, or pinned for host and port when host is not NULL)
 * before the client proves its own: a server it does not trust never
 * learns who it is. */
static enum ft_err handshake(struct ft_client *c, const struct ft_client_config *cfg,
                             const char *host, uint16_t port)
{
    struct ft_secure_params params;
    struct ft_noise_handshake hs;
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
        err = ft_secure_client_begin(&c->conn, &hs, &params, &c->identity,
                                     server_key);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    c->protocol = ft_noise_protocol_name(cfg->token != NULL, params.cipher);
    ft_keys_fingerprint(server_key, c->fingerprint);
    if (cfg->server_key != NULL && strcmp(cfg->server_key, c->fingerprint) != 0) {
        ft_client_set_error(c, "the server's key is %s, not %s as given "
                               "(--server-key, or the remote's server-key)",
                            c->fingerprint, cfg->server_key);
        err = FT_ERR_KEY_CHANGED;
    } else if (host != NULL) {
        err = check_pin(c, cfg, host, port, cfg->token == NULL);
    }
    if (err != FT_OK) {
        ft_noise_handshake_wipe(&hs);
        return err;
    }
    err = ft_secure_client_finish(&c->conn, &hs);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    return c->pin_due ? pin_once_proved(c, cfg, host, port) : FT_OK;
}

/* ft_client_attach, pinning the server's key for host and port when host
 * is not NULL. */
static enum ft_err attach(struct ft_client **out, int fd,
                          const struct ft_client_config *cfg, const char *host,
                          uint16_t port, char *errbuf, size_t errlen)
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
    /* A client without a key of its own is given one for this connection,
     * which its extra connections (remember_how) share. */
    if (cfg->identity != NULL)
        c->identity = *cfg->identity;
    else
        ft_keys_generate(&c->identity);
    err = ft_conn_init(&c->conn, fd, timeout);
    if (err == FT_OK)
        err = handshake(c, cfg, host, port);
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

enum ft_err ft_client_attach(struct ft_client **out, int fd,
                             const struct ft_client_config *cfg,
                             char *errbuf, size_t errlen)
{
    return attach(out, fd, cfg, NULL, 0, errbuf, errlen);
}

/* What a striped transfer's extra connections need to be made as this
 * one was. */
static void remember_how(struct ft_client *c, const struct ft_client_config *cfg,
                         const char *host, uint16_t port)
{
    /* Nothing of the caller's: it may free or wipe its copies. */
    c->cfg = *cfg;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->cfg.host = c->host;
    c->cfg.port = port;
    c->cfg.identity = &c->identity;
    c->cfg.known_hosts = NULL;
    c->cfg.server_key = NULL; /* the key proved, c->fingerprint, is what counts */
    if (cfg->token != NULL)
        memcpy(c->token, cfg->token, FT_TOKEN_BYTES);
    c->cfg.token = cfg->token != NULL ? c->token : NULL;
    c->joinable = strlen(host) < sizeof(c->host);
}

enum ft_err ft_client_connect(struct ft_client **out,
                              const struct ft_client_config *cfg,
                              char *errbuf, size_t errlen)
{
    const char *host = cfg->host != NULL ? cfg->host : FT_DEFAULT_HOST;
    uint16_t port = cfg->port != 0 ? cfg->port : FT_DEFAULT_PORT;
    int timeout = cfg->timeout_ms != 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    char why[FT_CLIENT_ERROR_MAX];
    enum ft_err err;
    int fd = -1;

    *out = NULL;
    for (int attempt = 0;; attempt++) {
        err = ft_net_connect(host, port,
                             cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms
                                                          : timeout,
                             &fd, why, sizeof(why));
        if (err == FT_OK)
            err = attach(out, fd, cfg, host, port, why, sizeof(why));
        /* A server at its limit of clients is often so for a moment only
         * (our own last session still closing, say): ask again, a few
         * times, waiting longer each time. */
        if (err != FT_ERR_BUSY || attempt == BUSY_RETRIES)
            break;
        poll(NULL, 0, BUSY_RETRY_MS << attempt);
    }
    if (err == FT_OK)
        remember_how(*out, cfg, host, port);
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
    ft_client_pipeline_free(c);
    ft_client_stripes_drop(c);
    ft_conn_free(&c->conn);
    ft_keys_wipe(&c->identity, sizeof(c->identity));
    ft_keys_wipe(c->token, sizeof(c->token));
    free(c);
}

enum ft_err ft_client_begin_pipelined(struct ft_client *c)
{
    c->conn.peer_code = FT_OK;
    c->err[0] = '\0';
    if (c->broken) {
        ft_client_set_error(c, "the connection was lost by an earlier request");
        return FT_ERR_CLOSED;
    }
    return FT_OK;
}

enum ft_err ft_client_begin(struct ft_client *c)
{
    enum ft_err err = ft_client_begin_pipelined(c);

    if (err != FT_OK)
        return err;
    if (ft_client_puts_due(c) > 0 || ft_client_gets_due(c) > 0) {
        ft_client_set_error(c, "answers to pipelined requests are still due");
        return FT_ERR_USAGE;
    }
    return FT_OK;
}

enum ft_err ft_client_read_answer(struct ft_client *c, enum ft_msg_type want,
                                  struct ft_msg *reply)
{
    enum ft_err err = ft_conn_recv(&c->conn, reply, c->conn.timeout_ms);

    if (err != FT_OK)
        return ft_client_fail(c, ft_client_last_words(c, err));
    if (reply->type == FT_MSG_ERROR)
        return ft_client_fail(c, c->conn.peer_code);
    if (reply->type != want)
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    return FT_OK;
}

enum ft_err ft_client_request(struct ft_client *c, const struct ft_msg *req,
                              enum ft_msg_type want, struct ft_msg *reply)
{
    enum ft_err err = ft_conn_send(&c->conn, req);

    if (err != FT_OK)
        return ft_client_fail(c, ft_client_last_words(c, err));
    return ft_client_read_answer(c, want, reply);
}

enum ft_err ft_client_list(struct ft_client *c, ft_list_fn fn, void *ctx)
{
    return ft_client_list_folder(c, NULL, false, fn, ctx);
}

bool ft_client_names_top(const char *folder)
{
    const char *p = folder;

    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, "/");

        if (n > 1 || (n == 1 && *p != '.'))
            return false;
        p += n + (p[n] == '/');
    }
    return true;
}

/* One entry of a listing, ENTRY's or unpacked from ENTRIES, to the caller.
 * Below the top, ".ft" is a name like any other. */
static enum ft_err take_entry(struct ft_client *c, bool top, const char *name,
                              size_t len, const struct ft_entries_item *it,
                              ft_list_fn fn, void *ctx)
{
    char held[FT_PATH_MAX + 1];
    struct ft_entry e;

    if ((top ? ft_name_check : ft_name_check_below)(name, len) != FT_OK)
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    memcpy(held, name, len);
    held[len] = '\0';
    e.name = held;
    e.size = it->size;
    e.mtime = it->mtime;
    e.mode = it->mode;
    e.is_dir = (it->mode & FT_MODE_TYPE) == FT_MODE_DIR;
    if (fn(&e, ctx) != 0) {
        /* The rest of the listing is still on its way: drop the link. */
        ft_client_set_error(c, "listing stopped by the caller");
        c->broken = true;
        return FT_ERR_INTERRUPTED;
    }
    return FT_OK;
}

static enum ft_err take_packed(struct ft_client *c, bool top,
                               struct ft_entries_state *st,
                               struct ft_bytes b, uint64_t *seen,
                               ft_list_fn fn, void *ctx)
{
    size_t off = 0;
    enum ft_err err = FT_OK;

    while (err == FT_OK && off < b.len) {
        struct ft_entries_item it;

        if (ft_entries_next(st, b.ptr, b.len, &off, &it) != FT_OK)
            return ft_client_fail(c, FT_ERR_PROTOCOL);
        (*seen)++;
        err = take_entry(c, top, st->prev, st->prev_len, &it, fn, ctx);
    }
    return err;
}

/* Asks for the packed form when the server has it: one ENTRIES frame then
 * carries hundreds of entries, where ENTRY carries one. */
enum ft_err ft_client_list_folder(struct ft_client *c, const char *folder,
                                  bool recursive, ft_list_fn fn, void *ctx)
{
    struct ft_msg req = { .type = FT_MSG_LIST };
    struct ft_msg m;
    struct ft_entries_state *st = NULL;
    uint64_t seen = 0;
    bool packed = (c->features & FT_FEATURE_LIST_PACKED) != 0;
    enum ft_err err = ft_client_begin(c);

    if (err != FT_OK)
        return err;
    if (ft_client_names_top(folder))
        folder = "";
    if (packed && (st = malloc(sizeof(*st))) == NULL)
        return FT_ERR_NOMEM;
    if (st != NULL)
        ft_entries_start(st);
    req.u.list.flags = (recursive ? FT_TREE_RECURSIVE : 0) |
                       (packed ? FT_TREE_PACKED : 0);
    req.u.list.folder.ptr = (const uint8_t *)folder;
    req.u.list.folder.len = strlen(folder);
    err = ft_conn_send(&c->conn, &req);
    if (err != FT_OK)
        err = ft_client_fail(c, err);
    while (err == FT_OK) {
        err = ft_conn_recv(&c->conn, &m, c->conn.timeout_ms);
        if (err != FT_OK) {
            err = ft_client_fail(c, err);
        } else if (m.type == FT_MSG_DONE) {
            err = m.u.done.count == seen ? FT_OK
                                         : ft_client_fail(c, FT_ERR_PROTOCOL);
            break;
        } else if (m.type == FT_MSG_ERROR) {
            err = ft_client_fail(c, c->conn.peer_code);
        } else if (m.type == FT_MSG_ENTRIES && st != NULL) {
            err = take_packed(c, folder[0] == '\0', st, m.u.entries.bytes,
                              &seen, fn, ctx);
        } else if (m.type == FT_MSG_ENTRY) {
            struct ft_entries_item it = { m.u.entry.size, m.u.entry.mtime,
                                          m.u.entry.mode };

            seen++;
            err = take_entry(c, folder[0] == '\0',
                             (const char *)m.u.entry.name.ptr,
                             m.u.entry.name.len, &it, fn, ctx);
        } else {
            err = ft_client_fail(c, FT_ERR_PROTOCOL);
        }
    }
    free(st);
    return err;
}

static int hold_entry(const struct ft_entry *e, void *ctx)
{
    struct ft_listing *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct ft_entry *grown = realloc(l->entries, cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        l->entries = grown;
        l->cap = cap;
    }
    l->entries[l->n] = *e;
    l->entries[l->n].name = strdup(e->name);
    if (l->entries[l->n].name == NULL)
        return -1;
    l->n++;
    return 0;
}

enum ft_err ft_client_list_all(struct ft_client *c, const char *folder,
                               bool recursive, struct ft_listing *l)
{
    return ft_client_list_folder(c, folder, recursive, hold_entry, l);
}

void ft_listing_free(struct ft_listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->entries[i].name);
    free(l->entries);
    memset(l, 0, sizeof(*l));
}

/* Each request on a name: its message, and the flags it carries. */
static const struct {
    enum ft_msg_type type;
    uint32_t flags;
} name_ops[] = {
    [FT_NAME_STAT] = { FT_MSG_STAT, 0 },
    [FT_NAME_STAT_QUICK] = { FT_MSG_STAT, FT_STAT_NO_HASH },
    [FT_NAME_REMOVE] = { FT_MSG_DELETE, 0 },
    [FT_NAME_REMOVE_TREE] = { FT_MSG_DELETE, FT_TREE_RECURSIVE },
    [FT_NAME_MOVE] = { FT_MSG_MOVE, 0 },
    [FT_NAME_MKDIR] = { FT_MSG_MKDIR, 0 },
    [FT_NAME_MKDIR_PARENTS] = { FT_MSG_MKDIR, FT_MKDIR_PARENTS },
    [FT_NAME_TOUCH] = { FT_MSG_TOUCH, 0 },
};

/* Why the request r is not to be sent at all (the error is then set), or
 * FT_OK: an unknown one, or a MKDIR or TOUCH, which a server too old for
 * it would take for a broken peer. */
static enum ft_err name_unsendable(struct ft_client *c, const struct ft_name_request *r)
{
    if ((size_t)r->op >= sizeof(name_ops) / sizeof(*name_ops)) {
        ft_client_set_error(c, "unknown request on a name");
        return FT_ERR_USAGE;
    }
    if (name_ops[r->op].type == FT_MSG_MKDIR && !(c->features & FT_FEATURE_MKDIR)) {
        ft_client_set_error(c, "the server is too old to make folders: it does "
                               "not know MKDIR");
        return FT_ERR_VERSION;
    }
    if (r->op == FT_NAME_TOUCH && !(c->features & FT_FEATURE_DELTA)) {
        ft_client_set_error(c, "the server is too old to set a file's time "
                               "alone: it does not know TOUCH");
        return FT_ERR_VERSION;
    }
    if (r->op == FT_NAME_TOUCH && r->digest == NULL) {
        ft_client_set_error(c, "a touch needs the content's digest");
        return FT_ERR_USAGE;
    }
    return FT_OK;
}

static struct ft_bytes name_bytes(const char *name)
{
    struct ft_bytes b = { (const uint8_t *)name, strlen(name) };

    return b;
}

/* Sends the request r. */
static enum ft_err send_name_request(struct ft_client *c, const struct ft_name_request *r)
{
    struct ft_msg req;
    uint32_t flags = name_ops[r->op].flags;
    enum ft_err err;

    memset(&req, 0, sizeof(req));
    req.type = name_ops[r->op].type;
    switch (req.type) {
    case FT_MSG_STAT:
        /* A server from before STAT had flags refuses them; those that
         * know PIPELINE know NO_HASH too. */
        req.u.stat.flags = ft_client_can_pipeline(c) ? flags : 0;
        req.u.stat.name = name_bytes(r->name);
        break;
    case FT_MSG_DELETE:
        req.u.del.flags = flags;
        req.u.del.name = name_bytes(r->name);
        break;
    case FT_MSG_MOVE:
        req.u.move.from = name_bytes(r->name);
        req.u.move.to = name_bytes(r->to);
        break;
    case FT_MSG_TOUCH:
        req.u.touch.mtime = r->mtime;
        req.u.touch.mode = r->mode & 0777;
        memcpy(req.u.touch.digest, r->digest, FT_DIGEST_BYTES);
        req.u.touch.name = name_bytes(r->name);
        break;
    default:
        req.u.mkdir.flags = flags;
        req.u.mkdir.name = name_bytes(r->name);
        break;
    }
    err = ft_conn_send(&c->conn, &req);
    return err == FT_OK ? FT_OK : ft_client_fail(c, ft_client_last_words(c, err));
}

/* Reads the answer to the request r, sent earlier, into *a. */
static enum ft_err read_name_answer(struct ft_client *c, const struct ft_name_request *r,
                                    struct ft_name_answer *a)
{
    bool stat = name_ops[r->op].type == FT_MSG_STAT;
    struct ft_msg reply;
    enum ft_err err;

    memset(a, 0, sizeof(*a));
    err = ft_client_read_answer(c, stat ? FT_MSG_STAT_INFO : FT_MSG_DONE, &reply);
    if (err != FT_OK || !stat) {
        a->made = err == FT_OK && reply.u.done.count != 0;
        a->same = a->made && r->op == FT_NAME_TOUCH;
        return err;
    }
    a->st.size = reply.u.stat_info.size;
    a->st.mtime = reply.u.stat_info.mtime;
    a->st.mode = reply.u.stat_info.mode;
    a->st.is_dir = (a->st.mode & FT_MODE_TYPE) == FT_MODE_DIR;
    ft_hash_hex(reply.u.stat_info.digest, a->st.digest_hex);
    return FT_OK;
}

/* A batch of requests on names under way: which are sent, which answered,
 * and for those due, how each was sent (FT_OK, or why it was not). */
struct names_run {
    struct ft_client *c;
    const struct ft_name_request *reqs;
    size_t n, sent, told, window;
    enum ft_err unsent[FT_NAMES_WINDOW];
    bool stopped;  /* nothing more is sent: the caller stopped, or the link */
    bool dropping; /* the caller stopped: the answers due are not told */
};

/* Sends requests ahead until the window is full; they leave together. */
static void names_send_ahead(struct names_run *r)
{
    if (r->stopped || r->sent == r->n || r->sent - r->told == r->window)
        return;
    ft_client_batch_begin(r->c);
    while (!r->stopped && r->sent < r->n && r->sent - r->told < r->window) {
        const struct ft_name_request *q = &r->reqs[r->sent];
        enum ft_err err = name_unsendable(r->c, q);

        if (err == FT_OK)
            err = send_name_request(r->c, q);
        /* Unsent for a lost link: no request after it goes either. */
        r->stopped = err != FT_OK && r->c->broken;
        r->unsent[r->sent % FT_NAMES_WINDOW] = err;
        r->sent++;
    }
    ft_client_batch_end(r->c);
}

/* The outcome of the oldest request due, its error text set. */
static enum ft_err names_take(struct names_run *r, struct ft_name_answer *a)
{
    const struct ft_name_request *q = &r->reqs[r->told];
    enum ft_err unsent = r->unsent[r->told % FT_NAMES_WINDOW];

    r->c->conn.peer_code = FT_OK;
    r->c->err[0] = '\0';
    memset(a, 0, sizeof(*a));
    r->told++;
    if (unsent != FT_OK) {
        enum ft_err why = name_unsendable(r->c, q);

        return why != FT_OK ? why : ft_client_fail(r->c, unsent);
    }
    if (r->c->broken) {
        ft_client_set_error(r->c, "the connection was lost before the server "
                                  "answered");
        return FT_ERR_CLOSED;
    }
    return read_name_answer(r->c, q, a);
}

/* The window rides on PIPELINE: a server that negotiated it serves
 * requests strictly in turn, reading the next only once it has answered
 * the one before, whatever waits in its socket (PROTOCOL.md 9.9). Answers
 * are at most an ERROR each (about 550 bytes sealed): the window's worth
 * fits the socket buffers of both sides, so that the server never blocks
 * on an answer while we block on a request. */
enum ft_err ft_client_names(struct ft_client *c, const struct ft_name_request *reqs,
                            size_t n, ft_name_fn fn, void *ctx)
{
    struct names_run r = { .c = c, .reqs = reqs, .n = n,
                           .window = ft_client_can_pipeline(c) ? FT_NAMES_WINDOW : 1 };
    enum ft_err first;

    if (ft_client_touches_fit(c, reqs, n))
        return ft_client_touches(c, reqs, n, fn, ctx);
    first = ft_client_begin(c);
    if (first != FT_OK)
        return first;
    while (r.told < n) {
        struct ft_name_answer a;
        enum ft_err err;

        names_send_ahead(&r);
        if (r.told == r.sent)
            break; /* stopped: nothing more is due */
        err = names_take(&r, &a);
        if (err != FT_OK && c->broken)
            r.stopped = true;
        if (r.dropping)
            continue;
        if (first == FT_OK || (err != FT_OK && c->broken))
            first = err;
        r.dropping = fn(ctx, r.told - 1, err, &a) != 0;
        r.stopped = r.stopped || r.dropping;
    }
    return first;
}

size_t ft_client_names_ahead(const struct ft_client *c, enum ft_name_op op)
{
    if (!ft_client_can_pipeline(c))
        return 1;
    return op == FT_NAME_TOUCH && (c->features & FT_FEATURE_TOUCH_PACKED)
               ? FT_TOUCHES_WINDOW
               : FT_NAMES_WINDOW;
}

static int keep_answer(void *ctx, size_t i, enum ft_err err,
                       const struct ft_name_answer *a)
{
    (void)i;
    (void)err;
    *(struct ft_name_answer *)ctx = *a;
    return 0;
}

/* One request on a name, its answer into *out: a batch of one. */
static enum ft_err one_name(struct ft_client *c, enum ft_name_op op, const char *name,
                            const char *to, struct ft_name_answer *out)
{
    struct ft_name_request r = { .op = op, .name = name, .to = to };

    memset(out, 0, sizeof(*out));
    return ft_client_names(c, &r, 1, keep_answer, out);
}

enum ft_err ft_client_remove(struct ft_client *c, const char *remote)
{
    return ft_client_remove_tree(c, remote, false);
}

enum ft_err ft_client_remove_tree(struct ft_client *c, const char *remote,
                                  bool recursive)
{
    struct ft_name_answer a;

    return one_name(c, recursive ? FT_NAME_REMOVE_TREE : FT_NAME_REMOVE, remote,
                    NULL, &a);
}

enum ft_err ft_client_move(struct ft_client *c, const char *from,
                           const char *to)
{
    struct ft_name_answer a;

    return one_name(c, FT_NAME_MOVE, from, to, &a);
}

enum ft_err ft_client_mkdir(struct ft_client *c, const char *remote, bool parents,
                            bool *made)
{
    struct ft_name_answer a;
    enum ft_err err = one_name(c, parents ? FT_NAME_MKDIR_PARENTS : FT_NAME_MKDIR,
                               remote, NULL, &a);

    if (err == FT_OK && made != NULL)
        *made = a.made;
    return err;
}

static enum ft_err stat_by(struct ft_client *c, enum ft_name_op op,
                           const char *remote, struct ft_stat *out)
{
    struct ft_name_answer a;
    enum ft_err err = one_name(c, op, remote, NULL, &a);

    if (err == FT_OK)
        *out = a.st;
    return err;
}

enum ft_err ft_client_stat(struct ft_client *c, const char *remote,
                           struct ft_stat *out)
{
    return stat_by(c, FT_NAME_STAT, remote, out);
}

enum ft_err ft_client_stat_quick(struct ft_client *c, const char *remote,
                                 struct ft_stat *out)
{
    return stat_by(c, FT_NAME_STAT_QUICK, remote, out);
}

enum ft_err ft_client_usage(struct ft_client *c, struct ft_usage *out)
{
    struct ft_msg req = { .type = FT_MSG_USAGE };
    struct ft_msg reply;
    enum ft_err err = ft_client_begin(c);

    memset(out, 0, sizeof(*out));
    if (err != FT_OK)
        return err;
    if (!(c->features & FT_FEATURE_USAGE)) {
        ft_client_set_error(c, "the server does not support df: it is too old "
                               "to tell a client its usage");
        return FT_ERR_VERSION;
    }
    err = ft_client_request(c, &req, FT_MSG_USAGE_INFO, &reply);
    if (err != FT_OK)
        return err;
    out->bytes = reply.u.usage_info.bytes;
    out->pending_bytes = reply.u.usage_info.pending_bytes;
    out->quota_bytes = reply.u.usage_info.quota_bytes;
    out->files = reply.u.usage_info.files;
    out->pending_files = reply.u.usage_info.pending_files;
    out->quota_files = reply.u.usage_info.quota_files;
    return FT_OK;
}

void ft_client_wire_bytes(const struct ft_client *c, uint64_t *sent,
                          uint64_t *received)
{
    *sent = c->conn.wire_sent;
    *received = c->conn.wire_received;
}
