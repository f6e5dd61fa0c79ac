/* test_metrics.c - the counters' Prometheus text, and the metrics port's
 * request parser: what each request head asks for. The port itself is
 * scraped with curl in tests/observe.sh. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_http.h"

static enum ft_http_verdict parse(const char *head)
{
    return ft_metrics_http_parse(head, strlen(head));
}

static void test_parser_verdicts(void **state)
{
    static const struct {
        const char *head;
        enum ft_http_verdict want;
    } cases[] = {
        { "GET /metrics HTTP/1.1\r\n\r\n", FT_HTTP_METRICS },
        { "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", FT_HTTP_METRICS },
        { "GET /metrics?x=1 HTTP/1.0\n\n", FT_HTTP_METRICS },
        { "HEAD /metrics HTTP/1.1\r\n\r\n", FT_HTTP_HEAD },
        { "GET / HTTP/1.1\r\n\r\n", FT_HTTP_NOT_FOUND },
        { "GET /metricsx HTTP/1.1\r\n\r\n", FT_HTTP_NOT_FOUND },
        { "POST /metrics HTTP/1.1\r\n\r\n", FT_HTTP_METHOD },
        { "GET /metrics HTTP/2.0\r\n\r\n", FT_HTTP_BAD },
        { "GET  /metrics HTTP/1.1\r\n\r\n", FT_HTTP_BAD },
        { "GET /met\x01rics HTTP/1.1\r\n\r\n", FT_HTTP_BAD },
        { "GET /metrics HTTP/1.1\r\n", FT_HTTP_MORE },
        { "", FT_HTTP_MORE },
    };
    char *long_head = malloc(FT_HTTP_HEAD_MAX + 1);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        if (parse(cases[i].head) != cases[i].want)
            fail_msg("'%s': %d, not %d", cases[i].head, parse(cases[i].head),
                     cases[i].want);
    }
    /* No end within the bound: refused, not waited for. */
    assert_non_null(long_head);
    memset(long_head, 'a', FT_HTTP_HEAD_MAX);
    assert_int_equal(ft_metrics_http_parse(long_head, FT_HTTP_HEAD_MAX), FT_HTTP_BAD);
    free(long_head);
}

/* The rendered text holds line, whole. */
static void expect_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    }
    fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_render_counts(void **state)
{
    struct ft_metrics *m = calloc(1, sizeof(*m));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void)state;
    assert_non_null(m);
    assert_non_null(out);
    ft_metrics_connected(m);
    ft_metrics_connected(m);
    ft_metrics_disconnected(m);
    ft_metrics_refused(m, FT_REFUSED_BUSY);
    ft_metrics_handshake_failed(m);
    ft_metrics_bytes(m, 100, 2000);
    ft_metrics_request(m, "put", FT_OK, 3);
    ft_metrics_request(m, "put", FT_ERR_QUOTA, 700);
    ft_metrics_request(m, "something-new", FT_OK, 0);
    ft_metrics_render(m, 2, out);
    fclose(out);
    expect_line(text, "ft_connections_open 1");
    expect_line(text, "ft_connections_total 2");
    expect_line(text, "ft_connections_refused_total{cause=\"busy\"} 1");
    expect_line(text, "ft_connections_refused_total{cause=\"unknown_key\"} 0");
    expect_line(text, "ft_handshake_failures_total 1");
    expect_line(text, "ft_bytes_received_total 100");
    expect_line(text, "ft_bytes_sent_total 2000");
    expect_line(text, "ft_partial_uploads 2");
    expect_line(text, "ft_transfers_total{op=\"put\",result=\"ok\"} 1");
    expect_line(text, "ft_transfers_total{op=\"put\",result=\"quota\"} 1");
    expect_line(text, "ft_transfers_total{op=\"other\",result=\"ok\"} 1");
    /* Buckets count every request at or below them. */
    expect_line(text, "ft_request_duration_seconds_bucket{op=\"put\",le=\"0.001\"} 0");
    expect_line(text, "ft_request_duration_seconds_bucket{op=\"put\",le=\"0.005\"} 1");
    expect_line(text, "ft_request_duration_seconds_bucket{op=\"put\",le=\"0.5\"} 1");
    expect_line(text, "ft_request_duration_seconds_bucket{op=\"put\",le=\"1\"} 2");
    expect_line(text, "ft_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"} 2");
    expect_line(text, "ft_request_duration_seconds_sum{op=\"put\"} 0.703");
    expect_line(text, "ft_request_duration_seconds_count{op=\"put\"} 2");
    expect_line(text, "# TYPE ft_request_duration_seconds histogram");
    assert_null(strstr(text, "op=\"get\"")); /* nothing asked: no series */
    free(text);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_verdicts),
        cmocka_unit_test(test_render_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
