/* test_chunker.c - content-defined chunks (src/chunker.c): the cuts do not
 * depend on how the bytes are fed, respect the bounds, average near the
 * level's size, and follow the content across an insertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chunker.h"

#define DATA_BYTES (4u * 1024u * 1024u)
#define CUTS_MAX 8192

static uint8_t *random_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n);
    uint64_t x = seed;

    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (uint8_t)(x >> 56);
    }
    return p;
}

/* The offsets where chunks end, feeding step bytes at a time. */
static size_t cut_all(const uint8_t *p, size_t n, unsigned level, size_t step,
                      size_t *cuts)
{
    struct ft_chunker k;
    size_t at = 0, count = 0;

    ft_chunker_init(&k, level);
    while (at < n) {
        size_t take = n - at < step ? n - at : step;
        size_t off = 0;

        while (off < take) {
            bool cut;
            size_t used = ft_chunker_scan(&k, p + at + off, take - off, &cut);

            off += used;
            if (cut) {
                assert_true(count < CUTS_MAX);
                cuts[count++] = at + off;
            }
        }
        at += take;
    }
    if (k.len > 0)
        cuts[count++] = n;
    return count;
}

static void test_same_cuts_whatever_the_feed(void **state)
{
    uint8_t *p = random_bytes(DATA_BYTES, 1);
    size_t *a = calloc(CUTS_MAX, sizeof(*a)), *b = calloc(CUTS_MAX, sizeof(*b));
    size_t na, nb;

    (void)state;
    na = cut_all(p, DATA_BYTES, 0, DATA_BYTES, a);
    nb = cut_all(p, DATA_BYTES, 0, 7, b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(*a));
    free(a);
    free(b);
    free(p);
}

static void test_bounds_and_average(void **state)
{
    uint8_t *p = random_bytes(DATA_BYTES, 2);
    size_t *cuts = calloc(CUTS_MAX, sizeof(*cuts));
    struct ft_chunker k;

    (void)state;
    for (unsigned level = 0; level <= 2; level++) {
        size_t n = cut_all(p, DATA_BYTES, level, 65536, cuts);
        size_t prev = 0;

        ft_chunker_init(&k, level);
        for (size_t i = 0; i < n; i++) {
            size_t len = cuts[i] - prev;

            assert_true(len <= k.max);
            if (i + 1 < n)
                assert_true(len >= k.min);
            prev = cuts[i];
        }
        /* Normalized chunking keeps the mean near avg. */
        assert_true(DATA_BYTES / n > k.avg / 2);
        assert_true(DATA_BYTES / n < k.avg * 2);
    }
    free(cuts);
    free(p);
}

/* 100 bytes inserted in the middle: the cuts before it stay, and a few
 * chunks after it the cuts are the old ones moved by 100. */
static void test_insertion_moves_only_nearby_cuts(void **state)
{
    uint8_t *p = random_bytes(DATA_BYTES, 3);
    uint8_t *q = malloc(DATA_BYTES + 100);
    size_t *a = calloc(CUTS_MAX, sizeof(*a)), *b = calloc(CUTS_MAX, sizeof(*b));
    size_t na, nb, mid = DATA_BYTES / 2, same_before = 0, same_after = 0;

    (void)state;
    memcpy(q, p, mid);
    memset(q + mid, 'x', 100);
    memcpy(q + mid + 100, p + mid, DATA_BYTES - mid);
    na = cut_all(p, DATA_BYTES, 0, DATA_BYTES, a);
    nb = cut_all(q, DATA_BYTES + 100, 0, DATA_BYTES, b);
    for (size_t i = 0; i < na && a[i] < mid; i++)
        if (a[i] == b[i])
            same_before++;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i] > mid && b[j] == a[i] + 100)
                same_after++;
    /* All cuts before the insertion; all but two or so after it. */
    assert_int_equal(same_before + same_after + 3 > na, 1);
    assert_true(same_before > na / 3);
    free(a);
    free(b);
    free(q);
    free(p);
}

static void test_level_grows_with_size(void **state)
{
    (void)state;
    assert_int_equal(ft_chunker_level_for(0), 0);
    assert_int_equal(ft_chunker_level_for(512u * 1024u * 1024u), 0);
    assert_int_equal(ft_chunker_level_for(1400ull * 1024u * 1024u), 2);
    assert_true(ft_chunker_level_for(UINT64_MAX) == FT_CHUNKER_LEVEL_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_cuts_whatever_the_feed),
        cmocka_unit_test(test_bounds_and_average),
        cmocka_unit_test(test_insertion_moves_only_nearby_cuts),
        cmocka_unit_test(test_level_grows_with_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
