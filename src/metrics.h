/* metrics.h - the server's counters, updated lock-free (C11 atomics) on
 * the paths they count, and their Prometheus text (format 0.0.4). */
#ifndef FT_METRICS_H
#define FT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ft/error.h"

/* Why a connection was not served. */
enum ft_metrics_refusal {
    FT_REFUSED_BUSY,        /* over --max-clients */
    FT_REFUSED_HANDSHAKE,   /* HELLO or the Noise handshake failed */
    FT_REFUSED_UNKNOWN_KEY, /* the clients file does not name its key */
    FT_REFUSED_KEY,         /* named, but expired or not from its address */
    FT_REFUSED_ROOT,        /* its root folder is unusable */
    FT_REFUSED_COUNT
};

#define FT_METRICS_COUNT_ONE(name, num, msg) +1
enum { FT_METRICS_RESULTS = 0 FT_ERR_MAP(FT_METRICS_COUNT_ONE) };
#undef FT_METRICS_COUNT_ONE
/* Request latency buckets (upper bounds in ms), and the operations kept
 * apart: the log's names; any other counts as "other". */
#define FT_METRICS_BUCKETS 12
#define FT_METRICS_OPS 16

struct ft_metrics_op {
    atomic_uint_fast64_t results[FT_METRICS_RESULTS];
    atomic_uint_fast64_t buckets[FT_METRICS_BUCKETS]; /* each its own, not cumulative */
    atomic_uint_fast64_t count, sum_ms;
};

struct ft_metrics {
    atomic_int_fast64_t open;
    atomic_uint_fast64_t total, handshake_failures, bytes_in, bytes_out;
    atomic_uint_fast64_t refused[FT_REFUSED_COUNT];
    struct ft_metrics_op ops[FT_METRICS_OPS];
};

void ft_metrics_connected(struct ft_metrics *m);
void ft_metrics_disconnected(struct ft_metrics *m);
void ft_metrics_refused(struct ft_metrics *m, enum ft_metrics_refusal why);
void ft_metrics_handshake_failed(struct ft_metrics *m);
void ft_metrics_bytes(struct ft_metrics *m, uint64_t in, uint64_t out);
/* A request op (the log's name for it) ended with err after ms. */
void ft_metrics_request(struct ft_metrics *m, const char *op, enum ft_err err,
                        int64_t ms);

/* "ok", or err's stable name in lower case ("not_found"): a result's
 * label here and in JSON log lines. */
void ft_metrics_result_label(enum ft_err err, char *out, size_t cap);

/* Writes every series to out; partials: the kept partial uploads now. */
void ft_metrics_render(struct ft_metrics *m, uint64_t partials, FILE *out);

#endif
