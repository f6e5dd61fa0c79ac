/* store_backend.h - the table of operations each store backend fills.
 *
 * store.h is the one interface the server uses; its calls land here, in
 * the table of the backend the store was opened with (its location: a
 * path is the directory backend, store_dir.c and the store_*.c files
 * beside it; s3://BUCKET[/PREFIX] the S3 backend, store_s3*.c, not built
 * yet). Nothing above the store knows which it talks to: what a backend
 * cannot do is a capability it lacks (ft_store_can), and the server falls
 * back to what the protocol already allows.
 *
 * How each operation maps onto S3 (no rename, no append, no fsync; parts
 * of a multipart upload are >= 5 MiB except the last, and the parts of an
 * unfinished upload cannot be read back; GETs take ranges; listings take
 * a prefix and a delimiter; an object's metadata headers are fixed when it
 * is put, for a multipart upload when it is created):
 *
 * - open/close: the directory takes a lock so that one server owns a
 *   root; S3 takes none (several front ends share one bucket: publishing
 *   is atomic per object there). meta_fd and root_fd are -1: the server
 *   key then comes from --key-file (refused without it), and the sandbox
 *   must confine without a store path rule (for the S3 round: sandbox.c's
 *   add_rules skips the path rule when root_fd is -1, and Landlock's net
 *   rule lets the process connect to the endpoint's port).
 * - open_file/file_read_at/file_fd: a HEAD (size, ETag, x-amz-meta-*:
 *   mtime, mode, digest) then reads at offsets served by one ranged GET
 *   streamed from the first offset asked, reopened only when an offset
 *   jumps (the pull reader of s3.h: memory bounded by the caller's
 *   buffer). file_fd is -1: GET sends through read_at, not sendfile.
 *   A read whose object changed since the HEAD (If-Match on the ETag
 *   fails, 412) is FT_ERR_CHANGED: a reader never gets a mix.
 * - file_digest: the digest is recorded in the object's metadata at
 *   publication (x-amz-meta-ft-b2). The mtime and mode come with the PUT
 *   request, before the first part, so the create carries them; but a
 *   multipart upload's metadata is fixed at create, before the content
 *   and its digest are known, so the S3 backend publishes with
 *   a server-side copy onto itself with the metadata replaced (one COPY,
 *   no bytes through ft, UploadPartCopy above 5 GiB), or records the
 *   digest in a sidecar object keyed by the ETag; the S3 round picks).
 *   file_remember (a digest taken by reading) goes the same way only if
 *   the ETag is still the one opened. file_set_meta: the same copy.
 * - uploads (begin, write, commit, abort): write buffers to one part
 *   (>= 5 MiB; the part size a multiple of FT_RESUME_CHUNK_BYTES) and
 *   uploads each part when full, so memory is one part per transfer;
 *   commit completes the multipart upload only after the server checked
 *   the digest: until then nothing is visible, a reader sees the old
 *   object or the new one. A file under one part is one PUT at commit.
 *   There is no fsync: a completed upload is durable. abort aborts the
 *   multipart upload. drop_old has nothing to drop (S3 replaces).
 *   commit_batch commits one by one (no syncfs to share).
 * - write_at (striped uploads): S3 cannot write at offsets into one
 *   object: the capability FT_STORE_CAN_WRITE_AT is off and the server
 *   receives a striped PUT as one stream, as when striping is off.
 * - held uploads (the batch path): FT_STORE_CAN_HOLD off: each upload of
 *   a batch is written as it arrives (a PUT at commit for small ones).
 * - kept uploads (put --continue): an unfinished multipart upload's
 *   parts cannot be read back, and put --continue must read the kept
 *   prefix (its resume chunks' digests, and its hash for the whole file's
 *   digest). So the S3 backend's keep uploads what it buffered as the last
 *   part and completes the multipart upload into a hidden object,
 *   PREFIX/.ft/partial/KEY (never listed, never served): a whole object,
 *   read back with ranged GETs through upload_read_at, like any file. The
 *   resumed upload is a new multipart upload whose first parts are
 *   UploadPartCopy ranges of that object ([0, offset), server side, no
 *   bytes through ft; a range under 5 MiB is read back and sent as the
 *   start of the first part instead), so resize to any chunk boundary
 *   works; the hidden object is deleted at commit or abort. This is why
 *   the interface reads the prefix back (upload_read_at) rather than
 *   asking the backend for digests it recorded: both backends can answer
 *   it, and nothing but the store knows how. expire_partials lists the
 *   hidden objects (and ListMultipartUploads, for uploads of a server that
 *   died before its keep) and deletes or aborts those older than the TTL,
 *   so the bucket does not fill with invisible parts. upload_fd is -1.
 * - stat: HEAD of NAME, else a listing of NAME/ with max-keys 1 (a folder
 *   is a "NAME/" marker or any key below it). obstacle: the same walk,
 *   never a link or special file (S3 has none).
 * - list/list_as: ListObjectsV2 with prefix FOLDER/ and delimiter "/"
 *   (recursive: no delimiter), streamed page by page; common prefixes are
 *   folders; the .ft/ sidecars are left out.
 * - mkdir: a zero-byte "NAME/" marker (with parents, one per level).
 * - remove: DELETE; recursive: list without delimiter and DeleteObjects
 *   in batches of up to 1000 keys.
 * - move: COPY then DELETE (per key below a folder): not atomic (a reader
 *   sees the old name, the new, or both, never a half object): documented.
 * - usage: a listing without delimiter, summing sizes.
 * - chunk lists (ft sync): a sidecar object per file keyed by its ETag,
 *   written whole at commit from the writer's buffer (spilled to parts
 *   beyond one part); chunks_read reads entries by a ranged GET,
 *   chunks_fd is -1. FT_STORE_CAN_CHUNKS off until then: chunks_open
 *   finds none, chunks_begin records none, the server cuts as it reads.
 * - the delta (ft sync): DELTA_PUT cuts the old version through its
 *   descriptor, and without one sends an empty signature (the client then
 *   sends the whole file); DELTA_GET still reads the file through
 *   file_fd (xfer_delta.c and delta_cut.c take descriptors): the S3 round
 *   gives them a reader (struct ft_reader, io.h) as xfer.c and resume.c
 *   have now. */
#ifndef FT_STORE_BACKEND_H
#define FT_STORE_BACKEND_H

#include "store.h"

/* Every store starts with this; the backend's own state follows it. */
struct ft_store {
    const struct ft_store_backend *be;
};

/* Every chunk list writer starts with this (store_chunks.c). */
struct ft_store_chunks_writer {
    const struct ft_store_backend *be;
};

/* One backend's operations. Each is store.h's call of the same name, with
 * the same promises; the calls on a file, an upload or a chunk list find
 * the table through the object (its be). */
struct ft_store_backend {
    const char *name; /* for messages: "directory", "s3" */
    unsigned caps;    /* FT_STORE_CAN_* */
    void (*close)(struct ft_store *st);
    int (*meta_fd)(const struct ft_store *st);
    int (*root_fd)(const struct ft_store *st);

    enum ft_err (*open_file)(struct ft_store *st, const char *name,
                             struct ft_store_file *f);
    void (*file_close)(struct ft_store_file *f);
    enum ft_err (*file_read_at)(struct ft_store_file *f, void *buf, size_t n,
                                uint64_t off, size_t *got);
    int (*file_fd)(const struct ft_store_file *f);
    bool (*file_digest)(const struct ft_store_file *f, uint8_t digest[32]);
    void (*file_remember)(struct ft_store *st, const struct ft_store_file *f,
                          const uint8_t digest[32]);
    enum ft_err (*file_set_meta)(struct ft_store *st, const struct ft_store_file *f,
                                 int64_t mtime, uint32_t mode,
                                 const uint8_t digest[32]);

    enum ft_err (*upload_begin)(struct ft_store *st, const char *name,
                                struct ft_upload *up);
    enum ft_err (*upload_begin_held)(struct ft_store *st, const char *name,
                                     uint8_t *buf, size_t cap, struct ft_upload *up);
    enum ft_err (*upload_unhold)(struct ft_store *st, struct ft_upload *up);
    enum ft_err (*upload_begin_kept)(struct ft_store *st, const char *name,
                                     const char *key, int64_t ttl_s,
                                     struct ft_upload *up, uint64_t *have);
    enum ft_err (*upload_write)(struct ft_upload *up, const void *buf, size_t n);
    enum ft_err (*upload_write_at)(struct ft_upload *up, const void *buf, size_t n,
                                   uint64_t off);
    enum ft_err (*upload_resize)(struct ft_upload *up, uint64_t size);
    enum ft_err (*upload_read_at)(struct ft_upload *up, void *buf, size_t n,
                                  uint64_t off, size_t *got);
    int (*upload_fd)(const struct ft_upload *up);
    void (*upload_keep)(struct ft_store *st, struct ft_upload *up);
    enum ft_err (*upload_commit)(struct ft_store *st, struct ft_upload *up);
    void (*upload_commit_batch)(struct ft_store *st, struct ft_upload *ups,
                                size_t n, enum ft_err *errs);
    void (*upload_abort)(struct ft_store *st, struct ft_upload *up);
    void (*upload_drop_old)(struct ft_store *st, struct ft_upload *up);
    void (*expire_partials)(struct ft_store *st, int64_t ttl_s);
    uint64_t (*partial_count)(struct ft_store *st);
    enum ft_err (*partial_size)(struct ft_store *st, const char *key, int64_t ttl_s,
                                uint64_t *size);

    enum ft_err (*stat)(struct ft_store *st, const char *name,
                        struct ft_store_entry *info);
    enum ft_store_kind (*obstacle)(struct ft_store *st, const char *name, size_t *at);
    enum ft_err (*remove)(struct ft_store *st, const char *name, bool recursive);
    enum ft_err (*move)(struct ft_store *st, const char *from, const char *to);
    enum ft_err (*mkdir)(struct ft_store *st, const char *name, bool parents,
                         bool *made);
    enum ft_err (*list_as)(struct ft_store *st, const char *folder, const char *shown,
                           bool recursive, ft_store_list_fn fn, void *ctx);
    enum ft_err (*usage)(struct ft_store *st, const char *folder, uint64_t *bytes,
                         uint64_t *files);

    enum ft_err (*chunks_open)(struct ft_store *st, const struct ft_store_file *f,
                               struct ft_store_chunks *out);
    enum ft_err (*chunks_read)(struct ft_store_chunks *c, void *buf, size_t n,
                               uint64_t off, size_t *got);
    int (*chunks_fd)(const struct ft_store_chunks *c);
    void (*chunks_close)(struct ft_store_chunks *c);
    enum ft_err (*chunks_begin)(struct ft_store *st, unsigned level,
                                struct ft_store_chunks_writer **out);
    enum ft_err (*chunks_add)(struct ft_store_chunks_writer *w, uint32_t len,
                              uint64_t hash);
    void (*chunks_abort)(struct ft_store_chunks_writer *w);
    void (*file_remember_chunks)(struct ft_store *st, const struct ft_store_file *f,
                                 struct ft_store_chunks_writer *w);
};

/* The directory backend (store_dir.c): opens the store at root. */
enum ft_err ft_store_dir_open(struct ft_store **out, const char *root,
                              const struct ft_store_options *opt, char *errbuf,
                              size_t errlen);
/* The S3 backend (store_s3.c): opens the store at loc's bucket and prefix. */
enum ft_err ft_store_s3_open(struct ft_store **out, const struct ft_store_location *loc,
                             const struct ft_store_options *opt, char *errbuf,
                             size_t errlen);

#endif
