/* server_put.c - PUT: an upload admitted, received, checked, and committed
 * or queued with the pipelined ones. */
#define _GNU_SOURCE
#include "server_int.h"

#include <stdatomic.h>
#include <string.h>

#include "cutter.h"
#include "resume.h"
#include "store.h"
#include "xfer.h"

static bool is_pipelined(const struct ft_msg *req)
{
    return (req->u.put.flags & FT_XFER_PIPELINE) != 0;
}

static uint64_t size_limit(const struct session *s)
{
    return s->srv->cfg.max_file_size ? s->srv->cfg.max_file_size : UINT64_MAX;
}

/* A refused pipelined PUT's data is already on its way: read and drop it,
 * up to its END, so that the next request is read in step. */
bool ft_server_put_skip(struct session *s, const struct ft_msg *req)
{
    if (!is_pipelined(req))
        return true;
    for (;;) {
        struct ft_msg m;

        if (ft_conn_recv(&s->conn, &m, s->conn.timeout_ms) != FT_OK)
            return false;
        if (m.type == FT_MSG_END)
            return true;
        if (m.type != FT_MSG_DATA && m.type != FT_MSG_DATA_Z)
            return false;
    }
}

/* Refuses the upload in its place: a pipelined one's answer comes after
 * those of the uploads before it, which are committed first. */
static void refuse_put(struct session *s, const struct ft_msg *req,
                       struct outcome *o, enum ft_err err)
{
    if (is_pipelined(req))
        ft_server_batch_flush(&s->batch);
    ft_server_session_refuse(s, o, err);
}

/* The same for an upload whose data is on its way: a pipelined one's is
 * skipped, and the connection goes on if that works. */
static void refuse_skip(struct session *s, const struct ft_msg *req,
                        struct outcome *o, enum ft_err err)
{
    refuse_put(s, req, o, err);
    if (is_pipelined(req))
        o->keep_open = ft_server_put_skip(s, req);
}

/* Whether a failure while receiving left the connection usable: a local
 * one (a full disk, a file over the limit) did, a broken or hostile peer
 * did not. */
static bool local_failure(enum ft_err err)
{
    switch (err) {
    case FT_ERR_CLOSED:
    case FT_ERR_TIMEOUT:
    case FT_ERR_TAMPERED:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
    case FT_ERR_NOT_FT:
        return false;
    default:
        return true;
    }
}

/* Checks the request before anything is stored; false: it was refused. */
static bool admit(struct session *s, const struct ft_msg *req,
                  struct outcome *o, char *name)
{
    uint32_t flags = req->u.put.flags;

    if (!ft_server_session_flags_ok(s, flags)) {
        refuse_put(s, req, o, FT_ERR_PROTOCOL);
        return false;
    }
    if (ft_server_session_name(s, o, req->u.put.name, name) != FT_OK) {
        o->keep_open = true;
        refuse_skip(s, req, o, FT_ERR_BAD_NAME);
        return false;
    }
    /* Without the whole-file check, a resume could publish a part that
     * another client (who knew name, size and mtime) left. */
    if (((flags & FT_XFER_RESUME) && !(flags & FT_XFER_VERIFY)) ||
        ((flags & FT_XFER_STRIPED) && req->u.put.size == FT_SIZE_UNKNOWN)) {
        refuse_put(s, req, o, FT_ERR_PROTOCOL);
        return false;
    }
    o->keep_open = true;
    if (req->u.put.size != FT_SIZE_UNKNOWN && req->u.put.size > size_limit(s)) {
        refuse_skip(s, req, o, FT_ERR_TOO_LARGE);
        return false;
    }
    return true;
}

/* Holds the upload's room in the client's quota: its announced size (one
 * of unknown size holds as it arrives) and, unless it replaces a file, a
 * file. The key under which it would be kept is found here. False: it was
 * refused. */
static bool reserve(struct session *s, const struct ft_msg *req,
                    struct outcome *o, const char *name, struct ft_quota_hold *h)
{
    uint64_t size = req->u.put.size;
    struct ft_store_entry e;
    bool replaces;
    enum ft_err err;

    if (!is_pipelined(req) && (req->u.put.flags & FT_XFER_META) &&
        size != FT_SIZE_UNKNOWN)
        ft_resume_upload_key(name, size, req->u.put.mtime, h->key);
    if (s->quota == NULL)
        return true;
    replaces = ft_store_stat(s->srv->store, name, &e) == FT_OK &&
               (e.mode & FT_MODE_TYPE) == FT_MODE_FILE;
    h->grows = size == FT_SIZE_UNKNOWN;
    err = ft_quota_reserve(s->quota, &s->rights, h->grows ? 0 : size,
                           replaces ? 0 : 1, h);
    if (err == FT_OK)
        return true;
    refuse_skip(s, req, o, err);
    return false;
}

/* Begins an upload. One of a regular file of known size and time is kept
 * if interrupted, under a key that only the same upload (name, size,
 * mtime) finds again (reserve finds it; "": none); *have says what an
 * earlier run left. A pipelined one
 * (a small file, cheaper to send again than to resume) is not: keeping
 * costs a scan of the kept uploads per file. */
static enum ft_err begin_upload(struct session *s, const struct ft_msg *req,
                                const char *name, const char *key,
                                struct ft_upload *up, uint64_t *have)
{
    struct ft_server *srv = s->srv;
    enum ft_err err;

    *have = 0;
    if (is_pipelined(req)) {
        uint8_t *room = ft_server_batch_held_room(&s->batch, req->u.put.size);

        return room != NULL ? ft_store_upload_begin_held(srv->store, name, room,
                                                         (size_t)req->u.put.size, up)
                            : ft_store_upload_begin(srv->store, name, up);
    }
    if (key[0] == '\0')
        return ft_store_upload_begin(srv->store, name, up);
    if (req->u.put.flags & FT_XFER_RESUME)
        ft_store_upload_recover(srv->store, key, srv->cfg.partial_ttl_s);
    err = ft_store_upload_begin_kept(srv->store, name, key, srv->cfg.partial_ttl_s,
                                     up, have);
    /* Only a put --continue uses what is there; any other starts afresh. */
    if (err == FT_OK && !(req->u.put.flags & FT_XFER_RESUME)) {
        *have = 0;
        err = ft_store_upload_resize(up, 0);
        if (err != FT_OK)
            ft_store_upload_abort(srv->store, up); /* fails whole: nothing left open */
    }
    return err;
}

/* Begins the upload, carrying what the request says of its source. */
static enum ft_err open_upload(struct session *s, const struct ft_msg *req,
                               const char *name, const char *key,
                               struct ft_upload *up, uint64_t *have)
{
    enum ft_err err = begin_upload(s, req, name, key, up, have);

    if (err != FT_OK && ft_server_batch_waiting(&s->batch)) {
        /* Queued uploads hold descriptors: out of them, say, commit those
         * and try once more. */
        ft_server_batch_flush(&s->batch);
        err = begin_upload(s, req, name, key, up, have);
    }
    if (err == FT_OK && (req->u.put.flags & FT_XFER_META))
        ft_store_upload_set_meta(up, req->u.put.mtime, req->u.put.mode);
    return err;
}

/* Where an upload's bytes go as they arrive: its file, once the quota has
 * room for them if its size was not known. */
struct sink {
    struct ft_upload *up;
    struct ft_quota_hold *hold;
    const struct ft_client_rights *rights;
    struct ft_cutter *cutter; /* FT_XFER_CHUNKS: cuts what arrives; NULL: none */
};

static enum ft_err upload_sink(void *ctx, const void *buf, size_t n)
{
    struct sink *k = ctx;
    enum ft_err err = ft_quota_grow(k->hold, k->rights, n);

    if (err == FT_OK)
        err = ft_store_upload_write(k->up, buf, n);
    if (err == FT_OK && k->cutter != NULL)
        ft_cutter_feed(k->cutter, buf, n);
    return err;
}

/* Where a striped upload's units go, from every stream's thread, and the
 * store's own first failure (a full disk): not the network's. */
struct striped_sink {
    struct ft_upload *up;
    atomic_int store_err;
};

static enum ft_err upload_write_at(void *ctx, const void *buf, size_t n,
                                   uint64_t off)
{
    struct striped_sink *k = ctx;
    enum ft_err err = ft_store_upload_write_at(k->up, buf, n, off);
    int none = FT_OK;

    if (err != FT_OK)
        atomic_compare_exchange_strong(&k->store_err, &none, (int)err);
    return err;
}

/* While the other streams finish: the client, which waits, hears from us. */
static void heartbeat(void *ctx)
{
    struct session *s = ctx;

    ft_conn_heartbeat(&s->conn);
}

/* The cause of a striped upload's failure. The store's failure on a
 * joined stream (a full disk) cuts the client's streams, and the client's
 * ERROR about that (CLOSED) can reach the request's connection before
 * this thread looked at the stripes again: the store's failure is the
 * cause then, and the client, which sent CLOSED, waits to hear it
 * (ft_client_last_words). A stream the network cut is the client's to
 * tell: its upload is kept for --continue. */
static enum ft_err first_cause(struct session *s, struct striped_sink *k,
                               enum ft_err err)
{
    enum ft_err store_err = (enum ft_err)atomic_load(&k->store_err);

    if (s->conn.peer_code == FT_OK || store_err == FT_OK)
        return err;
    s->conn.peer_code = FT_OK;
    return store_err;
}

/* A striped upload: STREAMS, then the units from every stream that joins,
 * written where they belong and hashed in order as they complete.
 * *striped is false when the server does not stripe this one (the data
 * then follows as for any upload). */
static enum ft_err receive_striped(struct session *s, const struct ft_msg *req,
                                   struct ft_upload *up, uint64_t offset,
                                   struct ft_xfer_result *res, bool *striped)
{
    uint32_t flags = req->u.put.flags;
    struct ft_server_striped x = { .st = NULL };
    struct striped_sink sink = { .up = up, .store_err = FT_OK };
    struct ft_stripes st;
    /* Without a descriptor written at offsets: one stream (ft_server_stripes_open). */
    bool at_offsets = ft_store_can(s->srv->store, FT_STORE_CAN_WRITE_AT);
    enum ft_err err = ft_stripes_init(&st, at_offsets ? ft_store_upload_fd(up) : -1,
                                      offset, req->u.put.size, flags,
                                      upload_write_at, &sink);

    *striped = false;
    st.rate_limit = s->xfer_opts.rate_limit;
    if (err == FT_OK)
        err = ft_server_stripes_open(s, &x, &st, false, striped);
    /* Registered even if STREAMS could not be sent: the close below
     * takes it out of the server's list in every case. */
    if (err != FT_OK || !*striped)
        goto out;
    err = ft_store_upload_resize(up, req->u.put.size);
    if (err == FT_OK && (flags & FT_XFER_VERIFY))
        err = ft_stripes_hash_start(&st);
    if (err == FT_OK)
        err = ft_stripes_recv_main(&s->conn, &st, flags, heartbeat, s, res);
    if (err != FT_OK) {
        ft_stripes_fail(&st, err);
        err = first_cause(s, &sink, err);
    }
out:
    ft_server_stripes_close(s, &x);
    ft_stripes_free(&st);
    return err;
}

/* Whether to cut the upload as it arrives and record its chunk list: asked
 * for, and of a size that gets one. Only an upload received in order, from
 * its start (not striped, not resumed: see receive); a pipelined one is
 * small. */
static bool wants_chunks(const struct ft_msg *req)
{
    return (req->u.put.flags & FT_XFER_CHUNKS) && !is_pipelined(req) &&
           req->u.put.size != FT_SIZE_UNKNOWN &&
           req->u.put.size >= FT_STORE_CHUNKS_MIN_BYTES;
}

/* Receives the data: READY (a pipelined upload's data follows its request
 * unasked), for put --continue the offset agreed on, then the stream. An
 * upload cut off is kept for a later put --continue. */
static enum ft_err receive(struct session *s, const struct ft_msg *req,
                           struct ft_upload *up, struct ft_quota_hold *hold,
                           uint64_t have, struct ft_xfer_result *res)
{
    struct sink sink = { .up = up, .hold = hold, .rights = &s->rights };
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_store_chunks_writer *chunks = NULL;
    struct ft_reader kept = ft_store_upload_reader(up); /* what arrived before */
    uint64_t offset = 0;
    bool striped = false;
    enum ft_err err = FT_OK;

    ready.u.ready.offset = have;
    if (!is_pipelined(req))
        err = ft_conn_send(&s->conn, &ready);
    if (err == FT_OK && (req->u.put.flags & FT_XFER_RESUME)) {
        err = ft_resume_agree_offset(&s->conn, &kept, have, req->u.put.size,
                                     req->u.put.mtime, &offset);
        if (err == FT_OK)
            err = ft_store_upload_resize(up, offset);
    }
    if (err == FT_OK && (req->u.put.flags & FT_XFER_STRIPED))
        err = receive_striped(s, req, up, offset, res, &striped);
    if (err == FT_OK && !striped && offset == 0 && wants_chunks(req))
        ft_cutter_start(s->srv->store, req->u.put.size, &sink.cutter);
    if (err == FT_OK && !striped)
        err = ft_xfer_recv_from(&s->conn, req->u.put.flags, req->u.put.size,
                                size_limit(s), offset, &kept, upload_sink, &sink,
                                &s->xfer_opts, res);
    if (err != FT_OK)
        ft_cutter_free(sink.cutter);
    else if (sink.cutter != NULL && ft_cutter_finish(sink.cutter, &chunks) == FT_OK)
        ft_store_upload_set_chunks(up, chunks);
    if (err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT || err == FT_ERR_TAMPERED ||
        s->conn.peer_code != FT_OK)
        ft_store_upload_keep(s->srv->store, up); /* for a later put --continue */
    if (res->verified)
        ft_store_upload_set_digest(up, res->digest);
    return err;
}

/* Commits the upload, or queues a pipelined one to be committed with the
 * others; its answer then comes from the batch. */
static enum ft_err commit(struct session *s, const struct ft_msg *req,
                          struct ft_upload *up, struct ft_quota_hold *hold,
                          uint64_t bytes, struct outcome *o)
{
    enum ft_err err;

    if (!is_pipelined(req))
        return ft_server_batch_commit_one(&s->batch, up);
    err = ft_server_batch_enqueue(&s->batch, up, hold, bytes, o->started);
    o->queued = err == FT_OK;
    return err;
}

void ft_server_put_answer_done(struct session *s, struct ft_upload *up,
                               uint64_t bytes, struct outcome *o)
{
    struct ft_msg done = { .type = FT_MSG_DONE };

    done.u.done.count = bytes;
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
    ft_store_upload_drop_old(s->srv->store, up);
    ft_server_hook_upload(s, up->name, bytes, up->has_digest ? up->digest : NULL);
}

/* Tells the client why its upload failed, if it is still there to hear,
 * and whether the connection goes on. */
static void answer_failure(struct session *s, const struct ft_msg *req,
                           struct outcome *o, enum ft_err err, bool stream_done)
{
    o->keep_open = stream_done;
    if (s->conn.peer_code != FT_OK || err == FT_ERR_CLOSED ||
        err == FT_ERR_TIMEOUT) {
        /* The client gave up or vanished: nothing to tell it. */
        o->err = err;
        o->keep_open = false;
        return;
    }
    if (is_pipelined(req) && !stream_done && local_failure(err)) {
        refuse_skip(s, req, o, err);
        return;
    }
    refuse_put(s, req, o, err);
    if (!o->keep_open)
        ft_server_session_drain(s);
}

void ft_server_put(struct session *s, const struct ft_msg *req,
                   struct outcome *o)
{
    struct ft_upload up = FT_UPLOAD_INIT;
    struct ft_quota_hold hold = { .q = NULL };
    struct ft_xfer_result res;
    char name[FT_PATH_MAX + 1];
    uint64_t have = 0;
    bool stream_done;
    enum ft_err err;

    if (!admit(s, req, o, name) || !reserve(s, req, o, name, &hold))
        return;
    err = open_upload(s, req, name, hold.key, &up, &have);
    if (err != FT_OK) {
        ft_quota_finish(s->srv->quotas, &hold, &up, false);
        refuse_skip(s, req, o, err);
        return;
    }
    memset(&res, 0, sizeof(res));
    err = receive(s, req, &up, &hold, have, &res);
    o->bytes = up.written;
    /* After END (a digest mismatch, a failed commit) the stream is still in
     * step; a failure before it leaves the client's data in flight. An END
     * that breaks the rules (a wrong total, no digest under VERIFY) comes
     * from a client that does not follow them: it is not trusted further
     * (PROTOCOL.md 11.3). */
    stream_done = err == FT_OK || err == FT_ERR_INTEGRITY ||
                  (res.end_seen && err != FT_ERR_PROTOCOL);
    if (err == FT_OK)
        err = commit(s, req, &up, &hold, res.bytes, o);
    ft_quota_finish(s->srv->quotas, &hold, &up, err == FT_OK && !o->queued);
    ft_store_upload_abort(s->srv->store, &up);
    if (err != FT_OK)
        answer_failure(s, req, o, err, stream_done);
    else if (!o->queued)
        ft_server_put_answer_done(s, &up, res.bytes, o);
}
