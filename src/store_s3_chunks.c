/* store_s3_chunks.c - the S3 backend keeps no chunk lists: the server cuts files as it reads them. */
#define _GNU_SOURCE
#include "store_s3_int.h"

#include <stdlib.h>

/* FT_STORE_CAN_CHUNKS is off (store_backend.h): no list is found, and a
 * writer takes entries and records none. */
enum ft_err ft_store_s3_chunks_open(struct ft_store *st, const struct ft_store_file *f,
                                    struct ft_store_chunks *out)
{
    (void)st;
    (void)f;
    *out = (struct ft_store_chunks)FT_STORE_CHUNKS_INIT;
    return FT_ERR_NOT_FOUND;
}

enum ft_err ft_store_s3_chunks_read(struct ft_store_chunks *c, void *buf, size_t n,
                                    uint64_t off, size_t *got)
{
    /* Never open (chunks_open finds none), so never read. */
    (void)c, (void)buf, (void)n, (void)off;
    *got = 0;
    return FT_ERR_USAGE;
}

int ft_store_s3_chunks_fd(const struct ft_store_chunks *c)
{
    (void)c;
    return -1;
}

void ft_store_s3_chunks_close(struct ft_store_chunks *c)
{
    *c = (struct ft_store_chunks)FT_STORE_CHUNKS_INIT;
}

enum ft_err ft_store_s3_chunks_begin(struct ft_store *st, unsigned level,
                                     struct ft_store_chunks_writer **out)
{
    (void)level;
    *out = malloc(sizeof(**out));
    if (*out == NULL)
        return FT_ERR_NOMEM;
    (*out)->be = st->be;
    return FT_OK;
}

enum ft_err ft_store_s3_chunks_add(struct ft_store_chunks_writer *w, uint32_t len,
                                   uint64_t hash)
{
    (void)w;
    (void)len;
    (void)hash;
    return FT_OK;
}

void ft_store_s3_chunks_abort(struct ft_store_chunks_writer *w)
{
    free(w);
}

void ft_store_s3_file_remember_chunks(struct ft_store *st, const struct ft_store_file *f,
                                      struct ft_store_chunks_writer *w)
{
    (void)st;
    (void)f;
    free(w);
}
