/* server_admit.c - which clients may use the server, and their rights. */
#include "server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Why a key is turned away, for both sides' messages. */
enum verdict { ADMITTED, UNKNOWN, EXPIRED, WRONG_ADDRESS };

/* The peer's address as from= compares it: family 4 or 6, or 0 for none
 * (a Unix socket, or a descriptor a test or inetd handed over). */
static int peer_address(int fd, uint8_t addr[16])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 6;
    }
    return 0;
}

/* Every right on the whole store, or those of cfg.anonymous_allow. */
static void whole_store(struct ft_client_rights *r, unsigned allow)
{
    memset(r, 0, sizeof(*r));
    r->allow = allow;
    r->quota_bytes = FT_UNLIMITED;
    r->quota_files = FT_UNLIMITED;
}

/* Looks the key up in the clients file in force and fills s->rights.
 * Under the server's lock: a reload may swap the table at any time, and
 * nothing of it is kept past the lock (*line, *expires are copies). */
static enum verdict look_up(struct session *s, unsigned *line, int64_t *expires)
{
    struct ft_server *srv = s->srv;
    const struct ft_client_entry *e = NULL;
    enum verdict v = ADMITTED;
    uint8_t addr[16];
    int family = peer_address(s->conn.fd, addr);

    pthread_mutex_lock(&srv->lock);
    if (s->has_client_key)
        e = ft_clients_find(srv->clients, s->client_key);
    if (e == NULL && srv->cfg.clients_file == NULL)
        whole_store(&s->rights, srv->cfg.anonymous_allow != 0
                                    ? srv->cfg.anonymous_allow : FT_ALLOW_ALL);
    else if (e == NULL && srv->cfg.anonymous_allow != 0)
        whole_store(&s->rights, srv->cfg.anonymous_allow);
    else if (e == NULL)
        v = UNKNOWN;
    else if (ft_clients_expired(e, (int64_t)time(NULL)))
        v = EXPIRED;
    else if (!ft_clients_from_ok(e, family, addr))
        v = WRONG_ADDRESS;
    else
        ft_clients_rights(e, &s->rights);
    if (e != NULL) {
        *line = e->line;
        *expires = e->expires;
    }
    pthread_mutex_unlock(&srv->lock);
    return v;
}

/* The last day a key served: expires= as the file wrote it. */
static void last_day(int64_t expires, char out[16])
{
    time_t t = (time_t)(expires - 86400);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Tells the client, in one line it prints, and the log, in one line that
 * names the address, the key and the cause; the session then ends. */
static enum ft_err refuse(struct session *s, enum verdict v, unsigned line,
                          int64_t expires)
{
    struct ft_server *srv = s->srv;
    const char *fp = s->client_fingerprint;
    char day[16] = "";
    enum ft_err code = v == UNKNOWN ? FT_ERR_UNKNOWN_KEY : FT_ERR_KEY_REFUSED;

    if (v == EXPIRED)
        last_day(expires, day);
    /* The log first: it has the line before the client has its answer. */
    if (v == UNKNOWN && !s->has_client_key) {
        ft_server_log(srv, "%s refused: no client key (an older client)", s->peer);
        ft_conn_send_error(&s->conn, code, "this server admits only clients that "
                           "prove a key, and this one proved none: use a newer ft "
                           "(ft id prints its key)");
    } else if (v == UNKNOWN) {
        ft_server_log(srv, "%s refused: unknown key %s", s->peer, fp);
        ft_conn_send_error(&s->conn, code, "this server does not know your key %s: "
                           "ask its operator to add it (ft id prints the line to "
                           "give them)", fp);
    } else if (v == EXPIRED) {
        ft_server_log(srv, "%s refused: key %s (line %u) expired on %s", s->peer, fp,
                      line, day);
        ft_conn_send_error(&s->conn, code, "your key %s expired on %s on this "
                           "server: ask its operator to renew it", fp, day);
    } else {
        ft_server_log(srv, "%s refused: key %s (line %u) not allowed from this "
                      "address (from=)", s->peer, fp, line);
        ft_conn_send_error(&s->conn, code, "this server does not take your key %s "
                           "from your address: ask its operator", fp);
    }
    ft_server_session_drain(s);
    return code;
}

/* How many characters of a fingerprint name an unnamed client in log
 * lines: "b2:" and 11 of base64 (66 bits), as a short commit id; the line
 * that admits it gives the whole. */
#define SHORT_FINGERPRINT 14

/* Logs who the client is and what it may do, then names it in every log
 * line to come: by its name, else the start of its key's fingerprint. */
static void name_session(struct session *s, bool listed)
{
    const struct ft_client_rights *r = &s->rights;
    char allow[32];
    char addr[FT_NET_PEER_MAX];

    ft_clients_allow_text(r->allow, ",", allow, sizeof(allow));
    ft_server_log(s->srv, "%s is %s%s%s: %s on /%s", s->peer,
                  r->name[0] != '\0' ? r->name : listed ? "unnamed" : "anonymous",
                  s->has_client_key ? ", key " : ", no key",
                  s->has_client_key ? s->client_fingerprint : "", allow, r->root);
    if (r->name[0] == '\0' && !s->has_client_key)
        return;
    memcpy(addr, s->peer, sizeof(addr)); /* before admission: the address alone */
    addr[sizeof(addr) - 1] = '\0';
    if (r->name[0] != '\0')
        snprintf(s->peer, sizeof(s->peer), "%s@%s", r->name, addr);
    else
        snprintf(s->peer, sizeof(s->peer), "%.*s@%s", SHORT_FINGERPRINT,
                 s->client_fingerprint, addr);
}

enum ft_err ft_server_admit(struct session *s)
{
    unsigned line = 0;
    int64_t expires = 0;
    enum verdict v;
    uint64_t rate;

    if (!s->has_client_key)
        s->client_fingerprint[0] = '\0';
    v = look_up(s, &line, &expires);
    if (v != ADMITTED)
        return refuse(s, v, line, expires);
    /* A striped transfer's connections all pace against one budget, that
     * of the session that opened it: the cap is the client's, not each
     * connection's. */
    rate = s->srv->cfg.max_rate;
    if (s->rights.rate != 0 && (rate == 0 || s->rights.rate < rate))
        rate = s->rights.rate;
    s->xfer_opts.rate_limit = rate;
    name_session(s, line != 0);
    return FT_OK;
}
