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

enum ft_err ft_frame_read(int fd, void *buf, size_t cap, struct ft_frame *out,
                          int timeout_ms)
{
    int64_t deadline = ft_io_deadline(timeout_ms);
    size_t got = 0;
    enum ft_err err;

    memset(out, 0, sizeof(*out));
    err = ft_io_read_full(fd, out->header, FT_FRAME_HEADER_BYTES, deadline,
                          &got);
    if (err != FT_OK)
        return err;
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
    err = ft_io_read_full(fd, buf, out->len, deadline, &got);
    if (err != FT_OK)
        return err;
    if (got < out->len)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}
