/* compress.c - per-chunk zlib with an output bound. */
#include "compress.h"

#include <string.h>

enum ft_err ft_deflater_init(struct ft_deflater *d, int level)
{
    memset(d, 0, sizeof(*d));
    if (deflateInit(&d->z, level) != Z_OK)
        return FT_ERR_NOMEM;
    d->ready = true;
    d->level = d->applied = level;
    return FT_OK;
}

void ft_deflater_set_level(struct ft_deflater *d, int level)
{
    d->level = level;
}

void ft_deflater_free(struct ft_deflater *d)
{
    if (d->ready)
        deflateEnd(&d->z);
    d->ready = false;
}

bool ft_deflate_chunk(struct ft_deflater *d, const void *src, size_t n,
                      void *dst, size_t cap, size_t *out_len)
{
    size_t room = cap < n ? cap : n - (n > 0);
    int rc;

    if (n == 0 || room == 0 || deflateReset(&d->z) != Z_OK)
        return false;
    /* Between chunks the stream is empty: a new level costs nothing. */
    if (d->level != d->applied) {
        if (deflateParams(&d->z, d->level, Z_DEFAULT_STRATEGY) != Z_OK)
            return false;
        d->applied = d->level;
    }
    d->z.next_in = (Bytef *)src;
    d->z.avail_in = (uInt)n;
    d->z.next_out = dst;
    /* Less room than the input: output that does not shrink cannot finish,
     * so deflate stops early instead of filling a useless buffer. */
    d->z.avail_out = (uInt)room;
    rc = deflate(&d->z, Z_FINISH);
    if (rc != Z_STREAM_END)
        return false;
    *out_len = room - d->z.avail_out;
    return true;
}

enum ft_err ft_inflater_init(struct ft_inflater *i)
{
    memset(i, 0, sizeof(*i));
    if (inflateInit(&i->z) != Z_OK)
        return FT_ERR_NOMEM;
    i->ready = true;
    return FT_OK;
}

void ft_inflater_free(struct ft_inflater *i)
{
    if (i->ready)
        inflateEnd(&i->z);
    i->ready = false;
}

enum ft_err ft_inflate_chunk(struct ft_inflater *i, const void *src, size_t n,
                             void *dst, size_t raw_len)
{
    int rc;

    if (inflateReset(&i->z) != Z_OK)
        return FT_ERR_PROTOCOL;
    i->z.next_in = (Bytef *)src;
    i->z.avail_in = (uInt)n;
    i->z.next_out = dst;
    i->z.avail_out = (uInt)raw_len;
    rc = inflate(&i->z, Z_FINISH);
    /* Exactly raw_len bytes, the stream complete, and no input left over. */
    if (rc != Z_STREAM_END || i->z.avail_out != 0 || i->z.avail_in != 0)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}
