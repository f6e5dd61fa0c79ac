/* test_clients.c - the clients file (src/clients.h): the key's text as
 * `ft id` prints it, each option, errors with their line; admission by it
 * (src/server_admit.c), reloads, and serve's --clients, --anonymous and
 * --config. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "testutil.h"

/* The key 0, 1, ..., 31 in standard base64 (Python's base64.b64encode). */
#define COUNTING_KEY_TEXT "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void counting_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
}

/* --- the key's text ------------------------------------------------------ */

static void test_key_text_round_trip(void **state)
{
    uint8_t key[32], back[32];
    char text[FT_CLIENT_KEY_TEXT_MAX];
    const char *spaced = "ft-x25519 \t AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    (void)state;
    counting_key(key);
    ft_clients_format_key(key, text);
    assert_string_equal(text, COUNTING_KEY_TEXT);
    assert_int_equal(strlen(text) + 1, FT_CLIENT_KEY_TEXT_MAX);
    memset(back, 0xff, sizeof(back));
    assert_int_equal(ft_clients_parse_key(text, strlen(text), back), FT_OK);
    assert_memory_equal(back, key, 32);
    /* Blanks between kind and key, as a hand-edited file may have. */
    assert_int_equal(ft_clients_parse_key(spaced, strlen(spaced), back), FT_OK);
    assert_memory_equal(back, key, 32);
}

static void test_key_text_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "ft-x25519",
        "ft-x25519 ",
        "ft-ed25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "ft-x25519AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", /* no padding */
        "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=x",
        "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", /* not canonical */
        "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
        "ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=",
        " ft-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    };
    uint8_t key[32];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (ft_clients_parse_key(bad[i], strlen(bad[i]), key) != FT_ERR_USAGE)
            fail_msg("taken: \"%s\"", bad[i]);
    }
    /* len bounds what is read: the text need not end in a NUL. */
    assert_int_equal(ft_clients_parse_key(COUNTING_KEY_TEXT, strlen(COUNTING_KEY_TEXT) - 1,
                                          key),
                     FT_ERR_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_text_round_trip),
        cmocka_unit_test(test_key_text_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
