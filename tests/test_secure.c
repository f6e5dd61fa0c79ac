/* test_secure.c - the encrypted channel under attack, key pinning, tokens
 * and plaintext.
 *
 * A relay thread sits between a client and a server on 127.0.0.1 and
 * forwards whole frames both ways (the 5-byte header is in clear, the
 * payload sealed), acting on one of them as an attacker on the path would:
 * flip a bit, replay a frame, withhold the last frame, or just record every
 * byte. The CLI tests run `ft serve` children and the ft command with a
 * config folder of their own, for pinning, tokens and plaintext. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ft/keys.h"
#include "clients.h"
#include "proto.h"
#include "testutil.h"

#define CLIENT_TIMEOUT_MS 10000
/* How long a relay may live, whatever happens. */
#define RELAY_LIFETIME_MS 30000
#define RELAY_ACCEPT_MS 10000
/* Stop reading from a side while this much waits to go to the other. */
#define RELAY_BACKLOG_BYTES (1u << 20)
/* Largest frame the relay accepts from either side (a plaintext DATA frame
 * is up to FT_FRAME_MAX_PAYLOAD). */
#define RELAY_FRAME_MAX (FT_FRAME_HEADER_BYTES + FT_FRAME_MAX_PAYLOAD)
#define WAIT_MS 10000

/* 64 bytes a file under test repeats; never to be seen on an encrypted
 * wire. */
static const char PATTERN[] =
    "ft-secure pattern: THIS LINE MUST NEVER CROSS THE WIRE IN CLEAR!";

/* --- A frame-aware relay ------------------------------------------------ */

enum relay_mode {
    RELAY_RECORD,    /* forward everything, keep a copy of every byte */
    RELAY_FLIP,      /* flip a bit in the nth client frame of a type */
    RELAY_REPLAY,    /* send the nth client frame of a type twice */
    RELAY_DROP_LAST, /* hold one server frame back; never forward the last */
};

enum { C2S = 0, S2C = 1 };

struct buf {
    uint8_t *p;
    size_t len, cap;
};

/* One direction: bytes read from `from`, cut into frames, queued for `to`. */
struct relay_dir {
    int from, to;
    struct buf in;       /* read, not yet a whole frame */
    struct buf out;      /* to write */
    size_t out_off;
    bool from_done;      /* EOF or error on from: read no more */
    bool to_dead;        /* a write to `to` failed: discard what comes */
    bool shut;           /* shutdown(to, SHUT_WR) done */
    unsigned typed;      /* frames of the target type seen */
    struct buf held;     /* RELAY_DROP_LAST: the frame held back */
    bool holding;
};

struct relay {
    enum relay_mode mode;
    uint8_t type; /* the frame type acted on */
    unsigned nth; /* FLIP, REPLAY: which frame of that type, from 1 */
    uint16_t server_port;
    uint16_t port; /* where clients connect */
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
    bool running;
    atomic_bool finished;
    /* Results, to read after relay_finish. */
    bool acted;         /* the mode's attack took place */
    unsigned frames[2]; /* whole frames seen per direction */
    struct buf rec[2];  /* RELAY_RECORD, per direction */
    char why[160];      /* the relay's own trouble, if any */
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 65536;

        while (cap - b->len < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t pending(const struct relay_dir *d)
{
    return d->out.len - d->out_off;
}

static void forward(struct relay_dir *d, const uint8_t *frame, size_t n)
{
    if (!d->to_dead)
        buf_add(&d->out, frame, n);
}

/* Decides what becomes of one whole frame. Returns true when the relay
 * should now close both sides (RELAY_DROP_LAST found the last frame). */
static bool on_frame(struct relay *r, int dir, struct relay_dir *d,
                     uint8_t *frame, size_t n)
{
    uint8_t type = frame[4];

    r->frames[dir]++;
    if (dir == C2S && (r->mode == RELAY_FLIP || r->mode == RELAY_REPLAY) &&
        type == r->type && ++d->typed == r->nth) {
        if (r->mode == RELAY_FLIP && n > FT_FRAME_HEADER_BYTES) {
            /* One bit in the middle of the sealed payload. */
            frame[FT_FRAME_HEADER_BYTES + (n - FT_FRAME_HEADER_BYTES) / 2] ^= 0x10;
            forward(d, frame, n);
        } else {
            forward(d, frame, n);
            forward(d, frame, n); /* the same sealed frame again */
        }
        r->acted = true;
        return false;
    }
    if (dir == S2C && r->mode == RELAY_DROP_LAST && type != FT_MSG_WELCOME &&
        type != FT_MSG_NOISE) {
        /* After the handshake, each frame waits for the next; the frame of
         * the closing type never goes out. */
        if (d->holding)
            forward(d, d->held.p, d->held.len);
        d->holding = false;
        d->held.len = 0;
        if (type == r->type) {
            r->acted = true;
            return true;
        }
        buf_add(&d->held, frame, n);
        d->holding = true;
        return false;
    }
    forward(d, frame, n);
    return false;
}

/* Reads what from has; returns true when the relay should close. */
static bool relay_read(struct relay *r, int dir, struct relay_dir *d)
{
    uint8_t chunk[65536];
    size_t off = 0;
    ssize_t got = read(d->from, chunk, sizeof(chunk));

    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (got <= 0) {
        d->from_done = true;
        /* A partial frame left at the end goes out as it is. */
        forward(d, d->in.p, d->in.len);
        d->in.len = 0;
        if (r->mode == RELAY_DROP_LAST && dir == S2C) {
            /* The server is gone: what was held back stays so. */
            if (d->holding)
                r->acted = true;
            return d->holding;
        }
        return false;
    }
    if (r->mode == RELAY_RECORD)
        buf_add(&r->rec[dir], chunk, (size_t)got);
    buf_add(&d->in, chunk, (size_t)got);
    while (d->in.len - off >= FT_FRAME_HEADER_BYTES) {
        size_t n = FT_FRAME_HEADER_BYTES + (size_t)be32(d->in.p + off);

        if (n > RELAY_FRAME_MAX) {
            snprintf(r->why, sizeof(r->why), "frame of %zu bytes", n);
            d->from_done = true;
            return true;
        }
        if (d->in.len - off < n)
            break;
        if (on_frame(r, dir, d, d->in.p + off, n))
            return true;
        off += n;
    }
    memmove(d->in.p, d->in.p + off, d->in.len - off);
    d->in.len -= off;
    return false;
}

static void relay_write(struct relay_dir *d)
{
    ssize_t w = send(d->to, d->out.p + d->out_off, pending(d),
                     MSG_NOSIGNAL | MSG_DONTWAIT);

    if (w < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (w <= 0) {
        d->to_dead = true;
        d->out.len = d->out_off = 0;
        return;
    }
    d->out_off += (size_t)w;
    if (d->out_off == d->out.len)
        d->out.len = d->out_off = 0;
}

/* Both sockets in one poll loop, until both directions are over, the
 * relay decides to close, the test says stop, or the lifetime ends. */
static void relay_pump(struct relay *r, int client_fd, int server_fd)
{
    struct relay_dir dirs[2];
    int64_t deadline = tu_now_ms() + RELAY_LIFETIME_MS;
    bool closing = false;

    memset(dirs, 0, sizeof(dirs));
    dirs[C2S].from = client_fd;
    dirs[C2S].to = server_fd;
    dirs[S2C].from = server_fd;
    dirs[S2C].to = client_fd;
    for (;;) {
        struct pollfd p[3];
        int fds[2] = { client_fd, server_fd };
        int64_t left = deadline - tu_now_ms();
        bool busy = false;

        for (int i = 0; i < 2; i++) {
            struct relay_dir *d = &dirs[i];

            if (d->from_done && !d->shut && (pending(d) == 0 || d->to_dead)) {
                shutdown(d->to, SHUT_WR);
                d->shut = true;
            }
            busy = busy || !d->shut;
        }
        if (!busy || left <= 0)
            break;
        for (int k = 0; k < 2; k++) {
            /* fd k reads for dirs[k] and writes for dirs[1 - k]. */
            struct relay_dir *rd = &dirs[k], *wd = &dirs[1 - k];
            short ev = 0;

            if (!rd->from_done && pending(rd) < RELAY_BACKLOG_BYTES)
                ev |= POLLIN;
            if (pending(wd) > 0 && !wd->to_dead)
                ev |= POLLOUT;
            p[k].fd = ev != 0 ? fds[k] : -1;
            p[k].events = ev;
            p[k].revents = 0;
        }
        p[2].fd = r->stop_pipe[0];
        p[2].events = POLLIN;
        p[2].revents = 0;
        if (poll(p, 3, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            break;
        if (p[2].revents != 0)
            break;
        for (int k = 0; k < 2; k++) {
            if (!closing && (p[k].events & POLLIN) &&
                (p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                closing = relay_read(r, k, &dirs[k]);
            if ((p[k].events & POLLOUT) && (p[k].revents & (POLLOUT | POLLHUP | POLLERR)))
                relay_write(&dirs[1 - k]);
        }
        if (closing) {
            /* Read no more from anyone, send the server nothing more, and
             * let the client have what came before the withheld frame. */
            dirs[C2S].from_done = dirs[S2C].from_done = true;
            dirs[C2S].to_dead = true;
            dirs[C2S].out.len = dirs[C2S].out_off = 0;
        }
    }
    for (int i = 0; i < 2; i++) {
        buf_free(&dirs[i].in);
        buf_free(&dirs[i].out);
        buf_free(&dirs[i].held);
    }
}

static int connect_loopback(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    struct pollfd p[2] = { { .fd = r->listen_fd, .events = POLLIN },
                           { .fd = r->stop_pipe[0], .events = POLLIN } };
    int client_fd = -1, server_fd = -1;

    if (poll(p, 2, RELAY_ACCEPT_MS) <= 0 || p[1].revents != 0) {
        snprintf(r->why, sizeof(r->why), "no client came");
        goto out;
    }
    client_fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    server_fd = connect_loopback(r->server_port);
    if (client_fd < 0 || server_fd < 0) {
        snprintf(r->why, sizeof(r->why), "accept/connect: %s", strerror(errno));
        goto out;
    }
    fcntl(server_fd, F_SETFL, fcntl(server_fd, F_GETFL) | O_NONBLOCK);
    relay_pump(r, client_fd, server_fd);
out:
    if (client_fd >= 0)
        close(client_fd);
    if (server_fd >= 0)
        close(server_fd);
    atomic_store(&r->finished, true);
    return NULL;
}

/* Starts a relay to the server on server_port; clients connect to r->port. */
static void relay_start(struct relay *r, uint16_t server_port,
                        enum relay_mode mode, uint8_t type, unsigned nth)
{
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    r->type = type;
    r->nth = nth;
    r->server_port = server_port;
    r->listen_fd = tu_listen_loopback(1, &r->port);
    assert_int_equal(pipe2(r->stop_pipe, O_CLOEXEC), 0);
    atomic_store(&r->finished, false);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
    r->running = true;
}

/* Stops the relay now (if it still runs) and frees it. Idempotent. */
static void relay_stop(struct relay *r)
{
    if (r->running) {
        ssize_t ignored = write(r->stop_pipe[1], "x", 1);

        (void)ignored;
        pthread_join(r->thread, NULL);
        r->running = false;
        close(r->listen_fd);
        close(r->stop_pipe[0]);
        close(r->stop_pipe[1]);
    }
    buf_free(&r->rec[C2S]);
    buf_free(&r->rec[S2C]);
}

/* Waits (bounded) for the relay to end by itself, as it does once both
 * sides have hung up, and joins it. False if it had to be stopped. */
static bool relay_finish(struct relay *r)
{
    int64_t deadline = tu_now_ms() + WAIT_MS;
    bool ended;

    while (!(ended = atomic_load(&r->finished)) && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    if (r->running) {
        ssize_t ignored = write(r->stop_pipe[1], "x", 1);

        (void)ignored;
        pthread_join(r->thread, NULL);
        r->running = false;
        close(r->listen_fd);
        close(r->stop_pipe[0]);
        close(r->stop_pipe[1]);
    }
    if (r->why[0] != '\0')
        fprintf(stderr, "relay: %s\n", r->why);
    return ended;
}

/* --- Fixture ------------------------------------------------------------ */

/* Library clients wait this long. */
static const struct ft_client_config quick = { .timeout_ms = CLIENT_TIMEOUT_MS };

struct fixture {
    struct tu_fixture tu;        /* work, the in-process server */
    struct tu_served served[2];  /* `ft serve` children on work/storeN */
    struct relay relay;
    struct ft_client *client;
    pid_t pid; /* a child run by the test itself */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    tu_fixture_open(&f->tu);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ft_client_close(f->client);
    relay_stop(&f->relay);
    tu_server_stop(&f->tu.server);
    for (int i = 0; i < 2; i++)
        tu_served_stop(&f->served[i]);
    tu_kill_pid(&f->pid);
    tu_fixture_close(&f->tu);
    free(f);
    return 0;
}

static enum ft_err put_file(struct ft_client *c, const char *path,
                            const char *name)
{
    struct ft_transfer t;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int64_t size = tu_file_size(path);
    enum ft_err err;

    assert_true(fd >= 0);
    err = ft_client_put(c, fd, size, name, NULL, &t);
    close(fd);
    return err;
}

/* Connects directly (no relay) and uploads path as name. */
static void seed(struct fixture *f, const char *path, const char *name)
{
    struct ft_client *c = tu_connect(f->tu.server.port, &quick);

    f->client = c;
    assert_int_equal(put_file(c, path, name), FT_OK);
    ft_client_close(c);
    f->client = NULL;
}

/* Writes PATTERN repeated `times` times to path. */
static void write_pattern(const char *path, size_t times)
{
    struct buf b = { 0 };

    for (size_t i = 0; i < times; i++)
        buf_add(&b, PATTERN, 64);
    tu_write_bytes(path, b.p, b.len);
    buf_free(&b);
}

static bool contains(const struct buf *b, const void *needle, size_t n)
{
    return b->len > 0 && memmem(b->p, b->len, needle, n) != NULL;
}

/* --- 1a, 1b: an altered or replayed upload frame --------------------------- */

/* Seeds "doc" directly, then uploads another version through a relay that
 * attacks the upload: the put must fail as a channel integrity failure,
 * the old version stay, and no temporary remain. */
static void attack_upload(struct fixture *f, enum relay_mode mode, unsigned nth)
{
    char *v1 = tu_path(f->tu.work, "v1");
    char *v2 = tu_path(f->tu.work, "v2");
    char *stored, *tmp;
    enum ft_err err;

    tu_server_start(&f->tu.server, NULL);
    stored = tu_path(f->tu.server.root, "doc");
    tmp = tu_path(f->tu.server.root, ".ft/tmp");
    tu_write_random(v1, 1 << 20, 1);
    tu_write_random(v2, 1 << 20, 2);
    seed(f, v1, "doc");
    assert_true(tu_files_equal(v1, stored));

    relay_start(&f->relay, f->tu.server.port, mode, FT_MSG_DATA, nth);
    f->client = tu_connect(f->relay.port, &quick);
    assert_true(ft_client_encrypted(f->client));
    err = put_file(f->client, v2, "doc");
    assert_int_not_equal(err, FT_OK);
    if (strstr(ft_client_error(f->client),
               "integrity failure on the connection") == NULL)
        fail_msg("put through the relay: %s (%s), not an integrity failure on "
                 "the connection", ft_client_error(f->client), ft_err_name(err));
    assert_int_equal(err, FT_ERR_TAMPERED);
    ft_client_close(f->client);
    f->client = NULL;
    assert_true(relay_finish(&f->relay));
    assert_true(f->relay.acted);
    /* The 2nd DATA frame is at least the 5th client frame: HELLO, NOISE,
     * PUT, DATA came before it. */
    assert_true(f->relay.frames[C2S] >= 4 + nth - 1);

    assert_true(tu_wait_count(tmp, 0, WAIT_MS));
    assert_true(tu_files_equal(v1, stored));
    assert_int_equal(tu_count_entries(f->tu.server.root), 2); /* doc, .ft */
    free(v1);
    free(v2);
    free(stored);
    free(tmp);
}

static void test_flipped_bit_refused(void **state)
{
    attack_upload(*state, RELAY_FLIP, 2);
}

static void test_replayed_frame_refused(void **state)
{
    attack_upload(*state, RELAY_REPLAY, 1);
}

/* --- 1c: the last frame withheld ------------------------------------------ */

static void test_truncated_download_not_kept(void **state)
{
    struct fixture *f = *state;
    char *src = tu_path(f->tu.work, "src");
    char *local = tu_path(f->tu.work, "copy");
    char *part = tu_path(f->tu.work, ".copy.ft-part");
    struct ft_transfer t;
    enum ft_err err;

    tu_server_start(&f->tu.server, NULL);
    tu_write_random(src, 300 * 1024, 3);
    seed(f, src, "doc");

    relay_start(&f->relay, f->tu.server.port, RELAY_DROP_LAST, FT_MSG_END, 0);
    f->client = tu_connect(f->relay.port, &quick);
    err = ft_client_get_file(f->client, "doc", local, NULL, &t);
    assert_int_not_equal(err, FT_OK);
    /* Nothing under the final name; the part stays aside for --continue. */
    assert_false(tu_exists(local));
    ft_client_close(f->client);
    f->client = NULL;
    assert_true(relay_finish(&f->relay));
    assert_true(f->relay.acted);
    /* Without the relay the download completes, verified whole. */
    f->client = tu_connect(f->tu.server.port, &quick);
    {
        struct ft_transfer_options resume = { .resume = true };

        assert_int_equal(ft_client_get_file(f->client, "doc", local, &resume, &t),
                         FT_OK);
    }
    assert_true(t.verified);
    assert_true(tu_files_equal(src, local));
    assert_false(tu_exists(part));
    free(src);
    free(local);
    free(part);
}

static int count_entry(const struct ft_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

static void test_truncated_listing_fails(void **state)
{
    struct fixture *f = *state;
    char *src = tu_path(f->tu.work, "src");
    int seen = 0;

    tu_server_start(&f->tu.server, NULL);
    tu_write_random(src, 1000, 4);
    seed(f, src, "a");
    seed(f, src, "b");

    relay_start(&f->relay, f->tu.server.port, RELAY_DROP_LAST, FT_MSG_DONE, 0);
    f->client = tu_connect(f->relay.port, &quick);
    assert_int_not_equal(ft_client_list(f->client, count_entry, &seen), FT_OK);
    ft_client_close(f->client);
    f->client = NULL;
    assert_true(relay_finish(&f->relay));
    assert_true(f->relay.acted);
    /* The entries themselves did arrive: only the end was missing. */
    assert_int_equal(seen, 2);
    free(src);
}

/* --- 1d: what an eavesdropper sees ------------------------------------------ */

/* Puts and gets a file of PATTERN through a recording relay; returns with
 * the relay finished and its recording in f->relay.rec. */
static void record_round_trip(struct fixture *f, bool plaintext)
{
    char *src = tu_path(f->tu.work, "pattern");
    char *back = tu_path(f->tu.work, "back");
    struct ft_client_config cfg = { .timeout_ms = CLIENT_TIMEOUT_MS,
                                    .plaintext = plaintext };
    struct ft_transfer t;

    write_pattern(src, 4096); /* 256 KiB: several frames each way */
    relay_start(&f->relay, f->tu.server.port, RELAY_RECORD, 0, 0);
    f->client = tu_connect(f->relay.port, &cfg);
    assert_true(ft_client_encrypted(f->client) == !plaintext);
    assert_int_equal(put_file(f->client, src, "pattern"), FT_OK);
    unlink(back);
    assert_int_equal(ft_client_get_file(f->client, "pattern", back, NULL, &t),
                     FT_OK);
    assert_true(tu_files_equal(src, back));
    ft_client_close(f->client);
    f->client = NULL;
    assert_true(relay_finish(&f->relay));
    /* Both files crossed the relay. */
    assert_true(f->relay.rec[C2S].len > 256 * 1024);
    assert_true(f->relay.rec[S2C].len > 256 * 1024);
    free(src);
    free(back);
}

static void test_eavesdropper_sees_no_content(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(strlen(PATTERN), 64);
    tu_server_start(&f->tu.server, NULL);
    record_round_trip(f, false);
    assert_false(contains(&f->relay.rec[C2S], PATTERN, 64));
    assert_false(contains(&f->relay.rec[S2C], PATTERN, 64));
    relay_stop(&f->relay);

    /* Control: over plaintext (which this server allows) the same check
     * finds the pattern both ways. */
    record_round_trip(f, true);
    assert_true(contains(&f->relay.rec[C2S], PATTERN, 64));
    assert_true(contains(&f->relay.rec[S2C], PATTERN, 64));
}

/* --- CLI helpers ------------------------------------------------------------ */

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    struct buf b = { 0 };
    char chunk[4096];
    size_t n;

    if (fp == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    buf_add(&b, "", 1);
    return (char *)b.p;
}

/* Starts `ft serve` number i (0 or 1) on a store of its own, holding one
 * file when seed_file. */
static void served_start(struct fixture *f, int i, bool seed_file,
                         const char *const extra[])
{
    char name[32];
    char *root, *log;
    bool started;

    snprintf(name, sizeof(name), "store%d", i);
    root = tu_path(f->tu.work, name);
    snprintf(name, sizeof(name), "serve%d.log", i);
    log = tu_path(f->tu.work, name);
    if (seed_file) {
        /* Not empty: see test_ls_empty_store for why that matters. */
        char *readme = tu_path(root, "readme");

        assert_int_equal(mkdir(root, 0700), 0);
        tu_write_bytes(readme, "hello\n", 6);
        free(readme);
    }
    started = tu_served_start(&f->served[i], root, log, extra);
    free(root);
    free(log);
    assert_true(started);
}

/* The fingerprint `ft serve` printed at start ("server key b2:..."). */
static void served_fingerprint(struct tu_served *s, char out[FT_FINGERPRINT_MAX])
{
    const char *p = strstr(s->log, "server key ");
    size_t n;

    assert_non_null(p);
    p += strlen("server key ");
    n = strcspn(p, " \n");
    assert_true(n > 3 && n < FT_FINGERPRINT_MAX);
    memcpy(out, p, n);
    out[n] = '\0';
    assert_memory_equal(out, "b2:", 3);
}

/* Runs ft with args and env, printing what it said when the exit status is
 * not the one expected. */
static void run_expect(int want, const char *const args[], const char *const env[],
                       char *err, size_t errlen)
{
    int rc = tu_run_ft_env(args, env, NULL, NULL, err, errlen);

    if (rc != want)
        fail_msg("ft %s: exit %d, expected %d; it said: %s", args[0], rc, want,
                 err);
}

static void expect_in(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("expected \"%s\" in: %s", want, text);
}

/* --- 2: key pinning --------------------------------------------------------- */

static void test_key_pinning(void **state)
{
    struct fixture *f = *state;
    char fp[FT_FINGERPRINT_MAX], fake[FT_FINGERPRINT_MAX];
    char err[8192], wrong_key[128], right_key[128];
    char *known = tu_path(f->tu.config, "ft/known_hosts");
    char *fake_key = tu_path(f->tu.work, "fake.key");
    char *text, *line = NULL;
    struct ft_keypair kp;
    bool created = false;
    const char *env[] = { f->tu.config_env, NULL };

    served_start(f, 0, true, NULL);
    served_fingerprint(&f->served[0], fp);
    {
        const char *ls[] = { "ls", "--port", f->served[0].portstr, NULL };

        /* First use: pinned, and said so. */
        run_expect(0, ls, env, err, sizeof(err));
        expect_in(err, "pinned its key b2:");
        expect_in(err, fp);
        text = read_text(known);
        assert_non_null(text);
        assert_true(asprintf(&line, "127.0.0.1 %s %s\n", f->served[0].portstr,
                             fp) > 0);
        assert_string_equal(text, line);
        free(text);
        free(line);
        line = NULL;

        /* Second use: the same key, nothing to say. */
        run_expect(0, ls, env, err, sizeof(err));
        assert_null(strstr(err, "pinned"));

        /* A pin for another key: refused, both keys named, pin kept. */
        assert_int_equal(ft_keys_load_or_create(fake_key, &kp, &created, err,
                                                sizeof(err)), FT_OK);
        ft_keys_fingerprint(kp.public_key, fake);
        assert_string_not_equal(fake, fp);
        assert_true(asprintf(&line, "127.0.0.1 %s %s\n", f->served[0].portstr,
                             fake) > 0);
        tu_write_bytes(known, line, strlen(line));
        run_expect(3, ls, env, err, sizeof(err));
        expect_in(err, "THE SERVER'S KEY HAS CHANGED");
        expect_in(err, fake);
        expect_in(err, fp);
        text = read_text(known);
        assert_string_equal(text, line);
        free(text);
    }
    snprintf(wrong_key, sizeof(wrong_key), "%s", fake);
    snprintf(right_key, sizeof(right_key), "%s", fp);
    {
        const char *wrong[] = { "ls", "--port", f->served[0].portstr,
                                "--server-key", wrong_key, NULL };
        const char *right[] = { "ls", "--port", f->served[0].portstr,
                                "--server-key", right_key, NULL };

        /* An explicit pin is checked with no known_hosts at all... */
        run_expect(3, wrong, NULL, err, sizeof(err));
        expect_in(err, fp);
        /* ...and overrides the stale one. */
        run_expect(0, right, env, err, sizeof(err));
    }
    free(line);
    free(known);
    free(fake_key);
}

/* The key `ft id` prints in a config folder, as the server logs it. */
static void printed_fingerprint(struct fixture *f, const char *const args[],
                                const char *const env[],
                                char out[FT_FINGERPRINT_MAX])
{
    char line[512], err[2048];
    char *path = tu_path(f->tu.work, "id.out");
    char *text, *name;
    uint8_t key[FT_KEY_BYTES];

    if (tu_run_ft_env(args, env, NULL, path, err, sizeof(err)) != 0)
        fail_msg("ft %s: %s", args[0], err);
    text = read_text(path);
    assert_non_null(text);
    snprintf(line, sizeof(line), "%s", text);
    name = strstr(line, " name=");
    assert_non_null(name);
    assert_non_null(strchr(name, '@'));
    assert_int_equal(ft_clients_parse_key(line, (size_t)(name - line), key), FT_OK);
    ft_keys_fingerprint(key, out);
    free(text);
    free(path);
}

/* The client's key as users meet it: made on first use, printed by ft id,
 * chosen with -i or FT_IDENTITY, proved to the server (which logs it), and
 * never shown to a server whose key the client refuses. */
static void test_client_key_cli(void **state)
{
    struct fixture *f = *state;
    char fp[FT_FINGERPRINT_MAX], other_fp[FT_FINGERPRINT_MAX];
    char shy_fp[FT_FINGERPRINT_MAX], line[FT_FINGERPRINT_MAX + 16];
    char err[8192];
    char *other = tu_path(f->tu.work, "other.id");
    char *shy = tu_path(f->tu.work, "shy.id");
    char *loose = tu_path(f->tu.work, "loose.id");
    char *other_env = NULL;
    struct ft_keypair kp;
    bool created;
    const char *env[] = { f->tu.config_env, NULL };

    served_start(f, 0, true, NULL);
    assert_true(asprintf(&other_env, "FT_IDENTITY=%s", other) > 0);
    {
        const char *id[] = { "id", NULL };
        const char *id_other[] = { "id", "-i", other, NULL };
        const char *env_other[] = { f->tu.config_env, other_env, NULL };
        const char *ls[] = { "ls", "--port", f->served[0].portstr, NULL };
        const char *ls_other[] = { "ls", "--port", f->served[0].portstr, "-i",
                                   other, NULL };

        /* Made once, then the same key every time. */
        printed_fingerprint(f, id, env, fp);
        printed_fingerprint(f, id, env, line);
        assert_string_equal(fp, line);
        printed_fingerprint(f, id_other, env, other_fp);
        assert_string_not_equal(fp, other_fp);
        printed_fingerprint(f, id, env_other, line);
        assert_string_equal(line, other_fp);

        run_expect(0, ls, env, err, sizeof(err));
        snprintf(line, sizeof(line), "client %s", fp);
        if (!tu_served_log_until(&f->served[0], line, WAIT_MS))
            fail_msg("server log lacks \"%s\": %s", line, f->served[0].log);
        run_expect(0, ls_other, env, err, sizeof(err));
        snprintf(line, sizeof(line), "client %s", other_fp);
        if (!tu_served_log_until(&f->served[0], line, WAIT_MS))
            fail_msg("server log lacks \"%s\": %s", line, f->served[0].log);
    }
    {
        /* A server the client does not trust never learns who it is. */
        const char *ls_shy[] = { "ls", "--port", f->served[0].portstr, "-i", shy,
                                 "--server-key", other_fp, NULL };
        const char *ls_loose[] = { "ls", "--port", f->served[0].portstr, "-i",
                                   loose, NULL };

        assert_int_equal(ft_keys_load_or_create(shy, &kp, &created, err,
                                                sizeof(err)), FT_OK);
        ft_keys_fingerprint(kp.public_key, shy_fp);
        run_expect(3, ls_shy, env, err, sizeof(err));
        if (!tu_served_log_until(&f->served[0], "refused at handshake", WAIT_MS))
            fail_msg("server log: %s", f->served[0].log);
        assert_null(strstr(f->served[0].log, shy_fp));

        /* A key file others may read is refused before any connection. */
        assert_int_equal(ft_keys_load_or_create(loose, &kp, &created, err,
                                                sizeof(err)), FT_OK);
        assert_int_equal(chmod(loose, 0644), 0);
        run_expect(2, ls_loose, env, err, sizeof(err));
        expect_in(err, "too open");
    }
    free(other);
    free(shy);
    free(loose);
    free(other_env);
}

/* --- 3: tokens -------------------------------------------------------------- */

/* Tokens as users meet them: the right one by option and by environment,
 * none, another, loose permissions on either side. One server, one
 * sequence of clients against it: hence its length. */
static void test_tokens_cli(void **state)
{
    struct fixture *f = *state;
    char err[8192], tok_env[4200];
    char *tok = tu_path(f->tu.work, "token");
    char *tok2 = tu_path(f->tu.work, "token2");
    char *open_tok = tu_path(f->tu.work, "token-open");
    char *data = tu_path(f->tu.work, "data");
    char *back = tu_path(f->tu.work, "back");
    char *root2 = tu_path(f->tu.work, "store-open");
    char *log2 = tu_path(f->tu.work, "serve-open.log");
    char *fresh_config = tu_path(f->tu.work, "fresh-config");
    char *fresh_known = tu_path(fresh_config, "ft/known_hosts");
    char *fresh_xdg = NULL;
    char *before, *after, *stored;
    struct stat sb;
    const char *env[] = { tok_env, NULL };
    const char *fresh_env[2] = { NULL, NULL };

    assert_true(asprintf(&fresh_xdg, "XDG_CONFIG_HOME=%s", fresh_config) > 0);
    fresh_env[0] = fresh_xdg;

    {
        const char *keygen[] = { "keygen", "--token", tok, NULL };
        const char *keygen2[] = { "keygen", "--token", tok2, NULL };

        run_expect(0, keygen, NULL, err, sizeof(err));
        assert_int_equal(stat(tok, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        before = read_text(tok);
        /* Never overwritten. */
        assert_int_not_equal(tu_run_ft_env(keygen, NULL, NULL, NULL, err,
                                           sizeof(err)), 0);
        after = read_text(tok);
        assert_string_equal(before, after);
        assert_int_equal(stat(tok, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        run_expect(0, keygen2, NULL, err, sizeof(err));
        free(after);
    }
    {
        const char *extra[] = { "--token-file", tok, NULL };

        served_start(f, 0, true, extra);
    }
    stored = tu_path(f->tu.work, "store0/data");
    tu_write_random(data, 200 * 1024, 5);
    snprintf(tok_env, sizeof(tok_env), "FT_TOKEN_FILE=%s", tok);
    {
        const char *port = f->served[0].portstr;
        const char *put[] = { "put", "--port", port, "--token-file", tok, data,
                              "data", NULL };
        const char *get[] = { "get", "--port", port, "data", back, NULL };
        const char *ls[] = { "ls", "--port", port, NULL };
        const char *ls_other[] = { "ls", "--port", port, "--token-file", tok2,
                                   NULL };
        const char *ls_open[] = { "ls", "--port", port, "--token-file",
                                  open_tok, NULL };

        /* The same token, by option and by environment: a round trip. */
        run_expect(0, put, NULL, err, sizeof(err));
        run_expect(0, get, env, err, sizeof(err));
        assert_true(tu_files_equal(data, back));
        assert_true(tu_files_equal(data, stored));

        /* No token. */
        run_expect(4, ls, NULL, err, sizeof(err));
        expect_in(err, "requires a token");

        /* Another token: refused by the server, which tells the client;
         * on a first contact the server's key is not pinned, since the
         * server never proved it knows the client's token. */
        run_expect(4, ls_other, fresh_env, err, sizeof(err));
        expect_in(err, "wrong token");
        if (!tu_served_log_until(&f->served[0],
                                 "refused at handshake: wrong or missing token",
                                 WAIT_MS))
            fail_msg("server log: %s", f->served[0].log);
        assert_int_equal(tu_file_size(fresh_known), -1);

        /* A token others may read: refused before any connection. */
        tu_write_bytes(open_tok, before, strlen(before));
        assert_int_equal(chmod(open_tok, 0644), 0);
        run_expect(2, ls_open, NULL, err, sizeof(err));
        expect_in(err, "too open");
    }
    {
        const char *serve[] = { "serve", "--root", root2, "--port", "0",
                                "--token-file", open_tok, NULL };
        int fd = open(log2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int status = 0;
        char *said;

        assert_true(fd >= 0);
        f->pid = tu_spawn_ft(serve, -1, -1, fd);
        close(fd);
        assert_true(tu_wait_pid(f->pid, WAIT_MS, &status));
        f->pid = 0;
        said = read_text(log2);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 2)
            fail_msg("ft serve with a readable token: status %d: %s", status, said);
        expect_in(said, "too open");
        free(said);
    }
    /* A server without a token cannot prove it knows ours. */
    served_start(f, 1, true, NULL);
    {
        const char *ls[] = { "ls", "--port", f->served[1].portstr,
                             "--token-file", tok, NULL };

        run_expect(4, ls, NULL, err, sizeof(err));
        expect_in(err, "may be an impostor");
    }
    free(before);
    free(stored);
    free(tok);
    free(tok2);
    free(open_tok);
    free(data);
    free(back);
    free(root2);
    free(log2);
    free(fresh_config);
    free(fresh_known);
    free(fresh_xdg);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* What the server logged, for the test below. */
static struct tu_log recorded = TU_LOG_INIT;

/* The handshake with a token and a client key, recorded: neither the token
 * file's text, nor its bytes, nor the key derived from it, nor the client's
 * public key ever cross the wire in clear. */
static void test_token_never_on_wire(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg;
    struct ft_client_config with_token = { .timeout_ms = CLIENT_TIMEOUT_MS };
    char *tok = tu_path(f->tu.work, "token");
    char *src = tu_path(f->tu.work, "small");
    char why[512];
    uint8_t psk[FT_TOKEN_BYTES], raw[FT_TOKEN_BYTES];
    struct ft_keypair me;
    char *text;

    assert_int_equal(ft_keys_make_token(tok, why, sizeof(why)), FT_OK);
    assert_int_equal(ft_keys_load_token(tok, psk, why, sizeof(why)), FT_OK);
    text = read_text(tok);
    assert_non_null(text);
    assert_true(strlen(text) >= 2 * FT_TOKEN_BYTES);
    for (size_t i = 0; i < FT_TOKEN_BYTES; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);

        assert_true(hi >= 0 && lo >= 0);
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.token = psk;
    cfg.log = tu_log_record;
    cfg.log_ctx = &recorded;
    tu_server_start(&f->tu.server, &cfg);
    tu_write_random(src, 4096, 6);

    relay_start(&f->relay, f->tu.server.port, RELAY_RECORD, 0, 0);
    with_token.token = psk;
    ft_keys_generate(&me);
    with_token.identity = &me;
    f->client = tu_connect(f->relay.port, &with_token);
    assert_non_null(strstr(ft_client_protocol(f->client), "XXpsk3"));
    assert_int_equal(put_file(f->client, src, "small"), FT_OK);
    ft_client_close(f->client);
    f->client = NULL;
    assert_true(relay_finish(&f->relay));
    assert_true(f->relay.frames[C2S] >= 3 && f->relay.frames[S2C] >= 2);
    for (int d = 0; d < 2; d++) {
        assert_false(contains(&f->relay.rec[d], text, 2 * FT_TOKEN_BYTES));
        assert_false(contains(&f->relay.rec[d], text, 16)); /* even a part */
        assert_false(contains(&f->relay.rec[d], raw, sizeof(raw)));
        assert_false(contains(&f->relay.rec[d], psk, sizeof(psk)));
        assert_false(contains(&f->relay.rec[d], me.public_key, 16));
    }
    /* The server did learn it: the handshake proved it. */
    {
        char fp[FT_FINGERPRINT_MAX], line[FT_FINGERPRINT_MAX + 16];

        ft_keys_fingerprint(me.public_key, fp);
        snprintf(line, sizeof(line), "client %s", fp);
        tu_log_expect(&recorded, line);
    }
    free(text);
    free(tok);
    free(src);
}

/* --- 4: plaintext ------------------------------------------------------------ */

static void test_plaintext_only_when_allowed(void **state)
{
    struct fixture *f = *state;
    char err[8192];

    served_start(f, 0, true, NULL);
    {
        const char *ls[] = { "ls", "--plaintext", "--port", f->served[0].portstr,
                             NULL };

        run_expect(0, ls, NULL, err, sizeof(err));
        expect_in(err, "the connection is encrypted");
        assert_null(strstr(err, "NOT encrypted"));
        assert_true(tu_served_log_until(&f->served[0], " channel Noise_", WAIT_MS));
        assert_null(strstr(f->served[0].log, "NOT ENCRYPTED"));
    }
    {
        const char *extra[] = { "--allow-plaintext", NULL };

        served_start(f, 1, true, extra);
    }
    {
        const char *ls[] = { "ls", "--plaintext", "--port", f->served[1].portstr,
                             NULL };
        const char *ls_enc[] = { "ls", "--port", f->served[1].portstr, NULL };

        run_expect(0, ls, NULL, err, sizeof(err));
        expect_in(err, "NOT encrypted");
        if (!tu_served_log_until(&f->served[1], "NOT ENCRYPTED", WAIT_MS))
            fail_msg("server log: %s", f->served[1].log);
        /* A client that does not ask stays encrypted there too. */
        run_expect(0, ls_enc, NULL, err, sizeof(err));
        assert_null(strstr(err, "NOT encrypted"));
    }
}

/* --- A bug found on the way --------------------------------------------------- */

/* `ft ls` against an empty store: nothing to print, exit 0. In the
 * sanitizer build it fails instead: cmd_ls (src/main.c) calls
 * qsort(l.items, 0, ...) with l.items NULL, which UBSan reports as "null
 * pointer passed as argument 1, which is declared to never be null" and,
 * with -fno-sanitize-recover, turns into exit 1. */
static void test_ls_empty_store(void **state)
{
    struct fixture *f = *state;
    char err[4096], out[4096];
    char *listed;

    snprintf(out, sizeof(out), "%s/ls.out", f->tu.work);
    served_start(f, 0, false, NULL);
    {
        const char *ls[] = { "ls", "--port", f->served[0].portstr, NULL };
        int rc = tu_run_ft(ls, NULL, out, err, sizeof(err));

        if (rc != 0)
            fail_msg("ft ls on an empty store: exit %d: %s", rc, err);
    }
    listed = read_text(out);
    assert_non_null(listed);
    assert_string_equal(listed, "");
    free(listed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flipped_bit_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_frame_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_download_not_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_listing_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eavesdropper_sees_no_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_pinning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_key_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_never_on_wire, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_only_when_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ls_empty_store, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
