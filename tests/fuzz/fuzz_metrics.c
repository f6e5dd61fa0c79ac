/* fuzz_metrics.c - the metrics port's request parser (metrics_http.c):
 * whatever a client sends, a verdict, never a read past what it sent, and
 * the same verdict for the same head however it is cut, once it is whole. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes: ASan sees any read beyond it. */
    char *copy = malloc(size ? size : 1);
    enum ft_http_verdict whole, v;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    whole = ft_metrics_http_parse(copy, size);
    if (whole > FT_HTTP_BAD)
        abort();
    /* A prefix is never more decided than the whole: what it decides
     * (a head complete within it), the whole decides alike. */
    for (size_t cut = 0; cut < size; cut += 1 + size / 16) {
        v = ft_metrics_http_parse(copy, cut);
        if (v > FT_HTTP_BAD || (v != FT_HTTP_MORE && v != whole))
            abort();
    }
    free(copy);
    return 0;
}
