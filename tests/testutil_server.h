/* testutil_server.h - the one test harness for servers and clients: a
 * server in a thread of the test, an `ft serve` child, the cmocka fixture
 * that holds them with the test's folders, and the ways to connect. */
#ifndef FT_TESTUTIL_SERVER_H
#define FT_TESTUTIL_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ft/ft.h"
#include "testutil_store.h"

/* A server running in a thread of the test, on any free port. A zeroed
 * struct is a stopped one. */
struct tu_server {
    struct ft_server *srv; /* NULL: not running */
    pthread_t thread;
    char host[64];         /* where it listens: "127.0.0.1" unless cfg said */
    uint16_t port;
    char portstr[8];       /* port as text, for ft's -p */
    char *root;            /* owned; made under $TMPDIR */
    char *store;           /* owned: its S3 location (FT_TEST_STORE=s3),
                              NULL on the folder root */
};
/* Starts a server on a new temporary root; cfg may be NULL. It listens on
 * cfg->host, or 127.0.0.1 when that is NULL; port, root and log are the
 * harness's, and plaintext is allowed (hand-built frames need it; library
 * clients still get the encrypted channel). Aborts if it cannot start. */
void tu_server_start(struct tu_server *t, const struct ft_server_config *cfg);
/* The same, returning false with the reason in err when it cannot start
 * (t is then stopped): for tests that skip, as on a machine without IPv6. */
bool tu_server_try_start(struct tu_server *t, const struct ft_server_config *cfg,
                         char *err, size_t errlen);
/* Stops it, waits for it, removes its root. Idempotent: safe twice and on a
 * zeroed struct. */
void tu_server_stop(struct tu_server *t);

/* An `ft serve` child process, its standard error going to a log file
 * that is read as it grows. A zeroed struct is a stopped one. */
struct tu_served {
    pid_t pid;          /* 0 once reaped */
    uint16_t port;
    char portstr[8];
    int log_fd;         /* reading side of the log file, while log is set */
    char *log;          /* everything read so far, NUL-terminated */
    size_t log_len, log_cap;
};
/* Starts `ft serve --root root --port 0 EXTRA...` logging to log_path and
 * waits (bounded) until it prints its port. extra may be NULL. Returns false
 * (the child reaped) if it never does. */
bool tu_served_start(struct tu_served *s, const char *root,
                     const char *log_path, const char *const extra[]);
/* Reads the log until want appears, for up to timeout_ms. */
bool tu_served_log_until(struct tu_served *s, const char *want, int timeout_ms);

/* An in-process server's log kept in memory for a test to look into: pass
 * tu_log_record as cfg.log and the tu_log as cfg.log_ctx. */
struct tu_log {
    pthread_mutex_t lock;
    char text[32768];
};
#define TU_LOG_INIT { PTHREAD_MUTEX_INITIALIZER, "" }
void tu_log_record(void *ctx, const char *line);
/* Fails the test, showing the log, when want is not in it. */
void tu_log_expect(struct tu_log *l, const char *want);
/* Kills the child if it still runs, reaps it, frees the log. Idempotent:
 * safe twice and on a zeroed struct. */
void tu_served_stop(struct tu_served *s);

/* What a test that needs a server starts from. Its folders are apart, so
 * that what a test counts in one is never the harness's. */
struct tu_fixture {
    struct tu_server server; /* in-process; its root is server.root */
    struct tu_served served; /* `ft serve` on root, logging to work/serve.log */
    char *root;              /* the store of `ft serve` children */
    char *work;              /* the test's own files */
    char *config;            /* XDG_CONFIG_HOME of the test's ft runs */
    char *config_env;        /* "XDG_CONFIG_HOME=<config>", for tu_*_ft_env */
};
/* For cmocka_unit_test_setup_teardown: *state becomes a new tu_fixture
 * with its folders made and, by name, no server, an in-process one, or an
 * `ft serve` child. Teardown stops whatever runs and removes the folders. */
int tu_fixture_setup(void **state);
int tu_fixture_server_setup(void **state);
int tu_fixture_served_setup(void **state);
int tu_fixture_teardown(void **state);
/* A cmocka test with each of those setups and the teardown. */
#define TU_TEST_FIXTURE(fn) \
    cmocka_unit_test_setup_teardown(fn, tu_fixture_setup, tu_fixture_teardown)
#define TU_TEST_SERVER(fn) \
    cmocka_unit_test_setup_teardown(fn, tu_fixture_server_setup, tu_fixture_teardown)
#define TU_TEST_SERVED(fn) \
    cmocka_unit_test_setup_teardown(fn, tu_fixture_served_setup, tu_fixture_teardown)
/* The same for a fixture of the test's own that embeds a tu_fixture:
 * open makes the folders (f zeroed first), close stops both servers and
 * removes them. */
void tu_fixture_open(struct tu_fixture *f);
void tu_fixture_close(struct tu_fixture *f);
/* Starts `ft serve` on f->root with extra arguments (NULL: none). */
bool tu_fixture_serve(struct tu_fixture *f, const char *const extra[]);

/* Starts f's in-process server with a clients file (in f->work) of one
 * line: the public key with opts ("allow=read quota=1M"). */
void tu_fixture_serve_key(struct tu_fixture *f, const uint8_t *key,
                          const char *opts);

/* Connects a library client to port on cfg->host (NULL: 127.0.0.1), with
 * cfg's other options (cfg may be NULL). Nothing is pinned unless
 * cfg->known_hosts names a file. Returns the library's answer, with the
 * reason in err; safe from any thread. */
enum ft_err tu_try_connect(struct ft_client **c, uint16_t port,
                           const struct ft_client_config *cfg, char *err,
                           size_t errlen);
/* The same, failing the test (from its own thread only) when it cannot. */
struct ft_client *tu_connect(uint16_t port, const struct ft_client_config *cfg);

/* A socket listening on a free port of 127.0.0.1 (blocking, backlog
 * backlog), *port its number: a test's own relay or fake server. */
int tu_listen_loopback(int backlog, uint16_t *port);

/* Connects a raw socket to 127.0.0.1:port, for hand-built frames. */
int tu_connect_raw(uint16_t port);

/* Connects to 127.0.0.1:port and performs a raw HELLO/WELCOME exchange on
 * conn (per-frame timeout timeout_ms) announcing features. *max_payload,
 * when not NULL, receives WELCOME's limit. Returns false on any failure;
 * ft_conn_free(conn) is due afterwards in every case. */
struct ft_conn;
bool tu_raw_handshake(struct ft_conn *conn, uint16_t port, uint32_t features,
                      int timeout_ms, uint32_t *max_payload);

/* A socket listening on 127.0.0.1 at a port of the kernel's choosing. */
int tu_listen_local(uint16_t *port);

/* The other side, for a fake server of other days: accepts one connection
 * on listen_fd into conn, reads HELLO, answers WELCOME with features and
 * the plaintext channel. False on any failure; ft_conn_free(conn) is due
 * afterwards once it returned true. */
bool tu_raw_welcome(struct ft_conn *conn, int listen_fd, uint32_t features,
                    int timeout_ms);

#endif
