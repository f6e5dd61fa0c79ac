/* test_confine.c - the server's confinement: Landlock (ft_server_confine,
 * what `ft serve` calls once it listens) and --user. Landlock binds the
 * whole process for good, so each confinement here happens in a child: a
 * fork of this test, or an `ft serve` child. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

#define WAIT_MS 20000

/* What a confined child tries; each answer is 0 (done) or the errno. */
enum probe {
    P_CONFINED,      /* ft_server_confine said it confined */
    P_NO_NEW_PRIVS,  /* prctl says no_new_privs is set */
    P_PASSWD,        /* read /etc/passwd */
    P_WRITE_OUTSIDE, /* make a file beside the root */
    P_LINK_OUT,      /* read, through a link in the root, a file outside */
    P_EXEC,          /* run /bin/true */
    P_CONNECT,       /* TCP connect to a listening 127.0.0.1 port */
    P_BIND_OTHER,    /* TCP bind to any other port */
    P_ROOT_WRITE,    /* make a file in a folder of the root */
    P_ROOT_RENAME,   /* move it to another folder (as an upload is published) */
    P_ROOT_READ,     /* read it back */
    P_ROOT_REMOVE,   /* remove it */
    P_CLIENTS_READ,  /* read the clients file */
    P_CLIENTS_WRITE, /* write it */
    P_COUNT
};

static const char *const probe_names[P_COUNT] = {
    "confined", "no_new_privs", "read /etc/passwd", "write beside the root",
    "read through a link out of the root", "exec /bin/true", "tcp connect",
    "tcp bind another port", "write in the root", "rename in the root",
    "read in the root", "remove in the root", "read the clients file",
    "write the clients file",
};

/* What the probes need, made before the fork. */
struct setup {
    struct tu_fixture *f;
    struct ft_server *srv;
    char *clients;      /* work/etc/clients */
    char *secret;       /* work/secret: outside the root */
    int listener;       /* 127.0.0.1, for P_CONNECT */
    uint16_t listener_port;
};

static int errno_of(int rc)
{
    return rc >= 0 ? 0 : errno;
}

static int open_errno(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int tcp_errno(bool do_connect, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = do_connect ? connect(fd, (struct sockaddr *)&sa, sizeof(sa))
                    : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    rc = errno_of(rc);
    close(fd);
    return rc;
}

/* 0 when /bin/true ran, else the errno its execve met. */
static int exec_errno(void)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(errno & 0x7f);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The probes inside the root, in order: make (a folder, a file in it),
 * move, read, remove. */
static void probe_root(const char *root, int *out)
{
    char *a = tu_path(root, "in/a"), *b = tu_path(root, "b");
    char *in = tu_path(root, "in");
    int fd;

    fd = mkdir(in, 0755) != 0 ? -1
         : open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    out[P_ROOT_WRITE] = fd < 0 ? errno : (int)(write(fd, "x", 1) == 1 ? 0 : errno);
    if (fd >= 0)
        close(fd);
    out[P_ROOT_RENAME] = errno_of(rename(a, b));
    out[P_ROOT_READ] = open_errno(b, O_RDONLY);
    out[P_ROOT_REMOVE] = errno_of(unlink(b));
    free(a);
    free(b);
    free(in);
}

/* In the child: confines, probes, writes the answers to fd. */
static void confined_child(const struct setup *s, int fd)
{
    int out[P_COUNT];
    char report[1024];
    bool confined = false;
    char *link = tu_path(s->f->root, "escape");
    char *beside = tu_path(s->f->work, "new");

    out[P_CONFINED] = ft_server_confine(s->srv, &confined, report, sizeof(report)) == FT_OK &&
                              confined
                          ? 0
                          : -1;
    out[P_NO_NEW_PRIVS] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : -1;
    out[P_PASSWD] = open_errno("/etc/passwd", O_RDONLY);
    out[P_WRITE_OUTSIDE] = open_errno(beside, O_WRONLY | O_CREAT);
    out[P_LINK_OUT] = open_errno(link, O_RDONLY);
    out[P_EXEC] = exec_errno();
    out[P_CONNECT] = tcp_errno(true, s->listener_port);
    out[P_BIND_OTHER] = tcp_errno(false, 0);
    probe_root(s->f->root, out);
    out[P_CLIENTS_READ] = open_errno(s->clients, O_RDONLY);
    out[P_CLIENTS_WRITE] = open_errno(s->clients, O_WRONLY);
    _exit(write(fd, out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
}

/* Runs confined_child in a fork; out receives its answers. */
static void run_confined(const struct setup *s, int *out)
{
    int p[2];
    pid_t pid;
    int status;

    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        confined_child(s, p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], out, P_COUNT * sizeof(int)),
                     (ssize_t)(P_COUNT * sizeof(int)));
    close(p[0]);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* An opened, listening server on f's root with a clients file in a
 * folder of its own; a secret beside the root, and a link to it inside. */
static void setup_make(struct setup *s, struct tu_fixture *f, bool read_only)
{
    struct ft_server_config cfg = { .root = f->root, .read_only = read_only };
    char *etc = tu_path(f->work, "etc");
    char *link = tu_path(f->root, "escape");
    char err[512];

    memset(s, 0, sizeof(*s));
    s->f = f;
    assert_int_equal(mkdir(etc, 0755), 0);
    s->clients = tu_path(etc, "clients");
    tu_write_bytes(s->clients, "", 0);
    chmod(s->clients, 0644);
    cfg.clients_file = s->clients;
    s->secret = tu_path(f->work, "secret");
    tu_write_bytes(s->secret, "secret", 6);
    assert_int_equal(symlink(s->secret, link), 0);
    if (ft_server_start(&s->srv, &cfg, err, sizeof(err)) != FT_OK)
        fail_msg("server: %s", err);
    s->listener = tu_listen_loopback(4, &s->listener_port);
    free(etc);
    free(link);
}

static void setup_free(struct setup *s)
{
    ft_server_free(s->srv);
    close(s->listener);
    free(s->clients);
    free(s->secret);
}

static void expect(const int *out, enum probe p, int want)
{
    if (out[p] != want)
        fail_msg("%s: got %d (%s), want %d (%s)", probe_names[p], out[p],
                 out[p] > 0 ? strerror(out[p]) : "-", want,
                 want > 0 ? strerror(want) : "done");
}

static void skip_without_landlock(void)
{
    if (ft_sandbox_abi() < 2) {
        fprintf(stderr, "test_confine: no Landlock ABI 2 on this kernel: skipped\n");
        skip();
    }
}

/* The kernel layer on its own: whatever a bug in the server asked for,
 * outside the root (a link the store's own checks would never follow
 * included) and beyond its port, the kernel refuses; inside, the store's
 * work goes on, as does rereading the clients file. */
static void test_confined_server_reaches_nothing_else(void **state)
{
    struct setup s;
    int out[P_COUNT];
    int net = ft_sandbox_abi() >= 4 ? EACCES : 0;

    skip_without_landlock();
    setup_make(&s, *state, false);
    run_confined(&s, out);
    expect(out, P_CONFINED, 0);
    expect(out, P_NO_NEW_PRIVS, 0);
    expect(out, P_PASSWD, EACCES);
    expect(out, P_WRITE_OUTSIDE, EACCES);
    expect(out, P_LINK_OUT, EACCES);
    expect(out, P_EXEC, EACCES);
    expect(out, P_CONNECT, net);
    expect(out, P_BIND_OTHER, net);
    expect(out, P_ROOT_WRITE, 0);
    expect(out, P_ROOT_RENAME, 0);
    expect(out, P_ROOT_READ, 0);
    expect(out, P_ROOT_REMOVE, 0);
    expect(out, P_CLIENTS_READ, 0);
    expect(out, P_CLIENTS_WRITE, EACCES);
    /* Nothing of this process was confined. */
    assert_int_equal(open_errno("/etc/passwd", O_RDONLY), 0);
    setup_free(&s);
}

/* A read-only server keeps reading its root, and can no longer write in
 * it. */
static void test_read_only_server_cannot_write_its_root(void **state)
{
    struct setup s;
    int out[P_COUNT];

    skip_without_landlock();
    setup_make(&s, *state, true);
    run_confined(&s, out);
    expect(out, P_CONFINED, 0);
    expect(out, P_ROOT_WRITE, EACCES);
    expect(out, P_PASSWD, EACCES);
    setup_free(&s);
}

/* A clients file that is a link to a file elsewhere stays readable
 * through the link, as SIGHUP rereads it. */
static void test_linked_clients_file_stays_readable(void **state)
{
    struct tu_fixture *f = *state;
    char *dir = tu_path(f->work, "real"), *real = tu_path(dir, "clients");
    char *link = tu_path(f->config, "clients");
    struct ft_server_config cfg = { .root = f->root, .clients_file = link };
    struct ft_server *srv = NULL;
    char err[1024];
    pid_t pid;
    int status;

    skip_without_landlock();
    assert_int_equal(mkdir(dir, 0755), 0);
    tu_write_bytes(real, "", 0);
    chmod(real, 0644);
    assert_int_equal(symlink(real, link), 0);
    if (ft_server_start(&srv, &cfg, err, sizeof(err)) != FT_OK)
        fail_msg("server: %s", err);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bool confined = false;

        _exit(ft_server_confine(srv, &confined, err, sizeof(err)) == FT_OK &&
                      confined && open_errno(link, O_RDONLY) == 0
                  ? 0
                  : 1);
    }
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ft_server_free(srv);
    free(dir);
    free(real);
    free(link);
}

static void *idle_thread(void *arg)
{
    char c;

    return read(*(int *)arg, &c, 1) < 0 ? NULL : arg;
}

/* Landlock confines the calling thread and what it starts: with another
 * thread running, the server would be confined in part only, and is not
 * confined at all. */
static void test_confine_refuses_a_threaded_process(void **state)
{
    struct setup s;
    pid_t pid;
    int status;

    skip_without_landlock();
    setup_make(&s, *state, false);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int p[2];
        pthread_t t;
        char report[1024];
        bool confined = true;
        enum ft_err err;

        if (pipe(p) != 0 || pthread_create(&t, NULL, idle_thread, &p[0]) != 0)
            _exit(2);
        err = ft_server_confine(s.srv, &confined, report, sizeof(report));
        _exit(err == FT_ERR_USAGE && !confined &&
                      open_errno("/etc/passwd", O_RDONLY) == 0
                  ? 0
                  : 1);
    }
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    setup_free(&s);
}

/* The value of a line of /proc/PID/status, e.g. "NoNewPrivs". */
static void proc_status(pid_t pid, const char *key, char *out, size_t len)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
            out[strcspn(out, "\n")] = '\0';
        }
    }
    fclose(f);
}

/* `ft serve` confines itself by default, says so, and has no_new_privs;
 * with --no-sandbox it does neither. */
static void test_ft_serve_confines_itself(void **state)
{
    struct tu_fixture *f = *state;
    const char *const off[] = { "--no-sandbox", NULL };
    char want[4200], value[64];

    skip_without_landlock();
    assert_true(tu_fixture_serve(f, NULL));
    snprintf(want, sizeof(want), "sandbox: landlock ABI %d: files beneath %s "
             "read-write", ft_sandbox_abi(), f->root);
    if (!tu_served_log_until(&f->served, want, WAIT_MS))
        fail_msg("no \"%s\" in the log:\n%s", want, f->served.log);
    proc_status(f->served.pid, "NoNewPrivs", value, sizeof(value));
    assert_string_equal(value, "1");
    tu_served_stop(&f->served);

    assert_true(tu_fixture_serve(f, off));
    assert_true(tu_served_log_until(&f->served, "sandbox: off (--no-sandbox)", WAIT_MS));
    proc_status(f->served.pid, "NoNewPrivs", value, sizeof(value));
    assert_string_equal(value, "0");
}

/* A free port below 1024 on 127.0.0.1, or 0. */
static uint16_t free_low_port(void)
{
    for (uint16_t port = 1023; port >= 600; port--) {
        if (tcp_errno(false, port) == 0)
            return port;
    }
    return 0;
}

/* Started as root with --user nobody on a port below 1024, `ft serve`
 * runs as nobody (real, effective, saved ids and groups), serves, and
 * what it writes is nobody's. */
static void test_user_drops_root_after_binding(void **state)
{
    struct tu_fixture *f = *state;
    struct passwd *pw = getpwnam("nobody");
    char port[8], want[64], value[128], hook_dir[] = "/tmp/ft-hook-XXXXXX";
    char hook[64], out[64], record[80], script[512];
    const char *extra[] = { "--user", "nobody", "--port", port, "--on-upload",
                            hook, NULL };
    char *src = tu_path(f->work, "src"), *back = tu_path(f->work, "back");
    char *stored = tu_path(f->root, "docs/a.txt");
    const char *put[] = { "put", "-p", NULL, src, "docs/a.txt", NULL };
    const char *get[] = { "get", "-p", NULL, "docs/a.txt", back, NULL };
    char err[4096];
    struct stat sb;

    if (geteuid() != 0 || pw == NULL) {
        fprintf(stderr, "test_confine: --user needs root and a user nobody: skipped\n");
        skip();
    }
    snprintf(port, sizeof(port), "%u", (unsigned)free_low_port());
    assert_string_not_equal(port, "0");
    assert_int_equal(chown(f->root, pw->pw_uid, pw->pw_gid), 0);
    /* A hook records the ids it runs with: the launcher was forked while
     * the server only acted as nobody, with root as its real id. */
    assert_non_null(mkdtemp(hook_dir));
    assert_int_equal(chmod(hook_dir, 0777), 0);
    snprintf(hook, sizeof(hook), "%s/hook", hook_dir);
    snprintf(out, sizeof(out), "%s/out", hook_dir);
    snprintf(record, sizeof(record), "%s/ids", out);
    assert_int_equal(mkdir(out, 0777), 0);
    assert_int_equal(chmod(out, 0777), 0);
    snprintf(script, sizeof(script),
             "#!/bin/sh\ngrep -E '^(Uid|Gid):' /proc/self/status >%s/ids.tmp && "
             "mv %s/ids.tmp %s\n", hook_dir, hook_dir, record);
    tu_write_bytes(hook, script, strlen(script));
    assert_int_equal(chmod(hook, 0755), 0);
    assert_true(tu_fixture_serve(f, extra));
    assert_string_equal(f->served.portstr, port);
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
    proc_status(f->served.pid, "Uid", value, sizeof(value));
    assert_string_equal(value, want);
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    proc_status(f->served.pid, "Gid", value, sizeof(value));
    assert_string_equal(value, want);

    tu_write_text(src, 10000);
    put[2] = get[2] = port;
    if (tu_run_ft(put, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("put: %s\nserver:\n%s", err, f->served.log);
    assert_int_equal(tu_run_ft(get, NULL, NULL, err, sizeof(err)), 0);
    assert_true(tu_files_equal(src, back));
    assert_int_equal(stat(stored, &sb), 0);
    assert_int_equal(sb.st_uid, pw->pw_uid);
    free(stored);
    stored = tu_path(f->root, ".ft/server.key");
    assert_int_equal(stat(stored, &sb), 0);
    assert_int_equal(sb.st_uid, pw->pw_uid);
    assert_true(tu_wait_count(out, 1, 10000));
    snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n",
             (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    assert_int_equal(tu_file_size(record), (int64_t)strlen(want));
    {
        FILE *in = fopen(record, "r");
        size_t n;

        assert_non_null(in);
        n = fread(value, 1, sizeof(value) - 1, in);
        fclose(in);
        value[n] = '\0';
    }
    assert_string_equal(value, want);
    tu_rmtree(hook_dir);
    free(src);
    free(back);
    free(stored);
}

/* A store the user may not write in stops the server at start, saying
 * how to mend it. */
static void test_user_refused_a_store_it_cannot_write(void **state)
{
    struct tu_fixture *f = *state;
    const char *args[] = { "serve", "--root", f->root, "--port", "0", "--user",
                           "nobody", NULL };
    char err[4096];

    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        fprintf(stderr, "test_confine: --user needs root and a user nobody: skipped\n");
        skip();
    }
    assert_int_equal(chmod(f->root, 0700), 0); /* root's, as made */
    /* Not the exit code: a build with LeakSanitizer, which cannot read the
     * /proc of a process that has changed its ids, says 1 for 4. */
    assert_int_not_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    if (strstr(err, "chown -R nobody") == NULL)
        fail_msg("no advice in: %s", err);
}

/* Copies the ft binary to path, executable by all. */
static void copy_binary(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    ssize_t n;

    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    assert_int_equal(close(out), 0);
}

/* --user from a server that is not root is refused, saying why. */
static void test_user_refused_without_root(void **state)
{
    struct tu_fixture *f = *state;
    struct passwd *pw = getpwnam("nobody");
    char err[4096] = "", bin_dir[] = "/tmp/ft-bin-XXXXXX", bin[64];
    int p[2], status;
    ssize_t n;
    pid_t pid;

    if (geteuid() != 0 || pw == NULL) {
        fprintf(stderr, "test_confine: needs root to start as nobody: skipped\n");
        skip();
    }
    /* The build may sit where nobody cannot reach it (/root/...): nobody
     * runs a copy from a folder of its own. */
    assert_non_null(mkdtemp(bin_dir));
    assert_int_equal(chmod(bin_dir, 0755), 0);
    snprintf(bin, sizeof(bin), "%s/ft", bin_dir);
    copy_binary(FT_BINARY, bin);
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(p[1], STDERR_FILENO) < 0 || setgroups(0, NULL) != 0 ||
            setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(99);
        execl(bin, "ft", "serve", "--root", f->root, "--port", "0",
              "--user", "nobody", (char *)NULL);
        _exit(98);
    }
    close(p[1]);
    n = read(p[0], err, sizeof(err) - 1);
    err[n > 0 ? n : 0] = '\0';
    close(p[0]);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    tu_rmtree(bin_dir);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    if (strstr(err, "--user needs a server started as root") == NULL)
        fail_msg("not told why: %s", err);
}

/* A server without a store folder (S3): no file rule at all, and TCP
 * connect to the endpoint's port only. */
static void test_no_store_folder_connects_to_one_port(void **state)
{
    uint16_t allowed = 0, other = 0;
    int l1 = tu_listen_loopback(4, &allowed), l2 = tu_listen_loopback(4, &other);
    int out[3], p[2], status;
    pid_t pid;

    (void)state;
    if (ft_sandbox_abi() < 4) {
        fprintf(stderr, "test_confine: no Landlock ABI 4 (network) here: skipped\n");
        close(l1);
        close(l2);
        skip();
    }
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ft_sandbox_rules r = { .root_fd = -1, .root_shown = "s3://bucket",
                                      .connect_ports = &allowed, .n_connect = 1 };
        char report[512];
        bool applied = false;

        out[0] = ft_sandbox_apply(&r, &applied, report, sizeof(report)) == FT_OK && applied
                     ? tcp_errno(true, allowed) : -1;
        out[1] = tcp_errno(true, other);
        out[2] = open_errno("/etc/passwd", O_RDONLY);
        _exit(write(p[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
    }
    close(p[1]);
    assert_int_equal(read(p[0], out, sizeof(out)), (ssize_t)sizeof(out));
    close(p[0]);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], EACCES);
    assert_int_equal(out[2], EACCES);
    close(l1);
    close(l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_FIXTURE(test_confined_server_reaches_nothing_else),
        TU_TEST_FIXTURE(test_read_only_server_cannot_write_its_root),
        TU_TEST_FIXTURE(test_linked_clients_file_stays_readable),
        TU_TEST_FIXTURE(test_confine_refuses_a_threaded_process),
        TU_TEST_FIXTURE(test_ft_serve_confines_itself),
        TU_TEST_FIXTURE(test_user_drops_root_after_binding),
        TU_TEST_FIXTURE(test_user_refused_a_store_it_cannot_write),
        TU_TEST_FIXTURE(test_user_refused_without_root),
        cmocka_unit_test(test_no_store_folder_connects_to_one_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
