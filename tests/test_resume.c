/* test_resume.c - interrupted transfers continued: a get or put killed half
 * way is resumed with --continue, from the first chunk that differs, and
 * the result is checked byte for byte; a damaged part resumes from where
 * the damage is; a changed source starts over; an encrypted upload cut
 * off keeps every frame that arrived. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "proto.h"
#include "resume.h"
#include "testutil.h"

#define SIZE (24u * 1024u * 1024u)
#define WAIT_MS 30000

/* Starts the ft command slowed to 4 MiB/s, waits until path holds more
 * than min bytes, then kills it: a transfer cut half way. */
static void run_and_kill(struct tu_fixture *f, const char *const args[],
                         const char *path, int64_t min)
{
    const char *env[] = { f->config_env, NULL };
    int64_t deadline = tu_now_ms() + WAIT_MS;
    pid_t pid = tu_spawn_ft_env(args, env, -1, -1, -1);
    int status;

    while (tu_file_size(path) <= min && tu_now_ms() < deadline &&
           !tu_wait_pid(pid, 0, &status))
        tu_sleep_ms(10); /* polling the condition, bounded */
    assert_true(tu_file_size(path) > min);
    tu_kill_pid(&pid);
}

/* The same, killed once the folder dir holds more than min bytes: the
 * server's for an upload, or for a download whose part's name is not
 * known beforehand. */
static void run_and_kill_in(struct tu_fixture *f, const char *const args[],
                            const char *dir, int64_t min)
{
    const char *env[] = { f->config_env, NULL };
    pid_t pid = tu_spawn_ft_env(args, env, -1, -1, -1);

    assert_true(tu_wait_dir_bytes(dir, min, WAIT_MS));
    tu_kill_pid(&pid);
}

/* The same for an upload, killed once the server's store holds more than
 * min bytes of it, whatever the store. */
static void run_and_kill_upload(struct tu_fixture *f, const char *const args[],
                                int64_t min)
{
    const char *env[] = { f->config_env, NULL };
    pid_t pid = tu_spawn_ft_env(args, env, -1, -1, -1);

    assert_true(tu_store_wait_upload(f->server.root, min, WAIT_MS));
    tu_kill_pid(&pid);
}

static int run(struct tu_fixture *f, const char *const args[], char *err,
               size_t errlen)
{
    const char *env[] = { f->config_env, NULL };

    return tu_run_ft_env(args, env, NULL, NULL, err, errlen);
}

/* Runs the --continue of args: it resumes after byte 0, the copy of src
 * at copy is whole, and folder (where the part was) holds left entries. */
static void resumes(struct tu_fixture *f, const char *const args[], const char *src,
                    const char *copy, const char *folder, int left)
{
    char err[4096];

    assert_int_equal(run(f, args, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "resumed at "));
    assert_null(strstr(err, "resumed at 0 "));
    assert_true(tu_files_equal(src, copy));
    assert_int_equal(tu_count_entries(folder), left);
}

static void test_get_continue(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "big.src");
    char *local = tu_path(f->work, "big.bin");
    char *part = tu_path(f->work, ".big.bin.ft-part");
    char *note = tu_path(f->work, ".big.bin.ft-part.src");
    const char *slow[] = { "get", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           "big.bin", local, NULL };
    const char *resume[] = { "get", "--continue", "-p", f->server.portstr, "big.bin",
                             local, NULL };
    char err[4096];
    int fd;

    tu_write_random(src, SIZE, 11);
    tu_store_put_file(f->server.root, "big.bin", src);
    run_and_kill(f, slow, part, 10 * 1024 * 1024);
    assert_false(tu_exists(local));
    assert_true(tu_exists(note));

    /* Damage the part's second chunk: it must be sent again, not trusted. */
    fd = open(part, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, FT_RESUME_CHUNK_BYTES + 5), 1);
    close(fd);

    assert_int_equal(run(f, resume, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "resumed at 4194304 bytes"));
    assert_true(tu_files_equal(src, local));
    assert_false(tu_exists(part));
    assert_false(tu_exists(note));
    free(src);
    free(local);
    free(part);
    free(note);
}

static void test_get_continue_changed_source(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "src");
    char *local = tu_path(f->work, "big.bin");
    char *part = tu_path(f->work, ".big.bin.ft-part");
    const char *slow[] = { "get", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           "big.bin", local, NULL };
    const char *resume[] = { "get", "--continue", "-p", f->server.portstr, "big.bin",
                             local, NULL };
    char err[4096];

    tu_write_random(src, SIZE, 12);
    tu_store_put_file(f->server.root, "big.bin", src);
    run_and_kill(f, slow, part, 6 * 1024 * 1024);
    /* The server's file changes meanwhile (same content, a new mtime; on
     * S3 the object written again with it). */
    tu_store_touch(f->server.root, "big.bin", 2000000000);
    assert_int_equal(run(f, resume, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "started from zero"));
    assert_true(tu_store_same(f->server.root, "big.bin", local));
    free(src);
    free(local);
    free(part);
}

/* A name too long for ".NAME.ft-part" (255 bytes) gets a shorter part
 * name, and --continue finds that part again. */
static void test_get_continue_long_name(void **state)
{
    struct tu_fixture *f = *state;
    char name[256];
    char *src, *into, *local;
    const char *slow[] = { "get", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           name, NULL, NULL };
    const char *resume[] = { "get", "--continue", "-p", f->server.portstr, name,
                             NULL, NULL };

    memset(name, 'n', 255);
    name[255] = '\0';
    src = tu_path(f->work, "src");
    into = tu_path(f->work, "into");
    local = tu_path(into, name);
    slow[7] = resume[5] = local;
    assert_int_equal(mkdir(into, 0755), 0);
    tu_write_random(src, SIZE, 16);
    tu_store_put_file(f->server.root, name, src);

    run_and_kill_in(f, slow, into, 6 * 1024 * 1024);
    assert_false(tu_exists(local));
    assert_int_equal(tu_count_entries(into), 2); /* the part and its note */

    resumes(f, resume, src, local, into, 1);
    free(src);
    free(into);
    free(local);
}

static void test_put_continue(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "up.bin");
    const char *slow[] = { "put", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           src, NULL };
    const char *resume[] = { "put", "--continue", "-p", f->server.portstr, src, NULL };
    int64_t deadline;
    char err[4096];

    tu_write_random(src, SIZE, 13);
    /* Kill the uploader once the server holds over 10 MiB of it. */
    run_and_kill_upload(f, slow, 10 * 1024 * 1024);
    assert_false(tu_store_exists(f->server.root, "up.bin"));
    /* The server notices the cut and keeps what arrived. */
    deadline = tu_now_ms() + WAIT_MS;
    while (tu_store_kept(f->server.root) != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    assert_int_equal(tu_store_kept(f->server.root), 1);

    assert_int_equal(run(f, resume, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "resumed at "));
    assert_null(strstr(err, "resumed at 0 "));
    assert_true(tu_store_same(f->server.root, "up.bin", src));
    assert_int_equal(tu_store_kept(f->server.root), 0);
    free(src);
}

static void test_put_continue_changed_source(void **state)
{
    struct tu_fixture *f = *state;
    char *src = tu_path(f->work, "up.bin");
    const char *slow[] = { "put", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           src, NULL };
    const char *resume[] = { "put", "--continue", "-p", f->server.portstr, src, NULL };
    struct timespec later[2] = { { 0, UTIME_OMIT }, { 2000000000, 0 } };
    char err[4096];

    tu_write_random(src, SIZE, 14);
    run_and_kill_upload(f, slow, 6 * 1024 * 1024);
    assert_int_equal(utimensat(AT_FDCWD, src, later, 0), 0);
    assert_int_equal(run(f, resume, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "started from zero"));
    assert_true(tu_store_same(f->server.root, "up.bin", src));
    free(src);
}

/* Sessions the server has ended: its log's "disconnected" lines. */
static atomic_int sessions_ended;

static void count_ended(void *ctx, const char *line)
{
    (void)ctx;
    if (strstr(line, " disconnected after ") != NULL)
        atomic_fetch_add(&sessions_ended, 1);
}

/* Sends the first frames whole DATA frames of path's content as an
 * upload on c's encrypted channel, then cuts the connection: no END, no
 * ERROR. Returns the bytes sent. */
static uint64_t put_frames_then_cut(struct ft_client *c, const char *path,
                                    const char *name, size_t frames)
{
    struct ft_msg req = { .type = FT_MSG_PUT }, ready;
    size_t chunk = c->conn.send_chunk;
    uint8_t *buf = malloc(chunk);
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_non_null(buf);
    assert_true(fd >= 0 && fstat(fd, &sb) == 0);
    req.u.put.flags = FT_XFER_VERIFY | FT_XFER_META;
    req.u.put.size = (uint64_t)sb.st_size;
    req.u.put.name.ptr = (const uint8_t *)name;
    req.u.put.name.len = strlen(name);
    req.u.put.mtime = (int64_t)sb.st_mtime;
    req.u.put.mode = 0644;
    assert_int_equal(ft_conn_send(&c->conn, &req), FT_OK);
    assert_int_equal(ft_conn_recv(&c->conn, &ready, WAIT_MS), FT_OK);
    assert_int_equal(ready.type, FT_MSG_READY);
    for (size_t i = 0; i < frames; i++) {
        assert_int_equal(read(fd, buf, chunk), (ssize_t)chunk);
        assert_int_equal(ft_conn_send_raw(&c->conn, FT_MSG_DATA, buf, chunk), FT_OK);
    }
    assert_int_equal(shutdown(c->conn.fd, SHUT_RDWR), 0);
    close(fd);
    free(buf);
    return (uint64_t)frames * chunk;
}

/* An encrypted upload cut off after whole frames keeps every byte that
 * arrived, each frame authenticated, as a plaintext one does: not only
 * what the server had passed on from its receive buffers (a frame short
 * here, up to 256 KiB in all). The cut falls one frame past the first
 * 4 MiB chunk, so put --continue resumes after that chunk. */
static void test_put_cut_keeps_every_frame(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_server_config cfg = { .log = count_ended };
    char *src = tu_path(f->work, "up.bin");
    char *partials;
    char key[FT_RESUME_KEY_HEX_BYTES];
    char part[64];
    char *kept;
    struct ft_client *c;
    struct stat sb;
    uint64_t sent;
    int64_t deadline;

    atomic_store(&sessions_ended, 0);
    tu_server_start(&f->server, &cfg);
    partials = tu_path(f->server.root, ".ft/partial");
    tu_write_random(src, 2 * FT_RESUME_CHUNK_BYTES, 16);
    assert_int_equal(stat(src, &sb), 0);
    ft_resume_upload_key("up.bin", (uint64_t)sb.st_size, (int64_t)sb.st_mtime, key);
    snprintf(part, sizeof(part), "part-%s", key);
    kept = tu_path(partials, part);

    c = tu_connect(f->server.port, NULL);
    assert_true(c->conn.sealed);
    sent = put_frames_then_cut(c, src, "up.bin",
                               FT_RESUME_CHUNK_BYTES / c->conn.send_chunk + 1);
    ft_client_close(c);
    /* The session ends once it has kept the upload. */
    deadline = tu_now_ms() + WAIT_MS;
    while (atomic_load(&sessions_ended) < 1 && tu_now_ms() < deadline)
        tu_sleep_ms(10); /* polling the condition, bounded */
    assert_int_equal(atomic_load(&sessions_ended), 1);
    /* On a folder, the part file of this upload's key; on S3 the kept
     * object (its multipart upload completed at keep). */
    if (!tu_store_s3())
        assert_int_equal(tu_file_size(kept), (int64_t)sent);
    assert_int_equal(tu_store_kept(f->server.root), 1);
    assert_int_equal(tu_store_kept_bytes(f->server.root), (int64_t)sent);

    {
        const char *resume[] = { "put", "--continue", "-p", f->server.portstr, src,
                                 NULL };
        char err[4096];

        assert_int_equal(run(f, resume, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "resumed at 4194304 bytes"));
        assert_true(tu_store_same(f->server.root, "up.bin", src));
        assert_int_equal(tu_store_kept(f->server.root), 0);
    }
    free(src);
    free(partials);
    free(kept);
}

/* A kept upload older than --partial-ttl (one day by default) is removed
 * by a later upload. */
static void test_partial_expires(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_server_config cfg = { .partial_ttl_s = 1 };
    char *src = tu_path(f->work, "up.bin");
    char *small = tu_path(f->work, "small");
    const char *slow[] = { "put", "-q", "--limit-rate", "4M", "-p", f->server.portstr,
                           src, NULL };
    const char *other[] = { "put", "-q", "-p", f->server.portstr, small, NULL };
    int64_t deadline;
    char err[4096];

    /* Kept for a second: the folder is then read for expiry at most once a
     * second, not at every upload. */
    tu_server_stop(&f->server);
    tu_server_start(&f->server, &cfg);
    tu_write_random(src, SIZE, 15);
    tu_write_bytes(small, "small", 5);
    run_and_kill_upload(f, slow, 1024 * 1024);
    deadline = tu_now_ms() + WAIT_MS;
    while (tu_store_kept(f->server.root) != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    assert_int_equal(tu_store_kept(f->server.root), 1);
    /* A later upload, once the part is old enough, removes it. */
    do
        assert_int_equal(run(f, other, err, sizeof(err)), 0);
    while (tu_store_kept(f->server.root) != 0 && tu_now_ms() < deadline);
    assert_int_equal(tu_store_kept(f->server.root), 0);
    free(src);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVER(test_get_continue),
        TU_TEST_SERVER(test_get_continue_changed_source),
        TU_TEST_SERVER(test_get_continue_long_name),
        TU_TEST_SERVER(test_put_continue),
        TU_TEST_SERVER(test_put_continue_changed_source),
        TU_TEST_FIXTURE(test_put_cut_keeps_every_frame),
        TU_TEST_SERVER(test_partial_expires),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
