/* server_quota.c - each client world's usage: counted once per root, kept
 * up to date under one lock, uploads under way and kept ones included. */
#include "server_quota.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kept uploads a root remembers; the store keeps no more than 256 of
 * them in all (store_partial.c), so this is never the bound that bites. */
#define KEPT_MAX 512

struct ft_quota {
    struct ft_quotas *qs;
    char root[FT_PATH_MAX + 1];
    /* Signed: a change counted while the walk still runs may take away
     * what the walk has not added yet. */
    int64_t bytes, files;
    uint64_t held_bytes, held_files; /* uploads under way */
    char (*kept)[FT_RESUME_KEY_HEX_BYTES]; /* interrupted uploads kept */
    size_t nkept;
    bool counting; /* its walk runs: wait for it */
    struct ft_quota *next;
};

struct ft_quotas {
    struct ft_store *store;
    int64_t partial_ttl_s;
    pthread_mutex_t lock;
    pthread_cond_t counted;
    struct ft_quota *roots;
};

enum ft_err ft_quotas_new(struct ft_store *st, int64_t partial_ttl_s,
                          struct ft_quotas **out)
{
    struct ft_quotas *qs = calloc(1, sizeof(*qs));

    *out = qs;
    if (qs == NULL)
        return FT_ERR_NOMEM;
    qs->store = st;
    qs->partial_ttl_s = partial_ttl_s;
    pthread_mutex_init(&qs->lock, NULL);
    pthread_cond_init(&qs->counted, NULL);
    return FT_OK;
}

static void quota_free(struct ft_quota *q)
{
    if (q != NULL)
        free(q->kept);
    free(q);
}

void ft_quotas_free(struct ft_quotas *qs)
{
    if (qs == NULL)
        return;
    while (qs->roots != NULL) {
        struct ft_quota *q = qs->roots;

        qs->roots = q->next;
        quota_free(q);
    }
    pthread_cond_destroy(&qs->counted);
    pthread_mutex_destroy(&qs->lock);
    free(qs);
}

static struct ft_quota *find_locked(struct ft_quotas *qs, const char *root)
{
    for (struct ft_quota *q = qs->roots; q != NULL; q = q->next) {
        if (strcmp(q->root, root) == 0)
            return q;
    }
    return NULL;
}

struct ft_quota *ft_quota_find(struct ft_quotas *qs, const char *root)
{
    struct ft_quota *q;

    pthread_mutex_lock(&qs->lock);
    q = find_locked(qs, root);
    if (q != NULL && q->counting)
        q = NULL;
    pthread_mutex_unlock(&qs->lock);
    return q;
}

static void unlink_locked(struct ft_quotas *qs, struct ft_quota *gone)
{
    for (struct ft_quota **p = &qs->roots; *p != NULL; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            return;
        }
    }
}

static struct ft_quota *quota_new(struct ft_quotas *qs, const char *root)
{
    struct ft_quota *q = calloc(1, sizeof(*q));

    if (q != NULL)
        q->kept = calloc(KEPT_MAX, sizeof(*q->kept));
    if (q == NULL || q->kept == NULL) {
        quota_free(q);
        return NULL;
    }
    q->qs = qs;
    snprintf(q->root, sizeof(q->root), "%s", root);
    return q;
}

/* The walk runs outside the lock, so that the other roots' sessions go on;
 * this root's wait for it. */
enum ft_err ft_quota_attach(struct ft_quotas *qs, const char *root,
                            struct ft_quota **out)
{
    struct ft_quota *q;
    uint64_t bytes = 0, files = 0;
    enum ft_err err;

    pthread_mutex_lock(&qs->lock);
    while ((q = find_locked(qs, root)) != NULL && q->counting)
        pthread_cond_wait(&qs->counted, &qs->lock);
    if (q == NULL && (q = quota_new(qs, root)) != NULL) {
        q->counting = true;
        q->next = qs->roots;
        qs->roots = q;
    }
    pthread_mutex_unlock(&qs->lock);
    *out = q;
    if (q == NULL || !q->counting)
        return q != NULL ? FT_OK : FT_ERR_NOMEM;

    err = ft_store_usage(qs->store, root, &bytes, &files);
    pthread_mutex_lock(&qs->lock);
    q->counting = false;
    q->bytes += (int64_t)bytes;
    q->files += (int64_t)files;
    if (err != FT_OK) {
        unlink_locked(qs, q);
        quota_free(q);
        *out = NULL;
    }
    pthread_cond_broadcast(&qs->counted);
    pthread_mutex_unlock(&qs->lock);
    return err;
}

/* The bytes of q's kept uploads but except's; those the store no longer
 * has (resumed, expired, dropped) are forgotten. */
static uint64_t kept_bytes(struct ft_quota *q, const char *except)
{
    uint64_t total = 0;

    for (size_t i = 0; i < q->nkept;) {
        uint64_t size = 0;

        if (ft_store_partial_size(q->qs->store, q->kept[i], q->qs->partial_ttl_s,
                                  &size) != FT_OK) {
            memcpy(q->kept[i], q->kept[--q->nkept], sizeof(q->kept[i]));
            continue;
        }
        if (strcmp(q->kept[i], except) != 0)
            total += size;
        i++;
    }
    return total;
}

static void forget_kept(struct ft_quota *q, const char *key)
{
    for (size_t i = 0; i < q->nkept; i++) {
        if (strcmp(q->kept[i], key) == 0) {
            memcpy(q->kept[i], q->kept[--q->nkept], sizeof(q->kept[i]));
            return;
        }
    }
}

static uint64_t positive(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

/* Whether used and more stay within limit. */
static bool fits(uint64_t used, uint64_t more, uint64_t limit)
{
    return limit == FT_UNLIMITED || (more <= limit && used <= limit - more);
}

enum ft_err ft_quota_reserve(struct ft_quota *q, const struct ft_client_rights *r,
                             uint64_t bytes, uint64_t files,
                             struct ft_quota_hold *h)
{
    uint64_t used_bytes, used_files;
    enum ft_err err = FT_OK;

    if (q == NULL)
        return FT_OK;
    pthread_mutex_lock(&q->qs->lock);
    /* The sweep of kept uploads (a stat each) only where bytes are capped. */
    used_bytes = positive(q->bytes) + q->held_bytes +
                 (r->quota_bytes == FT_UNLIMITED ? 0 : kept_bytes(q, h->key));
    used_files = positive(q->files) + q->held_files;
    if (!fits(used_bytes, bytes, r->quota_bytes) ||
        !fits(used_files, files, r->quota_files)) {
        err = FT_ERR_QUOTA;
    } else {
        q->held_bytes += bytes;
        q->held_files += files;
        if (h->key[0] != '\0')
            forget_kept(q, h->key);
        h->q = q;
        h->bytes = bytes;
        h->files = files;
    }
    pthread_mutex_unlock(&q->qs->lock);
    return err;
}

enum ft_err ft_quota_grow(struct ft_quota_hold *h, const struct ft_client_rights *r,
                          uint64_t n)
{
    struct ft_quota *q = h->q;
    enum ft_err err = FT_OK;

    if (q == NULL || !h->grows)
        return FT_OK;
    pthread_mutex_lock(&q->qs->lock);
    if (r->quota_bytes == FT_UNLIMITED ||
        fits(positive(q->bytes) + q->held_bytes + kept_bytes(q, ""), n,
             r->quota_bytes)) {
        q->held_bytes += n;
        h->bytes += n;
    } else {
        err = FT_ERR_QUOTA;
    }
    pthread_mutex_unlock(&q->qs->lock);
    return err;
}

/* Whether root (a folder's name, "": the whole store) holds name. */
static bool holds(const char *root, const char *name)
{
    size_t len = strlen(root);

    return len == 0 || (strncmp(name, root, len) == 0 &&
                        (name[len] == '\0' || name[len] == '/'));
}

static void charge_locked(struct ft_quotas *qs, const char *name, int64_t bytes,
                          int64_t files)
{
    for (struct ft_quota *q = qs->roots; q != NULL; q = q->next) {
        if (holds(q->root, name)) {
            q->bytes += bytes;
            q->files += files;
        }
    }
}

void ft_quotas_charge(struct ft_quotas *qs, const char *name, int64_t bytes,
                      int64_t files)
{
    pthread_mutex_lock(&qs->lock);
    charge_locked(qs, name, bytes, files);
    pthread_mutex_unlock(&qs->lock);
}

void ft_quota_finish(struct ft_quotas *qs, struct ft_quota_hold *h,
                     const struct ft_upload *up, bool committed)
{
    struct ft_quota *q = h->q;
    uint64_t size = 0;

    pthread_mutex_lock(&qs->lock);
    if (q != NULL) {
        q->held_bytes -= h->bytes;
        q->held_files -= h->files;
    }
    if (committed)
        charge_locked(qs, up->name, (int64_t)up->written - (int64_t)up->replaced_size,
                      up->replaced ? 0 : 1);
    else if (q != NULL && h->key[0] != '\0' && q->nkept < KEPT_MAX &&
             ft_store_partial_size(qs->store, h->key, qs->partial_ttl_s, &size) == FT_OK) {
        forget_kept(q, h->key);
        memcpy(q->kept[q->nkept++], h->key, sizeof(h->key));
    }
    pthread_mutex_unlock(&qs->lock);
    h->q = NULL;
    h->bytes = h->files = 0;
}

bool ft_quotas_counting(struct ft_quotas *qs)
{
    bool any;

    pthread_mutex_lock(&qs->lock);
    any = qs->roots != NULL;
    pthread_mutex_unlock(&qs->lock);
    return any;
}

bool ft_quotas_same_roots(struct ft_quotas *qs, const char *a, const char *b)
{
    bool same = true;

    pthread_mutex_lock(&qs->lock);
    for (struct ft_quota *q = qs->roots; q != NULL && same; q = q->next)
        same = holds(q->root, a) == holds(q->root, b);
    pthread_mutex_unlock(&qs->lock);
    return same;
}

void ft_quota_usage(struct ft_quota *q, struct ft_quota_usage *u)
{
    pthread_mutex_lock(&q->qs->lock);
    u->bytes = positive(q->bytes);
    u->files = positive(q->files);
    u->pending_bytes = q->held_bytes + kept_bytes(q, "");
    u->pending_files = q->held_files;
    pthread_mutex_unlock(&q->qs->lock);
}

void ft_quota_describe(struct ft_quota *q, const struct ft_client_rights *r,
                       char *buf, size_t cap)
{
    struct ft_quota_usage u;

    ft_quota_usage(q, &u);
    if (r->quota_files != FT_UNLIMITED && u.files + u.pending_files >= r->quota_files)
        snprintf(buf, cap, "quota exceeded: %" PRIu64 " of %" PRIu64 " files used",
                 u.files + u.pending_files, r->quota_files);
    else
        snprintf(buf, cap, "quota exceeded: %" PRIu64 " of %" PRIu64
                 " bytes used (uploads under way and kept ones count)",
                 u.bytes + u.pending_bytes, r->quota_bytes);
}
