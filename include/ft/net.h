/* ft/net.h - TCP sockets: listen, accept, connect, and their options.
 *
 * Every descriptor returned is close-on-exec and non-blocking, so that the
 * framing layer's timeouts apply to it. host may be a name or a numeric IPv4
 * or IPv6 address. errbuf receives a one-line reason on failure. */
#ifndef FT_NET_H
#define FT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

/* Longest "host:port" text from ft_net_accept, brackets around IPv6. */
#define FT_NET_PEER_MAX 64

/* Listens on host:port (port 0: any free port). *bound_port receives the
 * port actually bound. */
enum ft_err ft_net_listen(const char *host, uint16_t port, int *fd,
                          uint16_t *bound_port, char *errbuf, size_t errlen);

/* Accepts one connection, waiting up to timeout_ms for it (0: not at all,
 * negative: as long as it takes); peer receives "addr:port". Returns
 * FT_ERR_TIMEOUT when none arrived in time. */
enum ft_err ft_net_accept(int listen_fd, int timeout_ms, int *fd, char *peer,
                          size_t peerlen);

/* Connects to host:port within timeout_ms (negative: the system's limit),
 * trying every address the name resolves to. */
enum ft_err ft_net_connect(const char *host, uint16_t port, int timeout_ms,
                           int *fd, char *errbuf, size_t errlen);

/* On, what is sent waits to leave in full segments (TCP_CORK); off sends
 * what waits. Nothing on a descriptor that is not a TCP socket. */
void ft_net_cork(int fd, bool on);

/* How many bytes written to the socket wait there, not yet sent: a link
 * slower than the sender builds such a backlog. False when that cannot be
 * told (a socket that is not TCP, a pipe). */
bool ft_net_unsent(int fd, size_t *bytes);

/* The shortest round trip TCP measured on the connection, in
 * microseconds: the path's own delay, without queues; false when that
 * cannot be told. */
bool ft_net_rtt_us(int fd, uint32_t *rtt_us);

#endif
