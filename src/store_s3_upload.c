/* store_s3_upload.c - the S3 backend's uploads: parts sent while the next fills, kept for resume, published at commit. */
#define _GNU_SOURCE
#include "store_s3_int.h"
#include "proto.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The part size: two resume chunks. One part is ~70 ms on the test engine,
 * two are sent at once (one thread each, each its own connection) while a
 * third fills: 24 MiB per transfer at most, and the client's stream does
 * not wait for S3's answers. Grown (doubled every PART_GROW_EVERY parts)
 * so that a file of any size stays under S3's 10000 parts: 8 MiB parts
 * carry 20 GiB, then 16, 32 and 64 MiB ones up to 300 GiB. */
#define PART_BYTES (2u * FT_RESUME_CHUNK_BYTES)
#define PART_GROW_EVERY 2500
#define SLOTS 3

struct s3_up;

/* One part's buffer, and the thread sending it. */
struct slot {
    struct s3_up *u;
    uint8_t *buf;
    size_t cap, len;
    int number;
    struct ft_s3 *s; /* its own connection */
    pthread_t th;
    bool busy;
    enum ft_err err;
    char etag[FT_S3_ETAG_MAX];
};

struct s3_up {
    struct ft_store_s3 *st;
    char key[FT_S3_KEY_MAX + 1];   /* where the parts go: final, or pkey */
    char final[FT_S3_KEY_MAX + 1]; /* the name's */
    /* A kept upload: its object, .ft/partial/KEY.RANDOM (claimed: this
     * session's alone), what an earlier run left there (have), and how much
     * of that is still to be sent again as this upload's first parts
     * (pending: until the offset is agreed). */
    bool kept, claimed;
    char pkey[FT_S3_KEY_MAX + 1];
    uint64_t have, pending;
    struct ft_s3 *rs; /* reads the kept object back */
    struct ft_s3_reader *r;
    char upload_id[FT_S3_UPLOAD_ID_MAX]; /* "": not created yet */
    struct ft_s3 *s;                     /* create, complete, the single PUT */
    struct slot slots[SLOTS];
    size_t cur; /* the slot filling */
    struct ft_s3_part *parts;
    size_t nparts, parts_cap;
    int next_number;
    enum ft_err failed; /* a part that failed fails the upload */
    /* The multipart upload is gone (S3's 404 to a part or the complete):
     * another server's put --continue took it over (upload_recover), and
     * the kept object is that one's now, not this upload's to delete. */
    bool taken;
};

static size_t part_size(int number)
{
    int grow = (number - 1) / PART_GROW_EVERY;

    return (size_t)PART_BYTES << (grow < 3 ? grow : 3);
}

static void *send_part(void *arg)
{
    struct slot *sl = arg;

    sl->err = ft_s3_mpu_part(sl->s, sl->u->key, sl->u->upload_id, sl->number, sl->buf,
                             sl->len, sl->etag);
    return NULL;
}

/* Adds a part sent or copied to the list complete takes (in number order:
 * parts are recorded as they were numbered). */
static enum ft_err record_part(struct s3_up *u, int number, const char *etag)
{
    if (u->nparts == u->parts_cap) {
        size_t cap = u->parts_cap ? 2 * u->parts_cap : 64;
        struct ft_s3_part *p = realloc(u->parts, cap * sizeof(*p));

        if (p == NULL)
            return FT_ERR_NOMEM;
        u->parts = p;
        u->parts_cap = cap;
    }
    u->parts[u->nparts].number = number;
    u->parts[u->nparts].size = 0;
    snprintf(u->parts[u->nparts].etag, FT_S3_ETAG_MAX, "%s", etag);
    u->nparts++;
    return FT_OK;
}

/* Waits for the slot's part, recording it (or its failure). */
static void settle(struct s3_up *u, struct slot *sl)
{
    if (!sl->busy)
        return;
    pthread_join(sl->th, NULL);
    sl->busy = false;
    sl->len = 0;
    if (sl->err == FT_OK)
        sl->err = record_part(u, sl->number, sl->etag);
    if (sl->err == FT_ERR_NOT_FOUND)
        u->taken = true;
    if (sl->err != FT_OK && u->failed == FT_OK)
        u->failed = sl->err;
}

/* The metadata ft puts on an object: its mtime and mode, and (known only
 * for a single PUT, at commit) its digest. */
static size_t object_meta(const struct ft_upload *up, struct ft_s3_meta meta[3],
                          char mtime[24], char mode[8], char hex[65])
{
    size_t n = 0;

    if (up->has_meta) {
        snprintf(mtime, 24, "%lld", (long long)up->mtime);
        snprintf(mode, 8, "%o", (unsigned)(up->mode & 0111));
        meta[n++] = (struct ft_s3_meta){ FT_S3_META_MTIME, mtime };
        meta[n++] = (struct ft_s3_meta){ FT_S3_META_MODE, mode };
    }
    if (hex != NULL && up->has_digest) {
        sodium_bin2hex(hex, 65, up->digest, 32);
        meta[n++] = (struct ft_s3_meta){ FT_S3_META_B2, hex };
    }
    return n;
}

/* Creates the multipart upload at its first part (the source's mtime and
 * mode are known by then). */
static enum ft_err create_once(struct ft_upload *up, struct s3_up *u)
{
    struct ft_s3_meta meta[3];
    char mtime[24], mode[8];

    if (u->upload_id[0] != '\0')
        return FT_OK;
    return ft_s3_mpu_create(u->s, u->key, meta, object_meta(up, meta, mtime, mode, NULL),
                            u->upload_id);
}

/* Sends the filling slot as the next part. */
static enum ft_err launch(struct ft_upload *up, struct s3_up *u)
{
    struct slot *sl = &u->slots[u->cur];
    enum ft_err err = u->failed;

    if (err == FT_OK)
        err = create_once(up, u);
    if (err == FT_OK && sl->s == NULL)
        err = ft_store_s3_take(u->st, &sl->s);
    if (err == FT_OK && u->next_number >= FT_S3_PARTS_MAX)
        err = FT_ERR_TOO_LARGE;
    if (err != FT_OK)
        return u->failed = err;
    sl->u = u;
    sl->number = ++u->next_number;
    if (pthread_create(&sl->th, NULL, send_part, sl) != 0)
        return u->failed = FT_ERR_NOMEM;
    sl->busy = true;
    u->cur = (u->cur + 1) % SLOTS;
    settle(u, &u->slots[u->cur]); /* the next to fill: its part sent */
    return u->failed;
}

enum ft_err ft_store_s3_upload_write(struct ft_upload *up, const void *buf, size_t n)
{
    struct s3_up *u = up->priv;
    const uint8_t *p = buf;

    if (u->pending > 0 && u->failed == FT_OK)
        u->failed = ft_store_s3_upload_resize(up, up->written);
    while (n > 0 && u->failed == FT_OK) {
        struct slot *sl = &u->slots[u->cur];
        size_t want = part_size(u->next_number + 1), take;

        if (sl->cap < want) {
            uint8_t *b = realloc(sl->buf, want);

            if (b == NULL)
                return u->failed = FT_ERR_NOMEM;
            sl->buf = b;
            sl->cap = want;
        }
        take = n < want - sl->len ? n : want - sl->len;
        memcpy(sl->buf + sl->len, p, take);
        sl->len += take;
        up->written += take;
        p += take;
        n -= take;
        if (sl->len == want)
            launch(up, u);
    }
    return u->failed;
}

/* Waits for every part in flight, oldest first (the slot after the one
 * filling), so that parts are recorded in number order: complete must
 * list them so (S3 refuses another order; radosgw sorts them but its ETag
 * then differs from the one computed from the list, and the digest's
 * sidecar, keyed by that ETag, would never be trusted). */
static enum ft_err settle_all(struct s3_up *u)
{
    for (size_t i = 1; i <= SLOTS; i++)
        settle(u, &u->slots[(u->cur + i) % SLOTS]);
    return u->failed;
}

bool ft_store_s3_claim(struct ft_store_s3 *st, const char *key)
{
    struct ft_s3_claim *c = NULL, **at;

    pthread_mutex_lock(&st->lock);
    for (at = &st->claims; *at != NULL && strcmp((*at)->key, key) != 0; at = &(*at)->next)
        ;
    if (*at == NULL && (c = malloc(sizeof(*c))) != NULL) {
        c->next = NULL;
        snprintf(c->key, sizeof(c->key), "%s", key);
        *at = c;
    }
    pthread_mutex_unlock(&st->lock);
    return c != NULL;
}

bool ft_store_s3_claimed(struct ft_store_s3 *st, const char *key)
{
    struct ft_s3_claim *c;

    pthread_mutex_lock(&st->lock);
    for (c = st->claims; c != NULL && strcmp(c->key, key) != 0; c = c->next)
        ;
    pthread_mutex_unlock(&st->lock);
    return c != NULL;
}

void ft_store_s3_unclaim(struct ft_store_s3 *st, const char *key)
{
    struct ft_s3_claim *c = NULL, **at;

    pthread_mutex_lock(&st->lock);
    for (at = &st->claims; *at != NULL && strcmp((*at)->key, key) != 0; at = &(*at)->next)
        ;
    if (*at != NULL) {
        c = *at;
        *at = c->next;
    }
    pthread_cond_broadcast(&st->released);
    pthread_mutex_unlock(&st->lock);
    free(c);
}

static bool claimed_below(const struct ft_store_s3 *st, const char *prefix)
{
    size_t len = strlen(prefix);

    for (const struct ft_s3_claim *c = st->claims; c != NULL; c = c->next) {
        if (strncmp(c->key, prefix, len) == 0)
            return true;
    }
    return false;
}

bool ft_store_s3_wait_unclaimed(struct ft_store_s3 *st, const char *prefix, int ms)
{
    struct timespec until;
    bool held;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->lock);
    while (claimed_below(st, prefix) &&
           pthread_cond_timedwait(&st->released, &st->lock, &until) == 0)
        ;
    held = claimed_below(st, prefix);
    pthread_mutex_unlock(&st->lock);
    return !held;
}

static void up_free(struct ft_store_s3 *st, struct s3_up *u)
{
    if (u->claimed)
        ft_store_s3_unclaim(st, u->pkey);
    ft_s3_reader_close(u->r);
    ft_store_s3_put_back(st, u->rs);
    settle_all(u);
    if (u->upload_id[0] != '\0')
        ft_s3_mpu_abort(u->s, u->key, u->upload_id);
    for (size_t i = 0; i < SLOTS; i++) {
        free(u->slots[i].buf);
        ft_store_s3_put_back(st, u->slots[i].s);
    }
    ft_store_s3_put_back(st, u->s);
    free(u->parts);
    free(u);
}

/* Refuses an upload where a file stands on the way or a folder at the
 * name (what the directory's rename would refuse). */
static enum ft_err check_place(struct ft_store_s3 *st, struct ft_s3 *s, const char *name)
{
    struct ft_store_entry e;
    struct ft_s3_head h;
    enum ft_err err = FT_OK;

    if (ft_store_s3_file_above(st, s, name, &err) > 0)
        err = FT_ERR_DENIED;
    if (err == FT_OK && ft_store_s3_what(st, s, name, &e, &h) == FT_OK &&
        (e.mode & S_IFMT) == S_IFDIR)
        err = FT_ERR_DENIED;
    return err;
}

enum ft_err ft_store_s3_upload_begin(struct ft_store *store, const char *name,
                                     struct ft_upload *up)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct s3_up *u = NULL;
    enum ft_err err = ft_name_check(name, strlen(name));

    *up = (struct ft_upload)FT_UPLOAD_INIT;
    if (err == FT_OK && st->read_only)
        err = FT_ERR_READ_ONLY;
    if (err == FT_OK && (u = calloc(1, sizeof(*u))) == NULL)
        err = FT_ERR_NOMEM;
    if (err == FT_OK) {
        u->st = st;
        err = ft_store_s3_key(st, NULL, name, "", u->final);
        memcpy(u->key, u->final, sizeof(u->key));
    }
    if (err == FT_OK)
        err = ft_store_s3_take(st, &u->s);
    if (err == FT_OK)
        err = check_place(st, u->s, name);
    if (err != FT_OK) {
        if (u != NULL)
            up_free(st, u);
        return err;
    }
    up->be = store->be;
    up->priv = u;
    snprintf(up->name, sizeof(up->name), "%s", name);
    return FT_OK;
}

enum ft_err ft_store_s3_upload_begin_held(struct ft_store *store, const char *name,
                                          uint8_t *buf, size_t cap, struct ft_upload *up)
{
    (void)buf;
    (void)cap;
    return ft_store_s3_upload_begin(store, name, up); /* no holding: written as it comes */
}

enum ft_err ft_store_s3_upload_unhold(struct ft_store *store, struct ft_upload *up)
{
    (void)store;
    (void)up;
    return FT_OK;
}

/* The kept objects of KEY, .ft/partial/KEY.RANDOM: the newest one
 * younger than the TTL that no session of this server has. */
struct kept_find {
    struct ft_store_s3 *st;
    time_t after;
    bool any;
    time_t mtime;
    uint64_t size;
    char key[FT_S3_KEY_MAX + 1];
};

static int pick_kept(void *arg, const struct ft_s3_entry *e)
{
    struct kept_find *k = arg;

    if (!e->is_prefix && e->mtime > k->after && (!k->any || e->mtime > k->mtime) &&
        !ft_store_s3_claimed(k->st, e->key)) {
        k->any = true;
        k->mtime = e->mtime;
        k->size = e->size;
        snprintf(k->key, sizeof(k->key), "%s", e->key);
    }
    return 0;
}

/* prefix gets .ft/partial/KEY. (the kept objects' common start). */
static enum ft_err find_kept(struct ft_store_s3 *st, struct ft_s3 *s, const char *key,
                             int64_t ttl_s, char prefix[FT_S3_KEY_MAX + 1],
                             struct kept_find *k)
{
    enum ft_err err = ft_store_s3_key(st, FT_S3_PARTIAL_DIR, key, ".", prefix);

    *k = (struct kept_find){ .st = st, .after = (time_t)((int64_t)time(NULL) - ttl_s) };
    return err == FT_OK ? ft_s3_list(s, prefix, NULL, 0, pick_kept, k) : err;
}

/* A kept upload's parts go to its own object, .ft/partial/KEY.RANDOM,
 * which an interruption completes (ft_store_s3_upload_keep): a whole
 * object, read back by ranged GETs, on any server of the bucket. KEY (the
 * name, size and mtime) only finds what an earlier run left (*have): the
 * newest one younger than ttl_s that no other session has taken; two
 * sessions of the same KEY at once never share an object. */
enum ft_err ft_store_s3_upload_begin_kept(struct ft_store *store, const char *name,
                                          const char *key, int64_t ttl_s,
                                          struct ft_upload *up, uint64_t *have)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct kept_find k;
    struct s3_up *u;
    enum ft_err err;

    *have = 0;
    ft_store_s3_expire_partials(store, ttl_s);
    err = ft_store_s3_upload_begin(store, name, up);
    if (err != FT_OK)
        return err;
    u = up->priv;
    err = find_kept(st, u->s, key, ttl_s, u->pkey, &k);
    if (err == FT_OK && k.any && ft_store_s3_claim(st, k.key)) {
        memcpy(u->pkey, k.key, sizeof(u->pkey));
        u->have = k.size;
        u->claimed = true;
    }
    while (err == FT_OK && !u->claimed) { /* none left: this run's own */
        uint8_t rnd[8];
        char hex[17];

        randombytes_buf(rnd, sizeof(rnd));
        sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
        err = ft_store_s3_key(st, FT_S3_PARTIAL_DIR, key, ".", u->pkey);
        if (err == FT_OK && strlen(u->pkey) + sizeof(hex) > sizeof(u->pkey))
            err = FT_ERR_BAD_NAME;
        if (err == FT_OK)
            strcat(u->pkey, hex);
        u->claimed = err == FT_OK && ft_store_s3_claim(st, u->pkey);
    }
    if (err != FT_OK) {
        ft_store_s3_upload_abort(store, up);
        return err;
    }
    u->kept = true;
    memcpy(u->key, u->pkey, sizeof(u->key));
    u->pending = u->have;
    up->written = u->have;
    *have = u->have;
    return FT_OK;
}

enum ft_err ft_store_s3_upload_write_at(struct ft_upload *up, const void *buf, size_t n,
                                        uint64_t off)
{
    (void)up;
    (void)buf;
    (void)n;
    (void)off;
    return FT_ERR_USAGE; /* no FT_STORE_CAN_WRITE_AT */
}

/* Reads the kept object (what an earlier run left) at off. */
static enum ft_err kept_read(struct s3_up *u, void *buf, size_t n, uint64_t off, size_t *got)
{
    enum ft_err err = FT_OK;
    size_t step = 0;

    *got = 0;
    if (off >= u->have)
        return FT_OK;
    if (n > u->have - off)
        n = (size_t)(u->have - off);
    if (u->r == NULL) {
        err = ft_store_s3_take(u->st, &u->rs);
        if (err == FT_OK)
            err = ft_s3_reader_open(u->rs, u->pkey, NULL, &u->r);
    }
    while (err == FT_OK && *got < n) {
        err = ft_s3_reader_read_at(u->r, (uint8_t *)buf + *got, n - *got, off + *got, &step);
        if (step == 0)
            break;
        *got += step;
    }
    return err == FT_OK && *got < n ? FT_ERR_CHANGED : err;
}

/* Sends the kept object's first size bytes again through the server: for
 * a prefix too small to be a part of its own (see carry). */
static enum ft_err resend(struct ft_upload *up, uint64_t size)
{
    size_t piece = 1u << 20, got = 0;
    uint8_t *buf = malloc(piece);
    enum ft_err err = buf != NULL ? FT_OK : FT_ERR_NOMEM;

    for (uint64_t off = 0; err == FT_OK && off < size; off += got) {
        err = kept_read(up->priv, buf, size - off < piece ? (size_t)(size - off) : piece, off,
                        &got);
        if (err == FT_OK)
            err = ft_store_s3_upload_write(up, buf, got);
    }
    free(buf);
    return err;
}

/* Makes the kept object's first size bytes (the offset agreed) the first
 * parts of the resumed upload, copied on the engine (UploadPartCopy):
 * nothing crosses the server. Pieces of at most copy_max, each at least
 * S3's smallest part, as more parts follow (ft_s3_copy_piece). A prefix
 * under the smallest part (one resume chunk, 4 MiB) cannot be a part:
 * resent. The new upload is of the kept object's own key: it stays
 * readable until this one completes. */
static enum ft_err carry(struct ft_upload *up, uint64_t size)
{
    struct s3_up *u = up->priv;
    enum ft_err err = FT_OK;
    char etag[FT_S3_ETAG_MAX];
    uint64_t len;

    if (size < FT_S3_PART_MIN)
        return resend(up, size);
    for (uint64_t off = 0; err == FT_OK && off < size; off += len) {
        len = ft_s3_copy_piece(size - off, u->st->copy_max);
        err = create_once(up, u);
        if (err == FT_OK && u->next_number >= FT_S3_PARTS_MAX)
            err = FT_ERR_TOO_LARGE;
        if (err == FT_OK)
            err = ft_s3_mpu_part_copy(u->s, u->key, u->upload_id, u->next_number + 1,
                                      u->pkey, off, len, etag);
        if (err == FT_OK)
            err = record_part(u, ++u->next_number, etag);
        if (err == FT_OK)
            up->written += len;
    }
    return u->failed = err;
}

/* Back to nothing, or (a kept upload) to the offset agreed within what
 * the earlier run left; otherwise only to where it is. */
enum ft_err ft_store_s3_upload_resize(struct ft_upload *up, uint64_t size)
{
    struct s3_up *u = up->priv;

    if (u->pending == 0 && size == up->written)
        return FT_OK;
    if (u->pending > 0 ? size > u->have : size != 0)
        return FT_ERR_USAGE;
    settle_all(u);
    if (u->upload_id[0] != '\0')
        ft_s3_mpu_abort(u->s, u->key, u->upload_id);
    u->upload_id[0] = '\0';
    for (size_t i = 0; i < SLOTS; i++)
        u->slots[i].len = 0;
    u->nparts = 0;
    u->next_number = 0;
    u->failed = FT_OK;
    u->pending = 0;
    up->written = 0;
    return size > 0 ? carry(up, size) : FT_OK;
}

enum ft_err ft_store_s3_upload_read_at(struct ft_upload *up, void *buf, size_t n,
                                       uint64_t off, size_t *got)
{
    struct s3_up *u = up->priv;

    *got = 0;
    return u->kept ? kept_read(u, buf, n, off, got) : FT_OK;
}

int ft_store_s3_upload_fd(const struct ft_upload *up)
{
    (void)up;
    return -1;
}

void ft_store_s3_upload_abort(struct ft_store *store, struct ft_upload *up)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct s3_up *u = up->priv;

    if (u != NULL && u->kept && !u->taken)
        ft_s3_delete(u->s, u->pkey); /* done with, or given up */
    if (u != NULL)
        up_free(st, u);
    up->priv = NULL;
    ft_store_chunks_abort(up->chunks);
    up->chunks = NULL;
}

/* What the commit replaces, for a quota. */
static void note_replaced(struct ft_upload *up, struct s3_up *u)
{
    struct ft_s3_head h;

    up->replaced = ft_s3_head(u->s, u->final, &h) == FT_OK;
    up->replaced_size = up->replaced ? h.size : 0;
}

/* Puts what the upload holds at u->key: one PUT (with its digest in its
 * metadata, when asked and known), or the multipart upload completed;
 * etag (may be NULL) gets the new object's, as S3 answered or computed. */
static enum ft_err flush(struct ft_upload *up, struct s3_up *u, bool digest,
                         char etag[FT_S3_ETAG_MAX])
{
    struct ft_s3_meta meta[3];
    char mtime[24], mode[8], hex[65];
    struct slot *sl = &u->slots[u->cur];
    enum ft_err err;

    if (u->upload_id[0] == '\0')
        return ft_s3_put(u->s, u->key, sl->buf != NULL ? sl->buf : (const uint8_t *)"",
                         sl->len, meta,
                         object_meta(up, meta, mtime, mode, digest ? hex : NULL), etag);
    if (sl->len > 0)
        launch(up, u);
    err = settle_all(u);
    if (err == FT_OK)
        err = ft_s3_mpu_complete(u->s, u->key, u->upload_id, u->parts, u->nparts, etag);
    if (err == FT_ERR_NOT_FOUND)
        u->taken = true;
    if (err == FT_OK)
        u->upload_id[0] = '\0'; /* completed: nothing to abort */
    return err;
}

/* A kept upload completed as its own object goes to its name, copied on
 * the engine (ft_store_s3_copy: in parts above copy_max, 5 GiB). */
static enum ft_err publish_kept(struct s3_up *u, char etag[FT_S3_ETAG_MAX])
{
    struct ft_s3_head h;
    enum ft_err err = ft_s3_head(u->s, u->pkey, &h);

    return err == FT_OK ? ft_store_s3_copy(u->st, u->s, u->pkey, u->final, &h, etag) : err;
}

/* Publishes the upload under its name, then records its digest in the
 * sidecar keyed by the new object's ETag where its metadata could not
 * carry it: the ETag S3 gave or ft computed for this object, never a HEAD's
 * afterwards, which may be another writer's that replaced it meanwhile. A
 * kept upload small enough for one PUT goes straight to the name. */
static enum ft_err publish(struct ft_upload *up, struct s3_up *u)
{
    bool parts = u->upload_id[0] != '\0';
    char etag[FT_S3_ETAG_MAX] = "";
    enum ft_err err;

    if (!parts)
        memcpy(u->key, u->final, sizeof(u->key));
    err = flush(up, u, true, etag);
    if (err == FT_OK && parts && u->kept)
        err = publish_kept(u, etag);
    if (err == FT_OK && parts && up->has_digest)
        ft_store_s3_record(u->st, u->s, up->name, etag, up->digest);
    return err;
}

enum ft_err ft_store_s3_upload_commit(struct ft_store *store, struct ft_upload *up)
{
    struct s3_up *u = up->priv;
    enum ft_err err = u != NULL ? u->failed : FT_ERR_USAGE;

    /* Resumed with nothing more to send: the kept part is the file. */
    if (err == FT_OK && u->pending > 0)
        err = ft_store_s3_upload_resize(up, up->written);
    if (err == FT_OK) {
        note_replaced(up, u);
        err = publish(up, u);
    }
    ft_store_s3_upload_abort(store, up);
    return err;
}

void ft_store_s3_upload_commit_batch(struct ft_store *store, struct ft_upload *ups,
                                     size_t n, enum ft_err *errs)
{
    for (size_t i = 0; i < n; i++) {
        if (errs[i] == FT_OK)
            errs[i] = ft_store_s3_upload_commit(store, &ups[i]);
        else
            ft_store_s3_upload_abort(store, &ups[i]);
    }
}

/* Completes what arrived into the kept object (.ft/partial/KEY), for a
 * later put --continue; an upload not begun kept is aborted. */
void ft_store_s3_upload_keep(struct ft_store *store, struct ft_upload *up)
{
    struct s3_up *u = up->priv;

    if (u == NULL || !u->kept) {
        ft_store_s3_upload_abort(store, up);
        return;
    }
    /* Nothing new (pending: still the earlier run's), or nothing at all:
     * the kept object stays as it is. */
    if (u->pending == 0 && up->written > 0 && u->failed == FT_OK)
        flush(up, u, false, NULL);
    up_free(ft_store_s3_of(store), u);
    up->priv = NULL;
    ft_store_chunks_abort(up->chunks);
    up->chunks = NULL;
}

void ft_store_s3_upload_drop_old(struct ft_store *store, struct ft_upload *up)
{
    (void)store;
    (void)up; /* S3 replaced it: nothing left to drop */
}

struct expiry {
    struct ft_store_s3 *st;
    struct ft_s3 *s;
    time_t before;
    uint64_t count; /* kept objects young enough to stay */
};

static int expire_upload(void *arg, const struct ft_s3_upload *x)
{
    struct expiry *e = arg;

    if (x->initiated < e->before && !ft_store_s3_claimed(e->st, x->key))
        ft_s3_mpu_abort(e->s, x->key, x->upload_id);
    return 0;
}

static int expire_kept(void *arg, const struct ft_s3_entry *x)
{
    struct expiry *e = arg;

    /* One a session of this server holds stays, however old. */
    if (x->mtime < e->before && e->s != NULL && !ft_store_s3_claimed(e->st, x->key))
        ft_s3_delete(e->s, x->key);
    else
        e->count++;
    return 0;
}

/* Lists the kept objects; with e->s, deletes those older than e->before. */
static enum ft_err walk_kept(struct ft_store_s3 *st, struct ft_s3 *lister, struct expiry *e)
{
    char prefix[FT_S3_KEY_MAX + 1];
    enum ft_err err = ft_store_s3_key(st, FT_S3_PARTIAL_DIR, "", "", prefix);

    return err == FT_OK ? ft_s3_list(lister, prefix, NULL, 0, expire_kept, e) : err;
}

/* Deletes the kept objects older than ttl_s, and aborts the multipart
 * uploads under the prefix begun more than ttl_s ago (a server that died
 * mid-upload leaves its parts, invisible but stored): at most once a
 * minute, or once per ttl_s if shorter. */
void ft_store_s3_expire_partials(struct ft_store *store, int64_t ttl_s)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    int64_t now = (int64_t)time(NULL);
    int64_t every = ttl_s < 60 ? ttl_s : 60;
    struct expiry e = { .st = st, .s = NULL, .before = (time_t)(now - ttl_s) };
    struct ft_s3 *lister = NULL;
    bool due;

    if (st->read_only)
        return;
    pthread_mutex_lock(&st->lock);
    due = st->expired_at == 0 || now - st->expired_at >= every;
    if (due)
        st->expired_at = now;
    pthread_mutex_unlock(&st->lock);
    if (!due || ft_store_s3_take(st, &lister) != FT_OK)
        return;
    if (ft_store_s3_take(st, &e.s) == FT_OK) {
        ft_s3_mpu_list(lister, st->prefix, expire_upload, &e);
        walk_kept(st, lister, &e);
    }
    ft_store_s3_put_back(st, e.s);
    ft_store_s3_put_back(st, lister);
}

uint64_t ft_store_s3_partial_count(struct ft_store *store)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    struct expiry e = { .st = st, .s = NULL, .before = 0 };
    struct ft_s3 *lister = NULL;

    if (ft_store_s3_take(st, &lister) == FT_OK)
        walk_kept(st, lister, &e);
    ft_store_s3_put_back(st, lister);
    return e.count;
}

enum ft_err ft_store_s3_partial_size(struct ft_store *store, const char *key, int64_t ttl_s,
                                     uint64_t *size)
{
    struct ft_store_s3 *st = ft_store_s3_of(store);
    char prefix[FT_S3_KEY_MAX + 1];
    struct kept_find k;
    struct ft_s3 *s = NULL;
    enum ft_err err = ft_store_s3_take(st, &s);

    *size = 0;
    if (err == FT_OK)
        err = find_kept(st, s, key, ttl_s, prefix, &k);
    if (err == FT_OK && !k.any)
        err = FT_ERR_NOT_FOUND;
    if (err == FT_OK)
        *size = k.size;
    ft_store_s3_put_back(st, s);
    return err;
}
