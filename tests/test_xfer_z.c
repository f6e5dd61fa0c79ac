/* test_xfer_z.c - the adaptive -z policy (src/xfer_z.c) on a simulated
 * link: a fake clock and a socket whose unsent bytes drain at the link's
 * rate, so that each case says what the policy does on a link of a given
 * speed, with no real time or socket involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "xfer_z.h"

#define CHUNK (64u * 1024u)
#define CHUNKS_PER_EPOCH (FT_XFER_Z_EPOCH_BYTES / CHUNK)
#define CHUNKS_PER_TRY (FT_XFER_Z_TRY_BYTES / CHUNK)
#define MIB (1024.0 * 1024.0)

/* The sender's side of a link: the clock, and the bytes written to the
 * socket that wait there until the link takes them. */
struct link {
    int64_t now_us;
    double unsent;
    double sndbuf;    /* what the socket holds at most */
    double link_bps;  /* bytes per second the link takes */
    double write_bps; /* bytes per second a write copies into the socket */
    bool known;       /* false: the socket cannot tell its unsent bytes */
};

/* What is sent: how fast deflate goes through it, and what it shrinks
 * to (1 or more: it does not shrink). */
struct data {
    double deflate_bps;
    double ratio;
};

static int64_t link_now(void *ctx)
{
    return ((const struct link *)ctx)->now_us;
}

static bool link_unsent(void *ctx, size_t *bytes)
{
    const struct link *l = ctx;

    if (!l->known)
        return false;
    *bytes = (size_t)l->unsent;
    return true;
}

static void policy_start(struct ft_xfer_z *z, struct link *l)
{
    struct ft_xfer_z_probe probe = { .now_us = link_now, .unsent = link_unsent,
                                     .ctx = l };

    ft_xfer_z_init(z, CHUNK, &probe);
}

/* us pass: the link takes what waits, as fast as it can. */
static void elapse(struct link *l, double us)
{
    int64_t whole = (int64_t)us + 1;

    l->now_us += whole;
    l->unsent -= l->link_bps * (double)whole / 1e6;
    if (l->unsent < 0)
        l->unsent = 0;
}

/* Writes n bytes into the socket: a copy, and a wait while it is full. */
static void write_bytes(struct link *l, double n)
{
    double over;

    elapse(l, n * 1e6 / l->write_bps);
    over = l->unsent + n - l->sndbuf;
    if (over > 0)
        elapse(l, over * 1e6 / l->link_bps);
    l->unsent += n;
}

/* Sends one chunk as xfer.c does, asking the policy first and telling it
 * after; true when it went deflated. */
static bool send_one(struct ft_xfer_z *z, struct link *l, const struct data *d)
{
    double us;

    if (!ft_xfer_z_next(z)) {
        write_bytes(l, CHUNK);
        ft_xfer_z_sent(z, CHUNK, 0);
        return false;
    }
    us = CHUNK * 1e6 / d->deflate_bps;
    elapse(l, us);
    if (d->ratio >= 1) {
        ft_xfer_z_no_gain(z);
        write_bytes(l, CHUNK);
        return false;
    }
    write_bytes(l, CHUNK * d->ratio);
    ft_xfer_z_sent(z, CHUNK, (int64_t)us);
    return true;
}

/* Sends chunks of data, returning how many went deflated. */
static size_t send_many(struct ft_xfer_z *z, struct link *l, const struct data *d,
                        size_t chunks)
{
    size_t deflated = 0;

    for (size_t i = 0; i < chunks; i++)
        deflated += send_one(z, l, d);
    return deflated;
}

/* A 10 Gbit/s link, idle, and text that deflate shrinks to 30% at
 * 100 MB/s. */
static const struct link FAST = { .sndbuf = MIB, .link_bps = 1250 * 1e6,
                                  .write_bps = 4e9, .known = true };
static const struct data TEXT = { .deflate_bps = 100e6, .ratio = 0.3 };

/* A fast link takes raw data faster than deflate makes it: after one try
 * that did not pay, no chunk goes through deflate again. */
static void test_fast_link_tries_once(void **state)
{
    struct link l = FAST;
    struct ft_xfer_z z;

    (void)state;
    policy_start(&z, &l);
    assert_false(z.deflating); /* an idle socket: nothing lags yet */
    assert_int_equal(send_many(&z, &l, &TEXT, 4096), CHUNKS_PER_TRY);
    assert_false(z.deflating);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL);
}

/* A slow link lags, and deflate moves the data more than FT_XFER_Z_GAIN
 * faster: it stays on, and the level rises while the link stays far
 * behind, one step per epoch, up to the highest. */
static void test_slow_link_keeps_deflating(void **state)
{
    struct link l = { .sndbuf = MIB, .link_bps = 10e6, .write_bps = 4e9,
                      .known = true };
    struct data text = { .deflate_bps = 100e6, .ratio = 0.25 };
    struct ft_xfer_z z;
    size_t deflated = 0, chunks = 1024;
    int level = FT_XFER_Z_LEVEL;

    (void)state;
    policy_start(&z, &l);
    for (size_t i = 0; i < chunks; i++) {
        deflated += send_one(&z, &l, &text);
        assert_true(ft_xfer_z_level(&z) == level || ft_xfer_z_level(&z) == level + 1);
        level = ft_xfer_z_level(&z);
    }
    assert_true(z.deflating);
    assert_int_equal(level, FT_XFER_Z_MAX_LEVEL);
    /* Only the first epochs went raw: the one that filled the socket, and
     * one more after a first try was measured against it. */
    assert_true(deflated >= chunks - 2 * CHUNKS_PER_EPOCH - CHUNKS_PER_TRY);
}

/* Data that does not shrink stops deflate at once, and the raw stretch
 * between tries doubles, up to FT_XFER_Z_MAX_RAW_EPOCHS epochs. */
static void test_incompressible_backs_off(void **state)
{
    struct link l = { .unsent = MIB, .sndbuf = MIB, .link_bps = 10e6,
                      .write_bps = 4e9, .known = true };
    struct data random = { .deflate_bps = 100e6, .ratio = 1.0 };
    struct ft_xfer_z z;
    unsigned expect = 1;

    (void)state;
    policy_start(&z, &l);
    assert_true(z.deflating); /* the link already lags: deflate at once */
    for (int tries = 0; tries < 14; tries++) {
        size_t raw = 0;

        assert_true(z.deflating);
        assert_false(send_one(&z, &l, &random)); /* the try: no gain */
        while (!z.deflating && raw <= (size_t)expect * CHUNKS_PER_EPOCH) {
            assert_false(send_one(&z, &l, &random));
            raw++;
        }
        assert_int_equal(raw, (size_t)expect * CHUNKS_PER_EPOCH);
        if (expect < FT_XFER_Z_MAX_RAW_EPOCHS)
            expect *= 2;
    }
    assert_int_equal(expect, FT_XFER_Z_MAX_RAW_EPOCHS);
}

/* A socket that cannot tell its unsent bytes (not TCP): -z compresses as
 * asked, every chunk, at the first level. */
static void test_unknown_backlog_always_deflates(void **state)
{
    struct link l = FAST;
    struct ft_xfer_z z;

    (void)state;
    l.known = false;
    policy_start(&z, &l);
    assert_int_equal(send_many(&z, &l, &TEXT, 512), 512);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL);
}

/* One epoch of chunks, us each, deflated (in half that time) or raw, as
 * the policy must say, with unsent bytes waiting in the socket at its end. */
static void epoch(struct ft_xfer_z *z, struct link *l, bool deflated, int64_t us,
                  double unsent)
{
    size_t chunks = deflated ? CHUNKS_PER_TRY : CHUNKS_PER_EPOCH;

    for (size_t i = 0; i < chunks; i++) {
        assert_int_equal(ft_xfer_z_next(z), deflated);
        l->now_us += us;
        if (i == chunks - 1)
            l->unsent = unsent;
        ft_xfer_z_sent(z, CHUNK, deflated ? us / 2 : 0);
    }
}

/* The level follows the lag: up while FT_XFER_Z_LAG_UP chunks or more
 * wait, down while fewer than FT_XFER_Z_LAG_DOWN do, never below the
 * first; with none waiting, the link keeps up raw and deflate stops. */
static void test_level_follows_lag(void **state)
{
    struct link l = { .unsent = 8.0 * CHUNK, .known = true };
    struct ft_xfer_z z;

    (void)state;
    policy_start(&z, &l);
    epoch(&z, &l, true, 1000, FT_XFER_Z_LAG_UP * CHUNK);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL + 1);
    epoch(&z, &l, true, 1000, 2.0 * FT_XFER_Z_LAG_UP * CHUNK);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL + 2);
    epoch(&z, &l, true, 1000, FT_XFER_Z_LAG_DOWN * CHUNK); /* in between */
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL + 2);
    epoch(&z, &l, true, 1000, CHUNK);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL + 1);
    epoch(&z, &l, true, 1000, CHUNK);
    epoch(&z, &l, true, 1000, CHUNK);
    assert_int_equal(ft_xfer_z_level(&z), FT_XFER_Z_LEVEL);
    assert_true(z.deflating);
    epoch(&z, &l, true, 1000, 0);
    assert_false(z.deflating);
}

/* A peer slow for want of CPU: the socket stays full, but deflate moves
 * the data no faster than raw did. It is dropped after each try, tried
 * again after 1, 2, 4 raw epochs; a try that pays starts the count over. */
static void test_no_gain_over_raw_backs_off(void **state)
{
    struct link l = { .known = true };
    double full = 16.0 * CHUNK;
    struct ft_xfer_z z;

    (void)state;
    policy_start(&z, &l);
    epoch(&z, &l, false, 1000, full);
    for (unsigned gap = 1; gap <= 4; gap *= 2) {
        assert_true(z.deflating);
        epoch(&z, &l, true, 1000, full); /* the same pace as raw */
        for (unsigned i = 0; i < gap; i++) {
            assert_false(z.deflating);
            epoch(&z, &l, false, 1000, full);
        }
    }
    epoch(&z, &l, true, 500, full); /* twice as fast: it pays */
    assert_true(z.deflating);
    epoch(&z, &l, true, 1000, full); /* no more: back to raw, for one */
    assert_false(z.deflating);
    epoch(&z, &l, false, 1000, full);
    assert_true(z.deflating);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_link_tries_once),
        cmocka_unit_test(test_slow_link_keeps_deflating),
        cmocka_unit_test(test_incompressible_backs_off),
        cmocka_unit_test(test_unknown_backlog_always_deflates),
        cmocka_unit_test(test_level_follows_lag),
        cmocka_unit_test(test_no_gain_over_raw_backs_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
