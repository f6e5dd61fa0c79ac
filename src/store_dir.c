/* store_dir.c - the directory backend's root: open, lock, confinement
 * beneath it, and its table of operations. */
#define _GNU_SOURCE
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hash.h"

enum ft_err ft_store_from_errno(int e)
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

/* Sessions are threads of one process. A flock on NFS is emulated with a
 * POSIX record lock, and those never conflict within one process; an open
 * file description lock conflicts between any two opens of the file, in
 * one process or two, on every file system that has record locks. */
int ft_store_lock(int fd)
{
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

    return fcntl(fd, F_OFD_SETLK, &l);
}

/* Opens the metadata folder leaf of parent_fd (shown to a person as
 * shown), making it (0700) if missing and make. Refused, with errbuf
 * saying how to fix it: a link, a folder of another user, or one that
 * others may write in (they could plant a key, or swap a temporary for a
 * link). */
static enum ft_err open_meta_dir(int parent_fd, const char *leaf, bool make,
                                 const char *shown, int *out, char *errbuf,
                                 size_t errlen)
{
    struct stat sb;
    int fd;

    *out = -1;
    if (make && mkdirat(parent_fd, leaf, 0700) != 0 && errno != EEXIST)
        goto fail;
    fd = openat(parent_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
        fstatat(parent_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        snprintf(errbuf, errlen, "%s is %s, not a folder: remove it (rm %s)",
                 shown, S_ISLNK(sb.st_mode) ? "a symbolic link" : "a file",
                 shown);
        return FT_ERR_DENIED;
    }
    if (fd < 0)
        goto fail;
    *out = fd; /* the caller's to close, whatever comes next */
    if (fstat(fd, &sb) != 0)
        goto fail;
    if (sb.st_uid != geteuid()) {
        snprintf(errbuf, errlen,
                 "%s belongs to uid %u, not to this server's user (uid %u): "
                 "chown %u %s",
                 shown, (unsigned)sb.st_uid, (unsigned)geteuid(),
                 (unsigned)geteuid(), shown);
        return FT_ERR_DENIED;
    }
    if (sb.st_mode & 022) {
        snprintf(errbuf, errlen, "%s is writable by others: chmod 700 %s",
                 shown, shown);
        return FT_ERR_DENIED;
    }
    return FT_OK;
fail:
    snprintf(errbuf, errlen, "%s: %s", shown, strerror(errno));
    return FT_ERR_IO;
}

/* The metadata folders: .ft, and for a store that changes, its tmp and
 * partial (each opened relative to .ft). A read-only store writes nothing,
 * so it makes none: without .ft (or on a file system it cannot write) it
 * goes without, and .ft at the root is still refused by its name. */
static enum ft_err open_meta(struct ft_store_dir *st, const char *root,
                             char *errbuf, size_t errlen)
{
    char shown[4][4096];
    enum ft_err err;
    struct stat sb;

    snprintf(shown[0], sizeof(shown[0]), "%s/%s", root, FT_STORE_META);
    snprintf(shown[1], sizeof(shown[1]), "%s/%s", root, TMP_DIR);
    snprintf(shown[2], sizeof(shown[2]), "%s/%s", root, PARTIAL_DIR);
    snprintf(shown[3], sizeof(shown[3]), "%s/%s", root, CHUNKS_DIR);
    err = open_meta_dir(st->root_fd, FT_STORE_META, !st->read_only, shown[0],
                        &st->meta_fd, errbuf, errlen);
    if (err == FT_ERR_IO && st->read_only &&
        (errno == ENOENT || errno == EACCES || errno == EPERM))
        return FT_OK;
    if (err != FT_OK)
        return err;
    if (fstat(st->meta_fd, &sb) != 0) {
        snprintf(errbuf, errlen, "%s: %s", shown[0], strerror(errno));
        return FT_ERR_IO;
    }
    st->meta_dev = sb.st_dev;
    st->meta_ino = sb.st_ino;
    /* A read-only store still reads the chunk lists there are. */
    if (st->read_only) {
        if (open_meta_dir(st->meta_fd, "chunks", false, shown[3], &st->chunks_fd,
                          errbuf, errlen) != FT_OK && st->chunks_fd >= 0) {
            close(st->chunks_fd);
            st->chunks_fd = -1;
        }
        if (errlen > 0)
            errbuf[0] = '\0';
        return FT_OK;
    }
    err = open_meta_dir(st->meta_fd, "tmp", true, shown[1], &st->tmp_fd,
                        errbuf, errlen);
    if (err == FT_OK)
        err = open_meta_dir(st->meta_fd, "partial", true, shown[2],
                            &st->partial_fd, errbuf, errlen);
    if (err == FT_OK)
        err = open_meta_dir(st->meta_fd, "chunks", true, shown[3],
                            &st->chunks_fd, errbuf, errlen);
    return err;
}

/* A dup() would share the file offset with every other thread reading the
 * same directory. */
DIR *ft_store_dir_stream(int dirfd)
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

/* Removes every temporary file left by an earlier server: uploads that
 * never finished, replaced versions it had no time to remove, and chunk
 * lists not yet complete. */
static void remove_stale_temporaries(int tmp_fd)
{
    DIR *dir = ft_store_dir_stream(tmp_fd);
    struct dirent *de;

    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, "up-", 3) == 0 || strncmp(de->d_name, "old-", 4) == 0 ||
            strncmp(de->d_name, "chunks-", 7) == 0)
            unlinkat(tmp_fd, de->d_name, 0);
    }
    closedir(dir);
}

/* syncfs reports write-back errors from Linux 5.8 on; before, it may
 * succeed when data was lost, and only fsync can be trusted. */
static bool syncfs_reports_errors(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;

    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
        return false;
    return major > 5 || (major == 5 && minor >= 8);
}

/* The table, filled once by the first open (dir_backend_fill, below). */
static struct ft_store_backend dir_backend;
static pthread_once_t dir_backend_once = PTHREAD_ONCE_INIT;
static void dir_backend_fill(void);


static int dir_meta_fd(const struct ft_store *store)
{
    return ft_store_dir_of(store)->meta_fd;
}

static int dir_root_fd(const struct ft_store *store)
{
    return ft_store_dir_of(store)->root_fd;
}

static void dir_close(struct ft_store *store)
{
    struct ft_store_dir *st = ft_store_dir_of(store);

    if (st == NULL)
        return;
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    if (st->tmp_fd >= 0)
        close(st->tmp_fd);
    if (st->partial_fd >= 0)
        close(st->partial_fd);
    if (st->chunks_fd >= 0)
        close(st->chunks_fd);
    if (st->meta_fd >= 0)
        close(st->meta_fd);
    if (st->root_fd >= 0)
        close(st->root_fd);
    pthread_mutex_destroy(&st->partial_lock);
    free(st);
}

enum ft_err ft_store_dir_open(struct ft_store **out, const char *root,
                              const struct ft_store_options *opt, char *errbuf,
                              size_t errlen)
{
    struct ft_store_dir *st = NULL;
    bool read_only = opt->read_only;
    enum ft_err err = FT_OK;

    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return FT_ERR_NOMEM;
    st->root_fd = st->meta_fd = st->tmp_fd = st->partial_fd = st->lock_fd = -1;
    st->chunks_fd = -1;
    pthread_once(&dir_backend_once, dir_backend_fill);
    st->base.be = &dir_backend;
    pthread_mutex_init(&st->partial_lock, NULL);
    st->read_only = read_only;
    st->syncfs_reports_errors = syncfs_reports_errors();

    if (!read_only && mkdir(root, 0755) != 0 && errno != EEXIST)
        goto fail;
    st->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0)
        goto fail;
    err = open_meta(st, root, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    if (!read_only) {
        st->lock_fd = openat(st->meta_fd, "lock",
                             O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (st->lock_fd < 0) {
            snprintf(errbuf, errlen, "%s/%s/lock: %s", root, FT_STORE_META,
                     strerror(errno));
            err = FT_ERR_IO;
            goto out;
        }
        if (ft_store_lock(st->lock_fd) != 0) {
            snprintf(errbuf, errlen, "%s is already served by another ft server",
                     root);
            err = FT_ERR_BUSY;
            goto out;
        }
        remove_stale_temporaries(st->tmp_fd);
        ft_store_chunks_sweep(st);
    }
    *out = &st->base;
    st = NULL;
    goto out;
fail:
    err = FT_ERR_IO;
    snprintf(errbuf, errlen, "%s: %s", root, strerror(errno));
out:
    if (st != NULL)
        dir_close(&st->base);
    return err;
}


bool ft_store_is_meta(const struct ft_store_dir *st, const struct stat *sb)
{
    return st->meta_fd >= 0 && S_ISDIR(sb->st_mode) &&
           sb->st_dev == st->meta_dev && sb->st_ino == st->meta_ino;
}

/* Opens the folder leaf of dir_fd, to go on resolving beneath it, unless it
 * is the metadata folder (errno EPERM then). */
static int open_folder(const struct ft_store_dir *st, int dir_fd, const char *leaf)
{
    int fd = openat(dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;

    if (fd >= 0 && st->meta_fd >= 0 &&
        (fstat(fd, &sb) != 0 || ft_store_is_meta(st, &sb))) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

void ft_store_place_release(struct ft_store_dir *st, struct place *p)
{
    if (p->dir_fd >= 0 && p->dir_fd != st->root_fd)
        close(p->dir_fd);
    p->dir_fd = -1;
}

enum ft_err ft_store_resolve(struct ft_store_dir *st, const char *name,
                             bool create, struct place *p)
{
    size_t len = strlen(name);
    const char *start = name;
    enum ft_err err = ft_name_check(name, len);

    p->dir_fd = -1;
    if (err != FT_OK)
        return err;
    p->dir_fd = st->root_fd;
    for (;;) {
        const char *slash = strchr(start, '/');
        size_t n = slash != NULL ? (size_t)(slash - start) : strlen(start);
        int next;

        memcpy(p->leaf, start, n);
        p->leaf[n] = '\0';
        if (slash == NULL)
            return FT_OK;
        /* Most folders are there already: made only when missing. */
        next = open_folder(st, p->dir_fd, p->leaf);
        if (next < 0 && errno == ENOENT && create &&
            (mkdirat(p->dir_fd, p->leaf, 0755) == 0 || errno == EEXIST))
            next = open_folder(st, p->dir_fd, p->leaf);
        if (next < 0)
            goto fail;
        ft_store_place_release(st, p);
        p->dir_fd = next;
        start = slash + 1;
    }
fail:
    /* A link or a file where a folder should be is refused, not entered;
     * the metadata folder, by another spelling, as by its own. */
    if (errno == EPERM)
        err = FT_ERR_BAD_NAME;
    else
        err = errno == ENOTDIR || errno == ELOOP ? FT_ERR_DENIED
                                                 : ft_store_from_errno(errno);
    ft_store_place_release(st, p);
    return err;
}

static enum ft_store_kind kind_of(const struct stat *sb)
{
    if (S_ISREG(sb->st_mode))
        return FT_STORE_FILE;
    if (S_ISDIR(sb->st_mode))
        return FT_STORE_FOLDER;
    return S_ISLNK(sb->st_mode) ? FT_STORE_LINK : FT_STORE_SPECIAL;
}

static enum ft_store_kind dir_obstacle(struct ft_store *store, const char *name,
                                       size_t *at)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    enum ft_store_kind kind = FT_STORE_NOTHING;
    size_t start = 0;
    int dir_fd = st->root_fd;

    *at = 0;
    if (ft_name_check(name, strlen(name)) != FT_OK)
        return FT_STORE_NOTHING;
    for (;;) {
        size_t n = strcspn(name + start, "/");
        char leaf[FT_NAME_MAX + 1];
        struct stat sb;
        int next;

        memcpy(leaf, name + start, n);
        leaf[n] = '\0';
        *at = start + n;
        if (fstatat(dir_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            kind = FT_STORE_NOTHING;
            break;
        }
        kind = ft_store_is_meta(st, &sb) ? FT_STORE_NOTHING : kind_of(&sb);
        if (name[*at] == '\0' || kind != FT_STORE_FOLDER)
            break;
        next = open_folder(st, dir_fd, leaf);
        if (next < 0) {
            kind = FT_STORE_NOTHING;
            break;
        }
        if (dir_fd != st->root_fd)
            close(dir_fd);
        dir_fd = next;
        start = *at + 1;
    }
    if (dir_fd != st->root_fd)
        close(dir_fd);
    return kind;
}

enum ft_err ft_store_place_stat(const struct ft_store_dir *st, struct place *p,
                                struct stat *sb)
{
    if (fstatat(p->dir_fd, p->leaf, sb, AT_SYMLINK_NOFOLLOW) != 0)
        return ft_store_from_errno(errno);
    return ft_store_is_meta(st, sb) ? FT_ERR_BAD_NAME : FT_OK;
}

/* A temporary's name need only be one nobody else holds, not a secret: the
 * store is served by one process (its lock), which removes stale ones when
 * it starts, and they are opened with O_EXCL. */
void ft_store_temp_name(struct ft_store_dir *st, const char *prefix, char *out,
                        size_t cap)
{
    uint64_t n = atomic_fetch_add(&st->next_temp, 1);

    snprintf(out, cap, "%s%016" PRIx64, prefix, n);
}

/* This file's operations, then each file's own. */
static void dir_backend_fill(void)
{
    dir_backend.name = "directory";
    dir_backend.caps = FT_STORE_CAN_WRITE_AT | FT_STORE_CAN_HOLD | FT_STORE_CAN_CHUNKS |
                       FT_STORE_CAN_KEEP | FT_STORE_CAN_FD;
    dir_backend.close = dir_close;
    dir_backend.meta_fd = dir_meta_fd;
    dir_backend.root_fd = dir_root_fd;
    dir_backend.obstacle = dir_obstacle;
    ft_store_dir_ns_ops(&dir_backend);
    ft_store_dir_upload_ops(&dir_backend);
    ft_store_dir_partial_ops(&dir_backend);
    ft_store_dir_digest_ops(&dir_backend);
    ft_store_dir_chunks_ops(&dir_backend);
}
