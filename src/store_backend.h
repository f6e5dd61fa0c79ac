/* store_backend.h - the table of operations each store backend fills.
 *
 * store.h is the one interface the server uses; its calls land here, in
 * the table of the backend the store was opened with (its location: a
 * path is the directory backend, store_dir.c and the store_*.c files
 * beside it; s3://BUCKET[/PREFIX] the S3 backend, store_s3*.c). Nothing
 * above the store knows which it talks to: what a backend cannot do is a
 * capability it lacks (ft_store_can), and the server falls back to what
 * the protocol already allows.
 *
 * How each operation maps onto S3, as store_s3*.c does it (no rename, no
 * append, no fsync; parts of a multipart upload are >= 5 MiB except the
 * last, and the parts of an unfinished upload cannot be read back; GETs
 * take ranges; listings take a prefix and a delimiter; an object's
 * metadata headers are fixed when it is put, for a multipart upload when
 * it is created; UploadPartCopy makes a part of another object's range on
 * the engine, signed by ft itself where curl 7.88 signs it wrong):
 *
 * - open/close: the directory takes a lock so that one server owns a
 *   root; S3 takes none (several front ends share one bucket: publishing
 *   is atomic per object there). Open lists the prefix once, so a wrong
 *   endpoint, key or bucket is told at start, and makes a missing bucket
 *   (not read-only). meta_fd and root_fd are -1: the server key comes from
 *   --key-file (refused without it), and the sandbox confines without a
 *   store path rule; Landlock's net rule lets the process connect to the
 *   endpoint's port only (server_confine.c). Each thread's call takes a
 *   handle (one kept-alive connection) from the store's idle ones.
 * - open_file/file_read_at/file_fd: a HEAD (size, ETag, x-amz-meta-*:
 *   ft-mtime, ft-mode, ft-b2) then reads at offsets served by one ranged
 *   GET streamed from the first offset asked, reopened only when an offset
 *   jumps (the pull reader of s3.h: memory bounded by the caller's
 *   buffer). file_fd is -1: GET sends through read_at, not sendfile. One
 *   GET is one version; a read that finds the object shorter than its
 *   HEAD said (replaced since) is FT_ERR_CHANGED. The reader sends no
 *   If-Match, so a replacement of the same size between two jumps is not
 *   seen: the client's digest check catches it.
 * - file_digest: a file under one part is one PUT at commit, when its
 *   digest is known: it goes in its metadata (x-amz-meta-ft-b2). A
 *   multipart upload's metadata is fixed at create, before the digest is
 *   known, and a copy onto itself would change its ETag anyway, so the
 *   digest goes to a sidecar object PREFIX/.ft/b2/NAME holding the ETag it
 *   is for and the digest: trusted only while the object's ETag (HEAD) is
 *   that one (one small GET more per open of a multipart object).
 *   file_remember writes the same sidecar for the ETag opened.
 *   file_set_meta cannot change metadata without a copy: the same mtime
 *   and mode is no change, any other is FT_ERR_CHANGED (the client sends
 *   the file again).
 * - uploads (begin, write, commit, abort): begin refuses a name with a
 *   file above it or a folder at it (FT_ERR_DENIED). write fills parts of
 *   8 MiB (two FT_RESUME_CHUNK_BYTES; doubled every 2500 parts up to 64
 *   MiB, so 10000 parts hold 300 GiB): a full part is sent on its own
 *   thread and connection while the next fills, two in flight, three
 *   buffers: 24 MiB per transfer at most. The multipart upload is created
 *   at the first full part (the source's mtime and mode, set after begin,
 *   go into its metadata). commit completes it only after the server
 *   checked the digest: until then nothing is visible, a reader sees the
 *   old object or the new one; then the digest's sidecar. A file under one
 *   part is one PUT at commit. There is no fsync: a completed upload is
 *   durable. abort aborts the multipart upload. drop_old has nothing to
 *   drop (S3 replaces). commit_batch commits one by one.
 * - write_at (striped uploads): S3 cannot write at offsets into one
 *   object: FT_STORE_CAN_WRITE_AT is off and the server receives a
 *   striped PUT as one stream, as when striping is off.
 * - held uploads (the batch path): FT_STORE_CAN_HOLD off: each upload of
 *   a batch is written as it arrives (a PUT at commit for small ones).
 * - kept uploads (put --continue): an unfinished multipart upload's parts
 *   cannot be read back, and put --continue must read the kept prefix
 *   (its resume chunks' digests, and its hash for the whole file's
 *   digest): so a kept upload sends its parts to its own object,
 *   PREFIX/.ft/partial/KEY (never listed, never served), and keep
 *   completes that multipart upload (the buffered tail its last part): a
 *   whole object, read back with ranged GETs through upload_read_at, from
 *   any server of the bucket. A server killed mid-upload completes
 *   nothing: its multipart upload of .ft/partial/KEY.RANDOM stays
 *   unfinished. upload_recover, which the server calls for a put
 *   --continue only (its client says the upload was cut off), completes
 *   the newest such upload of KEY that no session of this server holds
 *   (one that does, its client just interrupted, is given up to 5 s to
 *   keep its upload first: then begin_kept finds that),
 *   with every part it lists (radosgw refuses a list that leaves one out;
 *   a part missing among them, one still on its way at the kill, puts a
 *   later part's bytes in its place, where the resume's chunk sums stop
 *   the offset agreed): the kept object begin_kept then finds. A live
 *   upload of the same file through another server, taken so, fails at
 *   its next part; what it had sent is in the kept object. The
 *   resumed upload is a new multipart upload
 *   of the same object whose first parts are the kept object's [0, offset)
 *   copied on the engine (UploadPartCopy, pieces of up to 5 GiB: nothing
 *   crosses the server; an offset of one resume chunk, under S3's 5 MiB
 *   smallest part, is read back and sent again), so resize to any agreed
 *   offset works. commit completes it, then copies it to the name (a copy
 *   on the engine: 0.44 s for 1 GiB on radosgw, which copies by
 *   reference; above 5 GiB a multipart upload of the name made of its
 *   ranges, copied on the engine too);
 *   then deletes it. A kept upload under one part goes to the name as one
 *   PUT. abort deletes the kept object. Every put with a key (all but the
 *   pipelined) is kept, so each pays that copy. expire_partials (at start,
 *   and at most once a minute or once per TTL when a kept upload begins)
 *   deletes the kept objects older than the TTL and aborts the multipart
 *   uploads under PREFIX begun longer ago than that (ListMultipartUploads:
 *   a server that died mid-upload leaves its parts, invisible but stored):
 *   the bucket does not fill with invisible parts. The bounds of 256 kept
 *   uploads and 64 GiB are not applied on S3: the TTL is. upload_fd is -1.
 * - stat: HEAD of NAME, else a listing of NAME/ with max-keys 1 (a folder
 *   is a "NAME/" marker or any key below it); nothing there, a HEAD per
 *   name above: a file among them refuses NAME (FT_ERR_DENIED), as the
 *   directory's walk does, for stat, open_file, remove, move and mkdir.
 *   obstacle: a HEAD per name above, then the same: never a link or
 *   special file (S3 has none).
 * - list/list_as: ListObjectsV2 with prefix FOLDER/ and delimiter "/"
 *   (recursive: no delimiter, and the folders implied by the keys told
 *   once each), streamed page by page, in key order; common prefixes are
 *   folders (with their "NAME/" marker's time, a HEAD each in the page's
 *   batch; a folder only implied by keys below it has no time: 0); the
 *   .ft/ sidecars are left out. A listing carries no
 *   metadata: each file's mtime and mode cost a HEAD, 1,000 files 1,000
 *   HEADs. A page's HEADs go out together before the page is handed on,
 *   16 in flight at once, each on a connection of its own (ft_s3_heads:
 *   curl's multi interface, each request signed by s3.c's one path, the
 *   connections kept from page to page); the page then goes to the caller
 *   in key order. Memory: one page (1000 keys), 40 bytes per file (its
 *   key and what its HEAD found), 16 handles.
 *   A file gone before its HEAD is left out; any other failure ends the
 *   listing at that file with its error. `ft ls -r` of 1,000 files on
 *   radosgw over loopback (bench/s3_list.sh): 1.24-1.54 s one HEAD at a
 *   time, 0.66-0.68 s now; 10,000 files 18.9 s, now 8.9 s (so 78,000
 *   ~69 s). There the engine's CPU bounds it (~0.5 ms of radosgw per HEAD
 *   on 2 shared cores); against an engine elsewhere each HEAD waits a
 *   round trip, and 16 at once cut that wait up to 16-fold. The
 *   metadata kept in a listing sidecar per folder would spare the HEADs
 *   altogether; usage needs none.
 * - mkdir: a zero-byte "NAME/" marker (with parents, one per missing
 *   level); a file above or at the name: FT_ERR_DENIED.
 * - remove: DELETE (and its sidecar); recursive: list without delimiter
 *   and DeleteObjects in batches of up to 1000 keys, sidecars too.
 * - move: COPY then DELETE (per key below a folder, in batches): not
 *   atomic (a reader sees the old name, the new, or both, never a half
 *   object). An object over 5 GiB is copied part by part on the engine
 *   (a new ETag: a moved file's digest sidecar is written for it; below a
 *   folder the sidecars are copied as they are, and such a file's digest
 *   is computed again at its first read).
 * - usage: a listing without delimiter, summing sizes (no HEAD).
 * - chunk lists (ft sync): FT_STORE_CAN_CHUNKS off: chunks_open finds
 *   none, chunks_begin records none, the server cuts as it reads.
 * - the delta (ft sync): DELTA_GET reads the file through file_fd
 *   (xfer_delta.c and delta_cut.c take descriptors), so a backend without
 *   FT_STORE_CAN_FD (S3) makes the server offer no deltas at all
 *   (FT_FEATURE_DELTA, with TOUCH): ft sync then sends files whole. */
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
    void (*upload_recover)(struct ft_store *st, const char *key, int64_t ttl_s); /* or NULL */
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
    /* NULL (the op or its answer): the backend can store name. */
    const char *(*name_refusal)(const char *name);
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
