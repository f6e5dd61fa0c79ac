/* test_server_threads.c - a stopped server leaves no thread of its own
 * behind: ft_server_run returns only once every session thread it started
 * has ended, thread-local destructors included. A session thread that was
 * detached could still be in OpenSSL's destructor while the process
 * exited, and crashed in OpenSSL's freed lock (seen once in test_tree on
 * S3). Every pthread_create of this program is wrapped (-Wl,--wrap, see
 * tests/CMakeLists.txt): each thread gets a thread-local value whose
 * destructor takes a while, as OpenSSL's may, and counts itself out when
 * done. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "ft/client.h"
#include "testutil.h"
#include "testutil_server.h"

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                          void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                          void *arg);

static pthread_key_t slow_key;
static pthread_once_t slow_once = PTHREAD_ONCE_INIT;
static atomic_int alive; /* wrapped threads whose destructor has not ended */
/* Only threads the server starts are slowed: not the test's own thread
 * that runs it, whose join would otherwise wait out the others. */
static atomic_bool slow;

struct start {
    void *(*fn)(void *);
    void *arg;
    bool slow; /* decided by the creating thread, before this one runs */
};

/* The destructor's work: long enough that a detached thread is still in it
 * when ft_server_run returns (not a wait for anything). */
static void slow_destructor(void *value)
{
    struct timespec work = { 0, 300 * 1000 * 1000 };

    (void)value;
    nanosleep(&work, NULL);
    atomic_fetch_sub(&alive, 1);
}

static void make_key(void)
{
    if (pthread_key_create(&slow_key, slow_destructor) != 0)
        abort();
}

static void *trampoline(void *p)
{
    struct start st = *(struct start *)p;

    free(p);
    if (st.slow)
        pthread_setspecific(slow_key, &alive);
    else
        atomic_fetch_sub(&alive, 1);
    return st.fn(st.arg);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                          void *arg)
{
    struct start *st = malloc(sizeof(*st));
    int rc;

    if (st == NULL)
        return EAGAIN;
    pthread_once(&slow_once, make_key);
    st->fn = fn;
    st->arg = arg;
    st->slow = atomic_load(&slow);
    atomic_fetch_add(&alive, 1);
    rc = __real_pthread_create(t, a, trampoline, st);
    if (rc != 0) {
        atomic_fetch_sub(&alive, 1);
        free(st);
    }
    return rc;
}

/* Stopped with sessions open, and after sessions that ended on their own:
 * once the server's thread is joined, no thread it started is left. */
static void test_stop_leaves_no_session_thread(void **state)
{
    struct tu_server t = { 0 };
    struct ft_client *open_one, *ended;
    (void)state;

    tu_server_start(&t, NULL);
    atomic_store(&slow, true);
    ended = tu_connect(t.port, NULL);
    ft_client_close(ended); /* its thread ends on its own */
    open_one = tu_connect(t.port, NULL);
    ft_server_stop(t.srv);
    pthread_join(t.thread, NULL);
    assert_int_equal(atomic_load(&alive), 0);
    atomic_store(&slow, false);
    ft_client_close(open_one);
    ft_server_free(t.srv);
    t.srv = NULL;
    tu_server_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_leaves_no_session_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
