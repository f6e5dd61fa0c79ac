/* test_faults.c - what survives when things go wrong: a client or a server
 * killed mid-transfer, a full disk, a flipped bit under compression, two
 * writers racing on one name under a reader, and a server stopped while
 * uploads are under way. Each case checks that no damaged data is
 * published and nothing is left behind. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "client_int.h"
#include "conn.h"
#include "hash.h"
#include "proto.h"
#include "stripe.h"
#include "testutil.h"

#define WAIT_MS 20000
#define MIB (1024u * 1024u)

/* An upload by the library in a thread of the test, reading a pipe. */
struct pipe_put {
    pthread_t thread;
    uint16_t port;
    int in_fd;
    int64_t size;
    const char *name;
    enum ft_err rc;
    char err[1024];
};

/* A server thread of the test that says what the test wants. */
struct fake_server {
    pthread_t thread;
    int listen_fd;
    uint16_t port;
    uint64_t size;    /* what its READY announces */
    bool hang_up;     /* after 1 MiB: closes, rather than fall silent */
    enum ft_err last; /* what ended its conversation */
};

/* Clients wait as long as the tests do. */
static const struct ft_client_config patient = { .timeout_ms = WAIT_MS };

struct fixture {
    struct tu_fixture tu; /* work, a root for `ft serve`, both servers */
    pid_t child;          /* a client child process */
    int fds[4];           /* descriptors to close at the end (-1: none) */
    struct pipe_put put;  /* an upload in a thread, fed by fds[1] */
    bool put_running;
    struct fake_server fake;
    bool fake_running;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    tu_fixture_open(&f->tu);
    for (size_t i = 0; i < sizeof(f->fds) / sizeof(*f->fds); i++)
        f->fds[i] = -1;
    *state = f;
    return 0;
}

/* Stops every process the test started, even after a failed assertion. */
static int teardown(void **state)
{
    struct fixture *f = *state;

    tu_kill_pid(&f->child);
    tu_served_stop(&f->tu.served);
    /* Threads first: an upload ends when its input does; the fake server
     * when its peer is gone or its wait runs out. */
    if (f->put_running) {
        if (f->fds[1] >= 0)
            close(f->fds[1]);
        f->fds[1] = -1;
        pthread_join(f->put.thread, NULL);
    }
    if (f->fake_running)
        pthread_join(f->fake.thread, NULL);
    for (size_t i = 0; i < sizeof(f->fds) / sizeof(*f->fds); i++) {
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    }
    tu_fixture_close(&f->tu);
    free(f);
    return 0;
}

/* Closes one of the fixture's descriptors now. */
static void close_fd(struct fixture *f, int i)
{
    if (f->fds[i] >= 0)
        close(f->fds[i]);
    f->fds[i] = -1;
}

static void hash_file(const char *path, uint8_t out[FT_HASH_BYTES])
{
    uint8_t buf[65536];
    struct ft_hash h;
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    ft_hash_init(&h);
    while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
        ft_hash_update(&h, buf, (size_t)r);
    if (fd >= 0)
        close(fd);
    ft_hash_final(&h, out);
}

/* --- a client killed mid-upload ------------------------------------- */

static void test_client_killed_mid_upload(void **state)
{
    struct fixture *f = *state;
    char *earlier = tu_path(f->tu.work, "earlier");
    char *tmp;
    /* On S3 more than a part (8 MiB), so that its multipart upload is
     * under way on the engine, not only in the server's buffer. */
    uint64_t fed = tu_store_s3() ? 9 * MIB : MIB;
    int pipefd[2];
    int status;

    tu_server_start(&f->tu.server, NULL);
    tmp = tu_path(f->tu.server.root, ".ft/tmp");
    tu_write_random(earlier, 300000, 10);
    tu_store_put_file(f->tu.server.root, "doc", earlier);

    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    f->fds[0] = pipefd[0];
    f->fds[1] = pipefd[1];
    {
        const char *args[] = { "put", "-q", "-p", f->tu.server.portstr, "-", "doc",
                               NULL };
        const char *env[] = { f->tu.config_env, NULL };

        f->child = tu_spawn_ft_env(args, env, pipefd[0], -1, -1);
    }
    close_fd(f, 0);
    /* Some goes in; the server is storing it when the client dies. */
    assert_int_equal(tu_feed(f->fds[1], fed, 11, WAIT_MS), fed);
    if (tu_store_s3())
        assert_true(tu_store_wait_upload(f->tu.server.root, 0, WAIT_MS));
    else
        assert_true(tu_wait_dir_bytes(tmp, 0, WAIT_MS));
    kill(f->child, SIGKILL);
    assert_true(tu_wait_pid(f->child, WAIT_MS, &status));
    f->child = 0;
    assert_true(WIFSIGNALED(status));

    assert_true(tu_store_wait_clean(f->tu.server.root, WAIT_MS));
    assert_true(tu_store_same(f->tu.server.root, "doc", earlier));
    free(earlier);
    free(tmp);
}

/* --- a server killed mid-upload, then restarted ---------------------- */

static void *pipe_put_main(void *arg)
{
    struct pipe_put *p = arg;
    struct ft_client *c = NULL;

    p->rc = tu_try_connect(&c, p->port, &patient, p->err, sizeof(p->err));
    if (p->rc == FT_OK) {
        p->rc = ft_client_put(c, p->in_fd, p->size, p->name, NULL, NULL);
        snprintf(p->err, sizeof(p->err), "%s", ft_client_error(c));
    }
    ft_client_close(c);
    return NULL;
}

/* Starts an upload of what the fixture's pipe (fds 0 and 1) carries. */
static void start_pipe_put(struct fixture *f, uint16_t port, const char *name)
{
    struct pipe_put *p = &f->put;
    int pipefd[2];

    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    f->fds[0] = pipefd[0];
    f->fds[1] = pipefd[1];
    memset(p, 0, sizeof(*p));
    p->port = port;
    p->in_fd = pipefd[0];
    p->size = -1;
    p->name = name;
    assert_int_equal(pthread_create(&p->thread, NULL, pipe_put_main, p), 0);
    f->put_running = true;
}

/* Ends the upload's input and waits for the client thread. */
static enum ft_err finish_pipe_put(struct fixture *f)
{
    close_fd(f, 1);
    pthread_join(f->put.thread, NULL);
    f->put_running = false;
    close_fd(f, 0);
    return f->put.rc;
}

static void test_server_killed_mid_upload_then_restarted(void **state)
{
    TU_DIRECTORY_ONLY("a restarted server sweeps .ft/tmp; on S3 test_s3_faults kills a server mid-upload");
    struct fixture *f = *state;
    char *earlier = tu_path(f->tu.work, "earlier");
    char *stored = tu_path(f->tu.root, "doc");
    char *tmp = tu_path(f->tu.root, ".ft/tmp");

    tu_write_random(earlier, 300000, 20);
    tu_write_random(stored, 300000, 20);
    assert_true(tu_fixture_serve(&f->tu, NULL));
    start_pipe_put(f, f->tu.served.port, "doc");
    assert_int_equal(tu_feed(f->fds[1], MIB, 21, WAIT_MS), MIB);
    assert_true(tu_wait_dir_bytes(tmp, 0, WAIT_MS));

    tu_served_stop(&f->tu.served); /* SIGKILL */
    assert_true(tu_dir_bytes(tmp) > 0); /* nobody cleaned up: it died */
    assert_int_not_equal(finish_pipe_put(f), FT_OK);
    assert_true(tu_files_equal(earlier, stored));

    /* A new server on the same root removes the dead one's temporary
     * before it says it is listening. */
    assert_true(tu_fixture_serve(&f->tu, NULL));
    assert_int_equal(tu_count_entries(tmp), 0);
    assert_true(tu_files_equal(earlier, stored));
    free(earlier);
    free(stored);
    free(tmp);
}

/* --- a client killed mid-download ----------------------------------- */

/* Answers GET with READY(size), sends 1 MiB, then closes (hang_up) or
 * waits for the client to go away. */
static void *fake_server_main(void *arg)
{
    struct fake_server *fs = arg;
    struct ft_msg m, welcome = { .type = FT_MSG_WELCOME };
    struct ft_msg ready = { .type = FT_MSG_READY };
    static uint8_t chunk[FT_CHUNK_BYTES];
    char peer[FT_NET_PEER_MAX];
    struct ft_conn c;
    enum ft_err err;
    int fd = -1;

    fs->last = ft_net_accept(fs->listen_fd, WAIT_MS, &fd, peer, sizeof(peer));
    if (fs->last != FT_OK)
        return NULL;
    if (ft_conn_init(&c, fd, WAIT_MS) != FT_OK) {
        ft_conn_free(&c);
        fs->last = FT_ERR_NOMEM;
        return NULL;
    }
    memset(chunk, 0x5a, sizeof(chunk));
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = FT_FEATURE_PLAINTEXT;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    ready.u.ready.size = fs->size;
    err = ft_conn_recv(&c, &m, WAIT_MS);
    if (err == FT_OK && m.type == FT_MSG_HELLO)
        err = ft_conn_send(&c, &welcome);
    if (err == FT_OK)
        err = ft_conn_recv(&c, &m, WAIT_MS);
    if (err == FT_OK && m.type != FT_MSG_GET)
        err = FT_ERR_PROTOCOL;
    if (err == FT_OK)
        err = ft_conn_send(&c, &ready);
    for (int i = 0; err == FT_OK && i < (int)(MIB / sizeof(chunk)); i++)
        err = ft_conn_send_raw(&c, FT_MSG_DATA, chunk, sizeof(chunk));
    /* Then silence, until the client vanishes (or the wait ends). */
    if (err == FT_OK && !fs->hang_up)
        err = ft_conn_recv(&c, &m, WAIT_MS);
    fs->last = err;
    ft_conn_free(&c);
    return NULL;
}

/* Starts the fake server on a free port (its text in port) for a file
 * of size bytes. */
static void start_fake_server(struct fixture *f, uint64_t size, bool hang_up,
                              char port[8])
{
    struct fake_server *fs = &f->fake;
    char why[256];

    fs->listen_fd = -1;
    fs->size = size;
    fs->hang_up = hang_up;
    assert_int_equal(ft_net_listen("127.0.0.1", 0, &fs->listen_fd, &fs->port, why,
                                   sizeof(why)), FT_OK);
    f->fds[2] = fs->listen_fd;
    assert_int_equal(pthread_create(&fs->thread, NULL, fake_server_main, fs), 0);
    f->fake_running = true;
    snprintf(port, 8, "%u", (unsigned)fs->port);
}

static void test_client_killed_mid_download(void **state)
{
    struct fixture *f = *state;
    char *out = tu_path(f->tu.work, "big");
    char *partial = tu_path(f->tu.work, ".big.ft-part");
    struct fake_server *fs = &f->fake;
    char port[8];
    /* The fake server speaks plaintext, which the client must ask for. */
    const char *args[] = { "get", "-q", "--plaintext", "-p", port, "big", out,
                           NULL };
    const char *env[] = { f->tu.config_env, NULL };
    int status;

    start_fake_server(f, 8 * MIB, false, port);
    f->child = tu_spawn_ft_env(args, env, -1, -1, -1);

    /* Killed once part of the file is on disk. */
    for (int64_t deadline = tu_now_ms() + WAIT_MS;
         tu_file_size(partial) <= 0 && tu_now_ms() < deadline;)
        tu_sleep_ms(10);
    assert_true(tu_file_size(partial) > 0);
    kill(f->child, SIGKILL);
    assert_true(tu_wait_pid(f->child, WAIT_MS, &status));
    f->child = 0;
    pthread_join(fs->thread, NULL);
    f->fake_running = false;
    assert_int_equal(fs->last, FT_ERR_CLOSED);

    /* Nothing under the final name: only the hidden partial file, which
     * the killed client could not remove. */
    assert_false(tu_exists(out));
    free(out);
    free(partial);
}

/* A download of one resume chunk or less cut off half way (the server
 * hangs up after 1 MiB of 3): --continue could only fetch it whole again,
 * so neither its part nor a note is kept, and the error line does not say
 * that --continue resumes it. A file over one chunk keeps both, and says
 * so. */
static void test_cut_off_download_keeps_part_only_if_resumable(void **state)
{
    struct fixture *f = *state;
    char *out = tu_path(f->tu.work, "f");
    char *part = tu_path(f->tu.work, ".f.ft-part");
    char *note = tu_path(f->tu.work, ".f.ft-part.src");
    char port[8], err[4096];
    const char *args[] = { "get", "--plaintext", "-p", port, "f", out, NULL };
    const char *env[] = { f->tu.config_env, NULL };

    start_fake_server(f, 3 * MIB, true, port);
    assert_int_equal(tu_run_ft_env(args, env, NULL, NULL, err, sizeof(err)), 7);
    pthread_join(f->fake.thread, NULL);
    f->fake_running = false;
    close_fd(f, 2);
    if (strstr(err, "ft: get f: ") == NULL || strstr(err, "--continue") != NULL)
        fail_msg("%s", err);
    assert_false(tu_exists(part));
    assert_false(tu_exists(note));
    assert_false(tu_exists(out));

    start_fake_server(f, 8 * MIB, true, port);
    assert_int_equal(tu_run_ft_env(args, env, NULL, NULL, err, sizeof(err)), 7);
    pthread_join(f->fake.thread, NULL);
    f->fake_running = false;
    if (strstr(err, "(the same command with --continue resumes it)") == NULL)
        fail_msg("%s", err);
    assert_int_equal(tu_file_size(part), MIB);
    assert_true(tu_exists(note));
    free(out);
    free(part);
    free(note);
}

/* --- a full disk ------------------------------------------------------ */

/* Plain checks for the forked child: report the failing line and exit. */
#define CHILD_CHECK(cond)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "full disk: %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                   \
            _exit(1);                                                         \
        }                                                                     \
    } while (0)
#define CHILD_SKIP 77

/* A put of big that the full store refuses: the client hears why, and
 * nothing is left of it. */
static void put_onto_full_disk(const struct tu_server *t, const char *big,
                               const struct ft_transfer_options *opt,
                               const char *stored, const char *tmp)
{
    struct ft_client *c;
    char err[1024];
    enum ft_err rc;
    int fd;

    CHILD_CHECK(tu_try_connect(&c, t->port, &patient, err, sizeof(err)) == FT_OK);
    fd = open(big, O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    rc = ft_client_put(c, fd, 4 * MIB, "big", opt, NULL);
    close(fd);
    if (rc != FT_ERR_NO_SPACE)
        fprintf(stderr, "full disk: put: %s (%s)\n", ft_err_name(rc),
                ft_client_error(c));
    CHILD_CHECK(rc == FT_ERR_NO_SPACE);
    CHILD_CHECK(strstr(ft_client_error(c), "no space left on server") != NULL);
    ft_client_close(c);
    CHILD_CHECK(tu_wait_count(tmp, 0, WAIT_MS));
    CHILD_CHECK(!tu_exists(stored));
}

/* A striped put by hand, one joined stream carrying it all, and then
 * what the library's client does when the server cuts that stream off:
 * its ERROR on the request's connection, at once. The server's thread
 * there is waiting for input then, and reads that ERROR before it looks
 * at the stripes again; its answer is still why the stream was cut. */
static void striped_put_told_why(const struct tu_server *t, const char *big,
                                 const char *stored, const char *tmp)
{
    struct ft_msg req = { .type = FT_MSG_PUT }, join = { .type = FT_MSG_JOIN };
    struct ft_msg m;
    struct ft_client *c, *j;
    struct ft_stripes st;
    char err[1024];
    int fd;

    CHILD_CHECK(tu_try_connect(&c, t->port, &patient, err, sizeof(err)) == FT_OK);
    req.u.put.flags = FT_XFER_STRIPED;
    req.u.put.size = 4 * MIB;
    req.u.put.name.ptr = (const uint8_t *)"big";
    req.u.put.name.len = strlen("big");
    CHILD_CHECK(ft_client_request(c, &req, FT_MSG_READY, &m) == FT_OK);
    CHILD_CHECK(ft_client_read_answer(c, FT_MSG_STREAMS, &m) == FT_OK);
    CHILD_CHECK(m.u.streams.streams > 0);
    CHILD_CHECK(tu_try_connect(&j, t->port, &patient, err, sizeof(err)) == FT_OK);
    memcpy(join.u.join.ticket, m.u.streams.ticket, FT_JOIN_TICKET_BYTES);
    ft_stripes_join_proof(m.u.streams.secret, &j->conn, join.u.join.proof);
    CHILD_CHECK(ft_client_request(j, &join, FT_MSG_DONE, &m) == FT_OK);
    fd = open(big, O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(ft_stripes_init(&st, fd, 0, 4 * MIB, FT_XFER_STRIPED, NULL, NULL) == FT_OK);
    (void)ft_stripes_send(&j->conn, &st); /* all of it may fit in the socket's buffers */
    ft_stripes_free(&st);
    close(fd);
    /* The server cuts the stream off once the disk is full. */
    CHILD_CHECK(ft_conn_recv(&j->conn, &m, WAIT_MS) != FT_OK || m.type == FT_MSG_ERROR);
    CHILD_CHECK(ft_conn_send_error(&c->conn, FT_ERR_CLOSED,
                                   "client: a stream of the transfer failed") == FT_OK);
    CHILD_CHECK(ft_conn_recv(&c->conn, &m, WAIT_MS) == FT_OK);
    CHILD_CHECK(m.type == FT_MSG_ERROR);
    if (c->conn.peer_code != FT_ERR_NO_SPACE)
        fprintf(stderr, "full disk: striped by hand: %s\n", c->conn.peer_text);
    CHILD_CHECK(c->conn.peer_code == FT_ERR_NO_SPACE);
    ft_client_close(j);
    ft_client_close(c);
    CHILD_CHECK(tu_wait_count(tmp, 0, WAIT_MS));
    CHILD_CHECK(!tu_exists(stored));
}

/* Runs in a child of its own: a private mount namespace with a 2 MiB
 * tmpfs as the server's store. */
static void full_disk_child(const char *mnt, const char *big, const char *small)
{
    struct ft_server_config cfg = { .idle_timeout_ms = WAIT_MS };
    const struct ft_transfer_options striped = { .streams = 4 };
    struct tu_server t;
    struct ft_client *c;
    char *stored, *tmp;
    enum ft_err rc;
    int fd;

    if (geteuid() != 0) {
        fprintf(stderr, "full disk: not root, cannot mount a small file system\n");
        _exit(CHILD_SKIP);
    }
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0700") != 0) {
        fprintf(stderr, "full disk: cannot mount a tmpfs in a namespace: %s\n",
                strerror(errno));
        _exit(CHILD_SKIP);
    }
    /* tu_server_start makes its root under $TMPDIR: on the tmpfs. */
    setenv("TMPDIR", mnt, 1);
    tu_server_start(&t, &cfg);
    stored = tu_path(t.root, "big");
    tmp = tu_path(t.root, ".ft/tmp");
    {
        char err[1024];

        put_onto_full_disk(&t, big, NULL, stored, tmp);
        /* The same over four connections: the stream that meets the full
         * disk is not the one the client hears on, and it still hears why. */
        put_onto_full_disk(&t, big, &striped, stored, tmp);
        striped_put_told_why(&t, big, stored, tmp);

        /* The space came back: the next client is served. */
        CHILD_CHECK(tu_try_connect(&c, t.port, &patient, err, sizeof(err)) == FT_OK);
        fd = open(small, O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0);
        rc = ft_client_put(c, fd, 1024, "small", NULL, NULL);
        close(fd);
        if (rc != FT_OK)
            fprintf(stderr, "full disk: small put: %s\n", ft_client_error(c));
        CHILD_CHECK(rc == FT_OK);
        ft_client_close(c);
    }
    free(stored);
    stored = tu_path(t.root, "small");
    CHILD_CHECK(tu_files_equal(small, stored));
    free(stored);
    free(tmp);
    tu_server_stop(&t);
    umount2(mnt, MNT_DETACH);
    _exit(0);
}

static void test_full_disk(void **state)
{
    TU_DIRECTORY_ONLY("a full file system (a small tmpfs)");
    struct fixture *f = *state;
    char *mnt = tu_path(f->tu.work, "mnt");
    char *big = tu_path(f->tu.work, "big");
    char *small = tu_path(f->tu.work, "small");
    int status = 0;

    assert_int_equal(mkdir(mnt, 0700), 0);
    tu_write_random(big, 4 * MIB, 30);
    tu_write_random(small, 1024, 31);
    f->child = fork();
    assert_true(f->child >= 0);
    if (f->child == 0)
        full_disk_child(mnt, big, small);
    assert_true(tu_wait_pid(f->child, 3 * WAIT_MS, &status));
    f->child = 0;
    free(mnt);
    free(big);
    free(small);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == CHILD_SKIP)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- a flipped bit inside compressed data ----------------------------- */

static void test_flipped_bit_in_compressed_upload(void **state)
{
    struct fixture *f = *state;
    const size_t n = 64 * 1024;
    char *earlier = tu_path(f->tu.work, "earlier");
    char *text = tu_path(f->tu.work, "text");
    uint8_t *data = malloc(n);
    uLongf zlen = compressBound(n);
    uint8_t *payload = malloc(FT_DATA_Z_HEADER_BYTES + zlen);
    struct ft_msg put = { .type = FT_MSG_PUT };
    struct ft_msg end = { .type = FT_MSG_END };
    struct ft_msg list = { .type = FT_MSG_LIST };
    struct ft_msg m;
    struct ft_hash h;
    struct ft_conn conn;
    FILE *fp;

    assert_non_null(data);
    assert_non_null(payload);
    tu_server_start(&f->tu.server, NULL);
    tu_write_random(earlier, 5000, 40);
    tu_store_put_file(f->tu.server.root, "victim", earlier);
    tu_write_text(text, n);
    fp = fopen(text, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(data, 1, n, fp), n);
    fclose(fp);

    /* The digest covers the true content; the compressed stream carries
     * the content with one bit flipped. It inflates cleanly to raw_len. */
    ft_hash_init(&h);
    ft_hash_update(&h, data, n);
    ft_hash_final(&h, end.u.end.digest);
    data[n / 2] ^= 0x10;
    assert_int_equal(compress2(payload + FT_DATA_Z_HEADER_BYTES, &zlen, data, n, 6),
                     Z_OK);
    assert_true(zlen < n);
    ft_msg_put_u32(payload, (uint32_t)n);

    assert_true(tu_raw_handshake(&conn, f->tu.server.port, FT_FEATURE_ZLIB, WAIT_MS,
                                 NULL));
    put.u.put.flags = FT_XFER_COMPRESS | FT_XFER_VERIFY;
    put.u.put.size = n;
    put.u.put.name.ptr = (const uint8_t *)"victim";
    put.u.put.name.len = 6;
    assert_int_equal(ft_conn_send(&conn, &put), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_READY);
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_DATA_Z, payload,
                                      FT_DATA_Z_HEADER_BYTES + zlen), FT_OK);
    end.u.end.total = n;
    end.u.end.has_digest = true;
    assert_int_equal(ft_conn_send(&conn, &end), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_INTEGRITY);

    /* The stream is still in step: the connection serves a listing. */
    assert_int_equal(ft_conn_send(&conn, &list), FT_OK);
    assert_int_equal(ft_conn_recv(&conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ENTRY);
    assert_int_equal(ft_conn_recv(&conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DONE);
    ft_conn_free(&conn);

    assert_true(tu_store_same(f->tu.server.root, "victim", earlier));
    assert_true(tu_store_wait_clean(f->tu.server.root, WAIT_MS));
    free(earlier);
    free(text);
    free(data);
    free(payload);
}

/* --- two writers and a reader on one name ----------------------------- */

#define RACE_ROUNDS 4

struct writer {
    pthread_t thread;
    uint16_t port;
    const char *src;
    int64_t size;
    int ok, failed;
    char err[1024];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ft_client *c = NULL;

    if (tu_try_connect(&c, w->port, &patient, w->err, sizeof(w->err)) != FT_OK) {
        w->failed = RACE_ROUNDS;
        return NULL;
    }
    for (int i = 0; i < RACE_ROUNDS; i++) {
        int fd = open(w->src, O_RDONLY | O_CLOEXEC);

        if (fd >= 0 && ft_client_put(c, fd, w->size, "shared", NULL, NULL) == FT_OK) {
            w->ok++;
        } else {
            w->failed++;
            snprintf(w->err, sizeof(w->err), "%s", ft_client_error(c));
        }
        if (fd >= 0)
            close(fd);
    }
    ft_client_close(c);
    return NULL;
}

struct reader {
    pthread_t thread;
    uint16_t port;
    const char *local;
    const uint8_t (*known)[FT_HASH_BYTES]; /* earlier, A, B */
    atomic_int *writers_done;
    int gets, seen[3], foreign, failed;
    int changed; /* gets refused as the file changed under them (S3) */
    char err[1024];
};

/* One get, checked: the local copy must be one of the known versions, and
 * the transfer's digest must say the same. A store on S3 cannot keep the
 * old version for a reader while it is replaced: that get fails as
 * changed (never a mix), and the connection it ended is made again. */
static void reader_get(struct reader *r, struct ft_client **c)
{
    struct ft_transfer t;
    uint8_t digest[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];
    enum ft_err err = ft_client_get_file(*c, "shared", r->local, NULL, &t);

    if (err == FT_ERR_CHANGED) {
        r->changed++;
        ft_client_close(*c);
        *c = NULL;
        err = tu_try_connect(c, r->port, &patient, r->err, sizeof(r->err));
        r->failed += err != FT_OK;
        return;
    }
    if (err != FT_OK) {
        r->failed++;
        snprintf(r->err, sizeof(r->err), "%s", ft_client_error(*c));
        return;
    }
    r->gets++;
    hash_file(r->local, digest);
    ft_hash_hex(digest, hex);
    for (int k = 0; k < 3; k++) {
        if (memcmp(digest, r->known[k], FT_HASH_BYTES) == 0 && t.verified &&
            strcmp(hex, t.digest_hex) == 0) {
            r->seen[k]++;
            return;
        }
    }
    r->foreign++;
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct ft_client *c = NULL;

    if (tu_try_connect(&c, r->port, &patient, r->err, sizeof(r->err)) != FT_OK) {
        r->failed++;
        return NULL;
    }
    while (atomic_load(r->writers_done) < 2 && r->failed == 0)
        reader_get(r, &c);
    if (r->failed == 0)
        reader_get(r, &c); /* and once after both are done */
    ft_client_close(c);
    return NULL;
}

static void test_concurrent_writers_and_reader(void **state)
{
    struct fixture *f = *state;
    char *earlier = tu_path(f->tu.work, "earlier");
    char *a = tu_path(f->tu.work, "a");
    char *b = tu_path(f->tu.work, "b");
    char *local = tu_path(f->tu.work, "got");
    uint8_t known[3][FT_HASH_BYTES];
    atomic_int done = 0;
    struct writer w[2];
    struct reader r;

    tu_server_start(&f->tu.server, NULL);
    tu_write_random(earlier, 1 * MIB, 50);
    tu_store_put_file(f->tu.server.root, "shared", earlier);
    tu_write_random(a, 8 * MIB, 51);
    tu_write_random(b, 8 * MIB, 52);
    hash_file(earlier, known[0]);
    hash_file(a, known[1]);
    hash_file(b, known[2]);

    memset(&r, 0, sizeof(r));
    r.port = f->tu.server.port;
    r.local = local;
    r.known = (const uint8_t (*)[FT_HASH_BYTES])known;
    r.writers_done = &done;
    assert_int_equal(pthread_create(&r.thread, NULL, reader_main, &r), 0);
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].port = f->tu.server.port;
        w[i].src = i == 0 ? a : b;
        w[i].size = 8 * MIB;
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(w[i].thread, NULL);
        atomic_fetch_add(&done, 1);
    }
    pthread_join(r.thread, NULL);

    for (int i = 0; i < 2; i++) {
        if (w[i].failed)
            print_error("writer %d: %s\n", i, w[i].err);
        assert_int_equal(w[i].ok, RACE_ROUNDS);
    }
    if (r.failed)
        print_error("reader: %s\n", r.err);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.foreign, 0);
    /* A folder's reader keeps the version it opened; S3's sees it go. */
    if (!tu_store_s3())
        assert_int_equal(r.changed, 0);
    assert_true(r.gets >= 1);
    assert_int_equal(r.seen[0] + r.seen[1] + r.seen[2], r.gets);
    /* The last writer won, whole. */
    assert_true(tu_store_same(f->tu.server.root, "shared", a) ||
                tu_store_same(f->tu.server.root, "shared", b));
    assert_true(tu_store_wait_clean(f->tu.server.root, WAIT_MS));
    print_message("race: %d gets: %d earlier, %d A, %d B; %d changed under it\n",
                  r.gets, r.seen[0], r.seen[1], r.seen[2], r.changed);
    free(earlier);
    free(a);
    free(b);
    free(local);
}

/* --- SIGTERM while an upload is under way ------------------------------ */

static void test_sigterm_during_upload(void **state)
{
    struct fixture *f = *state;
    char *tmp = tu_path(f->tu.root, ".ft/tmp");
    /* On S3 more than a part (8 MiB), so that its multipart upload is
     * under way on the engine, not only in the server's buffer. */
    uint64_t fed = tu_store_s3() ? 9 * MIB : MIB;
    int status = 0;

    assert_true(tu_fixture_serve(&f->tu, NULL));
    start_pipe_put(f, f->tu.served.port, "partial");
    /* Part of an upload, then the feed stops (the pipe stays open). */
    assert_int_equal(tu_feed(f->fds[1], fed, 60, WAIT_MS), fed);
    if (tu_store_s3())
        assert_true(tu_store_wait_upload(f->tu.root, 0, WAIT_MS));
    else
        assert_true(tu_wait_dir_bytes(tmp, 0, WAIT_MS));

    assert_int_equal(kill(f->tu.served.pid, SIGTERM), 0);
    assert_true(tu_served_log_until(&f->tu.served, "ft serve: stopped", WAIT_MS));
    assert_true(tu_wait_pid(f->tu.served.pid, WAIT_MS, &status));
    f->tu.served.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Nothing published, nothing left under way (on S3 the multipart
     * upload aborted). */
    assert_false(tu_store_exists(f->tu.root, "partial"));
    assert_int_equal(tu_store_unfinished(f->tu.root), 0);
    assert_int_not_equal(finish_pipe_put(f), FT_OK);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_killed_mid_upload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_killed_mid_upload_then_restarted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_killed_mid_download, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cut_off_download_keeps_part_only_if_resumable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bit_in_compressed_upload,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_and_reader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_during_upload, setup,
                                        teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
