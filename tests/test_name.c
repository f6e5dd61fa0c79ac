/* test_name.c - what a name may be (ft_name_check, ft_name_check_below)
 * and how one is shown to a person (ft_name_quote, ft_text_quote). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

/* Names with explicit lengths, so that embedded NULs count. */
struct name_case {
    const char *name;
    size_t len;
};

#define NC(s) { s, sizeof(s) - 1 }

static const struct name_case valid_names[] = {
    NC("a"),
    NC("notes.txt"),
    NC(".hidden"),
    NC("..."),
    NC("a b"),
    NC("na\xc3\xafve.txt"), /* "naïve.txt" in UTF-8 */
    NC(".ft2"),
    NC("ft"),
    NC("..a"),
    NC("a.."),
    NC("-rf"),
    NC("~"),
    NC("back\\slash"),
    NC("\xff\xfe"), /* not UTF-8, but no control byte: the store takes bytes */
    NC("a/b"),       /* folders */
    NC("a/b/c.txt"),
    NC("x/.ft"),     /* reserved at the root only */
    NC("a/.hidden/b"),
};

static const struct name_case invalid_names[] = {
    NC(""),
    NC("."),
    NC(".."),
    NC(".ft"),
    NC("../x"),
    NC("/etc/passwd"),
    NC("a/../../b"),
    NC("a/"),
    NC("/"),
    NC("a//b"),
    NC("a/./b"),
    NC("a/.."),
    NC(".ft/tmp"),
    NC("a/\nb"),
    NC("a\0b"),
    NC("\0"),
    NC("abc\0"),
    NC("\n"),
    NC("a\nb"),
    NC("\r"),
    NC("\t"),
    NC("x\x1b[2J"),
    NC("\x7f"),
    NC("a\x01"),
    NC("\x1f"),
};

static void test_valid_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_names) / sizeof(valid_names[0]); i++) {
        if (ft_name_check(valid_names[i].name, valid_names[i].len) != FT_OK)
            fail_msg("valid name #%zu \"%s\" refused", i, valid_names[i].name);
    }
}

static void test_invalid_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid_names) / sizeof(invalid_names[0]); i++) {
        if (ft_name_check(invalid_names[i].name, invalid_names[i].len) !=
            FT_ERR_BAD_NAME)
            fail_msg("invalid name #%zu (len %zu) accepted", i,
                     invalid_names[i].len);
    }
}

/* Below the top of the store, ".ft" is a name like any other: a listing
 * of folder "a" holding "a/.ft/b" names it ".ft/b". Every other rule
 * stands. */
static void test_names_below_the_top(void **state)
{
    (void)state;
    assert_int_equal(ft_name_check_below(".ft", 3), FT_OK);
    assert_int_equal(ft_name_check_below(".ft/tmp", 7), FT_OK);
    assert_int_equal(ft_name_check(".ft", 3), FT_ERR_BAD_NAME);
    for (size_t i = 0; i < sizeof(valid_names) / sizeof(valid_names[0]); i++)
        assert_int_equal(ft_name_check_below(valid_names[i].name, valid_names[i].len),
                         FT_OK);
    for (size_t i = 0; i < sizeof(invalid_names) / sizeof(invalid_names[0]); i++) {
        bool reserved = strncmp(invalid_names[i].name, ".ft", 3) == 0;

        assert_int_equal(ft_name_check_below(invalid_names[i].name,
                                             invalid_names[i].len),
                         reserved ? FT_OK : FT_ERR_BAD_NAME);
    }
}

/* The length is what counts, not the C string: "a\0b" with len 1 is "a",
 * and a valid name is refused once len reaches past it into a NUL. */
static void test_len_not_strlen(void **state)
{
    (void)state;
    assert_int_equal(ft_name_check("a\0b", 1), FT_OK);
    assert_int_equal(ft_name_check("a\0b", 3), FT_ERR_BAD_NAME);
    assert_int_equal(ft_name_check("..x", 2), FT_ERR_BAD_NAME);
    assert_int_equal(ft_name_check(".ftx", 3), FT_ERR_BAD_NAME);
    assert_int_equal(ft_name_check(".ftx", 4), FT_OK);
}

static void test_length_limits(void **state)
{
    size_t big = 4096;
    char *name = malloc(big);

    (void)state;
    assert_non_null(name);
    memset(name, 'x', big);
    assert_int_equal(ft_name_check(name, FT_NAME_MAX), FT_OK);
    assert_int_equal(FT_NAME_MAX, 255);
    assert_int_equal(ft_name_check(name, FT_NAME_MAX + 1), FT_ERR_BAD_NAME);
    assert_int_equal(ft_name_check(name, big), FT_ERR_BAD_NAME);
    /* Folders: each component up to 255, the whole up to FT_PATH_MAX, at
     * most FT_PATH_DEPTH_MAX deep. */
    for (size_t i = 255; i < big; i += 256)
        name[i] = '/';
    assert_int_equal(ft_name_check(name, 4 * 256 - 1), FT_OK);
    assert_int_equal(FT_PATH_MAX, 1024);
    assert_int_equal(ft_name_check(name, FT_PATH_MAX + 1), FT_ERR_BAD_NAME);
    memset(name, 'x', big);
    for (size_t i = 1; i < big; i += 2)
        name[i] = '/';
    assert_int_equal(ft_name_check(name, 2 * FT_PATH_DEPTH_MAX - 1), FT_OK);
    assert_int_equal(ft_name_check(name, 2 * FT_PATH_DEPTH_MAX + 1),
                     FT_ERR_BAD_NAME);
    assert_int_equal(ft_name_check(name, SIZE_MAX), FT_ERR_BAD_NAME);
    free(name);
}

/* Every single byte: only control bytes, '/' and '.' are refused alone. */
static void test_every_single_byte(void **state)
{
    (void)state;
    for (unsigned b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        enum ft_err want = (b < 0x20 || b == 0x7f || b == '/' || b == '.')
                               ? FT_ERR_BAD_NAME
                               : FT_OK;

        if (ft_name_check(&c, 1) != want)
            fail_msg("byte 0x%02x: expected %s", b, ft_err_name(want));
    }
}

static void quote(const char *name, size_t len, char *out, size_t cap)
{
    ft_name_quote(name, len, out, cap);
}

static void test_quote_plain(void **state)
{
    char out[64];

    (void)state;
    quote("notes.txt", 9, out, sizeof(out));
    assert_string_equal(out, "notes.txt");
    quote("na\xc3\xafve.txt", 10, out, sizeof(out));
    assert_string_equal(out, "na\xc3\xafve.txt");
    quote("", 0, out, sizeof(out));
    assert_string_equal(out, "");
}

/* Each control byte becomes \xNN: C0, DEL, and C1 controls, which reach
 * a terminal as two UTF-8 bytes (U+009B, CSI, is c2 9b) or, to one in an
 * 8-bit mode, as a raw byte; so does any byte that is not UTF-8, and a
 * backslash, so that the output reads one way only. A character whose
 * UTF-8 merely holds such a byte (U+015B is c5 9b) is printable. */
static void test_quote_escapes_control_bytes(void **state)
{
    static const struct { const char *in; size_t len; const char *want; } cases[] = {
        /* C0 and DEL. */
        { "a\nb", 3, "a\\x0ab" }, { "x\x1b[2J", 5, "x\\x1b[2J" }, { "\x7f", 1, "\\x7f" },
        { "a\0b", 3, "a\\x00b" }, { "\r\t", 2, "\\x0d\\x09" },
        /* A backslash, as the start of what looks like an escape. */
        { "a\\x0a", 5, "a\\x5cx0a" },
        /* C1, encoded and raw, and other bytes that are not UTF-8. */
        { "a\xc2\x9b" "31m", 6, "a\\xc2\\x9b" "31m" },
        { "\xc2\x85\xc2\x80\xc2\x9f", 6, "\\xc2\\x85\\xc2\\x80\\xc2\\x9f" },
        { "r\x9b" "2J", 4, "r\\x9b" "2J" },
        { "\xff\xfe", 2, "\\xff\\xfe" },
        /* Overlong and cut sequences are not UTF-8 either. */
        { "\xc0\x9b\xe6\x97", 4, "\\xc0\\x9b\\xe6\\x97" },
        /* Printable beyond ASCII: U+00A0 (c2 a0), U+015B, U+65E5, U+1F600. */
        { "\xc2\xa0\xc5\x9b\xe6\x97\xa5\xf0\x9f\x98\x80", 11,
          "\xc2\xa0\xc5\x9b\xe6\x97\xa5\xf0\x9f\x98\x80" },
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        quote(cases[i].in, cases[i].len, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

/* No byte value ever comes out as a raw control byte. */
static void test_quote_output_printable(void **state)
{
    char out[16];

    (void)state;
    for (unsigned b = 0; b < 256; b++) {
        char c = (char)b;

        quote(&c, 1, out, sizeof(out));
        for (size_t i = 0; out[i] != '\0'; i++) {
            unsigned char o = (unsigned char)out[i];

            if (o < 0x20 || o == 0x7f)
                fail_msg("byte 0x%02x quoted with a raw control byte", b);
        }
    }
}

/* A line of text is quoted the same way, but its backslashes stay: it may
 * hold a name quoted already, which is not quoted twice. */
static void test_text_quote(void **state)
{
    char out[64];
    static const char text[] = "no 'a\\x1b' \x1b[2J\xc2\x9b\x9b";

    (void)state;
    ft_text_quote(text, sizeof(text) - 1, out, sizeof(out));
    assert_string_equal(out, "no 'a\\x1b' \\x1b[2J\\xc2\\x9b\\x9b");
}

/* No byte from 0x80 up is a character alone: each is escaped. After c2,
 * a byte makes U+0080..U+009F (C1 controls: escaped), U+00A0..U+00BF
 * (printable: as it is) or nothing (escaped). */
static void test_quote_high_bytes(void **state)
{
    char out[32], want[32];

    (void)state;
    for (unsigned b = 0x80; b < 256; b++) {
        const char in[2] = { (char)0xc2, (char)b };

        quote(in + 1, 1, out, sizeof(out));
        snprintf(want, sizeof(want), "\\x%02x", b);
        assert_string_equal(out, want);
    }
    for (unsigned b = 0; b < 256; b++) {
        const char in[2] = { (char)0xc2, (char)b };

        quote(in, 2, out, sizeof(out));
        if (b >= 0xa0 && b <= 0xbf)
            assert_true(strlen(out) == 2 && memcmp(out, in, 2) == 0);
        else
            assert_memory_equal(out, "\\xc2", 4);
        for (size_t i = 0; out[i] != '\0'; i++) {
            unsigned char o = (unsigned char)out[i];

            if (o < 0x20 || o == 0x7f || (o >= 0x80 && o <= 0x9f))
                fail_msg("c2 %02x quoted with a raw control byte", b);
        }
    }
}

static void test_quote_truncates(void **state)
{
    char name[300];
    char out[32 + 16];

    (void)state;
    memset(name, 'a', sizeof(name));
    memset(out, '#', sizeof(out));
    quote(name, sizeof(name), out, 32);
    assert_true(strlen(out) < 32);
    assert_true(strlen(out) >= 3);
    assert_string_equal(out + strlen(out) - 3, "...");
    assert_int_equal(strspn(out, "a"), strlen(out) - 3);
    /* Nothing past cap was touched. */
    for (size_t i = 32; i < sizeof(out); i++)
        assert_int_equal(out[i], '#');
}

/* For every cap, the output fits with its terminator, never touches a byte
 * past cap, and is either the whole quoted name or a prefix of it
 * followed by "...". Escapes are never cut in half. */
static void test_quote_every_cap(void **state)
{
    static const char name[] = "ab\x1b[2Jcd\nef\\gh\x7fij-klmnopqrstuvwxyz";
    const size_t len = sizeof(name) - 1;
    char full[256];
    char out[128];

    (void)state;
    quote(name, len, full, sizeof(full));
    assert_string_equal(full,
                        "ab\\x1b[2Jcd\\x0aef\\x5cgh\\x7fij-klmnopqrstuvwxyz");
    for (size_t cap = 8; cap < 80; cap++) {
        size_t n;

        memset(out, '#', sizeof(out));
        quote(name, len, out, cap);
        n = strlen(out);
        assert_true(n < cap);
        for (size_t i = cap; i < sizeof(out); i++)
            assert_int_equal(out[i], '#');
        if (strcmp(out, full) == 0)
            continue;
        assert_true(n >= 3);
        assert_string_equal(out + n - 3, "...");
        assert_memory_equal(out, full, n - 3);
        /* The cut falls between two quoted bytes: what precedes "..." is
         * the quoting of some prefix of the name. */
        {
            int ok = 0;

            for (size_t k = 0; k <= len && !ok; k++) {
                char pre[256];

                quote(name, k, pre, sizeof(pre));
                ok = strlen(pre) == n - 3 && memcmp(pre, out, n - 3) == 0;
            }
            assert_true(ok);
        }
    }
    /* With room to spare, nothing is cut. */
    quote(name, len, out, sizeof(out));
    assert_string_equal(out, full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_names),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_names_below_the_top),
        cmocka_unit_test(test_len_not_strlen),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_every_single_byte),
        cmocka_unit_test(test_quote_plain),
        cmocka_unit_test(test_quote_escapes_control_bytes),
        cmocka_unit_test(test_quote_output_printable),
        cmocka_unit_test(test_text_quote),
        cmocka_unit_test(test_quote_high_bytes),
        cmocka_unit_test(test_quote_truncates),
        cmocka_unit_test(test_quote_every_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
