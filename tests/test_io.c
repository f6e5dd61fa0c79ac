/* test_io.c - src/io.h's promises: full reads and writes through short
 * transfers and EINTR, deadlines that cut a stalled peer, the end of a
 * stream told apart from a reset, and plain writes to files and pipes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "io.h"
#include "testutil.h"

/* Generous bound on anything expected "soon"; never a measured time. */
#define WAIT_MS 20000
/* A deadline meant to pass: the call must give up, however long it took. */
#define EXPIRE_MS 50

static void fill(uint8_t *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)((i * 131u + seed) ^ (i >> 9));
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    assert_true(flags >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

static void close_both(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* A socketpair whose buffers are small, so that large transfers through it
 * are short reads and writes. */
static void small_socketpair(int sv[2])
{
    int small = 4096;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small,
                                    sizeof(small)), 0);
        assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small,
                                    sizeof(small)), 0);
    }
}

/* The other end of a transfer, in a thread: moves n bytes in pieces of 1
 * to step bytes (with plain read/write, not io.c's), then closes its fd
 * when asked. A reader stops early at the end of the stream. */
struct peer {
    pthread_t thread;
    int fd;
    uint8_t *buf;
    size_t n, step;
    bool writes, close_after;
    size_t done;
};

static void *peer_main(void *arg)
{
    struct peer *p = arg;

    for (size_t i = 0; p->done < p->n; i++) {
        size_t want = i % p->step + 1;
        ssize_t r;

        if (want > p->n - p->done)
            want = p->n - p->done;
        r = p->writes ? write(p->fd, p->buf + p->done, want)
                      : read(p->fd, p->buf + p->done, want);
        if (r > 0) {
            p->done += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd pfd = { .fd = p->fd, .events = p->writes ? POLLOUT : POLLIN };

            poll(&pfd, 1, 1000);
            continue;
        }
        break;
    }
    if (p->close_after)
        close(p->fd);
    return NULL;
}

static void peer_start(struct peer *p, int fd, uint8_t *buf, size_t n, size_t step,
                       bool writes, bool close_after)
{
    *p = (struct peer){ .fd = fd, .buf = buf, .n = n, .step = step,
                        .writes = writes, .close_after = close_after };
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static size_t peer_join(struct peer *p)
{
    pthread_join(p->thread, NULL);
    return p->done;
}

/* --- short transfers ------------------------------------------------- */

static void test_read_full_through_short_reads(void **state)
{
    const size_t n = 1 << 20;
    uint8_t *sent = malloc(n), *got_buf = malloc(n);
    struct peer w;
    size_t got = 0;
    int p[2];

    (void)state;
    assert_non_null(sent);
    assert_non_null(got_buf);
    fill(sent, n, 1);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* Blocking, then the same through a non-blocking descriptor, which
     * must wait for data rather than fail with EAGAIN. */
    for (int round = 0; round < 2; round++) {
        memset(got_buf, 0, n);
        if (round == 1)
            set_nonblocking(p[0]);
        peer_start(&w, p[1], sent, n, 777, true, false);
        assert_int_equal(ft_io_read_full(p[0], got_buf, n, ft_io_deadline(WAIT_MS),
                                         &got), FT_OK);
        assert_int_equal(got, n); /* before joining a writer that may be stuck */
        assert_int_equal(peer_join(&w), n);
        assert_memory_equal(got_buf, sent, n);
    }
    close_both(p);
    free(sent);
    free(got_buf);
}

/* Sends what iov describes into a socketpair whose reader takes 1 to step
 * bytes at a time (ft_io_write_full for one buffer, ft_io_writev_full for
 * more), and checks that all of it arrives, in order. */
static void send_through_short_writes(struct iovec *iov, int iovcnt, size_t step)
{
    size_t total = 0, off = 0;
    uint8_t *flat, *got_buf;
    struct peer r;
    int sv[2];
    enum ft_err err;

    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    flat = malloc(total);
    got_buf = calloc(1, total);
    assert_non_null(flat);
    assert_non_null(got_buf);
    for (int i = 0; i < iovcnt; i++) {
        memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    small_socketpair(sv);
    set_nonblocking(sv[0]);
    peer_start(&r, sv[1], got_buf, total, step, false, false);
    if (iovcnt == 1)
        err = ft_io_write_full(sv[0], iov[0].iov_base, iov[0].iov_len,
                               ft_io_deadline(WAIT_MS));
    else
        err = ft_io_writev_full(sv[0], iov, iovcnt, ft_io_deadline(WAIT_MS), false);
    assert_int_equal(err, FT_OK);
    assert_int_equal(peer_join(&r), total);
    assert_memory_equal(got_buf, flat, total);
    close_both(sv);
    free(flat);
    free(got_buf);
}

static void test_write_full_through_short_writes(void **state)
{
    const size_t n = 4 << 20;
    struct iovec iov = { .iov_base = malloc(n), .iov_len = n };

    (void)state;
    assert_non_null(iov.iov_base);
    fill(iov.iov_base, n, 2);
    send_through_short_writes(&iov, 1, 1500);
    free(iov.iov_base);
}

/* Several buffers, one empty, each cut mid-way by short writes: the bytes
 * arrive whole and in order. */
static void test_writev_full_keeps_order(void **state)
{
    const size_t sizes[] = { 100000, 0, 1, 300001, 65536 };
    uint8_t *bufs[5];
    struct iovec iov[5];

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        bufs[i] = malloc(sizes[i] + 1);
        assert_non_null(bufs[i]);
        fill(bufs[i], sizes[i], (uint32_t)(3 + i));
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizes[i];
    }
    send_through_short_writes(iov, 5, 999);
    for (size_t i = 0; i < 5; i++)
        free(bufs[i]);
}

/* Once need bytes are in, it returns what else had arrived, up to cap. */
static void test_read_at_least_takes_what_arrived(void **state)
{
    uint8_t sent[30], buf[100];
    size_t got = 0;
    int p[2];

    (void)state;
    fill(sent, sizeof(sent), 4);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], sent, sizeof(sent)), (ssize_t)sizeof(sent));
    assert_int_equal(ft_io_read_at_least(p[0], buf, 10, sizeof(buf),
                                         ft_io_deadline(WAIT_MS), &got), FT_OK);
    assert_int_equal(got, sizeof(sent));
    assert_memory_equal(buf, sent, sizeof(sent));
    close_both(p);
}

/* --- EINTR ------------------------------------------------------------ */

static atomic_int signals_seen;

static void count_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals_seen, 1);
}

/* Polls until thread tid of this process sleeps in system call nr. */
static bool wait_in_syscall(pid_t tid, long nr)
{
    char path[64], line[64];
    int64_t deadline = tu_now_ms() + WAIT_MS;

    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
    while (tu_now_ms() < deadline) {
        FILE *f = fopen(path, "r");
        bool in = f != NULL && fgets(line, sizeof(line), f) != NULL &&
                  strtol(line, NULL, 10) == nr && line[0] != 'r';

        if (f != NULL)
            fclose(f);
        if (in)
            return true;
        tu_sleep_ms(1);
    }
    return false;
}

/* The helper thread: once the test's thread blocks in the call, a signal
 * interrupts it; once it has blocked in the call again (io.c retried),
 * the peer's side of the transfer is done so that the call completes. */
struct interrupter {
    pthread_t thread, target;
    pid_t target_tid;
    long nr;
    int fd;         /* the helper's end */
    uint8_t *buf;
    size_t n;
    bool writes;    /* the helper writes n bytes (else it reads them) */
    bool saw_block, saw_signal, saw_retry;
};

static void *interrupter_main(void *arg)
{
    struct interrupter *it = arg;
    struct peer p;
    int64_t deadline = tu_now_ms() + WAIT_MS;

    it->saw_block = wait_in_syscall(it->target_tid, it->nr);
    if (it->saw_block)
        pthread_kill(it->target, SIGUSR1);
    while (atomic_load(&signals_seen) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    it->saw_signal = atomic_load(&signals_seen) > 0;
    it->saw_retry = it->saw_signal && wait_in_syscall(it->target_tid, it->nr);
    /* Done in every case, so that the test's thread is never left blocked. */
    p = (struct peer){ .fd = it->fd, .buf = it->buf, .n = it->n, .step = it->n,
                       .writes = it->writes };
    peer_main(&p);
    return NULL;
}

/* Installs count_signal for SIGUSR1 without SA_RESTART, so that a blocked
 * read or write fails with EINTR instead of being restarted by the kernel. */
static void catch_sigusr1(struct sigaction *old)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    atomic_store(&signals_seen, 0);
    assert_int_equal(sigaction(SIGUSR1, &sa, old), 0);
}

static void interrupter_start(struct interrupter *it, long nr, int fd, uint8_t *buf,
                              size_t n, bool writes)
{
    *it = (struct interrupter){ .target = pthread_self(),
                                .target_tid = (pid_t)syscall(SYS_gettid),
                                .nr = nr, .fd = fd, .buf = buf, .n = n,
                                .writes = writes };
    assert_int_equal(pthread_create(&it->thread, NULL, interrupter_main, it), 0);
}

static void test_read_full_retries_eintr(void **state)
{
    uint8_t sent[5000], got_buf[5000];
    struct sigaction old;
    struct interrupter it;
    size_t got = 0;
    int p[2];
    enum ft_err err;

    (void)state;
    fill(sent, sizeof(sent), 5);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    catch_sigusr1(&old);
    interrupter_start(&it, SYS_read, p[1], sent, sizeof(sent), true);
    /* Blocking: the read sleeps until the helper's signal, then again. */
    err = ft_io_read_full(p[0], got_buf, sizeof(got_buf), FT_IO_NO_DEADLINE, &got);
    pthread_join(it.thread, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_true(it.saw_block);
    assert_true(it.saw_signal);
    assert_int_equal(err, FT_OK);
    assert_int_equal(got, sizeof(sent));
    assert_memory_equal(got_buf, sent, sizeof(sent));
    assert_true(it.saw_retry);
    close_both(p);
}

static void test_write_full_retries_eintr(void **state)
{
    const size_t n = 1 << 20;
    uint8_t *sent = malloc(n), *got_buf = NULL;
    uint8_t junk[512] = { 0 };
    size_t prefilled = 0;
    struct sigaction old;
    struct interrupter it;
    int sv[2];
    enum ft_err err;

    (void)state;
    assert_non_null(sent);
    fill(sent, n, 6);
    small_socketpair(sv);
    /* Full before the call: its first write sleeps with nothing written,
     * so the signal makes it fail with EINTR rather than come back short. */
    set_nonblocking(sv[0]);
    for (ssize_t w; (w = write(sv[0], junk, sizeof(junk))) > 0;)
        prefilled += (size_t)w;
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) & ~O_NONBLOCK), 0);
    got_buf = calloc(1, prefilled + n);
    assert_non_null(got_buf);
    catch_sigusr1(&old);
    interrupter_start(&it, SYS_sendmsg, sv[1], got_buf, prefilled + n, false);
    err = ft_io_write_full(sv[0], sent, n, FT_IO_NO_DEADLINE);
    shutdown(sv[0], SHUT_WR); /* the helper stops at the end, however short */
    pthread_join(it.thread, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_true(it.saw_block);
    assert_true(it.saw_signal);
    assert_int_equal(err, FT_OK);
    assert_memory_equal(got_buf + prefilled, sent, n);
    assert_true(it.saw_retry);
    close_both(sv);
    free(sent);
    free(got_buf);
}

/* --- deadlines --------------------------------------------------------- */

/* Asks ft_io_read_full for 10 bytes of fd by deadline: it must answer want
 * with the bytes of expect (NUL-ended) and no others. */
static void expect_read(int fd, int64_t deadline, enum ft_err want,
                        const char *expect)
{
    uint8_t buf[10];
    size_t got = 99;

    assert_int_equal(ft_io_read_full(fd, buf, sizeof(buf), deadline, &got), want);
    assert_int_equal(got, strlen(expect));
    assert_memory_equal(buf, expect, got);
}

static void test_read_deadline_expires(void **state)
{
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    /* Nothing comes. */
    expect_read(p[0], ft_io_deadline(EXPIRE_MS), FT_ERR_TIMEOUT, "");
    /* Part comes, the rest never: what came is counted. */
    assert_int_equal(write(p[1], "abc", 3), 3);
    expect_read(p[0], ft_io_deadline(EXPIRE_MS), FT_ERR_TIMEOUT, "abc");
    /* A deadline already past. */
    expect_read(p[0], ft_io_now_ms() - 1, FT_ERR_TIMEOUT, "");
    assert_int_equal(ft_io_wait(p[0], POLLIN, ft_io_deadline(EXPIRE_MS)),
                     FT_ERR_TIMEOUT);
    close_both(p);
}

static void test_write_deadline_expires(void **state)
{
    const size_t n = 8 << 20;
    uint8_t *buf = calloc(1, n);
    int sv[2];

    (void)state;
    assert_non_null(buf);
    small_socketpair(sv);
    set_nonblocking(sv[0]);
    /* Nobody reads: the buffers fill and stay full. */
    assert_int_equal(ft_io_write_full(sv[0], buf, n, ft_io_deadline(EXPIRE_MS)),
                     FT_ERR_TIMEOUT);
    assert_int_equal(ft_io_wait(sv[0], POLLOUT, ft_io_deadline(EXPIRE_MS)),
                     FT_ERR_TIMEOUT);
    assert_true(ft_io_deadline(-1) == FT_IO_NO_DEADLINE);
    close_both(sv);
    free(buf);
}

/* --- the end of a stream ------------------------------------------------ */

/* A pipe that carried text and was closed. */
static int closed_pipe_with(const char *text)
{
    int p[2];

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
    close(p[1]);
    return p[0];
}

static void test_eof_clean_and_truncated(void **state)
{
    int fd;

    (void)state;
    /* Closed with nothing sent: a clean end, no bytes, no error. */
    fd = closed_pipe_with("");
    expect_read(fd, ft_io_deadline(WAIT_MS), FT_OK, "");
    close(fd);
    /* Closed part way: the count says the read was cut short. */
    fd = closed_pipe_with("12345");
    expect_read(fd, ft_io_deadline(WAIT_MS), FT_OK, "12345");
    close(fd);
    /* Closed right after a whole message: that message, then the end. */
    fd = closed_pipe_with("0123456789");
    expect_read(fd, ft_io_deadline(WAIT_MS), FT_OK, "0123456789");
    expect_read(fd, ft_io_deadline(WAIT_MS), FT_OK, "");
    close(fd);
}

/* A peer that vanishes is a closed connection, not a local I/O failure:
 * a reset on reading, EPIPE on writing (and no SIGPIPE, which would end
 * this program: its disposition is the default here). */
static void test_vanished_peer_is_closed(void **state)
{
    uint8_t buf[10];
    size_t got = 0;
    int sv[2];

    (void)state;
    /* A socket closed while data it never read waits in it resets its
     * peer. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(write(sv[0], "unread", 6), 6);
    close(sv[1]);
    assert_int_equal(ft_io_read_full(sv[0], buf, sizeof(buf), ft_io_deadline(WAIT_MS),
                                     &got), FT_ERR_CLOSED);
    assert_int_equal(ft_io_write_full(sv[0], "more", 4, ft_io_deadline(WAIT_MS)),
                     FT_ERR_CLOSED);
    close(sv[0]);

    /* Any other failure is I/O, with errno kept. */
    errno = 0;
    assert_int_equal(ft_io_read_full(-1, buf, sizeof(buf), ft_io_deadline(WAIT_MS),
                                     &got), FT_ERR_IO);
    assert_int_equal(errno, EBADF);
}

/* --- files and pipes ---------------------------------------------------- */

static void test_write_file(void **state)
{
    const size_t n = 3 << 20;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "out");
    uint8_t *sent = malloc(n), *got_buf = calloc(1, n);
    void (*old)(int);
    struct peer r;
    size_t got = 0;
    int fd, p[2];

    (void)state;
    assert_non_null(sent);
    assert_non_null(got_buf);
    fill(sent, n, 7);
    /* A regular file. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ft_io_write_file(fd, sent, n), FT_OK);
    close(fd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ft_io_pread_full(fd, got_buf, n, 0, &got), FT_OK);
    assert_int_equal(got, n);
    assert_memory_equal(got_buf, sent, n);
    /* pread: from an offset, short only at the end, the position kept. */
    assert_int_equal(ft_io_pread_full(fd, got_buf, 200, n - 100, &got), FT_OK);
    assert_int_equal(got, 100);
    assert_memory_equal(got_buf, sent + n - 100, 100);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);

    /* A non-blocking pipe read slowly: short writes, waits for room. */
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    set_nonblocking(p[1]);
    memset(got_buf, 0, n);
    peer_start(&r, p[0], got_buf, n, 5000, false, false);
    assert_int_equal(ft_io_write_file(p[1], sent, n), FT_OK);
    assert_int_equal(peer_join(&r), n);
    assert_memory_equal(got_buf, sent, n);

    /* A pipe nobody reads any more: a closed peer (SIGPIPE ignored here,
     * as the program does: plain writes do not suppress it). */
    close(p[0]);
    old = signal(SIGPIPE, SIG_IGN);
    assert_int_equal(ft_io_write_file(p[1], sent, 10), FT_ERR_CLOSED);
    signal(SIGPIPE, old);
    close(p[1]);

    tu_rmtree(dir);
    free(dir);
    free(path);
    free(sent);
    free(got_buf);
}

/* A broken deadline or end-of-stream check would wait forever: each test
 * is bounded instead (SIGALRM ends the program, failed). */
static int bound(void **state)
{
    (void)state;
    alarm(60);
    return 0;
}

static int unbound(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

#define BOUNDED(fn) cmocka_unit_test_setup_teardown(fn, bound, unbound)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOUNDED(test_read_full_through_short_reads),
        BOUNDED(test_write_full_through_short_writes),
        BOUNDED(test_writev_full_keeps_order),
        BOUNDED(test_read_at_least_takes_what_arrived),
        BOUNDED(test_read_full_retries_eintr),
        BOUNDED(test_write_full_retries_eintr),
        BOUNDED(test_read_deadline_expires),
        BOUNDED(test_write_deadline_expires),
        BOUNDED(test_eof_clean_and_truncated),
        BOUNDED(test_vanished_peer_is_closed),
        BOUNDED(test_write_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
