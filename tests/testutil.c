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

    argv[n++] = FT_BINARY;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        die("pipe");
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
