/* test_cli_report.c - what the ft command reports about a transfer: the
 * progress line's formatting (src/cli_report.c, linked in), the JSON
 * escaping, and --json on put, get and ls through the real binary against
 * an in-process server, read back with a strict JSON parser of the test's
 * own. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli_report.h"
#include "testutil.h"

/* ------------------------------------------------ a strict JSON parser */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jtype type;
    bool b;
    char *text;        /* J_NUM: as written; J_STR: decoded, NUL-ended */
    size_t len;        /* J_STR: decoded bytes (may hold NUL) */
    size_t n;          /* J_ARR, J_OBJ: members */
    struct jv *items;  /* values */
    char **keys;       /* J_OBJ: names */
};

struct jp {
    const char *s;
    size_t i, n;
    bool bad;
};

static void jv_free(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    memset(v, 0, sizeof(*v));
}

static void jp_ws(struct jp *p)
{
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) != NULL)
        p->i++;
}

static bool jp_lit(struct jp *p, const char *lit)
{
    size_t l = strlen(lit);

    if (p->n - p->i < l || memcmp(p->s + p->i, lit, l) != 0)
        return false;
    p->i += l;
    return true;
}

static void put_utf8(char *out, size_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | cp >> 6);
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | cp >> 12);
        out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | cp >> 18);
        out[(*o)++] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool jp_hex4(struct jp *p, uint32_t *out)
{
    *out = 0;
    if (p->n - p->i < 4)
        return false;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i++]);

        if (h < 0)
            return false;
        *out = *out << 4 | (uint32_t)h;
    }
    return true;
}

/* Raw bytes of a string must be valid UTF-8 (RFC 8259, section 8.1). */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool jp_string(struct jp *p, char **out, size_t *outlen)
{
    char *buf = malloc(p->n - p->i + 1);
    size_t o = 0;

    assert_non_null(buf);
    p->i++; /* the opening quote */
    while (p->i < p->n && p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i];

        if (c < 0x20)
            goto bad;
        if (c == '\\') {
            char e;

            if (++p->i >= p->n)
                goto bad;
            e = p->s[p->i++];
            switch (e) {
            case '"': case '\\': case '/': buf[o++] = e; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                uint32_t cp, lo;

                if (!jp_hex4(p, &cp))
                    goto bad;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (!jp_lit(p, "\\u") || !jp_hex4(p, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        goto bad;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    goto bad;
                }
                put_utf8(buf, &o, cp);
                break;
            }
            default:
                goto bad;
            }
        } else {
            size_t len = utf8_ok((const unsigned char *)p->s + p->i, p->n - p->i);

            if (len == 0)
                goto bad;
            memcpy(buf + o, p->s + p->i, len);
            o += len;
            p->i += len;
        }
    }
    if (p->i >= p->n)
        goto bad;
    p->i++;
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return true;
bad:
    free(buf);
    return false;
}

static bool jp_value(struct jp *p, struct jv *v, int depth);

static bool jp_number(struct jp *p, struct jv *v)
{
    size_t start = p->i;

    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9'))
        return false;
    if (p->s[p->i] == '0')
        p->i++;
    else
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            return false;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            return false;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    v->type = J_NUM;
    v->text = strndup(p->s + start, p->i - start);
    assert_non_null(v->text);
    return true;
}

static bool jp_members(struct jp *p, struct jv *v, int depth, bool object)
{
    char close = object ? '}' : ']';

    v->type = object ? J_OBJ : J_ARR;
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return true;
    }
    for (;;) {
        struct jv item;
        char *key = NULL;
        size_t keylen;

        memset(&item, 0, sizeof(item));
        jp_ws(p);
        if (object) {
            if (p->i >= p->n || p->s[p->i] != '"' || !jp_string(p, &key, &keylen))
                return false;
            jp_ws(p);
            if (!jp_lit(p, ":")) {
                free(key);
                return false;
            }
        }
        if (!jp_value(p, &item, depth + 1)) {
            free(key);
            jv_free(&item);
            return false;
        }
        v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
        assert_non_null(v->items);
        if (object) {
            v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
            assert_non_null(v->keys);
            v->keys[v->n] = key;
        }
        v->items[v->n++] = item;
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return true;
        }
        return false;
    }
}

static bool jp_value(struct jp *p, struct jv *v, int depth)
{
    memset(v, 0, sizeof(*v));
    if (depth > 32)
        return false;
    jp_ws(p);
    if (p->i >= p->n)
        return false;
    switch (p->s[p->i]) {
    case '{':
        return jp_members(p, v, depth, true);
    case '[':
        return jp_members(p, v, depth, false);
    case '"':
        v->type = J_STR;
        return jp_string(p, &v->text, &v->len);
    case 't':
        v->type = J_BOOL;
        v->b = true;
        return jp_lit(p, "true");
    case 'f':
        v->type = J_BOOL;
        return jp_lit(p, "false");
    case 'n':
        v->type = J_NULL;
        return jp_lit(p, "null");
    default:
        return jp_number(p, v);
    }
}

/* Parses exactly one JSON text from s[0..n); false if it is not one. */
static bool json_parse(const char *s, size_t n, struct jv *v)
{
    struct jp p = { s, 0, n, false };

    if (!jp_value(&p, v, 0)) {
        jv_free(v);
        return false;
    }
    jp_ws(&p);
    if (p.i != n) {
        jv_free(v);
        return false;
    }
    return true;
}

static const struct jv *jv_get(const struct jv *o, const char *key)
{
    if (o->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    }
    return NULL;
}

static const char *jv_str(const struct jv *o, const char *key)
{
    const struct jv *v = jv_get(o, key);

    return v != NULL && v->type == J_STR ? v->text : NULL;
}

/* A member that must be a non-negative integer. */
static uint64_t jv_u64(const struct jv *o, const char *key)
{
    const struct jv *v = jv_get(o, key);
    char *end;
    unsigned long long x;

    assert_non_null(v);
    assert_int_equal(v->type, J_NUM);
    errno = 0;
    x = strtoull(v->text, &end, 10);
    assert_int_equal(errno, 0);
    assert_true(*end == '\0' && v->text[0] != '-');
    return x;
}

/* The name an object says, as a script reads it: "name" when a string,
 * else (null) the bytes of "name_base64". NUL-ended; free() it. */
static char *jv_name(const struct jv *o)
{
    const struct jv *name = jv_get(o, "name");
    const char *b64 = jv_str(o, "name_base64");
    char *out;
    size_t len = 0;

    assert_non_null(name);
    if (name->type == J_STR) {
        assert_null(jv_get(o, "name_base64"));
        out = strdup(name->text);
        assert_non_null(out);
        return out;
    }
    assert_int_equal(name->type, J_NULL);
    assert_non_null(b64);
    out = malloc(strlen(b64) + 1);
    assert_non_null(out);
    assert_int_equal(sodium_base642bin((unsigned char *)out, strlen(b64), b64,
                                       strlen(b64), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    out[len] = '\0';
    return out;
}

/* ------------------------------------------------------------ helpers */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    assert_non_null(f);
    for (;;) {
        size_t r;

        if (cap - n < 65536) {
            cap = cap ? 2 * cap : 1 << 20;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* The BLAKE2b-256 of a file, in hex. */
static void file_digest_hex(const char *path, char hex[65])
{
    size_t n;
    char *data = slurp(path, &n);
    unsigned char d[32];

    assert_int_equal(crypto_generichash(d, sizeof(d), (const unsigned char *)data,
                                        n, NULL, 0), 0);
    sodium_bin2hex(hex, 65, d, sizeof(d));
    free(data);
}

/* The JSON lines of text: each must parse as one object. Returns the
 * count; *out holds them (free each with jv_free, then the array). */
static size_t json_lines(const char *text, struct jv **out)
{
    struct jv *v = NULL;
    size_t n = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');

        assert_non_null(nl); /* every line is ended */
        v = realloc(v, (n + 1) * sizeof(*v));
        assert_non_null(v);
        if (!json_parse(p, (size_t)(nl - p), &v[n]))
            fail_msg("not one JSON text: %.*s", (int)(nl - p), p);
        assert_int_equal(v[n].type, J_OBJ);
        assert_non_null(jv_str(&v[n], "event"));
        n++;
        p = nl + 1;
    }
    *out = v;
    return n;
}

static void free_lines(struct jv *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jv_free(&v[i]);
    free(v);
}

/* Checks a successful transfer's events, skipping "note" lines: start
 * (name, size), progress with growing bytes, done with the file's size and
 * digest. */
static void check_transfer_events(const char *text, const char *name,
                                  const char *file, bool size_known)
{
    struct jv *v;
    size_t n = json_lines(text, &v), i = 0;
    uint64_t size = (uint64_t)tu_file_size(file), last = 0;
    char hex[65];
    const struct jv *digest, *verified, *sz;

    file_digest_hex(file, hex);
    while (i < n && strcmp(jv_str(&v[i], "event"), "note") == 0)
        i++;
    assert_true(i < n);
    assert_string_equal(jv_str(&v[i], "event"), "start");
    {
        char *said = jv_name(&v[i]);

        assert_string_equal(said, name);
        free(said);
    }
    sz = jv_get(&v[i], "size");
    assert_non_null(sz);
    if (size_known)
        assert_int_equal(jv_u64(&v[i], "size"), size);
    else
        assert_int_equal(sz->type, J_NULL);
    for (i++; i < n && strcmp(jv_str(&v[i], "event"), "progress") == 0; i++) {
        uint64_t b = jv_u64(&v[i], "bytes");

        assert_true(b >= last && b <= size);
        last = b;
        (void)jv_u64(&v[i], "rate");
    }
    assert_int_equal(i + 1, n); /* done, and nothing after it */
    assert_string_equal(jv_str(&v[i], "event"), "done");
    assert_int_equal(jv_u64(&v[i], "bytes"), size);
    assert_non_null(jv_get(&v[i], "seconds"));
    assert_int_equal(jv_get(&v[i], "seconds")->type, J_NUM);
    digest = jv_get(&v[i], "digest");
    verified = jv_get(&v[i], "verified");
    assert_non_null(digest);
    assert_non_null(verified);
    assert_int_equal(verified->type, J_BOOL);
    assert_true(verified->b);
    assert_int_equal(digest->type, J_STR);
    assert_string_equal(digest->text, hex);
    free_lines(v, n);
}

/* ------------------------------------------------------ formatting */

static void test_format_bytes(void **state)
{
    char b[32];

    (void)state;
    cli_format_bytes(b, sizeof(b), 0);
    assert_string_equal(b, "0 B");
    cli_format_bytes(b, sizeof(b), 1023);
    assert_string_equal(b, "1023 B");
    cli_format_bytes(b, sizeof(b), 1024);
    assert_string_equal(b, "1.00 KiB");
    cli_format_bytes(b, sizeof(b), 1536);
    assert_string_equal(b, "1.50 KiB");
    cli_format_bytes(b, sizeof(b), 12900000);
    assert_string_equal(b, "12.3 MiB");
    cli_format_bytes(b, sizeof(b), 2ull << 30);
    assert_string_equal(b, "2.00 GiB");
    cli_format_bytes(b, sizeof(b), 123ull << 30);
    assert_string_equal(b, "123 GiB");
    cli_format_bytes(b, sizeof(b), UINT64_MAX);
    assert_string_equal(b, "16.0 EiB");
}

/* A hostile server may send any mtime: one gmtime_r cannot take, or one
 * past the year 9999, prints as out of range, never as garbage. */
static void test_format_time(void **state)
{
    char b[64];

    (void)state;
    assert_true(cli_format_time(b, sizeof(b), 0));
    assert_string_equal(b, "1970-01-01 00:00:00");
    assert_true(cli_format_time(b, sizeof(b), 1700000000));
    assert_string_equal(b, "2023-11-14 22:13:20");
    assert_false(cli_format_time(b, sizeof(b), INT64_MAX));
    assert_string_equal(b, "out of range (9223372036854775807)");
    assert_false(cli_format_time(b, sizeof(b), INT64_MIN));
    assert_string_equal(b, "out of range (-9223372036854775808)");
    assert_false(cli_format_time(b, sizeof(b), 253402300800)); /* year 10000 */
    assert_true(cli_format_time(b, sizeof(b), 253402300799));
    assert_string_equal(b, "9999-12-31 23:59:59");
}

/* A resumed transfer's rate counts what this run moved: the first
 * progress call, which already counts the part that was there, is the
 * baseline, and the summary's rate leaves that part out. */
static void test_resumed_rate(void **state)
{
    struct cli_report r;
    struct ft_transfer t = { .bytes = 100000000, .seconds = 2.0,
                             .resumed_from = 90000000 };
    double rate;

    (void)state;
    cli_report_init(&r, "get", true, NULL);
    cli_report_begin(&r, "big.bin", 100000000);
    /* 90 MB were there; 1 MB moved by the first call, 8 MB more 1 s later. */
    assert_true(cli_report_sample(&r, r.t0_ms + 200, 91000000) < 0);
    rate = cli_report_sample(&r, r.t0_ms + 1200, 99000000);
    assert_true(rate > 7.99e6 && rate < 8.01e6);
    /* 10 MB in 2 s, not 100 MB. */
    assert_true(cli_transfer_rate(&t) > 4.99e6 && cli_transfer_rate(&t) < 5.01e6);
    t.resumed_from = 0;
    assert_true(cli_transfer_rate(&t) > 49.9e6 && cli_transfer_rate(&t) < 50.1e6);
}

static void test_format_progress_known_size(void **state)
{
    char line[CLI_LINE_MAX];
    size_t n;

    (void)state;
    /* 1 GiB of 2 GiB at 500 MB/s: 50 %, about 2 s left. */
    n = cli_format_progress(line, sizeof(line), "big.bin", 1ull << 30, 2ull << 30,
                            500e6, 2.1, 80);
    assert_int_equal(n, strlen(line));
    assert_string_equal(line, "big.bin  1.00 GiB of 2.00 GiB   50%  500.0 MB/s  ETA 0:02");
    /* Long waits count hours; unknown rate and time are dashes. */
    cli_format_progress(line, sizeof(line), "x", 0, 10ull << 30, -1, -1, 80);
    assert_string_equal(line, "x  0 B of 10.0 GiB    0%  -- MB/s  ETA --:--");
    cli_format_progress(line, sizeof(line), "x", 5, 10, 1, 3725, 80);
    assert_non_null(strstr(line, " 50%"));
    assert_non_null(strstr(line, "ETA 1:02:05"));
    /* Finished, and an empty file, are 100 %. */
    cli_format_progress(line, sizeof(line), "x", 10, 10, 1e6, 0, 80);
    assert_non_null(strstr(line, "100%"));
    cli_format_progress(line, sizeof(line), "x", 0, 0, 1e6, 0, 80);
    assert_non_null(strstr(line, "100%"));
}

static void test_format_progress_unknown_size(void **state)
{
    char line[CLI_LINE_MAX];

    (void)state;
    cli_format_progress(line, sizeof(line), "stdin.bin", 3ull << 20,
                        FT_SIZE_UNKNOWN_TOTAL, 12.5e6, -1, 80);
    assert_string_equal(line, "stdin.bin  3.00 MiB  12.5 MB/s");
    assert_null(strchr(line, '%'));
    assert_null(strstr(line, "ETA"));
}

/* Whatever the width, the line leaves the last column free, so the
 * terminal never wraps it; narrow terminals still get the percentage. */
static void test_format_progress_fits_width(void **state)
{
    char name[300];
    char line[CLI_LINE_MAX];

    (void)state;
    memset(name, 'n', 255);
    name[255] = '\0';
    for (int width = 0; width <= 400; width++) {
        size_t n = cli_format_progress(line, sizeof(line), name, 123456789,
                                       987654321, 45.6e6, 19, width);

        assert_int_equal(n, strlen(line));
        assert_true(n + 1 <= (size_t)(width > 1 ? width : 1));
        if (width >= 6)
            assert_non_null(strstr(line, "12%"));
        n = cli_format_progress(line, sizeof(line), name, 123456789,
                                FT_SIZE_UNKNOWN_TOTAL, 45.6e6, -1, width);
        assert_true(n + 1 <= (size_t)(width > 1 ? width : 1));
    }
    /* A long name is cut with "..." and keeps the figures. */
    cli_format_progress(line, sizeof(line), name, 1, 2, 1, 1, 80);
    assert_int_equal(strlen(line), 79);
    assert_non_null(strstr(line, "nnn...  "));
    assert_non_null(strstr(line, "ETA 0:01"));
    /* Too narrow for the name: the figures alone. */
    cli_format_progress(line, sizeof(line), name, 1, 2, 1, 1, 40);
    assert_true(line[0] != 'n');
    assert_true(strlen(line) <= 39);
    /* A short name is never cut when it fits. */
    cli_format_progress(line, sizeof(line), "a.txt", 1, 2, 1, 1, 80);
    assert_true(strncmp(line, "a.txt  ", 7) == 0);
}

/* A name cannot drive the terminal: escapes, C1 controls and bytes that
 * are not UTF-8 are shown as '?'; wide characters count two columns. */
static void test_format_progress_hostile_name(void **state)
{
    char line[CLI_LINE_MAX];
    static const char wide[] = "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
                               "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5";

    (void)state;
    cli_format_progress(line, sizeof(line), "a\033[2Jb\xff\r", 1, 2, 1, 1, 80);
    assert_true(strncmp(line, "a?[2Jb??  ", 10) == 0);
    for (const char *p = line; *p != '\0'; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    /* C1 controls too, encoded (c2 9b, CSI) or raw. */
    cli_format_progress(line, sizeof(line), "a\xc2\x9b" "2Jb\x9b", 1, 2, 1, 1, 80);
    assert_true(strncmp(line, "a??2Jb?  ", 9) == 0);
    /* 8 wide characters, 16 columns: with 48 columns of figures, a width
     * of 60 leaves 9 for the name: 3 characters and "...". */
    cli_format_progress(line, sizeof(line), wide, 1ull << 30, 2ull << 30, 500e6,
                        2, 60);
    assert_true(strncmp(line, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5...  1.00 GiB",
                        22) == 0);
    cli_format_progress(line, sizeof(line), wide, 1ull << 30, 2ull << 30, 500e6,
                        2, 67);
    assert_true(strncmp(line, wide, strlen(wide)) == 0);
}

static char *json_of(const char *s, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    cli_json_string(f, s, n);
    fclose(f);
    return buf;
}

static void test_json_string_escapes(void **state)
{
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "plain", 5, "\"plain\"" },
        { "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
        { "\n\t\x01\x1f\x7f", 5, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"" },
        { "nul\0x", 5, "\"nul\\u0000x\"" },
        /* Valid UTF-8 passes: 2, 3 and 4 bytes. */
        { "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", 14,
          "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"" },
        /* C1 controls are escaped too: \u009b reads back as c2 9b. */
        { "\xc2\x9b\xc2\x85", 4, "\"\\u009b\\u0085\"" },
        /* Not UTF-8 (a name never comes here: cli_json_name): a lone
         * Latin-1 byte, a cut sequence, an overlong '/', a surrogate,
         * beyond U+10FFFF: each byte replaced, never passed as a real
         * character such as \u00e9. */
        { "caf\xe9", 4, "\"caf\\ufffd\"" },
        { "\xe6\x97", 2, "\"\\ufffd\\ufffd\"" },
        { "\xc0\xaf", 2, "\"\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "", 0, "\"\"" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *got = json_of(cases[i].in, cases[i].n);
        struct jv v;

        assert_string_equal(got, cases[i].out);
        /* And what comes out is JSON a strict parser takes. */
        assert_true(json_parse(got, strlen(got), &v));
        assert_int_equal(v.type, J_STR);
        jv_free(&v);
        free(got);
    }
}

/* cli_json_name inside an object, parsed back as a script would. */
static char *name_said(const char *name, char **json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jv v;
    char *said;

    assert_non_null(f);
    putc('{', f);
    cli_json_name(f, name);
    putc('}', f);
    fclose(f);
    assert_true(json_parse(buf, len, &v));
    said = jv_name(&v);
    jv_free(&v);
    *json = buf;
    return said;
}

/* A name comes back as the same bytes, whatever they are: UTF-8 as a
 * string, anything else as base64 (\xff\xfe is not U+00FF U+00FE). */
static void test_json_name_lossless(void **state)
{
    static const struct { const char *name, *json; } cases[] = {
        { "caf\xc3\xa9", "{\"name\":\"caf\xc3\xa9\"}" },
        { "\xc3\xbf\xc3\xbe", "{\"name\":\"\xc3\xbf\xc3\xbe\"}" },
        { "\xff\xfe", "{\"name\":null,\"name_base64\":\"//4=\"}" },
        { "caf\xe9", "{\"name\":null,\"name_base64\":\"Y2Fm6Q==\"}" },
        { "a\x1b\xc2\x9b", "{\"name\":\"a\\u001b\\u009b\"}" },
    };
    char long_name[1001], *json, *said;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        said = name_said(cases[i].name, &json);
        assert_string_equal(json, cases[i].json);
        assert_string_equal(said, cases[i].name);
        free(json);
        free(said);
    }
    /* Longer than one chunk of the encoding, and not a multiple of 3. */
    for (size_t i = 0; i < sizeof(long_name) - 1; i++)
        long_name[i] = (char)(0x80 + i % 120);
    long_name[sizeof(long_name) - 1] = '\0';
    said = name_said(long_name, &json);
    assert_string_equal(said, long_name);
    free(json);
    free(said);
}

static void test_error_classes(void **state)
{
    (void)state;
    assert_string_equal(cli_error_class(2), "usage");
    assert_string_equal(cli_error_class(3), "connect");
    assert_string_equal(cli_error_class(4), "refused");
    assert_string_equal(cli_error_class(5), "local_io");
    assert_string_equal(cli_error_class(6), "integrity");
    assert_string_equal(cli_error_class(7), "connection");
}

/* ------------------------------------------------- the ft command */

static void test_json_put_and_get(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "data.bin");
    char *copy = tu_path(f->work, "copy.bin");
    char *out = tu_path(f->work, "stdout.txt");
    char err[8192];
    char *text;

    tu_write_random(src, 12u << 20, 7);
    {
        const char *args[] = { "put", "--json", "-p", f->server.portstr, src, NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, NULL);
        check_transfer_events(text, "data.bin", src, true);
        free(text);
        /* No human line: no summary, and never a carriage return. */
        assert_null(strstr(err, "bytes in"));
        assert_null(strchr(err, '\r'));
    }
    {
        const char *args[] = { "get", "--json", "-z", "-p", f->server.portstr, "data.bin", copy,
                               NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, NULL);
        check_transfer_events(text, "data.bin", src, true);
        free(text);
        assert_true(tu_files_equal(src, copy));
        assert_null(strchr(err, '\r'));
    }
    {   /* Standard input: the size is not known. */
        const char *args[] = { "put", "--json", "-p", f->server.portstr, "-", "piped.bin", NULL };

        assert_int_equal(tu_run_ft(args, src, out, err, sizeof(err)), 0);
        text = slurp(out, NULL);
        check_transfer_events(text, "piped.bin", src, false);
        free(text);
    }
    free(src);
    free(copy);
    free(out);
}

/* The file on standard output, the JSON on standard error, and nothing
 * but JSON there (the note about the pinned key comes as an event). */
static void test_json_get_to_stdout(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "s.bin");
    char *out = tu_path(f->work, "s.out");
    char err[8192];

    tu_write_random(src, 3u << 20, 11);
    {
        const char *args[] = { "put", "-q", "-p", f->server.portstr, src, NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    }
    {
        const char *args[] = { "get", "--json", "-p", f->server.portstr, "s.bin", "-", NULL };
        struct jv *v;
        size_t n;

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, out));
        check_transfer_events(err, "s.bin", src, true);
        n = json_lines(err, &v);
        /* The notes come first: the key made for this home, the pin. */
        assert_string_equal(jv_str(&v[0], "event"), "note");
        assert_non_null(strstr(jv_str(&v[0], "message"), "made your key"));
        assert_string_equal(jv_str(&v[1], "event"), "note");
        assert_non_null(strstr(jv_str(&v[1], "message"), "pinned its key"));
        free_lines(v, n);
    }
    free(src);
    free(out);
}

static void test_json_errors(void **state)
{
    struct tu_fixture *f = *state;
    char *out = tu_path(f->work, "err.json");
    char *missing = tu_path(f->work, "no-such-file");
    char err[8192];
    char *text;
    struct jv *v;
    size_t n;

    {   /* Refused by the server: only the JSON line says so. */
        const char *args[] = { "get", "--json", "-p", f->server.portstr, "missing", NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 4);
        text = slurp(out, NULL);
        n = json_lines(text, &v);
        assert_int_equal(n, 1);
        assert_string_equal(jv_str(&v[0], "event"), "error");
        assert_string_equal(jv_str(&v[0], "class"), "refused");
        assert_int_equal(jv_u64(&v[0], "exit_code"), 4);
        assert_non_null(strstr(jv_str(&v[0], "message"), "missing"));
        free_lines(v, n);
        free(text);
        assert_null(strstr(err, "ft: "));
    }
    {   /* With the JSON on standard error, the same there. */
        const char *args[] = { "get", "--json", "-q", "-p", f->server.portstr, "missing", "-",
                               NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 4);
        n = json_lines(err, &v);
        assert_int_equal(n, 1);
        assert_string_equal(jv_str(&v[0], "class"), "refused");
        free_lines(v, n);
    }
    {   /* A local file that is not there. */
        const char *args[] = { "put", "--json", "-p", f->server.portstr, missing, NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 5);
        text = slurp(out, NULL);
        n = json_lines(text, &v);
        assert_int_equal(n, 1);
        assert_string_equal(jv_str(&v[0], "class"), "local_io");
        assert_int_equal(jv_u64(&v[0], "exit_code"), 5);
        free_lines(v, n);
        free(text);
    }
    {   /* Wrong arguments. */
        const char *args[] = { "put", "--json", NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 2);
        text = slurp(out, NULL);
        n = json_lines(text, &v);
        assert_int_equal(n, 1);
        assert_string_equal(jv_str(&v[0], "class"), "usage");
        free_lines(v, n);
        free(text);
    }
    {   /* Nobody there: port 1 on loopback refuses. */
        const char *args[] = { "put", "--json", "-p", "1", "-", "x", NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 3);
        text = slurp(out, NULL);
        n = json_lines(text, &v);
        assert_int_equal(n, 1);
        assert_string_equal(jv_str(&v[0], "class"), "connect");
        free_lines(v, n);
        free(text);
    }
    {   /* Commands that do not report transfers do not take --json. */
        const char *args[] = { "rm", "--json", "x", NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 2);
    }
    free(out);
    free(missing);
}

static void test_ls_json(void **state)
{
    struct tu_fixture *f = *state;
    /* The last is put as "sub/inner": the top lists the folder "sub". */
    static const char *const names[] = {
        "plain.txt", "a \"quoted\" \\ name", "caf\xe9", "\xe6\x97\xa5.txt", "sub/inner",
    };
    static const char *const listed[] = {
        "plain.txt", "a \"quoted\" \\ name", "caf\xe9", "\xe6\x97\xa5.txt", "sub",
    };
    char *src = tu_path(f->work, "small");
    char *out = tu_path(f->work, "ls.json");
    char err[8192];
    struct jv v;
    char *text;
    size_t len;

    {   /* An empty store: an empty array. */
        const char *args[] = { "ls", "--json", "-p", f->server.portstr, NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, &len);
        assert_true(json_parse(text, len, &v));
        assert_int_equal(v.type, J_ARR);
        assert_int_equal(v.n, 0);
        jv_free(&v);
        free(text);
    }
    tu_write_text(src, 1000);
    for (size_t i = 0; i < 5; i++) {
        const char *args[] = { "put", "-q", "-p", f->server.portstr, src, names[i], NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    }
    {
        const char *args[] = { "ls", "--json", "-p", f->server.portstr, NULL };
        bool seen[5] = { false, false, false, false, false };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, &len);
        assert_true(json_parse(text, len, &v));
        assert_int_equal(v.type, J_ARR);
        assert_int_equal(v.n, 5);
        for (size_t i = 0; i < v.n; i++) {
            char *name = jv_name(&v.items[i]);
            bool folder = strcmp(name, "sub") == 0;

            assert_non_null(jv_str(&v.items[i], "type"));
            assert_string_equal(jv_str(&v.items[i], "type"), folder ? "folder" : "file");
            if (!folder)
                assert_int_equal(jv_u64(&v.items[i], "size"), tu_file_size(src));
            assert_true(jv_u64(&v.items[i], "mtime") > 1000000000);
            for (size_t k = 0; k < 5; k++) {
                if (strcmp(name, listed[k]) == 0)
                    seen[k] = true;
            }
            free(name);
        }
        for (size_t k = 0; k < 5; k++)
            assert_true(seen[k]);
        /* The name that is not UTF-8 came as its bytes, in base64. */
        assert_non_null(strstr(text, "\"name\":null,\"name_base64\":\"Y2Fm6Q==\""));
        jv_free(&v);
        free(text);
    }
    free(src);
    free(out);
}

/* What a script does: list with --json, decode each name, get that exact
 * name. With "\xff\xfe" (not UTF-8) beside "\xc3\xbf\xc3\xbe" (U+00FF
 * U+00FE, the name \u00ff\u00fe used to stand for), each get fetches
 * its own file; stat --json and get's events say the same names. */
static void test_json_names_round_trip(void **state)
{
    struct tu_fixture *f = *state;
    static const char *const names[] = { "\xff\xfe", "\xc3\xbf\xc3\xbe" };
    char *src[2] = { tu_path(f->work, "one"), tu_path(f->work, "two") };
    char *out = tu_path(f->work, "out.json"), *got = tu_path(f->work, "got");
    char err[8192];
    struct jv v, st;
    bool seen[2] = { false, false };
    char *text;
    size_t len;

    tu_write_random(src[0], 1000, 1);
    tu_write_random(src[1], 2000, 2);
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = { "put", "-q", "-p", f->server.portstr, src[i], names[i], NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    }
    {
        const char *args[] = { "ls", "--json", "-p", f->server.portstr, NULL };

        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, &len);
        assert_true(json_parse(text, len, &v));
        assert_int_equal(v.n, 2);
        free(text);
    }
    for (size_t i = 0; i < v.n; i++) {
        char *name = jv_name(&v.items[i]);
        const char *get[] = { "get", "--json", "-p", f->server.portstr, name, got, NULL };
        const char *stat[] = { "stat", "--json", "-p", f->server.portstr, name, NULL };
        size_t which = strcmp(name, names[0]) == 0 ? 0 : 1;

        assert_string_equal(name, names[which]);
        assert_false(seen[which]); /* two files, two names */
        seen[which] = true;
        unlink(got);
        assert_int_equal(tu_run_ft(get, NULL, out, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src[which], got));
        text = slurp(out, NULL);
        check_transfer_events(text, names[which], src[which], true);
        free(text);
        assert_int_equal(tu_run_ft(stat, NULL, out, err, sizeof(err)), 0);
        text = slurp(out, &len);
        assert_true(json_parse(text, len, &st));
        free(text);
        text = jv_name(&st);
        assert_string_equal(text, names[which]);
        assert_non_null(jv_str(&st, "type"));
        assert_string_equal(jv_str(&st, "type"), "file");
        free(text);
        jv_free(&st);
        free(name);
    }
    jv_free(&v);
    free(src[0]);
    free(src[1]);
    free(out);
    free(got);
}

/* Standard error is not a terminal here: the summary line as before, no
 * progress line, no carriage return, no escape sequence. */
static void test_text_mode_off_terminal(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "t.bin");
    char *copy = tu_path(f->work, "t.copy");
    char err[8192];

    tu_write_random(src, 20u << 20, 3);
    {
        const char *args[] = { "put", "-p", f->server.portstr, src, NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "put t.bin: 20971520 bytes in "));
        assert_null(strchr(err, '\r'));
        assert_null(strchr(err, '\033'));
    }
    {
        const char *args[] = { "get", "-p", f->server.portstr, "t.bin", copy, NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "get t.bin: 20971520 bytes in "));
        assert_null(strchr(err, '\r'));
        assert_null(strchr(err, '\033'));
    }
    {
        const char *args[] = { "get", "-p", f->server.portstr, "nothing-here", copy, NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "ft: get nothing-here: "));
        assert_null(strchr(err, '\r'));
    }
    free(src);
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_resumed_rate),
        cmocka_unit_test(test_format_progress_known_size),
        cmocka_unit_test(test_format_progress_unknown_size),
        cmocka_unit_test(test_format_progress_fits_width),
        cmocka_unit_test(test_format_progress_hostile_name),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_name_lossless),
        cmocka_unit_test(test_error_classes),
        TU_TEST_SERVER(test_json_put_and_get),
        TU_TEST_SERVER(test_json_get_to_stdout),
        TU_TEST_SERVER(test_json_errors),
        TU_TEST_SERVER(test_ls_json),
        TU_TEST_SERVER(test_json_names_round_trip),
        TU_TEST_SERVER(test_text_mode_off_terminal),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
