/* test_chunks.c - the chunk lists the store keeps beside its files
 * (src/store_chunks.c): found while the file is as it was, refused once it
 * changed behind ft's back, gone with the file, swept when orphaned; PUT
 * with FT_XFER_CHUNKS records one; TOUCH sets mtime and mode only for the
 * same content, keeping the digest record and the list valid. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunker.h"
#include "clients.h"
#include "conn.h"
#include "ft/keys.h"
#include "hash.h"
#include "proto.h"
#include "store.h"
#include "testutil.h"
#include "touches.h"

#define BIG_BYTES (3u * 1024u * 1024u)
#define SMALL_BYTES (100u * 1024u)
#define MAX_ENTRIES 8192

struct entry {
    uint32_t len;
    uint64_t hash;
};

/* A list as the test cuts it itself, or reads it from the store. */
struct list {
    size_t n;
    unsigned level;
    struct entry e[MAX_ENTRIES];
};

/* A store of the test's own, in a fresh folder. */
struct fixture {
    char *base;
    char root[4096];
    char chunks[4096 + 16]; /* root/.ft/chunks */
    struct ft_store *st;
    struct list cut, got;
};

static struct ft_store *open_store(const char *root, bool read_only)
{
    struct ft_store *st = NULL;
    char why[256];

    assert_int_equal(ft_store_open(&st, root, read_only, why, sizeof(why)), FT_OK);
    return st;
}

static int setup(void **state)
{
    static struct fixture f;

    f.base = tu_tempdir();
    snprintf(f.root, sizeof(f.root), "%s/root", f.base);
    snprintf(f.chunks, sizeof(f.chunks), "%s/.ft/chunks", f.root);
    f.st = open_store(f.root, false);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ft_store_close(f->st);
    tu_rmtree(f->base);
    free(f->base);
    return 0;
}

/* Cuts the file at path as both sides of a sync must, into l. */
static void cut_file(const char *path, struct list *l)
{
    static uint8_t buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct ft_chunker k;
    struct ft_hash h;
    struct stat sb;
    uint8_t digest[FT_HASH_BYTES];
    uint32_t len = 0;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    l->level = ft_chunker_level_for((uint64_t)sb.st_size);
    l->n = 0;
    ft_chunker_init(&k, l->level);
    ft_hash_init(&h);
    for (;;) {
        ssize_t got = read(fd, buf, sizeof(buf));
        size_t at = 0;

        assert_true(got >= 0);
        if (got == 0)
            break;
        while (at < (size_t)got) {
            bool cut;
            size_t take = ft_chunker_scan(&k, buf + at, (size_t)got - at, &cut);

            ft_hash_update(&h, buf + at, take);
            at += take;
            len += (uint32_t)take;
            if (!cut)
                continue;
            assert_true(l->n < MAX_ENTRIES);
            ft_hash_final(&h, digest);
            l->e[l->n++] = (struct entry){ len, ft_chunk_hash_of(digest) };
            ft_hash_init(&h);
            len = 0;
        }
    }
    if (len > 0) {
        ft_hash_final(&h, digest);
        l->e[l->n++] = (struct entry){ len, ft_chunk_hash_of(digest) };
    }
    close(fd);
}

/* The list the store holds for name, or false when it has none. */
static bool stored_list(struct ft_store *st, const char *name, struct list *l)
{
    struct ft_store_file file;
    struct ft_store_chunks c;
    enum ft_err err;

    assert_int_equal(ft_store_open_file(st, name, &file), FT_OK);
    err = ft_store_chunks_open(st, &file, &c);
    ft_store_file_close(&file);
    if (err != FT_OK) {
        assert_int_equal(err, FT_ERR_NOT_FOUND);
        assert_int_equal(c.fd, -1);
        return false;
    }
    assert_true(c.count <= MAX_ENTRIES);
    l->n = (size_t)c.count;
    l->level = c.level;
    for (size_t i = 0; i < l->n; i++) {
        uint8_t e[FT_CHUNK_ENTRY_BYTES];

        assert_int_equal(pread(c.fd, e, sizeof(e),
                               (off_t)(c.offset + i * FT_CHUNK_ENTRY_BYTES)),
                         (ssize_t)sizeof(e));
        l->e[i].len = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 |
                      (uint32_t)e[2] << 8 | e[3];
        l->e[i].hash = 0;
        for (int b = 4; b < 12; b++)
            l->e[i].hash = l->e[i].hash << 8 | e[b];
    }
    ft_store_chunks_close(&c);
    return true;
}

static void assert_lists_equal(const struct list *a, const struct list *b)
{
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->e[i].len, b->e[i].len);
        assert_true(a->e[i].hash == b->e[i].hash);
    }
}

/* Records, for the stored file name, the list l by the store's own call
 * for a file cut by reading it. */
static void remember(struct ft_store *st, const char *name, const struct list *l)
{
    struct ft_store_chunks_writer *w = NULL;
    struct ft_store_file file;

    assert_int_equal(ft_store_open_file(st, name, &file), FT_OK);
    assert_int_equal(ft_store_chunks_begin(st, l->level, &w), FT_OK);
    for (size_t i = 0; i < l->n; i++)
        assert_int_equal(ft_store_chunks_add(w, l->e[i].len, l->e[i].hash), FT_OK);
    ft_store_file_remember_chunks(st, &file, w);
    ft_store_file_close(&file);
}

/* Writes a stored file straight into the root, behind the store's back. */
static char *plant(struct fixture *f, const char *name, uint64_t size, uint32_t seed)
{
    char *path = tu_path(f->root, name);

    tu_write_random(path, size, seed);
    return path;
}

static void test_remembered_list_is_found(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 1), *small = plant(f, "small", SMALL_BYTES, 2);

    cut_file(big, &f->cut);
    assert_true(f->cut.n > 100);
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    assert_int_equal(tu_count_entries(f->chunks), 1);
    /* A small file's list is not kept: cutting it again costs less. */
    cut_file(small, &f->cut);
    remember(f->st, "small", &f->cut);
    assert_false(stored_list(f->st, "small", &f->got));
    assert_int_equal(tu_count_entries(f->chunks), 1);
    free(big);
    free(small);
}

/* The list file of the stored file name, under .ft/chunks. */
static char *list_path(struct fixture *f, const char *name)
{
    char *path = tu_path(f->root, name), leaf[32];
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    free(path);
    snprintf(leaf, sizeof(leaf), "%016llx", (unsigned long long)sb.st_ino);
    return tu_path(f->chunks, leaf);
}

/* Waits (bounded) until the coarse clock that stamps inodes has moved
 * past the ctime of path, so that a change now gets a ctime of its own. */
static void await_next_tick(const char *path)
{
    struct stat sb;
    struct timespec now;
    int64_t deadline = tu_now_ms() + 2000;

    assert_int_equal(stat(path, &sb), 0);
    do {
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
    } while ((now.tv_sec < sb.st_ctim.tv_sec ||
              (now.tv_sec == sb.st_ctim.tv_sec && now.tv_nsec <= sb.st_ctim.tv_nsec)) &&
             tu_now_ms() < deadline);
}

static void test_changed_file_is_cut_again(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 1);
    struct timespec times[2];
    struct stat sb;
    int fd;

    cut_file(big, &f->cut);
    remember(f->st, "big", &f->cut);
    assert_true(stored_list(f->st, "big", &f->got));
    /* New content, new mtime: the stamp's size or mtime tells. */
    tu_write_random(big, BIG_BYTES, 3);
    assert_false(stored_list(f->st, "big", &f->got));
    cut_file(big, &f->cut);
    remember(f->st, "big", &f->cut);
    assert_true(stored_list(f->st, "big", &f->got));
    /* One byte changed in place, then size and mtime put back as they
     * were (touch -d): only the inode's ctime, which nobody sets, tells. */
    assert_int_equal(stat(big, &sb), 0);
    await_next_tick(big);
    fd = open(big, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "x", 1, BIG_BYTES / 2), 1);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
    assert_int_equal(stat(big, &sb), 0);
    assert_int_equal(sb.st_size, BIG_BYTES);
    assert_false(stored_list(f->st, "big", &f->got));
    free(big);
}

/* Hashes the file at path whole: the digest records and TOUCH name. */
static void digest_of(const char *path, uint8_t digest[FT_HASH_BYTES])
{
    static uint8_t buf[65536];
    struct ft_hash h;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    ft_hash_init(&h);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        ft_hash_update(&h, buf, (size_t)n);
    ft_hash_final(&h, digest);
    close(fd);
}

/* The store's own changes of a file's metadata keep its list: a digest
 * recorded after it, and ft_store_file_set_meta (TOUCH). */
static void test_store_meta_changes_keep_list(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 4);
    struct ft_store_file file;
    uint8_t digest[FT_HASH_BYTES], got[FT_HASH_BYTES];
    struct stat sb;

    digest_of(big, digest);
    cut_file(big, &f->cut);
    remember(f->st, "big", &f->cut);
    await_next_tick(big);
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    ft_store_file_remember(f->st, &file, digest);
    ft_store_file_close(&file);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    await_next_tick(big);
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_int_equal(ft_store_file_set_meta(f->st, &file, 1000000007, 0755, digest),
                     FT_OK);
    ft_store_file_close(&file);
    assert_int_equal(stat(big, &sb), 0);
    assert_int_equal(sb.st_mtime, 1000000007);
    assert_int_equal(sb.st_mode & 07777, 0755);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_true(ft_store_file_digest(&file, got));
    assert_memory_equal(got, digest, sizeof(got));
    ft_store_file_close(&file);
    /* A file changed since it was opened takes nothing. */
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    await_next_tick(big);
    tu_write_random(big, BIG_BYTES, 5);
    assert_int_equal(ft_store_file_set_meta(f->st, &file, 7, 0644, digest),
                     FT_ERR_CHANGED);
    ft_store_file_close(&file);
    assert_int_equal(stat(big, &sb), 0);
    assert_true(sb.st_mtime != 7);
    free(big);
}

/* Uploads size random bytes (seed) as name; with chunks, cut as they are
 * written and the list handed to the commit. */
static void upload(struct fixture *f, const char *name, uint64_t size, uint32_t seed,
                   bool chunks)
{
    char *src = tu_path(f->base, "src");
    static uint8_t buf[65536];
    struct ft_store_chunks_writer *w = NULL;
    struct ft_upload up;
    ssize_t n;
    int fd;

    tu_write_random(src, size, seed);
    cut_file(src, &f->cut);
    fd = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ft_store_upload_begin(f->st, name, &up), FT_OK);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        assert_int_equal(ft_store_upload_write(&up, buf, (size_t)n), FT_OK);
    close(fd);
    if (chunks) {
        assert_int_equal(ft_store_chunks_begin(f->st, f->cut.level, &w), FT_OK);
        for (size_t i = 0; i < f->cut.n; i++)
            assert_int_equal(ft_store_chunks_add(w, f->cut.e[i].len, f->cut.e[i].hash),
                             FT_OK);
        ft_store_upload_set_chunks(&up, w);
    }
    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    ft_store_upload_abort(f->st, &up);
    unlink(src);
    free(src);
}

static void test_replace_and_remove_drop_list(void **state)
{
    struct fixture *f = *state;
    char *d = tu_path(f->root, "d");

    upload(f, "big", BIG_BYTES, 6, true);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    assert_int_equal(tu_count_entries(f->chunks), 1);
    /* Replaced by an upload without a list: the old one's goes. */
    upload(f, "big", BIG_BYTES, 7, false);
    assert_false(stored_list(f->st, "big", &f->got));
    assert_int_equal(tu_count_entries(f->chunks), 0);
    upload(f, "big", BIG_BYTES, 8, true);
    assert_int_equal(tu_count_entries(f->chunks), 1);
    assert_int_equal(ft_store_remove(f->st, "big", false), FT_OK);
    assert_int_equal(tu_count_entries(f->chunks), 0);
    /* A folder removed with all it holds. */
    upload(f, "d/e/big", BIG_BYTES, 9, true);
    upload(f, "d/big", BIG_BYTES, 10, true);
    assert_int_equal(tu_count_entries(f->chunks), 2);
    assert_int_equal(ft_store_remove(f->st, "d", true), FT_OK);
    assert_false(tu_exists(d));
    assert_int_equal(tu_count_entries(f->chunks), 0);
    /* An aborted upload records nothing. */
    {
        struct ft_store_chunks_writer *w = NULL;
        struct ft_upload up;

        assert_int_equal(ft_store_upload_begin(f->st, "gone", &up), FT_OK);
        assert_int_equal(ft_store_chunks_begin(f->st, 0, &w), FT_OK);
        for (int i = 0; i < 2000; i++)
            assert_int_equal(ft_store_chunks_add(w, 2048, (uint64_t)i), FT_OK);
        ft_store_upload_set_chunks(&up, w);
        ft_store_upload_abort(f->st, &up);
        assert_int_equal(tu_count_entries(f->chunks), 0);
    }
    free(d);
}

/* Lists whose file went away behind ft's back (removed, moved), and
 * anything else under .ft/chunks, are removed when the store opens. */
static void test_sweep_at_open(void **state)
{
    struct fixture *f = *state;
    const char *names[] = { "a", "b", "sub/c" };
    char *planted = tu_path(f->chunks, "0123456789abcdef");
    char *gone = tu_path(f->root, "b"), *moved = tu_path(f->root, "sub/c");
    char *to = tu_path(f->root, "c2");

    for (int i = 0; i < 3; i++)
        upload(f, names[i], BIG_BYTES / 2, 11 + (uint32_t)i, true);
    upload(f, "a", BIG_BYTES / 2, 11, true);
    tu_write_bytes(planted, "not a list", 10);
    assert_int_equal(tu_count_entries(f->chunks), 4);
    assert_int_equal(unlink(gone), 0);
    assert_int_equal(rename(moved, to), 0);
    ft_store_close(f->st);
    f->st = open_store(f->root, false);
    assert_int_equal(tu_count_entries(f->chunks), 1);
    assert_true(stored_list(f->st, "a", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    free(planted);
    free(gone);
    free(moved);
    free(to);
}

/* A start looks at about 1024 lists, a random sample of more: the rest
 * go at the starts after. */
static void test_sweep_bounded(void **state)
{
    struct fixture *f = *state;
    int left;

    for (int i = 0; i < 1500; i++) {
        char leaf[32];
        char *path;

        snprintf(leaf, sizeof(leaf), "%016x", i);
        path = tu_path(f->chunks, leaf);
        tu_write_bytes(path, "orphan", 6);
        free(path);
    }
    ft_store_close(f->st);
    f->st = open_store(f->root, false);
    left = tu_count_entries(f->chunks);
    assert_true(left > 0 && left < 1500);
    ft_store_close(f->st);
    f->st = open_store(f->root, false);
    assert_int_equal(tu_count_entries(f->chunks), 0);
}

static void test_read_only_records_nothing(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 14), *other = plant(f, "other", BIG_BYTES, 15);
    struct ft_store *ro = open_store(f->root, true);

    cut_file(big, &f->cut);
    remember(ro, "big", &f->cut);
    assert_int_equal(tu_count_entries(f->chunks), 0);
    assert_false(stored_list(ro, "big", &f->got));
    /* What the writable store recorded, it reads. */
    remember(f->st, "big", &f->cut);
    assert_true(stored_list(ro, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    ft_store_close(ro);
    free(big);
    free(other);
}

/* Overwrites n bytes of the file path at off. */
static void poke(const char *path, off_t off, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
}

/* A list damaged or planted under .ft/chunks, with the right stamp, is
 * refused unless its entries fit the file. */
static void test_damaged_list_refused(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 16), *list;
    static const uint8_t zero_len[4] = { 0, 0, 0, 0 };
    static const uint8_t huge_count[8] = { 0x7f, 0, 0, 0, 0, 0, 0, 1 };
    static const uint8_t bad_level[1] = { 200 };

    cut_file(big, &f->cut);
    list = list_path(f, "big");
    /* 72 bytes of header, then entries: length (u32), hash (u64). */
    remember(f->st, "big", &f->cut);
    poke(list, 72, zero_len, sizeof(zero_len));
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    poke(list, 72 + 2, "\x7f", 1); /* a chunk longer than its level cuts */
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    poke(list, 16, huge_count, sizeof(huge_count));
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    poke(list, 8, bad_level, sizeof(bad_level));
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    assert_int_equal(truncate(list, 72 + 12), 0);
    assert_false(stored_list(f->st, "big", &f->got));
    remember(f->st, "big", &f->cut);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    free(list);
    free(big);
}

/* Two sessions recording the same file's list at once: each writes a
 * temporary of its own and renames it whole; the list is one of them. */
static void test_two_writers(void **state)
{
    struct fixture *f = *state;
    char *big = plant(f, "big", BIG_BYTES, 17);
    struct ft_store_chunks_writer *w[2] = { NULL, NULL };
    struct ft_store_file file[2];

    cut_file(big, &f->cut);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(ft_store_open_file(f->st, "big", &file[j]), FT_OK);
        assert_int_equal(ft_store_chunks_begin(f->st, f->cut.level, &w[j]), FT_OK);
    }
    for (size_t i = 0; i < f->cut.n; i++) {
        for (int j = 0; j < 2; j++)
            assert_int_equal(ft_store_chunks_add(w[j], f->cut.e[i].len,
                                                 f->cut.e[i].hash), FT_OK);
    }
    ft_store_file_remember_chunks(f->st, &file[0], w[0]);
    assert_true(stored_list(f->st, "big", &f->got));
    ft_store_file_remember_chunks(f->st, &file[1], w[1]);
    assert_true(stored_list(f->st, "big", &f->got));
    assert_lists_equal(&f->cut, &f->got);
    assert_int_equal(tu_count_entries(f->chunks), 1);
    ft_store_file_close(&file[0]);
    ft_store_file_close(&file[1]);
    free(big);
}

/* --- Through a server. --- */

static struct list seen, want; /* the server tests' lists */

/* Uploads a local file of size random bytes (seed) as name, asking for
 * its chunk list with chunks; *src (if not NULL) keeps the local path. */
static void put_file(struct tu_fixture *f, struct ft_client *c, const char *name,
                     uint64_t size, uint32_t seed, bool chunks, char **src)
{
    char *path = tu_path(f->work, name);
    struct ft_transfer_options opt = { .chunks = chunks };
    enum ft_err err;
    int fd;

    tu_write_random(path, size, seed);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    err = ft_client_put(c, fd, (int64_t)size, name, &opt, NULL);
    if (err != FT_OK)
        fail_msg("put %s: %s", name, ft_client_error(c));
    close(fd);
    if (src != NULL)
        *src = path;
    else
        free(path);
}

/* The running server's store, seen by a read-only store of the test's. */
static bool served_list(struct tu_fixture *f, const char *name, struct list *l)
{
    struct ft_store *ro = open_store(f->server.root, true);
    bool found = stored_list(ro, name, l);

    ft_store_close(ro);
    return found;
}

static void test_put_records_list(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = NULL;

    put_file(f, c, "big", BIG_BYTES, 21, true, &src);
    cut_file(src, &want);
    assert_true(served_list(f, "big", &seen));
    assert_lists_equal(&want, &seen);
    free(src);
    /* Not asked, or too small to be worth it: none. */
    put_file(f, c, "plain", BIG_BYTES, 22, false, NULL);
    assert_false(served_list(f, "plain", &seen));
    put_file(f, c, "small", SMALL_BYTES, 23, true, NULL);
    assert_false(served_list(f, "small", &seen));
    /* A file one byte into a new chunk level's size, and one replaced. */
    put_file(f, c, "big", 5 * 1024 * 1024 + 1, 24, true, &src);
    cut_file(src, &want);
    assert_true(served_list(f, "big", &seen));
    assert_lists_equal(&want, &seen);
    free(src);
    ft_client_close(c);
}

/* PUT's CHUNKS flag belongs to DELTA: without it negotiated, the flag is
 * a protocol error, as any flag the session did not agree on. */
static void test_put_chunks_needs_delta(void **state)
{
    struct tu_fixture *f = *state;
    const uint32_t features[2] = { 0, FT_FEATURE_DELTA };

    for (int i = 0; i < 2; i++) {
        struct ft_msg put = { .type = FT_MSG_PUT }, m;
        struct ft_conn conn;

        assert_true(tu_raw_handshake(&conn, f->server.port, features[i], 10000, NULL));
        put.u.put.flags = FT_XFER_VERIFY | FT_XFER_CHUNKS;
        put.u.put.size = 5;
        put.u.put.name.ptr = (const uint8_t *)"x";
        put.u.put.name.len = 1;
        assert_int_equal(ft_conn_send(&conn, &put), FT_OK);
        assert_int_equal(ft_conn_recv(&conn, &m, 10000), FT_OK);
        assert_int_equal(m.type, i == 0 ? FT_MSG_ERROR : FT_MSG_READY);
        if (i == 0)
            assert_int_equal(conn.peer_code, FT_ERR_PROTOCOL);
        ft_conn_free(&conn);
    }
}

/* What each TOUCH of a batch came to. */
struct touched {
    enum ft_err err[8];
    bool same[8];
};

static int note_touch(void *ctx, size_t i, enum ft_err err, const struct ft_name_answer *a)
{
    struct touched *t = ctx;

    t->err[i] = err;
    t->same[i] = a->same;
    return 0;
}

static void assert_stamped(struct tu_fixture *f, const char *name, time_t mtime,
                           mode_t mode)
{
    char *path = tu_path(f->server.root, name);
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mtime, mtime);
    assert_int_equal(sb.st_mode & 07777, mode);
    free(path);
}

/* The digest the server recorded for name, if it did. */
static bool served_digest(struct tu_fixture *f, const char *name, uint8_t d[32])
{
    struct ft_store *ro = open_store(f->server.root, true);
    struct ft_store_file file;
    bool known;

    assert_int_equal(ft_store_open_file(ro, name, &file), FT_OK);
    known = ft_store_file_digest(&file, d);
    ft_store_file_close(&file);
    ft_store_close(ro);
    return known;
}

static void test_touch(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    uint8_t digest[FT_HASH_BYTES], small_digest[FT_HASH_BYTES], other[FT_HASH_BYTES];
    uint8_t recorded[FT_HASH_BYTES];
    char *src = NULL, *small = NULL, *d = tu_path(f->server.root, "d");
    struct touched t;
    struct ft_stat st;

    put_file(f, c, "big", BIG_BYTES, 31, true, &src);
    put_file(f, c, "small", 1000, 32, false, &small);
    digest_of(src, digest);
    digest_of(small, small_digest);
    memset(other, 0x5a, sizeof(other));
    assert_int_equal(mkdir(d, 0755), 0);
    {   /* Pipelined as any requests on names; each refusal is its own. */
        const struct ft_name_request reqs[] = {
            { .op = FT_NAME_TOUCH, .name = "big", .digest = digest,
              .mtime = 1500000000, .mode = 0755 },
            { .op = FT_NAME_TOUCH, .name = "small", .digest = small_digest,
              .mtime = 1500000001, .mode = 0644 },
            { .op = FT_NAME_TOUCH, .name = "d", .digest = digest, .mtime = 1 },
            { .op = FT_NAME_TOUCH, .name = "missing", .digest = digest, .mtime = 1 },
            { .op = FT_NAME_TOUCH, .name = "../out", .digest = digest, .mtime = 1 },
            { .op = FT_NAME_TOUCH, .name = "small", .digest = other, .mtime = 2,
              .mode = 0755 },
        };

        memset(&t, 0, sizeof(t));
        /* The batch's outcome is its first failure. */
        assert_int_equal(ft_client_names(c, reqs, 6, note_touch, &t), FT_ERR_DENIED);
        assert_int_equal(t.err[0], FT_OK);
        assert_true(t.same[0]);
        assert_int_equal(t.err[1], FT_OK);
        assert_true(t.same[1]);
        assert_int_equal(t.err[2], FT_ERR_DENIED);
        assert_int_equal(t.err[3], FT_ERR_NOT_FOUND);
        assert_int_equal(t.err[4], FT_ERR_BAD_NAME);
        assert_int_equal(t.err[5], FT_OK);
        assert_false(t.same[5]);
    }
    assert_stamped(f, "big", 1500000000, 0755);
    assert_stamped(f, "small", 1500000001, 0644);
    /* The records stay valid under the file's new stamp. */
    assert_true(served_digest(f, "big", recorded));
    assert_memory_equal(recorded, digest, sizeof(recorded));
    cut_file(src, &want);
    assert_true(served_list(f, "big", &seen));
    assert_lists_equal(&want, &seen);
    /* Another content: nothing changes, and the session goes on. */
    {
        const struct ft_name_request r = { .op = FT_NAME_TOUCH, .name = "big",
                                           .digest = other, .mtime = 7, .mode = 0 };

        memset(&t, 0, sizeof(t));
        assert_int_equal(ft_client_names(c, &r, 1, note_touch, &t), FT_OK);
        assert_false(t.same[0]);
    }
    assert_stamped(f, "big", 1500000000, 0755);
    assert_int_equal(ft_client_stat(c, "big", &st), FT_OK);
    assert_int_equal(st.size, BIG_BYTES);
    ft_client_close(c);
    free(src);
    free(small);
    free(d);
}

/* Starts the fixture's server with cfg, with a file "kept" of 1000 bytes
 * planted in its store (*digest its digest), and connects with ccfg. */
static struct ft_client *serve_kept(struct tu_fixture *f, const struct ft_server_config *cfg,
                                    const struct ft_client_config *ccfg,
                                    uint8_t digest[FT_HASH_BYTES])
{
    char *stored;

    tu_server_start(&f->server, cfg);
    stored = tu_path(f->server.root, "kept");
    tu_write_random(stored, 1000, 41);
    digest_of(stored, digest);
    free(stored);
    return tu_connect(f->server.port, ccfg);
}

static void test_touch_needs_write(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_keypair me;
    char key[FT_CLIENT_KEY_TEXT_MAX], line[512];
    char *path = tu_path(f->work, "clients");
    struct ft_server_config cfg = { .clients_file = path };
    struct ft_client_config ccfg = { .identity = &me };
    uint8_t digest[FT_HASH_BYTES];
    struct ft_name_request r = { .op = FT_NAME_TOUCH, .name = "kept", .digest = digest,
                                 .mtime = 5 };
    struct ft_client *c;
    struct touched t = { .same = { true } };
    struct ft_stat st;

    ft_keys_generate(&me);
    ft_clients_format_key(me.public_key, key);
    tu_write_bytes(path, line, (size_t)snprintf(line, sizeof(line), "%s allow=read,list\n", key));
    c = serve_kept(f, &cfg, &ccfg, digest);
    assert_int_equal(ft_client_names(c, &r, 1, note_touch, &t), FT_ERR_NOT_ALLOWED);
    assert_false(t.same[0]);
    assert_non_null(strstr(ft_client_error(c), "may not write"));
    /* Nothing changed, and the session goes on. */
    assert_int_equal(ft_client_stat(c, "kept", &st), FT_OK);
    assert_true(st.mtime != 5);
    ft_client_close(c);
    free(path);
}

/* A read-only server changes nothing: the same content is refused with
 * READ_ONLY, another is answered 0 as anywhere. */
static void test_touch_read_only(void **state)
{
    struct ft_server_config cfg = { .read_only = true };
    uint8_t digest[FT_HASH_BYTES], other[FT_HASH_BYTES] = { 1 };
    struct ft_name_request reqs[2] = {
        { .op = FT_NAME_TOUCH, .name = "kept", .digest = digest, .mtime = 5 },
        { .op = FT_NAME_TOUCH, .name = "kept", .digest = other, .mtime = 5 },
    };
    struct ft_client *c = serve_kept(*state, &cfg, NULL, digest);
    struct touched t = { .same = { true, true } };
    struct ft_stat st;

    assert_int_equal(ft_client_names(c, reqs, 2, note_touch, &t), FT_ERR_READ_ONLY);
    assert_int_equal(t.err[0], FT_ERR_READ_ONLY);
    assert_int_equal(t.err[1], FT_OK);
    assert_false(t.same[1]);
    assert_int_equal(ft_client_stat(c, "kept", &st), FT_OK);
    assert_true(st.mtime != 5);
    ft_client_close(c);
}

/* A server from before ft sync: its WELCOME offers no DELTA. It answers
 * the handshake, then notes the first frame the client sends (CLOSED: the
 * client hung up without sending any). */
struct old_server {
    int listen_fd;
    enum ft_err got;
    int type;
};

static void *old_server_main(void *arg)
{
    struct old_server *o = arg;
    struct ft_msg m, welcome = { .type = FT_MSG_WELCOME };
    char peer[FT_NET_PEER_MAX];
    struct ft_conn conn;
    int fd = -1;

    o->got = FT_ERR_USAGE;
    if (ft_net_accept(o->listen_fd, 10000, &fd, peer, sizeof(peer)) != FT_OK ||
        ft_conn_init(&conn, fd, 10000) != FT_OK)
        return NULL;
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = FT_FEATURE_PLAINTEXT | FT_FEATURE_PIPELINE |
                                 FT_FEATURE_MKDIR;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    if (ft_conn_recv(&conn, &m, 10000) == FT_OK && m.type == FT_MSG_HELLO &&
        ft_conn_send(&conn, &welcome) == FT_OK) {
        o->got = ft_conn_recv(&conn, &m, 10000);
        o->type = o->got == FT_OK ? (int)m.type : 0;
    }
    ft_conn_free(&conn);
    return NULL;
}

/* A thread running run(arg) that serves the port it listens on, and a
 * plaintext client connected to it. */
static struct ft_client *connect_to_thread(int *listen_fd, pthread_t *tid,
                                           void *(*run)(void *), void *arg)
{
    struct ft_client_config cfg = { .timeout_ms = 10000, .plaintext = true };
    char why[128];
    uint16_t port = 0;

    assert_int_equal(ft_net_listen("127.0.0.1", 0, listen_fd, &port, why, sizeof(why)),
                     FT_OK);
    assert_int_equal(pthread_create(tid, NULL, run, arg), 0);
    return tu_connect(port, &cfg);
}

static void test_touch_old_server(void **state)
{
    struct old_server o = { .listen_fd = -1 };
    uint8_t digest[FT_HASH_BYTES] = { 0 };
    const struct ft_name_request r = { .op = FT_NAME_TOUCH, .name = "f",
                                       .digest = digest, .mtime = 1 };
    struct touched t;
    pthread_t tid;
    struct ft_client *c = connect_to_thread(&o.listen_fd, &tid, old_server_main, &o);

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(ft_client_names(c, &r, 1, note_touch, &t), FT_ERR_VERSION);
    assert_int_equal(t.err[0], FT_ERR_VERSION);
    assert_non_null(strstr(ft_client_error(c), "TOUCH"));
    ft_client_close(c);
    pthread_join(tid, NULL);
    /* Nothing was sent: the server saw the client leave. */
    assert_int_equal(o.got, FT_ERR_CLOSED);
    close(o.listen_fd);
}


/* A server with TOUCH but from before TOUCH_PACKED: answers each TOUCH
 * (DONE 1 when the digest starts with 0), counts the frames of each kind
 * until the client leaves. */
struct touch_server {
    int listen_fd;
    size_t touches, others;
};

static void *touch_server_main(void *arg)
{
    struct touch_server *o = arg;
    struct ft_msg m, done = { .type = FT_MSG_DONE };
    struct ft_conn conn;

    if (!tu_raw_welcome(&conn, o->listen_fd, FT_FEATURE_PLAINTEXT | FT_FEATURE_PIPELINE |
                                                 FT_FEATURE_MKDIR | FT_FEATURE_DELTA,
                        10000))
        return NULL;
    while (ft_conn_recv(&conn, &m, 10000) == FT_OK) {
        if (m.type != FT_MSG_TOUCH) {
            o->others++;
            break;
        }
        o->touches++;
        done.u.done.count = m.u.touch.digest[0] == 0;
        if (ft_conn_send(&conn, &done) != FT_OK)
            break;
    }
    ft_conn_free(&conn);
    return NULL;
}

/* Against it, a batch of touches goes as one TOUCH each. */
static void test_touches_old_server(void **state)
{
    struct touch_server o = { .listen_fd = -1 };
    uint8_t same[FT_HASH_BYTES] = { 0 }, other[FT_HASH_BYTES] = { 1 };
    const struct ft_name_request reqs[] = {
        { .op = FT_NAME_TOUCH, .name = "a", .digest = same, .mtime = 1 },
        { .op = FT_NAME_TOUCH, .name = "b", .digest = other, .mtime = 1 },
        { .op = FT_NAME_TOUCH, .name = "c", .digest = same, .mtime = 1 },
    };
    struct touched t;
    pthread_t tid;
    struct ft_client *c = connect_to_thread(&o.listen_fd, &tid, touch_server_main, &o);

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(ft_client_names_ahead(c, FT_NAME_TOUCH), FT_NAMES_WINDOW);
    assert_int_equal(ft_client_names(c, reqs, 3, note_touch, &t), FT_OK);
    assert_true(t.same[0]);
    assert_false(t.same[1]);
    assert_true(t.same[2]);
    ft_client_close(c);
    pthread_join(tid, NULL);
    assert_int_equal(o.touches, 3);
    assert_int_equal(o.others, 0);
    close(o.listen_fd);
}

#define MANY 300
struct many { enum ft_err err[MANY]; bool same[MANY]; size_t told; };

static int note_many(void *ctx, size_t i, enum ft_err err, const struct ft_name_answer *a)
{
    struct many *m = ctx;

    m->err[i] = err;
    m->same[i] = a->same;
    m->told++;
    return 0;
}

/* A batch of touches on a server that takes them packed: more than one
 * TOUCHES request's worth, the same ones set, another content told so, a
 * failure its own; far fewer bytes a file than a TOUCH each (~110). */
static void test_touches_packed(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    uint8_t digest[FT_HASH_BYTES], other[FT_HASH_BYTES];
    static struct ft_name_request reqs[MANY];
    static char names[MANY][32];
    static struct many m;
    char *src = NULL;
    uint64_t out0, in0, out1, in1;

    put_file(f, c, "kept", 1000, 33, false, &src);
    digest_of(src, digest);
    memset(other, 0x5a, sizeof(other));
    for (size_t i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof(names[i]), "%s", i == 7 ? "missing" : "kept");
        reqs[i] = (struct ft_name_request){ .op = FT_NAME_TOUCH, .name = names[i],
                                            .digest = i % 3 == 1 ? other : digest,
                                            .mtime = 1600000000 + (int64_t)(i == MANY - 1),
                                            .mode = 0644 };
    }
    assert_int_equal(ft_client_names_ahead(c, FT_NAME_TOUCH), FT_TOUCHES_WINDOW);
    ft_client_wire_bytes(c, &out0, &in0);
    memset(&m, 0, sizeof(m));
    assert_int_equal(ft_client_names(c, reqs, MANY, note_many, &m), FT_ERR_NOT_FOUND);
    ft_client_wire_bytes(c, &out1, &in1);
    assert_int_equal(m.told, MANY);
    for (size_t i = 0; i < MANY; i++) {
        assert_int_equal(m.err[i], i == 7 ? FT_ERR_NOT_FOUND : FT_OK);
        assert_int_equal(m.same[i], i != 7 && i % 3 != 1);
    }
    assert_stamped(f, "kept", 1600000001, 0644);
    assert_true((out1 - out0) + (in1 - in0) < 30u * MANY);
    ft_client_close(c);
    free(src);
}

/* A hostile TOUCHES (over FT_TOUCHES_MAX entries, or cut short) is refused
 * with an ERROR, and the session goes on. */
static void test_touches_hostile(void **state)
{
    static uint8_t buf[FT_ENTRIES_FRAME_BYTES];
    uint8_t digest[FT_HASH_BYTES] = { 0 };
    struct tu_fixture *f = *state;
    struct ft_touches_out w;
    struct ft_conn conn;
    size_t len, n = 0;
    struct ft_msg m;

    assert_true(tu_raw_handshake(&conn, f->server.port, FT_FEATURE_SHARED | FT_FEATURE_PLAINTEXT,
                                 5000, NULL));
    ft_touches_begin(&w, buf, &len);
    while (ft_touches_put(&w, buf, sizeof(buf), &len, "a", 1, 1, 0644, digest))
        n++;
    assert_int_equal(n, FT_TOUCHES_MAX);
    /* One more entry, as a hostile client would write it. */
    buf[len] = 1, buf[len + 1] = 0; /* prefix 1, no suffix: "a" again */
    memcpy(buf + len + 2, "\x00\x84\x03", 3);
    memset(buf + len + 5, 0, FT_TOUCH_TAG_BYTES);
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_TOUCHES, buf, len + 5 + FT_TOUCH_TAG_BYTES),
                     FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
    /* Cut short: the salt alone and half a tag. */
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_TOUCHES, buf, FT_TOUCHES_SALT_BYTES + 12),
                     FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    /* The session goes on: a well-formed one is answered. */
    ft_touches_begin(&w, buf, &len);
    assert_true(ft_touches_put(&w, buf, sizeof(buf), &len, "missing", 7, 1, 0644, digest));
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_TOUCHES, buf, len), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_TOUCHED);
    ft_conn_free(&conn);
}

#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(test_remembered_list_is_found),
        STORE_TEST(test_changed_file_is_cut_again),
        STORE_TEST(test_store_meta_changes_keep_list),
        STORE_TEST(test_replace_and_remove_drop_list),
        STORE_TEST(test_sweep_at_open),
        STORE_TEST(test_sweep_bounded),
        STORE_TEST(test_read_only_records_nothing),
        STORE_TEST(test_damaged_list_refused),
        STORE_TEST(test_two_writers),
        TU_TEST_SERVER(test_put_records_list),
        TU_TEST_SERVER(test_put_chunks_needs_delta),
        TU_TEST_SERVER(test_touch),
        TU_TEST_FIXTURE(test_touch_needs_write),
        TU_TEST_FIXTURE(test_touch_read_only),
        TU_TEST_FIXTURE(test_touch_old_server),
        TU_TEST_FIXTURE(test_touches_old_server),
        TU_TEST_SERVER(test_touches_packed),
        TU_TEST_SERVER(test_touches_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
