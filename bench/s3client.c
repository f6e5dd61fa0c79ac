/* s3client.c - the S3 client's own speed against an engine: 100 MiB (or
 * MIB) put in one PUT, put in parts of PART MiB, read back by one GET and
 * by the pull reader in 1 MiB reads; each three times, the median printed.
 * The ceiling an S3 store can reach through src/s3.c on this machine.
 *
 * usage: eval "$(scripts/radosgw.sh start)"; ft-s3client [MIB [PART]]
 * Reads FT_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * FT_S3_BUCKET. Exit 0, 1 when a call fails (its message printed). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "s3.h"

#define RUNS 3

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int count(void *arg, const void *data, size_t n)
{
    (void)data;
    *(size_t *)arg += n;
    return 0;
}

static enum ft_err put_parts(struct ft_s3 *s, const char *data, size_t n, size_t part)
{
    struct ft_s3_part *parts = calloc(n / part + 1, sizeof(*parts));
    char id[FT_S3_UPLOAD_ID_MAX];
    size_t i, np = 0;
    enum ft_err err = FT_ERR_NOMEM;

    if (!parts)
        return err;
    err = ft_s3_mpu_create(s, "bench-s3client-parts", NULL, 0, id);
    for (i = 0; !err && i < n; i += part, np++) {
        parts[np].number = (int)np + 1;
        err = ft_s3_mpu_part(s, "bench-s3client-parts", id, (int)np + 1, data + i,
                             n - i < part ? n - i : part, parts[np].etag);
    }
    if (!err)
        err = ft_s3_mpu_complete(s, "bench-s3client-parts", id, parts, np, NULL);
    free(parts);
    return err;
}

static enum ft_err read_all(struct ft_s3 *s, size_t *total)
{
    struct ft_s3_reader *r = NULL;
    char *buf = malloc(1 << 20);
    size_t got = 0;
    enum ft_err err = buf ? ft_s3_reader_open(s, "bench-s3client", NULL, &r) : FT_ERR_NOMEM;

    *total = 0;
    do {
        if (!err)
            err = ft_s3_reader_read_at(r, buf, 1 << 20, *total, &got);
        *total += got;
    } while (!err && got > 0);
    ft_s3_reader_close(r);
    free(buf);
    return err;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 100, n = mib << 20;
    size_t part = (argc > 2 ? strtoul(argv[2], NULL, 10) : 16) << 20, i, got;
    struct ft_s3_config cfg = {getenv("FT_S3_ENDPOINT"), getenv("AWS_REGION"),
                               getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"),
                               getenv("FT_S3_BUCKET") ? getenv("FT_S3_BUCKET") : "ft-test"};
    static const char *names[4] = {"put", "parts", "get", "reader"};
    double rate[4][RUNS], t;
    struct ft_s3 *s = NULL;
    char *data = malloc(n);
    enum ft_err err = FT_ERR_NOMEM;
    int run, k;

    if (!data || mib == 0 || part < FT_S3_PART_MIN)
        goto out;
    for (i = 0; i < n; i++)
        data[i] = (char)((i * 2654435761u) >> 13);
    err = ft_s3_open(&cfg, &s);
    if (!err)
        err = ft_s3_bucket_create(s);
    for (run = 0; !err && run < RUNS; run++) {
        t = now_s();
        err = ft_s3_put(s, "bench-s3client", data, n, NULL, 0, NULL);
        rate[0][run] = (double)mib / (now_s() - t);
        t = now_s();
        if (!err)
            err = put_parts(s, data, n, part);
        rate[1][run] = (double)mib / (now_s() - t);
        t = now_s();
        got = 0;
        if (!err)
            err = ft_s3_get(s, "bench-s3client", 0, 0, count, &got);
        rate[2][run] = (double)mib / (now_s() - t);
        t = now_s();
        if (!err && got == n)
            err = read_all(s, &got);
        rate[3][run] = (double)mib / (now_s() - t);
        if (!err && got != n)
            err = FT_ERR_INTEGRITY;
    }
    for (k = 0; !err && k < 4; k++) {
        qsort(rate[k], RUNS, sizeof(double), by_value);
        printf("%-6s %zu MiB: %.0f MiB/s (median of %d)\n", names[k], mib, rate[k][RUNS / 2],
               RUNS);
    }
out:
    if (err)
        fprintf(stderr, "ft-s3client: %s\n", s && ft_s3_error(s)[0] ? ft_s3_error(s) : "failed");
    if (s) {
        ft_s3_delete(s, "bench-s3client");
        ft_s3_delete(s, "bench-s3client-parts");
    }
    ft_s3_close(s);
    free(data);
    return err ? 1 : 0;
}
