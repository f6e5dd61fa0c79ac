/* test_links.c - what a link does to a transfer: rate limits, heartbeats
 * and timeouts, IPv6. Times here are lower bounds (a transfer limited to R
 * takes at least its size over R) or generous upper bounds, never exact. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "proto.h"
#include "testutil.h"

#define SIZE (3u * 1024u * 1024u)
#define RATE (2u * 1024u * 1024u) /* bytes per second */

/* --limit-rate on put and get (over one connection or several), and the
 * server's --max-rate: each transfer takes at least its size over the
 * rate. */
static void test_rate_limits_are_lower_bounds(void **state)
{
    struct ft_server_config limited = { .max_rate = RATE };
    struct ft_transfer_options opt = { .rate_limit = RATE };
    struct tu_fixture *f = *state;
    struct ft_transfer t;
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    struct ft_client *c;
    int64_t t0;
    int fd;

    tu_write_random(src, SIZE, 3);
    c = tu_connect(f->server.port, NULL);
    fd = open(src, O_RDONLY);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_put(c, fd, SIZE, "f", &opt, NULL), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    close(fd);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_get_file(c, "f", back, &opt, NULL), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    assert_true(tu_files_equal(src, back));
    /* Over four connections the limit holds for all of them together. */
    opt.streams = 4;
    fd = open(src, O_RDONLY);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_put(c, fd, SIZE, "f", &opt, &t), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    assert_true(t.streams > 1);
    close(fd);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_get_file(c, "f", back, &opt, &t), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    assert_true(t.streams > 1);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    tu_server_stop(&f->server);

    tu_server_start(&f->server, &limited);
    c = tu_connect(f->server.port, NULL);
    fd = open(src, O_RDONLY);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_put(c, fd, SIZE, "f", NULL, NULL), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    close(fd);
    t0 = ft_io_now_ms();
    assert_int_equal(ft_client_get_file(c, "f", back, NULL, NULL), FT_OK);
    assert_true(ft_io_now_ms() - t0 >= (int64_t)SIZE * 1000 / RATE);
    ft_client_close(c);
    free(src);
    free(back);
}

/* A fake server: answers the handshake in plaintext, then LIST with
 * heartbeats for beats_ms before DONE (or with silence when mute). */
struct fake {
    int listen_fd;
    int beats_ms;
    bool mute;
};

static void *fake_server(void *arg)
{
    struct fake *f = arg;
    struct ft_msg m, welcome = { .type = FT_MSG_WELCOME };
    struct ft_msg done = { .type = FT_MSG_DONE };
    struct ft_conn c;
    char peer[FT_NET_PEER_MAX];
    int fd = -1;

    if (ft_net_accept(f->listen_fd, 10000, &fd, peer, sizeof(peer)) != FT_OK ||
        ft_conn_init(&c, fd, 10000) != FT_OK)
        return NULL;
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = FT_FEATURE_PLAINTEXT;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    if (ft_conn_recv(&c, &m, 10000) == FT_OK && ft_conn_send(&c, &welcome) == FT_OK &&
        ft_conn_recv(&c, &m, 10000) == FT_OK && m.type == FT_MSG_LIST) {
        int64_t until = ft_io_now_ms() + f->beats_ms;

        while (ft_io_now_ms() < until) {
            struct timespec ts = { 0, 100 * 1000000 };

            if (!f->mute && ft_conn_send_keepalive(&c) != FT_OK)
                break;
            nanosleep(&ts, NULL); /* pacing the heartbeats, not readiness */
        }
        if (!f->mute)
            ft_conn_send(&c, &done);
        else /* stay silent until the client gives up */
            ft_io_wait(c.fd, POLLIN, ft_io_deadline(10000));
    }
    ft_conn_free(&c);
    return NULL;
}

static int ignore_entry(const struct ft_entry *e, void *ctx)
{
    (void)e;
    (void)ctx;
    return 0;
}

static enum ft_err list_against(struct fake *f, int timeout_ms, char *err,
                                size_t errlen)
{
    struct ft_client_config cfg = { .plaintext = true, .timeout_ms = timeout_ms };
    struct ft_client *c;
    uint16_t port = 0;
    char why[128];
    pthread_t tid;
    enum ft_err rc;

    assert_int_equal(ft_net_listen("127.0.0.1", 0, &f->listen_fd, &port, why,
                                   sizeof(why)), FT_OK);
    assert_int_equal(pthread_create(&tid, NULL, fake_server, f), 0);
    c = tu_connect(port, &cfg);
    rc = ft_client_list(c, ignore_entry, NULL);
    snprintf(err, errlen, "%s", ft_client_error(c));
    ft_client_close(c);
    pthread_join(tid, NULL);
    close(f->listen_fd);
    return rc;
}

/* A server busy for several timeouts but sending heartbeats is waited for; a
 * silent one is given up on, with a message naming it. */
static void test_heartbeats_and_timeouts(void **state)
{
    /* Heartbeats every 100 ms, for 2.5 times the client's timeout: a
     * loaded machine may delay one beat, not twenty. */
    struct fake busy = { .beats_ms = 5000, .mute = false };
    struct fake dead = { .beats_ms = 0, .mute = true };
    char err[512];

    (void)state;
    assert_int_equal(list_against(&busy, 2000, err, sizeof(err)), FT_OK);
    assert_int_equal(list_against(&dead, 2000, err, sizeof(err)), FT_ERR_TIMEOUT);
    assert_non_null(strstr(err, "stopped answering"));
}

/* Names and IPv6: a server on "::" takes IPv4 and IPv6 clients, and
 * "localhost" resolves. */
static void test_ipv6_and_names(void **state)
{
    struct ft_server_config cfg = { .host = "::" };
    struct tu_fixture *f = *state;
    char err[256];
    const char *hosts[] = { "::1", "127.0.0.1", "localhost" };

    if (!tu_server_try_start(&f->server, &cfg, err, sizeof(err)))
        skip(); /* no IPv6 on this machine */
    for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
        struct ft_client_config named = { .host = hosts[i] };
        struct addrinfo *res = NULL;
        struct ft_client *c;

        /* A bare chroot may have no /etc/hosts: no name to test then. */
        if (getaddrinfo(hosts[i], NULL, NULL, &res) != 0) {
            print_message("no address for %s here: not tested\n", hosts[i]);
            continue;
        }
        freeaddrinfo(res);
        c = tu_connect(f->server.port, &named);

        assert_int_equal(ft_client_list(c, ignore_entry, NULL), FT_OK);
        ft_client_close(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_rate_limits_are_lower_bounds),
        cmocka_unit_test(test_heartbeats_and_timeouts),
        TU_TEST_FIXTURE(test_ipv6_and_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
