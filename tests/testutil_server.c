/* testutil_server.c - servers and clients for tests: in-process and
 * `ft serve` servers, the cmocka fixture, connecting. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clients.h"
#include "conn.h"
#include "proto.h"
#include "testutil.h"

static void *server_main(void *arg)
{
    struct tu_server *t = arg;

    ft_server_run(t->srv);
    return NULL;
}

static void quiet_log(void *ctx, const char *line)
{
    (void)ctx;
    if (getenv("FT_TEST_VERBOSE") != NULL)
        fprintf(stderr, "server: %s\n", line);
}

bool tu_server_try_start(struct tu_server *t, const struct ft_server_config *cfg,
                         char *err, size_t errlen)
{
    struct ft_server_config c;

    if (cfg != NULL)
        c = *cfg;
    else
        memset(&c, 0, sizeof(c));
    memset(t, 0, sizeof(*t));
    snprintf(t->host, sizeof(t->host), "%s", c.host != NULL ? c.host : "127.0.0.1");
    t->root = tu_tempdir();
    c.root = t->root;
    t->store = tu_store_config(&c, t->root);
    c.host = t->host;
    c.port = 0;
    if (c.log == NULL)
        c.log = quiet_log;
    /* Hand-built frames in tests ask for plaintext; library clients do not,
     * and get the encrypted channel as users do. A server with a clients
     * file grants no plaintext (it cannot learn a key over it). */
    c.allow_plaintext = c.clients_file == NULL;
    if (ft_server_start(&t->srv, &c, err, errlen) != FT_OK) {
        t->srv = NULL;
        tu_server_stop(t);
        return false;
    }
    /* The socket listens once ft_server_start returns: no wait needed. */
    t->port = ft_server_port(t->srv);
    snprintf(t->portstr, sizeof(t->portstr), "%u", (unsigned)t->port);
    if (pthread_create(&t->thread, NULL, server_main, t) != 0)
        tu_die("pthread_create");
    return true;
}

void tu_server_start(struct tu_server *t, const struct ft_server_config *cfg)
{
    char err[512];

    if (!tu_server_try_start(t, cfg, err, sizeof(err))) {
        fprintf(stderr, "testutil: server: %s\n", err);
        abort();
    }
}

void tu_server_stop(struct tu_server *t)
{
    if (t->srv != NULL) {
        ft_server_stop(t->srv);
        pthread_join(t->thread, NULL);
        ft_server_free(t->srv);
    }
    if (t->root != NULL)
        tu_rmtree(t->root);
    free(t->root);
    free(t->store);
    memset(t, 0, sizeof(*t));
}

/* Appends what the log file gained since the last read. */
static void served_read_log(struct tu_served *s)
{
    for (;;) {
        ssize_t r;

        if (s->log_cap - s->log_len < 4096) {
            size_t cap = s->log_cap ? 2 * s->log_cap : 65536;
            char *p = realloc(s->log, cap);

            if (p == NULL)
                tu_die("realloc");
            s->log = p;
            s->log_cap = cap;
        }
        r = read(s->log_fd, s->log + s->log_len, s->log_cap - s->log_len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        s->log_len += (size_t)r;
    }
    s->log[s->log_len] = '\0';
}

bool tu_served_log_until(struct tu_served *s, const char *want, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        served_read_log(s);
        if (strstr(s->log, want) != NULL)
            return true;
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
}

bool tu_served_start(struct tu_served *s, const char *root,
                     const char *log_path, const char *const extra[])
{
    const char *args[48] = { "serve" };
    size_t n = 1;
    const char *p;
    char *store;
    int wfd;

    memset(s, 0, sizeof(*s));
    s->log_fd = -1;
    n += tu_store_serve_args(root, args + n, &store);
    args[n++] = "--port";
    args[n++] = "0";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    wfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (wfd < 0)
        tu_die(log_path);
    s->log_fd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (s->log_fd < 0)
        tu_die(log_path);
    s->pid = tu_spawn_ft(args, -1, -1, wfd);
    close(wfd);
    free(store);
    /* Ready when it says which port it listens on, on a whole line. */
    for (int64_t deadline = tu_now_ms() + 20000;;) {
        int status;

        served_read_log(s);
        p = strstr(s->log, " serving ");
        p = p != NULL ? strstr(p, " port ") : NULL;
        if (p != NULL && strchr(p, '\n') != NULL)
            break;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            s->pid = 0; /* it died: its last words are in the log */
        if (s->pid == 0 || tu_now_ms() > deadline) {
            fprintf(stderr, "testutil: ft serve did not start:\n%s\n", s->log);
            tu_kill_pid(&s->pid);
            return false;
        }
        tu_sleep_ms(10);
    }
    p += 6;
    snprintf(s->portstr, sizeof(s->portstr), "%.*s",
             (int)strspn(p, "0123456789"), p);
    s->port = (uint16_t)atoi(s->portstr);
    if (s->port == 0) {
        tu_kill_pid(&s->pid);
        return false;
    }
    return true;
}

void tu_served_stop(struct tu_served *s)
{
    tu_kill_pid(&s->pid);
    /* The log is read from the start on, so a log buffer means an open
     * descriptor; a zeroed struct has neither (and its 0 is not ours). */
    if (s->log != NULL && s->log_fd >= 0)
        close(s->log_fd);
    free(s->log);
    memset(s, 0, sizeof(*s));
    s->log_fd = -1;
}

void tu_fixture_open(struct tu_fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->served.log_fd = -1;
    f->root = tu_tempdir();
    f->work = tu_tempdir();
    f->config = tu_tempdir();
    if (asprintf(&f->config_env, "XDG_CONFIG_HOME=%s", f->config) < 0)
        tu_die("asprintf");
}

static void remove_dir(char **dir)
{
    if (*dir != NULL)
        tu_rmtree(*dir);
    free(*dir);
    *dir = NULL;
}

void tu_fixture_close(struct tu_fixture *f)
{
    tu_served_stop(&f->served);
    tu_server_stop(&f->server);
    remove_dir(&f->root);
    remove_dir(&f->work);
    remove_dir(&f->config);
    free(f->config_env);
    f->config_env = NULL;
}

bool tu_fixture_serve(struct tu_fixture *f, const char *const extra[])
{
    char *log = tu_path(f->work, "serve.log");
    bool ok = tu_served_start(&f->served, f->root, log, extra);

    free(log);
    return ok;
}

void tu_fixture_serve_key(struct tu_fixture *f, const uint8_t *key,
                          const char *opts)
{
    char text[FT_CLIENT_KEY_TEXT_MAX], line[512];
    char *path = tu_path(f->work, "clients");
    struct ft_server_config cfg = { .clients_file = path };
    int n;

    ft_clients_format_key(key, text);
    n = snprintf(line, sizeof(line), "%s %s\n", text, opts);
    tu_write_bytes(path, line, (size_t)n);
    tu_server_start(&f->server, &cfg);
    free(path);
}

int tu_fixture_setup(void **state)
{
    struct tu_fixture *f = malloc(sizeof(*f));

    if (f == NULL)
        return -1;
    tu_fixture_open(f);
    *state = f;
    return 0;
}

int tu_fixture_server_setup(void **state)
{
    if (tu_fixture_setup(state) != 0)
        return -1;
    tu_server_start(&((struct tu_fixture *)*state)->server, NULL);
    return 0;
}

int tu_fixture_served_setup(void **state)
{
    if (tu_fixture_setup(state) != 0)
        return -1;
    if (!tu_fixture_serve(*state, NULL)) {
        /* cmocka runs no teardown after a failed setup. */
        tu_fixture_teardown(state);
        return -1;
    }
    return 0;
}

int tu_fixture_teardown(void **state)
{
    tu_fixture_close(*state);
    free(*state);
    *state = NULL;
    return 0;
}

enum ft_err tu_try_connect(struct ft_client **c, uint16_t port,
                           const struct ft_client_config *cfg, char *err,
                           size_t errlen)
{
    struct ft_client_config with = { 0 };

    if (cfg != NULL)
        with = *cfg;
    if (with.host == NULL)
        with.host = "127.0.0.1";
    with.port = port;
    return ft_client_connect(c, &with, err, errlen);
}

struct ft_client *tu_connect(uint16_t port, const struct ft_client_config *cfg)
{
    struct ft_client *c = NULL;
    char err[1024];

    if (tu_try_connect(&c, port, cfg, err, sizeof(err)) != FT_OK)
        fail_msg("connect to port %u: %s", (unsigned)port, err);
    return c;
}

int tu_listen_loopback(int backlog, uint16_t *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        tu_die("listen on 127.0.0.1");
    *port = ntohs(sa.sin_port);
    return fd;
}

int tu_connect_raw(uint16_t port)
{
    char why[256];
    int fd = -1;

    if (ft_net_connect("127.0.0.1", port, 5000, &fd, why, sizeof(why)) != FT_OK) {
        fprintf(stderr, "testutil: %s\n", why);
        abort();
    }
    return fd;
}

bool tu_raw_handshake(struct ft_conn *conn, uint16_t port, uint32_t features,
                      int timeout_ms, uint32_t *max_payload)
{
    struct ft_msg hello = { .type = FT_MSG_HELLO };
    struct ft_msg m;

    if (ft_conn_init(conn, tu_connect_raw(port), timeout_ms) != FT_OK)
        return false;
    hello.u.hello.version = FT_PROTO_VERSION;
    /* Hand-built frames need the plaintext channel, which tu_server_start
     * allows. */
    hello.u.hello.features = features | FT_FEATURE_PLAINTEXT;
    if (ft_conn_send(conn, &hello) != FT_OK ||
        ft_conn_recv(conn, &m, timeout_ms) != FT_OK ||
        m.type != FT_MSG_WELCOME)
        return false;
    if (max_payload != NULL)
        *max_payload = m.u.welcome.max_payload;
    return true;
}

int tu_listen_local(uint16_t *port)
{
    char why[128];
    int fd = -1;

    *port = 0;
    if (ft_net_listen("127.0.0.1", 0, &fd, port, why, sizeof(why)) != FT_OK) {
        fprintf(stderr, "testutil: %s\n", why);
        abort();
    }
    return fd;
}

bool tu_raw_welcome(struct ft_conn *conn, int listen_fd, uint32_t features,
                    int timeout_ms)
{
    struct ft_msg welcome = { .type = FT_MSG_WELCOME };
    struct ft_msg m;
    char peer[FT_NET_PEER_MAX];
    int fd = -1;

    if (ft_net_accept(listen_fd, timeout_ms, &fd, peer, sizeof(peer)) != FT_OK)
        return false;
    if (ft_conn_init(conn, fd, timeout_ms) != FT_OK)
        return false;
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = features | FT_FEATURE_PLAINTEXT;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    return ft_conn_recv(conn, &m, timeout_ms) == FT_OK &&
           m.type == FT_MSG_HELLO && ft_conn_send(conn, &welcome) == FT_OK;
}

void tu_log_record(void *ctx, const char *line)
{
    struct tu_log *l = ctx;
    size_t n;

    pthread_mutex_lock(&l->lock);
    n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s\n", line);
    pthread_mutex_unlock(&l->lock);
}

void tu_log_expect(struct tu_log *l, const char *want)
{
    bool found;

    pthread_mutex_lock(&l->lock);
    found = strstr(l->text, want) != NULL;
    pthread_mutex_unlock(&l->lock);
    if (!found)
        fail_msg("expected \"%s\" in the server's log:\n%s", want, l->text);
}
