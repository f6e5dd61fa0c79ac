/* server_metrics.c - the server's metrics port (--metrics ADDR:PORT):
 * bound at start-up, served by a thread of its own, one scrape at a time. */
#define _GNU_SOURCE
#include "server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_http.h"
#include "store.h"

/* A scrape that has not sent its request by then is dropped: a slow or
 * silent client holds the port no longer. */
#define SCRAPE_TIMEOUT_MS 5000

/* Splits "ADDR:PORT" ("[v6]:PORT") into host and port. */
static bool split_address(const char *text, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    char *end;
    unsigned long p;

    if (colon == NULL || colon[1] == '\0')
        return false;
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= cap || *end != '\0' || errno != 0 || p > 65535 ||
        colon[1] < '0' || colon[1] > '9')
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return true;
}

enum ft_err ft_server_metrics_listen(struct ft_server *srv, char *errbuf,
                                     size_t errlen)
{
    char host[256];
    uint16_t port;
    enum ft_err err;

    if (srv->cfg.metrics == NULL || srv->metrics_fd >= 0)
        return FT_OK;
    if (!split_address(srv->cfg.metrics, host, sizeof(host), &port)) {
        snprintf(errbuf, errlen, "--metrics needs ADDR:PORT (e.g. 127.0.0.1:9100), "
                 "not '%s'", srv->cfg.metrics);
        return FT_ERR_USAGE;
    }
    if (pipe2(srv->metrics_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        return FT_ERR_IO;
    }
    err = ft_net_listen(host, port, &srv->metrics_fd, &srv->metrics_port, errbuf,
                        errlen);
    if (err == FT_OK)
        ft_server_log(srv, "metrics on %s port %u (GET /metrics)", host,
                      (unsigned)srv->metrics_port);
    return err;
}

static void render(void *ctx, FILE *out)
{
    struct ft_server *srv = ctx;

    ft_metrics_render(&srv->metrics, ft_store_partial_count(srv->store), out);
}

static void *metrics_main(void *arg)
{
    struct ft_server *srv = arg;
    struct pollfd p[2] = {
        { .fd = srv->metrics_fd, .events = POLLIN },
        { .fd = srv->metrics_wake[0], .events = POLLIN },
    };

    for (;;) {
        char peer[FT_NET_PEER_MAX];
        int fd = -1;

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!p[0].revents ||
            ft_net_accept(srv->metrics_fd, 0, &fd, peer, sizeof(peer)) != FT_OK)
            continue;
        ft_metrics_http_serve(fd, SCRAPE_TIMEOUT_MS, render, srv);
        close(fd);
    }
    return NULL;
}

void ft_server_metrics_start(struct ft_server *srv)
{
    if (srv->metrics_fd < 0)
        return;
    srv->metrics_running =
        pthread_create(&srv->metrics_thread, NULL, metrics_main, srv) == 0;
    if (!srv->metrics_running)
        ft_server_log_warn(srv, "metrics: cannot start a thread: not served");
}

void ft_server_metrics_stop(struct ft_server *srv)
{
    char wake = 1;

    if (!srv->metrics_running)
        return;
    if (write(srv->metrics_wake[1], &wake, 1) != 1)
        shutdown(srv->metrics_fd, SHUT_RDWR); /* wakes the poll too */
    pthread_join(srv->metrics_thread, NULL);
    srv->metrics_running = false;
}

void ft_server_metrics_close(struct ft_server *srv)
{
    if (srv->metrics_fd >= 0)
        close(srv->metrics_fd);
    for (int i = 0; i < 2; i++) {
        if (srv->metrics_wake[i] >= 0)
            close(srv->metrics_wake[i]);
    }
}

uint16_t ft_server_metrics_port(const struct ft_server *s)
{
    return s->metrics_port;
}
