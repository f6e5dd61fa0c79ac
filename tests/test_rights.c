/* test_rights.c - what a client's line in the clients file lets it do:
 * allow= refusals, the world of root=, quota= and files= (uploads at once,
 * kept partial uploads), and ft df's numbers. Every client here is admitted
 * by a real clients file, by the key the library proves. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clients.h"
#include "ft/keys.h"
#include "testutil.h"

#define KIB 1024u

static struct ft_keypair me; /* the key every client of these tests proves */

/* Starts the fixture's in-process server with a clients file of one line:
 * this test's key with opts. */
static void start_server(struct tu_fixture *f, const char *opts)
{
    tu_fixture_serve_key(f, me.public_key, opts);
}

/* Connects as this test's key. */
static struct ft_client *again(struct tu_fixture *f)
{
    struct ft_client_config ccfg = { .identity = &me };

    return tu_connect(f->server.port, &ccfg);
}

static struct ft_client *serve_as(struct tu_fixture *f, const char *opts)
{
    start_server(f, opts);
    return again(f);
}

/* A file of the store, by its path below the store's root. */
static char *stored(struct tu_fixture *f, const char *name)
{
    return tu_path(f->server.root, name);
}

/* A file or a folder put into the store behind the server, whatever the
 * store. */
static void plant(struct tu_fixture *f, const char *name, uint64_t size)
{
    char *p = tu_path(f->work, ".plant");

    tu_write_random(p, size, 7);
    tu_store_put_file(f->server.root, name, p);
    unlink(p);
    free(p);
}

static void plant_dir(struct tu_fixture *f, const char *name)
{
    tu_store_mkdir(f->server.root, name);
}

/* The size of the store's file name, whatever the store; -1: none. */
static int64_t stored_size(struct tu_fixture *f, const char *name)
{
    size_t len = 0;
    char *data = tu_store_read(f->server.root, name, &len);
    int64_t size = data != NULL ? (int64_t)len : -1;

    free(data);
    return size;
}

static bool in_store(struct tu_fixture *f, const char *name)
{
    return tu_store_exists(f->server.root, name);
}

/* Uploads a local file of size random bytes as name. */
static enum ft_err put_sized(struct tu_fixture *f, struct ft_client *c,
                             const char *name, uint64_t size)
{
    char *src = tu_path(f->work, "src");
    enum ft_err err;
    int fd;

    tu_write_random(src, size, (uint32_t)size);
    fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    err = ft_client_put(c, fd, (int64_t)size, name, NULL, NULL);
    close(fd);
    free(src);
    return err;
}

static void expect_error(struct ft_client *c, enum ft_err got, enum ft_err want,
                         const char *text)
{
    if (got != want)
        fail_msg("got %s (%s), wanted %s", ft_err_name(got), ft_client_error(c),
                 ft_err_name(want));
    if (text != NULL && strstr(ft_client_error(c), text) == NULL)
        fail_msg("'%s' does not say '%s'", ft_client_error(c), text);
}

static void expect_not_allowed(struct ft_client *c, enum ft_err got,
                               const char *lacks)
{
    char want[128];

    snprintf(want, sizeof(want), "not allowed: this client may not %s", lacks);
    expect_error(c, got, FT_ERR_NOT_ALLOWED, want);
}

static int count_entry(const struct ft_entry *e, void *ctx)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

/* A client that may only list and read: every write, removal and move is
 * refused with NOT_ALLOWED and words that say which right it lacks,
 * nothing changes, and the session goes on (pipelined puts included). */
static void test_read_only_client(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_transfer_options opt = { 0 };
    struct ft_client *c;
    struct ft_stat st;
    char *src = tu_path(f->work, "piped"), *back = tu_path(f->work, "back");
    int entries = 0, fd;

    tu_write_random(src, 1000, 1);
    c = serve_as(f, "allow=list,read");
    plant(f, "keep", 5000);
    expect_not_allowed(c, put_sized(f, c, "new", 1000),
                       "write (its allow= is list,read)");
    expect_not_allowed(c, put_sized(f, c, "keep", 10), "write");
    expect_not_allowed(c, ft_client_mkdir(c, "d", false, NULL), "write");
    expect_not_allowed(c, ft_client_remove(c, "keep"), "delete");
    expect_not_allowed(c, ft_client_move(c, "keep", "moved"), "write and delete");
    /* Pipelined uploads: the refused one's data is skipped, in step. */
    if (ft_client_can_pipeline(c)) {
        fd = open(src, O_RDONLY);
        assert_int_equal(ft_client_put_send(c, fd, 1000, "p1", &opt), FT_OK);
        close(fd);
        fd = open(src, O_RDONLY);
        assert_int_equal(ft_client_put_send(c, fd, 1000, "p2", &opt), FT_OK);
        close(fd);
        expect_not_allowed(c, ft_client_put_wait(c, NULL), "write");
        expect_not_allowed(c, ft_client_put_wait(c, NULL), "write");
    }
    /* What it may do still works, on the same connection. */
    assert_int_equal(ft_client_list(c, count_entry, &entries), FT_OK);
    assert_int_equal(entries, 1);
    assert_int_equal(ft_client_stat(c, "keep", &st), FT_OK);
    assert_int_equal(st.size, 5000);
    assert_int_equal(ft_client_get_file(c, "keep", back, NULL, NULL), FT_OK);
    assert_true(in_store(f, "keep") && !in_store(f, "new") && !in_store(f, "d") &&
                !in_store(f, "moved") && !in_store(f, "p1") && !in_store(f, "p2"));
    {   /* untouched */
        size_t len = 0;
        char *kept = tu_store_read(f->server.root, "keep", &len);

        assert_non_null(kept);
        assert_int_equal(len, 5000);
        free(kept);
    }
    ft_client_close(c);
    free(src);
    free(back);
}

/* A client that may only write: it cannot list, read, stat, delete, or
 * move (a move deletes its old name); a refused get --continue's digests
 * are read past, in step. */
static void test_write_only_client(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_transfer_options resume = { .resume = true };
    struct ft_client *c;
    struct ft_stat st;
    char *back = tu_path(f->work, "back");
    int entries = 0;

    c = serve_as(f, "allow=write");
    assert_int_equal(put_sized(f, c, "mine", 3000), FT_OK);
    expect_not_allowed(c, ft_client_list(c, count_entry, &entries), "list");
    expect_not_allowed(c, ft_client_stat(c, "mine", &st), "read");
    expect_not_allowed(c, ft_client_get_file(c, "mine", back, NULL, NULL), "read");
    expect_not_allowed(c, ft_client_get_file(c, "mine", back, &resume, NULL), "read");
    expect_not_allowed(c, ft_client_remove(c, "mine"), "delete (its allow= is write)");
    expect_not_allowed(c, ft_client_move(c, "mine", "other"), "delete");
    assert_int_equal(ft_client_mkdir(c, "d", false, NULL), FT_OK);
    assert_true(in_store(f, "mine") && !in_store(f, "other") && in_store(f, "d"));
    assert_false(tu_exists(back));
    ft_client_close(c);
    free(back);
}

/* With write and delete, a move goes through. */
static void test_move_needs_write_and_delete(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = serve_as(f, "allow=write,delete");

    assert_int_equal(put_sized(f, c, "a", 100), FT_OK);
    assert_int_equal(ft_client_move(c, "a", "b"), FT_OK);
    assert_true(in_store(f, "b") && !in_store(f, "a"));
    ft_client_close(c);
}

/* Whether the client's last error names its root. */
static void expect_root_hidden(struct ft_client *c)
{
    if (strstr(ft_client_error(c), "home-alice") != NULL)
        fail_msg("the error shows the root: %s", ft_client_error(c));
}

static void expect_fails_hidden(struct ft_client *c, enum ft_err got)
{
    if (got == FT_OK)
        fail_msg("a request outside the root succeeded");
    expect_root_hidden(c);
}

/* Every request that reads, lists, removes or moves name away fails, and
 * no answer names the root. */
static void refused_everywhere(struct ft_client *c, const char *name,
                               const char *back)
{
    struct ft_listing l = { NULL, 0, 0 };
    struct ft_stat st;

    expect_fails_hidden(c, ft_client_get_file(c, name, back, NULL, NULL));
    expect_fails_hidden(c, ft_client_stat(c, name, &st));
    expect_fails_hidden(c, ft_client_list_all(c, name, false, &l));
    ft_listing_free(&l);
    expect_fails_hidden(c, ft_client_remove(c, name));
    expect_fails_hidden(c, ft_client_move(c, name, "got"));
}

/* The link l in the world of a client confined to home-alice/ (planted
 * there, to ../b): nothing through it is reached, moved, made or listed,
 * and each refusal names the link, never the root. */
static void link_refused(struct tu_fixture *f, struct ft_client *c, const char *back)
{
    struct ft_listing l = { NULL, 0, 0 };

    expect_fails_hidden(c, ft_client_move(c, "own", "l/own"));
    expect_fails_hidden(c, ft_client_mkdir(c, "l/dir", true, NULL));
    expect_fails_hidden(c, ft_client_list_all(c, "l", false, &l));
    ft_listing_free(&l);
    expect_fails_hidden(c, ft_client_remove_tree(c, "l", true));
    /* The link is named, its root is not. */
    expect_error(c, ft_client_get_file(c, "l/secret", back, NULL, NULL),
                 FT_ERR_DENIED, "'l/secret': 'l' is a symbolic link");
    expect_error(c, put_sized(f, c, "l/new", 10), FT_ERR_DENIED, "'l' is a symbolic");
    /* A pipelined upload, refused at its commit, is told the same way. */
    if (ft_client_can_pipeline(c)) {
        struct ft_transfer_options opt = { 0 };
        char *src = tu_path(f->work, "small");
        int fd;

        tu_write_random(src, 100, 5);
        fd = open(src, O_RDONLY);
        assert_int_equal(ft_client_put_send(c, fd, 100, "l/piped", &opt), FT_OK);
        close(fd);
        expect_error(c, ft_client_put_wait(c, NULL), FT_ERR_DENIED,
                     "'l/piped': 'l' is a symbolic link");
        expect_root_hidden(c);
        free(src);
    }
}

/* A client whose root is home-alice/ sees it as its whole store: it cannot
 * reach b/ by any name, by a link planted in its world, or by a move, in
 * or out; no reply names its root; its own names land beneath it. S3 has
 * no links: there the link's part is left out. */
static void test_root_confinement(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c;
    struct ft_listing l = { NULL, 0, 0 };
    char *back = tu_path(f->work, "back");
    char *link_path = NULL;
    bool links = !tu_store_s3();

    c = serve_as(f, "root=home-alice");
    /* Made at its first session, empty. */
    assert_int_equal(ft_client_list_all(c, "/", false, &l), FT_OK);
    assert_int_equal(l.n, 0);
    ft_listing_free(&l);
    assert_true(in_store(f, "home-alice"));
    plant_dir(f, "b");
    plant(f, "b/secret", 4000);
    plant(f, "top", 100);
    if (links) {
        link_path = stored(f, "home-alice/l");
        assert_int_equal(symlink("../b", link_path), 0);
    }
    assert_int_equal(put_sized(f, c, "own", 1000), FT_OK);
    assert_int_equal(put_sized(f, c, "sub/deep", 10), FT_OK);
    /* A .ft at the top of its world is as hidden as the store's own. */
    plant_dir(f, "home-alice/.ft");
    plant(f, "home-alice/.ft/x", 10);
    assert_true(in_store(f, "home-alice/own") && in_store(f, "home-alice/sub/deep"));

    /* ls /: its root, and the link is not listed (nor followed). */
    assert_int_equal(ft_client_list_all(c, "/", true, &l), FT_OK);
    assert_int_equal(l.n, 3); /* own, sub, sub/deep */
    for (size_t i = 0; i < l.n; i++)
        assert_null(strstr(l.entries[i].name, "home-alice"));
    ft_listing_free(&l);
    /* A file listed alone goes by the client's name for it. */
    assert_int_equal(ft_client_list_all(c, "own", false, &l), FT_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.entries[0].name, "own");
    ft_listing_free(&l);

    /* Names that climb out: refused whatever the request. */
    static const char *const escaping[] = { "../b/secret", "x/../../b/secret",
                                            "../top", "./../top", "sub/../../top" };
    for (size_t i = 0; i < sizeof(escaping) / sizeof(*escaping); i++) {
        refused_everywhere(c, escaping[i], back);
        expect_fails_hidden(c, ft_client_move(c, "own", escaping[i]));
        expect_fails_hidden(c, put_sized(f, c, escaping[i], 10));
        expect_fails_hidden(c, ft_client_mkdir(c, escaping[i], true, NULL));
    }
    /* Names of the store's top, and through the link: nothing there to
     * read, remove or move, in its world. */
    static const char *const elsewhere[] = { "/b/secret", "b/secret", "l/secret",
                                             "top", "/top" };
    for (size_t i = 0; i < sizeof(elsewhere) / sizeof(*elsewhere); i++)
        refused_everywhere(c, elsewhere[i], back);
    if (links)
        link_refused(f, c, back);
    /* Nothing of b/ or the top moved, changed or came back. */
    assert_int_equal(stored_size(f, "b/secret"), 4000);
    assert_int_equal(tu_store_count(f->server.root, "b"), 1);
    assert_int_equal(stored_size(f, "top"), 100);
    assert_false(tu_exists(back));
    assert_true(in_store(f, "home-alice/own") && !in_store(f, "home-alice/got"));
    ft_client_close(c);
    free(link_path);
    free(back);
}

struct racer {
    struct tu_fixture *f;
    char name[16];
    char src[512];
    uint64_t size;
    enum ft_err err;
};

static void *race_put(void *arg)
{
    struct racer *r = arg;
    struct ft_client_config ccfg = { .identity = &me };
    struct ft_client *c = NULL;
    char why[256];
    int fd = open(r->src, O_RDONLY);

    r->err = tu_try_connect(&c, r->f->server.port, &ccfg, why, sizeof(why));
    if (r->err == FT_OK && fd >= 0)
        r->err = ft_client_put(c, fd, (int64_t)r->size, r->name, NULL, NULL);
    if (fd >= 0)
        close(fd);
    ft_client_close(c);
    return NULL;
}

/* Eight connections of one client upload at once, 8 x 200 KiB against a
 * quota of 1 MiB: five fit, three are refused with QUOTA, whatever the
 * order, and the store holds what df says, within the quota. */
static void test_quota_concurrent_uploads(void **state)
{
    struct tu_fixture *f = *state;
    struct racer r[8];
    pthread_t t[8];
    struct ft_usage u;
    struct ft_client *c;
    char *src = tu_path(f->work, "src8");
    int ok = 0;

    tu_write_random(src, 200 * KIB, 8);
    c = serve_as(f, "root=q quota=1M files=100");
    for (int i = 0; i < 8; i++) {
        r[i] = (struct racer){ .f = f, .size = 200 * KIB, .err = FT_OK };
        snprintf(r[i].name, sizeof(r[i].name), "f%d", i);
        snprintf(r[i].src, sizeof(r[i].src), "%s", src);
        assert_int_equal(pthread_create(&t[i], NULL, race_put, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].err == FT_OK || r[i].err == FT_ERR_QUOTA);
        ok += r[i].err == FT_OK;
    }
    assert_int_equal(ok, 5);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 5 * 200 * KIB);
    assert_int_equal(u.files, 5);
    assert_int_equal(u.pending_bytes, 0);
    assert_true(u.bytes <= 1024 * KIB);
    assert_int_equal(tu_store_bytes(f->server.root, "q"), (int64_t)u.bytes);
    /* The refusal says how much is used. */
    expect_error(c, put_sized(f, c, "one-more", 200 * KIB), FT_ERR_QUOTA,
                 "quota exceeded: 1024000 of 1048576 bytes used");
    ft_client_close(c);
    free(src);
}

/* files=: a new file past it is refused, a replaced one is not (it makes
 * no new file), and a removal gives one back. */
static void test_quota_files(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = serve_as(f, "root=n files=3");
    struct ft_usage u;

    assert_int_equal(put_sized(f, c, "1", 10), FT_OK);
    assert_int_equal(put_sized(f, c, "2", 10), FT_OK);
    assert_int_equal(put_sized(f, c, "3", 10), FT_OK);
    expect_error(c, put_sized(f, c, "4", 10), FT_ERR_QUOTA,
                 "quota exceeded: 3 of 3 files used");
    assert_false(in_store(f, "n/4"));
    assert_int_equal(put_sized(f, c, "3", 500), FT_OK);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.files, 3);
    assert_int_equal(u.bytes, 520); /* a replaced file counts new minus old */
    assert_int_equal(ft_client_remove(c, "1"), FT_OK);
    assert_int_equal(put_sized(f, c, "4", 10), FT_OK);
    /* Folders do not count. */
    assert_int_equal(ft_client_mkdir(c, "d", false, NULL), FT_OK);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.files, 3);
    assert_true(u.quota_bytes == FT_CLIENT_NO_QUOTA);
    assert_int_equal(u.quota_files, 3);
    ft_client_close(c);
}

/* An upload of unknown size (a pipe) counts as it grows, and is refused
 * once it would pass the quota; nothing of it is left. */
static void test_quota_unknown_size(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = serve_as(f, "root=p quota=256K");
    struct tu_feeder feed;
    struct ft_usage u;
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    tu_feeder_start(&feed, fds[1], 1024 * KIB, 3, 20000, true);
    expect_error(c, ft_client_put(c, fds[0], -1, "piped", NULL, NULL), FT_ERR_QUOTA,
                 "quota exceeded");
    close(fds[0]);
    tu_feeder_join(&feed);
    ft_client_close(c);
    assert_false(in_store(f, "p/piped"));
    c = again(f);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes + u.pending_bytes, 0);
    ft_client_close(c);
}

struct slow_put {
    struct ft_client *c;
    const char *src;
    uint64_t size;
    enum ft_err err;
};

static void *put_slowly(void *arg)
{
    struct slow_put *p = arg;
    struct ft_transfer_options opt = { .rate_limit = 512 * KIB };
    int fd = open(p->src, O_RDONLY);

    p->err = ft_client_put(p->c, fd, (int64_t)p->size, "big", &opt, NULL);
    close(fd);
    return NULL;
}

/* The part of an interrupted upload that the server keeps for put
 * --continue counts against the quota until it is resumed: an upload that
 * would fit only without it is refused; the resumed one completes. */
static void test_quota_kept_partial(void **state)
{
    TU_DIRECTORY_ONLY("waits for 600 KiB in .ft/partial; on S3 an upload under one part (8 MiB) waits in the server's buffer until it ends");
    struct tu_fixture *f = *state;
    struct ft_transfer_options resume = { .resume = true };
    struct slow_put p = { .size = 900 * KIB };
    char *src = tu_path(f->work, "big"), *partial;
    struct ft_client *c, *other;
    struct ft_usage u = { 0 };
    struct timespec times[2];
    struct stat sb;
    pthread_t t;
    int64_t deadline;
    int fd;

    tu_write_random(src, p.size, 11);
    assert_int_equal(stat(src, &sb), 0);
    c = serve_as(f, "root=k quota=1M");
    other = again(f);
    p.c = c;
    p.src = src;
    partial = stored(f, ".ft/partial");
    assert_int_equal(pthread_create(&t, NULL, put_slowly, &p), 0);
    /* Cut the source short once the server holds 600 KiB of it: the client
     * stops, and the server keeps what came. */
    assert_true(tu_wait_dir_bytes(partial, 600 * KIB, 20000));
    assert_int_equal(truncate(src, 0), 0);
    pthread_join(t, NULL);
    assert_true(p.err != FT_OK);
    ft_client_close(c);
    /* Until the server has let go of the upload, it counts as under way. */
    deadline = tu_now_ms() + 10000;
    do {
        assert_int_equal(ft_client_usage(other, &u), FT_OK);
        if (u.pending_bytes < p.size)
            break;
        tu_sleep_ms(10);
    } while (tu_now_ms() < deadline);
    if (u.pending_bytes < 600 * KIB || u.pending_bytes >= p.size)
        fail_msg("pending %llu bytes after a put cut off (%s)",
                 (unsigned long long)u.pending_bytes, ft_err_name(p.err));
    assert_int_equal(u.bytes, 0);
    /* 300 KiB fit in 1 MiB only if the kept part did not count. */
    expect_error(other, put_sized(f, other, "small", 300 * KIB), FT_ERR_QUOTA,
                 "quota exceeded");
    assert_false(in_store(f, "k/small"));
    /* The same upload (same name, size and time) resumed takes the kept
     * part over and completes. */
    tu_write_random(src, p.size, 11);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    assert_int_equal(utimensat(AT_FDCWD, src, times, 0), 0);
    fd = open(src, O_RDONLY);
    c = again(f);
    assert_int_equal(ft_client_put(c, fd, (int64_t)p.size, "big", &resume, NULL),
                     FT_OK);
    close(fd);
    assert_int_equal(ft_client_usage(other, &u), FT_OK);
    assert_int_equal(u.bytes, p.size);
    assert_int_equal(u.pending_bytes, 0);
    ft_client_close(c);
    ft_client_close(other);
    free(partial);
    free(src);
}

/* ft df, as the key in the work folder's file "id", prints want. */
static void expect_df_text(struct tu_fixture *f, const char *want)
{
    char *key_file = tu_path(f->work, "id"), *out_path = tu_path(f->work, "df.txt");
    char *text = NULL, err[1024];
    size_t len = 0;
    FILE *in;

    assert_int_equal(tu_run_ft((const char *const[]){ "df", "-i", key_file, "-H",
                                                      "127.0.0.1", "-p",
                                                      f->server.portstr, NULL },
                               NULL, out_path, err, sizeof(err)),
                     0);
    in = fopen(out_path, "r");
    assert_non_null(in);
    assert_true(getdelim(&text, &len, '\0', in) > 0);
    fclose(in);
    if (strstr(text, want) == NULL)
        fail_msg("ft df printed '%s', not '%s'", text, want);
    free(text);
    free(out_path);
    free(key_file);
}

/* df's numbers follow puts, replacements, moves and removals; a client
 * without a quota sees its usage and "no quota". */
static void test_df(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c;
    struct ft_usage u;
    char out[256], err[1024];
    char *out_path = tu_path(f->work, "df.json"), *key_file;
    bool created;
    ssize_t n;
    int rc, fd;

    /* ft df proves the same key, from its file. */
    key_file = tu_path(f->work, "id");
    assert_int_equal(ft_keys_load_or_create(key_file, &me, &created, err,
                                            sizeof(err)), FT_OK);
    free(key_file);
    start_server(f, "root=d quota=10M files=20");
    plant_dir(f, "d");
    plant_dir(f, "d/old");
    plant(f, "d/old/x", 700);
    c = again(f); /* its first session counts what is there */
    assert_int_equal(put_sized(f, c, "a", 1000), FT_OK);
    assert_int_equal(put_sized(f, c, "b", 2000), FT_OK);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 3700);
    assert_int_equal(u.files, 3);
    assert_int_equal(ft_client_remove_tree(c, "old", true), FT_OK);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 3000);
    assert_int_equal(u.files, 2);
    assert_int_equal(u.quota_bytes, 10 * 1024 * KIB);
    assert_int_equal(u.quota_files, 20);
    expect_df_text(f, "files: 2 used of 20 (10.0%)");
    assert_int_equal(ft_client_move(c, "a", "b"), FT_OK); /* replaces b */
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 1000);
    assert_int_equal(u.files, 1);
    assert_int_equal(ft_client_remove(c, "b"), FT_OK);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 0);
    assert_int_equal(u.files, 0);
    ft_client_close(c);
    tu_server_stop(&f->server);

    /* A server without a clients file: no quota, the whole store counted
     * at the first df; and the command. */
    tu_server_start(&f->server, NULL);
    plant(f, "z", 1234);
    c = tu_connect(f->server.port, NULL);
    assert_int_equal(ft_client_usage(c, &u), FT_OK);
    assert_int_equal(u.bytes, 1234);
    assert_int_equal(u.files, 1);
    assert_true(u.quota_bytes == FT_CLIENT_NO_QUOTA &&
                u.quota_files == FT_CLIENT_NO_QUOTA);
    ft_client_close(c);
    rc = tu_run_ft((const char *const[]){ "df", "--json", "-H", "127.0.0.1", "-p",
                                          f->server.portstr, NULL },
                   NULL, out_path, err, sizeof(err));
    assert_int_equal(rc, 0);
    fd = open(out_path, O_RDONLY);
    n = read(fd, out, sizeof(out) - 1);
    close(fd);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "{\"bytes\":1234,\"pending_bytes\":0,\"quota_bytes\":null,"
                             "\"files\":1,\"pending_files\":0,\"quota_files\":null}\n");
    free(out_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_FIXTURE(test_read_only_client),
        TU_TEST_FIXTURE(test_write_only_client),
        TU_TEST_FIXTURE(test_move_needs_write_and_delete),
        TU_TEST_FIXTURE(test_root_confinement),
        TU_TEST_FIXTURE(test_quota_concurrent_uploads),
        TU_TEST_FIXTURE(test_quota_files),
        TU_TEST_FIXTURE(test_quota_unknown_size),
        TU_TEST_FIXTURE(test_quota_kept_partial),
        TU_TEST_FIXTURE(test_df),
    };

    /* The pipe's feeder outlives the upload it feeds, refused half way. */
    signal(SIGPIPE, SIG_IGN);
    ft_keys_generate(&me);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
