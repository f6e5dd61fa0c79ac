/* io.h - the only loops for full reads and writes.
 *
 * Nothing else in ft calls read(2) or write(2) on a socket. These functions
 * retry EINTR, complete short transfers, and, when the descriptor is
 * non-blocking, wait with poll(2) until an absolute deadline so that a peer
 * that stalls cannot hold a caller forever. */
#ifndef FT_IO_H
#define FT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "ft/error.h"

/* No deadline: wait as long as it takes. */
#define FT_IO_NO_DEADLINE INT64_MAX

/* Milliseconds, and microseconds, on the monotonic clock. */
int64_t ft_io_now_ms(void);
int64_t ft_io_now_us(void);

/* The deadline timeout_ms from now; FT_IO_NO_DEADLINE when timeout_ms < 0. */
int64_t ft_io_deadline(int timeout_ms);

/* The wall-clock time ms from now, as pthread_cond_timedwait takes it. */
struct timespec;
void ft_io_abstime(int ms, struct timespec *out);

/* Reads until n bytes are in buf or the stream ends. *got receives the count,
 * which is below n only at end of stream. Returns FT_ERR_TIMEOUT past the
 * deadline, FT_ERR_CLOSED on a reset connection, FT_ERR_IO with errno set on
 * any other failure. */
enum ft_err ft_io_read_full(int fd, void *buf, size_t n, int64_t deadline,
                            size_t *got);

/* The same, but each read asks for up to cap bytes: it stops once at least
 * need (<= cap) are in buf, with whatever else had arrived. */
enum ft_err ft_io_read_at_least(int fd, void *buf, size_t need, size_t cap,
                                int64_t deadline, size_t *got);

/* Reads up to n bytes at offset off of a file, without moving its
 * position; *got is below n only at end of file. */
enum ft_err ft_io_pread_full(int fd, void *buf, size_t n, uint64_t off,
                             size_t *got);

/* A byte source read at offsets, whatever holds it (a file, a stored
 * file of any store backend): read_at reads n bytes at off into buf,
 * *got below n only at its end. ctx and fd are its own. */
struct ft_reader {
    enum ft_err (*read_at)(const struct ft_reader *r, void *buf, size_t n,
                           uint64_t off, size_t *got);
    void *ctx;
    int fd;
};

/* A reader of the file fd (pread: its position does not move). */
struct ft_reader ft_io_reader(int fd);

/* Writes all n bytes at offset off of a file, without moving its
 * position; FT_ERR_IO with errno set on failure. */
enum ft_err ft_io_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);

/* One read of at most cap bytes (after EINTR); *got is 0 at end of
 * stream. For sources waited on with ft_io_wait first. */
enum ft_err ft_io_read_some(int fd, void *buf, size_t cap, size_t *got);

/* Writes all n bytes; same errors as ft_io_read_full. */
enum ft_err ft_io_write_full(int fd, const void *buf, size_t n,
                             int64_t deadline);

/* Writes all n bytes to a file or pipe, not a socket: plain write(2),
 * without the sendmsg attempt that spares sockets SIGPIPE. */
enum ft_err ft_io_write_file(int fd, const void *buf, size_t n);

/* Sends n bytes of the file in_fd from offset off to the socket sock with
 * sendfile(2): no copy through user memory. Same errors as
 * ft_io_write_full. */
enum ft_err ft_io_sendfile_full(int sock, int in_fd, uint64_t off, size_t n,
                                int64_t deadline);

/* Writes every byte the iovecs describe. The array is modified. With more,
 * a socket is told that more follows at once (MSG_MORE): what is written
 * then leaves with it, in one segment, rather than alone. */
enum ft_err ft_io_writev_full(int fd, struct iovec *iov, int iovcnt,
                              int64_t deadline, bool more);

/* Waits until fd has one of the poll(2) events or the deadline passes:
 * FT_OK when it has, FT_ERR_TIMEOUT otherwise. */
enum ft_err ft_io_wait(int fd, short events, int64_t deadline);

#endif
