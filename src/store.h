/* store.h - the files the server serves, wherever they are kept.
 *
 * This is all the server knows of where files live: names, byte streams,
 * entries and digests, never a path below the root, an xattr or an fstat.
 * Each call dispatches to the backend the store was opened with
 * (store_backend.h): a directory, the default, or an S3
 * bucket. A stored file is read through ft_store_file_read_at; its
 * descriptor (ft_store_file_fd) is a fast path a backend may offer
 * (sendfile), -1 where it has none. What a backend cannot do is a
 * capability it lacks (ft_store_can), and the server falls back.
 *
 * The directory backend: the store sees names and bytes, never sockets.
 * Every path is opened
 * relative to the root's descriptor without following symbolic links, so
 * nothing outside the root can be read or written. Uploads go to a
 * temporary file under the hidden metadata folder (.ft/tmp), are made
 * durable (fsync, or syncfs for a batch), then renamed into place: readers
 * see the old file or the new one. */
#ifndef FT_STORE_H
#define FT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "io.h"
#include "name.h"

/* The hidden metadata folder at the root: never listed, never served. */
#define FT_STORE_META FT_NAME_RESERVED

struct ft_store;
struct ft_store_backend;

/* What the S3 backend needs to reach its bucket; the directory backend
 * ignores them. Strings are borrowed for the call only. */
struct ft_store_options {
    bool read_only;
    const char *s3_endpoint;   /* https://host:port; NULL: none given */
    const char *s3_region;     /* NULL: us-east-1 */
    const char *s3_access_key;
    const char *s3_secret_key;
    bool s3_path_style;        /* ENDPOINT/BUCKET/KEY (self-hosted engines) */
};

/* A store's location: a path (the directory backend) or
 * s3://BUCKET[/PREFIX]. */
enum ft_store_scheme { FT_STORE_DIR, FT_STORE_S3 };
struct ft_store_location {
    enum ft_store_scheme scheme;
    char bucket[64];             /* S3: 3 to 63 characters */
    char prefix[FT_PATH_MAX + 1]; /* S3: "" or a name, no slash at either end */
};
/* Parses loc: FT_ERR_BAD_NAME (errbuf says why) for an s3:// location
 * whose bucket or prefix S3 would refuse, or an empty one. */
enum ft_err ft_store_location_parse(const char *loc, struct ft_store_location *out,
                                    char *errbuf, size_t errlen);

/* What a backend can do. The server asks for WRITE_AT (a striped upload
 * to a backend without it is received as one stream, as when striping is
 * off). A backend without one of the others still answers its calls in a
 * way the server already handles, so the server needs no branch for them:
 * begin_held writes as the bytes come, chunks_open finds no list and
 * chunks_begin records none (the file is cut as read), begin_kept keeps
 * nothing (*have 0: put --continue starts over). */
enum ft_store_cap {
    FT_STORE_CAN_WRITE_AT = 1u << 0, /* striped uploads */
    FT_STORE_CAN_HOLD = 1u << 1,     /* held uploads (the batch path) */
    FT_STORE_CAN_CHUNKS = 1u << 2,   /* chunk lists (ft sync's delta) */
    FT_STORE_CAN_KEEP = 1u << 3,     /* kept uploads (put --continue) */
    FT_STORE_CAN_FD = 1u << 4        /* files have descriptors: ft sync's
                                        DELTA_GET cuts through them, so the
                                        server offers deltas only with it */
};
bool ft_store_can(const struct ft_store *st, enum ft_store_cap cap);

struct ft_store_entry {
    char name[FT_PATH_MAX + 1];
    uint64_t size;
    int64_t mtime; /* seconds since the epoch */
    uint32_t mode; /* type (S_IFREG or S_IFDIR) and permission bits */
};

/* An upload under way. Its fields are the store's (the directory
 * backend's below be); a caller may read name and written and sets the
 * rest through the calls below. Start one as FT_UPLOAD_INIT: aborting it
 * then does nothing. */
struct ft_upload {
    const struct ft_store_backend *be; /* NULL: never begun */
    int fd;
    int dir_fd;                /* the folder it will be published in */
    int tmp_dir_fd;            /* where tmp is: .ft/tmp or .ft/partial */
    char tmp[48];              /* name under .ft/tmp */
    char name[FT_PATH_MAX + 1];
    char leaf[FT_NAME_MAX + 1]; /* its last component */
    uint64_t written;
    /* The source's metadata for the commit (ft_store_upload_set_meta). */
    bool has_meta;
    int64_t mtime;
    uint32_t mode;
    /* Its checked digest, to record (ft_store_upload_set_digest). */
    bool has_digest;
    uint8_t digest[32];
    /* The version it replaced, linked under .ft/tmp by the commit: freeing
     * a large file's blocks takes a while, better spent after the client
     * has its answer (ft_store_upload_drop_old). Empty: none. */
    char old[48];
    /* What the commit replaced, for a quota: a regular file of that
     * size (false: the name was new, or held no regular file). */
    bool replaced;
    uint64_t replaced_size;
    /* Its chunk list, recorded by the commit (ft_store_upload_set_chunks);
     * NULL: none. */
    struct ft_store_chunks_writer *chunks;
    /* Held in memory until commit (ft_store_upload_begin_held): not owned;
     * NULL for an upload written to its temporary as it arrives. */
    uint8_t *held;
    size_t held_cap;
    /* A backend's own state (the S3 backend's parts in flight); NULL for
     * the directory's. */
    void *priv;
};

#define FT_UPLOAD_INIT { .be = NULL, .fd = -1 }

/* Opens the store at location (a path, or s3://BUCKET[/PREFIX]) with
 * opt (NULL: none, read-write). An S3 location needs opt's endpoint and
 * credentials (FT_ERR_USAGE without them; errbuf says so). */
enum ft_err ft_store_open_at(struct ft_store **out, const char *location,
                             const struct ft_store_options *opt, char *errbuf,
                             size_t errlen);

/* The directory backend: opens (creating if missing) the store at root,
 * takes its lock so that no second server uses the same root, and removes
 * temporaries left by a server that died. A read_only store refuses every change. Refused with
 * FT_ERR_DENIED (errbuf says how to fix it): a metadata folder (.ft,
 * .ft/tmp, .ft/partial) that is a link or not a folder, belongs to another
 * user, or is writable by group or others. */
enum ft_err ft_store_open(struct ft_store **out, const char *root,
                          bool read_only, char *errbuf, size_t errlen);
void ft_store_close(struct ft_store *st);

/* The metadata folder, open (the store's; the server keeps its key there,
 * opened relative to it), or -1 for a read-only store whose file system
 * let it make none. */
int ft_store_meta_fd(const struct ft_store *st);

/* The root, open: the folder a sandbox lets the server use (its files are
 * reached through the calls below, never through this). */
int ft_store_root_fd(const struct ft_store *st);

/* Names may hold folders ("a/b/c.txt"): uploads create the folders they
 * need; every folder is entered without following links. */

/* A stored file open for reading. info is the caller's to read; the
 * rest is the backend's (the directory's stamp: what the file was when
 * opened, so that a digest taken by reading it can be recorded only if it
 * did not change meanwhile). Start one as FT_STORE_FILE_INIT. */
struct ft_store_stamp {
    uint64_t size, ino;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

struct ft_store_file {
    const struct ft_store_backend *be; /* NULL: not open */
    int fd; /* -1: not open */
    struct ft_store_entry info;
    struct ft_store_stamp stamp;
    void *priv; /* a backend's own state (S3: the HEAD and the GET); NULL */
};

#define FT_STORE_FILE_INIT { .be = NULL, .fd = -1 }

/* Opens a stored file for reading; close it with ft_store_file_close. On
 * failure f is as FT_STORE_FILE_INIT, so that the close is still safe. */
enum ft_err ft_store_open_file(struct ft_store *st, const char *name,
                               struct ft_store_file *f);
void ft_store_file_close(struct ft_store_file *f);

/* Reads n bytes at off into buf; *got is less than n only at the end of
 * the file. Reads in order cost least (an object store streams one
 * ranged GET). Safe from several threads at once on the directory. */
enum ft_err ft_store_file_read_at(struct ft_store_file *f, void *buf, size_t n,
                                  uint64_t off, size_t *got);
/* The file's descriptor, for sendfile and pread, or -1 when the backend
 * has none (read it with ft_store_file_read_at then). Not closed by the
 * caller. */
int ft_store_file_fd(const struct ft_store_file *f);
/* Whether f holds an open file. */
bool ft_store_file_is_open(const struct ft_store_file *f);
/* A reader of f through ft_store_file_read_at, for as long as f is open. */
struct ft_reader ft_store_file_reader(struct ft_store_file *f);

/* The BLAKE2b-256 of an open stored file's content as recorded when it
 * was published, if the record is there and the file's size, modification
 * time and inode are still those recorded (a file changed behind ft's back
 * is not vouched for). */
bool ft_store_file_digest(const struct ft_store_file *f, uint8_t digest[32]);

/* Records digest, taken by reading the open stored file whole, so that
 * later gets and stats need not read it again. Nothing is recorded if the
 * file changed since it was opened, nor on a read-only store. */
void ft_store_file_remember(struct ft_store *st, const struct ft_store_file *f,
                            const uint8_t digest[32]);

/* The scrub (ft serve --scrub): reads every stored file beneath root that
 * has a recorded digest and tells report of each that does not match
 * (rot), changed since it was recorded (not rot: not checked), or could
 * not be read (err: the errno). Changes nothing, takes no lock: it may run
 * beside a server on the same store. Memory stays flat. */
enum ft_scrub_finding { FT_SCRUB_MISMATCH, FT_SCRUB_CHANGED, FT_SCRUB_UNREADABLE };
struct ft_scrub_stats {
    uint64_t files, checked, bytes, mismatched, changed, unrecorded, unreadable;
};
typedef void (*ft_scrub_fn)(void *ctx, enum ft_scrub_finding what, const char *name,
                            uint64_t size, const uint8_t *recorded,
                            const uint8_t *actual, int err);
enum ft_err ft_store_scrub(const char *root, ft_scrub_fn report, void *ctx,
                           struct ft_scrub_stats *stats, char *errbuf, size_t errlen);

enum ft_err ft_store_upload_begin(struct ft_store *st, const char *name,
                                  struct ft_upload *up);
enum ft_err ft_store_upload_write(struct ft_upload *up, const void *buf,
                                  size_t n);
/* Writes n bytes at offset off, for an upload whose parts arrive out of
 * order (striped): size it first with ft_store_upload_resize. Safe from
 * several threads at once, for parts that do not overlap. */
enum ft_err ft_store_upload_write_at(struct ft_upload *up, const void *buf,
                                     size_t n, uint64_t off);
/* Begins an upload of at most cap bytes that is held in buf, which stays
 * the caller's until the commit returns: its folders and temporary are
 * made, and the bytes written, by the commit. A batch of small uploads is
 * then received on one thread while the one before is written on another.
 * An error in name, folders or disk is the commit's. */
enum ft_err ft_store_upload_begin_held(struct ft_store *st, const char *name,
                                       uint8_t *buf, size_t cap,
                                       struct ft_upload *up);
/* Writes a held upload to its temporary now rather than at its commit:
 * for a thread that would otherwise wait for the commit before. */
enum ft_err ft_store_upload_unhold(struct ft_store *st, struct ft_upload *up);
/* For a put --continue, before ft_store_upload_begin_kept: what a server
 * killed mid-upload left of key's kept upload becomes one begin_kept
 * finds (S3: its unfinished multipart upload, completed; see
 * store_backend.h). The directory's partial file already is. */
void ft_store_upload_recover(struct ft_store *st, const char *key, int64_t ttl_s);
/* Begins an upload that an interruption does not lose: it is written to
 * .ft/partial under key (the hex of what identifies this upload), and
 * *have says how much an earlier, interrupted run left there (0 when
 * none, or older than ttl_s seconds). Kept uploads older than ttl_s are
 * removed at most once a minute (or once per ttl_s, if shorter), not at
 * every upload. */
enum ft_err ft_store_upload_begin_kept(struct ft_store *st, const char *name,
                                       const char *key, int64_t ttl_s,
                                       struct ft_upload *up, uint64_t *have);

/* Cuts the upload to size bytes and goes on writing from there. */
enum ft_err ft_store_upload_resize(struct ft_upload *up, uint64_t size);

/* Reads back what the upload holds, n bytes at off (*got less than n only
 * at its end): a kept upload's prefix, for resume (its digests, and the
 * hash of the part before the offset agreed). See store_backend.h for how
 * an object store answers it. */
enum ft_err ft_store_upload_read_at(struct ft_upload *up, void *buf, size_t n,
                                    uint64_t off, size_t *got);
/* The upload's descriptor, for the striped receiver's read back, or -1
 * (a backend without FT_STORE_CAN_WRITE_AT). */
int ft_store_upload_fd(const struct ft_upload *up);
/* A reader of up through ft_store_upload_read_at, for as long as it is
 * under way. */
struct ft_reader ft_store_upload_reader(struct ft_upload *up);

/* Releases an interrupted upload, keeping what arrived if it was begun
 * with ft_store_upload_begin_kept; otherwise the same as abort. Beyond 256
 * kept uploads or 64 GiB of them, the oldest that no session holds are
 * removed (the newest is kept, however large). */
void ft_store_upload_keep(struct ft_store *st, struct ft_upload *up);

/* Removes kept uploads older than ttl_s seconds, and the oldest beyond the
 * bounds, now: for a server that starts. One a session holds stays. */
void ft_store_expire_partials(struct ft_store *st, int64_t ttl_s);
/* How many interrupted uploads are kept now (for the metrics). */
uint64_t ft_store_partial_count(struct ft_store *st);

/* Carries the source's modification time and executable bits to the
 * file the commit publishes (the rest is 0644, as for any upload). */
void ft_store_upload_set_meta(struct ft_upload *up, int64_t mtime,
                              uint32_t mode);
/* The content's BLAKE2b-256, checked on arrival: the commit records it
 * with the file, for gets and stats. */
void ft_store_upload_set_digest(struct ft_upload *up, const uint8_t digest[32]);

/* Hands the upload in from over to to; from is left as if never begun, so
 * that aborting it does nothing. */
void ft_store_upload_move(struct ft_upload *to, struct ft_upload *from);

/* How many of the caller's held bytes (ft_store_upload_begin_held) the
 * upload fills: 0 for one written to its temporary. */
size_t ft_store_upload_held_bytes(const struct ft_upload *up);

/* Makes the upload durable and visible under its name, and releases it
 * (the version it replaced too). */
enum ft_err ft_store_upload_commit(struct ft_store *st, struct ft_upload *up);

/* Removes the version a committed upload replaced, if any. */
void ft_store_upload_drop_old(struct ft_store *st, struct ft_upload *up);

/* The same for n uploads at once, in order, for the cost of about one
 * flush: errs[i] is upload i's result, and on entry FT_OK or a failure
 * found before (ft_store_upload_unhold's), which stands. Every upload is
 * released, but the versions they replaced are left to
 * ft_store_upload_drop_old. */
void ft_store_upload_commit_batch(struct ft_store *st, struct ft_upload *ups,
                                  size_t n, enum ft_err *errs);
/* Discards the upload; safe to call on an upload already committed or never
 * begun (fd -1). */
void ft_store_upload_abort(struct ft_store *st, struct ft_upload *up);

/* What a name is: a file or a folder (mode tells), its size and time. */
enum ft_err ft_store_stat(struct ft_store *st, const char *name,
                          struct ft_store_entry *info);

/* What a name met, when a request on it was refused with FT_ERR_DENIED. */
enum ft_store_kind {
    FT_STORE_NOTHING, /* nothing there, or nothing to blame */
    FT_STORE_FILE,
    FT_STORE_FOLDER,
    FT_STORE_LINK,    /* a symbolic link, never followed */
    FT_STORE_SPECIAL  /* a FIFO, a device, a socket */
};
/* Walks name as a request would, now, and returns what stands in its way:
 * the first thing on the way that is not a folder, *at then the length of
 * the name up to it (less than strlen(name)); otherwise what is at the
 * name itself, *at strlen(name). For a person: the refusal it explains
 * happened a moment before, and things may have changed since. */
enum ft_store_kind ft_store_obstacle(struct ft_store *st, const char *name,
                                     size_t *at);

/* Why this store cannot hold name (a valid ft name it refused with
 * FT_ERR_BAD_NAME): "S3 names must be UTF-8"; NULL when it can. */
const char *ft_store_name_refusal(struct ft_store *st, const char *name);

/* Removes a file, or with recursive a folder and all it holds (links
 * inside are removed, never followed). */
enum ft_err ft_store_remove(struct ft_store *st, const char *name,
                            bool recursive);

/* Renames a stored file or folder, atomically, creating the folders the
 * new name needs; an existing file under the new name is replaced. */
enum ft_err ft_store_move(struct ft_store *st, const char *from,
                          const char *to);

/* Makes the folder name (mode 0755); with parents the missing folders
 * above it too, and an existing folder is no failure. *made says whether
 * it was made. A file, a link or (without parents) a folder at the name:
 * FT_ERR_DENIED. */
enum ft_err ft_store_mkdir(struct ft_store *st, const char *name, bool parents,
                           bool *made);

/* Calls fn for every file and folder in folder (NULL or "": the root),
 * with names relative to it, and with recursive for everything below too;
 * in no particular order; stops at the first error fn returns. A folder
 * that names a regular file lists that file alone, under folder itself. */
typedef enum ft_err (*ft_store_list_fn)(const struct ft_store_entry *e,
                                        void *ctx);
enum ft_err ft_store_list(struct ft_store *st, const char *folder,
                          bool recursive, ft_store_list_fn fn, void *ctx);
/* The same, but a folder that names a regular file lists it under shown
 * (a client confined to a folder knows it by a shorter name). */
enum ft_err ft_store_list_as(struct ft_store *st, const char *folder,
                             const char *shown, bool recursive,
                             ft_store_list_fn fn, void *ctx);

/* What is under folder ("": the whole store), for quotas: the bytes of
 * its regular files and how many there are, links never followed, the
 * metadata folder left out. Folders do not count. A missing folder holds
 * nothing. */
enum ft_err ft_store_usage(struct ft_store *st, const char *folder,
                           uint64_t *bytes, uint64_t *files);

/* Sets the modification time (whole seconds) and the executable bits
 * (the rest 0644) of an open stored file, as an upload's commit does,
 * where digest is its content's, checked by the caller: the digest is
 * recorded with the file's new stamp and its chunk list stays valid.
 * FT_ERR_CHANGED (nothing set) if the file changed since it was opened. */
enum ft_err ft_store_file_set_meta(struct ft_store *st,
                                   const struct ft_store_file *f, int64_t mtime,
                                   uint32_t mode, const uint8_t digest[32]);

/* The chunk list of a stored file (ft sync's delta, chunker.h): its
 * level and its entries, FT_CHUNK_ENTRY_BYTES each as CHUNKS carries them
 * (length, hash), in file order. It is kept beside the file under
 * .ft/chunks and trusted only while the file is what it was when the list
 * was taken: size, modification time, inode and the inode's change time
 * (ctime, which nobody can set back), so a file changed behind ft's back
 * is cut again. Files under FT_STORE_CHUNKS_MIN_BYTES have none (cutting
 * one again costs less than keeping its list). The entries handed out are
 * checked: each as long as the chunker cuts at that level, together the
 * file's size. */
#define FT_STORE_CHUNKS_MIN_BYTES (256u * 1024u)
struct ft_store_chunks {
    const struct ft_store_backend *be;
    int fd;          /* the entries, from offset on (ft_store_chunks_read) */
    uint64_t offset;
    uint64_t count;
    unsigned level;
};
/* Opens the list recorded for an open stored file: FT_ERR_NOT_FOUND when
 * there is none, or it no longer matches the file. */
enum ft_err ft_store_chunks_open(struct ft_store *st,
                                 const struct ft_store_file *f,
                                 struct ft_store_chunks *out);
void ft_store_chunks_close(struct ft_store_chunks *c);
#define FT_STORE_CHUNKS_INIT { .be = NULL, .fd = -1 }
/* Whether c holds an open list. */
bool ft_store_chunks_is_open(const struct ft_store_chunks *c);
/* Reads n bytes of the entries at off (from the first entry); *got is
 * less than n only at the end. */
enum ft_err ft_store_chunks_read(struct ft_store_chunks *c, void *buf, size_t n,
                                 uint64_t off, size_t *got);
/* The list's descriptor, for the delta's batched reads, or -1. */
int ft_store_chunks_fd(const struct ft_store_chunks *c);

/* A chunk list being written, entry by entry, as a file is cut, to a
 * temporary (never held whole in memory). On a read-only store, or for a
 * file under FT_STORE_CHUNKS_MIN_BYTES, nothing is recorded in the end. */
struct ft_store_chunks_writer;
enum ft_err ft_store_chunks_begin(struct ft_store *st, unsigned level,
                                  struct ft_store_chunks_writer **out);
enum ft_err ft_store_chunks_add(struct ft_store_chunks_writer *w, uint32_t len,
                                uint64_t hash);
/* Frees a list not wanted after all; NULL is accepted. */
void ft_store_chunks_abort(struct ft_store_chunks_writer *w);
/* The commit of up records w with the file it publishes; the upload owns
 * w from here on (an abort frees it). */
void ft_store_upload_set_chunks(struct ft_upload *up,
                                struct ft_store_chunks_writer *w);
/* Records w for an open stored file that was cut by reading it, unless
 * the file changed since it was opened; frees w either way. Record the
 * list before the digest (ft_store_file_remember): the digest's record
 * changes the file's ctime, which keeps a list recorded before valid but
 * makes the file look changed to a list recorded after. */
void ft_store_file_remember_chunks(struct ft_store *st,
                                   const struct ft_store_file *f,
                                   struct ft_store_chunks_writer *w);

/* The size of the upload kept under key (ft_store_upload_begin_kept), if
 * one is there and younger than ttl_s seconds; FT_ERR_NOT_FOUND if not. */
enum ft_err ft_store_partial_size(struct ft_store *st, const char *key,
                                  int64_t ttl_s, uint64_t *size);

#endif
