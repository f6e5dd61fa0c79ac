/* test_keys.c - include/ft/keys.h's promises: the server's key file made
 * once and loaded the same, secrets others may read refused with a reason,
 * tokens, known hosts pinned per host and port, fingerprints' form. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft/keys.h"
#include "testutil.h"

/* Fingerprints computed apart from ft (Python's hashlib.blake2b with
 * digest_size=32, then base64 without padding). */
#define FP_ZERO_KEY "b2:iesNaoppHa4s0V7QNpkxzgqUnsr6XD+T+BIYM2RuFcM"
#define FP_COUNTING_KEY "b2:yy9RYPwffgWlXvSdNAtI2i5aeAmdUzkzUc1XndQlA9Y"
/* A token as a person might write one. */
#define SECRET "correct horse battery staple"

static mode_t mode_of(const char *path)
{
    struct stat sb;

    assert_int_equal(lstat(path, &sb), 0);
    return sb.st_mode & 0777;
}

static void expect_in(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("expected \"%s\" in: %s", want, text);
}

/* --- the server's key ---------------------------------------------------- */

static void test_key_made_once_then_loaded(void **state)
{
    struct tu_fixture *f = *state;
    char *dir = tu_path(f->work, "a/b");
    char *path = tu_path(f->work, "a/b/server.key");
    char *other = tu_path(f->work, "other.key");
    struct ft_keypair made, loaded, another;
    uint8_t zero[FT_KEY_BYTES] = { 0 };
    bool created = false;
    char err[512];

    assert_int_equal(ft_keys_load_or_create(path, &made, &created, err, sizeof(err)),
                     FT_OK);
    assert_true(created);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(mode_of(dir), 0700); /* folders made on the way */
    assert_int_equal(tu_file_size(path), FT_KEY_BYTES);
    assert_memory_not_equal(made.private_key, zero, FT_KEY_BYTES);
    assert_memory_not_equal(made.public_key, made.private_key, FT_KEY_BYTES);

    created = true;
    assert_int_equal(ft_keys_load_or_create(path, &loaded, &created, err,
                                            sizeof(err)), FT_OK);
    assert_false(created);
    assert_memory_equal(loaded.private_key, made.private_key, FT_KEY_BYTES);
    assert_memory_equal(loaded.public_key, made.public_key, FT_KEY_BYTES);

    /* Every key file is new: two servers never share a key by accident. */
    assert_int_equal(ft_keys_load_or_create(other, &another, &created, err,
                                            sizeof(err)), FT_OK);
    assert_true(created);
    assert_memory_not_equal(another.private_key, made.private_key, FT_KEY_BYTES);
    assert_memory_not_equal(another.public_key, made.public_key, FT_KEY_BYTES);
    free(dir);
    free(path);
    free(other);
}

static void test_key_others_may_read_refused(void **state)
{
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "server.key");
    const mode_t loose[] = { 0644, 0640, 0604, 0620, 0602 };
    struct ft_keypair kp;
    bool created;
    char err[512];

    assert_int_equal(ft_keys_load_or_create(path, &kp, &created, err, sizeof(err)),
                     FT_OK);
    for (size_t i = 0; i < sizeof(loose) / sizeof(*loose); i++) {
        char want[16];

        assert_int_equal(chmod(path, loose[i]), 0);
        err[0] = '\0';
        assert_int_equal(ft_keys_load_or_create(path, &kp, &created, err,
                                                sizeof(err)), FT_ERR_DENIED);
        assert_false(created);
        snprintf(want, sizeof(want), "%03o", (unsigned)loose[i]);
        expect_in(err, path);
        expect_in(err, want);
        expect_in(err, "too open");
        expect_in(err, "chmod 600");
    }
    /* Refused, not replaced: the file is still the one that was there. */
    assert_int_equal(tu_file_size(path), FT_KEY_BYTES);
    free(path);
}

static void test_key_wrong_size_refused(void **state)
{
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "server.key");
    uint8_t bytes[FT_KEY_BYTES + 1] = { 1 };
    const size_t sizes[] = { 0, 1, FT_KEY_BYTES - 1, FT_KEY_BYTES + 1 };
    struct ft_keypair kp;
    bool created;
    char err[512];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        char want[32];

        unlink(path);
        tu_write_bytes(path, bytes, sizes[i]);
        assert_int_equal(chmod(path, 0600), 0);
        err[0] = '\0';
        assert_int_equal(ft_keys_load_or_create(path, &kp, &created, err,
                                                sizeof(err)), FT_ERR_IO);
        assert_false(created);
        expect_in(err, "not an ft key file");
        snprintf(want, sizeof(want), "(%zu bytes", sizes[i]);
        expect_in(err, want);
        /* Never overwritten with a new key. */
        assert_int_equal(tu_file_size(path), (int64_t)sizes[i]);
    }
    free(path);
}

static void test_key_not_a_file_refused(void **state)
{
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "server.key");
    struct ft_keypair kp;
    bool created;
    char err[512] = "";

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ft_keys_load_or_create(path, &kp, &created, err, sizeof(err)),
                     FT_ERR_IO);
    expect_in(err, "not a regular file");
    free(path);
}

/* --- fingerprints -------------------------------------------------------- */

/* The key in the store's metadata folder is opened relative to that
 * folder and never through a link: one put in its place (to a key the
 * attacker made, or to a file it wants overwritten) is refused, and the
 * file it points to is neither read nor written. */
static void test_key_at_refuses_a_link(void **state)
{
    struct tu_fixture *f = *state;
    char *meta = tu_path(f->work, "meta");
    char *key = tu_path(f->work, "meta/server.key");
    char *planted = tu_path(f->work, "planted.key");
    struct ft_keypair made, loaded;
    bool created = false;
    char err[512] = "";
    int dir_fd;

    assert_int_equal(mkdir(meta, 0700), 0);
    dir_fd = open(meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir_fd >= 0);
    assert_int_equal(ft_keys_load_or_create_at(dir_fd, "server.key", key, &made,
                                               &created, err, sizeof(err)),
                     FT_OK);
    assert_true(created);
    assert_int_equal(mode_of(key), 0600);
    assert_int_equal(ft_keys_load_or_create_at(dir_fd, "server.key", key, &loaded,
                                               &created, err, sizeof(err)),
                     FT_OK);
    assert_false(created);
    assert_memory_equal(loaded.private_key, made.private_key, FT_KEY_BYTES);

    /* A link to a key of the attacker's: not loaded. */
    assert_int_equal(rename(key, planted), 0);
    assert_int_equal(symlink(planted, key), 0);
    assert_int_equal(ft_keys_load_or_create_at(dir_fd, "server.key", key, &loaded,
                                               &created, err, sizeof(err)),
                     FT_ERR_DENIED);
    expect_in(err, "symbolic link");
    expect_in(err, key);
    /* A dangling one, to where a new key would land: nothing written. */
    assert_int_equal(unlink(planted), 0);
    assert_int_equal(ft_keys_load_or_create_at(dir_fd, "server.key", key, &loaded,
                                               &created, err, sizeof(err)),
                     FT_ERR_DENIED);
    assert_false(tu_exists(planted));
    close(dir_fd);
    free(meta);
    free(key);
    free(planted);
}

static void test_fingerprint_form(void **state)
{
    struct tu_fixture *f = *state;
    static const char base64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *path = tu_path(f->work, "server.key");
    uint8_t key[FT_KEY_BYTES] = { 0 };
    char fp[FT_FINGERPRINT_MAX], again[FT_FINGERPRINT_MAX];
    struct ft_keypair kp;
    bool created;
    char err[512];

    ft_keys_fingerprint(key, fp);
    assert_string_equal(fp, FP_ZERO_KEY);
    for (size_t i = 0; i < FT_KEY_BYTES; i++)
        key[i] = (uint8_t)i;
    ft_keys_fingerprint(key, fp);
    assert_string_equal(fp, FP_COUNTING_KEY);

    /* Any key: "b2:" and 43 characters of base64, the same each time. */
    assert_int_equal(ft_keys_load_or_create(path, &kp, &created, err, sizeof(err)),
                     FT_OK);
    ft_keys_fingerprint(kp.public_key, fp);
    ft_keys_fingerprint(kp.public_key, again);
    assert_string_equal(fp, again);
    assert_int_equal(strlen(fp), 3 + 43);
    assert_true(strlen(fp) < FT_FINGERPRINT_MAX);
    assert_memory_equal(fp, "b2:", 3);
    assert_int_equal(strspn(fp + 3, base64), 43);
    assert_string_not_equal(fp, FP_ZERO_KEY);
    free(path);
}

/* --- tokens ------------------------------------------------------------- */

static void test_token_made_and_loaded(void **state)
{
    struct tu_fixture *f = *state;
    char *folder = tu_path(f->work, "t");
    char *path = tu_path(f->work, "t/token");
    char *other = tu_path(f->work, "token2");
    uint8_t psk[FT_TOKEN_BYTES], again[FT_TOKEN_BYTES], psk2[FT_TOKEN_BYTES];
    char text[128] = "", before[128] = "";
    char err[512];
    FILE *fp;

    /* A missing folder is named, not made: a typo leaves no secret in a
     * place nobody meant. */
    assert_int_equal(ft_keys_make_token(path, err, sizeof(err)), FT_ERR_IO);
    assert_non_null(strstr(err, "does not exist"));
    assert_false(tu_exists(folder));
    assert_int_equal(mkdir(folder, 0700), 0);
    assert_int_equal(ft_keys_make_token(path, err, sizeof(err)), FT_OK);
    assert_int_equal(mode_of(path), 0600);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof(text), fp));
    fclose(fp);
    /* 32 random bytes as hex, one line. */
    assert_int_equal(strlen(text), 2 * FT_TOKEN_BYTES + 1);
    assert_int_equal(strspn(text, "0123456789abcdef"), 2 * FT_TOKEN_BYTES);
    assert_int_equal(text[2 * FT_TOKEN_BYTES], '\n');

    assert_int_equal(ft_keys_load_token(path, psk, err, sizeof(err)), FT_OK);
    assert_int_equal(ft_keys_load_token(path, again, err, sizeof(err)), FT_OK);
    assert_memory_equal(psk, again, FT_TOKEN_BYTES);

    /* An existing file is never overwritten. */
    memcpy(before, text, sizeof(before));
    assert_int_not_equal(ft_keys_make_token(path, err, sizeof(err)), FT_OK);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof(text), fp));
    fclose(fp);
    assert_string_equal(text, before);
    assert_int_equal(ft_keys_load_token(path, again, err, sizeof(err)), FT_OK);
    assert_memory_equal(psk, again, FT_TOKEN_BYTES);

    /* Another token, another key. */
    assert_int_equal(ft_keys_make_token(other, err, sizeof(err)), FT_OK);
    assert_int_equal(ft_keys_load_token(other, psk2, err, sizeof(err)), FT_OK);
    assert_memory_not_equal(psk, psk2, FT_TOKEN_BYTES);
    free(folder);
    free(path);
    free(other);
}

/* Loads a token file holding text, written as a person would (mode 0600). */
static enum ft_err load_written(const struct tu_fixture *f, const char *text,
                                uint8_t psk[FT_TOKEN_BYTES], char *err,
                                size_t errlen)
{
    char *path = tu_path(f->work, "written");
    enum ft_err rc;

    unlink(path);
    tu_write_bytes(path, text, strlen(text));
    assert_int_equal(chmod(path, 0600), 0);
    err[0] = '\0';
    rc = ft_keys_load_token(path, psk, err, errlen);
    free(path);
    return rc;
}

/* A token a person wrote: the editor's newline is not part of it, every
 * other byte is, and the key derived from it is not the token itself. */
static void test_token_written_by_hand(void **state)
{
    struct tu_fixture *f = *state;
    uint8_t bare[FT_TOKEN_BYTES], edited[FT_TOKEN_BYTES], last[FT_TOKEN_BYTES];
    char err[512];

    assert_int_equal(load_written(f, SECRET, bare, err, sizeof(err)), FT_OK);
    assert_int_equal(load_written(f, SECRET "\n", edited, err, sizeof(err)), FT_OK);
    assert_memory_equal(bare, edited, FT_TOKEN_BYTES);
    assert_memory_not_equal(bare, SECRET, FT_TOKEN_BYTES);
    assert_int_equal(load_written(f, SECRET "S", last, err, sizeof(err)), FT_OK);
    assert_memory_not_equal(bare, last, FT_TOKEN_BYTES);
}

static void test_token_refused(void **state)
{
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "token");
    char *missing = tu_path(f->work, "missing");
    const mode_t loose[] = { 0644, 0660, 0606, 0640 };
    uint8_t psk[FT_TOKEN_BYTES];
    char err[512];

    assert_int_equal(ft_keys_make_token(path, err, sizeof(err)), FT_OK);
    for (size_t i = 0; i < sizeof(loose) / sizeof(*loose); i++) {
        assert_int_equal(chmod(path, loose[i]), 0);
        err[0] = '\0';
        assert_int_equal(ft_keys_load_token(path, psk, err, sizeof(err)),
                         FT_ERR_DENIED);
        expect_in(err, "too open");
    }
    /* Fewer than 16 bytes of secret, trailing blanks aside. */
    assert_int_equal(load_written(f, "fifteen bytes!!\n \r\n", psk, err, sizeof(err)),
                     FT_ERR_USAGE);
    expect_in(err, "at least 16 bytes");
    expect_in(err, "ft keygen --token");
    err[0] = '\0';
    assert_int_equal(ft_keys_load_token(missing, psk, err, sizeof(err)), FT_ERR_IO);
    expect_in(err, missing);
    free(path);
    free(missing);
}

/* --- known hosts ---------------------------------------------------------- */

/* One look-up in a known-hosts file and what it must answer; old, when
 * not NULL, is the pinned fingerprint a changed key must name. */
struct lookup {
    const char *host;
    uint16_t port;
    const char *fp;
    enum ft_known want;
    const char *old;
};

static void run_lookups(const char *file, const struct lookup *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum ft_known result = FT_KNOWN_MATCH;
        char old[FT_FINGERPRINT_MAX] = "", err[512];

        if (ft_keys_check_known_host(file, l[i].host, l[i].port, l[i].fp, true, &result,
                                     old, err, sizeof(err)) != FT_OK)
            fail_msg("known hosts: %s", err);
        if (result != l[i].want)
            fail_msg("look-up %zu (%s port %u): %d, expected %d", i, l[i].host,
                     (unsigned)l[i].port, (int)result, (int)l[i].want);
        if (l[i].old != NULL)
            assert_string_equal(old, l[i].old);
    }
}

/* First use pins (the folder made on the way); the same key is known;
 * another key on the same host and port is a change that names the pinned
 * one, and the pin itself stays. Pins are per host and port, and a name or
 * number that begins like another is not that other. */
static void test_known_hosts(void **state)
{
    static const struct lookup l[] = {
        { "example.org", 7000, FP_ZERO_KEY, FT_KNOWN_NEW, NULL },
        { "example.org", 7000, FP_ZERO_KEY, FT_KNOWN_MATCH, NULL },
        { "example.org", 7000, FP_COUNTING_KEY, FT_KNOWN_CHANGED, FP_ZERO_KEY },
        { "example.org", 7000, FP_COUNTING_KEY, FT_KNOWN_CHANGED, FP_ZERO_KEY },
        { "example.org", 7000, FP_ZERO_KEY, FT_KNOWN_MATCH, NULL },
        { "example.org", 7001, FP_COUNTING_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.1", 22, FP_ZERO_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.1", 2222, FP_COUNTING_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.1", 2, FP_COUNTING_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.10", 22, FP_COUNTING_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.", 22, FP_COUNTING_KEY, FT_KNOWN_NEW, NULL },
        { "10.0.0.1", 22, FP_ZERO_KEY, FT_KNOWN_MATCH, NULL },
        { "10.0.0.1", 2222, FP_COUNTING_KEY, FT_KNOWN_MATCH, NULL },
        { "10.0.0.1", 22, FP_COUNTING_KEY, FT_KNOWN_CHANGED, FP_ZERO_KEY },
        { "10.0.0.10", 22, FP_COUNTING_KEY, FT_KNOWN_MATCH, NULL },
        { "example.org", 7000, FP_ZERO_KEY, FT_KNOWN_MATCH, NULL },
    };
    struct tu_fixture *f = *state;
    char *file = tu_path(f->config, "ft/known_hosts");

    run_lookups(file, l, sizeof(l) / sizeof(*l));
    assert_int_equal(mode_of(file), 0600);
    free(file);
}

static void test_known_hosts_unreadable(void **state)
{
    struct tu_fixture *f = *state;
    char *file = tu_path(f->work, "known_hosts");
    enum ft_known result;
    char old[FT_FINGERPRINT_MAX], err[512] = "";

    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(ft_keys_check_known_host(file, "h", 1, FP_ZERO_KEY, true, &result,
                                              old, err, sizeof(err)), FT_ERR_IO);
    expect_in(err, file);
    free(file);
}

/* Where pins go by default: $XDG_CONFIG_HOME when it is an absolute path,
 * else ~/.config, else nowhere. */
static void test_default_known_hosts(void **state)
{
    char *saved_xdg = getenv("XDG_CONFIG_HOME");
    char *saved_home = getenv("HOME");
    char *p;

    (void)state;
    saved_xdg = saved_xdg ? strdup(saved_xdg) : NULL;
    saved_home = saved_home ? strdup(saved_home) : NULL;
    setenv("XDG_CONFIG_HOME", "/x/conf", 1);
    setenv("HOME", "/home/u", 1);
    p = ft_keys_default_known_hosts();
    assert_string_equal(p, "/x/conf/ft/known_hosts");
    free(p);
    setenv("XDG_CONFIG_HOME", "relative", 1);
    p = ft_keys_default_known_hosts();
    assert_string_equal(p, "/home/u/.config/ft/known_hosts");
    free(p);
    unsetenv("XDG_CONFIG_HOME");
    p = ft_keys_default_known_hosts();
    assert_string_equal(p, "/home/u/.config/ft/known_hosts");
    free(p);
    unsetenv("HOME");
    assert_null(ft_keys_default_known_hosts());
    if (saved_xdg != NULL)
        setenv("XDG_CONFIG_HOME", saved_xdg, 1);
    if (saved_home != NULL)
        setenv("HOME", saved_home, 1);
    free(saved_xdg);
    free(saved_home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_FIXTURE(test_key_made_once_then_loaded),
        TU_TEST_FIXTURE(test_key_others_may_read_refused),
        TU_TEST_FIXTURE(test_key_wrong_size_refused),
        TU_TEST_FIXTURE(test_key_not_a_file_refused),
        TU_TEST_FIXTURE(test_key_at_refuses_a_link),
        TU_TEST_FIXTURE(test_fingerprint_form),
        TU_TEST_FIXTURE(test_token_made_and_loaded),
        TU_TEST_FIXTURE(test_token_written_by_hand),
        TU_TEST_FIXTURE(test_token_refused),
        TU_TEST_FIXTURE(test_known_hosts),
        TU_TEST_FIXTURE(test_known_hosts_unreadable),
        cmocka_unit_test(test_default_known_hosts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
