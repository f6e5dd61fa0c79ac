/* s3_list.c - S3's paged listings (objects, uploads, parts) and batch delete. */
#include "s3_int.h"

#include <sodium.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one page of any listing leaves behind: one entry being read, the
 * marker of the next page, the callback's verdict. */
struct page {
    char key[FT_S3_KEY_MAX + 1];
    char id[FT_S3_UPLOAD_ID_MAX];
    char etag[FT_S3_ETAG_MAX];
    uint64_t size;
    time_t when;
    int number;
    int truncated;
    char next[FT_S3_XML_TEXT_MAX]; /* continuation token or key marker */
    char next_id[FT_S3_UPLOAD_ID_MAX];
    int stop;
    ft_s3_page_cb page_cb;
    ft_s3_part_cb part_cb;
    ft_s3_upload_cb upload_cb;
    void *arg;
    /* One page of a listing of objects, sorted before it is handed on. */
    struct ft_s3_entry *held;
    size_t nheld, capheld;
};

static void keep(char *dst, size_t cap, const char *text)
{
    snprintf(dst, cap, "%s", text);
}

/* The fields every listing shares; 1 when name was one of them. */
static int common_field(struct page *p, const char *name, const char *text)
{
    if (strcmp(name, "Key") == 0 || strcmp(name, "Prefix") == 0)
        keep(p->key, sizeof(p->key), text);
    else if (strcmp(name, "ETag") == 0)
        keep(p->etag, sizeof(p->etag), text);
    else if (strcmp(name, "Size") == 0)
        p->size = strtoull(text, NULL, 10);
    else if (strcmp(name, "LastModified") == 0 || strcmp(name, "Initiated") == 0)
        p->when = ft_s3_iso_time(text);
    else if (strcmp(name, "IsTruncated") == 0)
        p->truncated = strcmp(text, "true") == 0;
    else if (strcmp(name, "NextContinuationToken") == 0 ||
             strcmp(name, "NextPartNumberMarker") == 0 || strcmp(name, "NextKeyMarker") == 0)
        keep(p->next, sizeof(p->next), text);
    else if (strcmp(name, "NextUploadIdMarker") == 0)
        keep(p->next_id, sizeof(p->next_id), text);
    else
        return 0;
    return 1;
}

/* radosgw sends a page's CommonPrefixes before its Contents (AWS after):
 * the page is kept, then sorted, so the caller sees one key order. */
static void hold_entry(struct page *p, int is_prefix)
{
    struct ft_s3_entry *e;
    if (p->nheld == p->capheld) {
        size_t cap = p->capheld ? 2 * p->capheld : 64;
        e = realloc(p->held, cap * sizeof(*e));
        if (!e) {
            p->stop = -1;
            return;
        }
        p->held = e;
        p->capheld = cap;
    }
    e = &p->held[p->nheld];
    *e = (struct ft_s3_entry){strdup(p->key), is_prefix, p->size, p->when, strdup(p->etag)};
    if (!e->key || !e->etag) {
        free((char *)e->key);
        free((char *)e->etag);
        p->stop = -1;
        return;
    }
    p->nheld++;
}

static void drop_held(struct page *p)
{
    size_t i;
    for (i = 0; i < p->nheld; i++) {
        free((char *)p->held[i].key);
        free((char *)p->held[i].etag);
    }
    p->nheld = 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct ft_s3_entry *)a)->key, ((const struct ft_s3_entry *)b)->key);
}

static void hand_on_held(struct page *p)
{
    if (p->nheld > 1)
        qsort(p->held, p->nheld, sizeof(*p->held), by_key);
    if (!p->stop && p->nheld > 0)
        p->stop = p->page_cb(p->arg, p->held, p->nheld);
    drop_held(p);
}

static void on_list_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct page *p = arg;
    int is_prefix = strcmp(name, "CommonPrefixes") == 0;
    if (p->stop)
        return;
    if (strcmp(parent, "ListBucketResult") == 0 &&
        (is_prefix || strcmp(name, "Contents") == 0)) {
        hold_entry(p, is_prefix);
        memset(p->key, 0, sizeof(p->key));
        p->etag[0] = '\0';
        p->size = 0;
        p->when = 0;
    } else if (strcmp(name, "Prefix") != 0 || strcmp(parent, "ListBucketResult") != 0) {
        common_field(p, name, text);
    }
}

/* Appends "&name=value" (the first without "&"), value encoded. */
static int add_param(char *q, size_t cap, const char *name, const char *value)
{
    size_t len = strlen(q);
    if (snprintf(q + len, cap - len, "%s%s=", len ? "&" : "", name) >= (int)(cap - len))
        return -1;
    return ft_s3_encode(q, cap, value, 0);
}

typedef int (*query_fn)(char *q, size_t cap, const struct page *p, const void *ctx);

/* Runs r page after page until S3 says the listing is whole; the page
 * starts as the callbacks the caller set. An engine that answers "more"
 * with the marker it was just given would loop forever: refused. */
static enum ft_err all_pages(struct ft_s3 *s, struct ft_s3_req r, const struct page *start,
                             query_fn make_query, const void *ctx)
{
    size_t qcap = 3 * (FT_S3_XML_TEXT_MAX + FT_S3_UPLOAD_ID_MAX + FT_S3_KEY_MAX) + 256;
    struct page *p = malloc(sizeof(*p));
    char *q = malloc(qcap);
    char *asked = malloc(sizeof(p->next) + sizeof(p->next_id));
    enum ft_err err = FT_ERR_NOMEM;

    if (!p || !q || !asked)
        goto out;
    *p = *start;
    r.query = q;
    r.xml_arg = p;
    do {
        err = FT_ERR_USAGE;
        if (make_query(q, qcap, p, ctx) != 0)
            goto out;
        memcpy(asked, p->next, sizeof(p->next));
        memcpy(asked + sizeof(p->next), p->next_id, sizeof(p->next_id));
        p->truncated = 0;
        p->next[0] = p->next_id[0] = '\0';
        err = ft_s3_perform(s, &r, NULL);
        if (!err && p->page_cb)
            hand_on_held(p);
        drop_held(p);
        if (!err && p->stop < 0) {
            snprintf(s->err, sizeof(s->err), "S3 listing: out of memory");
            err = FT_ERR_NOMEM;
        } else if (!err && p->stop) {
            snprintf(s->err, sizeof(s->err), "S3 listing stopped by its reader");
            err = FT_ERR_INTERRUPTED;
        } else if (!err && p->truncated && (p->next[0] || p->next_id[0]) &&
                   memcmp(asked, p->next, sizeof(p->next)) == 0 &&
                   memcmp(asked + sizeof(p->next), p->next_id, sizeof(p->next_id)) == 0) {
            snprintf(s->err, sizeof(s->err),
                     "S3 listing: the engine answered more to come from where it was asked");
            err = FT_ERR_PROTOCOL;
        }
    } while (!err && p->truncated && (p->next[0] || p->next_id[0]));
out:
    if (p)
        free(p->held);
    free(asked);
    free(q);
    free(p);
    return err;
}

struct list_args {
    const char *prefix, *delimiter;
    unsigned page_keys;
};

/* continuation-token, delimiter, list-type, max-keys, prefix: sorted. */
static int list_query(char *q, size_t cap, const struct page *p, const void *ctx)
{
    const struct list_args *a = ctx;
    char max[16];
    q[0] = '\0';
    snprintf(max, sizeof(max), "%u", a->page_keys ? a->page_keys : 1000);
    return (p->next[0] && add_param(q, cap, "continuation-token", p->next)) ||
           (a->delimiter && add_param(q, cap, "delimiter", a->delimiter)) ||
           add_param(q, cap, "list-type", "2") || add_param(q, cap, "max-keys", max) ||
           (a->prefix && add_param(q, cap, "prefix", a->prefix));
}

enum ft_err ft_s3_list_pages(struct ft_s3 *s, const char *prefix, const char *delimiter,
                             unsigned page_keys, ft_s3_page_cb cb, void *arg)
{
    struct list_args a = {prefix, delimiter, page_keys};
    struct ft_s3_req r = {.method = "GET", .on_xml = on_list_xml};
    struct page start = {.page_cb = cb, .arg = arg};
    return all_pages(s, r, &start, list_query, &a);
}

/* ft_s3_list's callback, entry by entry. */
struct each {
    ft_s3_list_cb cb;
    void *arg;
};

static int each_entry(void *arg, const struct ft_s3_entry *e, size_t n)
{
    const struct each *x = arg;
    int stop = 0;
    for (size_t i = 0; i < n && !stop; i++)
        stop = x->cb(x->arg, &e[i]);
    return stop;
}

enum ft_err ft_s3_list(struct ft_s3 *s, const char *prefix, const char *delimiter,
                       unsigned page_keys, ft_s3_list_cb cb, void *arg)
{
    struct each x = {cb, arg};
    return ft_s3_list_pages(s, prefix, delimiter, page_keys, each_entry, &x);
}

static void on_parts_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct page *p = arg;
    if (!p->stop && strcmp(name, "Part") == 0) {
        struct ft_s3_part part = {.number = p->number, .size = p->size};
        keep(part.etag, sizeof(part.etag), p->etag);
        p->stop = p->part_cb(p->arg, &part);
    } else if (strcmp(parent, "Part") == 0 && strcmp(name, "PartNumber") == 0) {
        p->number = atoi(text);
    } else if (!p->stop) {
        common_field(p, name, text);
    }
}

/* part-number-marker, uploadId: sorted. */
static int parts_query(char *q, size_t cap, const struct page *p, const void *ctx)
{
    q[0] = '\0';
    return (p->next[0] && add_param(q, cap, "part-number-marker", p->next)) ||
           add_param(q, cap, "uploadId", ctx);
}

enum ft_err ft_s3_mpu_parts(struct ft_s3 *s, const char *key, const char *upload_id,
                            ft_s3_part_cb cb, void *arg)
{
    struct ft_s3_req r = {.method = "GET", .key = key, .on_xml = on_parts_xml};
    struct page start = {.part_cb = cb, .arg = arg};
    return all_pages(s, r, &start, parts_query, upload_id);
}

static void on_uploads_xml(void *arg, const char *parent, const char *name, const char *text)
{
    struct page *p = arg;
    struct ft_s3_upload u = {p->key, p->id, p->when};
    /* Only an <Upload>'s own Key counts: the answer's KeyMarker is not one. */
    if (p->stop || (strcmp(parent, "Upload") != 0 && strcmp(name, "Upload") != 0 &&
                    strncmp(name, "Next", 4) != 0 && strcmp(name, "IsTruncated") != 0))
        return;
    if (strcmp(name, "Upload") == 0)
        p->stop = p->upload_cb(p->arg, &u);
    else if (strcmp(name, "UploadId") == 0)
        keep(p->id, sizeof(p->id), text);
    else
        common_field(p, name, text);
}

/* key-marker, prefix, upload-id-marker, uploads: sorted. */
static int uploads_query(char *q, size_t cap, const struct page *p, const void *ctx)
{
    q[0] = '\0';
    return (p->next[0] && add_param(q, cap, "key-marker", p->next)) ||
           (ctx && add_param(q, cap, "prefix", ctx)) ||
           (p->next_id[0] && add_param(q, cap, "upload-id-marker", p->next_id)) ||
           add_param(q, cap, "uploads", "");
}

enum ft_err ft_s3_mpu_list(struct ft_s3 *s, const char *prefix,
                           ft_s3_upload_cb cb, void *arg)
{
    struct ft_s3_req r = {.method = "GET", .on_xml = on_uploads_xml};
    struct page start = {.upload_cb = cb, .arg = arg};
    return all_pages(s, r, &start, uploads_query, prefix);
}

static void on_nothing(void *arg, const char *parent, const char *name, const char *text)
{
    (void)arg, (void)parent, (void)name, (void)text;
}

/* Appends key to b as XML text; -1 for a byte XML 1.0 cannot carry. */
static int xml_text(char *b, size_t cap, size_t *pos, const char *key)
{
    const unsigned char *k;
    for (k = (const unsigned char *)key; *k; k++) {
        const char *esc = *k == '&' ? "&amp;" : *k == '<' ? "&lt;" : *k == '>' ? "&gt;" : NULL;
        size_t n = esc ? strlen(esc) : 1;
        if ((*k < 0x20 && *k != '\t' && *k != '\n' && *k != '\r') || *pos + n >= cap)
            return -1;
        memcpy(b + *pos, esc ? esc : (const char *)k, n);
        *pos += n;
    }
    return 0;
}

/* <Delete><Quiet>true</Quiet><Object><Key>K</Key></Object>...</Delete>. */
static char *delete_body(const char *const *keys, size_t n, size_t *len)
{
    size_t cap = 64, pos, i;
    char *b;
    for (i = 0; i < n; i++)
        cap += 32 + 5 * strlen(keys[i]);
    b = malloc(cap);
    if (!b)
        return NULL;
    pos = (size_t)snprintf(b, cap, "<Delete><Quiet>true</Quiet>");
    for (i = 0; i < n; i++) {
        pos += (size_t)snprintf(b + pos, cap - pos, "<Object><Key>");
        if (xml_text(b, cap, &pos, keys[i]) != 0) {
            free(b);
            return NULL;
        }
        pos += (size_t)snprintf(b + pos, cap - pos, "</Key></Object>");
    }
    pos += (size_t)snprintf(b + pos, cap - pos, "</Delete>");
    *len = pos;
    return b;
}

/* Content-MD5: AWS refuses a DeleteObjects without it (radosgw does not). */
static int content_md5(const char *body, size_t len, char *line, size_t cap)
{
    unsigned char md5[16];
    char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_ORIGINAL)];
    if (EVP_Digest(body, len, md5, NULL, EVP_md5(), NULL) != 1)
        return -1;
    sodium_bin2base64(b64, sizeof(b64), md5, sizeof(md5), sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, cap, "Content-MD5: %s", b64);
    return 0;
}

enum ft_err ft_s3_delete_batch(struct ft_s3 *s, const char *const *keys, size_t n)
{
    struct ft_s3_req r = {.method = "POST", .query = "delete=", .has_body = 1};
    char md5[64];
    char *body = NULL;
    enum ft_err err = FT_ERR_OK;

    if (n == 0)
        goto out;
    err = FT_ERR_USAGE;
    if (n > FT_S3_BATCH_MAX)
        goto out;
    body = delete_body(keys, n, &r.body_len);
    if (!body)
        goto out;
    err = FT_ERR_NOMEM;
    r.body = body;
    if (content_md5(body, r.body_len, md5, sizeof(md5)) != 0 ||
        !(r.headers = curl_slist_append(NULL, md5)))
        goto out;
    /* A refused key comes back as <Error> inside a 200: parsing the answer
     * finds it and the call fails. */
    r.on_xml = on_nothing;
    err = ft_s3_perform(s, &r, NULL);
out:
    if (err == FT_ERR_USAGE)
        snprintf(s->err, sizeof(s->err), "S3 delete: more than %d keys or a key XML cannot carry",
                 FT_S3_BATCH_MAX);
    curl_slist_free_all(r.headers);
    free(body);
    return err;
}
