/* server_log.c - the server's log lines: text, or one JSON object each. */
#define _GNU_SOURCE
#include "server_int.h"

#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A line's room: a request's name may take FT_PATH_MAX * 4 quoted bytes,
 * and JSON escapes some of those again. */
#define JSON_LINE_MAX (FT_PATH_MAX * 24)
#define TEXT_LINE_MAX 1024

static void stamp_now(char *stamp, size_t cap)
{
    struct tm tm;
    time_t now = time(NULL);

    gmtime_r(&now, &tm);
    strftime(stamp, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void emit(struct ft_server *srv, const char *line)
{
    if (srv->cfg.log != NULL)
        srv->cfg.log(srv->cfg.log_ctx, line);
    else
        fprintf(stderr, "%s\n", line);
}

static void json_member(FILE *f, const char *key, const char *text)
{
    fprintf(f, ",\"%s\":", key);
    ft_json_quote(f, text, strlen(text));
}

/* One object: time, level, msg, and a request's fields when r is set. The
 * buffer is large enough for the longest name; were it not, the line is
 * dropped rather than cut into something that does not parse. */
static void emit_json(struct ft_server *srv, const char *level, const char *msg,
                      const struct ft_log_request *r)
{
    char line[JSON_LINE_MAX], stamp[32], result[32];
    FILE *f = fmemopen(line, sizeof(line), "w");
    bool whole;

    if (f == NULL)
        return;
    stamp_now(stamp, sizeof(stamp));
    fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\"", stamp, level);
    json_member(f, "msg", msg);
    if (r != NULL) {
        ft_metrics_result_label(r->err, result, sizeof(result));
        json_member(f, "client", r->client);
        json_member(f, "op", r->op);
        json_member(f, "name", r->name);
        fprintf(f, ",\"bytes\":%" PRIu64 ",\"ms\":%" PRId64, r->bytes, r->ms);
        json_member(f, "result", result);
        if (r->err != FT_OK)
            json_member(f, "error", ft_strerror(r->err));
    }
    fputc('}', f);
    whole = ftell(f) < (long)sizeof(line) - 1;
    fclose(f);
    if (whole)
        emit(srv, line);
}

static void __attribute__((format(printf, 3, 0)))
vlog(struct ft_server *srv, const char *level, const char *fmt,
                 va_list ap)
{
    char msg[TEXT_LINE_MAX], stamp[32];
    char line[TEXT_LINE_MAX + sizeof(stamp)];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (srv->cfg.log_json) {
        emit_json(srv, level, msg, NULL);
        return;
    }
    stamp_now(stamp, sizeof(stamp));
    snprintf(line, sizeof(line), "%s %s", stamp, msg);
    emit(srv, line);
}

void ft_server_log(struct ft_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(srv, "info", fmt, ap);
    va_end(ap);
}

void ft_server_log_warn(struct ft_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(srv, "warn", fmt, ap);
    va_end(ap);
}

void ft_server_log_request(struct ft_server *srv, const struct ft_log_request *r)
{
    const char *verdict = r->err == FT_OK ? "ok" : r->answered ? "answered: "
                                                               : "failed: ";
    char msg[TEXT_LINE_MAX];

    snprintf(msg, sizeof(msg), "%s %s %s %" PRIu64 " %s %" PRId64 " ms %s%s",
             r->client, r->op, r->name[0] != '\0' ? r->name : "-", r->bytes,
             r->unit, r->ms, verdict, r->err == FT_OK ? "" : ft_strerror(r->err));
    if (srv->cfg.log_json)
        emit_json(srv, r->err == FT_OK || r->answered ? "info" : "warn", msg, r);
    else
        ft_server_log(srv, "%s", msg);
}
