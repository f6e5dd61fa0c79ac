/* slots.c - per-thread cache of transfer buffers. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "slots.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "hasher.h"

/* As many as one transfer's ring holds: what the next transfer needs. */
#define KEPT_MAX FT_HASHER_DEPTH

struct kept {
    void *buf[KEPT_MAX];
    size_t count;
    size_t size; /* all kept buffers are of one size */
};

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_key_made = -1;

static void unmap_kept(struct kept *k)
{
    for (size_t i = 0; i < k->count; i++)
        munmap(k->buf[i], k->size);
    k->count = 0;
}

static void release_all(void *arg)
{
    unmap_kept(arg);
    free(arg);
}

static void make_key(void)
{
    kept_key_made = pthread_key_create(&kept_key, release_all);
}

/* The calling thread's kept buffers, made on first use; NULL if that
 * fails (then nothing is kept). */
static struct kept *kept_here(void)
{
    struct kept *k;

    pthread_once(&kept_once, make_key);
    if (kept_key_made != 0)
        return NULL;
    k = pthread_getspecific(kept_key);
    if (k == NULL) {
        k = calloc(1, sizeof(*k));
        if (k != NULL && pthread_setspecific(kept_key, k) != 0) {
            free(k);
            k = NULL;
        }
    }
    return k;
}

void *ft_slot_get(size_t size)
{
    struct kept *k = kept_here();
    void *p;

    if (k != NULL && k->count > 0 && k->size == size)
        return k->buf[--k->count];
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ft_slot_put(void *p, size_t size)
{
    struct kept *k = kept_here();

    if (p == NULL)
        return;
    if (k != NULL && k->count > 0 && k->size != size)
        unmap_kept(k); /* another size (plaintext after sealed): keep the newer */
    if (k == NULL || k->count == KEPT_MAX) {
        munmap(p, size);
        return;
    }
    k->size = size;
    k->buf[k->count++] = p;
}

void ft_slot_release_kept(void)
{
    struct kept *k = kept_here();

    if (k != NULL)
        unmap_kept(k);
}
