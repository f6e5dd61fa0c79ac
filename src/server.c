/* server.c - the server's life: open, listen, accept, the registry of
 * sessions, stop. */
#define _GNU_SOURCE
#include "server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "store.h"

#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_MAX_STREAMS 8
#define DEFAULT_IDLE_TIMEOUT_MS (300 * 1000)
#define DEFAULT_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define DEFAULT_PARTIAL_TTL_S (24 * 3600)
#define BUSY_GRACE_MS 100
#define ACCEPT_BACKOFF_MS 100
#define KEY_FILE "server.key" /* in the store's metadata folder */
/* What the stop pipe carries. */
#define ASK_STOP 1
#define ASK_RELOAD 2

/* Lists the calling session thread for reap; one that cannot be listed
 * (no memory) is detached instead, as all were before. Under srv->lock. */
static void list_ended(struct ft_server *srv)
{
    if (srv->nended == srv->ended_cap) {
        size_t cap = srv->ended_cap ? 2 * srv->ended_cap : 16;
        pthread_t *grown = realloc(srv->ended, cap * sizeof(*grown));

        if (grown == NULL) {
            pthread_detach(pthread_self());
            return;
        }
        srv->ended = grown;
        srv->ended_cap = cap;
    }
    srv->ended[srv->nended++] = pthread_self();
}

/* Joins the session threads that ended. */
static void reap(struct ft_server *srv)
{
    pthread_t *ended;
    size_t n;

    pthread_mutex_lock(&srv->lock);
    ended = srv->ended;
    n = srv->nended;
    srv->ended = NULL;
    srv->nended = srv->ended_cap = 0;
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < n; i++)
        pthread_join(ended[i], NULL);
    free(ended);
}

static void session_end(struct session *s)
{
    struct ft_server *srv = s->srv;

    pthread_mutex_lock(&srv->lock);
    if (s->own_thread)
        list_ended(srv);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    srv->active--;
    ft_metrics_disconnected(&srv->metrics);
    pthread_cond_broadcast(&srv->drained);
    pthread_mutex_unlock(&srv->lock);
    ft_conn_free(&s->conn);
    free(s);
}

static void *session_thread(void *arg)
{
    struct session *s = arg;

    ft_server_session_main(s);
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
    ft_metrics_refused(&srv->metrics, FT_REFUSED_BUSY);
    ft_server_log(srv, "%s turned away: server busy", peer);
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
    ft_metrics_connected(&srv->metrics);
    return s;
}

static void accept_one(struct ft_server *srv)
{
    struct session *s;
    char peer[FT_NET_PEER_MAX];
    pthread_t tid;
    int fd = -1;
    int rc;

    reap(srv); /* the sessions that ended since: their threads do not pile up */
    switch (ft_net_accept(srv->listen_fd, 0, &fd, peer, sizeof(peer))) {
    case FT_OK:
        break;
    case FT_ERR_TIMEOUT:
        return; /* another thread's, or a client that left */
    default:
        /* Out of descriptors, say: the listener stays readable, so wait a
         * moment instead of spinning. */
        ft_server_log(srv, "accept: %s", strerror(errno));
        poll(NULL, 0, ACCEPT_BACKOFF_MS);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    /* A client that reconnects at once may find its last session still
     * finishing (committing, freeing a replaced file): give sessions a
     * moment to end before turning anyone away. */
    if (srv->active >= srv->cfg.max_clients) {
        struct timespec until;

        ft_io_abstime(BUSY_GRACE_MS, &until);
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
    if (s != NULL)
        s->own_thread = true;
    pthread_mutex_unlock(&srv->lock);
    if (s == NULL)
        return;
    rc = pthread_create(&tid, NULL, session_thread, s);
    if (rc != 0) {
        ft_server_log(srv, "%s dropped: cannot start a thread", peer);
        s->own_thread = false;
        session_end(s);
    }
}

void ft_server_serve_fd(struct ft_server *srv, int fd, const char *peer)
{
    struct session *s;

    pthread_mutex_lock(&srv->lock);
    s = session_add(srv, fd, peer);
    pthread_mutex_unlock(&srv->lock);
    if (s == NULL)
        return;
    ft_server_session_main(s);
    session_end(s);
}

/* The long-term key: --key-file, or the store's metadata folder, opened
 * relative to the folder the store checked (a link put in the key's place
 * is refused). A read-only store that could make no metadata folder has
 * only the path. */
static bool key_missing(int meta_fd, const char *path)
{
    struct stat sb;

    if (meta_fd >= 0)
        return fstatat(meta_fd, KEY_FILE, &sb, AT_SYMLINK_NOFOLLOW) != 0 &&
               errno == ENOENT;
    return stat(path, &sb) != 0 && errno == ENOENT;
}

static enum ft_err load_key(struct ft_server *srv, char *errbuf, size_t errlen)
{
    int meta_fd = ft_store_meta_fd(srv->store);
    char *path = NULL;
    enum ft_err err;

    if (srv->cfg.key_file != NULL)
        path = strdup(srv->cfg.key_file);
    else if (asprintf(&path, "%s/%s/%s", srv->cfg.root, FT_STORE_META,
                      KEY_FILE) < 0)
        path = NULL;
    if (path == NULL)
        return FT_ERR_NOMEM;
    /* A read-only server writes nothing, not even its first key: it runs
     * on one that lives as long as it does. */
    srv->key_temporary = srv->cfg.key_file == NULL && srv->cfg.read_only &&
                         key_missing(meta_fd, path);
    if (srv->key_temporary) {
        ft_keys_generate(&srv->key);
        err = FT_OK;
    } else if (srv->cfg.key_file == NULL && meta_fd >= 0)
        err = ft_keys_load_or_create_at(meta_fd, KEY_FILE, path, &srv->key,
                                        &srv->key_created, errbuf, errlen);
    else
        err = ft_keys_load_or_create(path, &srv->key, &srv->key_created,
                                     errbuf, errlen);
    free(path);
    if (err == FT_OK)
        ft_keys_fingerprint(srv->key.public_key, srv->fingerprint);
    return err;
}

/* Opens the store at cfg.root, a folder or an S3 location; one on S3
 * keeps no key, so the key file must be given (the same on every server
 * of a bucket, so that clients' pins hold whichever answers). */
static enum ft_err open_store(struct ft_server *srv, char *errbuf, size_t errlen)
{
    struct ft_store_options opt = {
        .read_only = srv->cfg.read_only,
        .s3_endpoint = srv->cfg.s3_endpoint,
        .s3_region = srv->cfg.s3_region,
        .s3_access_key = srv->cfg.s3_access_key,
        .s3_secret_key = srv->cfg.s3_secret_key,
        .s3_path_style = true,
    };
    struct ft_store_location loc;
    enum ft_err err = ft_store_location_parse(srv->cfg.root, &loc, errbuf, errlen);

    if (err != FT_OK)
        return FT_ERR_USAGE; /* a location no store could be at */
    if (loc.scheme == FT_STORE_S3 && srv->cfg.key_file == NULL) {
        snprintf(errbuf, errlen, "%s: a store on S3 has no place for the server's "
                 "key: give --key-file FILE (the same file on every server of "
                 "the bucket)", srv->cfg.root);
        err = FT_ERR_USAGE;
    }
    if (err == FT_OK)
        err = ft_store_open_at(&srv->store, srv->cfg.root, &opt, errbuf, errlen);
    return err;
}

/* Uploads pipelined into a batch hold their descriptors until the batch
 * is committed: a server with many clients needs more than the usual soft
 * limit of 1024, and may take up to the hard one. What it gets, less each
 * session's own, is what the batches share. */
static void raise_fd_limit(struct ft_server *srv)
{
    struct rlimit rl = { .rlim_cur = 1024 };

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    ft_server_fd_budget_init(&srv->fds, rl.rlim_cur == RLIM_INFINITY
                                            ? UINT64_MAX : (uint64_t)rl.rlim_cur,
                             srv->cfg.max_clients);
}

/* The configuration with its defaults filled in; FT_ERR_USAGE (errbuf
 * says why) for one we cannot serve. */
static enum ft_err apply_config(struct ft_server *srv,
                                const struct ft_server_config *cfg,
                                char *errbuf, size_t errlen)
{
    srv->cfg = *cfg;
    if (srv->cfg.root == NULL)
        srv->cfg.root = FT_DEFAULT_ROOT;
    if (srv->cfg.host == NULL)
        srv->cfg.host = "127.0.0.1";
    if (srv->cfg.max_clients == 0)
        srv->cfg.max_clients = DEFAULT_MAX_CLIENTS;
    if (srv->cfg.max_streams == 0)
        srv->cfg.max_streams = DEFAULT_MAX_STREAMS;
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
        return FT_ERR_USAGE;
    }
    if (srv->cfg.clients_file != NULL && srv->cfg.allow_plaintext) {
        snprintf(errbuf, errlen, "a server with a clients file grants no "
                 "plaintext connections: a plaintext client cannot prove its key");
        return FT_ERR_USAGE;
    }
    if (cfg->token != NULL) {
        memcpy(srv->token, cfg->token, FT_TOKEN_BYTES);
        srv->cfg.token = srv->token;
    }
    return FT_OK;
}

enum ft_err ft_server_open(struct ft_server **out,
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
    srv->hook_fd = srv->metrics_fd = srv->metrics_wake[0] = srv->metrics_wake[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    pthread_cond_init(&srv->detached, NULL);
    err = apply_config(srv, cfg, errbuf, errlen);
    /* First: the launcher is forked before the store, key and threads. */
    if (err == FT_OK)
        err = ft_server_hooks_open(srv, errbuf, errlen);
    if (err == FT_OK)
        err = open_store(srv, errbuf, errlen);
    if (err == FT_OK)
        err = load_key(srv, errbuf, errlen);
    if (err == FT_OK)
        err = ft_quotas_new(srv->store, srv->cfg.partial_ttl_s, &srv->quotas);
    if (err == FT_OK && srv->cfg.clients_file != NULL)
        err = ft_clients_load(srv->cfg.clients_file, &srv->clients, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    ft_store_expire_partials(srv->store, srv->cfg.partial_ttl_s);
    raise_fd_limit(srv);
    *out = srv;
    srv = NULL;
out:
    ft_server_free(srv);
    return err;
}

enum ft_err ft_server_listen(struct ft_server *srv, char *errbuf, size_t errlen)
{
    enum ft_err err;

    if (srv->listen_fd >= 0)
        return FT_OK;
    if (srv->stop_pipe[0] < 0 &&
        pipe2(srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        return FT_ERR_IO;
    }
    /* The metrics port first: a server is listening only once both are. */
    err = ft_server_metrics_listen(srv, errbuf, errlen);
    if (err == FT_OK)
        err = ft_net_listen(srv->cfg.host, srv->cfg.port, &srv->listen_fd,
                            &srv->port, errbuf, errlen);
    return err;
}

enum ft_err ft_server_start(struct ft_server **out,
                            const struct ft_server_config *cfg, char *errbuf,
                            size_t errlen)
{
    struct ft_server *srv = NULL;
    enum ft_err err = ft_server_open(&srv, cfg, errbuf, errlen);

    if (err == FT_OK)
        err = ft_server_listen(srv, errbuf, errlen);
    if (err != FT_OK) {
        ft_server_free(srv);
        srv = NULL;
    }
    *out = srv;
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

bool ft_server_key_temporary(const struct ft_server *s)
{
    return s->key_temporary;
}

/* Tells ft_server_run what to do; safe in a signal handler. */
static void ask(struct ft_server *s, char what)
{
    ssize_t ignored = write(s->stop_pipe[1], &what, 1);

    (void)ignored; /* a full pipe already holds a request: run reads on */
}

void ft_server_stop(struct ft_server *s)
{
    ask(s, ASK_STOP);
}

void ft_server_ask_reload(struct ft_server *s)
{
    ask(s, ASK_RELOAD);
}

enum ft_err ft_server_reload(struct ft_server *srv, char *errbuf, size_t errlen)
{
    struct ft_clients *fresh = NULL, *old;
    enum ft_err err;

    if (srv->cfg.clients_file == NULL) {
        ft_server_log(srv, "reload: no clients file to reread");
        return FT_OK;
    }
    err = ft_clients_load(srv->cfg.clients_file, &fresh, errbuf, errlen);
    if (err != FT_OK) {
        ft_server_log(srv, "reload: %s; the clients file read before stays in "
                      "force", errbuf);
        return err;
    }
    ft_server_log(srv, "reload: %s read, %zu keys", srv->cfg.clients_file,
                  ft_clients_count(fresh));
    pthread_mutex_lock(&srv->lock);
    old = srv->clients;
    srv->clients = fresh;
    pthread_mutex_unlock(&srv->lock);
    ft_clients_free(old);
    return FT_OK;
}

/* Reads what the stop pipe holds: true to stop. Reloads asked for
 * meanwhile come to one; a stop makes them moot. */
static bool take_requests(struct ft_server *srv)
{
    char bytes[64];
    ssize_t n;
    bool stop = false, reload = false;
    char err[512];

    while ((n = read(srv->stop_pipe[0], bytes, sizeof(bytes))) > 0) {
        stop = stop || memchr(bytes, ASK_STOP, (size_t)n) != NULL;
        reload = reload || memchr(bytes, ASK_RELOAD, (size_t)n) != NULL;
    }
    if (!stop && reload)
        ft_server_reload(srv, err, sizeof(err)); /* it logs what came of it */
    return stop;
}

enum ft_err ft_server_run(struct ft_server *srv)
{
    struct pollfd p[2] = {
        { .fd = srv->listen_fd, .events = POLLIN },
        { .fd = srv->stop_pipe[0], .events = POLLIN },
    };

    if (srv->listen_fd < 0)
        return FT_ERR_USAGE; /* opened, never listening */
    ft_server_metrics_start(srv);
    ft_server_hooks_start(srv);
    for (;;) {
        int rc = poll(p, 2, -1);

        if (rc < 0 && errno != EINTR) {
            ft_server_log(srv, "poll: %s: stopping", strerror(errno));
            break; /* through the shutdown below: sessions still use srv */
        }
        if (rc <= 0)
            continue;
        if (p[1].revents && take_requests(srv))
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
    reap(srv);
    ft_server_metrics_stop(srv);
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
    ft_server_metrics_close(srv);
    ft_server_hooks_close(srv);
    ft_quotas_free(srv->quotas);
    ft_store_close(srv->store);
    ft_clients_free(srv->clients);
    sodium_memzero(&srv->key, sizeof(srv->key));
    sodium_memzero(srv->token, sizeof(srv->token));
    reap(srv);
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
