/* metrics_http.c - the metrics port's HTTP/1.1: a bounded, timeout-guarded
 * request parser and one answer per connection (Connection: close). */
#define _GNU_SOURCE
#include "metrics_http.h"

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The end of the head: the blank line (CRLF CRLF, or LF LF from a sloppy
 * client); NULL when it has not come yet. */
static const char *head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            return buf + i;
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return buf + i;
    }
    return NULL;
}

/* Whether the request line's n bytes are printable ASCII with single
 * spaces, as RFC 9112 writes it. */
static bool line_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= ' ' && p[i] != ' ')
            return false;
        if ((unsigned char)p[i] >= 0x7f)
            return false;
    }
    return true;
}

enum ft_http_verdict ft_metrics_http_parse(const char *buf, size_t len)
{
    const char *end, *sp1, *sp2, *eol;
    size_t line, path;

    if (len > FT_HTTP_HEAD_MAX)
        len = FT_HTTP_HEAD_MAX;
    end = head_end(buf, len);
    if (end == NULL)
        return len >= FT_HTTP_HEAD_MAX ? FT_HTTP_BAD : FT_HTTP_MORE;
    /* The request line ends at or just after the blank line's start
     * (its CR LF), which head_end found whole within len. */
    eol = memchr(buf, '\n', (size_t)(end - buf) + 2);
    line = (size_t)(eol - buf);
    if (line > 0 && buf[line - 1] == '\r')
        line--;
    if (!line_ok(buf, line))
        return FT_HTTP_BAD;
    sp1 = memchr(buf, ' ', line);
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - buf)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == buf || sp2 == sp1 + 1 ||
        line - (size_t)(sp2 + 1 - buf) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1'))
        return FT_HTTP_BAD;
    path = (size_t)(sp2 - sp1 - 1);
    if (!(((size_t)(sp1 - buf) == 3 && memcmp(buf, "GET", 3) == 0) ||
          ((size_t)(sp1 - buf) == 4 && memcmp(buf, "HEAD", 4) == 0)))
        return FT_HTTP_METHOD;
    /* The path alone counts: a query (?name[]=...) asks for nothing more. */
    if (path < 8 || memcmp(sp1 + 1, "/metrics", 8) != 0 ||
        (path > 8 && sp1[9] != '?'))
        return FT_HTTP_NOT_FOUND;
    return buf[0] == 'G' ? FT_HTTP_METRICS : FT_HTTP_HEAD;
}

/* Reads until the head is whole, too long, or the deadline passes. */
static enum ft_http_verdict read_head(int fd, char *buf, int64_t deadline)
{
    size_t have = 0;
    enum ft_http_verdict v = FT_HTTP_MORE;

    while (v == FT_HTTP_MORE) {
        size_t got = 0;

        if (ft_io_wait(fd, POLLIN, deadline) != FT_OK ||
            ft_io_read_some(fd, buf + have, FT_HTTP_HEAD_MAX - have, &got) != FT_OK ||
            got == 0)
            return FT_HTTP_MORE; /* gone or too slow: no answer */
        have += got;
        v = ft_metrics_http_parse(buf, have);
    }
    return v;
}

static void answer(int fd, const char *status, const char *type, const char *body,
                   size_t len, bool with_body, int64_t deadline)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, type, len);

    if (ft_io_write_full(fd, head, (size_t)n, deadline) == FT_OK && with_body)
        (void)ft_io_write_full(fd, body, len, deadline);
}

void ft_metrics_http_serve(int fd, int timeout_ms,
                           void (*render)(void *ctx, FILE *out), void *ctx)
{
    static const struct {
        const char *status, *body;
    } refusals[] = {
        [FT_HTTP_NOT_FOUND] = { "404 Not Found", "not found: try /metrics\n" },
        [FT_HTTP_METHOD] = { "405 Method Not Allowed", "only GET and HEAD\n" },
        [FT_HTTP_BAD] = { "400 Bad Request", "bad request\n" },
    };
    int64_t deadline = ft_io_deadline(timeout_ms);
    char *buf = malloc(FT_HTTP_HEAD_MAX), *body = NULL;
    size_t len = 0;
    FILE *out;
    enum ft_http_verdict v;

    if (buf == NULL)
        return;
    v = read_head(fd, buf, deadline);
    if (v == FT_HTTP_METRICS || v == FT_HTTP_HEAD) {
        out = open_memstream(&body, &len);
        if (out != NULL) {
            render(ctx, out);
            fclose(out);
            answer(fd, "200 OK", CONTENT_TYPE, body, len, v == FT_HTTP_METRICS,
                   deadline);
        }
    } else if (v != FT_HTTP_MORE) {
        answer(fd, refusals[v].status, "text/plain; charset=utf-8", refusals[v].body,
               strlen(refusals[v].body), true, deadline);
    }
    free(body);
    free(buf);
}
