/* sync_int.h - what the files of ft sync share: the two sides' file lists,
 * the plan made from them, and the local side's operations.
 *
 * sync_plan.c lists both sides and compares them; sync.c carries the plan
 * out over the connection; sync_local.c does what happens on this side's
 * disk, always from a folder's descriptor and never through a link. */
#ifndef FT_SYNC_INT_H
#define FT_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_local.h"
#include "ft/sync.h"
#include "hash.h"

/* Beside FT_SYNC_WHY_*: a file DST lacks. */
#define SYNC_WHY_NEW 0x100u

enum sync_type { SYNC_FILE, SYNC_DIR, SYNC_OTHER /* a link, a special file */ };

/* One file or folder of a side, named relative to the side's root ("" is
 * the root itself: a single file). Per file, about what rsync's file list
 * holds. */
struct sync_entry {
    const char *name;
    uint64_t size;
    int64_t mtime;
    uint32_t mode;
    enum sync_type type;
};

/* A side's entries, sorted by ft_sync_name_cmp once complete. The names
 * are the list's (local: one allocation each) or its listing's. */
struct sync_list {
    struct sync_entry *e;
    size_t n, cap;
    bool owns_names;
    struct ft_listing listing;
};

/* The local side of a sync, and the folder last entered beneath it, kept
 * open for the files after it. */
struct sync_local {
    const char *path;   /* as the user named it */
    int root_fd;        /* the root folder (-1: none, or a single file) */
    bool single;        /* path is a file: its folder and leaf below */
    struct ft_local_name file; /* single: where path is */
    char *folder;       /* the folder last entered (relative), or NULL */
    int folder_fd;
};

/* A sync under way: sync.c's state, which the plan fills. */
struct sync {
    struct ft_client *c;
    const struct ft_sync_options *o;
    const struct ft_sync_events *ev;
    struct ft_sync_stats *st;
    const struct ft_transfer_options *xfer;
    struct sync_local local;
    char *remote;              /* the remote root, as names are joined to it */
    char *local_owned;         /* local.path, when the sync made it */
    bool dst_missing;          /* DST's root folder is to be made */
    struct sync_list src, dst;
    /* The plan: indices into src (files to send, folders to make, files
     * to check by digest) and into dst (what to remove). */
    size_t *send, *mkdir, *check, *del;
    size_t nsend, nmkdir, ncheck, ndel;
    unsigned *why;             /* per src entry: FT_SYNC_WHY_* */
    enum ft_err err;           /* the first failure, as keep() keeps it */
};

/* Orders names so that a folder's entries come right after it: "a",
 * "a/x", "a.b" ('/' sorts before every other byte). */
int ft_sync_name_cmp(const char *a, const char *b);

/* Whether a name from a listing stays beneath the folder listed: not
 * empty, no leading '/', no empty, "." or ".." component. */
bool ft_sync_name_safe(const char *name);

/* Appends an entry to l; FT_ERR_NOMEM when out of memory. */
enum ft_err ft_sync_list_add(struct sync_list *l, const struct sync_entry *e);
void ft_sync_list_sort(struct sync_list *l);
void ft_sync_list_free(struct sync_list *l);

/* sync_plan.c: lists both sides and fills s's plan. */
enum ft_err ft_sync_plan(struct sync *s);

/* sync.c: tells a failure; returns err. */
enum ft_err ft_sync_failed(struct sync *s, const char *path, enum ft_err err,
                           const char *why);
/* Folds rc into s->err: the first failure is kept, unless a later one
 * ends the sync. */
void ft_sync_keep(struct sync *s, enum ft_err rc);
/* Whether the sync goes on after rc: past one file's trouble, not once
 * the link is in doubt. */
bool ft_sync_goes_on(enum ft_err rc);
void ft_sync_tell(struct sync *s, enum ft_sync_what what, size_t i, bool src,
                  const struct ft_transfer *t);

/* ---------------------------------------------------- sync_local.c */

/* Opens the local root: a folder (root_fd) or a single file (file),
 * following a link there (it is the user's to name); *exists false when
 * nothing is there. *is_dir says which. */
enum ft_err ft_sync_local_open(struct sync_local *l, bool *exists, bool *is_dir,
                               char *why, size_t cap);
void ft_sync_local_close(struct sync_local *l);

/* Lists everything below the local root into out, links and special files
 * as SYNC_OTHER (skip, when not NULL, is told of each). */
enum ft_err ft_sync_local_list(struct sync *s, struct sync_list *out, bool tell);

/* The folder that holds name, open (make: made when missing, as the
 * folders of a download are), and name's last component in *leaf. -1 with
 * why when it cannot be had. Do not close what it returns. */
int ft_sync_local_dir(struct sync_local *l, const char *name, bool make,
                      const char **leaf, char *why, size_t cap);

/* Removes leaf from the folder dir_fd: a folder with all it holds, or a
 * file or a link (never followed). */
enum ft_err ft_sync_local_remove(int dir_fd, const char *leaf, char *why,
                                 size_t cap);

/* The BLAKE2b-256 of the file leaf of dir_fd, opened without following a
 * link. */
enum ft_err ft_sync_local_hash(int dir_fd, const char *leaf,
                               uint8_t out[FT_HASH_BYTES], char *why, size_t cap);

/* Gives the file leaf of dir_fd the modification time mtime and the
 * executable bits exec says (where it is readable), as a download does. */
enum ft_err ft_sync_local_set_meta(int dir_fd, const char *leaf, int64_t mtime,
                                   bool exec, char *why, size_t cap);

#endif
