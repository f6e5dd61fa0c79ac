/* test_store.c - the confined store (src/store.c): uploads appear whole or
 * not at all, readers keep the version they opened, the root's lock, stale
 * temporaries, and everything a hostile root may hold (symbolic links out,
 * FIFOs, folders, bad names). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

/* A test never waits this long unless the store blocks where it must not;
 * the alarm then kills the test program, which fails the test. */
#define WATCHDOG_S 20

struct fixture {
    char *base;   /* temporary folder holding root and outside files */
    char *root;   /* base/root, the store */
    char *tmpdir; /* root/.ft/tmp */
    struct ft_store *st;
};

static struct ft_store *open_store(const char *root, bool read_only)
{
    struct ft_store *st = NULL;
    char err[256] = "";
    enum ft_err e = ft_store_open(&st, root, read_only, err, sizeof(err));

    if (e != FT_OK)
        fail_msg("ft_store_open(%s): %s: %s", root, ft_err_name(e), err);
    assert_non_null(st);
    return st;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->base = tu_tempdir();
    f->root = tu_path(f->base, "root");
    f->tmpdir = tu_path(f->root, ".ft/tmp");
    /* The store creates its root. */
    f->st = open_store(f->root, false);
    *state = f;
    alarm(WATCHDOG_S);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    alarm(0);
    ft_store_close(f->st);
    tu_rmtree(f->base);
    free(f->tmpdir);
    free(f->root);
    free(f->base);
    free(f);
    return 0;
}

/* Reads a whole descriptor from its current offset. */
/* Opens a stored file, handing out its descriptor (-1 on failure, as the
 * store leaves it) and what the store says of it. */
static enum ft_err open_file(struct ft_store *st, const char *name, int *fd,
                             struct ft_store_entry *info)
{
    struct ft_store_file file;
    enum ft_err err = ft_store_open_file(st, name, &file);

    *fd = file.fd;
    if (err == FT_OK)
        *info = file.info;
    return err;
}

static char *read_fd(int fd, size_t *len)
{
    size_t cap = 256, n = 0;
    char *buf = malloc(cap + 1);

    assert_non_null(buf);
    for (;;) {
        ssize_t r;

        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *s;

    assert_true(fd >= 0);
    s = read_fd(fd, len);
    close(fd);
    return s;
}

static void assert_file_is(const char *dir, const char *name, const char *want)
{
    char *path = tu_path(dir, name);
    size_t len = 0;
    char *got = read_file(path, &len);

    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
    free(path);
}

static void put(struct ft_store *st, const char *name, const char *content)
{
    struct ft_upload up;

    assert_int_equal(ft_store_upload_begin(st, name, &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, content, strlen(content)), FT_OK);
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
}

/* What ft_store_list reported. */
struct listing {
    int count;
    int up_temporaries; /* entries that look like upload temporaries */
    char names[16][FT_PATH_MAX + 1];
    uint64_t sizes[16];
};

static enum ft_err collect(const struct ft_store_entry *e, void *ctx)
{
    struct listing *l = ctx;

    if (strncmp(e->name, "up-", 3) == 0)
        l->up_temporaries++;
    if (l->count < 16) {
        snprintf(l->names[l->count], sizeof(l->names[0]), "%s", e->name);
        l->sizes[l->count] = e->size;
    }
    l->count++;
    return FT_OK;
}

static struct listing list(struct ft_store *st)
{
    struct listing l;

    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(st, NULL, false, collect, &l), FT_OK);
    return l;
}

/* The index of name in the listing, or -1. */
static int listed(const struct listing *l, const char *name)
{
    for (int i = 0; i < l->count && i < 16; i++) {
        if (strcmp(l->names[i], name) == 0)
            return i;
    }
    return -1;
}

/* A recursive listing comes in the order ft sync compares names in (a
 * folder's entries right after it, '/' before every other byte), so a
 * syncing client need not sort (nor copy) a whole tree's listing. */
static void test_list_in_tree_order(void **state)
{
    static const char *const made[] = { "b", "c/d/e", "a.b", "a/y", "a-c", "a/x" };
    static const char *const want[] = { "a", "a/x", "a/y", "a-c", "a.b",
                                        "b", "c", "c/d", "c/d/e" };
    struct fixture *f = *state;
    struct listing l;

    for (size_t i = 0; i < sizeof(made) / sizeof(*made); i++)
        put(f->st, made[i], "x");
    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(f->st, NULL, true, collect, &l), FT_OK);
    assert_int_equal(l.count, 9);
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        assert_string_equal(l.names[i], want[i]);
}

static void test_upload_commit_visible(void **state)
{
    struct fixture *f = *state;
    char *path = tu_path(f->root, "notes.txt");
    struct ft_upload up;
    struct listing l;
    int i;

    assert_int_equal(ft_store_upload_begin(f->st, "notes.txt", &up), FT_OK);
    assert_true(up.fd >= 0);
    assert_int_equal(ft_store_upload_write(&up, "hello, ", 7), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, "", 0), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, "world\n", 6), FT_OK);
    assert_int_equal(up.written, 13);

    /* In flight: the name does not exist, the temporary is not listed. */
    assert_false(tu_exists(path));
    assert_int_equal(tu_count_entries(f->tmpdir), 1);
    l = list(f->st);
    assert_int_equal(l.count, 0);
    assert_int_equal(l.up_temporaries, 0);

    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    assert_int_equal(up.fd, -1);
    assert_file_is(f->root, "notes.txt", "hello, world\n");
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    l = list(f->st);
    assert_int_equal(l.count, 1);
    i = listed(&l, "notes.txt");
    assert_true(i >= 0);
    assert_int_equal(l.sizes[i], 13);
    /* Abort after commit is harmless and removes nothing. */
    ft_store_upload_abort(f->st, &up);
    assert_file_is(f->root, "notes.txt", "hello, world\n");
    free(path);
}

static void test_upload_empty_file(void **state)
{
    struct fixture *f = *state;
    struct ft_upload up;
    struct ft_store_entry info;
    int fd = -1;

    assert_int_equal(ft_store_upload_begin(f->st, "empty", &up), FT_OK);
    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    assert_int_equal(open_file(f->st, "empty", &fd, &info), FT_OK);
    assert_int_equal(info.size, 0);
    assert_string_equal(info.name, "empty");
    close(fd);
}

/* A large upload written in pieces arrives byte for byte. */
static void test_upload_large(void **state)
{
    struct fixture *f = *state;
    size_t n = 3u << 20;
    char *src = tu_path(f->base, "src.bin");
    char *dst = tu_path(f->root, "big.bin");
    struct ft_upload up;
    size_t len = 0;
    char *data;

    tu_write_random(src, n, 7);
    data = read_file(src, &len);
    assert_int_equal(len, n);
    assert_int_equal(ft_store_upload_begin(f->st, "big.bin", &up), FT_OK);
    for (size_t off = 0; off < n; off += 100000) {
        size_t k = n - off < 100000 ? n - off : 100000;

        assert_int_equal(ft_store_upload_write(&up, data + off, k), FT_OK);
    }
    assert_int_equal(up.written, n);
    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    assert_true(tu_files_equal(src, dst));
    free(data);
    free(dst);
    free(src);
}

static void test_abort_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    char *path = tu_path(f->root, "gone.txt");
    struct ft_upload up;

    assert_int_equal(ft_store_upload_begin(f->st, "gone.txt", &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, "partial", 7), FT_OK);
    assert_int_equal(tu_count_entries(f->tmpdir), 1);
    ft_store_upload_abort(f->st, &up);
    assert_int_equal(up.fd, -1);
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    assert_false(tu_exists(path));
    assert_int_equal(list(f->st).count, 0);
    /* Twice is harmless. */
    ft_store_upload_abort(f->st, &up);
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    free(path);
}

/* An abort of an upload that replaces a file leaves the old file. */
static void test_abort_keeps_old_version(void **state)
{
    struct fixture *f = *state;
    struct ft_upload up;

    put(f->st, "doc", "version 1");
    assert_int_equal(ft_store_upload_begin(f->st, "doc", &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, "version 2!", 10), FT_OK);
    ft_store_upload_abort(f->st, &up);
    assert_file_is(f->root, "doc", "version 1");
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
}

/* Aborting an upload that was never begun (fd -1) is safe. */
static void test_abort_never_begun(void **state)
{
    struct fixture *f = *state;
    struct ft_upload up;

    memset(&up, 0, sizeof(up));
    up.fd = -1;
    ft_store_upload_abort(f->st, &up);
    assert_int_equal(up.fd, -1);
    /* A refused begin leaves an upload that abort accepts too. */
    assert_int_equal(ft_store_upload_begin(f->st, "../x", &up), FT_ERR_BAD_NAME);
    ft_store_upload_abort(f->st, &up);
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
}

/* Readers see the old file or the new one, never a mix: a descriptor
 * opened before a commit still reads the old content whole. */
static void test_publication_is_atomic(void **state)
{
    struct fixture *f = *state;
    static const char old_text[] = "the old content, which is long enough to notice";
    static const char new_text[] = "NEW";
    struct ft_store_entry info;
    int old_fd = -1, new_fd = -1;
    size_t len = 0;
    char *got;

    put(f->st, "report", old_text);
    assert_int_equal(open_file(f->st, "report", &old_fd, &info), FT_OK);
    assert_int_equal(info.size, strlen(old_text));

    put(f->st, "report", new_text);

    got = read_fd(old_fd, &len);
    assert_int_equal(len, strlen(old_text));
    assert_memory_equal(got, old_text, len);
    free(got);

    assert_int_equal(open_file(f->st, "report", &new_fd, &info), FT_OK);
    assert_int_equal(info.size, strlen(new_text));
    got = read_fd(new_fd, &len);
    assert_int_equal(len, strlen(new_text));
    assert_memory_equal(got, new_text, len);
    free(got);
    close(old_fd);
    close(new_fd);
    assert_int_equal(list(f->st).count, 1);
}

static void test_open_file_info(void **state)
{
    struct fixture *f = *state;
    struct ft_store_entry info;
    struct stat sb;
    char *path = tu_path(f->root, "x.bin");
    int fd = -1;

    put(f->st, "x.bin", "12345");
    assert_int_equal(stat(path, &sb), 0);
    memset(&info, 0, sizeof(info));
    assert_int_equal(open_file(f->st, "x.bin", &fd, &info), FT_OK);
    assert_true(fd >= 0);
    assert_string_equal(info.name, "x.bin");
    assert_int_equal(info.size, 5);
    assert_true(info.mtime == (int64_t)sb.st_mtime);
    close(fd);
    free(path);
}

static void test_stale_temporaries_removed(void **state)
{
    struct fixture *f = *state;
    char *stale = tu_path(f->tmpdir, "up-stale");
    char *stale2 = tu_path(f->tmpdir, "up-0123456789abcdef");

    ft_store_close(f->st);
    f->st = NULL;
    tu_write_bytes(stale, "left by a crash", 15);
    tu_write_bytes(stale2, "another", 7);
    assert_int_equal(tu_count_entries(f->tmpdir), 2);
    f->st = open_store(f->root, false);
    assert_false(tu_exists(stale));
    assert_false(tu_exists(stale2));
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    free(stale2);
    free(stale);
}

/* One server per root: a second open fails while the first holds it, and
 * succeeds once it is closed. */
static void test_second_open_busy(void **state)
{
    struct fixture *f = *state;
    struct ft_store *second = NULL;
    char err[256] = "";

    assert_int_equal(ft_store_open(&second, f->root, false, err, sizeof(err)),
                     FT_ERR_BUSY);
    assert_null(second);
    assert_true(strlen(err) > 0);
    ft_store_close(f->st);
    f->st = NULL;
    f->st = open_store(f->root, false);
}

/* Whether another open of path sees a lock on the whole file: an open file
 * description lock, the kind that holds between threads of one process on
 * every file system (a flock, which NFS emulates with per-process locks,
 * is not seen). */
static bool locked_for_others(const char *path)
{
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd = open(path, O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_OFD_GETLK, &l), 0);
    close(fd);
    return l.l_type != F_UNLCK;
}

/* The store's lock is a descriptor lock: two opens of one root in one
 * process (a server's threads) conflict, as two servers do. */
static void test_lock_holds_between_threads(void **state)
{
    struct fixture *f = *state;
    char *lock = tu_path(f->root, ".ft/lock");
    struct ft_store *second = NULL;
    char err[256] = "";

    assert_true(locked_for_others(lock));
    assert_int_equal(ft_store_open(&second, f->root, false, err, sizeof(err)),
                     FT_ERR_BUSY);
    assert_null(second);
    ft_store_close(f->st);
    f->st = NULL;
    assert_false(locked_for_others(lock));
    f->st = open_store(f->root, false);
    free(lock);
}

struct kept_try {
    struct ft_store *st;
    struct ft_upload up;
    uint64_t have;
    enum ft_err err;
};

static void *begin_kept_thread(void *arg)
{
    struct kept_try *t = arg;

    t->err = ft_store_upload_begin_kept(t->st, "same", "00ff", 3600, &t->up,
                                        &t->have);
    return NULL;
}

/* A kept upload is locked while a session writes it: a second session (a
 * thread of the same server) asking for the same one gets a plain
 * temporary, never the first one's file. */
static void test_kept_upload_locked_between_threads(void **state)
{
    struct fixture *f = *state;
    char *part = tu_path(f->root, ".ft/partial/part-00ff");
    struct kept_try first = { .st = f->st }, second = { .st = f->st };
    pthread_t tid;

    begin_kept_thread(&first);
    assert_int_equal(first.err, FT_OK);
    assert_int_equal(ft_store_upload_write(&first.up, "abc", 3), FT_OK);
    assert_true(locked_for_others(part));
    assert_int_equal(pthread_create(&tid, NULL, begin_kept_thread, &second), 0);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(second.err, FT_OK);
    assert_int_equal(second.have, 0);
    assert_string_not_equal(second.up.tmp, "part-00ff");
    ft_store_upload_abort(f->st, &second.up);
    ft_store_upload_keep(f->st, &first.up);
    assert_false(locked_for_others(part));
    assert_int_equal(tu_file_size(part), 3);
    free(part);
}

/* Whether opening the store is refused with a message that names path
 * and holds fix (how to mend it); then mend runs and the store opens. */
static void expect_open_refused(struct fixture *f, const char *path,
                                const char *fix, const char *mend)
{
    struct ft_store *st = NULL;
    char err[512] = "";

    assert_int_equal(ft_store_open(&st, f->root, false, err, sizeof(err)),
                     FT_ERR_DENIED);
    assert_null(st);
    if (strstr(err, path) == NULL || strstr(err, fix) == NULL)
        fail_msg("expected %s and \"%s\" in: %s", path, fix, err);
    assert_int_equal(system(mend), 0);
    f->st = open_store(f->root, false);
}

/* A metadata folder (.ft, .ft/tmp, .ft/partial) that others may write in,
 * that is a link, or that belongs to another user is refused at start,
 * with a message that says how to fix it: others could plant a key, read
 * kept uploads, or swap a temporary for a link. */
static void test_metadata_folder_checked(void **state)
{
    struct fixture *f = *state;
    const char *const folders[] = { ".ft", ".ft/tmp", ".ft/partial" };
    char *outside = tu_path(f->base, "outside");
    char cmd[4096], fix[4096];

    assert_int_equal(mkdir(outside, 0700), 0);
    for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
        char *path = tu_path(f->root, folders[i]);
        char *aside = tu_path(f->base, "aside");

        ft_store_close(f->st);
        f->st = NULL;
        assert_int_equal(chmod(path, 0777), 0);
        snprintf(fix, sizeof(fix), "writable by others: chmod 700 %s", path);
        snprintf(cmd, sizeof(cmd), "chmod 700 '%s'", path);
        expect_open_refused(f, path, fix, cmd);

        ft_store_close(f->st);
        f->st = NULL;
        assert_int_equal(rename(path, aside), 0);
        assert_int_equal(symlink(outside, path), 0);
        snprintf(cmd, sizeof(cmd), "rm '%s' && mv '%s' '%s'", path, aside, path);
        expect_open_refused(f, path, "symbolic link", cmd);

        if (geteuid() == 0) {
            ft_store_close(f->st);
            f->st = NULL;
            assert_int_equal(chown(path, 1, 1), 0);
            snprintf(cmd, sizeof(cmd), "chown 0:0 '%s'", path);
            expect_open_refused(f, path, "chown 0", cmd);
        }
        free(aside);
        free(path);
    }
    assert_int_equal(tu_count_entries(outside), 0);
    free(outside);
}

/* What a child reports when it may not make a mount namespace. */
#define NO_NAMESPACE 77

static enum ft_err count_alias(const struct ft_store_entry *e, void *ctx)
{
    if (strstr(e->name, "alias") != NULL)
        ++*(int *)ctx;
    return FT_OK;
}

/* In a private mount namespace, the metadata folder bind-mounted as alias
 * and d/alias (as a case-folding file system lets .FT reach .ft): 0 if
 * nothing of it is served through them, else the number of the first
 * check that failed; NO_NAMESPACE when no namespace could be made. */
static int served_through_alias(struct fixture *f)
{
    struct ft_store_entry e;
    struct ft_store_file file;
    struct ft_upload up;
    char err[256];
    int seen = 0, failed = 0;
    /* The child's to _exit with: nothing here is freed. */
    char *meta = tu_path(f->root, ".ft");
    char *lock = tu_path(meta, "lock");

    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(meta, tu_path(f->root, "alias"), NULL, MS_BIND, NULL) != 0 ||
        mount(meta, tu_path(f->root, "d/alias"), NULL, MS_BIND, NULL) != 0)
        return NO_NAMESPACE;
    /* Opened in the namespace: a root opened before sees no mount made
     * after. */
    if (ft_store_open(&f->st, f->root, false, err, sizeof(err)) != FT_OK)
        return 100;
    if (ft_store_stat(f->st, "alias", &e) == FT_OK)
        failed = 1;
    else if (ft_store_stat(f->st, "alias/lock", &e) == FT_OK)
        failed = 2;
    else if (ft_store_open_file(f->st, "alias/lock", &file) == FT_OK)
        failed = 3;
    else if (ft_store_list(f->st, NULL, true, count_alias, &seen) != FT_OK ||
             seen != 0)
        failed = 4;
    else if (ft_store_list(f->st, "alias", false, count_alias, &seen) == FT_OK)
        failed = 5;
    else if (ft_store_remove(f->st, "alias/lock", false) == FT_OK)
        failed = 6;
    else if (ft_store_remove(f->st, "d", true) == FT_OK)
        failed = 7;
    else if (ft_store_remove(f->st, "alias", true) == FT_OK)
        failed = 8;
    else if (ft_store_move(f->st, "alias/lock", "stolen") == FT_OK)
        failed = 9;
    else if (ft_store_upload_begin(f->st, "alias/planted", &up) == FT_OK)
        failed = 10;
    else if (!tu_exists(lock) || tu_count_entries(meta) < 3)
        failed = 11;
    return failed;
}

/* The metadata folder is known by what it is, not by its name: reached
 * under another (a bind mount here; ".FT" on a file system that folds
 * case), it is neither served, listed, removed, moved nor written into. */
static void test_metadata_folder_by_identity(void **state)
{
    struct fixture *f = *state;
    char *alias = tu_path(f->root, "alias");
    char *deep = tu_path(f->root, "d/alias");
    int status = 0;
    pid_t pid;

    put(f->st, "d/x", "x");
    assert_int_equal(mkdir(alias, 0700), 0);
    assert_int_equal(mkdir(deep, 0700), 0);
    ft_store_close(f->st);
    f->st = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(served_through_alias(f));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    f->st = open_store(f->root, false);
    free(deep);
    free(alias);
    if (WEXITSTATUS(status) == NO_NAMESPACE)
        skip();
    if (WEXITSTATUS(status) != 0)
        fail_msg("check %d served the metadata folder through its alias",
                 WEXITSTATUS(status));
}

/* Keeps an interrupted upload of size bytes (sparse beyond what is
 * written) under key, its time then set to when (seconds since the epoch). */
static void keep_part(struct fixture *f, const char *key, uint64_t size,
                      time_t when)
{
    struct timespec times[2] = { { 0, UTIME_OMIT }, { when, 0 } };
    char name[64];
    struct ft_upload up;
    uint64_t have = 1;
    char *path;

    assert_int_equal(ft_store_upload_begin_kept(f->st, "kept", key, 3600, &up,
                                                &have), FT_OK);
    assert_int_equal(have, 0);
    assert_int_equal(ft_store_upload_write(&up, "k", 1), FT_OK);
    assert_int_equal(ft_store_upload_resize(&up, size), FT_OK);
    ft_store_upload_keep(f->st, &up);
    snprintf(name, sizeof(name), ".ft/partial/part-%s", key);
    path = tu_path(f->root, name);
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    free(path);
}

static bool part_kept(struct fixture *f, const char *key)
{
    char name[64];
    char *path;
    bool there;

    snprintf(name, sizeof(name), ".ft/partial/part-%s", key);
    path = tu_path(f->root, name);
    there = tu_exists(path);
    free(path);
    return there;
}

/* Kept uploads are bounded: 300 clients that each send PUT then ERROR
 * leave the newest 256, and two of 40 GiB (sparse) leave the newer one. */
static void test_partials_bounded(void **state)
{
    struct fixture *f = *state;
    char *partials = tu_path(f->root, ".ft/partial");
    time_t now = time(NULL);
    char key[16];

    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "%08x", i);
        keep_part(f, key, 1, now - 1000 + i);
    }
    assert_int_equal(tu_count_entries(partials), 256);
    assert_false(part_kept(f, "00000000"));
    assert_false(part_kept(f, "0000002b"));
    assert_true(part_kept(f, "0000002c"));
    assert_true(part_kept(f, "0000012b"));

    keep_part(f, "big1", 40ull << 30, now - 100);
    assert_true(part_kept(f, "big1"));
    keep_part(f, "big2", 40ull << 30, now - 50);
    assert_false(part_kept(f, "big1"));
    assert_true(part_kept(f, "big2"));
    free(partials);
}

/* Expiry reads the folder at start and then at most once a minute, not at
 * every upload (200,000 kept uploads made a 6-byte put take 0.5 s); a kept
 * upload a session holds is never removed under it. */
static void test_partials_expire_not_at_every_upload(void **state)
{
    struct fixture *f = *state;
    struct timespec old[2] = { { 0, UTIME_OMIT }, { time(NULL) - 7200, 0 } };
    char *held = tu_path(f->root, ".ft/partial/part-4e1d");
    struct ft_upload up;
    uint64_t have;

    ft_store_expire_partials(f->st, 3600);
    keep_part(f, "01d", 1, time(NULL) - 7200);
    assert_int_equal(ft_store_upload_begin_kept(f->st, "held", "4e1d", 3600,
                                                &up, &have), FT_OK);
    assert_true(part_kept(f, "01d"));
    assert_int_equal(ft_store_upload_write(&up, "held", 4), FT_OK);
    assert_int_equal(utimensat(AT_FDCWD, held, old, 0), 0);

    ft_store_expire_partials(f->st, 3600);
    assert_false(part_kept(f, "01d"));
    assert_true(part_kept(f, "4e1d"));
    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    assert_file_is(f->root, "held", "held");
    free(held);
}

/* Session A, which wrote "A's bytes", publishes or gives up; then B, which
 * wrote "B's", publishes: each publishes its own bytes, and A's end leaves
 * B's upload whole. */
static void a_then_b(struct fixture *f, struct ft_upload *a, struct ft_upload *b,
                     bool a_publishes)
{
    if (a_publishes) {
        assert_int_equal(ft_store_upload_commit(f->st, a), FT_OK);
        assert_file_is(f->root, "raced", "A's bytes");
    } else {
        ft_store_upload_abort(f->st, a);
    }
    assert_int_equal(ft_store_upload_commit(f->st, b), FT_OK);
    assert_file_is(f->root, "raced", "B's");
}

/* Session A holds the kept upload of a name; by its time it has expired
 * when the expiry runs; then session B starts the same name's resumable
 * upload. A's part is A's to the end: the expiry leaves it, B gets a
 * temporary of its own, and whatever A does (gives up, or publishes)
 * touches neither B's upload nor B's bytes. Were the expiry to remove the
 * part under A, B would make a new one under the same name, and A's abort
 * would delete it, A's commit publish B's bytes. */
static void race_expiry(struct fixture *f, const char *key, bool a_publishes)
{
    struct timespec old[2] = { { 0, UTIME_OMIT }, { time(NULL) - 7200, 0 } };
    struct kept_try a = { .st = f->st }, b = { .st = f->st };
    char name[64];
    char *part;

    snprintf(name, sizeof(name), ".ft/partial/part-%s", key);
    part = tu_path(f->root, name);
    assert_int_equal(ft_store_upload_begin_kept(f->st, "raced", key, 3600, &a.up,
                                                &a.have), FT_OK);
    assert_int_equal(ft_store_upload_write(&a.up, "A's bytes", 9), FT_OK);
    assert_int_equal(utimensat(AT_FDCWD, part, old, 0), 0);

    ft_store_expire_partials(f->st, 3600);
    assert_true(tu_exists(part));
    assert_int_equal(ft_store_upload_begin_kept(f->st, "raced", key, 3600, &b.up,
                                                &b.have), FT_OK);
    assert_int_equal(b.have, 0);
    assert_int_equal(ft_store_upload_write(&b.up, "B's", 3), FT_OK);

    a_then_b(f, &a.up, &b.up, a_publishes);
    free(part);
}

static void test_expiry_race_leaves_each_session_its_own(void **state)
{
    struct fixture *f = *state;

    race_expiry(f, "a60a", false);
    race_expiry(f, "a60b", true);
}

/* A pause inside the store, between a session's open of a kept upload and
 * its lock: the test's fcntl stands in for libc's for the whole program,
 * and calls lock_hook (once) before the first lock taken on the file
 * whose inode is lock_hook_ino. Every other call goes straight through. */
static void (*lock_hook)(void *);
static void *lock_hook_ctx;
static ino_t lock_hook_ino;

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg = NULL;
    struct stat sb;
    void (*hook)(void *) = lock_hook;

    /* The commands that take no third argument; every other takes one. */
    if (cmd != F_GETFD && cmd != F_GETFL && cmd != F_GETOWN && cmd != F_GETSIG &&
        cmd != F_GETLEASE && cmd != F_GETPIPE_SZ && cmd != F_GET_SEALS) {
        va_start(ap, cmd);
        arg = va_arg(ap, void *); /* as glibc's own fcntl reads it */
        va_end(ap);
    }
    if (cmd == F_OFD_SETLK && hook != NULL && fstat(fd, &sb) == 0 &&
        sb.st_ino == lock_hook_ino) {
        lock_hook = NULL;
        hook(lock_hook_ctx);
    }
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* What runs in session A's pause: its kept upload ages past the ttl, the
 * expiry runs, and session B begins the same upload. */
struct opened_then_expired {
    struct fixture *f;
    const char *part, *key;
    struct kept_try b;
};

static void expire_then_begin_b(void *ctx)
{
    struct opened_then_expired *r = ctx;
    struct timespec old[2] = { { 0, UTIME_OMIT }, { time(NULL) - 7200, 0 } };

    assert_int_equal(utimensat(AT_FDCWD, r->part, old, 0), 0);
    ft_store_expire_partials(r->f->st, 3600);
    assert_false(tu_exists(r->part)); /* nobody held it yet */
    r->b.st = r->f->st;
    assert_int_equal(ft_store_upload_begin_kept(r->f->st, "raced", r->key, 3600,
                                                &r->b.up, &r->b.have), FT_OK);
    assert_int_equal(ft_store_upload_write(&r->b.up, "B's", 3), FT_OK);
}

/* Session A opens a kept upload just before it expires: between A's open
 * and A's lock, the expiry removes it and session B makes a new one under
 * the same name. A finds, after its lock, that the name no longer leads to
 * what it opened, and takes a temporary of its own: whatever A then does
 * (gives up, or publishes) never deletes B's upload nor publishes B's
 * bytes. Without that check A would write into the removed file under
 * B's name, and its abort delete B's upload, its commit publish B's
 * bytes. */
static void opened_just_before_expiry(struct fixture *f, const char *key,
                                      bool a_publishes)
{
    struct opened_then_expired r = { .f = f, .key = key };
    struct ft_upload a;
    struct stat sb;
    uint64_t have = 1;
    char name[64];
    char *part;

    snprintf(name, sizeof(name), ".ft/partial/part-%s", key);
    r.part = part = tu_path(f->root, name);
    keep_part(f, key, 5, time(NULL));
    assert_int_equal(stat(part, &sb), 0);
    lock_hook_ino = sb.st_ino;
    lock_hook_ctx = &r;
    lock_hook = expire_then_begin_b;
    assert_int_equal(ft_store_upload_begin_kept(f->st, "raced", key, 3600, &a, &have),
                     FT_OK);
    assert_null(lock_hook); /* the pause came */
    assert_int_equal(have, 0);
    assert_int_equal(ft_store_upload_write(&a, "A's bytes", 9), FT_OK);
    a_then_b(f, &a, &r.b.up, a_publishes);
    free(part);
}

static void test_opened_just_before_expiry(void **state)
{
    struct fixture *f = *state;

    opened_just_before_expiry(f, "b60a", false);
    opened_just_before_expiry(f, "b60b", true);
}

/* The second open must not clean up temporaries of the first, live,
 * server's uploads. */
static void test_busy_open_keeps_live_uploads(void **state)
{
    struct fixture *f = *state;
    struct ft_store *second = NULL;
    struct ft_upload up;
    char err[256];

    assert_int_equal(ft_store_upload_begin(f->st, "live", &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, "data", 4), FT_OK);
    assert_int_equal(ft_store_open(&second, f->root, false, err, sizeof(err)),
                     FT_ERR_BUSY);
    assert_int_equal(ft_store_upload_commit(f->st, &up), FT_OK);
    assert_file_is(f->root, "live", "data");
}

/* A symbolic link inside the root that points outside it. */
static void test_symlink_out_refused(void **state)
{
    struct fixture *f = *state;
    char *outside = tu_path(f->base, "secret.txt");
    char *link = tu_path(f->root, "link");
    struct ft_store_entry info;
    struct listing l;
    struct stat sb;
    int fd = -1;

    tu_write_bytes(outside, "top secret", 10);
    assert_int_equal(symlink(outside, link), 0);
    put(f->st, "plain", "p");

    assert_int_equal(open_file(f->st, "link", &fd, &info), FT_ERR_DENIED);
    assert_int_equal(fd, -1);
    assert_int_equal(ft_store_remove(f->st, "link", false), FT_ERR_DENIED);
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_file_is(f->base, "secret.txt", "top secret");

    l = list(f->st);
    assert_int_equal(l.count, 1);
    assert_true(listed(&l, "plain") >= 0);
    assert_int_equal(listed(&l, "link"), -1);

    /* An upload under the link's name replaces the link, not its target. */
    put(f->st, "link", "mine");
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_file_is(f->root, "link", "mine");
    assert_file_is(f->base, "secret.txt", "top secret");
    free(link);
    free(outside);
}

/* A relative link to a parent-folder file and a dangling link. */
static void test_relative_and_dangling_links(void **state)
{
    struct fixture *f = *state;
    char *outside = tu_path(f->base, "outside");
    char *rel = tu_path(f->root, "rel");
    char *dangling = tu_path(f->root, "dangling");
    struct ft_store_entry info;
    int fd = -1;

    tu_write_bytes(outside, "o", 1);
    assert_int_equal(symlink("../outside", rel), 0);
    assert_int_equal(symlink("/nonexistent/ft-test", dangling), 0);
    assert_int_equal(open_file(f->st, "rel", &fd, &info), FT_ERR_DENIED);
    assert_int_equal(open_file(f->st, "dangling", &fd, &info),
                     FT_ERR_DENIED);
    assert_int_equal(ft_store_remove(f->st, "rel", false), FT_ERR_DENIED);
    assert_int_equal(ft_store_remove(f->st, "dangling", false), FT_ERR_DENIED);
    assert_true(tu_exists(outside));
    assert_int_equal(list(f->st).count, 0);
    free(dangling);
    free(rel);
    free(outside);
}

/* A FIFO planted in the root is refused at once: opening it must not wait
 * for a writer (the watchdog alarm ends the program if it does). */
static void test_fifo_refused_without_blocking(void **state)
{
    struct fixture *f = *state;
    char *fifo = tu_path(f->root, "fifo");
    struct ft_store_entry info;
    int fd = -1;

    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(open_file(f->st, "fifo", &fd, &info), FT_ERR_DENIED);
    assert_int_equal(fd, -1);
    assert_int_equal(ft_store_remove(f->st, "fifo", false), FT_ERR_DENIED);
    assert_true(tu_exists(fifo));
    assert_int_equal(list(f->st).count, 0);
    free(fifo);
}

static void test_directory_refused(void **state)
{
    struct fixture *f = *state;
    char *dir = tu_path(f->root, "sub");
    struct ft_store_entry info;
    int fd = -1;

    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(open_file(f->st, "sub", &fd, &info), FT_ERR_DENIED);
    assert_int_equal(fd, -1);
    assert_int_equal(ft_store_remove(f->st, "sub", false), FT_ERR_DENIED);
    assert_true(tu_exists(dir));
    /* Listed as a folder, not served as a file. */
    assert_int_equal(list(f->st).count, 1);
    free(dir);
}

/* Names with folders: created on upload, each entered without following
 * links, listed recursively, moved and removed as trees. */
static void test_folders(void **state)
{
    struct fixture *f = *state;
    char *outside = tu_tempdir();
    char *victim = tu_path(outside, "x");
    char *link = tu_path(f->root, "escape");
    char *deep = tu_path(f->root, "a/b/c.txt");
    char *moved = tu_path(f->root, "z/moved/c.txt");
    char *inner_link = tu_path(f->root, "z/moved/link");
    char *zdir = tu_path(f->root, "z");
    struct ft_store_entry info;
    struct ft_upload up;
    struct listing l;
    int fd = -1;

    put(f->st, "a/b/c.txt", "deep");
    put(f->st, "a/top.txt", "top");
    assert_true(tu_exists(deep));
    assert_int_equal(open_file(f->st, "a/b/c.txt", &fd, &info), FT_OK);
    close(fd);
    assert_int_equal(ft_store_stat(f->st, "a/b", &info), FT_OK);
    assert_true(S_ISDIR(info.mode));

    /* A link to a folder outside is never entered, for any operation. */
    assert_int_equal(symlink(outside, link), 0);
    tu_write_bytes(victim, "outside", 7);
    assert_int_equal(ft_store_upload_begin(f->st, "escape/x", &up), FT_ERR_DENIED);
    assert_int_equal(open_file(f->st, "escape/x", &fd, &info), FT_ERR_DENIED);
    assert_int_equal(ft_store_remove(f->st, "escape/x", false), FT_ERR_DENIED);
    assert_int_equal(ft_store_move(f->st, "a/top.txt", "escape/y"), FT_ERR_DENIED);
    assert_int_equal(ft_store_list(f->st, "escape", false, collect, &l),
                     FT_ERR_NOT_FOUND);

    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(f->st, "a", true, collect, &l), FT_OK);
    assert_int_equal(l.count, 3); /* b, b/c.txt, top.txt */
    assert_true(listed(&l, "b/c.txt") >= 0);

    assert_int_equal(ft_store_move(f->st, "a/b", "z/moved"), FT_OK);
    assert_true(tu_exists(moved));
    /* rm -r of a tree holding a link removes the link, not its target. */
    assert_int_equal(symlink(outside, inner_link), 0);
    assert_int_equal(ft_store_remove(f->st, "z", false), FT_ERR_DENIED);
    assert_int_equal(ft_store_remove(f->st, "z", true), FT_OK);
    assert_false(tu_exists(zdir));
    assert_true(tu_exists(victim));
    /* The link at the root itself goes with a plain rm. */
    assert_int_equal(ft_store_remove(f->st, "escape", true), FT_ERR_DENIED);
    assert_true(tu_exists(victim));
    tu_rmtree(outside);
    free(outside);
    free(victim);
    free(link);
    free(deep);
    free(moved);
    free(inner_link);
    free(zdir);
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    struct ft_store *ro;
    struct ft_store_entry info;
    struct ft_upload up;
    struct listing l;
    size_t len = 0;
    char *got;
    char got_room[1];
    int fd = -1;

    put(f->st, "a", "alpha");
    ft_store_close(f->st);
    f->st = NULL;
    ro = open_store(f->root, true);

    assert_int_equal(ft_store_upload_begin(ro, "b", &up), FT_ERR_READ_ONLY);
    assert_int_equal(up.fd, -1);
    ft_store_upload_abort(ro, &up);
    assert_int_equal(ft_store_upload_begin_held(ro, "b", (uint8_t *)got_room, 1, &up),
                     FT_ERR_READ_ONLY);
    assert_int_equal(ft_store_remove(ro, "a", false), FT_ERR_READ_ONLY);
    assert_file_is(f->root, "a", "alpha");
    assert_int_equal(tu_count_entries(f->tmpdir), 0);

    /* Reading still works. */
    assert_int_equal(open_file(ro, "a", &fd, &info), FT_OK);
    got = read_fd(fd, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "alpha", 5);
    free(got);
    close(fd);
    l = list(ro);
    assert_int_equal(l.count, 1);
    assert_true(listed(&l, "a") >= 0);
    ft_store_close(ro);
}

/* A read-only store never creates its root. */
static void test_read_only_missing_root(void **state)
{
    struct fixture *f = *state;
    char *missing = tu_path(f->base, "missing");
    struct ft_store *st = NULL;
    char err[256] = "";

    assert_int_not_equal(ft_store_open(&st, missing, true, err, sizeof(err)),
                         FT_OK);
    assert_null(st);
    assert_false(tu_exists(missing));
    free(missing);
}

static void test_root_is_a_file(void **state)
{
    struct fixture *f = *state;
    char *file = tu_path(f->base, "plainfile");
    struct ft_store *st = NULL;
    char err[256] = "";

    tu_write_bytes(file, "x", 1);
    assert_int_not_equal(ft_store_open(&st, file, false, err, sizeof(err)), FT_OK);
    assert_null(st);
    assert_true(strlen(err) > 0);
    free(file);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    char *path = tu_path(f->root, "victim");
    struct ft_store_entry info;
    int fd = -1;

    assert_int_equal(ft_store_remove(f->st, "missing", false), FT_ERR_NOT_FOUND);
    assert_int_equal(open_file(f->st, "missing", &fd, &info),
                     FT_ERR_NOT_FOUND);
    put(f->st, "victim", "v");
    assert_int_equal(ft_store_remove(f->st, "victim", false), FT_OK);
    assert_false(tu_exists(path));
    assert_int_equal(ft_store_remove(f->st, "victim", false), FT_ERR_NOT_FOUND);
    assert_int_equal(list(f->st).count, 0);
    free(path);
}

/* Every operation applies the name rules before touching the disk. */
static void test_invalid_names_refused_everywhere(void **state)
{
    static const char *const bad[] = {
        "", ".", "..", ".ft", "../x", "/etc/passwd", "a/../../b", "a//b",
        ".ft/lock", ".ft/tmp", "\n", "x\x1b[2J", "\x7f",
    };
    struct fixture *f = *state;
    char longname[FT_NAME_MAX + 2];
    char *meta = tu_path(f->root, ".ft");

    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    put(f->st, "keep", "k");
    for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        const char *name = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : longname;
        struct ft_store_entry info;
        struct ft_upload up;
        int fd = -1;

        if (open_file(f->st, name, &fd, &info) != FT_ERR_BAD_NAME)
            fail_msg("open_file accepted bad name #%zu", i);
        assert_int_equal(fd, -1);
        if (ft_store_upload_begin(f->st, name, &up) != FT_ERR_BAD_NAME)
            fail_msg("upload_begin accepted bad name #%zu", i);
        assert_int_equal(up.fd, -1);
        if (ft_store_remove(f->st, name, false) != FT_ERR_BAD_NAME)
            fail_msg("remove accepted bad name #%zu", i);
    }
    /* Nothing was created, removed or left behind. */
    assert_true(tu_exists(meta));
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    assert_int_equal(tu_count_entries(f->root), 2); /* .ft and keep */
    assert_file_is(f->root, "keep", "k");
    assert_true(tu_exists("/etc/passwd"));
    free(meta);
}

/* The metadata folder is never listed; files whose names the rules refuse
 * (made by hand) are skipped. */
static void test_list_hides_metadata_and_bad_names(void **state)
{
    struct fixture *f = *state;
    char *ctl = tu_path(f->root, "bad\x1bname");
    struct listing l;

    put(f->st, "one", "1");
    put(f->st, "two", "22");
    tu_write_bytes(ctl, "c", 1);
    l = list(f->st);
    assert_int_equal(l.count, 2);
    assert_true(listed(&l, "one") >= 0);
    assert_int_equal(l.sizes[listed(&l, "two")], 2);
    assert_int_equal(listed(&l, ".ft"), -1);
    free(ctl);
}

/* A file lists as itself alone, under the name it was asked by, with or
 * without recursive; a link still lists as nothing. */
static void test_list_of_a_file(void **state)
{
    struct listing l;
    struct fixture *f = *state;
    char *link = tu_path(f->root, "d/link");

    for (int i = 0; i < 2; i++)
        put(f->st, i == 0 ? "d/f.txt" : "d/g.txt", i == 0 ? "four" : "other");
    assert_int_equal(symlink("f.txt", link), 0);
    for (int recursive = 0; recursive <= 1; recursive++) {
        memset(&l, 0, sizeof(l));
        assert_int_equal(ft_store_list(f->st, "d/f.txt", recursive, collect, &l),
                         FT_OK);
        assert_int_equal(l.count, 1);
        assert_string_equal(l.names[0], "d/f.txt");
        assert_int_equal(l.sizes[0], 4);
    }
    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(f->st, "d/link", false, collect, &l),
                     FT_ERR_NOT_FOUND);
    assert_int_equal(ft_store_list(f->st, "d/f.txt/x", false, collect, &l),
                     FT_ERR_DENIED);
    assert_int_equal(l.count, 0);
    free(link);
}

/* Only the store's own ".ft", at its root, is hidden and refused; below
 * the root ".ft" is an ordinary name for every operation. */
static void test_dot_ft_below_the_root(void **state)
{
    struct listing l = { .count = 0 };
    int fd = -1;
    struct fixture *f = *state;
    struct ft_store_entry info;
    struct ft_upload up;

    put(f->st, "a/.ft", "file");
    put(f->st, "b/.ft/c", "deep");
    assert_int_equal(ft_store_list(f->st, NULL, true, collect, &l), FT_OK);
    assert_int_equal(l.count, 5); /* a, a/.ft, b, b/.ft, b/.ft/c */
    assert_true(listed(&l, "a/.ft") >= 0);
    assert_true(listed(&l, "b/.ft/c") >= 0);
    assert_int_equal(listed(&l, ".ft"), -1);
    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(f->st, "b", true, collect, &l), FT_OK);
    assert_int_equal(l.count, 2);
    assert_true(listed(&l, ".ft") >= 0);
    assert_true(listed(&l, ".ft/c") >= 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(ft_store_list(f->st, "b/.ft", false, collect, &l), FT_OK);
    assert_int_equal(l.count, 1);

    assert_int_equal(open_file(f->st, "a/.ft", &fd, &info), FT_OK);
    close(fd);
    assert_int_equal(ft_store_stat(f->st, "b/.ft", &info), FT_OK);
    assert_true(S_ISDIR(info.mode));
    assert_int_equal(ft_store_move(f->st, "b/.ft", "c/.ft"), FT_OK);
    assert_file_is(f->root, "c/.ft/c", "deep");
    assert_int_equal(ft_store_remove(f->st, "a/.ft", false), FT_OK);
    assert_int_equal(ft_store_remove(f->st, "c/.ft", true), FT_OK);
    /* The root's own stays out of reach. */
    assert_int_equal(ft_store_upload_begin(f->st, ".ft/x", &up), FT_ERR_BAD_NAME);
    assert_int_equal(ft_store_list(f->st, ".ft", false, collect, &l),
                     FT_ERR_BAD_NAME);
    assert_int_equal(ft_store_stat(f->st, ".ft", &info), FT_ERR_BAD_NAME);
}

/* What a refused name met, and where: the first thing on its way that is
 * not a folder, or what is at the name itself. */
static void test_obstacle(void **state)
{
    struct fixture *f = *state;
    char *link = tu_path(f->root, "d/link");
    char *fifo = tu_path(f->root, "d/fifo");
    static const struct {
        const char *name;
        enum ft_store_kind kind;
        size_t at;
    } cases[] = {
        { "d/f/x/y", FT_STORE_FILE, 3 },     { "d/link/x", FT_STORE_LINK, 6 },
        { "d/fifo/x", FT_STORE_SPECIAL, 6 }, { "d/link", FT_STORE_LINK, 6 },
        { "d", FT_STORE_FOLDER, 1 },         { "d/f", FT_STORE_FILE, 3 },
    };
    size_t at = 99;

    put(f->st, "d/f", "file");
    assert_int_equal(symlink("f", link), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(ft_store_obstacle(f->st, cases[i].name, &at),
                         cases[i].kind);
        assert_int_equal(at, cases[i].at);
    }
    assert_int_equal(ft_store_obstacle(f->st, "d/none/x", &at), FT_STORE_NOTHING);
    assert_int_equal(ft_store_obstacle(f->st, ".ft/tmp", &at), FT_STORE_NOTHING);
    free(link);
    free(fifo);
}

static enum ft_err stop_at_first(const struct ft_store_entry *e, void *ctx)
{
    int *calls = ctx;

    (void)e;
    (*calls)++;
    return FT_ERR_NO_SPACE;
}

static void test_list_stops_on_callback_error(void **state)
{
    struct fixture *f = *state;
    int calls = 0;

    put(f->st, "a", "1");
    put(f->st, "b", "2");
    put(f->st, "c", "3");
    assert_int_equal(ft_store_list(f->st, NULL, false, stop_at_first, &calls), FT_ERR_NO_SPACE);
    assert_int_equal(calls, 1);
}

/* Committed files are readable by others (0644), not left at the 0600 of
 * the temporary. */
static void test_commit_mode(void **state)
{
    struct fixture *f = *state;
    char *path = tu_path(f->root, "m");
    struct stat sb;

    put(f->st, "m", "mode");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    free(path);
}

/* A held upload is bytes in the caller's buffer until its commit makes its
 * folders, its temporary and its file; a failure found on the way (a file
 * where a folder should be, or one found before, by an early unhold) is
 * that upload's answer and touches none of the others. */
static void test_held_uploads(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[4][16];
    struct ft_upload ups[4];
    enum ft_err errs[4] = { FT_OK, FT_OK, FT_OK, FT_ERR_NO_SPACE };
    char *folder = tu_path(f->root, "a");
    char *lost = tu_path(f->root, "lost");

    put(f->st, "file", "in the way");
    assert_int_equal(ft_store_upload_begin_held(f->st, "a/b/held.txt", buf[0], 5, &ups[0]),
                     FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[0], "hel", 3), FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[0], "lo", 2), FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[0], "!", 1), FT_ERR_TOO_LARGE);
    assert_int_equal(ft_store_upload_begin_held(f->st, "early", buf[1], 2, &ups[1]), FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[1], "ok", 2), FT_OK);
    assert_int_equal(ft_store_upload_begin_held(f->st, "file/x", buf[2], 1, &ups[2]), FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[2], "x", 1), FT_OK);
    assert_int_equal(ft_store_upload_begin_held(f->st, "../x", buf[3], 1, &ups[3]),
                     FT_ERR_BAD_NAME);
    assert_int_equal(ft_store_upload_begin_held(f->st, "lost", buf[3], 1, &ups[3]), FT_OK);
    assert_int_equal(ft_store_upload_write(&ups[3], "y", 1), FT_OK);

    /* Nothing is made before the commit, or an unhold. */
    assert_false(tu_exists(folder));
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    assert_int_equal(ft_store_upload_unhold(f->st, &ups[1]), FT_OK);
    assert_null(ups[1].held);
    assert_int_equal(tu_count_entries(f->tmpdir), 1);

    ft_store_upload_commit_batch(f->st, ups, 4, errs);
    assert_int_equal(errs[0], FT_OK);
    assert_int_equal(errs[1], FT_OK);
    assert_int_equal(errs[2], FT_ERR_DENIED);
    assert_int_equal(errs[3], FT_ERR_NO_SPACE);
    assert_file_is(f->root, "a/b/held.txt", "hello");
    assert_file_is(f->root, "early", "ok");
    assert_file_is(f->root, "file", "in the way");
    assert_false(tu_exists(lost));
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
    for (int i = 0; i < 4; i++)
        ft_store_upload_drop_old(f->st, &ups[i]);
    free(folder);
    free(lost);
}

/* A batch large enough to be flushed with syncfs, whose first upload has
 * no file (a file stands where its folder should be): the batch is
 * flushed through another of its files, and only that upload fails. */
static void test_held_batch_first_fails(void **state)
{
    struct fixture *f = *state;
    enum { N = 12 };
    uint8_t buf[N];
    struct ft_upload ups[N];
    enum ft_err errs[N];
    char name[32];

    put(f->st, "file", "in the way");
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), i == 0 ? "file/x" : "many/f%d", i);
        errs[i] = FT_OK;
        assert_int_equal(ft_store_upload_begin_held(f->st, name, &buf[i], 1, &ups[i]),
                         FT_OK);
        assert_int_equal(ft_store_upload_write(&ups[i], "z", 1), FT_OK);
    }
    ft_store_upload_commit_batch(f->st, ups, N, errs);
    assert_int_equal(errs[0], FT_ERR_DENIED);
    for (int i = 1; i < N; i++) {
        assert_int_equal(errs[i], FT_OK);
        snprintf(name, sizeof(name), "many/f%d", i);
        assert_file_is(f->root, name, "z");
        ft_store_upload_drop_old(f->st, &ups[i]);
    }
    assert_int_equal(tu_count_entries(f->tmpdir), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Commits size bytes under name; with digest, as checked on arrival. */
static void put_sized(struct ft_store *st, const char *name, size_t size,
                      const uint8_t *digest)
{
    struct ft_upload up;
    char *content = malloc(size);

    assert_non_null(content);
    memset(content, 'x', size);
    assert_int_equal(ft_store_upload_begin(st, name, &up), FT_OK);
    assert_int_equal(ft_store_upload_write(&up, content, size), FT_OK);
    if (digest != NULL)
        ft_store_upload_set_digest(&up, digest);
    assert_int_equal(ft_store_upload_commit(st, &up), FT_OK);
    free(content);
}

/* Whether the test's file system keeps user extended attributes, where
 * the store records digests; without them it records none. */
static bool xattrs_work(const char *dir)
{
    char *path = tu_path(dir, "xattr-probe");
    bool works;

    tu_write_bytes(path, "x", 1);
    works = setxattr(path, "user.ft.probe", "1", 1, 0) == 0;
    unlink(path);
    free(path);
    return works;
}

/* The digest checked on arrival goes out with the file, for a large one;
 * a small one is cheaper to hash again than to record. */
static void test_file_digest_recorded_at_commit(void **state)
{
    struct fixture *f = *state;
    struct ft_store_file file;
    uint8_t digest[32], got[32];

    memset(digest, 0xab, sizeof(digest));
    put_sized(f->st, "big", 128 * 1024, digest);
    put_sized(f->st, "small", 1024, digest);
    if (!xattrs_work(f->base))
        skip();
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_true(ft_store_file_digest(&file, got));
    assert_memory_equal(got, digest, sizeof(digest));
    ft_store_file_close(&file);
    assert_int_equal(file.fd, -1);
    assert_int_equal(ft_store_open_file(f->st, "small", &file), FT_OK);
    assert_false(ft_store_file_digest(&file, got));
    ft_store_file_close(&file);
}

/* A digest taken by reading a file is recorded only if the file is as it
 * was when opened: one written to meanwhile may be of neither version. */
static void test_file_remember_only_unchanged(void **state)
{
    struct fixture *f = *state;
    struct ft_store_file file;
    uint8_t digest[32], got[32];
    char *path;
    int fd;

    memset(digest, 0xcd, sizeof(digest));
    put_sized(f->st, "big", 128 * 1024, NULL);
    if (!xattrs_work(f->base))
        skip();
    path = tu_path(f->root, "big");
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_false(ft_store_file_digest(&file, got));
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "y", 1), 1);
    close(fd);
    ft_store_file_remember(f->st, &file, digest);
    ft_store_file_close(&file);
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_false(ft_store_file_digest(&file, got));
    ft_store_file_remember(f->st, &file, digest);
    ft_store_file_close(&file);
    assert_int_equal(ft_store_open_file(f->st, "big", &file), FT_OK);
    assert_true(ft_store_file_digest(&file, got));
    assert_memory_equal(got, digest, sizeof(digest));
    ft_store_file_close(&file);
    free(path);
}

/* A read-only store records no digest: the record is a write, and it
 * would change the file's ctime. */
static void test_read_only_remembers_nothing(void **state)
{
    struct fixture *f = *state;
    struct ft_store_file file;
    struct ft_store *ro;
    struct stat before, after;
    uint8_t digest[32], got[32];
    char *path = tu_path(f->root, "big");

    memset(digest, 0xef, sizeof(digest));
    put_sized(f->st, "big", 128 * 1024, NULL);
    if (!xattrs_work(f->base))
        skip();
    ft_store_close(f->st);
    f->st = NULL;
    ro = open_store(f->root, true);
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(ft_store_open_file(ro, "big", &file), FT_OK);
    ft_store_file_remember(ro, &file, digest);
    assert_false(ft_store_file_digest(&file, got));
    ft_store_file_close(&file);
    /* Untouched: the same ctime, and no attribute at all. */
    assert_int_equal(stat(path, &after), 0);
    assert_memory_equal(&after.st_ctim, &before.st_ctim, sizeof(before.st_ctim));
    assert_int_equal(listxattr(path, NULL, 0), 0);
    ft_store_close(ro);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_upload_commit_visible),
        T(test_list_in_tree_order),
        T(test_upload_empty_file),
        T(test_upload_large),
        T(test_abort_leaves_nothing),
        T(test_abort_keeps_old_version),
        T(test_abort_never_begun),
        T(test_publication_is_atomic),
        T(test_open_file_info),
        T(test_stale_temporaries_removed),
        T(test_second_open_busy),
        T(test_busy_open_keeps_live_uploads),
        T(test_lock_holds_between_threads),
        T(test_kept_upload_locked_between_threads),
        T(test_metadata_folder_checked),
        T(test_metadata_folder_by_identity),
        T(test_partials_bounded),
        T(test_partials_expire_not_at_every_upload),
        T(test_expiry_race_leaves_each_session_its_own),
        T(test_opened_just_before_expiry),
        T(test_symlink_out_refused),
        T(test_relative_and_dangling_links),
        T(test_fifo_refused_without_blocking),
        T(test_folders),
        T(test_directory_refused),
        T(test_read_only),
        T(test_read_only_missing_root),
        T(test_root_is_a_file),
        T(test_remove),
        T(test_invalid_names_refused_everywhere),
        T(test_list_hides_metadata_and_bad_names),
        T(test_list_stops_on_callback_error),
        T(test_list_of_a_file),
        T(test_dot_ft_below_the_root),
        T(test_obstacle),
        T(test_commit_mode),
        T(test_held_uploads),
        T(test_held_batch_first_fails),
        T(test_file_digest_recorded_at_commit),
        T(test_file_remember_only_unchanged),
        T(test_read_only_remembers_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
