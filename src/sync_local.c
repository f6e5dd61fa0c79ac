/* sync_local.c - ft sync on this side's disk: the local tree listed,
 * entered, hashed, touched and pruned, from folder descriptors down and
 * never through a link. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_local.h"
#include "dirnames.h"
#include "io.h"
#include "sync_int.h"

/* How deep local folders may nest. */
#define DEPTH_MAX 64
/* Bytes read at a time while hashing. */
#define HASH_BUF (256 * 1024)

enum ft_err ft_sync_local_open(struct sync_local *l, bool *exists, bool *is_dir,
                               char *why, size_t cap)
{
    struct stat sb;

    l->root_fd = -1;
    l->kept = l->ahead = (struct ft_local_kept){ NULL, -1 };
    l->file.dir_fd = -1;
    *exists = stat(l->path, &sb) == 0;
    *is_dir = *exists && S_ISDIR(sb.st_mode);
    if (!*exists && errno != ENOENT) {
        snprintf(why, cap, "%s", strerror(errno));
        return FT_ERR_IO;
    }
    if (*is_dir) {
        l->root_fd = open(l->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->root_fd < 0) {
            snprintf(why, cap, "%s", strerror(errno));
            return FT_ERR_IO;
        }
        return FT_OK;
    }
    if (*exists && !S_ISREG(sb.st_mode)) {
        snprintf(why, cap, "not a regular file or folder");
        return FT_ERR_IO;
    }
    return FT_OK;
}

void ft_sync_local_close(struct sync_local *l)
{
    if (l->root_fd >= 0)
        close(l->root_fd);
    ft_client_local_kept_close(&l->kept);
    ft_client_local_kept_close(&l->ahead);
    if (l->single)
        ft_client_local_name_close(&l->file);
    l->root_fd = -1;
    l->single = false;
}

static enum sync_type type_of(mode_t m)
{
    return S_ISREG(m) ? SYNC_FILE : S_ISDIR(m) ? SYNC_DIR : SYNC_OTHER;
}

/* A walk under way: the name of the entry at hand, built in place (a
 * folder's name is its entries' prefix), and where the entries go. */
struct walk {
    struct sync *s;
    bool tell;
    sync_walk_fn fn;
    void *ctx;
    enum ft_err stop; /* what fn returned, which ends the walk */
    char name[FT_WIRE_NAME_MAX + 1];
};

static enum ft_err walk(struct walk *w, int fd, size_t rel_len, int depth);

/* The local path of rel beneath the root, as the user would write it. */
static char *walk_path(const struct sync *s, const char *rel)
{
    char *out = NULL;

    return asprintf(&out, "%s%s%s", s->local.path, rel[0] ? "/" : "", rel) < 0 ? NULL
                                                                               : out;
}

/* Tells that the walk failed at rel; returns FT_ERR_IO. */
static enum ft_err walk_failed(struct sync *s, const char *rel, const char *why)
{
    char *path = walk_path(s, rel);

    ft_sync_failed(s, path != NULL ? path : rel, FT_ERR_IO, why);
    free(path);
    return FT_ERR_IO;
}

/* Tells of the entry leaf of the folder dir_fd (w->name's first rel_len
 * bytes beneath the root) and, for a folder, of all it holds. */
static enum ft_err walk_entry(struct walk *w, int dir_fd, size_t rel_len,
                              const char *leaf, int depth)
{
    struct sync *s = w->s;
    char *name = w->name;
    size_t leaf_len = strlen(leaf), at = rel_len + (rel_len > 0);
    struct stat sb;
    struct sync_entry e;
    int fd;

    if (at + leaf_len > FT_WIRE_NAME_MAX) {
        name[rel_len] = '\0';
        return walk_failed(s, name, "a name too long below it, left out");
    }
    if (rel_len > 0)
        name[rel_len] = '/';
    memcpy(name + at, leaf, leaf_len + 1);
    if (fstatat(dir_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return walk_failed(s, name, strerror(errno));
    e = (struct sync_entry){ name, (uint64_t)sb.st_size, (int64_t)sb.st_mtime,
                             (uint32_t)sb.st_mode, type_of(sb.st_mode) };
    if (e.type == SYNC_OTHER && w->tell) {
        /* Left out of SRC: DST's entry of that name is an extra. */
        char *path = walk_path(s, name);

        ft_sync_skipped(s, path != NULL ? path : name, "not a regular file or folder");
        free(path);
        return FT_OK;
    }
    if (e.type != SYNC_FILE)
        e.size = 0;
    if ((w->stop = w->fn(w->ctx, &e)) != FT_OK)
        return w->stop;
    if (e.type != SYNC_DIR)
        return FT_OK;
    fd = openat(dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return walk_failed(s, name, strerror(errno));
    return walk(w, fd, at + leaf_len, depth + 1);
}

/* Walks the folder fd (which this closes), w->name's first rel_len bytes
 * beneath the root, and everything below it. */
static enum ft_err walk(struct walk *w, int fd, size_t rel_len, int depth)
{
    DIR *d = fdopendir(fd);
    char **leaves = NULL;
    size_t n = 0;
    enum ft_err err = FT_OK;

    w->name[rel_len] = '\0';
    if (d == NULL) {
        err = walk_failed(w->s, w->name, strerror(errno));
        close(fd);
        return err;
    }
    if (depth > DEPTH_MAX)
        err = walk_failed(w->s, w->name, "folders nested too deep");
    else if (ft_dir_names(d, &leaves, &n) != FT_OK)
        err = ft_sync_failed(w->s, NULL, FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (err == FT_OK) {
            err = walk_entry(w, dirfd(d), rel_len, leaves[i], depth);
            if (w->stop == FT_OK && ft_sync_goes_on(err))
                err = FT_OK; /* told; the walk goes on */
        }
    }
    ft_dir_names_free(leaves, n);
    closedir(d);
    return err;
}

enum ft_err ft_sync_local_list(struct sync *s, bool tell, sync_walk_fn fn, void *ctx)
{
    struct walk *w;
    enum ft_err err;
    int fd;

    if (s->local.root_fd < 0)
        return FT_OK;
    if ((w = malloc(sizeof(*w))) == NULL)
        return ft_sync_failed(s, NULL, FT_ERR_NOMEM, "out of memory");
    *w = (struct walk){ .s = s, .tell = tell, .fn = fn, .ctx = ctx, .stop = FT_OK };
    /* A description of its own: a dup would share the reading offset,
     * and a second walk (of a listing merged again) find nothing. */
    fd = openat(s->local.root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    err = fd < 0 ? ft_sync_failed(s, s->local.path, FT_ERR_IO, strerror(errno))
                 : walk(w, fd, 0, 1);
    err = w->stop != FT_OK ? w->stop : err;
    free(w);
    return err;
}

int ft_sync_local_dir(struct sync_local *l, struct ft_local_kept *k, const char *name,
                      bool make, const char **leaf, char *why, size_t cap)
{
    const char *slash = strrchr(name, '/');
    size_t len = slash != NULL ? (size_t)(slash - name) : 0;

    if (l->single) {
        *leaf = l->file.leaf;
        return l->file.dir_fd;
    }
    *leaf = slash != NULL ? slash + 1 : name;
    if (!make && len > 0 &&
        !(k->rel != NULL && strlen(k->rel) == len && memcmp(k->rel, name, len) == 0)) {
        /* Only the folders the plan saw are entered: one that went
         * missing since would be made, which a source must not be. */
        struct stat sb;
        char *dir = strndup(name, len);
        int ok = dir != NULL && fstatat(l->root_fd, dir, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(sb.st_mode);

        free(dir);
        if (!ok) {
            snprintf(why, cap, "%s/%.*s: no longer a folder", l->path, (int)len, name);
            return -1;
        }
    }
    return ft_client_local_folder_kept(k, l->root_fd, l->path, name, len, why, cap);
}

/* Removes everything in the folder fd (which this closes). */
static int empty_folder(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        close(fd);
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        int sub;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM)
            rc = -1;
        else if (depth >= DEPTH_MAX)
            rc = (errno = ELOOP, -1);
        else if ((sub = openat(dirfd(d), de->d_name,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
                 empty_folder(sub, depth + 1) != 0 ||
                 unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

enum ft_err ft_sync_local_remove(int dir_fd, const char *leaf, char *why,
                                 size_t cap)
{
    int fd;

    if (unlinkat(dir_fd, leaf, 0) == 0)
        return FT_OK;
    if (errno == EISDIR || errno == EPERM) {
        fd = openat(dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && empty_folder(fd, 1) == 0 &&
            unlinkat(dir_fd, leaf, AT_REMOVEDIR) == 0)
            return FT_OK;
    }
    snprintf(why, cap, "cannot remove: %s", strerror(errno));
    return FT_ERR_IO;
}

enum ft_err ft_sync_local_hash(int dir_fd, const char *leaf,
                               uint8_t out[FT_HASH_BYTES], char *why, size_t cap)
{
    int fd = openat(dir_fd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    char *buf = malloc(HASH_BUF);
    struct ft_hash h;
    struct stat sb;
    uint64_t off = 0;
    size_t got = 0;
    enum ft_err err = FT_OK;

    if (fd < 0 || buf == NULL || fstat(fd, &sb) != 0) {
        snprintf(why, cap, "%s", buf == NULL ? "out of memory" : strerror(errno));
        err = buf == NULL ? FT_ERR_NOMEM : FT_ERR_IO;
        goto out;
    }
    /* Swapped for a FIFO or a device since the walk saw a file: reading
     * one would hash whatever it yields, or nothing. */
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, cap, "no longer a regular file");
        err = FT_ERR_CHANGED;
        goto out;
    }
    ft_hash_init(&h);
    do {
        err = ft_io_pread_full(fd, buf, HASH_BUF, off, &got);
        if (err != FT_OK) {
            snprintf(why, cap, "%s", strerror(errno));
            goto out;
        }
        ft_hash_update(&h, buf, got);
        off += got;
    } while (got == HASH_BUF);
    ft_hash_final(&h, out);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return err;
}

enum ft_err ft_sync_local_set_meta(int dir_fd, const char *leaf, int64_t mtime,
                                   bool exec, char *why, size_t cap)
{
    int fd = openat(dir_fd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)mtime, 0 } };
    struct stat sb;
    mode_t mode;
    enum ft_err err = FT_OK;

    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(why, cap, "%s", strerror(errno));
        err = FT_ERR_IO;
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, cap, "not a regular file");
        err = FT_ERR_IO;
        goto out;
    }
    /* As a download: executable where readable, or not at all. */
    mode = sb.st_mode & 07666;
    if (exec)
        mode |= (sb.st_mode & 0444) >> 2;
    if (fchmod(fd, mode) != 0 || futimens(fd, ts) != 0) {
        snprintf(why, cap, "%s", strerror(errno));
        err = FT_ERR_IO;
    }
out:
    if (fd >= 0)
        close(fd);
    return err;
}
