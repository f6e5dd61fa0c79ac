/* client_touches.c - a batch of touches sent packed: TOUCHES requests of
 * many files each, two in flight, their TOUCHED answers told per file. */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>

#include "entries.h"
#include "touches.h"

/* Files a TOUCHES carries at most; two such requests are in flight, so
 * the server works on one while the caller readies the next. */
#define PER_REQUEST (FT_TOUCHES_WINDOW / 2)

/* One request in flight: the caller's requests first..first+count-1, and
 * which of them went in it (those with no digest did not). */
struct flight {
    size_t first, count, packed;
    bool in[PER_REQUEST];
    enum ft_err sent; /* how sending went */
};

struct touches_run {
    struct ft_client *c;
    const struct ft_name_request *reqs;
    size_t n, next; /* requests; the first not in a flight yet */
    struct flight fl[2];
    size_t head, flying; /* the oldest flight; how many */
    struct ft_touches_out w;
    uint8_t buf[FT_ENTRIES_FRAME_BYTES];
    bool same[PER_REQUEST];
    enum ft_err err[PER_REQUEST];
    bool whole; /* the oldest flight failed whole, in the words set */
};

/* Packs the next requests into one TOUCHES and sends it. */
static void send_flight(struct touches_run *r)
{
    struct flight *f = &r->fl[(r->head + r->flying++) % 2];
    size_t cap = r->c->conn.send_chunk < sizeof(r->buf) ? r->c->conn.send_chunk
                                                        : sizeof(r->buf);
    size_t len;

    ft_touches_begin(&r->w, r->buf, &len);
    *f = (struct flight){ .first = r->next };
    while (r->next < r->n && f->count < PER_REQUEST) {
        const struct ft_name_request *q = &r->reqs[r->next];

        f->in[f->count] = q->digest != NULL;
        if (q->digest != NULL &&
            !ft_touches_put(&r->w, r->buf, cap, &len, q->name, strlen(q->name), q->mtime,
                            q->mode, q->digest)) {
            if (f->packed > 0)
                break; /* full: the rest goes in the next one */
            f->in[f->count] = false; /* a name too long for any request */
        }
        f->packed += f->in[f->count];
        f->count++;
        r->next++;
    }
    if (f->packed == 0)
        return;
    /* Sent in place: larger than the messages encoded on the way. */
    f->sent = ft_conn_send_raw(&r->c->conn, FT_MSG_TOUCHES, r->buf, len);
    if (f->sent != FT_OK)
        f->sent = ft_client_fail(r->c, ft_client_last_words(r->c, f->sent));
}

/* Reads the oldest flight's answer into same[] and err[] (by packed
 * position); a refusal of the whole request is every file's. */
static void read_flight(struct touches_run *r, const struct flight *f)
{
    struct ft_msg reply;
    enum ft_err err = f->sent;

    r->whole = false;
    if (f->packed == 0)
        return;
    if (err == FT_OK && !r->c->broken)
        err = ft_client_read_answer(r->c, FT_MSG_TOUCHED, &reply);
    else if (err == FT_OK)
        err = FT_ERR_CLOSED;
    if (err == FT_OK &&
        ft_touched_decode(reply.u.packed.bytes.ptr, reply.u.packed.bytes.len, f->packed,
                          r->same, r->err) != FT_OK)
        err = ft_client_fail(r->c, FT_ERR_PROTOCOL);
    if (err == FT_OK)
        return;
    r->whole = true;
    for (size_t k = 0; k < f->packed; k++) {
        r->same[k] = false;
        r->err[k] = err;
    }
}

/* The outcome of the flight's i-th request (at packed position *at). */
static enum ft_err take(struct touches_run *r, const struct flight *f, size_t i, size_t *at,
                        struct ft_name_answer *a)
{
    const struct ft_name_request *q = &r->reqs[f->first + i];
    enum ft_err err;

    memset(a, 0, sizeof(*a));
    if (!f->in[i]) {
        ft_client_set_error(r->c, q->digest == NULL ? "a touch needs the content's digest"
                                                    : "the name is too long");
        return FT_ERR_USAGE;
    }
    err = r->err[*at];
    a->made = a->same = err == FT_OK && r->same[*at];
    (*at)++;
    if (err != FT_OK && !r->whole)
        ft_client_set_error(r->c, "'%s': %s", q->name, ft_strerror(err));
    return err;
}

/* Tells each request of the oldest flight; true when the caller stops. */
static bool tell_flight(struct touches_run *r, ft_name_fn fn, void *ctx, bool dropping,
                        enum ft_err *first)
{
    struct flight *f = &r->fl[r->head];
    size_t at = 0;

    r->c->conn.peer_code = FT_OK;
    r->c->err[0] = '\0';
    read_flight(r, f);
    r->head = (r->head + 1) % 2;
    r->flying--;
    for (size_t i = 0; i < f->count && !dropping; i++) {
        struct ft_name_answer a;
        enum ft_err err = take(r, f, i, &at, &a);

        if (*first == FT_OK || (err != FT_OK && r->c->broken))
            *first = err;
        dropping = fn(ctx, f->first + i, err, &a) != 0;
    }
    return dropping;
}

bool ft_client_touches_fit(const struct ft_client *c, const struct ft_name_request *reqs,
                             size_t n)
{
    if (!(c->features & FT_FEATURE_TOUCH_PACKED) || !ft_client_can_pipeline(c))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].op != FT_NAME_TOUCH)
            return false;
    }
    return n > 0;
}

/* Like the requests on names one by one (client.c), but a request carries
 * PER_REQUEST files: the next is sent once the answer before the last has
 * been told, so that the caller has its digests ready (FT_TOUCHES_WINDOW). */
enum ft_err ft_client_touches(struct ft_client *c, const struct ft_name_request *reqs,
                              size_t n, ft_name_fn fn, void *ctx)
{
    enum ft_err first = ft_client_begin(c);
    struct touches_run *r;
    bool dropping = false;

    if (first != FT_OK)
        return first;
    r = malloc(sizeof(*r));
    if (r == NULL)
        return FT_ERR_NOMEM;
    *r = (struct touches_run){ .c = c, .reqs = reqs, .n = n };
    while (r->next < n || r->flying > 0) {
        ft_client_batch_begin(c);
        while (!dropping && !c->broken && r->next < n && r->flying < 2)
            send_flight(r);
        ft_client_batch_end(c);
        if (r->flying == 0)
            break;
        dropping = tell_flight(r, fn, ctx, dropping, &first);
    }
    free(r);
    return first;
}
