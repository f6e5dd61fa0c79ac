/* resume.c - chunk digests out, chunk digests compared. */
#include "resume.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "io.h"

/* Reads a chunk in pieces this size, so memory stays small. */
#define PIECE_BYTES (256u * 1024u)

/* The digest of the chunk at index i of r; *whole false when r ends
 * before the chunk does. */
static enum ft_err chunk_digest(const struct ft_reader *r, uint64_t i, uint8_t *buf,
                                uint8_t digest[FT_HASH_BYTES], bool *whole)
{
    uint64_t off = i * FT_RESUME_CHUNK_BYTES;
    size_t done = 0;
    struct ft_hash h;

    ft_hash_init(&h);
    while (done < FT_RESUME_CHUNK_BYTES) {
        size_t got = 0;
        enum ft_err err = r->read_at(r, buf, PIECE_BYTES, off + done, &got);

        if (err != FT_OK)
            return err;
        ft_hash_update(&h, buf, got);
        done += got;
        if (got < PIECE_BYTES)
            break;
    }
    ft_hash_final(&h, digest);
    *whole = done == FT_RESUME_CHUNK_BYTES;
    return FT_OK;
}

static enum ft_err send_frame(struct ft_conn *c, const uint8_t *digests,
                              size_t n, uint64_t src_size, int64_t src_mtime)
{
    struct ft_msg m = { .type = FT_MSG_SUMS };

    m.u.sums.chunk = FT_RESUME_CHUNK_BYTES;
    m.u.sums.src_size = src_size;
    m.u.sums.src_mtime = src_mtime;
    m.u.sums.digests.ptr = digests;
    m.u.sums.digests.len = n * FT_HASH_BYTES;
    return ft_conn_send(c, &m);
}

static enum ft_err send_sums(struct ft_conn *c, const struct ft_reader *r,
                             uint64_t have, uint64_t src_size, int64_t src_mtime)
{
    uint8_t *digests = malloc(FT_SUMS_PER_FRAME * FT_HASH_BYTES);
    uint8_t *buf = malloc(PIECE_BYTES);
    uint64_t chunks = have / FT_RESUME_CHUNK_BYTES;
    size_t n = 0;
    enum ft_err err = FT_OK;

    if (digests == NULL || buf == NULL) {
        err = FT_ERR_NOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < chunks && err == FT_OK; i++) {
        bool whole = false;

        /* Hashing a large part takes a while: the peer must know we live. */
        err = ft_conn_heartbeat(c);
        if (err != FT_OK)
            break;
        err = chunk_digest(r, i, buf, digests + n * FT_HASH_BYTES, &whole);
        if (err != FT_OK || !whole)
            break;
        if (++n == FT_SUMS_PER_FRAME) {
            err = send_frame(c, digests, n, src_size, src_mtime);
            n = 0;
        }
    }
    if (err == FT_OK && n > 0)
        err = send_frame(c, digests, n, src_size, src_mtime);
    if (err == FT_OK)
        err = send_frame(c, NULL, 0, src_size, src_mtime);
out:
    free(digests);
    free(buf);
    return err;
}

enum ft_err ft_resume_send_sums(struct ft_conn *c, int fd, uint64_t have,
                                uint64_t src_size, int64_t src_mtime)
{
    struct ft_reader r = ft_io_reader(fd);

    return send_sums(c, &r, have, src_size, src_mtime);
}

enum ft_err ft_resume_match_sums(struct ft_conn *c, const struct ft_reader *r,
                                 uint64_t *offset, uint64_t *src_size,
                                 int64_t *src_mtime)
{
    uint8_t *buf = malloc(PIECE_BYTES);
    uint64_t index = 0;
    bool matching = r != NULL; /* no file of our own: only read the list */
    enum ft_err err = buf == NULL ? FT_ERR_NOMEM : FT_OK;

    *offset = 0;
    while (err == FT_OK) {
        struct ft_msg m;
        size_t n;

        err = ft_conn_recv(c, &m, c->timeout_ms);
        if (err != FT_OK)
            break;
        if (m.type == FT_MSG_ERROR) {
            err = c->peer_code;
            break;
        }
        if (m.type != FT_MSG_SUMS) {
            err = FT_ERR_PROTOCOL;
            break;
        }
        *src_size = m.u.sums.src_size;
        *src_mtime = m.u.sums.src_mtime;
        n = m.u.sums.digests.len / FT_HASH_BYTES;
        if (n == 0)
            break;
        /* Past the first difference the rest only needs reading. */
        for (size_t i = 0; i < n && matching && err == FT_OK; i++, index++) {
            uint8_t mine[FT_HASH_BYTES];
            bool whole = false;

            err = ft_conn_heartbeat(c);
            if (err == FT_OK)
                err = chunk_digest(r, index, buf, mine, &whole);
            matching = err == FT_OK && whole &&
                       ft_hash_equal(mine, m.u.sums.digests.ptr + i * FT_HASH_BYTES);
            if (matching)
                *offset = (index + 1) * FT_RESUME_CHUNK_BYTES;
        }
    }
    free(buf);
    return err;
}

void ft_resume_upload_key(const char *name, uint64_t size, int64_t mtime,
                          char hex[FT_RESUME_KEY_HEX_BYTES])
{
    crypto_generichash_state st;
    uint8_t key[(FT_RESUME_KEY_HEX_BYTES - 1) / 2];
    uint8_t fields[16];

    ft_msg_put_u32(fields, (uint32_t)(size >> 32));
    ft_msg_put_u32(fields + 4, (uint32_t)size);
    ft_msg_put_u32(fields + 8, (uint32_t)((uint64_t)mtime >> 32));
    ft_msg_put_u32(fields + 12, (uint32_t)mtime);
    crypto_generichash_init(&st, NULL, 0, sizeof(key));
    crypto_generichash_update(&st, (const uint8_t *)"ft partial v1", 14);
    crypto_generichash_update(&st, (const uint8_t *)name, strlen(name) + 1);
    crypto_generichash_update(&st, fields, sizeof(fields));
    crypto_generichash_final(&st, key, sizeof(key));
    sodium_bin2hex(hex, FT_RESUME_KEY_HEX_BYTES, key, sizeof(key));
}

enum ft_err ft_resume_agree_offset(struct ft_conn *c, const struct ft_reader *r,
                                   uint64_t have, uint64_t src_size,
                                   int64_t src_mtime, uint64_t *offset)
{
    struct ft_msg m;
    enum ft_err err = send_sums(c, r, have, src_size, src_mtime);

    if (err == FT_OK)
        err = ft_conn_recv(c, &m, c->timeout_ms);
    if (err == FT_OK && (m.type != FT_MSG_RESUME_AT || m.u.resume_at.offset > have ||
                         m.u.resume_at.offset % FT_RESUME_CHUNK_BYTES != 0))
        err = FT_ERR_PROTOCOL;
    if (err == FT_OK)
        *offset = m.u.resume_at.offset;
    return err;
}

enum ft_err ft_resume_choose_offset(struct ft_conn *c, int fd, uint64_t have,
                                    uint64_t *offset)
{
    struct ft_msg at = { .type = FT_MSG_RESUME_AT };
    uint64_t src_size = 0;
    int64_t src_mtime = 0;
    struct ft_reader r = ft_io_reader(fd);
    enum ft_err err = ft_resume_match_sums(c, fd >= 0 ? &r : NULL, offset, &src_size,
                                           &src_mtime);

    if (err == FT_OK && *offset > have)
        err = FT_ERR_PROTOCOL;
    if (err != FT_OK)
        return err;
    at.u.resume_at.offset = *offset;
    return ft_conn_send(c, &at);
}
