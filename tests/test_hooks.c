/* test_hooks.c - whom a hook runs as: the launcher is forked at start-up,
 * before a server started as root drops to another user, and keeps root;
 * the hooks it runs for the dropped server's events still run as that
 * user (the kernel's word on the sender, SCM_CREDENTIALS). The rest of
 * the hooks (names as data, bounds, answers first) is tests/observe.sh's. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ft/ft.h"
#include "store.h"
#include "testutil.h"
#include "testutil_server.h"

#define DROPPED_ID 65534 /* nobody, nogroup */

/* The server's process: opened as root, then dropped; it reports its port
 * on port_fd and serves until killed. Never returns. */
static void serve_dropped(const char *root, const char *hook, int port_fd)
{
    struct ft_server_config cfg = { .root = root, .on_upload = hook,
                                    .log = tu_log_record };
    struct tu_log log = TU_LOG_INIT;
    struct ft_server *srv;
    char err[512], path[4096];
    uint16_t port;

    cfg.log_ctx = &log;
    if (ft_server_open(&srv, &cfg, err, sizeof(err)) != FT_OK)
        _exit(2);
    /* The store was made by root: the dropped user may write where
     * uploads go (as an operator's chown would let it). */
    snprintf(path, sizeof(path), "%s/%s/tmp", root, FT_STORE_META);
    if (chmod(root, 0777) != 0 || chmod(path, 0777) != 0)
        _exit(3);
    if (setgroups(0, NULL) != 0 || setgid(DROPPED_ID) != 0 || setuid(DROPPED_ID) != 0)
        _exit(4);
    if (ft_server_listen(srv, err, sizeof(err)) != FT_OK)
        _exit(5);
    port = ft_server_port(srv);
    if (write(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        _exit(6);
    ft_server_run(srv);
    _exit(0);
}

/* The first line of path into out ("" when there is none). */
static void first_line(const char *path, char *out, int cap)
{
    FILE *f = fopen(path, "r");

    out[0] = '\0';
    if (f != NULL && fgets(out, cap, f) == NULL)
        out[0] = '\0';
    if (f != NULL)
        fclose(f);
}

/* The Uid: line of /proc/PID/status (real, effective, saved, fs), or "". */
static void uid_line(const char *pid, char *out, size_t cap)
{
    char path[96], line[256];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    out[0] = '\0';
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Uid:", 4) == 0)
            snprintf(out, cap, "%s", line);
    }
    if (f != NULL)
        fclose(f);
}

static void test_hook_runs_as_the_dropped_user(void **state)
{
    struct tu_fixture *f = *state;
    char *root = tu_path(f->work, "store"), *hook = tu_path(f->work, "hook");
    char *out = tu_path(f->work, "out"), *probe = tu_path(f->work, "probe");
    char *scratch = tu_path(f->work, "scratch"), *rec = tu_path(out, "rec");
    char script[4096], text[256] = "", launcher[64] = "", uids[256] = "";
    struct ft_client *c = NULL;
    enum ft_err put;
    bool recorded;
    uint16_t port = 0;
    int pipe_fd[2], fd;
    pid_t pid;

    if (geteuid() != 0)
        skip(); /* only root can drop */
    assert_int_equal(chmod(f->work, 0755), 0);
    assert_int_equal(mkdir(out, 0777), 0);
    assert_int_equal(chmod(out, 0777), 0);
    assert_int_equal(mkdir(scratch, 0777), 0);
    assert_int_equal(chmod(scratch, 0777), 0);
    /* The hook writes who it is and who started it (its launcher), then
     * renames: the record is whole once it is there. */
    snprintf(script, sizeof(script),
             "#!/bin/sh\necho \"$(id -u) $(id -g) $PPID\" >%s/rec && mv %s/rec %s\n",
             scratch, scratch, rec);
    tu_write_bytes(hook, script, strlen(script));
    assert_int_equal(chmod(hook, 0755), 0);
    assert_int_equal(pipe(pipe_fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipe_fd[0]);
        serve_dropped(root, hook, pipe_fd[1]);
    }
    close(pipe_fd[1]);
    assert_int_equal(read(pipe_fd[0], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(pipe_fd[0]);
    /* Whatever fails, the server is stopped before anything is asserted. */
    tu_write_random(probe, 1000, 7);
    put = tu_try_connect(&c, port, NULL, text, sizeof(text));
    fd = open(probe, O_RDONLY);
    if (put == FT_OK) {
        put = ft_client_put(c, fd, 1000, "probe", NULL, NULL);
        ft_client_close(c);
    }
    close(fd);
    recorded = put == FT_OK && tu_wait_count(out, 1, 10000);
    first_line(rec, text, sizeof(text));
    /* The launcher is read while it runs: it ends with the server. */
    if (sscanf(text, "%*d %*d %63s", launcher) == 1)
        uid_line(launcher, uids, sizeof(uids));
    kill(pid, SIGKILL);
    assert_true(tu_wait_pid(pid, 10000, NULL));
    assert_int_equal(put, FT_OK);
    assert_true(recorded);
    /* The hook ran as the dropped user, from a launcher that is root. */
    assert_true(strncmp(text, "65534 65534 ", 12) == 0);
    assert_true(strncmp(uids, "Uid:\t0\t0\t", 9) == 0);
    free(root);
    free(hook);
    free(out);
    free(probe);
    free(scratch);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_FIXTURE(test_hook_runs_as_the_dropped_user),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
