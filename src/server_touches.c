/* server_touches.c - TOUCHES: many TOUCHes in one request, each file's
 * result in one TOUCHED answer. */
#include "server_int.h"

#include <stdlib.h>
#include <string.h>

#include "touches.h"

/* Touches the entries of payload (checked whole already) into same[] and
 * err[]; how many took the new metadata. */
static uint64_t touch_each(struct session *s, struct outcome *o,
                           struct ft_entries_state *st, struct ft_bytes p, bool *same,
                           enum ft_err *err)
{
    uint8_t salt[FT_TOUCHES_SALT_BYTES];
    struct ft_touch_claim want = { .salt = salt };
    struct ft_touch_entry e;
    char name[FT_PATH_MAX + 1];
    uint64_t set = 0;
    size_t off, k = 0;

    ft_touches_salt(p.ptr, p.len, &off, salt);
    ft_entries_start(st);
    for (; off < p.len && ft_touches_next(st, p.ptr, p.len, &off, &e) == FT_OK; k++) {
        struct ft_bytes nb = { (const uint8_t *)st->prev, st->prev_len };

        same[k] = false;
        want.tag = e.tag;
        err[k] = ft_server_session_name(s, o, nb, name);
        if (err[k] == FT_OK)
            err[k] = ft_server_ops_touch_file(s, name, e.mtime, e.mode, &want, &same[k]);
        err[k] = ft_server_session_wire_code(err[k]);
        set += same[k];
    }
    o->subject = NULL; /* name is gone */
    return set;
}

/* A tree unpacked again has every file's mtime new: the client names
 * hundreds of them a request, each by its tag, rather than one TOUCH
 * each. A request the server refuses (malformed, too many entries) is
 * answered with an ERROR and the session goes on: it was read whole. */
void ft_server_touches(struct session *s, const struct ft_msg *req, struct outcome *o)
{
    /* A copy: reading a file to hash it borrows the connection's buffer,
     * where the request is. */
    uint8_t *copy = malloc(req->u.packed.bytes.len);
    struct ft_bytes p = { copy, req->u.packed.bytes.len };
    struct ft_entries_state *st = malloc(sizeof(*st));
    bool same[FT_TOUCHES_MAX];
    enum ft_err err[FT_TOUCHES_MAX];
    uint8_t answer[FT_TOUCHED_MAX_BYTES];
    struct ft_msg done = { .type = FT_MSG_TOUCHED };
    size_t n = 0;

    o->keep_open = true;
    if (st == NULL || copy == NULL) {
        ft_server_session_refuse(s, o, FT_ERR_NOMEM);
        goto out;
    }
    memcpy(copy, req->u.packed.bytes.ptr, p.len);
    if (!(s->features & FT_FEATURE_TOUCH_PACKED) ||
        ft_touches_count(st, p.ptr, p.len, &n) != FT_OK) {
        o->err = FT_ERR_PROTOCOL;
        ft_conn_send_error(&s->conn, FT_ERR_PROTOCOL,
                           "TOUCHES refused: not negotiated, malformed, or over %u "
                           "entries", FT_TOUCHES_MAX);
        goto out;
    }
    o->bytes = touch_each(s, o, st, p, same, err);
    ft_touched_encode(same, err, n, answer, &done.u.packed.bytes.len);
    done.u.packed.bytes.ptr = answer;
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
out:
    free(copy);
    free(st);
}
