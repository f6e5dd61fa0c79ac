/* s3_ops.c - S3's calls on one object: head, put, get, delete, copy, multipart. */
#include "s3_int.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum ft_err meta_headers(const struct ft_s3_meta *meta, size_t nmeta,
                                struct curl_slist **list)
{
    char line[FT_S3_META_BYTES + 64];
    size_t i;
    for (i = 0; i < nmeta; i++) {
        struct curl_slist *n;
        if (snprintf(line, sizeof(line), "x-amz-meta-%s: %s", meta[i].name,
                     meta[i].value) >= (int)sizeof(line))
            return FT_ERR_USAGE;
        n = curl_slist_append(*list, line);
        if (!n)
            return FT_ERR_NOMEM;
        *list = n;
    }
    return FT_ERR_OK;
}

static void copy_etag(char etag[FT_S3_ETAG_MAX], const struct ft_s3_head *h)
{
    if (etag)
        memcpy(etag, h->etag, FT_S3_ETAG_MAX);
}

enum ft_err ft_s3_bucket_create(struct ft_s3 *s)
{
    struct ft_s3_req r = {.method = "PUT", .has_body = 1};
    enum ft_err err = ft_s3_perform(s, &r, NULL);
    if (err == FT_ERR_USAGE && strstr(s->err, "BucketAlreadyOwnedByYou")) {
        s->err[0] = '\0';
        err = FT_ERR_OK;
    }
    return err;
}

enum ft_err ft_s3_head(struct ft_s3 *s, const char *key, struct ft_s3_head *out)
{
    struct ft_s3_req r = {.method = "HEAD", .key = key};
    return ft_s3_perform(s, &r, out);
}

enum ft_err ft_s3_put(struct ft_s3 *s, const char *key, const void *data, size_t n,
                      const struct ft_s3_meta *meta, size_t nmeta,
                      char etag[FT_S3_ETAG_MAX])
{
    struct ft_s3_req r = {.method = "PUT", .key = key, .body = data, .body_len = n,
                          .has_body = 1};
    struct ft_s3_head h;
    enum ft_err err = meta_headers(meta, nmeta, &r.headers);
    if (!err)
        err = ft_s3_perform(s, &r, &h);
    if (!err)
        copy_etag(etag, &h);
    curl_slist_free_all(r.headers);
    return err;
}

enum ft_err ft_s3_get(struct ft_s3 *s, const char *key, uint64_t off, uint64_t len,
                      ft_s3_sink sink, void *arg)
{
    struct ft_s3_req r = {.method = "GET", .key = key, .sink = sink, .sink_arg = arg,
                          .ranged = off > 0 || len > 0, .range_off = off,
                          .range_len = len};
    return ft_s3_perform(s, &r, NULL);
}

enum ft_err ft_s3_delete(struct ft_s3 *s, const char *key)
{
    struct ft_s3_req r = {.method = "DELETE", .key = key};
    return ft_s3_perform(s, &r, NULL);
}

/* x-amz-copy-source: /BUCKET/KEY, encoded as in a path. */
static enum ft_err copy_source(const struct ft_s3 *s, const char *src_key,
                               struct curl_slist **list)
{
    size_t cap = 32 + 3 * (strlen(s->bucket) + strlen(src_key));
    char *line = malloc(cap);
    struct curl_slist *n = NULL;
    if (!line)
        return FT_ERR_NOMEM;
    snprintf(line, cap, "x-amz-copy-source: /");
    ft_s3_encode(line, cap, s->bucket, 0);
    strcat(line, "/");
    ft_s3_encode(line, cap, src_key, 1);
    n = curl_slist_append(*list, line);
    free(line);
    if (!n)
        return FT_ERR_NOMEM;
    *list = n;
    return FT_ERR_OK;
}

/* Copy answers carry <ETag> in their body, not in a header; radosgw's is
 * bare, quoted here as every other ETag is (HEAD's, listings'). */
struct etag_xml {
    char *etag;
};

static void on_copy_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct etag_xml *x = arg;
    (void)parent;
    if (x->etag && strcmp(name, "ETag") == 0)
        snprintf(x->etag, FT_S3_ETAG_MAX, text[0] == '"' || text[0] == '\0' ? "%s" : "\"%s\"",
                 text);
}

enum ft_err ft_s3_copy(struct ft_s3 *s, const char *src_key, const char *dst_key,
                       char etag[FT_S3_ETAG_MAX])
{
    struct etag_xml x = {etag};
    struct ft_s3_req r = {.method = "PUT", .key = dst_key, .has_body = 1,
                          .on_xml = on_copy_xml, .xml_arg = &x};
    enum ft_err err = copy_source(s, src_key, &r.headers);
    if (etag)
        etag[0] = '\0';
    if (!err)
        err = ft_s3_perform(s, &r, NULL);
    curl_slist_free_all(r.headers);
    return err;
}

/* uploadId=ID (and partNumber=N first: the query is signed as written, so
 * its parameters go in sorted order). */
static enum ft_err upload_query(char *q, size_t cap, int number, const char *upload_id)
{
    if (number > 0)
        snprintf(q, cap, "partNumber=%d&uploadId=", number);
    else
        snprintf(q, cap, "uploadId=");
    return ft_s3_encode(q, cap, upload_id, 0) == 0 ? FT_ERR_OK : FT_ERR_USAGE;
}

struct create_xml {
    char *id;
    int got;
};

static void on_create_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct create_xml *x = arg;
    if (strcmp(parent, "InitiateMultipartUploadResult") == 0 &&
        strcmp(name, "UploadId") == 0 && strlen(text) < FT_S3_UPLOAD_ID_MAX) {
        strcpy(x->id, text);
        x->got = 1;
    }
}

enum ft_err ft_s3_mpu_create(struct ft_s3 *s, const char *key,
                             const struct ft_s3_meta *meta, size_t nmeta,
                             char upload_id[FT_S3_UPLOAD_ID_MAX])
{
    struct create_xml x = {upload_id, 0};
    struct ft_s3_req r = {.method = "POST", .key = key, .query = "uploads=",
                          .has_body = 1, .on_xml = on_create_xml, .xml_arg = &x};
    enum ft_err err = meta_headers(meta, nmeta, &r.headers);
    if (!err)
        err = ft_s3_perform(s, &r, NULL);
    if (!err && !x.got) {
        snprintf(s->err, sizeof(s->err), "S3 POST %s?uploads: no UploadId", key);
        err = FT_ERR_PROTOCOL;
    }
    curl_slist_free_all(r.headers);
    return err;
}

enum ft_err ft_s3_mpu_part(struct ft_s3 *s, const char *key, const char *upload_id,
                           int number, const void *data, size_t n,
                           char etag[FT_S3_ETAG_MAX])
{
    char q[FT_S3_UPLOAD_ID_MAX * 3 + 64];
    struct ft_s3_req r = {.method = "PUT", .key = key, .query = q, .body = data,
                          .body_len = n, .has_body = 1};
    struct ft_s3_head h;
    enum ft_err err;

    if (number < 1 || number > FT_S3_PARTS_MAX || upload_query(q, sizeof(q), number, upload_id))
        return FT_ERR_USAGE;
    err = ft_s3_perform(s, &r, &h);
    if (!err)
        copy_etag(etag, &h);
    return err;
}

enum ft_err ft_s3_mpu_part_copy(struct ft_s3 *s, const char *key, const char *upload_id,
                                int number, const char *src_key, uint64_t off, uint64_t len,
                                char etag[FT_S3_ETAG_MAX])
{
    char q[FT_S3_UPLOAD_ID_MAX * 3 + 64], range[80];
    struct etag_xml x = {etag};
    /* Two header names, one the start of the other: signed by ft (s3_sign.c). */
    struct ft_s3_req r = {.method = "PUT", .key = key, .query = q, .has_body = 1,
                          .on_xml = on_copy_xml, .xml_arg = &x, .sign_here = 1};
    struct curl_slist *l;
    enum ft_err err;

    if (number < 1 || number > FT_S3_PARTS_MAX || len == 0 || len > FT_S3_PART_MAX ||
        upload_query(q, sizeof(q), number, upload_id))
        return FT_ERR_USAGE;
    etag[0] = '\0';
    err = copy_source(s, src_key, &r.headers);
    snprintf(range, sizeof(range), "x-amz-copy-source-range: bytes=%llu-%llu",
             (unsigned long long)off, (unsigned long long)(off + len - 1));
    if (!err && (l = curl_slist_append(r.headers, range)) == NULL)
        err = FT_ERR_NOMEM;
    else if (!err)
        r.headers = l;
    if (!err)
        err = ft_s3_perform(s, &r, NULL);
    if (!err && etag[0] == '\0') {
        snprintf(s->err, sizeof(s->err), "S3 PUT %s (part %d copied): no ETag", key, number);
        err = FT_ERR_PROTOCOL;
    }
    curl_slist_free_all(r.headers);
    return err;
}

uint64_t ft_s3_copy_piece(uint64_t left, uint64_t max)
{
    uint64_t len = left < max ? left : max;

    /* A part under S3's smallest may only be the last: leave it a whole one. */
    if (left - len > 0 && left - len < FT_S3_PART_MIN)
        len = left - FT_S3_PART_MIN;
    return len;
}

/* <CompleteMultipartUpload><Part><PartNumber>N</PartNumber><ETag>E</ETag>
 * </Part>...: an ETag's quotes stand in XML text as they are. NULL when an
 * ETag holds markup (no S3 ETag does) or memory is short. */
static char *complete_body(const struct ft_s3_part *parts, size_t n, size_t *len)
{
    size_t cap = 64 + n * (64 + FT_S3_ETAG_MAX), pos, i;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    pos = (size_t)snprintf(b, cap, "<CompleteMultipartUpload>");
    for (i = 0; i < n; i++) {
        if (!memchr(parts[i].etag, '\0', FT_S3_ETAG_MAX) || strpbrk(parts[i].etag, "<&")) {
            free(b);
            return NULL;
        }
        pos += (size_t)snprintf(b + pos, cap - pos,
                                "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
                                parts[i].number, parts[i].etag);
    }
    pos += (size_t)snprintf(b + pos, cap - pos, "</CompleteMultipartUpload>");
    *len = pos;
    return b;
}

/* S3's ETag of a completed multipart upload: the MD5 of the parts' binary
 * MD5s one after another, in hex, then "-<parts>", in quotes. */
static enum ft_err mpu_etag(const struct ft_s3_part *parts, size_t n,
                            char etag[FT_S3_ETAG_MAX])
{
    unsigned char md5[16], all[16];
    char hex[33];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    enum ft_err err = c && EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1 ? FT_ERR_OK
                                                                       : FT_ERR_NOMEM;

    for (size_t i = 0; !err && i < n; i++) {
        const char *e = parts[i].etag + (parts[i].etag[0] == '"');

        if (strlen(e) < 32 || sodium_hex2bin(md5, sizeof(md5), e, 32, NULL, NULL, NULL) != 0)
            err = FT_ERR_PROTOCOL; /* not an MD5: no ETag to compute */
        else if (EVP_DigestUpdate(c, md5, sizeof(md5)) != 1)
            err = FT_ERR_NOMEM;
    }
    if (!err && EVP_DigestFinal_ex(c, all, NULL) != 1)
        err = FT_ERR_NOMEM;
    if (!err) {
        sodium_bin2hex(hex, sizeof(hex), all, sizeof(all));
        snprintf(etag, FT_S3_ETAG_MAX, "\"%s-%zu\"", hex, n);
    }
    EVP_MD_CTX_free(c);
    return err;
}

enum ft_err ft_s3_mpu_complete(struct ft_s3 *s, const char *key, const char *upload_id,
                               const struct ft_s3_part *parts, size_t n,
                               char etag[FT_S3_ETAG_MAX])
{
    char q[FT_S3_UPLOAD_ID_MAX * 3 + 64];
    struct ft_s3_req r = {.method = "POST", .key = key, .query = q, .has_body = 1};
    char *body = NULL;
    enum ft_err err = FT_ERR_USAGE;

    if (n == 0 || n > FT_S3_PARTS_MAX || upload_query(q, sizeof(q), 0, upload_id))
        goto out;
    err = FT_ERR_NOMEM;
    body = complete_body(parts, n, &r.body_len);
    if (!body)
        goto out;
    r.body = body;
    /* An <Error> in a 200 answer fails the call (ft_s3_call_end). */
    r.on_xml = on_copy_xml;
    r.xml_arg = &(struct etag_xml){etag};
    if (etag)
        etag[0] = '\0';
    err = ft_s3_perform(s, &r, NULL);
    /* radosgw answers an empty <ETag>: the one S3 computes, computed here
     * (a HEAD afterwards may already see another writer's object). */
    if (!err && etag && etag[0] == '\0')
        err = mpu_etag(parts, n, etag);
out:
    free(body);
    return err;
}

enum ft_err ft_s3_mpu_abort(struct ft_s3 *s, const char *key, const char *upload_id)
{
    char q[FT_S3_UPLOAD_ID_MAX * 3 + 64];
    struct ft_s3_req r = {.method = "DELETE", .key = key, .query = q};
    if (upload_query(q, sizeof(q), 0, upload_id))
        return FT_ERR_USAGE;
    return ft_s3_perform(s, &r, NULL);
}

enum ft_err ft_s3_copy_parts(struct ft_s3 *s, const char *src_key, uint64_t size,
                             const char *dst_key, const struct ft_s3_meta *meta, size_t nmeta,
                             uint64_t piece, char etag[FT_S3_ETAG_MAX])
{
    size_t n = (size_t)((size + FT_S3_PART_MIN - 1) / FT_S3_PART_MIN);
    struct ft_s3_part *parts = NULL;
    char id[FT_S3_UPLOAD_ID_MAX];
    enum ft_err err = FT_ERR_USAGE;
    size_t np = 0;

    if (size == 0 || piece < 2 * FT_S3_PART_MIN || piece > FT_S3_PART_MAX ||
        size / piece >= FT_S3_PARTS_MAX)
        return err;
    if (n > FT_S3_PARTS_MAX)
        n = FT_S3_PARTS_MAX;
    parts = calloc(n, sizeof(*parts));
    if (parts == NULL)
        return FT_ERR_NOMEM;
    err = ft_s3_mpu_create(s, dst_key, meta, nmeta, id);
    if (err)
        goto out;
    for (uint64_t off = 0, len; !err && off < size; off += len, np++) {
        if (np == n) {
            err = FT_ERR_TOO_LARGE;
            break;
        }
        len = ft_s3_copy_piece(size - off, piece);
        parts[np].number = (int)np + 1;
        err = ft_s3_mpu_part_copy(s, dst_key, id, parts[np].number, src_key, off, len,
                                  parts[np].etag);
    }
    if (!err)
        err = ft_s3_mpu_complete(s, dst_key, id, parts, np, etag);
    if (err)
        ft_s3_mpu_abort(s, dst_key, id);
out:
    free(parts);
    return err;
}
