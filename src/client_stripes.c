/* client_stripes.c - one large file over several connections: how many,
 * joining them to the transfer, and the threads that move its units. */
#include "ft/client.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "client_int.h"
#include "ft/net.h"
#include "io.h"
#include "stripe.h"

/* A round trip at least this long is a long path: one TCP stream there
 * stops short of the link (its window is bounded by the kernel's buffer
 * limits), while on a LAN or loopback it fills it alone. */
#define LONG_PATH_US 4000u
/* By default a file is striped only when it is large enough for the
 * connections to pay for their handshakes. */
#define AUTO_MIN_BYTES (16u * FT_STRIPE_UNIT)
/* Streams by default. From 50 ms on, one stream's window takes long to
 * fill and stops short of most links: all eight at once, the seven extra
 * ones opened while the request travels. Each stream spends its first
 * round trips in slow start, and eight that start together leave it
 * sooner than four followed by late ones (at 100 ms and 400 Mbit/s, 1 GiB:
 * four and a ramp 40.8-42.9 MB/s put, 42.6-43.2 get; eight 42.9-44.4 and
 * 43.1-44.8). Below, one stream fills a link of hundreds of Mbit/s: it
 * starts alone, and another joins each half second only while those there
 * run near the most their send buffers allow per round trip (more streams
 * there only overflow the router's queue: measured at 20 ms, two streams
 * 0.86 of the link, one 0.92). */
#define AUTO_FIRST_STREAMS 1u
#define AUTO_FIRST_STREAMS_FAR 8u
#define FAR_PATH_US 50000u
#define AUTO_MAX_STREAMS 8u
#define RAMP_PERIOD_MS 500
/* A stream carries about half its send buffer per round trip (nc over
 * 100 ms: 0.58 of 4 MiB a round trip); streams that move more than this
 * share of that are bound by their windows, not by the link. */
#define STREAM_WINDOW_SHARE 0.5
#define WINDOW_BOUND 0.6
#define DEFAULT_WMEM_MAX (4.0 * 1024 * 1024)
/* How often the controlling thread reports progress and looks at the
 * streams. */
#define TICK_MS 100
/* A connection opened while the request travels waits this long at most
 * for the server's STREAMS: well inside the server's handshake limit (10 s
 * by default), which a connection that has sent no request yet is held to
 * when the server has a token. */
#define EARLY_WAIT_MS 5000

/* Where a transfer's extra connections stand: opened early, they wait for
 * the ticket; then they join, or they close without a request (the server
 * sees a client that came and went, nothing it logs as an error). */
enum phase { WAITING, GO, CANCELLED };

struct stream {
    pthread_t tid;
    struct ft_client_stripes *run;
    bool main;          /* the request's own connection */
    atomic_bool done;
    enum ft_err err;
    int fd;             /* a joined one's socket while open, under run.lock */
    bool joined;        /* it joined: it carried (or could carry) units */
    bool dismissed;     /* opened early, then not needed; under run.lock */
};

struct ft_client_stripes {
    struct ft_client *c;
    struct ft_stripes st;
    bool sending;
    uint32_t flags;
    uint8_t ticket[FT_JOIN_TICKET_BYTES];
    uint8_t secret[FT_JOIN_SECRET_BYTES];
    struct ft_xfer_result *res;
    struct stream streams[FT_MAX_STREAMS];
    unsigned started, cap;
    atomic_uint running;
    pthread_mutex_t lock;
    pthread_cond_t moved_on; /* phase changed */
    enum phase phase;        /* set by the caller's thread, under lock */
    bool reaped;             /* run_streams waited for every thread */
    unsigned used; /* connections that joined, the request's included */
};

/* The round trip of the connection's path, as TCP measured it so far. */
static uint32_t path_rtt_us(const struct ft_client *c)
{
    uint32_t rtt = 0;

    return ft_net_rtt_us(c->conn.fd, &rtt) ? rtt : 0;
}

/* How many streams a transfer starts with: want (--streams), or by the
 * path. */
static unsigned first_streams(const struct ft_client *c, unsigned want)
{
    if (want > 1)
        return want < FT_MAX_STREAMS ? want : FT_MAX_STREAMS;
    return path_rtt_us(c) >= FAR_PATH_US ? AUTO_FIRST_STREAMS_FAR : AUTO_FIRST_STREAMS;
}

static bool add_stream(struct ft_client_stripes *r);

/* A transfer's streams, none started yet: the first slot is kept for the
 * request's connection. */
static struct ft_client_stripes *new_run(struct ft_client *c)
{
    struct ft_client_stripes *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->moved_on, NULL);
    r->c = c;
    r->phase = WAITING;
    r->started = 1;
    return r;
}

/* The connections a transfer will start with besides the request's own,
 * opened now, while the request travels, instead of once STREAMS is back:
 * on a long path that saves them the round trips of TCP and the handshake.
 * Not for a resume, whose answer waits for the server to compare chunks. */
static void open_early(struct ft_client *c, const struct ft_transfer_options *opt)
{
    unsigned n = first_streams(c, opt != NULL ? opt->streams : 0);
    struct ft_client_stripes *r;

    if (n < 2 || (opt != NULL && opt->resume))
        return;
    r = new_run(c);
    if (r == NULL)
        return; /* they will be opened later */
    while (r->started < n && add_stream(r))
        ;
    c->stripes = r;
}

bool ft_client_stripes_wanted(struct ft_client *c,
                              const struct ft_transfer_options *opt, int fd,
                              uint64_t size)
{
    unsigned want = opt != NULL ? opt->streams : 0;
    struct stat sb;

    ft_client_stripes_drop(c);
    if (want == 1 || !c->joinable || !(c->features & FT_FEATURE_STREAMS) ||
        fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    if (size != FT_SIZE_UNKNOWN &&
        size < (want > 1 ? 2 * FT_STRIPE_UNIT : AUTO_MIN_BYTES))
        return false;
    if (want <= 1 && path_rtt_us(c) < LONG_PATH_US)
        return false;
    open_early(c, opt);
    return true;
}

static void heartbeat(void *ctx)
{
    ft_conn_heartbeat(ctx);
}

/* A joined stream of a get: units until the server's STRIPE of length 0. */
static enum ft_err receive_units(struct ft_client *j, struct ft_stripes *st)
{
    for (;;) {
        struct ft_msg m;
        enum ft_err err = ft_conn_recv(&j->conn, &m, j->conn.timeout_ms);

        if (err == FT_OK && m.type != FT_MSG_STRIPE)
            err = m.type == FT_MSG_ERROR ? j->conn.peer_code : FT_ERR_PROTOCOL;
        if (err != FT_OK || m.u.stripe.length == 0)
            return err;
        err = ft_stripes_recv_unit(&j->conn, st, &m);
        if (err != FT_OK)
            return err;
    }
}

/* Sets the socket the controller cuts off when the transfer fails. */
static void stream_fd(struct ft_client_stripes *r, struct stream *w, int fd)
{
    pthread_mutex_lock(&r->lock);
    w->fd = fd;
    pthread_mutex_unlock(&r->lock);
}

/* Whether stream w, its connection made, is to join: once the request's
 * answer brought the ticket. One opened early that is not needed, or that
 * waited longer than EARLY_WAIT_MS, is not. */
static bool await_ticket(struct ft_client_stripes *r, struct stream *w)
{
    struct timespec until;
    bool go;

    ft_io_abstime(EARLY_WAIT_MS, &until);
    pthread_mutex_lock(&r->lock);
    while (r->phase == WAITING &&
           pthread_cond_timedwait(&r->moved_on, &r->lock, &until) == 0)
        ;
    go = r->phase == GO && !w->dismissed;
    if (!go)
        w->dismissed = true;
    pthread_mutex_unlock(&r->lock);
    return go;
}

/* A stream of the transfer on a connection of its own: made as the first
 * one was, to the server that proved the same key, and joined with the
 * transfer's secret. A stream that cannot connect or join (the server at
 * its limit, say) only leaves the others more to do. */
static enum ft_err join_and_move(struct ft_client_stripes *r, struct stream *w)
{
    struct ft_client *c = r->c, *j = NULL;
    struct ft_client_config cfg = c->cfg;
    struct ft_msg join = { .type = FT_MSG_JOIN };
    struct ft_msg m;
    char why[FT_CLIENT_ERROR_MAX];
    enum ft_err err = FT_OK;
    int fd = -1;

    cfg.server_key = c->conn.sealed ? c->fingerprint : NULL;
    /* Once, not again and again as a first connection would: a busy
     * server leaves the transfer to the connections it has. */
    if (ft_net_connect(c->host, cfg.port, c->conn.timeout_ms, &fd, why,
                       sizeof(why)) != FT_OK ||
        ft_client_attach(&j, fd, &cfg, why, sizeof(why)) != FT_OK)
        return FT_OK;
    stream_fd(r, w, j->conn.fd);
    if (await_ticket(r, w)) {
        memcpy(join.u.join.ticket, r->ticket, sizeof(r->ticket));
        ft_stripes_join_proof(r->secret, &j->conn, join.u.join.proof);
        w->joined = ft_client_request(j, &join, FT_MSG_DONE, &m) == FT_OK;
    }
    if (w->joined)
        err = r->sending ? ft_stripes_send(&j->conn, &r->st)
                         : receive_units(j, &r->st);
    stream_fd(r, w, -1);
    ft_client_close(j);
    return err;
}

static void *stream_main(void *arg)
{
    struct stream *w = arg;
    struct ft_client_stripes *r = w->run;

    if (!w->main)
        w->err = join_and_move(r, w);
    else if (r->sending)
        w->err = ft_stripes_send(&r->c->conn, &r->st);
    else
        w->err = ft_stripes_recv_main(&r->c->conn, &r->st, r->flags, heartbeat,
                                      &r->c->conn, r->res);
    if (w->err != FT_OK)
        ft_stripes_fail(&r->st, w->err);
    atomic_store(&w->done, true);
    atomic_fetch_sub(&r->running, 1);
    return NULL;
}

/* A failed transfer: the joined streams stop now, not when a write into a
 * connection that nobody reads times out. */
static void cut_streams(struct ft_client_stripes *r)
{
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 1; i < r->started; i++) {
        if (r->streams[i].fd >= 0)
            shutdown(r->streams[i].fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Once its own stream is done, a sending client listens on the request's
 * connection meanwhile: the server's word there (its ERROR, or its
 * hanging up) ends the transfer. Otherwise tells the server we live. */
static void watch_request(struct ft_client_stripes *r)
{
    struct ft_conn *conn = &r->c->conn;
    enum ft_err err;

    if (!r->sending || !atomic_load(&r->streams[0].done) ||
        r->streams[0].err != FT_OK)
        return;
    err = ft_conn_poll_error(conn);
    if (err != FT_OK)
        ft_stripes_fail(&r->st, err);
    else
        ft_conn_heartbeat(conn);
}

/* Starts the thread of stream i (the request's connection's: i 0). */
static bool start_stream(struct ft_client_stripes *r, unsigned i, bool main)
{
    struct stream *w = &r->streams[i];

    w->run = r;
    w->main = main;
    w->err = FT_OK;
    w->fd = -1;
    w->joined = main;
    w->dismissed = false;
    atomic_store(&w->done, false);
    atomic_fetch_add(&r->running, 1);
    if (pthread_create(&w->tid, NULL, stream_main, w) != 0) {
        atomic_fetch_sub(&r->running, 1);
        return false;
    }
    return true;
}

static bool add_stream(struct ft_client_stripes *r)
{
    if (r->started >= FT_MAX_STREAMS || !start_stream(r, r->started, false))
        return false;
    r->started++;
    return true;
}

/* Tells the streams opened early whether to join: those beyond the first
 * first are not needed. */
static void set_phase(struct ft_client_stripes *r, enum phase phase, unsigned first)
{
    pthread_mutex_lock(&r->lock);
    r->phase = phase;
    for (unsigned i = first; i < r->started; i++)
        r->streams[i].dismissed = true;
    pthread_cond_broadcast(&r->moved_on);
    pthread_mutex_unlock(&r->lock);
}

/* Adding streams, on a path under 50 ms, while those there are bound by
 * their windows: the rate of the last ramp period against what their
 * send buffers carry. */
struct ramp {
    int64_t at_ms;
    uint64_t moved_at;
    double window_rate; /* what one stream's window carries; 0: no ramp */
};

/* The most a socket's send buffer may grow to (net.ipv4.tcp_wmem's third
 * field): the peer's too, as far as we can tell. */
static double wmem_max(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    double low, def, max = 0;

    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &low, &def, &max) != 3)
            max = 0;
        fclose(f);
    }
    return max > 0 ? max : DEFAULT_WMEM_MAX;
}

static void ramp_up(struct ft_client_stripes *r, struct ramp *ramp)
{
    int64_t now = ft_io_now_ms();
    uint64_t moved = ft_stripes_moved(&r->st);
    double rate;

    if (ramp->window_rate <= 0 || now - ramp->at_ms < RAMP_PERIOD_MS)
        return;
    rate = (double)(moved - ramp->moved_at) * 1000.0 / (double)(now - ramp->at_ms);
    ramp->at_ms = now;
    ramp->moved_at = moved;
    if (rate >= WINDOW_BOUND * r->started * ramp->window_rate && r->started < r->cap)
        add_stream(r);
}

/* Runs the transfer's streams to their end: the first on the request's
 * connection, want in all to begin with (those opened early among them),
 * more with adapt while they add throughput, calling the caller's progress
 * from this thread. */
static enum ft_err run_streams(struct ft_client_stripes *r, unsigned want, bool adapt,
                               const struct ft_transfer_options *opt)
{
    uint32_t rtt_ms = path_rtt_us(r->c) / 1000;
    struct ramp ramp = { .at_ms = ft_io_now_ms() };
    enum ft_err err = FT_OK;

    if (rtt_ms > 0 && rtt_ms * 1000u < FAR_PATH_US)
        ramp.window_rate = STREAM_WINDOW_SHARE * wmem_max() * 1000.0 / rtt_ms;
    if (!start_stream(r, 0, true)) {
        set_phase(r, CANCELLED, 1);
        err = FT_ERR_NOMEM;
    } else {
        set_phase(r, GO, want);
    }
    while (err == FT_OK && r->started < want && add_stream(r))
        ;
    while (atomic_load(&r->running) > 0) {
        poll(NULL, 0, TICK_MS);
        if (opt != NULL && opt->progress != NULL)
            opt->progress(opt->progress_ctx, r->st.start + ft_stripes_moved(&r->st),
                          r->st.size);
        watch_request(r);
        if (ft_stripes_failed(&r->st) != FT_OK)
            cut_streams(r);
        else if (adapt)
            ramp_up(r, &ramp);
    }
    for (unsigned i = err == FT_OK ? 0 : 1; i < r->started; i++) {
        pthread_join(r->streams[i].tid, NULL);
        if (err == FT_OK)
            err = r->streams[i].err;
        r->used += r->streams[i].joined;
    }
    r->reaped = true;
    return err;
}

/* A transfer's streams: those opened early for it, or none yet. */
static struct ft_client_stripes *take_run(struct ft_client *c)
{
    struct ft_client_stripes *r = c->stripes;

    if (r != NULL && r->phase == WAITING) {
        c->stripes = NULL;
        return r;
    }
    ft_client_stripes_drop(c);
    return new_run(c);
}

/* Waits for the threads of streams r started that run_streams did not, and
 * frees r. */
static void free_run(struct ft_client_stripes *r)
{
    for (unsigned i = 1; i < r->started && !r->reaped; i++)
        pthread_join(r->streams[i].tid, NULL);
    pthread_cond_destroy(&r->moved_on);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void ft_client_stripes_drop(struct ft_client *c)
{
    struct ft_client_stripes *r = c->stripes;

    if (r == NULL)
        return;
    c->stripes = NULL;
    set_phase(r, CANCELLED, 1);
    free_run(r);
}

/* Streams opened early that the transfer will not use: told to close
 * now; their threads are waited for later (ft_client_stripes_drop), so
 * that a small file is not held up by their handshakes. */
static void retire_run(struct ft_client *c, struct ft_client_stripes *r)
{
    set_phase(r, CANCELLED, 1);
    if (r->started > 1)
        c->stripes = r;
    else
        free_run(r);
}

static enum ft_err write_at(void *ctx, const void *buf, size_t n, uint64_t off)
{
    return ft_io_pwrite_full(*(int *)ctx, buf, n, off);
}

enum ft_err ft_client_stripes_move(struct ft_client *c, int fd, bool sending,
                                    uint32_t flags, uint64_t size, uint64_t offset,
                                    const struct ft_transfer_options *opt,
                                    struct ft_xfer_result *res, unsigned *streams)
{
    struct ft_client_stripes *r = take_run(c);
    struct ft_msg m;
    unsigned want = opt != NULL ? opt->streams : 0;
    unsigned first;
    enum ft_err err = ft_client_read_answer(c, FT_MSG_STREAMS, &m);

    *streams = 0;
    if (r == NULL && err == FT_OK && m.u.streams.streams > 0)
        err = ft_client_fail(c, FT_ERR_NOMEM);
    if (err != FT_OK || m.u.streams.streams == 0) {
        if (r != NULL)
            retire_run(c, r);
        return err;
    }
    r->sending = sending;
    r->flags = flags;
    r->res = res;
    memcpy(r->ticket, m.u.streams.ticket, sizeof(r->ticket));
    memcpy(r->secret, m.u.streams.secret, sizeof(r->secret));
    r->cap = m.u.streams.streams + 1;
    if (r->cap > (want > 1 ? want : AUTO_MAX_STREAMS))
        r->cap = want > 1 ? want : AUTO_MAX_STREAMS;
    if (want == 0 && size - offset < AUTO_MIN_BYTES)
        r->cap = 1; /* asked for by path, but too small to be worth it */
    first = first_streams(c, want);
    if (first > r->cap)
        first = r->cap;
    err = ft_stripes_init(&r->st, fd, offset, size, flags,
                          sending ? NULL : write_at, &r->st.fd);
    r->st.rate_limit = opt != NULL ? opt->rate_limit : 0;
    if (err == FT_OK && (flags & FT_XFER_VERIFY))
        err = ft_stripes_hash_start(&r->st);
    if (err == FT_OK)
        err = run_streams(r, first, want == 0, opt);
    else
        set_phase(r, CANCELLED, 1);
    if (err == FT_OK && sending)
        err = ft_stripes_send_end(&c->conn, &r->st, flags, NULL, res);
    *streams = r->used;
    /* The server waits on the request's connection: tell it why not. */
    if (err != FT_OK && sending && c->conn.peer_code == FT_OK && !c->conn.mid_frame)
        ft_conn_send_error(&c->conn, err, "client: a stream of the transfer "
                           "failed: %s", ft_strerror(err));
    ft_stripes_free(&r->st);
    free_run(r);
    return err;
}
