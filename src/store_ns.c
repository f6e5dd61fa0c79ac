/* store_ns.c - the store's names: what one is, open one to read (and set
 * its time and mode), remove, move, make a folder, list. */
#define _GNU_SOURCE
#include "store_int.h"

#include "dirnames.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum ft_err dir_open_file(struct ft_store *store, const char *name,
                                 struct ft_store_file *file)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place p;
    struct stat sb;
    enum ft_err err;
    int f = -1;

    file->be = NULL;
    file->fd = -1;
    err = ft_store_resolve(st, name, false, &p);
    if (err != FT_OK)
        return err;
    /* O_NONBLOCK so that a FIFO planted in the root cannot block us. */
    f = openat(p.dir_fd, p.leaf,
               O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) {
        err = ft_store_from_errno(errno);
        goto out;
    }
    if (fstat(f, &sb) != 0) {
        err = ft_store_from_errno(errno);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        err = FT_ERR_DENIED;
        goto out;
    }
    posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
    snprintf(file->info.name, sizeof(file->info.name), "%s", name);
    file->info.size = (uint64_t)sb.st_size;
    file->info.mtime = (int64_t)sb.st_mtime;
    file->info.mode = (uint32_t)(sb.st_mode & 07777);
    ft_store_stamp_take(&file->stamp, &sb);
    file->be = st->base.be;
    file->fd = f;
    f = -1;
out:
    if (f >= 0)
        close(f);
    ft_store_place_release(st, &p);
    return err;
}

static void dir_file_close(struct ft_store_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->be = NULL;
}

static enum ft_err dir_file_read_at(struct ft_store_file *f, void *buf, size_t n,
                                    uint64_t off, size_t *got)
{
    return ft_io_pread_full(f->fd, buf, n, off, got);
}

static int dir_file_fd(const struct ft_store_file *f)
{
    return f->fd;
}

static enum ft_err dir_file_set_meta(struct ft_store *store,
                                     const struct ft_store_file *f, int64_t mtime,
                                     uint32_t mode, const uint8_t digest[32])
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct timespec times[2] = {
        { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
        { .tv_sec = (time_t)mtime, .tv_nsec = 0 },
    };
    struct ft_store_stamp now;
    struct stat sb;

    if (st->read_only)
        return FT_ERR_READ_ONLY;
    if (fstat(f->fd, &sb) != 0)
        return ft_store_from_errno(errno);
    ft_store_stamp_take(&now, &sb);
    /* The caller's digest is of the file it opened, perhaps not of this. */
    if (memcmp(&now, &f->stamp, sizeof(now)) != 0)
        return FT_ERR_CHANGED;
    /* A tree unpacked again mostly keeps its modes: one syscall less per
     * file of a resync that only retimes. */
    if (((sb.st_mode & 07777) != (0644 | (mode & 0111)) &&
         fchmod(f->fd, 0644 | (mode & 0111)) != 0) ||
        futimens(f->fd, times) != 0)
        return ft_store_from_errno(errno);
    ft_store_record_digest(f->fd, digest);
    ft_store_chunks_restamp(st, &now, f->fd);
    return FT_OK;
}

/* An entry's size, time and mode from what fstatat said of a file or a
 * folder; its name is the caller's to write. */
static void fill_entry(struct ft_store_entry *e, const struct stat *sb)
{
    e->size = S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
    e->mtime = (int64_t)sb->st_mtime;
    e->mode = (uint32_t)(sb->st_mode & (S_IFMT | 07777));
}

static enum ft_err dir_stat(struct ft_store *store, const char *name,
                            struct ft_store_entry *info)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place p;
    struct stat sb;
    enum ft_err err = ft_store_resolve(st, name, false, &p);

    if (err == FT_OK)
        err = ft_store_place_stat(st, &p, &sb);
    ft_store_place_release(st, &p);
    if (err != FT_OK)
        return err;
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
        return FT_ERR_DENIED;
    snprintf(info->name, sizeof(info->name), "%s", name);
    fill_entry(info, &sb);
    return FT_OK;
}

/* Removes everything inside the open folder dir_fd, never following a
 * link (a link is removed itself), at most FT_PATH_DEPTH_MAX deep; the
 * metadata folder met inside (a bind mount) stops it. */
static enum ft_err empty_folder(struct ft_store_dir *st, int dir_fd, int depth)
{
    DIR *dir;
    struct dirent *de;
    enum ft_err err = FT_OK;

    if (depth > FT_PATH_DEPTH_MAX)
        return FT_ERR_DENIED;
    dir = ft_store_dir_stream(dir_fd);
    if (dir == NULL)
        return ft_store_from_errno(errno);
    while (err == FT_OK && (de = readdir(dir)) != NULL) {
        struct stat sb;
        int sub;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dir_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            err = ft_store_from_errno(errno);
            break;
        }
        if (ft_store_is_meta(st, &sb)) {
            err = FT_ERR_DENIED;
        } else if (S_ISDIR(sb.st_mode)) {
            sub = openat(dir_fd, de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                err = ft_store_from_errno(errno);
                break;
            }
            err = empty_folder(st, sub, depth + 1);
            close(sub);
            if (err == FT_OK && unlinkat(dir_fd, de->d_name, AT_REMOVEDIR) != 0)
                err = ft_store_from_errno(errno);
        } else if (unlinkat(dir_fd, de->d_name, 0) != 0) {
            err = ft_store_from_errno(errno);
        } else {
            ft_store_chunks_drop(st, &sb);
        }
    }
    closedir(dir);
    return err;
}

static enum ft_err dir_remove(struct ft_store *store, const char *name,
                              bool recursive)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place p;
    struct stat sb;
    enum ft_err err = ft_store_resolve(st, name, false, &p);
    int sub = -1;

    if (err == FT_OK && st->read_only)
        err = FT_ERR_READ_ONLY;
    if (err == FT_OK)
        err = ft_store_place_stat(st, &p, &sb);
    if (err != FT_OK)
        goto out;
    if (S_ISREG(sb.st_mode)) {
        if (unlinkat(p.dir_fd, p.leaf, 0) != 0)
            err = ft_store_from_errno(errno);
        else
            ft_store_chunks_drop(st, &sb);
    } else if (S_ISDIR(sb.st_mode) && recursive) {
        sub = openat(p.dir_fd, p.leaf,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        err = sub < 0 ? ft_store_from_errno(errno) : empty_folder(st, sub, 1);
        if (err == FT_OK && unlinkat(p.dir_fd, p.leaf, AT_REMOVEDIR) != 0)
            err = ft_store_from_errno(errno);
    } else {
        err = FT_ERR_DENIED; /* a folder without recursive, or a link */
    }
out:
    if (sub >= 0)
        close(sub);
    ft_store_place_release(st, &p);
    return err;
}

static enum ft_err dir_move(struct ft_store *store, const char *from, const char *to)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place src, dst;
    struct stat sb;
    enum ft_err err = ft_store_resolve(st, from, false, &src);

    dst.dir_fd = -1;
    if (err == FT_OK && st->read_only)
        err = FT_ERR_READ_ONLY;
    if (err == FT_OK)
        err = ft_store_place_stat(st, &src, &sb);
    if (err == FT_OK && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
        err = FT_ERR_DENIED;
    if (err == FT_OK)
        err = ft_store_resolve(st, to, true, &dst);
    if (err == FT_OK && renameat(src.dir_fd, src.leaf, dst.dir_fd, dst.leaf) != 0)
        err = errno == EISDIR || errno == ENOTEMPTY || errno == EINVAL
                  ? FT_ERR_DENIED : ft_store_from_errno(errno);
    if (err == FT_OK) {
        fsync(dst.dir_fd);
        if (src.dir_fd != dst.dir_fd)
            fsync(src.dir_fd);
    }
    ft_store_place_release(st, &src);
    ft_store_place_release(st, &dst);
    return err;
}

static enum ft_err dir_mkdir(struct ft_store *store, const char *name, bool parents,
                             bool *made)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place p = { .dir_fd = -1 };
    struct stat sb;
    enum ft_err err = ft_name_check(name, strlen(name));

    *made = false;
    /* Checked before the folders above are made: a read-only store makes
     * none. */
    if (err == FT_OK && st->read_only)
        err = FT_ERR_READ_ONLY;
    if (err == FT_OK)
        err = ft_store_resolve(st, name, parents, &p);
    if (err != FT_OK)
        goto out;
    if (mkdirat(p.dir_fd, p.leaf, 0755) == 0) {
        *made = true;
        fsync(p.dir_fd);
    } else if (errno != EEXIST) {
        err = ft_store_from_errno(errno);
    } else if (!parents || ft_store_place_stat(st, &p, &sb) != FT_OK ||
               !S_ISDIR(sb.st_mode)) {
        err = FT_ERR_DENIED; /* a file or a link there, or a folder unasked */
    }
out:
    ft_store_place_release(st, &p);
    return err;
}

/* Lists the folder dir_fd, whose name (relative to the listed folder) is
 * prefix; descends into subfolders when recursive. top: dir_fd is the
 * store's root, the one folder whose ".ft" is not the client's. The
 * metadata folder is left out under any name. */
static enum ft_err list_folder(struct ft_store_dir *st, int dir_fd, bool top,
                               const char *prefix, bool recursive, int depth,
                               ft_store_list_fn fn, void *ctx)
{
    struct ft_store_entry e;
    char **names = NULL;
    size_t count = 0;
    DIR *dir = ft_store_dir_stream(dir_fd);
    enum ft_err err = dir != NULL ? FT_OK : ft_store_from_errno(errno);

    /* In byte order: a tree comes out in the order a sync compares it. */
    if (err == FT_OK)
        err = ft_dir_names(dir, &names, &count);
    for (size_t i = 0; err == FT_OK && i < count; i++) {
        const char *leaf = names[i];
        struct stat sb;
        int n;

        if ((top ? ft_name_check : ft_name_check_below)(leaf, strlen(leaf)) != FT_OK)
            continue; /* the metadata folder, odd names */
        if (fstatat(dir_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) ||
            ft_store_is_meta(st, &sb))
            continue;
        n = snprintf(e.name, sizeof(e.name), "%s%s%s", prefix,
                     prefix[0] ? "/" : "", leaf);
        if (n < 0 || (size_t)n >= sizeof(e.name))
            continue;
        fill_entry(&e, &sb);
        err = fn(&e, ctx);
        if (err == FT_OK && recursive && S_ISDIR(sb.st_mode) &&
            depth < FT_PATH_DEPTH_MAX) {
            int sub = openat(dir_fd, leaf,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            char sub_prefix[FT_PATH_MAX + 1];

            if (sub < 0)
                continue;
            snprintf(sub_prefix, sizeof(sub_prefix), "%s", e.name);
            err = list_folder(st, sub, false, sub_prefix, true, depth + 1, fn,
                              ctx);
            close(sub);
        }
    }
    ft_dir_names_free(names, count);
    if (dir != NULL)
        closedir(dir);
    return err;
}

/* Lists what is at p, asked for as folder: a folder's content, or a
 * file alone, under the name it was asked by, as ls(1) lists one. */
static enum ft_err list_place(struct ft_store_dir *st, struct place *p,
                              const char *shown, bool recursive,
                              ft_store_list_fn fn, void *ctx)
{
    struct ft_store_entry e;
    struct stat sb;
    enum ft_err err = ft_store_place_stat(st, p, &sb);
    int dir_fd;

    if (err != FT_OK)
        return err;
    if (S_ISREG(sb.st_mode)) {
        snprintf(e.name, sizeof(e.name), "%s", shown);
        fill_entry(&e, &sb);
        return fn(&e, ctx);
    }
    if (!S_ISDIR(sb.st_mode))
        return FT_ERR_NOT_FOUND;
    dir_fd = openat(p->dir_fd, p->leaf,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return ft_store_from_errno(errno);
    err = list_folder(st, dir_fd, false, "", recursive, 1, fn, ctx);
    close(dir_fd);
    return err;
}

static enum ft_err dir_list_as(struct ft_store *store, const char *folder,
                               const char *shown, bool recursive,
                               ft_store_list_fn fn, void *ctx)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct place p;
    enum ft_err err;

    if (folder == NULL || folder[0] == '\0')
        return list_folder(st, st->root_fd, true, "", recursive, 1, fn, ctx);
    err = ft_store_resolve(st, folder, false, &p);
    if (err == FT_OK)
        err = list_place(st, &p, shown, recursive, fn, ctx);
    ft_store_place_release(st, &p);
    return err;
}

struct usage {
    uint64_t bytes, files;
};

static enum ft_err count_entry(const struct ft_store_entry *e, void *ctx)
{
    struct usage *u = ctx;

    if ((e->mode & S_IFMT) == S_IFREG) {
        u->bytes += e->size;
        u->files++;
    }
    return FT_OK;
}

static enum ft_err dir_usage(struct ft_store *store, const char *folder,
                             uint64_t *bytes, uint64_t *files)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct usage u = { 0, 0 };
    enum ft_err err = dir_list_as(&st->base, folder, folder, true, count_entry, &u);

    if (err == FT_ERR_NOT_FOUND)
        err = FT_OK;
    *bytes = u.bytes;
    *files = u.files;
    return err;
}

void ft_store_dir_ns_ops(struct ft_store_backend *be)
{
    be->open_file = dir_open_file;
    be->file_close = dir_file_close;
    be->file_read_at = dir_file_read_at;
    be->file_fd = dir_file_fd;
    be->file_set_meta = dir_file_set_meta;
    be->stat = dir_stat;
    be->remove = dir_remove;
    be->move = dir_move;
    be->mkdir = dir_mkdir;
    be->list_as = dir_list_as;
    be->usage = dir_usage;
}
