/* client_local.c - the client's disk: download parts, put sources, folders. */
#define _GNU_SOURCE
#include "client_local.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "resume.h"

/* Where the note of the part at part_path is: "PART.src". */
static void note_path(const char *part_path, char *out, size_t cap)
{
    snprintf(out, cap, "%s.src", part_path);
}

/* The note holds the size and mtime of the remote file the part came from,
 * so that a changed source is not resumed. */
static bool read_note(const char *part_path, uint64_t *size, int64_t *mtime)
{
    char path[FT_LOCAL_PATH_MAX + 8];
    FILE *f;
    bool ok;

    note_path(part_path, path, sizeof(path));
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    ok = fscanf(f, "%" SCNu64 " %" SCNd64, size, mtime) == 2;
    fclose(f);
    return ok;
}

void ft_client_local_part_note(struct ft_part *p, uint64_t size, int64_t mtime)
{
    char path[FT_LOCAL_PATH_MAX + 8], line[64];
    int fd, n;

    if (size <= FT_RESUME_CHUNK_BYTES)
        return;
    p->noted = true;
    note_path(p->path, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRId64 "\n", size, mtime);
    ft_io_write_file(fd, line, (size_t)n);
    close(fd);
}

/* The part's name: ".NAME.ft-part" in the folder of the final name. */
static int part_path(const char *local, char *out, size_t cap)
{
    char *copy_dir = strdup(local);
    char *copy_base = strdup(local);
    int n = -1;

    if (copy_dir != NULL && copy_base != NULL)
        n = snprintf(out, cap, "%s/.%s.ft-part", dirname(copy_dir),
                     basename(copy_base));
    free(copy_dir);
    free(copy_base);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Takes up the part an earlier run left, if it has its note. */
static void reopen_part(struct ft_part *p)
{
    struct stat sb;
    int fd = open(p->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

    p->resuming = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
                  read_note(p->path, &p->src_size, &p->src_mtime);
    if (!p->resuming) {
        if (fd >= 0)
            close(fd);
        return;
    }
    p->fd = fd;
    p->size = (uint64_t)sb.st_size;
}

enum ft_err ft_client_local_part_open(struct ft_part *p, const char *local_path,
                                      bool resume, char *why, size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (part_path(local_path, p->path, sizeof(p->path)) != 0) {
        snprintf(why, cap, "%s: name too long", local_path);
        return FT_ERR_USAGE;
    }
    if (resume)
        reopen_part(p);
    if (!p->resuming) {
        p->fd = open(p->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                     0666);
        p->fresh = p->fd >= 0;
        if (p->fd < 0 && errno == EEXIST)
            p->fd = open(p->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                         0666);
    }
    if (p->fd < 0) {
        snprintf(why, cap, "%s: %s", p->path, strerror(errno));
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

enum ft_err ft_client_local_part_publish(struct ft_part *p, const char *local_path,
                                         enum ft_err err, const struct ft_transfer *t,
                                         char *why, size_t cap)
{
    char note[FT_LOCAL_PATH_MAX + 8];

    if (err == FT_OK && keep_metadata(p->fd, t) != 0)
        failed(&err, p->path, why, cap);
    if (close(p->fd) != 0)
        failed(&err, p->path, why, cap);
    p->fd = -1;
    if (err == FT_OK && rename(p->path, local_path) != 0)
        failed(&err, local_path, why, cap);
    if (err == FT_OK || !worth_resuming(err)) {
        if (err != FT_OK)
            unlink(p->path);
        /* A note is there only if this run wrote one or an earlier one
         * left it beside its part. */
        if (!p->fresh || p->noted) {
            note_path(p->path, note, sizeof(note));
            unlink(note);
        }
    }
    return err;
}

enum ft_err ft_client_local_open_source(const char *path, int *fd, int64_t *size,
                                        char *why, size_t cap)
{
    struct stat sb;

    /* O_NONBLOCK: a FIFO named by mistake must not hang the open. */
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd >= 0)
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
    if (*fd < 0 || fstat(*fd, &sb) != 0)
        snprintf(why, cap, "%s", strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        snprintf(why, cap, "is a folder (use -r to copy it)");
    else if (!S_ISREG(sb.st_mode))
        snprintf(why, cap, "not a regular file");
    else {
        *size = (int64_t)sb.st_size;
        return FT_OK;
    }
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return FT_ERR_IO;
}

/* Makes the missing folders of path from byte start on (see
 * ft_client_local_make_parents). */
static int make_parents(const char *path, size_t start)
{
    char *copy = strdup(path);
    int rc = 0;

    if (copy == NULL)
        return -1;
    for (char *p = copy + start; *p != '\0' && rc == 0; p++) {
        struct stat sb;

        if (*p != '/' || p == copy)
            continue;
        *p = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST)
            rc = -1;
        else if (lstat(copy, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            errno = ELOOP;
            rc = -1;
        }
        *p = '/';
    }
    free(copy);
    return rc;
}

int ft_client_local_make_parents(char **made, const char *path, size_t start)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash != NULL ? (size_t)(slash - path) : 0;

    if (*made != NULL && strlen(*made) == len && strncmp(*made, path, len) == 0)
        return 0;
    free(*made);
    *made = NULL;
    if (make_parents(path, start) != 0)
        return -1;
    *made = strndup(path, len); /* out of memory: made again next time */
    return 0;
}
