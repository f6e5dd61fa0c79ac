/* server_batch.c - pipelined uploads' queues, their commit thread and held
 * bytes. */
#define _GNU_SOURCE
#include "server_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "io.h"

/* Pipelined uploads committed together at most. */
#define QUEUE_MAX 256
/* A pipelined upload of at most HELD_MAX bytes is held in its queue's
 * HELD_BYTES until its batch is committed, and its file made then: by the
 * session while it waits for the batch before, else by the commit's
 * thread. Making a file costs more than receiving it; so both share it. */
#define HELD_MAX (64u * 1024u)
#define HELD_BYTES (1024u * 1024u)
/* Descriptors a waiting upload holds: its temporary and its folder (a held
 * one opens them at its commit). */
#define UPLOAD_FDS 2
/* Descriptors kept out of the budget: the process's own (standard
 * streams, the store's folders, the listener, a program's that embeds the
 * server), and each session's for its request beyond the batches (its
 * socket; an upload's temporary, folder and kept part; the expiry of kept
 * parts; one upload committed without a share of the budget; a file being
 * sent or a folder being listed). */
#define FDS_RESERVED 64
#define FDS_PER_SESSION 10
/* A session's share, at least: enough for batches worth committing. */
#define SESSION_FDS_MIN (16 * UPLOAD_FDS)

/* A commit of uploads (flush, rename) on a thread of its own: a batch of
 * pipelined uploads is committed while the session receives the next (the
 * second core then works too), and any commit lets the session tell the
 * client every heartbeat that we are alive. */
struct commit_job {
    struct ft_store *store;
    struct ft_upload *ups;
    size_t count;
    enum ft_err *errs;
    bool done;
    bool threaded; /* false: committed already, on the session's thread */
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t finished;
};

/* Pipelined uploads received whole and checked, waiting to be committed
 * together; their answers go out in order once they are. */
struct put_queue {
    struct ft_upload ups[QUEUE_MAX];
    struct ft_quota_hold holds[QUEUE_MAX];
    uint64_t bytes[QUEUE_MAX];
    int64_t started[QUEUE_MAX];
    enum ft_err errs[QUEUE_MAX]; /* each upload's commit */
    size_t count;
    uint8_t *held;    /* HELD_BYTES, made at the first held upload */
    size_t held_used;
    size_t fds;       /* taken from the budget by its uploads */
    struct commit_job commit; /* while this queue is being committed */
};

void ft_server_fd_budget_init(struct ft_server_fd_budget *fb, uint64_t limit,
                              unsigned sessions)
{
    uint64_t reserved = FDS_RESERVED + (uint64_t)sessions * FDS_PER_SESSION;
    uint64_t pool = limit > reserved ? limit - reserved : 0;
    uint64_t fair = pool / (sessions > 0 ? sessions : 1);
    /* A session may take more than its even part of the pool, up to a
     * quarter of it: a lone put -r keeps its batches of QUEUE_MAX, and what
     * a few hostile clients hold back only makes others' batches smaller
     * (their own requests never wait on the pool). */
    uint64_t share = fair > pool / 4 ? fair : pool / 4;

    if (pool > SIZE_MAX / 2)
        pool = SIZE_MAX / 2;
    atomic_init(&fb->free, (size_t)pool);
    /* Two queues a session: one filling while the other is committed. */
    if (share > 2 * QUEUE_MAX * UPLOAD_FDS)
        share = 2 * QUEUE_MAX * UPLOAD_FDS;
    fb->session_max = share > SESSION_FDS_MIN ? (size_t)share : SESSION_FDS_MIN;
}

/* Takes n descriptors from the budget; false when it has not that many. */
static bool budget_take(struct ft_server_fd_budget *fb, size_t n)
{
    size_t free = atomic_load(&fb->free);

    do {
        if (free < n)
            return false;
    } while (!atomic_compare_exchange_weak(&fb->free, &free, free - n));
    return true;
}

/* A committed queue's uploads have closed their files: their descriptors
 * go back to the budget, before the answers, which may wait long on a
 * client that does not read them. */
static void budget_give_back(struct ft_server_batch *b, struct put_queue *q)
{
    atomic_fetch_add(&b->fds->free, q->fds);
    q->fds = 0;
}

void ft_server_batch_init(struct ft_server_batch *b, struct ft_store *store,
                          struct ft_server_fd_budget *fds,
                          const struct ft_server_batch_replies *replies)
{
    *b = (struct ft_server_batch){ .store = store, .fds = fds, .replies = *replies };
}

static void *commit_main(void *arg)
{
    struct commit_job *job = arg;

    ft_store_upload_commit_batch(job->store, job->ups, job->count, job->errs);
    pthread_mutex_lock(&job->lock);
    job->done = true;
    pthread_cond_signal(&job->finished);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

/* Starts committing count uploads, errs[i] the result of each; without a
 * thread to spare, commits them before it returns. */
static void commit_start(struct commit_job *job, struct ft_store *store,
                         struct ft_upload *ups, size_t count, enum ft_err *errs)
{
    *job = (struct commit_job){ .store = store, .ups = ups, .count = count,
                                .errs = errs, .done = false, .threaded = true };
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->finished, NULL);
    if (pthread_create(&job->tid, NULL, commit_main, job) != 0) {
        job->threaded = false;
        ft_store_upload_commit_batch(store, ups, count, errs);
        job->done = true;
    }
}

/* Waits for the commit to end, with a heartbeat each heartbeat_ms. */
static void commit_wait(struct ft_server_batch *b, struct commit_job *job)
{
    const struct ft_server_batch_replies *r = &b->replies;

    pthread_mutex_lock(&job->lock);
    while (!job->done) {
        struct timespec until;

        ft_io_abstime(r->heartbeat_ms, &until);
        if (pthread_cond_timedwait(&job->finished, &job->lock, &until) != 0 &&
            !job->done) {
            pthread_mutex_unlock(&job->lock);
            r->heartbeat(r->ctx);
            pthread_mutex_lock(&job->lock);
        }
    }
    pthread_mutex_unlock(&job->lock);
    if (job->threaded)
        pthread_join(job->tid, NULL);
    pthread_cond_destroy(&job->finished);
    pthread_mutex_destroy(&job->lock);
}

/* Commits count uploads, errs[i] the result of each. */
static void commit_with_heartbeats(struct ft_server_batch *b, struct ft_upload *ups,
                                   size_t count, enum ft_err *errs)
{
    struct commit_job job;

    commit_start(&job, b->store, ups, count, errs);
    commit_wait(b, &job);
}

enum ft_err ft_server_batch_commit_one(struct ft_server_batch *b, struct ft_upload *up)
{
    enum ft_err err = FT_OK;

    commit_with_heartbeats(b, up, 1, &err);
    return err;
}

/* Gives the answers of a committed queue, in order, and empties it. */
static void answer_queue(struct ft_server_batch *b, struct put_queue *q)
{
    const struct ft_server_batch_replies *r = &b->replies;

    budget_give_back(b, q);
    r->gather(r->ctx, true);
    for (size_t i = 0; i < q->count; i++) {
        r->answer(r->ctx, &q->ups[i], &q->holds[i], q->bytes[i], q->started[i],
                  q->errs[i]);
        /* Freeing a replaced file's blocks waits until its client has the
         * answer. */
        if (q->errs[i] == FT_OK)
            ft_store_upload_drop_old(b->store, &q->ups[i]);
    }
    r->gather(r->ctx, false);
    q->count = 0;
    q->held_used = 0;
}

/* Waits for the queue being committed, if any, and answers it. */
static void finish_commit(struct ft_server_batch *b)
{
    if (!b->committing)
        return;
    b->committing = false;
    commit_wait(b, &b->spare->commit);
    answer_queue(b, b->spare);
}

/* Starts committing the filled queue; the spare one is filled meanwhile.
 * Without memory for that, commits it at once. */
static void commit_queue(struct ft_server_batch *b)
{
    struct put_queue *q = b->queue;

    if (b->spare == NULL)
        b->spare = calloc(1, sizeof(*b->spare));
    if (b->spare == NULL) {
        commit_with_heartbeats(b, q->ups, q->count, q->errs);
        answer_queue(b, q);
        return;
    }
    b->queue = b->spare;
    b->spare = q;
    b->committing = true;
    commit_start(&q->commit, b->store, q->ups, q->count, q->errs);
}

void ft_server_batch_flush(struct ft_server_batch *b)
{
    finish_commit(b);
    if (b->queue == NULL || b->queue->count == 0)
        return;
    commit_queue(b);
    finish_commit(b);
}

static bool commit_running(struct commit_job *job)
{
    bool done;

    pthread_mutex_lock(&job->lock);
    done = job->done;
    pthread_mutex_unlock(&job->lock);
    return !done;
}

/* A full queue waits for the commit before it: meanwhile its held uploads
 * are written here, so that the commit's thread has less to do. */
static void write_while_committing(struct ft_server_batch *b, struct put_queue *q)
{
    for (size_t i = 0; i < q->count && b->committing &&
                       commit_running(&b->spare->commit); i++) {
        if (ft_store_upload_held_bytes(&q->ups[i]) > 0)
            q->errs[i] = ft_store_upload_unhold(b->store, &q->ups[i]);
    }
}

bool ft_server_batch_waiting(const struct ft_server_batch *b)
{
    return b->committing || (b->queue != NULL && b->queue->count > 0);
}

/* The queue being filled, made at the first upload; NULL: out of memory. */
static struct put_queue *filling_queue(struct ft_server_batch *b)
{
    if (b->queue == NULL)
        b->queue = calloc(1, sizeof(*b->queue));
    return b->queue;
}

/* Whether the queue may hold one more upload's descriptors: within its
 * half of the session's share, and the budget has them. */
static bool take_fds(struct ft_server_batch *b, struct put_queue *q)
{
    if (q->fds + UPLOAD_FDS > b->fds->session_max / 2 ||
        !budget_take(b->fds, UPLOAD_FDS))
        return false;
    q->fds += UPLOAD_FDS;
    return true;
}

/* A full queue starts being committed once the one before it is
 * answered. An upload for which the budget has no descriptors fills it:
 * it waits with no share, and the queue is committed now. */
enum ft_err ft_server_batch_enqueue(struct ft_server_batch *b, struct ft_upload *up,
                                    struct ft_quota_hold *hold, uint64_t bytes,
                                    int64_t started)
{
    struct put_queue *q = filling_queue(b);
    bool full;

    if (q == NULL)
        return FT_ERR_NOMEM;
    full = !take_fds(b, q);
    ft_store_upload_move(&q->ups[q->count], up);
    q->holds[q->count] = *hold;
    hold->q = NULL;
    q->bytes[q->count] = bytes;
    q->started[q->count] = started;
    q->errs[q->count] = FT_OK;
    q->held_used += ft_store_upload_held_bytes(&q->ups[q->count]);
    q->count++;
    if (q->count == QUEUE_MAX || full) {
        write_while_committing(b, q);
        finish_commit(b);
        commit_queue(b);
    }
    return FT_OK;
}

uint8_t *ft_server_batch_held_room(struct ft_server_batch *b, uint64_t size)
{
    struct put_queue *q = size <= HELD_MAX ? filling_queue(b) : NULL;

    if (q == NULL)
        return NULL;
    if (q->held == NULL && (q->held = malloc(HELD_BYTES)) == NULL)
        return NULL;
    return size <= HELD_BYTES - q->held_used ? q->held + q->held_used : NULL;
}

void ft_server_batch_release(struct ft_server_batch *b)
{
    struct put_queue *both[] = { b->queue, b->spare };

    for (size_t i = 0; i < 2; i++) {
        if (both[i] != NULL)
            free(both[i]->held);
        free(both[i]);
    }
    b->queue = b->spare = NULL;
}
