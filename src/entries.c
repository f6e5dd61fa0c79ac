/* entries.c - the packed listing: ENTRIES payloads <-> entries. */
#include "entries.h"

#include <string.h>

#define VARINT_MAX_BYTES 10

void ft_entries_start(struct ft_entries_state *st)
{
    st->prev[0] = '\0';
    st->prev_len = 0;
    st->prev_mtime = 0;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static bool get_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t out = 0;

    for (unsigned i = 0; i < VARINT_MAX_BYTES && *off < len; i++) {
        uint8_t b = p[(*off)++];

        /* The tenth byte holds the top bit alone. */
        if (i == VARINT_MAX_BYTES - 1 && b > 1)
            return false;
        out |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = out;
            return true;
        }
    }
    return false;
}

/* Differences computed modulo 2^64, so no mtime overflows. */
static uint64_t zigzag(int64_t prev, int64_t now)
{
    uint64_t d = (uint64_t)now - (uint64_t)prev;

    return (d << 1) ^ (0 - (d >> 63));
}

static int64_t unzigzag(int64_t prev, uint64_t z)
{
    uint64_t d = (z >> 1) ^ (0 - (z & 1));

    return (int64_t)((uint64_t)prev + d);
}

bool ft_entries_put(struct ft_entries_state *st, uint8_t *buf, size_t cap,
                    size_t *len, const char *name, size_t name_len,
                    const struct ft_entries_item *item)
{
    size_t prefix = 0, suffix, need, n = *len;
    uint64_t dt = zigzag(st->prev_mtime, item->mtime);

    if (name_len > FT_WIRE_NAME_MAX)
        return false;
    while (prefix < name_len && prefix < st->prev_len &&
           name[prefix] == st->prev[prefix])
        prefix++;
    suffix = name_len - prefix;
    need = varint_len(prefix) + varint_len(suffix) + suffix +
           varint_len(item->size) + varint_len(dt) + varint_len(item->mode);
    if (need > cap - n)
        return false;
    n += put_varint(buf + n, prefix);
    n += put_varint(buf + n, suffix);
    memcpy(buf + n, name + prefix, suffix);
    n += suffix;
    n += put_varint(buf + n, item->size);
    n += put_varint(buf + n, dt);
    n += put_varint(buf + n, item->mode);
    *len = n;
    memcpy(st->prev + prefix, name + prefix, suffix);
    st->prev_len = name_len;
    st->prev[name_len] = '\0';
    st->prev_mtime = item->mtime;
    return true;
}

enum ft_err ft_entries_next(struct ft_entries_state *st,
                            const uint8_t *payload, size_t len, size_t *off,
                            struct ft_entries_item *item)
{
    uint64_t prefix, suffix, dt, mode;

    if (!get_varint(payload, len, off, &prefix) || prefix > st->prev_len ||
        !get_varint(payload, len, off, &suffix) ||
        suffix > FT_WIRE_NAME_MAX - prefix || suffix > len - *off)
        return FT_ERR_PROTOCOL;
    memcpy(st->prev + prefix, payload + *off, (size_t)suffix);
    *off += (size_t)suffix;
    st->prev_len = (size_t)(prefix + suffix);
    st->prev[st->prev_len] = '\0';
    if (!get_varint(payload, len, off, &item->size) ||
        !get_varint(payload, len, off, &dt) ||
        !get_varint(payload, len, off, &mode) || mode > UINT32_MAX)
        return FT_ERR_PROTOCOL;
    item->mtime = unzigzag(st->prev_mtime, dt);
    item->mode = (uint32_t)mode;
    st->prev_mtime = item->mtime;
    return FT_OK;
}
