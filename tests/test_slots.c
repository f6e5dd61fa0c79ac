/* test_slots.c - src/slots.h's promises: a buffer taken is given back to
 * the thread that gave it, a ring's worth is kept and no more, and kept
 * buffers go back to the system when the thread says it is idle or ends. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hasher.h"
#include "slots.h"

#define SIZE (256u * 1024u)
#define OTHER_SIZE (64u * 1024u)
/* What one transfer's ring holds, and so what the next one needs. */
#define RING FT_HASHER_DEPTH

/* Whether [p, p + size) is mapped in this process: mincore(2) fails with
 * ENOMEM on a range that is not. Nothing maps in between in these tests,
 * so an address given back is not yet someone else's. */
static bool mapped(void *p, size_t size)
{
    unsigned char vec[SIZE / 4096 + 1];

    if (mincore(p, size, vec) == 0)
        return true;
    assert_int_equal(errno, ENOMEM);
    return false;
}

static void *take(size_t size)
{
    uint8_t *p = ft_slot_get(size);

    assert_non_null(p);
    /* All of it is there to write. */
    memset(p, 0xa5, size);
    assert_int_equal(p[size - 1], 0xa5);
    return p;
}

static void test_given_back_then_taken_again(void **state)
{
    void *p, *q;

    (void)state;
    p = take(SIZE);
    ft_slot_put(p, SIZE);
    assert_true(mapped(p, SIZE)); /* kept, not unmapped */
    q = take(SIZE);
    assert_ptr_equal(q, p);
    /* NULL is ignored, and does not disturb what is kept. */
    ft_slot_put(q, SIZE);
    ft_slot_put(NULL, SIZE);
    q = take(SIZE);
    assert_ptr_equal(q, p);
    ft_slot_put(q, SIZE);
    ft_slot_release_kept();
}

/* Buffers taken together are distinct; a ring's worth comes back, and
 * anything beyond it goes to the system at once. */
static void test_a_ring_is_kept_no_more(void **state)
{
    void *bufs[RING + 2], *again[RING];

    (void)state;
    for (size_t i = 0; i < RING + 2; i++) {
        bufs[i] = take(SIZE);
        for (size_t j = 0; j < i; j++)
            assert_ptr_not_equal(bufs[i], bufs[j]);
    }
    for (size_t i = 0; i < RING + 2; i++)
        ft_slot_put(bufs[i], SIZE);
    for (size_t i = 0; i < RING; i++)
        assert_true(mapped(bufs[i], SIZE));
    assert_false(mapped(bufs[RING], SIZE));
    assert_false(mapped(bufs[RING + 1], SIZE));
    for (size_t i = 0; i < RING; i++) {
        bool known = false;

        again[i] = take(SIZE);
        for (size_t j = 0; j < RING; j++)
            known = known || again[i] == bufs[j];
        assert_true(known);
        for (size_t j = 0; j < i; j++)
            assert_ptr_not_equal(again[i], again[j]);
    }
    for (size_t i = 0; i < RING; i++)
        ft_slot_put(again[i], SIZE);
    ft_slot_release_kept();
}

/* Kept buffers are of one size: a buffer of another size given back
 * replaces them (plaintext after sealed), and a taker of the other size
 * gets a new one, never a buffer too small. */
static void test_another_size_replaces(void **state)
{
    void *big, *small, *p;

    (void)state;
    big = take(SIZE);
    small = take(OTHER_SIZE);
    ft_slot_put(big, SIZE);
    ft_slot_put(small, OTHER_SIZE);
    assert_false(mapped(big, SIZE));
    assert_true(mapped(small, OTHER_SIZE));
    p = take(SIZE);
    assert_ptr_not_equal(p, small);
    ft_slot_put(p, SIZE);
    assert_false(mapped(small, OTHER_SIZE));
    ft_slot_release_kept();
}

static void test_release_kept(void **state)
{
    void *bufs[RING], *p;

    (void)state;
    for (size_t i = 0; i < RING; i++)
        bufs[i] = take(SIZE);
    for (size_t i = 0; i < RING; i++)
        ft_slot_put(bufs[i], SIZE);
    ft_slot_release_kept();
    for (size_t i = 0; i < RING; i++)
        assert_false(mapped(bufs[i], SIZE));
    /* Nothing kept, nothing lost: taking still works, twice released. */
    ft_slot_release_kept();
    p = take(SIZE);
    ft_slot_put(p, SIZE);
    ft_slot_release_kept();
}

/* A thread that gives a buffer back, tells the test, and waits for leave
 * before it ends. */
struct keeper {
    pthread_t thread;
    pthread_barrier_t kept, leave;
    void *buf;
};

static void *keeper_main(void *arg)
{
    struct keeper *k = arg;

    k->buf = ft_slot_get(SIZE);
    ft_slot_put(k->buf, SIZE);
    pthread_barrier_wait(&k->kept);
    pthread_barrier_wait(&k->leave);
    return NULL;
}

/* What a thread keeps is its own: another thread does not get it, and it
 * goes back to the system when the thread ends. */
static void test_kept_per_thread(void **state)
{
    struct keeper k;
    void *mine;

    (void)state;
    memset(&k, 0, sizeof(k));
    assert_int_equal(pthread_barrier_init(&k.kept, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&k.leave, NULL, 2), 0);
    assert_int_equal(pthread_create(&k.thread, NULL, keeper_main, &k), 0);
    pthread_barrier_wait(&k.kept);
    assert_non_null(k.buf);
    assert_true(mapped(k.buf, SIZE));
    mine = take(SIZE);
    pthread_barrier_wait(&k.leave);
    pthread_join(k.thread, NULL);
    assert_ptr_not_equal(mine, k.buf);
    assert_false(mapped(k.buf, SIZE));
    ft_slot_put(mine, SIZE);
    ft_slot_release_kept();
    pthread_barrier_destroy(&k.kept);
    pthread_barrier_destroy(&k.leave);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_given_back_then_taken_again),
        cmocka_unit_test(test_a_ring_is_kept_no_more),
        cmocka_unit_test(test_another_size_replaces),
        cmocka_unit_test(test_release_kept),
        cmocka_unit_test(test_kept_per_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
