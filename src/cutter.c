/* cutter.c - a file's bytes cut into chunks as they pass, on a thread of
 * its own. */
#include "cutter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "hash.h"

/* The ring the receiving thread copies into: four frames' worth, so that
 * it waits only when the cutter is that far behind. */
#define RING_BYTES (4u * 256u * 1024u)

struct ft_cutter {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t moved; /* bytes were handed over, or cut, or it ends */
    uint8_t *ring;
    uint64_t in, out;     /* bytes handed over and cut, since the start */
    bool ending;          /* no more bytes come */
    bool stop;            /* not wanted: quit now */
    enum ft_err err;      /* the first failure: the list is not recorded */
    /* The thread's own. */
    struct ft_chunker k;
    struct ft_hash h;
    uint32_t len; /* of the chunk under way */
    struct ft_store_chunks_writer *w;
};

/* Ends the chunk under way. */
static void end_chunk(struct ft_cutter *c)
{
    uint8_t digest[FT_HASH_BYTES];
    enum ft_err err;

    ft_hash_final(&c->h, digest);
    err = ft_store_chunks_add(c->w, c->len, ft_chunk_hash_of(digest));
    if (err != FT_OK && c->err == FT_OK)
        c->err = err;
    ft_hash_init(&c->h);
    c->len = 0;
}

static void cut(struct ft_cutter *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        bool at_cut;
        size_t take = ft_chunker_scan(&c->k, p, n, &at_cut);

        ft_hash_update(&c->h, p, take);
        c->len += (uint32_t)take;
        p += take;
        n -= take;
        if (at_cut)
            end_chunk(c);
    }
}

static void *cutter_main(void *arg)
{
    struct ft_cutter *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        uint64_t at = c->out % RING_BYTES;
        size_t n;

        while (c->in == c->out && !c->ending && !c->stop)
            pthread_cond_wait(&c->moved, &c->lock);
        if (c->stop || c->in == c->out)
            break;
        /* Up to the ring's end; the rest on the next turn. */
        n = (size_t)(c->in - c->out);
        if (n > RING_BYTES - at)
            n = (size_t)(RING_BYTES - at);
        pthread_mutex_unlock(&c->lock);
        cut(c, c->ring + at, n);
        pthread_mutex_lock(&c->lock);
        c->out += n;
        pthread_cond_broadcast(&c->moved);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Tells the thread to end (stop: at once), and waits for it. */
static void join(struct ft_cutter *c, bool stop)
{
    pthread_mutex_lock(&c->lock);
    c->ending = true;
    c->stop = stop;
    pthread_cond_broadcast(&c->moved);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
}

static void release(struct ft_cutter *c)
{
    ft_store_chunks_abort(c->w);
    pthread_cond_destroy(&c->moved);
    pthread_mutex_destroy(&c->lock);
    free(c->ring);
    free(c);
}

enum ft_err ft_cutter_start(struct ft_store *st, uint64_t size,
                            struct ft_cutter **out)
{
    struct ft_cutter *c = calloc(1, sizeof(*c));
    unsigned level = ft_chunker_level_for(size);
    enum ft_err err = FT_ERR_NOMEM;

    *out = NULL;
    if (c == NULL)
        return FT_ERR_NOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->moved, NULL);
    ft_chunker_init(&c->k, level);
    ft_hash_init(&c->h);
    c->ring = malloc(RING_BYTES);
    if (c->ring != NULL)
        err = ft_store_chunks_begin(st, level, &c->w);
    if (err == FT_OK && pthread_create(&c->thread, NULL, cutter_main, c) != 0)
        err = FT_ERR_NOMEM;
    if (err != FT_OK)
        release(c);
    else
        *out = c;
    return err;
}

void ft_cutter_feed(struct ft_cutter *c, const void *p, size_t n)
{
    const uint8_t *from = p;

    pthread_mutex_lock(&c->lock);
    while (n > 0) {
        uint64_t at = c->in % RING_BYTES;
        size_t room;

        while (c->in - c->out == RING_BYTES)
            pthread_cond_wait(&c->moved, &c->lock);
        room = (size_t)(RING_BYTES - (c->in - c->out));
        if (room > RING_BYTES - at)
            room = (size_t)(RING_BYTES - at);
        if (room > n)
            room = n;
        /* The cutter reads only what lies between out and in. */
        pthread_mutex_unlock(&c->lock);
        memcpy(c->ring + at, from, room);
        pthread_mutex_lock(&c->lock);
        c->in += room;
        from += room;
        n -= room;
        pthread_cond_broadcast(&c->moved);
    }
    pthread_mutex_unlock(&c->lock);
}

enum ft_err ft_cutter_finish(struct ft_cutter *c,
                             struct ft_store_chunks_writer **w)
{
    enum ft_err err;

    join(c, false);
    if (c->len > 0)
        end_chunk(c);
    err = c->err;
    *w = err == FT_OK ? c->w : NULL;
    if (err == FT_OK)
        c->w = NULL;
    release(c);
    return err;
}

void ft_cutter_free(struct ft_cutter *c)
{
    if (c == NULL)
        return;
    join(c, true);
    release(c);
}
