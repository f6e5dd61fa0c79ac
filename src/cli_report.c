/* cli_report.c - the progress line, the summary line and the --json events
 * of the ft command (see cli_report.h). Nothing here moves file bytes. */
#define _GNU_SOURCE
#include "cli_report.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "name.h"

#define DEFAULT_WIDTH 80
#define NAME_MIN_COLUMNS 8 /* a name cut shorter than this is left out */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- JSON */

void cli_json_string(FILE *out, const char *s, size_t n)
{
    ft_json_quote(out, s, n);
}

/* Whether s[0..n) is UTF-8 throughout. */
static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len) {
        len = ft_utf8_len(s + i, n - i);
        if (len == 0)
            return false;
    }
    return true;
}

/* The JSON string of p[0..n) in base64 (RFC 4648, padded), made in
 * chunks of whole 3-byte groups so that no name is too long for it. */
static void json_base64(FILE *out, const void *p, size_t n)
{
    enum { CHUNK = 768 };
    char text[sodium_base64_ENCODED_LEN(CHUNK, sodium_base64_VARIANT_ORIGINAL)];

    putc('"', out);
    for (size_t i = 0; i < n; i += CHUNK) {
        fputs(sodium_bin2base64(text, sizeof(text), (const unsigned char *)p + i,
                                n - i < CHUNK ? n - i : CHUNK,
                                sodium_base64_VARIANT_ORIGINAL),
              out);
    }
    putc('"', out);
}

void cli_json_name(FILE *out, const char *name)
{
    size_t n = strlen(name);

    if (utf8_valid(name, n)) {
        fputs("\"name\":", out);
        cli_json_string(out, name, n);
        return;
    }
    /* A JSON string holds characters, not bytes: \u00ff\u00fe would read
     * back as U+00FF U+00FE, the name c3 bf c3 be, another real file. */
    fputs("\"name\":null,\"name_base64\":", out);
    json_base64(out, name, n);
}

static void json_cstr(FILE *out, const char *s)
{
    cli_json_string(out, s, strlen(s));
}

/* Each event is one line, sent at once: a reader sees it as it happens. */
static void json_end(FILE *out)
{
    fputs("}\n", out);
    fflush(out);
}

const char *cli_error_class(int code)
{
    switch (code) {
    case CLI_EXIT_USAGE:
        return "usage";
    case CLI_EXIT_CONNECT:
        return "connect";
    case CLI_EXIT_REFUSED:
        return "refused";
    case CLI_EXIT_LOCAL_IO:
        return "local_io";
    case CLI_EXIT_INTEGRITY:
        return "integrity";
    default:
        return "connection";
    }
}

static void json_start(struct cli_report *r, uint64_t size)
{
    fputs("{\"event\":\"start\",", r->json);
    cli_json_name(r->json, r->name != NULL ? r->name : "");
    if (size == FT_SIZE_UNKNOWN_TOTAL)
        fputs(",\"size\":null", r->json);
    else
        fprintf(r->json, ",\"size\":%" PRIu64, size);
    json_end(r->json);
    r->started = true;
}

void cli_report_list_json(FILE *out, const struct ft_entry *items, size_t n)
{
    fputs(n == 0 ? "[" : "[\n", out);
    for (size_t i = 0; i < n; i++) {
        fputs("  {", out);
        cli_json_name(out, items[i].name);
        fprintf(out, ",\"type\":\"%s\",\"size\":%" PRIu64 ",\"mtime\":%" PRId64
                     "}%s\n",
                items[i].is_dir ? "folder" : "file", items[i].size, items[i].mtime,
                i + 1 < n ? "," : "");
    }
    fputs("]\n", out);
    fflush(out);
}

/* ---------------------------------------------------------- formatting */

void cli_format_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double v = (double)n;
    size_t u = 0;

    if (n < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", n);
        return;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
        v /= 1024;
        u++;
    }
    if (v < 9.995)
        snprintf(buf, cap, "%.2f %s", v, units[u]);
    else if (v < 99.95)
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    else
        snprintf(buf, cap, "%.0f %s", v, units[u]);
}

bool cli_format_time(char *buf, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || tm.tm_year < -1900 ||
        tm.tm_year > 9999 - 1900) {
        snprintf(buf, cap, "out of range (%" PRId64 ")", t);
        return false;
    }
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return true;
}

static void format_eta(char *buf, size_t cap, double eta_s)
{
    uint64_t s;

    if (eta_s < 0 || eta_s >= 100.0 * 3600) {
        snprintf(buf, cap, "--:--");
        return;
    }
    s = (uint64_t)(eta_s + 0.5);
    if (s < 3600)
        snprintf(buf, cap, "%u:%02u", (unsigned)(s / 60), (unsigned)(s % 60));
    else
        snprintf(buf, cap, "%u:%02u:%02u", (unsigned)(s / 3600),
                 (unsigned)(s / 60 % 60), (unsigned)(s % 60));
}

/* The columns a name takes on the terminal: any non-ASCII character counts
 * two, the most it can take, so that the line never wraps. */
static size_t name_columns(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t n = strlen(name), i = 0, cols = 0;

    while (i < n) {
        size_t len = ft_utf8_len(p + i, n - i);

        cols += len > 1 ? 2 : 1;
        i += len == 0 ? 1 : len;
    }
    return cols;
}

/* The name as the terminal may show it, in at most max_cols columns
 * (counted as name_columns does), cut with "..." at the end when longer:
 * control characters (C1 too) and bytes that are not UTF-8 become '?', so a name
 * cannot move the cursor or send the terminal an escape. */
static void display_name(char *out, size_t cap, const char *name,
                         size_t max_cols)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t n = strlen(name), i = 0, o = 0, cols = 0;

    if (name_columns(name) > max_cols)
        max_cols = max_cols >= 3 ? max_cols - 3 : 0; /* room for "..." */
    while (i < n) {
        size_t len = ft_printable_len(p + i, n - i);
        size_t w = len > 1 ? 2 : 1;

        if (cols + w > max_cols || o + (len ? len : 1) + 4 > cap)
            break;
        if (len == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        }
        cols += w;
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

size_t cli_format_progress(char *buf, size_t cap, const char *name,
                           uint64_t done, uint64_t total, double rate_bps,
                           double eta_s, int width)
{
    char d[32], t[32], rate[32], eta[32], pct[16];
    char stats[6][160];
    size_t nstats = 0, avail, len;
    bool known = total != FT_SIZE_UNKNOWN_TOTAL;

    if (cap == 0)
        return 0;
    avail = width > 1 ? (size_t)width - 1 : 0;
    if (avail > cap - 1)
        avail = cap - 1;
    cli_format_bytes(d, sizeof(d), done);
    if (rate_bps < 0)
        snprintf(rate, sizeof(rate), "-- MB/s");
    else
        snprintf(rate, sizeof(rate), "%.1f MB/s", rate_bps / 1e6);
    /* The candidates, richest first. */
    if (known) {
        unsigned p = total == 0 || done >= total ? 100
                     : (unsigned)((double)done * 100.0 / (double)total);

        cli_format_bytes(t, sizeof(t), total);
        format_eta(eta, sizeof(eta), eta_s);
        snprintf(pct, sizeof(pct), "%3u%%", p);
        snprintf(stats[nstats++], sizeof(*stats), "%s of %s  %s  %s  ETA %s",
                 d, t, pct, rate, eta);
        snprintf(stats[nstats++], sizeof(*stats), "%s  %s  %s  ETA %s", d,
                 pct, rate, eta);
        snprintf(stats[nstats++], sizeof(*stats), "%s  %s  ETA %s", pct, rate,
                 eta);
        snprintf(stats[nstats++], sizeof(*stats), "%s  ETA %s", pct, eta);
        snprintf(stats[nstats++], sizeof(*stats), "%s", pct);
    } else {
        snprintf(stats[nstats++], sizeof(*stats), "%s  %s", d, rate);
        snprintf(stats[nstats++], sizeof(*stats), "%s", d);
    }
    /* The name with everything, cut if need be, while it keeps a few
     * columns; otherwise the richest set of fields that fits alone. */
    len = strlen(stats[0]);
    if (name != NULL && name[0] != '\0' && len + 3 <= avail) {
        size_t room = avail - len - 2;

        if (room >= NAME_MIN_COLUMNS || room >= name_columns(name)) {
            char shown[CLI_LINE_MAX];
            size_t bytes = cap - len - 2; /* for the name and its NUL */

            display_name(shown, bytes < sizeof(shown) ? bytes : sizeof(shown),
                         name, room);
            snprintf(buf, cap, "%s  %s", shown, stats[0]);
            return strlen(buf);
        }
    }
    for (size_t i = 0; i < nstats; i++) {
        if (strlen(stats[i]) <= avail) {
            snprintf(buf, cap, "%s", stats[i]);
            return strlen(buf);
        }
    }
    /* Narrower than a percentage: what fits of it. */
    snprintf(buf, avail + 1 < cap ? avail + 1 : cap, "%s", stats[nstats - 1]);
    return strlen(buf);
}

/* ------------------------------------------------------------- reports */

void cli_report_init(struct cli_report *r, const char *op, bool quiet,
                     FILE *json)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->json = json;
    r->quiet = quiet;
    r->tty = json == NULL && !quiet && isatty(STDERR_FILENO);
    r->total = FT_SIZE_UNKNOWN_TOTAL;
}

void cli_report_begin(struct cli_report *r, const char *name, int64_t size)
{
    r->name = name;
    r->started = false; /* one report serves every file of a command */
    r->size_pending = size == -2;
    r->total = size < 0 ? FT_SIZE_UNKNOWN_TOTAL : (uint64_t)size;
    r->t0_ms = now_ms();
    r->last_emit_ms = r->t0_ms;
    r->nsamples = 0;
    r->next_sample = 0;
}

double cli_report_sample(struct cli_report *r, int64_t now, uint64_t done)
{
    unsigned oldest = (r->next_sample + CLI_RATE_SAMPLES - r->nsamples) %
                      CLI_RATE_SAMPLES;
    int64_t dt = r->nsamples > 0 ? now - r->samples[oldest].ms : 0;
    uint64_t dd = r->nsamples > 0 && done >= r->samples[oldest].done
                  ? done - r->samples[oldest].done : 0;
    double rate = dt > 0 ? (double)dd * 1000.0 / (double)dt : -1;

    r->samples[r->next_sample].ms = now;
    r->samples[r->next_sample].done = done;
    r->next_sample = (r->next_sample + 1) % CLI_RATE_SAMPLES;
    if (r->nsamples < CLI_RATE_SAMPLES)
        r->nsamples++;
    return rate;
}

static int terminal_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return DEFAULT_WIDTH;
    return ws.ws_col;
}

static void draw(struct cli_report *r, uint64_t done, double rate)
{
    char line[CLI_LINE_MAX + 8];
    double eta = -1;
    size_t n;

    if (r->total != FT_SIZE_UNKNOWN_TOTAL && rate > 0)
        eta = done >= r->total ? 0 : (double)(r->total - done) / rate;
    line[0] = '\r';
    n = 1 + cli_format_progress(line + 1, CLI_LINE_MAX, r->name, done,
                                r->total, rate, eta, terminal_width());
    /* Erase what a longer earlier line left to the right; one write. */
    memcpy(line + n, "\033[K", 3);
    fwrite(line, 1, n + 3, stderr);
    fflush(stderr);
    r->drawn = true;
}

void cli_report_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct cli_report *r = ctx;
    int64_t now;
    double rate;

    if (r->size_pending) {
        r->total = total;
        r->size_pending = false;
    }
    if (r->json != NULL && !r->started)
        json_start(r, r->total);
    if (r->json == NULL && !r->tty)
        return;
    now = now_ms();
    if (r->nsamples == 0)
        cli_report_sample(r, now, done); /* the baseline */
    if (now - r->last_emit_ms <
        (r->json != NULL ? CLI_JSON_INTERVAL_MS : CLI_LINE_INTERVAL_MS))
        return;
    r->last_emit_ms = now;
    rate = cli_report_sample(r, now, done);
    if (r->json == NULL) {
        draw(r, done, rate);
        return;
    }
    fprintf(r->json, "{\"event\":\"progress\",\"bytes\":%" PRIu64
                     ",\"rate\":%" PRIu64,
            done, rate > 0 ? (uint64_t)(rate + 0.5) : 0);
    json_end(r->json);
}

static void clear_line(struct cli_report *r)
{
    if (r == NULL || !r->drawn)
        return;
    fputs("\r\033[K", stderr);
    r->drawn = false;
}

double cli_transfer_rate(const struct ft_transfer *t)
{
    uint64_t moved = t->bytes > t->resumed_from ? t->bytes - t->resumed_from : 0;

    return t->seconds > 0 ? (double)moved / t->seconds : 0;
}

void cli_report_done(struct cli_report *r, const struct ft_transfer *t)
{
    if (r->json != NULL) {
        if (!r->started)
            json_start(r, r->size_pending ? t->bytes : r->total);
        fprintf(r->json, "{\"event\":\"done\",\"bytes\":%" PRIu64
                         ",\"seconds\":%.3f,\"digest\":",
                t->bytes, t->seconds);
        if (t->verified && t->digest_hex[0] != '\0')
            fprintf(r->json, "\"%s\"", t->digest_hex);
        else
            fputs("null", r->json);
        fprintf(r->json, ",\"verified\":%s,\"streams\":%u",
                t->verified ? "true" : "false", t->streams > 0 ? t->streams : 1);
        json_end(r->json);
        return;
    }
    clear_line(r);
    if (!r->quiet) {
        char name[FT_PATH_MAX * 4 + 8];
        char over[32] = ""; /* a striped transfer's connections */

        if (t->streams > 1)
            snprintf(over, sizeof(over), " over %u connections", t->streams);
        ft_name_quote(r->name, strlen(r->name), name, sizeof(name));
        fprintf(stderr, "%s %s: %" PRIu64 " bytes in %.3f s (%.1f MB/s%s)%s\n",
                r->op, name, t->bytes, t->seconds, cli_transfer_rate(t) / 1e6, over,
                t->verified ? ", BLAKE2b-256 verified" : ", not verified");
    }
}

static int vfail(struct cli_report *r, int code, const char *cmd,
                 const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* A message as a line may show it: formatted, then quoted as every line
 * is (name.c), since it may hold a local name or a server's words. */
static void vmessage(char *out, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vmessage(char *out, size_t cap, const char *fmt, va_list ap)
{
    char raw[4096];

    vsnprintf(raw, sizeof(raw), fmt, ap);
    ft_text_quote(raw, strlen(raw), out, cap);
}

/* "ft: MESSAGE"; with cmd, a usage error: "ft CMD: MESSAGE (see 'ft CMD
 * --help')", or with cmd "" one of ft itself. */
static int vfail(struct cli_report *r, int code, const char *cmd,
                 const char *fmt, va_list ap)
{
    char msg[4096];

    vmessage(msg, sizeof(msg), fmt, ap);
    if (r != NULL && r->json != NULL) {
        fprintf(r->json, "{\"event\":\"error\",\"class\":\"%s\",\"message\":",
                cli_error_class(code));
        if (cmd != NULL && cmd[0] != '\0') {
            char full[4200];

            snprintf(full, sizeof(full), "%s: %s", cmd, msg);
            json_cstr(r->json, full);
        } else {
            json_cstr(r->json, msg);
        }
        fprintf(r->json, ",\"exit_code\":%d", code);
        json_end(r->json);
        return code;
    }
    clear_line(r);
    if (cmd != NULL && cmd[0] != '\0')
        fprintf(stderr, "ft %s: %s (see 'ft %s --help')\n", cmd, msg, cmd);
    else if (cmd != NULL)
        fprintf(stderr, "ft: %s (see 'ft --help')\n", msg);
    else
        fprintf(stderr, "ft: %s\n", msg);
    return code;
}

int cli_report_fail(struct cli_report *r, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(r, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int cli_report_usage(struct cli_report *r, const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(r, CLI_EXIT_USAGE, cmd != NULL ? cmd : "", fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

void cli_report_note(struct cli_report *r, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (r != NULL && r->quiet && r->json == NULL)
        return;
    va_start(ap, fmt);
    vmessage(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r != NULL && r->json == stderr) {
        fputs("{\"event\":\"note\",\"message\":", stderr);
        json_cstr(stderr, msg);
        json_end(stderr);
        return;
    }
    clear_line(r);
    fprintf(stderr, "note: %s\n", msg);
}
