/* fuzz_chunks.c - a chunk list the server reads back from .ft/chunks
 * (store_chunks.c): whatever bytes are planted there, opening the list
 * of the file they claim ends in FT_ERR_NOT_FOUND or in a list whose
 * entries fit the file, and the sweep at open removes it or keeps it,
 * never a crash.
 *
 * The input's first byte says what the harness fixes in the rest, so that
 * the fuzzer reaches the entries past the header: bit 0, the magic; bit 1,
 * the stamp of the stored file (which it cannot guess). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_BYTES (300u * 1024u) /* one list's worth: over the threshold */
#define HEADER_BYTES 72
#define STAMP_AT 24

static struct ft_store *st;
static struct ft_store_file file = { .fd = -1 };
static char list_leaf[32];
static char root[] = "/tmp/fuzz_chunks.XXXXXX";

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The run's store goes with it. */
static void clean_up(void)
{
    ft_store_file_close(&file);
    ft_store_close(st);
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A store in a fresh folder holding one file "f", open for the run. */
static int prepare(void)
{
    char path[64], err[256];
    uint8_t *content = malloc(FILE_BYTES);
    int fd;

    if (content == NULL || mkdtemp(root) == NULL ||
        ft_store_open(&st, root, false, err, sizeof(err)) != FT_OK)
        abort();
    atexit(clean_up);
    for (size_t i = 0; i < FILE_BYTES; i++)
        content[i] = (uint8_t)(i * 2654435761u >> 13);
    snprintf(path, sizeof(path), "%s/f", root);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, content, FILE_BYTES) != (ssize_t)FILE_BYTES)
        abort();
    close(fd);
    free(content);
    if (ft_store_open_file(st, "f", &file) != FT_OK)
        abort();
    snprintf(list_leaf, sizeof(list_leaf), "%016llx",
             (unsigned long long)file.stamp.ino);
    return 0;
}

/* Reads every entry of an open list: each fits, and together the file. */
static void check(const struct ft_store_chunks *c)
{
    uint8_t e[12];
    uint64_t total = 0;

    if (c->level > 12 || c->count > FILE_BYTES)
        abort();
    for (uint64_t i = 0; i < c->count; i++) {
        uint32_t len;

        if (pread(c->fd, e, sizeof(e), (off_t)(c->offset + i * sizeof(e))) !=
            (ssize_t)sizeof(e))
            abort();
        len = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
        if (len == 0)
            abort();
        total += len;
    }
    if (total != FILE_BYTES)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = -1;
    struct ft_store_chunks c;
    uint8_t *list;
    size_t n;
    int fd;

    if (ready < 0)
        ready = prepare();
    if (size == 0)
        return 0;
    n = size - 1;
    list = malloc(n + 1);
    if (list == NULL)
        return 0;
    memcpy(list, data + 1, n);
    if ((data[0] & 1) && n >= 8)
        memcpy(list, "ftchunk1", 8);
    if ((data[0] & 2) && n >= HEADER_BYTES) {
        const struct ft_store_stamp *s = &file.stamp;

        put_be64(list + STAMP_AT, s->size);
        put_be64(list + STAMP_AT + 8, (uint64_t)s->mtime_s);
        put_be64(list + STAMP_AT + 16, (uint64_t)s->mtime_ns);
        put_be64(list + STAMP_AT + 24, (uint64_t)s->ctime_s);
        put_be64(list + STAMP_AT + 32, (uint64_t)s->ctime_ns);
        put_be64(list + STAMP_AT + 40, s->ino);
    }
    fd = openat(ft_store_dir_of(st)->chunks_fd, list_leaf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (n > 0 && write(fd, list, n) != (ssize_t)n))
        abort();
    close(fd);
    free(list);
    if (ft_store_chunks_open(st, &file, &c) == FT_OK) {
        check(&c);
        ft_store_chunks_close(&c);
    } else if (c.fd != -1) {
        abort();
    }
    ft_store_chunks_sweep(ft_store_dir_of(st));
    return 0;
}
