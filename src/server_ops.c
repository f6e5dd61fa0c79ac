/* server_ops.c - the requests on stored names: get, list, stat, touch,
 * move, delete, mkdir; and the client's usage (df). */
#define _GNU_SOURCE
#include "server_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "entries.h"
#include "io.h"
#include "resume.h"
#include "store.h"
#include "touches.h"
#include "xfer.h"

static bool is_folder(struct session *s, const char *name)
{
    struct ft_store_entry e;

    return ft_store_stat(s->srv->store, name, &e) == FT_OK &&
           (e.mode & FT_MODE_TYPE) == FT_MODE_DIR;
}

/* A refused GET --continue: the client's digests follow its request; read
 * them, so that the connection stays in step. False if it did not. */
bool ft_server_ops_get_skip(struct session *s, const struct ft_msg *req)
{
    uint64_t ignored_size = 0, ignored_offset = 0;
    int64_t ignored_mtime = 0;

    if (!(req->u.get.flags & FT_XFER_RESUME))
        return true;
    return ft_resume_match_sums(&s->conn, NULL, &ignored_offset, &ignored_size,
                                &ignored_mtime) == FT_OK;
}

/* The client's part of the file, for get --continue, comes first, even
 * when we have no file (f not open): read it, and resume only if it is of
 * this very file. */
static enum ft_err read_client_part(struct session *s, struct ft_store_file *f,
                                    uint64_t *offset)
{
    struct ft_reader ours = ft_store_file_reader(f);
    bool open = ft_store_file_is_open(f);
    uint64_t src_size = 0;
    int64_t src_mtime = 0;
    enum ft_err err = ft_resume_match_sums(&s->conn, open ? &ours : NULL, offset,
                                           &src_size, &src_mtime);

    if (err == FT_OK && open &&
        (src_size != f->info.size || src_mtime != f->info.mtime))
        *offset = 0;
    return err;
}

/* After the file went out (err how): the client's acknowledgement, or our
 * word on what failed. */
void ft_server_ops_finish_get(struct session *s, uint32_t flags,
                              struct outcome *o, enum ft_err err, uint64_t bytes)
{
    struct ft_msg ack;

    if (err != FT_OK && err != FT_ERR_CLOSED && err != FT_ERR_TIMEOUT &&
        s->conn.peer_code == FT_OK && !s->conn.mid_frame) {
        /* Our side failed (a read error, the file changed): say so, then
         * hang up, since the client may hold part of the stream. */
        ft_server_session_refuse(s, o, err);
        return;
    }
    /* A pipelined GET is not acknowledged: the next frame is a request. */
    if (err == FT_OK && (flags & FT_XFER_PIPELINE)) {
        o->keep_open = true;
        return;
    }
    if (err == FT_OK)
        err = ft_conn_recv(&s->conn, &ack, s->conn.timeout_ms);
    if (err == FT_OK && ack.type == FT_MSG_ERROR)
        err = s->conn.peer_code;
    else if (err == FT_OK && (ack.type != FT_MSG_DONE || ack.u.done.count != bytes))
        err = FT_ERR_PROTOCOL;
    o->err = err;
    /* A client that reported a bad digest is still in step. */
    o->keep_open = err == FT_OK || s->conn.peer_code == FT_ERR_INTEGRITY;
}

/* A striped get: STREAMS, then the units on this connection and on every
 * one that joins, then END. *striped is false when the server does not
 * stripe this one (the data then follows as for any get). */
static enum ft_err send_striped(struct session *s, uint32_t flags,
                                const uint8_t *known_digest,
                                struct ft_server_striped *x, struct ft_stripes *st,
                                struct ft_xfer_result *res, bool *striped)
{
    enum ft_err err = ft_server_stripes_open(s, x, st, true, striped);

    if (err != FT_OK || !*striped)
        return err;
    if ((flags & FT_XFER_VERIFY) && known_digest == NULL)
        err = ft_stripes_hash_start(st);
    if (err == FT_OK)
        err = ft_stripes_send(&s->conn, st);
    if (err == FT_OK)
        err = ft_stripes_send_end(&s->conn, st, flags, known_digest, res);
    return err;
}

/* Sends the open file from offset as one stream: through its descriptor
 * (sendfile, when nothing is hashed on the way), or read through the
 * store where the backend has none. */
static enum ft_err send_stream(struct session *s, uint32_t flags,
                               struct ft_store_file *f, uint64_t offset,
                               const uint8_t *known_digest,
                               struct ft_xfer_result *res)
{
    int fd = ft_store_file_fd(f);
    struct ft_reader r = ft_store_file_reader(f);

    if (fd < 0)
        return ft_xfer_send_reader(&s->conn, &r, flags, f->info.size, offset,
                                   known_digest, &s->xfer_opts, res);
    if (lseek(fd, (off_t)offset, SEEK_SET) < 0)
        return FT_ERR_IO;
    return ft_xfer_send_from(&s->conn, fd, flags, f->info.size, offset, known_digest,
                             &s->xfer_opts, res);
}

/* Sends the open file from offset: READY, then its data. */
static void send_file(struct session *s, uint32_t flags, struct ft_store_file *f,
                      uint64_t offset, struct outcome *o)
{
    struct ft_msg ready = { .type = FT_MSG_READY };
    struct ft_xfer_result res;
    struct ft_server_striped x = { .st = NULL };
    struct ft_stripes st;
    uint8_t digest[FT_HASH_BYTES];
    bool known, record, striped = false;
    enum ft_err err;

    memset(&res, 0, sizeof(res));
    ready.u.ready.size = f->info.size;
    ready.u.ready.mtime = f->info.mtime;
    ready.u.ready.mode = f->info.mode;
    ready.u.ready.offset = offset;
    /* A digest recorded at upload spares hashing the file again. */
    known = (flags & FT_XFER_VERIFY) && ft_store_file_digest(f, digest);
    /* Hashed whole for this get (stored with --no-verify, say): the digest
     * is recorded, so the next get goes out without reading it through us. */
    record = (flags & FT_XFER_VERIFY) && !known;
    ft_stripes_init(&st, ft_store_file_fd(f), offset, f->info.size, flags, NULL, NULL);
    st.rate_limit = s->xfer_opts.rate_limit;
    /* The data follows at once: READY leaves with it. */
    err = ft_conn_send_more(&s->conn, &ready);
    if (err == FT_OK && (flags & FT_XFER_STRIPED))
        err = send_striped(s, flags, known ? digest : NULL, &x, &st, &res,
                           &striped);
    if (err == FT_OK && !striped)
        err = send_stream(s, flags, f, offset, known ? digest : NULL, &res);
    if (err == FT_OK && record)
        ft_store_file_remember(s->srv->store, f, res.digest);
    o->bytes = res.bytes;
    if (err != FT_OK)
        ft_stripes_fail(&st, err);
    ft_server_ops_finish_get(s, flags, o, err, res.bytes);
    ft_server_stripes_close(s, &x);
    ft_stripes_free(&st);
}

void ft_server_ops_get(struct session *s, const struct ft_msg *req, struct outcome *o)
{
    struct ft_store_file f = FT_STORE_FILE_INIT;
    char name[FT_PATH_MAX + 1];
    uint32_t flags = req->u.get.flags;
    uint64_t offset = 0;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.get.name, name) ||
        !ft_server_session_flags_ok(s, flags)) {
        if (o->err == FT_OK)
            ft_server_session_refuse(s, o, FT_ERR_PROTOCOL);
        if (o->keep_open)
            o->keep_open = ft_server_ops_get_skip(s, req);
        return;
    }
    err = ft_store_open_file(s->srv->store, name, &f);
    if (err == FT_ERR_DENIED && is_folder(s, name)) {
        o->err = err;
        ft_conn_send_error(&s->conn, err, "'%s' is a folder: get it with -r",
                           o->name);
        /* A resumed GET of a folder ends the session, as PROTOCOL.md 9.2
         * says: its SUMS are not read but drained. */
        if (flags & FT_XFER_RESUME)
            ft_server_session_drain(s);
        o->keep_open = !(flags & FT_XFER_RESUME);
        return;
    }
    if (flags & FT_XFER_RESUME) {
        enum ft_err sums = read_client_part(s, &f, &offset);

        if (sums != FT_OK) {
            o->err = sums;
            goto out;
        }
    }
    if (err != FT_OK) {
        o->keep_open = true;
        ft_server_session_refuse(s, o, err);
        goto out;
    }
    send_file(s, flags, &f, offset, o);
out:
    ft_store_file_close(&f);
}

struct list_ctx {
    struct session *s;
    uint64_t count;
    bool send_failed;
    /* Listing a client's root: what is named as the metadata folder at
     * the top of the store is left out at the top of its world too. */
    bool at_top;
    /* FT_TREE_PACKED: entries gather in pack (cap bytes) between frames. */
    uint8_t *pack;
    size_t pack_len, pack_cap;
    struct ft_entries_state st;
};

/* ENTRIES' payload is the packed bytes as they are: sent in place. */
static enum ft_err flush_entries(struct list_ctx *lc)
{
    size_t len = lc->pack_len;

    if (len == 0)
        return FT_OK;
    lc->pack_len = 0;
    if (ft_conn_send_raw(&lc->s->conn, FT_MSG_ENTRIES, lc->pack, len) !=
        FT_OK) {
        lc->send_failed = true;
        return FT_ERR_CLOSED;
    }
    return FT_OK;
}

/* Names are at most FT_PATH_MAX and a frame at least FT_MIN_MAX_PAYLOAD:
 * an entry always fits in an empty frame. */
static enum ft_err pack_entry(struct list_ctx *lc,
                              const struct ft_store_entry *e)
{
    struct ft_entries_item it = { e->size, e->mtime, e->mode };
    size_t n = strlen(e->name);

    if (ft_entries_put(&lc->st, lc->pack, lc->pack_cap, &lc->pack_len,
                       e->name, n, &it))
        return FT_OK;
    if (flush_entries(lc) != FT_OK)
        return FT_ERR_CLOSED;
    return ft_entries_put(&lc->st, lc->pack, lc->pack_cap, &lc->pack_len,
                          e->name, n, &it)
               ? FT_OK
               : FT_ERR_SERVER;
}

static enum ft_err send_entry(const struct ft_store_entry *e, void *ctx)
{
    struct list_ctx *lc = ctx;
    struct ft_msg m = { .type = FT_MSG_ENTRY };

    if (lc->at_top && ft_name_check(e->name, strlen(e->name)) != FT_OK)
        return FT_OK;
    if (lc->pack != NULL) {
        lc->count++;
        return pack_entry(lc, e);
    }
    m.u.entry.size = e->size;
    m.u.entry.mtime = e->mtime;
    m.u.entry.mode = e->mode;
    m.u.entry.name.ptr = (const uint8_t *)e->name;
    m.u.entry.name.len = strlen(e->name);
    lc->count++;
    if (ft_conn_send(&lc->s->conn, &m) != FT_OK) {
        lc->send_failed = true;
        return FT_ERR_CLOSED;
    }
    return FT_OK;
}

void ft_server_ops_list(struct session *s, const struct ft_msg *req,
                        struct outcome *o)
{
    struct list_ctx lc = { .s = s, .count = 0, .send_failed = false,
                           .at_top = req->u.list.folder.len == 0 };
    struct ft_msg done = { .type = FT_MSG_DONE };
    char folder[FT_PATH_MAX + 1];
    uint32_t flags = req->u.list.flags;
    enum ft_err err;

    /* No name: the client's root, its whole world. */
    snprintf(folder, sizeof(folder), "%s", s->rights.root);
    if (req->u.list.folder.len > 0 &&
        !ft_server_session_take_name(s, o, req->u.list.folder, folder))
        return;
    /* A packed listing only when negotiated, as flags_ok does for PUT's. */
    if ((flags & FT_TREE_PACKED) &&
        !(s->features & FT_FEATURE_LIST_PACKED)) {
        ft_server_session_refuse(s, o, FT_ERR_PROTOCOL);
        o->keep_open = true;
        return;
    }
    if (flags & FT_TREE_PACKED) {
        lc.pack_cap = s->conn.max_payload < FT_ENTRIES_FRAME_BYTES
                          ? s->conn.max_payload
                          : FT_ENTRIES_FRAME_BYTES;
        lc.pack = malloc(lc.pack_cap);
        if (lc.pack == NULL) {
            o->err = FT_ERR_NOMEM;
            return;
        }
        ft_entries_start(&lc.st);
    }
    /* Entries are named relative to the folder, and a file listed alone
     * by the client's name for it: never by its root. */
    err = ft_store_list_as(s->srv->store, folder,
                           ft_server_session_shown(s, folder),
                           (flags & FT_TREE_RECURSIVE) != 0, send_entry, &lc);
    if (err == FT_OK && lc.pack != NULL)
        err = flush_entries(&lc);
    free(lc.pack);
    o->bytes = lc.count;
    if (lc.send_failed) {
        o->err = err; /* the link itself failed: nothing more to say */
        return;
    }
    if (err != FT_OK) {
        /* Entries may have gone out: an ERROR still ends the reply. */
        ft_server_session_refuse(s, o, err);
        o->keep_open = true;
        return;
    }
    done.u.done.count = lc.count;
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
}

/* Hashes a stored file for STAT: the digest b2sum -l 256 prints. */
static enum ft_err hash_file(struct session *s, struct ft_store_file *f,
                             uint8_t digest[FT_HASH_BYTES])
{
    struct ft_hash h;

    ft_hash_init(&h);
    for (uint64_t off = 0;;) {
        size_t got = 0;
        enum ft_err err = ft_store_file_read_at(f, s->conn.buf, FT_FRAME_MAX_PAYLOAD,
                                                off, &got);

        if (err != FT_OK)
            return err;
        if (got == 0)
            break;
        off += got;
        ft_hash_update(&h, s->conn.buf, got);
        /* A large file takes a while: the client must know we live. */
        err = ft_conn_heartbeat(&s->conn);
        if (err != FT_OK)
            return err;
    }
    ft_hash_final(&h, digest);
    return FT_OK;
}

void ft_server_ops_stat(struct session *s, const struct ft_msg *req, struct outcome *o)
{
    struct ft_msg info = { .type = FT_MSG_STAT_INFO };
    struct ft_store_file f = FT_STORE_FILE_INIT;
    struct ft_store_entry e;
    char name[FT_PATH_MAX + 1];
    uint8_t *digest = info.u.stat_info.digest;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.stat.name, name))
        return;
    o->keep_open = true;
    /* A folder has no digest: it reports its type, with zeros. */
    err = ft_store_stat(s->srv->store, name, &e);
    if (err == FT_OK && (e.mode & FT_MODE_TYPE) != FT_MODE_DIR) {
        err = ft_store_open_file(s->srv->store, name, &f);
        if (err == FT_OK)
            e = f.info;
    }
    if (err == FT_OK && ft_store_file_is_open(&f) && !ft_store_file_digest(&f, digest) &&
        !(req->u.stat.flags & FT_STAT_NO_HASH)) {
        err = hash_file(s, &f, digest);
        if (err == FT_OK)
            ft_store_file_remember(s->srv->store, &f, digest);
    }
    ft_store_file_close(&f);
    if (err != FT_OK) {
        ft_server_session_refuse(s, o, err);
        return;
    }
    o->bytes = e.size;
    info.u.stat_info.size = e.size;
    info.u.stat_info.mtime = e.mtime;
    info.u.stat_info.mode = (e.mode & FT_MODE_TYPE) == FT_MODE_DIR
                                ? e.mode : FT_MODE_FILE | (e.mode & 07777);
    o->err = ft_conn_send(&s->conn, &info);
    o->keep_open = o->err == FT_OK;
}

/* Ends a request on names with DONE carrying count (what the log counts
 * too), or with the refusal of err. */
static void answer_count(struct session *s, struct outcome *o, enum ft_err err,
                         uint64_t count)
{
    struct ft_msg done = { .type = FT_MSG_DONE };

    if (err != FT_OK) {
        ft_server_session_refuse(s, o, err);
        return;
    }
    o->bytes = count;
    done.u.done.count = count;
    o->err = ft_conn_send(&s->conn, &done);
    o->keep_open = o->err == FT_OK;
}

/* Whether the open stored file's content is the one the client claims,
 * by its record or by reading it (the digest is then recorded, unless it
 * is the one claimed: the caller records that one with the file's new
 * stamp). */
static enum ft_err same_content(struct session *s, struct ft_store_file *f,
                                const struct ft_touch_claim *want,
                                uint8_t digest[FT_HASH_BYTES], bool *same)
{
    bool known = ft_store_file_digest(f, digest);
    enum ft_err err = known ? FT_OK : hash_file(s, f, digest);
    uint8_t tag[FT_TOUCH_TAG_BYTES];

    if (err == FT_OK && want->tag != NULL) {
        ft_touch_tag(want->salt, digest, tag);
        *same = sodium_memcmp(tag, want->tag, sizeof(tag)) == 0;
    } else {
        *same = err == FT_OK && ft_hash_equal(digest, want->digest);
    }
    if (err == FT_OK && !known && !*same)
        ft_store_file_remember(s->srv->store, f, digest);
    return err;
}

enum ft_err ft_server_ops_touch_file(struct session *s, const char *name, int64_t mtime,
                                     uint32_t mode, const struct ft_touch_claim *want,
                                     bool *same)
{
    struct ft_store_file f = FT_STORE_FILE_INIT;
    uint8_t digest[FT_HASH_BYTES];
    enum ft_err err = ft_store_open_file(s->srv->store, name, &f);

    *same = false;
    if (err == FT_OK)
        err = same_content(s, &f, want, digest, same);
    if (err == FT_OK && *same)
        err = ft_store_file_set_meta(s->srv->store, &f, mtime, mode, digest);
    /* Changed while we compared: not known to be the same any more. */
    if (err == FT_ERR_CHANGED) {
        err = FT_OK;
        *same = false;
    }
    ft_store_file_close(&f);
    return err;
}

/* A file whose content the client has already, under another mtime (a
 * tree unpacked again, every file's time new), takes the client's mtime
 * and mode for one small request rather than a transfer. */
void ft_server_ops_touch(struct session *s, const struct ft_msg *req, struct outcome *o)
{
    struct ft_touch_claim want = { .digest = req->u.touch.digest };
    char name[FT_PATH_MAX + 1];
    bool same = false;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.touch.name, name))
        return;
    o->keep_open = true;
    err = ft_server_ops_touch_file(s, name, req->u.touch.mtime, req->u.touch.mode, &want,
                                   &same);
    answer_count(s, o, err, same);
}

/* Ends a request on names: DONE, or its refusal; a DENIED that
 * denied_why explains (NULL: none does) is told in those words. */
static void answer_done(struct session *s, struct outcome *o, enum ft_err err,
                        const char *denied_why)
{
    if (err == FT_ERR_DENIED && denied_why != NULL) {
        o->err = err;
        ft_conn_send_error(&s->conn, err, "'%s' %s", o->name, denied_why);
        return;
    }
    answer_count(s, o, err, 0);
}

/* What is under name now, for the roots whose usage is counted (nothing
 * is measured when none is). */
static void measure(struct session *s, const char *name, int64_t *bytes,
                    int64_t *files)
{
    uint64_t b = 0, f = 0;

    if (ft_quotas_counting(s->srv->quotas))
        ft_store_usage(s->srv->store, name, &b, &f);
    *bytes = (int64_t)b;
    *files = (int64_t)f;
}

/* A move between names in the same counted roots changes their usage by
 * what it replaces; otherwise what moves leaves one root for another. */
static enum ft_err move_counted(struct session *s, const char *from, const char *to)
{
    struct ft_quotas *qs = s->srv->quotas;
    int64_t moved_bytes = 0, moved_files = 0, gone_bytes, gone_files;
    enum ft_err err;

    measure(s, to, &gone_bytes, &gone_files);
    if (!ft_quotas_same_roots(qs, from, to))
        measure(s, from, &moved_bytes, &moved_files);
    err = ft_store_move(s->srv->store, from, to);
    if (err != FT_OK)
        return err;
    ft_quotas_charge(qs, from, -moved_bytes, -moved_files);
    ft_quotas_charge(qs, to, moved_bytes - gone_bytes, moved_files - gone_files);
    return FT_OK;
}

void ft_server_ops_move(struct session *s, const struct ft_msg *req,
                        struct outcome *o)
{
    char from[FT_PATH_MAX + 1], to[FT_PATH_MAX + 1];
    bool into_itself;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.move.to, to) ||
        !ft_server_session_take_name(s, o, req->u.move.from, from))
        return;
    o->other = to;
    o->keep_open = true;
    err = move_counted(s, from, to);
    into_itself = strncmp(to, from, strlen(from)) == 0 && to[strlen(from)] == '/';
    answer_done(s, o, err, into_itself ? "cannot move into itself" : NULL);
}

void ft_server_ops_delete(struct session *s, const struct ft_msg *req,
                          struct outcome *o)
{
    char name[FT_PATH_MAX + 1];
    int64_t bytes, files;
    uint64_t hook_bytes = 0, hook_files = 0;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.del.name, name))
        return;
    o->keep_open = true;
    measure(s, name, &bytes, &files);
    /* What the hook is told went: the usage above, if it was measured. */
    if (s->srv->cfg.on_delete != NULL && !ft_quotas_counting(s->srv->quotas))
        ft_store_usage(s->srv->store, name, &hook_bytes, &hook_files);
    else
        hook_bytes = (uint64_t)bytes;
    err = ft_store_remove(s->srv->store, name,
                          (req->u.del.flags & FT_TREE_RECURSIVE) != 0);
    if (err == FT_OK)
        ft_quotas_charge(s->srv->quotas, name, -bytes, -files);
    answer_done(s, o, err,
                err == FT_ERR_DENIED && is_folder(s, name)
                    ? "is a folder: remove it with rm -r" : NULL);
    if (err == FT_OK)
        ft_server_hook_delete(s, name, hook_bytes);
}

void ft_server_ops_mkdir(struct session *s, const struct ft_msg *req,
                         struct outcome *o)
{
    struct ft_store_entry e;
    char name[FT_PATH_MAX + 1];
    bool made = false;
    enum ft_err err;

    if (!ft_server_session_take_name(s, o, req->u.mkdir.name, name))
        return;
    o->keep_open = true;
    err = ft_store_mkdir(s->srv->store, name,
                         (req->u.mkdir.flags & FT_MKDIR_PARENTS) != 0, &made);
    /* A link, or a file on the way, is told by the refusal; what is at
     * the name itself, here. */
    if (err == FT_ERR_DENIED && ft_store_stat(s->srv->store, name, &e) == FT_OK) {
        o->err = err;
        ft_conn_send_error(&s->conn, err, "'%s' exists already, as a %s", o->name,
                           (e.mode & FT_MODE_TYPE) == FT_MODE_DIR ? "folder" : "file");
        return;
    }
    answer_count(s, o, err, made);
}

void ft_server_ops_usage(struct session *s, const struct ft_msg *req,
                         struct outcome *o)
{
    struct ft_msg info = { .type = FT_MSG_USAGE_INFO };
    struct ft_quota_usage u;
    enum ft_err err = FT_OK;

    (void)req;
    o->keep_open = true;
    /* Without a quota, the root is counted at its first df. */
    if (s->quota == NULL)
        err = ft_quota_attach(s->srv->quotas, s->rights.root, &s->quota);
    if (err != FT_OK) {
        ft_server_session_refuse(s, o, err);
        return;
    }
    ft_quota_usage(s->quota, &u);
    o->bytes = u.bytes + u.pending_bytes;
    info.u.usage_info.bytes = u.bytes;
    info.u.usage_info.pending_bytes = u.pending_bytes;
    info.u.usage_info.quota_bytes = s->rights.quota_bytes;
    info.u.usage_info.files = u.files;
    info.u.usage_info.pending_files = u.pending_files;
    info.u.usage_info.quota_files = s->rights.quota_files;
    o->err = ft_conn_send(&s->conn, &info);
    o->keep_open = o->err == FT_OK;
}
