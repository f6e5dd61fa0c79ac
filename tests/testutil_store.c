/* testutil_store.c - the store the tests' servers use: a folder, or S3. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ft/server.h"
#include "s3.h"
#include "store_s3_int.h"
#include "testutil.h"
#include "testutil_store.h"

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        fprintf(stderr, "testutil: FT_TEST_STORE=s3 needs %s: "
                "eval \"$(scripts/radosgw.sh env)\"\n", name);
        abort();
    }
    return v;
}

bool tu_store_s3(void)
{
    const char *v = getenv("FT_TEST_STORE");

    if (v == NULL || *v == '\0' || strcmp(v, "dir") == 0)
        return false;
    if (strcmp(v, "s3") != 0) {
        fprintf(stderr, "testutil: FT_TEST_STORE=%s: want dir or s3\n", v);
        abort();
    }
    return true;
}

/* One prefix per test process, so runs never see each other's files. */
static const char *run_prefix(void)
{
    static char run[64];

    if (run[0] == '\0')
        snprintf(run, sizeof(run), "ft-tests/%ld-%ld", (long)getpid(),
                 (long)time(NULL));
    return run;
}

/* The key of root's prefix: <run>/<root's name>. */
static char *root_prefix(const char *root)
{
    const char *name = strrchr(root, '/');
    char *p;

    if (asprintf(&p, "%s/%s", run_prefix(), name != NULL ? name + 1 : root) < 0)
        tu_die("asprintf");
    return p;
}

static struct ft_s3 *s3_open(void)
{
    static bool made;
    struct ft_s3_config c = {
        .endpoint = env_or_die("FT_S3_ENDPOINT"),
        .region = getenv("AWS_REGION"),
        .access_key = env_or_die("AWS_ACCESS_KEY_ID"),
        .secret_key = env_or_die("AWS_SECRET_ACCESS_KEY"),
        .bucket = env_or_die("FT_S3_BUCKET"),
    };
    struct ft_s3 *s = NULL;

    if (ft_s3_open(&c, &s) != FT_OK)
        tu_die("ft_s3_open");
    if (!made) {
        if (ft_s3_bucket_create(s) != FT_OK) {
            fprintf(stderr, "testutil: bucket %s: %s\n", c.bucket, ft_s3_error(s));
            abort();
        }
        made = true;
    }
    return s;
}

/* Makes sure the bucket exists: servers on S3 do not make it. */
static void bucket_ready(void)
{
    ft_s3_close(s3_open());
}

/* root/.ft/server.key: the key file of a server on S3, where the
 * directory store would keep its own (tests that pin read it there). */
static char *key_path(const char *root)
{
    char *dir = tu_path(root, ".ft");
    char *path = tu_path(dir, "server.key");

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        tu_die(dir);
    free(dir);
    return path;
}

/* "s3://BUCKET/PREFIX\0KEYFILE" in one allocation: the location and the
 * key file live as long as the server, and one free releases both. */
static char *location(const char *root, const char **keyfile)
{
    char *prefix = root_prefix(root), *key = key_path(root);
    char *loc;
    int n;

    bucket_ready();
    n = asprintf(&loc, "s3://%s/%s%c%s", env_or_die("FT_S3_BUCKET"), prefix,
                 '\0', key);
    if (n < 0)
        tu_die("asprintf");
    *keyfile = loc + strlen(loc) + 1;
    free(prefix);
    free(key);
    return loc;
}

char *tu_store_config(struct ft_server_config *cfg, const char *root)
{
    const char *keyfile;
    char *loc;

    if (!tu_store_s3())
        return NULL;
    loc = location(root, &keyfile);
    cfg->root = loc;
    cfg->s3_endpoint = env_or_die("FT_S3_ENDPOINT");
    cfg->s3_region = getenv("AWS_REGION");
    cfg->s3_access_key = env_or_die("AWS_ACCESS_KEY_ID");
    cfg->s3_secret_key = env_or_die("AWS_SECRET_ACCESS_KEY");
    if (cfg->key_file == NULL)
        cfg->key_file = keyfile;
    return loc;
}

size_t tu_store_serve_args(const char *root, const char **args, char **owned)
{
    const char *keyfile;

    if (!tu_store_s3()) {
        *owned = NULL;
        args[0] = "--root";
        args[1] = root;
        return 2;
    }
    /* The keys come from the environment the child inherits. */
    *owned = location(root, &keyfile);
    args[0] = "--store";
    args[1] = *owned;
    args[2] = "--s3-endpoint";
    args[3] = env_or_die("FT_S3_ENDPOINT");
    args[4] = "--key-file";
    args[5] = keyfile;
    return 6;
}

/* Makes the folders of path below its first from bytes (a folder that
 * exists). */
static void make_parents(char *path, size_t from)
{
    for (char *slash = strchr(path + from + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            tu_die(path);
        *slash = '/';
    }
}

static char *object_key(const char *root, const char *name)
{
    char *prefix = root_prefix(root), *key;

    if (asprintf(&key, "%s/%s", prefix, name) < 0)
        tu_die("asprintf");
    free(prefix);
    return key;
}

struct grow {
    char *buf;
    size_t len;
};

static int grow_sink(void *arg, const void *data, size_t n)
{
    struct grow *g = arg;
    char *p = realloc(g->buf, g->len + n + 1);

    if (p == NULL)
        return 1;
    memcpy(p + g->len, data, n);
    g->buf = p;
    g->len += n;
    return 0;
}

/* The whole of a local file, or NULL when there is none. */
static char *tu_store_read_local(const char *path, size_t *len)
{
    int64_t size = tu_file_size(path);
    FILE *fp = size >= 0 ? fopen(path, "rb") : NULL;
    char *buf;

    if (fp == NULL)
        return NULL;
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, fp) != (size_t)size)
        tu_die(path);
    fclose(fp);
    *len = (size_t)size;
    return buf;
}

char *tu_store_read(const char *root, const char *name, size_t *len)
{
    struct grow g = { NULL, 0 };
    struct ft_s3 *s;
    enum ft_err err;
    char *key;

    if (!tu_store_s3()) {
        char *path = tu_path(root, name);

        g.buf = tu_store_read_local(path, len);
        free(path);
        return g.buf;
    }
    s = s3_open();
    key = object_key(root, name);
    g.buf = malloc(1);
    if (g.buf == NULL)
        tu_die("malloc");
    err = ft_s3_get(s, key, 0, 0, grow_sink, &g);
    if (err != FT_OK && err != FT_ERR_NOT_FOUND) {
        fprintf(stderr, "testutil: GET %s: %s\n", key, ft_s3_error(s));
        abort();
    }
    free(key);
    ft_s3_close(s);
    if (err != FT_OK) {
        free(g.buf);
        return NULL;
    }
    *len = g.len;
    return g.buf;
}

/* PUTs the object of name under root's prefix with nmeta metadata pairs. */
static void s3_write(const char *root, const char *name, const void *data,
                     size_t len, const struct ft_s3_meta *meta, size_t nmeta)
{
    struct ft_s3 *s = s3_open();
    char *key = object_key(root, name);

    if (ft_s3_put(s, key, data, len, meta, nmeta, NULL) != FT_OK) {
        fprintf(stderr, "testutil: PUT %s: %s\n", key, ft_s3_error(s));
        abort();
    }
    free(key);
    ft_s3_close(s);
}

void tu_store_write(const char *root, const char *name, const void *data,
                    size_t len)
{
    if (!tu_store_s3()) {
        char *path = tu_path(root, name);

        /* The folders on the way, as a key below them implies on S3. */
        make_parents(path, strlen(root));
        tu_write_bytes(path, data, len);
        free(path);
        return;
    }
    s3_write(root, name, data, len, NULL, 0);
}

void tu_store_write_dated(const char *root, const char *name, const void *data,
                          size_t len, int64_t mtime)
{
    char when[24];
    const struct ft_s3_meta meta = { FT_S3_META_MTIME, when };

    if (!tu_store_s3()) {
        tu_store_write(root, name, data, len);
        tu_store_touch(root, name, mtime);
        return;
    }
    snprintf(when, sizeof(when), "%lld", (long long)mtime);
    s3_write(root, name, data, len, &meta, 1);
}

void tu_store_touch(const char *root, const char *name, int64_t mtime)
{
    struct timespec t[2] = { { 0, UTIME_OMIT }, { (time_t)mtime, 0 } };
    char *path, *data;
    size_t len;

    if (tu_store_s3()) {
        /* Metadata is fixed when an object is put: written again, as any
         * S3 tool would, with none but that time. */
        data = tu_store_read(root, name, &len);
        if (data == NULL)
            tu_die(name);
        tu_store_write_dated(root, name, data, len, mtime);
        free(data);
        return;
    }
    path = tu_path(root, name);
    if (utimensat(AT_FDCWD, path, t, 0) != 0)
        tu_die(path);
    free(path);
}

/* The digest the S3 store records for the object whose HEAD is h, in hex:
 * its metadata's, or its sidecar's while written for its ETag (what
 * store_s3_file.c trusts). NULL: none. */
static char *s3_recorded(struct ft_s3 *s, const char *root, const char *name,
                         const struct ft_s3_head *h)
{
    const char *meta = ft_s3_head_meta(h, FT_S3_META_B2);
    struct grow g = { malloc(1), 0 };
    char *key, *sidecar, *nl, *hex = NULL;
    size_t tag = strlen(h->etag);

    if (meta != NULL) {
        free(g.buf);
        return strdup(meta);
    }
    if (asprintf(&sidecar, ".ft/%s%s", FT_S3_B2_DIR, name) < 0 || g.buf == NULL)
        tu_die("asprintf");
    key = object_key(root, sidecar);
    if (ft_s3_get(s, key, 0, 0, grow_sink, &g) == FT_OK) {
        g.buf[g.len] = '\0';
        nl = strchr(g.buf, '\n');
        if (nl != NULL && (size_t)(nl - g.buf) == tag &&
            memcmp(g.buf, h->etag, tag) == 0)
            hex = strndup(nl + 1, strcspn(nl + 1, "\n"));
    }
    free(g.buf);
    free(key);
    free(sidecar);
    return hex;
}

void tu_store_tamper(const char *root, const char *name)
{
    struct ft_s3_meta meta[3] = { { FT_S3_META_B2, NULL } };
    const char *mtime, *mode;
    struct ft_s3_head h;
    struct ft_s3 *s;
    char *key, *data;
    size_t len, n = 1;

    if (!tu_store_s3()) {
        char *path = tu_path(root, name);

        tu_tamper(path);
        free(path);
        return;
    }
    /* Written again with the bytes changed where tu_tamper changes them,
     * and what the store knew the object by: its mtime, its mode, and the
     * digest recorded for the old bytes, now carried as its own. */
    s = s3_open();
    key = object_key(root, name);
    data = tu_store_read(root, name, &len);
    if (data == NULL || len < 1008 || ft_s3_head(s, key, &h) != FT_OK)
        tu_die(name);
    meta[0].value = s3_recorded(s, root, name, &h);
    if (meta[0].value == NULL)
        tu_die("tu_store_tamper: no digest recorded");
    mtime = ft_s3_head_meta(&h, FT_S3_META_MTIME);
    mode = ft_s3_head_meta(&h, FT_S3_META_MODE);
    if (mtime != NULL)
        meta[n++] = (struct ft_s3_meta){ FT_S3_META_MTIME, mtime };
    if (mode != NULL)
        meta[n++] = (struct ft_s3_meta){ FT_S3_META_MODE, mode };
    memcpy(data + 1000, "tampered", 8);
    s3_write(root, name, data, len, meta, n);
    free((char *)meta[0].value);
    free(data);
    free(key);
    ft_s3_close(s);
}

static int stop_at_first(void *arg, const struct ft_s3_entry *e)
{
    (void)e;
    *(bool *)arg = true;
    return 1;
}

bool tu_store_exists(const char *root, const char *name)
{
    struct ft_s3_head h;
    struct ft_s3 *s;
    char *key, *below;
    bool there = false;

    if (!tu_store_s3()) {
        char *path = tu_path(root, name);
        struct stat sb;

        there = lstat(path, &sb) == 0;
        free(path);
        return there;
    }
    /* A file, or a folder: its marker or any key below it. */
    s = s3_open();
    key = object_key(root, name);
    if (asprintf(&below, "%s/", key) < 0)
        tu_die("asprintf");
    there = ft_s3_head(s, key, &h) == FT_OK;
    if (!there)
        (void)ft_s3_list(s, below, NULL, 1, stop_at_first, &there);
    free(below);
    free(key);
    ft_s3_close(s);
    return there;
}

bool tu_store_is_folder(const char *root, const char *name)
{
    struct ft_s3_head h;
    struct ft_s3 *s;
    struct stat sb;
    char *path, *key;
    bool yes;

    if (!tu_store_s3()) {
        path = tu_path(root, name);
        yes = lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(path);
        return yes;
    }
    /* No object of that name, but its marker or keys below it. */
    s = s3_open();
    key = object_key(root, name);
    yes = ft_s3_head(s, key, &h) != FT_OK;
    free(key);
    ft_s3_close(s);
    return yes && tu_store_exists(root, name);
}

/* What is right below a listed prefix: its entries and its files' bytes. */
struct below {
    const char *prefix; /* its own key (a folder's marker) is not below it */
    int count;
    int64_t bytes;
};

static int below_entry(void *arg, const struct ft_s3_entry *e)
{
    struct below *b = arg;

    if (strcmp(e->key, b->prefix) != 0) {
        b->count++;
        if (!e->is_prefix)
            b->bytes += (int64_t)e->size;
    }
    return 0;
}

static struct below s3_below(const char *root, const char *name)
{
    char *top = root_prefix(root), *prefix;
    struct ft_s3 *s = s3_open();
    struct below b = { NULL, 0, 0 };

    if (asprintf(&prefix, "%s/%s%s", top, name, *name != '\0' ? "/" : "") < 0)
        tu_die("asprintf");
    b.prefix = prefix;
    if (ft_s3_list(s, prefix, "/", 0, below_entry, &b) != FT_OK) {
        fprintf(stderr, "testutil: list %s: %s\n", prefix, ft_s3_error(s));
        abort();
    }
    ft_s3_close(s);
    free(prefix);
    free(top);
    b.prefix = NULL;
    return b;
}

int tu_store_count(const char *root, const char *name)
{
    char *path;
    int n;

    if (tu_store_s3())
        return s3_below(root, name).count;
    path = tu_path(root, name);
    n = tu_count_entries(path);
    free(path);
    return n;
}

int64_t tu_store_bytes(const char *root, const char *name)
{
    char *path;
    int64_t n;

    if (tu_store_s3())
        return s3_below(root, name).bytes;
    path = tu_path(root, name);
    n = tu_dir_bytes(path);
    free(path);
    return n;
}

bool tu_store_wait_count(const char *root, const char *name, int n, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    while (tu_store_count(root, name) != n) {
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(10);
    }
    return true;
}

struct tally {
    struct ft_s3 *s; /* the parts' own handle: the listing's is busy */
    int64_t bytes;
    int count;
};

static int tally_object(void *arg, const struct ft_s3_entry *e)
{
    struct tally *t = arg;

    if (!e->is_prefix) {
        t->bytes += (int64_t)e->size;
        t->count++;
    }
    return 0;
}

static int tally_part(void *arg, const struct ft_s3_part *p)
{
    ((struct tally *)arg)->bytes += (int64_t)p->size;
    return 0;
}

static int tally_upload(void *arg, const struct ft_s3_upload *u)
{
    struct tally *t = arg;

    t->count++;
    /* An upload completed or aborted meanwhile has no parts to list. */
    (void)ft_s3_mpu_parts(t->s, u->key, u->upload_id, tally_part, t);
    return 0;
}

/* What the uploads under root's prefix hold: the kept ones (the hidden
 * objects under .ft/partial/) and, with in_flight, the parts of the
 * multipart uploads not completed yet. */
static struct tally s3_uploads(const char *root, bool in_flight)
{
    struct tally t = { s3_open(), 0, 0 };
    struct ft_s3 *s = s3_open();
    char *prefix = root_prefix(root), *kept, *all;

    if (asprintf(&kept, "%s/.ft/partial/", prefix) < 0 ||
        asprintf(&all, "%s/", prefix) < 0)
        tu_die("asprintf");
    if (ft_s3_list(s, kept, NULL, 0, tally_object, &t) != FT_OK)
        t.bytes = t.count = -1;
    if (in_flight && t.count >= 0 &&
        ft_s3_mpu_list(s, all, tally_upload, &t) != FT_OK)
        t.bytes = t.count = -1;
    ft_s3_close(s);
    ft_s3_close(t.s);
    free(all);
    free(kept);
    free(prefix);
    return t;
}

bool tu_store_wait_upload(const char *root, int64_t min_bytes, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    char *dir;
    bool ok;

    if (!tu_store_s3()) {
        dir = tu_path(root, ".ft/partial");
        ok = tu_wait_dir_bytes(dir, min_bytes, timeout_ms);
        free(dir);
        return ok;
    }
    while (s3_uploads(root, true).bytes <= min_bytes) {
        if (tu_now_ms() > deadline)
            return false;
        tu_sleep_ms(50);
    }
    return true;
}

int tu_store_kept(const char *root)
{
    char *dir;
    int n;

    if (!tu_store_s3()) {
        dir = tu_path(root, ".ft/partial");
        n = tu_count_entries(dir);
        free(dir);
        return n;
    }
    return s3_uploads(root, false).count;
}

int64_t tu_store_kept_bytes(const char *root)
{
    char *dir;
    int64_t n;

    if (tu_store_s3())
        return s3_uploads(root, false).bytes;
    dir = tu_path(root, ".ft/partial");
    n = tu_dir_bytes(dir);
    free(dir);
    return n;
}

bool tu_store_same(const char *root, const char *name, const char *local)
{
    size_t len, got;
    char *stored = tu_store_read(root, name, &len);
    char *want = tu_store_read_local(local, &got);
    bool same = stored != NULL && want != NULL && len == got &&
                memcmp(stored, want, len) == 0;

    free(stored);
    free(want);
    return same;
}

void tu_store_mkdir(const char *root, const char *name)
{
    char *marker;

    if (!tu_store_s3()) {
        char *path = tu_path(root, name);

        if (mkdir(path, 0755) != 0)
            tu_die(path);
        free(path);
        return;
    }
    /* A folder on S3 is its "NAME/" marker, as the backend makes it. */
    if (asprintf(&marker, "%s/", name) < 0)
        tu_die("asprintf");
    tu_store_write(root, marker, "", 0);
    free(marker);
}

void tu_store_put_file(const char *root, const char *name, const char *local)
{
    size_t len;
    char *data = tu_store_read_local(local, &len);

    if (data == NULL)
        tu_die(local);
    tu_store_write(root, name, data, len);
    free(data);
}

struct view {
    struct ft_s3 *s;
    const char *prefix; /* "<root's prefix>/", cut from each key */
    const char *dir;
};

/* Gives the view's file the mtime and mode the server reports for the
 * object (its metadata; without it, S3's time and 0644). */
static void view_meta(struct ft_s3 *s, const char *key, const char *path)
{
    struct timespec t[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
    struct ft_s3_head h;
    const char *mtime, *mode;

    if (ft_s3_head(s, key, &h) != FT_OK) {
        fprintf(stderr, "testutil: HEAD %s: %s\n", key, ft_s3_error(s));
        abort();
    }
    mtime = ft_s3_head_meta(&h, FT_S3_META_MTIME);
    mode = ft_s3_head_meta(&h, FT_S3_META_MODE);
    t[1].tv_sec = mtime != NULL ? (time_t)strtoll(mtime, NULL, 10) : h.mtime;
    if (utimensat(AT_FDCWD, path, t, 0) != 0 ||
        chmod(path, 0644 | (mode != NULL ? (mode_t)strtoul(mode, NULL, 8) & 0111 : 0)) != 0)
        tu_die(path);
}

/* Copies one object into the view: "NAME/" markers as folders. */
static int view_object(void *arg, const struct ft_s3_entry *e)
{
    struct view *v = arg;
    const char *rel = e->key + strlen(v->prefix);
    char *path = tu_path(v->dir, rel);
    struct grow g;

    if (strncmp(rel, ".ft/", 4) == 0)
        return 0; /* the backend's own, never a stored file */
    g = (struct grow){ malloc(1), 0 };
    /* Every folder on the way, whether or not it has a marker. */
    make_parents(path, strlen(v->dir));
    if (g.buf == NULL)
        tu_die("malloc");
    if (*rel != '\0' && rel[strlen(rel) - 1] != '/') {
        if (ft_s3_get(v->s, e->key, 0, 0, grow_sink, &g) != FT_OK) {
            fprintf(stderr, "testutil: GET %s: %s\n", e->key, ft_s3_error(v->s));
            abort();
        }
        tu_write_bytes(path, g.buf, g.len);
        view_meta(v->s, e->key, path);
    }
    free(g.buf);
    free(path);
    return 0;
}

char *tu_store_view(const char *root, const char *name)
{
    struct view v;
    struct ft_s3 *list;
    char *prefix, *top, *dir;

    if (!tu_store_s3())
        return tu_path(root, name);
    dir = tu_tempdir();
    prefix = root_prefix(root);
    if (asprintf(&top, "%s/%s%s", prefix, name, *name != '\0' ? "/" : "") < 0)
        tu_die("asprintf");
    v = (struct view){ s3_open(), top, dir };
    list = s3_open();
    if (ft_s3_list(list, top, NULL, 0, view_object, &v) != FT_OK) {
        fprintf(stderr, "testutil: list %s: %s\n", top, ft_s3_error(list));
        abort();
    }
    ft_s3_close(list);
    ft_s3_close(v.s);
    free(top);
    free(prefix);
    return dir;
}

void tu_store_view_done(char *view)
{
    if (tu_store_s3())
        tu_rmtree(view);
    free(view);
}

int tu_store_unfinished(const char *root)
{
    char *dir;
    int n;

    if (tu_store_s3())
        return s3_uploads(root, true).count;
    dir = tu_path(root, ".ft/tmp");
    n = tu_count_entries(dir);
    free(dir);
    return n;
}

bool tu_store_wait_clean(const char *root, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    while (tu_store_unfinished(root) != 0) {
        if (tu_now_ms() > deadline)
            return false;
        /* Each look on S3 is two listings and more. */
        tu_sleep_ms(tu_store_s3() ? 50 : 10);
    }
    return true;
}
