/* net.c - one socket chore per function. */
#define _GNU_SOURCE
#include "ft/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h> /* TCP_CORK; struct tcp_info with tcpi_notsent_bytes */
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

/* Socket buffers are left to the kernel: setting SO_SNDBUF or SO_RCVBUF
 * turns its autotuning off, and a fixed size caps the window at that size
 * per round trip (1 MiB ran a 100 ms path at a quarter of its rate; on
 * loopback autotuning measured the same, docs/PERFORMANCE.md). */
static void tune_socket(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static enum ft_err resolve(const char *host, uint16_t port, int flags,
                           struct addrinfo **res, char *errbuf, size_t errlen)
{
    struct addrinfo hints;
    char service[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    rc = getaddrinfo(host, service, &hints, res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot resolve '%s': %s", host,
                 gai_strerror(rc));
        return FT_ERR_CONNECT;
    }
    return FT_OK;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

enum ft_err ft_net_listen(const char *host, uint16_t port, int *fd,
                          uint16_t *bound_port, char *errbuf, size_t errlen)
{
    struct addrinfo *res = NULL;
    int s = -1;
    int one = 1;
    int zero = 0;
    enum ft_err err = resolve(host, port, AI_PASSIVE, &res, errbuf, errlen);

    if (err != FT_OK)
        return err;
    s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
               res->ai_protocol);
    if (s < 0)
        goto fail;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* "::" serves IPv4 too, as users of a dual-stack host expect. */
    if (res->ai_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 128) != 0)
        goto fail;
    *bound_port = local_port(s);
    *fd = s;
    s = -1;
    goto out;
fail:
    snprintf(errbuf, errlen, "cannot listen on %s port %u: %s", host,
             (unsigned)port, strerror(errno));
    err = FT_ERR_CONNECT;
out:
    if (s >= 0)
        close(s);
    freeaddrinfo(res);
    return err;
}

enum ft_err ft_net_accept(int listen_fd, int timeout_ms, int *fd, char *peer,
                          size_t peerlen)
{
    int64_t deadline = ft_io_deadline(timeout_ms);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char addr[INET6_ADDRSTRLEN] = "?";
    int s;

    for (;;) {
        enum ft_err err;

        s = accept4(listen_fd, (struct sockaddr *)&ss, &len,
                    SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (s >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return FT_ERR_IO;
        if (timeout_ms == 0)
            return FT_ERR_TIMEOUT;
        err = ft_io_wait(listen_fd, POLLIN, deadline);
        if (err != FT_OK)
            return err;
    }
    tune_socket(s);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
        snprintf(peer, peerlen, "[%s]:%u", addr, (unsigned)ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
        snprintf(peer, peerlen, "%s:%u", addr, (unsigned)ntohs(a->sin_port));
    }
    *fd = s;
    return FT_OK;
}

/* Connects one address, waiting at most until the deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   ai->ai_protocol);
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (s < 0)
        return -1;
    tune_socket(s);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
        return s;
    if (errno != EINPROGRESS)
        goto fail;
    /* Writable means the handshake finished, one way or the other. */
    switch (ft_io_wait(s, POLLOUT, deadline)) {
    case FT_OK:
        break;
    case FT_ERR_TIMEOUT:
        errno = ETIMEDOUT;
        goto fail;
    default:
        goto fail;
    }
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        goto fail;
    if (soerr == 0)
        return s;
    errno = soerr;
fail:
    soerr = errno;
    close(s);
    errno = soerr;
    return -1;
}

enum ft_err ft_net_connect(const char *host, uint16_t port, int timeout_ms,
                           int *fd, char *errbuf, size_t errlen)
{
    struct addrinfo *res = NULL;
    int64_t deadline = ft_io_deadline(timeout_ms);
    enum ft_err err = resolve(host, port, 0, &res, errbuf, errlen);
    int s = -1;

    if (err != FT_OK)
        return err;
    for (const struct addrinfo *ai = res; ai != NULL && s < 0; ai = ai->ai_next)
        s = connect_one(ai, deadline);
    if (s < 0) {
        snprintf(errbuf, errlen, "cannot connect to %s port %u: %s", host,
                 (unsigned)port, strerror(errno));
        err = FT_ERR_CONNECT;
    } else {
        *fd = s;
    }
    freeaddrinfo(res);
    return err;
}

void ft_net_cork(int fd, bool on)
{
    int value = on;

    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof(value));
}

/* TCP_INFO, if the kernel fills it at least up to the first need bytes
 * (older kernels give a shorter struct). */
static bool tcp_info_upto(int fd, struct tcp_info *info, size_t need)
{
    socklen_t len = sizeof(*info);

    memset(info, 0, sizeof(*info));
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) == 0 && len >= need;
}

bool ft_net_unsent(int fd, size_t *bytes)
{
    struct tcp_info info;

    if (!tcp_info_upto(fd, &info, offsetof(struct tcp_info, tcpi_notsent_bytes) +
                                      sizeof(info.tcpi_notsent_bytes)))
        return false;
    *bytes = info.tcpi_notsent_bytes;
    return true;
}

bool ft_net_rtt_us(int fd, uint32_t *rtt_us)
{
    struct tcp_info info;

    if (!tcp_info_upto(fd, &info, offsetof(struct tcp_info, tcpi_min_rtt) +
                                      sizeof(info.tcpi_min_rtt)))
        return false;
    /* The least: a young connection's smoothed figure carries the delayed
     * acknowledgements of its first small exchanges (tens of ms even on
     * loopback), its handshake's sample does not. */
    *rtt_us = info.tcpi_min_rtt;
    return true;
}
