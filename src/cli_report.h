/* cli_report.h - what the ft command tells its user about a transfer: the
 * progress line on a terminal, the summary line, and the --json events.
 *
 * One struct cli_report follows one put or get. In text mode it draws a
 * progress line on standard error (only when that is a terminal and -q was
 * not given), at most ten times a second, and replaces it with the summary
 * line or the "ft: ..." error line at the end. In JSON mode it writes one
 * JSON object per line to a stream instead, and nothing else:
 *
 *   {"event":"start",NAME,"size":N|null}
 *   {"event":"progress","bytes":N,"rate":BYTES_PER_SECOND}    at most 4/s
 *   {"event":"done","bytes":N,"seconds":S,"digest":"HEX"|null,"verified":B}
 *   {"event":"error","class":"usage"|"connect"|"refused"|"local_io"|
 *             "integrity"|"connection","message":"...","exit_code":N}
 *   {"event":"note","message":"..."}   only when the stream is standard
 *                                      error, which then holds JSON alone
 *
 * "start" comes once the data begins to flow (a get learns the size from
 * the server); a failure before that yields the "error" line alone.
 *
 * NAME, in every JSON output (these events, ls, stat), says a name without
 * loss: "name":S when the name is UTF-8 throughout, S holding its
 * characters ('"', '\\', controls C0, DEL and C1 escaped, \uXXXX for the
 * controls, which reads back as the same bytes); otherwise, as a JSON
 * string holds characters and not bytes, "name":null,"name_base64":B with
 * B the name's bytes in base64 (RFC 4648). A message is quoted as every
 * line is (name.c: \xNN for control bytes and bytes that are not UTF-8),
 * then escaped the same way.
 *
 * The CLI is single-threaded; the progress callback runs on the transfer's
 * thread, which is the same one. */
#ifndef FT_CLI_REPORT_H
#define FT_CLI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ft/client.h"

/* Rates are measured over a moving window: the last CLI_RATE_SAMPLES
 * redraws (about 3 s on a terminal, 7.5 s in JSON), since the first
 * progress call before that: the bytes a resumed transfer found already
 * there, which the first call counts, are not this run's. */
#define CLI_RATE_SAMPLES 30
#define CLI_LINE_INTERVAL_MS 100  /* progress line: at most 10 draws/s */
#define CLI_JSON_INTERVAL_MS 250  /* JSON progress: at most 4 events/s */
#define CLI_LINE_MAX 512

struct cli_report {
    const char *op;     /* "put", "get" */
    const char *name;   /* the remote name, for the line and "start" */
    FILE *json;         /* JSON mode: the stream of events; NULL: text */
    bool quiet;         /* -q: no progress line, no summary, no notes */
    bool tty;           /* text mode, not quiet, standard error a terminal */
    bool drawn;         /* a progress line is on the screen */
    bool started;       /* JSON: "start" has been written */
    bool size_pending;  /* the size comes with the first progress call */
    uint64_t total;     /* FT_SIZE_UNKNOWN_TOTAL when not known */
    int64_t t0_ms;      /* when the transfer began */
    int64_t last_emit_ms;
    struct { int64_t ms; uint64_t done; } samples[CLI_RATE_SAMPLES];
    unsigned nsamples, next_sample;
};

/* The --json lines of put's and get's help, after the option's own. */
#define CLI_JSON_HELP                                                          \
    "                      one object per line:\n"                            \
    "                      {\"event\":\"start\",\"name\":S,\"size\":N|null} once\n" \
    "                        data flows, {\"event\":\"progress\",\"bytes\":N,\n"  \
    "                        \"rate\":BYTES_PER_S} at most 4 a second, then\n"  \
    "                      {\"event\":\"done\",\"bytes\":N,\"seconds\":S,\n"        \
    "                        \"digest\":HEX|null,\"verified\":true|false,\n"  \
    "                        \"streams\":N} (connections used) or\n"          \
    "                      {\"event\":\"error\",\"class\":C,\"message\":S,\n"      \
    "                        \"exit_code\":N} with C usage, connect, refused,\n" \
    "                        local_io, integrity or connection. A failure is\n" \
    "                        told only there, not as an 'ft: ' line (a bad\n" \
    "                        option itself is still told as text). A name\n" \
    "                        that is not UTF-8 comes as \"name\":null,\n"     \
    "                        \"name_base64\":S, its bytes in base64.\n"

/* Starts a report: json is the stream of JSON events, or NULL for text. */
void cli_report_init(struct cli_report *r, const char *op, bool quiet,
                     FILE *json);

/* Marks the start of the transfer of name (size -1: unknown; for a get,
 * pass -2: the server will tell). Starts the clock. */
void cli_report_begin(struct cli_report *r, const char *name, int64_t size);

/* The progress callback of struct ft_transfer_options; ctx is the report. */
void cli_report_progress(void *ctx, uint64_t done, uint64_t total);

/* Keeps the sample (now_ms, done) and returns the rate in bytes per second
 * since the oldest one kept (-1 for the first: the baseline). */
double cli_report_sample(struct cli_report *r, int64_t now_ms, uint64_t done);

/* The rate of a finished transfer in bytes per second: of the bytes this
 * run moved, not those a resume found already there. */
double cli_transfer_rate(const struct ft_transfer *t);

/* The transfer succeeded: the summary line, or the "done" event. */
void cli_report_done(struct cli_report *r, const struct ft_transfer *t);

/* A failure with exit code code (the classes documented in README.md):
 * "ft: MESSAGE" on standard error, or the "error" event. r may be NULL
 * (text). Returns code. */
int cli_report_fail(struct cli_report *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A usage error of the command cmd (NULL: of ft itself): as
 * cli_report_fail with exit code 2, in one line "ft CMD: MESSAGE (see 'ft
 * CMD --help')"; the JSON message is "CMD: MESSAGE". */
int cli_report_usage(struct cli_report *r, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A remark for the user ("note: ..." on standard error; nothing with -q),
 * or a "note" event when the JSON goes to standard error. r may be NULL
 * (text). */
void cli_report_note(struct cli_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes a listing as one JSON array of {NAME,"type":"file"|"folder",
 * "size","mtime"}. */
void cli_report_list_json(FILE *out, const struct ft_entry *items, size_t n);

/* --- Formatting, exposed for the tests. --- */

/* n bytes in binary units: "512 B", "1.50 KiB", "12.3 MiB", "123 GiB". */
void cli_format_bytes(char *buf, size_t cap, uint64_t n);

/* The progress line (no "\r", no newline), made to hold in width - 1
 * columns so that the terminal never wraps it: name, bytes done, and with
 * a known total (total != FT_SIZE_UNKNOWN_TOTAL) "of TOTAL", the percentage
 * and the time left (eta_s < 0: unknown); rate in MB/s (< 0: unknown).
 * Fields go, least useful first, when the width is short; the name is cut
 * with "..." before that. Returns the length written. */
size_t cli_format_progress(char *buf, size_t cap, const char *name,
                           uint64_t done, uint64_t total, double rate_bps,
                           double eta_s, int width);

/* A server's modification time as "YYYY-MM-DD HH:MM:SS" (UTC), true; or,
 * when it is outside the years 0 to 9999 (a hostile server may send any
 * number), "out of range (SECONDS)", false. */
bool cli_format_time(char *buf, size_t cap, int64_t t);

/* Appends the JSON string literal of the UTF-8 s[0..n) to out, escaped as
 * described above; a byte that is not UTF-8 (which a caller should not
 * pass) becomes \ufffd. */
void cli_json_string(FILE *out, const char *s, size_t n);

/* Appends NAME, the member or members that say name without loss (above):
 * "name":S, or "name":null,"name_base64":B. */
void cli_json_name(FILE *out, const char *name);

/* The "class" of an exit code: "usage", "connect", ...; "connection" for
 * any code it does not know. */
const char *cli_error_class(int code);

#endif
