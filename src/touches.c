/* touches.c - packed TOUCH requests and their answers: TOUCHES and
 * TOUCHED payloads <-> entries. */
#include "touches.h"

#include <sodium.h>
#include <string.h>

#include "proto.h"

/* The largest code an answer may carry: ERROR's codes are 16 bits (a
 * client takes one it does not know for a failure all the same). */
#define LAST_CODE 0xffffu

void ft_touch_tag(const uint8_t salt[FT_TOUCHES_SALT_BYTES],
                  const uint8_t digest[FT_DIGEST_BYTES],
                  uint8_t tag[FT_TOUCH_TAG_BYTES])
{
    crypto_generichash(tag, FT_TOUCH_TAG_BYTES, digest, FT_DIGEST_BYTES, salt,
                       FT_TOUCHES_SALT_BYTES);
}

void ft_touches_begin(struct ft_touches_out *w, uint8_t *buf, size_t *len)
{
    ft_entries_start(&w->st);
    randombytes_buf(w->salt, sizeof(w->salt));
    memcpy(buf, w->salt, sizeof(w->salt));
    *len = sizeof(w->salt);
    w->n = 0;
}

bool ft_touches_put(struct ft_touches_out *w, uint8_t *buf, size_t cap, size_t *len,
                    const char *name, size_t name_len, int64_t mtime, uint32_t mode,
                    const uint8_t digest[FT_DIGEST_BYTES])
{
    uint8_t tag[FT_TOUCH_TAG_BYTES];

    if (w->n == FT_TOUCHES_MAX)
        return false;
    ft_touch_tag(w->salt, digest, tag);
    if (!ft_entries_put_unsized(&w->st, buf, cap, len, name, name_len, mtime,
                                mode & 0777, tag, sizeof(tag)))
        return false;
    w->n++;
    return true;
}

enum ft_err ft_touches_salt(const uint8_t *payload, size_t len, size_t *off,
                            uint8_t salt[FT_TOUCHES_SALT_BYTES])
{
    if (len < FT_TOUCHES_SALT_BYTES)
        return FT_ERR_PROTOCOL;
    memcpy(salt, payload, FT_TOUCHES_SALT_BYTES);
    *off = FT_TOUCHES_SALT_BYTES;
    return FT_OK;
}

enum ft_err ft_touches_next(struct ft_entries_state *st, const uint8_t *payload,
                            size_t len, size_t *off, struct ft_touch_entry *e)
{
    struct ft_entries_item it;
    enum ft_err err = ft_entries_next_unsized(st, payload, len, off, &it, e->tag,
                                              sizeof(e->tag));

    if (err != FT_OK || (it.mode & ~0777u) != 0)
        return FT_ERR_PROTOCOL;
    e->mtime = it.mtime;
    e->mode = it.mode;
    return FT_OK;
}

enum ft_err ft_touches_count(struct ft_entries_state *st, const uint8_t *payload,
                             size_t len, size_t *n)
{
    uint8_t salt[FT_TOUCHES_SALT_BYTES];
    struct ft_touch_entry e;
    size_t off;
    enum ft_err err = ft_touches_salt(payload, len, &off, salt);

    ft_entries_start(st);
    for (*n = 0; err == FT_OK && off < len; (*n)++) {
        if (*n == FT_TOUCHES_MAX)
            return FT_ERR_PROTOCOL;
        err = ft_touches_next(st, payload, len, &off, &e);
    }
    /* A request of no entry asks nothing: a broken peer. */
    return err == FT_OK && *n == 0 ? FT_ERR_PROTOCOL : err;
}

void ft_touched_encode(const bool *same, const enum ft_err *err, size_t n, uint8_t *buf,
                       size_t *len)
{
    size_t bitmap = (n + 7) / 8, out = bitmap;

    memset(buf, 0, bitmap);
    for (size_t k = 0; k < n; k++) {
        if (err[k] != FT_OK) {
            out += ft_entries_varint_put(buf + out, k);
            out += ft_entries_varint_put(buf + out, (uint64_t)err[k]);
        } else if (same[k]) {
            buf[k / 8] |= (uint8_t)(1u << (k % 8));
        }
    }
    *len = out;
}

enum ft_err ft_touched_decode(const uint8_t *payload, size_t len, size_t n, bool *same,
                              enum ft_err *err)
{
    size_t bitmap = (n + 7) / 8, off = bitmap;
    uint64_t k, code, next = 0;

    if (n == 0 || len < bitmap || (n % 8 != 0 && (payload[bitmap - 1] >> (n % 8)) != 0))
        return FT_ERR_PROTOCOL;
    for (size_t i = 0; i < n; i++) {
        same[i] = (payload[i / 8] >> (i % 8)) & 1u;
        err[i] = FT_OK;
    }
    while (off < len) {
        if (!ft_entries_varint_get(payload, len, &off, &k) || k < next || k >= n ||
            !ft_entries_varint_get(payload, len, &off, &code) || code == FT_OK ||
            code > LAST_CODE || same[k])
            return FT_ERR_PROTOCOL;
        err[k] = (enum ft_err)code;
        next = k + 1;
    }
    return FT_OK;
}
