/* test_cli_args.c - the ft command's command line as users type it:
 * options anywhere among the operands, "--", one-line usage errors, -q,
 * mv into a folder, and what keygen refuses; through the real binary. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Checks that err is exactly one line: "ft CMD: " what, ending with the
 * pointer at the command's help. */
static void assert_usage_line(const char *err, const char *cmd, const char *what)
{
    char prefix[64], help[64];
    const char *nl = strchr(err, '\n');

    snprintf(prefix, sizeof(prefix), "ft %s: ", cmd);
    snprintf(help, sizeof(help), " (see 'ft %s --help')\n", cmd);
    if (nl == NULL || nl[1] != '\0' || strncmp(err, prefix, strlen(prefix)) != 0 ||
        strstr(err, what) == NULL || strlen(err) < strlen(help) ||
        strcmp(err + strlen(err) - strlen(help), help) != 0)
        fail_msg("not one usage line of %s saying '%s': %s", cmd, what, err);
}

static void test_options_after_operands(void **state)
{
    struct tu_fixture *f = *state;
    const char *port = f->server.portstr;
    char *src = tu_path(f->work, "a.txt");
    char *stored = tu_path(f->server.root, "a.txt");
    char *as_q = tu_path(f->server.root, "-q");
    char *odd = tu_path(f->server.root, "-odd");
    char *named = tu_path(f->server.root, "named");
    char err[4096];

    tu_write_text(src, 2000);
    {   /* -q after the operand is an option, not the remote name. */
        const char *args[] = { "put", src, "-q", "-p", port, NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_string_equal(err, "");
        assert_true(tu_files_equal(src, stored));
        assert_false(tu_exists(as_q));
    }
    {   /* --port after the operand is the port to use: the default port
         * has no server, and the file must not become "PORT/a.txt". */
        const char *args[] = { "put", src, "--port", port, "-q", NULL };

        assert_int_equal(unlink(stored), 0);
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, stored));
    }
    {   /* "--" ends the options: what follows is a name. */
        const char *args[] = { "put", "-q", "-p", port, "--", src, "-odd", NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, odd));
    }
    {   /* "-" is still an operand: standard input. */
        const char *args[] = { "put", "-", "named", "-p", port, "-q", NULL };

        assert_int_equal(tu_run_ft(args, src, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, named));
    }
    free(src);
    free(stored);
    free(as_q);
    free(odd);
    free(named);
}

static void test_usage_errors_are_one_line(void **state)
{
    static const struct {
        const char *args[6];
        const char *what;
    } cases[] = {
        { { "ls", "-l", NULL }, "unknown option '-l'" },
        { { "ls", "--frobnicate=1", NULL }, "unknown option '--frobnicate'" },
        { { "ls", "-z", NULL }, "unknown option '-z'" },
        { { "ls", "--co", NULL }, "option '--co' is ambiguous" },
        { { "put", "x", "--port", NULL }, "option --port needs a value" },
        { { "get", "-p", NULL }, "option --port needs a value" },
        { { "get", "--json=yes", "x", NULL }, "option --json takes no value" },
        { { "put", "--quiet=1", "x", NULL }, "option --quiet takes no value" },
        { { "put", "-p", "http", "x", NULL }, "--port needs a port number" },
        { { "put", "--limit-rate", "fast", "x", NULL }, "--limit-rate needs a rate" },
        { { "put", NULL }, "LOCAL is missing" },
        { { "mv", "a", NULL }, "needs OLD and NEW" },
        { { "rm", "--json", "x", NULL }, "rm does not take --json" },
        { { "serve", "--max-clients", "0", NULL }, "--max-clients needs 1 to 100000" },
        { { "serve", "--bogus", NULL }, "unknown option '--bogus'" },
        { { "keygen", NULL }, "needs --token FILE" },
        { { "keygen", "-x", NULL }, "unknown option '-x'" },
    };
    char err[4096];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(tu_run_ft(cases[i].args, NULL, NULL, err, sizeof(err)), 2);
        assert_usage_line(err, cases[i].args[0], cases[i].what);
    }
}

/* put -r -q of a tree with a link in it: the link is skipped in silence. */
static void test_quiet_silences_skips(void **state)
{
    struct tu_fixture *f = *state;
    char *tree = tu_path(f->work, "tree");
    char *file = tu_path(f->work, "tree/a.txt");
    char *link = tu_path(f->work, "tree/link");
    char *stored = tu_path(f->server.root, "tree/a.txt");
    const char *quiet[] = { "put", "-r", "-q", "-p", f->server.portstr, tree, NULL };
    const char *told[] = { "put", "-r", "-p", f->server.portstr, tree, NULL };
    char err[4096];

    assert_int_equal(mkdir(tree, 0755), 0);
    tu_write_text(file, 100);
    assert_int_equal(symlink("a.txt", link), 0);
    assert_int_equal(tu_run_ft(quiet, NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_true(tu_files_equal(file, stored));
    /* Without -q the note is there: the quiet run had one to silence. */
    assert_int_equal(tu_run_ft(told, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "note: skipped "));
    free(tree);
    free(file);
    free(link);
    free(stored);
}

/* As mv(1): NEW ending in '/', or an existing folder, takes OLD inside. */
static void test_mv_into_folder(void **state)
{
    struct tu_fixture *f = *state;
    const char *port = f->server.portstr;
    char *src = tu_path(f->work, "a.txt");
    char *in_slash = tu_path(f->server.root, "box/a.txt");
    char *in_folder = tu_path(f->server.root, "box/b.txt");
    char *renamed = tu_path(f->server.root, "c.txt");
    char err[4096];
    const char *put_a[] = { "put", "-q", "-p", port, src, "a.txt", NULL };
    const char *put_b[] = { "put", "-q", "-p", port, src, "b.txt", NULL };
    const char *put_box[] = { "put", "-q", "-p", port, src, "box/keep.txt", NULL };
    const char *mv_slash[] = { "mv", "-p", port, "a.txt", "box/", NULL };
    const char *mv_folder[] = { "mv", "-p", port, "b.txt", "box", NULL };
    const char *mv_rename[] = { "mv", "-p", port, "box/b.txt", "c.txt", NULL };

    tu_write_text(src, 500);
    assert_int_equal(tu_run_ft(put_a, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(tu_run_ft(put_b, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(tu_run_ft(put_box, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(tu_run_ft(mv_slash, NULL, NULL, err, sizeof(err)), 0);
    assert_true(tu_files_equal(src, in_slash));
    assert_int_equal(tu_run_ft(mv_folder, NULL, NULL, err, sizeof(err)), 0);
    assert_true(tu_files_equal(src, in_folder));
    /* A name that is no folder is still the new name. */
    assert_int_equal(tu_run_ft(mv_rename, NULL, NULL, err, sizeof(err)), 0);
    assert_true(tu_files_equal(src, renamed));
    assert_false(tu_exists(in_folder));
    free(src);
    free(in_slash);
    free(in_folder);
    free(renamed);
}

static void test_keygen_refusals(void **state)
{
    struct tu_fixture *f = *state;
    char *missing = tu_path(f->work, "missing");
    char *token = tu_path(f->work, "missing/dir/token");
    const char *in_missing[] = { "keygen", "--token", token, NULL };
    const char *dash[] = { "keygen", "--token", "-", NULL };
    char err[4096];

    assert_int_equal(tu_run_ft(in_missing, NULL, NULL, err, sizeof(err)), 5);
    assert_non_null(strstr(err, "does not exist"));
    assert_false(tu_exists(missing));
    /* '-' is refused, and no file of that name appears. */
    assert_false(tu_exists("-"));
    assert_int_equal(tu_run_ft(dash, NULL, NULL, err, sizeof(err)), 2);
    assert_usage_line(err, "keygen", "not '-'");
    assert_false(tu_exists("-"));
    free(missing);
    free(token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_options_after_operands),
        TU_TEST_FIXTURE(test_usage_errors_are_one_line),
        TU_TEST_SERVER(test_quiet_silences_skips),
        TU_TEST_SERVER(test_mv_into_folder),
        TU_TEST_FIXTURE(test_keygen_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
