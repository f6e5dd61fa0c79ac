/* test_limits.c - every limit of the server, each with a test that fails if
 * the defence is taken away: the client cap, the handshake and idle
 * timeouts (and the per-frame deadline that stops a slow loris), the file
 * size limit announced and reached, the frame limit, the inflate bound, the
 * read-only mode (which writes nothing), and the command line's refusal of impossible limits. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include "conn.h"
#include "proto.h"
#include "testutil.h"

/* Generous bound on anything the server is expected to do "soon". */
#define WAIT_MS 10000
#define MIB (1024u * 1024u)

/* Clients wait as long as the tests do. */
static const struct ft_client_config patient = { .timeout_ms = WAIT_MS };

struct fixture {
    struct tu_fixture tu;
    struct ft_conn conn; /* a raw connection, freed at teardown */
    bool conn_open;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    tu_fixture_open(&f->tu);
    f->conn.fd = -1; /* and buf NULL: ft_conn_free is safe at once */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->conn_open)
        ft_conn_free(&f->conn);
    tu_fixture_close(&f->tu);
    free(f);
    return 0;
}

/* The fixture's raw connection, to be freed even if an assertion fails. */
static struct ft_conn *raw_conn(struct fixture *f)
{
    f->conn_open = true;
    return &f->conn;
}

static void raw_close(struct fixture *f)
{
    ft_conn_free(&f->conn);
    f->conn_open = false;
}

/* Puts the local file path as name; returns the library's answer. */
static enum ft_err put_file(struct ft_client *c, const char *path,
                            const char *name, bool compress)
{
    struct ft_transfer_options opt = { .compress = compress };
    struct stat sb;
    enum ft_err rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    rc = ft_client_put(c, fd, sb.st_size, name, &opt, NULL);
    close(fd);
    return rc;
}

/* A small upload on a new connection: the server still serves. */
static void small_put_works(struct fixture *f, const char *name)
{
    struct ft_client *c = tu_connect(f->tu.server.port, &patient);
    char *src = tu_path(f->tu.work, "small");

    tu_write_random(src, 1000, 77);
    assert_int_equal(put_file(c, src, name, false), FT_OK);
    assert_true(tu_store_same(f->tu.server.root, name, src));
    ft_client_close(c);
    free(src);
}

/* Nothing under name, and the temporaries gone (the server cleans up in its
 * own time: poll, bounded). */
static void nothing_left(struct fixture *f, const char *name)
{
    assert_true(tu_store_wait_clean(f->tu.server.root, WAIT_MS));
    assert_false(tu_store_exists(f->tu.server.root, name));
}

/* Reads frames until the server closes: the first must be an ERROR with
 * code, and the stream must then end (a generous bound, no timing). */
static void expect_error_then_eof(struct ft_conn *conn, enum ft_err code)
{
    struct ft_msg m;

    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, code);
    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_ERR_CLOSED);
}

static void test_max_clients_busy_then_served(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_clients = 1, .idle_timeout_ms = 60000 };
    struct ft_client *first, *second = NULL;
    char err[1024];
    enum ft_err rc;
    int64_t deadline;

    tu_server_start(&f->tu.server, &cfg);
    first = tu_connect(f->tu.server.port, &patient);
    /* The first is past its handshake and idle: the second is turned away
     * with a reason. */
    assert_int_equal(tu_try_connect(&second, f->tu.server.port, &patient, err,
                                    sizeof(err)), FT_ERR_BUSY);
    assert_null(second);
    assert_non_null(strstr(err, "server busy"));

    /* Once the first leaves, a newcomer is served. The server learns of
     * the departure in its own time: retry, bounded. */
    ft_client_close(first);
    deadline = tu_now_ms() + WAIT_MS;
    for (;;) {
        rc = tu_try_connect(&second, f->tu.server.port, &patient, err, sizeof(err));
        if (rc == FT_OK || tu_now_ms() > deadline)
            break;
        assert_int_equal(rc, FT_ERR_BUSY);
        tu_sleep_ms(20);
    }
    assert_int_equal(rc, FT_OK);
    assert_int_equal(ft_client_remove(second, "nothing"), FT_ERR_NOT_FOUND);
    ft_client_close(second);
}

static void test_handshake_timeout(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .handshake_timeout_ms = 300,
                                    .idle_timeout_ms = 60000 };
    struct ft_conn *conn = raw_conn(f);

    tu_server_start(&f->tu.server, &cfg);
    /* Connected, and not a byte sent. */
    assert_int_equal(ft_conn_init(conn, tu_connect_raw(f->tu.server.port), WAIT_MS),
                     FT_OK);
    expect_error_then_eof(conn, FT_ERR_TIMEOUT);
    raw_close(f);
    small_put_works(f, "after");
}

static void test_idle_timeout(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .idle_timeout_ms = 300 };
    struct ft_conn *conn = raw_conn(f);

    tu_server_start(&f->tu.server, &cfg);
    assert_true(tu_raw_handshake(conn, f->tu.server.port, 0, WAIT_MS, NULL));
    /* Handshake done, then silence. */
    expect_error_then_eof(conn, FT_ERR_TIMEOUT);
    raw_close(f);
}

/* A peer that trickles one byte every 100 ms is never idle for 300 ms, yet
 * its frame never completes: only a deadline per frame cuts it. */
static void test_slow_loris_cut_mid_frame(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .idle_timeout_ms = 300 };
    struct ft_msg put = { .type = FT_MSG_PUT };
    char name[200];
    uint8_t frame[FT_FRAME_HEADER_BYTES + 512];
    size_t len = 0, sent = 0;
    bool cut = false;
    struct ft_conn *conn = raw_conn(f);

    tu_server_start(&f->tu.server, &cfg);
    memset(name, 'n', sizeof(name));
    put.u.put.flags = FT_XFER_VERIFY;
    put.u.put.size = 10;
    put.u.put.name.ptr = (const uint8_t *)name;
    put.u.put.name.len = sizeof(name);
    assert_int_equal(ft_msg_encode(&put, frame + FT_FRAME_HEADER_BYTES,
                                   sizeof(frame) - FT_FRAME_HEADER_BYTES, &len),
                     FT_OK);
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    frame[4] = FT_MSG_PUT;
    len += FT_FRAME_HEADER_BYTES; /* 219 bytes: some 22 s at this pace */

    assert_true(tu_raw_handshake(conn, f->tu.server.port, 0, WAIT_MS, NULL));
    while (sent < len) {
        struct pollfd p = { .fd = conn->fd, .events = POLLIN };

        /* Anything to read (its ERROR, or the end of the stream) means the
         * server has given up on us. */
        if (poll(&p, 1, 0) > 0) {
            cut = true;
            break;
        }
        if (send(conn->fd, frame + sent, 1, MSG_NOSIGNAL) != 1) {
            cut = true;
            break;
        }
        sent++;
        tu_sleep_ms(100); /* pacing, not a wait for readiness */
    }
    assert_true(cut);
    assert_true(sent < len);
    expect_error_then_eof(conn, FT_ERR_TIMEOUT);
    raw_close(f);
}

static void test_max_file_size_announced(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_file_size = MIB };
    struct ft_client *c;
    char *src = tu_path(f->tu.work, "two-mib");
    struct stat sb;
    int fd;

    tu_server_start(&f->tu.server, &cfg);
    tu_write_random(src, 2 * MIB, 2);
    c = tu_connect(f->tu.server.port, &patient);
    fd = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(ft_client_put(c, fd, sb.st_size, "big", NULL, NULL),
                     FT_ERR_TOO_LARGE);
    assert_non_null(strstr(ft_client_error(c), "file too large"));
    /* Refused before the data: not a byte of the file was read. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
    ft_client_close(c);
    nothing_left(f, "big");
    small_put_works(f, "small");
    free(src);
}

static void test_max_file_size_reached_mid_stream(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_file_size = MIB };
    struct tu_feeder feeder;
    struct ft_client *c;
    enum ft_err rc;
    int pipefd[2];

    tu_server_start(&f->tu.server, &cfg);
    c = tu_connect(f->tu.server.port, &patient);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    tu_feeder_start(&feeder, pipefd[1], 2 * MIB, 3, WAIT_MS, true);
    /* Size unknown: the server can only count as the bytes come. */
    rc = ft_client_put(c, pipefd[0], -1, "big", NULL, NULL);
    close(pipefd[0]); /* the feeder, if still writing, meets EPIPE */
    tu_feeder_join(&feeder);
    assert_int_equal(rc, FT_ERR_TOO_LARGE);
    assert_non_null(strstr(ft_client_error(c), "file too large"));
    ft_client_close(c);
    nothing_left(f, "big");
    small_put_works(f, "small");
}

static void test_max_frame_payload_followed(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_frame_payload = 8192 };
    char *src = tu_path(f->tu.work, "one-mib");
    char *text = tu_path(f->tu.work, "text");
    char *back = tu_path(f->tu.work, "back");
    struct ft_transfer t;
    struct ft_client *c;

    tu_server_start(&f->tu.server, &cfg);
    tu_write_random(src, MIB, 4);
    tu_write_text(text, MIB);
    c = tu_connect(f->tu.server.port, &patient);
    /* The client cuts its chunks to the limit WELCOME announced. */
    assert_int_equal(put_file(c, src, "one-mib", false), FT_OK);
    assert_true(tu_store_same(f->tu.server.root, "one-mib", src));
    assert_int_equal(put_file(c, text, "text", true), FT_OK);
    assert_true(tu_store_same(f->tu.server.root, "text", text));
    assert_int_equal(ft_client_get_file(c, "one-mib", back, NULL, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_files_equal(src, back));
    ft_client_close(c);
    free(src);
    free(text);
    free(back);
}

/* A raw connection past PUT/READY for name, with the given flags. */
static void raw_put(struct fixture *f, struct ft_conn *conn, uint32_t features,
                    uint32_t flags, uint64_t size, const char *name,
                    uint32_t *max_payload)
{
    struct ft_msg put = { .type = FT_MSG_PUT };
    struct ft_msg m;

    assert_true(tu_raw_handshake(conn, f->tu.server.port, features, WAIT_MS,
                                 max_payload));
    put.u.put.flags = flags;
    put.u.put.size = size;
    put.u.put.name.ptr = (const uint8_t *)name;
    put.u.put.name.len = strlen(name);
    assert_int_equal(ft_conn_send(conn, &put), FT_OK);
    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_READY);
}

static void test_max_frame_payload_enforced(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_frame_payload = 8192 };
    static uint8_t data[9000];
    uint32_t max_payload = 0;
    struct ft_conn *conn = raw_conn(f);
    struct ft_msg m;
    enum ft_err rc;

    tu_server_start(&f->tu.server, &cfg);
    memset(data, 'x', sizeof(data));
    raw_put(f, conn, 0, FT_XFER_VERIFY, sizeof(data), "big", &max_payload);
    assert_int_equal(max_payload, 8192);
    /* One DATA frame over the announced limit (but under the protocol's). */
    assert_int_equal(ft_conn_send_raw(conn, FT_MSG_DATA, data, sizeof(data)),
                     FT_OK);
    rc = ft_conn_recv(conn, &m, WAIT_MS);
    if (rc == FT_OK) {
        assert_int_equal(m.type, FT_MSG_ERROR);
        if (m.u.error.code != FT_ERR_PROTOCOL)
            print_error("ERROR code %u (%s) for an oversized frame: "
                        "docs/PROTOCOL.md section 12 says it is reported as "
                        "PROTOCOL (7)\n", (unsigned)m.u.error.code,
                        ft_err_name((enum ft_err)m.u.error.code));
        assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
    } else {
        assert_int_equal(rc, FT_ERR_CLOSED);
    }
    raw_close(f);
    nothing_left(f, "big");
}

static void test_decompression_bomb(void **state)
{
    struct fixture *f = *state;
    uint8_t *zeros = calloc(1, 256 * 1024);
    uLongf zlen = compressBound(256 * 1024);
    uint8_t *payload = malloc(FT_DATA_Z_HEADER_BYTES + zlen);
    struct ft_conn *conn = raw_conn(f);
    struct ft_msg m;

    assert_non_null(zeros);
    assert_non_null(payload);
    tu_server_start(&f->tu.server, NULL);
    assert_int_equal(compress2(payload + FT_DATA_Z_HEADER_BYTES, &zlen, zeros,
                               256 * 1024, 9), Z_OK);
    /* It claims 1000 bytes and inflates to 256 KiB. The size is unknown,
     * so only the inflate bound stands in the way. */
    ft_msg_put_u32(payload, 1000);
    raw_put(f, conn, FT_FEATURE_ZLIB, FT_XFER_COMPRESS | FT_XFER_VERIFY,
            FT_SIZE_UNKNOWN, "bomb", NULL);
    assert_int_equal(ft_conn_send_raw(conn, FT_MSG_DATA_Z, payload,
                                      FT_DATA_Z_HEADER_BYTES + zlen), FT_OK);
    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, FT_ERR_PROTOCOL);
    raw_close(f);
    nothing_left(f, "bomb");
    free(zeros);
    free(payload);
}

static int collect_names(const struct ft_entry *e, void *ctx)
{
    char *names = ctx;

    strcat(names, e->name);
    strcat(names, ";");
    return 0;
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .read_only = true };
    char *seed = tu_path(f->tu.work, "seed"), *src = tu_path(f->tu.work, "new");
    char *back = tu_path(f->tu.work, "back");
    char names[256] = "";
    struct ft_transfer t;
    struct ft_client *c;

    tu_write_random(src, 100, 5);
    tu_server_start(&f->tu.server, &cfg);
    /* Started on an empty store, it made nothing there: no metadata
     * folder, no key (on a folder it runs on one that lasts as long as it
     * does; on S3 its key is the --key-file, not the store's). */
    assert_int_equal(tu_store_count(f->tu.server.root, ""), 0);
    assert_int_equal(ft_server_key_temporary(f->tu.server.srv), !tu_store_s3());
    /* The server does not write its store: seed it behind its back. */
    tu_write_random(seed, 5000, 6);
    tu_store_put_file(f->tu.server.root, "seed", seed);
    c = tu_connect(f->tu.server.port, &patient);

    assert_int_equal(put_file(c, src, "new", false), FT_ERR_READ_ONLY);
    assert_non_null(strstr(ft_client_error(c), "read-only"));
    assert_false(tu_store_exists(f->tu.server.root, "new"));
    assert_int_equal(ft_client_remove(c, "seed"), FT_ERR_READ_ONLY);
    assert_non_null(strstr(ft_client_error(c), "read-only"));
    assert_true(tu_store_exists(f->tu.server.root, "seed"));
    /* Refusals leave the connection usable; reading still works. */
    assert_int_equal(ft_client_get_file(c, "seed", back, NULL, &t), FT_OK);
    assert_true(t.verified);
    assert_true(tu_store_same(f->tu.server.root, "seed", back));
    assert_int_equal(ft_client_list(c, collect_names, names), FT_OK);
    assert_string_equal(names, "seed;");
    ft_client_close(c);
    /* Nor since (on S3 not even the digest the get took, a .ft/b2/ sidecar). */
    assert_int_equal(tu_store_count(f->tu.server.root, ""), 1);
    free(seed);
    free(src);
    free(back);
}

/* A read-only server writes nothing, not even the digest record that a
 * STAT or a verified GET of a file without one would leave (on a folder
 * an extended attribute, which changes the file's ctime; on S3 a sidecar
 * object under .ft/b2/). */
static void test_read_only_records_no_digest(void **state)
{
    struct fixture *f = *state;
    struct ft_server_config cfg = { .read_only = true };
    char *local = tu_path(f->tu.work, "seed"), *back = tu_path(f->tu.work, "back");
    char *seed = NULL;
    struct stat before, after;
    struct ft_transfer t;
    struct ft_stat info;
    struct ft_client *c;

    tu_server_start(&f->tu.server, &cfg);
    /* Large enough to be worth a record (store_int.h). */
    tu_write_random(local, 256 * 1024, 7);
    tu_store_put_file(f->tu.server.root, "seed", local);
    if (!tu_store_s3()) {
        seed = tu_path(f->tu.server.root, "seed");
        if (setxattr(seed, "user.ft.probe", "1", 1, 0) != 0) {
            free(seed);
            free(local);
            free(back);
            skip(); /* no extended attributes here: nothing would be recorded */
        }
        assert_int_equal(removexattr(seed, "user.ft.probe"), 0);
        assert_int_equal(stat(seed, &before), 0);
    }
    c = tu_connect(f->tu.server.port, &patient);
    assert_int_equal(ft_client_stat(c, "seed", &info), FT_OK);
    assert_int_equal(ft_client_get_file(c, "seed", back, NULL, &t), FT_OK);
    assert_true(t.verified);
    /* Nothing recorded: a quick STAT still has no digest to answer. */
    assert_int_equal(ft_client_stat_quick(c, "seed", &info), FT_OK);
    assert_string_equal(info.digest_hex,
                        "0000000000000000000000000000000000000000000000000000000000000000");
    ft_client_close(c);
    if (seed != NULL) {
        assert_int_equal(stat(seed, &after), 0);
        assert_int_equal(after.st_ctim.tv_sec, before.st_ctim.tv_sec);
        assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
        assert_true(getxattr(seed, "user.ft.blake2b256", NULL, 0) < 0);
        assert_int_equal(errno, ENODATA);
    }
    /* The seed alone: no metadata folder, no sidecar. */
    assert_int_equal(tu_store_count(f->tu.server.root, ""), 1);
    free(seed);
    free(local);
    free(back);
}

/* Impossible limits are usage errors: the server never starts. */
/* The test process's descriptor limit while a hostile client holds its
 * uploads open: low enough to reach with one connection. */
#define FD_LIMIT 256
/* The size of the hostile's last upload as its temporary shows it once the
 * server is receiving it: no other upload has it. */
#define MARK_BYTES 12345

/* Descriptors open in this process (the server's included). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = -1; /* the listing's own */

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 2; /* "." and ".." */
}

/* Whether a temporary in dir has MARK_BYTES: the server has taken every
 * upload before the marked one. Needs one descriptor. */
static bool marked_upload_begun(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    while (d != NULL && !found && (de = readdir(d)) != NULL) {
        struct stat sb;

        found = fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(sb.st_mode) && sb.st_size == MARK_BYTES;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* A pipelined PUT of unknown size (never held in memory: it has its
 * temporary and folder open from its first byte) with a frame of n bytes
 * of data. */
static void send_pipelined(struct ft_conn *conn, const char *name, size_t n)
{
    static const uint8_t data[MARK_BYTES];
    struct ft_msg put = { .type = FT_MSG_PUT };

    put.u.put.flags = FT_XFER_PIPELINE;
    put.u.put.size = FT_SIZE_UNKNOWN;
    put.u.put.name.ptr = (const uint8_t *)name;
    put.u.put.name.len = strlen(name);
    assert_int_equal(ft_conn_send(conn, &put), FT_OK);
    assert_int_equal(ft_conn_send_raw(conn, FT_MSG_DATA, data, n), FT_OK);
}

/* A client sends pipelined uploads, never reads an answer, and leaves its
 * last upload unfinished: each upload waiting for its batch holds its
 * temporary and its folder. As many as the descriptor limit allows, less
 * one, would leave nothing for anyone else; a session's share of them is
 * capped (its batch is committed early), and another client's put goes
 * through. */
static void test_queued_uploads_leave_descriptors(void **state)
{
    TU_DIRECTORY_ONLY("each queued upload holds its temporary in .ft/tmp and its folder open; on S3 one holds no descriptor (its bytes wait in memory for their PUT)");
    struct fixture *f = *state;
    struct ft_server_config cfg = { .max_clients = 4 };
    struct rlimit saved, low = { .rlim_cur = FD_LIMIT, .rlim_max = FD_LIMIT };
    char *src = tu_path(f->tu.work, "honest");
    char *tmp;
    char *stored;
    struct ft_conn *conn = raw_conn(f);
    struct ft_client *c = NULL;
    struct ft_msg end = { .type = FT_MSG_END };
    char err[1024] = "";
    enum ft_err rc;
    int src_fd;
    int uploads;

    tu_write_random(src, 1000, 78);
    src_fd = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(src_fd >= 0);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    tu_server_start(&f->tu.server, &cfg);
    tmp = tu_path(f->tu.server.root, ".ft/tmp");
    stored = tu_path(f->tu.server.root, "honest");
    assert_true(tu_raw_handshake(conn, f->tu.server.port, FT_FEATURE_PIPELINE,
                                 WAIT_MS, NULL));
    /* Two descriptors an upload, the last one's included, one spare. */
    uploads = (FD_LIMIT - open_fds() - 2 - 1) / 2;
    assert_true(uploads > 64);
    end.u.end.total = 1;
    /* In one piece: a pause would have the server commit what waits. */
    ft_conn_cork(conn, true);
    for (int i = 0; i < uploads; i++) {
        char name[16];

        snprintf(name, sizeof(name), "h%03d", i);
        send_pipelined(conn, name, 1);
        assert_int_equal(ft_conn_send(conn, &end), FT_OK);
    }
    /* The last one never ends. */
    send_pipelined(conn, "last", MARK_BYTES);
    ft_conn_cork(conn, false);
    {
        int64_t deadline = tu_now_ms() + WAIT_MS;

        while (!marked_upload_begun(tmp) && tu_now_ms() < deadline)
            tu_sleep_ms(10); /* polling the condition, bounded */
        assert_true(marked_upload_begun(tmp));
    }

    rc = tu_try_connect(&c, f->tu.server.port, &patient, err, sizeof(err));
    if (rc == FT_OK) {
        rc = ft_client_put(c, src_fd, 1000, "honest", NULL, NULL);
        snprintf(err, sizeof(err), "%s", ft_client_error(c));
    }
    ft_client_close(c);
    close(src_fd);
    if (rc != FT_OK)
        fail_msg("the honest put failed: %s", err);
    assert_true(tu_files_equal(src, stored));
    raw_close(f);
    tu_server_stop(&f->tu.server);
    /* Without the privilege to raise it again, the limit stays low: this
     * test runs last. */
    setrlimit(RLIMIT_NOFILE, &saved);
    free(src);
    free(tmp);
    free(stored);
}

static void test_cli_refuses_bad_limits(void **state)
{
    struct fixture *f = *state;
    char *root = tu_path(f->tu.work, "root");
    const char *bad[][2] = {
        { "--max-clients", "0" },      { "--max-frame-size", "100" },
        { "--max-frame-size", "4095" }, { "--max-frame-size", "262209" },
        { "--max-file-size", "0" },    { "--idle-timeout", "0" },
        { "--handshake-timeout", "-1" },
    };
    char err[2048];

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *args[] = { "serve", "--root", root, "--port", "0",
                               bad[i][0], bad[i][1], NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 2);
        assert_true(strncmp(err, "ft serve: ", 10) == 0);
        assert_non_null(strstr(err, bad[i][0]));
    }
    /* It never started: it did not even create its root. */
    assert_false(tu_exists(root));
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_clients_busy_then_served, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_loris_cut_mid_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_file_size_announced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_file_size_reached_mid_stream,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_frame_payload_followed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_frame_payload_enforced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_decompression_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_records_no_digest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cli_refuses_bad_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queued_uploads_leave_descriptors,
                                        setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
