/* xfer.c - the data phase of put and get. */
#include "xfer.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "io.h"

/* zlib level 1: on fast links deflate, not the wire, is the bottleneck,
 * and level 1 keeps most of the gain on text. */
#define DEFLATE_LEVEL 1

enum ft_err ft_xfer_send(struct ft_conn *c, int in_fd, uint32_t flags,
                         uint64_t expect_size, struct ft_xfer_result *res)
{
    struct ft_deflater def = { .ready = false };
    struct ft_hash hash;
    struct ft_msg end = { .type = FT_MSG_END };
    bool verify = flags & FT_XFER_VERIFY;
    bool compress = flags & FT_XFER_COMPRESS;
    size_t chunk_len = c->send_chunk;
    uint8_t *chunk = malloc(chunk_len);
    uint8_t *zbuf = NULL;
    uint64_t total = 0;
    enum ft_err err = FT_OK;

    if (chunk == NULL)
        return FT_ERR_NOMEM;
    if (compress) {
        zbuf = malloc(FT_DATA_Z_HEADER_BYTES + chunk_len);
        err = zbuf == NULL ? FT_ERR_NOMEM : ft_deflater_init(&def, DEFLATE_LEVEL);
        if (err != FT_OK)
            goto out;
    }
    if (verify)
        ft_hash_init(&hash);
    for (;;) {
        size_t got = 0;
        size_t zlen = 0;

        err = ft_io_read_full(in_fd, chunk, chunk_len, FT_IO_NO_DEADLINE,
                              &got);
        if (err != FT_OK)
            goto out;
        if (got == 0)
            break;
        total += got;
        if (expect_size != FT_SIZE_UNKNOWN && total > expect_size) {
            err = FT_ERR_CHANGED; /* it grew */
            goto out;
        }
        if (verify)
            ft_hash_update(&hash, chunk, got);
        /* A refusal from the peer (a full disk, say) ends the stream now
         * rather than after the whole file. */
        err = ft_conn_poll_error(c);
        if (err != FT_OK)
            goto out;
        if (compress && ft_deflate_chunk(&def, chunk, got,
                                         zbuf + FT_DATA_Z_HEADER_BYTES,
                                         chunk_len, &zlen)) {
            ft_msg_put_u32(zbuf, (uint32_t)got);
            err = ft_conn_send_raw(c, FT_MSG_DATA_Z, zbuf,
                                   FT_DATA_Z_HEADER_BYTES + zlen);
        } else {
            err = ft_conn_send_raw(c, FT_MSG_DATA, chunk, got);
        }
        if (err != FT_OK)
            goto out;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, total);
    }
    if (expect_size != FT_SIZE_UNKNOWN && total != expect_size) {
        err = FT_ERR_CHANGED; /* it shrank */
        goto out;
    }
    end.u.end.total = total;
    if (verify) {
        ft_hash_final(&hash, end.u.end.digest);
        end.u.end.has_digest = true;
        memcpy(res->digest, end.u.end.digest, FT_HASH_BYTES);
    }
    err = ft_conn_send(c, &end);
out:
    res->bytes = total;
    ft_deflater_free(&def);
    free(zbuf);
    free(chunk);
    return err;
}

/* Checks END against what arrived. */
static enum ft_err check_end(const struct ft_msg *m, uint64_t total,
                             uint64_t expect_size, bool verify,
                             struct ft_hash *hash, struct ft_xfer_result *res)
{
    if (m->u.end.total != total)
        return FT_ERR_PROTOCOL;
    if (expect_size != FT_SIZE_UNKNOWN && total != expect_size)
        return FT_ERR_PROTOCOL;
    res->bytes = total;
    if (!verify)
        return FT_OK;
    if (!m->u.end.has_digest)
        return FT_ERR_PROTOCOL;
    ft_hash_final(hash, res->digest);
    if (!ft_hash_equal(res->digest, m->u.end.digest))
        return FT_ERR_INTEGRITY;
    res->verified = true;
    return FT_OK;
}

enum ft_err ft_xfer_recv(struct ft_conn *c, uint32_t flags,
                         uint64_t expect_size, uint64_t limit,
                         ft_xfer_sink sink, void *ctx,
                         struct ft_xfer_result *res)
{
    struct ft_inflater inf = { .ready = false };
    struct ft_hash hash;
    bool verify = flags & FT_XFER_VERIFY;
    uint8_t *raw = NULL;
    uint64_t total = 0;
    enum ft_err err = FT_OK;

    if (verify)
        ft_hash_init(&hash);
    for (;;) {
        struct ft_msg m;
        const uint8_t *bytes;
        size_t n;

        err = ft_conn_recv(c, &m, c->timeout_ms);
        if (err != FT_OK)
            goto out;
        switch (m.type) {
        case FT_MSG_DATA:
            bytes = m.u.data.bytes.ptr;
            n = m.u.data.bytes.len;
            break;
        case FT_MSG_DATA_Z:
            if (!(flags & FT_XFER_COMPRESS)) {
                err = FT_ERR_PROTOCOL;
                goto out;
            }
            if (raw == NULL) {
                raw = malloc(FT_CHUNK_BYTES);
                err = raw == NULL ? FT_ERR_NOMEM : ft_inflater_init(&inf);
                if (err != FT_OK)
                    goto out;
            }
            err = ft_inflate_chunk(&inf, m.u.data_z.deflated.ptr,
                                   m.u.data_z.deflated.len, raw,
                                   m.u.data_z.raw_len);
            if (err != FT_OK)
                goto out;
            bytes = raw;
            n = m.u.data_z.raw_len;
            break;
        case FT_MSG_END:
            err = check_end(&m, total, expect_size, verify, &hash, res);
            goto out;
        case FT_MSG_ERROR:
            err = c->peer_code;
            goto out;
        default:
            err = FT_ERR_PROTOCOL;
            goto out;
        }
        if (n > limit - total ||
            (expect_size != FT_SIZE_UNKNOWN && n > expect_size - total)) {
            err = n > limit - total ? FT_ERR_TOO_LARGE : FT_ERR_PROTOCOL;
            goto out;
        }
        total += n;
        if (verify)
            ft_hash_update(&hash, bytes, n);
        err = sink(ctx, bytes, n);
        if (err != FT_OK)
            goto out;
        if (c->progress != NULL)
            c->progress(c->progress_ctx, total);
    }
out:
    ft_inflater_free(&inf);
    free(raw);
    return err;
}
