/* client_local.h - the client's side on its own disk: where a download is
 * written until it is whole, how it is published under its name, how the
 * files a put sends are opened, and the folders a tree copy makes.
 *
 * Nothing here speaks to the server. Functions that can fail return an
 * enum ft_err (or -1) and write the reason, ready to print, to why. The
 * files and folders of a tree are reached through their folder's
 * descriptor, one name at a time, never through a link: a local user who
 * can write in the tree and swaps an entry for a link between two steps
 * must not steer what is read or written out of it. */
#ifndef FT_CLIENT_LOCAL_H
#define FT_CLIENT_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ft/client.h"

/* Where a download goes: the name leaf in the folder dir_fd. Messages
 * call it path, what the user named (or a tree copy's folder joined with
 * the listed name), never the part file. */
struct ft_local_name {
    int dir_fd;
    const char *leaf;
    const char *path;
};

/* Opens the folder of the path the user named (a link there is the
 * user's to have) and points n at the path's last component in it.
 * FT_ERR_IO when the folder cannot be opened, the path names a folder
 * ("x/", "..") or its last component is too long. Close n with
 * ft_client_local_name_close. */
enum ft_err ft_client_local_name_open(struct ft_local_name *n, const char *path,
                                      char *why, size_t cap);
void ft_client_local_name_close(struct ft_local_name *n);

/* A download's part file, in the folder of its final name: on one file
 * system with it, so that publication is one rename, and never under the
 * final name while it is incomplete. Its name is ".NAME.ft-part"; for a
 * NAME too long for that to fit with its note (over 242 bytes, of the 255
 * a name may have), ".PREFIX~DIGEST.ft-part", PREFIX the name's first 160
 * bytes or fewer and DIGEST the BLAKE2b-256 of the whole name in hex: a
 * part name always fits, and a later run finds the same part. Beside it,
 * while it may be continued, the note "PART.src" says which source it
 * came from. */
struct ft_part {
    struct ft_local_name to;
    char name[NAME_MAX + 1]; /* the part's, in to.dir_fd */
    int fd;
    /* The part of an earlier run, with its note: a resume starts from it. */
    bool resuming;
    uint64_t size;      /* bytes in it, when resuming */
    uint64_t src_size;  /* the remote file's when the part was made */
    int64_t src_mtime;
    bool fresh;  /* made by this run: no earlier run's note is beside it */
    bool noted;  /* a note that tells its source is beside it */
    /* No part: the name is a character device or a FIFO (/dev/null, a
     * pipe), written into as cp would; a rename would replace it. */
    bool direct;
};

/* Opens the part file for the download to *to (which must outlast p):
 * with resume, an earlier run's part that has its note; otherwise a new,
 * empty one. FT_ERR_IO when it cannot be opened. */
enum ft_err ft_client_local_part_open(struct ft_part *p, const struct ft_local_name *to,
                                      bool resume, char *why, size_t cap);

/* Writes the note of the source the part comes from, before any data: a
 * download killed from then on can be continued, and only from that
 * source. A file that ft_client_get_keeps_part says no to could only start
 * over: it gets no note (an earlier run's goes), which spares each small
 * file of a get -r two file-system operations. */
void ft_client_local_part_note(struct ft_part *p, uint64_t size, int64_t mtime);

/* Ends the download that err says how it went: on success gives the part
 * t's modification time and executable bits and renames it to its final
 * name; a part worth continuing (the link failed, not the content) that
 * has its note stays with it, anything else goes. Closes the part. Returns err, or the
 * failure of the publication itself (with why set). */
enum ft_err ft_client_local_part_publish(struct ft_part *p, enum ft_err err,
                                         const struct ft_transfer *t,
                                         char *why, size_t cap);

/* Opens name in the folder dir_fd for a put and fstats what was opened,
 * not the name: what is sent is what was looked at. With follow, name is
 * a path the user named (dir_fd AT_FDCWD) and links are followed; without,
 * it is an entry of a tree, and a link there is not. A FIFO does not hang
 * the open. FT_OK with *fd and *sb for a regular file or a folder (the
 * caller says what a folder is to it); otherwise FT_ERR_IO with why, and
 * *sb's type says what stood there when it was a link or a special file
 * (which a tree skips), 0 when nothing could be opened. */
enum ft_err ft_client_local_open_source(int dir_fd, const char *name, bool follow,
                                        int *fd, struct stat *sb, char *why,
                                        size_t cap);

/* Opens the folder that the first len bytes of rel name beneath the
 * folder base_fd, one component at a time, making what is missing (as
 * mkdir -p) and following no link: a link where the names lead is refused,
 * so that a listing, or a local user who swaps a folder for a link while
 * the copy runs, cannot steer files out of the folder the user chose.
 * Returns the folder's descriptor (base_fd itself when len is 0; the
 * caller closes any other), or -1 with why naming the component that
 * failed as base_path/COMPONENTS. */
int ft_client_local_folder(int base_fd, const char *base_path, const char *rel,
                           size_t len, char *why, size_t cap);

/* A folder of a tree kept open for the files after the one that entered
 * it: rel its name beneath the tree's top (NULL: none, or out of memory),
 * fd its descriptor (-1: none). Trusted by its descriptor, not its name:
 * once the name is swapped for a link, the files still go into the folder
 * that was opened, never where the link points. Zeroed but for fd = -1,
 * it holds none. */
struct ft_local_kept {
    char *rel;
    int fd;
};

/* ft_client_local_folder, unless the folder is the one k keeps: the
 * folder opened is kept instead (the one before it closed). Returns
 * base_fd when len is 0. The caller does not close what it returns. */
int ft_client_local_folder_kept(struct ft_local_kept *k, int base_fd,
                                const char *base_path, const char *rel, size_t len,
                                char *why, size_t cap);
void ft_client_local_kept_close(struct ft_local_kept *k);

#endif
