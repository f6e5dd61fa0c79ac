/* test_s3.c - the S3 client (src/s3*.c) against a real radosgw: round trips
 * with metadata, ranges and the pull reader, multipart (parts sent and
 * parts copied), listings, batch delete, copy and errors. Skipped (77) when FT_S3_ENDPOINT is unset:
 * scripts/test.sh starts the engine (scripts/radosgw.sh) and sets it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"

#define MIB (1024 * 1024)

static struct ft_s3_config cfg;
static char prefix[64]; /* this run's keys: the bucket may be shared */
static char keybuf[8][FT_S3_KEY_MAX];

static const char *key(int slot, const char *name)
{
    snprintf(keybuf[slot], sizeof(keybuf[slot]), "%s%s", prefix, name);
    return keybuf[slot];
}

static struct ft_s3 *open_s3(void)
{
    struct ft_s3 *s = NULL;
    assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_OK);
    return s;
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    size_t i;
    assert_non_null(p);
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

/* A sink that gathers a GET's body into a bounded buffer. */
struct gather {
    unsigned char *p;
    size_t len, cap;
};

static int gather(void *arg, const void *data, size_t n)
{
    struct gather *g = arg;
    if (n > g->cap - g->len)
        return 1;
    memcpy(g->p + g->len, data, n);
    g->len += n;
    return 0;
}

static void assert_object(struct ft_s3 *s, const char *k, const void *want, size_t n)
{
    struct gather g = {malloc(n + 1), 0, n + 1};
    assert_non_null(g.p);
    assert_int_equal(ft_s3_get(s, k, 0, 0, gather, &g), FT_ERR_OK);
    assert_int_equal(g.len, n);
    assert_memory_equal(g.p, want, n);
    free(g.p);
}

static void test_put_get_head(void **state)
{
    static const char body[] = "hello, radosgw";
    const struct ft_s3_meta meta[] = {{"digest", "0123abcd"}, {"mode", "644"}};
    struct ft_s3 *s = open_s3();
    struct ft_s3_head h;
    struct ft_s3_reader *r = NULL;
    char etag[FT_S3_ETAG_MAX];
    size_t got;
    time_t now = time(NULL);
    /* Spaces, a plus, an ampersand, UTF-8: each must be encoded and signed. */
    const char *k = key(0, "dir/a b+c&d \xc3\xa9.txt");
    (void)state;

    assert_int_equal(ft_s3_put(s, k, body, sizeof(body) - 1, meta, 2, etag), FT_ERR_OK);
    /* The ETag of a single PUT is the body's MD5, quoted:
     * printf 'hello, radosgw' | md5sum */
    assert_string_equal(etag, "\"a65da92d6b43c734ee5e11f8a3c4ec31\"");
    assert_int_equal(ft_s3_head(s, k, &h), FT_ERR_OK);
    assert_int_equal(h.size, sizeof(body) - 1);
    assert_string_equal(h.etag, etag);
    assert_string_equal(ft_s3_head_meta(&h, "digest"), "0123abcd");
    assert_string_equal(ft_s3_head_meta(&h, "mode"), "644");
    assert_null(ft_s3_head_meta(&h, "none"));
    assert_true(h.mtime > now - 600 && h.mtime < now + 600);
    assert_object(s, k, body, sizeof(body) - 1);
    assert_string_equal(ft_s3_error(s), "");
    assert_int_equal(ft_s3_delete(s, k), FT_ERR_OK);
    assert_int_equal(ft_s3_head(s, k, &h), FT_ERR_NOT_FOUND);

    /* An empty object: no buffer at all. */
    assert_int_equal(ft_s3_put(s, k, NULL, 0, NULL, 0, etag), FT_ERR_OK);
    assert_string_equal(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    assert_int_equal(ft_s3_head(s, k, &h), FT_ERR_OK);
    assert_int_equal(h.size, 0);
    assert_object(s, k, "", 0);
    assert_int_equal(ft_s3_reader_open(s, k, NULL, &r), FT_ERR_OK);
    assert_int_equal(ft_s3_reader_read_at(r, etag, 10, 0, &got), FT_ERR_OK);
    assert_int_equal(got, 0);
    ft_s3_reader_close(r);
    assert_int_equal(ft_s3_delete(s, k), FT_ERR_OK);
    ft_s3_close(s);
}

static void test_ranges_and_reader(void **state)
{
    const size_t n = 3 * MIB + 123;
    unsigned char *data = random_bytes(n, 1), *buf = malloc(n);
    struct ft_s3 *s = open_s3();
    struct ft_s3_reader *r = NULL;
    struct gather g = {buf, 0, n};
    size_t got, total;
    const char *k = key(0, "ranged");
    (void)state;

    assert_non_null(buf);
    assert_int_equal(ft_s3_put(s, k, data, n, NULL, 0, NULL), FT_ERR_OK);
    assert_int_equal(ft_s3_get(s, k, 1000, 5000, gather, &g), FT_ERR_OK);
    assert_int_equal(g.len, 5000);
    assert_memory_equal(buf, data + 1000, 5000);

    assert_int_equal(ft_s3_reader_open(s, k, NULL, &r), FT_ERR_OK);
    /* Small reads in sequence: one GET, paused and resumed. */
    for (total = 0; total < 300000; total += got) {
        assert_int_equal(ft_s3_reader_read_at(r, buf, 777, total, &got), FT_ERR_OK);
        assert_true(got > 0 && got <= 777);
        assert_memory_equal(buf, data + total, got);
    }
    /* A jump forward, then back: the GET restarts at each. */
    assert_int_equal(ft_s3_reader_read_at(r, buf, 4096, 2 * MIB, &got), FT_ERR_OK);
    assert_true(got > 0);
    assert_memory_equal(buf, data + 2 * MIB, got);
    for (total = 10; total < n; total += got) {
        assert_int_equal(ft_s3_reader_read_at(r, buf + total, n - total, total, &got),
                         FT_ERR_OK);
        assert_true(got > 0);
    }
    assert_memory_equal(buf + 10, data + 10, n - 10);
    assert_int_equal(ft_s3_reader_read_at(r, buf, 10, n, &got), FT_ERR_OK);
    assert_int_equal(got, 0);
    ft_s3_reader_close(r);

    r = NULL;
    assert_int_equal(ft_s3_reader_open(s, key(1, "missing"), NULL, &r), FT_ERR_OK);
    assert_int_equal(ft_s3_reader_read_at(r, buf, 10, 0, &got), FT_ERR_NOT_FOUND);
    assert_non_null(strstr(ft_s3_reader_error(r), "NoSuchKey"));
    /* A failed GET is tried again by the next read (as after radosgw cut a
     * GET paused past its idle timeout). */
    assert_int_equal(ft_s3_put(s, key(1, "missing"), data, 100, NULL, 0, NULL), FT_ERR_OK);
    assert_int_equal(ft_s3_reader_read_at(r, buf, 1000, 0, &got), FT_ERR_OK);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, data, 100);
    ft_s3_reader_close(r);
    assert_int_equal(ft_s3_delete(s, key(1, "missing")), FT_ERR_OK);
    assert_int_equal(ft_s3_delete(s, k), FT_ERR_OK);
    ft_s3_close(s);
    free(data);
    free(buf);
}

struct uploads {
    const char *key;
    char id[FT_S3_UPLOAD_ID_MAX];
    int seen;
};

static int find_upload(void *arg, const struct ft_s3_upload *u)
{
    struct uploads *x = arg;
    if (strcmp(u->key, x->key) == 0 && strcmp(u->upload_id, x->id) == 0) {
        x->seen++;
        assert_true(u->initiated > time(NULL) - 600);
    }
    return 0;
}

struct parts {
    struct ft_s3_part p[4];
    int n;
};

static int gather_part(void *arg, const struct ft_s3_part *p)
{
    struct parts *x = arg;
    assert_true(x->n < 4);
    x->p[x->n++] = *p;
    return 0;
}

static void test_multipart(void **state)
{
    const size_t sizes[3] = {5 * MIB, 5 * MIB, MIB + 7}, n = 11 * MIB + 7;
    const struct ft_s3_meta meta[] = {{"digest", "feed"}};
    unsigned char *data = random_bytes(n, 2);
    struct ft_s3 *s = open_s3();
    struct ft_s3_part parts[3];
    struct parts listed = {.n = 0};
    struct ft_s3_head h;
    struct uploads u = {.key = key(0, "big")};
    char etag[FT_S3_ETAG_MAX];
    size_t off = 0;
    int i;
    (void)state;

    assert_int_equal(ft_s3_mpu_create(s, u.key, meta, 1, u.id), FT_ERR_OK);
    for (i = 0; i < 3; i++) {
        parts[i].number = i + 1;
        assert_int_equal(ft_s3_mpu_part(s, u.key, u.id, i + 1, data + off, sizes[i],
                                        parts[i].etag), FT_ERR_OK);
        off += sizes[i];
    }
    /* Nothing is visible before complete. */
    assert_int_equal(ft_s3_head(s, u.key, &h), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_s3_mpu_parts(s, u.key, u.id, gather_part, &listed), FT_ERR_OK);
    assert_int_equal(listed.n, 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(listed.p[i].number, i + 1);
        assert_int_equal(listed.p[i].size, sizes[i]);
        assert_string_equal(listed.p[i].etag, parts[i].etag);
    }
    assert_int_equal(ft_s3_mpu_list(s, prefix, find_upload, &u), FT_ERR_OK);
    assert_int_equal(u.seen, 1);

    assert_int_equal(ft_s3_mpu_complete(s, u.key, u.id, parts, 3, etag), FT_ERR_OK);
    assert_int_equal(ft_s3_head(s, u.key, &h), FT_ERR_OK);
    assert_int_equal(h.size, n);
    assert_string_equal(ft_s3_head_meta(&h, "digest"), "feed");
    /* The multipart ETag: "<hex>-3", and complete knows it without a HEAD. */
    assert_non_null(strstr(h.etag, "-3\""));
    assert_string_equal(etag, h.etag);
    assert_object(s, u.key, data, n);
    u.seen = 0;
    assert_int_equal(ft_s3_mpu_list(s, prefix, find_upload, &u), FT_ERR_OK);
    assert_int_equal(u.seen, 0);
    assert_int_equal(ft_s3_delete(s, u.key), FT_ERR_OK);
    ft_s3_close(s);
    free(data);
}

/* Parts made on the engine of another object's ranges (UploadPartCopy,
 * signed by ft: s3_sign.c), beside a part sent: the object is the ranges
 * in order, and complete computes its ETag from the copies' ETags. */
static void test_part_copy(void **state)
{
    const size_t n = 12 * MIB;
    unsigned char *data = random_bytes(n, 5);
    struct ft_s3 *s = open_s3();
    struct ft_s3_part parts[3] = {{.number = 1}, {.number = 2}, {.number = 3}};
    struct ft_s3_head h;
    const char *src = key(0, "part copy src"), *dst = key(1, "part copy/dst");
    char id[FT_S3_UPLOAD_ID_MAX], etag[FT_S3_ETAG_MAX], bad[FT_S3_ETAG_MAX];
    unsigned char *want = malloc(n + MIB);
    (void)state;

    assert_non_null(want);
    assert_int_equal(ft_s3_put(s, src, data, n, NULL, 0, NULL), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_create(s, dst, NULL, 0, id), FT_ERR_OK);
    /* [6, 12) MiB, then [0, 6) MiB, then 1 MiB sent. */
    assert_int_equal(ft_s3_mpu_part_copy(s, dst, id, 1, src, 6 * MIB, 6 * MIB, parts[0].etag),
                     FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_part_copy(s, dst, id, 2, src, 0, 6 * MIB, parts[1].etag),
                     FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_part(s, dst, id, 3, data, MIB, parts[2].etag), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_part_copy(s, dst, id, 4, key(2, "no such source"), 0, MIB, bad),
                     FT_ERR_NOT_FOUND);
    assert_int_equal(ft_s3_mpu_complete(s, dst, id, parts, 3, etag), FT_ERR_OK);
    assert_int_equal(ft_s3_head(s, dst, &h), FT_ERR_OK);
    assert_string_equal(etag, h.etag);
    memcpy(want, data + 6 * MIB, 6 * MIB);
    memcpy(want + 6 * MIB, data, 6 * MIB);
    memcpy(want + n, data, MIB);
    assert_object(s, dst, want, n + MIB);
    assert_int_equal(ft_s3_delete_batch(s, (const char *const[]){src, dst}, 2), FT_ERR_OK);
    ft_s3_close(s);
    free(want);
    free(data);
}

static void test_abort_and_small_parts(void **state)
{
    unsigned char *data = random_bytes(MIB, 3);
    struct ft_s3 *s = open_s3();
    struct ft_s3_part parts[2];
    struct ft_s3_head h;
    struct uploads u = {.key = key(0, "aborted")};
    (void)state;

    assert_int_equal(ft_s3_mpu_create(s, u.key, NULL, 0, u.id), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_part(s, u.key, u.id, 1, data, MIB, parts[0].etag), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_abort(s, u.key, u.id), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_list(s, prefix, find_upload, &u), FT_ERR_OK);
    assert_int_equal(u.seen, 0);
    assert_int_equal(ft_s3_mpu_part(s, u.key, u.id, 2, data, MIB, parts[1].etag),
                     FT_ERR_NOT_FOUND);
    assert_non_null(strstr(ft_s3_error(s), "NoSuchUpload"));
    assert_int_equal(ft_s3_head(s, u.key, &h), FT_ERR_NOT_FOUND);

    /* A first part under 5 MiB is refused at complete, not at upload. */
    assert_int_equal(ft_s3_mpu_create(s, u.key, NULL, 0, u.id), FT_ERR_OK);
    parts[0].number = 1;
    parts[1].number = 2;
    assert_int_equal(ft_s3_mpu_part(s, u.key, u.id, 1, data, MIB, parts[0].etag), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_part(s, u.key, u.id, 2, data, MIB, parts[1].etag), FT_ERR_OK);
    assert_int_equal(ft_s3_mpu_complete(s, u.key, u.id, parts, 2, NULL), FT_ERR_USAGE);
    assert_non_null(strstr(ft_s3_error(s), "EntityTooSmall"));
    assert_int_equal(ft_s3_mpu_abort(s, u.key, u.id), FT_ERR_OK);
    ft_s3_close(s);
    free(data);
}

struct listing {
    char names[16][64];
    int prefixes[16];
    int n;
};

static int gather_entry(void *arg, const struct ft_s3_entry *e)
{
    struct listing *l = arg;
    assert_true(l->n < 16);
    assert_int_equal(strncmp(e->key, prefix, strlen(prefix)), 0);
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", e->key + strlen(prefix));
    l->prefixes[l->n++] = e->is_prefix;
    if (!e->is_prefix)
        assert_int_equal(e->size, strlen(e->key));
    return 0;
}

static void test_list_and_batch_delete(void **state)
{
    static const char *const names[] = {"p/a", "p/b", "p/c", "p/d/x", "p/d/y", "p/e/z", "p/f"};
    static const char *const rolled[] = {"p/a", "p/b", "p/c", "p/d/", "p/e/", "p/f"};
    char full[8][FT_S3_KEY_MAX], where[FT_S3_KEY_MAX];
    const char *keys[8];
    struct ft_s3 *s = open_s3();
    struct listing l = {.n = 0};
    int i;
    (void)state;

    for (i = 0; i < 7; i++) {
        snprintf(full[i], sizeof(full[i]), "%s%s", prefix, names[i]);
        keys[i] = full[i];
        /* Each object's body is its key: the listed size is checked. */
        assert_int_equal(ft_s3_put(s, keys[i], keys[i], strlen(keys[i]), NULL, 0, NULL),
                         FT_ERR_OK);
    }
    snprintf(where, sizeof(where), "%sp/", prefix);
    /* Two keys a page: four pages, folders rolled up at "/". */
    assert_int_equal(ft_s3_list(s, where, "/", 2, gather_entry, &l), FT_ERR_OK);
    assert_int_equal(l.n, 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(l.names[i], rolled[i]);
        assert_int_equal(l.prefixes[i], rolled[i][strlen(rolled[i]) - 1] == '/');
    }
    l.n = 0;
    assert_int_equal(ft_s3_list(s, where, NULL, 3, gather_entry, &l), FT_ERR_OK);
    assert_int_equal(l.n, 7);
    for (i = 0; i < 7; i++)
        assert_string_equal(l.names[i], names[i]);

    /* One request; a key that is not there counts as deleted. */
    snprintf(full[7], sizeof(full[7]), "%sp/never & <here>", prefix);
    keys[7] = full[7];
    assert_int_equal(ft_s3_delete_batch(s, keys, 8), FT_ERR_OK);
    l.n = 0;
    assert_int_equal(ft_s3_list(s, where, NULL, 0, gather_entry, &l), FT_ERR_OK);
    assert_int_equal(l.n, 0);
    ft_s3_close(s);
}

static void test_copy(void **state)
{
    const size_t n = 2 * MIB;
    unsigned char *data = random_bytes(n, 4);
    const struct ft_s3_meta meta[] = {{"digest", "c0ffee"}};
    struct ft_s3 *s = open_s3();
    struct ft_s3_head h;
    const char *src = key(0, "copy src"), *dst = key(1, "copy/dst");
    char etag[FT_S3_ETAG_MAX];
    (void)state;

    assert_int_equal(ft_s3_put(s, src, data, n, meta, 1, NULL), FT_ERR_OK);
    assert_int_equal(ft_s3_copy(s, src, dst, etag), FT_ERR_OK);
    assert_int_equal(ft_s3_head(s, dst, &h), FT_ERR_OK);
    assert_int_equal(h.size, n);
    assert_string_equal(etag, h.etag);
    assert_string_equal(ft_s3_head_meta(&h, "digest"), "c0ffee");
    assert_object(s, dst, data, n);
    assert_int_equal(ft_s3_copy(s, key(3, "no such source"), dst, NULL), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_s3_delete_batch(s, (const char *const[]){src, dst}, 2), FT_ERR_OK);
    ft_s3_close(s);
    free(data);
}

static int count(void *arg, const struct ft_s3_entry *e)
{
    (void)e;
    ++*(int *)arg;
    return 0;
}

static void test_errors(void **state)
{
    struct ft_s3 *s = open_s3(), *bad = NULL;
    struct ft_s3_config wrong = cfg;
    struct ft_s3_head h;
    struct gather g = {NULL, 0, 0};
    int n = 0;
    (void)state;

    assert_int_equal(ft_s3_head(s, key(0, "missing"), &h), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_s3_get(s, key(0, "missing"), 0, 0, gather, &g), FT_ERR_NOT_FOUND);
    assert_non_null(strstr(ft_s3_error(s), "S3 404 NoSuchKey"));
    assert_false(ft_s3_transient(FT_ERR_NOT_FOUND));

    wrong.secret_key = "not the secret";
    assert_int_equal(ft_s3_open(&wrong, &bad), FT_ERR_OK);
    assert_int_equal(ft_s3_list(bad, prefix, NULL, 0, count, &n), FT_ERR_DENIED);
    assert_non_null(strstr(ft_s3_error(bad), "SignatureDoesNotMatch"));
    ft_s3_close(bad);

    /* Nothing listens on port 1 of the loopback. */
    wrong = cfg;
    wrong.endpoint = "http://127.0.0.1:1";
    assert_int_equal(ft_s3_open(&wrong, &bad), FT_ERR_OK);
    assert_int_equal(ft_s3_head(bad, "k", &h), FT_ERR_CONNECT);
    assert_true(ft_s3_transient(FT_ERR_CONNECT));
    ft_s3_close(bad);

    wrong = cfg;
    wrong.bucket = "a/b";
    assert_int_equal(ft_s3_open(&wrong, &bad), FT_ERR_USAGE);
    ft_s3_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_head),
        cmocka_unit_test(test_ranges_and_reader),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_part_copy),
        cmocka_unit_test(test_abort_and_small_parts),
        cmocka_unit_test(test_list_and_batch_delete),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_errors),
    };
    struct ft_s3 *s = NULL;

    cfg.endpoint = getenv("FT_S3_ENDPOINT");
    if (!cfg.endpoint || !cfg.endpoint[0]) {
        printf("test_s3: SKIPPED: FT_S3_ENDPOINT is unset (scripts/radosgw.sh start)\n");
        return 77;
    }
    cfg.region = getenv("AWS_REGION");
    cfg.access_key = getenv("AWS_ACCESS_KEY_ID");
    cfg.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    cfg.bucket = getenv("FT_S3_BUCKET") ? getenv("FT_S3_BUCKET") : "ft-test";
    snprintf(prefix, sizeof(prefix), "test_s3-%ld-%ld/", (long)getpid(), (long)time(NULL));
    if (ft_s3_open(&cfg, &s) != FT_ERR_OK || ft_s3_bucket_create(s) != FT_ERR_OK) {
        printf("test_s3: cannot reach the bucket: %s\n", s ? ft_s3_error(s) : "bad settings");
        ft_s3_close(s);
        return 1;
    }
    ft_s3_close(s);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
