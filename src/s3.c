/* s3.c - the S3 client's handle and its one request path over libcurl. */
#include "s3_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A transfer that moves no byte for this long is cut (TIMEOUT). */
#define S3_STALL_SECONDS 60L
#define S3_CONNECT_SECONDS 10L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

enum ft_err ft_s3_open(const struct ft_s3_config *cfg, struct ft_s3 **out)
{
    enum ft_err err = FT_ERR_NOMEM;
    struct ft_s3 *s = NULL;
    const char *region = cfg->region && cfg->region[0] ? cfg->region : "us-east-1";
    size_t len;

    if (!cfg->endpoint || !cfg->bucket || !cfg->access_key || !cfg->secret_key ||
        strncmp(cfg->endpoint, "http", 4) != 0 || !cfg->bucket[0] ||
        strchr(cfg->bucket, '/'))
        return FT_ERR_USAGE;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return FT_ERR_NOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->endpoint = dup_str(cfg->endpoint);
    s->bucket = dup_str(cfg->bucket);
    s->access_key = dup_str(cfg->access_key);
    s->secret_key = dup_str(cfg->secret_key);
    s->h = curl_easy_init();
    if (!s->endpoint || !s->bucket || !s->access_key || !s->secret_key || !s->h)
        goto out;
    len = strlen(s->endpoint);
    while (len > 0 && s->endpoint[len - 1] == '/')
        s->endpoint[--len] = '\0';
    /* curl's sigv4 string is split at its ':'s: a region holding one
     * would be signed for by curl as another. */
    if (snprintf(s->region, sizeof(s->region), "%s", region) >= (int)sizeof(s->region) ||
        strchr(region, ':') != NULL) {
        err = FT_ERR_USAGE;
        goto out;
    }
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
    *out = s;
    s = NULL;
    err = FT_ERR_OK;
out:
    ft_s3_close(s);
    return err;
}

void ft_s3_close(struct ft_s3 *s)
{
    if (!s)
        return;
    if (s->h)
        curl_easy_cleanup(s->h);
    free(s->endpoint);
    free(s->bucket);
    free(s->access_key);
    if (s->secret_key)
        memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->secret_key);
    free(s);
}

const char *ft_s3_error(const struct ft_s3 *s)
{
    return s->err;
}

int ft_s3_transient(enum ft_err err)
{
    return err == FT_ERR_CONNECT || err == FT_ERR_TIMEOUT || err == FT_ERR_BUSY ||
           err == FT_ERR_SERVER;
}

int ft_s3_encode(char *dst, size_t cap, const char *src, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(dst);
    const unsigned char *p;

    for (p = (const unsigned char *)src; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                    *p == '.' || *p == '~' || (keep_slash && *p == '/');
        if (len + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            dst[len++] = (char)*p;
        } else {
            dst[len++] = '%';
            dst[len++] = hex[*p >> 4];
            dst[len++] = hex[*p & 15];
        }
    }
    dst[len] = '\0';
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (timegm is not POSIX). */
static long days_from_civil(long y, long m, long d)
{
    long era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

time_t ft_s3_iso_time(const char *text)
{
    int y, mo, d, h, mi, sec;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    return (time_t)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* Keeps the headers ft reads: status line, ETag, length, date, metadata. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct ft_s3_call *c = arg;
    size_t len = size * n, vlen;
    char *colon, *v;
    struct ft_s3_head *hd = &c->head;

    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after 100 Continue): forget the last one's. */
        memset(hd, 0, sizeof(*hd));
        c->status = 0;
        v = memchr(line, ' ', len);
        if (v)
            c->status = strtol(v + 1, NULL, 10);
        return len;
    }
    colon = memchr(line, ':', len);
    if (!colon)
        return len;
    v = colon + 1;
    vlen = len - (size_t)(v - line);
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
                  strncasecmp(line, name, sizeof(name) - 1) == 0)
    if (IS("ETag") && vlen < sizeof(hd->etag)) {
        memcpy(hd->etag, v, vlen);
        hd->etag[vlen] = '\0';
    } else if (IS("Content-Length")) {
        hd->size = strtoull(v, NULL, 10);
    } else if (IS("Last-Modified") && vlen < 64) {
        char date[64];
        memcpy(date, v, vlen);
        date[vlen] = '\0';
        hd->mtime = curl_getdate(date, NULL);
    } else if ((size_t)(colon - line) > 11 && strncasecmp(line, "x-amz-meta-", 11) == 0) {
        size_t nlen = (size_t)(colon - line) - 11, i;
        if (hd->meta_len + nlen + vlen + 2 <= sizeof(hd->meta)) {
            for (i = 0; i < nlen; i++) {
                char ch = line[11 + i];
                hd->meta[hd->meta_len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
            }
            hd->meta[hd->meta_len++] = '\0';
            memcpy(hd->meta + hd->meta_len, v, vlen);
            hd->meta_len += vlen;
            hd->meta[hd->meta_len++] = '\0';
        }
    }
#undef IS
    return len;
}

const char *ft_s3_head_meta(const struct ft_s3_head *h, const char *name)
{
    size_t pos = 0;
    while (pos < h->meta_len) {
        const char *n = h->meta + pos, *v = n + strlen(n) + 1;
        if (strcmp(n, name) == 0)
            return v;
        pos = (size_t)(v - h->meta) + strlen(v) + 1;
    }
    return NULL;
}

/* Every answer's XML passes here first: an <Error> is kept for the message,
 * whatever the status (S3 may answer a multipart complete 200 and fail). */
static void on_error_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct ft_s3_call *c = arg;
    if (strcmp(parent, "Error") == 0 && strcmp(name, "Code") == 0)
        snprintf(c->code, sizeof(c->code), "%s", text);
    else if (strcmp(parent, "Error") == 0 && strcmp(name, "Message") == 0)
        snprintf(c->message, sizeof(c->message), "%s", text);
    else if (c->status / 100 == 2 && c->r->on_xml)
        c->r->on_xml(c->r->xml_arg, parent, name, text);
}

size_t ft_s3_call_body(char *data, size_t size, size_t n, void *arg)
{
    struct ft_s3_call *c = arg;
    size_t len = size * n;

    if (c->status / 100 == 2 && c->r->sink) {
        if (c->r->sink(c->r->sink_arg, data, len) != 0) {
            c->stopped = 1;
            return 0;
        }
        return len;
    }
    if (c->status / 100 != 2 || c->r->on_xml) {
        if (!c->xml)
            c->xml = ft_s3xml_new(on_error_xml, c);
        if (!c->xml || ft_s3xml_feed(c->xml, data, len, 0) != 0)
            c->bad_xml = 1;
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct ft_s3_call *c = arg;
    size_t left = c->r->body_len - c->body_pos, take = size * n < left ? size * n : left;
    memcpy(buf, (const char *)c->r->body + c->body_pos, take);
    c->body_pos += take;
    return take;
}

/* ENDPOINT/BUCKET[/KEY][?QUERY], the key encoded. */
static char *make_url(const struct ft_s3 *s, const struct ft_s3_req *r)
{
    size_t cap = strlen(s->endpoint) + strlen(s->bucket) * 3 + 4 +
                 (r->key ? strlen(r->key) * 3 : 0) + (r->query ? strlen(r->query) : 0);
    char *url = malloc(cap);
    if (!url)
        return NULL;
    snprintf(url, cap, "%s/", s->endpoint);
    ft_s3_encode(url, cap, s->bucket, 0);
    if (r->key) {
        strcat(url, "/");
        ft_s3_encode(url, cap, r->key, 1);
    }
    if (r->query) {
        strcat(url, "?");
        strcat(url, r->query);
    }
    return url;
}

static enum ft_err add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *n = curl_slist_append(*list, h);
    if (!n)
        return FT_ERR_NOMEM;
    *list = n;
    return FT_ERR_OK;
}

/* Our headers first, then the caller's. */
static enum ft_err make_headers(const struct ft_s3_req *r, struct ft_s3_call *c)
{
    char range[64];
    const struct curl_slist *e;
    enum ft_err err;

    /* curl signs this value; without it, it signs an empty body's hash. */
    err = add_header(&c->hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (!err && r->ranged) {
        if (r->range_len)
            snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
                     (unsigned long long)r->range_off,
                     (unsigned long long)(r->range_off + r->range_len - 1));
        else
            snprintf(range, sizeof(range), "Range: bytes=%llu-",
                     (unsigned long long)r->range_off);
        err = add_header(&c->hdrs, range);
    }
    for (e = r->headers; !err && e; e = e->next)
        err = add_header(&c->hdrs, e->data);
    return err;
}

enum ft_err ft_s3_call_setup(struct ft_s3 *s, CURL *h, const struct ft_s3_req *r,
                             struct ft_s3_call *c)
{
    enum ft_err err;

    memset(c, 0, sizeof(*c));
    c->s = s;
    c->r = r;
    c->url = make_url(s, r);
    if (!c->url)
        return FT_ERR_NOMEM;
    err = make_headers(r, c);
    if (!err && r->sign_here)
        err = ft_s3_sign(s, r->method, c->url, &c->hdrs, time(NULL));
    if (err)
        return err;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!r->sign_here) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ft_s3_call_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_SECONDS);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, S3_STALL_SECONDS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (r->has_body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        if (strcmp(r->method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    return FT_ERR_OK;
}

static enum ft_err status_err(long status)
{
    switch (status) {
    case 403: return FT_ERR_DENIED;
    case 404: return FT_ERR_NOT_FOUND;
    case 412: return FT_ERR_CHANGED;
    case 416: return FT_ERR_TOO_LARGE;
    case 503: return FT_ERR_BUSY;
    default: return status >= 500 ? FT_ERR_SERVER : FT_ERR_USAGE;
    }
}

static enum ft_err curl_err(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return FT_ERR_TIMEOUT;
    case CURLE_OUT_OF_MEMORY: return FT_ERR_NOMEM;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT: return FT_ERR_CONNECT;
    default: return FT_ERR_SERVER; /* the connection broke mid-answer */
    }
}

/* Maps the outcome and writes the message; frees what setup made. */
enum ft_err ft_s3_call_end(struct ft_s3_call *c, CURLcode rc, char *err, size_t errlen)
{
    enum ft_err e = FT_ERR_OK;
    const char *what = c->r->key ? c->r->key : c->s->bucket;

    if (rc == CURLE_OK && c->xml && !c->bad_xml && ft_s3xml_feed(c->xml, "", 0, 1) != 0)
        c->bad_xml = 1;
    if (c->stopped) {
        e = FT_ERR_INTERRUPTED;
        snprintf(err, errlen, "S3 %s %s: stopped by its reader", c->r->method, what);
    } else if (rc != CURLE_OK) {
        e = curl_err(rc);
        snprintf(err, errlen, "S3 %s %s: %s", c->r->method, what,
                 c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
    } else if (c->status / 100 != 2 || c->code[0]) {
        e = c->status / 100 != 2 ? status_err(c->status) : FT_ERR_SERVER;
        snprintf(err, errlen, "S3 %ld %s: %s (%s %s)", c->status,
                 c->code[0] ? c->code : "(no code)", c->message, c->r->method, what);
    } else if (c->bad_xml) {
        e = FT_ERR_PROTOCOL;
        snprintf(err, errlen, "S3 %s %s: the answer is not the XML expected",
                 c->r->method, what);
    } else if (errlen) {
        err[0] = '\0';
    }
    ft_s3xml_free(c->xml);
    c->xml = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    free(c->url);
    c->url = NULL;
    return e;
}

enum ft_err ft_s3_perform(struct ft_s3 *s, const struct ft_s3_req *r,
                          struct ft_s3_head *head)
{
    struct ft_s3_call *c = malloc(sizeof(*c));
    enum ft_err err;
    CURLcode rc = CURLE_OUT_OF_MEMORY;

    if (!c) {
        snprintf(s->err, sizeof(s->err), "S3: out of memory");
        return FT_ERR_NOMEM;
    }
    err = ft_s3_call_setup(s, s->h, r, c);
    if (!err)
        rc = curl_easy_perform(s->h);
    err = ft_s3_call_end(c, rc, s->err, sizeof(s->err));
    if (!err && head)
        *head = c->head;
    free(c);
    return err;
}
