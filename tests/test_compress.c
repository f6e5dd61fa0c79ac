/* test_compress.c - per-chunk zlib (src/compress.c): what shrinks is sent
 * compressed and comes back exact; what does not is sent raw; and the
 * inflater never writes past the announced length, whatever it is fed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"
#include "proto.h"

#define GUARD_BYTES 4096
#define GUARD_BYTE 0xA5

struct fixture {
    struct ft_deflater def;
    struct ft_inflater inf;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (ft_deflater_init(&f->def, 1) != FT_OK ||
        ft_inflater_init(&f->inf) != FT_OK) {
        ft_deflater_free(&f->def);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ft_deflater_free(&f->def);
    ft_inflater_free(&f->inf);
    free(f);
    return 0;
}

static uint8_t *random_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;

    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 32);
    }
    return p;
}

/* Text of exactly n bytes that compresses well. */
static uint8_t *text_bytes(size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    size_t o = 0;

    assert_non_null(p);
    for (unsigned line = 0; o < n; line++) {
        char l[96];
        int w = snprintf(l, sizeof(l),
                         "line %u: the quick brown fox jumps over the lazy dog\n",
                         line);
        size_t k = (size_t)w < n - o ? (size_t)w : n - o;

        memcpy(p + o, l, k);
        o += k;
    }
    return p;
}

/* A buffer of n bytes followed by a guard region of known bytes. */
static uint8_t *guarded(size_t n)
{
    uint8_t *p = malloc(n + GUARD_BYTES);

    assert_non_null(p);
    memset(p, GUARD_BYTE, n + GUARD_BYTES);
    return p;
}

static void assert_guard_intact(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < GUARD_BYTES; i++) {
        if (p[n + i] != GUARD_BYTE)
            fail_msg("byte %zu past the %zu-byte buffer was written", i, n);
    }
}

/* zlib's own one-shot compression, independent of the code under test. */
static uint8_t *zlib_compress(const uint8_t *src, size_t n, size_t *out_len)
{
    uLongf len = compressBound((uLong)n);
    uint8_t *dst = malloc(len);

    assert_non_null(dst);
    assert_int_equal(compress2(dst, &len, src, (uLong)n, 6), Z_OK);
    *out_len = len;
    return dst;
}

static void test_empty_goes_raw(void **state)
{
    struct fixture *f = *state;
    uint8_t src[1] = { 0 };
    uint8_t dst[64];
    size_t out = 777;

    assert_false(ft_deflate_chunk(&f->def, src, 0, dst, sizeof(dst), &out));
    assert_int_equal(out, 777);
}

static void test_one_byte_goes_raw(void **state)
{
    struct fixture *f = *state;
    uint8_t dst[64];
    size_t out = 0;

    /* Nothing is smaller than one byte. */
    assert_false(ft_deflate_chunk(&f->def, "a", 1, dst, sizeof(dst), &out));
}

static void test_random_goes_raw(void **state)
{
    struct fixture *f = *state;
    uint8_t *src = random_bytes(FT_CHUNK_BYTES, 1);
    uint8_t *dst = guarded(FT_CHUNK_BYTES);
    size_t out = 0;

    assert_false(ft_deflate_chunk(&f->def, src, FT_CHUNK_BYTES, dst,
                                  FT_CHUNK_BYTES, &out));
    assert_guard_intact(dst, FT_CHUNK_BYTES);
    /* Small random input too. */
    assert_false(ft_deflate_chunk(&f->def, src, 100, dst, FT_CHUNK_BYTES, &out));
    free(dst);
    free(src);
}

/* Text shrinks, and inflates back byte for byte. */
static void text_round_trip(struct fixture *f, size_t n)
{
    uint8_t *src = text_bytes(n);
    uint8_t *z = guarded(FT_CHUNK_BYTES);
    uint8_t *back = guarded(n);
    size_t zlen = 0;

    assert_true(ft_deflate_chunk(&f->def, src, n, z, FT_CHUNK_BYTES, &zlen));
    assert_true(zlen > 0);
    assert_true(zlen < n);
    assert_guard_intact(z, FT_CHUNK_BYTES);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, back, n), FT_OK);
    assert_memory_equal(back, src, n);
    assert_guard_intact(back, n);
    free(back);
    free(z);
    free(src);
}

static void test_text_round_trip(void **state)
{
    struct fixture *f = *state;

    text_round_trip(f, 1000);
    text_round_trip(f, 64 * 1024 + 3);
    text_round_trip(f, FT_CHUNK_BYTES);
}

/* The deflater and inflater are reused for chunk after chunk, as in a
 * transfer: each chunk stands alone. */
static void test_reuse_across_chunks(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < 5; i++)
        text_round_trip(f, 5000 + (size_t)i * 777);
}

/* The stream is a standard zlib stream (RFC 1950): zlib's own uncompress
 * reads it. */
static void test_output_is_zlib_format(void **state)
{
    struct fixture *f = *state;
    size_t n = 20000;
    uint8_t *src = text_bytes(n);
    uint8_t *z = malloc(n);
    uint8_t *back = malloc(n);
    size_t zlen = 0;
    uLongf back_len = n;

    assert_non_null(z);
    assert_non_null(back);
    assert_true(ft_deflate_chunk(&f->def, src, n, z, n, &zlen));
    assert_int_equal(uncompress(back, &back_len, z, zlen), Z_OK);
    assert_int_equal(back_len, n);
    assert_memory_equal(back, src, n);
    free(back);
    free(z);
    free(src);
}

/* When the compressed form would not fit in cap, the chunk goes raw. */
static void test_cap_too_small_goes_raw(void **state)
{
    struct fixture *f = *state;
    size_t n = 20000;
    uint8_t *src = text_bytes(n);
    uint8_t *z = guarded(16);
    size_t zlen = 0;

    assert_false(ft_deflate_chunk(&f->def, src, n, z, 16, &zlen));
    assert_guard_intact(z, 16);
    /* And the deflater still works afterwards. */
    free(z);
    free(src);
    text_round_trip(f, 3000);
}

/* 256 KiB of zeros deflate to a few hundred bytes. Announced as 1000
 * bytes, the inflate must stop at 1000 and fail. */
static void test_bomb_refused(void **state)
{
    struct fixture *f = *state;
    size_t big = 256 * 1024;
    uint8_t *zeros = calloc(1, big);
    uint8_t *dst = guarded(1000);
    uint8_t *z;
    size_t zlen = 0;

    assert_non_null(zeros);
    z = zlib_compress(zeros, big, &zlen);
    assert_true(zlen < 1000);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, 1000),
                     FT_ERR_PROTOCOL);
    assert_guard_intact(dst, 1000);
    /* Also with a raw_len one byte short. */
    free(dst);
    dst = guarded(big - 1);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, big - 1),
                     FT_ERR_PROTOCOL);
    assert_guard_intact(dst, big - 1);
    free(dst);
    free(z);
    free(zeros);
}

static void test_raw_len_larger_than_content(void **state)
{
    struct fixture *f = *state;
    size_t n = 5000;
    uint8_t *src = text_bytes(n);
    uint8_t *dst = guarded(n + 1);
    uint8_t *z;
    size_t zlen = 0;

    z = zlib_compress(src, n, &zlen);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n + 1),
                     FT_ERR_PROTOCOL);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n + 1),
                     FT_ERR_PROTOCOL);
    assert_guard_intact(dst, n + 1);
    /* The exact length works. */
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n), FT_OK);
    assert_memory_equal(dst, src, n);
    free(dst);
    free(z);
    free(src);
}

static void test_corrupt_stream(void **state)
{
    struct fixture *f = *state;
    size_t n = 5000;
    uint8_t *src = text_bytes(n);
    uint8_t *dst = guarded(n);
    uint8_t *z;
    size_t zlen = 0;

    z = zlib_compress(src, n, &zlen);

    /* A bad header. */
    z[0] ^= 0xFF;
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n), FT_ERR_PROTOCOL);
    z[0] ^= 0xFF;

    /* A damaged checksum (the last four bytes are the Adler-32). */
    z[zlen - 1] ^= 0x01;
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n), FT_ERR_PROTOCOL);
    z[zlen - 1] ^= 0x01;

    /* Every byte of the body flipped in turn: each must be refused (by the
     * inflater or by the checksum), never accepted. */
    for (size_t i = 2; i < zlen; i++) {
        z[i] ^= 0x55;
        assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n),
                         FT_ERR_PROTOCOL);
        z[i] ^= 0x55;
        assert_guard_intact(dst, n);
    }

    /* Cut short. */
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen - 1, dst, n),
                     FT_ERR_PROTOCOL);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen / 2, dst, n),
                     FT_ERR_PROTOCOL);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, 0, dst, n), FT_ERR_PROTOCOL);

    /* Plain garbage. */
    {
        uint8_t *junk = random_bytes(zlen, 9);

        assert_int_equal(ft_inflate_chunk(&f->inf, junk, zlen, dst, n),
                         FT_ERR_PROTOCOL);
        free(junk);
    }
    assert_guard_intact(dst, n);

    /* After all that, the inflater still works. */
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zlen, dst, n), FT_OK);
    assert_memory_equal(dst, src, n);
    free(dst);
    free(z);
    free(src);
}

static void test_trailing_garbage(void **state)
{
    struct fixture *f = *state;
    size_t n = 5000;
    uint8_t *src = text_bytes(n);
    uint8_t *dst = guarded(n);
    uint8_t *z, *longer;
    size_t zlen = 0;

    z = zlib_compress(src, n, &zlen);
    longer = malloc(2 * zlen);
    assert_non_null(longer);
    memcpy(longer, z, zlen);
    longer[zlen] = 0;
    assert_int_equal(ft_inflate_chunk(&f->inf, longer, zlen + 1, dst, n),
                     FT_ERR_PROTOCOL);
    /* A second complete stream after the first. */
    memcpy(longer + zlen, z, zlen);
    assert_int_equal(ft_inflate_chunk(&f->inf, longer, 2 * zlen, dst, n),
                     FT_ERR_PROTOCOL);
    assert_guard_intact(dst, n);
    free(longer);
    free(dst);
    free(z);
    free(src);
}

/* gzip framing (RFC 1952) is not the agreed format. */
static void test_gzip_refused(void **state)
{
    struct fixture *f = *state;
    size_t n = 5000;
    uint8_t *src = text_bytes(n);
    uint8_t *dst = guarded(n);
    uint8_t *z = malloc(n);
    z_stream zs;

    assert_non_null(z);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8,
                                  Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = src;
    zs.avail_in = (uInt)n;
    zs.next_out = z;
    zs.avail_out = (uInt)n;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(ft_inflate_chunk(&f->inf, z, zs.total_out, dst, n),
                     FT_ERR_PROTOCOL);
    assert_guard_intact(dst, n);
    deflateEnd(&zs);
    free(z);
    free(dst);
    free(src);
}

/* Freeing twice, or freeing what was never set up, is harmless. */
static void test_free_is_idempotent(void **state)
{
    struct ft_deflater d;
    struct ft_inflater i;

    (void)state;
    assert_int_equal(ft_deflater_init(&d, 9), FT_OK);
    assert_true(d.ready);
    ft_deflater_free(&d);
    assert_false(d.ready);
    ft_deflater_free(&d);
    assert_int_equal(ft_inflater_init(&i), FT_OK);
    ft_inflater_free(&i);
    assert_false(i.ready);
    ft_inflater_free(&i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_goes_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_goes_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_goes_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_across_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_is_zlib_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_too_small_goes_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bomb_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_len_larger_than_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_refused, setup, teardown),
        cmocka_unit_test(test_free_is_idempotent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
