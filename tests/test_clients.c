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

/* --- the file ------------------------------------------------------------ */

/* Two more keys: all 0x11 and all 0x22 bytes. */
#define KEY_11 "ft-x25519 ERERERERERERERERERERERERERERERERERERERERERE="
#define KEY_22 "ft-x25519 IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI="

static void expect_in(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("expected \"%s\" in: %s", want, text);
}

static struct ft_clients *parse_ok(const char *text)
{
    struct ft_clients *c = NULL;
    char err[512] = "";

    if (ft_clients_parse("clients", text, strlen(text), &c, err, sizeof(err)) != FT_OK)
        fail_msg("refused: %s\n%s", err, text);
    return c;
}

/* The file is refused, and its message says want. */
static void parse_bad(const char *text, const char *want)
{
    struct ft_clients *c = NULL;
    char err[512] = "";

    if (ft_clients_parse("clients", text, strlen(text), &c, err, sizeof(err)) !=
        FT_ERR_USAGE)
        fail_msg("taken: %s", text);
    assert_null(c);
    expect_in(err, want);
}

static const struct ft_client_entry *find(const struct ft_clients *c, uint8_t byte)
{
    uint8_t key[32];

    memset(key, byte, sizeof(key));
    return ft_clients_find(c, key);
}

static void test_file_defaults_and_comments(void **state)
{
    struct ft_clients *c;
    const struct ft_client_entry *e;
    struct ft_client_rights r;
    uint8_t key[32];

    (void)state;
    c = parse_ok("# the people of this server\n"
                 "\n"
                 "   \t\n"
                 KEY_11 "\r\n"
                 "  " KEY_22 " name=bob   # bob's laptop\n"
                 COUNTING_KEY_TEXT); /* no newline at the end */
    assert_int_equal(ft_clients_count(c), 3);
    e = find(c, 0x11);
    assert_non_null(e);
    assert_int_equal(e->line, 4);
    ft_clients_rights(e, &r);
    assert_string_equal(r.name, "");
    assert_string_equal(r.root, "");
    assert_int_equal(r.allow, FT_ALLOW_ALL);
    assert_true(r.quota_bytes == FT_UNLIMITED && r.quota_files == FT_UNLIMITED);
    assert_true(r.rate == 0 && e->expires == 0 && e->nfrom == 0);
    assert_string_equal(find(c, 0x22)->name, "bob");
    counting_key(key);
    assert_int_equal(ft_clients_find(c, key)->line, 6);
    assert_null(find(c, 0x33));
    ft_clients_free(c);
    c = parse_ok("# nobody\n");
    assert_int_equal(ft_clients_count(c), 0);
    assert_null(find(c, 0x11));
    ft_clients_free(c);
}

static void test_file_options(void **state)
{
    struct ft_clients *c;
    const struct ft_client_entry *e;
    struct ft_client_rights r;

    (void)state;
    c = parse_ok(KEY_11 " name=alice@laptop root=/shared/alice/ allow=read,list "
                 "quota=10G files=2k expires=2027-02-28 rate=500k\n"
                 KEY_22 " root=/ allow=none quota=0\n");
    e = find(c, 0x11);
    ft_clients_rights(e, &r);
    assert_string_equal(r.name, "alice@laptop");
    assert_string_equal(r.root, "shared/alice");
    assert_int_equal(r.allow, FT_ALLOW_READ | FT_ALLOW_LIST);
    assert_true(r.quota_bytes == 10ull << 30);
    assert_true(r.quota_files == 2048);
    assert_true(r.rate == 500 << 10);
    /* 2027-03-01T00:00:00Z (date -u -d 2027-03-01 +%s) */
    assert_true(e->expires == 1803859200);
    assert_false(ft_clients_expired(e, 1803859199));
    assert_true(ft_clients_expired(e, 1803859200));
    e = find(c, 0x22);
    ft_clients_rights(e, &r);
    assert_string_equal(r.root, "");
    assert_int_equal(r.allow, 0);
    assert_true(r.quota_bytes == 0);
    ft_clients_free(c);
    /* A leap day, and the last day of a year. */
    c = parse_ok(KEY_11 " expires=2028-02-29\n" KEY_22 " expires=2026-12-31\n");
    assert_true(find(c, 0x11)->expires == 1835481600); /* 2028-03-01 */
    assert_true(find(c, 0x22)->expires == 1798761600); /* 2027-01-01 */
    ft_clients_free(c);
}

static void test_file_from(void **state)
{
    struct ft_clients *c;
    const struct ft_client_entry *e;
    uint8_t v4[4] = { 192, 168, 1, 77 }, other4[4] = { 192, 168, 2, 1 };
    uint8_t one[4] = { 10, 0, 0, 1 }, two[4] = { 10, 0, 0, 2 };
    uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 };
    uint8_t other6[16] = { 0x20, 0x01, 0x0d, 0xb9 };
    uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 };

    (void)state;
    c = parse_ok(KEY_11 " from=192.168.1.5/24,10.0.0.1,2001:db8::/32\n" KEY_22 "\n");
    e = find(c, 0x11);
    assert_int_equal(e->nfrom, 3);
    assert_true(ft_clients_from_ok(e, 4, v4));
    assert_false(ft_clients_from_ok(e, 4, other4));
    assert_true(ft_clients_from_ok(e, 4, one));
    assert_false(ft_clients_from_ok(e, 4, two));
    assert_true(ft_clients_from_ok(e, 6, v6));
    assert_false(ft_clients_from_ok(e, 6, other6));
    assert_true(ft_clients_from_ok(e, 6, mapped)); /* 10.0.0.1 on a dual stack */
    assert_false(ft_clients_from_ok(e, 0, NULL));  /* no address: a Unix socket */
    /* Without from=, any address, and none. */
    assert_true(ft_clients_from_ok(find(c, 0x22), 4, two));
    assert_true(ft_clients_from_ok(find(c, 0x22), 0, NULL));
    ft_clients_free(c);
    c = parse_ok(KEY_11 " from=0.0.0.0/0,::/0\n");
    assert_true(ft_clients_from_ok(find(c, 0x11), 4, two));
    assert_true(ft_clients_from_ok(find(c, 0x11), 6, other6));
    ft_clients_free(c);
}

static void test_file_errors(void **state)
{
    (void)state;
    parse_bad("# ok\n" KEY_11 " colour=blue\n", "clients:2: unknown option 'colour'");
    parse_bad(KEY_11 " name\n", "clients:1: unknown option 'name'");
    parse_bad("\n\nssh-ed25519 AAAA\n", "clients:3: a line begins with a client's key");
    parse_bad("ft-x25519 AAAA name=a\n", "clients:1: the key is not the base64 of 32");
    parse_bad("ft-x25519\n", "clients:1: the key is not");
    parse_bad(KEY_11 "\n" KEY_22 "\n" KEY_11 " name=again\n",
              "clients:3: the key of line 1 again");
    parse_bad(KEY_11 " name=a name=b\n", "clients:1: name= given twice");
    parse_bad(KEY_11 " name=\n", "clients:1: name= takes 1 to 64");
    parse_bad(KEY_11 " name=a\"b\n", "clients:1: name= takes");
    parse_bad(KEY_11 " name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
              "name= takes"); /* 65 */
    parse_bad(KEY_11 " root=../x\n", "clients:1: root= '../x' is not a folder");
    parse_bad(KEY_11 " root=a/../../b\n", "root= 'a/../../b' is not a folder");
    parse_bad(KEY_11 " root=a//b\n", "root= 'a//b' is not");
    parse_bad(KEY_11 " root=.ft\n", "root= '.ft' is not");
    parse_bad(KEY_11 " allow=read,exec\n", "clients:1: allow= takes list, read");
    parse_bad(KEY_11 " allow=\n", "allow= takes");
    parse_bad(KEY_11 " allow=read,,list\n", "allow= takes");
    parse_bad(KEY_11 " allow=read,read\n", "allow= takes");
    parse_bad(KEY_11 " allow=read,\n", "allow= takes");
    parse_bad(KEY_11 " allow=none,read\n", "allow= takes");
    parse_bad(KEY_11 " quota=10X\n", "clients:1: quota= takes a size");
    parse_bad(KEY_11 " quota=-1\n", "quota= takes a size");
    parse_bad(KEY_11 " quota=99999999999T\n", "quota= takes a size");
    parse_bad(KEY_11 " files=many\n", "clients:1: files= takes");
    parse_bad(KEY_11 " rate=0\n", "clients:1: rate= takes a rate above 0");
    parse_bad(KEY_11 " expires=2027-02-29\n", "clients:1: expires= '2027-02-29' is not a date");
    parse_bad(KEY_11 " expires=2027-13-01\n", "is not a date");
    parse_bad(KEY_11 " expires=2027-1-01\n", "is not a date");
    parse_bad(KEY_11 " expires=1969-12-31\n", "is not a date");
    parse_bad(KEY_11 " expires=2027/01/01\n", "is not a date");
    parse_bad(KEY_11 " from=10.0.0.0/33\n", "clients:1: from= '10.0.0.0/33' is not an address");
    parse_bad(KEY_11 " from=10.0.0.0/8,\n", "from= '' is not");
    parse_bad(KEY_11 " from=10.0.0/8\n", "from= '10.0.0/8' is not");
    parse_bad(KEY_11 " from=::1/129\n", "from= '::1/129' is not");
    parse_bad(KEY_11 " from=example.org\n", "from= 'example.org' is not");
    parse_bad(KEY_11 " from=10.0.0.1/\n", "is not");
    parse_bad(KEY_11 " from=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,"
              "8.8.8.8,9.9.9.9,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,"
              "1.1.1.8,1.1.1.9\n",
              "from= names more than 16 networks");
}

static void test_file_bounds(void **state)
{
    size_t long_len = FT_CLIENTS_LINE_MAX + 10;
    char *text = malloc(long_len + 16);
    struct ft_clients *c = NULL;
    char err[512];

    (void)state;
    assert_non_null(text);
    strcpy(text, "# x\n#");
    memset(text + 5, 'x', long_len);
    text[5 + long_len] = '\0';
    parse_bad(text, "clients:2: line longer than 4096 bytes");
    free(text);
    text = calloc(FT_CLIENTS_LINES_MAX + 2, 1);
    assert_non_null(text);
    memset(text, '\n', FT_CLIENTS_LINES_MAX + 1);
    parse_bad(text, "clients:100001: more than 100000 lines");
    free(text);
    assert_int_equal(ft_clients_parse("clients", KEY_11 "\n\0\n", sizeof(KEY_11) + 2, &c,
                                      err, sizeof(err)),
                     FT_ERR_USAGE);
    expect_in(err, "clients:2: a NUL byte");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_text_round_trip),
        cmocka_unit_test(test_key_text_refused),
        cmocka_unit_test(test_file_defaults_and_comments),
        cmocka_unit_test(test_file_options),
        cmocka_unit_test(test_file_from),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_file_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
