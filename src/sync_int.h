/* sync_int.h - what the files of ft sync share: the two sides' file lists,
 * the plan made from them, and the local side's operations.
 *
 * sync_plan.c finds both sides' roots and sync_merge.c compares their
 * entries as they come (sync_list.c packs what it keeps); sync.c carries
 * the plan out over the connection, and sync_send.c sends the files;
 * sync_local.c
 * does what happens on this side's disk, always from a folder's descriptor
 * and never through a link. */
#ifndef FT_SYNC_INT_H
#define FT_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_local.h"
#include "ft/sync.h"
#include "entries.h"
#include "hash.h"

/* Beside FT_SYNC_WHY_*: a file DST lacks. */
#define SYNC_WHY_NEW 0x100u

enum sync_type { SYNC_FILE, SYNC_DIR, SYNC_OTHER /* a link, a special file */ };

/* One file or folder of a side, named relative to the side's root ("" is
 * the root itself: a single file). */
struct sync_entry {
    const char *name;
    uint64_t size;
    int64_t mtime;
    uint32_t mode;
    enum sync_type type;
};

/* Entries packed one after another (sync_list.c): names prefix-coded,
 * numbers as varints, some 20 bytes a file where a struct and its name
 * would take 90. Read in order with a cursor, or one by one (get). */
struct sync_list {
    uint8_t *bytes;
    size_t len, cap, n;
    size_t *groups, capgroups;   /* where each group of entries starts */
    struct ft_entries_state *put; /* the encoder's, between adds */
    bool unsorted; /* some entry came out of ft_sync_name_cmp's order */
};

/* Where a reading of a list stands: the next entry's index. */
struct sync_cursor {
    size_t i, off;
    struct ft_entries_state st;
};

/* An entry read by ft_sync_list_get, its name in c. */
struct sync_held {
    struct sync_cursor c;
    struct sync_entry e;
};

/* The local side of a sync, and the folder last entered beneath it, kept
 * open for the files after it. */
struct sync_local {
    const char *path;   /* as the user named it */
    int root_fd;        /* the root folder (-1: none, or a single file) */
    bool single;        /* path is a file: its folder and leaf below */
    struct ft_local_name file; /* single: where path is */
    struct ft_local_kept kept; /* the folder last entered */
    struct ft_local_kept ahead; /* ... by the hashing ahead of the checks */
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
    /* The entries the plan acts on, not whole sides: SRC's to send, make
     * or check, DST's to remove. */
    struct sync_list src, dst;
    /* The plan: indices into src (files to send, folders to make, files
     * to check by digest) and into dst (what to remove). */
    size_t *send, *mkdir, *check, *del;
    size_t nsend, nmkdir, ncheck, ndel;
    size_t capsend, capmkdir, capcheck, capdel, capwhy;
    unsigned *why;             /* per src entry: FT_SYNC_WHY_* */
    enum ft_err err;           /* the first failure, as keep() keeps it */
    /* A walk on a thread of its own keeps what it would tell here, told
     * once it is over (ft_sync_notes_flush). */
    bool defer;
    struct sync_note *notes;
    size_t nnotes, capnotes;
};

/* A failure (err) or a skip (FT_OK) told late. */
struct sync_note {
    enum ft_err err;
    char *path, *why;
};

/* Orders names so that a folder's entries come right after it: "a",
 * "a/x", "a.b" ('/' sorts before every other byte). */
int ft_sync_name_cmp(const char *a, const char *b);

/* Whether a name from a listing stays beneath the folder listed: not
 * empty, no leading '/', no empty, "." or ".." component. */
bool ft_sync_name_safe(const char *name);

/* sync_list.c: appends e to l; FT_ERR_NOMEM when out of memory,
 * FT_ERR_BAD_NAME for a name over FT_WIRE_NAME_MAX. */
enum ft_err ft_sync_list_add(struct sync_list *l, const struct sync_entry *e);
/* Puts l in ft_sync_name_cmp's order (a listing from a server that sends
 * another); FT_ERR_NOMEM leaves it as it was. */
enum ft_err ft_sync_list_sort(struct sync_list *l);
/* Room for need items of size bytes in *p, of *cap (first, at first). */
enum ft_err ft_sync_grow(void **p, size_t *cap, size_t need, size_t size, size_t first);
/* The entry at c into e (its name valid until c moves), c moved past it;
 * false at the end. Start c with i = 0. */
bool ft_sync_list_next(const struct sync_list *l, struct sync_cursor *c,
                       struct sync_entry *e);
/* The entry i (< l->n), read from its group's start (a few entries),
 * valid until h is used again. */
const struct sync_entry *ft_sync_list_get(const struct sync_list *l, size_t i,
                                          struct sync_held *h);
void ft_sync_list_free(struct sync_list *l);

/* sync_plan.c: the entry f of the server's listing into out; a name a
 * hostile server could use to reach out of DST is told as a failure
 * (s->err keeps it) and left out. FT_ERR_NOMEM when out of memory. */
enum ft_err ft_sync_list_take(struct sync *s, struct sync_list *out,
                              const struct ft_entry *f);

/* sync_plan.c: lists both sides and fills s's plan. */
enum ft_err ft_sync_plan(struct sync *s);

/* sync_merge.c: fills s's plan from the local walk (walk) or the local
 * single file local_one, and the server's listing (list) or its single
 * file remote_one, merged as they come. */
enum ft_err ft_sync_merge(struct sync *s, bool walk, bool list,
                          const struct sync_entry *local_one,
                          const struct sync_entry *remote_one);

/* sync.c: tells a failure; returns err. */
enum ft_err ft_sync_failed(struct sync *s, const char *path, enum ft_err err,
                           const char *why);
/* sync.c: the remote name of the entry name, allocated (NULL: out of
 * memory). */
char *ft_sync_remote_name(const struct sync *s, const char *name);
/* The local path of the entry name, for messages, allocated. */
char *ft_sync_local_path(const struct sync *s, const char *name);
/* Whether the connection is still worth a request. */
bool ft_sync_going(const struct sync *s);

/* sync_send.c: sends what the plan and the checks found new or changed
 * (with dry_run: tells it). */
void ft_sync_send_all(struct sync *s);

/* sync.c: tells that path was left out (a link, a special file). */
void ft_sync_skipped(struct sync *s, const char *path, const char *why);
/* Tells what from kept back (its deferred notes), in order, through s,
 * and frees them. */
void ft_sync_notes_flush(struct sync *s, struct sync *from);
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

/* Each entry below the local root, to fn in ft_sync_name_cmp's order as
 * the walk finds it; links and special files as SYNC_OTHER, or (tell)
 * told as skipped and left out. An error fn returns ends the walk. */
typedef enum ft_err (*sync_walk_fn)(void *ctx, const struct sync_entry *e);
enum ft_err ft_sync_local_list(struct sync *s, bool tell, sync_walk_fn fn, void *ctx);

/* The folder that holds name, open (make: made when missing, as the
 * folders of a download are) and kept in k (l's kept or ahead), and
 * name's last component in *leaf. -1 with why when it cannot be had. Do
 * not close what it returns. */
int ft_sync_local_dir(struct sync_local *l, struct ft_local_kept *k, const char *name,
                      bool make, const char **leaf, char *why, size_t cap);

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
