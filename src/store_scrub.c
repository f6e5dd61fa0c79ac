/* store_scrub.c - the scrub: every stored file with a recorded digest
 * read again and checked against it, nothing changed.
 *
 * It takes no lock and needs no server: it opens the root itself and only
 * reads, so it runs beside a server that serves the store. A file the
 * server replaces meanwhile is either the old one, still open here, or
 * the new one with its own record; one written to while it is read is
 * "changed", never rot. */
#define _GNU_SOURCE
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

#define SCRUB_BUFFER (256 * 1024)

struct scrub {
    ft_scrub_fn report;
    void *ctx;
    struct ft_scrub_stats *stats;
    uint8_t *buf;
    char name[FT_PATH_MAX + 1];
};

/* Opens without touching the access time where the kernel lets us (the
 * file's owner, or CAP_FOWNER): the scrub changes nothing. */
static int open_quietly(int dir_fd, const char *leaf, int flags)
{
    int fd = openat(dir_fd, leaf, flags | O_NOATIME | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 && errno == EPERM)
        fd = openat(dir_fd, leaf, flags | O_NOFOLLOW | O_CLOEXEC);
    return fd;
}

static void finding(struct scrub *sc, enum ft_scrub_finding what, uint64_t size,
                    const uint8_t *recorded, const uint8_t *actual, int err)
{
    sc->report(sc->ctx, what, sc->name, size, recorded, actual, err);
}

/* Hashes fd whole into digest; false (errno set) on a read error. */
static bool hash_file(struct scrub *sc, int fd, uint8_t digest[32])
{
    struct ft_hash h;
    ssize_t n;

    ft_hash_init(&h);
    while ((n = read(fd, sc->buf, SCRUB_BUFFER)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        ft_hash_update(&h, sc->buf, (size_t)n);
        sc->stats->bytes += (uint64_t)n;
    }
    ft_hash_final(&h, digest);
    return true;
}

static void check_file(struct scrub *sc, int dir_fd, const char *leaf)
{
    uint8_t recorded[32], actual[32], again[32];
    struct stat sb, after;
    int fd = open_quietly(dir_fd, leaf, O_RDONLY | O_NONBLOCK | O_NOCTTY);

    sc->stats->files++;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        sc->stats->unreadable++;
        finding(sc, FT_SCRUB_UNREADABLE, 0, NULL, NULL, errno);
        goto out;
    }
    switch (ft_store_record_read(fd, &sb, recorded)) {
    case FT_RECORD_NONE:
        sc->stats->unrecorded++;
        goto out;
    case FT_RECORD_STALE:
        sc->stats->changed++;
        finding(sc, FT_SCRUB_CHANGED, (uint64_t)sb.st_size, recorded, NULL, 0);
        goto out;
    case FT_RECORD_VALID:
        break;
    }
    if (!hash_file(sc, fd, actual)) {
        sc->stats->unreadable++;
        finding(sc, FT_SCRUB_UNREADABLE, (uint64_t)sb.st_size, NULL, NULL, errno);
        goto out;
    }
    /* Written to while it was read: what was hashed may be of neither. */
    if (fstat(fd, &after) != 0 ||
        ft_store_record_read(fd, &after, again) != FT_RECORD_VALID ||
        after.st_ctim.tv_sec != sb.st_ctim.tv_sec ||
        after.st_ctim.tv_nsec != sb.st_ctim.tv_nsec) {
        sc->stats->changed++;
        finding(sc, FT_SCRUB_CHANGED, (uint64_t)sb.st_size, recorded, NULL, 0);
        goto out;
    }
    sc->stats->checked++;
    if (!ft_hash_equal(recorded, actual)) {
        sc->stats->mismatched++;
        finding(sc, FT_SCRUB_MISMATCH, (uint64_t)sb.st_size, recorded, actual, 0);
    }
out:
    if (fd >= 0)
        close(fd);
}

/* Walks the folder dir_fd (owned), whose name is sc->name[0..len). Depth
 * is bounded by the name's length: each level adds at least two bytes. */
static void walk(struct scrub *sc, int dir_fd, size_t len)
{
    DIR *dir = fdopendir(dir_fd);
    struct dirent *de;

    if (dir == NULL) {
        close(dir_fd);
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        size_t leaf = strlen(de->d_name), at = len > 0 ? len + 1 : 0;
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (len == 0 && strcmp(de->d_name, FT_STORE_META) == 0) ||
            at + leaf > FT_PATH_MAX ||
            fstatat(dirfd(dir), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (len > 0)
            sc->name[len] = '/';
        memcpy(sc->name + at, de->d_name, leaf + 1);
        if (S_ISREG(sb.st_mode)) {
            check_file(sc, dirfd(dir), de->d_name);
        } else if (S_ISDIR(sb.st_mode)) {
            int sub = open_quietly(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY);

            if (sub >= 0)
                walk(sc, sub, at + leaf);
        }
        sc->name[len] = '\0';
    }
    closedir(dir);
}

enum ft_err ft_store_scrub(const char *root, ft_scrub_fn report, void *ctx,
                           struct ft_scrub_stats *stats, char *errbuf, size_t errlen)
{
    struct scrub sc = { .report = report, .ctx = ctx, .stats = stats };
    int fd;

    memset(stats, 0, sizeof(*stats));
    if (ft_hash_library_init() != 0) {
        snprintf(errbuf, errlen, "libsodium cannot start");
        return FT_ERR_IO;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "%s: %s", root, strerror(errno));
        return FT_ERR_IO;
    }
    sc.buf = malloc(SCRUB_BUFFER);
    if (sc.buf == NULL) {
        close(fd);
        return FT_ERR_NOMEM;
    }
    walk(&sc, fd, 0);
    free(sc.buf);
    return FT_OK;
}
