/* client_tree.c - many files and whole folders over one connection. */
#define _GNU_SOURCE
#include "ft/tree.h"

#include <dirent.h>
#include <errno.h>
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

struct tree {
    struct ft_client *c;
    const struct ft_transfer_options *opt;
    const struct ft_tree_events *ev;
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

/* folder/leaf, or leaf alone when folder is empty. */
static char *join(const char *folder, const char *leaf)
{
    char *out = NULL;
    size_t n = strlen(folder);

    while (n > 0 && folder[n - 1] == '/')
        n--;
    if (n == 0)
        return strdup(leaf);
    if (asprintf(&out, "%.*s/%s", (int)n, folder, leaf) < 0)
        return NULL;
    return out;
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

/* Uploads one local file as remote, waiting for the answer. */
static enum ft_err put_file(const struct tree *t, const char *local,
                            const char *remote)
{
    struct ft_transfer tr;
    char why[512];
    int64_t size = 0;
    int fd;
    enum ft_err err = ft_client_local_open_source(local, &fd, &size, why, sizeof(why));

    if (err != FT_OK)
        return failed(t, local, err, why);
    start(t, remote, size);
    err = ft_client_put(t->c, fd, size, remote, t->opt, &tr);
    if (err != FT_OK)
        failed(t, local, err, ft_client_error(t->c));
    else
        done(t, remote, &tr);
    close(fd);
    return err;
}

/* Sends one small file pipelined; its answer is read later. */
static enum ft_err put_piped(const struct tree *t, const char *local,
                             const char *remote)
{
    struct due_put *d;
    char why[512];
    int64_t size = 0;
    int fd = -1;
    enum ft_err err = FT_OK, rc;

    if (ft_client_puts_due(t->c) == FT_PIPELINE_MAX)
        err = collect(t, FT_PIPELINE_MAX - 1);
    if (!keeps_going(err))
        return err;
    rc = ft_client_local_open_source(local, &fd, &size, why, sizeof(why));
    if (rc != FT_OK) {
        keep(&err, failed(t, local, rc, why));
        return err;
    }
    d = due_put_new(local, remote, size);
    if (d == NULL) {
        keep(&err, failed(t, NULL, FT_ERR_NOMEM, "out of memory"));
        goto out;
    }
    rc = ft_client_put_send_tagged(t->c, fd, size, remote, t->opt, d);
    if (rc != FT_OK) {
        start(t, remote, size);
        keep(&err, failed(t, local, rc, ft_client_error(t->c)));
        free(d);
    }
out:
    close(fd);
    return err;
}

static enum ft_err put_dir(const struct tree *t, const char *dir,
                           const char *remote, int depth);

/* Uploads the entry leaf of the local folder dir into the remote folder
 * remote: a file, or a folder with everything in it. */
static enum ft_err put_entry(const struct tree *t, const char *dir,
                             const char *remote, const char *leaf, int depth)
{
    char *local = join(dir, leaf);
    char *target = join(remote, leaf);
    struct stat sb;
    enum ft_err err = FT_OK;

    if (local == NULL || target == NULL)
        err = failed(t, NULL, FT_ERR_NOMEM, "out of memory");
    else if (lstat(local, &sb) != 0)
        err = failed(t, local, FT_ERR_IO, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        err = put_dir(t, local, target, depth + 1);
    else if (S_ISREG(sb.st_mode) && !(t->opt != NULL && t->opt->resume) &&
             ft_client_can_pipeline(t->c) && sb.st_size <= PIPELINED_FILE_MAX)
        err = put_piped(t, local, target);
    else if (S_ISREG(sb.st_mode)) {
        err = collect(t, 0);
        if (keeps_going(err))
            keep(&err, put_file(t, local, target));
    } else
        skip(t, local, "not a regular file or folder");
    free(local);
    free(target);
    return err;
}

/* Uploads the tree under the local folder dir into the remote folder
 * remote, one entry after the other. */
static enum ft_err put_dir(const struct tree *t, const char *dir,
                           const char *remote, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    enum ft_err err = FT_OK;

    if (d == NULL)
        return failed(t, dir, FT_ERR_IO, strerror(errno));
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
        keep(&err, put_entry(t, dir, remote, de->d_name, depth));
    }
    closedir(d);
    return err;
}

/* Uploads one item: with recursive, a folder with everything in it. */
static enum ft_err put_item(const struct tree *t, const struct ft_tree_item *item,
                            bool recursive)
{
    struct stat sb;
    enum ft_err err;

    if (!recursive || stat(item->local, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return put_file(t, item->local, item->remote);
    err = put_dir(t, item->local, item->remote, 1);
    keep(&err, collect(t, 0));
    return err;
}

/* ------------------------------------------------------------------ get */

/* folder/name for entry e; a folder's ends in '/': it is made as the
 * folder of a file would be, and told by that name when it cannot be. */
static char *entry_path(const char *folder, const struct ft_entry *e)
{
    char *joined = join(folder, e->name);
    char *out = NULL;

    if (joined == NULL || !e->is_dir)
        return joined;
    if (asprintf(&out, "%s/", joined) < 0)
        out = NULL;
    free(joined);
    return out;
}

/* Downloads one remote file to local; with asked, reads the answer to the
 * pipelined GET sent for it. */
static enum ft_err get_file(const struct tree *t, const char *remote,
                            const char *local, bool asked)
{
    struct ft_transfer tr;
    enum ft_err err;

    start(t, remote, -2);
    if (asked)
        err = ft_client_get_file_wait(t->c, remote, local, t->opt, &tr);
    else
        err = ft_client_get_file(t->c, remote, local, t->opt, &tr);
    if (err != FT_OK)
        return failed(t, remote, err, ft_client_error(t->c));
    done(t, remote, &tr);
    return FT_OK;
}

/* Whether entry e is asked for pipelined: a file of at most
 * PIPELINED_FILE_MAX, when the server takes pipelined requests. */
static bool get_pipelines(const struct tree *t, const struct ft_entry *e)
{
    return !(t->opt != NULL && t->opt->resume) && ft_client_can_pipeline(t->c) &&
           !e->is_dir && e->size <= PIPELINED_FILE_MAX;
}

/* Sends the pipelined GETs of the entries from *next on, up to the first
 * that is not pipelined, keeping at most FT_PIPELINE_MAX due. */
static void ask_ahead(const struct tree *t, const struct ft_listing *l,
                      const char *remote, size_t *next)
{
    /* Asked for in batches of half the window, which leave together, so
     * that the server wakes up once per batch, not once per file. */
    if (*next >= l->n || ft_client_gets_due(t->c) > FT_PIPELINE_MAX / 2)
        return;
    ft_client_batch_begin(t->c);
    while (*next < l->n && ft_client_gets_due(t->c) < FT_PIPELINE_MAX) {
        const struct ft_entry *e = &l->entries[*next];
        char *from;

        if (e->is_dir) { /* nothing to ask */
            (*next)++;
            continue;
        }
        from = get_pipelines(t, e) ? join(remote, e->name) : NULL;
        if (from == NULL)
            break;
        if (ft_client_get_send(t->c, from, t->opt) != FT_OK) {
            free(from);
            break; /* the entry's turn tells why */
        }
        free(from);
        (*next)++;
    }
    ft_client_batch_end(t->c);
}

/* Fetches entry i of the listing of the remote folder into the local one,
 * whose folders made so far *made tracks. *next is the first entry whose
 * GET is not sent yet. */
static enum ft_err get_entry(const struct tree *t, const struct ft_listing *l,
                             size_t i, size_t *next, const char *remote,
                             const char *local, char **made)
{
    const struct ft_entry *e = &l->entries[i];
    char *from = entry_path(remote, e);
    char *to = entry_path(local, e);
    bool asked;
    enum ft_err err = FT_OK;

    /* Keep the window of pipelined GETs full, from here on. */
    if (*next < i)
        *next = i;
    ask_ahead(t, l, remote, next);
    asked = *next > i && !e->is_dir;
    if (from == NULL || to == NULL)
        err = failed(t, NULL, FT_ERR_NOMEM, "out of memory");
    else if (ft_client_local_make_parents(made, to, strlen(local) + 1) != 0)
        err = failed(t, to, FT_ERR_IO, strerror(errno));
    if (err != FT_OK) {
        /* Its answer comes whether or not it can be kept. */
        if (asked)
            ft_client_get_drop(t->c, t->opt);
    } else if (e->is_dir) { /* made above, with its parents */
        if (mkdir(to, 0777) != 0 && errno != EEXIST)
            err = failed(t, to, FT_ERR_IO, strerror(errno));
    } else {
        err = get_file(t, from, to, asked);
    }
    free(from);
    free(to);
    return err;
}

/* Fetches the remote folder with everything below it into local. */
static enum ft_err get_dir(const struct tree *t, const char *remote,
                           const char *local)
{
    struct ft_listing l = { NULL, 0, 0 };
    char *made = NULL; /* the folder the last entry went into */
    size_t next = 0;   /* the first entry whose GET is not sent yet */
    enum ft_err err = ft_client_list_all(t->c, remote, true, &l);

    if (err != FT_OK)
        failed(t, remote, err, ft_client_error(t->c));
    if (err == FT_OK && mkdir(local, 0777) != 0 && errno != EEXIST)
        err = failed(t, local, FT_ERR_IO, strerror(errno));
    for (size_t i = 0; i < l.n && keeps_going(err); i++)
        keep(&err, get_entry(t, &l, i, &next, remote, local, &made));
    /* A copy that stopped early (a file arrived damaged) leaves GETs asked
     * ahead: their answers are read and dropped, so that the connection,
     * still in step, serves its caller's next request. */
    while (ft_client_gets_due(t->c) > 0)
        ft_client_get_drop(t->c, t->opt);
    ft_listing_free(&l);
    free(made);
    return err;
}

/* Downloads one item: with recursive, a folder with everything in it. */
static enum ft_err get_item(const struct tree *t, const struct ft_tree_item *item,
                            bool recursive)
{
    if (recursive)
        return get_dir(t, item->remote, item->local);
    return get_file(t, item->remote, item->local, false);
}

/* put_item or get_item. */
typedef enum ft_err (*copy_item_fn)(const struct tree *t,
                                    const struct ft_tree_item *item,
                                    bool recursive);

/* Copies the items one after the other with copy_item. Each item is told
 * apart: its first failure counts, not a later one's, unless that ends the
 * copy. */
static enum ft_err copy_items(struct ft_client *c, const struct ft_tree_copy *copy,
                              copy_item_fn copy_item)
{
    static const struct ft_tree_events silent = { .ctx = NULL };
    struct tree t = { c, copy->transfer,
                      copy->events != NULL ? copy->events : &silent };
    enum ft_err err = FT_OK;

    if (ft_client_puts_due(c) > 0 || ft_client_gets_due(c) > 0) {
        ft_client_set_error(c, "answers to pipelined requests are still due");
        return failed(&t, NULL, FT_ERR_USAGE, ft_client_error(c));
    }
    for (size_t i = 0; i < copy->n; i++) {
        enum ft_err rc = copy_item(&t, &copy->items[i], copy->recursive);

        if (err == FT_OK)
            err = rc;
        if (!keeps_going(rc))
            break;
    }
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
