/* sync_merge.c - ft sync's plan made as the sides come: the local walk,
 * in ft_sync_name_cmp's order, merged with the server's listing (in the
 * same order) while it arrives, so that only the listing and the entries
 * the plan acts on are held, packed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "sync_int.h"

/* One side's entry at hand and the one after it (which tells whether a
 * folder in the way holds anything). */
struct side {
    struct sync_entry at, next;
    bool has_at, has_next;
    int which; /* the buffer holding at's name */
    char buf[2][FT_WIRE_NAME_MAX + 1];
};

/* A merge under way. The walk (on a thread of its own when the listing is
 * due too) plans into s and tells through w, its deferring copy; the
 * listing appends to held under lock. */
struct merge {
    struct sync *s, *w;
    struct side local, remote;
    struct sync_list held;
    struct sync_cursor cur; /* where the merge reads held */
    bool listed;            /* held is complete */
    bool redo;              /* held came out of order: merged again, sorted */
    pthread_mutex_t lock;
    pthread_cond_t more;
    char gone[FT_WIRE_NAME_MAX + 1]; /* the last folder of DST to be removed */
    bool has_gone;
    enum ft_err err;      /* out of memory: the plan is void */
    enum ft_err list_err; /* what an entry of the listing ended it with */
};

/* Room for n items of size bytes in *p (capacity *cap). */
static bool grow(struct merge *m, void **p, size_t *cap, size_t n, size_t size)
{
    if (ft_sync_grow(p, cap, n, size, 256) == FT_OK)
        return true;
    m->err = ft_sync_failed(m->w, NULL, FT_ERR_NOMEM, "out of memory");
    return false;
}

static void side_push(struct side *d, const struct sync_entry *e)
{
    struct sync_entry *to = d->has_at ? &d->next : &d->at;
    char *buf = d->buf[d->has_at ? !d->which : d->which];

    *to = *e;
    to->name = strcpy(buf, e->name != NULL ? e->name : "");
    *(d->has_at ? &d->has_next : &d->has_at) = true;
}

static void side_pop(struct side *d)
{
    d->has_at = d->has_next;
    d->has_next = false;
    if (d->has_at) {
        d->at = d->next;
        d->which = !d->which;
    }
}

/* Fills the remote side's entry at hand and the next, as far as the
 * listing goes, waiting for it. */
static void remote_fill(struct merge *m)
{
    struct sync_entry e;

    while (!m->remote.has_next) {
        bool got;

        pthread_mutex_lock(&m->lock);
        while (m->cur.i == m->held.n && !m->listed && !m->held.unsorted)
            pthread_cond_wait(&m->more, &m->lock);
        m->redo = m->held.unsorted;
        got = !m->redo && ft_sync_list_next(&m->held, &m->cur, &e);
        if (got)
            side_push(&m->remote, &e);
        pthread_mutex_unlock(&m->lock);
        if (!got)
            return;
    }
}

/* How the file a of SRC differs from b, DST's, by what a listing tells. */
static unsigned differences(const struct sync_entry *a, const struct sync_entry *b)
{
    unsigned why = 0;

    if (a->size != b->size)
        why |= FT_SYNC_WHY_SIZE;
    if (a->mtime != b->mtime)
        why |= FT_SYNC_WHY_TIME;
    if (((a->mode & 0111) != 0) != ((b->mode & 0111) != 0))
        why |= FT_SYNC_WHY_PERMS;
    return why;
}

/* Whether name is below the folder folder ("" holds everything). */
static bool below(const char *name, const char *folder)
{
    size_t n = strlen(folder);

    return folder[0] == '\0' || (strncmp(name, folder, n) == 0 && name[n] == '/');
}

/* Adds i to the plan's list *list (n of them, room for *cap). */
static void plan_add(struct merge *m, size_t **list, size_t *n, size_t *cap, size_t i)
{
    if (grow(m, (void **)list, cap, *n + 1, sizeof(**list)))
        (*list)[(*n)++] = i;
}

/* SRC's entry a kept for the plan, with why; false when out of memory. */
static bool plan_src(struct merge *m, const struct sync_entry *a, unsigned why, size_t *i)
{
    struct sync *s = m->s;

    if (!grow(m, (void **)&s->why, &s->capwhy, s->src.n + 1, sizeof(*s->why)))
        return false;
    if (ft_sync_list_add(&s->src, a) != FT_OK) {
        m->err = ft_sync_failed(m->w, NULL, FT_ERR_NOMEM, "out of memory");
        return false;
    }
    *i = s->src.n - 1;
    s->why[*i] = why;
    return true;
}

/* SRC's entry a, which DST lacks: a folder to make or a file to send. */
static void plan_new(struct merge *m, const struct sync_entry *a)
{
    struct sync *s = m->s;
    size_t i;

    if (!plan_src(m, a, a->type == SYNC_DIR ? 0 : SYNC_WHY_NEW, &i))
        return;
    if (a->type == SYNC_DIR)
        plan_add(m, &s->mkdir, &s->nmkdir, &s->capmkdir, i);
    else
        plan_add(m, &s->send, &s->nsend, &s->capsend, i);
}

/* DST's entry b is removed; a folder takes what is below it along. */
static void plan_delete(struct merge *m, const struct sync_entry *b)
{
    struct sync *s = m->s;

    if (ft_sync_list_add(&s->dst, b) != FT_OK) {
        m->err = ft_sync_failed(m->w, NULL, FT_ERR_NOMEM, "out of memory");
        return;
    }
    plan_add(m, &s->del, &s->ndel, &s->capdel, s->dst.n - 1);
    m->has_gone = b->type == SYNC_DIR;
    if (m->has_gone)
        strcpy(m->gone, b->name);
}

/* The entry of the same name on both sides: SRC's a, DST's b (bnext the
 * entry after it, if any). A folder in the way of a file, or anything
 * else in the way, is replaced; a folder with something in it only with
 * --delete. */
static void plan_both(struct merge *m, const struct sync_entry *a,
                      const struct sync_entry *b, const struct sync_entry *bnext)
{
    struct sync *s = m->s;
    unsigned why;
    bool full;
    size_t i;

    if (a->type == b->type) {
        if (a->type != SYNC_FILE)
            return;
        why = differences(a, b);
        if ((why & FT_SYNC_WHY_SIZE) && plan_src(m, a, why, &i))
            plan_add(m, &s->send, &s->nsend, &s->capsend, i);
        else if (!(why & FT_SYNC_WHY_SIZE) && (why != 0 || s->o->checksum) &&
                 plan_src(m, a, why, &i))
            plan_add(m, &s->check, &s->ncheck, &s->capcheck, i);
        return;
    }
    full = b->type == SYNC_DIR &&
           (s->local.single || (bnext != NULL && below(bnext->name, b->name)));
    if (full && !s->o->delete_extra) {
        ft_sync_keep(m->w, ft_sync_failed(m->w, a->name[0] ? a->name : ".", FT_ERR_IO,
                                          "a folder with files in it is in the way "
                                          "(--delete replaces it)"));
        return;
    }
    plan_delete(m, b);
    plan_new(m, a);
}

/* Plans one name: the local entry l and the remote r (either NULL when
 * that side lacks it), each with the entry after it. */
static void plan_pair(struct merge *m, const struct sync_entry *l,
                      const struct sync_entry *lnext, const struct sync_entry *r,
                      const struct sync_entry *rnext)
{
    struct sync *s = m->s;
    bool push = s->o->push;
    const struct sync_entry *a = push ? l : r, *b = push ? r : l;
    const struct sync_entry *bnext = push ? rnext : lnext;

    if (a != NULL && a->type == SYNC_FILE) {
        s->st->checked++;
        s->st->total_bytes += a->size;
    }
    if (b == NULL) {
        plan_new(m, a);
    } else if (a != NULL) {
        plan_both(m, a, b, bnext);
    } else if (!(m->has_gone && below(b->name, m->gone)) && s->o->delete_extra) {
        plan_delete(m, b);
    }
}

/* Plans the remote entries up to the local one at hand, and it. */
static void merge_at(struct merge *m)
{
    struct side *l = &m->local, *r = &m->remote;
    const struct sync_entry *lnext = l->has_next ? &l->next : NULL;

    for (;;) {
        int cmp;

        remote_fill(m);
        cmp = !r->has_at ? -1 : ft_sync_name_cmp(l->at.name, r->at.name);
        if (cmp < 0) {
            plan_pair(m, &l->at, lnext, NULL, NULL);
            return;
        }
        plan_pair(m, cmp == 0 ? &l->at : NULL, lnext, &r->at,
                  r->has_next ? &r->next : NULL);
        side_pop(r);
        if (cmp == 0)
            return;
    }
}

/* The walk's entry e: the one before it is planned now that what comes
 * after it is known. */
static enum ft_err walked(void *ctx, const struct sync_entry *e)
{
    struct merge *m = ctx;

    side_push(&m->local, e);
    if (m->local.has_next) {
        merge_at(m);
        side_pop(&m->local);
    }
    /* Out of order, the listing is merged again once it is over. */
    return m->redo ? FT_ERR_PROTOCOL : m->err;
}

/* The local side over: the last local entry and the remote rest planned. */
static void merge_end(struct merge *m)
{
    while (m->local.has_at && m->err == FT_OK) {
        merge_at(m);
        side_pop(&m->local);
    }
    for (remote_fill(m); m->remote.has_at && m->err == FT_OK; remote_fill(m)) {
        plan_pair(m, NULL, NULL, &m->remote.at,
                  m->remote.has_next ? &m->remote.next : NULL);
        side_pop(&m->remote);
    }
}

/* The local side's walk and the merge, on a thread of its own while the
 * server lists its side. */
struct walk_job {
    struct merge *m;
    bool walk;
    const struct sync_entry *one; /* the local single file, or NULL */
    enum ft_err err;
};

static void *walk_job_run(void *arg)
{
    struct walk_job *j = arg;
    struct merge *m = j->m;

    if (j->walk)
        j->err = ft_sync_local_list(m->w, m->s->o->push, walked, m);
    else if (j->one != NULL)
        j->err = walked(m, j->one);
    if (m->err == FT_OK && !m->redo)
        merge_end(m);
    return NULL;
}

static int listed(const struct ft_entry *e, void *ctx)
{
    struct merge *m = ctx;
    enum ft_err err;

    pthread_mutex_lock(&m->lock);
    err = ft_sync_list_take(m->s, &m->held, e);
    pthread_cond_signal(&m->more);
    pthread_mutex_unlock(&m->lock);
    m->list_err = err;
    return err != FT_OK;
}

/* The entries below the remote folder into m->held, as they come. */
static enum ft_err remote_list(struct merge *m)
{
    struct sync *s = m->s;
    enum ft_err err = ft_client_list_folder(s->c, s->remote, true, listed, m);

    if (m->list_err != FT_OK)
        return m->list_err; /* told by the entry that ended it */
    if (err != FT_OK)
        return ft_sync_failed(s, s->remote, err, ft_client_error(s->c));
    return FT_OK;
}

/* Forgets what a walk kept to tell (told again by the next). */
static void notes_drop(struct sync *w)
{
    for (size_t k = 0; k < w->nnotes; k++) {
        free(w->notes[k].path);
        free(w->notes[k].why);
    }
    free(w->notes);
    w->notes = NULL;
    w->nnotes = w->capnotes = 0;
}

/* A listing that came out of order (a server other than ft's may send
 * one): the plan made from it is dropped, and made again from the
 * listing sorted, walking the local side once more. */
static enum ft_err merge_again(struct merge *m, struct walk_job *j)
{
    struct sync *s = m->s;

    notes_drop(m->w);
    ft_sync_list_free(&s->src);
    ft_sync_list_free(&s->dst);
    free(s->send), free(s->mkdir), free(s->check), free(s->del), free(s->why);
    s->send = s->mkdir = s->check = s->del = NULL;
    s->why = NULL;
    s->nsend = s->nmkdir = s->ncheck = s->ndel = 0;
    s->capsend = s->capmkdir = s->capcheck = s->capdel = s->capwhy = 0;
    s->st->checked = s->st->total_bytes = 0;
    if (ft_sync_list_sort(&m->held) != FT_OK)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    m->cur.i = 0;
    m->local.has_at = m->local.has_next = m->remote.has_at = m->remote.has_next = false;
    m->has_gone = m->redo = false;
    j->err = FT_OK;
    walk_job_run(j);
    return FT_OK;
}

/* Lists and merges: the walk (walk) or the local single file (local_one),
 * with the listing (list) or the remote single file (remote_one). Both at
 * once when both are due (two round trips of work overlap). */
static enum ft_err merge_run(struct merge *m, bool walk, bool list,
                             const struct sync_entry *local_one,
                             const struct sync_entry *remote_one)
{
    struct walk_job j = { m, walk, local_one, FT_OK };
    pthread_t thread;
    bool threaded = false;
    enum ft_err err = FT_OK;

    if (remote_one != NULL && ft_sync_list_add(&m->held, remote_one) != FT_OK)
        return ft_sync_failed(m->s, NULL, FT_ERR_NOMEM, "out of memory");
    if (walk && list)
        threaded = pthread_create(&thread, NULL, walk_job_run, &j) == 0;
    if (list)
        err = remote_list(m);
    pthread_mutex_lock(&m->lock);
    m->listed = true;
    pthread_cond_broadcast(&m->more);
    pthread_mutex_unlock(&m->lock);
    if (threaded)
        pthread_join(thread, NULL);
    else
        walk_job_run(&j);
    if (err == FT_OK && m->err == FT_OK && m->held.unsorted)
        err = merge_again(m, &j);
    ft_sync_notes_flush(m->s, m->w);
    if (err != FT_OK)
        return err;
    return m->err != FT_OK ? m->err : j.err;
}

enum ft_err ft_sync_merge(struct sync *s, bool walk, bool list,
                          const struct sync_entry *local_one,
                          const struct sync_entry *remote_one)
{
    struct merge *m = calloc(1, sizeof(*m));
    struct sync w = *s;
    enum ft_err err;

    if (m == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    w.defer = true;
    m->s = s;
    m->w = &w;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->more, NULL);
    err = merge_run(m, walk, list, local_one, remote_one);
    m->w = s; /* the walk is over: tell at once */
    /* Room for what the checks find changed, and a why for every entry. */
    if (err == FT_OK &&
        (!grow(m, (void **)&s->send, &s->capsend, s->nsend + s->ncheck + 1,
               sizeof(*s->send)) ||
         !grow(m, (void **)&s->why, &s->capwhy, s->src.n + 1, sizeof(*s->why))))
        err = m->err;
    pthread_cond_destroy(&m->more);
    pthread_mutex_destroy(&m->lock);
    ft_sync_list_free(&m->held);
    free(m);
    return err;
}
