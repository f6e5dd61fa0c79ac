/* ft/tree.h - copying many files, and folders with everything in them,
 * over one connection.
 *
 * A copy goes on past the trouble of one file (it cannot be read, the
 * server refuses it) and stops once the connection is in doubt. Small
 * files travel pipelined, without a wait for the server between them,
 * when the server takes that. What happens to each file is told through
 * callbacks as it happens. */
#ifndef FT_TREE_H
#define FT_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/client.h"

/* One thing to copy: a local path and the remote name it goes to, or
 * comes from. */
struct ft_tree_item {
    const char *local;
    const char *remote;
};

/* What a copy tells its caller, file by file; any of them may be NULL.
 * Each file that is sent or fetched gets start, then (through the transfer
 * options' progress callback) its progress, then done or failure; a
 * failure may also come alone, for a file that never started. The strings
 * last only for the call. */
struct ft_tree_events {
    /* The transfer of the remote name begins; size in bytes, -1 when not
     * known, -2 for a get (the first progress call tells it). */
    void (*start)(void *ctx, const char *name, int64_t size);
    /* It arrived whole, and verified unless the options said not to. */
    void (*done)(void *ctx, const char *name, const struct ft_transfer *t);
    /* Something failed: path is the local path or the remote name it
     * concerns (NULL: none, as when memory ran out), err the failure's
     * code, why the reason, ready to print after "PATH: ". */
    void (*failure)(void *ctx, const char *path, enum ft_err err,
                    const char *why);
    /* path was left out: a link or a special file, which have no place in
     * a store of files. */
    void (*skip)(void *ctx, const char *path, const char *why);
    void *ctx;
};

/* A copy of many items, in either direction. */
struct ft_tree_copy {
    const struct ft_tree_item *items;
    size_t n;
    bool recursive;                         /* folders with all they hold */
    const struct ft_transfer_options *transfer; /* each file's; NULL: defaults */
    const struct ft_tree_events *events;    /* NULL: nothing is told */
};

/* Uploads each item's local file to its remote name, one after the other.
 * With recursive, an item whose local path is a folder (a link to one
 * counts) takes its tree to the remote folder, made as needed; links and
 * special files inside it are skipped. Each file and folder inside is
 * opened from its folder's descriptor without following a link, and sent
 * as what was opened: an entry swapped for a link while the copy runs is
 * skipped too, never followed. Folders nest at most 64 deep.
 * Returns FT_OK when every file made it; otherwise the failure of the
 * first item that failed: of its files, the first one's, unless a later
 * one ended the copy. Once it returns no pipelined request is due; after a
 * failure that lost the link the connection serves nothing more
 * (ft_client_error says why). */
enum ft_err ft_client_put_tree(struct ft_client *c, const struct ft_tree_copy *copy);

/* Downloads each item's remote file to its local path as
 * ft_client_get_file does; of several items, the small files (a batch of
 * quick stats tells which) are asked for without waiting for the answers
 * before them, as with recursive (not with resume). With recursive, each remote name is a folder,
 * listed first and fetched with everything below it into the local folder
 * (made, with the folders inside it). Those folders are made and opened
 * from the local folder's descriptor down, never through a link: a link
 * where a listed name leads, there before or swapped in while the copy
 * runs, fails the files below it (after their start) and is not followed.
 * The folder the last file went into is kept open for the files after
 * it. Returns as ft_client_put_tree. */
enum ft_err ft_client_get_tree(struct ft_client *c, const struct ft_tree_copy *copy);

#endif
