/* store_digest.c - the BLAKE2b digest recorded with a stored file. */
#define _GNU_SOURCE
#include "store_int.h"

#include <string.h>
#include <sys/xattr.h>

/* Where a published file's digest is kept: an extended attribute, so it
 * goes with the file through renames and away with it on removal. */
#define DIGEST_XATTR "user.ft.blake2b256"

/* The record: the digest and what the file was when it was taken. */
struct digest_record {
    uint8_t magic[4];
    uint8_t digest[32];
    uint64_t size;
    int64_t mtime_s;
    int64_t mtime_ns;
    uint64_t ino;
};

void ft_store_stamp_take(struct ft_store_stamp *s, const struct stat *sb)
{
    s->size = (uint64_t)sb->st_size;
    s->ino = (uint64_t)sb->st_ino;
    s->mtime_s = (int64_t)sb->st_mtim.tv_sec;
    s->mtime_ns = (int64_t)sb->st_mtim.tv_nsec;
    s->ctime_s = (int64_t)sb->st_ctim.tv_sec;
    s->ctime_ns = (int64_t)sb->st_ctim.tv_nsec;
}

static void fill_record(struct digest_record *r, const struct stat *sb)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->magic, "ft1", 4);
    r->size = (uint64_t)sb->st_size;
    r->mtime_s = (int64_t)sb->st_mtim.tv_sec;
    r->mtime_ns = (int64_t)sb->st_mtim.tv_nsec;
    r->ino = (uint64_t)sb->st_ino;
}

/* Best effort: without extended attributes, gets hash the file instead. A
 * small file is hashed for less than its record would cost: where the
 * attribute does not fit in the inode, a block of its own. */
void ft_store_record_digest(int fd, const uint8_t digest[32])
{
    struct digest_record r;
    struct stat sb;

    if (fstat(fd, &sb) != 0 || sb.st_size < DIGEST_RECORD_MIN_BYTES)
        return;
    fill_record(&r, &sb);
    memcpy(r.digest, digest, sizeof(r.digest));
    fsetxattr(fd, DIGEST_XATTR, &r, sizeof(r), 0);
}

static void dir_file_remember(struct ft_store *store, const struct ft_store_file *f,
                              const uint8_t digest[32])
{
    struct ft_store_dir *st = ft_store_dir_of(store);
    struct ft_store_stamp now;
    struct stat sb;

    /* A record is a write: it changes the file's ctime, and a read-only
     * store changes nothing. A small file gets none (see above): its size
     * when opened says so without asking the disk. */
    if (st->read_only || f->stamp.size < DIGEST_RECORD_MIN_BYTES ||
        fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return;
    ft_store_stamp_take(&now, &sb);
    /* Written to while it was hashed: the digest may be of neither. */
    if (memcmp(&now, &f->stamp, sizeof(now)) != 0)
        return;
    ft_store_record_digest(f->fd, digest);
    /* The record changed the file's ctime: its chunk list stays valid. */
    ft_store_chunks_restamp(st, &now, f->fd);
}

enum ft_store_record ft_store_record_read(int fd, const struct stat *sb,
                                          uint8_t digest[32])
{
    struct digest_record have, want;

    if (fgetxattr(fd, DIGEST_XATTR, &have, sizeof(have)) != (ssize_t)sizeof(have) ||
        memcmp(have.magic, "ft1", 4) != 0)
        return FT_RECORD_NONE;
    fill_record(&want, sb);
    memcpy(want.digest, have.digest, sizeof(want.digest));
    memcpy(digest, have.digest, sizeof(have.digest));
    return memcmp(&have, &want, sizeof(have)) == 0 ? FT_RECORD_VALID
                                                   : FT_RECORD_STALE;
}

static bool dir_file_digest(const struct ft_store_file *f, uint8_t digest[32])
{
    uint8_t have[32];
    struct stat sb;

    /* A small file never has a record: no system call to find none. */
    if (f->stamp.size < DIGEST_RECORD_MIN_BYTES || fstat(f->fd, &sb) != 0 ||
        ft_store_record_read(f->fd, &sb, have) != FT_RECORD_VALID)
        return false;
    memcpy(digest, have, sizeof(have));
    return true;
}

void ft_store_dir_digest_ops(struct ft_store_backend *be)
{
    be->file_remember = dir_file_remember;
    be->file_digest = dir_file_digest;
}
