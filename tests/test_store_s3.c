/* test_store_s3.c - the S3 store backend (src/store_s3*.c) through store.h, against a
 * real radosgw: publish only at commit, abort, old-or-new, ranged reads, listings
 * with folders (and their files' HEADs, many at once, through a relay that
 * plays deleted objects), mkdir/rm -r/mv, copies in parts (one HEAD of
 * their source, the relay counts), the digest's record, expiry. Skipped (77) when
 * FT_S3_ENDPOINT is unset: scripts/test.sh starts the engine (scripts/radosgw.sh). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"
#include "store.h"
#include "store_s3_int.h"

#define MIB (1024 * 1024)

static char location[160];
static struct ft_store_options opt;
static struct ft_s3_config cfg;
static char prefix[96];

static struct ft_store *open_store(void)
{
    struct ft_store *st = NULL;
    char errbuf[256] = "";

    if (ft_store_open_at(&st, location, &opt, errbuf, sizeof(errbuf)) != FT_OK)
        fail_msg("open %s: %s", location, errbuf);
    return st;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);

    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

/* Writes data under name in pieces of step bytes; commits when commit. */
static void upload(struct ft_store *st, const char *name, const uint8_t *data, size_t n,
                   const uint8_t *digest, int64_t mtime)
{
    struct ft_upload up = FT_UPLOAD_INIT;
    size_t step = 1 << 20;

    assert_int_equal(ft_store_upload_begin(st, name, &up), FT_OK);
    ft_store_upload_set_meta(&up, mtime, 0755);
    for (size_t off = 0; off < n; off += step)
        assert_int_equal(ft_store_upload_write(&up, data + off, n - off < step ? n - off : step),
                         FT_OK);
    if (digest != NULL)
        ft_store_upload_set_digest(&up, digest);
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
    ft_store_upload_abort(st, &up); /* after a commit: nothing */
}

static void read_all(struct ft_store *st, const char *name, const uint8_t *want, size_t n)
{
    struct ft_store_file f = FT_STORE_FILE_INIT;
    uint8_t *buf = malloc(n + 1);
    size_t got = 0;

    assert_int_equal(ft_store_open_file(st, name, &f), FT_OK);
    assert_int_equal(f.info.size, n);
    assert_int_equal(ft_store_file_fd(&f), -1);
    assert_int_equal(ft_store_file_read_at(&f, buf, n + 1, 0, &got), FT_OK);
    assert_int_equal(got, n);
    assert_memory_equal(buf, want, n);
    ft_store_file_close(&f);
    free(buf);
}

static void test_small_and_multipart(void **state)
{
    struct ft_store *st = open_store();
    size_t big = 21 * MIB + 123; /* three parts, the last short */
    uint8_t *a = pattern(big, 1), d[32];
    struct ft_store_entry e;
    struct ft_store_file f = FT_STORE_FILE_INIT;

    (void)state;
    /* What S3 cannot do is a capability it lacks (store_backend.h). */
    assert_false(ft_store_can(st, FT_STORE_CAN_WRITE_AT));
    assert_false(ft_store_can(st, FT_STORE_CAN_FD));
    assert_int_equal(ft_store_root_fd(st), -1);
    memset(d, 0xab, sizeof(d));
    upload(st, "small.bin", a, 1000, d, 1700000000);
    upload(st, "dir/big.bin", a, big, d, 1700000001);
    read_all(st, "small.bin", a, 1000);
    read_all(st, "dir/big.bin", a, big);
    assert_int_equal(ft_store_stat(st, "dir/big.bin", &e), FT_OK);
    assert_int_equal(e.size, big);
    assert_int_equal(e.mtime, 1700000001);
    assert_int_equal(e.mode, S_IFREG | 0755);
    assert_int_equal(ft_store_stat(st, "dir", &e), FT_OK);
    assert_int_equal(e.mode & S_IFMT, S_IFDIR);
    /* The digest, from metadata (one PUT) and from the sidecar (multipart). */
    uint8_t got[32];
    assert_int_equal(ft_store_open_file(st, "small.bin", &f), FT_OK);
    assert_true(ft_store_file_digest(&f, got));
    assert_memory_equal(got, d, 32);
    ft_store_file_close(&f);
    assert_int_equal(ft_store_open_file(st, "dir/big.bin", &f), FT_OK);
    assert_true(ft_store_file_digest(&f, got));
    assert_memory_equal(got, d, 32);
    ft_store_file_close(&f);
    free(a);
    ft_store_close(st);
}

/* Nothing is visible before the commit; an abort leaves nothing, not even
 * an unfinished multipart upload. */
struct counter {
    int n;
};

static int count_upload(void *arg, const struct ft_s3_upload *u)
{
    (void)u;
    ((struct counter *)arg)->n++;
    return 0;
}

static int mpu_count(void)
{
    struct ft_s3 *s = NULL;
    struct counter c = { 0 };

    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_mpu_list(s, prefix, count_upload, &c), FT_OK);
    ft_s3_close(s);
    return c.n;
}

static void test_visible_at_commit_abort_leaves_nothing(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 18 * MIB;
    uint8_t *a = pattern(n, 2), *b = pattern(n, 3);
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_store_entry e;

    (void)state;
    upload(st, "v.bin", a, n, NULL, 1);
    assert_int_equal(ft_store_upload_begin(st, "v.bin", &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, b, n), FT_OK);
    /* Parts are sent, but a reader still sees the old version whole. */
    read_all(st, "v.bin", a, n);
    assert_int_equal(mpu_count(), 1);
    ft_store_upload_abort(st, &up);
    assert_int_equal(mpu_count(), 0);
    read_all(st, "v.bin", a, n);
    /* A new name aborted: nothing there. */
    assert_int_equal(ft_store_upload_begin(st, "new.bin", &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, b, n), FT_OK);
    ft_store_upload_abort(st, &up);
    assert_int_equal(ft_store_stat(st, "new.bin", &e), FT_ERR_NOT_FOUND);
    assert_int_equal(mpu_count(), 0);
    /* Committed: the new version, whole. */
    upload(st, "v.bin", b, n, NULL, 1);
    read_all(st, "v.bin", b, n);
    free(a);
    free(b);
    ft_store_close(st);
}

/* A reader opened before a replacement reads the old version or fails
 * with CHANGED; reads at jumping offsets give the right bytes. */
static void test_ranges_and_old_or_new(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 10 * MIB;
    uint8_t *a = pattern(n, 4), *b = pattern(n / 2, 5), buf[4096];
    struct ft_store_file f = FT_STORE_FILE_INIT;
    uint64_t offs[] = { 0, 5 * MIB, 4096, 9 * MIB + 7, 3 };
    size_t got;
    enum ft_err err;

    (void)state;
    upload(st, "r.bin", a, n, NULL, 1);
    assert_int_equal(ft_store_open_file(st, "r.bin", &f), FT_OK);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        assert_int_equal(ft_store_file_read_at(&f, buf, sizeof(buf), offs[i], &got), FT_OK);
        assert_int_equal(got, sizeof(buf));
        assert_memory_equal(buf, a + offs[i], sizeof(buf));
    }
    assert_int_equal(ft_store_file_read_at(&f, buf, sizeof(buf), n - 100, &got), FT_OK);
    assert_int_equal(got, 100);
    upload(st, "r.bin", b, n / 2, NULL, 2);
    /* A jump past the new end: never bytes of the new version as old. */
    err = ft_store_file_read_at(&f, buf, sizeof(buf), 7 * MIB, &got);
    if (err == FT_OK) {
        assert_int_equal(got, sizeof(buf));
        assert_memory_equal(buf, a + 7 * MIB, sizeof(buf));
    } else {
        assert_int_equal(err, FT_ERR_CHANGED);
    }
    ft_store_file_close(&f);
    free(a);
    free(b);
    ft_store_close(st);
}

struct seen {
    char names[32][FT_PATH_MAX + 1];
    uint32_t modes[32];
    int64_t mtimes[32];
    int n;
};

static enum ft_err note(const struct ft_store_entry *e, void *ctx)
{
    struct seen *s = ctx;

    assert_true(s->n < 32);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
    s->mtimes[s->n] = e->mtime;
    s->modes[s->n++] = e->mode & S_IFMT;
    return FT_OK;
}

/* The time listed for name; -1 when it was not listed. */
static int64_t listed_mtime(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->mtimes[i];
    return -1;
}

static bool has(const struct seen *s, const char *name, uint32_t type)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0 && s->modes[i] == type)
            return true;
    return false;
}

static void test_list_mkdir_rm_mv(void **state)
{
    struct ft_store *st = open_store();
    uint8_t *a = pattern(100, 6);
    struct seen s = { .n = 0 };
    struct ft_store_entry e;
    bool made;
    uint64_t bytes, files;

    (void)state;
    upload(st, "t/a.txt", a, 100, NULL, 5);
    upload(st, "t/sub/b.txt", a, 50, NULL, 6);
    assert_int_equal(ft_store_mkdir(st, "t/empty", false, &made), FT_OK);
    assert_true(made);
    assert_int_equal(ft_store_mkdir(st, "t/empty", false, &made), FT_ERR_DENIED);
    assert_int_equal(ft_store_mkdir(st, "t/empty", true, &made), FT_OK);
    assert_false(made);
    assert_int_equal(ft_store_mkdir(st, "t/a.txt", true, &made), FT_ERR_DENIED);
    assert_int_equal(ft_store_mkdir(st, "t/x/y/z", true, &made), FT_OK);
    assert_int_equal(ft_store_list(st, "t", false, note, &s), FT_OK);
    assert_int_equal(s.n, 4);
    assert_true(has(&s, "a.txt", S_IFREG));
    assert_true(has(&s, "sub", S_IFDIR));
    assert_true(has(&s, "empty", S_IFDIR));
    assert_true(has(&s, "x", S_IFDIR));
    /* A folder made by mkdir has its marker's time (the listing's common
     * prefix has none); one implied by a file below it, none. */
    assert_true(llabs(listed_mtime(&s, "empty") - (int64_t)time(NULL)) < 600);
    assert_int_equal(listed_mtime(&s, "sub"), 0);
    s.n = 0;
    upload(st, "t/empty/c.txt", a, 10, NULL, 7); /* a marker, then a key below */
    assert_int_equal(ft_store_list(st, "t", true, note, &s), FT_OK);
    assert_int_equal(s.n, 8); /* each folder once */
    assert_true(has(&s, "sub/b.txt", S_IFREG));
    assert_true(has(&s, "x/y/z", S_IFDIR));
    assert_true(has(&s, "x/y", S_IFDIR));
    s.n = 0;
    assert_int_equal(ft_store_list_as(st, "t/a.txt", "shown", false, note, &s), FT_OK);
    assert_int_equal(s.n, 1);
    assert_true(has(&s, "shown", S_IFREG));
    assert_int_equal(ft_store_usage(st, "t", &bytes, &files), FT_OK);
    assert_int_equal(bytes, 160);
    assert_int_equal(files, 3);
    /* An upload below a file, or onto a folder: refused. */
    struct ft_upload up = FT_UPLOAD_INIT;
    assert_int_equal(ft_store_upload_begin(st, "t/a.txt/c", &up), FT_ERR_DENIED);
    assert_int_equal(ft_store_upload_begin(st, "t/sub", &up), FT_ERR_DENIED);
    /* mv of a file and of a folder. */
    assert_int_equal(ft_store_move(st, "t/a.txt", "t/moved.txt"), FT_OK);
    assert_int_equal(ft_store_stat(st, "t/a.txt", &e), FT_ERR_NOT_FOUND);
    read_all(st, "t/moved.txt", a, 100);
    assert_int_equal(ft_store_move(st, "t/sub", "u/sub2"), FT_OK);
    read_all(st, "u/sub2/b.txt", a, 50);
    assert_int_equal(ft_store_stat(st, "t/sub", &e), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_store_move(st, "u", "u/in"), FT_ERR_DENIED);
    /* rm: a folder needs recursive. */
    assert_int_equal(ft_store_remove(st, "t", false), FT_ERR_DENIED);
    assert_int_equal(ft_store_remove(st, "t", true), FT_OK);
    assert_int_equal(ft_store_stat(st, "t", &e), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_store_remove(st, "u/sub2/b.txt", false), FT_OK);
    assert_int_equal(ft_store_stat(st, "u/sub2/b.txt", &e), FT_ERR_NOT_FOUND);
    free(a);
    ft_store_close(st);
}

/* A digest remembered for one version is not trusted for the next. */
static void test_digest_keyed_by_etag(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 17 * MIB;
    uint8_t *a = pattern(n, 7), d[32], got[32];
    struct ft_store_file f = FT_STORE_FILE_INIT;
    struct ft_s3 *s = NULL;
    char key[FT_S3_KEY_MAX];

    (void)state;
    memset(d, 0x5a, sizeof(d));
    upload(st, "k.bin", a, n, NULL, 1);
    assert_int_equal(ft_store_open_file(st, "k.bin", &f), FT_OK);
    assert_false(ft_store_file_digest(&f, got));
    ft_store_file_remember(st, &f, d);
    ft_store_file_close(&f);
    assert_int_equal(ft_store_open_file(st, "k.bin", &f), FT_OK);
    assert_true(ft_store_file_digest(&f, got));
    assert_memory_equal(got, d, 32);
    ft_store_file_close(&f);
    /* Replaced behind ft's back (another tool): the record is not trusted. */
    snprintf(key, sizeof(key), "%sk.bin", prefix);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_put(s, key, "other", 5, NULL, 0, NULL), FT_OK);
    ft_s3_close(s);
    assert_int_equal(ft_store_open_file(st, "k.bin", &f), FT_OK);
    assert_false(ft_store_file_digest(&f, got));
    ft_store_file_close(&f);
    free(a);
    ft_store_close(st);
}

/* put --continue: what arrived is kept as .ft/partial/KEY (never
 * visible under the name), read back, resumed from an earlier offset,
 * published whole; abort and expiry leave nothing. */
static void test_kept_upload_resumed(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 20 * MIB;
    uint8_t *a = pattern(n, 8), buf[4096];
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_store_entry e;
    uint64_t have = 99, size = 0;
    size_t got;

    (void)state;
    assert_true(ft_store_can(st, FT_STORE_CAN_KEEP));
    assert_int_equal(ft_store_upload_begin_kept(st, "kept.bin", "abc1", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(have, 0);
    ft_store_upload_set_meta(&up, 1234, 0644);
    assert_int_equal(ft_store_upload_write(&up, a, 13 * MIB), FT_OK); /* a part and a tail */
    ft_store_upload_keep(st, &up);
    assert_int_equal(ft_store_stat(st, "kept.bin", &e), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_store_partial_count(st), 1);
    assert_int_equal(ft_store_partial_size(st, "abc1", 3600, &size), FT_OK);
    assert_int_equal(size, 13 * MIB);
    up = (struct ft_upload)FT_UPLOAD_INIT;
    assert_int_equal(ft_store_upload_begin_kept(st, "kept.bin", "abc1", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(have, 13 * MIB);
    assert_int_equal(ft_store_upload_read_at(&up, buf, sizeof(buf), 9 * MIB, &got), FT_OK);
    assert_int_equal(got, sizeof(buf));
    assert_memory_equal(buf, a + 9 * MIB, sizeof(buf));
    ft_store_upload_set_meta(&up, 1234, 0644);
    assert_int_equal(ft_store_upload_resize(&up, 12 * MIB), FT_OK); /* agreed lower */
    assert_int_equal(ft_store_upload_write(&up, a + 12 * MIB, n - 12 * MIB), FT_OK);
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
    read_all(st, "kept.bin", a, n);
    assert_int_equal(ft_store_stat(st, "kept.bin", &e), FT_OK);
    assert_int_equal(e.mtime, 1234);
    assert_int_equal(ft_store_partial_count(st), 0);
    assert_int_equal(mpu_count(), 0);
    /* Aborted: nothing kept. */
    up = (struct ft_upload)FT_UPLOAD_INIT;
    assert_int_equal(ft_store_upload_begin_kept(st, "k2.bin", "abc2", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&up, a, 9 * MIB), FT_OK);
    ft_store_upload_abort(st, &up);
    assert_int_equal(ft_store_partial_size(st, "abc2", 3600, &size), FT_ERR_NOT_FOUND);
    assert_int_equal(mpu_count(), 0);
    /* Kept, then expired. */
    up = (struct ft_upload)FT_UPLOAD_INIT;
    assert_int_equal(ft_store_upload_begin_kept(st, "k3.bin", "abc3", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&up, a, 100), FT_OK);
    ft_store_upload_keep(st, &up);
    assert_int_equal(ft_store_partial_count(st), 1);
    ft_store_close(st);
    st = open_store();
    ft_store_expire_partials(st, -1);
    assert_int_equal(ft_store_partial_count(st), 0);
    free(a);
    ft_store_close(st);
}

/* A kept upload's bytes are copied on the engine, never sent again
 * through the server: resumed at an offset of at least S3's smallest part
 * they are the new upload's first part, and published above copy_max
 * (5 GiB; 11 MiB here) the name is made of the kept object's ranges, in
 * pieces of at most copy_max, none under the smallest part (11, 11, 8 MiB
 * of 30: an ETag of three parts, where sending it again through the
 * server made four of 8 MiB). A prefix of one resume chunk (4 MiB), too
 * small for a part, is still read back and resent. */
static void test_kept_copied_on_engine(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 30 * MIB;
    uint8_t *a = pattern(n, 11);
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_s3 *s = NULL;
    struct ft_s3_head h;
    char key[FT_S3_KEY_MAX];
    uint64_t have = 0;

    (void)state;
    ft_store_s3_of(st)->copy_max = 11 * MIB;
    for (int round = 0; round < 2; round++) {
        size_t from = round == 0 ? 4 * MIB : 12 * MIB;

        up = (struct ft_upload)FT_UPLOAD_INIT;
        assert_int_equal(ft_store_upload_begin_kept(st, "carried.bin", "abc5", 3600, &up,
                                                    &have), FT_OK);
        assert_int_equal(have, 0);
        ft_store_upload_set_meta(&up, 4321, 0644);
        assert_int_equal(ft_store_upload_write(&up, a, 17 * MIB), FT_OK);
        ft_store_upload_keep(st, &up);
        up = (struct ft_upload)FT_UPLOAD_INIT;
        assert_int_equal(ft_store_upload_begin_kept(st, "carried.bin", "abc5", 3600, &up,
                                                    &have), FT_OK);
        assert_int_equal(have, 17 * MIB);
        ft_store_upload_set_meta(&up, 4321, 0644);
        assert_int_equal(ft_store_upload_resize(&up, from), FT_OK);
        assert_int_equal(ft_store_upload_write(&up, a + from, n - from), FT_OK);
        assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
        read_all(st, "carried.bin", a, n);
        assert_int_equal(ft_store_partial_count(st), 0);
        assert_int_equal(mpu_count(), 0);
    }
    snprintf(key, sizeof(key), "%scarried.bin", prefix);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_head(s, key, &h), FT_OK);
    assert_non_null(strstr(h.etag, "-3\""));
    assert_string_equal(ft_s3_head_meta(&h, FT_S3_META_MTIME), "4321");
    ft_s3_close(s);
    free(a);
    ft_store_close(st);
}

static int64_t mtime_of(struct ft_store *st, const char *name)
{
    struct ft_store_entry e;

    assert_int_equal(ft_store_stat(st, name, &e), FT_OK);
    return e.mtime;
}

/* mv of a file over copy_max (5 GiB; 11 MiB here) copies it in parts on
 * the engine (it was refused before UploadPartCopy): whole under the new
 * name, with its mtime, and its digest follows it to the copy's new ETag;
 * below a folder too. */
static void test_move_in_parts(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 30 * MIB;
    uint8_t *a = pattern(n, 12), d[32], got[32];
    struct ft_store_file f = FT_STORE_FILE_INIT;
    struct ft_store_entry e;
    struct ft_s3 *s = NULL;
    struct ft_s3_head h;
    char key[FT_S3_KEY_MAX];
    bool made = false;

    (void)state;
    memset(d, 0x3c, sizeof(d));
    ft_store_s3_of(st)->copy_max = 11 * MIB;
    upload(st, "huge.bin", a, n, d, 777);
    assert_int_equal(ft_store_move(st, "huge.bin", "moved.bin"), FT_OK);
    assert_int_equal(ft_store_stat(st, "huge.bin", &e), FT_ERR_NOT_FOUND);
    read_all(st, "moved.bin", a, n);
    assert_int_equal(ft_store_open_file(st, "moved.bin", &f), FT_OK);
    assert_int_equal(f.info.mtime, 777);
    assert_true(ft_store_file_digest(&f, got));
    assert_memory_equal(got, d, 32);
    ft_store_file_close(&f);
    snprintf(key, sizeof(key), "%smoved.bin", prefix);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_head(s, key, &h), FT_OK);
    assert_non_null(strstr(h.etag, "-3\""));
    ft_s3_close(s);
    assert_int_equal(ft_store_mkdir(st, "pdir", false, &made), FT_OK);
    assert_int_equal(ft_store_move(st, "moved.bin", "pdir/in.bin"), FT_OK);
    assert_int_equal(ft_store_move(st, "pdir", "pdir2"), FT_OK);
    read_all(st, "pdir2/in.bin", a, n);
    assert_int_equal(mtime_of(st, "pdir2/in.bin"), 777);
    assert_int_equal(ft_store_remove(st, "pdir2", true), FT_OK);
    free(a);
    ft_store_close(st);
}

/* Two sessions uploading the same name, size and mtime at once (one
 * resume key) each send into an object of their own: one kept, the other
 * committed, the kept one stays for its --continue. A kept upload is then
 * taken by one session, not two; both commit, the last wins whole. */
static void test_concurrent_kept_uploads(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 9 * MIB;
    uint8_t *a = pattern(n, 11), *b = pattern(n, 12);
    struct ft_upload x = FT_UPLOAD_INIT, y = FT_UPLOAD_INIT;
    uint64_t have = 99, size = 0;

    (void)state;
    assert_int_equal(ft_store_upload_begin_kept(st, "twice.bin", "abc9", 3600, &x, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_begin_kept(st, "twice.bin", "abc9", 3600, &y, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&x, a, n), FT_OK);
    assert_int_equal(ft_store_upload_write(&y, b, n), FT_OK);
    ft_store_upload_keep(st, &x);
    assert_int_equal(ft_store_upload_commit(st, &y), FT_OK);
    read_all(st, "twice.bin", b, n);
    assert_int_equal(ft_store_partial_count(st), 1);
    assert_int_equal(ft_store_partial_size(st, "abc9", 3600, &size), FT_OK);
    assert_int_equal(size, n);
    /* The next two: one resumes it, the other starts afresh. */
    x = (struct ft_upload)FT_UPLOAD_INIT;
    assert_int_equal(ft_store_upload_begin_kept(st, "twice.bin", "abc9", 3600, &x, &have),
                     FT_OK);
    assert_int_equal(have, n);
    assert_int_equal(ft_store_upload_begin_kept(st, "twice.bin", "abc9", 3600, &y, &have),
                     FT_OK);
    assert_int_equal(have, 0);
    assert_int_equal(ft_store_upload_write(&y, b, n), FT_OK);
    /* An expiry that finds every kept object old spares the one x took. */
    ft_store_expire_partials(st, -1);
    assert_int_equal(ft_store_upload_commit(st, &x), FT_OK);
    read_all(st, "twice.bin", a, n);
    assert_int_equal(ft_store_upload_commit(st, &y), FT_OK);
    read_all(st, "twice.bin", b, n);
    assert_int_equal(ft_store_partial_count(st), 0);
    assert_int_equal(mpu_count(), 0);
    free(a);
    free(b);
    ft_store_close(st);
}

/* A relay on 127.0.0.1 between a store and the engine. It passes every
 * request on, byte for byte (the signature covers the Host header, which
 * the engine takes as sent), but answers itself the HEAD of a key holding
 * "gone" with 404, as S3 does for an object deleted between the listing
 * and its HEAD, and of one holding "denied" with 403. It holds each 404
 * until a second such HEAD waits beside it: HEADs sent one at a time
 * never see their answer that way, so after RELAY_HOLD_MS the relay gives
 * it alone and holds no more (alone counts those). Requests come one at
 * a time per connection (curl sends no pipeline), so an answer written
 * here never crosses one relayed from the engine. It counts the HEADs of
 * a key holding "counted" (counted) and passes them on. */
#define RELAY_CONNS 64
#define RELAY_HOLD_MS 3000

struct relay_conn {
    int c, u; /* the store's side and the engine's; c -1: free */
    char req[16384];
    size_t len;
    size_t body_left; /* of the request being passed on */
    bool held;        /* a "gone" HEAD waiting for its answer */
    int64_t held_at;
};

struct relay {
    int lfd, wake[2];
    struct sockaddr_in engine;
    char endpoint[64];
    pthread_t thread;
    struct relay_conn conns[RELAY_CONNS];
    bool hold_off;
    int max_held; /* the most "gone" HEADs waiting at once */
    int alone, gone, denied, counted;
};

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void write_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return; /* the other side went: its reader sees the close */
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

static void relay_drop(struct relay_conn *k)
{
    close(k->c);
    close(k->u);
    k->c = k->u = -1;
    k->len = k->body_left = 0;
    k->held = false;
}

static void relay_answer(struct relay_conn *k, int status)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n",
                     status, status == 404 ? "Not Found" : "Forbidden");

    write_all(k->c, line, (size_t)n);
    k->held = false;
}

/* Passes on or answers each whole request in k's buffer. */
static void relay_requests(struct relay *r, struct relay_conn *k)
{
    for (;;) {
        char method[16] = "", path[2048] = "";
        const char *end, *cl;
        size_t head, take;

        if (k->body_left > 0 && k->len > 0) {
            take = k->len < k->body_left ? k->len : k->body_left;
            write_all(k->u, k->req, take);
            k->body_left -= take;
        } else {
            end = memmem(k->req, k->len, "\r\n\r\n", 4);
            if (end == NULL)
                return;
            head = (size_t)(end + 4 - k->req);
            k->req[head - 1] = '\0'; /* the head's last '\n': ends the string */
            sscanf(k->req, "%15s %2047s", method, path);
            cl = strcasestr(k->req, "\r\nContent-Length:");
            k->body_left = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
            k->req[head - 1] = '\n';
            if (strcmp(method, "HEAD") == 0 && strstr(path, "denied") != NULL) {
                r->denied++;
                relay_answer(k, 403);
            } else if (strcmp(method, "HEAD") == 0 && strstr(path, "gone") != NULL) {
                r->gone++;
                k->held = true;
                k->held_at = now_ms();
                if (r->hold_off)
                    relay_answer(k, 404);
            } else {
                r->counted += strcmp(method, "HEAD") == 0 && strstr(path, "counted") != NULL;
                write_all(k->u, k->req, head);
            }
            take = head;
        }
        memmove(k->req, k->req + take, k->len - take);
        k->len -= take;
    }
}

/* Answers the held HEADs when two or more wait, or one waited too long. */
static void relay_release(struct relay *r)
{
    int held = 0;
    bool late = false;

    for (int i = 0; i < RELAY_CONNS; i++) {
        if (r->conns[i].c >= 0 && r->conns[i].held) {
            held++;
            late = late || now_ms() - r->conns[i].held_at > RELAY_HOLD_MS;
        }
    }
    if (held > r->max_held)
        r->max_held = held;
    if (held < 2 && !late)
        return;
    if (held < 2) {
        r->alone++;
        r->hold_off = true; /* the test fails: no more waiting for it */
    }
    for (int i = 0; i < RELAY_CONNS; i++)
        if (r->conns[i].c >= 0 && r->conns[i].held)
            relay_answer(&r->conns[i], 404);
}

static void relay_accept(struct relay *r)
{
    int c = accept(r->lfd, NULL, NULL), u = socket(AF_INET, SOCK_STREAM, 0);

    for (int i = 0; c >= 0 && u >= 0 && i < RELAY_CONNS; i++) {
        struct relay_conn *k = &r->conns[i];

        if (k->c >= 0)
            continue;
        if (connect(u, (struct sockaddr *)&r->engine, sizeof(r->engine)) != 0)
            break;
        k->c = c;
        k->u = u;
        return;
    }
    close(c);
    close(u);
}

static void *relay_run(void *arg)
{
    struct relay *r = arg;
    struct pollfd p[2 + 2 * RELAY_CONNS];

    for (;;) {
        int n = 2, at[2 + 2 * RELAY_CONNS];

        p[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
        p[1] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
        for (int i = 0; i < RELAY_CONNS; i++) {
            if (r->conns[i].c < 0)
                continue;
            at[n] = i;
            p[n++] = (struct pollfd){ .fd = r->conns[i].c, .events = POLLIN };
            at[n] = i;
            p[n++] = (struct pollfd){ .fd = r->conns[i].u, .events = POLLIN };
        }
        if (poll(p, (nfds_t)n, 100) < 0 || (p[0].revents & POLLIN))
            break;
        if (p[1].revents & POLLIN)
            relay_accept(r);
        for (int j = 2; j < n; j++) {
            struct relay_conn *k = &r->conns[at[j]];
            char buf[65536];
            ssize_t got;

            if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR)) || k->c < 0)
                continue;
            if (p[j].fd == k->c) {
                got = read(k->c, k->req + k->len, sizeof(k->req) - k->len);
                if (got > 0) {
                    k->len += (size_t)got;
                    relay_requests(r, k);
                }
            } else {
                got = read(k->u, buf, sizeof(buf));
                if (got > 0)
                    write_all(k->c, buf, (size_t)got);
            }
            if (got <= 0)
                relay_drop(k);
        }
        relay_release(r);
    }
    return NULL;
}

static struct relay *relay_start(void)
{
    struct relay *r = calloc(1, sizeof(*r));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    unsigned port = 0;

    assert_non_null(r);
    for (int i = 0; i < RELAY_CONNS; i++)
        r->conns[i].c = r->conns[i].u = -1;
    assert_int_equal(sscanf(cfg.endpoint, "http://127.0.0.1:%u", &port), 1);
    r->engine = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->lfd >= 0);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->lfd, 64), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &alen), 0);
    snprintf(r->endpoint, sizeof(r->endpoint), "http://127.0.0.1:%u", ntohs(a.sin_port));
    assert_int_equal(pipe(r->wake), 0);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_run, r), 0);
    return r;
}

static void relay_stop(struct relay *r)
{
    write_all(r->wake[1], "x", 1);
    pthread_join(r->thread, NULL);
    for (int i = 0; i < RELAY_CONNS; i++)
        if (r->conns[i].c >= 0)
            relay_drop(&r->conns[i]);
    close(r->lfd);
    close(r->wake[0]);
    close(r->wake[1]);
    free(r);
}

/* A listing's entries, in the order they came. */
struct listed {
    struct ft_store_entry *e;
    size_t n, cap;
};

static enum ft_err keep_entry(const struct ft_store_entry *e, void *ctx)
{
    struct listed *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->e = realloc(l->e, l->cap * sizeof(*l->e));
        assert_non_null(l->e);
    }
    l->e[l->n++] = *e;
    return FT_OK;
}

#define MANY 1100 /* two pages of keys */

/* many/a/ holds files 0-549, many/b/ the rest; pairs of them, on both
 * pages, are "gone" (the relay's 404), and many/c is an empty folder.
 * bad/ holds 40 files, one of them "denied" (the relay's 403). */
static bool many_gone(int i)
{
    return i == 100 || i == 101 || i == 400 || i == 401 || i == 1040 || i == 1041;
}

static void many_name(int i, char *name, size_t cap)
{
    snprintf(name, cap, "%s/f%04d%s", i < 550 ? "a" : "b", i, many_gone(i) ? "-gone" : "");
}

/* The objects as the store writes them, its metadata on each (one PUT
 * each, without the store's checks: 1,100 of them in a few seconds). */
static void put_many(void)
{
    struct ft_s3 *s = NULL;
    char key[FT_S3_KEY_MAX], name[64], mtime[32], mode[16];
    struct ft_s3_meta meta[2] = { { FT_S3_META_MTIME, mtime }, { FT_S3_META_MODE, mode } };

    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    for (int i = 0; i < MANY; i++) {
        many_name(i, name, sizeof(name));
        snprintf(key, sizeof(key), "%smany/%s", prefix, name);
        snprintf(mtime, sizeof(mtime), "%d", 1600000000 + i);
        snprintf(mode, sizeof(mode), "%o", i % 3 == 0 ? 0755 : 0644);
        assert_int_equal(ft_s3_put(s, key, "x", 1, meta, 2, NULL), FT_OK);
    }
    snprintf(key, sizeof(key), "%smany/c/", prefix);
    assert_int_equal(ft_s3_put(s, key, "", 0, NULL, 0, NULL), FT_OK);
    for (int i = 0; i < 40; i++) { /* the relay refuses the HEAD of f30 */
        snprintf(key, sizeof(key), "%sbad/f%02d%s", prefix, i, i == 30 ? "-denied" : "");
        assert_int_equal(ft_s3_put(s, key, "y", 1, NULL, 0, NULL), FT_OK);
    }
    ft_s3_close(s);
}

/* Checks l against files [from, to) of many, below "a/" and "b/" when
 * recursive (each folder once, before its files), then folder c. */
static void check_many(const struct listed *l, int from, int to, bool recursive)
{
    size_t at = 0;
    char name[64];

    for (int i = from; i < to; i++) {
        if (recursive && (i == 0 || i == 550)) {
            assert_true(at < l->n);
            assert_string_equal(l->e[at].name, i == 0 ? "a" : "b");
            assert_int_equal(l->e[at++].mode, S_IFDIR | 0755);
        }
        if (many_gone(i))
            continue;
        many_name(i, name, sizeof(name));
        assert_true(at < l->n);
        assert_string_equal(l->e[at].name, recursive ? name : name + 2);
        assert_int_equal(l->e[at].size, 1);
        assert_int_equal(l->e[at].mtime, 1600000000 + i);
        assert_int_equal(l->e[at++].mode, S_IFREG | (i % 3 == 0 ? 0755 : 0644));
    }
    if (recursive) {
        assert_true(at < l->n);
        assert_string_equal(l->e[at].name, "c");
        assert_int_equal(l->e[at++].mode, S_IFDIR | 0755);
    }
    assert_int_equal(l->n, at);
}

/* Two pages of files listed through the relay: every entry in key order
 * with its own mtime and mode, the ones deleted before their HEAD left
 * out; the HEADs go out several at once (the relay saw two "gone" HEADs
 * waiting together: one at a time, each waits alone); a HEAD that fails
 * otherwise fails the listing with its error, after entries in order. */
static void test_list_heads_at_once(void **state)
{
    struct relay *r = relay_start();
    struct ft_store_options via = opt;
    struct ft_store *st = NULL, *direct = open_store();
    struct listed l = { NULL, 0, 0 };
    char errbuf[256] = "", name[64];

    (void)state;
    put_many();
    via.s3_endpoint = r->endpoint;
    assert_int_equal(ft_store_open_at(&st, location, &via, errbuf, sizeof(errbuf)), FT_OK);
    assert_int_equal(ft_store_list(st, "many", true, keep_entry, &l), FT_OK);
    check_many(&l, 0, MANY, true);
    assert_int_equal(r->gone, 6);
    l.n = 0;
    assert_int_equal(ft_store_list(st, "many/b", false, keep_entry, &l), FT_OK);
    check_many(&l, 550, MANY, false);
    assert_int_equal(r->gone, 8);
    assert_int_equal(r->alone, 0);
    assert_true(r->max_held >= 2);
    /* A HEAD refused: the listing fails with DENIED; what came before it
     * came in order. */
    l.n = 0;
    assert_int_equal(ft_store_list(st, "bad", false, keep_entry, &l), FT_ERR_DENIED);
    assert_int_equal(r->denied, 1);
    assert_true(l.n <= 30);
    for (size_t i = 0; i < l.n; i++) {
        snprintf(name, sizeof(name), "f%02zu", i);
        assert_string_equal(l.e[i].name, name);
    }
    ft_store_close(st);
    relay_stop(r);
    assert_int_equal(ft_store_remove(direct, "many", true), FT_OK);
    assert_int_equal(ft_store_remove(direct, "bad", true), FT_OK);
    ft_store_close(direct);
    free(l.e);
}

/* Goes on with up (begun kept, resumed) from offset: the rest of d, the
 * commit, then name holds d whole and nothing is left unfinished. */
static void finish_resumed(struct ft_store *st, struct ft_upload *up, const char *name,
                           const uint8_t *d, size_t n, uint64_t offset)
{
    assert_int_equal(ft_store_upload_resize(up, offset), FT_OK);
    assert_int_equal(ft_store_upload_write(up, d + offset, n - offset), FT_OK);
    assert_int_equal(ft_store_upload_commit(st, up), FT_OK);
    read_all(st, name, d, n);
    assert_int_equal(ft_store_partial_count(st), 0);
    assert_int_equal(mpu_count(), 0);
}

/* What a server killed mid-upload leaves of a kept upload: its multipart
 * upload on .ft/partial/KEY.RANDOM, with the parts that had arrived (1, 2
 * and 4 here: 3 was on its way). A put without --continue leaves it
 * alone; another server's put --continue of the same file (recover, then
 * begin_kept) completes it into the kept object. Part 4's bytes then
 * stand where 3's belonged: the resume's chunk sums agree on 16 MiB,
 * which the upload goes on from. */
static void test_dead_servers_upload_taken_over(void **state)
{
    struct ft_store *st = open_store();
    struct ft_store_s3 *s3 = ft_store_s3_of(st);
    size_t n = 36 * MIB; /* past the 4 parts of 8 MiB the dead server sent */
    uint8_t *a = pattern(n, 13), *back;
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_s3 *s = NULL;
    char key[FT_S3_KEY_MAX + 1], id[FT_S3_UPLOAD_ID_MAX], etag[FT_S3_ETAG_MAX];
    uint64_t have = 1;

    (void)state;
    assert_int_equal(ft_store_s3_key(s3, FT_S3_PARTIAL_DIR, "dead7", ".0123456789abcdef",
                                     key), FT_OK);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_mpu_create(s, key, NULL, 0, id), FT_OK);
    for (int part = 1; part <= 4; part++) {
        if (part != 3)
            assert_int_equal(ft_s3_mpu_part(s, key, id, part, a + (size_t)(part - 1) * 8 * MIB,
                                            8 * MIB, etag), FT_OK);
    }
    ft_s3_close(s);

    assert_int_equal(ft_store_upload_begin_kept(st, "dead.bin", "dead7", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(have, 0);
    ft_store_upload_abort(st, &up);
    assert_int_equal(mpu_count(), 1);

    up = (struct ft_upload)FT_UPLOAD_INIT;
    ft_store_upload_recover(st, "dead7", 3600);
    assert_int_equal(ft_store_upload_begin_kept(st, "dead.bin", "dead7", 3600, &up, &have),
                     FT_OK);
    assert_int_equal(have, 24 * MIB);
    back = malloc(8 * MIB);
    assert_non_null(back);
    for (size_t part = 0; part < 3; part++) {
        size_t got = 0;

        assert_int_equal(ft_store_upload_read_at(&up, back, 8 * MIB, part * 8 * MIB, &got),
                         FT_OK);
        assert_int_equal(got, 8 * MIB);
        assert_memory_equal(back, a + (part < 2 ? part : 3) * 8 * MIB, 8 * MIB);
    }
    free(back);
    finish_resumed(st, &up, "dead.bin", a, n, 16 * MIB);
    free(a);
    ft_store_close(st);
}

/* A copy in parts on the engine (above copy_max: 5 GiB, 11 MiB here)
 * carries over the metadata of the HEAD its caller made, and HEADs its
 * source no more (the relay counts): mv of a file, and the publish of a
 * kept upload (.ft/partial/counted.RANDOM), each HEAD their source once,
 * and the copy has the source's mtime. */
static void test_copy_heads_source_once(void **state)
{
    struct relay *r = relay_start();
    struct ft_store_options via = opt;
    struct ft_store *st = NULL;
    struct ft_upload up = FT_UPLOAD_INIT;
    size_t n = 12 * MIB;
    uint8_t *a = pattern(n, 13);
    char errbuf[256] = "";
    uint64_t have = 0;

    (void)state;
    via.s3_endpoint = r->endpoint;
    assert_int_equal(ft_store_open_at(&st, location, &via, errbuf, sizeof(errbuf)), FT_OK);
    ft_store_s3_of(st)->copy_max = 11 * MIB;
    upload(st, "counted.bin", a, n, NULL, 888);
    r->counted = 0;
    assert_int_equal(ft_store_move(st, "counted.bin", "moved-once.bin"), FT_OK);
    assert_int_equal(r->counted, 1);
    assert_int_equal(mtime_of(st, "moved-once.bin"), 888);
    assert_int_equal(ft_store_upload_begin_kept(st, "kept-once.bin", "counted", 3600, &up,
                                                &have), FT_OK);
    ft_store_upload_set_meta(&up, 999, 0644);
    assert_int_equal(ft_store_upload_write(&up, a, n), FT_OK);
    r->counted = 0;
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
    assert_int_equal(r->counted, 1);
    assert_int_equal(mtime_of(st, "kept-once.bin"), 999);
    read_all(st, "kept-once.bin", a, n);
    assert_int_equal(ft_store_remove(st, "moved-once.bin", false), FT_OK);
    assert_int_equal(ft_store_remove(st, "kept-once.bin", false), FT_OK);
    ft_store_close(st);
    relay_stop(r);
    free(a);
}

/* The parts that reached the multipart uploads under the prefix. */
struct first_upload {
    char key[FT_S3_KEY_MAX + 1];
    char id[FT_S3_UPLOAD_ID_MAX];
};

static int note_upload(void *arg, const struct ft_s3_upload *u)
{
    struct first_upload *f = arg;

    snprintf(f->key, sizeof(f->key), "%s", u->key);
    snprintf(f->id, sizeof(f->id), "%s", u->upload_id);
    return 1;
}

static int count_part(void *arg, const struct ft_s3_part *p)
{
    (void)p;
    ((struct counter *)arg)->n++;
    return 0;
}

static int parts_under(const char *below)
{
    char key[FT_S3_KEY_MAX + 1];
    struct first_upload f = { .key = "" };
    struct counter c = { 0 };
    struct ft_s3 *s = NULL;

    snprintf(key, sizeof(key), "%s%s", prefix, below);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    ft_s3_mpu_list(s, key, note_upload, &f);
    if (f.key[0] != '\0')
        assert_int_equal(ft_s3_mpu_parts(s, f.key, f.id, count_part, &c), FT_OK);
    ft_s3_close(s);
    return c.n;
}

/* Two servers, each with an upload of the same file, the second a put
 * --continue: its recover completes the first's multipart upload (one
 * that is alive: a client still sending). The first then fails at its
 * next part, and leaves the kept object to the second, which resumes
 * from its two parts (the first deleted it at its abort before). */
static void test_taken_upload_left_to_its_taker(void **state)
{
    struct ft_store *a = open_store(), *b = open_store();
    size_t n = 40 * MIB;
    uint8_t *d = pattern(n, 14);
    struct ft_upload ua = FT_UPLOAD_INIT, ub = FT_UPLOAD_INIT;
    int64_t deadline = now_ms() + 60000;
    uint64_t have = 1;

    (void)state;
    assert_int_equal(ft_store_upload_begin_kept(a, "taken.bin", "taken9", 3600, &ua, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&ua, d, 17 * MIB), FT_OK);
    while (parts_under(".ft/partial/taken9.") < 2 && now_ms() < deadline)
        poll(NULL, 0, 20); /* polling the condition, bounded */
    assert_int_equal(parts_under(".ft/partial/taken9."), 2);

    ft_store_upload_recover(b, "taken9", 3600);
    /* Its parts go out while the next fills: the 404 comes at the latest
     * when the commit waits for them. */
    (void)ft_store_upload_write(&ua, d + 17 * MIB, n - 17 * MIB);
    assert_int_equal(ft_store_upload_commit(a, &ua), FT_ERR_NOT_FOUND);

    assert_int_equal(ft_store_upload_begin_kept(b, "taken.bin", "taken9", 3600, &ub, &have),
                     FT_OK);
    assert_int_equal(have, 16 * MIB);
    finish_resumed(b, &ub, "taken.bin", d, n, have);
    free(d);
    ft_store_close(a);
    ft_store_close(b);
}

/* A session whose client just went: it keeps its upload a moment later. */
struct late_keep {
    struct ft_store *st;
    struct ft_upload *up;
};

static void *keep_late(void *arg)
{
    struct late_keep *k = arg;

    /* Later than the put --continue's recover begins, on any machine that
     * runs the next lines within 300 ms (if not, the test passes without
     * the wait too: it cannot fail for a slow machine). */
    poll(NULL, 0, 300);
    ft_store_upload_keep(k->st, k->up);
    return NULL;
}

/* put --continue at once after Ctrl-C: the session of the interrupted put
 * still holds its upload, and has not kept it yet. The recover waits for
 * it (bounded), so the new session resumes from what it kept, not from
 * zero (and does not leave that to the TTL). */
static void test_continue_waits_for_keep(void **state)
{
    struct ft_store *st = open_store();
    size_t n = 20 * MIB;
    uint8_t *d = pattern(n, 15);
    struct ft_upload ua = FT_UPLOAD_INIT, ub = FT_UPLOAD_INIT;
    struct late_keep k = { .st = st, .up = &ua };
    uint64_t have = 1;
    pthread_t th;

    (void)state;
    assert_int_equal(ft_store_upload_begin_kept(st, "late.bin", "late3", 3600, &ua, &have),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&ua, d, 12 * MIB), FT_OK);
    assert_int_equal(pthread_create(&th, NULL, keep_late, &k), 0);
    ft_store_upload_recover(st, "late3", 3600);
    assert_int_equal(ft_store_upload_begin_kept(st, "late.bin", "late3", 3600, &ub, &have),
                     FT_OK);
    pthread_join(th, NULL);
    assert_int_equal(have, 12 * MIB);
    finish_resumed(st, &ub, "late.bin", d, n, have);
    free(d);
    ft_store_close(st);
}

/* A bucket that is not there is refused, saying so: never made (a name
 * mistyped would get a bucket of its own). */
static void test_no_such_bucket_refused(void **state)
{
    struct ft_store *st = NULL;
    char where[160], errbuf[256] = "";
    struct ft_s3 *s = NULL;
    struct ft_s3_config other = cfg;
    struct counter c = { 0 };

    (void)state;
    snprintf(where, sizeof(where), "s3://ft-absent-%ld/files", (long)getpid());
    assert_int_equal(ft_store_open_at(&st, where, &opt, errbuf, sizeof(errbuf)),
                     FT_ERR_NOT_FOUND);
    assert_null(st);
    assert_non_null(strstr(errbuf, "no such bucket"));
    other.bucket = where + strlen("s3://");
    *strchr((char *)other.bucket, '/') = '\0';
    assert_int_equal(ft_s3_open(&other, &s), FT_OK);
    assert_int_equal(ft_s3_mpu_list(s, "", count_upload, &c), FT_ERR_NOT_FOUND);
    ft_s3_close(s);
}

/* An upload a dead server left is aborted by expiry. */
static void test_expiry_aborts_abandoned(void **state)
{
    struct ft_s3 *s = NULL;
    char key[FT_S3_KEY_MAX], id[FT_S3_UPLOAD_ID_MAX];
    struct ft_store *st;

    (void)state;
    snprintf(key, sizeof(key), "%sabandoned.bin", prefix);
    assert_int_equal(ft_s3_open(&cfg, &s), FT_OK);
    assert_int_equal(ft_s3_mpu_create(s, key, NULL, 0, id), FT_OK);
    ft_s3_close(s);
    assert_int_equal(mpu_count(), 1);
    st = open_store();
    ft_store_expire_partials(st, 3600); /* younger than the TTL: stays */
    assert_int_equal(mpu_count(), 1);
    ft_store_close(st);
    st = open_store();
    ft_store_expire_partials(st, -1); /* everything is older */
    assert_int_equal(mpu_count(), 0);
    ft_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_and_multipart),
        cmocka_unit_test(test_visible_at_commit_abort_leaves_nothing),
        cmocka_unit_test(test_ranges_and_old_or_new),
        cmocka_unit_test(test_list_mkdir_rm_mv),
        cmocka_unit_test(test_list_heads_at_once),
        cmocka_unit_test(test_digest_keyed_by_etag),
        cmocka_unit_test(test_kept_upload_resumed),
        cmocka_unit_test(test_kept_copied_on_engine),
        cmocka_unit_test(test_move_in_parts),
        cmocka_unit_test(test_concurrent_kept_uploads),
        cmocka_unit_test(test_dead_servers_upload_taken_over),
        cmocka_unit_test(test_taken_upload_left_to_its_taker),
        cmocka_unit_test(test_no_such_bucket_refused),
        cmocka_unit_test(test_continue_waits_for_keep),
        cmocka_unit_test(test_copy_heads_source_once),
        cmocka_unit_test(test_expiry_aborts_abandoned),
    };
    const char *bucket = getenv("FT_S3_BUCKET") ? getenv("FT_S3_BUCKET") : "ft-test";

    cfg.endpoint = getenv("FT_S3_ENDPOINT");
    if (cfg.endpoint == NULL || cfg.endpoint[0] == '\0') {
        printf("test_store_s3: SKIPPED: FT_S3_ENDPOINT is unset (scripts/radosgw.sh start)\n");
        return 77;
    }
    cfg.region = getenv("AWS_REGION");
    cfg.access_key = getenv("AWS_ACCESS_KEY_ID");
    cfg.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    cfg.bucket = bucket;
    opt = (struct ft_store_options){ .s3_endpoint = cfg.endpoint, .s3_region = cfg.region,
                                     .s3_access_key = cfg.access_key,
                                     .s3_secret_key = cfg.secret_key, .s3_path_style = true };
    snprintf(prefix, sizeof(prefix), "store-s3-%ld-%ld/", (long)getpid(), (long)time(NULL));
    snprintf(location, sizeof(location), "s3://%s/%.*s", bucket,
             (int)strlen(prefix) - 1, prefix);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
