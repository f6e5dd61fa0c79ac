/* store_partial.c - kept interrupted uploads (.ft/partial): resumed,
 * bounded, expired. */
#define _GNU_SOURCE
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Every client that sends PUT then ERROR leaves one: beyond these, the
 * oldest are dropped (the newest is always kept, however large). */
#define PARTIAL_MAX_FILES 256
#define PARTIAL_MAX_BYTES (64ull * 1024 * 1024 * 1024)
/* The folder is read for expiry at most this often (or once per ttl, when
 * that is shorter), not at every upload. */
#define PARTIAL_SCAN_INTERVAL_S 60

struct part {
    char name[64];
    int64_t mtime_ns;
    uint64_t size;
};

/* Whether fd's file is still the one named name in dir_fd: a kept upload
 * is a session's while the session holds its lock and its name still leads
 * to it (an expiry may have removed it between the open and the lock, and
 * another session made a new one under the name). */
static bool still_named(int fd, int dir_fd, const char *name)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 &&
           fstatat(dir_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Removes the kept upload name unless a session holds it. Its name is
 * removed only under its lock, and only if it still leads to the file
 * locked: never another session's upload made meanwhile. */
static bool drop_part(struct ft_store_dir *st, const char *name)
{
    int fd = openat(st->partial_fd, name,
                    O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    bool dropped = false;

    if (fd < 0)
        return false;
    if (ft_store_lock(fd) == 0 && still_named(fd, st->partial_fd, name))
        dropped = unlinkat(st->partial_fd, name, 0) == 0;
    close(fd);
    return dropped;
}

static int newest_first(const void *a, const void *b)
{
    const struct part *x = a, *y = b;

    return x->mtime_ns < y->mtime_ns ? 1 : x->mtime_ns > y->mtime_ns ? -1 : 0;
}

/* The kept uploads that have not expired, in *parts (the caller's to
 * free); expired ones are dropped on the way. */
static size_t read_parts(struct ft_store_dir *st, int64_t ttl_s, struct part **parts)
{
    DIR *dir = ft_store_dir_stream(st->partial_fd);
    struct dirent *de;
    size_t n = 0, cap = 0;
    time_t now = time(NULL);

    *parts = NULL;
    while (dir != NULL && (de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        struct stat sb;
        struct part *grown;

        if (strncmp(de->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) != 0 ||
            len >= sizeof((*parts)->name) ||
            fstatat(st->partial_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        if (now - sb.st_mtime > ttl_s && drop_part(st, de->d_name))
            continue;
        if (n == cap) {
            cap = cap != 0 ? 2 * cap : PARTIAL_MAX_FILES;
            grown = realloc(*parts, cap * sizeof(**parts));
            if (grown == NULL)
                break;
            *parts = grown;
        }
        memcpy((*parts)[n].name, de->d_name, len + 1); /* fits: checked above */
        (*parts)[n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
                               sb.st_mtim.tv_nsec;
        (*parts)[n].size = (uint64_t)sb.st_size;
        n++;
    }
    if (dir != NULL)
        closedir(dir);
    return n;
}

/* Expires kept uploads older than ttl_s and drops the oldest beyond the
 * bounds; without force, only if the last time was long enough ago. One
 * session at a time does it; the others go on. */
static void trim_partials(struct ft_store_dir *st, int64_t ttl_s, bool force)
{
    int64_t interval = ttl_s < PARTIAL_SCAN_INTERVAL_S ? ttl_s
                                                       : PARTIAL_SCAN_INTERVAL_S;
    int64_t now = (int64_t)time(NULL);
    uint64_t files = 0, bytes = 0;
    struct part *parts = NULL;
    size_t n;

    atomic_store(&st->partial_ttl_s, ttl_s);
    if (st->partial_fd < 0 ||
        (!force && now - atomic_load(&st->partial_scanned_at) < interval))
        return;
    /* An expiry another session is making will do; a bound must hold. */
    if (force)
        pthread_mutex_lock(&st->partial_lock);
    else if (pthread_mutex_trylock(&st->partial_lock) != 0)
        return;
    atomic_store(&st->partial_scanned_at, now);
    n = read_parts(st, ttl_s, &parts);
    if (n > 0)
        qsort(parts, n, sizeof(*parts), newest_first);
    for (size_t i = 0; i < n; i++) {
        bool fits = files < PARTIAL_MAX_FILES &&
                    bytes + parts[i].size <= PARTIAL_MAX_BYTES;

        if (i == 0 || fits || !drop_part(st, parts[i].name)) {
            files++;
            bytes += parts[i].size;
        }
    }
    atomic_store(&st->partial_files, files);
    atomic_store(&st->partial_bytes, bytes);
    pthread_mutex_unlock(&st->partial_lock);
    free(parts);
}

static void dir_expire_partials(struct ft_store *store, int64_t ttl_s)
{
    struct ft_store_dir *st = ft_store_dir_of(store);

    trim_partials(st, ttl_s, true);
}

/* The name under .ft/partial of the upload kept under key. */
static void part_name(const char *key, char *part, size_t cap)
{
    snprintf(part, cap, PARTIAL_PREFIX "%.40s", key);
}

/* Opens the kept upload part for this session alone, or -1: another
 * session holds it, or it went between the open and the lock. */
static int open_part(struct ft_store_dir *st, const char *part, struct stat *sb)
{
    int fd = openat(st->partial_fd, part,
                    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                        O_CLOEXEC,
                    0600);

    if (fd >= 0 && (ft_store_lock(fd) != 0 || fstat(fd, sb) != 0 ||
                    !S_ISREG(sb->st_mode) ||
                    !still_named(fd, st->partial_fd, part))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static enum ft_err dir_upload_begin_kept(struct ft_store *store, const char *name,
                                         const char *key, int64_t ttl_s,
                                         struct ft_upload *up, uint64_t *have)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct stat sb;
    char part[48];
    enum ft_err err;
    int fd;

    *have = 0;
    err = ft_store_dir_upload_begin(&st->base, name, up);
    if (err != FT_OK)
        return err;
    trim_partials(st, ttl_s, false);
    part_name(key, part, sizeof(part));
    /* Another session writing the same upload keeps it: this one then goes
     * to a plain temporary and cannot be resumed. */
    fd = open_part(st, part, &sb);
    if (fd < 0)
        return FT_OK;
    /* Trade the plain temporary for the kept one. */
    close(up->fd);
    unlinkat(up->tmp_dir_fd, up->tmp, 0);
    up->fd = fd;
    up->tmp_dir_fd = st->partial_fd;
    snprintf(up->tmp, sizeof(up->tmp), "%s", part);
    *have = (uint64_t)sb.st_size;
    return FT_OK;
}

static enum ft_err dir_partial_size(struct ft_store *store, const char *key,
                                    int64_t ttl_s, uint64_t *size)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct stat sb;
    char part[48];

    *size = 0;
    part_name(key, part, sizeof(part));
    if (st->partial_fd < 0 ||
        fstatat(st->partial_fd, part, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(sb.st_mode) || time(NULL) - sb.st_mtime > ttl_s)
        return FT_ERR_NOT_FOUND;
    *size = (uint64_t)sb.st_size;
    return FT_OK;
}

static void dir_upload_keep(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    bool kept = up->fd >= 0 && up->tmp_dir_fd == st->partial_fd;
    uint64_t files = 0, bytes = 0;

    if (kept) {
        up->tmp[0] = '\0'; /* so that abort leaves it for a later resume */
        /* Counted as a new one even when it resumed one: an overcount
         * only brings the next trim sooner, which counts afresh. */
        files = atomic_fetch_add(&st->partial_files, 1) + 1;
        bytes = atomic_fetch_add(&st->partial_bytes, up->written) + up->written;
    }
    ft_store_dir_upload_abort(&st->base, up);
    if (files > PARTIAL_MAX_FILES || bytes > PARTIAL_MAX_BYTES)
        trim_partials(st, atomic_load(&st->partial_ttl_s), true);
}

static uint64_t dir_partial_count(struct ft_store *store)
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    DIR *dir = st->partial_fd >= 0 ? ft_store_dir_stream(st->partial_fd) : NULL;
    struct dirent *de;
    uint64_t n = 0;

    while (dir != NULL && (de = readdir(dir)) != NULL)
        n += strncmp(de->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) == 0;
    if (dir != NULL)
        closedir(dir);
    return n;
}

void ft_store_dir_partial_ops(struct ft_store_backend *be)
{
    be->expire_partials = dir_expire_partials;
    be->upload_begin_kept = dir_upload_begin_kept;
    be->partial_size = dir_partial_size;
    be->upload_keep = dir_upload_keep;
    be->partial_count = dir_partial_count;
}
