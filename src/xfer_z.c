/* xfer_z.c - the adaptive -z policy: which epochs go through deflate. */
#include "xfer_z.h"

/* Bytes waiting unsent in the socket; SIZE_MAX when it cannot tell. */
static size_t socket_unsent(const struct ft_xfer_z *z)
{
    size_t unsent = 0;

    return z->probe.unsent(z->probe.ctx, &unsent) ? unsent : SIZE_MAX;
}

/* How far the link lags behind us, in chunks of the unsent bytes; "far
 * behind" when that cannot be told, so that -z then compresses as asked. */
static size_t link_lag(const struct ft_xfer_z *z, size_t unsent)
{
    return unsent == SIZE_MAX ? SIZE_MAX : unsent / z->chunk;
}

static double per_second(uint64_t bytes, int64_t us)
{
    return (double)bytes * 1e6 / (double)(us > 0 ? us : 1);
}

void ft_xfer_z_init(struct ft_xfer_z *z, size_t chunk,
                    const struct ft_xfer_z_probe *probe)
{
    *z = (struct ft_xfer_z){ .probe = *probe, .chunk = chunk, .backoff = 1,
                             .level = FT_XFER_Z_LEVEL };
    z->deflating = link_lag(z, socket_unsent(z)) >= 1;
}

/* Deflate did not pay: raw for a while, longer each time. */
static void stop_deflating(struct ft_xfer_z *z)
{
    z->deflating = false;
    z->raw_left = z->backoff;
    z->backoff = z->backoff < FT_XFER_Z_MAX_RAW_EPOCHS ? 2 * z->backoff
                                                       : FT_XFER_Z_MAX_RAW_EPOCHS;
}

/* Bytes per second that left the socket for the link during an epoch of
 * bytes written in us, unsent bytes waiting at its end: what the link took,
 * whether the socket's buffer filled or emptied meanwhile (the rate of the
 * writes alone says more of the buffer than of the link). 0 when the
 * socket cannot tell. */
static double drain_rate(const struct ft_xfer_z *z, uint64_t bytes, int64_t us,
                         size_t unsent)
{
    if (z->unsent_at_start == SIZE_MAX || unsent == SIZE_MAX ||
        bytes + z->unsent_at_start < unsent)
        return 0;
    return per_second(bytes + z->unsent_at_start - unsent, us);
}

/* Ends an epoch: decides how the next one goes. */
static void end_epoch(struct ft_xfer_z *z)
{
    int64_t us = z->probe.now_us(z->probe.ctx) - z->epoch_start_us;
    uint64_t bytes = z->epoch_bytes;
    double rate = per_second(bytes, us);
    size_t unsent = socket_unsent(z);
    size_t lag = link_lag(z, unsent);

    z->epoch_bytes = 0;
    if (!z->deflating) {
        z->raw_rate = rate;
        if (z->raw_left > 0)
            z->raw_left--;
        z->deflating = z->raw_left == 0 && lag >= 1;
        if (z->deflating && z->deflate_rate > 0 &&
            z->deflate_rate < FT_XFER_Z_GAIN * drain_rate(z, bytes, us, unsent))
            stop_deflating(z);
        return;
    }
    z->deflate_rate = per_second(bytes, z->deflate_us);
    /* Deflate pays while the link still lags and we move faster than raw. */
    if (lag >= 1 && (z->raw_rate == 0 || rate >= FT_XFER_Z_GAIN * z->raw_rate)) {
        z->backoff = 1;
        /* The further behind the link, the harder deflate may work. */
        if (lag != SIZE_MAX && lag >= FT_XFER_Z_LAG_UP &&
            z->level < FT_XFER_Z_MAX_LEVEL)
            z->level++;
        else if (lag < FT_XFER_Z_LAG_DOWN && z->level > FT_XFER_Z_LEVEL)
            z->level--;
        return;
    }
    stop_deflating(z);
}

bool ft_xfer_z_next(struct ft_xfer_z *z)
{
    if (z->epoch_bytes == 0) {
        z->epoch_start_us = z->probe.now_us(z->probe.ctx);
        z->deflate_us = 0;
        z->unsent_at_start = socket_unsent(z);
    }
    return z->deflating;
}

int ft_xfer_z_level(const struct ft_xfer_z *z)
{
    return z->level;
}

void ft_xfer_z_sent(struct ft_xfer_z *z, size_t n, int64_t deflate_us)
{
    z->deflate_us += deflate_us;
    z->epoch_bytes += n;
    if (z->epoch_bytes >= (z->deflating ? FT_XFER_Z_TRY_BYTES : FT_XFER_Z_EPOCH_BYTES))
        end_epoch(z);
}

void ft_xfer_z_no_gain(struct ft_xfer_z *z)
{
    stop_deflating(z);
    z->epoch_bytes = 0;
}
