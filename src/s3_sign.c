/* s3_sign.c - AWS Signature Version 4 for the requests curl 7.88 signs wrong.
 *
 * curl signs every other request (CURLOPT_AWS_SIGV4). 7.88 sorts the
 * headers it signs as whole "name:value" lines, so of two names where one
 * starts the other the longer comes first (x-amz-copy-source-range before
 * x-amz-copy-source: '-' sorts before ':'), S3 sorts by name, and the
 * signatures differ. UploadPartCopy of a range needs both headers: it is
 * signed here, by AWS's published algorithm (names sorted, then values). */
#include "s3_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIGN_HEADERS_MAX 16

struct sign_header {
    const char *name, *value;
    size_t name_len, value_len;
};

/* By name, case aside; a name that starts another comes first. */
static int by_name(const void *a, const void *b)
{
    const struct sign_header *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = strncasecmp(x->name, y->name, n);

    if (c != 0)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static void put_str(crypto_hash_sha256_state *h, const char *s, size_t n)
{
    crypto_hash_sha256_update(h, (const unsigned char *)s, n);
}

static void put_lower(crypto_hash_sha256_state *h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        put_str(h, &ch, 1);
    }
}

/* "Name: value" lines into name and trimmed value; the host from the URL
 * first (curl sends it as the URL has it, less a default port). */
static enum ft_err split_headers(const char *authority, size_t authority_len,
                                 const struct curl_slist *hdrs,
                                 struct sign_header *out, size_t *n)
{
    *n = 0;
    out[(*n)++] = (struct sign_header){ "host", authority, 4, authority_len };
    for (const struct curl_slist *e = hdrs; e != NULL; e = e->next) {
        const char *colon = strchr(e->data, ':'), *v, *end;

        if (colon == NULL || *n == SIGN_HEADERS_MAX)
            return FT_ERR_USAGE;
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
            ;
        out[(*n)++] = (struct sign_header){ e->data, v, (size_t)(colon - e->data),
                                            (size_t)(end - v) };
    }
    qsort(out, *n, sizeof(*out), by_name);
    return FT_ERR_OK;
}

static const struct sign_header *find(const struct sign_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == strlen(name) && strncasecmp(h[i].name, name, h[i].name_len) == 0)
            return &h[i];
    return NULL;
}

static void hmac(unsigned char out[32], const unsigned char *key, size_t key_len,
                 const char *msg)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st)); /* keyed by the secret */
}

/* The URL's authority (less a default port), path and query. */
static enum ft_err split_url(const char *url, const char **auth, size_t *auth_len,
                             const char **path, size_t *path_len, const char **query)
{
    const char *a = strstr(url, "://"), *p, *q;

    if (a == NULL)
        return FT_ERR_USAGE;
    a += 3;
    p = a + strcspn(a, "/?");
    q = strchr(p, '?');
    *auth = a;
    *auth_len = (size_t)(p - a);
    if ((strncmp(url, "http:", 5) == 0 && *auth_len > 3 && strncmp(p - 3, ":80", 3) == 0))
        *auth_len -= 3;
    else if (strncmp(url, "https:", 6) == 0 && *auth_len > 4 && strncmp(p - 4, ":443", 4) == 0)
        *auth_len -= 4;
    *path = p;
    *path_len = q != NULL ? (size_t)(q - p) : strlen(p);
    *query = q != NULL ? q + 1 : "";
    return FT_ERR_OK;
}

/* The hex SHA-256 of the canonical request; names gets the signed
 * headers' names, lowercase, joined by ';'. */
static enum ft_err canonical_hash(const char *method, const char *path, size_t path_len,
                                  const char *query, const struct sign_header *h, size_t n,
                                  char *names, size_t names_cap, char hex[65])
{
    const struct sign_header *payload = find(h, n, "x-amz-content-sha256");
    unsigned char digest[32];
    crypto_hash_sha256_state st;
    size_t at = 0;

    if (payload == NULL)
        return FT_ERR_USAGE; /* UNSIGNED-PAYLOAD, as every request says */
    crypto_hash_sha256_init(&st);
    put_str(&st, method, strlen(method));
    put_str(&st, "\n", 1);
    put_str(&st, path_len > 0 ? path : "/", path_len > 0 ? path_len : 1);
    put_str(&st, "\n", 1);
    put_str(&st, query, strlen(query));
    put_str(&st, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        put_lower(&st, h[i].name, h[i].name_len);
        put_str(&st, ":", 1);
        put_str(&st, h[i].value, h[i].value_len);
        put_str(&st, "\n", 1);
        if (at + h[i].name_len + 2 > names_cap)
            return FT_ERR_USAGE;
        if (i > 0)
            names[at++] = ';';
        for (size_t j = 0; j < h[i].name_len; j++) {
            char ch = h[i].name[j];
            names[at++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        names[at] = '\0';
    }
    put_str(&st, "\n", 1);
    put_str(&st, names, at);
    put_str(&st, "\n", 1);
    put_str(&st, payload->value, payload->value_len);
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof(digest));
    return FT_OK;
}

/* HMAC of the string to sign under the key derived from the secret, the
 * day, the region, the service and "aws4_request", in hex. */
static enum ft_err signature(const char *secret_key, const char *day, const char *region,
                             const char *to_sign, char hex[65])
{
    unsigned char key[32], secret[4 + 128 + 1];

    if (snprintf((char *)secret, sizeof(secret), "AWS4%s", secret_key) >= (int)sizeof(secret))
        return FT_ERR_USAGE;
    hmac(key, secret, strlen((char *)secret), day);
    hmac(key, key, sizeof(key), region);
    hmac(key, key, sizeof(key), "s3");
    hmac(key, key, sizeof(key), "aws4_request");
    hmac(key, key, sizeof(key), to_sign);
    sodium_bin2hex(hex, 65, key, sizeof(key));
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(key, sizeof(key));
    return FT_OK;
}

static enum ft_err append(struct curl_slist **hdrs, const char *line)
{
    struct curl_slist *l = curl_slist_append(*hdrs, line);

    if (l == NULL)
        return FT_ERR_NOMEM;
    *hdrs = l;
    return FT_OK;
}

enum ft_err ft_s3_sign(const struct ft_s3 *s, const char *method, const char *url,
                       struct curl_slist **hdrs, time_t now)
{
    struct sign_header h[SIGN_HEADERS_MAX];
    const char *auth, *path, *query;
    size_t auth_len, path_len, n = 0;
    char amz_date[17], day[9], scope[128], line[64], hex[65], to_sign[256];
    char names[256], authz[640];
    struct tm tm;
    enum ft_err err = split_url(url, &auth, &auth_len, &path, &path_len, &query);

    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(day, sizeof(day), "%.8s", amz_date);
    snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", day, s->region);
    snprintf(line, sizeof(line), "x-amz-date: %s", amz_date);
    if (err == FT_OK)
        err = append(hdrs, line);
    if (err == FT_OK)
        err = split_headers(auth, auth_len, *hdrs, h, &n);
    if (err == FT_OK)
        err = canonical_hash(method, path, path_len, query, h, n, names, sizeof(names), hex);
    if (err == FT_OK) {
        snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope,
                 hex);
        err = signature(s->secret_key, day, s->region, to_sign, hex);
    }
    if (err == FT_OK &&
        snprintf(authz, sizeof(authz),
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,"
                 "Signature=%s", s->access_key, scope, names, hex) >= (int)sizeof(authz))
        err = FT_ERR_USAGE;
    if (err == FT_OK)
        err = append(hdrs, authz);
    return err;
}
