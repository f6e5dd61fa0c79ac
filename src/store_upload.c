/* store_upload.c - uploads: temporaries, held bytes, and their commit
 * (durable, then renamed into place) or abort. */
#define _GNU_SOURCE
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* Uploads are pushed to disk in windows of this size as they arrive. */
#define WRITEBACK_WINDOW_BYTES (8u * 1024u * 1024u)
/* A batch of uploads this large is made durable with syncfs, a smaller one
 * file by file: a few fsyncs cost less than flushing whatever else is
 * dirty on the filesystem. */
#define SYNCFS_MIN_FILES 8

static void dir_upload_drop_old(struct ft_store *store, struct ft_upload *up);

/* A fresh upload of name, nothing made yet. */
static enum ft_err upload_init(struct ft_store_dir *st, const char *name,
                               struct ft_upload *up)
{
    up->be = st->base.be;
    up->fd = -1;
    up->dir_fd = -1;
    up->tmp_dir_fd = st->tmp_fd;
    up->tmp[0] = '\0';
    up->old[0] = '\0';
    up->replaced = false;
    up->replaced_size = 0;
    up->written = 0;
    up->has_meta = false;
    up->has_digest = false;
    up->held = NULL;
    up->held_cap = 0;
    up->chunks = NULL;
    if (ft_name_check(name, strlen(name)) != FT_OK)
        return FT_ERR_BAD_NAME;
    if (st->read_only)
        return FT_ERR_READ_ONLY;
    snprintf(up->name, sizeof(up->name), "%s", name);
    return FT_OK;
}

/* Makes the upload's folders and its temporary. */
static enum ft_err open_temporary(struct ft_store_dir *st, struct ft_upload *up)
{
    struct place p;
    enum ft_err err = ft_store_resolve(st, up->name, true, &p);

    if (err != FT_OK)
        return err;
    /* The folder stays open until commit: the rename lands in it even if
     * someone renames the folder meanwhile, and never through a link. */
    up->dir_fd = p.dir_fd == st->root_fd ? dup(st->root_fd) : p.dir_fd;
    p.dir_fd = -1;
    if (up->dir_fd < 0)
        return ft_store_from_errno(errno);
    snprintf(up->leaf, sizeof(up->leaf), "%s", p.leaf);
    ft_store_temp_name(st, "up-", up->tmp, sizeof(up->tmp));
    up->fd = openat(st->tmp_fd, up->tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (up->fd < 0) {
        up->tmp[0] = '\0';
        err = ft_store_from_errno(errno);
        ft_store_dir_upload_abort(&st->base, up);
        return err;
    }
    return FT_OK;
}

enum ft_err ft_store_dir_upload_begin(struct ft_store *store, const char *name,
                                      struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    enum ft_err err = upload_init(st, name, up);

    return err == FT_OK ? open_temporary(st, up) : err;
}

static enum ft_err dir_upload_begin_held(struct ft_store *store, const char *name,
                                         uint8_t *buf, size_t cap,
                                         struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    enum ft_err err = upload_init(st, name, up);

    if (err != FT_OK)
        return err;
    up->held = buf;
    up->held_cap = cap;
    return FT_OK;
}

static enum ft_err dir_upload_unhold(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    enum ft_err err = open_temporary(st, up);

    if (err == FT_OK)
        err = ft_io_write_file(up->fd, up->held, (size_t)up->written);
    if (err == FT_ERR_IO)
        err = ft_store_from_errno(errno);
    up->held = NULL;
    return err;
}

static enum ft_err dir_upload_resize(struct ft_upload *up, uint64_t size)
{
    if (ftruncate(up->fd, (off_t)size) != 0 ||
        lseek(up->fd, (off_t)size, SEEK_SET) < 0)
        return ft_store_from_errno(errno);
    up->written = size;
    return FT_OK;
}

static enum ft_err dir_upload_read_at(struct ft_upload *up, void *buf, size_t n,
                                      uint64_t off, size_t *got)
{
    return ft_io_pread_full(up->fd, buf, n, off, got);
}

static int dir_upload_fd(const struct ft_upload *up)
{
    return up->fd;
}

static enum ft_err dir_upload_write_at(struct ft_upload *up, const void *buf,
                                       size_t n, uint64_t off)
{
    if (up->held != NULL)
        return FT_ERR_USAGE;
    if (ft_io_pwrite_full(up->fd, buf, n, off) != FT_OK)
        return ft_store_from_errno(errno);
    /* As ft_store_upload_write does by windows: pieces land in any order
     * here, so each goes to disk as it is written, and the fsync before
     * publication does not write the whole file at the end. */
    sync_file_range(up->fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
    return FT_OK;
}

static enum ft_err dir_upload_write(struct ft_upload *up, const void *buf,
                                    size_t n)
{
    enum ft_err err;
    uint64_t window = up->written / WRITEBACK_WINDOW_BYTES;

    if (up->held != NULL) {
        if (n > up->held_cap - up->written)
            return FT_ERR_TOO_LARGE;
        memcpy(up->held + up->written, buf, n);
        up->written += n;
        return FT_OK;
    }
    err = ft_io_write_file(up->fd, buf, n);
    if (err == FT_ERR_IO)
        return ft_store_from_errno(errno);
    if (err != FT_OK)
        return err;
    up->written += n;
    /* Start writing each finished window to disk now, so that the fsync
     * before publication does not stall on the whole file at the end. */
    if (up->written / WRITEBACK_WINDOW_BYTES != window)
        sync_file_range(up->fd, (off_t)(window * WRITEBACK_WINDOW_BYTES),
                        WRITEBACK_WINDOW_BYTES, SYNC_FILE_RANGE_WRITE);
    return FT_OK;
}

/* The file's final metadata: the first step of a commit. */
static enum ft_err finish_file(struct ft_upload *up)
{
    if (fchmod(up->fd, 0644 | (up->has_meta ? up->mode & 0111 : 0)) != 0)
        return ft_store_from_errno(errno);
    if (up->has_meta) {
        struct timespec times[2] = {
            { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
            { .tv_sec = (time_t)up->mtime, .tv_nsec = 0 },
        };

        if (futimens(up->fd, times) != 0)
            return ft_store_from_errno(errno);
    }
    if (up->has_digest && up->written >= DIGEST_RECORD_MIN_BYTES)
        ft_store_record_digest(up->fd, up->digest);
    return FT_OK;
}

static enum ft_err publish(struct ft_store_dir *st, struct ft_upload *up)
{
    struct stat sb;
    int saved;

    /* A new name, the common case, is one call. Where it is taken (or the
     * file system cannot tell), the old version is linked aside first. */
    if (renameat2(up->tmp_dir_fd, up->tmp, up->dir_fd, up->leaf,
                  RENAME_NOREPLACE) == 0) {
        up->tmp[0] = '\0';
        return FT_OK;
    }
    if (fstatat(up->dir_fd, up->leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(sb.st_mode)) {
        up->replaced = true;
        up->replaced_size = (uint64_t)sb.st_size;
    }
    ft_store_temp_name(st, "old-", up->old, sizeof(up->old));
    /* Fails when there is no old version (or it is a folder): fine. */
    if (linkat(up->dir_fd, up->leaf, st->tmp_fd, up->old, 0) != 0)
        up->old[0] = '\0';
    if (renameat(up->tmp_dir_fd, up->tmp, up->dir_fd, up->leaf) != 0) {
        saved = errno;
        dir_upload_drop_old(&st->base, up);
        /* A folder under that name is not replaced by a file. */
        return saved == EISDIR ? FT_ERR_DENIED : ft_store_from_errno(saved);
    }
    up->tmp[0] = '\0';
    /* The replaced version's chunk list goes with it. */
    if (up->replaced)
        ft_store_chunks_drop(st, &sb);
    return FT_OK;
}

static void dir_upload_drop_old(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);

    if (up->old[0] != '\0')
        unlinkat(st->tmp_fd, up->old, 0);
    up->old[0] = '\0';
}

/* Makes what fd's file holds durable; with whole_filesystem, all that is
 * dirty on its filesystem (syncfs). For a batch, one syncfs writes the
 * files' data and inodes together and flushes the disk's cache once, where
 * an fsync per file does both once per file (put -r of 10,000 files of
 * 4 KiB: 3.6 s -> 1.6 s here). Its cost is whatever else is dirty on that
 * filesystem, bounded by the kernel's dirty limits: the cost ext4's
 * journal commit puts on an fsync too. */
static enum ft_err make_durable(int fd, bool whole_filesystem)
{
    if ((whole_filesystem ? syncfs(fd) : fsync(fd)) != 0)
        return ft_store_from_errno(errno);
    return FT_OK;
}

/* The file a batch is flushed through: the first one made (a held upload
 * that failed has none), so opened before any of the others was written. */
static int first_file(const struct ft_upload *ups, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ups[i].fd >= 0)
            return ups[i].fd;
    }
    return -1;
}

/* Each file is durable before it is renamed, and the renames are made
 * durable after the last: readers, and a crash, see each name's old file
 * or its whole new one. */
static void dir_upload_commit_batch(struct ft_store *store, struct ft_upload *ups,
                                    size_t n, enum ft_err *errs)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    bool whole_filesystem = n >= SYNCFS_MIN_FILES && st->syncfs_reports_errors;
    enum ft_err synced = FT_OK;
    int through;

    for (size_t i = 0; i < n; i++) {
        if (errs[i] == FT_OK && ups[i].held != NULL)
            errs[i] = dir_upload_unhold(&st->base, &ups[i]);
        if (errs[i] == FT_OK)
            errs[i] = finish_file(&ups[i]);
    }
    /* Through a file of the batch: syncfs reports the write-back errors
     * since that descriptor was opened, so all of the batch's, and another
     * session's syncfs cannot have taken them first. */
    through = first_file(ups, n);
    if (whole_filesystem && through >= 0)
        synced = make_durable(through, true);
    for (size_t i = 0; i < n; i++) {
        if (errs[i] == FT_OK)
            errs[i] = whole_filesystem ? synced : make_durable(ups[i].fd, false);
        if (errs[i] == FT_OK)
            errs[i] = publish(st, &ups[i]);
        /* Stamped as published: the rename changed the file's ctime. */
        if (errs[i] == FT_OK)
            ft_store_chunks_commit(&ups[i]);
    }
    /* The renames must survive a crash too. If that fails, a crash brings
     * back old versions, never part of a file: the answers stand. */
    if (whole_filesystem && through >= 0)
        make_durable(through, true);
    for (size_t i = 0; i < n && !whole_filesystem; i++) {
        if (errs[i] == FT_OK)
            make_durable(ups[i].dir_fd, false);
    }
    for (size_t i = 0; i < n; i++)
        ft_store_dir_upload_abort(&st->base, &ups[i]);
}

static enum ft_err dir_upload_commit(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    enum ft_err err = FT_OK;

    dir_upload_commit_batch(&st->base, up, 1, &err);
    dir_upload_drop_old(&st->base, up);
    return err;
}

void ft_store_dir_upload_abort(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);

    (void)st; /* the upload holds the folders it needs */
    ft_store_dir_chunks_abort(up->chunks);
    up->chunks = NULL;
    /* Removed before it is closed: a kept upload's name is this session's
     * only while it holds the file's lock (store_partial.c). */
    if (up->tmp[0] != '\0')
        unlinkat(up->tmp_dir_fd, up->tmp, 0);
    up->tmp[0] = '\0';
    if (up->fd >= 0)
        close(up->fd);
    up->fd = -1;
    if (up->dir_fd >= 0)
        close(up->dir_fd);
    up->dir_fd = -1;
}

void ft_store_upload_set_meta(struct ft_upload *up, int64_t mtime,
                              uint32_t mode)
{
    up->has_meta = true;
    up->mtime = mtime;
    up->mode = mode;
}

void ft_store_upload_set_digest(struct ft_upload *up, const uint8_t digest[32])
{
    up->has_digest = true;
    memcpy(up->digest, digest, sizeof(up->digest));
}

void ft_store_upload_move(struct ft_upload *to, struct ft_upload *from)
{
    *to = *from;
    from->fd = from->dir_fd = -1;
    from->tmp[0] = '\0';
    from->chunks = NULL;
    from->priv = NULL;
}

size_t ft_store_upload_held_bytes(const struct ft_upload *up)
{
    return up->held != NULL ? (size_t)up->written : 0;
}

void ft_store_dir_upload_ops(struct ft_store_backend *be)
{
    be->upload_begin = ft_store_dir_upload_begin;
    be->upload_begin_held = dir_upload_begin_held;
    be->upload_unhold = dir_upload_unhold;
    be->upload_resize = dir_upload_resize;
    be->upload_read_at = dir_upload_read_at;
    be->upload_fd = dir_upload_fd;
    be->upload_write_at = dir_upload_write_at;
    be->upload_write = dir_upload_write;
    be->upload_drop_old = dir_upload_drop_old;
    be->upload_commit_batch = dir_upload_commit_batch;
    be->upload_commit = dir_upload_commit;
    be->upload_abort = ft_store_dir_upload_abort;
}
