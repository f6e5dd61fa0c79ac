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

size_t ft_entries_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

bool ft_entries_varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
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

/* One entry, its size left out when size is NULL, tail_len bytes of tail
 * after it: ENTRIES' coding, and TOUCHES' (touches.h). */
static bool put_entry(struct ft_entries_state *st, uint8_t *buf, size_t cap, size_t *len,
                      const char *name, size_t name_len, const uint64_t *size,
                      int64_t mtime, uint32_t mode, const uint8_t *tail, size_t tail_len)
{
    size_t prefix = 0, suffix, need, n = *len;
    uint64_t dt = zigzag(st->prev_mtime, mtime);

    if (name_len > FT_WIRE_NAME_MAX)
        return false;
    while (prefix < name_len && prefix < st->prev_len &&
           name[prefix] == st->prev[prefix])
        prefix++;
    suffix = name_len - prefix;
    need = varint_len(prefix) + varint_len(suffix) + suffix +
           (size != NULL ? varint_len(*size) : 0) + varint_len(dt) + varint_len(mode) +
           tail_len;
    if (need > cap - n)
        return false;
    n += ft_entries_varint_put(buf + n, prefix);
    n += ft_entries_varint_put(buf + n, suffix);
    memcpy(buf + n, name + prefix, suffix);
    n += suffix;
    if (size != NULL)
        n += ft_entries_varint_put(buf + n, *size);
    n += ft_entries_varint_put(buf + n, dt);
    n += ft_entries_varint_put(buf + n, mode);
    if (tail_len > 0)
        memcpy(buf + n, tail, tail_len);
    *len = n + tail_len;
    memcpy(st->prev + prefix, name + prefix, suffix);
    st->prev_len = name_len;
    st->prev[name_len] = '\0';
    st->prev_mtime = mtime;
    return true;
}

bool ft_entries_put(struct ft_entries_state *st, uint8_t *buf, size_t cap,
                    size_t *len, const char *name, size_t name_len,
                    const struct ft_entries_item *item)
{
    return put_entry(st, buf, cap, len, name, name_len, &item->size, item->mtime,
                     item->mode, NULL, 0);
}

bool ft_entries_put_unsized(struct ft_entries_state *st, uint8_t *buf, size_t cap,
                            size_t *len, const char *name, size_t name_len,
                            int64_t mtime, uint32_t mode, const uint8_t *tail,
                            size_t tail_len)
{
    return put_entry(st, buf, cap, len, name, name_len, NULL, mtime, mode, tail,
                     tail_len);
}

/* The counterpart of put_entry: item->size is read only when sized. */
static enum ft_err next_entry(struct ft_entries_state *st, const uint8_t *payload,
                              size_t len, size_t *off, bool sized,
                              struct ft_entries_item *item, uint8_t *tail,
                              size_t tail_len)
{
    uint64_t prefix, suffix, dt, mode;

    if (!ft_entries_varint_get(payload, len, off, &prefix) || prefix > st->prev_len ||
        !ft_entries_varint_get(payload, len, off, &suffix) ||
        suffix > FT_WIRE_NAME_MAX - prefix || suffix > len - *off)
        return FT_ERR_PROTOCOL;
    memcpy(st->prev + prefix, payload + *off, (size_t)suffix);
    *off += (size_t)suffix;
    st->prev_len = (size_t)(prefix + suffix);
    st->prev[st->prev_len] = '\0';
    item->size = 0;
    if ((sized && !ft_entries_varint_get(payload, len, off, &item->size)) ||
        !ft_entries_varint_get(payload, len, off, &dt) ||
        !ft_entries_varint_get(payload, len, off, &mode) || mode > UINT32_MAX ||
        tail_len > len - *off)
        return FT_ERR_PROTOCOL;
    if (tail_len > 0)
        memcpy(tail, payload + *off, tail_len);
    *off += tail_len;
    item->mtime = unzigzag(st->prev_mtime, dt);
    item->mode = (uint32_t)mode;
    st->prev_mtime = item->mtime;
    return FT_OK;
}

enum ft_err ft_entries_next(struct ft_entries_state *st,
                            const uint8_t *payload, size_t len, size_t *off,
                            struct ft_entries_item *item)
{
    return next_entry(st, payload, len, off, true, item, NULL, 0);
}

enum ft_err ft_entries_next_unsized(struct ft_entries_state *st, const uint8_t *payload,
                                    size_t len, size_t *off, struct ft_entries_item *item,
                                    uint8_t *tail, size_t tail_len)
{
    return next_entry(st, payload, len, off, false, item, tail, tail_len);
}
