/* metrics_http.h - the metrics port's HTTP/1.1: a bounded request parser
 * and one exchange per connection. */
#ifndef FT_METRICS_HTTP_H
#define FT_METRICS_HTTP_H

#include <stddef.h>
#include <stdio.h>

/* The longest request head read; a longer one is refused. */
#define FT_HTTP_HEAD_MAX 8192

enum ft_http_verdict {
    FT_HTTP_MORE,      /* no whole head yet */
    FT_HTTP_METRICS,   /* GET /metrics */
    FT_HTTP_HEAD,      /* HEAD /metrics: the headers alone */
    FT_HTTP_NOT_FOUND, /* another path */
    FT_HTTP_METHOD,    /* another method */
    FT_HTTP_BAD,       /* not HTTP/1.x, or a head too long */
};

/* What the request head in buf[0..len) asks for. Reads nothing past len
 * and never more than FT_HTTP_HEAD_MAX bytes of it. */
enum ft_http_verdict ft_metrics_http_parse(const char *buf, size_t len);

/* Reads one request from fd within timeout_ms and answers it, the body of
 * GET /metrics written by render; then the caller closes fd. */
void ft_metrics_http_serve(int fd, int timeout_ms,
                           void (*render)(void *ctx, FILE *out), void *ctx);

#endif
