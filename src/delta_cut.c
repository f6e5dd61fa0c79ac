/* delta_cut.c - a file cut into chunks, each hashed, in one pass. */
#include "delta_cut.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunker.h"
#include "hash.h"
#include "io.h"

/* Bytes read at once, at least two of the level's largest chunks: the
 * chunk in progress at the end of one buffer goes on at the front of the
 * other. */
#define CUT_BYTES (2u * 1024u * 1024u)

/* One buffer of the file and the chunks that end in it. */
struct batch {
    uint8_t *buf;
    size_t n;
    uint32_t *start, *len;
    uint64_t *hash;
    uint64_t ticket;  /* the whole-file hasher's, while it reads buf */
    bool hashing;
    int state;        /* IDLE, QUEUED (for the thread), HASHED */
};

enum { IDLE, QUEUED, HASHED };

struct cutter {
    struct batch b[2];
    size_t cap;
    struct ft_hasher *whole;
    bool threaded;
    bool quit;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static void hash_batch(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct ft_hash h;
        uint8_t digest[FT_HASH_BYTES];

        ft_hash_init(&h);
        ft_hash_update(&h, b->buf + b->start[i], b->len[i]);
        ft_hash_final(&h, digest);
        b->hash[i] = ft_chunk_hash_of(digest);
    }
}

/* The hashing thread: the batches in turn, as they are queued. */
static void *hash_main(void *arg)
{
    struct cutter *t = arg;
    unsigned k = 0;

    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (t->b[k].state != QUEUED && !t->quit)
            pthread_cond_wait(&t->changed, &t->lock);
        if (t->b[k].state != QUEUED)
            break;
        pthread_mutex_unlock(&t->lock);
        hash_batch(&t->b[k]);
        pthread_mutex_lock(&t->lock);
        t->b[k].state = HASHED;
        pthread_cond_broadcast(&t->changed);
        k ^= 1;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static void queue(struct cutter *t, struct batch *b)
{
    if (!t->threaded) {
        hash_batch(b);
        b->state = HASHED;
        return;
    }
    pthread_mutex_lock(&t->lock);
    b->state = QUEUED;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
}

/* Waits until b's chunks are hashed, if they were queued. */
static void await_hashed(struct cutter *t, struct batch *b)
{
    if (!t->threaded) {
        b->state = IDLE;
        return;
    }
    pthread_mutex_lock(&t->lock);
    while (b->state == QUEUED)
        pthread_cond_wait(&t->changed, &t->lock);
    b->state = IDLE;
    pthread_mutex_unlock(&t->lock);
}

/* The same, and until the whole-file hasher no longer reads b's buffer,
 * so that it may be written again. */
static void settle(struct cutter *t, struct batch *b)
{
    await_hashed(t, b);
    if (b->hashing)
        ft_hasher_wait(t->whole, b->ticket);
    b->hashing = false;
}

static enum ft_err emit(struct batch *b, ft_delta_chunk_fn fn, void *ctx)
{
    enum ft_err err = FT_OK;

    for (size_t i = 0; i < b->n && err == FT_OK; i++)
        err = fn(ctx, b->buf + b->start[i], b->len[i], b->hash[i]);
    return err;
}

static enum ft_err cutter_init(struct cutter *t, int fd, const struct ft_chunker *k,
                               struct ft_hasher *whole)
{
    struct stat sb;
    size_t most;

    memset(t, 0, sizeof(*t));
    t->cap = 2u * k->max > CUT_BYTES ? 2u * k->max : CUT_BYTES;
    t->whole = whole;
    most = t->cap / k->min + 2;
    for (unsigned i = 0; i < 2; i++) {
        struct batch *b = &t->b[i];

        b->buf = malloc(t->cap);
        b->start = malloc(most * sizeof(*b->start));
        b->len = malloc(most * sizeof(*b->len));
        b->hash = malloc(most * sizeof(*b->hash));
        if (b->buf == NULL || b->start == NULL || b->len == NULL || b->hash == NULL)
            return FT_ERR_NOMEM;
    }
    /* A thread costs more than it saves on a file of one buffer. */
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size <= t->cap)
        return FT_OK;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->changed, NULL);
    t->threaded = pthread_create(&t->thread, NULL, hash_main, t) == 0;
    if (!t->threaded) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->changed);
    }
    return FT_OK;
}

static void cutter_free(struct cutter *t)
{
    for (unsigned i = 0; i < 2; i++)
        settle(t, &t->b[i]);
    if (t->threaded) {
        pthread_mutex_lock(&t->lock);
        t->quit = true;
        pthread_cond_broadcast(&t->changed);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->changed);
    }
    for (unsigned i = 0; i < 2; i++) {
        free(t->b[i].buf);
        free(t->b[i].start);
        free(t->b[i].len);
        free(t->b[i].hash);
    }
}

/* Finds the chunks that end in b's fill bytes, the first from 0 (the
 * chunk in progress that came with the buffer, already scanned up to
 * k->len); at end of file the last ends there. Returns where the chunk in
 * progress starts. */
static size_t cut_batch(struct ft_chunker *k, struct batch *b, size_t fill,
                        bool eof)
{
    size_t pos = 0, scan = k->len;

    b->n = 0;
    while (scan < fill) {
        bool cut;

        scan += ft_chunker_scan(k, b->buf + scan, fill - scan, &cut);
        if (cut) {
            b->start[b->n] = (uint32_t)pos;
            b->len[b->n++] = (uint32_t)(scan - pos);
            pos = scan;
        }
    }
    if (eof && pos < fill) {
        b->start[b->n] = (uint32_t)pos;
        b->len[b->n++] = (uint32_t)(fill - pos);
        pos = fill;
    }
    return pos;
}

/* Reads the next buffer into b after the carry bytes at from; *eof at the
 * end of the file. */
static enum ft_err fill_batch(struct cutter *t, struct batch *b, int fd,
                              const uint8_t *from, size_t carry, uint64_t *total,
                              size_t *fill, bool *eof)
{
    size_t got = 0;
    enum ft_err err;

    if (carry > 0)
        memcpy(b->buf, from, carry);
    err = ft_io_pread_full(fd, b->buf + carry, t->cap - carry, *total, &got);
    if (err != FT_OK)
        return err;
    *eof = got < t->cap - carry;
    *total += got;
    *fill = carry + got;
    if (t->whole != NULL && got > 0) {
        b->ticket = ft_hasher_submit(t->whole, b->buf + carry, got);
        b->hashing = true;
    }
    return FT_OK;
}

enum ft_err ft_delta_cut(struct ft_conn *c, int fd, unsigned level,
                         struct ft_hasher *whole, ft_delta_chunk_fn fn,
                         void *ctx, uint64_t *total)
{
    struct ft_chunker k;
    struct cutter t;
    struct batch *prev = NULL;
    const uint8_t *carry_from = NULL;
    size_t carry = 0;
    bool eof = false;
    enum ft_err err;

    ft_chunker_init(&k, level);
    *total = 0;
    err = cutter_init(&t, fd, &k, whole);
    for (unsigned i = 0; err == FT_OK && !eof; i ^= 1) {
        struct batch *b = &t.b[i];
        size_t fill = 0, pos;

        /* b's chunks went to fn last time round; the other buffer, whose
         * chunks are being hashed, holds the chunk in progress. */
        settle(&t, b);
        err = fill_batch(&t, b, fd, carry_from, carry, total, &fill, &eof);
        if (err != FT_OK)
            break;
        pos = cut_batch(&k, b, fill, eof);
        carry_from = b->buf + pos;
        carry = fill - pos;
        queue(&t, b);
        if (prev != NULL) {
            await_hashed(&t, prev);
            err = emit(prev, fn, ctx);
        }
        prev = b;
        if (err == FT_OK && c != NULL)
            err = ft_conn_heartbeat(c);
    }
    if (err == FT_OK && prev != NULL) {
        await_hashed(&t, prev);
        err = emit(prev, fn, ctx);
    }
    cutter_free(&t);
    return err;
}
