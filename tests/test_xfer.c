/* test_xfer.c - the data phase (src/xfer.c) over a socketpair: the sender
 * in a thread, the receiver in the test, with and without compression and
 * verification; then hand-built streams for what a sound sender never
 * sends: a wrong digest, too many bytes, DATA_Z that was not agreed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "conn.h"
#include "hash.h"
#include "proto.h"
#include "testutil.h"
#include "xfer.h"

/* Per frame; generous, since both ends are in this process. */
#define TIMEOUT_MS 10000
#define NO_LIMIT UINT64_MAX

struct fixture {
    struct ft_conn snd; /* the sending end */
    struct ft_conn rcv; /* the receiving end */
    char *work;
    char *src;
    char *dst;
};

static int setup_group(void **state)
{
    (void)state;
    return ft_hash_library_init();
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int fds[2];

    if (f == NULL)
        return -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return -1;
    if (ft_conn_init(&f->snd, fds[0], TIMEOUT_MS) != FT_OK ||
        ft_conn_init(&f->rcv, fds[1], TIMEOUT_MS) != FT_OK)
        return -1;
    f->work = tu_tempdir();
    f->src = tu_path(f->work, "src");
    f->dst = tu_path(f->work, "dst");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ft_conn_free(&f->snd);
    ft_conn_free(&f->rcv);
    tu_rmtree(f->work);
    free(f->dst);
    free(f->src);
    free(f->work);
    free(f);
    return 0;
}

/* ft_xfer_send in a thread. It never calls cmocka (not thread-safe). */
struct sender {
    pthread_t thread;
    struct ft_conn *c;
    int in_fd;
    uint32_t flags;
    uint64_t expect;
    struct ft_xfer_result res;
    enum ft_err err;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;

    s->err = ft_xfer_send(s->c, s->in_fd, s->flags, s->expect, NULL, &s->res);
    return NULL;
}

static void sender_start(struct sender *s, struct ft_conn *c, const char *path,
                         uint32_t flags, uint64_t expect)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    s->in_fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(s->in_fd >= 0);
    s->flags = flags;
    s->expect = expect;
    s->err = FT_ERR_SERVER; /* overwritten by the thread */
    assert_int_equal(pthread_create(&s->thread, NULL, sender_main, s), 0);
}

static void sender_join(struct sender *s)
{
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->in_fd);
}

/* A sink that writes to a file and counts; fail_with ends the transfer. */
struct file_sink {
    int fd;
    uint64_t bytes;
    unsigned calls;
    enum ft_err fail_with;
};

static enum ft_err sink_write(void *ctx, const void *buf, size_t n)
{
    struct file_sink *s = ctx;
    const uint8_t *p = buf;

    s->calls++;
    if (s->fail_with != FT_OK)
        return s->fail_with;
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return FT_ERR_IO;
        p += w;
        n -= (size_t)w;
        s->bytes += (uint64_t)w;
    }
    return FT_OK;
}

static void sink_open(struct file_sink *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(s->fd >= 0);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

/* BLAKE2b-256 of a file, computed here rather than by the transfer. */
static void hash_file(const char *path, uint8_t out[FT_HASH_BYTES])
{
    static uint8_t buf[1 << 16];
    struct ft_hash h;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;

    assert_true(fd >= 0);
    ft_hash_init(&h);
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        ft_hash_update(&h, buf, (size_t)r);
    assert_int_equal(r, 0);
    close(fd);
    ft_hash_final(&h, out);
}

/* Sends f->src through the pair and checks what came out of the sink. */
static void round_trip(struct fixture *f, uint32_t flags, bool size_known)
{
    uint64_t size = file_size(f->src);
    uint64_t expect = size_known ? size : FT_SIZE_UNKNOWN;
    struct ft_xfer_result res;
    struct file_sink sink;
    struct sender s;
    enum ft_err err;

    sink_open(&sink, f->dst);
    memset(&res, 0, sizeof(res));
    sender_start(&s, &f->snd, f->src, flags, expect);
    err = ft_xfer_recv(&f->rcv, flags, expect, NO_LIMIT, sink_write, &sink, NULL, &res);
    /* On failure, hang up first: a sender blocked on a full socket would
     * otherwise never return. */
    if (err != FT_OK)
        ft_conn_free(&f->rcv);
    sender_join(&s);
    close(sink.fd);
    assert_int_equal(err, FT_OK);
    assert_int_equal(s.err, FT_OK);
    assert_true(res.bytes == size);
    assert_true(s.res.bytes == size);
    assert_true(sink.bytes == size);
    assert_true(tu_files_equal(f->src, f->dst));
    if (flags & FT_XFER_VERIFY) {
        uint8_t want[FT_HASH_BYTES];

        hash_file(f->src, want);
        assert_true(res.verified);
        assert_memory_equal(res.digest, want, FT_HASH_BYTES);
        assert_memory_equal(s.res.digest, want, FT_HASH_BYTES);
    } else {
        assert_false(res.verified);
    }
}

static const uint32_t all_flags[] = {
    0,
    FT_XFER_COMPRESS,
    FT_XFER_VERIFY,
    FT_XFER_COMPRESS | FT_XFER_VERIFY,
};

static void round_trip_random(void **state, uint64_t size)
{
    struct fixture *f = *state;

    tu_write_random(f->src, size, (uint32_t)size + 1);
    for (size_t i = 0; i < sizeof(all_flags) / sizeof(all_flags[0]); i++)
        round_trip(f, all_flags[i], true);
}

static void test_empty(void **state)
{
    round_trip_random(state, 0);
}

static void test_one_byte(void **state)
{
    round_trip_random(state, 1);
}

static void test_one_mib_random(void **state)
{
    round_trip_random(state, 1u << 20);
}

/* Chunk boundaries: one byte either side of a whole number of chunks. */
static void test_chunk_boundaries(void **state)
{
    round_trip_random(state, FT_CHUNK_BYTES);
    round_trip_random(state, 2 * FT_CHUNK_BYTES + 1);
    round_trip_random(state, FT_CHUNK_BYTES - 1);
}

static void test_text(void **state)
{
    struct fixture *f = *state;

    tu_write_text(f->src, 1u << 20);
    for (size_t i = 0; i < sizeof(all_flags) / sizeof(all_flags[0]); i++)
        round_trip(f, all_flags[i], true);
}

/* Standard input: a size not known in advance. */
static void test_unknown_size(void **state)
{
    struct fixture *f = *state;

    tu_write_text(f->src, 300000);
    round_trip(f, FT_XFER_COMPRESS | FT_XFER_VERIFY, false);
    tu_write_random(f->src, 0, 1);
    round_trip(f, FT_XFER_VERIFY, false);
}

/* What the sender puts on the wire, frame by frame. */
struct wire_stats {
    unsigned data, data_z, end, other;
    uint64_t payload_bytes; /* of DATA and DATA_Z frames */
    uint64_t end_total;
    bool end_has_digest;
};

static struct wire_stats watch_send(struct fixture *f, uint32_t flags)
{
    struct wire_stats w;
    struct sender s;

    memset(&w, 0, sizeof(w));
    sender_start(&s, &f->snd, f->src, flags, file_size(f->src));
    for (;;) {
        struct ft_msg m;
        enum ft_err err = ft_conn_recv(&f->rcv, &m, TIMEOUT_MS);

        if (err != FT_OK) {
            ft_conn_free(&f->rcv);
            sender_join(&s);
            fail_msg("receive: %s", ft_err_name(err));
        }
        if (m.type == FT_MSG_DATA) {
            w.data++;
            assert_true(m.u.data.bytes.len <= FT_CHUNK_BYTES);
            w.payload_bytes += m.u.data.bytes.len;
        } else if (m.type == FT_MSG_DATA_Z) {
            w.data_z++;
            w.payload_bytes += m.u.data_z.deflated.len;
        } else if (m.type == FT_MSG_END) {
            w.end++;
            w.end_total = m.u.end.total;
            w.end_has_digest = m.u.end.has_digest;
            break;
        } else {
            w.other++;
        }
    }
    sender_join(&s);
    assert_int_equal(s.err, FT_OK);
    return w;
}

static void test_send_compresses_text(void **state)
{
    struct fixture *f = *state;
    struct wire_stats w;
    uint64_t size;

    tu_write_text(f->src, 1u << 20);
    size = file_size(f->src);
    w = watch_send(f, FT_XFER_COMPRESS | FT_XFER_VERIFY);
    assert_true(w.data_z > 0);
    assert_int_equal(w.other, 0);
    assert_true(w.payload_bytes < size / 2);
    assert_true(w.end_total == size);
    assert_true(w.end_has_digest);
}

/* Without the flag, text goes as plain DATA, and END has no digest
 * without FT_XFER_VERIFY. */
static void test_send_plain_without_flag(void **state)
{
    struct fixture *f = *state;
    struct wire_stats w;
    uint64_t size;

    tu_write_text(f->src, 1u << 20);
    size = file_size(f->src);
    w = watch_send(f, 0);
    assert_int_equal(w.data_z, 0);
    assert_true(w.data >= (size + FT_CHUNK_BYTES - 1) / FT_CHUNK_BYTES);
    assert_true(w.payload_bytes == size);
    assert_false(w.end_has_digest);
}

/* Random chunks do not shrink: they travel raw even when allowed. */
static void test_send_random_raw(void **state)
{
    struct fixture *f = *state;
    struct wire_stats w;

    tu_write_random(f->src, 1u << 20, 3);
    w = watch_send(f, FT_XFER_COMPRESS);
    assert_int_equal(w.data_z, 0);
    assert_int_equal(w.data, 4);
    assert_true(w.payload_bytes == 1u << 20);
}

/* The file is not the size the peer was told: no END goes out. */
static void test_send_file_shrank(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct ft_msg m;
    int fd;

    tu_write_bytes(f->src, "0123456789", 10);
    fd = open(f->src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    memset(&res, 0, sizeof(res));
    assert_int_equal(ft_xfer_send(&f->snd, fd, FT_XFER_VERIFY, 20, NULL, &res),
                     FT_ERR_CHANGED);
    close(fd);
    ft_conn_free(&f->snd);
    assert_int_equal(ft_conn_recv(&f->rcv, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DATA);
    assert_int_equal(ft_conn_recv(&f->rcv, &m, TIMEOUT_MS), FT_ERR_CLOSED);
}

static void test_send_file_grew(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct ft_msg m;
    int fd;

    tu_write_bytes(f->src, "0123456789", 10);
    fd = open(f->src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    memset(&res, 0, sizeof(res));
    assert_int_equal(ft_xfer_send(&f->snd, fd, 0, 5, NULL, &res), FT_ERR_CHANGED);
    close(fd);
    ft_conn_free(&f->snd);
    /* Not even the first chunk: it already held more than announced. */
    assert_int_equal(ft_conn_recv(&f->rcv, &m, TIMEOUT_MS), FT_ERR_CLOSED);
}

/* A refusal from the receiver (an ERROR frame waiting to be read) stops
 * the sender before it sends anything. */
static void test_send_stops_on_peer_error(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct ft_msg m;
    int fd;

    tu_write_bytes(f->src, "some data", 9);
    assert_int_equal(ft_conn_send_error(&f->rcv, FT_ERR_NO_SPACE, "disk %s",
                                        "full"),
                     FT_OK);
    fd = open(f->src, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    memset(&res, 0, sizeof(res));
    assert_int_equal(ft_xfer_send(&f->snd, fd, FT_XFER_VERIFY, 9, NULL, &res),
                     FT_ERR_NO_SPACE);
    close(fd);
    assert_string_equal(f->snd.peer_text, "disk full");
    ft_conn_free(&f->snd);
    assert_int_equal(ft_conn_recv(&f->rcv, &m, TIMEOUT_MS), FT_ERR_CLOSED);
}

/* Hand-built frames from the sending end. */
static void send_data(struct fixture *f, const void *p, size_t n)
{
    assert_int_equal(ft_conn_send_raw(&f->snd, FT_MSG_DATA, p, n), FT_OK);
}

static void send_end(struct fixture *f, uint64_t total, const uint8_t *digest)
{
    struct ft_msg m = { .type = FT_MSG_END };

    m.u.end.total = total;
    if (digest != NULL) {
        m.u.end.has_digest = true;
        memcpy(m.u.end.digest, digest, FT_DIGEST_BYTES);
    }
    assert_int_equal(ft_conn_send(&f->snd, &m), FT_OK);
}

static void digest_of(const void *p, size_t n, uint8_t out[FT_HASH_BYTES])
{
    struct ft_hash h;

    ft_hash_init(&h);
    ft_hash_update(&h, p, n);
    ft_hash_final(&h, out);
}

static enum ft_err recv_into_sink(struct fixture *f, uint32_t flags,
                                  uint64_t expect, uint64_t limit,
                                  struct file_sink *sink,
                                  struct ft_xfer_result *res)
{
    enum ft_err err;

    sink_open(sink, f->dst);
    memset(res, 0, sizeof(*res));
    err = ft_xfer_recv(&f->rcv, flags, expect, limit, sink_write, sink, NULL, res);
    close(sink->fd);
    return err;
}

static void test_hand_built_ok(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];

    digest_of("hello world", 11, d);
    send_data(f, "hello ", 6);
    send_data(f, "", 0);
    send_data(f, "world", 5);
    send_end(f, 11, d);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, 11, NO_LIMIT, &sink, &res),
                     FT_OK);
    assert_true(res.verified);
    assert_true(res.bytes == 11);
    assert_memory_equal(res.digest, d, FT_HASH_BYTES);
    tu_write_bytes(f->src, "hello world", 11);
    assert_true(tu_files_equal(f->src, f->dst));
}

static void test_wrong_digest(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];

    digest_of("hello worle", 11, d);
    send_data(f, "hello world", 11);
    send_end(f, 11, d);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, 11, NO_LIMIT, &sink, &res),
                     FT_ERR_INTEGRITY);
    assert_false(res.verified);
}

/* A single flipped bit in an otherwise right digest. */
static void test_digest_one_bit_off(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];

    digest_of("abc", 3, d);
    d[FT_HASH_BYTES - 1] ^= 1;
    send_data(f, "abc", 3);
    send_end(f, 3, d);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, 3, NO_LIMIT, &sink, &res),
                     FT_ERR_INTEGRITY);
    assert_false(res.verified);
}

/* Verification was agreed but END carries no digest. */
static void test_missing_digest(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    send_end(f, 3, NULL);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, 3, NO_LIMIT, &sink, &res),
                     FT_ERR_PROTOCOL);
    assert_false(res.verified);
}

/* Without FT_XFER_VERIFY nothing is checked, and nothing is claimed. */
static void test_no_verify_claims_nothing(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];

    memset(d, 0x33, sizeof(d));
    send_data(f, "abc", 3);
    send_end(f, 3, d);
    assert_int_equal(recv_into_sink(f, 0, 3, NO_LIMIT, &sink, &res), FT_OK);
    assert_false(res.verified);
    assert_true(res.bytes == 3);
}

static void test_end_total_mismatch(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    send_end(f, 4, NULL);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, NO_LIMIT, &sink, &res),
                     FT_ERR_PROTOCOL);
}

/* Fewer or more bytes than the size announced before the transfer. */
static void test_expect_size_mismatch(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    send_end(f, 3, NULL);
    assert_int_equal(recv_into_sink(f, 0, 4, NO_LIMIT, &sink, &res),
                     FT_ERR_PROTOCOL);

    send_data(f, "abcde", 5);
    send_end(f, 5, NULL);
    assert_int_equal(recv_into_sink(f, 0, 4, NO_LIMIT, &sink, &res),
                     FT_ERR_PROTOCOL);
    /* The excess never reached the sink. */
    assert_int_equal(sink.calls, 0);
}

static void test_over_limit(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t buf[600];

    memset(buf, 'L', sizeof(buf));
    send_data(f, buf, 600);
    send_data(f, buf, 600);
    send_end(f, 1200, NULL);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, 1000, &sink, &res),
                     FT_ERR_TOO_LARGE);
    /* Not one byte past the limit reached the sink (what arrived within
     * it may still have been in the receiver's slot: it is dropped). */
    assert_true(sink.bytes <= 1000);
}

/* One frame alone over the limit. */
static void test_over_limit_single_frame(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "0123456789", 10);
    send_end(f, 10, NULL);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, 9, &sink, &res),
                     FT_ERR_TOO_LARGE);
    assert_int_equal(sink.calls, 0);
}

/* Exactly the limit is fine. */
static void test_at_limit(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "0123456789", 10);
    send_end(f, 10, NULL);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, 10, &sink, &res),
                     FT_OK);
    assert_true(sink.bytes == 10);
}

/* A real sender that streams past the receiver's limit. */
static void test_over_limit_real_sender(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    struct sender s;
    enum ft_err err;

    tu_write_random(f->src, 1u << 20, 11);
    sink_open(&sink, f->dst);
    memset(&res, 0, sizeof(res));
    sender_start(&s, &f->snd, f->src, FT_XFER_VERIFY, FT_SIZE_UNKNOWN);
    err = ft_xfer_recv(&f->rcv, FT_XFER_VERIFY, FT_SIZE_UNKNOWN, 300000,
                       sink_write, &sink, NULL, &res);
    /* Hang up, so that a sender blocked on a full socket wakes. */
    ft_conn_free(&f->rcv);
    sender_join(&s);
    close(sink.fd);
    assert_int_equal(err, FT_ERR_TOO_LARGE);
    assert_true(sink.bytes <= 300000);
    assert_false(res.verified);
}

/* Deflates src with zlib directly and frames it as a DATA_Z payload. */
static uint8_t *make_data_z(const void *src, size_t n, uint32_t raw_len,
                            size_t *len)
{
    uLongf zlen = compressBound((uLong)n);
    uint8_t *p = malloc(FT_DATA_Z_HEADER_BYTES + zlen);

    assert_non_null(p);
    assert_int_equal(compress2(p + FT_DATA_Z_HEADER_BYTES, &zlen, src, (uLong)n, 6),
                     Z_OK);
    ft_msg_put_u32(p, raw_len);
    *len = FT_DATA_Z_HEADER_BYTES + zlen;
    return p;
}

static void test_data_z_not_agreed(void **state)
{
    static const char text[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];
    size_t len = 0;
    uint8_t *z = make_data_z(text, sizeof(text) - 1, sizeof(text) - 1, &len);

    digest_of(text, sizeof(text) - 1, d);
    assert_int_equal(ft_conn_send_raw(&f->snd, FT_MSG_DATA_Z, z, len), FT_OK);
    send_end(f, sizeof(text) - 1, d);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, FT_SIZE_UNKNOWN, NO_LIMIT,
                                    &sink, &res),
                     FT_ERR_PROTOCOL);
    assert_int_equal(sink.calls, 0);
    free(z);
}

/* The same frame is accepted when compression was agreed. */
static void test_data_z_agreed(void **state)
{
    static const char text[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t d[FT_HASH_BYTES];
    size_t len = 0;
    uint8_t *z = make_data_z(text, sizeof(text) - 1, sizeof(text) - 1, &len);

    assert_int_equal(ft_conn_send_raw(&f->snd, FT_MSG_DATA_Z, z, len), FT_OK);
    send_data(f, "!", 1);
    {
        /* The digest covers the decompressed bytes, then the raw one. */
        struct ft_hash h;

        ft_hash_init(&h);
        ft_hash_update(&h, text, sizeof(text) - 1);
        ft_hash_update(&h, "!", 1);
        ft_hash_final(&h, d);
    }
    send_end(f, sizeof(text), d);
    assert_int_equal(recv_into_sink(f, FT_XFER_COMPRESS | FT_XFER_VERIFY,
                                    sizeof(text), NO_LIMIT, &sink, &res),
                     FT_OK);
    assert_true(res.verified);
    assert_true(sink.bytes == sizeof(text));
    tu_write_bytes(f->src, text, sizeof(text) - 1);
    {
        int fd = open(f->src, O_WRONLY | O_APPEND | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "!", 1), 1);
        close(fd);
    }
    assert_true(tu_files_equal(f->src, f->dst));
    free(z);
}

/* A decompression bomb: 256 KiB of zeros announced as 1000 bytes. */
static void test_data_z_bomb(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    size_t big = 256 * 1024, len = 0;
    uint8_t *zeros = calloc(1, big);
    uint8_t *z;

    assert_non_null(zeros);
    z = make_data_z(zeros, big, 1000, &len);
    assert_int_equal(ft_conn_send_raw(&f->snd, FT_MSG_DATA_Z, z, len), FT_OK);
    send_end(f, 1000, NULL);
    assert_int_equal(recv_into_sink(f, FT_XFER_COMPRESS, FT_SIZE_UNKNOWN, NO_LIMIT,
                                    &sink, &res),
                     FT_ERR_PROTOCOL);
    assert_int_equal(sink.calls, 0);
    free(z);
    free(zeros);
}

/* The DATA_Z raw length counts against the limit, not the deflated one. */
static void test_data_z_counts_raw_bytes(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    size_t big = 100000, len = 0;
    uint8_t *zeros = calloc(1, big);
    uint8_t *z;

    assert_non_null(zeros);
    z = make_data_z(zeros, big, (uint32_t)big, &len);
    assert_true(len < 1000);
    assert_int_equal(ft_conn_send_raw(&f->snd, FT_MSG_DATA_Z, z, len), FT_OK);
    send_end(f, big, NULL);
    assert_int_equal(recv_into_sink(f, FT_XFER_COMPRESS, FT_SIZE_UNKNOWN, 50000,
                                    &sink, &res),
                     FT_ERR_TOO_LARGE);
    assert_int_equal(sink.calls, 0);
    free(z);
    free(zeros);
}

static void test_peer_error(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    assert_int_equal(ft_conn_send_error(&f->snd, FT_ERR_IO, "read failed\x1b[2J"),
                     FT_OK);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, FT_SIZE_UNKNOWN, NO_LIMIT,
                                    &sink, &res),
                     FT_ERR_IO);
    /* The text is kept, with its control bytes made harmless. */
    assert_string_equal(f->rcv.peer_text, "read failed\\x1b[2J");
}

static void test_unexpected_message(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    struct ft_msg m = { .type = FT_MSG_READY };

    send_data(f, "abc", 3);
    assert_int_equal(ft_conn_send(&f->snd, &m), FT_OK);
    send_end(f, 3, NULL);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, NO_LIMIT, &sink, &res),
                     FT_ERR_PROTOCOL);
}

static void test_sink_error_ends_transfer(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    send_data(f, "def", 3);
    send_end(f, 6, NULL);
    sink_open(&sink, f->dst);
    sink.fail_with = FT_ERR_NO_SPACE;
    memset(&res, 0, sizeof(res));
    assert_int_equal(ft_xfer_recv(&f->rcv, 0, 6, NO_LIMIT, sink_write, &sink, NULL, &res),
                     FT_ERR_NO_SPACE);
    close(sink.fd);
    assert_int_equal(sink.calls, 1);
}

static void test_peer_hangs_up(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;

    send_data(f, "abc", 3);
    ft_conn_free(&f->snd);
    assert_int_equal(recv_into_sink(f, FT_XFER_VERIFY, 10, NO_LIMIT, &sink, &res),
                     FT_ERR_CLOSED);
    assert_false(res.verified);
}

/* Half a frame, then the peer hangs up: a lost connection (as a reset),
 * which keeps an upload or a download for --continue, not a protocol
 * error. */
static void test_peer_hangs_up_mid_frame(void **state)
{
    struct fixture *f = *state;
    struct ft_xfer_result res;
    struct file_sink sink;
    static const uint8_t partial[] = { 0, 0, 0, 10, FT_MSG_DATA, 'a', 'b' };

    f->rcv.keepalives = true; /* past the handshake, as a transfer is */
    assert_int_equal(write(f->snd.fd, partial, sizeof(partial)),
                     (ssize_t)sizeof(partial));
    ft_conn_free(&f->snd);
    assert_int_equal(recv_into_sink(f, 0, FT_SIZE_UNKNOWN, NO_LIMIT, &sink, &res),
                     FT_ERR_CLOSED);
    assert_int_equal(sink.calls, 0);
}

/* A source that is no file: bytes in memory, read only at offsets, as a
 * store backend without a descriptor gives them (ft_store_file_reader). */
struct memory_source {
    const uint8_t *bytes;
    size_t size;
    unsigned reads;
};

static enum ft_err memory_read_at(const struct ft_reader *r, void *buf, size_t n,
                                  uint64_t off, size_t *got)
{
    struct memory_source *m = r->ctx;
    size_t left = off < m->size ? m->size - (size_t)off : 0;

    *got = n < left ? n : left;
    memcpy(buf, m->bytes + (off < m->size ? off : m->size), *got);
    m->reads++;
    return FT_OK;
}

struct reader_sender {
    pthread_t thread;
    struct ft_conn *c;
    struct ft_reader r;
    uint32_t flags;
    uint64_t size, offset;
    struct ft_xfer_result res;
    enum ft_err err;
};

static void *reader_sender_main(void *arg)
{
    struct reader_sender *s = arg;

    s->err = ft_xfer_send_reader(s->c, &s->r, s->flags, s->size, s->offset, NULL,
                                 NULL, &s->res);
    /* A sender that gave up says so by hanging up: the receiver then ends
     * at once rather than at its timeout. */
    if (s->err != FT_OK)
        shutdown(s->c->fd, SHUT_RDWR);
    return NULL;
}

/* A resumed transfer read through readers on both sides: the sender's
 * data from its offset and the prefix into the digest, the receiver's
 * prefix read back for the digest; no descriptor anywhere. */
static void test_send_reader_resumed(void **state)
{
    struct fixture *f = *state;
    const size_t size = 3 * 1024 * 1024 + 17, offset = 1024 * 1024;
    uint8_t *bytes = malloc(size);
    struct memory_source src = { .size = size }, prefix = { .size = offset };
    struct reader_sender s = { .c = &f->snd, .flags = FT_XFER_VERIFY | FT_XFER_COMPRESS,
                               .size = size, .offset = offset };
    struct ft_reader prefix_reader = { .read_at = memory_read_at, .ctx = &prefix,
                                       .fd = -1 };
    struct ft_xfer_result res;
    struct file_sink sink;
    uint8_t want[FT_HASH_BYTES];
    struct ft_hash h;
    enum ft_err err;

    assert_non_null(bytes);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (uint8_t)(i * 2654435761u >> 13);
    src.bytes = prefix.bytes = bytes;
    s.r = (struct ft_reader){ .read_at = memory_read_at, .ctx = &src, .fd = -1 };
    ft_hash_init(&h);
    ft_hash_update(&h, bytes, size);
    ft_hash_final(&h, want);
    sink_open(&sink, f->dst);
    memset(&res, 0, sizeof(res));
    assert_int_equal(pthread_create(&s.thread, NULL, reader_sender_main, &s), 0);
    err = ft_xfer_recv_from(&f->rcv, s.flags, size, NO_LIMIT, offset, &prefix_reader,
                            sink_write, &sink, NULL, &res);
    if (err != FT_OK)
        ft_conn_free(&f->rcv);
    assert_int_equal(pthread_join(s.thread, NULL), 0);
    close(sink.fd);
    assert_int_equal(err, FT_OK);
    assert_int_equal(s.err, FT_OK);
    assert_true(sink.bytes == size - offset);
    assert_true(res.verified);
    assert_memory_equal(res.digest, want, FT_HASH_BYTES);
    assert_memory_equal(s.res.digest, want, FT_HASH_BYTES);
    assert_true(src.reads > 1 && prefix.reads > 0);
    {
        FILE *out = fopen(f->dst, "rb");
        uint8_t *got = malloc(size - offset);

        assert_non_null(out);
        assert_non_null(got);
        assert_int_equal(fread(got, 1, size - offset, out), size - offset);
        fclose(out);
        assert_memory_equal(got, bytes + offset, size - offset);
        free(got);
    }
    free(bytes);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty),
        T(test_one_byte),
        T(test_one_mib_random),
        T(test_chunk_boundaries),
        T(test_text),
        T(test_unknown_size),
        T(test_send_compresses_text),
        T(test_send_plain_without_flag),
        T(test_send_random_raw),
        T(test_send_file_shrank),
        T(test_send_file_grew),
        T(test_send_stops_on_peer_error),
        T(test_hand_built_ok),
        T(test_wrong_digest),
        T(test_digest_one_bit_off),
        T(test_missing_digest),
        T(test_no_verify_claims_nothing),
        T(test_end_total_mismatch),
        T(test_expect_size_mismatch),
        T(test_over_limit),
        T(test_over_limit_single_frame),
        T(test_at_limit),
        T(test_over_limit_real_sender),
        T(test_data_z_not_agreed),
        T(test_data_z_agreed),
        T(test_data_z_bomb),
        T(test_data_z_counts_raw_bytes),
        T(test_peer_error),
        T(test_unexpected_message),
        T(test_sink_error_ends_transfer),
        T(test_peer_hangs_up),
        T(test_peer_hangs_up_mid_frame),
        T(test_send_reader_resumed),
    };

    return cmocka_run_group_tests(tests, setup_group, NULL);
}
