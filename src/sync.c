/* sync.c - ft sync carried out: DST's extras removed, folders made, the
 * files that may have changed compared by digest, and what differs sent,
 * every per-file request pipelined. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
/* Files compared by digest per batch of TOUCH or STAT requests: the
 * digests of one batch are held at once. */
#define CHECK_BATCH 4096

bool ft_sync_goes_on(enum ft_err rc)
{
    enum ft_failure f = ft_client_failure(rc);

    return f == FT_FAILURE_NONE || f == FT_FAILURE_LOCAL || f == FT_FAILURE_REFUSED;
}

void ft_sync_keep(struct sync *s, enum ft_err rc)
{
    if (s->err == FT_OK || !ft_sync_goes_on(rc))
        s->err = rc;
}

enum ft_err ft_sync_failed(struct sync *s, const char *path, enum ft_err err,
                           const char *why)
{
    if (s->ev->failure != NULL)
        s->ev->failure(s->ev->ctx, path, err, why);
    return err;
}

void ft_sync_tell(struct sync *s, enum ft_sync_what what, size_t i, bool src,
                  const struct ft_transfer *t)
{
    const struct sync_entry *e = src ? &s->src.e[i] : &s->dst.e[i];
    struct ft_sync_change ch = { what, e->name, e->type == SYNC_DIR, e->size,
                                 src ? s->why[i] & ~SYNC_WHY_NEW : 0, t };

    if (s->ev->change != NULL)
        s->ev->change(s->ev->ctx, &ch);
}

/* The remote name of the entry name, allocated. */
static char *remote_name(const struct sync *s, const char *name)
{
    char *out = NULL;

    if (name[0] == '\0')
        return strdup(s->remote);
    if (ft_client_names_top(s->remote))
        return strdup(name);
    return asprintf(&out, "%s/%s", s->remote, name) < 0 ? NULL : out;
}

/* The local path of the entry name, for messages, allocated. */
static char *local_path(const struct sync *s, const char *name)
{
    char *out = NULL;

    if (name[0] == '\0' || s->local.single)
        return strdup(s->local.path);
    return asprintf(&out, "%s/%s", s->local.path, name) < 0 ? NULL : out;
}

/* Whether the connection is still worth a request. */
static bool going(const struct sync *s)
{
    return ft_sync_goes_on(s->err);
}

/* ------------------------------------------------- requests on names */

/* A batch of requests on names, each about one entry (src or dst), and
 * what to do with each answer. */
struct batch {
    struct sync *s;
    struct ft_name_request *reqs;
    size_t *idx;   /* the entry of each request */
    uint8_t (*digest)[FT_HASH_BYTES]; /* the local file's, for a check */
    size_t n;
    int (*answer)(struct batch *b, size_t k, enum ft_err err,
                  const struct ft_name_answer *a);
};

static int batch_answer(void *ctx, size_t k, enum ft_err err,
                        const struct ft_name_answer *a)
{
    struct batch *b = ctx;

    return b->answer(b, k, err, a);
}

/* Runs the batch's requests; frees their names. */
static void batch_run(struct batch *b)
{
    if (b->n > 0 && going(b->s))
        ft_client_names(b->s->c, b->reqs, b->n, batch_answer, b);
    for (size_t k = 0; k < b->n; k++)
        free((char *)b->reqs[k].name);
    b->n = 0;
}

/* Adds a request on the entry i named name (remote), or tells why not. */
static bool batch_add(struct batch *b, enum ft_name_op op, size_t i, const char *name)
{
    char *remote = remote_name(b->s, name);

    if (remote == NULL) {
        ft_sync_keep(b->s, ft_sync_failed(b->s, NULL, FT_ERR_NOMEM, "out of memory"));
        return false;
    }
    b->reqs[b->n] = (struct ft_name_request){ .op = op, .name = remote };
    b->idx[b->n++] = i;
    return true;
}

static enum ft_err batch_init(struct batch *b, struct sync *s, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->s = s;
    b->reqs = calloc(cap + 1, sizeof(*b->reqs));
    b->idx = calloc(cap + 1, sizeof(*b->idx));
    b->digest = calloc(cap + 1, sizeof(*b->digest));
    if (b->reqs == NULL || b->idx == NULL || b->digest == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    return FT_OK;
}

static void batch_free(struct batch *b)
{
    free(b->reqs);
    free(b->idx);
    free(b->digest);
}

/* The outcome of a request that changes DST (a remove, a mkdir). */
static int changed_answer(struct batch *b, size_t k, enum ft_err err,
                          const struct ft_name_answer *a)
{
    struct sync *s = b->s;
    bool del = b->reqs[k].op != FT_NAME_MKDIR_PARENTS;

    (void)a;
    if (err != FT_OK) {
        ft_sync_keep(s, ft_sync_failed(s, b->reqs[k].name, err, ft_client_error(s->c)));
        return !ft_sync_goes_on(err);
    }
    if (b->idx[k] == SIZE_MAX) /* DST's root */
        return 0;
    ft_sync_tell(s, del ? FT_SYNC_DELETE : FT_SYNC_MKDIR, b->idx[k], !del, NULL);
    if (del)
        s->st->deleted++;
    else
        s->st->folders++;
    return 0;
}

/* ------------------------------------------------ removals and folders */

/* Removes the local entry j of DST. */
static void delete_local(struct sync *s, size_t j)
{
    const struct sync_entry *e = &s->dst.e[j];
    char why[WHY_MAX];
    const char *leaf;
    int fd = ft_sync_local_dir(&s->local, e->name, false, &leaf, why, sizeof(why));
    enum ft_err err = fd < 0 ? FT_ERR_IO : ft_sync_local_remove(fd, leaf, why, sizeof(why));
    char *path;

    if (err == FT_OK) {
        ft_sync_tell(s, FT_SYNC_DELETE, j, false, NULL);
        s->st->deleted++;
        return;
    }
    path = local_path(s, e->name);
    ft_sync_keep(s, ft_sync_failed(s, path, err, why));
    free(path);
}

/* Removes DST's entries that the plan says, deepest last (a folder goes
 * with everything in it, in one request). */
static void delete_all(struct sync *s)
{
    struct batch b;

    if (s->ndel == 0)
        return;
    if (s->o->dry_run || !s->o->push) {
        for (size_t k = 0; k < s->ndel && going(s); k++) {
            if (s->o->dry_run) {
                ft_sync_tell(s, FT_SYNC_DELETE, s->del[k], false, NULL);
                s->st->deleted++;
            } else {
                delete_local(s, s->del[k]);
            }
        }
        return;
    }
    if (batch_init(&b, s, s->ndel) == FT_OK) {
        b.answer = changed_answer;
        for (size_t k = 0; k < s->ndel; k++) {
            const struct sync_entry *e = &s->dst.e[s->del[k]];

            if (!batch_add(&b, e->type == SYNC_DIR ? FT_NAME_REMOVE_TREE : FT_NAME_REMOVE,
                           s->del[k], e->name))
                break;
        }
        batch_run(&b);
    } else {
        ft_sync_keep(s, FT_ERR_NOMEM);
    }
    batch_free(&b);
}

/* Makes the local folder of SRC's entry i (with those above it). */
static void mkdir_local(struct sync *s, size_t i)
{
    const char *name = s->src.e[i].name;
    char why[WHY_MAX];
    int fd = ft_client_local_folder(s->local.root_fd, s->local.path, name, strlen(name),
                                    why, sizeof(why));

    if (fd < 0) {
        ft_sync_keep(s, ft_sync_failed(s, NULL, FT_ERR_IO, why));
        return;
    }
    if (fd != s->local.root_fd)
        close(fd);
    ft_sync_tell(s, FT_SYNC_MKDIR, i, true, NULL);
    s->st->folders++;
}

/* The local DST folder, made when missing. */
static enum ft_err local_root_made(struct sync *s)
{
    if (mkdir(s->local.path, 0777) != 0 && errno != EEXIST)
        return ft_sync_failed(s, s->local.path, FT_ERR_IO, strerror(errno));
    s->local.root_fd = open(s->local.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->local.root_fd < 0)
        return ft_sync_failed(s, s->local.path, FT_ERR_IO, strerror(errno));
    return FT_OK;
}

/* Makes SRC's folders on DST, empty ones too: the DST folder first. */
static void mkdir_all(struct sync *s)
{
    struct batch b;

    if (s->o->dry_run || !s->o->push) {
        if (!s->o->dry_run && !s->o->push && s->dst_missing)
            ft_sync_keep(s, local_root_made(s));
        for (size_t k = 0; k < s->nmkdir && going(s); k++) {
            if (s->o->dry_run) {
                ft_sync_tell(s, FT_SYNC_MKDIR, s->mkdir[k], true, NULL);
                s->st->folders++;
            } else if (s->local.root_fd >= 0) {
                mkdir_local(s, s->mkdir[k]);
            }
        }
        return;
    }
    if (batch_init(&b, s, s->nmkdir + 1) == FT_OK) {
        b.answer = changed_answer;
        if (s->dst_missing && !ft_client_names_top(s->remote))
            batch_add(&b, FT_NAME_MKDIR_PARENTS, SIZE_MAX, "");
        for (size_t k = 0; k < s->nmkdir; k++) {
            if (!batch_add(&b, FT_NAME_MKDIR_PARENTS, s->mkdir[k],
                           s->src.e[s->mkdir[k]].name))
                break;
        }
        batch_run(&b);
    } else {
        ft_sync_keep(s, FT_ERR_NOMEM);
    }
    batch_free(&b);
}

/* ------------------------------------------------ comparing by digest */

/* The answer to the TOUCH or STAT of a file that may have changed: the
 * same content takes the new metadata (a TOUCH did so already); other
 * content is sent. */
static int check_answer(struct batch *b, size_t k, enum ft_err err,
                        const struct ft_name_answer *a)
{
    struct sync *s = b->s;
    size_t i = b->idx[k];
    const struct sync_entry *e = &s->src.e[i];
    char hex[FT_HASH_HEX_BYTES], why[WHY_MAX];
    const char *leaf;
    bool same;
    int fd;

    if (err != FT_OK) {
        ft_sync_keep(s, ft_sync_failed(s, b->reqs[k].name, err, ft_client_error(s->c)));
        return !ft_sync_goes_on(err);
    }
    ft_hash_hex(b->digest[k], hex);
    same = b->reqs[k].op == FT_NAME_TOUCH ? a->same : strcmp(hex, a->st.digest_hex) == 0;
    if (!same || (s->o->push && !s->o->dry_run && b->reqs[k].op != FT_NAME_TOUCH &&
                  s->why[i] != 0)) {
        /* Without TOUCH, a put alone sets the server's metadata. */
        s->why[i] |= same ? 0 : FT_SYNC_WHY_CONTENT;
        s->send[s->nsend++] = i;
        return 0;
    }
    if (s->why[i] == 0)
        return 0; /* --checksum found it the same: nothing to do */
    if (!s->o->push && !s->o->dry_run) {
        fd = ft_sync_local_dir(&s->local, e->name, false, &leaf, why, sizeof(why));
        err = fd < 0 ? FT_ERR_IO
                     : ft_sync_local_set_meta(fd, leaf, a->st.mtime,
                                              (a->st.mode & 0111) != 0, why, sizeof(why));
        if (err != FT_OK) {
            ft_sync_keep(s, ft_sync_failed(s, e->name, err, why));
            return 0;
        }
    }
    ft_sync_tell(s, FT_SYNC_TOUCH, i, true, NULL);
    s->st->touched++;
    return 0;
}

/* Adds the check of SRC's file i to the batch: the local file's digest,
 * and for a push a TOUCH (STAT for a dry run, or a server without TOUCH;
 * for a pull). */
static void check_add(struct batch *b, size_t i, bool touch)
{
    struct sync *s = b->s;
    const struct sync_entry *e = &s->src.e[i];
    char why[WHY_MAX];
    const char *leaf;
    int fd = ft_sync_local_dir(&s->local, e->name, false, &leaf, why, sizeof(why));
    enum ft_err err = fd < 0 ? FT_ERR_IO
                             : ft_sync_local_hash(fd, leaf, b->digest[b->n], why,
                                                  sizeof(why));
    struct ft_name_request *r = &b->reqs[b->n];

    if (err != FT_OK) {
        char *path = local_path(s, e->name);

        ft_sync_keep(s, ft_sync_failed(s, path, err, why));
        free(path);
        return;
    }
    if (!batch_add(b, touch ? FT_NAME_TOUCH : FT_NAME_STAT, i, e->name) || !touch)
        return;
    r->digest = b->digest[b->n - 1];
    r->mtime = e->mtime;
    r->mode = e->mode;
}

/* Compares the files of equal size that may have changed by digest, in
 * batches of pipelined requests. */
static void check_all(struct sync *s)
{
    bool touch = s->o->push && !s->o->dry_run && ft_client_can_delta(s->c);
    struct batch b;

    if (s->ncheck == 0)
        return;
    if (batch_init(&b, s, CHECK_BATCH) != FT_OK) {
        ft_sync_keep(s, FT_ERR_NOMEM);
        batch_free(&b);
        return;
    }
    b.answer = check_answer;
    for (size_t k = 0; k < s->ncheck && going(s); k++) {
        check_add(&b, s->check[k], touch);
        if (b.n == CHECK_BATCH)
            batch_run(&b);
    }
    batch_run(&b);
    batch_free(&b);
}

/* ------------------------------------------------------------ sending */

/* Changed files smaller than this travel whole: their chunks (512 B
 * smallest, 2 KiB on average) would save next to nothing. */
#define DELTA_MIN (8 * 1024)

/* Whether SRC's file i travels as a delta: a changed file, to a server
 * that takes them. */
static bool as_delta(const struct sync *s, size_t i)
{
    return !(s->why[i] & SYNC_WHY_NEW) && s->src.e[i].size >= DELTA_MIN &&
           ft_client_can_delta(s->c);
}

/* Whether it travels pipelined: small, whole. */
static bool piped(const struct sync *s, size_t i)
{
    return !as_delta(s, i) && s->src.e[i].size <= PIPELINED_FILE_MAX &&
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
        size_t i = (size_t)((struct sync_entry *)tag - s->src.e);
        char *remote = remote_name(s, s->src.e[i].name);

        sent(s, i, remote != NULL ? remote : s->src.e[i].name, err, &t);
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
        if (!going(s))
            return;
        err = ft_client_put_send_tagged(s->c, fd, size, remote, s->xfer, &s->src.e[i]);
        if (err != FT_OK)
            sent(s, i, remote, err, NULL);
        return;
    }
    collect(s, 0);
    if (!going(s))
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
    const struct sync_entry *e = &s->src.e[i];
    char why[WHY_MAX];
    char *remote = remote_name(s, e->name), *path = local_path(s, e->name);
    const char *leaf;
    struct stat sb;
    int fd = -1, dir = ft_sync_local_dir(&s->local, e->name, false, &leaf, why,
                                         sizeof(why));
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

/* A download to SRC's file i's place: its folder, made if missing. */
static enum ft_err pull_place(struct sync *s, size_t i, struct ft_local_name *to,
                              char **path)
{
    char why[WHY_MAX];

    *path = local_path(s, s->src.e[i].name);
    if (*path == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    to->path = *path;
    to->dir_fd = ft_sync_local_dir(&s->local, s->src.e[i].name, true, &to->leaf, why,
                                   sizeof(why));
    return to->dir_fd < 0 ? ft_sync_failed(s, NULL, FT_ERR_IO, why) : FT_OK;
}

/* Downloads SRC's file i; asked: its GET went out ahead. */
static void pull_one(struct sync *s, size_t i, bool asked)
{
    char *remote = remote_name(s, s->src.e[i].name), *path = NULL;
    struct ft_local_name to;
    struct ft_transfer t;
    enum ft_err err = pull_place(s, i, &to, &path);

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
    if (*next >= s->nsend || ft_client_gets_due(s->c) > FT_PIPELINE_MAX / 2)
        return;
    ft_client_batch_begin(s->c);
    for (; *next < s->nsend && ft_client_gets_due(s->c) < FT_PIPELINE_MAX; (*next)++) {
        char *remote;

        if (!piped(s, s->send[*next]))
            continue;
        remote = remote_name(s, s->src.e[s->send[*next]].name);
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

    for (size_t k = 0; k < s->nsend && going(s); k++) {
        if (!piped(s, s->send[k]))
            continue;
        if (next < k)
            next = k;
        ask_ahead(s, &next);
        pull_one(s, s->send[k], next > k);
    }
    while (ft_client_gets_due(s->c) > 0)
        ft_client_get_drop(s->c, s->xfer);
    for (size_t k = 0; k < s->nsend && going(s); k++) {
        if (!piped(s, s->send[k]))
            pull_one(s, s->send[k], false);
    }
}

/* Sends what the plan and the checks found new or changed. */
static void send_all(struct sync *s)
{
    for (size_t k = 0; s->o->dry_run && k < s->nsend; k++) {
        s->st->sent++;
        s->st->sent_bytes += s->src.e[s->send[k]].size;
        ft_sync_tell(s, s->why[s->send[k]] & SYNC_WHY_NEW ? FT_SYNC_NEW : FT_SYNC_SEND,
                     s->send[k], true, NULL);
    }
    if (s->o->dry_run)
        return;
    if (!s->o->push) {
        pull_all(s);
        return;
    }
    for (size_t k = 0; k < s->nsend && going(s); k++)
        push_one(s, s->send[k]);
    collect(s, 0);
}

static uint64_t wire_total(const struct ft_client *c)
{
    uint64_t out, in;

    ft_client_wire_bytes(c, &out, &in);
    return out + in;
}

enum ft_err ft_client_sync(struct ft_client *c, const struct ft_sync_options *o,
                           struct ft_sync_stats *stats)
{
    static const struct ft_sync_events silent = { .ctx = NULL };
    static const struct ft_transfer_options defaults;
    struct ft_sync_stats scratch;
    struct sync s = { .c = c, .o = o, .ev = o->events != NULL ? o->events : &silent,
                      .st = stats != NULL ? stats : &scratch,
                      .xfer = o->transfer != NULL ? o->transfer : &defaults };
    enum ft_err planned = FT_ERR_NOMEM;
    size_t n;

    memset(s.st, 0, sizeof(*s.st));
    s.local = (struct sync_local){ .path = o->local, .root_fd = -1, .folder_fd = -1 };
    s.remote = strdup(o->remote);
    /* "dir/" and "dir" are one folder on the server. */
    for (n = s.remote != NULL ? strlen(s.remote) : 0; n > 1 && s.remote[n - 1] == '/';)
        s.remote[--n] = '\0';
    if (s.remote == NULL)
        s.err = ft_sync_failed(&s, NULL, FT_ERR_NOMEM, "out of memory");
    else
        ft_sync_keep(&s, planned = ft_sync_plan(&s));
    /* Past the names the plan told of (a hostile one, a folder in the
     * way), the rest goes on. */
    if (planned == FT_OK) {
        delete_all(&s);
        mkdir_all(&s);
        check_all(&s);
        send_all(&s);
    }
    s.st->wire_bytes = wire_total(c);
    ft_sync_local_close(&s.local);
    ft_sync_list_free(&s.src);
    ft_sync_list_free(&s.dst);
    free(s.send), free(s.mkdir), free(s.check), free(s.why), free(s.del);
    free(s.remote);
    free(s.local_owned);
    return s.err;
}
