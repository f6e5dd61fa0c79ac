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

struct fixture {
    struct tu_server server;
    char *work; /* the client's side */
};

static void quiet_log(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

static int start_with(void **state, uint64_t max_file_size)
{
    struct ft_server_config cfg = { .log = quiet_log,
                                    .max_file_size = max_file_size };
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    tu_server_start(&f->server, &cfg);
    f->work = tu_tempdir();
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_with(state, 0);
}

static int setup_small_limit(void **state)
{
    return start_with(state, SMALL_LIMIT);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tu_server_stop(&f->server);
    tu_rmtree(f->work);
    free(f->work);
    free(f);
    return 0;
}

static struct ft_client *connect_to(const struct fixture *f)
{
    struct ft_client_config cfg = { .host = "127.0.0.1", .port = f->server.port };
    struct ft_client *c = NULL;
    char err[256];

    assert_int_equal(ft_client_connect(&c, &cfg, err, sizeof(err)), FT_OK);
    return c;
}

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

static struct ft_tree_events events_for(struct told *t)
{
    struct ft_tree_events ev = { on_start, on_done, on_failure, on_skip, t };

    memset(t, 0, sizeof(*t));
    return ev;
}

static struct ft_transfer_options options_for(struct told *t)
{
    struct ft_transfer_options opt = { .progress = on_progress, .progress_ctx = t };

    return opt;
}

/* dir/name, made with its folders; free() the result. */
static char *file_in(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);
    char *slash = strrchr(path, '/');

    *slash = '\0';
    for (char *p = path + strlen(dir) + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
    *slash = '/';
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
    struct fixture *f = *state;
    struct ft_client *c = connect_to(f);
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    char *stored = tu_path(f->server.root, "t");
    char *link = tu_path(stored, "link");
    struct told t;
    struct ft_tree_events ev = events_for(&t);
    struct ft_transfer_options opt = options_for(&t);
    struct ft_tree_item put = { .local = src, .remote = "t" };
    struct ft_tree_item get = { .local = back, .remote = "t" };
    int failures;

    assert_int_equal(mkdir(src, 0755), 0);
    failures = make_tree(src);
    assert_true(ft_client_can_pipeline(c));

    /* One file's local failure does not stop the others. */
    assert_int_equal(ft_client_put_tree(c, &put, 1, true, &opt, &ev), FT_ERR_IO);
    assert_int_equal(t.starts, (int)TREE_FILES);
    assert_int_equal(t.dones, (int)TREE_FILES);
    assert_int_equal(t.failures, failures);
    assert_int_equal(t.first_failure, FT_ERR_IO);
    assert_true(strstr(t.failed[0], "folders nested too deep") != NULL ||
                strstr(t.failed[1], "folders nested too deep") != NULL);
    assert_int_equal(t.skips, 1);
    assert_non_null(strstr(t.skipped[0], "/link"));
    assert_true(t.progress > 0);
    assert_same_files(src, stored);
    assert_false(tu_exists(link));
    assert_int_equal(ft_client_puts_due(c), 0);

    /* And back into a folder that does not exist yet. */
    ev = events_for(&t);
    assert_int_equal(ft_client_get_tree(c, &get, 1, true, &opt, &ev), FT_OK);
    assert_int_equal(t.starts, (int)TREE_FILES);
    assert_int_equal(t.dones, (int)TREE_FILES);
    assert_int_equal(t.failures, 0);
    assert_int_equal(t.skips, 0);
    assert_same_files(src, back);
    assert_int_equal(ft_client_gets_due(c), 0);

    ft_client_close(c);
    free(src);
    free(back);
    free(stored);
    free(link);
}

static void test_get_tree_into_folder(void **state)
{
    struct fixture *f = *state;
    struct ft_client *c = connect_to(f);
    char *src = tu_path(f->work, "src");
    char *into = tu_path(f->work, "into");
    char *dest = tu_path(into, "t");
    char *stale = tu_path(dest, "a.txt");
    char *one = tu_path(into, "one.txt");
    char *two = tu_path(into, "two.bin");
    char *unused = tu_path(into, "unused");
    struct told t;
    struct ft_tree_events ev = events_for(&t);
    struct ft_transfer_options opt = options_for(&t);
    struct ft_tree_item put = { .local = src, .remote = "t" };
    struct ft_tree_item get = { .local = dest, .remote = "t" };
    struct ft_tree_item files[] = {
        { .local = one, .remote = "t/a.txt" },
        { .local = unused, .remote = "t/not-there" },
        { .local = two, .remote = "t/sub/b.bin" },
    };

    assert_int_equal(mkdir(src, 0755), 0);
    make_tree(src);
    ft_client_put_tree(c, &put, 1, true, &opt, &ev);
    /* An older copy in the folder is replaced; the rest is made. */
    assert_int_equal(mkdir(into, 0755), 0);
    assert_int_equal(mkdir(dest, 0755), 0);
    tu_write_bytes(stale, "old", 3);
    ev = events_for(&t);
    assert_int_equal(ft_client_get_tree(c, &get, 1, true, &opt, &ev), FT_OK);
    assert_int_equal(t.dones, (int)TREE_FILES);
    assert_same_files(src, dest);

    /* Files one by one: the server's refusal of one does not stop the
     * others, and is what the copy returns. */
    ev = events_for(&t);
    assert_int_equal(ft_client_get_tree(c, files, 3, false, &opt, &ev),
                     FT_ERR_NOT_FOUND);
    assert_int_equal(t.starts, 3);
    assert_int_equal(t.dones, 2);
    assert_int_equal(t.failures, 1);
    assert_non_null(strstr(t.failed[0], "t/not-there: server refused"));
    assert_true(tu_files_equal(stale, one));
    assert_false(tu_exists(unused));
    {
        char *b = tu_path(src, "sub/b.bin");

        assert_true(tu_files_equal(b, two));
        free(b);
    }

    ft_client_close(c);
    free(src);
    free(into);
    free(dest);
    free(stale);
    free(one);
    free(two);
    free(unused);
}

/* More small files than the pipeline holds, every other one too large for
 * the server: each refusal is told for its file, and no file after it is
 * left out. */
static void test_pipelined_refusals(void **state)
{
    struct fixture *f = *state;
    struct ft_client *c = connect_to(f);
    char *src = tu_path(f->work, "many");
    struct told t;
    struct ft_tree_events ev = events_for(&t);
    struct ft_transfer_options opt = options_for(&t);
    struct ft_tree_item put = { .local = src, .remote = "many" };
    char name[64];

    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < MANY_FILES; i++) {
        char *p;

        snprintf(name, sizeof(name), "f%03d", i);
        p = tu_path(src, name);
        tu_write_random(p, i % 2 == 0 ? 10 : SMALL_LIMIT + 1, (uint32_t)i);
        free(p);
    }
    assert_int_equal(ft_client_put_tree(c, &put, 1, true, &opt, &ev),
                     FT_ERR_TOO_LARGE);
    assert_int_equal(t.starts, MANY_FILES);
    assert_int_equal(t.failures, MANY_FILES / 2);
    assert_int_equal(t.dones, MANY_FILES / 2);
    for (int i = 0; i < MANY_FILES; i += 2) {
        char *a, *b, *stored = tu_path(f->server.root, "many");

        snprintf(name, sizeof(name), "f%03d", i);
        a = tu_path(src, name);
        b = tu_path(stored, name);
        if (!tu_files_equal(a, b))
            fail_msg("%s did not arrive", name);
        free(a);
        free(b);
        free(stored);
    }
    ft_client_close(c);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_tree_and_get_it_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_tree_into_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_refusals, setup_small_limit,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
