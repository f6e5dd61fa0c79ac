/* client_xfer.c - one file up or down, and the pipelined requests due. */
#define _GNU_SOURCE
#include "ft/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"
#include "client_local.h"
#include "hash.h"
#include "io.h"
#include "resume.h"
#include "xfer.h"

/* The pipelined requests whose answers are due. */
struct ft_client_pipeline {
    /* Puts sent, oldest first. */
    struct {
        struct ft_xfer_result res;
        int64_t started;
        void *tag; /* the caller's, handed back with the answer */
    } due[FT_PIPELINE_MAX];
    size_t due_first, due_count;
    /* A pipelined put was given up with an ERROR to the server, which then
     * answers the puts before it and closes: those answers can be read. */
    bool answers_after_break;
    size_t gets_due; /* gets sent */
};

/* The pipeline, made at the first pipelined request; NULL when out of
 * memory. */
static struct ft_client_pipeline *pipeline(struct ft_client *c)
{
    if (c->pipeline == NULL)
        c->pipeline = calloc(1, sizeof(*c->pipeline));
    if (c->pipeline == NULL)
        ft_client_set_error(c, "out of memory");
    return c->pipeline;
}

/* Starts a pipelined put (or get): the pipeline, made at the first, or
 * why the request cannot go pipelined. allowed says whether its own terms
 * let it; puts and gets are not pipelined together. */
static enum ft_err begin_piped(struct ft_client *c, bool put, bool allowed,
                               struct ft_client_pipeline **out)
{
    struct ft_client_pipeline *p;
    enum ft_err err = ft_client_begin_pipelined(c);

    if (err != FT_OK)
        return err;
    p = pipeline(c);
    if (p == NULL)
        return FT_ERR_NOMEM;
    if (!allowed || !ft_client_can_pipeline(c) ||
        (put ? p->due_count == FT_PIPELINE_MAX || p->gets_due > 0
             : p->gets_due == FT_PIPELINE_MAX || p->due_count > 0)) {
        ft_client_set_error(c, "this %s cannot be pipelined", put ? "put" : "get");
        return FT_ERR_USAGE;
    }
    *out = p;
    return FT_OK;
}

void ft_client_pipeline_free(struct ft_client *c)
{
    free(c->pipeline);
    c->pipeline = NULL;
}

uint32_t ft_client_xfer_flags(const struct ft_client *c,
                              const struct ft_transfer_options *opt)
{
    uint32_t flags = 0;

    if (opt != NULL && opt->compress && (c->features & FT_FEATURE_ZLIB))
        flags |= FT_XFER_COMPRESS;
    if (opt == NULL || !opt->no_verify)
        flags |= FT_XFER_VERIFY;
    return flags;
}

static void relay_progress(void *ctx, uint64_t done)
{
    const struct ft_client_progress *r = ctx;

    r->opt->progress(r->opt->progress_ctx, done, r->total);
}

/* The options of the next transfer: its progress reports routed to opt's
 * callback, if any, and opt's rate limit. */
const struct ft_xfer_opts *ft_client_watch(const struct ft_transfer_options *opt,
                                          struct ft_client_progress *relay,
                                          uint64_t total)
{
    relay->opt = opt;
    relay->total = total;
    relay->xo.progress = opt != NULL && opt->progress != NULL ? relay_progress : NULL;
    relay->xo.progress_ctx = relay;
    relay->xo.rate_limit = opt != NULL ? opt->rate_limit : 0;
    return &relay->xo;
}

void ft_client_report(struct ft_transfer *out, const struct ft_xfer_result *res,
                      int64_t started_ms, unsigned streams)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    out->streams = streams > 0 ? streams : 1;
    out->bytes = res->bytes;
    out->seconds = (double)(ft_io_now_ms() - started_ms) / 1000.0;
    out->verified = res->verified;
    if (res->verified)
        ft_hash_hex(res->digest, out->digest_hex);
}

/* put --continue: the server holds have bytes of an earlier run; compare
 * them with ours chunk by chunk and tell it where to go on from. */
static enum ft_err resume_put(struct ft_client *c, int in_fd, uint64_t have,
                              uint64_t *offset)
{
    enum ft_err err = ft_resume_choose_offset(&c->conn, in_fd, have, offset);

    if (err != FT_OK)
        return ft_client_fail(c, ft_client_last_words(c, err));
    if (lseek(in_fd, (off_t)*offset, SEEK_SET) < 0)
        return ft_client_fail(c, FT_ERR_IO);
    return FT_OK;
}

/* A PUT of what in_fd holds, with extra_flags; a regular file's time and
 * mode go along. */
static void put_request(const struct ft_client *c, int in_fd, int64_t size,
                        const char *remote, const struct ft_transfer_options *opt,
                        uint32_t extra_flags, struct ft_msg *req)
{
    struct stat sb;

    req->u.put.flags = ft_client_xfer_flags(c, opt) | extra_flags;
    if (opt != NULL && opt->chunks && (c->features & FT_FEATURE_DELTA))
        req->u.put.flags |= FT_XFER_CHUNKS;
    req->u.put.size = size < 0 ? FT_SIZE_UNKNOWN : (uint64_t)size;
    req->u.put.name.ptr = (const uint8_t *)remote;
    req->u.put.name.len = strlen(remote);
    if (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        req->u.put.flags |= FT_XFER_META;
        req->u.put.mtime = (int64_t)sb.st_mtime;
        req->u.put.mode = (uint32_t)(sb.st_mode & 0777);
        /* A resume is checked whole, or not done at all. */
        if (opt != NULL && opt->resume && size >= 0 &&
            (req->u.put.flags & FT_XFER_VERIFY))
            req->u.put.flags |= FT_XFER_RESUME;
    }
}

enum ft_err ft_client_put(struct ft_client *c, int in_fd, int64_t size,
                          const char *remote,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out)
{
    struct ft_msg req = { .type = FT_MSG_PUT };
    struct ft_msg reply;
    struct ft_xfer_result res;
    struct ft_client_progress relay;
    uint64_t offset = 0, held = 0;
    int64_t started = ft_io_now_ms();
    unsigned streams = 0; /* 0: not striped */
    enum ft_err err = ft_client_begin(c);

    if (err != FT_OK)
        return err;
    memset(&res, 0, sizeof(res));
    put_request(c, in_fd, size, remote, opt,
                size >= 0 && ft_client_stripes_wanted(c, opt, in_fd, (uint64_t)size)
                    ? FT_XFER_STRIPED : 0,
                &req);
    err = ft_client_request(c, &req, FT_MSG_READY, &reply);
    if (err != FT_OK)
        return err;
    held = reply.u.ready.offset;
    if (req.u.put.flags & FT_XFER_RESUME) {
        err = resume_put(c, in_fd, held, &offset);
        if (err != FT_OK)
            return err;
    }
    errno = 0;
    if (req.u.put.flags & FT_XFER_STRIPED)
        err = ft_client_stripes_move(c, in_fd, true, req.u.put.flags, req.u.put.size,
                                     offset, opt, &res, &streams);
    if (err == FT_OK && streams == 0)
        err = ft_xfer_send_from(&c->conn, in_fd, req.u.put.flags, req.u.put.size,
                                offset, NULL, ft_client_watch(opt, &relay, req.u.put.size),
                                &res);
    if (err != FT_OK) {
        /* The server refused mid-stream and hung up, or the link died. */
        c->broken = true;
        return ft_client_fail(c, ft_client_last_words(c, err));
    }
    err = ft_client_read_done(c, res.bytes);
    if (err != FT_OK)
        return err;
    /* The server compared our digest with its own before it said DONE. */
    res.verified = (req.u.put.flags & FT_XFER_VERIFY) != 0;
    ft_client_report(out, &res, started, streams);
    if (out != NULL) {
        out->resumed_from = offset;
        out->restarted = (req.u.put.flags & FT_XFER_RESUME) && held > 0 &&
                         offset == 0;
    }
    return FT_OK;
}

enum ft_err ft_client_read_done(struct ft_client *c, uint64_t bytes)
{
    struct ft_msg reply;
    enum ft_err err = ft_conn_recv(&c->conn, &reply, c->conn.timeout_ms);

    if (err != FT_OK)
        return ft_client_fail(c, err);
    if (reply.type == FT_MSG_ERROR)
        return ft_client_fail(c, c->conn.peer_code);
    if (reply.type != FT_MSG_DONE || reply.u.done.count != bytes)
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    return FT_OK;
}

bool ft_client_can_pipeline(const struct ft_client *c)
{
    return (c->features & FT_FEATURE_PIPELINE) != 0;
}

size_t ft_client_puts_due(const struct ft_client *c)
{
    return c->pipeline != NULL ? c->pipeline->due_count : 0;
}

size_t ft_client_gets_due(const struct ft_client *c)
{
    return c->pipeline != NULL ? c->pipeline->gets_due : 0;
}

enum ft_err ft_client_put_send_tagged(struct ft_client *c, int in_fd,
                                      int64_t size, const char *remote,
                                      const struct ft_transfer_options *opt,
                                      void *tag)
{
    struct ft_msg req = { .type = FT_MSG_PUT };
    struct ft_client_pipeline *p = NULL;
    struct ft_xfer_opts xo = { .rate_limit = opt != NULL ? opt->rate_limit : 0 };
    size_t at;
    enum ft_err err = begin_piped(c, true, size >= 0 && !(opt != NULL && opt->resume),
                                  &p);

    if (err != FT_OK)
        return err;
    put_request(c, in_fd, size, remote, opt, FT_XFER_PIPELINE, &req);
    at = (p->due_first + p->due_count) % FT_PIPELINE_MAX;
    memset(&p->due[at].res, 0, sizeof(p->due[at].res));
    p->due[at].started = ft_io_now_ms();
    p->due[at].tag = tag;
    err = ft_conn_send_more(&c->conn, &req); /* its data follows at once */
    if (err == FT_OK)
        err = ft_xfer_send_from(&c->conn, in_fd, req.u.put.flags, req.u.put.size,
                                0, NULL, &xo, &p->due[at].res);
    if (err != FT_OK) {
        /* The server waits for the rest of this file: the link is out of
         * step. Unless it is dead, say we give this file up; the server
         * then answers the puts before it, and closes. */
        if (c->conn.peer_code == FT_OK && !c->conn.mid_frame &&
            ft_conn_send_error(&c->conn, FT_ERR_INTERRUPTED,
                               "client: gave up on '%s'", remote) == FT_OK)
            p->answers_after_break = true;
        c->broken = true;
        return ft_client_fail(c, err);
    }
    /* The server compares our digest with its own before it says DONE. */
    p->due[at].res.verified = (req.u.put.flags & FT_XFER_VERIFY) != 0;
    p->due_count++;
    return FT_OK;
}

enum ft_err ft_client_put_send(struct ft_client *c, int in_fd, int64_t size,
                               const char *remote,
                               const struct ft_transfer_options *opt)
{
    return ft_client_put_send_tagged(c, in_fd, size, remote, opt, NULL);
}

enum ft_err ft_client_put_wait_tagged(struct ft_client *c,
                                      struct ft_transfer *out, void **tag)
{
    struct ft_client_pipeline *p = c->pipeline;
    struct ft_msg reply;
    size_t at;
    enum ft_err err;

    *tag = NULL;
    c->conn.peer_code = FT_OK;
    c->err[0] = '\0';
    if (ft_client_puts_due(c) == 0) {
        ft_client_set_error(c, "no pipelined put is waiting for its answer");
        return FT_ERR_USAGE;
    }
    at = p->due_first;
    *tag = p->due[at].tag;
    p->due_first = (p->due_first + 1) % FT_PIPELINE_MAX;
    p->due_count--;
    if (c->broken && !p->answers_after_break) {
        ft_client_set_error(c, "the connection was lost before the server "
                               "answered: the file may or may not be stored");
        return FT_ERR_CLOSED;
    }
    err = ft_conn_recv(&c->conn, &reply, c->conn.timeout_ms);
    if (err != FT_OK) {
        p->answers_after_break = false;
        return ft_client_fail(c, err);
    }
    if (reply.type == FT_MSG_ERROR)
        return ft_client_fail(c, c->conn.peer_code);
    if (reply.type != FT_MSG_DONE || reply.u.done.count != p->due[at].res.bytes)
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    ft_client_report(out, &p->due[at].res, p->due[at].started, 1);
    return FT_OK;
}

enum ft_err ft_client_put_wait(struct ft_client *c, struct ft_transfer *out)
{
    void *tag;

    return ft_client_put_wait_tagged(c, out, &tag);
}

static enum ft_err write_to_fd(void *ctx, const void *buf, size_t n)
{
    return ft_io_write_file(*(int *)ctx, buf, n);
}

/* Sends a GET for remote and reads its READY into *ready; with part (an
 * earlier run's), the digests of the part's chunks go first. */
static enum ft_err ask(struct ft_client *c, const struct ft_msg *req,
                       const struct ft_part *part, struct ft_msg *ready)
{
    enum ft_err err;

    if (part == NULL)
        return ft_client_request(c, req, FT_MSG_READY, ready);
    err = ft_conn_send(&c->conn, req);
    if (err == FT_OK)
        err = ft_resume_send_sums(&c->conn, part->fd, part->size,
                                  part->src_size, part->src_mtime);
    if (err != FT_OK)
        return ft_client_fail(c, ft_client_last_words(c, err));
    return ft_client_read_answer(c, FT_MSG_READY, ready);
}

/* The download proper, into out_fd. With part (the part file of
 * ft_client_get_file), the source's note is written beside it, and when it
 * is an earlier run's, the server answers its chunks' digests with where
 * the data resumes; the part's prefix up to there is hashed into the
 * whole-file check. With sent, the request went out earlier, pipelined:
 * only its answer is read, and no DONE goes back. The server's READY is
 * copied to *ready for the caller. */
static enum ft_err get_into(struct ft_client *c, const char *remote, int out_fd,
                            const struct ft_transfer_options *opt,
                            struct ft_transfer *out, struct ft_part *part,
                            bool sent, struct ft_msg *ready)
{
    const struct ft_part *resumed = part != NULL && part->resuming ? part : NULL;
    struct ft_msg req = { .type = FT_MSG_GET };
    struct ft_msg ack = { .type = FT_MSG_DONE };
    struct ft_xfer_result res;
    struct ft_client_progress relay;
    struct ft_reader prefix = ft_io_reader(out_fd); /* the part resumed */
    int64_t started = ft_io_now_ms();
    uint64_t offset;
    unsigned streams = 0; /* 0: not striped */
    enum ft_err err = sent ? FT_OK : ft_client_begin(c);

    if (err != FT_OK)
        return err;
    memset(&res, 0, sizeof(res));
    req.u.get.flags = ft_client_xfer_flags(c, opt) | (resumed != NULL ? FT_XFER_RESUME : 0) |
                      (sent ? FT_XFER_PIPELINE : 0);
    if (!sent && ft_client_stripes_wanted(c, opt, out_fd, FT_SIZE_UNKNOWN))
        req.u.get.flags |= FT_XFER_STRIPED;
    req.u.get.name.ptr = (const uint8_t *)remote;
    req.u.get.name.len = strlen(remote);
    err = sent ? ft_client_read_answer(c, FT_MSG_READY, ready)
               : ask(c, &req, resumed, ready);
    if (err != FT_OK)
        return err;
    offset = ready->u.ready.offset;
    if (part != NULL)
        ft_client_local_part_note(part, ready->u.ready.size, ready->u.ready.mtime);
    if (offset > ready->u.ready.size || (resumed == NULL && offset != 0) ||
        (resumed != NULL && offset > resumed->size))
        return ft_client_fail(c, FT_ERR_PROTOCOL);
    if (resumed != NULL && (ftruncate(out_fd, (off_t)offset) != 0 ||
                            lseek(out_fd, (off_t)offset, SEEK_SET) < 0))
        return ft_client_fail(c, FT_ERR_IO);
    errno = 0;
    if (req.u.get.flags & FT_XFER_STRIPED)
        err = ft_client_stripes_move(c, out_fd, false, req.u.get.flags,
                                     ready->u.ready.size, offset, opt, &res,
                                     &streams);
    if (err == FT_OK && streams == 0)
        err = ft_xfer_recv_from(&c->conn, req.u.get.flags, ready->u.ready.size,
                                UINT64_MAX, offset, &prefix, write_to_fd, &out_fd,
                                ft_client_watch(opt, &relay, ready->u.ready.size), &res);
    if ((req.u.get.flags & FT_XFER_STRIPED) && err != FT_OK &&
        err != FT_ERR_INTEGRITY)
        c->broken = true; /* the streams' data may still be on its way */
    if (err != FT_OK && err != FT_ERR_INTEGRITY && c->conn.peer_code != FT_OK)
        c->broken = true; /* the server hangs up after an ERROR mid-stream */
    /* The stream ended cleanly: tell the server, which logs it (a
     * pipelined GET is not answered: the server reads requests only). */
    if (err == FT_ERR_INTEGRITY && !sent)
        ft_conn_send_error(&c->conn, FT_ERR_INTEGRITY,
                           "client: digest mismatch on '%s'", remote);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    ack.u.done.count = res.bytes;
    err = sent ? FT_OK : ft_conn_send(&c->conn, &ack);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    ft_client_report(out, &res, started, streams);
    if (out != NULL) {
        out->mtime = ready->u.ready.mtime;
        out->mode = ready->u.ready.mode;
        out->resumed_from = offset;
    }
    return FT_OK;
}

enum ft_err ft_client_get(struct ft_client *c, const char *remote, int out_fd,
                          const struct ft_transfer_options *opt,
                          struct ft_transfer *out)
{
    struct ft_msg ready;

    return get_into(c, remote, out_fd, opt, out, NULL, false, &ready);
}

/* A pipelined GET's answer that has nowhere to go is read all the same,
 * into /dev/null, so that the answers after it stay in step. Returns err. */
static enum ft_err drop_answer(struct ft_client *c, const char *remote,
                               const struct ft_transfer_options *opt,
                               enum ft_err err)
{
    struct ft_transfer_options unwatched = { .compress = false };
    struct ft_msg ready;
    char why[sizeof(c->err)];
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

    /* The caller has given this file up: its bytes are no progress. */
    if (opt != NULL) {
        unwatched = *opt;
        unwatched.progress = NULL;
    }
    memcpy(why, c->err, sizeof(why));
    if (fd >= 0) {
        /* A failure here that leaves the stream out of step breaks it. */
        get_into(c, remote, fd, &unwatched, NULL, NULL, true, &ready);
        close(fd);
    } else {
        c->broken = true;
    }
    memcpy(c->err, why, sizeof(why));
    return err;
}

/* ft_client_get_file into to, or with sent the answer to a pipelined GET. */
static enum ft_err get_file(struct ft_client *c, const char *remote,
                            const struct ft_local_name *to,
                            const struct ft_transfer_options *opt,
                            struct ft_transfer *out, bool sent)
{
    struct ft_transfer t;
    struct ft_msg ready;
    struct ft_part part;
    enum ft_err err;

    memset(&t, 0, sizeof(t));
    err = ft_client_local_part_open(&part, to, !sent && opt != NULL && opt->resume,
                                    c->err, sizeof(c->err));
    if (err != FT_OK)
        return sent ? drop_answer(c, remote, opt, err) : err;
    err = get_into(c, remote, part.fd, opt, &t, &part, sent, &ready);
    err = ft_client_local_part_publish(&part, err, &t, c->err, sizeof(c->err));
    if (err == FT_OK && out != NULL) {
        t.restarted = part.resuming && t.resumed_from == 0 && part.size > 0;
        *out = t;
    }
    return err;
}

/* get_file to the path local_path. */
static enum ft_err get_file_named(struct ft_client *c, const char *remote,
                                  const char *local_path,
                                  const struct ft_transfer_options *opt,
                                  struct ft_transfer *out, bool sent)
{
    struct ft_local_name to;
    enum ft_err err = ft_client_local_name_open(&to, local_path, c->err,
                                                sizeof(c->err));

    if (err != FT_OK)
        return sent ? drop_answer(c, remote, opt, err) : err;
    err = get_file(c, remote, &to, opt, out, sent);
    ft_client_local_name_close(&to);
    return err;
}

enum ft_err ft_client_get_file(struct ft_client *c, const char *remote,
                               const char *local_path,
                               const struct ft_transfer_options *opt,
                               struct ft_transfer *out)
{
    return get_file_named(c, remote, local_path, opt, out, false);
}

enum ft_err ft_client_get_send(struct ft_client *c, const char *remote,
                               const struct ft_transfer_options *opt)
{
    struct ft_msg req = { .type = FT_MSG_GET };
    struct ft_client_pipeline *p = NULL;
    enum ft_err err = begin_piped(c, false, !(opt != NULL && opt->resume), &p);

    if (err != FT_OK)
        return err;
    req.u.get.flags = ft_client_xfer_flags(c, opt) | FT_XFER_PIPELINE;
    req.u.get.name.ptr = (const uint8_t *)remote;
    req.u.get.name.len = strlen(remote);
    err = ft_conn_send(&c->conn, &req);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    p->gets_due++;
    return FT_OK;
}

void ft_client_batch_begin(struct ft_client *c)
{
    ft_conn_cork(&c->conn, true);
}

void ft_client_batch_end(struct ft_client *c)
{
    ft_conn_cork(&c->conn, false);
}

/* Takes the oldest pipelined get's answer as the one to read now. */
static enum ft_err take_get_answer(struct ft_client *c)
{
    if (ft_client_gets_due(c) == 0) {
        ft_client_set_error(c, "no pipelined get is waiting for its answer");
        return FT_ERR_USAGE;
    }
    c->pipeline->gets_due--;
    return ft_client_begin_pipelined(c);
}

enum ft_err ft_client_get_drop(struct ft_client *c,
                               const struct ft_transfer_options *opt)
{
    enum ft_err err = take_get_answer(c);

    return err != FT_OK ? err : drop_answer(c, "", opt, FT_OK);
}

enum ft_err ft_client_get_file_wait(struct ft_client *c, const char *remote,
                                    const char *local_path,
                                    const struct ft_transfer_options *opt,
                                    struct ft_transfer *out)
{
    enum ft_err err = take_get_answer(c);

    return err != FT_OK ? err : get_file_named(c, remote, local_path, opt, out, true);
}

enum ft_err ft_client_get_file_at(struct ft_client *c, const char *remote,
                                  const struct ft_local_name *to,
                                  const struct ft_transfer_options *opt,
                                  struct ft_transfer *out, bool sent)
{
    enum ft_err err = sent ? take_get_answer(c) : FT_OK;

    return err != FT_OK ? err : get_file(c, remote, to, opt, out, sent);
}
