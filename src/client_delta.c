/* client_delta.c - the client's side of delta transfers (ft sync): the
 * new version sent against the server's signature, or received against
 * the local file's (PROTOCOL.md 9.12). */
#define _GNU_SOURCE
#include "client_int.h"
#include "client_local.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunker.h"
#include "delta.h"
#include "io.h"
#include "xfer_delta.h"

bool ft_client_can_delta(const struct ft_client *c)
{
    return (c->features & FT_FEATURE_DELTA) != 0;
}

/* Begins a delta request: refused, as by a server without deltas, when
 * the session did not agree on them. */
static enum ft_err begin(struct ft_client *c)
{
    if (!ft_client_can_delta(c)) {
        ft_client_set_error(c, "the server does not take delta transfers");
        return FT_ERR_VERSION;
    }
    return ft_client_begin(c);
}

/* Deltas are always checked whole: a matched chunk is only a hint. */
static uint32_t delta_flags(const struct ft_client *c,
                            const struct ft_transfer_options *opt)
{
    return (ft_client_xfer_flags(c, opt) & FT_XFER_COMPRESS) | FT_XFER_VERIFY;
}

static void report(struct ft_transfer *out, const struct ft_xfer_delta_result *res,
                   int64_t started)
{
    struct ft_xfer_result r = { .bytes = res->bytes, .verified = true };

    if (out == NULL)
        return;
    memcpy(r.digest, res->digest, FT_HASH_BYTES);
    ft_client_report(out, &r, started, 1);
    out->delta = true;
    out->matched = res->matched;
}

/* After a delta the receiver found corrupt (its old version was not what
 * its signature said): the stream is in step, and the file goes whole. */
static bool send_whole(struct ft_client *c, enum ft_err err)
{
    return err == FT_ERR_INTEGRITY && !c->broken;
}

/* DELTA_PUT, READY, the server's signature, our delta, its answer. */
static enum ft_err put_delta(struct ft_client *c, int in_fd, uint64_t size,
                             const char *remote, const struct ft_transfer_options *opt,
                             struct ft_transfer *out)
{
    struct ft_msg req = { .type = FT_MSG_DELTA_PUT }, reply;
    struct ft_xfer_delta_source src = { .fd = in_fd, .size = size, .list_fd = -1 };
    struct ft_xfer_delta_result res;
    struct ft_client_progress relay;
    struct ft_delta_list sig;
    struct stat sb;
    int64_t started = ft_io_now_ms();
    enum ft_err err;

    ft_delta_list_init(&sig, 0);
    if (fstat(in_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ft_client_set_error(c, "a delta put sends a regular file");
        return FT_ERR_USAGE;
    }
    req.u.delta_put.flags = delta_flags(c, opt) | FT_XFER_META;
    req.u.delta_put.size = size;
    req.u.delta_put.mtime = (int64_t)sb.st_mtime;
    req.u.delta_put.mode = (uint32_t)(sb.st_mode & 0777);
    req.u.delta_put.name.ptr = (const uint8_t *)remote;
    req.u.delta_put.name.len = strlen(remote);
    err = ft_client_request(c, &req, FT_MSG_READY, &reply);
    if (err != FT_OK)
        return err;
    err = ft_xfer_delta_recv_signature(&c->conn, &sig);
    /* A signature too long to index: every chunk goes as new. */
    if (err == FT_ERR_TOO_LARGE) {
        sig.count = 0;
        err = FT_OK;
    }
    if (err == FT_OK)
        err = ft_xfer_delta_send(&c->conn, &src, &sig, req.u.delta_put.flags,
                                 ft_client_watch(opt, &relay, size), &res);
    ft_delta_list_free(&sig);
    if (err != FT_OK) {
        c->broken = true;
        return ft_client_fail(c, ft_client_last_words(c, err));
    }
    err = ft_client_read_done(c, res.bytes);
    if (err == FT_OK)
        report(out, &res, started);
    return err;
}

enum ft_err ft_client_put_delta(struct ft_client *c, int in_fd, int64_t size,
                                const char *remote,
                                const struct ft_transfer_options *opt,
                                struct ft_transfer *out)
{
    struct ft_transfer_options whole = { .compress = false };
    enum ft_err err = begin(c);

    if (err == FT_OK && size < 0) {
        ft_client_set_error(c, "a delta put needs the file's size");
        err = FT_ERR_USAGE;
    }
    if (err == FT_OK)
        err = put_delta(c, in_fd, (uint64_t)size, remote, opt, out);
    if (!send_whole(c, err))
        return err;
    if (lseek(in_fd, 0, SEEK_SET) < 0)
        return ft_client_fail(c, FT_ERR_IO);
    /* The server keeps the list of what it receives whole, for the next
     * delta. */
    if (opt != NULL)
        whole = *opt;
    whole.chunks = true;
    return ft_client_put(c, in_fd, size, remote, &whole, out);
}

/* The local file a download replaces, if it is a regular one: -1 if not. */
static int open_old(const struct ft_local_name *to, uint64_t *size)
{
    struct stat sb;
    int fd = openat(to->dir_fd, to->leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    *size = 0;
    if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0)
        *size = (uint64_t)sb.st_size;
    return fd;
}

static enum ft_err write_part(void *ctx, const void *buf, size_t n)
{
    return ft_io_write_file(*(int *)ctx, buf, n);
}

/* DELTA_GET with our signature, READY, the server's delta into the part
 * file, our DONE. *t tells the publication the file's time and mode. */
static enum ft_err get_delta(struct ft_client *c, const char *remote, int old_fd,
                             uint64_t old_size, struct ft_part *part,
                             const struct ft_transfer_options *opt,
                             struct ft_transfer *t)
{
    struct ft_msg req = { .type = FT_MSG_DELTA_GET }, ready;
    struct ft_msg ack = { .type = FT_MSG_DONE };
    struct ft_xfer_delta_result res = { .bytes = 0 };
    struct ft_client_progress relay;
    struct ft_delta_list sig;
    int64_t started = ft_io_now_ms();
    enum ft_err err;

    req.u.delta_get.flags = delta_flags(c, opt) & FT_XFER_COMPRESS;
    req.u.delta_get.name.ptr = (const uint8_t *)remote;
    req.u.delta_get.name.len = strlen(remote);
    ft_delta_list_init(&sig, 0); /* freed below even if never filled */
    err = ft_conn_send(&c->conn, &req);
    if (err == FT_OK)
        err = ft_xfer_delta_send_signature(&c->conn, old_fd,
                                           ft_chunker_level_for(old_size), &sig);
    if (err != FT_OK) {
        ft_delta_list_free(&sig);
        c->broken = true;
        return ft_client_fail(c, ft_client_last_words(c, err));
    }
    err = ft_client_read_answer(c, FT_MSG_READY, &ready);
    if (err != FT_OK) {
        ft_delta_list_free(&sig);
        return err; /* refused: the connection goes on */
    }
    err = ft_xfer_delta_recv(&c->conn, &sig, old_fd, req.u.delta_get.flags,
                                 ready.u.ready.size, write_part, &part->fd, NULL,
                                 NULL, ft_client_watch(opt, &relay, ready.u.ready.size),
                                 &res);
    ft_delta_list_free(&sig);
    if (err == FT_OK && res.bytes != ready.u.ready.size)
        err = FT_ERR_PROTOCOL;
    if (err == FT_ERR_INTEGRITY)
        ft_conn_send_error(&c->conn, FT_ERR_INTEGRITY,
                           "client: digest mismatch on '%s'", remote);
    else if (err != FT_OK)
        c->broken = true;
    ack.u.done.count = res.bytes;
    if (err == FT_OK)
        err = ft_conn_send(&c->conn, &ack);
    if (err != FT_OK)
        return ft_client_fail(c, err);
    report(t, &res, started);
    t->mtime = ready.u.ready.mtime;
    t->mode = ready.u.ready.mode;
    return FT_OK;
}

enum ft_err ft_client_get_delta_at(struct ft_client *c, const char *remote,
                                   const struct ft_local_name *to,
                                   const struct ft_transfer_options *opt,
                                   struct ft_transfer *out)
{
    struct ft_transfer t;
    struct ft_part part;
    uint64_t old_size = 0;
    int old_fd = -1;
    enum ft_err err = begin(c);

    memset(&t, 0, sizeof(t));
    if (err == FT_OK)
        err = ft_client_local_part_open(&part, to, false, c->err, sizeof(c->err));
    if (err != FT_OK)
        return err;
    old_fd = open_old(to, &old_size);
    err = get_delta(c, remote, old_fd, old_size, &part, opt, &t);
    if (old_fd >= 0)
        close(old_fd);
    err = ft_client_local_part_publish(&part, err, &t, c->err, sizeof(c->err));
    if (send_whole(c, err))
        return ft_client_get_file_at(c, remote, to, opt, out, false);
    if (err == FT_OK && out != NULL)
        *out = t;
    return err;
}

enum ft_err ft_client_get_delta_file(struct ft_client *c, const char *remote,
                                     const char *local_path,
                                     const struct ft_transfer_options *opt,
                                     struct ft_transfer *out)
{
    struct ft_local_name to;
    enum ft_err err = ft_client_local_name_open(&to, local_path, c->err,
                                                sizeof(c->err));

    if (err != FT_OK)
        return err;
    err = ft_client_get_delta_at(c, remote, &to, opt, out);
    ft_client_local_name_close(&to);
    return err;
}
