/* store_s3_int.h - what the S3 backend's files share: the store, its handles, its keys. */
#ifndef FT_STORE_S3_INT_H
#define FT_STORE_S3_INT_H

#include "s3.h"
#include "store_backend.h"

#include <pthread.h>

/* Idle handles (one kept-alive connection each) a store keeps for reuse. */
#define FT_S3_IDLE_MAX 16

struct ft_store_s3 {
    struct ft_store base;
    struct ft_s3_config cfg; /* strings owned */
    char prefix[FT_PATH_MAX + 2]; /* "" or "PREFIX/" */
    bool read_only;
    pthread_mutex_t lock; /* guards idle and expired_at */
    struct ft_s3 *idle[FT_S3_IDLE_MAX];
    size_t nidle;
    int64_t expired_at; /* when kept uploads were last expired */
};

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

/* What a name is on S3: a file (HEAD answers), a folder (a "name/" marker
 * or any key below), or nothing (NOT_FOUND). head gets the file's HEAD. */
enum ft_err ft_store_s3_what(struct ft_store_s3 *st, struct ft_s3 *s, const char *name,
                             struct ft_store_entry *info, struct ft_s3_head *head);
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

/* The metadata names ft puts on objects (x-amz-meta-...). */
#define FT_S3_META_MTIME "ft-mtime"
#define FT_S3_META_MODE "ft-mode"
#define FT_S3_META_B2 "ft-b2"
/* Hidden folders below PREFIX/.ft/. */
#define FT_S3_B2_DIR "b2/"

void ft_store_s3_file_ops(struct ft_store_backend *be);
void ft_store_s3_upload_ops(struct ft_store_backend *be);
void ft_store_s3_ns_ops(struct ft_store_backend *be);
void ft_store_s3_chunks_ops(struct ft_store_backend *be);

#endif
