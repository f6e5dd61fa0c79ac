/* test_streams.c - striped transfers: a large file over several
 * connections, put and get, checked and published whole; a stream cut
 * mid-transfer; joins that must be refused; resume after a cut. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "hash.h"
#include "io.h"
#include "stripe.h"
#include "testutil.h"
#include "testutil_server.h"

#define SIZE (48u * 1024u * 1024u + 12345u) /* 49 units, the last short */
#define RELAY_MAX 16

static void put_file_told(struct ft_client *c, const char *path, const char *remote,
                          const struct ft_transfer_options *opt, enum ft_err want,
                          struct ft_transfer *t)
{
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(ft_client_put(c, fd, (int64_t)tu_file_size(path), remote, opt,
                                   t),
                     want);
    close(fd);
}

static void put_file(struct ft_client *c, const char *path, const char *remote,
                     const struct ft_transfer_options *opt, enum ft_err want)
{
    put_file_told(c, path, remote, opt, want, NULL);
}

/* Four forced streams each way: the file arrives whole, the server
 * records the plain BLAKE2b-256 of its content, and connections joined
 * (as each transfer's report says: the server logs a join only once the
 * joined connection is done, which may come after the answer). */
static void test_four_streams_both_ways(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_transfer_options opt = { .streams = 4 };
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    char hex[FT_HASH_HEX_BYTES];
    struct ft_transfer t;
    struct ft_stat st;
    struct ft_client *c;

    tu_write_random(src, SIZE, 7);
    c = tu_connect(f->server.port, NULL);
    put_file_told(c, src, "big", &opt, FT_OK, &t);
    assert_true(t.streams >= 2 && t.streams <= 4);
    assert_int_equal(ft_client_stat(c, "big", &st), FT_OK);
    tu_file_digest_hex(src, hex);
    assert_string_equal(st.digest_hex, hex);
    assert_int_equal(ft_client_get_file(c, "big", back, &opt, &t), FT_OK);
    assert_true(t.streams >= 2 && t.streams <= 4);
    assert_true(t.verified);
    assert_true(tu_files_equal(src, back));
    /* Compressed, and over more streams than units at the end. */
    opt.compress = true;
    opt.streams = 16;
    tu_write_text(src, SIZE);
    put_file_told(c, src, "text", &opt, FT_OK, &t);
    assert_true(t.streams >= 2);
    assert_int_equal(ft_client_get_file(c, "text", back, &opt, &t), FT_OK);
    assert_true(t.streams >= 2);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    free(src);
    free(back);
}

/* A relay between the client and the server that accepts a second
 * connection only once hold bytes went through the first (so that the
 * first units surely arrived whole), and cuts one connection (the cut-th
 * it accepts) once that many bytes went through it either way. */
struct relay {
    int listen_fd;
    uint16_t port, target;
    int cut, accepted;
    uint64_t hold, cut_after;
    atomic_ullong through[RELAY_MAX];
    atomic_bool stop;
    pthread_t acceptor;
    pthread_t pipes[2 * RELAY_MAX];
    int fds[2 * RELAY_MAX];
    int npipes;
};

struct pipe_arg {
    struct relay *r;
    int from, to;
    int conn; /* its index */
};

static void *pipe_main(void *arg)
{
    struct pipe_arg *p = arg;
    struct relay *r = p->r;
    uint8_t buf[16384];

    for (;;) {
        ssize_t n = read(p->from, buf, sizeof(buf));

        if (n <= 0)
            break;
        if (atomic_fetch_add(&r->through[p->conn], (unsigned long long)n) +
                    (uint64_t)n >= r->cut_after &&
            p->conn + 1 == r->cut)
            break;
        if (ft_io_write_full(p->to, buf, (size_t)n, ft_io_deadline(10000)) != FT_OK)
            break;
    }
    /* Either side gone, the connection is: as a host that resets it,
     * not a half-open socket that nobody reads. */
    shutdown(p->from, SHUT_RDWR);
    shutdown(p->to, SHUT_RDWR);
    free(p);
    return NULL;
}

static void start_pipe(struct relay *r, int from, int to, int conn)
{
    struct pipe_arg *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    p->r = r;
    p->from = from;
    p->to = to;
    p->conn = conn;
    assert_int_equal(pthread_create(&r->pipes[r->npipes++], NULL, pipe_main, p), 0);
}

static void *acceptor_main(void *arg)
{
    struct relay *r = arg;

    while (!atomic_load(&r->stop) && r->accepted < RELAY_MAX) {
        struct pollfd p = { .fd = r->listen_fd, .events = POLLIN };
        int in, out;

        if ((r->accepted > 0 && atomic_load(&r->through[0]) < r->hold) ||
            poll(&p, 1, 10) <= 0) {
            poll(NULL, 0, 1);
            continue;
        }
        in = accept(r->listen_fd, NULL, NULL);
        if (in < 0)
            continue;
        out = tu_connect_raw(r->target);
        fcntl(out, F_SETFL, 0); /* the pipes block on it */
        r->fds[2 * r->accepted] = in;
        r->fds[2 * r->accepted + 1] = out;
        start_pipe(r, in, out, r->accepted);
        start_pipe(r, out, in, r->accepted);
        r->accepted++;
    }
    return NULL;
}

static void relay_start(struct relay *r, uint16_t target, uint64_t hold, int cut,
                        uint64_t cut_after)
{
    memset(r, 0, sizeof(*r));
    r->target = target;
    r->hold = hold;
    r->cut = cut;
    r->cut_after = cut_after;
    r->listen_fd = tu_listen_loopback(RELAY_MAX, &r->port);
    assert_int_equal(pthread_create(&r->acceptor, NULL, acceptor_main, r), 0);
}

static void relay_stop(struct relay *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->acceptor, NULL);
    for (int i = 0; i < 2 * r->accepted; i++)
        shutdown(r->fds[i], SHUT_RDWR);
    for (int i = 0; i < r->npipes; i++)
        pthread_join(r->pipes[i], NULL);
    for (int i = 0; i < 2 * r->accepted; i++)
        close(r->fds[i]);
    close(r->listen_fd);
}

/* One joined stream cut mid-transfer: the transfer fails cleanly, nothing
 * is published under the name; put --continue then finishes it from what
 * the server kept. A get cut the same way leaves no file behind, and
 * get --continue finishes it from its part. */
static void test_stream_cut_then_resumed(void **state)
{
    struct tu_fixture *f = *state;
    /* Slow enough that the joiners, held back, still find units to move. */
    struct ft_transfer_options opt = { .streams = 4, .rate_limit = 64u << 20 };
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    struct ft_transfer t;
    struct ft_stat st;
    struct ft_client *c;
    struct relay r;
    int fd;

    tu_write_random(src, SIZE, 11);
    /* The first 12 MiB go over the request's own connection alone, then
     * the second connection, the first to join, is cut after 1 MiB. */
    relay_start(&r, f->server.port, 12u * 1024u * 1024u, 2, 1u * 1024u * 1024u);
    c = tu_connect(r.port, NULL);
    put_file(c, src, "cut", &opt, FT_ERR_CLOSED);
    ft_client_close(c);
    relay_stop(&r);
    c = tu_connect(f->server.port, NULL);
    assert_int_equal(ft_client_stat(c, "cut", &st), FT_ERR_NOT_FOUND);
    ft_client_close(c);

    c = tu_connect(f->server.port, NULL);
    opt.resume = true;
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, SIZE, "cut", &opt, &t), FT_OK);
    close(fd);
    /* What arrived before the cut was kept: the first resume chunk at
     * least, which was whole long before it. */
    assert_true(t.resumed_from >= FT_RESUME_CHUNK_BYTES);
    assert_int_equal(ft_client_get_file(c, "cut", back, NULL, NULL), FT_OK);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    unlink(back);

    opt.resume = false;
    relay_start(&r, f->server.port, 12u * 1024u * 1024u, 2, 1u * 1024u * 1024u);
    c = tu_connect(r.port, NULL);
    assert_int_not_equal(ft_client_get_file(c, "cut", back, &opt, NULL), FT_OK);
    ft_client_close(c);
    relay_stop(&r);
    assert_false(tu_exists(back));
    /* get --continue finishes it from the part the cut left. */
    c = tu_connect(f->server.port, NULL);
    opt.resume = true;
    assert_int_equal(ft_client_get_file(c, "cut", back, &opt, &t), FT_OK);
    assert_true(t.resumed_from >= FT_RESUME_CHUNK_BYTES);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    free(src);
    free(back);
}

/* Starts a striped put of SIZE bytes on c by hand and reads its STREAMS. */
static void begin_striped_put(struct ft_client *c, struct ft_msg *streams)
{
    struct ft_msg req = { .type = FT_MSG_PUT }, ready;

    req.u.put.flags = FT_XFER_STRIPED;
    req.u.put.size = SIZE;
    req.u.put.name.ptr = (const uint8_t *)"joined";
    req.u.put.name.len = strlen("joined");
    assert_int_equal(ft_client_request(c, &req, FT_MSG_READY, &ready), FT_OK);
    assert_int_equal(ft_client_read_answer(c, FT_MSG_STREAMS, streams), FT_OK);
    assert_true(streams->u.streams.streams > 0);
}

/* A connection that sent JOIN with the proof made for it, or with the one
 * given; *err the answer. The caller closes it. */
static struct ft_client *join(uint16_t port, const struct ft_msg *streams,
                              const uint8_t *ticket, const uint8_t *proof,
                              enum ft_err *err)
{
    struct ft_client *j = tu_connect(port, NULL);
    struct ft_msg m = { .type = FT_MSG_JOIN }, reply;

    memcpy(m.u.join.ticket, ticket, FT_JOIN_TICKET_BYTES);
    if (proof != NULL)
        memcpy(m.u.join.proof, proof, FT_DIGEST_BYTES);
    else
        ft_stripes_join_proof(streams->u.streams.secret, &j->conn, m.u.join.proof);
    *err = ft_client_request(j, &m, FT_MSG_DONE, &reply);
    return j;
}

static enum ft_err try_join(uint16_t port, const struct ft_msg *streams,
                            const uint8_t *ticket, const uint8_t *proof)
{
    enum ft_err err;

    ft_client_close(join(port, streams, ticket, proof, &err));
    return err;
}

/* Joins that guess the ticket, replay another connection's proof, or
 * come when the transfer has all its streams, are refused; the one made
 * right is let in. */
static void test_joins_refused(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_server_config one_more = { .max_streams = 2 };
    struct ft_client *c, *joined;
    struct ft_msg streams;
    uint8_t guessed[FT_JOIN_TICKET_BYTES], replayed[FT_DIGEST_BYTES];
    const uint8_t *ticket;
    enum ft_err err;

    tu_server_stop(&f->server);
    tu_server_start(&f->server, &one_more);
    c = tu_connect(f->server.port, NULL);
    begin_striped_put(c, &streams);
    ticket = streams.u.streams.ticket;
    memcpy(guessed, ticket, sizeof(guessed));
    guessed[0] ^= 1;
    assert_int_equal(try_join(f->server.port, &streams, guessed, NULL), FT_ERR_DENIED);
    /* The proof of the request's own connection, sent on another. */
    ft_stripes_join_proof(streams.u.streams.secret, &c->conn, replayed);
    assert_int_equal(try_join(f->server.port, &streams, ticket, replayed),
                     FT_ERR_DENIED);
    joined = join(f->server.port, &streams, ticket, NULL, &err);
    assert_int_equal(err, FT_OK);
    /* --max-streams 2: the request's connection and one more. */
    assert_int_equal(try_join(f->server.port, &streams, ticket, NULL), FT_ERR_DENIED);
    ft_client_close(joined);
    ft_client_close(c);
}

/* What the server logged about connections: how many came, how many
 * left, and lines that say something went wrong. */
static atomic_int came, left, complaints;

static void count_sessions(void *ctx, const char *line)
{
    (void)ctx;
    if (strstr(line, " connected") != NULL)
        atomic_fetch_add(&came, 1);
    else if (strstr(line, " disconnected after ") != NULL)
        atomic_fetch_add(&left, 1);
    else if ((strstr(line, "dropped") != NULL || strstr(line, "refused") != NULL ||
              strstr(line, "gave up") != NULL || strstr(line, "failed") != NULL) &&
             strstr(line, " get absent ") == NULL) {
        fprintf(stderr, "server: %s\n", line);
        atomic_fetch_add(&complaints, 1);
    }
}

/* A put and a get with four streams asked for on a connection to a server
 * that allows max_streams; *streams the connections the get used. Returns
 * the connections the server saw, once it stopped; every one of them came
 * and went without a complaint in its log. */
static int transfer_counting(struct tu_fixture *f, unsigned max_streams,
                             unsigned *streams)
{
    struct ft_server_config cfg = { .log = count_sessions, .max_streams = max_streams };
    struct ft_transfer_options opt = { .streams = 4 };
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    struct ft_transfer t;
    struct ft_client *c;

    tu_server_stop(&f->server);
    atomic_store(&came, 0);
    atomic_store(&left, 0);
    atomic_store(&complaints, 0);
    tu_server_start(&f->server, &cfg);
    tu_write_random(src, 4u * FT_STRIPE_UNIT + 99u, 5);
    c = tu_connect(f->server.port, NULL);
    put_file(c, src, "few", &opt, FT_OK);
    assert_int_equal(ft_client_get_file(c, "few", back, &opt, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_files_equal(src, back));
    *streams = t.streams; /* 1: not striped */
    /* A request that fails: what was opened for it is closed all the same. */
    assert_int_equal(ft_client_get_file(c, "absent", back, &opt, NULL),
                     FT_ERR_NOT_FOUND);
    ft_client_close(c);
    tu_server_stop(&f->server);
    assert_int_equal(atomic_load(&left), atomic_load(&came));
    assert_int_equal(atomic_load(&complaints), 0);
    free(src);
    free(back);
    return atomic_load(&came);
}

/* The connections a transfer starts with are opened while its request
 * travels. A server that does not stripe (STREAMS 0), or allows fewer
 * streams than were opened, leaves some unused: they close without a
 * request, and the server logs no failure for them. */
static void test_early_connections_not_needed(void **state)
{
    struct tu_fixture *f = *state;
    unsigned streams;

    /* The request's connection, and three more for each of the put, the
     * get and the failed get. */
    assert_int_equal(transfer_counting(f, 1, &streams), 1 + 3 * 3);
    assert_int_equal(streams, 1);
    /* One more stream allowed: one of the three joins. */
    assert_int_equal(transfer_counting(f, 2, &streams), 1 + 3 * 3);
    assert_int_equal(streams, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_four_streams_both_ways),
        TU_TEST_SERVER(test_stream_cut_then_resumed),
        TU_TEST_SERVER(test_joins_refused),
        TU_TEST_SERVER(test_early_connections_not_needed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
