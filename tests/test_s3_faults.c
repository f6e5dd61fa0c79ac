/* test_s3_faults.c - faults of a store on S3: radosgw gone in the middle
 * of an upload, and a server killed in the middle of one while a second
 * server on the same bucket serves. Needs FT_TEST_STORE=s3 and the engine
 * of scripts/radosgw.sh (FT_RGW_DIR), which it stops and restarts; skips
 * (77) without them. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define SIZE (24u * 1024u * 1024u)
#define WAIT_MS 120000

/* scripts/radosgw.sh VERB on the engine of $FT_RGW_DIR: stop-rgw kills
 * just the gateway (the cluster and its data stay), start-rgw brings it
 * back and returns once it answers. */
static void rgw(const char *verb)
{
    char *cmd;

    if (asprintf(&cmd, "bash '%s/scripts/radosgw.sh' %s", FT_SOURCE_DIR, verb) < 0)
        tu_die("asprintf");
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static int run(struct tu_fixture *f, const char *const args[], char *err,
               size_t errlen)
{
    const char *env[] = { f->config_env, NULL };

    return tu_run_ft_env(args, env, NULL, NULL, err, errlen);
}

/* Puts local as name through the server on port. */
static void put(struct tu_fixture *f, const char *port, const char *local,
                const char *name)
{
    const char *args[] = { "put", "-q", "-p", port, local, name, NULL };
    char err[4096];

    if (run(f, args, err, sizeof(err)) != 0)
        fail_msg("put %s: %s", name, err);
}

/* Gets name through the server on port and compares it with want. */
static void get_is(struct tu_fixture *f, const char *port, const char *name,
                   const char *want)
{
    char *back = tu_path(f->work, "back");
    const char *args[] = { "get", "-q", "-p", port, name, back, NULL };
    char err[4096];

    unlink(back);
    if (run(f, args, err, sizeof(err)) != 0)
        fail_msg("get %s: %s", name, err);
    assert_true(tu_files_equal(want, back));
    unlink(back);
    free(back);
}

/* Starts a put of src as name through port slowed to 4 MiB/s, returning
 * once the store holds more than min bytes of it: an upload half way. */
static pid_t put_slowly(struct tu_fixture *f, const char *port, const char *src,
                        const char *name, int64_t min, int err_fd)
{
    const char *args[] = { "put", "-q", "--limit-rate", "4M", "-p", port, src,
                           name, NULL };
    const char *env[] = { f->config_env, NULL };
    pid_t pid = tu_spawn_ft_env(args, env, -1, -1, err_fd);

    assert_true(pid > 0);
    assert_true(tu_store_wait_upload(f->root, min, WAIT_MS));
    return pid;
}

/* The old and the new version of "doc" in f->work. */
static void versions(struct tu_fixture *f, char **old, char **src)
{
    *old = tu_path(f->work, "old");
    *src = tu_path(f->work, "new");
    tu_write_random(*old, 1u << 20, 1);
    tu_write_random(*src, SIZE, 2);
}

/* radosgw dies mid-upload: the put fails with the reason, the old
 * version stays whole (nothing half-published), and once radosgw is back
 * put --continue publishes the new one. */
static void test_rgw_stopped_mid_upload(void **state)
{
    struct tu_fixture *f = *state;
    const char *port = f->served.portstr;
    char *old, *src, *errlog = tu_path(f->work, "put.err");
    const char *resume[] = { "put", "--continue", "-p", port, NULL, "doc", NULL };
    char err[4096];
    FILE *fp;
    size_t n;
    int status, fd;
    pid_t pid;

    versions(f, &old, &src);
    resume[4] = src;
    put(f, port, old, "doc");
    fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    pid = put_slowly(f, port, src, "doc", 0, fd);
    close(fd);
    rgw("stop-rgw");
    /* The upload fails, in bounded time, and says so. */
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    fp = fopen(errlog, "r");
    assert_non_null(fp);
    n = fread(err, 1, sizeof(err) - 1, fp);
    err[n] = '\0';
    fclose(fp);
    print_message("put with radosgw gone: %s", err);
    assert_true(n > 0);
    rgw("start-rgw");

    get_is(f, port, "doc", old);
    if (run(f, resume, err, sizeof(err)) != 0)
        fail_msg("put --continue: %s", err);
    get_is(f, port, "doc", src);
    assert_int_equal(tu_store_kept(f->root), 0);
    free(old);
    free(src);
    free(errlog);
}

/* Two `ft serve` on one store: the fixture's, and a second on the same
 * bucket and prefix with the same key file; "doc" published through the
 * first in its old version, which the second serves; then the new one on
 * its way through the first, past min bytes. */
struct pair {
    struct tu_served two;
    char *old, *src;
    pid_t put; /* the upload of the new version */
};

/* The pair of the test running, outside its stack: a failed assertion
 * leaves the test at once (longjmp), and the teardown stops what it
 * started. */
static struct pair the_pair;
static struct pair *running;

static void two_servers_upload(struct tu_fixture *f, struct pair *p, int64_t min)
{
    char *log = tu_path(f->work, "serve2.log");

    memset(p, 0, sizeof(*p));
    running = p;

    versions(f, &p->old, &p->src);
    assert_true(tu_served_start(&p->two, f->root, log, NULL));
    free(log);
    put(f, f->served.portstr, p->old, "doc");
    get_is(f, p->two.portstr, "doc", p->old);
    p->put = put_slowly(f, f->served.portstr, p->src, "doc", min, -1);
}

/* put --continue of the new version through the second server, which
 * resumes it past its start and then serves it. */
static void continue_through_two(struct tu_fixture *f, struct pair *p)
{
    const char *resume[] = { "put", "--continue", "-p", p->two.portstr, p->src,
                             "doc", NULL };
    char err[4096];

    if (run(f, resume, err, sizeof(err)) != 0)
        fail_msg("put --continue through the second server: %s", err);
    print_message("%s", err);
    assert_non_null(strstr(err, "resumed at "));
    assert_null(strstr(err, "resumed at 0 "));
    get_is(f, p->two.portstr, "doc", p->src);
}

static void pair_close(struct pair *p)
{
    tu_kill_pid(&p->put);
    tu_served_stop(&p->two);
    free(p->old);
    free(p->src);
    running = NULL;
}

static int pair_teardown(void **state)
{
    if (running != NULL)
        pair_close(running);
    return tu_fixture_teardown(state);
}

/* Server one is killed (SIGKILL) mid-upload, a part of it on the bucket:
 * server two, on the same bucket, serves the old version meanwhile, and
 * put --continue through it resumes from what server one had sent (its
 * unfinished multipart upload) and publishes the new one, leaving nothing
 * unfinished behind. */
static void test_server_killed_mid_upload(void **state)
{
    struct tu_fixture *f = *state;
    struct pair *p = &the_pair;
    int status;

    two_servers_upload(f, p, 6 * 1024 * 1024);
    tu_served_stop(&f->served);
    assert_true(tu_wait_pid(p->put, WAIT_MS, &status));
    p->put = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);

    get_is(f, p->two.portstr, "doc", p->old);
    continue_through_two(f, p);
    assert_int_equal(tu_store_unfinished(f->root), 0);
    pair_close(p);
}

/* A client cut mid-upload: server one keeps the upload (on the bucket),
 * and put --continue through server two resumes it past the start. */
static void test_kept_upload_resumes_elsewhere(void **state)
{
    struct tu_fixture *f = *state;
    struct pair *p = &the_pair;
    int64_t deadline;

    two_servers_upload(f, p, 6 * 1024 * 1024);
    tu_kill_pid(&p->put);
    deadline = tu_now_ms() + WAIT_MS;
    while (tu_store_kept(f->root) != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(50); /* polling the condition, bounded */
    assert_int_equal(tu_store_kept(f->root), 1);
    get_is(f, p->two.portstr, "doc", p->old);

    continue_through_two(f, p);
    assert_int_equal(tu_store_kept(f->root), 0);
    pair_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVED(test_rgw_stopped_mid_upload),
        cmocka_unit_test_setup_teardown(test_server_killed_mid_upload,
                                        tu_fixture_served_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_kept_upload_resumes_elsewhere,
                                        tu_fixture_served_setup, pair_teardown),
    };

    if (!tu_store_s3() || getenv("FT_RGW_DIR") == NULL) {
        printf("test_s3_faults: skipped: needs FT_TEST_STORE=s3 and the engine "
               "of scripts/radosgw.sh (FT_RGW_DIR)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
