/* store.c - confined directory storage with atomic publication. */
#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "io.h"

#define TMP_DIR FT_STORE_META "/tmp"
/* Uploads are pushed to disk in windows of this size as they arrive. */
#define WRITEBACK_WINDOW_BYTES (8u * 1024u * 1024u)

struct ft_store {
    int root_fd;
    int tmp_fd;
    int lock_fd;
    bool read_only;
};

/* What a failed system call means to a client of the store. */
static enum ft_err from_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return FT_ERR_NO_SPACE;
    case EFBIG:
        return FT_ERR_TOO_LARGE;
    case ENOENT:
    case ENOTDIR:
        return FT_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case ELOOP: /* O_NOFOLLOW met a symbolic link */
        return FT_ERR_DENIED;
    case EROFS:
        return FT_ERR_READ_ONLY;
    case ENOMEM:
        return FT_ERR_NOMEM;
    default:
        return FT_ERR_IO;
    }
}

/* mkdir that accepts an existing directory. */
static int ensure_dir(int dirfd, const char *path)
{
    if (mkdirat(dirfd, path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* A directory stream of its own: a dup() would share the file offset with
 * every other thread reading the same directory. */
static DIR *open_dir_stream(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir;

    if (fd < 0)
        return NULL;
    dir = fdopendir(fd);
    if (dir == NULL)
        close(fd);
    return dir;
}

/* Removes every temporary file left by an earlier server. */
static void remove_stale_temporaries(int tmp_fd)
{
    DIR *dir = open_dir_stream(tmp_fd);
    struct dirent *de;

    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, "up-", 3) == 0)
            unlinkat(tmp_fd, de->d_name, 0);
    }
    closedir(dir);
}

enum ft_err ft_store_open(struct ft_store **out, const char *root,
                          bool read_only, char *errbuf, size_t errlen)
{
    struct ft_store *st = NULL;
    enum ft_err err = FT_OK;
    const char *what = root;

    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return FT_ERR_NOMEM;
    st->root_fd = st->tmp_fd = st->lock_fd = -1;
    st->read_only = read_only;

    if (!read_only && mkdir(root, 0755) != 0 && errno != EEXIST)
        goto fail;
    st->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0)
        goto fail;
    if (!read_only) {
        what = FT_STORE_META;
        if (ensure_dir(st->root_fd, FT_STORE_META) != 0 ||
            ensure_dir(st->root_fd, TMP_DIR) != 0)
            goto fail;
        st->tmp_fd = openat(st->root_fd, TMP_DIR,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (st->tmp_fd < 0)
            goto fail;
        st->lock_fd = openat(st->root_fd, FT_STORE_META "/lock",
                             O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (st->lock_fd < 0)
            goto fail;
        if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            snprintf(errbuf, errlen, "%s is already served by another ft server",
                     root);
            err = FT_ERR_BUSY;
            goto out;
        }
        remove_stale_temporaries(st->tmp_fd);
    }
    *out = st;
    st = NULL;
    goto out;
fail:
    err = FT_ERR_IO;
    snprintf(errbuf, errlen, "%s: %s", what, strerror(errno));
out:
    ft_store_close(st);
    return err;
}

void ft_store_close(struct ft_store *st)
{
    if (st == NULL)
        return;
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    if (st->tmp_fd >= 0)
        close(st->tmp_fd);
    if (st->root_fd >= 0)
        close(st->root_fd);
    free(st);
}

static enum ft_err check_regular(struct ft_store *st, const char *name);

/* Checks a NUL-terminated name. */
static enum ft_err check_cname(const char *name)
{
    return ft_name_check(name, strlen(name));
}

enum ft_err ft_store_open_file(struct ft_store *st, const char *name, int *fd,
                               struct ft_store_entry *info)
{
    struct stat sb;
    enum ft_err err = check_cname(name);
    int f = -1;

    if (err != FT_OK)
        return err;
    /* O_NONBLOCK so that a FIFO planted in the root cannot block us. */
    f = openat(st->root_fd, name,
               O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0)
        return from_errno(errno);
    if (fstat(f, &sb) != 0) {
        err = from_errno(errno);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        err = FT_ERR_DENIED;
        goto out;
    }
    posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
    snprintf(info->name, sizeof(info->name), "%s", name);
    info->size = (uint64_t)sb.st_size;
    info->mtime = (int64_t)sb.st_mtime;
    info->mode = (uint32_t)(sb.st_mode & 07777);
    *fd = f;
    f = -1;
out:
    if (f >= 0)
        close(f);
    return err;
}

enum ft_err ft_store_upload_begin(struct ft_store *st, const char *name,
                                  struct ft_upload *up)
{
    uint8_t rnd[8];
    char hex[2 * sizeof(rnd) + 1];
    enum ft_err err = check_cname(name);

    up->fd = -1;
    up->tmp[0] = '\0';
    up->written = 0;
    up->has_meta = false;
    if (err != FT_OK)
        return err;
    if (st->read_only)
        return FT_ERR_READ_ONLY;
    snprintf(up->name, sizeof(up->name), "%s", name);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(up->tmp, sizeof(up->tmp), "up-%s", hex);
    up->fd = openat(st->tmp_fd, up->tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (up->fd < 0) {
        up->tmp[0] = '\0';
        return from_errno(errno);
    }
    return FT_OK;
}

enum ft_err ft_store_upload_write(struct ft_upload *up, const void *buf,
                                  size_t n)
{
    enum ft_err err = ft_io_write_file(up->fd, buf, n);
    uint64_t window = up->written / WRITEBACK_WINDOW_BYTES;

    if (err == FT_ERR_IO)
        return from_errno(errno);
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

enum ft_err ft_store_upload_commit(struct ft_store *st, struct ft_upload *up)
{
    enum ft_err err = FT_OK;

    if (fchmod(up->fd, 0644 | (up->has_meta ? up->mode & 0111 : 0)) != 0) {
        err = from_errno(errno);
        goto out;
    }
    if (up->has_meta) {
        struct timespec times[2] = {
            { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
            { .tv_sec = (time_t)up->mtime, .tv_nsec = 0 },
        };

        if (futimens(up->fd, times) != 0) {
            err = from_errno(errno);
            goto out;
        }
    }
    if (fsync(up->fd) != 0) {
        err = from_errno(errno);
        goto out;
    }
    if (renameat(st->tmp_fd, up->tmp, st->root_fd, up->name) != 0) {
        err = from_errno(errno);
        goto out;
    }
    up->tmp[0] = '\0';
    /* The rename itself must survive a crash too. */
    fsync(st->root_fd);
out:
    ft_store_upload_abort(st, up);
    return err;
}

void ft_store_upload_abort(struct ft_store *st, struct ft_upload *up)
{
    if (up->fd >= 0)
        close(up->fd);
    up->fd = -1;
    if (up->tmp[0] != '\0')
        unlinkat(st->tmp_fd, up->tmp, 0);
    up->tmp[0] = '\0';
}

enum ft_err ft_store_remove(struct ft_store *st, const char *name)
{
    enum ft_err err = check_cname(name);

    if (err != FT_OK)
        return err;
    if (st->read_only)
        return FT_ERR_READ_ONLY;
    err = check_regular(st, name);
    if (err != FT_OK)
        return err;
    if (unlinkat(st->root_fd, name, 0) != 0)
        return from_errno(errno);
    return FT_OK;
}

/* The regular file under name, not followed if a link: FT_OK or why not. */
static enum ft_err check_regular(struct ft_store *st, const char *name)
{
    struct stat sb;

    if (fstatat(st->root_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return from_errno(errno);
    return S_ISREG(sb.st_mode) ? FT_OK : FT_ERR_DENIED;
}

enum ft_err ft_store_move(struct ft_store *st, const char *from, const char *to)
{
    enum ft_err err = check_cname(from);

    if (err == FT_OK)
        err = check_cname(to);
    if (err != FT_OK)
        return err;
    if (st->read_only)
        return FT_ERR_READ_ONLY;
    err = check_regular(st, from);
    if (err != FT_OK)
        return err;
    if (renameat(st->root_fd, from, st->root_fd, to) != 0)
        return from_errno(errno);
    fsync(st->root_fd);
    return FT_OK;
}

enum ft_err ft_store_list(struct ft_store *st, ft_store_list_fn fn, void *ctx)
{
    struct ft_store_entry e;
    struct dirent *de;
    struct stat sb;
    enum ft_err err = FT_OK;
    DIR *dir = open_dir_stream(st->root_fd);

    if (dir == NULL)
        return from_errno(errno);
    while (err == FT_OK && (de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);

        if (ft_name_check(de->d_name, len) != FT_OK)
            continue;
        if (fstatat(st->root_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        memcpy(e.name, de->d_name, len + 1);
        e.size = (uint64_t)sb.st_size;
        e.mtime = (int64_t)sb.st_mtime;
        err = fn(&e, ctx);
    }
    closedir(dir);
    return err;
}
