/* test_delta.c - delta transfers (ft sync) end to end: a real server and
 * client, files changed at the start, middle and end, replaced, damaged
 * on the receiver, cut off, refused. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chunker.h"
#include "conn.h"
#include "delta.h"
#include "ft/frame.h"
#include "ft/ft.h"
#include "ft/keys.h"
#include "proto.h"
#include "testutil.h"
#include "testutil_server.h"

#define MIB (1024u * 1024u)
#define SIZE (6u * MIB)
#define WAIT_MS 10000
/* What may travel for a small edit: the chunks around it, at most three
 * of the largest at the level of SIZE, and a margin. */
#define EDIT_SLACK (64u * 1024u)

static struct ft_keypair me;

/* A file's bytes, whole (the tests' files are a few MiB). */
static uint8_t *slurp(const char *path, size_t *n)
{
    int64_t size = tu_file_size(path);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    int fd = open(path, O_RDONLY);
    size_t got = 0;

    assert_true(size >= 0 && buf != NULL && fd >= 0);
    while (got < (size_t)size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);

        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd);
    *n = got;
    return buf;
}

enum edit { INSERT, DELETE, CHANGE };

/* Writes to dst the file src with an edit of len bytes at off. */
static void edit_file(const char *src, const char *dst, enum edit e, size_t off,
                      size_t len)
{
    size_t n;
    uint8_t *old = slurp(src, &n);
    uint8_t *out = malloc(n + len);
    size_t m = 0;

    assert_non_null(out);
    memcpy(out, old, off);
    m = off;
    if (e == INSERT) {
        for (size_t i = 0; i < len; i++)
            out[m++] = (uint8_t)(i * 131 + 7);
        memcpy(out + m, old + off, n - off);
        m += n - off;
    } else if (e == DELETE) {
        memcpy(out + m, old + off + len, n - off - len);
        m += n - off - len;
    } else {
        for (size_t i = 0; i < len; i++)
            out[m++] = (uint8_t)~old[off + i];
        memcpy(out + m, old + off + len, n - off - len);
        m += n - off - len;
    }
    tu_write_bytes(dst, out, m);
    free(old);
    free(out);
}

/* Damages len bytes at off of path in place and puts its times back: a
 * change that neither its size nor its mtime shows. */
static void damage(const char *path, off_t off, size_t len)
{
    struct stat sb;
    struct timespec times[2];
    uint8_t junk[4096];
    int fd = open(path, O_RDWR);

    assert_true(fd >= 0 && len <= sizeof(junk));
    assert_int_equal(fstat(fd, &sb), 0);
    for (size_t i = 0; i < len; i++)
        junk[i] = (uint8_t)(0x5a ^ i);
    assert_int_equal(pwrite(fd, junk, len, off), (ssize_t)len);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
}

static char *stored(struct tu_fixture *f, const char *name)
{
    return tu_path(f->server.root, name);
}

static enum ft_err put_delta(struct ft_client *c, const char *path, const char *name,
                             const struct ft_transfer_options *opt,
                             struct ft_transfer *t)
{
    int fd = open(path, O_RDONLY);
    enum ft_err err;

    assert_true(fd >= 0);
    err = ft_client_put_delta(c, fd, tu_file_size(path), name, opt, t);
    close(fd);
    return err;
}

static void expect_ok(struct ft_client *c, enum ft_err err)
{
    if (err != FT_OK)
        fail_msg("%s: %s", ft_err_name(err), ft_client_error(c));
}

/* The store's copy of name is the file at path, byte for byte. */
static void expect_stored(struct tu_fixture *f, const char *name, const char *path)
{
    char *s = stored(f, name);

    assert_true(tu_files_equal(s, path));
    free(s);
}

/* A delta of a small edit moved the rest from the old version. */
static void expect_small(const struct ft_transfer *t)
{
    assert_true(t->delta);
    assert_true(t->verified);
    if (t->bytes - t->matched > EDIT_SLACK)
        fail_msg("%llu of %llu bytes travelled",
                 (unsigned long long)(t->bytes - t->matched),
                 (unsigned long long)t->bytes);
}

struct edit_case {
    enum edit e;
    size_t off, len;
};

static const struct edit_case edits[] = {
    { INSERT, 0, 100 },          { DELETE, 0, 3000 },
    { CHANGE, 0, 50 },           { INSERT, SIZE / 2, 7777 },
    { DELETE, SIZE / 2, 1000 },  { CHANGE, SIZE / 2 + 12345, 200 },
    { INSERT, SIZE, 5000 },      { DELETE, SIZE - 900, 900 },
    { CHANGE, SIZE - 64, 64 },
};

/* Each edit of a base file, uploaded as a delta against the one before. */
static void test_put_edits(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *b = tu_path(f->work, "b");
    struct ft_transfer t;

    assert_true(ft_client_can_delta(c));
    tu_write_random(a, SIZE, 1);
    /* No old version: the whole file travels, as a delta of nothing. */
    expect_ok(c, put_delta(c, a, "f", NULL, &t));
    assert_true(t.delta);
    assert_int_equal(t.matched, 0);
    expect_stored(f, "f", a);
    for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
        edit_file(a, b, edits[i].e, edits[i].off, edits[i].len);
        expect_ok(c, put_delta(c, b, "f", NULL, &t));
        expect_stored(f, "f", b);
        expect_small(&t);
        assert_int_equal(rename(b, a), 0);
    }
    /* Replaced by unrelated content: nothing matches, all of it travels. */
    tu_write_random(b, SIZE - 777, 2);
    expect_ok(c, put_delta(c, b, "f", NULL, &t));
    expect_stored(f, "f", b);
    assert_true(t.delta);
    assert_true(t.matched < EDIT_SLACK);
    ft_client_close(c);
    free(a);
    free(b);
}

/* The same downloading: the local file is the old version. */
static void test_get_edits(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *b = tu_path(f->work, "b");
    char *local = tu_path(f->work, "local");
    struct ft_transfer t;

    tu_write_random(a, SIZE, 3);
    /* No local file: the whole file travels. */
    expect_ok(c, put_delta(c, a, "g", NULL, &t));
    expect_ok(c, ft_client_get_delta_file(c, "g", local, NULL, &t));
    assert_true(tu_files_equal(a, local));
    assert_true(t.delta);
    assert_int_equal(t.matched, 0);
    for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
        edit_file(a, b, edits[i].e, edits[i].off, edits[i].len);
        expect_ok(c, put_delta(c, b, "g", NULL, NULL));
        expect_ok(c, ft_client_get_delta_file(c, "g", local, NULL, &t));
        assert_true(tu_files_equal(b, local));
        expect_small(&t);
        assert_int_equal(rename(b, a), 0);
    }
    tu_write_random(b, SIZE + 333, 4);
    expect_ok(c, put_delta(c, b, "g", NULL, NULL));
    expect_ok(c, ft_client_get_delta_file(c, "g", local, NULL, &t));
    assert_true(tu_files_equal(b, local));
    assert_true(t.matched < EDIT_SLACK);
    ft_client_close(c);
    free(a);
    free(b);
    free(local);
}

/* Files of no byte and of a few, growing and shrinking, both ways. */
static void test_small_files(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *local = tu_path(f->work, "local");
    static const uint64_t sizes[] = { 0, 1, 100, 5000, 0, 300000, 7, 0 };
    struct timespec when[2] = { { .tv_sec = 1600000000 }, { .tv_sec = 1600000000 } };
    struct ft_transfer t;
    struct stat sb;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        tu_write_random(a, sizes[i], (uint32_t)i + 20);
        expect_ok(c, put_delta(c, a, "s", NULL, &t));
        expect_stored(f, "s", a);
        assert_int_equal(t.bytes, sizes[i]);
        expect_ok(c, ft_client_get_delta_file(c, "s", local, NULL, &t));
        assert_true(tu_files_equal(a, local));
        assert_int_equal(t.bytes, sizes[i]);
    }
    /* Time and executable bits go along, both ways. */
    assert_int_equal(chmod(a, 0755), 0);
    assert_int_equal(utimensat(AT_FDCWD, a, when, 0), 0);
    expect_ok(c, put_delta(c, a, "s", NULL, &t));
    assert_int_equal(unlink(local), 0);
    expect_ok(c, ft_client_get_delta_file(c, "s", local, NULL, &t));
    assert_int_equal(stat(local, &sb), 0);
    assert_int_equal(sb.st_mtime, 1600000000);
    assert_int_equal(sb.st_mode & 0111, 0111);
    ft_client_close(c);
    free(a);
    free(local);
}

/* A file stored by a plain PUT has no chunk list; the first delta get
 * cuts it and records one (and its digest), so that the next reads only
 * what the client lacks; both are right. */
static void test_get_records_list(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *local = tu_path(f->work, "local");
    char *lists = tu_path(f->server.root, ".ft/chunks");
    struct ft_transfer t;
    struct ft_stat st;
    int fd, before;

    tu_write_random(a, SIZE, 30);
    fd = open(a, O_RDONLY);
    assert_true(fd >= 0);
    expect_ok(c, ft_client_put(c, fd, SIZE, "p", NULL, NULL));
    close(fd);
    before = tu_count_entries(lists);
    edit_file(a, local, CHANGE, SIZE / 2, 100);
    expect_ok(c, ft_client_get_delta_file(c, "p", local, NULL, &t));
    assert_true(tu_files_equal(a, local));
    expect_small(&t);
    /* The server records the list once the file went out: the answer to
     * a later request comes after that. */
    expect_ok(c, ft_client_stat(c, "p", &st));
    assert_int_equal(tu_count_entries(lists), (before > 0 ? before : 0) + 1);
    edit_file(a, local, DELETE, 1000, 100);
    expect_ok(c, ft_client_get_delta_file(c, "p", local, NULL, &t));
    assert_true(tu_files_equal(a, local));
    expect_small(&t);
    ft_client_close(c);
    free(a);
    free(local);
    free(lists);
}

/* With -z, literal chunks of text go deflated, both ways. */
static void test_compressed(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    struct ft_transfer_options z = { .compress = true };
    char *a = tu_path(f->work, "a"), *b = tu_path(f->work, "b");
    char *local = tu_path(f->work, "local");
    struct ft_transfer t;

    tu_write_text(a, 2 * MIB);
    expect_ok(c, put_delta(c, a, "t", &z, &t));
    expect_stored(f, "t", a);
    edit_file(a, b, INSERT, MIB, 3000);
    expect_ok(c, ft_client_get_delta_file(c, "t", local, &z, &t));
    assert_true(tu_files_equal(a, local));
    expect_ok(c, put_delta(c, b, "t", &z, &t));
    expect_stored(f, "t", b);
    expect_small(&t);
    expect_ok(c, ft_client_get_delta_file(c, "t", local, &z, &t));
    assert_true(tu_files_equal(b, local));
    expect_small(&t);
    ft_client_close(c);
    free(a);
    free(b);
    free(local);
}

/* The server's stored old version damaged behind ft's back, keeping its
 * size and mtime, before the delta: the result is the new version, whole
 * and correct, and still a delta. */
static void test_put_damaged_before(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *b = tu_path(f->work, "b");
    char *s = stored(f, "d");
    struct ft_transfer t;

    tu_write_random(a, SIZE, 5);
    expect_ok(c, put_delta(c, a, "d", NULL, &t));
    damage(s, SIZE / 3, 100);
    edit_file(a, b, CHANGE, 10, 10);
    expect_ok(c, put_delta(c, b, "d", NULL, &t));
    expect_stored(f, "d", b);
    /* Its list was not trusted (the damage changed its ctime): it was cut
     * again, damage and all, and the delta still carried little. */
    expect_small(&t);
    ft_client_close(c);
    free(a);
    free(b);
    free(s);
}

/* Damage done while a delta moves, to a part of the old version that
 * is still to be copied. */
struct saboteur {
    const char *path;
    bool done;
};

static void sabotage(void *ctx, uint64_t done, uint64_t total)
{
    struct saboteur *s = ctx;

    (void)done, (void)total;
    if (s->done)
        return;
    s->done = true;
    damage(s->path, 2 * SIZE / 3, 100);
}

/* The server's old version is damaged after it sent its signature: its
 * copies no longer make the new version, the digest says so, and the
 * client sends the file whole in the same call. */
static void test_put_damaged_during(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a"), *b = tu_path(f->work, "b");
    char *s = stored(f, "d");
    char *lists = tu_path(f->server.root, ".ft/chunks");
    struct saboteur sab = { .path = s };
    struct ft_transfer_options opt = { .progress = sabotage, .progress_ctx = &sab };
    struct ft_transfer t;

    tu_write_random(a, SIZE, 6);
    expect_ok(c, put_delta(c, a, "d", NULL, &t));
    /* The first chunk travels, and the saboteur strikes then: the
     * copies of the rest come after. */
    edit_file(a, b, CHANGE, 0, 10);
    expect_ok(c, put_delta(c, b, "d", &opt, &t));
    assert_true(sab.done);
    expect_stored(f, "d", b);
    assert_false(t.delta);
    assert_true(t.verified);
    /* Sent whole, it was cut on arrival: its list is there for the next. */
    assert_int_equal(tu_count_entries(lists), 1);
    /* The connection goes on. */
    expect_ok(c, put_delta(c, a, "d", NULL, &t));
    expect_stored(f, "d", a);
    ft_client_close(c);
    free(a);
    free(b);
    free(s);
    free(lists);
}

/* The same downloading: the local old file is damaged after the client
 * cut it; the file arrives whole and correct. */
static void test_get_damaged_during(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *b = tu_path(f->work, "b"), *local = tu_path(f->work, "local");
    struct saboteur sab = { .path = local };
    struct ft_transfer_options opt = { .progress = sabotage, .progress_ctx = &sab };
    struct ft_transfer t;

    tu_write_random(local, SIZE, 8);
    edit_file(local, b, CHANGE, 0, 10);
    expect_ok(c, put_delta(c, b, "e", NULL, &t));
    expect_ok(c, ft_client_get_delta_file(c, "e", local, &opt, &t));
    assert_true(sab.done);
    assert_true(tu_files_equal(b, local));
    assert_false(t.delta);
    assert_true(t.verified);
    ft_client_close(c);
    free(b);
    free(local);
}

/* A raw session that offers deltas, for hand-made streams. */
static void raw_session(struct tu_fixture *f, struct ft_conn *conn)
{
    assert_true(tu_raw_handshake(conn, f->server.port,
                                 FT_FEATURE_DELTA | FT_FEATURE_ZLIB, WAIT_MS, NULL));
}

/* DELTA_PUT of name for a file of size, up to the end of the server's
 * signature, which replaces what *sig held. */
static void raw_put_begin(struct ft_conn *conn, const char *name, uint64_t size,
                          struct ft_delta_list *sig)
{
    struct ft_msg m = { .type = FT_MSG_DELTA_PUT };

    m.u.delta_put.flags = FT_XFER_VERIFY;
    m.u.delta_put.size = size;
    m.u.delta_put.name.ptr = (const uint8_t *)name;
    m.u.delta_put.name.len = strlen(name);
    assert_int_equal(ft_conn_send(conn, &m), FT_OK);
    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_READY);
    ft_delta_list_free(sig);
    for (;;) {
        assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
        assert_int_equal(m.type, FT_MSG_CHUNKS);
        sig->level = m.u.chunks.level;
        if (m.u.chunks.entries.len == 0)
            break;
        assert_int_equal(ft_delta_list_add_entries(sig, m.u.chunks.entries.ptr,
                                                   m.u.chunks.entries.len),
                         FT_OK);
    }
}

static void send_copy(struct ft_conn *conn, uint32_t first, uint32_t count)
{
    struct ft_msg m = { .type = FT_MSG_DELTA_COPY };

    m.u.delta_copy.first = first;
    m.u.delta_copy.count = count;
    assert_int_equal(ft_conn_send(conn, &m), FT_OK);
}

static void send_chunk_head(struct ft_conn *conn, uint32_t len)
{
    struct ft_msg m = { .type = FT_MSG_DELTA_CHUNK };

    m.u.delta_chunk.length = len;
    assert_int_equal(ft_conn_send(conn, &m), FT_OK);
}

static void expect_refusal(struct ft_conn *conn, enum ft_err code)
{
    struct ft_msg m;

    assert_int_equal(ft_conn_recv(conn, &m, WAIT_MS), FT_OK);
    assert_int_equal(m.type, FT_MSG_ERROR);
    assert_int_equal(m.u.error.code, code);
}

/* The store's temporaries are gone. */
static void expect_no_temporaries(struct tu_fixture *f)
{
    char *tmp = tu_path(f->server.root, ".ft/tmp");

    assert_true(tu_wait_count(tmp, 0, WAIT_MS));
    free(tmp);
}

/* A client cut off mid-stream, and clients that break the rules (a copy
 * beyond the list, a chunk longer than the level allows, more bytes than
 * announced, a stream short of its chunk): the stored file stays the old
 * version, whole, and no temporary is left. */
static void test_put_cut_off_and_broken(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = tu_connect(f->server.port, NULL);
    char *a = tu_path(f->work, "a");
    uint8_t bytes[1000] = { 1 };
    struct ft_delta_list sig;
    struct ft_conn conn;
    struct ft_msg end = { .type = FT_MSG_END };

    ft_delta_list_init(&sig, 0);
    tu_write_random(a, SIZE, 9);
    expect_ok(c, put_delta(c, a, "k", NULL, NULL));
    ft_client_close(c);

    /* Cut off: half a chunk, then the connection goes. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", SIZE, &sig);
    assert_true(sig.count > 10);
    send_copy(&conn, 0, 10);
    send_chunk_head(&conn, 1000);
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_DATA, bytes, 500), FT_OK);
    ft_conn_free(&conn);
    expect_no_temporaries(f);
    expect_stored(f, "k", a);

    /* A copy beyond the old version's list. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", SIZE, &sig);
    send_copy(&conn, sig.count - 1, 2);
    expect_refusal(&conn, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);
    expect_no_temporaries(f);
    expect_stored(f, "k", a);

    /* A chunk longer than the level's largest. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", SIZE, &sig);
    send_chunk_head(&conn, ft_delta_max_chunk(sig.level) + 1);
    expect_refusal(&conn, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);

    /* More bytes than the chunk announced. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", SIZE, &sig);
    send_chunk_head(&conn, 400);
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_DATA, bytes, 500), FT_OK);
    expect_refusal(&conn, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);

    /* Copies beyond the size announced. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", 100, &sig);
    send_copy(&conn, 0, 1);
    expect_refusal(&conn, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);

    /* END in the middle of a chunk. */
    raw_session(f, &conn);
    raw_put_begin(&conn, "k", SIZE, &sig);
    send_chunk_head(&conn, 1000);
    assert_int_equal(ft_conn_send_raw(&conn, FT_MSG_DATA, bytes, 500), FT_OK);
    end.u.end.total = 500;
    end.u.end.has_digest = true;
    assert_int_equal(ft_conn_send(&conn, &end), FT_OK);
    expect_refusal(&conn, FT_ERR_PROTOCOL);
    ft_conn_free(&conn);
    ft_delta_list_free(&sig);

    expect_no_temporaries(f);
    expect_stored(f, "k", a);
    free(a);
}

/* A client of a server whose clients file gives this test's key opts. */
static struct ft_client *serve_as(struct tu_fixture *f, const char *opts)
{
    struct ft_client_config ccfg = { .identity = &me };

    tu_fixture_serve_key(f, me.public_key, opts);
    return tu_connect(f->server.port, &ccfg);
}

static void expect_error(struct ft_client *c, enum ft_err got, enum ft_err want)
{
    if (got != want)
        fail_msg("got %s (%s), wanted %s", ft_err_name(got), ft_client_error(c),
                 ft_err_name(want));
}

/* Refused requests leave the session usable: a delta put without the
 * right to write, over the quota, to a bad name; delta gets of a
 * folder, a missing file, a name escaping the store, without the right
 * to read (the client's signature is read all the same). */
static void test_refusals(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client *c = serve_as(f, "allow=read,list");
    char *a = tu_path(f->work, "a"), *local = tu_path(f->work, "local");
    char *s = stored(f, "there");
    struct ft_transfer t;

    tu_write_random(a, 3 * MIB, 10);
    tu_write_random(local, 2 * MIB, 11);
    tu_write_random(s, 3 * MIB, 10);
    expect_error(c, put_delta(c, a, "x", NULL, NULL), FT_ERR_NOT_ALLOWED);
    expect_ok(c, ft_client_get_delta_file(c, "there", local, NULL, &t));
    assert_true(tu_files_equal(a, local));
    ft_client_close(c);
    tu_server_stop(&f->server);

    c = serve_as(f, "allow=write");
    tu_write_random(local, 2 * MIB, 11);
    expect_error(c, ft_client_get_delta_file(c, "x", local, NULL, NULL),
                 FT_ERR_NOT_ALLOWED);
    expect_ok(c, put_delta(c, a, "x", NULL, NULL));
    expect_stored(f, "x", a);
    ft_client_close(c);
    tu_server_stop(&f->server);

    c = serve_as(f, "quota=1M");
    expect_error(c, put_delta(c, a, "q", NULL, NULL), FT_ERR_QUOTA);
    expect_error(c, put_delta(c, a, "../q", NULL, NULL), FT_ERR_BAD_NAME);
    free(s);
    s = stored(f, "dir");
    assert_int_equal(mkdir(s, 0755), 0);
    expect_error(c, ft_client_get_delta_file(c, "dir", local, NULL, NULL),
                 FT_ERR_DENIED);
    expect_error(c, ft_client_get_delta_file(c, "missing", local, NULL, NULL),
                 FT_ERR_NOT_FOUND);
    expect_error(c, ft_client_get_delta_file(c, "../../etc/passwd", local, NULL, NULL),
                 FT_ERR_BAD_NAME);
    /* Nothing was published over the local file by the refusals. */
    assert_int_equal(tu_file_size(local), 2 * MIB);
    tu_write_random(a, 100 * 1024, 12);
    expect_ok(c, put_delta(c, a, "small", NULL, NULL));
    expect_ok(c, ft_client_get_delta_file(c, "small", local, NULL, NULL));
    assert_true(tu_files_equal(a, local));
    ft_client_close(c);
    free(a);
    free(local);
    free(s);
}

/* A server without DELTA: the calls answer VERSION and send nothing, and
 * the connection is still usable. The server is a socket whose WELCOME
 * (plaintext, no DELTA) waits before the client says HELLO. */
static void test_no_delta_feature(void **state)
{
    struct tu_fixture *f = *state;
    struct ft_client_config cfg = { .plaintext = true, .timeout_ms = WAIT_MS };
    struct ft_msg welcome = { .type = FT_MSG_WELCOME };
    struct ft_msg done = { .type = FT_MSG_DONE };
    struct ft_client *c = NULL;
    char *a = tu_path(f->work, "a");
    uint8_t payload[64];
    uint64_t sent = 0, received = 0, sent_after = 0;
    size_t len = 0;
    char err[256];
    int sv[2];

    tu_write_random(a, 1000, 13);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = FT_FEATURE_PLAINTEXT | FT_FEATURE_ZLIB;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    assert_int_equal(ft_msg_encode(&welcome, payload, sizeof(payload), &len), FT_OK);
    assert_int_equal(ft_frame_write(sv[0], FT_MSG_WELCOME, payload, len, WAIT_MS),
                     FT_OK);
    assert_int_equal(ft_msg_encode(&done, payload, sizeof(payload), &len), FT_OK);
    assert_int_equal(ft_frame_write(sv[0], FT_MSG_DONE, payload, len, WAIT_MS),
                     FT_OK);
    if (ft_client_attach(&c, sv[1], &cfg, err, sizeof(err)) != FT_OK)
        fail_msg("attach: %s", err);
    assert_false(ft_client_can_delta(c));
    ft_client_wire_bytes(c, &sent, &received);
    assert_int_equal(put_delta(c, a, "x", NULL, NULL), FT_ERR_VERSION);
    assert_int_equal(ft_client_get_delta_file(c, "x", a, NULL, NULL), FT_ERR_VERSION);
    ft_client_wire_bytes(c, &sent_after, &received);
    assert_int_equal(sent_after, sent);
    /* Usable: a removal is answered (its DONE waits in the socket). */
    assert_int_equal(ft_client_remove(c, "x"), FT_OK);
    ft_client_close(c);
    close(sv[0]);
    free(a);
}

/* The list's own checks: lengths within the level, ranges within the
 * list, runs preferred where they go on. */
static void test_list(void **state)
{
    struct ft_delta_list l;
    uint64_t off = 0, len = 0;
    uint32_t idx = 0;

    (void)state;
    ft_delta_list_init(&l, 0);
    assert_int_equal(ft_delta_list_add(&l, 0, 1), FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_list_add(&l, ft_delta_max_chunk(0) + 1, 1),
                     FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_list_add(&l, 100, 7), FT_OK);
    assert_int_equal(ft_delta_list_add(&l, 200, 8), FT_OK);
    assert_int_equal(ft_delta_list_add(&l, 100, 7), FT_OK);
    assert_int_equal(ft_delta_list_add(&l, 300, 9), FT_OK);
    assert_int_equal(ft_delta_range(&l, 1, 2, &off, &len), FT_OK);
    assert_int_equal(off, 100);
    assert_int_equal(len, 300);
    assert_int_equal(ft_delta_range(&l, 3, 2, &off, &len), FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_range(&l, 4, 1, &off, &len), FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_range(&l, 0, 0, &off, &len), FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_range(&l, 1, UINT32_MAX, &off, &len), FT_ERR_PROTOCOL);
    assert_int_equal(ft_delta_list_index(&l), FT_OK);
    assert_true(ft_delta_find(&l, 7, 100, UINT32_MAX, &idx));
    assert_int_equal(idx, 0);
    assert_true(ft_delta_find(&l, 7, 100, 2, &idx));
    assert_int_equal(idx, 2);
    assert_false(ft_delta_find(&l, 7, 101, UINT32_MAX, &idx));
    assert_false(ft_delta_find(&l, 10, 100, UINT32_MAX, &idx));
    ft_delta_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        TU_TEST_SERVER(test_put_edits),
        TU_TEST_SERVER(test_get_edits),
        TU_TEST_SERVER(test_compressed),
        TU_TEST_SERVER(test_small_files),
        TU_TEST_SERVER(test_get_records_list),
        TU_TEST_SERVER(test_put_damaged_before),
        TU_TEST_SERVER(test_put_damaged_during),
        TU_TEST_SERVER(test_get_damaged_during),
        TU_TEST_SERVER(test_put_cut_off_and_broken),
        TU_TEST_FIXTURE(test_refusals),
        TU_TEST_FIXTURE(test_no_delta_feature),
    };

    signal(SIGPIPE, SIG_IGN);
    ft_keys_generate(&me);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
