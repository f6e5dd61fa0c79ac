/* test_testutil.c - the harness's own promises: stops that are safe twice
 * and on zeroed structs, ft children kept out of the user's config, and
 * servers on the store FT_TEST_STORE names. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 20000

static void test_server_stops_are_idempotent(void **state)
{
    struct ft_server_config nowhere = { .host = "256.0.0.1" };
    struct tu_server t;
    char err[256], *root;

    (void)state;
    memset(&t, 0, sizeof(t));
    tu_server_stop(&t); /* never started */
    tu_server_start(&t, NULL);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_not_equal(t.port, 0);
    assert_int_equal(atoi(t.portstr), t.port);
    root = strdup(t.root);
    tu_server_stop(&t);
    assert_null(t.srv);
    assert_false(tu_exists(root));
    tu_server_stop(&t); /* twice */
    /* A server that cannot start leaves a stopped struct and no folder. */
    assert_false(tu_server_try_start(&t, &nowhere, err, sizeof(err)));
    assert_null(t.srv);
    assert_null(t.root);
    tu_server_stop(&t);
    free(root);
}

static void test_served_stops_are_idempotent(void **state)
{
    struct tu_fixture *f = *state;
    struct tu_served zeroed;

    /* Descriptor 0 open, so that closing it by mistake would show. */
    if (fcntl(STDIN_FILENO, F_GETFD) < 0)
        assert_int_equal(open("/dev/null", O_RDONLY), STDIN_FILENO);
    memset(&zeroed, 0, sizeof(zeroed));
    tu_served_stop(&zeroed);
    assert_true(fcntl(STDIN_FILENO, F_GETFD) >= 0);

    assert_true(tu_fixture_serve(f, NULL));
    assert_true(f->served.pid > 0);
    assert_int_equal(atoi(f->served.portstr), f->served.port);
    tu_served_stop(&f->served);
    assert_int_equal(f->served.pid, 0);
    tu_served_stop(&f->served);
    assert_true(fcntl(STDIN_FILENO, F_GETFD) >= 0);
    /* The fixture closes twice as safely. */
    tu_fixture_close(f);
    tu_fixture_close(f);
    assert_null(f->work);
}

/* A first connection pins the server's key somewhere; never in the config
 * folder the test program itself was given (the user's), and in the
 * test's own when it asks. */
static void test_ft_children_keep_out_of_user_config(void **state)
{
    struct tu_fixture *f = *state;
    char *user = tu_path(f->work, "user");
    char *pins = tu_path(f->config, "ft/known_hosts");
    char *saved_xdg = getenv("XDG_CONFIG_HOME"), *saved_home = getenv("HOME");
    const char *ls[] = { "ls", "-p", f->served.portstr, NULL };
    const char *env[] = { f->config_env, NULL };
    char err[4096];
    int status = 0;
    pid_t pid;

    saved_xdg = saved_xdg ? strdup(saved_xdg) : NULL;
    saved_home = saved_home ? strdup(saved_home) : NULL;
    assert_int_equal(mkdir(user, 0700), 0);
    setenv("XDG_CONFIG_HOME", user, 1);
    setenv("HOME", user, 1);

    assert_int_equal(tu_run_ft(ls, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "pinned its key"));
    pid = tu_spawn_ft(ls, -1, -1, -1);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tu_count_entries(user), 0);

    /* Asked for: the test's folder, and the next run finds the pin. */
    assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "pinned its key"));
    assert_true(tu_exists(pins));
    assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
    assert_null(strstr(err, "pinned its key"));
    assert_int_equal(tu_count_entries(user), 0);

    if (saved_xdg != NULL)
        setenv("XDG_CONFIG_HOME", saved_xdg, 1);
    else
        unsetenv("XDG_CONFIG_HOME");
    if (saved_home != NULL)
        setenv("HOME", saved_home, 1);
    else
        unsetenv("HOME");
    free(saved_xdg);
    free(saved_home);
    free(user);
    free(pins);
}

/* The library client pins nothing unless told where. */
static void test_connect_pins_nothing(void **state)
{
    struct tu_fixture *f = *state;
    char *pins = tu_path(f->config, "known_hosts");
    struct ft_client_config pinning = { .known_hosts = pins };
    struct ft_client *c = tu_connect(f->server.port, NULL);

    assert_true(ft_client_encrypted(c));
    assert_false(ft_client_pinned_now(c));
    ft_client_close(c);
    c = tu_connect(f->server.port, &pinning);
    assert_true(ft_client_pinned_now(c));
    assert_true(tu_exists(pins));
    ft_client_close(c);
    free(pins);
}

/* What both kinds of server store lands where FT_TEST_STORE says: in the
 * test's folder, or under S3 in the bucket and not in the folder; and
 * what is written behind the server's back is what it serves. */
static void test_servers_use_the_store_named(void **state)
{
    struct tu_fixture *f = *state;
    const char *const s3 = tu_store_s3() ? "s3" : NULL;
    char *src = tu_path(f->work, "src"), *back = tu_path(f->work, "back");
    char *in_folder = tu_path(f->root, "up"), *in_server;
    char err[4096];

    tu_write_random(src, 3000, 5);
    tu_server_start(&f->server, NULL);
    in_server = tu_path(f->server.root, "up");
    assert_true(tu_fixture_serve(f, NULL));
    {
        const char *child[] = { "put", "-q", "-p", f->served.portstr, src, "up", NULL };
        const char *thread[] = { "put", "-q", "-p", f->server.portstr, src, "up", NULL };

        assert_int_equal(tu_run_ft(child, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(tu_run_ft(thread, NULL, NULL, err, sizeof(err)), 0);
    }
    assert_true(tu_store_same(f->root, "up", src));
    assert_true(tu_store_same(f->server.root, "up", src));
    assert_true(tu_exists(in_folder) == (s3 == NULL));
    assert_true(tu_exists(in_server) == (s3 == NULL));

    tu_store_write(f->root, "sub/behind", "behind", 6);
    {
        const char *get[] = { "get", "-q", "-p", f->served.portstr, "sub/behind", back,
                              NULL };

        assert_int_equal(tu_run_ft(get, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(tu_file_size(back), 6);
    }
    free(src);
    free(back);
    free(in_folder);
    free(in_server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_stops_are_idempotent),
        TU_TEST_FIXTURE(test_served_stops_are_idempotent),
        TU_TEST_SERVED(test_ft_children_keep_out_of_user_config),
        TU_TEST_SERVER(test_connect_pins_nothing),
        TU_TEST_FIXTURE(test_servers_use_the_store_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
