/* store_int.h - what the directory backend's files share: the store,
 * confinement, its operations for the table (store_backend.h). */
#ifndef FT_STORE_INT_H
#define FT_STORE_INT_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store_backend.h"

#define TMP_DIR FT_STORE_META "/tmp"
/* Interrupted uploads kept for a while, under a name derived from what
 * they are an upload of, so that only the same upload resumes them. */
#define PARTIAL_DIR FT_STORE_META "/partial"
#define PARTIAL_PREFIX "part-"
/* The chunk lists of stored files (store_chunks.c). */
#define CHUNKS_DIR FT_STORE_META "/chunks"
/* A file smaller than this has no digest record: hashing it again costs
 * less than the record would (store_digest.c). */
#define DIGEST_RECORD_MIN_BYTES (64 * 1024)

struct ft_store_dir {
    struct ft_store base; /* first: the store handed out is &base */
    int root_fd;
    /* The metadata folder, -1 on a read-only store that has none; what it
     * is, whatever name reaches it (a case-folding file system, a bind
     * mount), is never served. */
    int meta_fd;
    dev_t meta_dev;
    ino_t meta_ino;
    int tmp_fd;
    int partial_fd;
    int chunks_fd; /* .ft/chunks: the chunk lists; -1 when there is none */
    int lock_fd;
    bool read_only;
    atomic_uint_fast64_t next_temp; /* the number in the next temporary's name */
    /* Kept uploads (store_partial.c): how many and how large at most,
     * counted afresh by each trim (one at a time, under partial_lock), when
     * that was, and the expiry age last asked for. */
    atomic_uint_fast64_t partial_files, partial_bytes;
    atomic_int_fast64_t partial_scanned_at, partial_ttl_s;
    pthread_mutex_t partial_lock;
    bool syncfs_reports_errors;     /* Linux 5.8 or later */
};

/* The directory store a store handed out by ft_store_dir_open is. */
static inline struct ft_store_dir *ft_store_dir_of(const struct ft_store *st)
{
    return (struct ft_store_dir *)st;
}

/* Each file's operations, put in the directory's table (store_dir.c). */
void ft_store_dir_ns_ops(struct ft_store_backend *be);
void ft_store_dir_upload_ops(struct ft_store_backend *be);
void ft_store_dir_partial_ops(struct ft_store_backend *be);
void ft_store_dir_digest_ops(struct ft_store_backend *be);
void ft_store_dir_chunks_ops(struct ft_store_backend *be);

/* Operations one file of the directory's uses from another. */
enum ft_err ft_store_dir_upload_begin(struct ft_store *st, const char *name,
                                      struct ft_upload *up);
void ft_store_dir_upload_abort(struct ft_store *st, struct ft_upload *up);
void ft_store_dir_chunks_abort(struct ft_store_chunks_writer *w);

/* A name resolved beneath the root: the open folder that holds it and its
 * last component. Every folder on the way is opened relative to the one
 * before with O_NOFOLLOW, so no symbolic link is ever followed and nothing
 * outside the root can be reached. */
struct place {
    int dir_fd;                  /* st->root_fd (not owned) or an open folder */
    char leaf[FT_NAME_MAX + 1];
};

/* Resolves name; with create, makes the missing folders on the way. On
 * failure p holds nothing to release. */
enum ft_err ft_store_resolve(struct ft_store_dir *st, const char *name, bool create,
                             struct place *p);
void ft_store_place_release(struct ft_store_dir *st, struct place *p);
/* What is at a place, not followed if a link; the metadata folder, under
 * whatever name, is FT_ERR_BAD_NAME. */
enum ft_err ft_store_place_stat(const struct ft_store_dir *st, struct place *p,
                                struct stat *sb);

/* The digest recorded with the open file fd, whose fstat is sb: none (no
 * record), stale (a record of what the file was: its size, modification
 * time or inode have changed since, so the digest vouches for nothing), or
 * valid. digest receives the recorded one unless there is none. */
enum ft_store_record { FT_RECORD_NONE, FT_RECORD_STALE, FT_RECORD_VALID };
enum ft_store_record ft_store_record_read(int fd, const struct stat *sb,
                                          uint8_t digest[32]);

/* Takes an exclusive lock on the whole of fd's file without waiting: 0,
 * or -1 with errno set when another open of the file holds one. The lock
 * goes with the open file (not the process), until it is closed. */
int ft_store_lock(int fd);

/* Whether sb is the metadata folder, under whatever name it was reached:
 * a case-folding file system lets ".FT" reach ".ft", a bind mount another
 * name; the name alone cannot tell. */
bool ft_store_is_meta(const struct ft_store_dir *st, const struct stat *sb);

/* What a failed system call means to a client of the store. */
enum ft_err ft_store_from_errno(int e);

/* A directory stream of dirfd's own; NULL with errno set. */
DIR *ft_store_dir_stream(int dirfd);

/* Writes a fresh name for a temporary, prefix first, into out. */
void ft_store_temp_name(struct ft_store_dir *st, const char *prefix, char *out,
                        size_t cap);

/* What the file sb describes is now, for comparing later. */
void ft_store_stamp_take(struct ft_store_stamp *s, const struct stat *sb);

/* Records the digest of the open file fd, if it is large enough to be
 * worth it (store_digest.c). */
void ft_store_record_digest(int fd, const uint8_t digest[32]);

/* store_chunks.c: whether a file of size bytes gets a chunk list. */
bool ft_store_chunks_worth(uint64_t size);
/* Records the chunk list set on a published upload (its file is up->fd);
 * frees it either way. */
void ft_store_chunks_commit(struct ft_upload *up);
/* After the store changed the metadata of the open file fd (its ctime
 * with it), whose stamp was before: its list, if valid for before, is
 * stamped with what the file is now. */
void ft_store_chunks_restamp(struct ft_store_dir *st,
                             const struct ft_store_stamp *before, int fd);
/* Removes the list of the file sb describes (removed or replaced). */
void ft_store_chunks_drop(struct ft_store_dir *st, const struct stat *sb);
/* Removes lists whose file is gone, for a store that opens. */
void ft_store_chunks_sweep(struct ft_store_dir *st);

#endif
