/* client_tree.c - many files and whole folders over one connection. */
#define _GNU_SOURCE
#include "ft/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"
#include "client_local.h"

/* Files up to this size travel pipelined, without a wait for the server
 * between them; larger ones go one at a time, with progress. */
#define PIPELINED_FILE_MAX (1024 * 1024)
/* How deep local folders may nest in a put. */
#define DEPTH_MAX 64
/* Room for why a local file failed: a path and the reason. */
#define WHY_MAX (PATH_MAX + 512)

struct tree {
    struct ft_client *c;
    const struct ft_transfer_options *opt;
    const struct ft_tree_events *ev;
    /* The items of the copy; with several, small files are pipelined too
     * (of a get, those small says), and asked is the first item whose GET
     * has not gone out ahead. */
    const struct ft_tree_copy *copy;
    size_t asked;
    bool *small;
    struct empties *empties; /* of the folder item a put sends */
};

/* The empty local folders of a put -r (nothing in them to send), made
 * once the item's files are sent: their MKDIRs go in one batch, not a
 * round trip each. */
struct empties {
    struct ft_name_request *reqs; /* MKDIR with parents of each remote folder */
    char **local;                 /* each local folder, for what is told */
    size_t n, cap;
    enum ft_err err;              /* the first failure, as keep() keeps it */
};

static void start(const struct tree *t, const char *name, int64_t size)
{
    if (t->ev->start != NULL)
        t->ev->start(t->ev->ctx, name, size);
}

static void done(const struct tree *t, const char *name,
                 const struct ft_transfer *tr)
{
    if (t->ev->done != NULL)
        t->ev->done(t->ev->ctx, name, tr);
}

/* Tells the caller of a failure; returns err. */
static enum ft_err failed(const struct tree *t, const char *path,
                          enum ft_err err, const char *why)
{
    if (t->ev->failure != NULL)
        t->ev->failure(t->ev->ctx, path, err, why);
    return err;
}

static void skip(const struct tree *t, const char *path, const char *why)
{
    if (t->ev->skip != NULL)
        t->ev->skip(t->ev->ctx, path, why);
}

/* Whether the copy goes on after a file ended with err: yes past trouble
 * with that file alone (a local failure, the server's refusal of it), no
 * once the link is in doubt or the data arrived wrong. */
static bool keeps_going(enum ft_err err)
{
    enum ft_failure f = ft_client_failure(err);

    return f == FT_FAILURE_NONE || f == FT_FAILURE_LOCAL || f == FT_FAILURE_REFUSED;
}

/* Folds a file's outcome rc into the tree's err: the first failure is
 * kept, unless a later one ends the copy. */
static void keep(enum ft_err *err, enum ft_err rc)
{
    if (*err == FT_OK || !keeps_going(rc))
        *err = rc;
}

/* folder/leaf, or leaf alone when folder is empty ("/" stays the root). */
static char *join(const char *folder, const char *leaf)
{
    char *out = NULL;
    size_t n = strlen(folder);

    while (n > 1 && folder[n - 1] == '/')
        n--;
    if (n == 0)
        return strdup(leaf);
    if (asprintf(&out, "%.*s%s%s", (int)n, folder, folder[n - 1] == '/' ? "" : "/",
                 leaf) < 0)
        return NULL;
    return out;
}

/* The same for a remote folder, where "/" and "." are the top. */
static char *remote_join(const char *folder, const char *leaf)
{
    return ft_client_names_top(folder) ? strdup(leaf) : join(folder, leaf);
}

/* ------------------------------------------------------------------ put */

/* A pipelined put's file, the tag its answer brings back. */
struct due_put {
    int64_t size;
    char *remote; /* points into local's allocation */
    char local[];
};

static struct due_put *due_put_new(const char *local, const char *remote,
                                   int64_t size)
{
    size_t nl = strlen(local) + 1, nr = strlen(remote) + 1;
    struct due_put *d = malloc(sizeof(*d) + nl + nr);

    if (d == NULL)
        return NULL;
    d->size = size;
    memcpy(d->local, local, nl);
    d->remote = d->local + nl;
    memcpy(d->remote, remote, nr);
    return d;
}

/* Reads the answers to pipelined puts until at most leave are due, and
 * tells each. */
static enum ft_err collect(const struct tree *t, size_t leave)
{
    enum ft_err err = FT_OK;

    while (ft_client_puts_due(t->c) > leave) {
        struct ft_transfer tr;
        void *tag;
        enum ft_err rc = ft_client_put_wait_tagged(t->c, &tr, &tag);
        struct due_put *d = tag;

        start(t, d->remote, d->size);
        if (rc != FT_OK)
            keep(&err, failed(t, d->local, rc, ft_client_error(t->c)));
        else
            done(t, d->remote, &tr);
        free(d);
    }
    return err;
}

/* Uploads the local file fd, opened, as remote, waiting for the answer. */
static enum ft_err put_file(const struct tree *t, int fd, int64_t size,
                            const char *local, const char *remote)
{
    struct ft_transfer tr;
    enum ft_err err;

    start(t, remote, size);
    err = ft_client_put(t->c, fd, size, remote, t->opt, &tr);
    if (err != FT_OK)
        failed(t, local, err, ft_client_error(t->c));
    else
        done(t, remote, &tr);
    return err;
}

/* Sends one small file, opened, pipelined; its answer is read later. */
static enum ft_err put_piped(const struct tree *t, int fd, int64_t size,
                             const char *local, const char *remote)
{
    struct due_put *d;
    enum ft_err err = FT_OK, rc;

    if (ft_client_puts_due(t->c) == FT_PIPELINE_MAX)
        err = collect(t, FT_PIPELINE_MAX - 1);
    if (!keeps_going(err))
        return err;
    d = due_put_new(local, remote, size);
    if (d == NULL) {
        keep(&err, failed(t, NULL, FT_ERR_NOMEM, "out of memory"));
        return err;
    }
    rc = ft_client_put_send_tagged(t->c, fd, size, remote, t->opt, d);
    if (rc != FT_OK) {
        start(t, remote, size);
        keep(&err, failed(t, local, rc, ft_client_error(t->c)));
        free(d);
    }
    return err;
}

/* Uploads a file of a tree, opened: pipelined when it is small. */
static enum ft_err put_tree_file(const struct tree *t, int fd, int64_t size,
                                 const char *local, const char *remote)
{
    enum ft_err err;

    if (!(t->opt != NULL && t->opt->resume) && ft_client_can_pipeline(t->c) &&
        size <= PIPELINED_FILE_MAX)
        return put_piped(t, fd, size, local, remote);
    err = collect(t, 0);
    if (keeps_going(err))
        keep(&err, put_file(t, fd, size, local, remote));
    return err;
}

static enum ft_err put_dir(const struct tree *t, int fd, const char *dir,
                           const char *remote, int depth);

/* Whether the entry de of the folder dir_fd may be a file or a folder, by
 * its type as readdir or lstat saw it: a link or a special file is not
 * even opened (a device's open can act). What is sent is decided by what
 * the open finds, never by this. */
static bool may_be_sent(int dir_fd, const struct dirent *de)
{
    struct stat sb;

    if (de->d_type == DT_REG || de->d_type == DT_DIR)
        return true;
    return de->d_type == DT_UNKNOWN &&
           fstatat(dir_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
           (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode));
}

/* Uploads the entry de of the local folder dir (open as dir_fd) into the
 * remote folder remote: a file, or a folder with everything in it. It is
 * opened where it is, never through a link, and sent as what the open
 * found. *sent becomes true when it was sent (a file or a folder makes
 * the remote folder), whatever the server said. */
static enum ft_err put_entry(const struct tree *t, int dir_fd, const char *dir,
                             const char *remote, const struct dirent *de,
                             int depth, bool *sent)
{
    char *local = join(dir, de->d_name);
    char *target = remote_join(remote, de->d_name);
    char why[512];
    struct stat sb;
    int fd = -1;
    enum ft_err err = FT_OK;

    if (local == NULL || target == NULL)
        err = failed(t, NULL, FT_ERR_NOMEM, "out of memory");
    else if (!may_be_sent(dir_fd, de))
        skip(t, local, "not a regular file or folder");
    else if (ft_client_local_open_source(dir_fd, de->d_name, false, &fd, &sb, why,
                                         sizeof(why)) != FT_OK) {
        if (sb.st_mode != 0) /* swapped for a link or a special file */
            skip(t, local, "not a regular file or folder");
        else
            err = failed(t, local, FT_ERR_IO, why);
    } else if (S_ISDIR(sb.st_mode)) {
        *sent = true;
        err = put_dir(t, fd, local, target, depth + 1);
        fd = -1; /* put_dir's */
    } else {
        *sent = true;
        err = put_tree_file(t, fd, (int64_t)sb.st_size, local, target);
    }
    if (fd >= 0)
        close(fd);
    free(local);
    free(target);
    return err;
}

/* Notes the local folder dir, which sent nothing, to be made as the remote
 * folder remote (put_empties): an empty folder arrives as one. */
static enum ft_err put_empty_dir(const struct tree *t, const char *dir,
                                 const char *remote)
{
    struct empties *e = t->empties;

    if (ft_client_names_top(remote))
        return FT_OK;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        struct ft_name_request *reqs = realloc(e->reqs, cap * sizeof(*reqs));
        char **local = reqs != NULL ? realloc(e->local, cap * sizeof(*local)) : NULL;

        if (reqs != NULL)
            e->reqs = reqs;
        if (local == NULL)
            return failed(t, NULL, FT_ERR_NOMEM, "out of memory");
        e->local = local;
        e->cap = cap;
    }
    e->local[e->n] = strdup(dir);
    e->reqs[e->n] = (struct ft_name_request){ .op = FT_NAME_MKDIR_PARENTS,
                                              .name = strdup(remote) };
    if (e->local[e->n] == NULL || e->reqs[e->n].name == NULL) {
        free(e->local[e->n]);
        free((char *)e->reqs[e->n].name);
        return failed(t, NULL, FT_ERR_NOMEM, "out of memory");
    }
    e->n++;
    return FT_OK;
}

/* Tells how the MKDIR of the i-th empty folder ended: a server too old to
 * make folders leaves it out, and that is told. */
static int empty_made(void *ctx, size_t i, enum ft_err err,
                      const struct ft_name_answer *a)
{
    const struct tree *t = ctx;
    struct empties *e = t->empties;

    (void)a;
    if (err == FT_ERR_VERSION)
        skip(t, e->local[i], "an empty folder, which this server is too old to make");
    else if (err != FT_OK)
        keep(&e->err, failed(t, e->local[i], err, ft_client_error(t->c)));
    return !keeps_going(err);
}

/* Makes the empty folders noted, after the answers due (no other request
 * may pass them), and forgets them. */
static enum ft_err put_empties(const struct tree *t)
{
    struct empties *e = t->empties;
    enum ft_err err = collect(t, 0);

    e->err = FT_OK;
    if (keeps_going(err) && e->n > 0) {
        ft_client_names(t->c, e->reqs, e->n, empty_made, (void *)t);
        keep(&err, e->err);
    }
    for (size_t i = 0; i < e->n; i++) {
        free(e->local[i]);
        free((char *)e->reqs[i].name);
    }
    e->n = 0;
    return err;
}

/* Uploads the tree under the local folder dir, open as fd (which this
 * closes), into the remote folder remote, one entry after the other; a
 * folder with nothing to send is made empty. */
static enum ft_err put_dir(const struct tree *t, int fd, const char *dir,
                           const char *remote, int depth)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    bool sent = false;
    enum ft_err err = FT_OK;

    if (d == NULL) {
        err = failed(t, dir, FT_ERR_IO, strerror(errno));
        close(fd);
        return err;
    }
    if (depth > DEPTH_MAX) {
        closedir(d);
        return failed(t, dir, FT_ERR_IO, "folders nested too deep");
    }
    while (keeps_going(err)) {
        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        keep(&err, put_entry(t, dirfd(d), dir, remote, de, depth, &sent));
    }
    closedir(d);
    if (!sent && keeps_going(err))
        keep(&err, put_empty_dir(t, dir, remote));
    return err;
}

/* Uploads one item: with recursive, a folder with everything in it. The
 * item's own path is the user's: a link there is followed. One of several
 * items that is a file goes as a tree's file does (pipelined when small);
 * anything else is told after the answers due to the items before it. */
static enum ft_err put_item(struct tree *t, size_t i)
{
    const struct ft_tree_item *item = &t->copy->items[i];
    char why[512];
    struct stat sb;
    int fd;
    enum ft_err err = ft_client_local_open_source(AT_FDCWD, item->local, true, &fd,
                                                  &sb, why, sizeof(why)), rc;

    if (err == FT_OK && !S_ISDIR(sb.st_mode) && t->copy->n > 1) {
        err = put_tree_file(t, fd, (int64_t)sb.st_size, item->local, item->remote);
        close(fd);
        return err;
    }
    rc = collect(t, 0);
    if (err != FT_OK) {
        keep(&rc, failed(t, item->local, err, why));
        return rc;
    }
    if (!keeps_going(rc)) {
        close(fd);
        return rc;
    }
    if (S_ISDIR(sb.st_mode) && t->copy->recursive) {
        keep(&rc, put_dir(t, fd, item->local, item->remote, 1));
        keep(&rc, put_empties(t));
        return rc;
    }
    if (S_ISDIR(sb.st_mode))
        keep(&rc, failed(t, item->local, FT_ERR_IO, "is a folder (use -r to copy it)"));
    else
        keep(&rc, put_file(t, fd, (int64_t)sb.st_size, item->local, item->remote));
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ get */

/* folder/name for entry e (through join_fn); a folder's ends in '/', as it
 * is told when it cannot be made. */
static char *entry_path(char *(*join_fn)(const char *, const char *),
                        const char *folder, const struct ft_entry *e)
{
    char *joined = join_fn(folder, e->name);
    char *out = NULL;

    if (joined == NULL || !e->is_dir)
        return joined;
    if (asprintf(&out, "%s/", joined) < 0)
        out = NULL;
    free(joined);
    return out;
}

/* Tells how the download of remote ended; returns err. */
static enum ft_err got(const struct tree *t, const char *remote, enum ft_err err,
                       const struct ft_transfer *tr)
{
    if (err != FT_OK)
        return failed(t, remote, err, ft_client_error(t->c));
    done(t, remote, tr);
    return FT_OK;
}

/* Downloads one item's remote file to the local path the user named. */
static enum ft_err get_file(const struct tree *t, const char *remote,
                            const char *local)
{
    struct ft_transfer tr;

    start(t, remote, -2);
    return got(t, remote, ft_client_get_file(t->c, remote, local, t->opt, &tr), &tr);
}

/* A get -r of one remote folder under way. */
struct fetch {
    struct ft_listing l; /* everything below the remote folder */
    const char *remote;  /* the remote folder */
    const char *local;   /* the local one, as the user named it */
    int local_fd;        /* ... open */
    size_t next;         /* the first entry whose GET is not sent yet */
    /* The folder beneath local the last file went into, kept open for the
     * files after it: two system calls per folder level per file saved. */
    struct ft_local_kept kept;
};

/* Whether entry e is asked for pipelined: a file of at most
 * PIPELINED_FILE_MAX, when the server takes pipelined requests. */
static bool get_pipelines(const struct tree *t, const struct ft_entry *e)
{
    return !(t->opt != NULL && t->opt->resume) && ft_client_can_pipeline(t->c) &&
           !e->is_dir && e->size <= PIPELINED_FILE_MAX;
}

/* The remote name of the i-th thing to fetch, to be asked for pipelined,
 * allocated; NULL, with *skip, for one that needs no GET (a folder), and
 * without, for one that is not pipelined (or when out of memory). */
typedef char *(*ask_name_fn)(const struct tree *t, void *ctx, size_t i, bool *skip);

/* Sends the pipelined GETs of what name_of names from *next on (of n), up
 * to the first that is not pipelined, keeping at most FT_PIPELINE_MAX due. */
static void ask_ahead(const struct tree *t, size_t *next, size_t n,
                      ask_name_fn name_of, void *ctx)
{
    /* Asked for in batches of half the window, which leave together, so
     * that the server wakes up once per batch, not once per file. */
    if (*next >= n || ft_client_gets_due(t->c) > FT_PIPELINE_MAX / 2)
        return;
    ft_client_batch_begin(t->c);
    while (*next < n && ft_client_gets_due(t->c) < FT_PIPELINE_MAX) {
        bool skip = false;
        char *from = name_of(t, ctx, *next, &skip);

        if (from == NULL && !skip)
            break;
        if (from != NULL && ft_client_get_send(t->c, from, t->opt) != FT_OK) {
            free(from);
            break; /* the entry's turn tells why */
        }
        free(from);
        (*next)++;
    }
    ft_client_batch_end(t->c);
}

/* ask_name_fn of a listing's entries. */
static char *entry_to_ask(const struct tree *t, void *ctx, size_t i, bool *skip)
{
    const struct fetch *f = ctx;
    const struct ft_entry *e = &f->l.entries[i];

    *skip = e->is_dir; /* nothing to ask */
    return get_pipelines(t, e) ? remote_join(f->remote, e->name) : NULL;
}

/* The folder named by the first len bytes of rel beneath the local one,
 * open: the one the last file went into, or else opened (and made) from
 * the local folder down, never through a link. -1 with why. */
static int enter_folder(struct fetch *f, const char *rel, size_t len, char *why,
                        size_t cap)
{
    return ft_client_local_folder_kept(&f->kept, f->local_fd, f->local, rel, len, why,
                                       cap);
}

/* Downloads the listed file e (remote from, local to) into its folder
 * beneath the local one. A folder not entered yet is opened only once the
 * file's start is told: what is there then is what counts. With asked,
 * reads the answer to the pipelined GET sent for it. */
static enum ft_err get_listed_file(const struct tree *t, struct fetch *f,
                                   const struct ft_entry *e, const char *from,
                                   const char *to, bool asked)
{
    const char *slash = strrchr(e->name, '/');
    struct ft_local_name name = { -1, slash != NULL ? slash + 1 : e->name, to };
    struct ft_transfer tr;
    char why[WHY_MAX];
    enum ft_err err;

    start(t, from, -2);
    name.dir_fd = enter_folder(f, e->name, slash != NULL ? (size_t)(slash - e->name) : 0,
                               why, sizeof(why));
    if (name.dir_fd < 0) {
        /* Its answer comes whether or not it can be kept. */
        if (asked)
            ft_client_get_drop(t->c, t->opt);
        return failed(t, to, FT_ERR_IO, why);
    }
    err = ft_client_get_file_at(t->c, from, &name, t->opt, &tr, asked);
    return got(t, from, err, &tr);
}

/* Fetches entry i of the listing into the local folder: a file, or a
 * folder made (with the folders above it) even when empty. */
static enum ft_err get_entry(const struct tree *t, struct fetch *f, size_t i)
{
    const struct ft_entry *e = &f->l.entries[i];
    char *from = entry_path(remote_join, f->remote, e);
    char *to = entry_path(join, f->local, e);
    char why[WHY_MAX];
    bool asked;
    int fd;
    enum ft_err err = FT_OK;

    /* Keep the window of pipelined GETs full, from here on. */
    if (f->next < i)
        f->next = i;
    ask_ahead(t, &f->next, f->l.n, entry_to_ask, f);
    asked = f->next > i && !e->is_dir;
    if (from == NULL || to == NULL) {
        if (asked)
            ft_client_get_drop(t->c, t->opt);
        err = failed(t, NULL, FT_ERR_NOMEM, "out of memory");
    } else if (!e->is_dir) {
        err = get_listed_file(t, f, e, from, to, asked);
    } else {
        fd = ft_client_local_folder(f->local_fd, f->local, e->name,
                                    strlen(e->name), why, sizeof(why));
        if (fd < 0)
            err = failed(t, to, FT_ERR_IO, why);
        else if (fd != f->local_fd)
            close(fd);
    }
    free(from);
    free(to);
    return err;
}

/* Fetches the remote folder with everything below it into local, made if
 * missing (a link there is the user's to have, and is followed). */
static enum ft_err get_dir(const struct tree *t, const char *remote,
                           const char *local)
{
    struct fetch f = { .remote = remote, .local = local, .local_fd = -1,
                       .kept = { NULL, -1 } };
    enum ft_err err = ft_client_list_all(t->c, remote, true, &f.l);

    if (err != FT_OK)
        failed(t, remote, err, ft_client_error(t->c));
    if (err == FT_OK && mkdir(local, 0777) != 0 && errno != EEXIST)
        err = failed(t, local, FT_ERR_IO, strerror(errno));
    if (err == FT_OK) {
        f.local_fd = open(local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f.local_fd < 0)
            err = failed(t, local, FT_ERR_IO, strerror(errno));
    }
    for (size_t i = 0; i < f.l.n && keeps_going(err); i++)
        keep(&err, get_entry(t, &f, i));
    /* A copy that stopped early (a file arrived damaged) leaves GETs asked
     * ahead: their answers are read and dropped, so that the connection,
     * still in step, serves its caller's next request. */
    while (ft_client_gets_due(t->c) > 0)
        ft_client_get_drop(t->c, t->opt);
    ft_listing_free(&f.l);
    if (f.local_fd >= 0)
        close(f.local_fd);
    ft_client_local_kept_close(&f.kept);
    return err;
}

/* ask_name_fn of the items of a copy without recursive: the small files. */
static char *item_to_ask(const struct tree *t, void *ctx, size_t i, bool *skip)
{
    (void)ctx;
    *skip = false;
    return t->small[i] ? strdup(t->copy->items[i].remote) : NULL;
}

static int note_small(void *ctx, size_t i, enum ft_err err,
                      const struct ft_name_answer *a)
{
    bool *small = ctx;

    small[i] = err == FT_OK && !a->st.is_dir && a->st.size <= PIPELINED_FILE_MAX;
    return !keeps_going(err);
}

/* Which of the items named without recursive are small files, as get -r
 * knows from its listing: one batch of quick stats (pipelined itself)
 * tells. A larger file, or a name the stat did not find, goes the
 * ordinary way, which says why it fails. NULL when out of memory: none is
 * pipelined then. */
static bool *find_small(const struct tree *t)
{
    const struct ft_tree_copy *copy = t->copy;
    struct ft_name_request *reqs = calloc(copy->n, sizeof(*reqs));
    bool *small = calloc(copy->n, sizeof(*small));

    if (reqs == NULL || small == NULL) {
        free(reqs);
        free(small);
        return NULL;
    }
    for (size_t i = 0; i < copy->n; i++)
        reqs[i] = (struct ft_name_request){ .op = FT_NAME_STAT_QUICK,
                                            .name = copy->items[i].remote };
    ft_client_names(t->c, reqs, copy->n, note_small, small);
    free(reqs);
    return small;
}

/* Downloads one item: with recursive, a folder with everything in it. A
 * file named with recursive comes as itself, as put_item sends one (its
 * LIST would be that file alone, not a folder to make). One of several
 * items without recursive is asked for ahead, pipelined. */
static enum ft_err get_item(struct tree *t, size_t i)
{
    const struct ft_tree_item *item = &t->copy->items[i];
    struct ft_transfer tr;
    struct ft_stat st;

    if (t->copy->recursive) {
        if (ft_client_stat_quick(t->c, item->remote, &st) != FT_OK || st.is_dir)
            return get_dir(t, item->remote, item->local);
        return get_file(t, item->remote, item->local);
    }
    if (i == 0 && t->copy->n > 1 && !(t->opt != NULL && t->opt->resume) &&
        ft_client_can_pipeline(t->c))
        t->small = find_small(t);
    /* Keep the window of pipelined GETs full, from here on. */
    if (t->asked < i)
        t->asked = i;
    if (t->small != NULL)
        ask_ahead(t, &t->asked, t->copy->n, item_to_ask, NULL);
    if (t->asked <= i)
        return get_file(t, item->remote, item->local);
    start(t, item->remote, -2);
    return got(t, item->remote,
               ft_client_get_file_wait(t->c, item->remote, item->local, t->opt, &tr),
               &tr);
}

/* put_item or get_item: the i-th item of t->copy. */
typedef enum ft_err (*copy_item_fn)(struct tree *t, size_t i);

/* Copies the items one after the other with copy_item. Each item is told
 * apart: its first failure counts, not a later one's, unless that ends the
 * copy. */
static enum ft_err copy_items(struct ft_client *c, const struct ft_tree_copy *copy,
                              copy_item_fn copy_item)
{
    static const struct ft_tree_events silent = { .ctx = NULL };
    struct empties empties = { .reqs = NULL };
    struct tree t = { c, copy->transfer,
                      copy->events != NULL ? copy->events : &silent, copy, 0,
                      NULL, &empties };
    enum ft_err err = FT_OK;

    if (ft_client_puts_due(c) > 0 || ft_client_gets_due(c) > 0) {
        ft_client_set_error(c, "answers to pipelined requests are still due");
        return failed(&t, NULL, FT_ERR_USAGE, ft_client_error(c));
    }
    for (size_t i = 0; i < copy->n; i++) {
        enum ft_err rc = copy_item(&t, i);

        if (err == FT_OK)
            err = rc;
        if (!keeps_going(rc))
            break;
    }
    /* The answers still due: those of the last puts, or of gets asked
     * ahead of a copy that stopped (read and dropped, so that the
     * connection, if still in step, serves its caller's next request). */
    keep(&err, put_empties(&t));
    while (ft_client_gets_due(c) > 0)
        ft_client_get_drop(c, t.opt);
    free(empties.reqs);
    free(empties.local);
    free(t.small);
    return err;
}

enum ft_err ft_client_put_tree(struct ft_client *c, const struct ft_tree_copy *copy)
{
    return copy_items(c, copy, put_item);
}

enum ft_err ft_client_get_tree(struct ft_client *c, const struct ft_tree_copy *copy)
{
    return copy_items(c, copy, get_item);
}
