/* fuzz_delta.c - the delta exchange's receiving ends fed hostile frames:
 * a receiver's assembly of DELTA_COPY, DELTA_CHUNK, DATA, DATA_Z and END
 * against a known old version (the server's DELTA_PUT, the client's
 * DELTA_GET), or a peer's signature in CHUNKS frames and the delta sent
 * against it (the client's DELTA_PUT, the server's DELTA_GET). The first
 * byte picks which. It must end in an error or a checked file, never a
 * crash, a hang, a leak or a read out of bounds. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "delta.h"
#include "fuzz_io.h"
#include "xfer_delta.h"

#define OLD_BYTES (96u * 1024u)

static int old_fd = -1;
static struct ft_delta_list old_list;

static enum ft_err keep_entry(void *ctx, const uint8_t *p, uint32_t len,
                              uint64_t hash)
{
    (void)p;
    return ft_delta_list_add(ctx, len, hash);
}

/* The old version: text the seeds' chunks were cut from (make_seeds.py
 * makes the same), and its list at level 0. */
static void make_old(void)
{
    static char path[] = "/tmp/ft-fuzz-delta.XXXXXX";
    uint8_t *buf = malloc(OLD_BYTES);
    uint64_t total = 0;

    old_fd = mkstemp(path);
    if (old_fd < 0 || buf == NULL)
        abort();
    unlink(path);
    for (uint32_t i = 0; i < OLD_BYTES; i++)
        buf[i] = (uint8_t)((i * 2654435761u) >> 13);
    if (write(old_fd, buf, OLD_BYTES) != (ssize_t)OLD_BYTES)
        abort();
    free(buf);
    ft_delta_list_init(&old_list, 0);
    if (ft_delta_cut(NULL, old_fd, 0, NULL, keep_entry, &old_list, &total) != FT_OK)
        abort();
}

static enum ft_err count_bytes(void *ctx, const void *buf, size_t n)
{
    (void)buf;
    *(uint64_t *)ctx += n;
    return FT_OK;
}

static enum ft_err ignore_chunk(void *ctx, const uint8_t *p, uint32_t len,
                                uint64_t hash)
{
    (void)ctx, (void)p, (void)len, (void)hash;
    return FT_OK;
}

static void receive(struct ft_conn *c)
{
    struct ft_xfer_delta_result res;
    uint64_t written = 0;

    ft_xfer_delta_recv(c, &old_list, old_fd, FT_XFER_COMPRESS, 1u << 20,
                       count_bytes, &written, ignore_chunk, NULL, NULL, &res);
}

static void sign_and_send(struct ft_conn *c)
{
    struct ft_xfer_delta_source src = { .fd = old_fd, .size = OLD_BYTES,
                                        .list_fd = -1 };
    struct ft_xfer_delta_result res;
    struct ft_delta_list sig;

    if (ft_xfer_delta_recv_signature(c, &sig) == FT_OK)
        ft_xfer_delta_send(c, &src, &sig, 0, NULL, &res);
    ft_delta_list_free(&sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ft_conn c;
    int sv[2];

    if (old_fd < 0)
        make_old();
    if (size < 1 || fuzz_socketpair_with_input(sv, data + 1, size - 1) != 0)
        return 0;
    if (ft_conn_init(&c, sv[1], 1000) != FT_OK) {
        close(sv[0]);
        return 0;
    }
    c.keepalives = true;
    c.max_payload = FT_FRAME_MAX_PAYLOAD;
    c.send_chunk = FT_CHUNK_BYTES;
    if (data[0] & 1)
        sign_and_send(&c);
    else
        receive(&c);
    ft_conn_free(&c);
    close(sv[0]);
    return 0;
}
