/* clients.c - the clients file: who may use a server, from where, until
 * when, and with which rights. */
#include "clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_BASE64_LEN 44
#define KIND_LEN (sizeof(FT_CLIENT_KEY_KIND) - 1)

_Static_assert(FT_CLIENT_KEY_TEXT_MAX == KIND_LEN + 1 + KEY_BASE64_LEN + 1,
               "the key's text: kind, space, base64, NUL");

void ft_clients_format_key(const uint8_t key[32], char out[FT_CLIENT_KEY_TEXT_MAX])
{
    memcpy(out, FT_CLIENT_KEY_KIND " ", KIND_LEN + 1);
    sodium_bin2base64(out + KIND_LEN + 1, KEY_BASE64_LEN + 1, key, 32,
                      sodium_base64_VARIANT_ORIGINAL);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum ft_err ft_clients_parse_key(const char *text, size_t len, uint8_t key[32])
{
    uint8_t bin[32];
    size_t i = KIND_LEN, binlen = 0;
    const char *end = NULL;

    if (len < KIND_LEN + 1 || memcmp(text, FT_CLIENT_KEY_KIND, KIND_LEN) != 0 ||
        !is_blank(text[KIND_LEN]))
        return FT_ERR_USAGE;
    while (i < len && is_blank(text[i]))
        i++;
    /* libsodium refuses non-canonical base64 (bits left over that are not
     * zero), so each key has one text only, as lookups by text expect. */
    if (len - i != KEY_BASE64_LEN ||
        sodium_base642bin(bin, sizeof(bin), text + i, len - i, NULL, &binlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != sizeof(bin) || end != text + len)
        return FT_ERR_USAGE;
    memcpy(key, bin, sizeof(bin));
    return FT_OK;
}

enum ft_err ft_parse_size(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] < '0' || text[0] > '9')
        return FT_ERR_USAGE;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return FT_ERR_USAGE;
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return FT_ERR_USAGE;
    *out = (uint64_t)v << shift;
    return FT_OK;
}

static const struct {
    const char *name;
    unsigned bit;
} allow_names[] = {
    { "list", FT_ALLOW_LIST },
    { "read", FT_ALLOW_READ },
    { "write", FT_ALLOW_WRITE },
    { "delete", FT_ALLOW_DELETE },
};

void ft_clients_allow_text(unsigned allow, const char *sep, char *buf, size_t cap)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(allow_names) / sizeof(*allow_names); i++) {
        if ((allow & allow_names[i].bit) && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                     used > 0 ? sep : "", allow_names[i].name);
    }
    if (used == 0)
        snprintf(buf, cap, "none");
}

enum ft_err ft_clients_parse_allow(const char *text, size_t len, unsigned *allow)
{
    unsigned got = 0;
    size_t i = 0;

    if (len == 0)
        return FT_ERR_USAGE;
    if (len == 4 && memcmp(text, "none", 4) == 0) {
        *allow = 0;
        return FT_OK;
    }
    while (i < len) {
        size_t n = 0;
        unsigned bit = 0;

        while (i + n < len && text[i + n] != ',')
            n++;
        for (size_t k = 0; k < sizeof(allow_names) / sizeof(*allow_names); k++) {
            if (strlen(allow_names[k].name) == n &&
                memcmp(allow_names[k].name, text + i, n) == 0)
                bit = allow_names[k].bit;
        }
        if (bit == 0 || (got & bit) != 0)
            return FT_ERR_USAGE;
        got |= bit;
        i += n;
        if (i < len && ++i == len) /* a comma that ends the list */
            return FT_ERR_USAGE;
    }
    *allow = got;
    return FT_OK;
}

/* --- The file ------------------------------------------------------------ */

struct ft_clients {
    struct ft_client_entry *entries; /* sorted by key once parsed */
    size_t n, cap;
};

/* Where the parse is, for messages. */
struct parse {
    const char *file;
    unsigned line;
    char *errbuf;
    size_t errlen;
};

/* A value of the line, NUL-terminated: at most a line long. */
struct value {
    char text[FT_CLIENTS_LINE_MAX + 1];
    size_t len;
};

static enum ft_err bad(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Tells what is wrong as "FILE:LINE: what"; FT_ERR_USAGE. */
static enum ft_err bad(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(p->errbuf, p->errlen, "%s:%u: ", p->file, p->line);

    if (n >= 0 && (size_t)n < p->errlen) {
        va_start(ap, fmt);
        vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return FT_ERR_USAGE;
}

/* The value as a message may show it: controls escaped, cut if long. */
static const char *shown(const struct value *v, char out[80])
{
    ft_name_quote(v->text, v->len, out, 80);
    return out;
}

bool ft_clients_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._@+-", c) != NULL;
}

static enum ft_err opt_name(struct parse *p, struct ft_client_entry *e,
                            const struct value *v)
{
    size_t good = 0;

    while (good < v->len && ft_clients_name_char(v->text[good]))
        good++;
    if (good != v->len || v->len == 0 || v->len > FT_CLIENT_NAME_MAX)
        return bad(p, "name= takes 1 to %d letters, digits or . _ @ + -",
                   FT_CLIENT_NAME_MAX);
    memcpy(e->name, v->text, v->len + 1);
    return FT_OK;
}

/* "/", "" or a folder of the store, leading and trailing slashes aside. */
static enum ft_err opt_root(struct parse *p, struct ft_client_entry *e,
                            const struct value *v)
{
    const char *t = v->text;
    size_t n = v->len;
    char q[80];
    char *root;

    while (n > 0 && *t == '/')
        t++, n--;
    while (n > 0 && t[n - 1] == '/')
        n--;
    if (n == 0)
        return FT_OK;
    if (ft_name_check(t, n) != FT_OK)
        return bad(p, "root= '%s' is not a folder of the store (no '.', '..', "
                   "empty parts or the .ft folder)", shown(v, q));
    root = malloc(n + 1);
    if (root == NULL)
        return FT_ERR_NOMEM;
    memcpy(root, t, n);
    root[n] = '\0';
    e->root = root;
    return FT_OK;
}

static enum ft_err opt_allow(struct parse *p, struct ft_client_entry *e,
                             const struct value *v)
{
    if (ft_clients_parse_allow(v->text, v->len, &e->allow) != FT_OK)
        return bad(p, "allow= takes list, read, write and delete joined by "
                   "commas, each once, or none");
    return FT_OK;
}

static enum ft_err opt_quota(struct parse *p, struct ft_client_entry *e,
                             const struct value *v)
{
    if (ft_parse_size(v->text, &e->quota_bytes) != FT_OK)
        return bad(p, "quota= takes a size such as 500M or 10G");
    return FT_OK;
}

static enum ft_err opt_files(struct parse *p, struct ft_client_entry *e,
                             const struct value *v)
{
    if (ft_parse_size(v->text, &e->quota_files) != FT_OK)
        return bad(p, "files= takes a number of files such as 1000 or 10k");
    return FT_OK;
}

static enum ft_err opt_rate(struct parse *p, struct ft_client_entry *e,
                            const struct value *v)
{
    if (ft_parse_size(v->text, &e->rate) != FT_OK || e->rate == 0)
        return bad(p, "rate= takes a rate above 0 such as 500k or 10M (bytes "
                   "per second)");
    return FT_OK;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (for
 * years from 1970 on: each 400 years have the same 146097 days). */
static int64_t days_since_epoch(unsigned y, unsigned m, unsigned d)
{
    unsigned yy = m <= 2 ? y - 1 : y;
    unsigned era = yy / 400, yoe = yy % 400;
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (int64_t)era * 146097 + doe - 719468;
}

/* YYYY-MM-DD: the key serves through that day (UTC) and is refused from
 * the start of the next. */
static enum ft_err opt_expires(struct parse *p, struct ft_client_entry *e,
                               const struct value *v)
{
    static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    unsigned y = 0, m = 0, d = 0;
    char q[80];

    for (size_t i = 0; i < v->len && v->len == 10; i++) {
        char c = v->text[i];

        if ((i == 4 || i == 7) ? c != '-' : (c < '0' || c > '9'))
            return bad(p, "expires= '%s' is not a date YYYY-MM-DD", shown(v, q));
        if (i < 4)
            y = y * 10 + (unsigned)(c - '0');
        else if (i == 5 || i == 6)
            m = m * 10 + (unsigned)(c - '0');
        else if (i > 7)
            d = d * 10 + (unsigned)(c - '0');
    }
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
        (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return bad(p, "expires= '%s' is not a date YYYY-MM-DD", shown(v, q));
    e->expires = (days_since_epoch(y, m, d) + 1) * 86400;
    return FT_OK;
}

/* One network: an address, and a prefix length or none (the one address). */
static bool parse_net(const char *text, size_t len, struct ft_client_net *net)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = memchr(text, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - text) : len;
    unsigned prefix = 0, bits;

    if (alen == 0 || alen >= sizeof(addr))
        return false;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(net, 0, sizeof(*net));
    net->family = memchr(addr, ':', alen) != NULL ? 6 : 4;
    bits = net->family == 6 ? 128 : 32;
    if (inet_pton(net->family == 6 ? AF_INET6 : AF_INET, addr, net->addr) != 1)
        return false;
    if (slash == NULL) {
        prefix = bits;
    } else {
        size_t i = alen + 1;

        if (i == len || len - i > 3)
            return false;
        for (; i < len; i++) {
            if (text[i] < '0' || text[i] > '9')
                return false;
            prefix = prefix * 10 + (unsigned)(text[i] - '0');
        }
        if (prefix > bits)
            return false;
    }
    net->prefix = (uint8_t)prefix;
    /* Host bits past the prefix are dropped: 192.168.1.5/24 is the
     * network 192.168.1.0/24, as its writer meant. */
    for (unsigned b = prefix; b < bits; b++)
        net->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
    return true;
}

static enum ft_err opt_from(struct parse *p, struct ft_client_entry *e,
                            const struct value *v)
{
    struct ft_client_net nets[FT_CLIENTS_FROM_MAX];
    struct ft_client_net *copy;
    unsigned n = 0;
    size_t i = 0;
    char q[80];

    while (i <= v->len) {
        size_t k = strcspn(v->text + i, ",");
        struct value one;

        if (n == FT_CLIENTS_FROM_MAX)
            return bad(p, "from= names more than %d networks", FT_CLIENTS_FROM_MAX);
        if (!parse_net(v->text + i, k, &nets[n])) {
            memcpy(one.text, v->text + i, k);
            one.text[k] = '\0';
            one.len = k;
            return bad(p, "from= '%s' is not an address or a network (CIDR) of "
                       "IPv4 or IPv6", shown(&one, q));
        }
        n++;
        i += k + 1;
    }
    copy = malloc(n * sizeof(*copy));
    if (copy == NULL)
        return FT_ERR_NOMEM;
    memcpy(copy, nets, n * sizeof(*copy));
    e->from = copy;
    e->nfrom = n;
    return FT_OK;
}

static const struct {
    const char *name;
    enum ft_err (*apply)(struct parse *p, struct ft_client_entry *e,
                         const struct value *v);
} options[] = {
    { "name", opt_name },   { "root", opt_root },   { "allow", opt_allow },
    { "quota", opt_quota }, { "files", opt_files }, { "expires", opt_expires },
    { "from", opt_from },   { "rate", opt_rate },
};

/* The next run of characters that are not blanks, from *pos: its start
 * and length; false at the end of the line or at a # comment. */
static bool next_token(const char *line, size_t len, size_t *pos, size_t *start,
                       size_t *n)
{
    size_t i = *pos;

    while (i < len && (is_blank(line[i]) || line[i] == '\r'))
        i++;
    if (i == len || line[i] == '#')
        return false;
    *start = i;
    while (i < len && !is_blank(line[i]) && line[i] != '\r')
        i++;
    *n = i - *start;
    *pos = i;
    return true;
}

/* One option, NAME=VALUE; seen holds the options the line gave already. */
static enum ft_err apply_option(struct parse *p, struct ft_client_entry *e,
                                const char *tok, size_t n, unsigned *seen)
{
    const char *eq = memchr(tok, '=', n);
    size_t klen = eq != NULL ? (size_t)(eq - tok) : n;
    struct value v;
    char q[80];

    for (size_t k = 0; k < sizeof(options) / sizeof(*options); k++) {
        if (eq == NULL || strlen(options[k].name) != klen ||
            memcmp(options[k].name, tok, klen) != 0)
            continue;
        if (*seen & (1u << k))
            return bad(p, "%s= given twice", options[k].name);
        *seen |= 1u << k;
        v.len = n - klen - 1;
        memcpy(v.text, eq + 1, v.len);
        v.text[v.len] = '\0';
        return options[k].apply(p, e, &v);
    }
    v.len = klen;
    memcpy(v.text, tok, klen);
    v.text[klen] = '\0';
    return bad(p, "unknown option '%s' (there are name=, root=, allow=, quota=, "
               "files=, expires=, from= and rate=)", shown(&v, q));
}

static void entry_release(struct ft_client_entry *e)
{
    free((char *)e->root);
    free((struct ft_client_net *)e->from);
}

/* One line that is neither blank nor a comment: a key, then options. */
static enum ft_err parse_entry(struct parse *p, const char *line, size_t len,
                               size_t pos, size_t start, size_t n,
                               struct ft_client_entry *e)
{
    size_t kstart = start;
    unsigned seen = 0;
    enum ft_err err = FT_OK;

    memset(e, 0, sizeof(*e));
    e->allow = FT_ALLOW_ALL;
    e->quota_bytes = FT_UNLIMITED;
    e->quota_files = FT_UNLIMITED;
    e->line = p->line;
    if (n != KIND_LEN || memcmp(line + start, FT_CLIENT_KEY_KIND, KIND_LEN) != 0)
        return bad(p, "a line begins with a client's key as `ft id` prints it "
                   "(" FT_CLIENT_KEY_KIND " and its base64)");
    if (!next_token(line, len, &pos, &start, &n) ||
        ft_clients_parse_key(line + kstart, start + n - kstart, e->key) != FT_OK)
        return bad(p, "the key is not the base64 of 32 bytes (44 characters, as "
                   "`ft id` prints it)");
    while (err == FT_OK && next_token(line, len, &pos, &start, &n))
        err = apply_option(p, e, line + start, n, &seen);
    if (err != FT_OK)
        entry_release(e);
    return err;
}

static enum ft_err add_line(struct parse *p, struct ft_clients *c, const char *line,
                            size_t len)
{
    size_t pos = 0, start, n;
    struct ft_client_entry e;
    enum ft_err err;

    if (len > FT_CLIENTS_LINE_MAX)
        return bad(p, "line longer than %d bytes", FT_CLIENTS_LINE_MAX);
    if (memchr(line, '\0', len) != NULL)
        return bad(p, "a NUL byte: not a text file");
    if (!next_token(line, len, &pos, &start, &n))
        return FT_OK; /* blank, or a comment */
    err = parse_entry(p, line, len, pos, start, n, &e);
    if (err != FT_OK)
        return err;
    if (c->n == c->cap) {
        size_t cap = c->cap == 0 ? 16 : c->cap * 2;
        struct ft_client_entry *grown = realloc(c->entries, cap * sizeof(*grown));

        if (grown == NULL) {
            entry_release(&e);
            return FT_ERR_NOMEM;
        }
        c->entries = grown;
        c->cap = cap;
    }
    c->entries[c->n++] = e;
    return FT_OK;
}

static int by_key(const void *a, const void *b)
{
    return memcmp(((const struct ft_client_entry *)a)->key,
                  ((const struct ft_client_entry *)b)->key, 32);
}

/* After sorting, a key twice stands next to itself: tells of the first
 * line (in the file's order) that repeats a key. */
static enum ft_err check_repeats(struct parse *p, const struct ft_clients *c)
{
    unsigned later = 0, earlier = 0;

    for (size_t i = 1; i < c->n; i++) {
        const struct ft_client_entry *a = &c->entries[i - 1], *b = &c->entries[i];
        unsigned hi = a->line > b->line ? a->line : b->line;

        if (by_key(a, b) == 0 && (later == 0 || hi < later)) {
            later = hi;
            earlier = a->line < b->line ? a->line : b->line;
        }
    }
    if (later == 0)
        return FT_OK;
    p->line = later;
    return bad(p, "the key of line %u again (one line per key)", earlier);
}

enum ft_err ft_clients_parse(const char *name, const char *text, size_t len,
                             struct ft_clients **out, char *errbuf, size_t errlen)
{
    struct parse p = { .file = name, .line = 0, .errbuf = errbuf, .errlen = errlen };
    struct ft_clients *c = calloc(1, sizeof(*c));
    size_t pos = 0;
    enum ft_err err = FT_OK;

    if (c == NULL)
        return FT_ERR_NOMEM;
    while (err == FT_OK && pos < len) {
        const char *eol = memchr(text + pos, '\n', len - pos);
        size_t n = eol != NULL ? (size_t)(eol - (text + pos)) : len - pos;

        if (++p.line > FT_CLIENTS_LINES_MAX) {
            err = bad(&p, "more than %d lines", FT_CLIENTS_LINES_MAX);
            break;
        }
        err = add_line(&p, c, text + pos, n);
        pos += n + 1;
    }
    if (err == FT_OK && c->n > 1) {
        qsort(c->entries, c->n, sizeof(*c->entries), by_key);
        err = check_repeats(&p, c);
    }
    if (err == FT_ERR_NOMEM)
        snprintf(errbuf, errlen, "%s: out of memory", name);
    if (err != FT_OK) {
        ft_clients_free(c);
        return err;
    }
    *out = c;
    return FT_OK;
}

/* Whoever may write the clients file decides who gets in: like sshd's
 * StrictModes, a file (or one behind a link) that group or others may
 * write is refused; FT_OK, or FT_ERR_DENIED with the reason. */
static enum ft_err check_mode(int fd, const char *path, size_t *size, char *errbuf,
                              size_t errlen)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return FT_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(errbuf, errlen, "%s: not a regular file", path);
        return FT_ERR_IO;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(errbuf, errlen, "%s: other users may write it, and so decide who "
                 "gets in: chmod go-w %s", path, path);
        return FT_ERR_DENIED;
    }
    *size = (size_t)sb.st_size;
    return FT_OK;
}

enum ft_err ft_clients_load(const char *path, struct ft_clients **out,
                            char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t size = 0, len = 0;
    enum ft_err err;

    if (f == NULL) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return FT_ERR_IO;
    }
    err = check_mode(fileno(f), path, &size, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    /* One byte more than it says, up to the bound, to see it did not grow
     * past the bound meanwhile. */
    size = size < FT_CLIENTS_FILE_MAX ? size + 1 : FT_CLIENTS_FILE_MAX + 1;
    text = malloc(size);
    if (text == NULL) {
        err = FT_ERR_NOMEM;
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    len = fread(text, 1, size, f);
    if (ferror(f)) {
        err = FT_ERR_IO;
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (len == size && size <= FT_CLIENTS_FILE_MAX) {
        err = FT_ERR_IO; /* it grew while read: half a file admits no one right */
        snprintf(errbuf, errlen, "%s changed while it was read: try again", path);
        goto out;
    }
    if (len > FT_CLIENTS_FILE_MAX) {
        err = FT_ERR_USAGE;
        snprintf(errbuf, errlen, "%s: larger than %u MiB", path,
                 FT_CLIENTS_FILE_MAX >> 20);
        goto out;
    }
    err = ft_clients_parse(path, text, len, out, errbuf, errlen);
out:
    free(text);
    fclose(f);
    return err;
}

const struct ft_client_entry *ft_clients_find(const struct ft_clients *c,
                                              const uint8_t key[32])
{
    struct ft_client_entry probe;

    if (c == NULL || c->n == 0)
        return NULL;
    memcpy(probe.key, key, 32);
    return bsearch(&probe, c->entries, c->n, sizeof(*c->entries), by_key);
}

size_t ft_clients_count(const struct ft_clients *c)
{
    return c != NULL ? c->n : 0;
}

void ft_clients_rights(const struct ft_client_entry *e, struct ft_client_rights *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->name, e->name, sizeof(out->name));
    if (e->root != NULL)
        snprintf(out->root, sizeof(out->root), "%s", e->root);
    out->allow = e->allow;
    out->quota_bytes = e->quota_bytes;
    out->quota_files = e->quota_files;
    out->rate = e->rate;
}

static bool in_net(const struct ft_client_net *net, const uint8_t *addr)
{
    unsigned whole = net->prefix / 8, rest = net->prefix % 8;

    if (memcmp(net->addr, addr, whole) != 0)
        return false;
    return rest == 0 ||
           ((net->addr[whole] ^ addr[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool ft_clients_from_ok(const struct ft_client_entry *e, int family,
                        const uint8_t *addr)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (e->nfrom == 0)
        return true;
    /* A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d. */
    if (family == 6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
        family = 4;
        addr += sizeof(mapped);
    }
    for (unsigned i = 0; i < e->nfrom; i++) {
        if (e->from[i].family == family && in_net(&e->from[i], addr))
            return true;
    }
    return false;
}

bool ft_clients_expired(const struct ft_client_entry *e, int64_t now)
{
    return e->expires != 0 && now >= e->expires;
}

void ft_clients_free(struct ft_clients *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_release(&c->entries[i]);
    free(c->entries);
    free(c);
}
