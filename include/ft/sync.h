/* ft/sync.h - making a tree on one side a copy of a tree on the other,
 * sending only what changed (ft sync).
 *
 * One side is local, the other the server's; SRC is copied onto DST. DST
 * becomes a copy of SRC's contents (as `rsync -a SRC/ DST/`): a file of
 * SRC missing on DST is sent; one on both sides is left alone when its
 * size, its modification time (whole seconds) and whether it is
 * executable are the same (with checksum: and its BLAKE2b-256 digest);
 * otherwise its content is compared by digest (the server's recorded one:
 * no read there) and only the metadata is set when it is the same, or the
 * file sent as a delta (the parts that differ) when the server takes
 * them, whole when not. Folders of SRC are made on DST, empty ones too.
 * Links and special files of a local SRC are left out (and told); one
 * where DST should have a file or a folder is replaced.
 *
 * Every file on DST is at all times its old version or its new one: each
 * arrives in a temporary and is renamed into place. A sync cut short and
 * run again finishes the job.
 *
 * Nothing outside DST is ever touched: names the server lists are checked
 * (no "..", ".", empty component or leading "/"), and local files are
 * reached through their folder's descriptor, never through a link; a link
 * in DST is removed as a link. */
#ifndef FT_SYNC_H
#define FT_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "ft/client.h"

/* Why a file is sent or touched: the differences found. */
#define FT_SYNC_WHY_SIZE 0x1u
#define FT_SYNC_WHY_TIME 0x2u
#define FT_SYNC_WHY_PERMS 0x4u
#define FT_SYNC_WHY_CONTENT 0x8u /* the digests differ (with equal sizes) */

enum ft_sync_what {
    FT_SYNC_NEW,     /* a file DST lacked, sent */
    FT_SYNC_SEND,    /* a file whose content changed, sent */
    FT_SYNC_TOUCH,   /* a file with the same content: its metadata set */
    FT_SYNC_MKDIR,   /* a folder made */
    FT_SYNC_DELETE,  /* something of DST that SRC lacks, or in the way, removed */
};

/* One change, as it is made (with dry_run: as it would be). */
struct ft_sync_change {
    enum ft_sync_what what;
    const char *name;  /* relative to SRC and DST; "" for a single file */
    bool is_dir;       /* MKDIR, and a DELETE of a folder */
    uint64_t size;     /* of the file sent */
    unsigned why;      /* FT_SYNC_WHY_* (SEND, TOUCH) */
    /* What its transfer did (NEW, SEND, not with dry_run); NULL otherwise. */
    const struct ft_transfer *t;
};

/* What a sync tells its caller as it goes; any may be NULL. The strings
 * last only for the call. */
struct ft_sync_events {
    void (*change)(void *ctx, const struct ft_sync_change *ch);
    /* path (NULL: none) failed with err, why ready to print after "PATH: ".
     * A sync goes on past a file's failure, not past a lost connection. */
    void (*failure)(void *ctx, const char *path, enum ft_err err, const char *why);
    /* path was left out: a link or a special file of SRC. */
    void (*skip)(void *ctx, const char *path, const char *why);
    void *ctx;
};

struct ft_sync_options {
    const char *local;  /* the local folder (or file) */
    const char *remote; /* the folder (or file) on the server ("/": the top) */
    bool push;          /* local is SRC; otherwise the server's side is */
    bool delete_extra;  /* remove from DST what SRC lacks */
    bool dry_run;       /* change nothing anywhere; tell what would change */
    bool checksum;      /* files of equal size and time compared by digest */
    const struct ft_transfer_options *transfer; /* each file's; NULL: defaults */
    const struct ft_sync_events *events;        /* NULL: nothing is told */
};

/* What a sync did. */
struct ft_sync_stats {
    uint64_t checked;       /* files of SRC looked at */
    uint64_t sent;          /* files sent (new and changed) */
    uint64_t touched;       /* files whose metadata alone was set */
    uint64_t deleted;       /* files and folders removed from DST */
    uint64_t folders;       /* folders made */
    uint64_t total_bytes;   /* the size of SRC's files, all of them */
    uint64_t sent_bytes;    /* the size of the files sent */
    uint64_t literal_bytes; /* of those, what travelled (not taken from
                               DST's old versions) */
    uint64_t wire_bytes;    /* sent and received by the connection since
                               it was made (its handshake, and whatever
                               else it carried, included): frames and
                               encryption, all that crossed the wire */
};

/* Makes DST a copy of SRC as described above, over c. A file that fails
 * does not stop the others. Returns FT_OK when everything went; otherwise
 * the first failure, unless a later one lost the connection. stats (may be
 * NULL) is filled either way. */
enum ft_err ft_client_sync(struct ft_client *c, const struct ft_sync_options *o,
                           struct ft_sync_stats *stats);

#endif
