/* frame.c - length prefix, type, payload. */
#include "ft/frame.h"

#include <stdbool.h>
#include <string.h>

#include "io.h"

static enum ft_err write_frame(int fd, uint8_t type, const void *payload,
                               size_t len, int timeout_ms, bool more)
{
    uint8_t header[FT_FRAME_HEADER_BYTES];
    struct iovec iov[2];

    if (len > FT_FRAME_MAX_PAYLOAD)
        return FT_ERR_FRAME_TOO_BIG;
    header[0] = (uint8_t)(len >> 24);
    header[1] = (uint8_t)(len >> 16);
    header[2] = (uint8_t)(len >> 8);
    header[3] = (uint8_t)len;
    header[4] = type;
    /* Header and payload leave in one system call. */
    iov[0].iov_base = header;
    iov[0].iov_len = sizeof(header);
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    return ft_io_writev_full(fd, iov, 2, ft_io_deadline(timeout_ms), more);
}

enum ft_err ft_frame_write(int fd, uint8_t type, const void *payload,
                           size_t len, int timeout_ms)
{
    return write_frame(fd, type, payload, len, timeout_ms, false);
}

enum ft_err ft_frame_write_more(int fd, uint8_t type, const void *payload,
                                size_t len, int timeout_ms)
{
    return write_frame(fd, type, payload, len, timeout_ms, true);
}

/* What a header says once got of its bytes (all there were) are in
 * out->header: the frame, a clean end, a cut one, or a length over cap. */
static enum ft_err take_header(struct ft_frame *out, size_t got, size_t cap,
                               void *buf)
{
    if (got == 0)
        return FT_ERR_CLOSED;
    if (got < FT_FRAME_HEADER_BYTES)
        return FT_ERR_PROTOCOL;
    out->len = (uint32_t)out->header[0] << 24 | (uint32_t)out->header[1] << 16 |
               (uint32_t)out->header[2] << 8 | out->header[3];
    out->type = out->header[4];
    if (out->len > cap)
        return FT_ERR_FRAME_TOO_BIG;
    out->payload = buf;
    return FT_OK;
}

enum ft_err ft_frame_read(int fd, void *buf, size_t cap, struct ft_frame *out,
                          int timeout_ms)
{
    int64_t deadline = ft_io_deadline(timeout_ms);
    size_t got = 0;
    enum ft_err err;

    memset(out, 0, sizeof(*out));
    err = ft_io_read_full(fd, out->header, FT_FRAME_HEADER_BYTES, deadline,
                          &got);
    if (err == FT_OK)
        err = take_header(out, got, cap, buf);
    if (err != FT_OK)
        return err;
    err = ft_io_read_full(fd, buf, out->len, deadline, &got);
    if (err != FT_OK)
        return err;
    if (got < out->len)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}

void ft_frame_reader_init(struct ft_frame_reader *r, int fd, uint8_t *ahead,
                          size_t size)
{
    r->fd = fd;
    r->ahead = ahead;
    r->size = size;
    r->pos = 0;
    r->len = 0;
}

bool ft_frame_reader_holds(const struct ft_frame_reader *r)
{
    return r->pos < r->len;
}

/* Reads until at least need bytes are held, taking what else has come. */
static enum ft_err fill(struct ft_frame_reader *r, size_t need, int64_t deadline)
{
    size_t held = r->len - r->pos;
    size_t got = 0;
    enum ft_err err;

    if (held >= need)
        return FT_OK;
    memmove(r->ahead, r->ahead + r->pos, held);
    r->pos = 0;
    r->len = held;
    err = ft_io_read_at_least(r->fd, r->ahead + held, need - held,
                              r->size - held, deadline, &got);
    r->len += got;
    return err;
}

enum ft_err ft_frame_reader_next(struct ft_frame_reader *r, void *buf,
                                 size_t cap, struct ft_frame *out,
                                 int timeout_ms)
{
    int64_t deadline = ft_io_deadline(timeout_ms);
    size_t held, head, got = 0;
    enum ft_err err;

    memset(out, 0, sizeof(*out));
    err = fill(r, FT_FRAME_HEADER_BYTES, deadline);
    held = r->len - r->pos;
    head = held < FT_FRAME_HEADER_BYTES ? held : FT_FRAME_HEADER_BYTES;
    /* Even a short header is kept, for diagnosis ("hi\n" is not ft); a
     * whole one is taken (fill fails only short of one). */
    memcpy(out->header, r->ahead + r->pos, head);
    if (err != FT_OK)
        return err;
    if (head == FT_FRAME_HEADER_BYTES)
        r->pos += FT_FRAME_HEADER_BYTES;
    err = take_header(out, head, cap, buf);
    if (err != FT_OK)
        return err;
    /* A payload that fits is gathered with whatever follows it. */
    if (out->len <= r->size) {
        err = fill(r, out->len, deadline);
        if (err != FT_OK)
            return err;
        if (r->len - r->pos < out->len)
            return FT_ERR_PROTOCOL;
        memcpy(buf, r->ahead + r->pos, out->len);
        r->pos += out->len;
        return FT_OK;
    }
    held = r->len - r->pos;
    memcpy(buf, r->ahead + r->pos, held);
    r->pos = r->len = 0;
    err = ft_io_read_full(r->fd, (uint8_t *)buf + held, out->len - held,
                          deadline, &got);
    if (err != FT_OK)
        return err;
    if (got < out->len - held)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}
