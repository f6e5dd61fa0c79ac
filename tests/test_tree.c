/* test_tree.c - copies of many files and whole folders through the library
 * (ft_client_put_tree, ft_client_get_tree) against a server in this
 * process: what arrives, byte for byte, and what the callbacks are told. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft/tree.h"
#include "testutil.h"

#define MIB (1024 * 1024)
/* Deeper than a put follows local folders (64). */
#define TOO_DEEP 66
/* More small files than the pipeline holds at once (FT_PIPELINE_MAX). */
#define MANY_FILES 600
/* The server of test_pipelined_refusals takes files up to this size. */
#define SMALL_LIMIT 1000

/* What the callbacks were told. */
struct told {
    int starts, dones, failures, skips, progress;
    bool in_file; /* between a start and its done or failure */
    enum ft_err first_failure;
    char failed[4][1024];
    char skipped[4][1024];
};

static void on_start(void *ctx, const char *name, int64_t size)
{
    struct told *t = ctx;

    assert_non_null(name);
    assert_true(size >= -2);
    assert_false(t->in_file);
    t->in_file = true;
    t->starts++;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct told *t = ctx;

    assert_true(t->in_file);
    assert_true(done <= total);
    t->progress++;
}

static void on_done(void *ctx, const char *name, const struct ft_transfer *tr)
{
    struct told *t = ctx;

    assert_non_null(name);
    assert_true(tr->verified);
    assert_true(t->in_file);
    t->in_file = false;
    t->dones++;
}

static void on_failure(void *ctx, const char *path, enum ft_err err,
                       const char *why)
{
    struct told *t = ctx;

    assert_int_not_equal(err, FT_OK);
    assert_non_null(why);
    if (t->failures == 0)
        t->first_failure = err;
    if (t->failures < 4)
        snprintf(t->failed[t->failures], sizeof(t->failed[0]), "%s: %s",
                 path != NULL ? path : "", why);
    t->in_file = false;
    t->failures++;
}

static void on_skip(void *ctx, const char *path, const char *why)
{
    struct told *t = ctx;

    assert_non_null(why);
    if (t->skips < 4)
        snprintf(t->skipped[t->skips], sizeof(t->skipped[0]), "%s", path);
    t->skips++;
}

/* A server of this test's, a client connected to it, a folder for the
 * client's files, and what the copies tell. */
struct session {
    struct tu_fixture f;
    struct ft_client *c;
    struct told told;
    struct ft_tree_events ev;
    struct ft_transfer_options opt;
    struct ft_tree_copy copy;
};

/* Starts the server (taking files up to max_file_size, 0: any) and
 * connects to it. */
static void open_session(struct session *s, uint64_t max_file_size)
{
    struct ft_server_config server = { .max_file_size = max_file_size };

    memset(s, 0, sizeof(*s));
    tu_fixture_open(&s->f);
    tu_server_start(&s->f.server, &server);
    s->c = tu_connect(s->f.server.port, NULL);
    assert_true(ft_client_can_pipeline(s->c));
    s->ev = (struct ft_tree_events){ on_start, on_done, on_failure, on_skip,
                                     &s->told };
    s->opt.progress = on_progress;
    s->opt.progress_ctx = &s->told;
}

/* Forgets what earlier copies told. */
static void fresh(struct session *s)
{
    memset(&s->told, 0, sizeof(s->told));
}

static void close_session(struct session *s)
{
    assert_int_equal(ft_client_puts_due(s->c), 0);
    assert_int_equal(ft_client_gets_due(s->c), 0);
    ft_client_close(s->c);
    tu_fixture_close(&s->f);
}

/* The copy of n items that the session's options and events watch. */
static const struct ft_tree_copy *copy_of(struct session *s,
                                          const struct ft_tree_item *items,
                                          size_t n, bool recursive)
{
    s->copy = (struct ft_tree_copy){ items, n, recursive, &s->opt, &s->ev };
    return &s->copy;
}

/* The path dir/name, with the folders name holds made in dir; free() the
 * result. */
static char *file_in(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);

    for (char *p = path + strlen(dir) + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    return path;
}

/* The files of the local tree that travel: small ones (pipelined) and one
 * of more than 1 MiB (sent on its own, with progress). */
static const struct {
    const char *name;
    uint64_t size;
} tree_files[] = {
    { "a.txt", 100 },
    { "sub/b.bin", 200 * 1024 },
    { "sub/deeper/c.bin", 3 * MIB + 17 },
    { "sub/deeper/d.txt", 1 },
    { "e.bin", MIB },
};
#define TREE_FILES (sizeof(tree_files) / sizeof(*tree_files))

/* Makes src with tree_files, a link (skipped), and a folder nested deeper
 * than a put follows (a local failure). Returns the number of failures to
 * expect: one more when an unreadable file can be made (not as root). */
static int make_tree(const char *src)
{
    char *p, *deep;
    int failures = 1;

    for (size_t i = 0; i < TREE_FILES; i++) {
        p = file_in(src, tree_files[i].name);
        tu_write_random(p, tree_files[i].size, (uint32_t)i + 1);
        free(p);
    }
    p = tu_path(src, "link");
    assert_int_equal(symlink("a.txt", p), 0);
    free(p);
    deep = strdup("n");
    for (int i = 0; i < TOO_DEEP; i++) {
        char *longer = NULL;

        assert_true(asprintf(&longer, "%s/d", deep) > 0);
        free(deep);
        deep = longer;
    }
    p = tu_path(deep, "lost.txt");
    free(deep);
    deep = file_in(src, p);
    tu_write_bytes(deep, "x", 1);
    free(deep);
    free(p);
    if (geteuid() != 0) {
        p = tu_path(src, "secret.txt");
        tu_write_bytes(p, "s", 1);
        assert_int_equal(chmod(p, 0), 0);
        free(p);
        failures++;
    }
    return failures;
}

/* Every file of tree_files is in dir, byte for byte as in src. */
static void assert_same_files(const char *src, const char *dir)
{
    for (size_t i = 0; i < TREE_FILES; i++) {
        char *a = tu_path(src, tree_files[i].name);
        char *b = tu_path(dir, tree_files[i].name);

        if (!tu_files_equal(a, b))
            fail_msg("%s differs from %s", b, a);
        free(a);
        free(b);
    }
}

static void test_put_tree_and_get_it_back(void **state)
{
    struct session s;
    char *src, *back, *stored, *link;
    struct ft_tree_item put, get;
    int failures;

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    back = tu_path(s.f.work, "back");
    put = (struct ft_tree_item){ .local = src, .remote = "t" };
    get = (struct ft_tree_item){ .local = back, .remote = "t" };
    assert_int_equal(mkdir(src, 0755), 0);
    failures = make_tree(src);

    /* One file's local failure does not stop the others. */
    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &put, 1, true)),
                     FT_ERR_IO);
    assert_int_equal(s.told.starts, (int)TREE_FILES);
    assert_int_equal(s.told.dones, (int)TREE_FILES);
    assert_int_equal(s.told.failures, failures);
    assert_int_equal(s.told.first_failure, FT_ERR_IO);
    assert_true(strstr(s.told.failed[0], "folders nested too deep") != NULL ||
                strstr(s.told.failed[1], "folders nested too deep") != NULL);
    assert_int_equal(s.told.skips, 1);
    assert_non_null(strstr(s.told.skipped[0], "/link"));
    assert_true(s.told.progress > 0);
    stored = tu_store_view(s.f.server.root, "t");
    link = tu_path(stored, "link");
    assert_same_files(src, stored);
    assert_false(tu_exists(link));

    /* And back into a folder that does not exist yet. */
    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_OK);
    assert_int_equal(s.told.starts, (int)TREE_FILES);
    assert_int_equal(s.told.dones, (int)TREE_FILES);
    assert_int_equal(s.told.failures, 0);
    assert_int_equal(s.told.skips, 0);
    assert_same_files(src, back);

    close_session(&s);
    free(src);
    free(back);
    tu_store_view_done(stored);
    free(link);
}

/* Fetches a tree into an existing folder, and files one by one. */
static void test_get_tree_into_folder(void **state)
{
    struct session s;
    char *src, *dest, *stale, *one, *two, *unused, *b;
    struct ft_tree_item put, get, files[3];

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    dest = tu_path(s.f.work, "into/t");
    stale = tu_path(dest, "a.txt");
    one = tu_path(s.f.work, "into/one.txt");
    two = tu_path(s.f.work, "into/two.bin");
    unused = tu_path(s.f.work, "into/unused");
    b = tu_path(src, "sub/b.bin");
    put = (struct ft_tree_item){ .local = src, .remote = "t" };
    get = (struct ft_tree_item){ .local = dest, .remote = "t" };
    files[0] = (struct ft_tree_item){ .local = one, .remote = "t/a.txt" };
    files[1] = (struct ft_tree_item){ .local = unused, .remote = "t/not-there" };
    files[2] = (struct ft_tree_item){ .local = two, .remote = "t/sub/b.bin" };
    assert_int_equal(mkdir(src, 0755), 0);
    make_tree(src);
    ft_client_put_tree(s.c, copy_of(&s, &put, 1, true));

    /* An older copy in the folder is replaced; the rest is made. */
    free(file_in(s.f.work, "into/t/a.txt"));
    tu_write_bytes(stale, "old", 3);
    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_OK);
    assert_int_equal(s.told.dones, (int)TREE_FILES);
    assert_same_files(src, dest);

    /* The server's refusal of one file does not stop the others, and is
     * what the copy returns. */
    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, files, 3, false)),
                     FT_ERR_NOT_FOUND);
    assert_int_equal(s.told.starts, 3);
    assert_int_equal(s.told.dones, 2);
    assert_int_equal(s.told.failures, 1);
    assert_non_null(strstr(s.told.failed[0], "t/not-there: server refused"));
    assert_true(tu_files_equal(stale, one));
    assert_true(tu_files_equal(b, two));
    assert_false(tu_exists(unused));

    close_session(&s);
    free(src);
    free(dest);
    free(stale);
    free(one);
    free(two);
    free(unused);
    free(b);
}

/* More small files than the pipeline holds, every other one too large for
 * the server: each refusal is told for its file, and no file after it is
 * left out. */
static void test_pipelined_refusals(void **state)
{
    struct session s;
    struct ft_tree_item put = { .remote = "many" };
    char *stored;
    char name[64];

    (void)state;
    open_session(&s, SMALL_LIMIT);
    put.local = tu_path(s.f.work, "many");
    assert_int_equal(mkdir(put.local, 0755), 0);
    for (int i = 0; i < MANY_FILES; i++) {
        char *p;

        snprintf(name, sizeof(name), "f%03d", i);
        p = tu_path(put.local, name);
        tu_write_random(p, i % 2 == 0 ? 10 : SMALL_LIMIT + 1, (uint32_t)i);
        free(p);
    }
    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &put, 1, true)),
                     FT_ERR_TOO_LARGE);
    assert_int_equal(s.told.starts, MANY_FILES);
    assert_int_equal(s.told.failures, MANY_FILES / 2);
    assert_int_equal(s.told.dones, MANY_FILES / 2);
    stored = tu_store_view(s.f.server.root, "many");
    for (int i = 0; i < MANY_FILES; i += 2) {
        char *sent, *arrived;

        snprintf(name, sizeof(name), "f%03d", i);
        sent = tu_path(put.local, name);
        arrived = tu_path(stored, name);
        if (!tu_files_equal(sent, arrived))
            fail_msg("%s did not arrive", name);
        free(sent);
        free(arrived);
    }
    close_session(&s);
    free((char *)put.local);
    tu_store_view_done(stored);
}

/* A link in the local folder where a listed name leads is refused, not
 * followed: a listing must not steer files out of the folder chosen. The
 * files whose way is clear still arrive. */
static void test_get_tree_refuses_link_in_the_way(void **state)
{
    struct session s;
    char *src, *dest, *outside, *link, *escaped;
    struct ft_tree_item put, get;

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    dest = tu_path(s.f.work, "dest");
    outside = tu_path(s.f.work, "outside");
    link = tu_path(dest, "sub");
    escaped = tu_path(outside, "b.bin");
    put = (struct ft_tree_item){ .local = src, .remote = "t" };
    get = (struct ft_tree_item){ .local = dest, .remote = "t" };
    assert_int_equal(mkdir(src, 0755), 0);
    make_tree(src);
    ft_client_put_tree(s.c, copy_of(&s, &put, 1, true));
    assert_int_equal(mkdir(dest, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    assert_int_equal(symlink(outside, link), 0);

    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_ERR_IO);
    assert_true(s.told.failures >= 1);
    assert_non_null(strstr(s.told.failed[0], "dest/sub/"));
    assert_int_equal(tu_count_entries(outside), 0);
    assert_false(tu_exists(escaped));
    {
        char *a = tu_path(src, "a.txt"), *got = tu_path(dest, "a.txt");

        assert_true(tu_files_equal(a, got));
        free(a);
        free(got);
    }

    close_session(&s);
    free(src);
    free(dest);
    free(outside);
    free(link);
    free(escaped);
}

/* Writes text to dir/name, making the folders name holds. */
static void write_text_in(const char *dir, const char *name, const char *text)
{
    char *p = file_in(dir, name);

    tu_write_bytes(p, text, strlen(text));
    free(p);
}

/* A file where get -r needs a folder, and a folder where it needs a file:
 * each failure says which stands where (not "Not a directory"), and the
 * rest arrives. A destination folder that is not there is said to be
 * missing. */
static void test_get_tree_says_what_stands_in_the_way(void **state)
{
    struct session s;
    struct ft_tree_item get = { .remote = "o" };
    bool file_told = false, folder_told = false;
    char *dest, *p;

    (void)state;
    open_session(&s, 0);
    get.local = dest = tu_path(s.f.work, "dest");
    tu_store_write(s.f.server.root, "o/sub/x.txt", "x", 1);
    tu_store_write(s.f.server.root, "o/y.txt", "y", 1);
    tu_store_write(s.f.server.root, "o/z.txt", "z", 1);
    assert_int_equal(mkdir(dest, 0755), 0);
    write_text_in(dest, "sub", "a file");
    write_text_in(dest, "y.txt/inside", "a folder");

    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_ERR_IO);
    for (int i = 0; i < s.told.failures && i < 4; i++) {
        file_told |= strstr(s.told.failed[i], "dest/sub: a file, where a folder "
                                              "should be") != NULL;
        folder_told |= strstr(s.told.failed[i], "dest/y.txt: a folder, which "
                                                "stands in the way") != NULL;
    }
    if (!file_told || !folder_told)
        fail_msg("not told: %s | %s | %s", s.told.failed[0], s.told.failed[1],
                 s.told.failed[2]);
    p = tu_path(dest, "z.txt");
    assert_int_equal(tu_file_size(p), 1);
    free(p);
    /* A folder named with a final '/' that is not there is missing, not
     * "a directory". */
    p = tu_path(dest, "missing/");
    assert_int_equal(ft_client_get_file(s.c, "o/z.txt", p, NULL, NULL), FT_ERR_IO);
    assert_non_null(strstr(ft_client_error(s.c), "missing/: No such file or directory"));
    free(p);

    close_session(&s);
    free(dest);
}

/* A get -r stopped by a damaged file (files rewritten behind the server's
 * back, their recorded digests put back in force) leaves no GET it asked
 * ahead unanswered: the connection serves the next request. */
static void test_get_tree_stopped_leaves_nothing_due(void **state)
{
    struct session s;
    char *src, *dest;
    struct ft_tree_item put, get;
    struct ft_stat st;

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    dest = tu_path(s.f.work, "dest");
    put = (struct ft_tree_item){ .local = src, .remote = "t" };
    get = (struct ft_tree_item){ .local = dest, .remote = "t" };
    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < 8; i++) {
        char name[16];
        char *p;

        snprintf(name, sizeof(name), "f%d.bin", i);
        p = tu_path(src, name);
        tu_write_random(p, 100 * 1024, (uint32_t)i + 40); /* recorded: >= 64 KiB */
        free(p);
    }
    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &put, 1, true)), FT_OK);
    for (int i = 0; i < 8; i++) {
        char name[16];

        snprintf(name, sizeof(name), "t/f%d.bin", i);
        tu_store_tamper(s.f.server.root, name);
    }

    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)),
                     FT_ERR_INTEGRITY);
    assert_int_equal(s.told.failures, 1);
    assert_int_equal(s.told.dones, 0);
    assert_int_equal(ft_client_gets_due(s.c), 0);
    assert_int_equal(ft_client_stat_quick(s.c, "t", &st), FT_OK);
    assert_true(st.is_dir);

    close_session(&s);
    free(src);
    free(dest);
}

/* A name of 255 bytes, the longest the server takes: its part file's
 * name (".NAME.ft-part") would not fit, so it is made shorter. A
 * two-byte character straddles the 160th byte, where a long name's part
 * name cuts it. */
static void long_name(char out[256])
{
    memset(out, 'a', 159);
    memcpy(out + 159, "\xc3\xa9", 2);
    memset(out + 161, 'z', 255 - 161);
    out[255] = '\0';
}

/* A file with a name of 255 bytes comes back, alone and with get -r, and
 * leaves no part file behind. */
static void test_longest_name_comes_back(void **state)
{
    struct session s;
    char name[256];
    char *src, *remote, *one, *alone, *back, *stored;
    struct ft_tree_item get = { .remote = "long" };
    struct ft_transfer tr;

    (void)state;
    open_session(&s, 0);
    long_name(name);
    src = tu_path(s.f.work, "long");
    assert_int_equal(mkdir(src, 0755), 0);
    stored = tu_path(src, name); /* what the store holds, as a local copy */
    tu_write_random(stored, 5 * MIB, 21); /* over a resume chunk: noted */
    remote = tu_path("long", name);
    tu_store_put_file(s.f.server.root, remote, stored);
    one = tu_path(s.f.work, "one");
    assert_int_equal(mkdir(one, 0755), 0);
    alone = tu_path(one, name);
    get.local = back = tu_path(s.f.work, "back");

    assert_int_equal(ft_client_get_file(s.c, remote, alone, NULL, &tr), FT_OK);
    assert_true(tu_files_equal(stored, alone));
    assert_int_equal(tu_count_entries(one), 1);

    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_OK);
    assert_int_equal(s.told.dones, 1);
    free(alone);
    alone = tu_path(back, name);
    assert_true(tu_files_equal(stored, alone));
    assert_int_equal(tu_count_entries(back), 1);

    close_session(&s);
    free(src);
    free(stored);
    free(remote);
    free(one);
    free(alone);
    free(back);
}

/* A download that cannot be kept is told by the name the user gave, not
 * by the hidden part file's. */
static void test_local_failure_names_what_the_user_named(void **state)
{
    struct session s;
    char *local;
    struct ft_transfer tr;

    (void)state;
    open_session(&s, 0);
    local = tu_path(s.f.work, "x");
    tu_store_write(s.f.server.root, "x", "x", 1);

    assert_int_equal(ft_client_get_file(s.c, "x", "/nonexistent/dir/x", NULL, &tr),
                     FT_ERR_IO);
    assert_string_equal(ft_client_error(s.c),
                        "/nonexistent/dir/x: No such file or directory");
    /* Nothing was asked of the server: the connection serves on. */
    assert_int_equal(ft_client_get_file(s.c, "x", local, NULL, &tr), FT_OK);
    assert_true(tu_store_same(s.f.server.root, "x", local));

    close_session(&s);
    free(local);
}

/* Files in the folder sub of the remote tree t; one more, top.txt, is
 * beside it. */
#define SUB_FILES 3

/* A get -r of t into dest during which a local user who can write in
 * dest swaps its folder sub, made by then, for a link to outside: as the
 * swap_at-th file that goes into sub starts. */
struct swapping {
    struct told told; /* first: the session's callbacks take it */
    struct session s;
    int swap_at, seen;
    char *dest, *outside, *was, *top; /* top: top.txt's source */
};

static void on_start_swap_folder(void *ctx, const char *name, int64_t size)
{
    struct swapping *w = ctx;

    if (strncmp(name, "t/sub/", 6) == 0 && ++w->seen == w->swap_at) {
        char *sub = tu_path(w->dest, "sub");

        assert_int_equal(rename(sub, w->was), 0);
        assert_int_equal(symlink(w->outside, sub), 0);
        free(sub);
    }
    on_start(&w->told, name, size);
}

/* Runs the get -r of struct swapping; returns what it returned. */
static enum ft_err get_swapping(struct swapping *w, int swap_at)
{
    struct ft_tree_item get = { .remote = "t" };

    memset(w, 0, sizeof(*w));
    open_session(&w->s, 0);
    w->swap_at = swap_at;
    w->dest = tu_path(w->s.f.work, "dest");
    w->outside = tu_path(w->s.f.work, "outside");
    w->was = tu_path(w->dest, "sub.was");
    assert_int_equal(mkdir(w->outside, 0755), 0);
    w->top = tu_path(w->s.f.work, "top.txt");
    tu_write_bytes(w->top, "top", 3);
    tu_store_put_file(w->s.f.server.root, "t/top.txt", w->top);
    for (int i = 0; i < SUB_FILES; i++) {
        char leaf[16];
        char *p = tu_path(w->s.f.work, "sub.src");

        snprintf(leaf, sizeof(leaf), "t/sub/f%d", i);
        tu_write_random(p, 1000, (uint32_t)i + 50);
        tu_store_put_file(w->s.f.server.root, leaf, p);
        unlink(p);
        free(p);
    }
    w->s.ev.start = on_start_swap_folder;
    w->s.ev.ctx = w->s.opt.progress_ctx = w;
    get.local = w->dest;
    return ft_client_get_tree(w->s.c, copy_of(&w->s, &get, 1, true));
}

/* What every swap leaves: nothing where the link points, and top.txt, not
 * below it, arrived. Closes the session. */
static void swapping_done(struct swapping *w)
{
    char *arrived = tu_path(w->dest, "top.txt");

    assert_int_equal(w->seen, SUB_FILES);
    assert_int_equal(tu_count_entries(w->outside), 0);
    assert_true(tu_files_equal(w->top, arrived));
    close_session(&w->s);
    free(arrived);
    free(w->dest);
    free(w->outside);
    free(w->was);
    free(w->top);
}

/* sub swapped for a link before its first file: the files below the link
 * fail, saying where the link is; the rest arrive. */
static void test_get_tree_folder_swapped_for_link(void **state)
{
    struct swapping w;

    (void)state;
    assert_int_equal(get_swapping(&w, 1), FT_ERR_IO);
    assert_int_equal(w.told.failures, SUB_FILES);
    for (int i = 0; i < SUB_FILES; i++)
        assert_non_null(strstr(w.told.failed[i], "dest/sub: a symbolic link, not followed"));
    assert_int_equal(w.told.dones, 1);
    assert_int_equal(tu_count_entries(w.was), 0);
    swapping_done(&w);
}

/* sub swapped for a link after a file went into it: the copy holds the
 * folder it opened, not its name, and the files after the swap go on into
 * that folder (moved, by the swap, to sub.was), never through the link. */
static void test_get_tree_folder_swapped_midway(void **state)
{
    struct swapping w;

    (void)state;
    assert_int_equal(get_swapping(&w, 2), FT_OK);
    assert_int_equal(w.told.failures, 0);
    assert_int_equal(w.told.dones, SUB_FILES + 1);
    assert_int_equal(tu_count_entries(w.was), SUB_FILES);
    swapping_done(&w);
}

/* More small files than the pipeline holds: the first answer is read, and
 * the first start told, only once the pipeline is full and the next file
 * was found in the folder: a client that looked at it by name there and
 * opened it by name after the callback sent what the callback swapped in.
 * The files after it are swapped before anything looks at them. */
#define SWAPPED_FILES (FT_PIPELINE_MAX + 8)

/* What the copy of test_put_tree_file_swapped_for_link tells, and the swap
 * its first start makes. */
struct swapping_files {
    struct told told; /* first: the session's callbacks take it */
    const char *src, *secret;
    bool swapped;
};

/* Swaps every file of src for a link to secret, outside the tree: those
 * not opened yet must not be sent. */
static void on_start_swap_files(void *ctx, const char *name, int64_t size)
{
    struct swapping_files *w = ctx;

    for (int i = 0; !w->swapped && i < SWAPPED_FILES; i++) {
        char leaf[16];
        char *p, *tmp = tu_path(w->src, "swapping");

        snprintf(leaf, sizeof(leaf), "f%03d", i);
        p = tu_path(w->src, leaf);
        assert_int_equal(symlink(w->secret, tmp), 0);
        assert_int_equal(rename(tmp, p), 0);
        free(p);
        free(tmp);
    }
    w->swapped = true;
    on_start(&w->told, name, size);
}

/* Files of a put -r swapped for links to a file outside the tree while the
 * copy runs: the link is never followed, so what it points to is never
 * sent. */
static void test_put_tree_file_swapped_for_link(void **state)
{
    static const char secret_text[] = "only the sender may read this";
    struct session s;
    struct swapping_files w;
    struct ft_tree_item put = { .remote = "swap" };
    char *src, *secret, *stored;
    int arrived = 0;

    (void)state;
    open_session(&s, 0);
    memset(&w, 0, sizeof(w));
    w.src = put.local = src = tu_path(s.f.work, "swap");
    w.secret = secret = tu_path(s.f.work, "secret");
    tu_write_bytes(secret, secret_text, sizeof(secret_text) - 1);
    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < SWAPPED_FILES; i++) {
        char leaf[16];
        char *p;

        snprintf(leaf, sizeof(leaf), "f%03d", i);
        p = tu_path(src, leaf);
        tu_write_bytes(p, leaf, strlen(leaf));
        free(p);
    }
    s.ev.start = on_start_swap_files;
    s.ev.ctx = s.opt.progress_ctx = &w;

    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &put, 1, true)), FT_OK);
    stored = tu_store_view(s.f.server.root, "swap");
    assert_true(w.swapped);
    assert_int_equal(w.told.failures, 0);
    assert_int_equal(w.told.dones, FT_PIPELINE_MAX + 1);
    assert_true(w.told.skips >= SWAPPED_FILES - (FT_PIPELINE_MAX + 1));
    for (int i = 0; i < SWAPPED_FILES; i++) {
        char leaf[16], got[64];
        char *p;
        FILE *f;
        size_t n;

        snprintf(leaf, sizeof(leaf), "f%03d", i);
        p = tu_path(stored, leaf);
        f = fopen(p, "rb");
        free(p);
        if (f == NULL)
            continue;
        n = fread(got, 1, sizeof(got), f);
        fclose(f);
        if (n != strlen(leaf) || memcmp(got, leaf, n) != 0)
            fail_msg("%s arrived as %.*s", leaf, (int)n, got);
        arrived++;
    }
    assert_int_equal(arrived, FT_PIPELINE_MAX + 1);

    close_session(&s);
    free(src);
    free(secret);
    tu_store_view_done(stored);
}

#define SWAPPED_FOLDERS 4

struct swapping_folders {
    struct told told; /* first: the session's callbacks take it */
    const char *src, *outside, *aside;
    bool swapped;
};

/* As the first folder's file starts (sent on its own: its start comes
 * before the walk goes on), the folders the walk has read but not opened
 * yet are swapped for links to a folder outside the tree. */
static void on_start_swap_folders(void *ctx, const char *name, int64_t size)
{
    struct swapping_folders *w = ctx;

    for (int i = 0; !w->swapped && i < SWAPPED_FOLDERS; i++) {
        char leaf[16], moved[32];
        char *p, *away;

        snprintf(leaf, sizeof(leaf), "d%02d", i);
        if (strstr(name, leaf) != NULL)
            continue; /* the one being sent: opened already */
        snprintf(moved, sizeof(moved), "aside-%s", leaf);
        p = tu_path(w->src, leaf);
        away = tu_path(w->aside, moved);
        assert_int_equal(rename(p, away), 0);
        assert_int_equal(symlink(w->outside, p), 0);
        free(p);
        free(away);
    }
    w->swapped = true;
    on_start(&w->told, name, size);
}

/* Folders of a put -r swapped for links to a folder outside the tree
 * after the walk read them and before it opened them: the link is not
 * followed, so nothing of the folder it points to (a secret there) is
 * sent, and each is told as skipped. */
static void test_put_tree_folder_swapped_for_link(void **state)
{
    struct session s;
    struct swapping_folders w;
    struct ft_tree_item put = { .remote = "swap" };
    char *src, *outside, *secret, *stored;

    (void)state;
    open_session(&s, 0);
    memset(&w, 0, sizeof(w));
    w.src = put.local = src = tu_path(s.f.work, "swap");
    w.outside = outside = tu_path(s.f.work, "outside");
    w.aside = s.f.work;
    assert_int_equal(mkdir(outside, 0700), 0);
    secret = tu_path(outside, "secret");
    tu_write_bytes(secret, "only the sender may read this", 29);
    free(secret);
    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < SWAPPED_FOLDERS; i++) {
        char rel[32], *big;

        snprintf(rel, sizeof(rel), "d%02d/big", i);
        big = file_in(src, rel);
        /* over what is pipelined: its start is told before the walk goes on */
        tu_write_random(big, MIB + 1, (uint32_t)i);
        free(big);
    }
    s.ev.start = on_start_swap_folders;
    s.ev.ctx = s.opt.progress_ctx = &w;

    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &put, 1, true)), FT_OK);
    stored = tu_store_view(s.f.server.root, "swap");
    for (int i = 0; i < SWAPPED_FOLDERS; i++) {
        char rel[32];
        char *p;

        snprintf(rel, sizeof(rel), "d%02d/secret", i);
        p = tu_path(stored, rel);
        assert_false(tu_exists(p));
        free(p);
    }
    assert_true(w.swapped);
    assert_int_equal(w.told.failures, 0);
    assert_int_equal(w.told.dones, 1);
    assert_int_equal(w.told.skips, SWAPPED_FOLDERS - 1);
    for (int i = 0; i < SWAPPED_FOLDERS - 1; i++) {
        if (strstr(w.told.skipped[i], "/swap/d") == NULL)
            fail_msg("skipped: %s", w.told.skipped[i]);
    }
    assert_int_equal(tu_count_entries(stored), 1);

    close_session(&s);
    free(src);
    free(outside);
    tu_store_view_done(stored);
}

/* get -r of the top, named as a user would ("/", ".", "./"): the whole
 * store arrives, each file under its own name. */
static void test_get_tree_of_the_top(void **state)
{
    static const char *const tops[] = { "/", ".", "./" };
    struct session s;
    char *src;
    struct ft_tree_item put;

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    put = (struct ft_tree_item){ .local = src, .remote = "t" };
    assert_int_equal(mkdir(src, 0755), 0);
    make_tree(src);
    ft_client_put_tree(s.c, copy_of(&s, &put, 1, true));
    for (size_t i = 0; i < sizeof(tops) / sizeof(*tops); i++) {
        char name[16];
        char *dest, *got;
        struct ft_tree_item get;

        snprintf(name, sizeof(name), "top%zu", i);
        dest = tu_path(s.f.work, name);
        got = tu_path(dest, "t");
        get = (struct ft_tree_item){ .local = dest, .remote = tops[i] };
        fresh(&s);
        assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &get, 1, true)), FT_OK);
        assert_int_equal(s.told.failures, 0);
        assert_same_files(src, got);
        free(dest);
        free(got);
    }
    close_session(&s);
    free(src);
}

/* How many entries the folder dir/name holds; -1 when it is no folder. */
static int entries_in(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);
    int n = tu_count_entries(path);

    free(path);
    return n;
}

/* Empty folders travel both ways: one beside a file, one holding only an
 * empty folder, one whose only entry is skipped (a link), and a top folder
 * that is empty itself. */
static void test_empty_folders_both_ways(void **state)
{
    static const char *const empty[] = { "empty", "only/sub", "linked" };
    struct session s;
    char *src, *back, *bare, *stored, *p;
    struct ft_tree_item item; /* what is copied, one way or the other */

    (void)state;
    open_session(&s, 0);
    src = tu_path(s.f.work, "src");
    assert_int_equal(mkdir(src, 0755), 0);
    p = file_in(src, "full/a.txt");
    tu_write_bytes(p, "a", 1);
    free(p);
    for (size_t i = 0; i < sizeof(empty) / sizeof(*empty); i++) {
        p = file_in(src, empty[i]); /* makes the folders above */
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
    }
    p = tu_path(src, "linked/l");
    assert_int_equal(symlink("../full/a.txt", p), 0);

    item = (struct ft_tree_item){ .local = src, .remote = "t" };
    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &item, 1, true)), FT_OK);
    assert_int_equal(s.told.failures, 0);
    assert_int_equal(s.told.dones, 1);
    stored = tu_store_view(s.f.server.root, "t");
    for (size_t i = 0; i < sizeof(empty) / sizeof(*empty); i++)
        assert_int_equal(entries_in(stored, empty[i]), 0);
    assert_int_equal(tu_count_entries(stored), 4);

    back = tu_path(s.f.work, "back");
    item = (struct ft_tree_item){ .local = back, .remote = "t" };
    fresh(&s);
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &item, 1, true)), FT_OK);
    for (size_t i = 0; i < sizeof(empty) / sizeof(*empty); i++)
        assert_int_equal(entries_in(back, empty[i]), 0);
    assert_int_equal(entries_in(back, "full"), 1);

    /* An empty folder named itself: made, and fetched back as one. */
    bare = tu_path(s.f.work, "bare");
    assert_int_equal(mkdir(bare, 0755), 0);
    item = (struct ft_tree_item){ .local = bare, .remote = "e" };
    fresh(&s);
    assert_int_equal(ft_client_put_tree(s.c, copy_of(&s, &item, 1, true)), FT_OK);
    {
        char *e = tu_store_view(s.f.server.root, "e");

        assert_int_equal(tu_count_entries(e), 0);
        tu_store_view_done(e);
    }
    free(p);
    p = tu_path(back, "e");
    item = (struct ft_tree_item){ .local = p, .remote = "e" };
    assert_int_equal(ft_client_get_tree(s.c, copy_of(&s, &item, 1, true)), FT_OK);
    assert_int_equal(tu_count_entries(p), 0);

    close_session(&s);
    free(p);
    free(src);
    free(back);
    free(bare);
    tu_store_view_done(stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_tree_and_get_it_back),
        cmocka_unit_test(test_get_tree_into_folder),
        cmocka_unit_test(test_get_tree_of_the_top),
        cmocka_unit_test(test_get_tree_refuses_link_in_the_way),
        cmocka_unit_test(test_get_tree_stopped_leaves_nothing_due),
        cmocka_unit_test(test_pipelined_refusals),
        cmocka_unit_test(test_longest_name_comes_back),
        cmocka_unit_test(test_local_failure_names_what_the_user_named),
        cmocka_unit_test(test_get_tree_folder_swapped_for_link),
        cmocka_unit_test(test_get_tree_folder_swapped_midway),
        cmocka_unit_test(test_put_tree_file_swapped_for_link),
        cmocka_unit_test(test_put_tree_folder_swapped_for_link),
        cmocka_unit_test(test_get_tree_says_what_stands_in_the_way),
        cmocka_unit_test(test_empty_folders_both_ways),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
