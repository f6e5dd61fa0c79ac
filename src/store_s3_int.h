/* store_s3_int.h - what the S3 backend's files share: the store, its handles, its keys. */
#ifndef FT_STORE_S3_INT_H
#define FT_STORE_S3_INT_H

#include "s3.h"
#include "store_backend.h"

#include <pthread.h>

/* A kept upload's object one session of this server works on: no other
 * session of this server takes it (S3 has no lock for two servers). */
struct ft_s3_claim {
    struct ft_s3_claim *next;
    char key[FT_S3_KEY_MAX + 1];
};

/* Idle handles (one kept-alive connection each) a store keeps for reuse. */
#define FT_S3_IDLE_MAX 16

struct ft_store_s3 {
    struct ft_store base;
    struct ft_s3_config cfg; /* strings owned */
    char prefix[FT_PATH_MAX + 2]; /* "" or "PREFIX/" */
    bool read_only;
    pthread_mutex_t lock; /* guards idle, expired_at and claims */
    pthread_cond_t released; /* a claim given back */
    struct ft_s3 *idle[FT_S3_IDLE_MAX];
    size_t nidle;
    int64_t expired_at; /* when kept uploads were last expired */
    struct ft_s3_claim *claims;
    /* The largest object one CopyObject copies, and the largest piece of
     * one UploadPartCopy: S3's 5 GiB (FT_S3_PART_MAX); tests lower it. */
    uint64_t copy_max;
};

/* Claims a kept upload's key for this session; false when another
 * session of this server has it. Given back with ft_store_s3_unclaim. */
bool ft_store_s3_claim(struct ft_store_s3 *st, const char *key);
bool ft_store_s3_claimed(struct ft_store_s3 *st, const char *key);
void ft_store_s3_unclaim(struct ft_store_s3 *st, const char *key);
/* Waits, up to ms, until no session of this server holds a key that
 * starts with prefix; false when one still does. */
bool ft_store_s3_wait_unclaimed(struct ft_store_s3 *st, const char *prefix, int ms);

static inline struct ft_store_s3 *ft_store_s3_of(struct ft_store *st)
{
    return (struct ft_store_s3 *)st;
}

/* A handle for this thread's call, from the idle ones or new; give it back
 * with ft_store_s3_put_back (closed when enough are idle). */
enum ft_err ft_store_s3_take(struct ft_store_s3 *st, struct ft_s3 **out);
void ft_store_s3_put_back(struct ft_store_s3 *st, struct ft_s3 *s);

/* The key of name (a file), with suffix appended ("/" for a folder's
 * marker and prefix); below is a hidden folder under .ft/ ("b2/" for the
 * digest sidecars) or NULL. FT_ERR_BAD_NAME when it does not fit. */
enum ft_err ft_store_s3_key(const struct ft_store_s3 *st, const char *below,
                            const char *name, const char *suffix,
                            char out[FT_S3_KEY_MAX + 1]);

/* "S3 names must be UTF-8" for a name that is not; NULL for one that is. */
const char *ft_store_s3_name_refusal(const char *name);

/* What a name is on S3: a file (HEAD answers), a folder (a "name/" marker
 * or any key below), or nothing (NOT_FOUND). head gets the file's HEAD. */
enum ft_err ft_store_s3_what(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                             struct ft_store_entry *info, struct ft_s3_head *head);
/* ft_store_s3_what for a request on name: where nothing is there, a file
 * on the way refuses the name (FT_ERR_DENIED, which the server explains
 * with ft_store_obstacle) rather than hiding it (NOT_FOUND), as the
 * directory's walk does: 'f/x': 'f' is a file, on either backend. */
enum ft_err ft_store_s3_find(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                             struct ft_store_entry *info, struct ft_s3_head *head);
/* The first name above name (a prefix of it, cut at a '/') that is a
 * file: its length; 0 when each is a folder or nothing (or *err failed). */
size_t ft_store_s3_file_above(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                              enum ft_err *err);
/* A file's entry from its HEAD: ft's mtime and mode if it carries them. */
void ft_store_s3_entry(const struct ft_s3_head *h, struct ft_store_entry *e);

/* The digest recorded for the object whose HEAD is h: its own metadata
 * (a single PUT), or the sidecar .ft/b2/NAME written for this ETag. */
bool ft_store_s3_digest_of(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                           const struct ft_s3_head *h, uint8_t digest[32]);
/* Records digest in name's sidecar, for the object of that ETag. */
enum ft_err ft_store_s3_record(struct ft_store_s3 *st, struct ft_s3 *s,
                               const char *name, const char *etag,
                               const uint8_t digest[32]);

/* Copies one object on the engine: one CopyObject up to copy_max, else a
 * multipart upload of its ranges with its metadata (a new ETag). src is
 * the source's HEAD, as the caller made it: its size (a listing's will do
 * up to copy_max) and, above, the metadata carried over; no HEAD here.
 * etag (may be NULL) gets the copy's. */
enum ft_err ft_store_s3_copy(struct ft_store_s3 *st, struct ft_s3 *s, const char *from_key,
                             const char *to_key, const struct ft_s3_head *src,
                             char etag[FT_S3_ETAG_MAX]);

/* The metadata names ft puts on objects (x-amz-meta-...). */
#define FT_S3_META_MTIME "ft-mtime"
#define FT_S3_META_MODE "ft-mode"
#define FT_S3_META_B2 "ft-b2"
/* Hidden folders below PREFIX/.ft/. */
#define FT_S3_B2_DIR "b2/"
#define FT_S3_PARTIAL_DIR "partial/"

/* The operations of the table (store_s3.c), each store.h's call of the
 * same name: the files' (store_s3_file.c), the names' (store_s3_ns.c),
 * the uploads' (store_s3_upload.c), the chunk lists' (store_s3_chunks.c). */
int ft_store_s3_file_fd(const struct ft_store_file *f);
bool ft_store_s3_file_digest(const struct ft_store_file *f, uint8_t digest[32]);
enum ft_err ft_store_s3_open_file(struct ft_store *store, const char *name,
                                  struct ft_store_file *f);
void ft_store_s3_file_close(struct ft_store_file *f);
enum ft_err ft_store_s3_file_read_at(struct ft_store_file *f, void *buf, size_t n,
                                     uint64_t off, size_t *got);
void ft_store_s3_file_remember(struct ft_store *store, const struct ft_store_file *f,
                               const uint8_t digest[32]);
enum ft_err ft_store_s3_file_set_meta(struct ft_store *store, const struct ft_store_file *f,
                                      int64_t mtime, uint32_t mode,
                                      const uint8_t digest[32]);
enum ft_err ft_store_s3_stat(struct ft_store *store, const char *name,
                             struct ft_store_entry *info);
enum ft_store_kind ft_store_s3_obstacle(struct ft_store *store, const char *name,
                                        size_t *at);
enum ft_err ft_store_s3_remove(struct ft_store *store, const char *name, bool recursive);
enum ft_err ft_store_s3_move(struct ft_store *store, const char *from, const char *to);
enum ft_err ft_store_s3_mkdir(struct ft_store *store, const char *name, bool parents,
                              bool *made);
enum ft_err ft_store_s3_list_as(struct ft_store *store, const char *folder, const char *shown,
                                bool recursive, ft_store_list_fn fn, void *ctx);
enum ft_err ft_store_s3_usage(struct ft_store *store, const char *folder, uint64_t *bytes,
                              uint64_t *files);
enum ft_err ft_store_s3_upload_begin(struct ft_store *store, const char *name,
                                     struct ft_upload *up);
enum ft_err ft_store_s3_upload_begin_held(struct ft_store *store, const char *name,
                                          uint8_t *buf, size_t cap, struct ft_upload *up);
enum ft_err ft_store_s3_upload_unhold(struct ft_store *store, struct ft_upload *up);
void ft_store_s3_recover(struct ft_store *store, const char *key, int64_t ttl_s);
enum ft_err ft_store_s3_upload_begin_kept(struct ft_store *store, const char *name,
                                          const char *key, int64_t ttl_s,
                                          struct ft_upload *up, uint64_t *have);
enum ft_err ft_store_s3_upload_write(struct ft_upload *up, const void *buf, size_t n);
enum ft_err ft_store_s3_upload_write_at(struct ft_upload *up, const void *buf, size_t n,
                                        uint64_t off);
enum ft_err ft_store_s3_upload_resize(struct ft_upload *up, uint64_t size);
enum ft_err ft_store_s3_upload_read_at(struct ft_upload *up, void *buf, size_t n,
                                       uint64_t off, size_t *got);
int ft_store_s3_upload_fd(const struct ft_upload *up);
void ft_store_s3_upload_keep(struct ft_store *store, struct ft_upload *up);
enum ft_err ft_store_s3_upload_commit(struct ft_store *store, struct ft_upload *up);
void ft_store_s3_upload_commit_batch(struct ft_store *store, struct ft_upload *ups,
                                     size_t n, enum ft_err *errs);
void ft_store_s3_upload_abort(struct ft_store *store, struct ft_upload *up);
void ft_store_s3_upload_drop_old(struct ft_store *store, struct ft_upload *up);
void ft_store_s3_expire_partials(struct ft_store *store, int64_t ttl_s);
uint64_t ft_store_s3_partial_count(struct ft_store *store);
enum ft_err ft_store_s3_partial_size(struct ft_store *store, const char *key, int64_t ttl_s,
                                     uint64_t *size);
enum ft_err ft_store_s3_chunks_open(struct ft_store *st, const struct ft_store_file *f,
                                    struct ft_store_chunks *out);
enum ft_err ft_store_s3_chunks_read(struct ft_store_chunks *c, void *buf, size_t n,
                                    uint64_t off, size_t *got);
int ft_store_s3_chunks_fd(const struct ft_store_chunks *c);
void ft_store_s3_chunks_close(struct ft_store_chunks *c);
enum ft_err ft_store_s3_chunks_begin(struct ft_store *st, unsigned level,
                                     struct ft_store_chunks_writer **out);
enum ft_err ft_store_s3_chunks_add(struct ft_store_chunks_writer *w, uint32_t len,
                                   uint64_t hash);
void ft_store_s3_chunks_abort(struct ft_store_chunks_writer *w);
void ft_store_s3_file_remember_chunks(struct ft_store *st, const struct ft_store_file *f,
                                      struct ft_store_chunks_writer *w);

#endif
