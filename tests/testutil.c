/* testutil.c - files, folders and ft children for tests: what testutil.h
 * declares. */
#define _GNU_SOURCE
#include "testutil.h"
#include "hash.h"

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

_Noreturn void tu_die(const char *what)
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
        tu_die("asprintf");
    if (mkdtemp(path) == NULL)
        tu_die("mkdtemp");
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
        tu_die("asprintf");
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
            tu_die("write");
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
        tu_die(path);
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
        tu_die(path);
    write_all(fd, data, n);
    close(fd);
}

void tu_write_text(const char *path, uint64_t n)
{
    FILE *f = fopen(path, "w");
    uint64_t written = 0;

    if (f == NULL)
        tu_die(path);
    for (unsigned line = 0; written < n; line++) {
        int w = fprintf(f, "line %u: the quick brown fox jumps over the lazy dog\n",
                        line);
        written += (uint64_t)w;
    }
    fclose(f);
}

void tu_file_digest_hex(const char *path, char hex[FT_HASH_HEX_BYTES])
{
    uint8_t buf[65536], digest[FT_HASH_BYTES];
    struct ft_hash h;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        tu_die(path);
    ft_hash_init(&h);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        ft_hash_update(&h, buf, (size_t)n);
    close(fd);
    ft_hash_final(&h, digest);
    ft_hash_hex(digest, hex);
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

static int open_or_die(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);

    if (fd < 0)
        tu_die(path);
    return fd;
}

/* The folder the config folders of spawned children go in, removed when
 * the test program exits (not when a forked child of it does). */
static char *scratch;
static pid_t scratch_owner;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_remove(void)
{
    if (getpid() == scratch_owner)
        tu_rmtree(scratch);
    free(scratch);
    scratch = NULL;
}

static void scratch_make(void)
{
    scratch = tu_tempdir();
    scratch_owner = getpid();
    atexit(scratch_remove);
}

/* Whether entry ("NAME=value") sets a name of env or one of names. */
static bool overridden(const char *entry, const char *const env[], const char *const names[])
{
    size_t len = strcspn(entry, "=");

    for (size_t i = 0; names[i] != NULL; i++)
        if (strncmp(entry, names[i], len) == 0 && names[i][len] == '\0')
            return true;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(entry, env[i], len) == 0 && env[i][len] == '=')
            return true;
    return false;
}

/* The child's environment, made before fork: the child of a threaded
 * program must not allocate or take the environment's lock, which another
 * thread may have held at fork (ft children of test_cli hung until killed
 * under ASan, on a loaded machine). Ours less FT_HOST, FT_PORT and what is
 * set here, then xdg, home and env. */
static char **child_env(char *xdg, char *home, const char *const env[])
{
    static const char *const names[] = { "FT_HOST", "FT_PORT", "XDG_CONFIG_HOME", "HOME",
                                         NULL };
    static const char *const none[] = { NULL };
    size_t n = 0, extra = 0, k = 0;
    char **out;

    while (environ[n] != NULL)
        n++;
    while (env != NULL && env[extra] != NULL)
        extra++;
    out = calloc(n + extra + 3, sizeof(*out));
    if (out == NULL)
        tu_die("calloc");
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], env, names))
            out[k++] = environ[i];
    /* env has the last word, as putenv after ours gave it. */
    if (!overridden(xdg, env, none))
        out[k++] = xdg;
    if (!overridden(home, env, none))
        out[k++] = home;
    for (size_t i = 0; i < extra; i++)
        out[k++] = (char *)env[i];
    out[k] = NULL;
    return out;
}

/* Forks and runs ft with args, its standard streams on the descriptors
 * given (-1: /dev/null), its environment isolated (see testutil.h) with env
 * after. *config receives its config folder: free() it. */
static pid_t spawn_child(const char *const args[], const char *const env[],
                         int in_fd, int out_fd, int err_fd, char **config)
{
    const char *argv[64];
    size_t n = 0;
    char *xdg = NULL, *home = NULL;
    char **envp;
    pid_t pid;

    argv[n++] = FT_BINARY;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pthread_once(&scratch_once, scratch_make);
    *config = tu_path(scratch, "config.XXXXXX");
    if (mkdtemp(*config) == NULL)
        tu_die("mkdtemp");
    if (asprintf(&xdg, "XDG_CONFIG_HOME=%s", *config) < 0 ||
        asprintf(&home, "HOME=%s", *config) < 0)
        tu_die("asprintf");
    envp = child_env(xdg, home, env);
    pid = fork();
    if (pid < 0)
        tu_die("fork");
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);

        /* dup2 clears close-on-exec on the copies; the originals may go. */
        dup2(in_fd >= 0 ? in_fd : null_fd, STDIN_FILENO);
        dup2(out_fd >= 0 ? out_fd : null_fd, STDOUT_FILENO);
        dup2(err_fd >= 0 ? err_fd : null_fd, STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    free(xdg);
    free(home);
    return pid;
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
    size_t used = 0;
    int pipefd[2];
    int status = 0;
    time_t deadline = time(NULL) + 120;
    char *config = NULL;
    int in = open_or_die(in_path ? in_path : "/dev/null", O_RDONLY);
    int out = open_or_die(out_path ? out_path : "/dev/null",
                          O_WRONLY | O_CREAT | O_TRUNC);
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) != 0)
        tu_die("pipe");
    pid = spawn_child(args, env, in, out, pipefd[1], &config);
    close(in);
    close(out);
    close(pipefd[1]);
    for (;;) {
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        char scratch_buf[256];
        ssize_t r;

        if (poll(&p, 1, 1000) == 0) {
            if (time(NULL) > deadline)
                kill(pid, SIGKILL);
            continue;
        }
        if (used + 1 < errlen)
            r = read(pipefd[0], err + used, errlen - used - 1);
        else
            r = read(pipefd[0], scratch_buf, sizeof(scratch_buf));
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
    /* A fresh config folder per run: pins of earlier servers on a reused
     * port must not meet the next one. */
    tu_rmtree(config);
    free(config);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

void tu_tamper(const char *path)
{
    struct timespec times[2];
    struct stat sb;
    int fd;

    if (stat(path, &sb) != 0)
        tu_die(path);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, "tampered", 8, 1000) != 8)
        tu_die(path);
    close(fd);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    if (utimensat(AT_FDCWD, path, times, 0) != 0)
        tu_die(path);
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
    char *config = NULL;
    pid_t pid = spawn_child(args, env, in_fd, out_fd, err_fd, &config);

    free(config); /* the folder goes when the program exits */
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
        tu_die("pthread_create");
}

uint64_t tu_feeder_join(struct tu_feeder *f)
{
    pthread_join(f->thread, NULL);
    return f->written;
}
