/* test_pipeline.c - many requests from one command cost no round trip
 * each: proved by a relay that lets no answer through until it has seen
 * every request, which a client that waits for each answer never sends.
 *
 * The relay sits between a client and a server on 127.0.0.1 and reads the
 * frame headers (in clear even on the encrypted channel). Once the first
 * request (of a given type, or any) has passed, it holds the server's
 * bytes until `want` such requests have passed, then lets everything
 * through. A client that waits for an
 * answer before its next request stalls until its timeout; a pipelined
 * one finishes. No timing is asserted: only whether it finishes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "testutil.h"

/* How long a relay lives, whatever happens: a stalled client ends then. */
#define RELAY_LIFE_MS 15000
/* The client's wait for an answer in these tests, in seconds. */
#define CLIENT_TIMEOUT_S 3

/* Where one direction of the relay is in its stream of frames. */
struct framer {
    uint8_t header[FT_FRAME_HEADER_BYTES];
    size_t header_got;
    uint64_t left; /* payload bytes of the current frame still to pass */
};

struct relay {
    int listen_fd;
    uint16_t port;
    char portstr[8];
    uint16_t server_port;
    int want;            /* requests seen before the answers go on */
    uint8_t hold_type;   /* the requests that count for want; 0: all */
    bool strip_pipeline; /* clears PIPELINE in a plaintext WELCOME */
    pthread_t thread;
    /* Read after the join. */
    /* Requests and answers passed, the most requests due at once (counted
     * from the first request of hold_type on), and those of hold_type. */
    int requests, answers, most_due, counted;
    int base; /* requests - answers when the first of hold_type came */
    bool stripped;
};

static bool is_request(uint8_t type)
{
    return type == FT_MSG_PUT || type == FT_MSG_GET || type == FT_MSG_LIST ||
           type == FT_MSG_DELETE || type == FT_MSG_STAT || type == FT_MSG_MOVE ||
           type == FT_MSG_MKDIR;
}

/* The end of an answer to a request on names (or a GET's END). */
static bool ends_answer(uint8_t type)
{
    return type == FT_MSG_DONE || type == FT_MSG_STAT_INFO ||
           type == FT_MSG_ERROR || type == FT_MSG_END;
}

/* Feeds n bytes of one direction through its framer; on_frame sees each
 * header, with the payload's bytes from at (those of buf, if any). */
static void frames(struct relay *r, struct framer *fr, uint8_t *buf, size_t n,
                   void (*on_frame)(struct relay *r, uint8_t type, uint8_t *at,
                                    size_t avail))
{
    size_t i = 0;

    while (i < n) {
        if (fr->left > 0) {
            size_t take = n - i < fr->left ? n - i : (size_t)fr->left;

            fr->left -= take;
            i += take;
            continue;
        }
        fr->header[fr->header_got++] = buf[i++];
        if (fr->header_got < FT_FRAME_HEADER_BYTES)
            continue;
        fr->header_got = 0;
        fr->left = ((uint64_t)fr->header[0] << 24) | ((uint64_t)fr->header[1] << 16) |
                   ((uint64_t)fr->header[2] << 8) | fr->header[3];
        on_frame(r, fr->header[4], buf + i, n - i);
    }
}

static void client_frame(struct relay *r, uint8_t type, uint8_t *at, size_t avail)
{
    (void)at;
    (void)avail;
    if (!is_request(type))
        return;
    r->requests++;
    if (r->hold_type == 0 || type == r->hold_type) {
        if (r->counted++ == 0)
            r->base = r->requests - 1 - r->answers;
    }
    if (r->counted > 0 && r->requests - r->answers - r->base > r->most_due)
        r->most_due = r->requests - r->answers - r->base;
}

static void server_frame(struct relay *r, uint8_t type, uint8_t *at, size_t avail)
{
    /* WELCOME: magic (4), version (2), features (4, big-endian). */
    if (type == FT_MSG_WELCOME && r->strip_pipeline && avail >= 10) {
        at[9] &= (uint8_t)~FT_FEATURE_PIPELINE;
        r->stripped = true;
    }
    if (r->requests > 0 && ends_answer(type))
        r->answers++;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Relays one connection until either side closes or its life ends. */
static void relay_one(struct relay *r, int cfd, int sfd, int64_t deadline)
{
    struct framer up = { .header_got = 0 }, down = { .header_got = 0 };
    uint8_t *held = NULL, buf[65536];
    size_t held_len = 0;

    for (;;) {
        struct pollfd p[2] = { { cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        int64_t left = deadline - tu_now_ms();
        bool holding = r->counted > 0 && r->counted < r->want;
        ssize_t n;

        if (left <= 0 || poll(p, 2, (int)left) <= 0)
            break;
        if (p[0].revents) {
            n = read(cfd, buf, sizeof(buf));
            if (n <= 0)
                break;
            frames(r, &up, buf, (size_t)n, client_frame);
            if (!write_all(sfd, buf, (size_t)n))
                break;
        }
        if (p[1].revents) {
            n = read(sfd, buf, sizeof(buf));
            if (n <= 0)
                break;
            held = realloc(held, held_len + (size_t)n);
            assert_non_null(held);
            memcpy(held + held_len, buf, (size_t)n);
            held_len += (size_t)n;
        }
        holding = r->counted > 0 && r->counted < r->want;
        if (!holding && held_len > 0) {
            frames(r, &down, held, held_len, server_frame);
            if (!write_all(cfd, held, held_len))
                break;
            held_len = 0;
        }
    }
    free(held);
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    int64_t deadline = tu_now_ms() + RELAY_LIFE_MS;
    struct pollfd p = { r->listen_fd, POLLIN, 0 };
    int cfd, sfd;

    if (poll(&p, 1, RELAY_LIFE_MS) <= 0)
        return NULL;
    cfd = accept(r->listen_fd, NULL, NULL);
    if (cfd < 0)
        return NULL;
    sfd = tu_connect_raw(r->server_port);
    if (sfd >= 0) {
        relay_one(r, cfd, sfd, deadline);
        close(sfd);
    }
    close(cfd);
    return NULL;
}

/* Starts a relay of one connection to server_port. */
static void relay_start(struct relay *r, uint16_t server_port, int want)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);

    memset(r, 0, sizeof(*r));
    r->server_port = server_port;
    r->want = want;
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->listen_fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->listen_fd, 1), 0);
    assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    snprintf(r->portstr, sizeof(r->portstr), "%u", (unsigned)r->port);
}

static void relay_run(struct relay *r)
{
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_join(struct relay *r)
{
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
}

/* Writes name (of size bytes) into folder. */
/* A file of size random bytes (seeded by its size) stored as name on the
 * server of root, behind its back, whatever the store. */
static void make_file(const char *root, const char *name, uint64_t size)
{
    char *dir = tu_tempdir(), *path = tu_path(dir, "made");

    tu_write_random(path, size, (uint32_t)size);
    tu_store_put_file(root, name, path);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

static bool exists_in(const char *root, const char *name)
{
    return tu_store_exists(root, name);
}

/* ------------------------------------------------------- the library */

struct seen {
    int n;
    enum ft_err err[16];
    uint64_t size[16];
};

static int note(void *ctx, size_t i, enum ft_err err, const struct ft_name_answer *a)
{
    struct seen *s = ctx;

    assert_int_equal(i, (size_t)s->n);
    s->err[s->n] = err;
    s->size[s->n] = a->st.size;
    s->n++;
    return 0;
}

/* Eight stats, one of a missing name: all asked before any answer. */
static void test_names_pipelined(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client_config cfg = { .timeout_ms = CLIENT_TIMEOUT_S * 1000 };
    struct ft_name_request reqs[8];
    char names[8][8];
    struct seen s = { .n = 0 };
    struct relay r;
    struct ft_client *c;

    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        if (i != 5)
            make_file(f->server.root, names[i], 100 + (uint64_t)i);
        reqs[i] = (struct ft_name_request){ .op = FT_NAME_STAT, .name = names[i] };
    }
    relay_start(&r, f->server.port, 8);
    relay_run(&r);
    c = tu_connect(r.port, &cfg);
    assert_int_equal(ft_client_names(c, reqs, 8, note, &s), FT_ERR_NOT_FOUND);
    assert_int_equal(s.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(s.err[i], i == 5 ? FT_ERR_NOT_FOUND : FT_OK);
        if (i != 5)
            assert_int_equal(s.size[i], 100 + (uint64_t)i);
    }
    /* The connection is still in step after the refusal. */
    assert_int_equal(ft_client_remove(c, "f0"), FT_OK);
    ft_client_close(c);
    relay_join(&r);
    assert_int_equal(r.most_due, 8);
    assert_false(exists_in(f->server.root, "f0"));
}

/* A server that did not offer PIPELINE (the relay takes it out of a
 * plaintext WELCOME) gets one request at a time, and the same answers. */
static void test_names_without_pipeline(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client_config cfg = { .timeout_ms = CLIENT_TIMEOUT_S * 1000,
                                    .plaintext = true };
    struct ft_name_request reqs[4] = {
        { .op = FT_NAME_MKDIR, .name = "d" },
        { .op = FT_NAME_MOVE, .name = "a", .to = "d/a" },
        { .op = FT_NAME_REMOVE, .name = "nothing" },
        { .op = FT_NAME_STAT_QUICK, .name = "d/a" },
    };
    struct seen s = { .n = 0 };
    struct relay r;
    struct ft_client *c;

    make_file(f->server.root, "a", 42);
    relay_start(&r, f->server.port, 1);
    r.strip_pipeline = true;
    relay_run(&r);
    c = tu_connect(r.port, &cfg);
    assert_false(ft_client_can_pipeline(c));
    assert_int_equal(ft_client_names(c, reqs, 4, note, &s), FT_ERR_NOT_FOUND);
    ft_client_close(c);
    relay_join(&r);
    assert_true(r.stripped);
    assert_int_equal(r.most_due, 1);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.err[0], FT_OK);
    assert_int_equal(s.err[1], FT_OK);
    assert_int_equal(s.err[2], FT_ERR_NOT_FOUND);
    assert_int_equal(s.err[3], FT_OK);
    assert_int_equal(s.size[3], 42);
}

/* ------------------------------------------------------------ the CLI */

/* Runs ft ARGS... through the relay r, standard output to out (NULL:
 * none); returns its exit status, its standard error in err. */
static int run_via(struct relay *r, const char *out, char *err, size_t errlen,
                   const char *cmd, const char *const more[])
{
    const char *args[32] = { cmd, "--port", r->portstr, "--timeout", "3" };
    int n = 5;

    for (int i = 0; more[i] != NULL; i++)
        args[n++] = more[i];
    args[n] = NULL;
    relay_run(r);
    n = tu_run_ft(args, NULL, out, err, errlen);
    relay_join(r);
    return n;
}

/* ft CMD a b c [dest] with b missing and a, c files of 1000 and 3000
 * bytes, through a relay that holds the answers until all three are
 * asked: b told as missing, exit code 4. */
static void middle_one_missing(struct tu_fixture *f, const char *cmd,
                               const char *dest)
{
    const char *const names[] = { "a", "b", "c", dest, NULL };
    char err[4096], told[64], other[64];
    struct relay r;

    make_file(f->server.root, "a", 1000);
    make_file(f->server.root, "c", 3000);
    relay_start(&r, f->server.port, 3);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), cmd, names), 4);
    snprintf(told, sizeof(told), "ft: %s b: server refused: no such file 'b'", cmd);
    assert_non_null(strstr(err, told));
    for (int i = 0; i < 2; i++) {
        snprintf(other, sizeof(other), "ft: %s %s:", cmd, i == 0 ? "a" : "c");
        assert_null(strstr(err, other));
    }
    assert_int_equal(r.most_due, 3);
}

/* ft rm a b c with b missing: a and c removed. */
static void test_rm_error_in_middle(void **state)
{
    struct tu_fixture *f = *state;

    middle_one_missing(f, "rm", NULL);
    assert_false(exists_in(f->server.root, "a"));
    assert_false(exists_in(f->server.root, "c"));
}

/* ft stat x missing y: both told in order on standard output. */
static void test_stat_output_in_order(void **state)
{
    struct tu_fixture *f = *state;
    const char *const names[] = { "x", "missing", "y", NULL };
    char *out = tu_path(f->work, "stat.out");
    char err[4096], text[4096];
    struct relay r;
    FILE *fp;
    size_t n;
    char *x, *y;

    make_file(f->server.root, "x", 10);
    make_file(f->server.root, "y", 20);
    relay_start(&r, f->server.port, 3);
    assert_int_equal(run_via(&r, out, err, sizeof(err), "stat", names), 4);
    assert_non_null(strstr(err, "stat missing: server refused: no such file"));
    fp = fopen(out, "r");
    assert_non_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    x = strstr(text, "name: x\nsize: 10\n");
    y = strstr(text, "name: y\nsize: 20\n");
    assert_non_null(x);
    assert_non_null(y);
    assert_true(x < y);
    free(out);
}

/* ft mkdir of three folders, then ft mv of two files into one of them. */
static void test_mkdir_and_mv_many(void **state)
{
    struct tu_fixture *f = *state;
    const char *const folders[] = { "d1", "d2", "d3", NULL };
    const char *const moves[] = { "p", "q", "d2", NULL };
    const char *const not_folder[] = { "d1", "d3", "p2", NULL };
    char err[4096];
    struct relay r;

    relay_start(&r, f->server.port, 3);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "mkdir", folders), 0);
    assert_int_equal(r.most_due, 3);
    assert_true(exists_in(f->server.root, "d3"));
    make_file(f->server.root, "p", 1);
    make_file(f->server.root, "q", 2);
    /* The stat of d2 is answered before the moves go. */
    relay_start(&r, f->server.port, 1);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "mv", moves), 0);
    assert_true(exists_in(f->server.root, "d2/p"));
    assert_true(exists_in(f->server.root, "d2/q"));
    assert_false(exists_in(f->server.root, "p"));
    /* Several names into something that is no folder: refused whole. */
    relay_start(&r, f->server.port, 1);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "mv", not_folder), 2);
    assert_non_null(strstr(err, "must be a folder"));
    assert_true(exists_in(f->server.root, "d1"));
}

/* ft put of six files without -r: all sent before any answer. */
static void test_put_several(void **state)
{
    struct tu_fixture *f = *state;
    const char *names[] = { "u0", "u1", "u2", "u3", "u4", "u5" };
    const char *args[8];
    char err[4096];
    struct relay r;

    for (int i = 0; i < 6; i++) {
        args[i] = tu_path(f->work, names[i]);
        tu_write_random(args[i], 1000 + (uint64_t)i, (uint32_t)i);
    }
    args[6] = "in/";
    args[7] = NULL;
    relay_start(&r, f->server.port, 6);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "put", args), 0);
    for (int i = 0; i < 6; i++) {
        char *file = tu_path("in", names[i]);

        assert_true(tu_store_same(f->server.root, file, args[i]));
        free(file);
        free((char *)args[i]);
    }
    assert_int_equal(r.requests, 6);
}

/* ft get of three small files: their sizes asked first (STATs), then
 * all three GETs before any answer. */
static void test_get_several(void **state)
{
    struct tu_fixture *f = *state;
    const char *const args[] = { "a", "b", "c", f->work, NULL };
    char err[4096], path[4096];
    struct relay r;

    for (int i = 0; i < 3; i++)
        make_file(f->server.root, args[i], 100 * (uint64_t)(i + 1));
    relay_start(&r, f->server.port, 3);
    r.hold_type = FT_MSG_GET;
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "get", args), 0);
    assert_int_equal(r.most_due, 3);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->work, args[i]);
        assert_int_equal(tu_file_size(path), 100 * (i + 1));
    }
}

/* ft get of small files around one of 2 MiB, which goes the ordinary
 * way (the files after it are asked for ahead again): all arrive whole. */
static void test_get_mixed_sizes(void **state)
{
    struct tu_fixture *f = *state;
    const char *const args[] = { "s1", "big", "s2", "s3", f->work, NULL };
    char err[4096], path[4096];
    struct relay r;

    for (int i = 0; i < 4; i++)
        make_file(f->server.root, args[i], i == 1 ? 2u << 20 : 10 + (uint64_t)i);
    relay_start(&r, f->server.port, 1);
    r.hold_type = FT_MSG_GET;
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "get", args), 0);
    assert_int_equal(r.most_due, 2); /* s2 and s3 */
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->work, args[i]);
        assert_true(tu_store_same(f->server.root, args[i], path));
    }
}

/* ft get a b c into a folder with b missing: a and c fetched. */
static void test_get_several_one_missing(void **state)
{
    struct tu_fixture *f = *state;

    middle_one_missing(f, "get", f->work);
    for (int i = 0; i < 2; i++) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", f->work, i == 0 ? "a" : "c");
        assert_int_equal(tu_file_size(path), i == 0 ? 1000 : 3000);
    }
}

/* ft put -r of a tree of five empty folders: their MKDIRs all go before
 * any answer. */
static void test_put_r_empty_folders(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "tree");
    const char *args[] = { "-r", src, "dest/", NULL };
    char err[4096], name[16];
    struct relay r;

    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < 5; i++) {
        char *p;

        snprintf(name, sizeof(name), "e%d", i);
        p = tu_path(src, name);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
    }
    relay_start(&r, f->server.port, 5);
    assert_int_equal(run_via(&r, NULL, err, sizeof(err), "put", args), 0);
    assert_int_equal(r.most_due, 5);
    assert_true(exists_in(f->server.root, "dest/tree/e0"));
    assert_true(exists_in(f->server.root, "dest/tree/e4"));
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_names_pipelined),
        TU_TEST_SERVER(test_names_without_pipeline),
        TU_TEST_SERVER(test_rm_error_in_middle),
        TU_TEST_SERVER(test_stat_output_in_order),
        TU_TEST_SERVER(test_mkdir_and_mv_many),
        TU_TEST_SERVER(test_put_several),
        TU_TEST_SERVER(test_get_several),
        TU_TEST_SERVER(test_get_mixed_sizes),
        TU_TEST_SERVER(test_get_several_one_missing),
        TU_TEST_SERVER(test_put_r_empty_folders),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
