/* client_local.h - the client's side on its own disk: where a download is
 * written until it is whole, how it is published under its name, how the
 * file a put sends is opened, and the folders a tree copy makes.
 *
 * Nothing here speaks to the server. Functions that can fail return an
 * enum ft_err and write the reason, ready to print, to why. */
#ifndef FT_CLIENT_LOCAL_H
#define FT_CLIENT_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/client.h"

#define FT_LOCAL_PATH_MAX 4096

/* A download's part file, ".NAME.ft-part" beside NAME: on one file system
 * with it, so that publication is one rename, and never under the final
 * name while it is incomplete. Beside it, while it may be continued, the
 * note ".NAME.ft-part.src" says which source it came from. */
struct ft_part {
    char path[FT_LOCAL_PATH_MAX];
    int fd;
    /* The part of an earlier run, with its note: a resume starts from it. */
    bool resuming;
    uint64_t size;      /* bytes in it, when resuming */
    uint64_t src_size;  /* the remote file's when the part was made */
    int64_t src_mtime;
    bool fresh;  /* made by this run: no earlier run's note is beside it */
    bool noted;  /* this run wrote a note */
};

/* Opens the part file for local_path: with resume, an earlier run's part
 * that has its note; otherwise a new, empty one. FT_ERR_USAGE when the
 * name is too long, FT_ERR_IO when the part cannot be opened. */
enum ft_err ft_client_local_part_open(struct ft_part *p, const char *local_path,
                                      bool resume, char *why, size_t cap);

/* Writes the note of the source the part comes from, before any data: a
 * download killed from then on can be continued, and only from that
 * source. A file of one resume chunk or less could only start over: it
 * gets no note, which spares each small file of a get -r two file-system
 * operations. */
void ft_client_local_part_note(struct ft_part *p, uint64_t size, int64_t mtime);

/* Ends the download that err says how it went: on success gives the part
 * t's modification time and executable bits and renames it to local_path;
 * a part worth continuing (the link failed, not the content) stays with
 * its note, anything else goes. Closes the part. Returns err, or the
 * failure of the publication itself (with why set). */
enum ft_err ft_client_local_part_publish(struct ft_part *p, const char *local_path,
                                         enum ft_err err, const struct ft_transfer *t,
                                         char *why, size_t cap);

/* Opens the regular file path for a put: *fd and *size on success. A FIFO
 * named by mistake does not hang the open; a folder or special file is
 * refused (FT_ERR_IO). */
enum ft_err ft_client_local_open_source(const char *path, int *fd, int64_t *size,
                                        char *why, size_t cap);

/* Makes every missing folder of path (a file's path), as mkdir -p, from
 * byte start on (the part before is the caller's to have links in). A link
 * where the server's names lead is refused (ELOOP), not followed: a listing
 * must not steer files out of the folder the user chose. For the entries
 * of a tree in turn: the folder the last one went into (*made, NULL at
 * first; the caller frees it) is not made, nor checked, again (four system
 * calls per file of a get -r, on a deep tree more). 0, or -1 with errno. */
int ft_client_local_make_parents(char **made, const char *path, size_t start);

#endif
