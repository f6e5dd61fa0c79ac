/* store.h - a directory of files, confined to its root.
 *
 * The store sees names and bytes, never sockets. Every path is opened
 * relative to the root's descriptor without following symbolic links, so
 * nothing outside the root can be read or written. Uploads go to a
 * temporary file under the hidden metadata folder (.ft/tmp), are fsynced,
 * then renamed into place: readers see the old file or the new one. */
#ifndef FT_STORE_H
#define FT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "name.h"

/* The hidden metadata folder at the root: never listed, never served. */
#define FT_STORE_META FT_NAME_RESERVED

struct ft_store;

struct ft_store_entry {
    char name[FT_NAME_MAX + 1];
    uint64_t size;
    int64_t mtime; /* seconds since the epoch */
    uint32_t mode; /* permission bits */
};

struct ft_upload {
    int fd;
    char tmp[48];              /* name under .ft/tmp */
    char name[FT_NAME_MAX + 1];
    uint64_t written;
    /* Set before commit to carry the source's metadata: its modification
     * time, and its executable bits (the rest is 0644, as for any upload). */
    bool has_meta;
    int64_t mtime;
    uint32_t mode;
};

/* Opens (creating if missing) the store at root, takes its lock so that no
 * second server uses the same root, and removes temporaries left by a
 * server that died. A read_only store refuses every change. */
enum ft_err ft_store_open(struct ft_store **out, const char *root,
                          bool read_only, char *errbuf, size_t errlen);
void ft_store_close(struct ft_store *st);

/* Opens a stored file for reading. *fd belongs to the caller. */
enum ft_err ft_store_open_file(struct ft_store *st, const char *name, int *fd,
                               struct ft_store_entry *info);

enum ft_err ft_store_upload_begin(struct ft_store *st, const char *name,
                                  struct ft_upload *up);
enum ft_err ft_store_upload_write(struct ft_upload *up, const void *buf,
                                  size_t n);
/* Makes the upload durable and visible under its name, and releases it. */
enum ft_err ft_store_upload_commit(struct ft_store *st, struct ft_upload *up);
/* Discards the upload; safe to call on an upload already committed or never
 * begun (fd -1). */
void ft_store_upload_abort(struct ft_store *st, struct ft_upload *up);

enum ft_err ft_store_remove(struct ft_store *st, const char *name);

/* Renames a stored file, atomically; an existing file under the new name is
 * replaced. */
enum ft_err ft_store_move(struct ft_store *st, const char *from,
                          const char *to);

/* Calls fn for every regular file, in no particular order; stops at the
 * first error fn returns. */
typedef enum ft_err (*ft_store_list_fn)(const struct ft_store_entry *e,
                                        void *ctx);
enum ft_err ft_store_list(struct ft_store *st, ft_store_list_fn fn, void *ctx);

#endif
