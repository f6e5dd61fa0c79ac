/* sync_send.c - ft sync's sends: the files the plan and the checks found
 * new or changed, up or down; small ones pipelined, changed ones as
 * deltas where the server takes them, whole otherwise. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"
#include "client_local.h"
#include "sync_int.h"

/* Room for why a local file failed: a path and the reason. */
#define WHY_MAX (PATH_MAX + 512)
/* Files up to this size travel pipelined, as a tree copy's do. */
#define PIPELINED_FILE_MAX (1024 * 1024)

/* Changed files smaller than this travel whole: their chunks (512 B
 * smallest, 2 KiB on average) would save next to nothing. */
#define DELTA_MIN (8 * 1024)

/* The size of SRC's file i. */
static uint64_t size_of(const struct sync *s, size_t i)
{
    struct sync_held h;

    return ft_sync_list_get(&s->src, i, &h)->size;
}

/* Whether SRC's file i travels as a delta: a changed file, to a server
 * that takes them. */
static bool as_delta(const struct sync *s, size_t i)
{
    return !(s->why[i] & SYNC_WHY_NEW) && size_of(s, i) >= DELTA_MIN &&
           ft_client_can_delta(s->c);
}

/* Whether it travels pipelined: small, whole. */
static bool piped(const struct sync *s, size_t i)
{
    return !as_delta(s, i) && size_of(s, i) <= PIPELINED_FILE_MAX &&
           ft_client_can_pipeline(s->c);
}

/* Tells how the sending of SRC's file i ended. */
static void sent(struct sync *s, size_t i, const char *path, enum ft_err err,
                 const struct ft_transfer *t)
{
    if (err != FT_OK) {
        ft_sync_keep(s, ft_sync_failed(s, path, err, ft_client_error(s->c)));
        return;
    }
    s->st->sent++;
    s->st->sent_bytes += t->bytes;
    s->st->literal_bytes += t->bytes - (t->delta && t->matched <= t->bytes ? t->matched : 0);
    ft_sync_tell(s, s->why[i] & SYNC_WHY_NEW ? FT_SYNC_NEW : FT_SYNC_SEND, i, true, t);
}

/* Reads the answers to pipelined puts until at most leave are due. */
static void collect(struct sync *s, size_t leave)
{
    while (ft_client_puts_due(s->c) > leave) {
        struct ft_transfer t;
        void *tag;
        enum ft_err err = ft_client_put_wait_tagged(s->c, &t, &tag);
        size_t i = (size_t)((uintptr_t)tag - 1);
        struct sync_held h;
        const char *name = ft_sync_list_get(&s->src, i, &h)->name;
        char *remote = ft_sync_remote_name(s, name);

        sent(s, i, remote != NULL ? remote : name, err, &t);
        free(remote);
    }
}

/* Uploads SRC's file i, open as fd: pipelined, as a delta, or whole. */
static void push_file(struct sync *s, size_t i, int fd, int64_t size,
                      const char *remote)
{
    struct ft_transfer t;
    enum ft_err err;

    if (piped(s, i)) {
        if (ft_client_puts_due(s->c) == FT_PIPELINE_MAX)
            collect(s, FT_PIPELINE_MAX - 1);
        if (!ft_sync_going(s))
            return;
        err = ft_client_put_send_tagged(s->c, fd, size, remote, s->xfer,
                                        (void *)(uintptr_t)(i + 1));
        if (err != FT_OK)
            sent(s, i, remote, err, NULL);
        return;
    }
    collect(s, 0);
    if (!ft_sync_going(s))
        return;
    err = as_delta(s, i) ? ft_client_put_delta(s->c, fd, size, remote, s->xfer, &t)
                         : FT_ERR_VERSION;
    if (err == FT_ERR_VERSION && lseek(fd, 0, SEEK_SET) == 0)
        err = ft_client_put(s->c, fd, size, remote, s->xfer, &t);
    sent(s, i, remote, err, &t);
}

/* Sends SRC's file i up: opened from its folder, never through a link. */
static void push_one(struct sync *s, size_t i)
{
    struct sync_held h;
    const struct sync_entry *e = ft_sync_list_get(&s->src, i, &h);
    char why[WHY_MAX];
    char *remote = ft_sync_remote_name(s, e->name);
    char *path = ft_sync_local_path(s, e->name);
    const char *leaf;
    struct stat sb;
    int fd = -1, dir = ft_sync_local_dir(&s->local, &s->local.kept, e->name, false, &leaf,
                                         why, sizeof(why));
    enum ft_err err = remote == NULL || path == NULL ? FT_ERR_NOMEM
                      : dir < 0 ? FT_ERR_IO
                      : ft_client_local_open_source(dir, leaf, false, &fd, &sb, why,
                                                    sizeof(why));

    if (err == FT_OK && !S_ISREG(sb.st_mode)) {
        snprintf(why, sizeof(why), "no longer a regular file");
        err = FT_ERR_IO;
    }
    if (err != FT_OK)
        ft_sync_keep(s, ft_sync_failed(s, path, err,
                                       err == FT_ERR_NOMEM ? "out of memory" : why));
    else
        push_file(s, i, fd, (int64_t)sb.st_size, remote);
    if (fd >= 0)
        close(fd);
    free(remote);
    free(path);
}

/* A download to the place of SRC's file name: its folder, made if
 * missing; to->leaf points into name. */
static enum ft_err pull_place(struct sync *s, const char *name, struct ft_local_name *to,
                              char **path)
{
    char why[WHY_MAX];

    *path = ft_sync_local_path(s, name);
    if (*path == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    to->path = *path;
    to->dir_fd = ft_sync_local_dir(&s->local, &s->local.kept, name, true,
                                   &to->leaf, why, sizeof(why));
    return to->dir_fd < 0 ? ft_sync_failed(s, NULL, FT_ERR_IO, why) : FT_OK;
}

/* Downloads SRC's file i; asked: its GET went out ahead. */
static void pull_one(struct sync *s, size_t i, bool asked)
{
    struct sync_held h;
    const char *name = ft_sync_list_get(&s->src, i, &h)->name;
    char *remote = ft_sync_remote_name(s, name), *path = NULL;
    struct ft_local_name to;
    struct ft_transfer t;
    enum ft_err err = pull_place(s, name, &to, &path);

    if (err == FT_OK && remote == NULL)
        err = ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    if (err != FT_OK) {
        if (asked)
            ft_client_get_drop(s->c, s->xfer);
        ft_sync_keep(s, err);
    } else {
        err = asked || !as_delta(s, i)
                  ? FT_ERR_VERSION
                  : ft_client_get_delta_at(s->c, remote, &to, s->xfer, &t);
        if (err == FT_ERR_VERSION)
            err = ft_client_get_file_at(s->c, remote, &to, s->xfer, &t, asked);
        sent(s, i, remote, err, &t);
    }
    free(remote);
    free(path);
}

/* Asks for the pipelined files of the send list from *next on, keeping
 * at most FT_PIPELINE_MAX due; each batch leaves together. */
static void ask_ahead(struct sync *s, size_t *next)
{
    struct sync_held h;

    if (*next >= s->nsend || ft_client_gets_due(s->c) > FT_PIPELINE_MAX / 2)
        return;
    ft_client_batch_begin(s->c);
    for (; *next < s->nsend && ft_client_gets_due(s->c) < FT_PIPELINE_MAX; (*next)++) {
        char *remote;

        if (!piped(s, s->send[*next]))
            continue;
        remote = ft_sync_remote_name(s,
                                     ft_sync_list_get(&s->src, s->send[*next], &h)->name);
        if (remote == NULL || ft_client_get_send(s->c, remote, s->xfer) != FT_OK) {
            free(remote);
            break; /* the file's turn tells why */
        }
        free(remote);
    }
    ft_client_batch_end(s->c);
}

/* Downloads the files to send: the small ones pipelined first, then the
 * others one by one. */
static void pull_all(struct sync *s)
{
    size_t next = 0;

    for (size_t k = 0; k < s->nsend && ft_sync_going(s); k++) {
        if (!piped(s, s->send[k]))
            continue;
        if (next < k)
            next = k;
        ask_ahead(s, &next);
        pull_one(s, s->send[k], next > k);
    }
    while (ft_client_gets_due(s->c) > 0)
        ft_client_get_drop(s->c, s->xfer);
    for (size_t k = 0; k < s->nsend && ft_sync_going(s); k++) {
        if (!piped(s, s->send[k]))
            pull_one(s, s->send[k], false);
    }
}

void ft_sync_send_all(struct sync *s)
{
    for (size_t k = 0; s->o->dry_run && k < s->nsend; k++) {
        s->st->sent++;
        s->st->sent_bytes += size_of(s, s->send[k]);
        ft_sync_tell(s, s->why[s->send[k]] & SYNC_WHY_NEW ? FT_SYNC_NEW : FT_SYNC_SEND,
                     s->send[k], true, NULL);
    }
    if (s->o->dry_run)
        return;
    if (!s->o->push) {
        pull_all(s);
        return;
    }
    for (size_t k = 0; k < s->nsend && ft_sync_going(s); k++)
        push_one(s, s->send[k]);
    collect(s, 0);
}
