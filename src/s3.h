/* s3.h - a small S3 client over libcurl: SigV4, path-style, streamed. */
#ifndef FT_S3_H
#define FT_S3_H

/*
 * One struct ft_s3 is one CURL easy handle (one kept-alive connection) and
 * one thread: handles are not shared between threads; open one per thread.
 * It knows buckets, keys and bytes, nothing of ft's store.
 *
 * Every call returns enum ft_err. HTTP answers map to: 404 -> NOT_FOUND,
 * 403 -> DENIED, 412 -> CHANGED, 416 -> TOO_LARGE (range past the end),
 * other 4xx -> USAGE; 503 -> BUSY, other 5xx -> SERVER; no connection ->
 * CONNECT; a stalled transfer -> TIMEOUT. CONNECT, TIMEOUT, BUSY and SERVER
 * are transient: ft_s3_transient() says so. ft_s3_error() then holds
 * "S3 <status> <Code>: <Message> (<METHOD> <key>)" from S3's error answer.
 *
 * What radosgw 16.2 (Debian 12) does, learned against it (tests/test_s3.c
 * checks what the client's answers show; the rest was seen with curl(1)
 * against scripts/radosgw.sh's engine):
 * - libcurl 7.88's CURLOPT_AWS_SIGV4 signs the hash of an empty body unless
 *   the request carries x-amz-content-sha256: every request here sends
 *   UNSIGNED-PAYLOAD, which curl then signs. Query strings are signed raw:
 *   a bare flag must be written "uploads=" and parameters sorted; ours are.
 *   curl also signs every header the caller sets, even "Expect:" set empty
 *   to suppress it, which it then does not send: radosgw answers
 *   SignatureDoesNotMatch. So uploads keep curl's Expect: 100-continue
 *   (radosgw answers 100 at once).
 * - CompleteMultipartUpload answers 200 with an empty <ETag>; a HEAD after
 *   it gives the real one ("<md5 of part md5s>-<parts>"). A 200 may still
 *   carry an <Error> body (S3's rule): ft_s3_mpu_complete checks for it.
 * - Single PUT ETags are the body's MD5 in quotes; ETags here keep S3's
 *   quotes exactly as sent, so they can go back into a part list unchanged.
 * - A part other than the last smaller than 5 MiB fails at complete
 *   (EntityTooSmall, 400 -> USAGE), not at upload.
 * - DeleteObjects (POST ?delete=) works with or without Content-MD5 on
 *   radosgw; AWS requires it, so it is always sent. Keys that do not exist
 *   are reported as deleted. At most 1000 keys per request.
 * - ListMultipartUploads lists uploads under a prefix with their Initiated
 *   time; an aborted or completed upload disappears from it at once.
 * - Listing objects v2 with max-keys pages with NextContinuationToken;
 *   with a delimiter, CommonPrefixes and keys share the max-keys budget,
 *   and radosgw sends a page's CommonPrefixes BEFORE its Contents (AWS
 *   after): ft_s3_list sorts each page, so callers see one key order.
 * - The bucket's pools are made on first use (seconds) unless they exist:
 *   the test engine makes them before radosgw starts.
 * - Metadata names are case-insensitive on the wire; ft_s3_head hands them
 *   on lower-cased. Up to 2 KiB of them per object (S3's limit).
 * - A GET paused for 80 s (ft_s3_reader, the caller not reading) went on
 *   afterwards: radosgw does not cut an idle reader that soon. Should a
 *   GET break anyway, the reader's next read at the same offset restarts it.
 * - Upload IDs look like "2~<32 chars>"; "~" is unreserved, sent as is.
 * - A single PUT from memory ran at about 240 MiB/s, a GET at about 480
 *   MiB/s, 5 MiB parts at about 100 MiB/s (one handle, one engine on 2
 *   shared cores): bigger parts, or several handles in parallel, for speed.
 */

#include "ft/error.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ft_s3;

/* S3's rules: a part is 5 MiB at least (but the last), 5 GiB at most, and
 * there are at most 10000 of them. */
#define FT_S3_PART_MIN (5ull << 20)
#define FT_S3_PART_MAX (5ull << 30)
#define FT_S3_PARTS_MAX 10000
#define FT_S3_ETAG_MAX 80
#define FT_S3_UPLOAD_ID_MAX 256
#define FT_S3_KEY_MAX 1024
#define FT_S3_META_BYTES 2048
#define FT_S3_BATCH_MAX 1000

struct ft_s3_config {
    const char *endpoint; /* http://127.0.0.1:7480: path-style requests */
    const char *region;   /* NULL: us-east-1 */
    const char *access_key;
    const char *secret_key;
    const char *bucket;
};

/* A user metadata pair: name without the x-amz-meta- prefix, lower case. */
struct ft_s3_meta {
    const char *name;
    const char *value;
};

struct ft_s3_head {
    uint64_t size;
    time_t mtime;
    char etag[FT_S3_ETAG_MAX];
    /* x-amz-meta-* pairs as "name\0value\0...": read with ft_s3_head_meta. */
    char meta[FT_S3_META_BYTES];
    size_t meta_len;
};

struct ft_s3_entry {
    const char *key; /* a key, or a common prefix when is_prefix */
    int is_prefix;
    uint64_t size;
    time_t mtime;
    const char *etag;
};

struct ft_s3_part {
    int number; /* 1..10000 */
    char etag[FT_S3_ETAG_MAX];
    uint64_t size; /* filled by ft_s3_mpu_parts; not needed to complete */
};

struct ft_s3_upload {
    const char *key;
    const char *upload_id;
    time_t initiated;
};

/* Called with each piece of a GET's body; nonzero stops the transfer and the
 * call returns FT_ERR_INTERRUPTED. */
typedef int (*ft_s3_sink)(void *arg, const void *data, size_t n);
/* Called for each listed entry; nonzero stops the listing (INTERRUPTED). */
typedef int (*ft_s3_list_cb)(void *arg, const struct ft_s3_entry *e);
/* Called with each page of a listing, its n entries in key order (valid
 * during the call); nonzero stops the listing (INTERRUPTED). */
typedef int (*ft_s3_page_cb)(void *arg, const struct ft_s3_entry *e, size_t n);
/* Called once per key of ft_s3_heads_run as its answer comes, in any
 * order: i is its index in keys, err its outcome (NOT_FOUND: no such key
 * now), h its headers when err is OK (valid during the call). Nonzero
 * stops the run (INTERRUPTED). */
typedef int (*ft_s3_head_cb)(void *arg, size_t i, enum ft_err err,
                             const struct ft_s3_head *h);
typedef int (*ft_s3_part_cb)(void *arg, const struct ft_s3_part *p);
typedef int (*ft_s3_upload_cb)(void *arg, const struct ft_s3_upload *u);

enum ft_err ft_s3_open(const struct ft_s3_config *cfg, struct ft_s3 **out);
void ft_s3_close(struct ft_s3 *s);
/* The last failure's message; "" after a success. */
const char *ft_s3_error(const struct ft_s3 *s);
/* 1 when err is worth retrying later (engine down, busy, 5xx, stalled). */
int ft_s3_transient(enum ft_err err);

/* Makes the bucket; one that this user already owns is not an error. */
enum ft_err ft_s3_bucket_create(struct ft_s3 *s);

enum ft_err ft_s3_head(struct ft_s3 *s, const char *key, struct ft_s3_head *out);
/* The value of metadata NAME (lower case) in h, or NULL. */
const char *ft_s3_head_meta(const struct ft_s3_head *h, const char *name);

/* One PUT from memory; etag (may be NULL) gets the new object's ETag. */
enum ft_err ft_s3_put(struct ft_s3 *s, const char *key, const void *data, size_t n,
                      const struct ft_s3_meta *meta, size_t nmeta,
                      char etag[FT_S3_ETAG_MAX]);
/* Streams [off, off + len) (len 0: to the end) to sink. */
enum ft_err ft_s3_get(struct ft_s3 *s, const char *key, uint64_t off, uint64_t len,
                      ft_s3_sink sink, void *arg);
enum ft_err ft_s3_delete(struct ft_s3 *s, const char *key);
/* Deletes up to FT_S3_BATCH_MAX keys in one request; a key that does not
 * exist counts as deleted. A key S3 refused fails the call, naming it. */
enum ft_err ft_s3_delete_batch(struct ft_s3 *s, const char *const *keys, size_t n);
/* Server-side copy of a whole object of up to 5 GiB, metadata included
 * (a larger one is copied part by part: ft_s3_mpu_part_copy). etag (may be
 * NULL) gets the copy's ETag, from the answer. */
enum ft_err ft_s3_copy(struct ft_s3 *s, const char *src_key, const char *dst_key,
                       char etag[FT_S3_ETAG_MAX]);

/* Lists keys under prefix (NULL: all), rolled up at delimiter (NULL: none),
 * page by page (page_keys 0: S3's 1000), in key order. */
enum ft_err ft_s3_list(struct ft_s3 *s, const char *prefix, const char *delimiter,
                       unsigned page_keys, ft_s3_list_cb cb, void *arg);
/* The same, handed on a page at a time (at most page_keys entries, or
 * 1000): for a caller that works on a page's entries together. */
enum ft_err ft_s3_list_pages(struct ft_s3 *s, const char *prefix, const char *delimiter,
                             unsigned page_keys, ft_s3_page_cb cb, void *arg);

/* HEADs of many keys at once (a listing's files, whose metadata no listing
 * carries): up to FT_S3_HEADS_MAX in flight, each on a connection of its
 * own, kept alive from one run to the next. Signed and mapped as every
 * request of s (its endpoint and keys: s must outlive the set); the set
 * is one thread's, as a handle is. */
#define FT_S3_HEADS_MAX 16
struct ft_s3_heads;
enum ft_err ft_s3_heads_open(struct ft_s3 *s, struct ft_s3_heads **out);
/* HEADs keys[0..n), each answer to cb as it comes. A HEAD that fails is
 * cb's to judge (its message: ft_s3_heads_error); the call itself fails
 * only when cb stops it (INTERRUPTED: the HEADs in flight are dropped) or
 * memory runs short. */
enum ft_err ft_s3_heads_run(struct ft_s3_heads *hs, const char *const *keys, size_t n,
                            ft_s3_head_cb cb, void *arg);
/* The last failed HEAD's message, as ft_s3_error's. */
const char *ft_s3_heads_error(const struct ft_s3_heads *hs);
void ft_s3_heads_close(struct ft_s3_heads *hs);

/* Multipart upload. Nothing is visible under key until complete succeeds. */
enum ft_err ft_s3_mpu_create(struct ft_s3 *s, const char *key,
                             const struct ft_s3_meta *meta, size_t nmeta,
                             char upload_id[FT_S3_UPLOAD_ID_MAX]);
enum ft_err ft_s3_mpu_part(struct ft_s3 *s, const char *key, const char *upload_id,
                           int number, const void *data, size_t n,
                           char etag[FT_S3_ETAG_MAX]);
/* UploadPartCopy: part number made on the engine of src_key's bytes
 * [off, off + len), len at most FT_S3_PART_MAX (and at least
 * FT_S3_PART_MIN unless it is the last part); etag gets the part's. */
enum ft_err ft_s3_mpu_part_copy(struct ft_s3 *s, const char *key, const char *upload_id,
                                int number, const char *src_key, uint64_t off, uint64_t len,
                                char etag[FT_S3_ETAG_MAX]);
/* The next piece of a copy in parts with left bytes to go: at most max,
 * and never leaving less than FT_S3_PART_MIN behind it. */
uint64_t ft_s3_copy_piece(uint64_t left, uint64_t max);
/* Copies src_key's size bytes to dst_key as a multipart upload of parts
 * copied on the engine (pieces of at most piece, between 10 MiB and 5
 * GiB), with meta; aborted on failure. etag (may be NULL) gets the copy's. */
enum ft_err ft_s3_copy_parts(struct ft_s3 *s, const char *src_key, uint64_t size,
                             const char *dst_key, const struct ft_s3_meta *meta, size_t nmeta,
                             uint64_t piece, char etag[FT_S3_ETAG_MAX]);
/* parts in ascending number order. etag (may be NULL) gets the object's
 * ETag: the answer's, or where the answer's is empty (radosgw) S3's rule
 * applied to the parts' ETags: never a HEAD's, which may be a later
 * writer's. */
enum ft_err ft_s3_mpu_complete(struct ft_s3 *s, const char *key, const char *upload_id,
                               const struct ft_s3_part *parts, size_t n,
                               char etag[FT_S3_ETAG_MAX]);
enum ft_err ft_s3_mpu_abort(struct ft_s3 *s, const char *key, const char *upload_id);
enum ft_err ft_s3_mpu_parts(struct ft_s3 *s, const char *key, const char *upload_id,
                            ft_s3_part_cb cb, void *arg);
/* Lists the unfinished uploads under prefix (NULL: all): what expiry walks. */
enum ft_err ft_s3_mpu_list(struct ft_s3 *s, const char *prefix,
                           ft_s3_upload_cb cb, void *arg);

/* A pull-style reader of one object: one GET kept open and read as asked,
 * so memory stays one curl buffer whatever the size; a read at another
 * offset than the last one ended restarts the GET there. Own connection.
 * With etag, every GET is If-Match: an object replaced since (even by one
 * of the same size) fails the read with CHANGED instead of mixing in. */
struct ft_s3_reader;
enum ft_err ft_s3_reader_open(struct ft_s3 *s, const char *key, const char *etag,
                              struct ft_s3_reader **out);
/* Reads up to n bytes at off; *got 0 at the end. Errors as ft_s3_get; the
 * message is ft_s3_reader_error's. */
enum ft_err ft_s3_reader_read_at(struct ft_s3_reader *r, void *buf, size_t n,
                                 uint64_t off, size_t *got);
const char *ft_s3_reader_error(const struct ft_s3_reader *r);
void ft_s3_reader_close(struct ft_s3_reader *r);

#endif
