/* sync.c - ft sync carried out: DST's extras removed, folders made, the
 * files that may have changed compared by digest (sync_send.c sends what
 * differs), every per-file request pipelined. */
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

/* Keeps a note to be told later; out of memory, it is lost (the failure
 * itself still counts). */
static void note_keep(struct sync *s, const char *path, enum ft_err err,
                      const char *why)
{
    struct sync_note *n;

    if (s->nnotes == s->capnotes) {
        size_t cap = s->capnotes ? 2 * s->capnotes : 16;

        n = realloc(s->notes, cap * sizeof(*n));
        if (n == NULL)
            return;
        s->notes = n;
        s->capnotes = cap;
    }
    n = &s->notes[s->nnotes];
    n->err = err;
    n->path = path != NULL ? strdup(path) : NULL;
    n->why = strdup(why);
    if (n->why != NULL)
        s->nnotes++;
    else
        free(n->path);
}

enum ft_err ft_sync_failed(struct sync *s, const char *path, enum ft_err err,
                           const char *why)
{
    if (s->defer)
        note_keep(s, path, err, why);
    else if (s->ev->failure != NULL)
        s->ev->failure(s->ev->ctx, path, err, why);
    return err;
}

void ft_sync_skipped(struct sync *s, const char *path, const char *why)
{
    if (s->defer)
        note_keep(s, path, FT_OK, why);
    else if (s->ev->skip != NULL)
        s->ev->skip(s->ev->ctx, path, why);
}

void ft_sync_notes_flush(struct sync *s, struct sync *from)
{
    for (size_t k = 0; k < from->nnotes; k++) {
        struct sync_note *n = &from->notes[k];

        if (n->err == FT_OK)
            ft_sync_skipped(s, n->path, n->why);
        else
            ft_sync_keep(s, ft_sync_failed(s, n->path, n->err, n->why));
        free(n->path);
        free(n->why);
    }
    free(from->notes);
    from->notes = NULL;
    from->nnotes = from->capnotes = 0;
}

void ft_sync_tell(struct sync *s, enum ft_sync_what what, size_t i, bool src,
                  const struct ft_transfer *t)
{
    struct sync_held h;
    const struct sync_entry *e = ft_sync_list_get(src ? &s->src : &s->dst, i, &h);
    struct ft_sync_change ch = { what, e->name, e->type == SYNC_DIR, e->size,
                                 src ? s->why[i] & ~SYNC_WHY_NEW : 0, t };

    if (s->ev->change != NULL)
        s->ev->change(s->ev->ctx, &ch);
}

char *ft_sync_remote_name(const struct sync *s, const char *name)
{
    char *out = NULL;

    if (name[0] == '\0')
        return strdup(s->remote);
    if (ft_client_names_top(s->remote))
        return strdup(name);
    return asprintf(&out, "%s/%s", s->remote, name) < 0 ? NULL : out;
}

char *ft_sync_local_path(const struct sync *s, const char *name)
{
    char *out = NULL;

    if (name[0] == '\0' || s->local.single)
        return strdup(s->local.path);
    return asprintf(&out, "%s/%s", s->local.path, name) < 0 ? NULL : out;
}

bool ft_sync_going(const struct sync *s)
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
    bool *unhashed;                   /* ... which could not be had */
    size_t n, hashed;                 /* requests; those with their digest */
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
    if (b->n > 0 && ft_sync_going(b->s))
        ft_client_names(b->s->c, b->reqs, b->n, batch_answer, b);
    for (size_t k = 0; k < b->n; k++)
        free((char *)b->reqs[k].name);
    b->n = b->hashed = 0;
}

/* Adds a request on the entry i named name (remote), or tells why not. */
static bool batch_add(struct batch *b, enum ft_name_op op, size_t i, const char *name)
{
    char *remote = ft_sync_remote_name(b->s, name);

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
    b->unhashed = calloc(cap + 1, sizeof(*b->unhashed));
    if (b->reqs == NULL || b->idx == NULL || b->digest == NULL || b->unhashed == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    return FT_OK;
}

static void batch_free(struct batch *b)
{
    free(b->unhashed);
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
    struct sync_held h;
    const struct sync_entry *e = ft_sync_list_get(&s->dst, j, &h);
    char why[WHY_MAX];
    const char *leaf;
    int fd = ft_sync_local_dir(&s->local, &s->local.kept, e->name, false, &leaf, why,
                               sizeof(why));
    enum ft_err err = fd < 0 ? FT_ERR_IO : ft_sync_local_remove(fd, leaf, why, sizeof(why));
    char *path;

    if (err == FT_OK) {
        ft_sync_tell(s, FT_SYNC_DELETE, j, false, NULL);
        s->st->deleted++;
        return;
    }
    path = ft_sync_local_path(s, e->name);
    ft_sync_keep(s, ft_sync_failed(s, path, err, why));
    free(path);
}

/* Removes DST's entries that the plan says: the top-most of each extra
 * tree, a folder with everything in it (one request on the server). */
static void delete_all(struct sync *s)
{
    struct sync_held h;
    struct batch b;

    if (s->ndel == 0)
        return;
    if (s->o->dry_run || !s->o->push) {
        for (size_t k = 0; k < s->ndel && ft_sync_going(s); k++) {
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
            const struct sync_entry *e = ft_sync_list_get(&s->dst, s->del[k], &h);

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
    struct sync_held h;
    const char *name = ft_sync_list_get(&s->src, i, &h)->name;
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
    struct sync_held h;
    struct batch b;

    if (s->o->dry_run || !s->o->push) {
        if (!s->o->dry_run && !s->o->push && s->dst_missing)
            ft_sync_keep(s, local_root_made(s));
        for (size_t k = 0; k < s->nmkdir && ft_sync_going(s); k++) {
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
                           ft_sync_list_get(&s->src, s->mkdir[k], &h)->name))
                break;
        }
        batch_run(&b);
    } else {
        ft_sync_keep(s, FT_ERR_NOMEM);
    }
    batch_free(&b);
}

/* ------------------------------------------------ comparing by digest */

/* How many requests ft_client_names has in flight: request k + this many
 * goes out only once the answer to request k has been told (a touch's, the
 * larger when they go packed: a batch of STATs hashes a little further
 * ahead than it must). */
static size_t lookahead(const struct sync *s)
{
    return ft_client_names_ahead(s->c, FT_NAME_TOUCH);
}

/* Takes the local digests of the batch's files up to the upto-th (of
 * those not taken yet), before their requests go. A file that cannot be
 * read is told, and its answer ignored. */
static void hash_ahead(struct batch *b, size_t upto)
{
    struct sync *s = b->s;
    char why[WHY_MAX];
    const char *leaf;
    struct sync_held h;

    for (; b->hashed < upto && b->hashed < b->n; b->hashed++) {
        const struct sync_entry *e = ft_sync_list_get(&s->src, b->idx[b->hashed], &h);
        int fd = ft_sync_local_dir(&s->local, &s->local.ahead, e->name, false, &leaf, why,
                                   sizeof(why));
        enum ft_err err = fd < 0 ? FT_ERR_IO
                                 : ft_sync_local_hash(fd, leaf, b->digest[b->hashed], why,
                                                      sizeof(why));
        char *path;

        if (err == FT_OK)
            continue;
        b->unhashed[b->hashed] = true;
        memset(b->digest[b->hashed], 0, FT_HASH_BYTES); /* matches no content */
        path = ft_sync_local_path(s, e->name);
        ft_sync_keep(s, ft_sync_failed(s, path, err, why));
        free(path);
    }
}

/* The answer to the TOUCH or STAT of a file that may have changed: the
 * same content takes the new metadata (a TOUCH did so already); other
 * content is sent. */
static int check_answer(struct batch *b, size_t k, enum ft_err err,
                        const struct ft_name_answer *a)
{
    struct sync *s = b->s;
    size_t i = b->idx[k];
    struct sync_held h;
    const struct sync_entry *e = ft_sync_list_get(&s->src, i, &h);
    char hex[FT_HASH_HEX_BYTES], why[WHY_MAX];
    const char *leaf;
    bool same;
    int fd;

    hash_ahead(b, k + 1 + lookahead(s));
    if (b->unhashed[k])
        return 0; /* told; a TOUCH with no digest changes nothing */
    if (err != FT_OK) {
        ft_sync_keep(s, ft_sync_failed(s, b->reqs[k].name, err, ft_client_error(s->c)));
        return !ft_sync_goes_on(err);
    }
    ft_hash_hex(b->digest[k], hex);
    same = b->reqs[k].op == FT_NAME_TOUCH ? a->same : strcmp(hex, a->st.digest_hex) == 0;
    if (!same || (s->o->push && !ft_client_can_delta(s->c) && s->why[i] != 0)) {
        /* Without TOUCH, a put alone sets the server's metadata: a dry
         * run (which asks STAT of any server) tells that put too. */
        s->why[i] |= same ? 0 : FT_SYNC_WHY_CONTENT;
        s->send[s->nsend++] = i;
        return 0;
    }
    if (s->why[i] == 0)
        return 0; /* --checksum found it the same: nothing to do */
    if (!s->o->push && !s->o->dry_run) {
        fd = ft_sync_local_dir(&s->local, &s->local.kept, e->name, false, &leaf, why,
                               sizeof(why));
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

/* Adds the check of SRC's file i to the batch: for a push a TOUCH (STAT
 * for a dry run, or a server without TOUCH; for a pull), its digest to be
 * filled in by hash_ahead. */
static void check_add(struct batch *b, size_t i, bool touch)
{
    struct sync_held h;
    const struct sync_entry *e = ft_sync_list_get(&b->s->src, i, &h);
    struct ft_name_request *r = &b->reqs[b->n];

    b->unhashed[b->n] = false;
    if (!batch_add(b, touch ? FT_NAME_TOUCH : FT_NAME_STAT, i, e->name) || !touch)
        return;
    r->digest = b->digest[b->n - 1];
    r->mtime = e->mtime;
    r->mode = e->mode;
}

/* Checks the n files of SRC that list names, in batches of pipelined
 * requests: TOUCH, or STAT. The first files' digests are taken before
 * the batch goes; the others', each as an answer comes (hash_ahead),
 * while the server works on the requests in flight. */
static void check_list(struct batch *b, const size_t *list, size_t n, bool touch)
{
    for (size_t k = 0; k < n && ft_sync_going(b->s); k++) {
        check_add(b, list[k], touch);
        if (b->n == CHECK_BATCH || k + 1 == n) {
            hash_ahead(b, lookahead(b->s));
            batch_run(b);
        }
    }
}

/* Compares the files of equal size that may have changed by digest. */
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
    check_list(&b, s->check, s->ncheck, touch);
    batch_free(&b);
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
    struct ft_transfer_options xfer = { .compress = false };
    struct ft_sync_stats scratch;
    struct sync s = { .c = c, .o = o, .ev = o->events != NULL ? o->events : &silent,
                      .st = stats != NULL ? stats : &scratch, .xfer = &xfer };
    enum ft_err planned = FT_ERR_NOMEM;
    size_t n;

    memset(s.st, 0, sizeof(*s.st));
    if (o->transfer != NULL)
        xfer = *o->transfer;
    /* The server records the chunk lists of the files sent whole: the
     * next sync's deltas against them read nothing there. */
    xfer.chunks = true;
    s.local = (struct sync_local){ .path = o->local, .root_fd = -1,
                                   .kept = { NULL, -1 }, .ahead = { NULL, -1 } };
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
        ft_sync_send_all(&s);
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
