/* test_conn.c - a connection (src/conn.c) over a socketpair: every message
 * kind through it, plain and sealed, the peer's ERROR, heartbeats on a
 * fake clock, and the socket options it asks of net.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "ft/net.h"
#include "hash.h"
#include "io.h"
#include "proto.h"

#define TIMEOUT_MS 10000

/* Two connected ends: a sends, b receives, unless a test says otherwise. */
struct pair {
    struct ft_conn a, b;
};

/* Connects a and b, each end of a socketpair in a connection. */
static int pair_open(struct pair *p)
{
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return -1;
    if (ft_conn_init(&p->a, fds[0], TIMEOUT_MS) != FT_OK)
        close(fds[1]);
    else if (ft_conn_init(&p->b, fds[1], TIMEOUT_MS) == FT_OK)
        return 0;
    return -1;
}

static void pair_close(struct pair *p)
{
    ft_conn_free(&p->a);
    ft_conn_free(&p->b);
}

static int setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));

    *state = p;
    return p == NULL ? -1 : pair_open(p);
}

static int teardown(void **state)
{
    pair_close(*state);
    free(*state);
    return 0;
}

static const uint8_t DIGESTS[2 * FT_HASH_BYTES] = { 1, 2, 3 };
static const uint8_t NOISE_BYTES[48] = { 0x5a, 0xa5 };

#define BYTES(s) { (const uint8_t *)(s), sizeof(s) - 1 }

/* One message of every kind that ft_conn_send encodes. */
static size_t every_message(struct ft_msg *m)
{
    size_t n = 0;

    m[n++] = (struct ft_msg){ .type = FT_MSG_HELLO,
                              .u.hello = { .version = 1, .features = 0x21 } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_WELCOME,
                              .u.welcome = { 1, 0x21, 65536 } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_ERROR,
                              .u.error = { FT_ERR_NOT_FOUND, BYTES("no such file") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_PUT,
                              .u.put = { FT_XFER_VERIFY | FT_XFER_META, 123,
                                         BYTES("a/b.txt"), 1700000000, 0644 } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_GET,
                              .u.get = { FT_XFER_VERIFY, BYTES("x") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_LIST,
                              .u.list = { FT_TREE_RECURSIVE, BYTES("dir") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_DELETE, .u.del = { 0, BYTES("old") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_READY, .u.ready = { 10, 5, 0755, 4 } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_END,
                              .u.end = { .total = 10, .has_digest = true,
                                         .digest = { 0xab, 0xcd } } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_DONE, .u.done = { 7 } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_ENTRY,
                              .u.entry = { 1, 2, FT_MODE_FILE | 0644, BYTES("e") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_NOISE,
                              .u.noise = { { NOISE_BYTES, sizeof(NOISE_BYTES) } } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_STAT,
                              .u.stat = { BYTES("s"), FT_STAT_NO_HASH } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_STAT_INFO,
                              .u.stat_info = { 9, 8, FT_MODE_FILE | 0600, { 7 } } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_MOVE,
                              .u.move = { BYTES("from"), BYTES("to") } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_SUMS,
                              .u.sums = { FT_RESUME_CHUNK_BYTES, 9, 8,
                                          { DIGESTS, sizeof(DIGESTS) } } };
    m[n++] = (struct ft_msg){ .type = FT_MSG_RESUME_AT,
                              .u.resume_at = { FT_RESUME_CHUNK_BYTES } };
    return n;
}

/* Sends every kind of message from a and checks that b receives each as
 * sent: the same type, and the same encoding. */
static void exchange_every_message(struct ft_conn *a, struct ft_conn *b)
{
    struct ft_msg sent[32];
    size_t n = every_message(sent);

    for (size_t i = 0; i < n; i++) {
        uint8_t want[512], got[512];
        size_t want_len = 0, got_len = 0;
        struct ft_msg m;

        assert_int_equal(ft_conn_send(a, &sent[i]), FT_OK);
        assert_int_equal(ft_conn_recv(b, &m, TIMEOUT_MS), FT_OK);
        assert_int_equal(m.type, sent[i].type);
        assert_int_equal(ft_msg_encode(&sent[i], want, sizeof(want), &want_len), FT_OK);
        assert_int_equal(ft_msg_encode(&m, got, sizeof(got), &got_len), FT_OK);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        assert_int_equal(b->last_len, want_len);
    }
}

/* The data frames, whose payloads the caller builds. */
static void exchange_data(struct ft_conn *a, struct ft_conn *b)
{
    uint8_t data[1000], z[14] = { 0, 0, 0, 100 };
    struct ft_msg m;

    memset(data, 'd', sizeof(data));
    memset(z + FT_DATA_Z_HEADER_BYTES, 'z', sizeof(z) - FT_DATA_Z_HEADER_BYTES);
    assert_int_equal(ft_conn_send_raw(a, FT_MSG_DATA, data, sizeof(data)), FT_OK);
    assert_int_equal(ft_conn_send_raw(a, FT_MSG_DATA_Z, z, sizeof(z)), FT_OK);
    assert_int_equal(ft_conn_recv(b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DATA);
    assert_int_equal(m.u.data.bytes.len, sizeof(data));
    assert_memory_equal(m.u.data.bytes.ptr, data, sizeof(data));
    assert_int_equal(ft_conn_recv(b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DATA_Z);
    assert_int_equal(m.u.data_z.raw_len, 100);
    assert_int_equal(m.u.data_z.deflated.len, sizeof(z) - FT_DATA_Z_HEADER_BYTES);
    assert_memory_equal(m.u.data_z.deflated.ptr, z + FT_DATA_Z_HEADER_BYTES,
                        sizeof(z) - FT_DATA_Z_HEADER_BYTES);
}

static void test_every_message_kind(void **state)
{
    struct pair *p = *state;

    exchange_every_message(&p->a, &p->b);
    exchange_data(&p->a, &p->b);
    exchange_every_message(&p->b, &p->a); /* and the other way */
}

/* Frames sent to wait for the next (MSG_MORE) arrive with it, in order. */
static void test_send_more(void **state)
{
    struct pair *p = *state;
    struct ft_msg ready = { .type = FT_MSG_READY, .u.ready = { .size = 3 } };
    struct ft_msg end = { .type = FT_MSG_END, .u.end = { .total = 3 } };
    struct ft_msg m;

    assert_int_equal(ft_conn_send_more(&p->a, &ready), FT_OK);
    assert_int_equal(ft_conn_send_raw_more(&p->a, FT_MSG_DATA, "abc", 3), FT_OK);
    assert_int_equal(ft_conn_send(&p->a, &end), FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_READY);
    assert_int_equal(m.u.ready.size, 3);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DATA);
    assert_memory_equal(m.u.data.bytes.ptr, "abc", 3);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_END);
    assert_int_equal(m.u.end.total, 3);
}

/* A KEEPALIVE before the handshake is done is a protocol error (a stranger
 * could hold a slot with them); after, it is skipped by recv. */
static void test_keepalive_only_after_handshake(void **state)
{
    struct pair *p = *state;
    struct ft_msg done = { .type = FT_MSG_DONE, .u.done = { 42 } };
    struct ft_msg m;

    assert_int_equal(ft_conn_send_keepalive(&p->a), FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_ERR_PROTOCOL);
    p->b.keepalives = true;
    assert_int_equal(ft_conn_send_keepalive(&p->a), FT_OK);
    assert_int_equal(ft_conn_send_keepalive(&p->a), FT_OK);
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DONE);
    assert_int_equal(m.u.done.count, 42);
}

/* Writes the first n bytes of cut on a fresh pair, closes that end, and
 * returns what the other end, past its handshake or not, reads. */
static enum ft_err read_cut(const uint8_t *cut, size_t n, bool handshake_done)
{
    struct pair q;
    struct ft_msg m;
    enum ft_err err;

    assert_int_equal(pair_open(&q), 0);
    q.b.keepalives = handshake_done;
    assert_int_equal(ft_io_write_full(q.a.fd, cut, n, FT_IO_NO_DEADLINE), FT_OK);
    assert_int_equal(shutdown(q.a.fd, SHUT_WR), 0);
    err = ft_conn_recv(&q.b, &m, TIMEOUT_MS);
    pair_close(&q);
    return err;
}

/* A peer that goes inside a frame (its header or its payload), before the
 * handshake is done: a stranger's bytes (PROTOCOL, which the server
 * answers as PROTOCOL.md 7.4 says); after it, a lost connection (CLOSED),
 * as a reset would be, so that a transfer is kept for --continue. A clean
 * close between frames is CLOSED either way. */
static void test_cut_frame_is_a_lost_connection(void **state)
{
    static const uint8_t frame[7] = { 0, 0, 0, 9, FT_MSG_DONE, 1, 2 };

    (void)state;
    for (int done = 0; done < 2; done++) {
        assert_int_equal(read_cut(frame, 3, done), done ? FT_ERR_CLOSED : FT_ERR_PROTOCOL);
        assert_int_equal(read_cut(frame, 7, done), done ? FT_ERR_CLOSED : FT_ERR_PROTOCOL);
        assert_int_equal(read_cut(frame, 0, done), FT_ERR_CLOSED);
    }
}

/* The peer's ERROR is kept as printable text: control bytes, C1 controls
 * included, raw or encoded, become \xNN; a code of 0 is a server failure,
 * not success. */
static void test_peer_error_kept(void **state)
{
    struct pair *p = *state;
    struct ft_msg m;

    assert_int_equal(ft_conn_send_error(&p->a, FT_ERR_NOT_FOUND, "no '%s'\x1b[2J\xc2\x9b\x9b",
                                        "f"),
                     FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(p->b.peer_code, FT_ERR_NOT_FOUND);
    assert_string_equal(p->b.peer_text, "no 'f'\\x1b[2J\\xc2\\x9b\\x9b");
    assert_int_equal(ft_conn_send_error(&p->a, FT_OK, "odd"), FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(p->b.peer_code, FT_ERR_SERVER);
    assert_string_equal(p->b.peer_text, "odd");
}

/* ft_conn_poll_error: nothing waiting is FT_OK; heartbeats are taken on
 * the way; an ERROR is the peer's code, any other frame a protocol error. */
static void test_poll_error(void **state)
{
    struct pair *p = *state;
    struct ft_msg done = { .type = FT_MSG_DONE };

    p->b.keepalives = true;
    assert_int_equal(ft_conn_poll_error(&p->b), FT_OK);
    assert_int_equal(ft_conn_send_keepalive(&p->a), FT_OK);
    assert_int_equal(ft_conn_poll_error(&p->b), FT_OK);
    assert_int_equal(ft_conn_send_error(&p->a, FT_ERR_NO_SPACE, "full"), FT_OK);
    assert_int_equal(ft_conn_poll_error(&p->b), FT_ERR_NO_SPACE);
    assert_string_equal(p->b.peer_text, "full");
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_int_equal(ft_conn_poll_error(&p->b), FT_ERR_PROTOCOL);
}

/* Pacing: on time, no wait; a sender that must wait but listens ends at
 * its peer's word, which is already there. */
static void test_pace(void **state)
{
    struct pair *p = *state;

    assert_int_equal(ft_conn_pace(&p->a, 0, ft_io_now_ms(), UINT64_MAX / 2, true),
                     FT_OK);
    assert_int_equal(ft_conn_pace(&p->a, 1000, ft_io_now_ms() - 10000, 1000, true),
                     FT_OK);
    assert_int_equal(ft_conn_send_error(&p->b, FT_ERR_DENIED, "stop"), FT_OK);
    /* An hour's wait, cut short. */
    assert_int_equal(ft_conn_pace(&p->a, 1, ft_io_now_ms(), 3600, true),
                     FT_ERR_DENIED);
}

/* recv_into puts the payload in the caller's buffer, and takes no frame
 * larger than it. */
static void test_recv_into(void **state)
{
    struct pair *p = *state;
    uint8_t data[1000], buf[1024];
    struct ft_msg m;

    memset(data, 'r', sizeof(data));
    assert_int_equal(ft_conn_send_raw(&p->a, FT_MSG_DATA, data, sizeof(data)), FT_OK);
    assert_int_equal(ft_conn_recv_into(&p->b, buf, sizeof(buf), &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DATA);
    assert_ptr_equal(m.u.data.bytes.ptr, buf);
    assert_memory_equal(buf, data, sizeof(data));
    assert_int_equal(ft_conn_send_raw(&p->a, FT_MSG_DATA, data, sizeof(data)), FT_OK);
    assert_int_equal(ft_conn_recv_into(&p->b, buf, 100, &m, TIMEOUT_MS),
                     FT_ERR_FRAME_TOO_BIG);
}

/* Seals a to send with key 0x11.. and receive with 0x22.., b the other way
 * round: what a finished handshake hands over, with fixed keys. */
static void seal_both(struct ft_conn *a, struct ft_conn *b)
{
    struct ft_noise_cipherstate one = { .cipher = FT_NOISE_CHACHAPOLY, .has_key = true };
    struct ft_noise_cipherstate two = one, one_b, two_b;

    memset(one.k, 0x11, sizeof(one.k));
    memset(two.k, 0x22, sizeof(two.k));
    one_b = one;
    two_b = two;
    assert_int_equal(ft_conn_seal(a, &one, &two), FT_OK);
    assert_int_equal(ft_conn_seal(b, &two_b, &one_b), FT_OK);
    assert_false(one.has_key); /* taken over, and wiped where they were */
    assert_false(two_b.has_key);
}

static void test_sealed_pair(void **state)
{
    struct pair *p = *state;

    seal_both(&p->a, &p->b);
    assert_true(p->a.sealed && p->b.sealed);
    assert_true(p->a.send_chunk + FT_DATA_Z_HEADER_BYTES <= FT_NOISE_MAX_PAYLOAD_BYTES);
    assert_true(p->a.max_payload <= FT_NOISE_MAX_MESSAGE_BYTES);
    exchange_every_message(&p->a, &p->b);
    exchange_data(&p->a, &p->b);
    exchange_every_message(&p->b, &p->a);
}

/* A sealed sender s and receiver r with the wire between them in the
 * test's hands: what s sends is read from wire_in, what r receives is
 * written to wire_out. */
struct relay {
    struct ft_conn s, r;
    int wire_in, wire_out;
};

static void relay_open(struct relay *x)
{
    int one[2], two[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, one), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, two), 0);
    assert_int_equal(ft_conn_init(&x->s, one[0], TIMEOUT_MS), FT_OK);
    assert_int_equal(ft_conn_init(&x->r, two[1], TIMEOUT_MS), FT_OK);
    x->wire_in = one[1];
    x->wire_out = two[0];
    seal_both(&x->s, &x->r);
}

static void relay_close(struct relay *x)
{
    ft_conn_free(&x->s);
    ft_conn_free(&x->r);
    close(x->wire_in);
    close(x->wire_out);
}

/* s sends a DONE; the frame it put on the wire is read into wire. */
static size_t relay_take(struct relay *x, uint8_t *wire, size_t cap)
{
    struct ft_msg done = { .type = FT_MSG_DONE, .u.done = { 5 } };
    uint8_t clear[64];
    size_t len = 0;
    ssize_t n;

    assert_int_equal(ft_msg_encode(&done, clear, sizeof(clear), &len), FT_OK);
    assert_int_equal(ft_conn_send(&x->s, &done), FT_OK);
    n = read(x->wire_in, wire, cap);
    assert_int_equal(n, FT_FRAME_HEADER_BYTES + len + FT_NOISE_TAG_BYTES);
    return (size_t)n;
}

/* Puts n bytes on r's wire; what r makes of them. */
static enum ft_err relay_give(struct relay *x, const uint8_t *wire, size_t n)
{
    struct ft_msg m;

    assert_int_equal(write(x->wire_out, wire, n), (ssize_t)n);
    return ft_conn_recv(&x->r, &m, TIMEOUT_MS);
}

/* On a sealed connection a frame replayed, altered on the way (its
 * payload, or its header: it is authenticated too), or sent in clear is
 * refused as tampered. */
static void test_sealed_refuses_tampering(void **state)
{
    uint8_t wire[256], clear[32] = { 0 };
    struct relay x;
    size_t n;

    (void)state;
    relay_open(&x);
    n = relay_take(&x, wire, sizeof(wire));
    assert_int_equal(relay_give(&x, wire, n), FT_OK);
    assert_int_equal(relay_give(&x, wire, n), FT_ERR_TAMPERED);
    relay_close(&x);

    relay_open(&x);
    n = relay_take(&x, wire, sizeof(wire));
    wire[n - 1] ^= 1;
    assert_int_equal(relay_give(&x, wire, n), FT_ERR_TAMPERED);
    relay_close(&x);

    relay_open(&x);
    n = relay_take(&x, wire, sizeof(wire));
    wire[4] = FT_MSG_END;
    assert_int_equal(relay_give(&x, wire, n), FT_ERR_TAMPERED);
    relay_close(&x);

    relay_open(&x);
    assert_int_equal(ft_frame_write(x.wire_out, FT_MSG_NOISE, clear, sizeof(clear),
                                    TIMEOUT_MS),
                     FT_OK);
    assert_int_equal(relay_give(&x, wire, 0), FT_ERR_TAMPERED);
    relay_close(&x);
}

static int64_t fake_ms;

static int64_t fake_now(void)
{
    return fake_ms;
}

/* Whether a frame (or any byte) waits on fd. */
static bool bytes_wait(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) > 0;
}

/* Batched frames leave together: when the batch is turned off, when a
 * heartbeat is due (in place of a KEEPALIVE), and before a receive (the
 * peer may wait for them before it answers); each arrives whole and in
 * order. */
static void test_batch(void **state)
{
    struct pair *p = *state;
    struct ft_msg chunk = { .type = FT_MSG_DELTA_CHUNK,
                            .u.delta_chunk = { .length = 3 } };
    struct ft_msg done = { .type = FT_MSG_DONE, .u.done = { 7 } };
    struct ft_msg m;

    p->a.now_ms = fake_now;
    fake_ms = 1000;
    p->a.beat_ms = fake_ms;
    assert_int_equal(ft_conn_batch(&p->a, true), FT_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ft_conn_send(&p->a, &chunk), FT_OK);
        assert_int_equal(ft_conn_send_raw(&p->a, FT_MSG_DATA, "abc", 3), FT_OK);
    }
    assert_false(bytes_wait(p->b.fd));
    fake_ms += FT_HEARTBEAT_MS;
    assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
        assert_int_equal(m.type, FT_MSG_DELTA_CHUNK);
        assert_int_equal(m.u.delta_chunk.length, 3);
        assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
        assert_int_equal(m.type, FT_MSG_DATA);
        assert_memory_equal(m.u.data.bytes.ptr, "abc", 3);
    }
    assert_false(bytes_wait(p->b.fd)); /* no KEEPALIVE besides */
    assert_int_equal(ft_conn_send(&p->a, &chunk), FT_OK);
    assert_false(bytes_wait(p->b.fd));
    assert_int_equal(ft_conn_send(&p->b, &done), FT_OK);
    assert_int_equal(ft_conn_recv(&p->a, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DONE);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DELTA_CHUNK);
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_false(bytes_wait(p->b.fd));
    assert_int_equal(ft_conn_batch(&p->a, false), FT_OK);
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_DONE);
    assert_int_equal(m.u.done.count, 7);
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK); /* off: at once */
    assert_true(bytes_wait(p->b.fd));
}

/* Reads the frame waiting on fd, whole, and returns its type. */
static uint8_t frame_type(int fd)
{
    uint8_t buf[64];
    struct ft_frame f;

    assert_int_equal(ft_frame_read(fd, buf, sizeof(buf), &f, TIMEOUT_MS), FT_OK);
    return f.type;
}

/* How many frames wait on fd; each must be a KEEPALIVE. */
static int keepalives_waiting(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int n = 0;

    for (; poll(&pfd, 1, 0) > 0; n++)
        assert_int_equal(frame_type(fd), FT_MSG_KEEPALIVE);
    return n;
}

/* One KEEPALIVE once FT_HEARTBEAT_MS have passed since the last frame a
 * sent, a KEEPALIVE or any other, on a's clock (a fake one here); however
 * often it is asked, at most one per FT_HEARTBEAT_MS. b's end is read as
 * bare frames. */
/* The next heartbeat of c comes FT_HEARTBEAT_MS after now, not before. */
static void assert_beat_a_heartbeat_later(struct ft_conn *c, int wire)
{
    fake_ms += FT_HEARTBEAT_MS - 1;
    assert_int_equal(ft_conn_heartbeat(c), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 0);
    fake_ms += 1;
    assert_int_equal(ft_conn_heartbeat(c), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 1);
}

static void test_heartbeat(void **state)
{
    struct pair *p = *state;
    struct ft_msg done = { .type = FT_MSG_DONE };
    struct ft_msg m;
    int wire = p->b.fd;

    p->a.now_ms = fake_now;
    fake_ms = 5000;
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_int_equal(frame_type(wire), FT_MSG_DONE);
    fake_ms = 5000 + FT_HEARTBEAT_MS - 1;
    assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 0);
    fake_ms = 5000 + FT_HEARTBEAT_MS;
    assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 1);
    fake_ms = 5000 + 2 * FT_HEARTBEAT_MS;
    assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 1);
    /* Any frame sent puts the next heartbeat off. */
    fake_ms += FT_HEARTBEAT_MS / 2;
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_int_equal(frame_type(wire), FT_MSG_DONE);
    assert_beat_a_heartbeat_later(&p->a, wire);
    /* Any frame received too: the peer's wait for us starts then. */
    fake_ms += FT_HEARTBEAT_MS / 2;
    assert_int_equal(ft_conn_send(&p->b, &done), FT_OK);
    assert_int_equal(ft_conn_recv(&p->a, &m, 1000), FT_OK);
    assert_int_equal(m.type, FT_MSG_DONE);
    assert_beat_a_heartbeat_later(&p->a, wire);
    /* Asked every 7 ms for ten heartbeats' time, from one due: ten. */
    fake_ms += FT_HEARTBEAT_MS;
    for (int64_t end = fake_ms + 10 * FT_HEARTBEAT_MS; fake_ms < end; fake_ms += 7)
        assert_int_equal(ft_conn_heartbeat(&p->a), FT_OK);
    assert_int_equal(keepalives_waiting(wire), 10);
}

/* Cork on a descriptor that is not a TCP socket does nothing: what is
 * sent goes at once. Nor can such a socket tell its unsent bytes. */
static void test_cork_not_tcp(void **state)
{
    struct pair *p = *state;
    struct ft_msg done = { .type = FT_MSG_DONE, .u.done = { 9 } };
    struct ft_msg m;
    size_t unsent = 0;
    int fds[2];
    char c = 0;

    ft_conn_cork(&p->a, true);
    assert_int_equal(ft_conn_send(&p->a, &done), FT_OK);
    assert_true(ft_conn_input_waits(&p->b, 0));
    assert_int_equal(ft_conn_recv(&p->b, &m, TIMEOUT_MS), FT_OK);
    assert_int_equal(m.u.done.count, 9);
    ft_conn_cork(&p->a, false);
    assert_false(ft_net_unsent(p->a.fd, &unsent));
    assert_int_equal(pipe(fds), 0);
    ft_net_cork(fds[1], true);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(read(fds[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    assert_false(ft_net_unsent(fds[1], &unsent));
    close(fds[0]);
    close(fds[1]);
}

/* The backlog that tells -z whether the link holds the sender back: none
 * on an idle TCP connection, far more than a chunk once the peer does not
 * read. */
static void test_unsent_backlog(void **state)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t len = sizeof(addr);
    char buf[65536];
    int lfd, cfd, sfd, small = 65536, big = 1 << 20;
    size_t unsent = 0;

    (void)state;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);
    close(lfd);
    /* A small receive window fills fast; a large send buffer then holds
     * far more than a chunk unsent. */
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    assert_true(ft_net_unsent(cfd, &unsent));
    assert_int_equal(unsent, 0);
    memset(buf, 'b', sizeof(buf));
    fcntl(cfd, F_SETFL, O_NONBLOCK);
    while (write(cfd, buf, sizeof(buf)) > 0)
        ;
    assert_int_equal(errno, EAGAIN);
    assert_true(ft_net_unsent(cfd, &unsent));
    assert_true(unsent > 4 * 16384);
    close(cfd);
    close(sfd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_message_kind),
        T(test_send_more),
        T(test_keepalive_only_after_handshake),
        T(test_cut_frame_is_a_lost_connection),
        T(test_peer_error_kept),
        T(test_poll_error),
        T(test_pace),
        T(test_recv_into),
        T(test_sealed_pair),
        cmocka_unit_test(test_sealed_refuses_tampering),
        T(test_heartbeat),
        T(test_batch),
        T(test_cork_not_tcp),
        cmocka_unit_test(test_unsent_backlog),
    };

    if (ft_hash_library_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
