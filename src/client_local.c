/* client_local.c - the client's disk: download parts, put sources, folders. */
#define _GNU_SOURCE
#include "client_local.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "io.h"
#include "resume.h"

#define PART_SUFFIX ".ft-part"
#define NOTE_SUFFIX ".src"
/* Bytes of a long name that its part's name keeps, at most. */
#define PART_PREFIX_MAX 160

/* Writes "PART.src" to out: where the note of the part called part is.
 * False if it does not fit (part_name makes names for which it does). */
static bool note_name(const char *part, char out[NAME_MAX + 1])
{
    int n = snprintf(out, NAME_MAX + 1, "%s" NOTE_SUFFIX, part);

    return n > 0 && n <= NAME_MAX;
}

/* The part's name for the download called leaf (see struct ft_part). */
static void part_name(const char *leaf, char out[NAME_MAX + 1])
{
    size_t n = strlen(leaf), keep = PART_PREFIX_MAX;
    uint8_t digest[FT_HASH_BYTES];
    char hex[FT_HASH_HEX_BYTES];
    struct ft_hash h;

    if (1 + n + strlen(PART_SUFFIX NOTE_SUFFIX) <= NAME_MAX) {
        snprintf(out, NAME_MAX + 1, ".%s" PART_SUFFIX, leaf);
        return;
    }
    /* Cut between characters, not inside one: the prefix stays readable. */
    while (keep > 0 && ((unsigned char)leaf[keep] & 0xC0) == 0x80)
        keep--;
    ft_hash_init(&h);
    ft_hash_update(&h, leaf, n);
    ft_hash_final(&h, digest);
    ft_hash_hex(digest, hex);
    snprintf(out, NAME_MAX + 1, ".%.*s~%s" PART_SUFFIX, (int)keep, leaf, hex);
}

enum ft_err ft_client_local_name_open(struct ft_local_name *n, const char *path,
                                      char *why, size_t cap)
{
    const char *slash = strrchr(path, '/');
    char *folder = NULL;
    int saved = 0;

    n->dir_fd = -1;
    n->path = path;
    n->leaf = slash != NULL ? slash + 1 : path;
    /* "x/" that is not there is no folder in the way: say it is missing. */
    if (n->leaf[0] == '\0' && faccessat(AT_FDCWD, path, F_OK, 0) != 0)
        saved = errno;
    else if (n->leaf[0] == '\0' || strcmp(n->leaf, ".") == 0 || strcmp(n->leaf, "..") == 0)
        saved = EISDIR;
    else if (strlen(n->leaf) > NAME_MAX)
        saved = ENAMETOOLONG;
    else if (slash == NULL)
        folder = strdup(".");
    else
        folder = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (saved == 0 && folder == NULL)
        saved = ENOMEM;
    if (saved == 0) {
        n->dir_fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        saved = n->dir_fd < 0 ? errno : 0;
    }
    free(folder);
    if (saved == 0)
        return FT_OK;
    snprintf(why, cap, "%s: %s", path, strerror(saved));
    return FT_ERR_IO;
}

void ft_client_local_name_close(struct ft_local_name *n)
{
    if (n->dir_fd >= 0)
        close(n->dir_fd);
    n->dir_fd = -1;
}

/* The note holds the size and mtime of the remote file the part came from,
 * so that a changed source is not resumed. */
static bool read_note(const struct ft_part *p, uint64_t *size, int64_t *mtime)
{
    char name[NAME_MAX + 1];
    FILE *f;
    bool ok;
    int fd;

    if (!note_name(p->name, name))
        return false;
    fd = openat(p->to.dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return false;
    }
    ok = fscanf(f, "%" SCNu64 " %" SCNd64, size, mtime) == 2;
    fclose(f);
    return ok;
}

bool ft_client_get_keeps_part(uint64_t size)
{
    return size > FT_RESUME_CHUNK_BYTES;
}

void ft_client_local_part_note(struct ft_part *p, uint64_t size, int64_t mtime)
{
    char name[NAME_MAX + 1], line[64];
    int fd, n;

    if (p->direct || !note_name(p->name, name))
        return;
    if (!ft_client_get_keeps_part(size)) {
        /* An earlier run's note no longer tells what the part holds. */
        if (p->noted)
            unlinkat(p->to.dir_fd, name, 0);
        p->noted = false;
        return;
    }
    fd = openat(p->to.dir_fd, name,
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRId64 "\n", size, mtime);
    p->noted = ft_io_write_file(fd, line, (size_t)n) == FT_OK;
    close(fd);
}

/* Takes up the part an earlier run left, if it has its note. */
static void reopen_part(struct ft_part *p)
{
    struct stat sb;
    int fd = openat(p->to.dir_fd, p->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

    p->resuming = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
                  read_note(p, &p->src_size, &p->src_mtime);
    if (!p->resuming) {
        if (fd >= 0)
            close(fd);
        return;
    }
    p->fd = fd;
    p->size = (uint64_t)sb.st_size;
    p->noted = true;
}

static bool is_device(const struct stat *sb)
{
    return S_ISCHR(sb->st_mode) || S_ISFIFO(sb->st_mode);
}

/* Opens the name itself when it is a character device or a FIFO (through
 * a link too: /dev/stdout): 1, or 0 when it is not one, -1 with errno when
 * it is one that cannot be opened. */
static int open_device(struct ft_part *p)
{
    struct stat sb;

    if (fstatat(p->to.dir_fd, p->to.leaf, &sb, 0) != 0 || !is_device(&sb))
        return 0;
    p->fd = openat(p->to.dir_fd, p->to.leaf, O_WRONLY | O_CLOEXEC);
    if (p->fd >= 0 && (fstat(p->fd, &sb) != 0 || !is_device(&sb))) {
        close(p->fd); /* swapped since: no rename over what it is now */
        p->fd = -1;
        errno = EAGAIN;
    }
    p->direct = true;
    return p->fd >= 0 ? 1 : -1;
}

enum ft_err ft_client_local_part_open(struct ft_part *p, const struct ft_local_name *to,
                                      bool resume, char *why, size_t cap)
{
    int device;

    memset(p, 0, sizeof(*p));
    p->to = *to;
    p->fd = -1;
    device = open_device(p);
    if (device > 0)
        return FT_OK;
    if (device < 0) {
        snprintf(why, cap, "%s: %s", to->path, strerror(errno));
        return FT_ERR_IO;
    }
    part_name(to->leaf, p->name);
    if (resume)
        reopen_part(p);
    if (!p->resuming) {
        p->fd = openat(to->dir_fd, p->name,
                       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        p->fresh = p->fd >= 0;
        if (p->fd < 0 && errno == EEXIST)
            p->fd = openat(to->dir_fd, p->name,
                           O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    }
    if (p->fd < 0) {
        snprintf(why, cap, "%s: %s", to->path, strerror(errno));
        return FT_ERR_IO;
    }
    return FT_OK;
}

/* Gives a download the server's modification time, and its executable bits
 * where the file is readable, as cp -p would (the rest follows umask). */
static int keep_metadata(int fd, const struct ft_transfer *t)
{
    struct timespec times[2] = {
        { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
        { .tv_sec = (time_t)t->mtime, .tv_nsec = 0 },
    };
    struct stat sb;
    mode_t exec;

    if (fstat(fd, &sb) != 0)
        return -1;
    exec = (mode_t)(t->mode & 0111) & ((sb.st_mode & 0444) >> 2);
    if (exec != 0 && fchmod(fd, (sb.st_mode & 07777) | exec) != 0)
        return -1;
    return futimens(fd, times);
}

/* Failures after which the part is worth keeping: the link went, not the
 * content. */
static bool worth_resuming(enum ft_err err)
{
    return err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT ||
           err == FT_ERR_TAMPERED || err == FT_ERR_INTERRUPTED;
}

/* Notes err and why for the file path unless an earlier failure stands. */
static void failed(enum ft_err *err, const char *path, char *why, size_t cap)
{
    if (*err != FT_OK)
        return;
    *err = FT_ERR_IO;
    snprintf(why, cap, "%s: %s", path, strerror(errno));
}

enum ft_err ft_client_local_part_publish(struct ft_part *p, enum ft_err err,
                                         const struct ft_transfer *t,
                                         char *why, size_t cap)
{
    char note[NAME_MAX + 1];
    int dir = p->to.dir_fd;

    if (p->direct) {
        if (close(p->fd) != 0)
            failed(&err, p->to.path, why, cap);
        p->fd = -1;
        return err;
    }
    if (err == FT_OK && keep_metadata(p->fd, t) != 0)
        failed(&err, p->to.path, why, cap);
    if (close(p->fd) != 0)
        failed(&err, p->to.path, why, cap);
    p->fd = -1;
    if (err == FT_OK && renameat(dir, p->name, dir, p->to.leaf) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
            err = FT_ERR_IO;
            snprintf(why, cap, "%s: a folder, which stands in the way", p->to.path);
        } else {
            failed(&err, p->to.path, why, cap);
        }
    }
    /* A part is kept only with the note that lets a later run continue
     * it: without one (a small file, or cut off before its READY) --continue
     * could only start over, and the part would be left for nothing. */
    if (err == FT_OK || !worth_resuming(err) || !p->noted) {
        if (err != FT_OK)
            unlinkat(dir, p->name, 0);
        /* A note is there only if this run wrote one or an earlier one
         * left it beside its part. */
        if ((!p->fresh || p->noted) && note_name(p->name, note))
            unlinkat(dir, note, 0);
    }
    return err;
}

enum ft_err ft_client_local_open_source(int dir_fd, const char *name, bool follow,
                                        int *fd, struct stat *sb, char *why,
                                        size_t cap)
{
    /* O_NONBLOCK: a FIFO named by mistake must not hang the open. */
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
                (follow ? 0 : O_NOFOLLOW);

    memset(sb, 0, sizeof(*sb));
    *fd = openat(dir_fd, name, flags);
    if (*fd < 0) {
        /* O_NOFOLLOW: ELOOP only for a link at the end of name. */
        if (errno == ELOOP && !follow)
            sb->st_mode = S_IFLNK;
        snprintf(why, cap, "%s", strerror(errno));
        return FT_ERR_IO;
    }
    if (fstat(*fd, sb) != 0) {
        snprintf(why, cap, "%s", strerror(errno));
        sb->st_mode = 0;
    } else if (S_ISDIR(sb->st_mode)) {
        return FT_OK;
    } else if (S_ISREG(sb->st_mode)) {
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
        return FT_OK;
    } else {
        snprintf(why, cap, "not a regular file");
    }
    close(*fd);
    *fd = -1;
    return FT_ERR_IO;
}

/* What stands where a folder should be, told after errno from an open of
 * leaf in dir_fd: a link, a file, or the failure's own words. */
static const char *in_the_way(int dir_fd, const char *leaf, int saved)
{
    struct stat sb;

    if (saved == ELOOP)
        return "a symbolic link, not followed";
    if (saved == ENOTDIR && fstatat(dir_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISREG(sb.st_mode) ? "a file, where a folder should be"
                                   : "a special file, where a folder should be";
    return strerror(saved);
}

/* Opens (making it if missing) the folder leaf in the folder dir_fd,
 * without following a link; -1 with errno, ELOOP for a link. */
static int open_folder(int dir_fd, const char *leaf)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    struct stat sb;
    int fd = openat(dir_fd, leaf, flags);

    if (fd < 0 && errno == ENOENT &&
        (mkdirat(dir_fd, leaf, 0777) == 0 || errno == EEXIST))
        fd = openat(dir_fd, leaf, flags);
    /* A link fails O_DIRECTORY before O_NOFOLLOW: say which it was. */
    if (fd < 0 && errno == ENOTDIR &&
        fstatat(dir_fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
        errno = ELOOP;
    return fd;
}

int ft_client_local_folder(int base_fd, const char *base_path, const char *rel,
                           size_t len, char *why, size_t cap)
{
    char leaf[NAME_MAX + 1] = "";
    int fd = base_fd, shown = (int)strlen(base_path);

    while (shown > 0 && base_path[shown - 1] == '/')
        shown--;

    for (size_t at = 0, n; at < len; at += n + 1) {
        const char *slash = memchr(rel + at, '/', len - at);
        int next;

        n = slash != NULL ? (size_t)(slash - rel - at) : len - at;
        if (n == 0)
            continue;
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            next = -1;
        } else if (rel[at] == '.' && (n == 1 || (n == 2 && rel[at + 1] == '.'))) {
            errno = EINVAL; /* never up, whatever a listing says */
            next = -1;
        } else {
            memcpy(leaf, rel + at, n);
            leaf[n] = '\0';
            next = open_folder(fd, leaf);
        }
        if (next < 0) {
            int saved = errno;

            snprintf(why, cap, "%.*s/%.*s: %s", shown, base_path, (int)(at + n), rel,
                     in_the_way(fd, leaf, saved));
            if (fd != base_fd)
                close(fd);
            errno = saved;
            return -1;
        }
        if (fd != base_fd)
            close(fd);
        fd = next;
    }
    return fd;
}

int ft_client_local_folder_kept(struct ft_local_kept *k, int base_fd,
                                const char *base_path, const char *rel, size_t len,
                                char *why, size_t cap)
{
    int fd;

    if (len == 0)
        return base_fd;
    if (k->rel != NULL && strlen(k->rel) == len && memcmp(k->rel, rel, len) == 0)
        return k->fd;
    fd = ft_client_local_folder(base_fd, base_path, rel, len, why, cap);
    if (fd < 0)
        return -1;
    ft_client_local_kept_close(k);
    k->fd = fd;
    k->rel = strndup(rel, len); /* out of memory: opened again next time */
    return fd;
}

void ft_client_local_kept_close(struct ft_local_kept *k)
{
    if (k->fd >= 0)
        close(k->fd);
    free(k->rel);
    k->fd = -1;
    k->rel = NULL;
}
