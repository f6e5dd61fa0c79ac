/* test_store_backend.c - the store behind its backend table (src/store.c):
 * locations parsed, an S3 store refused plainly while it is not built,
 * the calls an object store can answer (read_at, readers, no descriptor
 * needed), a server on a backend without descriptors, and serve's
 * options for a store on S3. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_args.h"
#include "ft/server.h"
#include "server_int.h"
#include "store_backend.h"
#include "testutil.h"
#include "testutil_server.h"

static struct ft_store_location parsed(const char *loc)
{
    struct ft_store_location l;
    char err[256] = "";
    enum ft_err e = ft_store_location_parse(loc, &l, err, sizeof(err));

    if (e != FT_OK)
        fail_msg("%s: %s: %s", loc, ft_err_name(e), err);
    return l;
}

static void assert_refused(const char *loc, const char *why)
{
    struct ft_store_location l;
    char err[256] = "";

    assert_int_equal(ft_store_location_parse(loc, &l, err, sizeof(err)),
                     FT_ERR_BAD_NAME);
    if (strstr(err, why) == NULL)
        fail_msg("%s: '%s' does not say '%s'", loc, err, why);
}

static void test_locations(void **state)
{
    struct ft_store_location l;

    (void)state;
    l = parsed("/srv/ft");
    assert_int_equal(l.scheme, FT_STORE_DIR);
    l = parsed("relative/store");
    assert_int_equal(l.scheme, FT_STORE_DIR);
    l = parsed("s3://my-bucket");
    assert_int_equal(l.scheme, FT_STORE_S3);
    assert_string_equal(l.bucket, "my-bucket");
    assert_string_equal(l.prefix, "");
    l = parsed("s3://my.bucket-1/team/files/");
    assert_string_equal(l.bucket, "my.bucket-1");
    assert_string_equal(l.prefix, "team/files");
    assert_refused("s3://", "bucket name");
    assert_refused("s3://ab", "bucket name");
    assert_refused("s3://Upper", "bucket name");
    assert_refused("s3://-dash", "bucket name");
    assert_refused("s3://dash-", "bucket name");
    assert_refused("s3://under_score", "bucket name");
    assert_refused("s3://bucket/../x", "prefix");
    assert_refused("s3://bucket/a//b", "prefix");
    assert_refused("", "empty");
}

/* A location S3 would take is refused for what it is: not built yet. */
/* An S3 location needs an endpoint and keys; one it cannot reach is told
 * at open, naming the bucket. */
static void test_s3_store_unreachable(void **state)
{
    struct ft_store_options opt = { .s3_endpoint = "http://127.0.0.1:1",
                                    .s3_access_key = "a", .s3_secret_key = "s" };
    struct ft_store_options none = { .read_only = false };
    struct ft_store *st = (struct ft_store *)&opt; /* set to NULL on failure */
    char err[256] = "";

    (void)state;
    assert_int_equal(ft_store_open_at(&st, "s3://bucket/p", &opt, err, sizeof(err)),
                     FT_ERR_CONNECT);
    assert_null(st);
    assert_non_null(strstr(err, "s3://bucket"));
    assert_int_equal(ft_store_open_at(&st, "s3://bucket/p", &none, err, sizeof(err)),
                     FT_ERR_USAGE);
    assert_non_null(strstr(err, "--s3-endpoint"));
}

struct fixture {
    char *base, *root;
    struct ft_store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";

    if (f == NULL)
        return -1;
    f->base = tu_tempdir();
    f->root = tu_path(f->base, "root");
    if (ft_store_open_at(&f->st, f->root, NULL, err, sizeof(err)) != FT_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ft_store_close(f->st);
    tu_rmtree(f->base);
    free(f->root);
    free(f->base);
    free(f);
    return 0;
}

static void put(struct ft_store *st, const char *name, const char *text)
{
    struct ft_upload up = FT_UPLOAD_INIT;

    assert_int_equal(ft_store_upload_begin(st, name, &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, text, strlen(text)), FT_OK);
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
}

/* The directory does all an object store may not. */
static void test_directory_capabilities(void **state)
{
    struct fixture *f = *state;

    assert_true(ft_store_can(f->st, FT_STORE_CAN_WRITE_AT));
    assert_true(ft_store_can(f->st, FT_STORE_CAN_HOLD));
    assert_true(ft_store_can(f->st, FT_STORE_CAN_CHUNKS));
    assert_true(ft_store_can(f->st, FT_STORE_CAN_KEEP));
    assert_true(ft_store_can(f->st, FT_STORE_CAN_FD));
}

/* Reads at offsets, in and out of order and past the end, without the
 * descriptor: what GET falls back to on a backend that has none. */
static void test_file_read_at(void **state)
{
    struct fixture *f = *state;
    struct ft_store_file file = FT_STORE_FILE_INIT;
    struct ft_reader r;
    char buf[32];
    size_t got = 0;

    assert_false(ft_store_file_is_open(&file));
    assert_int_equal(ft_store_file_fd(&file), -1);
    put(f->st, "dir/f.txt", "0123456789abcdef");
    assert_int_equal(ft_store_open_file(f->st, "dir/f.txt", &file), FT_OK);
    assert_true(ft_store_file_is_open(&file));
    assert_true(ft_store_file_fd(&file) >= 0);
    assert_int_equal(ft_store_file_read_at(&file, buf, 4, 10, &got), FT_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "abcd", 4);
    assert_int_equal(ft_store_file_read_at(&file, buf, 3, 2, &got), FT_OK);
    assert_memory_equal(buf, "234", 3);
    assert_int_equal(ft_store_file_read_at(&file, buf, sizeof(buf), 12, &got), FT_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "cdef", 4);
    assert_int_equal(ft_store_file_read_at(&file, buf, sizeof(buf), 16, &got), FT_OK);
    assert_int_equal(got, 0);
    r = ft_store_file_reader(&file);
    assert_int_equal(r.read_at(&r, buf, 2, 14, &got), FT_OK);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "ef", 2);
    ft_store_file_close(&file);
    assert_false(ft_store_file_is_open(&file));
    assert_int_equal(ft_store_file_fd(&file), -1);
}

/* A kept upload's prefix is read back through the store, for resume. */
static void test_upload_read_at(void **state)
{
    struct fixture *f = *state;
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_reader r;
    uint64_t have = 1;
    char buf[16];
    size_t got = 0;

    assert_int_equal(ft_store_upload_fd(&up), -1);
    assert_int_equal(ft_store_upload_begin_kept(f->st, "k.bin", "00112233", 3600, &up,
                                                &have),
                     FT_OK);
    assert_int_equal(have, 0);
    assert_int_equal(ft_store_upload_write(&up, "kept prefix", 11), FT_OK);
    r = ft_store_upload_reader(&up);
    assert_int_equal(r.read_at(&r, buf, 6, 5, &got), FT_OK);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "prefix", 6);
    assert_int_equal(ft_store_upload_read_at(&up, buf, sizeof(buf), 0, &got), FT_OK);
    assert_int_equal(got, 11);
    ft_store_upload_abort(f->st, &up);
}

/* A store on S3 keeps no server key: without --key-file the server says
 * so; with one, the store itself is what is refused (and no key made). */
static void test_server_s3_needs_key_file(void **state)
{
    struct fixture *f = *state;
    char *key = tu_path(f->base, "server.key");
    struct ft_server_config cfg = { .root = "s3://bucket", .port = 0 };
    struct ft_server *srv = NULL;
    struct stat sb;
    char err[512] = "";

    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_USAGE);
    assert_null(srv);
    assert_non_null(strstr(err, "--key-file"));
    cfg.key_file = key;
    err[0] = '\0';
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_USAGE);
    assert_null(srv);
    assert_non_null(strstr(err, "--s3-endpoint"));
    assert_int_not_equal(stat(key, &sb), 0);
    cfg.root = "s3://No_Such";
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_USAGE);
    assert_non_null(strstr(err, "bucket name"));
    free(key);
}

/* --key-file with a directory store: the key is that file's, and none is
 * made under the store's .ft. */
static void test_server_key_file_used(void **state)
{
    struct fixture *f = *state;
    char *key = tu_path(f->base, "server.key");
    char *root = tu_path(f->base, "other");
    char *stored = tu_path(root, ".ft/server.key");
    struct ft_server_config cfg = { .root = root, .key_file = key, .port = 0 };
    struct ft_server *srv = NULL;
    struct stat sb;
    char err[512] = "";

    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_OK);
    ft_server_free(srv);
    assert_int_equal(stat(key, &sb), 0);
    assert_int_not_equal(stat(stored, &sb), 0);
    free(stored);
    free(root);
    free(key);
}

/* --store is --root's other name; the S3 settings come from the command
 * line and the config file (the keys from the file only), the command
 * line winning. */
static void test_serve_s3_options(void **state)
{
    struct fixture *f = *state;
    char *conf = tu_path(f->base, "serve.conf");
    static const char text[] = "store s3://bucket/team\n"
                               "s3-endpoint http://file.example:7480\n"
                               "s3-region eu-west-1\n"
                               "s3-access-key AKEXAMPLE\n"
                               "s3-secret-key se/cret\n";
    char *args[] = { "serve", "--config", conf, "--s3-endpoint",
                     "http://127.0.0.1:7480", NULL };
    struct cli_serve_args a = { .help = "" };
    char *secret_args[] = { "serve", "--s3-secret-key", "x", NULL };
    struct cli_serve_args b = { .help = "" };
    char *store_args[] = { "serve", "--store", "/srv/ft", NULL };
    struct cli_serve_args c = { .help = "" };

    tu_write_bytes(conf, text, sizeof(text) - 1);
    assert_int_equal(cli_parse_serve_args(5, args, &a), 0);
    assert_string_equal(a.cfg.root, "s3://bucket/team");
    assert_string_equal(a.cfg.s3_endpoint, "http://127.0.0.1:7480");
    assert_string_equal(a.cfg.s3_region, "eu-west-1");
    assert_string_equal(a.cfg.s3_access_key, "AKEXAMPLE");
    assert_string_equal(a.cfg.s3_secret_key, "se/cret");
    free(a.config_text);
    /* A secret on the command line would be in every user's ps. */
    assert_int_not_equal(cli_parse_serve_args(3, secret_args, &b), 0);
    assert_int_equal(cli_parse_serve_args(3, store_args, &c), 0);
    assert_string_equal(c.cfg.root, "/srv/ft");
    free(conf);
}

/* A backend as an object store is: the directory's operations, but no
 * descriptor for a stored file or an upload and no writes at offsets.
 * Reads are counted, to see that they came through read_at. */
static struct ft_store_backend without_fds;
static const struct ft_store_backend *directory;
static atomic_uint reads_at;

static int no_file_fd(const struct ft_store_file *f)
{
    (void)f;
    return -1;
}

static int no_upload_fd(const struct ft_upload *up)
{
    (void)up;
    return -1;
}

static enum ft_err counted_read_at(struct ft_store_file *f, void *buf, size_t n,
                                   uint64_t off, size_t *got)
{
    atomic_fetch_add(&reads_at, 1);
    return directory->file_read_at(f, buf, n, off, got);
}

static void run_ft_ok(const char *const args[])
{
    char err[1024] = "";

    if (tu_run_ft(args, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("ft %s %s: %s", args[0], args[1], err);
}

/* A server on a store without descriptors: GET goes through read_at (no
 * sendfile), striped transfers, asked for, go as one stream, and ft sync
 * pulls without deltas; every copy arrives whole and checked. */
static void test_server_without_descriptors(void **state)
{
    struct fixture *f = *state;
    struct tu_server t;
    char *src = tu_path(f->base, "src.bin"), *out = tu_path(f->base, "out.bin");
    struct ft_store *st;

    memset(&t, 0, sizeof(t));
    tu_server_start(&t, NULL);
    st = t.srv->store;
    directory = st->be;
    without_fds = *directory;
    without_fds.caps &= ~(unsigned)(FT_STORE_CAN_WRITE_AT | FT_STORE_CAN_FD);
    without_fds.file_fd = no_file_fd;
    without_fds.upload_fd = no_upload_fd;
    without_fds.file_read_at = counted_read_at;
    st->be = &without_fds; /* before any client: nothing else reads it */
    tu_write_random(src, 9 * 1024 * 1024 + 3, 18);
    {
        const char *put[] = { "put", "-q", "-p", t.portstr, "-P", "4", src, "big.bin",
                              NULL };
        const char *get[] = { "get", "-q", "-p", t.portstr, "-P", "4", "big.bin", out,
                              NULL };
        const char *get_plain[] = { "get", "-q", "-p", t.portstr, "--plaintext",
                                    "--no-verify", "big.bin", out, NULL };

        run_ft_ok(put);
        run_ft_ok(get);
        assert_true(tu_files_equal(src, out));
        assert_int_equal(unlink(out), 0);
        assert_true(atomic_load(&reads_at) > 0);
        atomic_store(&reads_at, 0);
        const char *pull[] = { "sync", "-q", "-p", t.portstr, "127.0.0.1:big.bin", out,
                               NULL };

        run_ft_ok(get_plain);
        assert_true(tu_files_equal(src, out));
        assert_true(atomic_load(&reads_at) > 0);
        /* ft sync: no deltas offered (DELTA_GET cuts through a descriptor),
         * the changed file comes whole. */
        tu_write_random(out, 9 * 1024 * 1024 + 5, 19); /* not the same size */
        run_ft_ok(pull);
        assert_true(tu_files_equal(src, out));
    }
    st->be = directory;
    tu_server_stop(&t);
    free(out);
    free(src);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_s3_store_unreachable),
        T(test_directory_capabilities),
        T(test_file_read_at),
        T(test_upload_read_at),
        T(test_server_s3_needs_key_file),
        T(test_server_key_file_used),
        T(test_serve_s3_options),
        T(test_server_without_descriptors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
