/* hasher.c - a hashing thread fed through a small ring of buffer views. */
#include "hasher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct ft_hasher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct {
        const void *p;
        size_t n;
    } ring[FT_HASHER_DEPTH];
    uint64_t submitted; /* tickets handed out */
    uint64_t done;      /* buffers hashed; ticket t is done when done > t */
    bool stopping;
    struct ft_hash hash; /* touched only by the thread until it stops */
};

static void *hasher_main(void *arg)
{
    struct ft_hasher *h = arg;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        const void *p;
        size_t n;

        while (h->done == h->submitted && !h->stopping)
            pthread_cond_wait(&h->changed, &h->lock);
        if (h->done == h->submitted)
            break;
        p = h->ring[h->done % FT_HASHER_DEPTH].p;
        n = h->ring[h->done % FT_HASHER_DEPTH].n;
        pthread_mutex_unlock(&h->lock);
        ft_hash_update(&h->hash, p, n);
        pthread_mutex_lock(&h->lock);
        h->done++;
        pthread_cond_broadcast(&h->changed);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

enum ft_err ft_hasher_start(struct ft_hasher **out)
{
    struct ft_hasher *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return FT_ERR_NOMEM;
    ft_hash_init(&h->hash);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    if (pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
        pthread_cond_destroy(&h->changed);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return FT_ERR_NOMEM;
    }
    *out = h;
    return FT_OK;
}

uint64_t ft_hasher_submit(struct ft_hasher *h, const void *p, size_t n)
{
    uint64_t ticket;

    pthread_mutex_lock(&h->lock);
    while (h->submitted - h->done == FT_HASHER_DEPTH)
        pthread_cond_wait(&h->changed, &h->lock);
    ticket = h->submitted;
    h->ring[ticket % FT_HASHER_DEPTH].p = p;
    h->ring[ticket % FT_HASHER_DEPTH].n = n;
    h->submitted++;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    return ticket;
}

void ft_hasher_wait(struct ft_hasher *h, uint64_t ticket)
{
    pthread_mutex_lock(&h->lock);
    while (h->done <= ticket)
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

/* Lets the thread drain what is pending, then joins it. */
static void stop(struct ft_hasher *h)
{
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
}

void ft_hasher_finish(struct ft_hasher *h, uint8_t digest[FT_HASH_BYTES])
{
    stop(h);
    ft_hash_final(&h->hash, digest);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void ft_hasher_free(struct ft_hasher *h)
{
    uint8_t ignored[FT_HASH_BYTES];

    if (h != NULL)
        ft_hasher_finish(h, ignored);
}
