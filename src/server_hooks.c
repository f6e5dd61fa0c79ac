/* server_hooks.c - --on-upload and --on-delete: a launcher process, forked
 * at start-up, runs the programs for the events the sessions send it.
 *
 * The server never runs a program itself: once confined (Landlock) or
 * dropped to another user it could not, and a session must never wait for
 * one. The launcher is forked before any of that, and before the server
 * makes threads: from then on it only reads events, forks and execs, so
 * it calls nothing that a fork of a threaded process may not. Each program
 * runs with the user and group of the server process that sent the event,
 * as the kernel reports them (SCM_CREDENTIALS): a launcher left with root
 * runs nothing as root for a server that dropped it. */
#define _GNU_SOURCE
#include "server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"

/* Programs running at once, and events waiting beyond them; more are
 * dropped, with a log line. */
#define HOOKS_RUNNING_MAX 4
#define HOOKS_QUEUE_MAX 64
/* The launcher's end of the socket pair, once it has closed the rest. */
#define LAUNCHER_FD 3

enum hook_kind { HOOK_UPLOAD, HOOK_DELETE };
static const char *const kind_names[] = { "upload", "delete" };

/* What a session sends: one message (SOCK_SEQPACKET) per event. */
struct hook_event {
    uint8_t kind;
    char size[24];
    char digest[FT_HASH_HEX_BYTES];
    char client[sizeof(((struct session *)NULL)->peer)];
    char name[FT_PATH_MAX + 1]; /* as the client knows it */
};

enum report_kind { REPORT_EXITED, REPORT_QUEUED, REPORT_DROPPED, REPORT_FAILED };

/* What the launcher tells the server, for its log. */
struct hook_report {
    uint8_t kind, event;
    int32_t status; /* a wait status, or an errno */
    int32_t pid;
    char name[FT_PATH_MAX + 1];
};

/* ------------------------------------------------------------ launcher */

/* An event waiting, with whom to run it as. */
struct queued {
    struct hook_event e;
    uid_t uid;
    gid_t gid;
};

/* The launcher's own: it is a process of its own, single-threaded. */
static struct queued queue[HOOKS_QUEUE_MAX];

/* Appends "key=value" to out (cap bytes, NUL-terminated): no snprintf in a
 * fork of a threaded process. */
static char *env_pair(char *out, size_t cap, const char *key, const char *value)
{
    size_t k = strlen(key), v = strnlen(value, cap - k - 2);

    memcpy(out, key, k);
    out[k] = '=';
    memcpy(out + k + 1, value, v);
    out[k + 1 + v] = '\0';
    return out;
}

static void report(int sock, enum report_kind kind, const struct hook_event *e,
                   int status, pid_t pid)
{
    struct hook_report r;

    memset(&r, 0, sizeof(r));
    r.kind = (uint8_t)kind;
    r.event = e->kind;
    r.status = status;
    r.pid = (int32_t)pid;
    memcpy(r.name, e->name, sizeof(r.name));
    /* A server too busy to read reports loses them, never waits on them. */
    (void)send(sock, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* In the program's process: a clean slate, the sender's user, then exec.
 * argv and envp hold the name as data: no shell ever reads it. */
static void exec_hook(const struct queued *q, const char *program, int devnull)
{
    enum { ENV_MAX = sizeof(q->e.name) + 16 };
    char ev[32], en[ENV_MAX], es[48], ed[96], ec[sizeof(q->e.client) + 16];
    char *argv[] = { (char *)program, (char *)q->e.name, NULL };
    char *envp[] = { (char *)"PATH=/usr/local/bin:/usr/bin:/bin",
                     env_pair(ev, sizeof(ev), "FT_EVENT", kind_names[q->e.kind]),
                     env_pair(en, sizeof(en), "FT_NAME", q->e.name),
                     env_pair(es, sizeof(es), "FT_SIZE", q->e.size),
                     env_pair(ed, sizeof(ed), "FT_DIGEST", q->e.digest),
                     env_pair(ec, sizeof(ec), "FT_CLIENT", q->e.client),
                     NULL };
    struct sigaction dfl;
    sigset_t none;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(devnull, STDIN_FILENO) < 0 || close_range(3, ~0U, 0) != 0)
        _exit(126);
    /* A launcher forked by a server that was acting as its --user at the
     * time still has root as its real and saved ids: take root back for a
     * moment, then drop every id to the sender's for good, so that no
     * hook can regain root. */
    if (q->uid != 0 && (getuid() == 0 || geteuid() == 0) &&
        ((geteuid() != 0 && seteuid(0) != 0) || setgroups(1, &q->gid) != 0 ||
         setgid(q->gid) != 0 || setuid(q->uid) != 0))
        _exit(126);
    execve(program, argv, envp);
    _exit(127);
}

/* Starts the program for q's event; -1 (errno set) when it could not. */
static pid_t start_hook(const struct queued *q, const char *const programs[2],
                        int devnull)
{
    pid_t pid = fork();

    if (pid == 0)
        exec_hook(q, programs[q->e.kind], devnull);
    return pid;
}

/* Takes one event from the server, with its sender's credentials; false
 * once the server has gone (end of stream). */
static bool take_event(int sock, struct queued *q, bool *whole)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct iovec iov = { .iov_base = &q->e, .iov_len = sizeof(q->e) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    struct ucred cred;

    *whole = false;
    if (n == 0)
        return false;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n != (ssize_t)sizeof(q->e) || c == NULL || c->cmsg_level != SOL_SOCKET ||
        c->cmsg_type != SCM_CREDENTIALS || q->e.kind > HOOK_DELETE)
        return true;
    memcpy(&cred, CMSG_DATA(c), sizeof(cred));
    q->uid = cred.uid;
    q->gid = cred.gid;
    q->e.name[sizeof(q->e.name) - 1] = '\0';
    q->e.client[sizeof(q->e.client) - 1] = '\0';
    q->e.size[sizeof(q->e.size) - 1] = '\0';
    q->e.digest[sizeof(q->e.digest) - 1] = '\0';
    *whole = true;
    return true;
}

/* The running programs: their pids, and the events they run for. */
struct running {
    pid_t pid[HOOKS_RUNNING_MAX];
    struct hook_event e[HOOKS_RUNNING_MAX];
    unsigned n;
};

/* Reaps every program that ended and reports its status. */
static void reap(int sock, int sigfd, struct running *r)
{
    struct signalfd_siginfo si;
    pid_t pid;
    int status;

    while (read(sigfd, &si, sizeof(si)) > 0)
        ;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < r->n; i++) {
            if (r->pid[i] != pid)
                continue;
            report(sock, REPORT_EXITED, &r->e[i], status, pid);
            r->n--;
            r->pid[i] = r->pid[r->n];
            r->e[i] = r->e[r->n];
            break;
        }
    }
}

/* The launcher's loop (one long function: its state lives on its stack
 * and in queue[]): events in, programs started while fewer than
 * HOOKS_RUNNING_MAX run, statuses out. It ends when the server's end of
 * the pair closes; programs still running go on, reparented. */
static __attribute__((noreturn)) void launcher_main(int sock,
                                                    const char *const programs[2])
{
    struct running r = { .n = 0 };
    size_t head = 0, count = 0;
    sigset_t chld;
    int sigfd, devnull;
    bool serving = true;

    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    /* A Ctrl-C for the server is the server's to act on; this process ends
     * when the server does. */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (sigfd < 0 || devnull < 0)
        _exit(1);
    while (serving) {
        struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
                               { .fd = sigfd, .events = POLLIN } };

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            reap(sock, sigfd, &r);
        if (p[0].revents) {
            struct queued *q = &queue[(head + count) % HOOKS_QUEUE_MAX];
            struct queued spare;
            bool whole;

            if (count == HOOKS_QUEUE_MAX)
                q = &spare;
            serving = take_event(sock, q, &whole);
            if (whole && q == &spare)
                report(sock, REPORT_DROPPED, &q->e, HOOKS_QUEUE_MAX, 0);
            else if (whole && (count++ > 0 || r.n == HOOKS_RUNNING_MAX))
                report(sock, REPORT_QUEUED, &q->e, (int)r.n, 0);
        }
        while (serving && count > 0 && r.n < HOOKS_RUNNING_MAX) {
            struct queued *q = &queue[head];
            pid_t pid = start_hook(q, programs, devnull);

            head = (head + 1) % HOOKS_QUEUE_MAX;
            count--;
            if (pid < 0) {
                report(sock, REPORT_FAILED, &q->e, errno, 0);
                continue;
            }
            r.pid[r.n] = pid;
            r.e[r.n++] = q->e;
        }
    }
    _exit(0);
}

/* ------------------------------------------------------------- server */

static void log_report(struct ft_server *srv, const struct hook_report *r)
{
    char quoted[FT_PATH_MAX * 4 + 8];
    const char *kind = kind_names[r->event <= HOOK_DELETE ? r->event : 0];
    int st = r->status;

    ft_name_quote(r->name, strnlen(r->name, sizeof(r->name)), quoted, sizeof(quoted));
    if (r->kind == REPORT_EXITED && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        ft_server_log(srv, "hook on-%s '%s' (pid %d) exited with status 0", kind,
                      quoted, (int)r->pid);
    else if (r->kind == REPORT_EXITED && WIFEXITED(st))
        ft_server_log_warn(srv, "hook on-%s '%s' (pid %d) exited with status %d",
                           kind, quoted, (int)r->pid, WEXITSTATUS(st));
    else if (r->kind == REPORT_EXITED)
        ft_server_log_warn(srv, "hook on-%s '%s' (pid %d) killed by signal %d", kind,
                           quoted, (int)r->pid, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    else if (r->kind == REPORT_QUEUED)
        ft_server_log(srv, "hook on-%s '%s' queued: %d running", kind, quoted, st);
    else if (r->kind == REPORT_DROPPED)
        ft_server_log_warn(srv, "hook on-%s '%s' dropped: %d waiting already", kind,
                           quoted, st);
    else
        ft_server_log_warn(srv, "hook on-%s '%s' not started: %s", kind, quoted,
                           strerror(st));
}

static void *reporter_main(void *arg)
{
    struct ft_server *srv = arg;
    struct hook_report r;
    ssize_t n;

    while ((n = recv(srv->hook_fd, &r, sizeof(r), 0)) != 0) {
        if (n < 0 && errno != EINTR)
            break;
        if (n == (ssize_t)sizeof(r))
            log_report(srv, &r);
    }
    return NULL;
}

/* A program must be there and executable at start, not at the first
 * upload. */
static enum ft_err check_program(const char *option, const char *program,
                                 char *errbuf, size_t errlen)
{
    /* By the effective ids: a server started with --user opens as that
     * user, whose hooks these will be, while its real id is still root. */
    if (program == NULL || faccessat(AT_FDCWD, program, X_OK, AT_EACCESS) == 0)
        return FT_OK;
    snprintf(errbuf, errlen, "%s %s: %s", option, program, strerror(errno));
    return FT_ERR_USAGE;
}

enum ft_err ft_server_hooks_open(struct ft_server *srv, char *errbuf, size_t errlen)
{
    const char *programs[2] = { srv->cfg.on_upload, srv->cfg.on_delete };
    int sv[2], on = 1;
    enum ft_err err = check_program("--on-upload", programs[0], errbuf, errlen);

    if (err == FT_OK)
        err = check_program("--on-delete", programs[1], errbuf, errlen);
    if (err != FT_OK || (programs[0] == NULL && programs[1] == NULL))
        return err;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(errbuf, errlen, "hooks: socketpair: %s", strerror(errno));
        return FT_ERR_IO;
    }
    if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
        snprintf(errbuf, errlen, "hooks: SO_PASSCRED: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return FT_ERR_IO;
    }
    srv->hook_pid = fork();
    if (srv->hook_pid == 0) {
        /* What the launcher inherits and has no use for: the store's lock
         * above all, which must go when the server does. And the token. */
        sodium_memzero(srv->token, sizeof(srv->token));
        if (dup2(sv[1], LAUNCHER_FD) < 0 || close_range(LAUNCHER_FD + 1, ~0U, 0) != 0)
            _exit(1);
        launcher_main(LAUNCHER_FD, programs);
    }
    close(sv[1]);
    if (srv->hook_pid < 0) {
        close(sv[0]);
        snprintf(errbuf, errlen, "hooks: fork: %s", strerror(errno));
        return FT_ERR_IO;
    }
    srv->hook_fd = sv[0];
    return FT_OK;
}

/* The reader of the launcher's reports starts with the serving, not at
 * open: a server confines itself in between, and Landlock binds only the
 * threads started after it (ft_server_confine refuses a process that has
 * others). Without it, reports wait in the socket or are dropped. */
void ft_server_hooks_start(struct ft_server *srv)
{
    if (srv->hook_fd < 0 || srv->hook_reporting)
        return;
    if (pthread_create(&srv->hook_reporter, NULL, reporter_main, srv) != 0) {
        ft_server_log_warn(srv, "hooks: cannot start a thread: their exit "
                                "statuses go unlogged");
        return;
    }
    srv->hook_reporting = true;
}

void ft_server_hooks_close(struct ft_server *srv)
{
    if (srv->hook_fd < 0)
        return;
    /* The launcher sees the end, starts nothing more and exits; its end
     * closing then ends the reporter. */
    shutdown(srv->hook_fd, SHUT_WR);
    if (srv->hook_reporting)
        pthread_join(srv->hook_reporter, NULL);
    if (srv->hook_pid > 0)
        waitpid(srv->hook_pid, NULL, 0);
    close(srv->hook_fd);
    srv->hook_fd = -1;
}

static void send_event(struct session *s, enum hook_kind kind, const char *name,
                       uint64_t size, const uint8_t *digest)
{
    struct ft_server *srv = s->srv;
    const char *shown = ft_server_session_shown(s, name);
    struct hook_event e;

    if (srv->hook_fd < 0 || (kind == HOOK_UPLOAD ? srv->cfg.on_upload
                                                 : srv->cfg.on_delete) == NULL)
        return;
    memset(&e, 0, sizeof(e));
    e.kind = (uint8_t)kind;
    snprintf(e.size, sizeof(e.size), "%" PRIu64, size);
    if (digest != NULL)
        ft_hash_hex(digest, e.digest);
    snprintf(e.client, sizeof(e.client), "%s", s->peer);
    snprintf(e.name, sizeof(e.name), "%s", shown);
    /* A session never waits for the launcher: with its socket full, the
     * event is dropped, and said so. */
    if (send(srv->hook_fd, &e, sizeof(e), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        char quoted[FT_PATH_MAX * 4 + 8];

        ft_name_quote(shown, strlen(shown), quoted, sizeof(quoted));
        ft_server_log_warn(srv, "hook on-%s '%s' dropped: %s", kind_names[kind],
                           quoted, errno == EAGAIN ? "the launcher is behind"
                                                   : strerror(errno));
    }
}

void ft_server_hook_upload(struct session *s, const char *name, uint64_t size,
                           const uint8_t *digest)
{
    send_event(s, HOOK_UPLOAD, name, size, digest);
}

void ft_server_hook_delete(struct session *s, const char *name, uint64_t size)
{
    send_event(s, HOOK_DELETE, name, size, NULL);
}
