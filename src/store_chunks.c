/* store_chunks.c - the chunk lists kept beside stored files (ft sync).
 *
 * A list is a file of its own under .ft/chunks, named by the inode of the
 * file it describes (hex), so that it follows the file through renames
 * and is found without knowing the file's name:
 *
 *   header (HEADER_BYTES, big-endian like the wire)
 *     magic "ftchunk1", level (u8), 3 zero bytes, name length (u32),
 *     count (u64), and the file's stamp when the list was taken: size,
 *     mtime s, mtime ns, ctime s, ctime ns, inode (u64 each)
 *   count entries, FT_CHUNK_ENTRY_BYTES each: length (u32), hash (u64)
 *   the file's name in the store then (for the sweep, see below)
 *
 * The stamp holds the ctime, which nobody can set: a file whose content
 * was changed and whose size and mtime were then put back (touch -d) has
 * a new ctime, and its list is not trusted. The store's own changes of a
 * file's metadata (a digest record, ft_store_file_set_meta) stamp its list
 * again. A list is written to a temporary under .ft/tmp as its entries
 * come and renamed into place whole: a reader, or a second session
 * recording the same file's list, sees one list or the other, never part
 * of one. Lists are hints: a delta built from a wrong one fails the whole
 * file's digest and is sent again whole. */
#define _GNU_SOURCE
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chunker.h"
#include "io.h"
#include "proto.h"

#define MAGIC "ftchunk1"
#define MAGIC_BYTES 8
#define STAMP_AT 24 /* offset of the stamp in the header */
#define HEADER_BYTES (STAMP_AT + 6 * 8)
/* Entries written at once: the writer's buffer. */
#define WRITE_BATCH 512
/* Entries checked at once by ft_store_chunks_open. */
#define READ_BATCH 1024
/* Lists the sweep at ft_store_open looks at, about (see there). */
#define SWEEP_MAX 1024
#define TEMP_PREFIX "chunks-"

struct dir_writer {
    struct ft_store_chunks_writer base; /* first: handed out as &base */
    struct ft_store_dir *st;
    int fd;          /* the temporary; -1 until the first batch is written */
    char tmp[48];
    unsigned level;
    uint64_t count;  /* entries added */
    enum ft_err err; /* the first write that failed: nothing is recorded */
    size_t used;     /* entries in buf */
    uint8_t buf[WRITE_BATCH * FT_CHUNK_ENTRY_BYTES];
};

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The stamp as the header holds it. */
static void put_stamp(uint8_t *p, const struct ft_store_stamp *s)
{
    put_be(p, s->size, 8);
    put_be(p + 8, (uint64_t)s->mtime_s, 8);
    put_be(p + 16, (uint64_t)s->mtime_ns, 8);
    put_be(p + 24, (uint64_t)s->ctime_s, 8);
    put_be(p + 32, (uint64_t)s->ctime_ns, 8);
    put_be(p + 40, s->ino, 8);
}

static void list_name(uint64_t ino, char *out, size_t cap)
{
    snprintf(out, cap, "%016" PRIx64, ino);
}

bool ft_store_chunks_worth(uint64_t size)
{
    return size >= FT_STORE_CHUNKS_MIN_BYTES;
}

static enum ft_err dir_chunks_begin(struct ft_store *store, unsigned level,
                                    struct ft_store_chunks_writer **out)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct dir_writer *w = malloc(sizeof(*w));

    *out = NULL;
    if (w == NULL)
        return FT_ERR_NOMEM;
    w->base.be = st->base.be;
    w->st = st;
    w->fd = -1;
    w->tmp[0] = '\0';
    w->level = level > FT_CHUNKER_LEVEL_MAX ? FT_CHUNKER_LEVEL_MAX : level;
    w->count = 0;
    w->used = 0;
    /* A read-only store records nothing: the entries are counted only. */
    w->err = st->read_only || st->chunks_fd < 0 ? FT_ERR_READ_ONLY : FT_OK;
    *out = &w->base;
    return FT_OK;
}

/* Writes the buffered entries after those written before. The temporary
 * is made only now: a small file's list, never recorded, costs no file. */
static void flush_entries(struct dir_writer *w)
{
    size_t n = w->used * FT_CHUNK_ENTRY_BYTES;
    uint64_t at = HEADER_BYTES + (w->count - w->used) * FT_CHUNK_ENTRY_BYTES;

    w->used = 0;
    if (w->err != FT_OK || n == 0)
        return;
    if (w->fd < 0) {
        ft_store_temp_name(w->st, TEMP_PREFIX, w->tmp, sizeof(w->tmp));
        w->fd = openat(w->st->tmp_fd, w->tmp,
                       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (w->fd < 0) {
            w->tmp[0] = '\0';
            w->err = ft_store_from_errno(errno);
            return;
        }
    }
    if (ft_io_pwrite_full(w->fd, w->buf, n, at) != FT_OK)
        w->err = ft_store_from_errno(errno);
}

static enum ft_err dir_chunks_add(struct ft_store_chunks_writer *base, uint32_t len,
                                  uint64_t hash)
{
    struct dir_writer *w = (struct dir_writer *)base;
    uint8_t *p = w->buf + w->used * FT_CHUNK_ENTRY_BYTES;

    put_be(p, len, 4);
    put_be(p + 4, hash, 8);
    w->used++;
    w->count++;
    if (w->used == WRITE_BATCH)
        flush_entries(w);
    return w->err == FT_ERR_READ_ONLY ? FT_OK : w->err;
}

void ft_store_dir_chunks_abort(struct ft_store_chunks_writer *base)
{
    struct dir_writer *w = (struct dir_writer *)base;

    if (w == NULL)
        return;
    if (w->tmp[0] != '\0')
        unlinkat(w->st->tmp_fd, w->tmp, 0);
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

/* Ends the list with the name and header for the file fd, which is name
 * in the store, and renames it into place; frees w. Where the file's
 * stamp must be the one the list was taken of (expect), it is checked
 * last, just before the rename. */
static void record(struct dir_writer *w, int fd, const char *name,
                   const struct ft_store_stamp *expect)
{
    uint8_t header[HEADER_BYTES] = MAGIC;
    struct ft_store_stamp now;
    struct stat sb;
    size_t name_len = strlen(name);
    char leaf[24];

    flush_entries(w);
    if (w->err != FT_OK || w->fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        !ft_store_chunks_worth((uint64_t)sb.st_size))
        goto out;
    ft_store_stamp_take(&now, &sb);
    header[MAGIC_BYTES] = (uint8_t)w->level;
    put_be(header + 12, name_len, 4);
    put_be(header + 16, w->count, 8);
    put_stamp(header + STAMP_AT, &now);
    if (ft_io_pwrite_full(w->fd, name, name_len,
                          HEADER_BYTES + w->count * FT_CHUNK_ENTRY_BYTES) != FT_OK ||
        ft_io_pwrite_full(w->fd, header, sizeof(header), 0) != FT_OK)
        goto out;
    /* Written to while it was cut: the list may be of neither version. */
    if (expect != NULL && memcmp(expect, &now, sizeof(now)) != 0)
        goto out;
    list_name(now.ino, leaf, sizeof(leaf));
    if (renameat(w->st->tmp_fd, w->tmp, w->st->chunks_fd, leaf) == 0)
        w->tmp[0] = '\0';
out:
    ft_store_dir_chunks_abort(&w->base);
}

void ft_store_chunks_commit(struct ft_upload *up)
{
    struct dir_writer *w = (struct dir_writer *)up->chunks;

    up->chunks = NULL;
    if (w != NULL)
        record(w, up->fd, up->name, NULL);
}

static void dir_file_remember_chunks(struct ft_store *store,
                                     const struct ft_store_file *f,
                                     struct ft_store_chunks_writer *w)
{
    (void)store; /* the writer knows its store */
    if (w != NULL)
        record((struct dir_writer *)w, f->fd, f->info.name, &f->stamp);
}

/* Reads the header of the open list fd and checks that the list is
 * whole: its length is the header's, count entries and the name. */
static bool list_whole(int fd, uint8_t header[HEADER_BYTES], uint64_t *count,
                       uint64_t *name_len)
{
    struct stat sb;
    uint64_t room;

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < HEADER_BYTES ||
        pread(fd, header, HEADER_BYTES, 0) != HEADER_BYTES ||
        memcmp(header, MAGIC, MAGIC_BYTES) != 0 ||
        header[MAGIC_BYTES] > FT_CHUNKER_LEVEL_MAX ||
        get_be(header + MAGIC_BYTES + 1, 3) != 0)
        return false;
    room = (uint64_t)sb.st_size - HEADER_BYTES;
    *count = get_be(header + 16, 8);
    *name_len = get_be(header + 12, 4);
    return *name_len <= FT_PATH_MAX && *name_len <= room &&
           (room - *name_len) % FT_CHUNK_ENTRY_BYTES == 0 &&
           (room - *name_len) / FT_CHUNK_ENTRY_BYTES == *count;
}

static int open_leaf(struct ft_store_dir *st, const char *leaf, int how)
{
    return openat(st->chunks_fd, leaf, how | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
}

/* The list of the file whose stamp is s, open (how: O_RDONLY or O_RDWR),
 * and its header; -1 if there is none that is whole and of that file as it
 * is now. */
static int open_list(struct ft_store_dir *st, const struct ft_store_stamp *s, int how,
                     uint8_t header[HEADER_BYTES])
{
    uint8_t want[6 * 8];
    uint64_t count, name_len;
    char leaf[24];
    int fd;

    if (st->chunks_fd < 0)
        return -1;
    list_name(s->ino, leaf, sizeof(leaf));
    fd = open_leaf(st, leaf, how);
    if (fd < 0)
        return -1;
    put_stamp(want, s);
    if (!list_whole(fd, header, &count, &name_len) ||
        memcmp(header + STAMP_AT, want, sizeof(want)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the entries of the open list fd fit the file: each chunk as
 * long as the chunker can cut at that level (the last one may be
 * shorter), and together as long as the file. Planted or damaged lists
 * are refused here, so that no reader meets a chunk past the file's end. */
static bool entries_fit(int fd, uint64_t count, unsigned level, uint64_t size)
{
    uint8_t buf[READ_BATCH * FT_CHUNK_ENTRY_BYTES];
    struct ft_chunker k;
    uint64_t total = 0;

    ft_chunker_init(&k, level);
    for (uint64_t i = 0; i < count;) {
        size_t n = count - i < READ_BATCH ? (size_t)(count - i) : READ_BATCH;
        size_t bytes = n * FT_CHUNK_ENTRY_BYTES;

        if (pread(fd, buf, bytes, (off_t)(HEADER_BYTES + i * FT_CHUNK_ENTRY_BYTES)) !=
            (ssize_t)bytes)
            return false;
        for (size_t j = 0; j < n; j++, i++) {
            uint64_t len = get_be(buf + j * FT_CHUNK_ENTRY_BYTES, 4);

            if (len == 0 || len > k.max || (len < k.min && i + 1 != count))
                return false;
            total += len;
        }
    }
    return total == size;
}

static enum ft_err dir_chunks_open(struct ft_store *store,
                                   const struct ft_store_file *f,
                                   struct ft_store_chunks *out)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    uint8_t header[HEADER_BYTES];
    struct ft_store_stamp now;
    struct stat sb;
    int fd;

    out->be = NULL;
    out->fd = -1;
    /* A small file never has a list: no system call to find none. */
    if (!ft_store_chunks_worth(f->stamp.size) || fstat(f->fd, &sb) != 0)
        return FT_ERR_NOT_FOUND;
    ft_store_stamp_take(&now, &sb);
    fd = open_list(st, &now, O_RDONLY, header);
    if (fd < 0)
        return FT_ERR_NOT_FOUND;
    out->level = header[MAGIC_BYTES];
    out->count = get_be(header + 16, 8);
    out->offset = HEADER_BYTES;
    if (!entries_fit(fd, out->count, out->level, now.size)) {
        close(fd);
        return FT_ERR_NOT_FOUND;
    }
    out->be = st->base.be;
    out->fd = fd;
    return FT_OK;
}

static enum ft_err dir_chunks_read(struct ft_store_chunks *c, void *buf, size_t n,
                                   uint64_t off, size_t *got)
{
    return ft_io_pread_full(c->fd, buf, n, c->offset + off, got);
}

static int dir_chunks_fd(const struct ft_store_chunks *c)
{
    return c->fd;
}

static void dir_chunks_close(struct ft_store_chunks *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->be = NULL;
}

void ft_store_chunks_restamp(struct ft_store_dir *st,
                             const struct ft_store_stamp *before, int fd)
{
    uint8_t header[HEADER_BYTES], stamp[6 * 8];
    struct ft_store_stamp now;
    struct stat sb;
    int list;

    if (st->read_only || !ft_store_chunks_worth(before->size) ||
        (list = open_list(st, before, O_RDWR, header)) < 0)
        return;
    if (fstat(fd, &sb) == 0) {
        ft_store_stamp_take(&now, &sb);
        put_stamp(stamp, &now);
        /* In place: the entries stay, and a reader that meets a stamp half
         * written matches neither version and cuts the file again. */
        ft_io_pwrite_full(list, stamp, sizeof(stamp), STAMP_AT);
    }
    close(list);
}

void ft_store_chunks_drop(struct ft_store_dir *st, const struct stat *sb)
{
    char leaf[24];

    if (st->chunks_fd < 0 || st->read_only || !S_ISREG(sb->st_mode) ||
        !ft_store_chunks_worth((uint64_t)sb->st_size))
        return;
    list_name((uint64_t)sb->st_ino, leaf, sizeof(leaf));
    unlinkat(st->chunks_fd, leaf, 0);
}

/* Whether the list leaf still describes a file of the store: its name
 * there holds a regular file of that inode and stamp. A file moved since
 * (by ft mv or behind ft's back) loses its list: it is cut again. */
static bool list_current(struct ft_store_dir *st, const char *leaf)
{
    uint8_t header[HEADER_BYTES], stamp[6 * 8];
    char name[FT_PATH_MAX + 1], want[24];
    struct ft_store_stamp now;
    struct place p;
    struct stat sb;
    uint64_t count, name_len;
    bool current = false;
    int fd = open_leaf(st, leaf, O_RDONLY);

    if (fd < 0)
        return false;
    if (!list_whole(fd, header, &count, &name_len) ||
        pread(fd, name, name_len, (off_t)(HEADER_BYTES + count * FT_CHUNK_ENTRY_BYTES)) !=
            (ssize_t)name_len)
        goto out;
    name[name_len] = '\0';
    if (strlen(name) != name_len || ft_store_resolve(st, name, false, &p) != FT_OK)
        goto out;
    if (ft_store_place_stat(st, &p, &sb) == FT_OK && S_ISREG(sb.st_mode)) {
        ft_store_stamp_take(&now, &sb);
        put_stamp(stamp, &now);
        list_name(now.ino, want, sizeof(want));
        current = strcmp(leaf, want) == 0 &&
                  memcmp(header + STAMP_AT, stamp, sizeof(stamp)) == 0;
    }
    ft_store_place_release(st, &p);
out:
    close(fd);
    return current;
}

/* How many lists .ft/chunks holds (and anything else there). */
static uint64_t count_lists(DIR *dir)
{
    struct dirent *de;
    uint64_t n = 0;

    while ((de = readdir(dir)) != NULL)
        n += de->d_name[0] != '.';
    rewinddir(dir);
    return n;
}

/* Each list costs a few reads, 30 to 300 us (warm or cold cache): a
 * store with more than SWEEP_MAX lists has a random SWEEP_MAX of them
 * looked at per start, so that every orphan goes in a few starts. An
 * orphan costs only its room meanwhile: its inode's next file has
 * another stamp, and overwrites it with its own list. */
void ft_store_chunks_sweep(struct ft_store_dir *st)
{
    DIR *dir;
    struct dirent *de;
    uint64_t n;

    if (st->read_only || st->chunks_fd < 0 ||
        (dir = ft_store_dir_stream(st->chunks_fd)) == NULL)
        return;
    n = count_lists(dir);
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' ||
            (n > SWEEP_MAX && randombytes_uniform((uint32_t)(n < UINT32_MAX ? n : UINT32_MAX)) >=
                                  SWEEP_MAX))
            continue;
        if (!list_current(st, de->d_name))
            unlinkat(st->chunks_fd, de->d_name, 0);
    }
    closedir(dir);
}

void ft_store_dir_chunks_ops(struct ft_store_backend *be)
{
    be->chunks_begin = dir_chunks_begin;
    be->chunks_add = dir_chunks_add;
    be->chunks_abort = ft_store_dir_chunks_abort;
    be->file_remember_chunks = dir_file_remember_chunks;
    be->chunks_open = dir_chunks_open;
    be->chunks_read = dir_chunks_read;
    be->chunks_fd = dir_chunks_fd;
    be->chunks_close = dir_chunks_close;
}
