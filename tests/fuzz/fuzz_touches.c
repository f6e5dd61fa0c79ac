/* fuzz_touches.c - packed touches read from hostile bytes (touches.c): a
 * TOUCHES payload as the server reads it (counted whole, then entry by
 * entry), or a TOUCHED answer as the client reads it. The first byte picks
 * which; for an answer, the second says how many entries it is for. It
 * must end in FT_ERR_PROTOCOL or in entries and results within bounds,
 * never a crash or a read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "touches.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void request(const uint8_t *p, size_t len)
{
    static struct ft_entries_state st;
    uint8_t salt[FT_TOUCHES_SALT_BYTES];
    struct ft_touch_entry e;
    size_t n = 0, off, seen = 0;

    if (ft_touches_count(&st, p, len, &n) != FT_OK)
        return;
    if (n == 0 || n > FT_TOUCHES_MAX || ft_touches_salt(p, len, &off, salt) != FT_OK)
        abort();
    ft_entries_start(&st);
    while (off < len) {
        if (ft_touches_next(&st, p, len, &off, &e) != FT_OK || e.mode > 0777 ||
            st.prev_len > FT_WIRE_NAME_MAX || strlen(st.prev) > st.prev_len)
            abort();
        seen++;
    }
    if (seen != n)
        abort();
}

/* A well-formed answer decodes to results that encode back to one that
 * decodes the same. */
static void answer(size_t n, const uint8_t *p, size_t len)
{
    bool same[FT_TOUCHES_MAX], same2[FT_TOUCHES_MAX];
    enum ft_err err[FT_TOUCHES_MAX], err2[FT_TOUCHES_MAX];
    uint8_t back[FT_TOUCHED_MAX_BYTES];
    size_t blen;

    if (ft_touched_decode(p, len, n, same, err) != FT_OK)
        return;
    for (size_t k = 0; k < n; k++) {
        if (same[k] && err[k] != FT_OK)
            abort();
        /* The encoder writes codes the server sends: at most 3 bytes. */
        if ((unsigned)err[k] > 0xffffu)
            abort();
    }
    ft_touched_encode(same, err, n, back, &blen);
    if (ft_touched_decode(back, blen, n, same2, err2) != FT_OK ||
        memcmp(same, same2, n * sizeof(*same)) != 0 ||
        memcmp(err, err2, n * sizeof(*err)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] == 0)
        request(data + 1, size - 1);
    else if (size >= 2)
        answer((size_t)data[1] + 1, data + 2, size - 2);
    return 0;
}
