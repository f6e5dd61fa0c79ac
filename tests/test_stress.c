/* test_stress.c - a `ft serve` process under load, on loopback: 64 clients
 * at once each putting and getting back its own 4 MiB file, then 1000 short
 * connections in a row; afterwards the server holds exactly the
 * descriptors it held before. Prints the figures (peak memory of the
 * server, descriptors) on one line. Label: stress. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define CLIENTS 64
#define FILE_BYTES (4u * 1024u * 1024u)
#define SHORT_CONNECTIONS 1000
/* Generous: 64 transfers share two cores, perhaps under a sanitizer. */
#define CLIENT_TIMEOUT_MS 120000
#define WAIT_MS 20000

/* Descriptors the process holds; -1 if it cannot be read. */
static int count_fds(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    return tu_count_entries(path);
}

/* A "Vm...:  N kB" figure of the process; -1 if it cannot be read. */
static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t len = strlen(field);
    long v = -1;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(fp);
    return v;
}

struct worker {
    pthread_t thread;
    pthread_barrier_t *all_connected;
    uint16_t port;
    char name[16];
    char *src, *back;
    enum ft_err put_rc, get_rc;
    struct ft_transfer put, get;
    char err[1024];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ft_client_config cfg = { .timeout_ms = CLIENT_TIMEOUT_MS };
    struct ft_client *c = NULL;
    enum ft_err rc;
    int fd;

    w->put_rc = w->get_rc = FT_ERR_USAGE;
    rc = tu_try_connect(&c, w->port, &cfg, w->err, sizeof(w->err));

    /* Every client holds its session before any transfer starts, so the
     * server really serves 64 at once. */
    pthread_barrier_wait(w->all_connected);
    if (rc != FT_OK)
        return NULL;
    fd = open(w->src, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        w->put_rc = ft_client_put(c, fd, FILE_BYTES, w->name, NULL, &w->put);
        close(fd);
    }
    if (w->put_rc == FT_OK)
        w->get_rc = ft_client_get_file(c, w->name, w->back, NULL, &w->get);
    if (w->put_rc != FT_OK || w->get_rc != FT_OK)
        snprintf(w->err, sizeof(w->err), "%s", ft_client_error(c));
    ft_client_close(c);
    return NULL;
}

static int count_one(const struct ft_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* One short connection: a listing, or every tenth time a tiny put and get. */
static enum ft_err short_connection(uint16_t port, int i, const char *tiny,
                                    const char *tiny_back, char *err,
                                    size_t errlen)
{
    struct ft_client_config cfg = { .timeout_ms = WAIT_MS };
    struct ft_client *c = NULL;
    enum ft_err rc = tu_try_connect(&c, port, &cfg, err, errlen);
    int fd;

    if (rc != FT_OK)
        return rc;
    if (i % 10 != 0) {
        int n = 0;

        rc = ft_client_list(c, count_one, &n);
    } else {
        fd = open(tiny, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? FT_ERR_IO : ft_client_put(c, fd, 100, "tiny", NULL, NULL);
        if (fd >= 0)
            close(fd);
        if (rc == FT_OK)
            rc = ft_client_get_file(c, "tiny", tiny_back, NULL, NULL);
        if (rc == FT_OK && !tu_files_equal(tiny, tiny_back))
            rc = FT_ERR_INTEGRITY;
    }
    if (rc != FT_OK)
        snprintf(err, errlen, "%s", ft_client_error(c));
    ft_client_close(c);
    return rc;
}

/* Many clients at once against one `ft serve`, then many short ones, every
 * copy checked, the server's descriptors counted back and its clean stop:
 * one run, start to end, is the test, and it reads best whole. */
static void test_stress(void **state)
{
    struct tu_fixture *f = *state;
    const char *extra[] = { "--max-clients", "100", NULL };
    char *tiny = tu_path(f->work, "tiny");
    char *tiny_back = tu_path(f->work, "tiny.back");
    struct worker *w = calloc(CLIENTS, sizeof(*w));
    pthread_barrier_t all_connected;
    int fds_before, fds_after = -1, failures = 0, status = 0;
    long peak_kib;
    char err[1024];
    int64_t deadline;

    assert_non_null(w);
    assert_true(tu_fixture_serve(f, extra));
    fds_before = count_fds(f->served.pid);
    assert_true(fds_before > 0);

    tu_write_random(tiny, 100, 999);
    for (int i = 0; i < CLIENTS; i++) {
        char name[32];

        w[i].port = f->served.port;
        w[i].all_connected = &all_connected;
        snprintf(w[i].name, sizeof(w[i].name), "file-%02d", i);
        snprintf(name, sizeof(name), "src-%02d", i);
        w[i].src = tu_path(f->work, name);
        snprintf(name, sizeof(name), "back-%02d", i);
        w[i].back = tu_path(f->work, name);
        tu_write_random(w[i].src, FILE_BYTES, (uint32_t)(1000 + i));
    }
    /* All at once. */
    assert_int_equal(pthread_barrier_init(&all_connected, NULL, CLIENTS), 0);
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(w[i].thread, NULL);
    pthread_barrier_destroy(&all_connected);
    for (int i = 0; i < CLIENTS; i++) {
        char *stored = tu_path(f->root, w[i].name);

        if (w[i].put_rc != FT_OK || w[i].get_rc != FT_OK)
            print_error("client %d: put %s, get %s: %s\n", i,
                        ft_err_name(w[i].put_rc), ft_err_name(w[i].get_rc),
                        w[i].err);
        assert_int_equal(w[i].put_rc, FT_OK);
        assert_int_equal(w[i].get_rc, FT_OK);
        assert_true(w[i].put.verified);
        assert_true(w[i].get.verified);
        assert_int_equal(w[i].get.bytes, FILE_BYTES);
        assert_string_equal(w[i].put.digest_hex, w[i].get.digest_hex);
        assert_true(tu_files_equal(w[i].src, w[i].back));
        assert_true(tu_files_equal(w[i].src, stored));
        unlink(w[i].back);
        unlink(w[i].src);
        free(stored);
    }

    /* Then many short connections, one after the other. */
    for (int i = 0; i < SHORT_CONNECTIONS; i++) {
        enum ft_err rc = short_connection(f->served.port, i, tiny, tiny_back, err,
                                          sizeof(err));

        if (rc != FT_OK && failures++ == 0)
            print_error("connection %d: %s: %s\n", i, ft_err_name(rc), err);
    }
    assert_int_equal(failures, 0);
    {   /* Everything is listed: 64 files and the tiny one. */
        struct ft_client *c = tu_connect(f->served.port, NULL);
        int n = 0;

        assert_int_equal(ft_client_list(c, count_one, &n), FT_OK);
        ft_client_close(c);
        assert_int_equal(n, CLIENTS + 1);
    }

    /* Every session's descriptor goes back: the server closes in its own
     * time after each client leaves, so poll, bounded. */
    deadline = tu_now_ms() + WAIT_MS;
    for (;;) {
        fds_after = count_fds(f->served.pid);
        if (fds_after == fds_before || tu_now_ms() > deadline)
            break;
        tu_sleep_ms(20);
    }
    peak_kib = status_kib(f->served.pid, "VmHWM");
    printf("stress: %d transfers, %d connections, server peak RSS %ld KiB, "
           "fds before %d after %d\n", 2 * CLIENTS, SHORT_CONNECTIONS, peak_kib,
           fds_before, fds_after);
    fflush(stdout);
    assert_int_equal(fds_after, fds_before);
    assert_true(peak_kib > 0);

    /* And it still stops cleanly. */
    assert_int_equal(kill(f->served.pid, SIGTERM), 0);
    assert_true(tu_served_log_until(&f->served, "ft serve: stopped", WAIT_MS));
    assert_true(tu_wait_pid(f->served.pid, WAIT_MS, &status));
    f->served.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    for (int i = 0; i < CLIENTS; i++) {
        free(w[i].src);
        free(w[i].back);
    }
    free(w);
    free(tiny);
    free(tiny_back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_FIXTURE(test_stress),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
