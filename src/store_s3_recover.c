/* store_s3_recover.c - a kept upload whose server died mid-upload: its
 * multipart upload, completed into the kept object it was going to be,
 * for the put --continue that comes for it. */
#define _GNU_SOURCE
#include "store_s3_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a put --continue waits for a session of this server to keep
 * the upload it continues (its last part sent, and completed). */
#define KEEP_WAIT_MS 5000

/* The newest multipart upload under the prefix begun after `after` that
 * no session of this server works on. */
struct abandoned {
    struct ft_store_s3 *st;
    time_t after;
    bool any;
    time_t initiated;
    char key[FT_S3_KEY_MAX + 1];
    char upload_id[FT_S3_UPLOAD_ID_MAX];
};

static int pick_upload(void *arg, const struct ft_s3_upload *x)
{
    struct abandoned *a = arg;

    if (x->initiated > a->after && (!a->any || x->initiated > a->initiated) &&
        strlen(x->key) < sizeof(a->key) && strlen(x->upload_id) < sizeof(a->upload_id) &&
        !ft_store_s3_claimed(a->st, x->key)) {
        a->any = true;
        a->initiated = x->initiated;
        memcpy(a->key, x->key, strlen(x->key) + 1);
        memcpy(a->upload_id, x->upload_id, strlen(x->upload_id) + 1);
    }
    return 0;
}

struct part_list {
    struct ft_s3_part *v;
    size_t n, cap;
};

static int add_part(void *arg, const struct ft_s3_part *p)
{
    struct part_list *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct ft_s3_part *v;

        if (cap > FT_S3_PARTS_MAX)
            cap = FT_S3_PARTS_MAX;
        v = l->n < cap ? realloc(l->v, cap * sizeof(*v)) : NULL; /* no more than S3 makes */
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    return 0;
}

static int by_number(const void *a, const void *b)
{
    const struct ft_s3_part *x = a, *y = b;

    return (x->number > y->number) - (x->number < y->number);
}

/* Only a put --continue comes here: its client says its upload was cut
 * off. A session of this server that still holds the upload (it has not
 * seen the cut yet) keeps it to itself (claimed); one of another server
 * would fail at its next part, and keep nothing: the upload is here.
 * Every part listed is completed, in number order: radosgw refuses a list
 * that leaves one out. Parts sent at once may have landed after one that
 * never did, so the object can hold a later part's bytes where the
 * missing one's belonged: the resume's chunk sums (resume.h) stop the
 * offset agreed at the first chunk that differs from the client's file,
 * as for any kept upload. Each part is at least S3's smallest: ft sends
 * no short part but an upload's last, which it completes at once. */
void ft_store_s3_recover(struct ft_store *store, const char *key, int64_t ttl_s)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct abandoned a = { .st = st, .after = (time_t)((int64_t)time(NULL) - ttl_s) };
    struct part_list parts = { .v = NULL };
    char prefix[FT_S3_KEY_MAX + 1];
    struct ft_s3 *s = NULL;
    enum ft_err err = st->read_only ? FT_ERR_READ_ONLY
                                    : ft_store_s3_key(st, FT_S3_PARTIAL_DIR, key, ".", prefix);

    /* A session of this server that still holds an upload of KEY is one
     * whose client just went (a put interrupted, then run again at once
     * with --continue): what it keeps is found once it has, a moment on;
     * an upload that is alive is waited for no longer than that. */
    if (err == FT_OK)
        (void)ft_store_s3_wait_unclaimed(st, prefix, KEEP_WAIT_MS);
    if (err == FT_OK)
        err = ft_store_s3_take(st, &s);
    if (err == FT_OK)
        err = ft_s3_mpu_list(s, prefix, pick_upload, &a);
    if (err != FT_OK || !a.any || !ft_store_s3_claim(st, a.key))
        goto out;
    err = ft_s3_mpu_parts(s, a.key, a.upload_id, add_part, &parts);
    if (err == FT_OK && parts.n > 0) {
        qsort(parts.v, parts.n, sizeof(*parts.v), by_number);
        /* Failing, it is left to the TTL's expiry. */
        (void)ft_s3_mpu_complete(s, a.key, a.upload_id, parts.v, parts.n, NULL);
    }
    ft_store_s3_unclaim(st, a.key);
out:
    free(parts.v);
    ft_store_s3_put_back(st, s);
}
