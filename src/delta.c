/* delta.c - a chunk list: its entries, the sender's index, the receiver's
 * range checks. */
#include "delta.h"

#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "proto.h"

void ft_delta_list_init(struct ft_delta_list *l, unsigned level)
{
    memset(l, 0, sizeof(*l));
    l->level = level;
}

void ft_delta_list_free(struct ft_delta_list *l)
{
    free(l->hash);
    free(l->end);
    free(l->table);
    ft_delta_list_init(l, l->level);
}

uint32_t ft_delta_max_chunk(unsigned level)
{
    struct ft_chunker k;

    ft_chunker_init(&k, level);
    return k.max;
}

static enum ft_err grow(struct ft_delta_list *l)
{
    uint32_t cap = l->cap ? 2 * l->cap : 1024;
    uint64_t *hash, *end;

    if (cap > FT_DELTA_MAX_CHUNKS)
        cap = FT_DELTA_MAX_CHUNKS;
    hash = realloc(l->hash, cap * sizeof(*hash));
    if (hash == NULL)
        return FT_ERR_NOMEM;
    l->hash = hash;
    end = realloc(l->end, cap * sizeof(*end));
    if (end == NULL)
        return FT_ERR_NOMEM;
    l->end = end;
    l->cap = cap;
    return FT_OK;
}

enum ft_err ft_delta_list_add(struct ft_delta_list *l, uint32_t len,
                              uint64_t hash)
{
    enum ft_err err;

    if (len == 0 || len > ft_delta_max_chunk(l->level))
        return FT_ERR_PROTOCOL;
    if (l->count == FT_DELTA_MAX_CHUNKS)
        return FT_ERR_TOO_LARGE;
    if (l->count == l->cap && (err = grow(l)) != FT_OK)
        return err;
    l->hash[l->count] = hash;
    l->end[l->count] = ft_delta_list_bytes(l) + len;
    l->count++;
    return FT_OK;
}

enum ft_err ft_delta_list_add_entries(struct ft_delta_list *l, const uint8_t *p,
                                      size_t n)
{
    if (n % FT_CHUNK_ENTRY_BYTES != 0)
        return FT_ERR_PROTOCOL;
    for (size_t i = 0; i < n; i += FT_CHUNK_ENTRY_BYTES) {
        uint32_t len;
        uint64_t hash;
        enum ft_err err;

        ft_delta_entry_get(p + i, &len, &hash);
        err = ft_delta_list_add(l, len, hash);
        if (err != FT_OK)
            return err;
    }
    return FT_OK;
}

uint64_t ft_delta_list_bytes(const struct ft_delta_list *l)
{
    return l->count > 0 ? l->end[l->count - 1] : 0;
}

uint32_t ft_delta_chunk_len(const struct ft_delta_list *l, uint32_t i)
{
    return (uint32_t)(l->end[i] - (i > 0 ? l->end[i - 1] : 0));
}

/* The hash is BLAKE2b's: its low bits are as good as any. */
static uint32_t slot_of(const struct ft_delta_list *l, uint64_t hash)
{
    return (uint32_t)hash & l->mask;
}

enum ft_err ft_delta_list_index(struct ft_delta_list *l)
{
    uint32_t size = 1024;

    while (size < 2 * l->count)
        size *= 2;
    free(l->table);
    l->table = calloc(size, sizeof(*l->table));
    if (l->table == NULL)
        return FT_ERR_NOMEM;
    l->mask = size - 1;
    for (uint32_t i = 0; i < l->count; i++) {
        uint32_t s = slot_of(l, l->hash[i]);
        uint32_t found;

        /* A repeated chunk is found at its first place: one slot does. */
        if (ft_delta_find(l, l->hash[i], ft_delta_chunk_len(l, i), UINT32_MAX,
                          &found))
            continue;
        while (l->table[s] != 0)
            s = (s + 1) & l->mask;
        l->table[s] = i + 1;
    }
    return FT_OK;
}

static bool same(const struct ft_delta_list *l, uint32_t i, uint64_t hash,
                 uint32_t len)
{
    return l->hash[i] == hash && ft_delta_chunk_len(l, i) == len;
}

bool ft_delta_find(const struct ft_delta_list *l, uint64_t hash, uint32_t len,
                   uint32_t prefer, uint32_t *idx)
{
    if (prefer < l->count && same(l, prefer, hash, len)) {
        *idx = prefer;
        return true;
    }
    if (l->table == NULL)
        return false;
    for (uint32_t s = slot_of(l, hash); l->table[s] != 0; s = (s + 1) & l->mask) {
        if (same(l, l->table[s] - 1, hash, len)) {
            *idx = l->table[s] - 1;
            return true;
        }
    }
    return false;
}

enum ft_err ft_delta_range(const struct ft_delta_list *l, uint32_t first,
                           uint32_t count, uint64_t *off, uint64_t *len)
{
    if (count == 0 || first >= l->count || count > l->count - first)
        return FT_ERR_PROTOCOL;
    *off = first > 0 ? l->end[first - 1] : 0;
    *len = l->end[first + count - 1] - *off;
    return FT_OK;
}

void ft_delta_entry_put(uint8_t *p, uint32_t len, uint64_t hash)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(len >> (24 - 8 * i));
    for (unsigned i = 0; i < 8; i++)
        p[4 + i] = (uint8_t)(hash >> (56 - 8 * i));
}

void ft_delta_entry_get(const uint8_t *p, uint32_t *len, uint64_t *hash)
{
    uint32_t n = 0;
    uint64_t h = 0;

    for (unsigned i = 0; i < 4; i++)
        n = n << 8 | p[i];
    for (unsigned i = 0; i < 8; i++)
        h = h << 8 | p[4 + i];
    *len = n;
    *hash = h;
}
