/* test_frame.c - the framing layer (src/frame.c) over socketpairs and pipes:
 * round trips of every size class, a reader fed one byte at a time, and the
 * hostile cases: a length over the cap, truncated frames, a clean close, a
 * stalled peer. Every test runs twice: reading with ft_frame_read, and
 * through an ft_frame_reader whose read-ahead buffer is smaller than some
 * payloads and larger than others. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ft/frame.h"

/* Long enough for a loaded machine, short enough to keep the suite fast.
 * Only the result is checked, never the elapsed time. */
#define STALL_TIMEOUT_MS 200

/* Plenty for every exchange here: a hang in the code under test still
 * ends, as a failure, instead of blocking the suite. */
#define LONG_TIMEOUT_MS 10000

enum kind { KIND_SOCKETPAIR, KIND_PIPE };

/* rd is the reading end, wr the writing end; -1 once closed. */
struct chan {
    int rd;
    int wr;
};

/* How frames are read: plainly, or through a reader (one per channel). */
static bool through_reader;
static struct ft_frame_reader reader;
static uint8_t reader_ahead[64];

static enum ft_err read_frame(int fd, void *buf, size_t cap,
                              struct ft_frame *out, int timeout_ms)
{
    if (!through_reader)
        return ft_frame_read(fd, buf, cap, out, timeout_ms);
    assert_int_equal(reader.fd, fd);
    return ft_frame_reader_next(&reader, buf, cap, out, timeout_ms);
}

static void chan_open(struct chan *ch, enum kind kind)
{
    int fds[2];

    if (kind == KIND_SOCKETPAIR)
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    else
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    ch->rd = fds[0];
    ch->wr = fds[1];
    ft_frame_reader_init(&reader, ch->rd, reader_ahead, sizeof(reader_ahead));
}

static void chan_close_writer(struct chan *ch)
{
    if (ch->wr >= 0)
        close(ch->wr);
    ch->wr = -1;
}

static void chan_close(struct chan *ch)
{
    chan_close_writer(ch);
    if (ch->rd >= 0)
        close(ch->rd);
    ch->rd = -1;
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    assert_true(flags >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* A deterministic payload, different for each length and seed. */
static uint8_t *make_payload(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    uint32_t x = 0x12345678u ^ seed;

    assert_non_null(p);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* Raw write that the test controls byte for byte (no frame layer). */
static bool raw_write(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void encode_header(uint8_t h[FT_FRAME_HEADER_BYTES], uint32_t len,
                          uint8_t type)
{
    h[0] = (uint8_t)(len >> 24);
    h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    h[4] = type;
}

/* A writer thread. It never calls cmocka (not thread-safe); the main
 * thread checks what it recorded after joining it. */
struct writer {
    pthread_t thread;
    int fd;
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    bool byte_at_a_time; /* raw write(), one byte per call */
    bool close_after;
    enum ft_err err;   /* of ft_frame_write */
    bool raw_ok;       /* of the byte-at-a-time writes */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    if (w->byte_at_a_time) {
        uint8_t h[FT_FRAME_HEADER_BYTES];

        encode_header(h, (uint32_t)w->len, w->type);
        w->raw_ok = true;
        for (size_t i = 0; i < sizeof(h) && w->raw_ok; i++)
            w->raw_ok = raw_write(w->fd, &h[i], 1);
        for (size_t i = 0; i < w->len && w->raw_ok; i++)
            w->raw_ok = raw_write(w->fd, &w->payload[i], 1);
    } else {
        w->err = ft_frame_write(w->fd, w->type, w->payload, w->len,
                                LONG_TIMEOUT_MS);
    }
    if (w->close_after)
        close(w->fd);
    return NULL;
}

static void writer_start(struct writer *w)
{
    assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

static void writer_join(struct writer *w)
{
    assert_int_equal(pthread_join(w->thread, NULL), 0);
}

/* Joins the writer once the reader is done. When the read failed, the
 * reading end is closed first, so that a writer stuck on a full buffer
 * fails (EPIPE; SIGPIPE is ignored) instead of never returning. */
static void reader_done(struct chan *ch, enum ft_err err, struct writer *w)
{
    if (err != FT_OK) {
        close(ch->rd);
        ch->rd = -1;
    }
    writer_join(w);
}

/* Sends one frame of len bytes from a writer thread and reads it back. */
static void round_trip(enum kind kind, size_t len, uint8_t type)
{
    struct chan ch;
    struct writer w;
    struct ft_frame f;
    uint8_t *payload = make_payload(len, (uint32_t)len);
    uint8_t *buf = malloc(FT_FRAME_MAX_PAYLOAD);
    uint8_t h[FT_FRAME_HEADER_BYTES];
    enum ft_err err;

    assert_non_null(buf);
    chan_open(&ch, kind);
    memset(&w, 0, sizeof(w));
    w.fd = ch.wr;
    w.type = type;
    w.payload = payload;
    w.len = len;
    writer_start(&w);
    err = read_frame(ch.rd, buf, FT_FRAME_MAX_PAYLOAD, &f, LONG_TIMEOUT_MS);
    reader_done(&ch, err, &w);
    assert_int_equal(err, FT_OK);
    assert_int_equal(w.err, FT_OK);
    assert_int_equal(f.type, type);
    assert_int_equal(f.len, len);
    assert_ptr_equal(f.payload, buf);
    if (len > 0)
        assert_memory_equal(buf, payload, len);
    encode_header(h, (uint32_t)len, type);
    assert_memory_equal(f.header, h, sizeof(h));
    /* Nothing more: the next read sees a clean end of stream. */
    chan_close_writer(&ch);
    assert_int_equal(read_frame(ch.rd, buf, FT_FRAME_MAX_PAYLOAD, &f,
                                   LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);
    free(buf);
    free(payload);
}

static void test_socketpair_empty(void **state)
{
    (void)state;
    round_trip(KIND_SOCKETPAIR, 0, 7);
}

static void test_socketpair_one_byte(void **state)
{
    (void)state;
    round_trip(KIND_SOCKETPAIR, 1, 9);
}

static void test_socketpair_max(void **state)
{
    (void)state;
    round_trip(KIND_SOCKETPAIR, FT_FRAME_MAX_PAYLOAD, 255);
}

static void test_pipe_empty(void **state)
{
    (void)state;
    round_trip(KIND_PIPE, 0, 0);
}

static void test_pipe_one_byte(void **state)
{
    (void)state;
    round_trip(KIND_PIPE, 1, 1);
}

static void test_pipe_max(void **state)
{
    (void)state;
    round_trip(KIND_PIPE, FT_FRAME_MAX_PAYLOAD, 10);
}

/* The exact bytes on the wire: big-endian length, type, payload. */
static void test_wire_format(void **state)
{
    static const uint8_t want[] = { 0, 0, 0, 3, 42, 'a', 'b', 'c' };
    struct chan ch;
    uint8_t got[sizeof(want) + 1];

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    assert_int_equal(ft_frame_write(ch.wr, 42, "abc", 3, LONG_TIMEOUT_MS), FT_OK);
    chan_close_writer(&ch);
    assert_int_equal(read(ch.rd, got, sizeof(got)), (ssize_t)sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
    chan_close(&ch);
}

/* Several frames back to back on one stream keep their boundaries. */
static void test_frames_in_sequence(void **state)
{
    static const size_t lens[] = { 5, 0, 1, 1000, 0, 3 };
    struct chan ch;
    uint8_t buf[1024];
    struct ft_frame f;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *p = make_payload(lens[i], (uint32_t)i);

        assert_int_equal(ft_frame_write(ch.wr, (uint8_t)(i + 1), p, lens[i],
                                        LONG_TIMEOUT_MS),
                         FT_OK);
        free(p);
    }
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *p = make_payload(lens[i], (uint32_t)i);

        assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f,
                                       LONG_TIMEOUT_MS),
                         FT_OK);
        assert_int_equal(f.type, i + 1);
        assert_int_equal(f.len, lens[i]);
        if (lens[i] > 0)
            assert_memory_equal(buf, p, lens[i]);
        free(p);
    }
    chan_close(&ch);
}

/* The reader gets the frame one byte per write() and must assemble it. */
static void one_byte_at_a_time(enum kind kind, size_t len)
{
    struct chan ch;
    struct writer w;
    struct ft_frame f;
    uint8_t *payload = make_payload(len, 77);
    uint8_t *buf = malloc(FT_FRAME_MAX_PAYLOAD);
    enum ft_err err;

    assert_non_null(buf);
    chan_open(&ch, kind);
    memset(&w, 0, sizeof(w));
    w.fd = ch.wr;
    w.type = 11;
    w.payload = payload;
    w.len = len;
    w.byte_at_a_time = true;
    writer_start(&w);
    err = read_frame(ch.rd, buf, FT_FRAME_MAX_PAYLOAD, &f, LONG_TIMEOUT_MS);
    reader_done(&ch, err, &w);
    assert_int_equal(err, FT_OK);
    assert_true(w.raw_ok);
    assert_int_equal(f.type, 11);
    assert_int_equal(f.len, len);
    if (len > 0)
        assert_memory_equal(buf, payload, len);
    chan_close(&ch);
    free(buf);
    free(payload);
}

static void test_one_byte_writes_socketpair(void **state)
{
    (void)state;
    one_byte_at_a_time(KIND_SOCKETPAIR, 2000);
}

static void test_one_byte_writes_pipe(void **state)
{
    (void)state;
    one_byte_at_a_time(KIND_PIPE, 2000);
}

static void test_one_byte_writes_empty_payload(void **state)
{
    (void)state;
    one_byte_at_a_time(KIND_PIPE, 0);
}

/* A length over cap is refused from the header alone: the payload bytes
 * are still unread in the stream afterwards. */
static void over_cap(uint32_t announced, size_t cap)
{
    static const uint8_t tail[] = { 'P', 'A', 'Y' };
    struct chan ch;
    struct ft_frame f;
    uint8_t h[FT_FRAME_HEADER_BYTES];
    uint8_t buf[64];
    uint8_t left[sizeof(tail) + 1];

    assert_true(cap <= sizeof(buf));
    chan_open(&ch, KIND_SOCKETPAIR);
    encode_header(h, announced, 9);
    assert_true(raw_write(ch.wr, h, sizeof(h)));
    assert_true(raw_write(ch.wr, tail, sizeof(tail)));
    chan_close_writer(&ch);
    memset(buf, 0xEE, sizeof(buf));
    assert_int_equal(read_frame(ch.rd, buf, cap, &f, LONG_TIMEOUT_MS),
                     FT_ERR_FRAME_TOO_BIG);
    assert_int_equal(f.len, announced);
    assert_memory_equal(f.header, h, sizeof(h));
    /* Not a byte of the payload was consumed nor stored: it is still in
     * the stream, or held by the reader for the next call. */
    if (through_reader) {
        assert_int_equal(reader.len - reader.pos, sizeof(tail));
        assert_memory_equal(reader.ahead + reader.pos, tail, sizeof(tail));
    } else {
        assert_int_equal(read(ch.rd, left, sizeof(left)), (ssize_t)sizeof(tail));
        assert_memory_equal(left, tail, sizeof(tail));
    }
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xEE);
    chan_close(&ch);
}

static void test_len_one_over_cap(void **state)
{
    (void)state;
    over_cap(17, 16);
}

static void test_len_over_max_payload(void **state)
{
    (void)state;
    over_cap(FT_FRAME_MAX_PAYLOAD + 1, 64);
}

static void test_len_all_ones(void **state)
{
    (void)state;
    over_cap(UINT32_MAX, 64);
}

/* A frame of exactly cap bytes is accepted. */
static void test_len_equal_to_cap(void **state)
{
    struct chan ch;
    struct ft_frame f;
    uint8_t buf[16];

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    assert_int_equal(ft_frame_write(ch.wr, 3, "0123456789abcdef", 16,
                                    LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(f.len, 16);
    assert_memory_equal(buf, "0123456789abcdef", 16);
    chan_close(&ch);
}

/* Writes the first n bytes of a frame announcing len bytes, then closes. */
static void truncated(enum kind kind, uint32_t len, size_t n)
{
    struct chan ch;
    struct ft_frame f;
    uint8_t *frame = malloc(FT_FRAME_HEADER_BYTES + len);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    uint8_t *payload = make_payload(len, 5);

    assert_non_null(frame);
    assert_non_null(buf);
    assert_true(n < FT_FRAME_HEADER_BYTES + (size_t)len);
    encode_header(frame, len, 9);
    memcpy(frame + FT_FRAME_HEADER_BYTES, payload, len);
    chan_open(&ch, kind);
    assert_true(raw_write(ch.wr, frame, n));
    chan_close_writer(&ch);
    assert_int_equal(read_frame(ch.rd, buf, len, &f, LONG_TIMEOUT_MS),
                     FT_ERR_PROTOCOL);
    chan_close(&ch);
    free(payload);
    free(buf);
    free(frame);
}

static void test_truncated_header_only(void **state)
{
    (void)state;
    truncated(KIND_SOCKETPAIR, 100, FT_FRAME_HEADER_BYTES);
    truncated(KIND_PIPE, 100, FT_FRAME_HEADER_BYTES);
}

static void test_truncated_half_payload(void **state)
{
    (void)state;
    truncated(KIND_SOCKETPAIR, 100, FT_FRAME_HEADER_BYTES + 50);
    truncated(KIND_PIPE, 100, FT_FRAME_HEADER_BYTES + 50);
}

static void test_truncated_one_byte_short(void **state)
{
    (void)state;
    truncated(KIND_SOCKETPAIR, 100, FT_FRAME_HEADER_BYTES + 99);
}

/* Every cut inside the header is a truncated frame, not a clean close. */
static void test_truncated_inside_header(void **state)
{
    (void)state;
    for (size_t n = 1; n < FT_FRAME_HEADER_BYTES; n++) {
        truncated(KIND_SOCKETPAIR, 0, n);
        truncated(KIND_PIPE, 10, n);
    }
}

static void test_clean_close(void **state)
{
    struct chan ch;
    struct ft_frame f;
    uint8_t buf[16];

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    chan_close_writer(&ch);
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);

    chan_open(&ch, KIND_PIPE);
    chan_close_writer(&ch);
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);
}

/* A clean close right after a whole frame: the frame, then CLOSED. */
static void test_close_after_frame(void **state)
{
    struct chan ch;
    struct ft_frame f;
    uint8_t buf[16];

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    assert_int_equal(ft_frame_write(ch.wr, 4, "xy", 2, LONG_TIMEOUT_MS), FT_OK);
    chan_close_writer(&ch);
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(f.len, 2);
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);
}

/* A peer that sends the first n bytes of a frame and then goes quiet
 * (without closing) on a non-blocking socket. */
static void stalled(size_t n)
{
    struct chan ch;
    struct ft_frame f;
    uint8_t frame[FT_FRAME_HEADER_BYTES + 10];
    uint8_t buf[16];

    encode_header(frame, 10, 9);
    memset(frame + FT_FRAME_HEADER_BYTES, 'z', 10);
    chan_open(&ch, KIND_SOCKETPAIR);
    set_nonblocking(ch.rd);
    assert_true(raw_write(ch.wr, frame, n));
    assert_int_equal(read_frame(ch.rd, buf, sizeof(buf), &f, STALL_TIMEOUT_MS),
                     FT_ERR_TIMEOUT);
    chan_close(&ch);
}

static void test_stalled_before_any_byte(void **state)
{
    (void)state;
    stalled(0);
}

static void test_stalled_inside_header(void **state)
{
    (void)state;
    stalled(3);
}

static void test_stalled_inside_payload(void **state)
{
    (void)state;
    stalled(FT_FRAME_HEADER_BYTES + 4);
}

/* A stalled reader: the writer on a non-blocking socket whose buffer fills
 * gives up at the deadline. */
static void test_write_to_stalled_peer_times_out(void **state)
{
    struct chan ch;
    uint8_t *payload = make_payload(FT_FRAME_MAX_PAYLOAD, 1);
    enum ft_err err = FT_OK;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    set_nonblocking(ch.wr);
    /* The socket buffer is finite; some write must block. Bounded loop so
     * a regression fails instead of running forever. */
    for (int i = 0; i < 1000 && err == FT_OK; i++)
        err = ft_frame_write(ch.wr, 9, payload, FT_FRAME_MAX_PAYLOAD,
                             STALL_TIMEOUT_MS);
    assert_int_equal(err, FT_ERR_TIMEOUT);
    chan_close(&ch);
    free(payload);
}

static void test_write_refuses_over_max(void **state)
{
    struct chan ch;
    uint8_t *payload = make_payload(FT_FRAME_MAX_PAYLOAD + 1, 2);
    uint8_t b;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    assert_int_equal(ft_frame_write(ch.wr, 9, payload, FT_FRAME_MAX_PAYLOAD + 1,
                                    LONG_TIMEOUT_MS),
                     FT_ERR_FRAME_TOO_BIG);
    assert_int_equal(ft_frame_write(ch.wr, 9, payload, SIZE_MAX, LONG_TIMEOUT_MS),
                     FT_ERR_FRAME_TOO_BIG);
    /* Nothing at all went out. */
    chan_close_writer(&ch);
    assert_int_equal(read(ch.rd, &b, 1), 0);
    chan_close(&ch);
    free(payload);
}

/* Writing to a socket whose peer is gone reports CLOSED (and does not
 * kill the process with SIGPIPE). */
static void test_write_to_closed_socket(void **state)
{
    struct chan ch;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    close(ch.rd);
    ch.rd = -1;
    assert_int_equal(ft_frame_write(ch.wr, 1, "abc", 3, LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);
}

/* Frames that arrive together are returned one at a time; the reader says
 * it holds the next while it does. */
static void test_reader_holds_frames_that_came_together(void **state)
{
    static const char both[] = { 0, 0, 0, 2, 7, 'h', 'i', 0, 0, 0, 1, 8, '!' };
    uint8_t ahead[32], buf[8];
    struct ft_frame_reader r;
    struct ft_frame f;
    struct chan ch;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    ft_frame_reader_init(&r, ch.rd, ahead, sizeof(ahead));
    assert_false(ft_frame_reader_holds(&r));
    assert_true(raw_write(ch.wr, both, sizeof(both)));
    assert_int_equal(ft_frame_reader_next(&r, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(f.type, 7);
    assert_int_equal(f.len, 2);
    assert_memory_equal(buf, "hi", 2);
    assert_true(ft_frame_reader_holds(&r));
    assert_int_equal(ft_frame_reader_next(&r, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(f.type, 8);
    assert_int_equal(f.len, 1);
    assert_memory_equal(buf, "!", 1);
    assert_false(ft_frame_reader_holds(&r));
    chan_close_writer(&ch);
    assert_int_equal(ft_frame_reader_next(&r, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_ERR_CLOSED);
    chan_close(&ch);
}

/* A timeout between frames loses nothing: part of a header that came
 * before it is kept, and the frame is whole once the rest arrives. */
static void test_reader_goes_on_after_timeout(void **state)
{
    static const char frame[] = { 0, 0, 0, 3, 9, 'a', 'b', 'c' };
    uint8_t ahead[16], buf[8];
    struct ft_frame_reader r;
    struct ft_frame f;
    struct chan ch;

    (void)state;
    chan_open(&ch, KIND_SOCKETPAIR);
    set_nonblocking(ch.rd);
    ft_frame_reader_init(&r, ch.rd, ahead, sizeof(ahead));
    assert_true(raw_write(ch.wr, frame, 3));
    assert_int_equal(ft_frame_reader_next(&r, buf, sizeof(buf), &f, STALL_TIMEOUT_MS),
                     FT_ERR_TIMEOUT);
    assert_true(raw_write(ch.wr, frame + 3, sizeof(frame) - 3));
    assert_int_equal(ft_frame_reader_next(&r, buf, sizeof(buf), &f, LONG_TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(f.type, 9);
    assert_int_equal(f.len, 3);
    assert_memory_equal(buf, "abc", 3);
    chan_close(&ch);
}

static int plainly(void **state)
{
    (void)state;
    through_reader = false;
    return 0;
}

static int with_reader(void **state)
{
    (void)state;
    through_reader = true;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socketpair_empty),
        cmocka_unit_test(test_socketpair_one_byte),
        cmocka_unit_test(test_socketpair_max),
        cmocka_unit_test(test_pipe_empty),
        cmocka_unit_test(test_pipe_one_byte),
        cmocka_unit_test(test_pipe_max),
        cmocka_unit_test(test_wire_format),
        cmocka_unit_test(test_frames_in_sequence),
        cmocka_unit_test(test_one_byte_writes_socketpair),
        cmocka_unit_test(test_one_byte_writes_pipe),
        cmocka_unit_test(test_one_byte_writes_empty_payload),
        cmocka_unit_test(test_len_one_over_cap),
        cmocka_unit_test(test_len_over_max_payload),
        cmocka_unit_test(test_len_all_ones),
        cmocka_unit_test(test_len_equal_to_cap),
        cmocka_unit_test(test_truncated_header_only),
        cmocka_unit_test(test_truncated_half_payload),
        cmocka_unit_test(test_truncated_one_byte_short),
        cmocka_unit_test(test_truncated_inside_header),
        cmocka_unit_test(test_clean_close),
        cmocka_unit_test(test_close_after_frame),
        cmocka_unit_test(test_stalled_before_any_byte),
        cmocka_unit_test(test_stalled_inside_header),
        cmocka_unit_test(test_stalled_inside_payload),
        cmocka_unit_test(test_write_to_stalled_peer_times_out),
        cmocka_unit_test(test_write_refuses_over_max),
        cmocka_unit_test(test_write_to_closed_socket),
        cmocka_unit_test(test_reader_holds_frames_that_came_together),
        cmocka_unit_test(test_reader_goes_on_after_timeout),
    };
    int failed;

    /* A pipe has no MSG_NOSIGNAL: a write to a closed one must fail with
     * EPIPE here, not kill the test program. */
    signal(SIGPIPE, SIG_IGN);
    failed = cmocka_run_group_tests_name("ft_frame_read", tests, plainly, NULL);
    failed += cmocka_run_group_tests_name("ft_frame_reader", tests, with_reader, NULL);
    return failed;
}
