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

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clients.h"
#include "io.h"
#include "ft/keys.h"
#include "server_int.h"
#include "testutil.h"

#define WAIT_MS 10000

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

/* --- admission, through a server ---------------------------------------- */

/* The log of the in-process server, for both sides' messages. */
static struct tu_log server_log = TU_LOG_INIT;

static void expect_logged(const char *want)
{
    tu_log_expect(&server_log, want);
}

/* The line of the log that says want also says also. */
static void expect_logged_with(const char *want, const char *also)
{
    const char *at, *start, *end;
    bool found = false;

    pthread_mutex_lock(&server_log.lock);
    at = strstr(server_log.text, want);
    if (at != NULL) {
        for (start = at; start > server_log.text && start[-1] != '\n'; start--)
            ;
        end = strchr(at, '\n');
        found = memmem(start, (size_t)(end - start), also, strlen(also)) != NULL;
    }
    pthread_mutex_unlock(&server_log.lock);
    if (!found)
        fail_msg("expected a line with \"%s\" and \"%s\" in the server's log:\n%s",
                 want, also, server_log.text);
}

/* A client's key pair, its line's key text and its fingerprint. */
struct who {
    struct ft_keypair kp;
    char key[FT_CLIENT_KEY_TEXT_MAX];
    char fp[FT_FINGERPRINT_MAX];
    struct ft_client_config cfg;
};

static void who_make(struct who *w)
{
    memset(w, 0, sizeof(*w));
    ft_keys_generate(&w->kp);
    ft_clients_format_key(w->kp.public_key, w->key);
    ft_keys_fingerprint(w->kp.public_key, w->fp);
    w->cfg.identity = &w->kp;
}

/* Writes a clients or config file, writable by its owner only whatever
 * the umask (the server refuses a clients file others may write). */
static void write_text(const char *path, const char *text)
{
    tu_write_bytes(path, text, strlen(text));
    assert_int_equal(chmod(path, 0644), 0);
}

/* Starts f's in-process server on the clients file at path. */
static void serve_clients(struct tu_fixture *f, const char *path, unsigned anonymous)
{
    struct ft_server_config cfg = { .clients_file = path, .anonymous_allow = anonymous,
                                    .log = tu_log_record, .log_ctx = &server_log };

    server_log.text[0] = '\0';
    tu_server_start(&f->server, &cfg);
}

/* Makes two clients, the first named in a new clients file with options,
 * and starts f's in-process server on it; returns the file's path. */
static char *serve_listed(struct tu_fixture *f, struct who *listed, const char *options,
                          struct who *other, unsigned anonymous)
{
    char *clients = tu_path(f->work, "clients");
    char line[256];

    who_make(listed);
    who_make(other);
    snprintf(line, sizeof(line), "%s %s\n", listed->key, options);
    write_text(clients, line);
    serve_clients(f, clients, anonymous);
    return clients;
}

static int list_nothing(const struct ft_entry *e, void *ctx)
{
    (void)ctx;
    (void)e;
    return 0;
}

/* Connects as w and lists the store: FT_OK when the server admits w;
 * otherwise the client's message goes to msg. */
static enum ft_err try_as(struct tu_fixture *f, struct who *w, char *msg, size_t len)
{
    struct ft_client *c = NULL;
    enum ft_err err = tu_try_connect(&c, f->server.port, &w->cfg, msg, len);

    if (err != FT_OK)
        return err;
    err = ft_client_list(c, list_nothing, NULL);
    snprintf(msg, len, "%s", ft_client_error(c));
    ft_client_close(c);
    return err;
}

static void test_unknown_key_refused_both_sides(void **state)
{
    struct tu_fixture *f = *state;
    struct who known, stranger;
    char *clients = serve_listed(f, &known, "name=known", &stranger, 0);
    char want[256], msg[512];

    assert_int_equal(try_as(f, &stranger, msg, sizeof(msg)), FT_ERR_UNKNOWN_KEY);
    snprintf(want, sizeof(want), "this server does not know your key %s: ask its "
             "operator to add it (ft id prints the line to give them)", stranger.fp);
    expect_in(msg, want);
    /* One line with the peer's address, the fingerprint and the cause. */
    snprintf(want, sizeof(want), "refused: unknown key %s", stranger.fp);
    expect_logged_with(want, "Z 127.0.0.1:");
    /* The key it names is admitted, and named in the log lines after. */
    assert_int_equal(try_as(f, &known, msg, sizeof(msg)), FT_OK);
    snprintf(want, sizeof(want), "is known, key %s: list,read,write,delete on /",
             known.fp);
    expect_logged(want);
    expect_logged(" known@127.0.0.1:");
    free(clients);
}

/* --anonymous list,read: a key the file does not name gets those rights
 * on the whole store; one it names keeps its own. */
static void test_anonymous_readers(void **state)
{
    struct tu_fixture *f = *state;
    struct who named, reader;
    char *clients = serve_listed(f, &named, "name=writer root=w", &reader,
                                 FT_ALLOW_LIST | FT_ALLOW_READ);
    char want[256], msg[512];

    assert_int_equal(try_as(f, &reader, msg, sizeof(msg)), FT_OK);
    snprintf(want, sizeof(want), "is anonymous, key %s: list,read on /\n", reader.fp);
    expect_logged(want);
    /* Named by the start of its fingerprint, having no name. */
    snprintf(want, sizeof(want), " %.14s@127.0.0.1:", reader.fp); /* b2: and 11 */
    expect_logged(want);
    assert_int_equal(try_as(f, &named, msg, sizeof(msg)), FT_OK);
    snprintf(want, sizeof(want), "is writer, key %s: list,read,write,delete on /w\n",
             named.fp);
    expect_logged(want);
    free(clients);
}

static void test_expired_and_wrong_address_refused(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    struct who old, away, here;
    char text[1024], want[256], msg[512];

    who_make(&old);
    who_make(&away);
    who_make(&here);
    snprintf(text, sizeof(text),
             "%s name=old expires=2020-01-31\n"
             "%s name=away from=10.0.0.0/8,2001:db8::/32\n"
             "%s name=here from=10.0.0.0/8,127.0.0.0/8 expires=9999-12-31\n",
             old.key, away.key, here.key);
    write_text(clients, text);
    /* Anonymous rights do not stand in for a key the file refuses. */
    serve_clients(f, clients, FT_ALLOW_LIST);
    assert_int_equal(try_as(f, &old, msg, sizeof(msg)), FT_ERR_KEY_REFUSED);
    snprintf(want, sizeof(want), "your key %s expired on 2020-01-31 on this server: "
             "ask its operator to renew it", old.fp);
    expect_in(msg, want);
    snprintf(want, sizeof(want), "refused: key %s (line 1) expired on 2020-01-31",
             old.fp);
    expect_logged(want);
    assert_int_equal(try_as(f, &away, msg, sizeof(msg)), FT_ERR_KEY_REFUSED);
    snprintf(want, sizeof(want), "this server does not take your key %s from your "
             "address", away.fp);
    expect_in(msg, want);
    snprintf(want, sizeof(want), "refused: key %s (line 2) not allowed from this "
             "address", away.fp);
    expect_logged(want);
    assert_int_equal(try_as(f, &here, msg, sizeof(msg)), FT_OK);
    expect_logged("is here, key ");
    free(clients);
}

/* What the slow upload and the test's thread tell each other. */
struct pause {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool started, go_on;
};

/* The upload's progress: at its first chunk it says it is under way and
 * waits (bounded) until the test has reloaded the file. */
static void pause_once(void *ctx, uint64_t done, uint64_t total)
{
    struct pause *p = ctx;
    struct timespec until;

    (void)done;
    (void)total;
    ft_io_abstime(WAIT_MS, &until);
    pthread_mutex_lock(&p->lock);
    p->started = true;
    pthread_cond_broadcast(&p->cond);
    while (!p->go_on && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&p->lock);
}

struct upload {
    struct ft_client *c;
    const char *src;
    struct pause pause;
    enum ft_err err;
};

static void *upload_main(void *arg)
{
    struct upload *u = arg;
    struct ft_transfer_options opt = { .progress = pause_once,
                                       .progress_ctx = &u->pause, .streams = 1 };
    struct ft_transfer out;
    int fd = open(u->src, O_RDONLY);

    u->err = ft_client_put(u->c, fd, tu_file_size(u->src), "big", &opt, &out);
    close(fd);
    return NULL;
}

/* A key removed by a reload is refused from its next connection on, while
 * a transfer another admitted client has under way goes on untouched, as
 * does the removed key's own open connection (see SECURITY.md). */
static void test_reload_removes_a_key(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    char *src = tu_path(f->work, "big");
    struct who gone, stays;
    struct upload u = { .err = FT_ERR_INTERRUPTED };
    char text[512], want[256], msg[512], err[512];
    pthread_t t;
    struct timespec until;

    who_make(&gone);
    who_make(&stays);
    snprintf(text, sizeof(text), "%s name=gone\n%s name=stays\n", gone.key, stays.key);
    write_text(clients, text);
    serve_clients(f, clients, 0);
    tu_write_random(src, 4 << 20, 15);
    pthread_mutex_init(&u.pause.lock, NULL);
    pthread_cond_init(&u.pause.cond, NULL);
    u.src = src;
    u.c = tu_connect(f->server.port, &stays.cfg);
    assert_int_equal(pthread_create(&t, NULL, upload_main, &u), 0);
    ft_io_abstime(WAIT_MS, &until);
    pthread_mutex_lock(&u.pause.lock);
    while (!u.pause.started &&
           pthread_cond_timedwait(&u.pause.cond, &u.pause.lock, &until) == 0)
        ;
    pthread_mutex_unlock(&u.pause.lock);
    assert_true(u.pause.started);

    /* Both keys go; the file now names someone else. */
    write_text(clients, "# nobody for now\n" KEY_11 " name=other\n");
    assert_int_equal(ft_server_reload(f->server.srv, err, sizeof(err)), FT_OK);
    expect_logged("read, 1 keys");
    assert_int_equal(try_as(f, &gone, msg, sizeof(msg)), FT_ERR_UNKNOWN_KEY);

    pthread_mutex_lock(&u.pause.lock);
    u.pause.go_on = true;
    pthread_cond_broadcast(&u.pause.cond);
    pthread_mutex_unlock(&u.pause.lock);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(u.err, FT_OK);
    assert_true(tu_store_same(f->server.root, "big", src));
    ft_client_close(u.c);
    /* Its next connection is refused too. */
    assert_int_equal(try_as(f, &stays, msg, sizeof(msg)), FT_ERR_UNKNOWN_KEY);
    snprintf(want, sizeof(want), "refused: unknown key %s", stays.fp);
    expect_logged(want);
    pthread_cond_destroy(&u.pause.cond);
    pthread_mutex_destroy(&u.pause.lock);
    free(clients);
    free(src);
}

/* A malformed file at a reload: the old one stays in force, and the
 * message names the line. */
static void test_reload_malformed_keeps_old(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    struct who a;
    char text[512], msg[512], err[512];

    who_make(&a);
    snprintf(text, sizeof(text), "%s name=a\n", a.key);
    write_text(clients, text);
    serve_clients(f, clients, 0);
    write_text(clients, "# oops\n" KEY_11 " colour=blue\n");
    assert_int_equal(ft_server_reload(f->server.srv, err, sizeof(err)), FT_ERR_USAGE);
    expect_in(err, ":2: unknown option 'colour'");
    expect_logged(":2: unknown option 'colour'");
    expect_logged("the clients file read before stays in force");
    assert_int_equal(try_as(f, &a, msg, sizeof(msg)), FT_OK);
    unlink(clients);
    assert_int_equal(ft_server_reload(f->server.srv, err, sizeof(err)), FT_ERR_IO);
    expect_in(err, "cannot read");
    assert_int_equal(try_as(f, &a, msg, sizeof(msg)), FT_OK);
    free(clients);
}

/* --- admission, called directly ----------------------------------------- */

/* A session of srv for a client of key (NULL: none) over a TCP connection
 * from 127.0.0.1, as the server would have it after the handshake. */
struct direct {
    struct session s;
    int other; /* the client's end */
};

static void direct_open(struct direct *d, struct ft_server *srv, const uint8_t *key)
{
    uint16_t port;
    int lfd = tu_listen_loopback(1, &port);

    memset(d, 0, sizeof(*d));
    d->other = tu_connect_raw(port);
    d->s.srv = srv;
    assert_int_equal(ft_conn_init(&d->s.conn, accept(lfd, NULL, NULL), 1000), FT_OK);
    close(lfd);
    snprintf(d->s.peer, sizeof(d->s.peer), "127.0.0.1:1");
    d->s.xfer_opts.rate_limit = srv->cfg.max_rate;
    if (key != NULL) {
        memcpy(d->s.client_key, key, 32);
        d->s.has_client_key = true;
        ft_keys_fingerprint(key, d->s.client_fingerprint);
    }
}

static void direct_close(struct direct *d)
{
    ft_conn_free(&d->s.conn);
    close(d->other);
}

static struct ft_server *open_server(struct tu_fixture *f, const char *clients,
                                     unsigned anonymous, uint64_t max_rate)
{
    char *root = tu_path(f->work, "store");
    struct ft_server_config cfg = { .root = root, .clients_file = clients,
                                    .anonymous_allow = anonymous, .max_rate = max_rate,
                                    .log = tu_log_record, .log_ctx = &server_log };
    struct ft_server *srv = NULL;
    char err[512];

    if (ft_server_open(&srv, &cfg, err, sizeof(err)) != FT_OK)
        fail_msg("%s", err);
    free(root);
    return srv;
}

static void test_admit_rights(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    struct ft_server *srv;
    struct direct d;
    uint8_t k11[32], k22[32], k33[32];

    memset(k11, 0x11, 32);
    memset(k22, 0x22, 32);
    memset(k33, 0x33, 32);
    write_text(clients, KEY_11 " name=alice root=/a/ allow=read,write quota=1M "
                        "files=10 rate=1M from=127.0.0.1\n"
                        KEY_22 " rate=100M\n");
    srv = open_server(f, clients, FT_ALLOW_LIST, 10 << 20);
    direct_open(&d, srv, k11);
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_string_equal(d.s.rights.name, "alice");
    assert_string_equal(d.s.rights.root, "a");
    assert_int_equal(d.s.rights.allow, FT_ALLOW_READ | FT_ALLOW_WRITE);
    assert_true(d.s.rights.quota_bytes == 1 << 20 && d.s.rights.quota_files == 10);
    assert_true(d.s.xfer_opts.rate_limit == 1 << 20); /* its own, the smaller */
    assert_string_equal(d.s.peer, "alice@127.0.0.1:1");
    direct_close(&d);
    direct_open(&d, srv, k22);
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_true(d.s.xfer_opts.rate_limit == 10 << 20); /* the server's, smaller */
    assert_int_equal(d.s.rights.allow, FT_ALLOW_ALL);
    direct_close(&d);
    direct_open(&d, srv, k33); /* anonymous */
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_int_equal(d.s.rights.allow, FT_ALLOW_LIST);
    assert_string_equal(d.s.rights.root, "");
    assert_true(d.s.rights.quota_bytes == FT_UNLIMITED);
    direct_close(&d);
    /* No key (an older client): an unknown key, but for anonymous rights. */
    direct_open(&d, srv, NULL);
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_int_equal(d.s.rights.allow, FT_ALLOW_LIST);
    assert_string_equal(d.s.peer, "127.0.0.1:1");
    direct_close(&d);
    ft_server_free(srv);
    srv = open_server(f, clients, 0, 0);
    direct_open(&d, srv, NULL);
    close(d.other); /* the refusal goes nowhere: no wait for the client */
    d.other = -1;
    assert_int_equal(ft_server_admit(&d.s), FT_ERR_UNKNOWN_KEY);
    expect_logged("127.0.0.1:1 refused: no client key");
    direct_close(&d);
    ft_server_free(srv);
    free(clients);
}

/* Without a clients file: everyone, with every right (as before), or
 * with --anonymous's; the log still names the key. */
static void test_admit_without_file(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_server *srv = open_server(f, NULL, 0, 0);
    struct direct d;
    uint8_t k11[32];
    char want[128];

    memset(k11, 0x11, 32);
    direct_open(&d, srv, k11);
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_int_equal(d.s.rights.allow, FT_ALLOW_ALL);
    assert_string_equal(d.s.rights.root, "");
    snprintf(want, sizeof(want), "%.14s@127.0.0.1:1", d.s.client_fingerprint);
    assert_string_equal(d.s.peer, want);
    direct_close(&d);
    ft_server_free(srv);
    srv = open_server(f, NULL, FT_ALLOW_LIST | FT_ALLOW_READ, 0);
    direct_open(&d, srv, k11);
    assert_int_equal(ft_server_admit(&d.s), FT_OK);
    assert_int_equal(d.s.rights.allow, FT_ALLOW_LIST | FT_ALLOW_READ);
    direct_close(&d);
    ft_server_free(srv);
}

/* A clients file and plaintext do not go together: refused at the start. */
static void test_no_plaintext_with_clients(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    char *root = tu_path(f->work, "store");
    struct ft_server_config cfg = { .root = root, .clients_file = clients,
                                    .allow_plaintext = true, .log = tu_log_record,
                                    .log_ctx = &server_log };
    struct ft_server *srv = NULL;
    char err[512];

    write_text(clients, "");
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_USAGE);
    assert_null(srv);
    expect_in(err, "grants no plaintext");
    /* And a malformed file stops the start, naming its line. */
    write_text(clients, "\n\nft-x25519 nope\n");
    cfg.allow_plaintext = false;
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_USAGE);
    expect_in(err, "clients:3: the key is not");
    free(clients);
    free(root);
}

/* Whoever may write the file decides who gets in: one that others may
 * write is refused at start and at a reload. */
static void test_clients_file_others_may_write(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    char *root = tu_path(f->work, "store");
    struct ft_server_config cfg = { .root = root, .clients_file = clients,
                                    .log = tu_log_record, .log_ctx = &server_log };
    struct ft_server *srv = NULL;
    char err[512];

    write_text(clients, KEY_11 "\n");
    assert_int_equal(chmod(clients, 0666), 0);
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_ERR_DENIED);
    expect_in(err, "other users may write it");
    expect_in(err, "chmod go-w");
    assert_int_equal(chmod(clients, 0640), 0);
    assert_int_equal(ft_server_open(&srv, &cfg, err, sizeof(err)), FT_OK);
    assert_int_equal(chmod(clients, 0620), 0);
    assert_int_equal(ft_server_reload(srv, err, sizeof(err)), FT_ERR_DENIED);
    ft_server_free(srv);
    free(clients);
    free(root);
}

/* --- ft serve ------------------------------------------------------------ */

/* `ft ls` against the fixture's `ft serve`: its exit status, err its
 * standard error. Each run is a new key (no identity is kept). */
static int ft_ls(struct tu_fixture *f, char *err, size_t len)
{
    const char *args[] = { "ls", "-p", f->served.portstr, NULL };

    return tu_run_ft(args, NULL, NULL, err, len);
}

static void test_serve_unknown_key_told(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    const char *extra[] = { "--clients", clients, NULL };
    char err[1024];

    write_text(clients, KEY_11 " name=someone\n");
    assert_true(tu_fixture_serve(f, extra));
    assert_true(tu_served_log_until(&f->served, "other keys are refused", WAIT_MS));
    assert_int_not_equal(ft_ls(f, err, sizeof(err)), 0);
    expect_in(err, "this server does not know your key b2:");
    expect_in(err, ": ask its operator to add it (ft id prints the line to give them)");
    assert_true(tu_served_log_until(&f->served, "refused: unknown key b2:", WAIT_MS));
    free(clients);
}

/* --anonymous list,read lets unknown keys list; SIGHUP rereads the file,
 * a malformed one leaving the old in force; the server never stops. */
static void test_serve_anonymous_and_sighup(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    const char *extra[] = { "--clients", clients, "--anonymous", "list,read", NULL };
    char err[1024], want[512];

    write_text(clients, KEY_11 " name=someone\n");
    assert_true(tu_fixture_serve(f, extra));
    assert_int_equal(ft_ls(f, err, sizeof(err)), 0);
    assert_true(tu_served_log_until(&f->served, "is anonymous, key b2:", WAIT_MS));
    assert_true(tu_served_log_until(&f->served, ": list,read on /\n", WAIT_MS));

    write_text(clients, KEY_11 " name=someone\n" KEY_22 " allow=teleport\n");
    assert_int_equal(kill(f->served.pid, SIGHUP), 0);
    snprintf(want, sizeof(want), "reload: %s:2: allow= takes", clients);
    assert_true(tu_served_log_until(&f->served, want, WAIT_MS));
    assert_true(tu_served_log_until(&f->served, "the clients file read before stays "
                                    "in force", WAIT_MS));
    assert_int_equal(ft_ls(f, err, sizeof(err)), 0);

    write_text(clients, KEY_11 "\n" KEY_22 "\n");
    assert_int_equal(kill(f->served.pid, SIGHUP), 0);
    snprintf(want, sizeof(want), "reload: %s read, 2 keys", clients);
    assert_true(tu_served_log_until(&f->served, want, WAIT_MS));
    assert_int_equal(ft_ls(f, err, sizeof(err)), 0);
    assert_int_equal(kill(f->served.pid, 0), 0); /* SIGHUP stopped nothing */
    free(clients);
}

/* serve --config: every option of the command line, by its long name; the
 * command line wins (here its --port 0 over the file's port 1). */
static void test_serve_config(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    char *config = tu_path(f->work, "serve.conf");
    const char *extra[] = { "--config", config, NULL };
    char text[1024], err[1024];

    write_text(clients, KEY_11 "\n");
    snprintf(text, sizeof(text),
             "# the server of the test\n"
             "\n"
             "port 1\n"
             "  clients   %s  \n"
             "anonymous list\n"
             "max-rate 10M\n"
             "read-only yes\n"
             "allow-plaintext no\n" /* yes would not start, with clients */
             "idle-timeout 60\n",
             clients);
    write_text(config, text);
    assert_true(tu_fixture_serve(f, extra));
    assert_true(tu_served_log_until(&f->served, "other keys may use it", WAIT_MS));
    assert_true(tu_served_log_until(&f->served, " (read-only)\n", WAIT_MS));
    assert_int_equal(ft_ls(f, err, sizeof(err)), 0);
    assert_true(tu_served_log_until(&f->served, "is anonymous, key b2:", WAIT_MS));
    assert_true(tu_served_log_until(&f->served, ": list on /\n", WAIT_MS));
    free(clients);
    free(config);
}

static void expect_config_refused(struct tu_fixture *f, const char *text,
                                  const char *want)
{
    char *config = tu_path(f->work, "bad.conf");
    const char *args[] = { "serve", "--config", config, "--port", "0", NULL };
    char err[1024], full[512];

    write_text(config, text);
    assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 2);
    snprintf(full, sizeof(full), "%s:%s", config, want);
    expect_in(err, full);
    free(config);
}

static void test_serve_config_errors(void **state)
{
    struct tu_fixture *f = *state;

    expect_config_refused(f, "# x\nmax-rate 10M\ncolour blue\n", "3: unknown option 'colour'");
    expect_config_refused(f, "port many\n", "1: port needs a port number");
    expect_config_refused(f, "max-rate\n", "1: max-rate needs a value");
    expect_config_refused(f, "read-only maybe\n", "1: read-only takes yes, no or nothing");
    expect_config_refused(f, "\n\nconfig other.conf\n", "3: not an option for a file: 'config'");
    expect_config_refused(f, "anonymous everything\n", "1: anonymous needs rights");
}

/* The README's way: each person's `ft id` line goes into the clients file;
 * they are admitted by it, a stranger is told, and a line removed at a
 * SIGHUP shuts its key out from its next connection on. */
static void test_serve_ft_id_lines(void **state)
{
    struct tu_fixture *f = *state;
    char *clients = tu_path(f->work, "clients");
    const char *extra[] = { "--clients", clients, NULL };
    static const char *const people[] = { "alice", "bob", "stranger" };
    char *ids[3], *lines[3];
    char text[1024], err[1024], want[512];

    for (int i = 0; i < 3; i++) {
        char *out = tu_path(f->work, people[i]);
        char name[32];
        const char *args[] = { "id", "-i", NULL, NULL };
        FILE *in;

        snprintf(name, sizeof(name), "%s.id", people[i]);
        ids[i] = tu_path(f->work, name);
        args[2] = ids[i];
        assert_int_equal(tu_run_ft(args, NULL, out, err, sizeof(err)), 0);
        lines[i] = calloc(1, 512);
        in = fopen(out, "r");
        assert_non_null(fgets(lines[i], 512, in));
        fclose(in);
        lines[i][strcspn(lines[i], "\n")] = '\0';
        assert_int_equal(strncmp(lines[i], "ft-x25519 ", 10), 0);
        /* The operator renames them: all three are this machine's
         * user@host. */
        assert_non_null(strstr(lines[i], " name="));
        *strstr(lines[i], " name=") = '\0';
        free(out);
    }
    snprintf(text, sizeof(text), "%s name=alice allow=list,read\n%s name=bob\n",
             lines[0], lines[1]);
    write_text(clients, text);
    assert_true(tu_fixture_serve(f, extra));
    for (int i = 0; i < 3; i++) {
        const char *args[] = { "ls", "-i", ids[i], "-p", f->served.portstr, NULL };
        int rc = tu_run_ft(args, NULL, NULL, err, sizeof(err));

        if (i < 2) {
            assert_int_equal(rc, 0);
            snprintf(want, sizeof(want), " is %s, key b2:", people[i]);
            assert_true(tu_served_log_until(&f->served, want, WAIT_MS));
        } else {
            assert_int_not_equal(rc, 0);
            expect_in(err, "this server does not know your key b2:");
        }
    }
    assert_true(tu_served_log_until(&f->served, ": list,read on /\n", WAIT_MS));

    snprintf(text, sizeof(text), "%s name=bob\n", lines[1]);
    write_text(clients, text);
    assert_int_equal(kill(f->served.pid, SIGHUP), 0);
    snprintf(want, sizeof(want), "reload: %s read, 1 keys", clients);
    assert_true(tu_served_log_until(&f->served, want, WAIT_MS));
    {
        const char *alice[] = { "ls", "-i", ids[0], "-p", f->served.portstr, NULL };
        const char *bob[] = { "ls", "-i", ids[1], "-p", f->served.portstr, NULL };

        assert_int_not_equal(tu_run_ft(alice, NULL, NULL, err, sizeof(err)), 0);
        expect_in(err, "this server does not know your key b2:");
        assert_int_equal(tu_run_ft(bob, NULL, NULL, err, sizeof(err)), 0);
    }
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free(lines[i]);
    }
    free(clients);
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
        TU_TEST_FIXTURE(test_unknown_key_refused_both_sides),
        TU_TEST_FIXTURE(test_anonymous_readers),
        TU_TEST_FIXTURE(test_expired_and_wrong_address_refused),
        TU_TEST_FIXTURE(test_reload_removes_a_key),
        TU_TEST_FIXTURE(test_reload_malformed_keeps_old),
        TU_TEST_FIXTURE(test_admit_rights),
        TU_TEST_FIXTURE(test_admit_without_file),
        TU_TEST_FIXTURE(test_no_plaintext_with_clients),
        TU_TEST_FIXTURE(test_clients_file_others_may_write),
        TU_TEST_FIXTURE(test_serve_unknown_key_told),
        TU_TEST_FIXTURE(test_serve_anonymous_and_sighup),
        TU_TEST_FIXTURE(test_serve_config),
        TU_TEST_FIXTURE(test_serve_config_errors),
        TU_TEST_FIXTURE(test_serve_ft_id_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
