/* io.c - full reads and writes, EINTR, deadlines. */
#include "io.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t ft_io_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ft_io_now_ms(void)
{
    return ft_io_now_us() / 1000;
}

int64_t ft_io_deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return FT_IO_NO_DEADLINE;
    return ft_io_now_ms() + timeout_ms;
}

void ft_io_abstime(int ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    out->tv_sec += out->tv_nsec / 1000000000L;
    out->tv_nsec %= 1000000000L;
}

enum ft_err ft_io_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int timeout = -1;
        int rc;

        if (deadline != FT_IO_NO_DEADLINE) {
            int64_t left = deadline - ft_io_now_ms();

            if (left <= 0)
                return FT_ERR_TIMEOUT;
            timeout = left > 60000 ? 60000 : (int)left;
        }
        rc = poll(&p, 1, timeout);
        if (rc > 0)
            return FT_OK;
        if (rc < 0 && errno != EINTR)
            return FT_ERR_IO;
    }
}

/* A peer that vanished is a closed connection, not a local I/O failure. */
static enum ft_err classify_errno(void)
{
    if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN)
        return FT_ERR_CLOSED;
    return FT_ERR_IO;
}

enum ft_err ft_io_read_full(int fd, void *buf, size_t n, int64_t deadline,
                            size_t *got)
{
    return ft_io_read_at_least(fd, buf, n, n, deadline, got);
}

enum ft_err ft_io_read_at_least(int fd, void *buf, size_t need, size_t cap,
                                int64_t deadline, size_t *got)
{
    unsigned char *p = buf;
    size_t done = 0;
    enum ft_err err = FT_OK;

    while (done < need) {
        ssize_t r = read(fd, p + done, cap - done);

        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            err = ft_io_wait(fd, POLLIN, deadline);
            if (err != FT_OK)
                break;
            continue;
        }
        err = classify_errno();
        break;
    }
    *got = done;
    return err;
}

enum ft_err ft_io_pread_full(int fd, void *buf, size_t n, uint64_t off,
                             size_t *got)
{
    unsigned char *p = buf;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)(off + done));

        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        return FT_ERR_IO;
    }
    *got = done;
    return FT_OK;
}

static enum ft_err reader_pread(const struct ft_reader *r, void *buf, size_t n,
                                uint64_t off, size_t *got)
{
    return ft_io_pread_full(r->fd, buf, n, off, got);
}

struct ft_reader ft_io_reader(int fd)
{
    struct ft_reader r = { .read_at = reader_pread, .ctx = NULL, .fd = fd };

    return r;
}

enum ft_err ft_io_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
    const unsigned char *p = buf;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pwrite(fd, p + done, n - done, (off_t)(off + done));

        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = ENOSPC;
        return FT_ERR_IO;
    }
    return FT_OK;
}

enum ft_err ft_io_read_some(int fd, void *buf, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t r = read(fd, buf, cap);

        if (r >= 0) {
            *got = (size_t)r;
            return FT_OK;
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
            if (errno != EINTR && ft_io_wait(fd, POLLIN, FT_IO_NO_DEADLINE) != FT_OK)
                return FT_ERR_IO;
            continue;
        }
        return classify_errno();
    }
}

/* One write attempt. Sockets go through sendmsg with MSG_NOSIGNAL so that a
 * vanished peer yields EPIPE instead of killing the process with SIGPIPE;
 * anything else (pipes, files) falls back to writev. */
static ssize_t write_once(int fd, struct iovec *iov, int iovcnt, bool socket,
                          bool more)
{
    struct msghdr msg;
    ssize_t w;

    if (!socket)
        return writev(fd, iov, iovcnt);
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)iovcnt;
    w = sendmsg(fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (w < 0 && errno == ENOTSOCK)
        w = writev(fd, iov, iovcnt);
    return w;
}

static enum ft_err writev_full(int fd, struct iovec *iov, int iovcnt,
                               int64_t deadline, bool socket, bool more)
{
    while (iovcnt > 0) {
        ssize_t w;

        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        w = write_once(fd, iov, iovcnt, socket, more);
        if (w < 0) {
            enum ft_err err;

            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return classify_errno();
            err = ft_io_wait(fd, POLLOUT, deadline);
            if (err != FT_OK)
                return err;
            continue;
        }
        /* Advance past what was written, possibly mid-iovec. */
        while (w > 0 && iovcnt > 0) {
            if ((size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov->iov_len = 0;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
                w = 0;
            }
        }
    }
    return FT_OK;
}

enum ft_err ft_io_writev_full(int fd, struct iovec *iov, int iovcnt,
                              int64_t deadline, bool more)
{
    return writev_full(fd, iov, iovcnt, deadline, true, more);
}

enum ft_err ft_io_sendfile_full(int sock, int in_fd, uint64_t off, size_t n,
                                int64_t deadline)
{
    off_t pos = (off_t)off;

    while (n > 0) {
        ssize_t w = sendfile(sock, in_fd, &pos, n);

        if (w > 0) {
            n -= (size_t)w;
            continue;
        }
        if (w == 0)
            return FT_ERR_CHANGED; /* the file ended early */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return classify_errno();
        if (ft_io_wait(sock, POLLOUT, deadline) != FT_OK)
            return FT_ERR_TIMEOUT;
    }
    return FT_OK;
}

enum ft_err ft_io_write_full(int fd, const void *buf, size_t n,
                             int64_t deadline)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

    return writev_full(fd, &iov, 1, deadline, true, false);
}

enum ft_err ft_io_write_file(int fd, const void *buf, size_t n)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

    return writev_full(fd, &iov, 1, FT_IO_NO_DEADLINE, false, false);
}
