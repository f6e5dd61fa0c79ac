/* s3_int.h - what the S3 client's files share: the handle, one request, the XML reader. */
#ifndef FT_S3_INT_H
#define FT_S3_INT_H

#include "s3.h"

#include <curl/curl.h>
#include <time.h>

#define FT_S3_XML_TEXT_MAX 4096

/* Called at the end of every element: parent's name, its own, its text
 * (the text of a leaf; "" or whitespace for a container). */
typedef void (*ft_s3xml_end)(void *arg, const char *parent, const char *name,
                             const char *text);
struct ft_s3xml;
struct ft_s3xml *ft_s3xml_new(ft_s3xml_end cb, void *arg);
/* Feeds n more bytes (last: the answer is whole); -1 when it is not XML,
 * nests too deep or holds a text longer than FT_S3_XML_TEXT_MAX. */
int ft_s3xml_feed(struct ft_s3xml *x, const void *data, size_t n, int last);
void ft_s3xml_free(struct ft_s3xml *x);

struct ft_s3 {
    CURL *h;
    char *endpoint; /* without a trailing slash */
    char *bucket;
    char *access_key;
    char *secret_key;
    char region[64];
    char sigv4[96]; /* "aws:amz:REGION:s3", for curl */
    char err[512];
};

/* One request: what to send, and where its answer goes. */
struct ft_s3_req {
    const char *method;
    const char *key;   /* NULL: the bucket itself */
    const char *query; /* encoded, parameters sorted; NULL: none */
    const void *body;  /* sent when has_body (a POST or PUT) */
    size_t body_len;
    int has_body;
    struct curl_slist *headers; /* extra headers; the caller's */
    int ranged;
    uint64_t range_off, range_len; /* range_len 0: to the end */
    ft_s3_sink sink;               /* a 2xx body, raw */
    void *sink_arg;
    ft_s3xml_end on_xml; /* a 2xx body, as XML */
    void *xml_arg;
    int sign_here; /* signed by ft_s3_sign, not curl (see s3_sign.c) */
};

/* One request in flight: its easy handle's options point into it. */
struct ft_s3_call {
    struct ft_s3 *s;
    const struct ft_s3_req *r;
    char *url;
    struct curl_slist *hdrs;
    size_t body_pos;
    long status;
    struct ft_s3xml *xml; /* made at the first body byte */
    int stopped;          /* the sink said stop */
    int bad_xml;
    char code[64];     /* S3's <Error><Code> */
    char message[256]; /* and <Message> */
    struct ft_s3_head head; /* the answer's headers */
    char curl_err[CURL_ERROR_SIZE];
};

/* Sets h up for r (h reset first; the connection stays); c must live until
 * the transfer ends, then ft_s3_call_end maps its outcome and frees it. */
enum ft_err ft_s3_call_setup(struct ft_s3 *s, CURL *h, const struct ft_s3_req *r,
                             struct ft_s3_call *c);
enum ft_err ft_s3_call_end(struct ft_s3_call *c, CURLcode rc, char *err, size_t errlen);
/* The write function setup installs: a 2xx body to the sink or the XML
 * reader, any other to the error reader. */
size_t ft_s3_call_body(char *data, size_t size, size_t n, void *arg);
/* setup, perform, end on the handle's own connection. */
enum ft_err ft_s3_perform(struct ft_s3 *s, const struct ft_s3_req *r,
                          struct ft_s3_head *head);

/* Appends x-amz-date and Authorization (AWS Signature Version 4 at now)
 * to hdrs, the request's "Name: value" lines, which must hold
 * x-amz-content-sha256; url as make_url builds it (query sorted). */
enum ft_err ft_s3_sign(const struct ft_s3 *s, const char *method, const char *url,
                       struct curl_slist **hdrs, time_t now);

/* Appends src to dst (capacity cap) percent-encoded as S3 wants: keep_slash
 * for a key in a path, not for a query value. -1 when it does not fit. */
int ft_s3_encode(char *dst, size_t cap, const char *src, int keep_slash);
/* 2026-12-07T04:10:37.403Z -> seconds since the epoch; 0 when unreadable. */
time_t ft_s3_iso_time(const char *text);

#endif
