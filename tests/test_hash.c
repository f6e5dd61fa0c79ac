/* test_hash.c - BLAKE2b-256 (src/hash.c) against known values computed
 * outside ft, streaming against one-shot, and the hex form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* Expected values from GNU coreutils, not from ft or libsodium:
 *   printf abc | b2sum -l 256
 *   printf '' | b2sum -l 256
 *   printf 'The quick brown fox jumps over the lazy dog' | b2sum -l 256
 *   head -c 1000000 /dev/zero | tr '\0' a | b2sum -l 256 */
#define HEX_ABC "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
#define HEX_EMPTY "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define HEX_FOX "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9"
#define HEX_MILLION_A "0741850f36cba4259628355d1073e24ddb9ca0e1bfac36fd39ae5dc2101e23a4"

static int setup_group(void **state)
{
    (void)state;
    return ft_hash_library_init();
}

static void one_shot(const void *p, size_t n, uint8_t out[FT_HASH_BYTES])
{
    struct ft_hash h;

    ft_hash_init(&h);
    ft_hash_update(&h, p, n);
    ft_hash_final(&h, out);
}

static void assert_hex_of(const void *p, size_t n, const char *want)
{
    uint8_t d[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];

    one_shot(p, n, d);
    ft_hash_hex(d, hex);
    assert_string_equal(hex, want);
}

static void test_library_init_twice(void **state)
{
    (void)state;
    assert_int_equal(ft_hash_library_init(), 0);
    assert_int_equal(ft_hash_library_init(), 0);
}

static void test_known_abc(void **state)
{
    (void)state;
    assert_hex_of("abc", 3, HEX_ABC);
}

static void test_known_empty(void **state)
{
    struct ft_hash h;
    uint8_t d[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];

    (void)state;
    assert_hex_of("", 0, HEX_EMPTY);
    /* No update at all is the same as an empty one. */
    ft_hash_init(&h);
    ft_hash_final(&h, d);
    ft_hash_hex(d, hex);
    assert_string_equal(hex, HEX_EMPTY);
}

static void test_known_fox(void **state)
{
    static const char fox[] = "The quick brown fox jumps over the lazy dog";

    (void)state;
    assert_hex_of(fox, sizeof(fox) - 1, HEX_FOX);
}

/* A million 'a' fed in uneven pieces, across many BLAKE2b blocks. */
static void test_known_million_a_streamed(void **state)
{
    size_t n = 1000000;
    char *a = malloc(n);
    struct ft_hash h;
    uint8_t d[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];
    size_t off = 0, step = 1;

    (void)state;
    assert_non_null(a);
    memset(a, 'a', n);
    ft_hash_init(&h);
    while (off < n) {
        size_t k = step < n - off ? step : n - off;

        ft_hash_update(&h, a + off, k);
        off += k;
        step = step * 3 + 1; /* 1, 4, 13, 40, ... crosses every boundary */
        if (step > 70000)
            step = 7;
    }
    ft_hash_final(&h, d);
    ft_hash_hex(d, hex);
    assert_string_equal(hex, HEX_MILLION_A);
    free(a);
}

/* Any split of the input gives the one-shot digest. */
static void test_streaming_equals_one_shot(void **state)
{
    size_t n = 3 * 128 + 17; /* a few 128-byte BLAKE2b blocks and a tail */
    uint8_t *buf = malloc(n);
    uint8_t want[FT_HASH_BYTES];

    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    one_shot(buf, n, want);

    /* Every two-way split. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct ft_hash h;
        uint8_t got[FT_HASH_BYTES];

        ft_hash_init(&h);
        ft_hash_update(&h, buf, cut);
        ft_hash_update(&h, buf + cut, n - cut);
        ft_hash_final(&h, got);
        assert_memory_equal(got, want, FT_HASH_BYTES);
    }

    /* One byte at a time, with empty updates in between. */
    {
        struct ft_hash h;
        uint8_t got[FT_HASH_BYTES];

        ft_hash_init(&h);
        for (size_t i = 0; i < n; i++) {
            ft_hash_update(&h, buf + i, 1);
            ft_hash_update(&h, buf + i, 0);
        }
        ft_hash_final(&h, got);
        assert_memory_equal(got, want, FT_HASH_BYTES);
    }
    free(buf);
}

/* A changed byte changes the digest. */
static void test_one_bit_changes_digest(void **state)
{
    uint8_t buf[200];
    uint8_t a[FT_HASH_BYTES], b[FT_HASH_BYTES];

    (void)state;
    memset(buf, 0x42, sizeof(buf));
    one_shot(buf, sizeof(buf), a);
    buf[199] ^= 1;
    one_shot(buf, sizeof(buf), b);
    assert_memory_not_equal(a, b, FT_HASH_BYTES);
    /* And the length counts: a prefix is not the same message. */
    one_shot(buf, sizeof(buf) - 1, b);
    assert_memory_not_equal(a, b, FT_HASH_BYTES);
}

static void test_hex_format(void **state)
{
    uint8_t d[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES + 8];
    char want[FT_HASH_HEX_BYTES];

    (void)state;
    for (size_t i = 0; i < FT_HASH_BYTES; i++)
        d[i] = (uint8_t)(i * 8 + (i & 7)); /* 00 09 12 1b ... f8 ff */
    d[FT_HASH_BYTES - 1] = 0xAB;
    for (size_t i = 0; i < FT_HASH_BYTES; i++) {
        static const char digits[] = "0123456789abcdef";

        want[2 * i] = digits[d[i] >> 4];
        want[2 * i + 1] = digits[d[i] & 15];
    }
    want[2 * FT_HASH_BYTES] = '\0';

    memset(hex, 'X', sizeof(hex));
    ft_hash_hex(d, hex);
    assert_int_equal(strlen(hex), 2 * FT_HASH_BYTES);
    assert_string_equal(hex, want);
    /* Lower case only, and nothing written past the terminator. */
    for (size_t i = 0; i < 2 * FT_HASH_BYTES; i++)
        assert_true(isdigit((unsigned char)hex[i]) ||
                    (hex[i] >= 'a' && hex[i] <= 'f'));
    assert_memory_equal(&hex[2 * FT_HASH_BYTES], "\0XXXXXXXX", 9);
    assert_string_equal(&hex[2 * FT_HASH_BYTES - 2], "ab");
    assert_memory_equal(hex, "0009121b", 8);
}

static void test_equal(void **state)
{
    uint8_t a[FT_HASH_BYTES], b[FT_HASH_BYTES];

    (void)state;
    one_shot("abc", 3, a);
    one_shot("abc", 3, b);
    assert_int_equal(ft_hash_equal(a, b), 1);
    for (size_t i = 0; i < FT_HASH_BYTES; i += 31) {
        b[i] ^= 0x80;
        assert_int_equal(ft_hash_equal(a, b), 0);
        b[i] ^= 0x80;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_init_twice),
        cmocka_unit_test(test_known_abc),
        cmocka_unit_test(test_known_empty),
        cmocka_unit_test(test_known_fox),
        cmocka_unit_test(test_known_million_a_streamed),
        cmocka_unit_test(test_streaming_equals_one_shot),
        cmocka_unit_test(test_one_bit_changes_digest),
        cmocka_unit_test(test_hex_format),
        cmocka_unit_test(test_equal),
    };

    return cmocka_run_group_tests(tests, setup_group, NULL);
}
