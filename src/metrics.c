/* metrics.c - the server's counters and their Prometheus text. */
#include "metrics.h"

#include <inttypes.h>
#include <string.h>

static const char *const op_names[FT_METRICS_OPS] = {
    "put", "get", "ls", "rm", "stat", "mv", "mkdir", "join", "df", "touch",
    "delta-put", "delta-get", "other",
};

static const char *const refusal_names[FT_REFUSED_COUNT] = {
    [FT_REFUSED_BUSY] = "busy",
    [FT_REFUSED_HANDSHAKE] = "handshake",
    [FT_REFUSED_UNKNOWN_KEY] = "unknown_key",
    [FT_REFUSED_KEY] = "key_refused",
    [FT_REFUSED_ROOT] = "root",
};

/* Upper bounds in ms, and as Prometheus writes them (seconds). */
static const int64_t bucket_ms[FT_METRICS_BUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000, 120000,
};
static const char *const bucket_le[FT_METRICS_BUCKETS] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "5",
    "30", "120",
};

void ft_metrics_connected(struct ft_metrics *m)
{
    atomic_fetch_add_explicit(&m->open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->total, 1, memory_order_relaxed);
}

void ft_metrics_disconnected(struct ft_metrics *m)
{
    atomic_fetch_sub_explicit(&m->open, 1, memory_order_relaxed);
}

void ft_metrics_refused(struct ft_metrics *m, enum ft_metrics_refusal why)
{
    atomic_fetch_add_explicit(&m->refused[why], 1, memory_order_relaxed);
}

void ft_metrics_handshake_failed(struct ft_metrics *m)
{
    atomic_fetch_add_explicit(&m->handshake_failures, 1, memory_order_relaxed);
}

void ft_metrics_bytes(struct ft_metrics *m, uint64_t in, uint64_t out)
{
    atomic_fetch_add_explicit(&m->bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_out, out, memory_order_relaxed);
}

static size_t op_index(const char *op)
{
    size_t i = 0;

    while (op_names[i + 1] != NULL && strcmp(op_names[i], op) != 0)
        i++;
    return i; /* the last named: "other" */
}

void ft_metrics_request(struct ft_metrics *m, const char *op, enum ft_err err,
                        int64_t ms)
{
    struct ft_metrics_op *o = &m->ops[op_index(op)];
    size_t b = 0;

    if ((unsigned)err < FT_METRICS_RESULTS)
        atomic_fetch_add_explicit(&o->results[err], 1, memory_order_relaxed);
    while (b < FT_METRICS_BUCKETS && ms > bucket_ms[b])
        b++;
    if (b < FT_METRICS_BUCKETS) /* beyond the last: +Inf, count alone */
        atomic_fetch_add_explicit(&o->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&o->sum_ms, ms > 0 ? (uint64_t)ms : 0,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&o->count, 1, memory_order_relaxed);
}

void ft_metrics_result_label(enum ft_err err, char *out, size_t cap)
{
    const char *name = err == FT_OK ? "ok" : ft_err_name(err);
    size_t i = 0;

    for (; name[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 'a' - 'A'
                                                        : name[i]);
    out[i] = '\0';
}

static uint64_t get(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_transfers(struct ft_metrics *m, FILE *out)
{
    char result[32];

    header(out, "ft_transfers_total", "counter",
           "Requests served, by operation and result.");
    for (size_t i = 0; op_names[i] != NULL; i++) {
        for (unsigned r = 0; r < FT_METRICS_RESULTS; r++) {
            uint64_t n = get(&m->ops[i].results[r]);

            if (n == 0)
                continue;
            ft_metrics_result_label((enum ft_err)r, result, sizeof(result));
            fprintf(out, "ft_transfers_total{op=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                    op_names[i], result, n);
        }
    }
}

/* The histograms: a request's bucket counts in every bucket above it. */
static void render_durations(struct ft_metrics *m, FILE *out)
{
    header(out, "ft_request_duration_seconds", "histogram",
           "Time from a request to its answer, by operation.");
    for (size_t i = 0; op_names[i] != NULL; i++) {
        struct ft_metrics_op *o = &m->ops[i];
        uint64_t count = get(&o->count), below = 0;

        if (count == 0)
            continue;
        for (size_t b = 0; b < FT_METRICS_BUCKETS; b++) {
            below += get(&o->buckets[b]);
            fprintf(out, "ft_request_duration_seconds_bucket{op=\"%s\",le=\"%s\"} %"
                    PRIu64 "\n", op_names[i], bucket_le[b], below);
        }
        fprintf(out, "ft_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %"
                PRIu64 "\n", op_names[i], count);
        fprintf(out, "ft_request_duration_seconds_sum{op=\"%s\"} %.3f\n", op_names[i],
                (double)get(&o->sum_ms) / 1000.0);
        fprintf(out, "ft_request_duration_seconds_count{op=\"%s\"} %" PRIu64 "\n",
                op_names[i], count);
    }
}

void ft_metrics_render(struct ft_metrics *m, uint64_t partials, FILE *out)
{
    header(out, "ft_connections_open", "gauge", "Connections being served now.");
    fprintf(out, "ft_connections_open %" PRIdFAST64 "\n",
            atomic_load_explicit(&m->open, memory_order_relaxed));
    header(out, "ft_connections_total", "counter", "Connections accepted.");
    fprintf(out, "ft_connections_total %" PRIu64 "\n", get(&m->total));
    header(out, "ft_connections_refused_total", "counter",
           "Connections not served, by cause.");
    for (size_t i = 0; i < FT_REFUSED_COUNT; i++)
        fprintf(out, "ft_connections_refused_total{cause=\"%s\"} %" PRIu64 "\n",
                refusal_names[i], get(&m->refused[i]));
    header(out, "ft_handshake_failures_total", "counter",
           "Connections whose HELLO or Noise handshake failed.");
    fprintf(out, "ft_handshake_failures_total %" PRIu64 "\n",
            get(&m->handshake_failures));
    header(out, "ft_bytes_received_total", "counter",
           "Bytes received from clients, framing included.");
    fprintf(out, "ft_bytes_received_total %" PRIu64 "\n", get(&m->bytes_in));
    header(out, "ft_bytes_sent_total", "counter",
           "Bytes sent to clients, framing included.");
    fprintf(out, "ft_bytes_sent_total %" PRIu64 "\n", get(&m->bytes_out));
    header(out, "ft_partial_uploads", "gauge",
           "Interrupted uploads kept for put --continue.");
    fprintf(out, "ft_partial_uploads %" PRIu64 "\n", partials);
    render_transfers(m, out);
    render_durations(m, out);
}
