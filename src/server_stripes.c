/* server_stripes.c - striped transfers: the connections that join one,
 * and how they are let in (docs/PROTOCOL.md, "Striped transfers"). */
#define _GNU_SOURCE
#include "server_int.h"

#include <string.h>
#include <sys/socket.h>

#include "hash.h"
#include "stripe.h"

enum ft_err ft_server_stripes_open(struct session *s, struct ft_server_striped *x,
                                   struct ft_stripes *st, bool sending, bool *on)
{
    struct ft_server *srv = s->srv;
    struct ft_msg m = { .type = FT_MSG_STREAMS };

    memset(x, 0, sizeof(*x));
    /* Stripes read or write a descriptor at offsets from several threads:
     * a store that has none for this file (ft_store_file_fd, or an upload
     * to a backend without FT_STORE_CAN_WRITE_AT) sends or takes it as one
     * stream, as when striping is off. */
    *on = srv->cfg.max_streams > 1 && st->units > 1 && st->fd >= 0;
    if (!*on)
        return ft_conn_send(&s->conn, &m);
    randombytes_buf(x->ticket, sizeof(x->ticket));
    randombytes_buf(x->secret, sizeof(x->secret));
    x->st = st;
    x->sending = sending;
    x->sealed = s->conn.sealed;
    x->max = srv->cfg.max_streams - 1;
    if (x->max > FT_MAX_STREAMS - 1)
        x->max = FT_MAX_STREAMS - 1;
    pthread_mutex_lock(&srv->lock);
    x->next = srv->striped;
    srv->striped = x;
    pthread_mutex_unlock(&srv->lock);
    m.u.streams.streams = x->max;
    memcpy(m.u.streams.ticket, x->ticket, sizeof(x->ticket));
    memcpy(m.u.streams.secret, x->secret, sizeof(x->secret));
    return ft_conn_send(&s->conn, &m);
}

void ft_server_stripes_close(struct session *s, struct ft_server_striped *x)
{
    struct ft_server *srv = s->srv;

    if (x->st == NULL)
        return;
    pthread_mutex_lock(&srv->lock);
    for (struct ft_server_striped **p = &srv->striped; *p != NULL; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    /* Done or failed, the transfer needs them no more: a joined connection
     * still waiting for a unit wakes up and leaves. */
    for (unsigned i = 0; i < x->joined; i++)
        shutdown(x->fds[i], SHUT_RDWR);
    while (x->joined > 0)
        pthread_cond_wait(&srv->detached, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    x->st = NULL;
}

/* The transfer that the JOIN names, if its proof holds for this
 * connection, counted as joined; NULL otherwise (*why says). */
static struct ft_server_striped *attach(struct session *s, const struct ft_msg *req,
                                        const char **why)
{
    struct ft_server *srv = s->srv;
    struct ft_server_striped *x;
    uint8_t proof[FT_DIGEST_BYTES];

    pthread_mutex_lock(&srv->lock);
    for (x = srv->striped; x != NULL; x = x->next) {
        if (sodium_memcmp(x->ticket, req->u.join.ticket, sizeof(x->ticket)) == 0)
            break;
    }
    *why = "no such transfer to join";
    if (x != NULL) {
        ft_stripes_join_proof(x->secret, &s->conn, proof);
        if (!ft_hash_equal(proof, req->u.join.proof) || x->sealed != s->conn.sealed)
            x = NULL;
        else if (x->joined >= x->max) {
            *why = "the transfer has all the streams it may have";
            x = NULL;
        }
    }
    if (x != NULL)
        x->fds[x->joined++] = s->conn.fd;
    pthread_mutex_unlock(&srv->lock);
    return x;
}

static void detach(struct session *s, struct ft_server_striped *x)
{
    struct ft_server *srv = s->srv;

    pthread_mutex_lock(&srv->lock);
    for (unsigned i = 0; i < x->joined; i++) {
        if (x->fds[i] == s->conn.fd) {
            x->fds[i] = x->fds[--x->joined];
            break;
        }
    }
    pthread_cond_broadcast(&srv->detached);
    pthread_mutex_unlock(&srv->lock);
}

/* A receiving stream: units until the client closes it (or the transfer's
 * end cuts it off). */
static enum ft_err receive_units(struct session *s, struct ft_stripes *st)
{
    for (;;) {
        struct ft_msg m;
        enum ft_err err = ft_conn_recv(&s->conn, &m, s->conn.timeout_ms);

        if (err == FT_ERR_CLOSED || err == FT_ERR_IO)
            return FT_OK; /* between units: the stream's end */
        if (err == FT_OK && m.type != FT_MSG_STRIPE)
            err = m.type == FT_MSG_ERROR ? s->conn.peer_code : FT_ERR_PROTOCOL;
        if (err == FT_OK)
            err = ft_stripes_recv_unit(&s->conn, st, &m);
        if (err != FT_OK) {
            ft_stripes_fail(st, err);
            return err;
        }
    }
}

/* A sending stream: units while there are any, then STRIPE of length 0. */
static enum ft_err send_units(struct session *s, struct ft_stripes *st)
{
    struct ft_msg last = { .type = FT_MSG_STRIPE };
    enum ft_err err = ft_stripes_send(&s->conn, st);

    return err == FT_OK ? ft_conn_send(&s->conn, &last) : err;
}

void ft_server_join(struct session *s, const struct ft_msg *req, struct outcome *o)
{
    struct ft_msg done = { .type = FT_MSG_DONE };
    struct ft_server_striped *x;
    const char *why = NULL;
    uint64_t before;

    o->keep_open = false;
    x = attach(s, req, &why);
    if (x == NULL) {
        o->err = FT_ERR_DENIED;
        ft_conn_send_error(&s->conn, FT_ERR_DENIED, "%s", why);
        return;
    }
    before = ft_stripes_moved(x->st);
    o->err = ft_conn_send(&s->conn, &done);
    if (o->err == FT_OK)
        o->err = x->sending ? send_units(s, x->st) : receive_units(s, x->st);
    if (o->err != FT_OK)
        ft_stripes_fail(x->st, o->err);
    /* What all streams moved meanwhile: the log says how busy it was. */
    o->bytes = ft_stripes_moved(x->st) - before;
    detach(s, x);
}
