/* test_sync.c - ft sync end to end: the ft binary against a server in this
 * process, trees compared entry by entry (type, size, mtime, executable
 * bit, content) before and after, both ways. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"
#include "sync_int.h"
#include "testutil.h"

#define MIB (1024 * 1024)
#define OUT_MAX (1 << 16)

/* ------------------------------------------------------------ helpers */

struct manifest {
    char *text;
    size_t len, cap;
};

static void manifest_add(struct manifest *m, const char *line)
{
    size_t n = strlen(line);

    if (m->len + n + 1 > m->cap) {
        m->cap = 2 * (m->len + n + 1);
        m->text = realloc(m->text, m->cap);
        if (m->text == NULL)
            tu_die("realloc");
    }
    memcpy(m->text + m->len, line, n + 1);
    m->len += n;
}

static int name_sort(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* One line per file and folder below dir (links and the store's .ft
 * left out): name, type, and for a file its size, mtime, whether it is
 * executable and its digest; with times, a folder's mtime too. */
static void manifest_walk(struct manifest *m, const char *dir, const char *rel,
                          bool times)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, name_sort);

    if (n < 0)
        tu_die(dir);
    for (int i = 0; i < n; i++) {
        const char *leaf = names[i]->d_name;
        char *path = tu_path(dir, leaf), *sub = NULL, line[512];
        char hex[FT_HASH_HEX_BYTES];
        struct stat sb;

        if (strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0 || strcmp(leaf, ".ft") == 0 ||
            lstat(path, &sb) != 0 || !(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))) {
            free(path);
            free(names[i]);
            continue;
        }
        if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", leaf) < 0)
            tu_die("asprintf");
        if (S_ISDIR(sb.st_mode)) {
            snprintf(line, sizeof(line), "%s/ %lld\n", sub,
                     times ? (long long)sb.st_mtime : 0LL);
            manifest_add(m, line);
            manifest_walk(m, path, sub, times);
        } else {
            tu_file_digest_hex(path, hex);
            snprintf(line, sizeof(line), "%s %lld %lld %d %s\n", sub,
                     (long long)sb.st_size, (long long)sb.st_mtime,
                     (sb.st_mode & 0111) != 0, hex);
            manifest_add(m, line);
        }
        free(sub);
        free(path);
        free(names[i]);
    }
    free(names);
}

/* The manifest of the tree at dir ("" when it is missing); free() it. */
static char *manifest(const char *dir, bool times)
{
    struct manifest m = { NULL, 0, 0 };

    manifest_add(&m, "");
    if (tu_exists(dir))
        manifest_walk(&m, dir, "", times);
    return m.text;
}

static void assert_same_tree(const char *a, const char *b)
{
    char *ma = manifest(a, false), *mb = manifest(b, false);

    assert_string_equal(ma, mb);
    free(ma);
    free(mb);
}

/* The tree a is the server's folder name, whatever the store. */
static void assert_same_as_stored(const char *a, const struct tu_fixture *f,
                                  const char *name)
{
    char *view = tu_store_view(f->server.root, name);

    assert_same_tree(a, view);
    tu_store_view_done(view);
}

/* Runs `ft sync ARGS... -p PORT`, standard output into out (may be NULL);
 * returns the exit status. */
static int run_sync(const struct tu_fixture *f, const char *const args[], char *out)
{
    const char *argv[24] = { "sync", "-p", f->server.portstr };
    char *out_path = tu_path(f->work, "sync.out");
    char err[8192];
    int n = 3, rc;
    FILE *fp;

    for (int i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    rc = tu_run_ft(argv, NULL, out_path, err, sizeof(err));
    if (rc != 0)
        print_message("ft sync exited %d: %s\n", rc, err);
    if (out != NULL) {
        size_t got;

        fp = fopen(out_path, "r");
        if (fp == NULL)
            tu_die(out_path);
        got = fread(out, 1, OUT_MAX - 1, fp);
        out[got] = '\0';
        fclose(fp);
    }
    free(out_path);
    return rc;
}

/* What the server's folder name holds, times included, whatever the
 * store: the manifest of its view (on S3 without the folders' times: a
 * folder's is its marker's, which a view cannot carry) and what `ft ls -r
 * --json` says of it (the folders' times as the store tells them). */
static char *stored_manifest(const struct tu_fixture *f, const char *name)
{
    const char *args[] = { "ls", "-r", "--json", "-p", f->server.portstr, name, NULL };
    char *view = tu_store_view(f->server.root, name);
    char *files = manifest(view, !tu_store_s3());
    char *out_path = tu_path(f->work, "ls.out"), *both;
    char err[1024], listed[OUT_MAX];
    size_t len;
    FILE *fp;

    tu_store_view_done(view);
    assert_int_equal(tu_run_ft(args, NULL, out_path, err, sizeof(err)), 0);
    fp = fopen(out_path, "r");
    if (fp == NULL)
        tu_die(out_path);
    len = fread(listed, 1, sizeof(listed) - 1, fp);
    fclose(fp);
    if (asprintf(&both, "%s%.*s", files, (int)len, listed) < 0)
        tu_die("asprintf");
    free(files);
    free(out_path);
    return both;
}

/* "127.0.0.1:NAME", for an operand. */
static char *remote(const char *name)
{
    char *out = NULL;

    if (asprintf(&out, "127.0.0.1:%s", name) < 0)
        tu_die("asprintf");
    return out;
}

static void set_mtime(const char *path, time_t t)
{
    struct timespec ts[2] = { { t, 0 }, { t, 0 } };

    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
        tu_die(path);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = tu_path(dir, name);

    tu_write_bytes(p, text, strlen(text));
    set_mtime(p, 1600000000);
    free(p);
}

static void make_dir(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);

    if (mkdir(p, 0755) != 0)
        tu_die(p);
    free(p);
}

/* The tree every test starts from: nested folders, an empty one, an
 * executable, a 0-byte file, a 3 MiB file, and a link (left out). */
static char *make_tree(const struct tu_fixture *f)
{
    char *src = tu_path(f->work, "src"), *p;

    if (mkdir(src, 0755) != 0)
        tu_die(src);
    make_dir(src, "a");
    make_dir(src, "a/b");
    make_dir(src, "empty");
    write_text(src, "top.txt", "the top\n");
    write_text(src, "a/run.sh", "#!/bin/sh\necho hi\n");
    p = tu_path(src, "a/run.sh");
    chmod(p, 0755);
    free(p);
    write_text(src, "a/zero", "");
    write_text(src, "a/b/same.txt", "same size 1\n");
    write_text(src, "a/b/grow.txt", "short\n");
    write_text(src, "a/b/time.txt", "only its time changes\n");
    p = tu_path(src, "a/b/big");
    tu_write_random(p, 3 * MIB, 7);
    set_mtime(p, 1600000000);
    free(p);
    p = tu_path(src, "link");
    if (symlink("/etc/passwd", p) != 0)
        tu_die(p);
    free(p);
    return src;
}

/* The number of lines of out that are exactly line. */
static int count_lines(const char *out, const char *line)
{
    size_t n = strlen(line);
    int found = 0;

    for (const char *p = out; (p = strstr(p, line)) != NULL; p += n) {
        if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            found++;
    }
    return found;
}

/* Fails the test, showing out, unless line is in it once. */
static void expect_line(const char *out, const char *line)
{
    if (count_lines(out, line) != 1)
        print_message("expected once: '%s' in:\n%s", line, out);
    assert_int_equal(count_lines(out, line), 1);
}

static int count_newlines(const char *out)
{
    int n = 0;

    for (; *out != '\0'; out++)
        n += *out == '\n';
    return n;
}

/* ------------------------------------------------------------- tests */

/* A tree pushed and pulled back arrives whole; a second run of each sends
 * nothing. */
static void test_push_pull_tree(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f);
    char *back = tu_path(f->work, "back"), *r = remote("dst");
    char *out = malloc(OUT_MAX);

    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_same_as_stored(src, f, "dst");
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    assert_same_tree(src, back);
    assert_true(tu_store_exists(f->server.root, "dst") && tu_count_entries(back) == 3); /* a, empty, top.txt */

    assert_int_equal(run_sync(f, (const char *[]){ "--json", src, r, NULL }, out), 0);
    assert_non_null(strstr(out, "\"event\":\"summary\",\"checked\":7,\"sent\":0,"
                                "\"touched\":0,\"deleted\":0,\"folders\":0"));
    assert_int_equal(count_newlines(out), 1);
    assert_int_equal(run_sync(f, (const char *[]){ "--json", r, back, NULL }, out), 0);
    assert_non_null(strstr(out, "\"checked\":7,\"sent\":0,\"touched\":0"));
    assert_int_equal(count_newlines(out), 1);
    free(out);
    free(src), free(back), free(r);
}

/* Changes four files of make_tree's: the content alone (size and time as
 * before), the size, the time alone, the executable bit. */
static void changes(const char *src)
{
    char *p = tu_path(src, "a/run.sh");

    chmod(p, 0644);
    free(p);
    /* Its size and time as before: only --checksum sees it. */
    write_text(src, "a/b/same.txt", "same size 2\n");
    write_text(src, "a/b/grow.txt", "longer than before\n");
    p = tu_path(src, "a/b/time.txt");
    set_mtime(p, 1700000000);
    free(p);
}

/* Expects in out the items of changes() (y: '<' pushed, '>' pulled). */
static void expect_changes(const char *out, char y)
{
    /* A store on S3 cannot set a stored file's time or mode alone (an
     * object's metadata is fixed when it is written: ft(1)): pushed there,
     * such a file is sent again. */
    char touch = y == '<' && tu_store_s3() ? '<' : '.';
    char line[64];

    snprintf(line, sizeof(line), "%cfc........ a/b/same.txt", y);
    expect_line(out, line);
    snprintf(line, sizeof(line), "%cf.s....... a/b/grow.txt", y);
    expect_line(out, line);
    snprintf(line, sizeof(line), "%cf..t...... a/b/time.txt", touch);
    expect_line(out, line);
    snprintf(line, sizeof(line), "%cf...p..... a/run.sh", touch);
    expect_line(out, line);
}

/* The changes pushed, then pulled: exactly those files each time, and
 * each side ends up SRC's copy. */
static void test_changes_itemized_both_ways(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *back = tu_path(f->work, "back"), *r = remote("dst");
    char *out = malloc(OUT_MAX);

    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    changes(src);
    assert_int_equal(run_sync(f, (const char *[]){ "-c", "-i", src, r, NULL }, out), 0);
    expect_changes(out, '<');
    assert_int_equal(count_newlines(out), 4);
    assert_same_as_stored(src, f, "dst");
    assert_int_equal(run_sync(f, (const char *[]){ "-c", "-i", r, back, NULL }, out), 0);
    expect_changes(out, '>');
    assert_int_equal(count_newlines(out), 4);
    assert_same_tree(src, back);
    free(out);
    free(src), free(back), free(r);
}

/* --delete removes what SRC lacks on either side, and nothing outside
 * DST: a link in DST to a file and to a folder outside is removed as a
 * link; what it points to survives. */
static void test_delete_stays_inside(void **state)
{
    TU_DIRECTORY_ONLY("links planted in the stored folder");
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *back = tu_path(f->work, "back"), *r = remote("dst");
    char *outside = tu_path(f->work, "outside"), *p, *q;
    char *dst = tu_path(f->server.root, "dst"), *keep = tu_path(f->server.root, "keep.txt");
    char *out = malloc(OUT_MAX);

    make_dir(f->work, "outside");
    write_text(outside, "precious", "do not delete\n");
    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    /* Extras on both sides, and beside DST on the server. */
    write_text(back, "extra.txt", "x\n");
    make_dir(back, "a/xdir");
    write_text(back, "a/xdir/inner", "y\n");
    p = tu_path(back, "to-file"), q = tu_path(outside, "precious");
    assert_int_equal(symlink(q, p), 0);
    free(p), free(q);
    p = tu_path(back, "a/to-dir");
    assert_int_equal(symlink(outside, p), 0);
    free(p);
    assert_int_equal(run_sync(f, (const char *[]){ "-i", "--delete", r, back, NULL }, out), 0);
    expect_line(out, "*deleting   extra.txt");
    expect_line(out, "*deleting   a/xdir/");
    expect_line(out, "*deleting   to-file");
    expect_line(out, "*deleting   a/to-dir");
    assert_int_equal(count_newlines(out), 4);
    p = tu_path(outside, "precious");
    assert_true(tu_exists(p));
    free(p);
    assert_int_equal(tu_count_entries(outside), 1);

    write_text(dst, "extra.txt", "x\n");
    make_dir(dst, "xdir");
    write_text(dst, "xdir/inner", "y\n");
    tu_write_bytes(keep, "k", 1);

    assert_int_equal(run_sync(f, (const char *[]){ "-i", "--delete", src, r, NULL }, out), 0);
    expect_line(out, "*deleting   extra.txt");
    expect_line(out, "*deleting   xdir/");
    assert_int_equal(count_newlines(out), 2);
    assert_true(tu_exists(keep));
    assert_same_tree(src, dst);
    assert_same_tree(src, back);
    free(out);
    free(src), free(back), free(r), free(outside), free(dst), free(keep);
}

/* A name from a listing that would lead out of DST is refused; the
 * order puts a folder's entries right after it. */
static void test_names_from_a_listing(void **state)
{
    static const char *const bad[] = { "", "..", "../x", "a/../../x", "/etc/x", "a//b",
                                       ".", "a/.", "a/", "./a" };
    static const char *const good[] = { "a", "a/b", "..a", "a..", ".hidden", "a/.b" };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_false(ft_sync_name_safe(bad[i]));
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        assert_true(ft_sync_name_safe(good[i]));
    assert_true(ft_sync_name_cmp("a", "a/x") < 0);
    assert_true(ft_sync_name_cmp("a/x", "a.b") < 0);
    assert_true(ft_sync_name_cmp("a/z", "a0") < 0);
    assert_int_equal(ft_sync_name_cmp("a/b", "a/b"), 0);
}

static void count_failure(void *ctx, const char *path, enum ft_err err, const char *why)
{
    (void)path, (void)why;
    assert_int_equal(err, FT_ERR_BAD_NAME);
    ++*(int *)ctx;
}

/* A listing with names that lead out of DST (a hostile server's) keeps
 * only the others, and tells each one left out. */
static void test_hostile_listing_names_left_out(void **state)
{
    static const char *const names[] = { "a", "../x", "a/../../y", "/etc/passwd", "a/b",
                                         "a//c", "." };
    int failures = 0;
    struct ft_sync_events ev = { NULL, count_failure, NULL, &failures };
    struct ft_sync_stats st;
    struct sync s = { .ev = &ev, .st = &st };
    struct sync_list l = { 0 };
    struct sync_held h;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        struct ft_entry e = { .name = names[i], .size = 1 };

        assert_int_equal(ft_sync_list_take(&s, &l, &e), FT_OK);
    }
    assert_int_equal(l.n, 2);
    assert_string_equal(ft_sync_list_get(&l, 0, &h)->name, "a");
    assert_string_equal(ft_sync_list_get(&l, 1, &h)->name, "a/b");
    assert_int_equal(failures, 5);
    assert_int_equal(s.err, FT_ERR_BAD_NAME);
    ft_sync_list_free(&l);
}

/* A listing out of ft_sync_name_cmp's order (a server other than ft's
 * may send one) is known as such, and sorted before the plan merges it
 * with the local walk: an entry out of order would be taken for one DST
 * lacks, or has in excess. */
static void test_listing_out_of_order_sorted(void **state)
{
    static const char *const names[] = { "b", "a.b", "a/x", "a", "a/x/y", "c" };
    static const char *const sorted[] = { "a", "a/x", "a/x/y", "a.b", "b", "c" };
    struct sync_list l = { 0 };
    struct sync_held h;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        struct sync_entry e = { names[i], i, (int64_t)i * 1000, 0644, SYNC_FILE };

        assert_int_equal(ft_sync_list_add(&l, &e), FT_OK);
    }
    assert_true(l.unsorted);
    assert_int_equal(ft_sync_list_sort(&l), FT_OK);
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < l.n; i++) {
        const struct sync_entry *e = ft_sync_list_get(&l, i, &h);
        size_t was = 0;

        while (strcmp(names[was], sorted[i]) != 0)
            was++;
        assert_string_equal(e->name, sorted[i]);
        assert_int_equal(e->size, was);
        assert_int_equal(e->mtime, (int64_t)was * 1000);
        assert_int_equal(e->type, SYNC_FILE);
    }
    assert_false(l.unsorted);
    ft_sync_list_free(&l);
}

/* What the walk told so far: how many entries, the last one's name. */
struct walked {
    size_t n;
    char last[64];
};

static enum ft_err walked_in_order(void *ctx, const struct sync_entry *e)
{
    struct walked *w = ctx;

    if (w->n > 0)
        assert_true(ft_sync_name_cmp(w->last, e->name) < 0);
    assert_true(strlen(e->name) < sizeof(w->last));
    strcpy(w->last, e->name);
    w->n++;
    return FT_OK;
}

/* The local walk lists a folder's entries in ft_sync_name_cmp's order
 * as it goes (no sort of the whole list after, nor the sort's copy of
 * it), whatever order the folders give their names in. */
static void test_local_walk_in_order(void **state)
{
    static const char *const dirs[] = { "a", "a/x", "a-b", "z", "z/y" };
    struct ft_sync_events ev = { 0 };
    struct ft_sync_stats st;
    struct sync s = { .ev = &ev, .st = &st };
    struct walked seen = { 0, "" };
    char *root = tu_tempdir(), name[64];
    bool exists = false, is_dir = false;
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        snprintf(name, sizeof(name), "%s/%s", root, dirs[i]);
        assert_int_equal(mkdir(name, 0755), 0);
    }
    /* Enough names that a folder's own order is not sorted by chance. */
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "%s/%s/f%d%s", root, dirs[i % 5], i * 7919 % 97,
                 i % 3 ? ".c" : "");
        tu_write_bytes(name, "x", 1);
    }
    s.local = (struct sync_local){ .path = root, .root_fd = -1,
                                   .kept = { NULL, -1 }, .ahead = { NULL, -1 } };
    assert_int_equal(ft_sync_local_open(&s.local, &exists, &is_dir, why, sizeof(why)),
                     FT_OK);
    assert_true(exists && is_dir);
    assert_int_equal(ft_sync_local_list(&s, false, walked_in_order, &seen), FT_OK);
    assert_int_equal(seen.n, 65);
    ft_sync_local_close(&s.local);
    tu_rmtree(root);
    free(root);
}

/* A file the walk saw that became a FIFO before it was hashed is refused,
 * not hashed as whatever the FIFO yields (nothing, with no writer). */
static void test_local_hash_refuses_a_fifo(void **state)
{
    char *root = tu_tempdir(), name[256], why[256];
    uint8_t digest[FT_HASH_BYTES];
    int dir_fd;

    (void)state;
    snprintf(name, sizeof(name), "%s/f", root);
    assert_int_equal(mkfifo(name, 0644), 0);
    dir_fd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(dir_fd >= 0);
    assert_int_equal(ft_sync_local_hash(dir_fd, "f", digest, why, sizeof(why)),
                     FT_ERR_CHANGED);
    close(dir_fd);
    tu_rmtree(root);
    free(root);
}

/* --dry-run changes nothing on either side, mtimes included, and tells
 * what a sync would do. */
static void test_dry_run_changes_nothing(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *back = tu_path(f->work, "back"), *r = remote("dst");
    char *out = malloc(OUT_MAX);
    char *before_dst, *before_back, *after, *p;

    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    changes(src);
    write_text(src, "new.txt", "new\n");
    make_dir(src, "newdir");
    p = tu_path(src, "top.txt");
    unlink(p);
    free(p);
    write_text(back, "extra.txt", "x\n");
    before_dst = stored_manifest(f, "dst");
    before_back = manifest(back, true);

    assert_int_equal(run_sync(f, (const char *[]){ "-n", "-c", "-i", "--delete", src, r, NULL },
                              out), 0);
    expect_line(out, "<f+++++++++ new.txt");
    expect_line(out, "cd+++++++++ newdir/");
    expect_line(out, "*deleting   top.txt");
    expect_changes(out, '<');
    assert_int_equal(count_newlines(out), 7);
    after = stored_manifest(f, "dst");
    assert_string_equal(before_dst, after);
    free(after);

    assert_int_equal(run_sync(f, (const char *[]){ "-n", "--json", "--delete", r, back, NULL },
                              out), 0);
    assert_non_null(strstr(out, "{\"event\":\"delete\",\"name\":\"extra.txt\",\"type\":\"file\"}"));
    assert_non_null(strstr(out, "\"dry_run\":true"));
    after = manifest(back, true);
    assert_string_equal(before_back, after);
    free(after);
    free(before_dst), free(before_back), free(out);
    free(src), free(back), free(r);
}

/* --json: one object per change, then the summary. */
static void test_json_lines(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *r = remote("dst"), *out = malloc(OUT_MAX);

    assert_int_equal(run_sync(f, (const char *[]){ "--json", src, r, NULL }, out), 0);
    assert_non_null(strstr(out, "{\"event\":\"mkdir\",\"name\":\"a/b\"}\n"));
    assert_non_null(strstr(out, "{\"event\":\"mkdir\",\"name\":\"empty\"}\n"));
    assert_non_null(strstr(out, "{\"event\":\"send\",\"name\":\"a/b/big\",\"size\":3145728,"
                                "\"matched\":0,\"why\":\"new\"}\n"));
    assert_non_null(strstr(out, "{\"event\":\"send\",\"name\":\"a/zero\",\"size\":0,"));
    assert_non_null(strstr(out, "\"sent\":7,"));
    assert_non_null(strstr(out, "\"total_bytes\":3145794,\"sent_bytes\":3145794,"));
    /* 3 folders, 7 files, the summary. */
    assert_int_equal(count_newlines(out), 11);
    free(out);
    free(src), free(r);
}

/* A sync killed half way leaves each file old or new, and a second run
 * finishes the job. */
static void test_interrupted_sync_finishes(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src"), *old = tu_path(f->work, "old");
    char *r = remote("dst");
    const char *args[] = { "sync", "-p", f->server.portstr, "--limit-rate", "8M", src, r,
                           NULL };
    char name[32];
    int newer = 0;
    pid_t pid;

    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(old, 0755), 0);
    for (int i = 0; i < 12; i++) {
        char *p, *o;

        snprintf(name, sizeof(name), "f%02d", i);
        p = tu_path(src, name), o = tu_path(old, name);
        tu_write_random(p, 2 * MIB, (uint32_t)i);
        tu_write_random(o, 2 * MIB, (uint32_t)i);
        set_mtime(p, 1600000000); /* the new versions' differ */
        free(p), free(o);
    }
    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    for (int i = 0; i < 12; i++) {
        char *p;

        snprintf(name, sizeof(name), "f%02d", i);
        p = tu_path(src, name);
        tu_write_random(p, 2 * MIB, (uint32_t)(100 + i)); /* every file new */
        free(p);
    }
    pid = tu_spawn_ft(args, -1, -1, -1);
    /* Until some file is new on the server, but not all. */
    for (int64_t end = tu_now_ms() + 60000; newer == 0 && tu_now_ms() < end;) {
        char *s = tu_path(src, "f00");

        newer = tu_store_same(f->server.root, "dst/f00", s);
        free(s);
        if (newer == 0)
            tu_sleep_ms(10);
    }
    assert_true(newer);
    tu_kill_pid(&pid);
    newer = 0;
    for (int i = 0; i < 12; i++) {
        char *p, *o, *s;

        snprintf(name, sizeof(name), "f%02d", i);
        o = tu_path(old, name), s = tu_path(src, name);
        if (asprintf(&p, "dst/%s", name) < 0)
            tu_die("asprintf");
        assert_true(tu_store_same(f->server.root, p, o) ||
                    tu_store_same(f->server.root, p, s));
        newer += tu_store_same(f->server.root, p, s);
        free(p), free(o), free(s);
    }
    assert_true(newer < 12); /* it was cut short */
    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_same_as_stored(src, f, "dst");
    free(src), free(old), free(r);
}

/* A file changed on the server behind ft's back (its size the same) is
 * synced right, both ways: the server's recorded digest is not trusted
 * for it. */
static void test_changed_behind_the_servers_back(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *back = tu_path(f->work, "back"), *r = remote("dst");
    char *out = malloc(OUT_MAX);

    assert_int_equal(run_sync(f, (const char *[]){ src, r, NULL }, NULL), 0);
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    /* Edited in place, as an editor would: 8 bytes changed, its size the
     * same, its mtime now (on S3 the object written again so, without the
     * digest ft recorded for it). */
    tu_store_tamper(f->server.root, "dst/a/b/big");
    tu_store_touch(f->server.root, "dst/a/b/big", (int64_t)time(NULL));
    assert_int_equal(run_sync(f, (const char *[]){ "-i", r, back, NULL }, out), 0);
    expect_line(out, ">fc.t...... a/b/big");
    assert_int_equal(count_newlines(out), 1);
    assert_same_as_stored(back, f, "dst");
    assert_int_equal(run_sync(f, (const char *[]){ "-i", src, r, NULL }, out), 0);
    expect_line(out, "<fc.t...... a/b/big");
    assert_int_equal(count_newlines(out), 1);
    assert_same_as_stored(src, f, "dst");
    free(out);
    free(src), free(back), free(r);
}

/* A folder of SRC that cannot be walked (nested deeper than 64) fails the
 * sync's exit code, and the rest is still synced. */
static void test_walk_failure_counts(void **state)
{
    struct tu_fixture *f = *state;
    /* Into the top: 64 folders deep is still a name the server takes. */
    char *src = make_tree(f), *r = remote("");
    char *deep = strdup(src);

    for (int i = 0; i < 66; i++) {
        char *next = tu_path(deep, "d");

        free(deep);
        deep = next;
        if (mkdir(deep, 0755) != 0)
            tu_die(deep);
    }
    assert_int_equal(run_sync(f, (const char *[]){ "-q", src, r, NULL }, NULL), 5);
    assert_true(tu_store_exists(f->server.root, "top.txt"));
    free(src), free(r), free(deep);
}

/* A single file syncs as itself; usage errors for two local or two
 * remote operands. */
static void test_single_file_and_operands(void **state)
{
    struct tu_fixture *f = *state;
    char *src = make_tree(f), *file = tu_path(src, "a/b/big"), *r = remote("one/big.bin");
    char *r2 = remote("x");
    char *back = tu_path(f->work, "got.bin");

    assert_int_equal(run_sync(f, (const char *[]){ file, r, NULL }, NULL), 0);
    assert_true(tu_store_same(f->server.root, "one/big.bin", file));
    assert_int_equal(run_sync(f, (const char *[]){ r, back, NULL }, NULL), 0);
    assert_true(tu_files_equal(file, back));
    assert_int_equal(run_sync(f, (const char *[]){ src, back, NULL }, NULL), 2);
    assert_int_equal(run_sync(f, (const char *[]){ r, r2, NULL }, NULL), 2);
    free(src), free(file), free(r), free(r2), free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_push_pull_tree),
        TU_TEST_SERVER(test_changes_itemized_both_ways),
        TU_TEST_SERVER(test_delete_stays_inside),
        cmocka_unit_test(test_names_from_a_listing),
        cmocka_unit_test(test_hostile_listing_names_left_out),
        cmocka_unit_test(test_local_walk_in_order),
        cmocka_unit_test(test_local_hash_refuses_a_fifo),
        cmocka_unit_test(test_listing_out_of_order_sorted),
        TU_TEST_SERVER(test_dry_run_changes_nothing),
        TU_TEST_SERVER(test_json_lines),
        TU_TEST_SERVER(test_interrupted_sync_finishes),
        TU_TEST_SERVER(test_changed_behind_the_servers_back),
        TU_TEST_SERVER(test_walk_failure_counts),
        TU_TEST_SERVER(test_single_file_and_operands),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
