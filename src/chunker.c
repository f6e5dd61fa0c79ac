/* chunker.c - content-defined chunks: FastCDC over a gear hash. */
#include "chunker.h"

#include <pthread.h>

/* The gear: one random 64-bit word per byte value, the same on every
 * side. It is splitmix64's sequence from a fixed seed (PROTOCOL.md 9.12),
 * made once rather than written out. */
#define GEAR_SEED 0x667420676561722eULL /* "ft gear." */

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_make(void)
{
    uint64_t x = GEAR_SEED;

    for (unsigned i = 0; i < 256; i++) {
        uint64_t z;

        x += 0x9e3779b97f4a7c15ULL;
        z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        gear[i] = z ^ (z >> 31);
    }
}

unsigned ft_chunker_level_for(uint64_t size)
{
    unsigned level = 0;

    while (level < FT_CHUNKER_LEVEL_MAX &&
           (size >> (11 + level)) > FT_CHUNKER_TARGET_COUNT)
        level++;
    return level;
}

/* The top bits of the gear hash depend on the most bytes (bit 63 on the
 * last 64), so the masks take them. */
static uint64_t top_bits(unsigned n)
{
    return ~0ULL << (64 - n);
}

void ft_chunker_init(struct ft_chunker *k, unsigned level)
{
    unsigned bits;

    pthread_once(&gear_once, gear_make);
    if (level > FT_CHUNKER_LEVEL_MAX)
        level = FT_CHUNKER_LEVEL_MAX;
    bits = 11 + level;
    k->level = (uint8_t)level;
    k->avg = 1u << bits;
    k->min = k->avg / 4;
    k->max = k->avg * 8;
    k->mask_small = top_bits(bits + 2);
    k->mask_large = top_bits(bits - 2);
    k->hash = 0;
    k->len = 0;
}

size_t ft_chunker_scan(struct ft_chunker *k, const uint8_t *buf, size_t n,
                       bool *cut)
{
    size_t i = 0;
    uint64_t hash = k->hash;
    uint32_t len = k->len;

    *cut = false;
    /* No cut can fall below min: those bytes are not even hashed, and the
     * hash of each chunk starts from zero at min. */
    if (len < k->min) {
        size_t skip = k->min - len;

        if (skip >= n) {
            k->len = len + (uint32_t)n;
            return n;
        }
        i = skip;
        len = k->min;
    }
    while (i < n) {
        uint64_t mask = len < k->avg ? k->mask_small : k->mask_large;

        hash = (hash << 1) + gear[buf[i]];
        i++;
        len++;
        if ((hash & mask) == 0 || len >= k->max) {
            *cut = true;
            k->hash = 0;
            k->len = 0;
            return i;
        }
    }
    k->hash = hash;
    k->len = len;
    return n;
}

uint64_t ft_chunk_hash_of(const uint8_t digest[FT_HASH_BYTES])
{
    uint64_t h = 0;

    for (unsigned i = 0; i < 8; i++)
        h |= (uint64_t)digest[i] << (8 * i);
    return h;
}
