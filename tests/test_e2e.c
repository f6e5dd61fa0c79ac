/* test_e2e.c - real round trips through a server on 127.0.0.1, driven
 * through the client library, plus hand-built frames for what a well
 * behaved client never sends. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "ft/net.h"
#include "hash.h"
#include "proto.h"
#include "testutil.h"

/* Puts src as name, gets it back to a new local file, and checks both the
 * copy and the file in the server's root byte for byte. */
static void round_trip(struct tu_fixture *f, const char *src, const char *name,
                       bool compress)
{
    struct ft_transfer_options opt = { .compress = compress };
    struct ft_transfer put, get;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *back = tu_path(f->work, "back");
    struct stat sb;
    int fd = open(src, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(ft_client_put(c, fd, sb.st_size, name, &opt, &put), FT_OK);
    close(fd);
    assert_int_equal(put.bytes, (uint64_t)sb.st_size);
    assert_true(put.verified);
    assert_true(tu_store_same(f->server.root, name, src));

    assert_int_equal(ft_client_get_file(c, name, back, &opt, &get), FT_OK);
    assert_int_equal(get.bytes, (uint64_t)sb.st_size);
    assert_true(get.verified);
    assert_string_equal(put.digest_hex, get.digest_hex);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    unlink(back);
    free(back);
}

static void random_round_trip(void **state, uint64_t size, bool compress)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src.bin");

    tu_write_random(src, size, (uint32_t)size);
    round_trip(f, src, "file.bin", compress);
    free(src);
}

static void test_empty_file(void **state) { random_round_trip(state, 0, false); }
static void test_one_byte(void **state) { random_round_trip(state, 1, false); }
static void test_one_mib(void **state) { random_round_trip(state, 1 << 20, false); }
static void test_64_mib(void **state) { random_round_trip(state, 64ull << 20, false); }
static void test_random_compressed(void **state)
{
    random_round_trip(state, 3u << 20, true);
}

static void test_text_compressed(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "notes.txt");

    tu_write_text(src, 5u << 20);
    round_trip(f, src, "notes.txt", true);
    free(src);
}

/* Several requests on one connection, and an overwrite. */
static void test_ls_rm_and_overwrite(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a");
    int fd;

    tu_write_random(a, 1000, 1);
    fd = open(a, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 1000, "x", NULL, NULL), FT_OK);
    close(fd);
    tu_write_random(a, 2000, 2);
    fd = open(a, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 2000, "x", NULL, NULL), FT_OK);
    close(fd);
    assert_true(tu_store_same(f->server.root, "x", a));

    assert_int_equal(ft_client_remove(c, "x"), FT_OK);
    assert_false(tu_store_exists(f->server.root, "x"));
    assert_int_equal(ft_client_remove(c, "x"), FT_ERR_NOT_FOUND);
    assert_non_null(strstr(ft_client_error(c), "no such file 'x'"));
    /* A refusal leaves the connection usable. */
    fd = open(a, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 2000, "y", NULL, NULL), FT_OK);
    close(fd);
    ft_client_close(c);
    free(a);
}

struct progress_seen {
    uint64_t calls, last, total;
    bool monotonic;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_seen *p = ctx;

    if (done < p->last)
        p->monotonic = false;
    p->calls++;
    p->last = done;
    p->total = total;
}

/* Copies the FIFO at paths[0] into the file paths[1]: the reader at the
 * FIFO's other end (a thread, not a child: nothing to leak in a copy of
 * the test). Returns NULL on success. */
static void *copy_fifo(void *arg)
{
    char **paths = arg;
    int in = open(paths[0], O_RDONLY), out = open(paths[1], O_WRONLY | O_CREAT, 0600);
    char buf[65536];
    ssize_t n = 0;
    void *failed = NULL;

    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            failed = arg;
    if (in < 0 || out < 0 || n < 0)
        failed = arg;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return failed;
}

/* A download into a FIFO (or /dev/null) is written into it: a part
 * renamed over it would replace the FIFO with a file, and as root
 * `ft get NAME /dev/null` would replace the device. */
static void test_get_into_a_fifo(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "src");
    char *paths[2] = { tu_path(f->work, "fifo"), tu_path(f->work, "got") };
    enum ft_err err;
    struct stat sb;
    pthread_t reader;
    void *failed = NULL;
    int fd, keeper;

    tu_write_random(src, 1u << 20, 3);
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, -1, "p", NULL, NULL), FT_OK);
    close(fd);
    assert_int_equal(mkfifo(paths[0], 0600), 0);
    /* Both ends held here, so that neither side's open waits, and the
     * reader sees the end only once this is closed, whatever the get did. */
    keeper = open(paths[0], O_RDWR);
    assert_true(keeper >= 0);
    assert_int_equal(pthread_create(&reader, NULL, copy_fifo, paths), 0);
    err = ft_client_get_file(c, "p", paths[0], NULL, NULL);
    close(keeper);
    assert_int_equal(pthread_join(reader, &failed), 0);
    if (err != FT_OK)
        fail_msg("get into the FIFO: %s", ft_client_error(c));
    assert_int_equal(lstat(paths[0], &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_null(failed);
    assert_true(tu_files_equal(src, paths[1]));
    ft_client_close(c);
    free(src);
    free(paths[0]);
    free(paths[1]);
}

/* The progress callback sees every chunk, in order, up to the whole size;
 * with standard input, the total is unknown. */
static void test_progress_reports(void **state)
{
    struct tu_fixture *f = *state;
    struct progress_seen put = { 0, 0, 0, true }, get = { 0, 0, 0, true };
    struct ft_transfer_options opt = { .progress = on_progress };
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    int fd;

    tu_write_random(src, 3u << 20, 9);
    fd = open(src, O_RDONLY);
    opt.progress_ctx = &put;
    assert_int_equal(ft_client_put(c, fd, -1, "p", &opt, NULL), FT_OK);
    close(fd);
    assert_true(put.calls >= 3);
    assert_true(put.monotonic);
    assert_int_equal(put.last, 3u << 20);
    assert_int_equal(put.total, FT_SIZE_UNKNOWN_TOTAL);
    opt.progress_ctx = &get;
    assert_int_equal(ft_client_get_file(c, "p", back, &opt, NULL), FT_OK);
    assert_true(get.calls >= 3);
    assert_true(get.monotonic);
    assert_int_equal(get.last, 3u << 20);
    assert_int_equal(get.total, 3u << 20);
    ft_client_close(c);
    free(src);
    free(back);
}

/* Modification time and executable bit travel both ways; stat gives the
 * digest b2sum -l 256 would print; mv renames atomically. One story, each
 * step on the file the step before left: hence its length. */
static void test_metadata_stat_and_move(void **state)
{
    struct tu_fixture *f = *state;
    struct timespec old_times[2] = { { 0, UTIME_OMIT }, { 1500000000, 0 } };
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "tool.sh");
    char *back = tu_path(f->work, "back.sh");
    char *view, *stored;
    struct ft_stat st;
    struct ft_transfer t;
    struct stat sb;
    struct ft_hash h;
    uint8_t digest[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];
    int fd;

    tu_write_text(src, 100000);
    assert_int_equal(chmod(src, 0755), 0);
    assert_int_equal(utimensat(AT_FDCWD, src, old_times, 0), 0);
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, -1, "tool.sh", NULL, NULL), FT_OK);
    close(fd);
    /* As stored: the file's own on the folder, the object's on S3. */
    view = tu_store_view(f->server.root, "");
    stored = tu_path(view, "tool.sh");
    assert_int_equal(stat(stored, &sb), 0);
    assert_int_equal(sb.st_mtime, 1500000000);
    assert_int_equal(sb.st_mode & 0777, 0755);
    free(stored);
    tu_store_view_done(view);

    assert_int_equal(ft_client_stat(c, "tool.sh", &st), FT_OK);
    fd = open(src, O_RDONLY);
    ft_hash_init(&h);
    for (;;) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0)
            break;
        ft_hash_update(&h, buf, (size_t)n);
    }
    close(fd);
    ft_hash_final(&h, digest);
    ft_hash_hex(digest, hex);
    assert_string_equal(st.digest_hex, hex);
    assert_int_equal(st.mtime, 1500000000);
    assert_int_equal(st.size, (uint64_t)sb.st_size);
    /* The digest recorded at upload answers a quick STAT too. */
    assert_int_equal(ft_client_stat_quick(c, "tool.sh", &st), FT_OK);
    assert_string_equal(st.digest_hex, hex);

    /* Stored unverified, the file has no recorded digest: a quick STAT
     * answers zeros without reading it, a full one hashes it. */
    {
        struct ft_transfer_options unverified = { .no_verify = true };
        char zeros[FT_HASH_HEX_BYTES];

        memset(zeros, '0', FT_HASH_HEX_BYTES - 1);
        zeros[FT_HASH_HEX_BYTES - 1] = '\0';
        fd = open(src, O_RDONLY);
        assert_int_equal(ft_client_put(c, fd, -1, "plain.sh", &unverified, NULL),
                         FT_OK);
        close(fd);
        assert_int_equal(ft_client_stat_quick(c, "plain.sh", &st), FT_OK);
        assert_string_equal(st.digest_hex, zeros);
        assert_int_equal(st.size, (uint64_t)sb.st_size);
        assert_int_equal(ft_client_stat(c, "plain.sh", &st), FT_OK);
        assert_string_equal(st.digest_hex, hex);
        /* That full read recorded the digest: a quick STAT now has it. */
        assert_int_equal(ft_client_stat_quick(c, "plain.sh", &st), FT_OK);
        assert_string_equal(st.digest_hex, hex);

        /* So does a verified get of a file stored unverified. */
        fd = open(src, O_RDONLY);
        assert_int_equal(ft_client_put(c, fd, -1, "plain2.sh", &unverified, NULL),
                         FT_OK);
        close(fd);
        fd = open(back, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(ft_client_get(c, "plain2.sh", fd, NULL, NULL), FT_OK);
        close(fd);
        assert_int_equal(ft_client_stat_quick(c, "plain2.sh", &st), FT_OK);
        assert_string_equal(st.digest_hex, hex);
    }

    assert_int_equal(ft_client_move(c, "tool.sh", "renamed.sh"), FT_OK);
    assert_false(tu_store_exists(f->server.root, "tool.sh"));
    assert_true(tu_store_same(f->server.root, "renamed.sh", src));
    assert_int_equal(ft_client_move(c, "tool.sh", "x"), FT_ERR_NOT_FOUND);
    assert_int_equal(ft_client_move(c, "renamed.sh", "../x"), FT_ERR_BAD_NAME);

    assert_int_equal(ft_client_get_file(c, "renamed.sh", back, NULL, &t), FT_OK);
    assert_int_equal(stat(back, &sb), 0);
    assert_int_equal(sb.st_mtime, 1500000000);
    assert_true((sb.st_mode & 0100) != 0);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    free(src);
    free(back);
}

/* The server vouches for a file with the digest it recorded at upload only
 * while the file is as it was; changed behind ft's back, the file is hashed
 * again, and if the change hid its traces, the client's check catches it. */
static void test_recorded_digest(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_transfer_options plain = { 0 };
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    char *other = tu_path(f->work, "other");
    struct ft_transfer t;
    struct ft_stat st;
    int fd;

    tu_write_random(src, 2u << 20, 21);
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 2u << 20, "r.bin", &plain, NULL), FT_OK);
    close(fd);
    assert_int_equal(ft_client_get_file(c, "r.bin", back, &plain, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_files_equal(src, back));

    /* Rewritten (new content, new mtime; on S3 a new object without
     * ft's metadata): hashed again, fine, and that digest is recorded in
     * turn. The server records it after the data has left; the session
     * answers the quick STAT only once that is done, so the answer both
     * waits for the record and shows it. */
    tu_write_random(other, 2u << 20, 22);
    tu_store_put_file(f->server.root, "r.bin", other);
    assert_int_equal(ft_client_get_file(c, "r.bin", back, &plain, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_files_equal(other, back));
    assert_int_equal(ft_client_stat_quick(c, "r.bin", &st), FT_OK);
    assert_string_equal(st.digest_hex, t.digest_hex);

    /* Rewritten with what the server knows it by put back (the recorded
     * mtime; on S3 the recorded digest as the object's own): the stale
     * record is caught by the client's check, and nothing is kept under
     * the name. */
    tu_store_tamper(f->server.root, "r.bin");
    unlink(back);
    assert_int_equal(ft_client_get_file(c, "r.bin", back, &plain, &t),
                     FT_ERR_INTEGRITY);
    assert_false(tu_exists(back));
    ft_client_close(c);
    free(src);
    free(back);
    free(other);
}

/* A file under 64 KiB gets no record on the folder (it would cost a
 * block of its own): a quick STAT answers zeros, a full one and a verified
 * get hash it, and still no record is left. S3 keeps every digest with
 * its object (the metadata of its one PUT): there the quick STAT has it
 * from the upload on. */
static void test_small_file_unrecorded(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "small");
    char *back = tu_path(f->work, "small.back");
    char zeros[FT_HASH_HEX_BYTES];
    char hex[FT_HASH_HEX_BYTES];
    const char *quick;
    struct ft_stat st;
    struct ft_transfer t;
    int fd;

    memset(zeros, '0', FT_HASH_HEX_BYTES - 1);
    zeros[FT_HASH_HEX_BYTES - 1] = '\0';
    tu_write_random(src, 64 * 1024 - 1, 31);
    tu_file_digest_hex(src, hex);
    quick = tu_store_s3() ? hex : zeros;
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, -1, "small", NULL, NULL), FT_OK);
    close(fd);
    assert_int_equal(ft_client_stat_quick(c, "small", &st), FT_OK);
    assert_string_equal(st.digest_hex, quick);
    assert_int_equal(ft_client_stat(c, "small", &st), FT_OK);
    assert_string_not_equal(st.digest_hex, zeros);
    assert_string_equal(st.digest_hex, hex);
    assert_int_equal(ft_client_get_file(c, "small", back, NULL, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_files_equal(src, back));
    assert_int_equal(ft_client_stat_quick(c, "small", &st), FT_OK);
    assert_string_equal(st.digest_hex, quick);
    assert_int_equal(ft_client_stat(c, "small", &st), FT_OK);
    assert_string_equal(st.digest_hex, hex);
    /* One byte more, 64 KiB: recorded at upload. */
    tu_write_random(src, 64 * 1024, 32);
    fd = open(src, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, -1, "edge", NULL, NULL), FT_OK);
    close(fd);
    assert_int_equal(ft_client_stat_quick(c, "edge", &st), FT_OK);
    assert_string_not_equal(st.digest_hex, zeros);
    ft_client_close(c);
    free(src);
    free(back);
}

static int count_entry(const struct ft_entry *e, void *ctx)
{
    int *seen = ctx;

    if (strcmp(e->name, "one") == 0 && e->size == 1)
        seen[0]++;
    else if (strcmp(e->name, "two") == 0 && e->size == 2)
        seen[1]++;
    else
        seen[2]++;
    return 0;
}

/* The names of a listing, each followed by ';', in the server's order. */
static int name_list(const struct ft_entry *e, void *ctx)
{
    char *names = ctx;

    if (strlen(names) + strlen(e->name) + 2 > 256)
        return -1;
    strcat(names, e->name);
    strcat(names, e->is_dir ? "/;" : ";");
    return 0;
}

/* Runs `ft ls NAME` against the server; its output must hold want. */
static void ls_shows(struct tu_fixture *f, const char *name, const char *want)
{
    const char *args[] = { "ls", "-p", f->server.portstr, name, NULL };
    char *out = tu_path(f->work, "ls.out");
    char err[1024], shown[256];
    ssize_t n;
    int fd;

    assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
    fd = open(out, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, shown, sizeof(shown) - 1);
    close(fd);
    assert_true(n > 0);
    shown[n] = '\0';
    assert_non_null(strstr(shown, want));
    free(out);
}

/* The top lists its files, never what is under way; "/" and "." are the
 * top too; a file lists as itself, as stat shows it. Through the library
 * and through `ft ls`. */
/* More entries than one ENTRIES frame holds (long names that share a long
 * prefix, then differ): every one arrives, in order of its own, once. */
static int count_long(const struct ft_entry *e, void *ctx)
{
    unsigned *seen = ctx;
    unsigned i;

    if (e->is_dir && strcmp(e->name, "d") == 0)
        return 0;
    if (sscanf(e->name, "d/%*200[x]-%u", &i) != 1 || i >= 600 ||
        e->size != i % 7 || e->mtime != 1000000 + (int64_t)i * 3)
        i = 600; /* counted as a stranger */
    seen[i]++;
    return 0;
}

static void test_list_many_frames(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char pad[201];
    unsigned seen[601] = { 0 };
    uint64_t sent, before, after;

    tu_store_mkdir(f->server.root, "d");
    memset(pad, 'x', 200);
    pad[200] = '\0';
    for (unsigned i = 0; i < 600; i++) {
        char name[300];

        snprintf(name, sizeof(name), "d/%s-%u", pad, i);
        tu_store_write_dated(f->server.root, name, "abcdefg", i % 7,
                             1000000 + (int64_t)i * 3);
    }
    /* 600 entries of over 200 bytes: several frames of 63 KiB... */
    ft_client_wire_bytes(c, &sent, &before);
    assert_int_equal(ft_client_list_folder(c, "", true, count_long, seen),
                     FT_OK);
    /* ...had each name gone whole (ENTRY: over 120 KiB); prefix-coded,
     * the shared 200 bytes go once. */
    ft_client_wire_bytes(c, &sent, &after);
    assert_true(after - before < 600 * 40);
    for (unsigned i = 0; i < 600; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(seen[600], 0);
    ft_client_close(c);
}

/* A server from before LIST_PACKED: its WELCOME lacks the bit, so the
 * client asks without PACKED and reads ENTRY frames, as it always did.
 * The server answers one LIST with a folder and a file in it. */
struct unpacked_server {
    int listen_fd;
    uint32_t list_flags;
};

static enum ft_err send_plain_entry(struct ft_conn *conn, const char *name,
                                    uint32_t mode)
{
    struct ft_msg m = { .type = FT_MSG_ENTRY };

    m.u.entry.size = strlen(name);
    m.u.entry.mtime = 7;
    m.u.entry.mode = mode;
    m.u.entry.name.ptr = (const uint8_t *)name;
    m.u.entry.name.len = strlen(name);
    return ft_conn_send(conn, &m);
}

static void *unpacked_server_main(void *arg)
{
    struct unpacked_server *u = arg;
    struct ft_msg m, done = { .type = FT_MSG_DONE, .u.done.count = 2 };
    struct ft_conn conn;

    if (!tu_raw_welcome(&conn, u->listen_fd,
                        FT_FEATURE_PIPELINE | FT_FEATURE_DELTA, 10000))
        return NULL;
    if (ft_conn_recv(&conn, &m, 10000) == FT_OK && m.type == FT_MSG_LIST) {
        u->list_flags = m.u.list.flags;
        if (send_plain_entry(&conn, "dir", FT_MODE_DIR | 0755) == FT_OK &&
            send_plain_entry(&conn, "dir/file", FT_MODE_FILE | 0644) == FT_OK)
            (void)ft_conn_send(&conn, &done);
    }
    ft_conn_free(&conn);
    return NULL;
}

static void test_list_old_server(void **state)
{
    struct ft_client_config cfg = { .timeout_ms = 10000, .plaintext = true };
    struct unpacked_server u = { .listen_fd = -1, .list_flags = UINT32_MAX };
    struct ft_client *c;
    char names[256] = "";
    uint16_t port;
    pthread_t tid;

    (void)state;
    u.listen_fd = tu_listen_local(&port);
    assert_int_equal(pthread_create(&tid, NULL, unpacked_server_main, &u), 0);
    c = tu_connect(port, &cfg);
    assert_int_equal(ft_client_list_folder(c, "", true, name_list, names),
                     FT_OK);
    assert_string_equal(names, "dir/;dir/file;");
    ft_client_close(c);
    pthread_join(tid, NULL);
    assert_int_equal(u.list_flags, FT_TREE_RECURSIVE);
    close(u.listen_fd);
}

static void test_list(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *back = tu_path(f->work, "two");
    static const char *const tops[] = { NULL, "/", ".", "./" };
    struct ft_stat st;
    char names[256];

    tu_store_write(f->server.root, "one", "1", 1);
    tu_store_write(f->server.root, "two", "22", 2);
    /* An upload in flight must not show: plant a temporary by hand (on S3
     * an object under the hidden .ft/, where the backend keeps its own). */
    tu_store_write(f->server.root, ".ft/tmp/up-inflight", "partial", 7);
    for (size_t i = 0; i < sizeof(tops) / sizeof(*tops); i++) {
        int seen[3] = { 0, 0, 0 };

        assert_int_equal(ft_client_list_folder(c, tops[i], false, count_entry,
                                               seen), FT_OK);
        assert_int_equal(seen[0], 1);
        assert_int_equal(seen[1], 1);
        assert_int_equal(seen[2], 0);
    }
    assert_int_equal(ft_client_stat(c, "two", &st), FT_OK);
    for (int recursive = 0; recursive <= 1; recursive++) {
        names[0] = '\0';
        assert_int_equal(ft_client_list_folder(c, "two", recursive, name_list,
                                               names), FT_OK);
        assert_string_equal(names, "two;");
    }
    ft_client_close(c);
    ls_shows(f, "two", "  two\n");
    {   /* get -r of a file fetches the file, as put -r sends one. */
        const char *args[] = { "get", "-q", "-r", "-p", f->server.portstr, "two",
                               back, NULL };
        char err[1024];

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_store_same(f->server.root, "two", back));
    }
    ls_shows(f, "/", "  one\n");
    ls_shows(f, ".", "  two\n");
    free(back);
}

/* A ".ft" below the top is an ordinary name: put -r, ls, get -r, mv and
 * rm all see it. Only the store's own, at the top, stays out of reach. */
static void test_dot_ft_below_the_top(void **state)
{
    char names[256] = "";
    int fd;
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src");
    char *d = tu_path(f->work, "src/d");
    char *deep = tu_path(f->work, "src/d/.ft");
    char *file = tu_path(f->work, "src/.ft");
    char *deep_file = tu_path(f->work, "src/d/.ft/x");
    char *back = tu_path(f->work, "back");
    char *back_file = tu_path(f->work, "back/.ft");
    char *back_deep = tu_path(f->work, "back/d/.ft/x");
    const struct ft_tree_item put = { src, "t" }, get = { back, "t" };
    struct ft_tree_copy copy = { &put, 1, true, NULL, NULL };
    struct ft_client *c = tu_connect(f->server.port, NULL);

    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(d, 0755), 0);
    assert_int_equal(mkdir(deep, 0755), 0);
    tu_write_bytes(file, "top", 3);
    tu_write_bytes(deep_file, "deep", 4);
    assert_int_equal(ft_client_put_tree(c, &copy), FT_OK);
    assert_int_equal(ft_client_list_folder(c, "t/d", true, name_list, names),
                     FT_OK);
    assert_string_equal(names, ".ft/;.ft/x;");
    names[0] = '\0';
    assert_int_equal(ft_client_list_folder(c, "t", false, name_list, names),
                     FT_OK);
    assert_non_null(strstr(names, ".ft;"));
    copy.items = &get;
    assert_int_equal(ft_client_get_tree(c, &copy), FT_OK);
    assert_true(tu_files_equal(file, back_file));
    assert_true(tu_files_equal(deep_file, back_deep));
    assert_int_equal(ft_client_move(c, "t/d/.ft", "u/.ft"), FT_OK);
    assert_int_equal(ft_client_remove(c, "t/.ft"), FT_OK);
    assert_int_equal(ft_client_remove_tree(c, "u/.ft", true), FT_OK);
    /* The top's own: refused, the connection still usable. */
    fd = open(file, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 3, ".ft", NULL, NULL), FT_ERR_BAD_NAME);
    close(fd);
    fd = open(file, O_RDONLY);
    assert_int_equal(ft_client_put(c, fd, 3, ".ft/x", NULL, NULL), FT_ERR_BAD_NAME);
    close(fd);
    assert_int_equal(ft_client_list_folder(c, ".ft", false, name_list, names),
                     FT_ERR_BAD_NAME);
    ft_client_close(c);
    free(src);
    free(d);
    free(deep);
    free(file);
    free(deep_file);
    free(back);
    free(back_file);
    free(back_deep);
}

/* Whether the last refusal said want. */
static void assert_refused(struct ft_client *c, enum ft_err got, const char *want)
{
    assert_int_equal(got, FT_ERR_DENIED);
    if (strstr(ft_client_error(c), want) == NULL)
        fail_msg("'%s' does not say \"%s\"", ft_client_error(c), want);
}

/* A refusal for something in the way says which one is where. */
static void test_denied_says_what_is_where(void **state)
{
    struct ft_stat st;
    int fd;
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src");
    char *back = tu_path(f->work, "back");
    struct ft_client *c = tu_connect(f->server.port, NULL);

    tu_store_write(f->server.root, "f", "file", 4);
    tu_write_bytes(src, "new", 3);
    tu_store_mkdir(f->server.root, "d");
    fd = open(src, O_RDONLY);
    assert_refused(c, ft_client_put(c, fd, 3, "f/x/y", NULL, NULL),
                   "'f/x/y': 'f' is a file, where a folder should be");
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_refused(c, ft_client_put(c, fd, 3, "d", NULL, NULL), "'d' is a folder");
    close(fd);
    assert_refused(c, ft_client_move(c, "f", "d"), "'d' is a folder");
    assert_refused(c, ft_client_move(c, "d", "d/e"), "'d' cannot move into itself");
    assert_refused(c, ft_client_remove(c, "f/x"), "'f/x': 'f' is a file");
    assert_refused(c, ft_client_stat(c, "f/x", &st), "'f/x': 'f' is a file");
    assert_refused(c, ft_client_get_file(c, "f/x", back, NULL, NULL),
                   "'f/x': 'f' is a file");
    assert_refused(c, ft_client_move(c, "f/x", "g"), "'f/x': 'f' is a file");
    ft_client_close(c);
    free(src);
    free(back);
}

/* The same for a symbolic link in the way: named as one, never followed. */
static void test_denied_names_a_link(void **state)
{
    TU_DIRECTORY_ONLY("a symbolic link in the folder: S3 has none");
    struct ft_stat st;
    int fd;
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src");
    char *file = tu_path(f->server.root, "f");
    char *link = tu_path(f->server.root, "l");
    struct ft_client *c = tu_connect(f->server.port, NULL);

    tu_write_bytes(file, "file", 4);
    tu_write_bytes(src, "new", 3);
    assert_int_equal(symlink("f", link), 0);
    fd = open(src, O_RDONLY);
    assert_refused(c, ft_client_put(c, fd, 3, "l/x", NULL, NULL),
                   "'l/x': 'l' is a symbolic link, where a folder should be");
    close(fd);
    assert_refused(c, ft_client_stat(c, "l", &st), "'l' is a symbolic link");
    assert_refused(c, ft_client_move(c, "l", "m"), "'l' is a symbolic link");
    ft_client_close(c);
    free(file);
    free(link);
    free(src);
}

/* The raw side of a conversation: a connection past the handshake. */
static void raw_handshake(struct ft_conn *conn, uint16_t port)
{
    struct ft_msg hello = { .type = FT_MSG_HELLO };
    struct ft_msg m;

    assert_int_equal(ft_conn_init(conn, tu_connect_raw(port), 5000), FT_OK);
    hello.u.hello.version = FT_PROTO_VERSION;
    hello.u.hello.features = FT_FEATURE_ZLIB | FT_FEATURE_PLAINTEXT;
    assert_int_equal(ft_conn_send(conn, &hello), FT_OK);
    assert_int_equal(ft_conn_recv(conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_WELCOME);
}

/* A data byte changed in flight: the digest in END no longer matches. The
 * server must refuse, keep the earlier version and leave no temporary. */
static void test_corrupted_upload_not_published(void **state)
{
    struct tu_fixture *f = *state;
    static const char good[] = "the original content";
    char data[] = "the uploaded content";
    char *expect = tu_path(f->work, "expect");
    struct ft_msg put = { .type = FT_MSG_PUT };
    struct ft_msg end = { .type = FT_MSG_END };
    struct ft_msg m;
    struct ft_hash h;
    struct ft_conn conn;

    tu_store_write(f->server.root, "victim", good, sizeof(good) - 1);
    raw_handshake(&conn, f->server.port);
    put.u.put.flags = FT_XFER_VERIFY;
    put.u.put.size = sizeof(data) - 1;
    put.u.put.name.ptr = (const uint8_t *)"victim";
    put.u.put.name.len = 6;
    assert_int_equal(ft_conn_send(&conn, &put), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_READY);

    ft_hash_init(&h);
    ft_hash_update(&h, data, sizeof(data) - 1);
    ft_hash_final(&h, end.u.end.digest);
    data[4] ^= 0x01; /* the flipped bit */
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_DATA, data, sizeof(data) - 1),
                     FT_OK);
    end.u.end.total = sizeof(data) - 1;
    end.u.end.has_digest = true;
    assert_int_equal(ft_conn_send(&conn, &end), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_INTEGRITY);
    ft_conn_free(&conn);

    tu_write_bytes(expect, good, sizeof(good) - 1);
    assert_true(tu_store_same(f->server.root, "victim", expect));
    assert_int_equal(tu_store_unfinished(f->server.root), 0);
    free(expect);
}

/* Garbage instead of a handshake: the server answers, drops that peer and
 * goes on serving the next client. */
static void test_garbage_then_next_client(void **state)
{
    struct tu_fixture *f = *state;
    static const char junk[] = "Hello, Server! This is Client.\n";
    static const uint8_t huge[5] = { 0xff, 0xff, 0xff, 0xff, FT_MSG_HELLO };
    char reply[512];
    size_t n = 0;
    ssize_t r;
    int fd = tu_connect_raw(f->server.port);

    assert_int_equal(write(fd, junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
    /* The server says why, then closes: read to the end. */
    fcntl(fd, F_SETFL, 0);
    while ((r = read(fd, reply + n, sizeof(reply) - 1 - n)) > 0)
        n += (size_t)r;
    reply[n] = '\0';
    assert_non_null(strstr(reply, "ft protocol"));
    close(fd);

    /* A length far over the maximum, then nothing: refused at once. */
    fd = tu_connect_raw(f->server.port);
    assert_int_equal(write(fd, huge, sizeof(huge)), (ssize_t)sizeof(huge));
    fcntl(fd, F_SETFL, 0);
    n = 0;
    while ((r = read(fd, reply + n, sizeof(reply) - 1 - n)) > 0)
        n += (size_t)r;
    assert_true(n > FT_FRAME_HEADER_BYTES);
    assert_int_equal(reply[4], FT_MSG_ERROR);
    close(fd);

    random_round_trip(state, 4096, false);
}

/* After the handshake: an unknown type and a malformed payload are
 * protocol errors; the server says so and closes. */
static void test_bad_frames_after_handshake(void **state)
{
    struct tu_fixture *f = *state;
    static const uint8_t short_put[3] = { 0, 0, 0 };
    struct ft_conn conn;
    struct ft_msg m;

    raw_handshake(&conn, f->server.port);
    assert_int_equal(ft_frame_write(conn.fd, 200, "x", 1, 5000), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_ERR_CLOSED);
    ft_conn_free(&conn);

    raw_handshake(&conn, f->server.port);
    assert_int_equal(ft_frame_write(conn.fd, FT_MSG_PUT, short_put,
                                    sizeof(short_put), 5000), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);

    random_round_trip(state, 100, false);
}

/* Sends a PUT of content as name that announces size, its DATA and an
 * END that says total and, with digest, the content's BLAKE2b-256; reads
 * READY first unless the PUT is pipelined. */
static void raw_put(struct ft_conn *conn, uint32_t flags, const char *name,
                    const char *content, uint64_t size, uint64_t total,
                    bool digest)
{
    struct ft_msg put = { .type = FT_MSG_PUT };
    struct ft_msg end = { .type = FT_MSG_END };
    struct ft_msg m;
    struct ft_hash h;

    put.u.put.flags = flags;
    put.u.put.size = size;
    put.u.put.name.ptr = (const uint8_t *)name;
    put.u.put.name.len = strlen(name);
    assert_int_equal(ft_conn_send(conn, &put), FT_OK);
    if (!(flags & FT_XFER_PIPELINE)) {
        assert_int_equal(ft_conn_recv(conn, &m, 5000), FT_OK);
        assert_int_equal(m.type, FT_MSG_READY);
    }
    assert_int_equal(ft_conn_send_raw(conn, FT_MSG_DATA, content, strlen(content)),
                     FT_OK);
    ft_hash_init(&h);
    ft_hash_update(&h, content, strlen(content));
    ft_hash_final(&h, end.u.end.digest);
    end.u.end.total = total;
    end.u.end.has_digest = digest;
    assert_int_equal(ft_conn_send(conn, &end), FT_OK);
}

/* An END that breaks the rules (a wrong total, no digest under VERIFY),
 * pipelined or not: ERROR PROTOCOL, nothing stored, and the server closes
 * (PROTOCOL.md 11.3). */
static void test_bad_end_closes(void **state)
{
    struct tu_fixture *f = *state;
    static const struct {
        uint32_t flags;
        uint64_t total;
        bool digest;
    } cases[] = {
        { FT_XFER_VERIFY, 4, true },   /* one byte short */
        { FT_XFER_VERIFY, 5, false },  /* no digest */
        { FT_XFER_VERIFY | FT_XFER_PIPELINE, 6, true },
        { FT_XFER_VERIFY | FT_XFER_PIPELINE, 5, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct ft_conn conn;
        struct ft_msg m;

        assert_true(tu_raw_handshake(&conn, f->server.port, FT_FEATURE_PIPELINE,
                                     5000, NULL));
        raw_put(&conn, cases[i].flags, "bad", "hello", 5, cases[i].total,
                cases[i].digest);
        assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
        assert_int_equal(m.type, FT_MSG_ERROR);
        assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
        assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_ERR_CLOSED);
        ft_conn_free(&conn);
        assert_false(tu_store_exists(f->server.root, "bad"));
    }
}

/* Reads the next frame: of type want, and for DONE and ERROR with count
 * or code n. */
static void expect(struct ft_conn *conn, enum ft_msg_type want, uint64_t n)
{
    struct ft_msg m;

    assert_int_equal(ft_conn_recv(conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, want);
    if (want == FT_MSG_DONE)
        assert_true(m.u.done.count == n);
    if (want == FT_MSG_ERROR)
        assert_int_equal(m.u.error.code, n);
}

/* LIST with PACKED is answered with ENTRIES only when LIST_PACKED was
 * negotiated; without it the server refuses the flag (PROTOCOL) and the
 * session goes on: a LIST without it still gets ENTRY frames. */
static void raw_list(struct ft_conn *conn, uint32_t flags)
{
    struct ft_msg m = { .type = FT_MSG_LIST };

    m.u.list.flags = flags;
    assert_int_equal(ft_conn_send(conn, &m), FT_OK);
}

static void test_list_packed_negotiated(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_conn conn;

    tu_store_write(f->server.root, "one", "1", 1);
    assert_true(tu_raw_handshake(&conn, f->server.port, FT_FEATURE_PIPELINE,
                                 5000, NULL));
    raw_list(&conn, FT_TREE_PACKED);
    expect(&conn, FT_MSG_ERROR, FT_ERR_PROTOCOL);
    raw_list(&conn, 0);
    expect(&conn, FT_MSG_ENTRY, 0);
    expect(&conn, FT_MSG_DONE, 1);
    ft_conn_free(&conn);
    assert_true(tu_raw_handshake(&conn, f->server.port,
                                 FT_FEATURE_LIST_PACKED, 5000, NULL));
    raw_list(&conn, FT_TREE_PACKED);
    expect(&conn, FT_MSG_ENTRIES, 0);
    expect(&conn, FT_MSG_DONE, 1);
    ft_conn_free(&conn);
}

/* A pipelined PUT of unknown size (PROTOCOL.md 9.1.1): its data follows
 * at once and it is answered in its place among the pipelined ones; one
 * that grows past the server's limit is refused there, its rest read and
 * dropped, and the connection goes on. */
static void test_pipelined_put_of_unknown_size(void **state)
{
    struct ft_server_config cfg = { .max_file_size = 8 };
    struct ft_msg list = { .type = FT_MSG_LIST };
    struct tu_server small;
    struct ft_conn conn;
    char *stored;
    size_t len;

    (void)state;
    memset(&small, 0, sizeof(small));
    tu_server_start(&small, &cfg);
    tu_store_write(small.root, "want", "hello", 5);
    assert_true(tu_raw_handshake(&conn, small.port, FT_FEATURE_PIPELINE, 5000, NULL));
    raw_put(&conn, FT_XFER_VERIFY | FT_XFER_PIPELINE, "u", "hello", FT_SIZE_UNKNOWN,
            5, true);
    raw_put(&conn, FT_XFER_VERIFY | FT_XFER_PIPELINE, "v", "far too long",
            FT_SIZE_UNKNOWN, 12, true);
    assert_int_equal(ft_conn_send(&conn, &list), FT_OK);
    expect(&conn, FT_MSG_DONE, 5);
    expect(&conn, FT_MSG_ERROR, FT_ERR_TOO_LARGE);
    expect(&conn, FT_MSG_ENTRY, 0);
    expect(&conn, FT_MSG_ENTRY, 0);
    expect(&conn, FT_MSG_DONE, 2);
    stored = tu_store_read(small.root, "u", &len);
    assert_non_null(stored);
    assert_memory_equal(stored, "hello", 5);
    assert_int_equal(len, 5);
    assert_false(tu_store_exists(small.root, "v"));
    ft_conn_free(&conn);
    tu_server_stop(&small);
    free(stored);
}

/* A GET of a folder is refused; with RESUME the server closes after it
 * (PROTOCOL.md 9.2), without it the connection goes on. */
static void test_resumed_get_of_folder_closes(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_msg get = { .type = FT_MSG_GET };
    struct ft_msg sums = { .type = FT_MSG_SUMS };
    struct ft_msg list = { .type = FT_MSG_LIST };
    struct ft_conn conn;
    struct ft_msg m;

    tu_store_mkdir(f->server.root, "dir");
    get.u.get.name.ptr = (const uint8_t *)"dir";
    get.u.get.name.len = 3;

    assert_true(tu_raw_handshake(&conn, f->server.port, 0, 5000, NULL));
    get.u.get.flags = FT_XFER_VERIFY;
    assert_int_equal(ft_conn_send(&conn, &get), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_DENIED);
    assert_int_equal(ft_conn_send(&conn, &list), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ENTRY);
    ft_conn_free(&conn);

    assert_true(tu_raw_handshake(&conn, f->server.port, 0, 5000, NULL));
    get.u.get.flags = FT_XFER_VERIFY | FT_XFER_RESUME;
    sums.u.sums.chunk = FT_RESUME_CHUNK_BYTES;
    assert_int_equal(ft_conn_send(&conn, &get), FT_OK);
    assert_int_equal(ft_conn_send(&conn, &sums), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_DENIED);
    assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_ERR_CLOSED);
    ft_conn_free(&conn);
}

/* Hostile names never reach the file system. */
static void test_hostile_names_refused(void **state)
{
    struct tu_fixture *f = *state;
    static const struct { const char *name; size_t len; } names[] = {
        { "../x", 4 }, { "/etc/passwd", 11 }, { "a/../../b", 9 }, { ".", 1 },
        { "..", 2 }, { "", 0 }, { "a\0b", 3 }, { "bell\a", 5 }, { ".ft", 3 },
        { NULL, 4096 }, /* a 4 KiB name, filled below */
    };
    char long_name[4096];
    struct ft_conn conn;
    struct ft_msg m;

    memset(long_name, 'a', sizeof(long_name));
    raw_handshake(&conn, f->server.port);
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        struct ft_msg put = { .type = FT_MSG_PUT };

        put.u.put.flags = FT_XFER_VERIFY;
        put.u.put.size = 1;
        put.u.put.name.ptr =
            (const uint8_t *)(names[i].name ? names[i].name : long_name);
        put.u.put.name.len = names[i].len;
        assert_int_equal(ft_conn_send(&conn, &put), FT_OK);
        assert_int_equal(ft_conn_recv(&conn, &m, 5000), FT_OK);
        assert_int_equal(m.type, FT_MSG_ERROR);
        assert_int_equal(m.u.error.code, FT_ERR_BAD_NAME);
    }
    ft_conn_free(&conn);
    /* Only the metadata folder exists in the root: on a folder the
     * server's (its key, its lock), on S3 nothing (its key is the
     * --key-file, its store keeps nothing of its own until an upload). */
    assert_int_equal(tu_store_count(f->server.root, ""), tu_store_s3() ? 0 : 1);
}


/* Sends src pipelined as name. */
static void send_piped(struct ft_client *c, const char *src, const char *name)
{
    struct stat sb;
    int fd = open(src, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(ft_client_put_send(c, fd, sb.st_size, name, NULL), FT_OK);
    close(fd);
}

/* Many small files pipelined over one connection, more than the client
 * may have due at once and more than the server commits together: every
 * answer comes in order, and every file lands whole. */
static void test_pipelined_puts(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    const int files = FT_PIPELINE_MAX + 70;
    char name[64];
    int answered = 0;

    assert_true(ft_client_can_pipeline(c));
    for (int i = 0; i < files; i++) {
        char *src;

        snprintf(name, sizeof(name), "src%d", i);
        src = tu_path(f->work, name);
        tu_write_random(src, (uint64_t)(i * 37 % 5000), (uint32_t)i);
        if (ft_client_puts_due(c) == FT_PIPELINE_MAX) {
            struct ft_transfer t;

            assert_int_equal(ft_client_put_wait(c, &t), FT_OK);
            assert_true(t.verified);
            assert_int_equal(t.bytes, (uint64_t)(answered * 37 % 5000));
            answered++;
        }
        snprintf(name, sizeof(name), "many/f%d", i);
        send_piped(c, src, name);
        free(src);
    }
    /* No other request while answers are due. */
    assert_int_equal(ft_client_remove(c, "many/f0"), FT_ERR_USAGE);
    while (ft_client_puts_due(c) > 0) {
        struct ft_transfer t;

        assert_int_equal(ft_client_put_wait(c, &t), FT_OK);
        assert_int_equal(t.bytes, (uint64_t)(answered * 37 % 5000));
        answered++;
    }
    assert_int_equal(answered, files);
    for (int i = 0; i < files; i++) {
        char *src;

        snprintf(name, sizeof(name), "src%d", i);
        src = tu_path(f->work, name);
        snprintf(name, sizeof(name), "many/f%d", i);
        assert_true(tu_store_same(f->server.root, name, src));
        free(src);
    }
    ft_client_close(c);
}

/* Refusals among pipelined puts: a bad name (refused up front, its data
 * skipped), a folder standing in the way and a file where a folder should
 * be (refused at commit). Each gets its own answer, in its place; the
 * others land and the connection stays usable. */
static void test_pipelined_refusals(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "small");
    struct ft_stat st;

    tu_write_random(src, 3000, 7);
    tu_store_mkdir(f->server.root, "taken");
    send_piped(c, src, "ok1");
    send_piped(c, src, "../escape");
    send_piped(c, src, "taken");
    send_piped(c, src, "ok1/inside");
    send_piped(c, src, "ok2");
    assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_ERR_BAD_NAME);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_ERR_DENIED);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_ERR_DENIED);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    assert_true(tu_store_same(f->server.root, "ok1", src));
    assert_true(tu_store_same(f->server.root, "ok2", src));
    assert_int_equal(ft_client_stat(c, "ok2", &st), FT_OK);
    assert_int_equal(st.size, 3000);
    ft_client_close(c);
    free(src);
}

/* A batch large enough to be made durable in one go (syncfs) that
 * replaces existing files, with a folder in the way among them: the files
 * are replaced, the folder is refused in its place, and nothing is left
 * in the store's temporaries or kept for a resume. */
static void test_pipelined_batch_overwrites(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "small");
    char *old = tu_path(f->work, "old");
    char name[32];

    tu_write_random(src, 5000, 11);
    tu_store_mkdir(f->server.root, "taken");
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "old%d", i);
        tu_write_random(old, 100, (uint32_t)(100 + i));
        tu_store_put_file(f->server.root, name, old);
        send_piped(c, src, name);
    }
    send_piped(c, src, "taken");
    send_piped(c, src, "new");
    for (int i = 0; i < 10; i++)
        assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_ERR_DENIED);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    for (int i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), i < 10 ? "old%d" : "new", i);
        assert_true(tu_store_same(f->server.root, name, src));
    }
    /* The replaced versions go after the answers: wait for that. */
    assert_true(tu_store_wait_clean(f->server.root, 10000));
    assert_int_equal(tu_store_kept(f->server.root), 0);
    ft_client_close(c);
    free(src);
    free(old);
}

/* A pipelined put that fails on the client's side (the file is not the
 * size announced) ends the connection, but the puts before it still get
 * their answers, and what the server received whole is stored. */
static void test_pipelined_send_fails(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "small");
    int fd;

    tu_write_random(src, 2000, 3);
    send_piped(c, src, "a");
    send_piped(c, src, "b");
    fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(ft_client_put_send(c, fd, 5000, "c", NULL), FT_ERR_CHANGED);
    close(fd);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    assert_int_equal(ft_client_put_wait(c, NULL), FT_OK);
    assert_true(tu_store_same(f->server.root, "a", src));
    assert_true(tu_store_same(f->server.root, "b", src));
    ft_client_close(c);
    free(src);
}

/* A client that leaves without reading its answers: what the server
 * received whole is committed all the same. */
static void test_pipelined_client_gone(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *src = tu_path(f->work, "small");

    tu_write_random(src, 1000, 9);
    send_piped(c, src, "left/a");
    send_piped(c, src, "left/b");
    send_piped(c, src, "left/c");
    ft_client_close(c);
    assert_true(tu_store_wait_count(f->server.root, "left", 3, 10000));
    /* Pipelined uploads are never kept for a resume. */
    assert_int_equal(tu_store_kept(f->server.root), 0);
    free(src);
}


/* Reads the answer to pipelined get number i of test_pipelined_gets: the
 * fifth asked for a missing file, the seventh's goes to a folder that does
 * not exist. */
static void expect_get(struct ft_client *c, const struct tu_fixture *f, int i)
{
    enum ft_err want = i == 5 ? FT_ERR_NOT_FOUND : i == 7 ? FT_ERR_IO : FT_OK;
    char name[64], *dst;

    snprintf(name, sizeof(name), "g%d", i);
    dst = i == 7 ? tu_path(f->work, "no/such/folder/g7") : tu_path(f->work, name);
    assert_int_equal(ft_client_get_file_wait(c, name, dst, NULL, NULL), want);
    free(dst);
}

/* Pipelined gets, with a missing file and one that has nowhere to go
 * among them: each gets its own answer in its place, the others arrive
 * whole, and the connection stays usable. */
static void test_pipelined_gets(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    const int files = FT_PIPELINE_MAX + 20;
    char name[64], *src = tu_path(f->work, "seed"), *dst;
    int waited = 0;

    for (int i = 0; i < files; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        tu_write_random(src, (uint64_t)(i * 53 % 7000), (uint32_t)i + 100);
        tu_store_put_file(f->server.root, name, src);
    }
    for (int i = 0; i < files; i++) {
        if (ft_client_gets_due(c) == FT_PIPELINE_MAX)
            expect_get(c, f, waited++);
        snprintf(name, sizeof(name), "g%d", i);
        assert_int_equal(ft_client_get_send(c, i == 5 ? "missing" : name, NULL), FT_OK);
    }
    /* No other request while answers are due. */
    assert_int_equal(ft_client_remove(c, "g0"), FT_ERR_USAGE);
    while (waited < files)
        expect_get(c, f, waited++);
    for (int i = 0; i < files; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        dst = tu_path(f->work, name);
        if (i == 5 || i == 7)
            assert_false(tu_exists(dst));
        else
            assert_true(tu_store_same(f->server.root, name, dst));
        free(dst);
    }
    assert_int_equal(ft_client_remove(c, "g0"), FT_OK);
    ft_client_close(c);
    free(src);
}

/* Runs `ft mkdir --port PORT A [B [C]]` (output into out, NULL: dropped);
 * returns its exit status, with what it said in err. */
static int run_mkdir(const char *port, const char *a, const char *b,
                     const char *c, const char *out, char err[1024])
{
    const char *args[] = { "mkdir", "--port", port, a, b, c, NULL };

    return tu_run_ft(args, NULL, out, err, 1024);
}

/* The file at path holds want, no more. */
static void assert_output(const char *path, const char *want)
{
    char shown[256];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    n = read(fd, shown, sizeof(shown) - 1);
    close(fd);
    assert_true(n >= 0);
    shown[n] = '\0';
    assert_string_equal(shown, want);
}

/* Whether the refusal err said want. */
static void assert_said(const char *err, const char *want)
{
    if (strstr(err, want) == NULL)
        fail_msg("'%s' does not say \"%s\"", err, want);
}

/* ft mkdir, -p and --json, and what it refuses: an existing folder without
 * -p, missing folders above without -p, a file at the name or above it, a
 * bad name. */
static void test_mkdir_command(void **state)
{
    struct tu_fixture *f = *state;
    const char *port = f->server.portstr;
    char *out = tu_path(f->work, "mkdir.out");
    char err[1024];

    tu_store_write(f->server.root, "f", "file", 4);
    assert_int_equal(run_mkdir(port, "a", NULL, NULL, NULL, err), 0);
    assert_true(tu_store_is_folder(f->server.root, "a"));
    assert_int_equal(run_mkdir(port, "a", NULL, NULL, NULL, err), 4);
    assert_said(err, "ft: mkdir a: server refused: 'a' exists already, as a folder");
    assert_int_equal(run_mkdir(port, "-p", "a", NULL, NULL, err), 0);
    assert_int_equal(run_mkdir(port, "x/y/z", NULL, NULL, NULL, err), 4);
    assert_said(err, "no such file 'x/y/z'");
    assert_false(tu_store_is_folder(f->server.root, "x"));
    assert_int_equal(run_mkdir(port, "x/y/z", "--parents", NULL, NULL, err), 0);
    assert_true(tu_store_is_folder(f->server.root, "x/y/z"));
    assert_int_equal(run_mkdir(port, "-p", "f", NULL, NULL, err), 4);
    assert_said(err, "'f' exists already, as a file");
    assert_int_equal(run_mkdir(port, "-p", "f/g", NULL, NULL, err), 4);
    assert_said(err, "'f/g': 'f' is a file, where a folder should be");
    assert_int_equal(run_mkdir(port, "../up", NULL, NULL, NULL, err), 4);
    assert_said(err, "invalid name '../up'");
    /* One object per name made, or there already with -p. */
    assert_int_equal(run_mkdir(port, "--json", "a", "new", out, err), 4);
    assert_output(out, "{\"name\":\"new\",\"type\":\"folder\",\"made\":true}\n");
    assert_int_equal(run_mkdir(port, "--json", "-p", "a", out, err), 0);
    assert_output(out, "{\"name\":\"a\",\"type\":\"folder\",\"made\":false}\n");
    free(out);
}

/* A read-only server makes no folder, not even those above the name. */
static void test_mkdir_read_only(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_server_config cfg = { .read_only = true };
    struct tu_server ro;
    char err[1024];

    memset(&ro, 0, sizeof(ro));
    tu_server_start(&ro, &cfg);
    assert_int_equal(run_mkdir(ro.portstr, "-p", "x/y", NULL, NULL, err), 4);
    assert_said(err, "read-only");
    /* Not even a .ft (on S3 nothing under its prefix). */
    assert_int_equal(tu_store_count(ro.root, ""), 0);
    tu_server_stop(&ro);
    (void)f;
}

/* A server from before MKDIR leaves its bit out of WELCOME: the client says
 * the server is too old and sends nothing, which such a server would take
 * for a broken peer. */
static void test_mkdir_to_an_old_server(void **state)
{
    struct ft_client_config cfg = { .plaintext = true };
    struct ft_msg m = { .type = FT_MSG_WELCOME };
    struct ft_client *c = NULL;
    struct ft_conn old;
    char why[256];
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(ft_conn_init(&old, sv[1], 5000), FT_OK);
    m.u.welcome.version = FT_PROTO_VERSION;
    m.u.welcome.features = FT_FEATURE_ZLIB | FT_FEATURE_PIPELINE | FT_FEATURE_PLAINTEXT;
    m.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    /* The WELCOME waits in the socket for the client's HELLO. */
    assert_int_equal(ft_conn_send(&old, &m), FT_OK);
    assert_int_equal(ft_client_attach(&c, sv[0], &cfg, why, sizeof(why)), FT_OK);
    assert_int_equal(ft_conn_recv(&old, &m, 5000), FT_OK);
    assert_int_equal(m.type, FT_MSG_HELLO);
    assert_true(m.u.hello.features & FT_FEATURE_MKDIR);
    assert_int_equal(ft_client_mkdir(c, "d", true, NULL), FT_ERR_VERSION);
    assert_said(ft_client_error(c), "the server is too old to make folders");
    assert_false(ft_conn_input_waits(&old, 0));
    ft_client_close(c);
    ft_conn_free(&old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_empty_file),
        TU_TEST_SERVER(test_one_byte),
        TU_TEST_SERVER(test_one_mib),
        TU_TEST_SERVER(test_64_mib),
        TU_TEST_SERVER(test_random_compressed),
        TU_TEST_SERVER(test_text_compressed),
        TU_TEST_SERVER(test_ls_rm_and_overwrite),
        TU_TEST_SERVER(test_list),
        TU_TEST_SERVER(test_list_many_frames),
        TU_TEST_FIXTURE(test_list_old_server),
        TU_TEST_SERVER(test_list_packed_negotiated),
        TU_TEST_SERVER(test_dot_ft_below_the_top),
        TU_TEST_SERVER(test_denied_says_what_is_where),
        TU_TEST_SERVER(test_denied_names_a_link),
        TU_TEST_SERVER(test_progress_reports),
        TU_TEST_SERVER(test_get_into_a_fifo),
        TU_TEST_SERVER(test_recorded_digest),
        TU_TEST_SERVER(test_small_file_unrecorded),
        TU_TEST_SERVER(test_metadata_stat_and_move),
        TU_TEST_SERVER(test_corrupted_upload_not_published),
        TU_TEST_SERVER(test_garbage_then_next_client),
        TU_TEST_SERVER(test_bad_frames_after_handshake),
        TU_TEST_SERVER(test_hostile_names_refused),
        TU_TEST_SERVER(test_bad_end_closes),
        TU_TEST_SERVER(test_resumed_get_of_folder_closes),
        TU_TEST_SERVER(test_pipelined_puts),
        TU_TEST_SERVER(test_pipelined_refusals),
        TU_TEST_SERVER(test_pipelined_batch_overwrites),
        TU_TEST_SERVER(test_pipelined_client_gone),
        TU_TEST_SERVER(test_pipelined_send_fails),
        TU_TEST_SERVER(test_pipelined_gets),
        cmocka_unit_test(test_pipelined_put_of_unknown_size),
        TU_TEST_SERVER(test_mkdir_command),
        TU_TEST_SERVER(test_mkdir_read_only),
        cmocka_unit_test(test_mkdir_to_an_old_server),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
