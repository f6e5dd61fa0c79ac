/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "proto.h"

static void die(const char *what)
{
    fprintf(stderr, "testutil: %s: %s\n", what, strerror(errno));
    abort();
}

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path = NULL;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/ft-test.XXXXXX", base) < 0)
        die("asprintf");
    if (mkdtemp(path) == NULL)
        die("mkdtemp");
    return path;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rmtree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        die("asprintf");
    return p;
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

void tu_write_random(const char *path, uint64_t n, uint32_t seed)
{
    static uint8_t buf[1 << 16];
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        die(path);
    while (n > 0) {
        size_t chunk = n < sizeof(buf) ? (size_t)n : sizeof(buf);

        for (size_t i = 0; i < chunk; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, chunk - i < 8 ? chunk - i : 8);
        }
        write_all(fd, buf, chunk);
        n -= chunk;
    }
    close(fd);
}

void tu_write_bytes(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        die(path);
    write_all(fd, data, n);
    close(fd);
}

void tu_write_text(const char *path, uint64_t n)
{
    FILE *f = fopen(path, "w");
    uint64_t written = 0;

    if (f == NULL)
        die(path);
    for (unsigned line = 0; written < n; line++) {
        int w = fprintf(f, "line %u: the quick brown fox jumps over the lazy dog\n",
                        line);
        written += (uint64_t)w;
    }
    fclose(f);
}

bool tu_files_equal(const char *a, const char *b)
{
    static uint8_t ba[1 << 16], bb[1 << 16];
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;

    while (same) {
        size_t na = fread(ba, 1, sizeof(ba), fa);
        size_t nb = fread(bb, 1, sizeof(bb), fb);

        if (na != nb || memcmp(ba, bb, na) != 0)
            same = false;
        if (na == 0)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

bool tu_exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void *server_main(void *arg)
{
    struct tu_server *t = arg;

    ft_server_run(t->srv);
    return NULL;
}

static void quiet_log(void *ctx, const char *line)
{
    (void)ctx;
    if (getenv("FT_TEST_VERBOSE") != NULL)
        fprintf(stderr, "server: %s\n", line);
}

void tu_server_start(struct tu_server *t, const struct ft_server_config *cfg)
{
    struct ft_server_config c;
    char err[512];

    if (cfg != NULL)
        c = *cfg;
    else
        memset(&c, 0, sizeof(c));
    t->root = tu_tempdir();
    c.root = t->root;
    c.host = "127.0.0.1";
    c.port = 0;
    if (c.log == NULL)
        c.log = quiet_log;
    /* Hand-built frames in tests ask for plaintext; library clients do not,
     * and get the encrypted channel as users do. */
    c.allow_plaintext = true;
    if (ft_server_start(&t->srv, &c, err, sizeof(err)) != FT_OK) {
        fprintf(stderr, "testutil: server: %s\n", err);
        abort();
    }
    /* The socket listens once ft_server_start returns: no wait needed. */
    t->port = ft_server_port(t->srv);
    if (pthread_create(&t->thread, NULL, server_main, t) != 0)
        die("pthread_create");
}

void tu_server_stop(struct tu_server *t)
{
    ft_server_stop(t->srv);
    pthread_join(t->thread, NULL);
    ft_server_free(t->srv);
    tu_rmtree(t->root);
    free(t->root);
    t->srv = NULL;
    t->root = NULL;
}

static int open_or_die(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);

    if (fd < 0)
        die(path);
    return fd;
}

int tu_run_ft(const char *const args[], const char *in_path,
              const char *out_path, char *err, size_t errlen)
{
    return tu_run_ft_env(args, NULL, in_path, out_path, err, errlen);
}

int tu_run_ft_env(const char *const args[], const char *const env[],
                  const char *in_path, const char *out_path, char *err,
                  size_t errlen)
{
    const char *argv[64];
    size_t n = 0, used = 0;
    int pipefd[2];
    int status = 0;
    pid_t pid;
    time_t deadline = time(NULL) + 120;
    char *config = NULL, *config_env = NULL;

    argv[n++] = FT_BINARY;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        die("pipe");
    /* A fresh config folder per run: pins of earlier servers on a reused
     * port must not meet this one. */
    config = tu_tempdir();
    if (asprintf(&config_env, "XDG_CONFIG_HOME=%s", config) < 0)
        die("asprintf");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int in = open_or_die(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = open_or_die(out_path ? out_path : "/dev/null",
                              O_WRONLY | O_CREAT | O_TRUNC);

        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        unsetenv("FT_HOST");
        unsetenv("FT_PORT");
        putenv(config_env);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        char scratch[256];
        ssize_t r;

        if (poll(&p, 1, 1000) == 0) {
            if (time(NULL) > deadline)
                kill(pid, SIGKILL);
            continue;
        }
        if (used + 1 < errlen)
            r = read(pipefd[0], err + used, errlen - used - 1);
        else
            r = read(pipefd[0], scratch, sizeof(scratch));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (used + 1 < errlen)
            used += (size_t)r;
    }
    if (errlen > 0)
        err[used] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    tu_rmtree(config);
    free(config);
    free(config_env);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tu_connect_raw(uint16_t port)
{
    char why[256];
    int fd = -1;

    if (ft_net_connect("127.0.0.1", port, 5000, &fd, why, sizeof(why)) != FT_OK) {
        fprintf(stderr, "testutil: %s\n", why);
        abort();
    }
    return fd;
}

int64_t tu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int64_t tu_file_size(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

int64_t tu_dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t total = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;

        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode))
            total += (int64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

bool tu_wait_count(const char *dir, int n, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    while (tu_count_entries(dir) != n) {
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
    return true;
}

bool tu_wait_dir_bytes(const char *dir, int64_t min_bytes, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    while (tu_dir_bytes(dir) <= min_bytes) {
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
    return true;
}

pid_t tu_spawn_ft(const char *const args[], int in_fd, int out_fd, int err_fd)
{
    return tu_spawn_ft_env(args, NULL, in_fd, out_fd, err_fd);
}

pid_t tu_spawn_ft_env(const char *const args[], const char *const env[],
                      int in_fd, int out_fd, int err_fd)
{
    const char *argv[64];
    size_t n = 0;
    pid_t pid;

    argv[n++] = FT_BINARY;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);

        /* dup2 clears close-on-exec on the copies; the originals may go. */
        dup2(in_fd >= 0 ? in_fd : null_fd, STDIN_FILENO);
        dup2(out_fd >= 0 ? out_fd : null_fd, STDOUT_FILENO);
        dup2(err_fd >= 0 ? err_fd : null_fd, STDERR_FILENO);
        unsetenv("FT_HOST");
        unsetenv("FT_PORT");
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

bool tu_wait_pid(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
}

void tu_kill_pid(pid_t *pid)
{
    int status;

    if (*pid <= 0)
        return;
    kill(*pid, SIGKILL);
    while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
        ;
    *pid = 0;
}

/* Appends what the log file gained since the last read. */
static void served_read_log(struct tu_served *s)
{
    for (;;) {
        ssize_t r;

        if (s->log_cap - s->log_len < 4096) {
            size_t cap = s->log_cap ? 2 * s->log_cap : 65536;
            char *p = realloc(s->log, cap);

            if (p == NULL)
                die("realloc");
            s->log = p;
            s->log_cap = cap;
        }
        r = read(s->log_fd, s->log + s->log_len, s->log_cap - s->log_len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        s->log_len += (size_t)r;
    }
    s->log[s->log_len] = '\0';
}

bool tu_served_log_until(struct tu_served *s, const char *want, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        served_read_log(s);
        if (strstr(s->log, want) != NULL)
            return true;
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
}

bool tu_served_start(struct tu_served *s, const char *root,
                     const char *log_path, const char *const extra[])
{
    const char *args[48] = { "serve", "--root", root, "--port", "0" };
    size_t n = 5;
    const char *p;
    int wfd;

    memset(s, 0, sizeof(*s));
    s->log_fd = -1;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    wfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (wfd < 0)
        die(log_path);
    s->log_fd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (s->log_fd < 0)
        die(log_path);
    s->pid = tu_spawn_ft(args, -1, -1, wfd);
    close(wfd);
    /* Ready when it says which port it listens on, on a whole line. */
    for (int64_t deadline = tu_now_ms() + 20000;;) {
        int status;

        served_read_log(s);
        p = strstr(s->log, " serving ");
        p = p != NULL ? strstr(p, " port ") : NULL;
        if (p != NULL && strchr(p, '\n') != NULL)
            break;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            s->pid = 0; /* it died: its last words are in the log */
        if (s->pid == 0 || tu_now_ms() > deadline) {
            fprintf(stderr, "testutil: ft serve did not start:\n%s\n", s->log);
            tu_kill_pid(&s->pid);
            return false;
        }
        tu_sleep_ms(10);
    }
    p += 6;
    snprintf(s->portstr, sizeof(s->portstr), "%.*s",
             (int)strspn(p, "0123456789"), p);
    s->port = (uint16_t)atoi(s->portstr);
    if (s->port == 0) {
        tu_kill_pid(&s->pid);
        return false;
    }
    return true;
}

void tu_served_stop(struct tu_served *s)
{
    tu_kill_pid(&s->pid);
    if (s->log_fd >= 0)
        close(s->log_fd);
    s->log_fd = -1;
    free(s->log);
    s->log = NULL;
    s->log_len = s->log_cap = 0;
}

bool tu_raw_handshake(struct ft_conn *conn, uint16_t port, uint32_t features,
                      int timeout_ms, uint32_t *max_payload)
{
    struct ft_msg hello = { .type = FT_MSG_HELLO };
    struct ft_msg m;

    if (ft_conn_init(conn, tu_connect_raw(port), timeout_ms) != FT_OK)
        return false;
    hello.u.hello.version = FT_PROTO_VERSION;
    /* Hand-built frames need the plaintext channel, which tu_server_start
     * allows. */
    hello.u.hello.features = features | FT_FEATURE_PLAINTEXT;
    if (ft_conn_send(conn, &hello) != FT_OK ||
        ft_conn_recv(conn, &m, timeout_ms) != FT_OK ||
        m.type != FT_MSG_WELCOME)
        return false;
    if (max_payload != NULL)
        *max_payload = m.u.welcome.max_payload;
    return true;
}

uint64_t tu_feed(int fd, uint64_t n, uint32_t seed, int timeout_ms)
{
    uint8_t buf[16384];
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    uint64_t done = 0;
    int64_t deadline = tu_now_ms() + timeout_ms;
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    while (done < n) {
        size_t chunk = n - done < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);
        size_t off = 0;

        /* The same sequence as tu_write_random: 8 bytes per step. */
        for (size_t i = 0; i < chunk; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, chunk - i < 8 ? chunk - i : 8);
        }
        while (off < chunk) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int64_t left = deadline - tu_now_ms();
            ssize_t w;

            if (left <= 0)
                return done + off;
            if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
                return done + off;
            w = write(fd, buf + off, chunk - off);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                return done + off;
        }
        done += chunk;
    }
    return done;
}

static void *feeder_main(void *arg)
{
    struct tu_feeder *f = arg;

    f->written = tu_feed(f->fd, f->n, f->seed, f->timeout_ms);
    if (f->close_after)
        close(f->fd);
    return NULL;
}

void tu_feeder_start(struct tu_feeder *f, int fd, uint64_t n, uint32_t seed,
                     int timeout_ms, bool close_after)
{
    f->fd = fd;
    f->n = n;
    f->seed = seed;
    f->timeout_ms = timeout_ms;
    f->close_after = close_after;
    f->written = 0;
    if (pthread_create(&f->thread, NULL, feeder_main, f) != 0)
        die("pthread_create");
}

uint64_t tu_feeder_join(struct tu_feeder *f)
{
    pthread_join(f->thread, NULL);
    return f->written;
}
