/* server_delta.c - DELTA_PUT and DELTA_GET: a file sent as the parts that
 * differ from the version the receiver holds (ft sync; PROTOCOL.md 9.12). */
#include "server_int.h"

#include <string.h>

#include "chunker.h"
#include "delta.h"
#include "io.h"
#include "store.h"
#include "xfer_delta.h"

#define DELTA_PUT_FLAGS (FT_XFER_COMPRESS | FT_XFER_VERIFY | FT_XFER_META)

/* Whether the request may be served here: the session agreed on deltas
 * and its flags are those of its kind. */
static bool flags_ok(const struct session *s, uint32_t flags, uint32_t allowed)
{
    return (s->features & FT_FEATURE_DELTA) && !(flags & ~allowed) &&
           ft_server_session_flags_ok(s, flags);
}

static enum ft_err record_chunk(void *ctx, const uint8_t *p, uint32_t len,
                                uint64_t hash)
{
    (void)p;
    return ft_store_chunks_add(ctx, len, hash);
}

/* The level the new version is cut at: the old one's, unless the new
 * one would then be too many chunks for a list (its signature is then
 * empty, at the new version's own level). */
static bool old_level_fits(unsigned level, uint64_t new_size)
{
    return (new_size >> (11 + level)) <= FT_DELTA_MAX_CHUNKS / 2;
}

/* Sends the old version's signature (its recorded list, or the file cut
 * now and its list recorded) and keeps it in *l. */
static enum ft_err send_signature(struct session *s, const struct ft_store_file *old,
                                  uint64_t new_size, struct ft_delta_list *l)
{
    struct ft_store *st = s->srv->store;
    struct ft_xfer_signing g;
    struct ft_store_chunks rec = FT_STORE_CHUNKS_INIT;
    struct ft_store_chunks_writer *w = NULL;
    /* The old version is cut through its descriptor: without one (a
     * backend that has none) the signature is empty and the client sends
     * the whole file. */
    bool cut = ft_store_file_fd(old) >= 0;
    unsigned level = ft_chunker_level_for(cut ? old->info.size : new_size);
    uint64_t total = 0;
    enum ft_err err = FT_OK;

    if (cut && ft_store_chunks_open(st, old, &rec) == FT_OK)
        level = rec.level;
    if (cut && !old_level_fits(level, new_size)) {
        ft_store_chunks_close(&rec);
        cut = false;
        level = ft_chunker_level_for(new_size);
    }
    /* A list the store cannot take costs the record, not the sync. */
    if (cut && !ft_store_chunks_is_open(&rec) && ft_store_chunks_begin(st, level, &w) != FT_OK)
        w = NULL;
    ft_xfer_signing_init(&g, &s->conn, level, l, w != NULL ? record_chunk : NULL, w);
    if (ft_store_chunks_is_open(&rec)) {
        /* A recorded list is relayed: the old file is not read. */
        err = ft_xfer_delta_read_list(&s->conn, ft_store_chunks_fd(&rec), rec.offset,
                                      rec.count,
                                      ft_xfer_signing_add, &g);
        ft_store_chunks_close(&rec);
    } else if (cut) {
        err = ft_delta_cut(&s->conn, ft_store_file_fd(old), level, NULL, ft_xfer_signing_add,
                                &g, &total);
    }
    if (err == FT_OK && w != NULL)
        ft_store_file_remember_chunks(st, old, w);
    else
        ft_store_chunks_abort(w);
    return err == FT_OK ? ft_xfer_chunks_out_end(&g.out) : err;
}

static enum ft_err upload_sink(void *ctx, const void *buf, size_t n)
{
    return ft_store_upload_write(ctx, buf, n);
}

/* Holds the upload's room in the client's quota, as PUT does. */
static enum ft_err reserve(struct session *s, const char *name, uint64_t size,
                           struct ft_quota_hold *h)
{
    struct ft_store_entry e;
    bool replaces;

    if (s->quota == NULL)
        return FT_OK;
    replaces = ft_store_stat(s->srv->store, name, &e) == FT_OK &&
               (e.mode & FT_MODE_TYPE) == FT_MODE_FILE;
    return ft_quota_reserve(s->quota, &s->rights, size, replaces ? 0 : 1, h);
}

/* READY with the old version's terms, its signature, then the new
 * version as a delta against it, checked, into up with its chunk list. */
static enum ft_err receive(struct session *s, const struct ft_msg *req,
                           const struct ft_store_file *old, struct ft_upload *up,
                           struct ft_xfer_delta_result *res)
{
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_delta_list l;
    struct ft_store_chunks_writer *w = NULL;
    enum ft_err err;

    ft_delta_list_init(&l, 0);
    if (ft_store_file_is_open(old)) {
        ready.u.ready.size = old->info.size;
        ready.u.ready.mtime = old->info.mtime;
        ready.u.ready.mode = old->info.mode;
    }
    err = ft_conn_send(&s->conn, &ready);
    if (err == FT_OK)
        err = send_signature(s, old, req->u.delta_put.size, &l);
    if (err == FT_OK && ft_store_chunks_begin(s->srv->store, l.level, &w) != FT_OK)
        w = NULL;
    if (err == FT_OK)
        err = ft_xfer_delta_recv(&s->conn, &l, ft_store_file_fd(old), req->u.delta_put.flags,
                                 req->u.delta_put.size, upload_sink, up,
                                 w != NULL ? record_chunk : NULL, w,
                                 &s->xfer_opts, res);
    if (err == FT_OK) {
        ft_store_upload_set_digest(up, res->digest);
        if (w != NULL)
            ft_store_upload_set_chunks(up, w);
        w = NULL;
    }
    ft_store_chunks_abort(w);
    ft_delta_list_free(&l);
    return err;
}

/* A failure after READY: the client hears why if it is there, and the
 * session goes on only if the stream is still in step. */
static void answer_failure(struct session *s, struct outcome *o, enum ft_err err,
                           bool in_step)
{
    o->err = err;
    o->keep_open = in_step;
    if (s->conn.peer_code != FT_OK || err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT) {
        o->keep_open = false;
        return;
    }
    ft_server_session_refuse(s, o, err);
    if (!o->keep_open)
        ft_server_session_drain(s);
}

/* The checks before anything is stored; false: refused (the stream is in
 * step: nothing follows DELTA_PUT unasked). */
static bool admit_put(struct session *s, const struct ft_msg *req,
                      struct outcome *o, char *name, struct ft_quota_hold *hold)
{
    uint64_t limit = s->srv->cfg.max_file_size ? s->srv->cfg.max_file_size
                                               : UINT64_MAX;
    enum ft_err err = FT_OK;

    if (!ft_server_session_take_name(s, o, req->u.delta_put.name, name))
        return false;
    if (!flags_ok(s, req->u.delta_put.flags, DELTA_PUT_FLAGS) ||
        req->u.delta_put.size == FT_SIZE_UNKNOWN)
        err = FT_ERR_PROTOCOL;
    else if (req->u.delta_put.size > limit)
        err = FT_ERR_TOO_LARGE;
    else
        err = reserve(s, name, req->u.delta_put.size, hold);
    o->keep_open = true;
    if (err != FT_OK)
        ft_server_session_refuse(s, o, err);
    return err == FT_OK;
}

void ft_server_delta_put(struct session *s, const struct ft_msg *req,
                         struct outcome *o)
{
    struct ft_store *st = s->srv->store;
    struct ft_store_file old = FT_STORE_FILE_INIT;
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_quota_hold hold = { .q = NULL };
    struct ft_xfer_delta_result res = { .bytes = 0 };
    char name[FT_PATH_MAX + 1];
    enum ft_err err;

    if (!admit_put(s, req, o, name, &hold))
        return;
    if (ft_store_open_file(st, name, &old) != FT_OK)
        ft_store_file_close(&old); /* no old version: the whole file travels */
    err = ft_store_upload_begin(st, name, &up);
    if (err != FT_OK) {
        ft_quota_finish(s->srv->quotas, &hold, &up, false);
        ft_store_file_close(&old);
        o->keep_open = true;
        ft_server_session_refuse(s, o, err);
        return;
    }
    if (req->u.delta_put.flags & FT_XFER_META)
        ft_store_upload_set_meta(&up, req->u.delta_put.mtime, req->u.delta_put.mode);
    err = receive(s, req, &old, &up, &res);
    ft_store_file_close(&old);
    o->bytes = res.bytes;
    if (err == FT_OK)
        err = ft_server_batch_commit_one(&s->batch, &up);
    ft_quota_finish(s->srv->quotas, &hold, &up, err == FT_OK);
    ft_store_upload_abort(st, &up);
    if (err != FT_OK) {
        /* After END (a digest mismatch, a failed commit) the stream is
         * in step; a client that broke the rules is not trusted further. */
        answer_failure(s, o, err, res.end_seen && err != FT_ERR_PROTOCOL);
        return;
    }
    ft_server_put_answer_done(s, &up, res.bytes, o);
}

bool ft_server_delta_get_skip(struct session *s, const struct ft_msg *req)
{
    struct ft_delta_list l;
    enum ft_err err = ft_xfer_delta_recv_signature(&s->conn, &l);

    (void)req;
    ft_delta_list_free(&l);
    return err == FT_OK || err == FT_ERR_TOO_LARGE;
}

/* Sends f as a delta against the client's signature: from its recorded
 * list and digest when it has them at that level, reading only what the
 * client lacks; otherwise cut as read, and its digest recorded, with its
 * list when the client's level is the file's own. */
static enum ft_err send_delta(struct session *s, const struct ft_msg *req,
                              struct ft_store_file *f, struct ft_delta_list *sig,
                              struct ft_xfer_delta_result *res)
{
    struct ft_store *st = s->srv->store;
    struct ft_xfer_delta_source src = { .fd = ft_store_file_fd(f),
                                        .size = f->info.size, .list_fd = -1 };
    struct ft_store_chunks rec = FT_STORE_CHUNKS_INIT;
    struct ft_store_chunks_writer *w = NULL;
    uint8_t digest[FT_HASH_BYTES];
    enum ft_err err;

    if (ft_store_file_digest(f, digest))
        src.digest = digest;
    ft_store_chunks_open(st, f, &rec); /* none: cut as read */
    if (src.digest != NULL && ft_store_chunks_is_open(&rec) && rec.level == sig->level) {
        src.list_fd = ft_store_chunks_fd(&rec);
        src.list_off = rec.offset;
        src.list_count = rec.count;
    } else if (!ft_store_chunks_is_open(&rec) && sig->level == ft_chunker_level_for(f->info.size) &&
               ft_store_chunks_begin(st, sig->level, &w) == FT_OK) {
        src.record = record_chunk;
        src.record_ctx = w;
    }
    err = ft_xfer_delta_send(&s->conn, &src, sig, req->u.delta_get.flags,
                             &s->xfer_opts, res);
    /* The list before the digest: recording the digest changes the file's
     * ctime, which a list recorded after would take for a change. */
    if (err == FT_OK && w != NULL)
        ft_store_file_remember_chunks(st, f, w);
    else
        ft_store_chunks_abort(w);
    if (err == FT_OK && src.digest == NULL)
        ft_store_file_remember(st, f, res->digest);
    ft_store_chunks_close(&rec);
    return err;
}

/* Opens the file a DELTA_GET asks for; false: refused (in step). */
static bool open_get(struct session *s, struct outcome *o, const char *name,
                     struct ft_store_file *f)
{
    struct ft_store_entry e;
    enum ft_err err = ft_store_open_file(s->srv->store, name, f);

    o->keep_open = true;
    o->err = err;
    if (err == FT_ERR_DENIED && ft_store_stat(s->srv->store, name, &e) == FT_OK &&
        (e.mode & FT_MODE_TYPE) == FT_MODE_DIR)
        ft_conn_send_error(&s->conn, err, "'%s' is a folder: get it with -r",
                           o->name);
    else if (err != FT_OK)
        ft_server_session_refuse(s, o, err);
    return err == FT_OK;
}

void ft_server_delta_get(struct session *s, const struct ft_msg *req,
                         struct outcome *o)
{
    struct ft_store_file f = FT_STORE_FILE_INIT;
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_xfer_delta_result res = { .bytes = 0 };
    struct ft_delta_list sig;
    char name[FT_PATH_MAX + 1];
    bool named = ft_server_session_name(s, o, req->u.delta_get.name, name) == FT_OK;
    /* The signature follows the request unasked: read whole before any
     * answer, so that a refusal leaves the stream in step. */
    enum ft_err err = ft_xfer_delta_recv_signature(&s->conn, &sig);

    o->keep_open = true;
    if (err != FT_OK && err != FT_ERR_TOO_LARGE) {
        answer_failure(s, o, err, false);
        goto out;
    }
    if (!named)
        err = FT_ERR_BAD_NAME;
    else if (!flags_ok(s, req->u.delta_get.flags, FT_XFER_COMPRESS))
        err = FT_ERR_PROTOCOL;
    if (err != FT_OK) {
        o->err = err;
        ft_server_session_refuse(s, o, err);
        goto out;
    }
    if (!open_get(s, o, name, &f))
        goto out;
    ready.u.ready.size = f.info.size;
    ready.u.ready.mtime = f.info.mtime;
    ready.u.ready.mode = f.info.mode;
    err = ft_conn_send(&s->conn, &ready);
    if (err == FT_OK)
        err = send_delta(s, req, &f, &sig, &res);
    o->bytes = res.bytes;
    ft_server_ops_finish_get(s, 0, o, err, res.bytes);
out:
    ft_store_file_close(&f);
    ft_delta_list_free(&sig);
}
