/* test_cli.c - the ft command as a user runs it: a real `ft serve` process
 * (confined by Landlock, as it is by default: test_confine shows it is),
 * put and get through files, standard input and output, and the exit code
 * and message of each class of failure. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "hash.h"
#include "proto.h"
#include "resume.h"
#include "testutil.h"

#define WAIT_MS 20000

static char *work(struct tu_fixture *s, const char *name)
{
    return tu_path(s->work, name);
}

static void test_put_get_files_and_streams(void **state)
{
    struct tu_fixture *s = *state;
    const char *port = s->served.portstr;
    char *src = work(s, "notes.txt");
    char *copy = work(s, "copy.txt");
    char *piped = work(s, "piped.out");
    char *listing = work(s, "ls.out");
    char err[4096];

    tu_write_text(src, 300000);
    {
        const char *args[] = { "put", "-p", port, src, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        /* One summary line: name, bytes, time, rate. */
        assert_non_null(strstr(err, "put notes.txt: "));
        assert_non_null(strstr(err, " bytes in "));
        assert_non_null(strstr(err, "MB/s"));
        assert_true(tu_store_same(s->root, "notes.txt", src));
    }
    {
        const char *args[] = { "get", "-p", port, "-z", "notes.txt", copy, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, copy));
    }
    {   /* Standard input, whose size is unknown, and -q. */
        const char *args[] = { "put", "-q", "-z", "-p", port, "-", "from-stdin", NULL };
        assert_int_equal(tu_run_ft(args, src, NULL, err, sizeof(err)), 0);
        assert_string_equal(err, "");
        assert_true(tu_store_same(s->root, "from-stdin", src));
    }
    {   /* Standard output. */
        const char *args[] = { "get", "-p", port, "from-stdin", "-", NULL };
        assert_int_equal(tu_run_ft(args, NULL, piped, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, piped));
    }
    {   /* FT_HOST and FT_PORT set the defaults. */
        char env_port[32];
        const char *env[] = { "FT_HOST=127.0.0.1", env_port, NULL };
        const char *args[] = { "ls", NULL };
        FILE *f;
        char line[512];
        int names = 0;

        snprintf(env_port, sizeof(env_port), "FT_PORT=%s", port);
        assert_int_equal(tu_run_ft_env(args, env, NULL, listing, err, sizeof(err)), 0);
        f = fopen(listing, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strstr(line, " notes.txt\n") || strstr(line, " from-stdin\n"))
                names++;
        }
        fclose(f);
        assert_int_equal(names, 2);
    }
    {
        const char *args[] = { "rm", "-p", port, "notes.txt", NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_false(tu_store_exists(s->root, "notes.txt"));
    }
    /* The server logged each transfer: peer, operation, name, bytes, ms, result. */
    assert_true(tu_served_log_until(&s->served, "rm notes.txt", WAIT_MS));
    assert_non_null(strstr(s->served.log, "put notes.txt 300"));
    assert_non_null(strstr(s->served.log, " ms ok"));
    assert_non_null(strstr(s->served.log, "127.0.0.1:"));
    free(src);
    free(copy);
    free(piped);
    free(listing);
}

/* Folders as cp and scp users expect: -r both ways over one connection,
 * several operands into a folder, ls of a folder, rm -r. Long because it
 * is one user's session, each step building on the store the last left. */
static void test_folders_and_many_files(void **state)
{
    struct tu_fixture *s = *state;
    const char *port = s->served.portstr;
    char *tree = work(s, "tree");
    char *sub = work(s, "tree/sub");
    char *a = work(s, "tree/a.txt");
    char *b = work(s, "tree/sub/b.bin");
    char *restored = work(s, "restored");
    char *restored_b = work(s, "restored/sub/b.bin");
    char *into = work(s, "into");
    char *into_a = work(s, "into/a.txt");
    char *into_b = work(s, "into/b.bin");
    char *listing = work(s, "ls.out");
    char err[4096];
    char line[512];
    FILE *f;
    int seen = 0;

    assert_int_equal(mkdir(tree, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(into, 0755), 0);
    tu_write_text(a, 5000);
    tu_write_random(b, 700000, 5);
    {
        const char *args[] = { "put", "-q", "-r", "-p", port, tree, "backup", NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_store_same(s->root, "backup/sub/b.bin", b));
    }
    {   /* Several files into a folder, created on the way. */
        const char *args[] = { "put", "-q", "-p", port, a, b, "multi", NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_store_same(s->root, "multi/b.bin", b));
    }
    {
        const char *args[] = { "ls", "-q", "-r", "-p", port, "backup", NULL };
        assert_int_equal(tu_run_ft(args, NULL, listing, err, sizeof(err)), 0);
        f = fopen(listing, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f) != NULL)
            if (strstr(line, " sub/\n") || strstr(line, " sub/b.bin\n") ||
                strstr(line, " a.txt\n"))
                seen++;
        fclose(f);
        assert_int_equal(seen, 3);
    }
    {
        const char *args[] = { "get", "-q", "-r", "-p", port, "backup", restored, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(b, restored_b));
    }
    {   /* Several files into an existing local folder. */
        const char *args[] = { "get", "-q", "-p", port, "backup/a.txt",
                               "backup/sub/b.bin", into, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(a, into_a));
        assert_true(tu_files_equal(b, into_b));
    }
    {   /* stat --json: the digest b2sum -l 256 would print. */
        const char *args[] = { "stat", "-q", "--json", "-p", port,
                               "backup/sub/b.bin", "backup", NULL };
        uint8_t digest[FT_HASH_BYTES];
        char hex[FT_HASH_HEX_BYTES], want[128], out[2048] = "";
        struct ft_hash h;
        FILE *in = fopen(b, "rb");
        size_t n;

        ft_hash_init(&h);
        while ((n = fread(out, 1, sizeof(out), in)) > 0)
            ft_hash_update(&h, out, n);
        fclose(in);
        ft_hash_final(&h, digest);
        ft_hash_hex(digest, hex);
        assert_int_equal(tu_run_ft(args, NULL, listing, err, sizeof(err)), 0);
        f = fopen(listing, "r");
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        fclose(f);
        snprintf(want, sizeof(want), "\"folder\":false,\"blake2b_256\":\"%s\"}", hex);
        assert_non_null(strstr(out, want));
        assert_non_null(strstr(out, "\"name\":\"backup\""));
        assert_non_null(strstr(out, "\"folder\":true,\"blake2b_256\":null}"));
    }
    {   /* A folder needs -r to go. */
        const char *plain[] = { "rm", "-q", "-p", port, "backup", NULL };
        const char *rec[] = { "rm", "-q", "-r", "-p", port, "backup", NULL };

        assert_int_equal(tu_run_ft(plain, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "rm -r"));
        assert_true(tu_store_exists(s->root, "backup/sub/b.bin"));
        assert_int_equal(tu_run_ft(rec, NULL, NULL, err, sizeof(err)), 0);
        assert_false(tu_store_exists(s->root, "backup/sub/b.bin"));
    }
    free(tree); free(sub); free(a); free(b); free(restored); free(restored_b);
    free(into); free(into_a); free(into_b);
    free(listing);
}

/* Sends sig to the `ft serve` child: it must log that it came, stop
 * cleanly and exit 0. */
static void assert_stops_cleanly_on(struct tu_fixture *s, int sig, const char *told)
{
    int status = 0;

    assert_int_equal(kill(s->served.pid, sig), 0);
    /* Bounded: its last words must come within the wait, then it exits. */
    assert_true(tu_served_log_until(&s->served, "ft serve: stopped", WAIT_MS));
    assert_non_null(strstr(s->served.log, told));
    assert_int_equal(waitpid(s->served.pid, &status, 0), s->served.pid);
    s->served.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Names written from the top, as people (and clients whose root= is their
 * world) write them: "/docs/a" and "./docs/a" are "docs/a"; "/" and "."
 * stay the top. */
static void test_names_from_the_top(void **state)
{
    struct tu_fixture *s = *state;
    const char *port = s->served.portstr;
    char *src = work(s, "a.txt");
    char *back = work(s, "a.back");
    char err[4096];

    tu_write_text(src, 5000);
    {
        const char *mkdir_top[] = { "mkdir", "--port", port, "/docs", NULL };
        const char *put[] = { "put", "-p", port, src, "/docs/", NULL };
        const char *stat[] = { "stat", "-p", port, "./docs/a.txt", NULL };
        const char *get[] = { "get", "-p", port, "/./docs/a.txt", back, NULL };
        const char *mv[] = { "mv", "-p", port, "/docs/a.txt", "./b.txt", NULL };
        const char *ls[] = { "ls", "-p", port, "/", NULL };

        assert_int_equal(tu_run_ft(mkdir_top, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(tu_run_ft(put, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_store_same(s->root, "docs/a.txt", src));
        assert_int_equal(tu_run_ft(stat, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(tu_run_ft(get, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_files_equal(src, back));
        assert_int_equal(tu_run_ft(mv, NULL, NULL, err, sizeof(err)), 0);
        assert_true(tu_store_same(s->root, "b.txt", src));
        assert_int_equal(tu_run_ft(ls, NULL, NULL, err, sizeof(err)), 0);
    }
    free(src);
    free(back);
}

static void test_sigterm_stops_cleanly(void **state)
{
    assert_stops_cleanly_on(*state, SIGTERM, "ft serve: SIGTERM received\n");
}

/* SIGHUP rereads the clients file (here: there is none, it says so) and
 * stops nothing: the server goes on serving until SIGTERM. */
static void test_sighup_does_not_stop(void **state)
{
    struct tu_fixture *s = *state;
    const char *args[] = { "ls", "-p", s->served.portstr, NULL };
    char err[512];

    assert_int_equal(kill(s->served.pid, SIGHUP), 0);
    assert_true(tu_served_log_until(&s->served, "reload: no clients file to reread",
                                    WAIT_MS));
    assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    assert_stops_cleanly_on(s, SIGTERM, "ft serve: SIGTERM received\n");
}

/* --plaintext to a server that does not allow it (`ft serve` without
 * --allow-plaintext): one note says the connection is encrypted, and why. */
static void test_plaintext_refused_is_told(void **state)
{
    struct tu_fixture *s = *state;
    const char *args[] = { "ls", "--plaintext", "-p", s->served.portstr, NULL };
    static const char note[] = "note: the server does not allow plaintext: the "
                               "connection is encrypted (";
    char err[4096];
    const char *at;

    assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    at = strstr(err, note);
    assert_non_null(at);
    assert_null(strstr(at + 1, note));
}

/* Reads a whole small file into buf (NUL-ended). */
static void read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Starts ft with args, its standard error to err_path, and returns once
 * watched (a file, or with folder the files in a folder) holds more than
 * enough bytes. */
static pid_t spawn_until_past(const char *const args[], const char *err_path,
                              const char *watched, bool folder, int64_t enough)
{
    int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int64_t deadline = tu_now_ms() + WAIT_MS;
    pid_t pid;
    int status;

    assert_true(fd >= 0);
    pid = tu_spawn_ft(args, -1, -1, fd);
    close(fd);
    while ((folder ? tu_dir_bytes(watched) : tu_file_size(watched)) <= enough &&
           tu_now_ms() < deadline && !tu_wait_pid(pid, 0, &status))
        tu_sleep_ms(10); /* polling the condition, bounded */
    assert_true((folder ? tu_dir_bytes(watched) : tu_file_size(watched)) > enough);
    return pid;
}

/* A 24 MiB file on a server's store (root), its source, and where a get
 * of it goes: the local file, its part, the get's standard error. */
struct big_get {
    char *src, *local, *part, *err_path;
};

static void big_get_open(struct big_get *g, struct tu_fixture *s, const char *root)
{
    g->src = work(s, "big.src");
    g->local = work(s, "big.bin");
    g->part = work(s, ".big.bin.ft-part");
    g->err_path = work(s, "get.err");
    tu_write_random(g->src, 24u << 20, 7);
    tu_store_put_file(root, "big.bin", g->src);
}

static void big_get_close(struct big_get *g)
{
    free(g->src);
    free(g->local);
    free(g->part);
    free(g->err_path);
}

/* A get of g slowed to 4 MiB/s, giving up after timeout seconds of
 * silence, its standard error to g's err_path; returns once its part file
 * holds more than two whole chunks (what a resume keeps). */
static pid_t slow_get(const struct big_get *g, const char *port, const char *timeout)
{
    const char *args[] = { "get", "--limit-rate", "4M", "--timeout", timeout, "-p",
                           port, "big.bin", g->local, NULL };

    return spawn_until_past(args, g->err_path, g->part, false,
                            2 * FT_RESUME_CHUNK_BYTES);
}

/* Whether the copy that wrote err_path ended with a lost connection (exit
 * 7) and an error line that says --continue resumes it. */
static void expect_continue_hint(pid_t pid, const char *err_path, const char *line)
{
    char err[4096];
    int status = 0;

    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    read_text(err_path, err, sizeof(err));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 7 || strstr(err, line) == NULL ||
        strstr(err, " (the same command with --continue resumes it)\n") == NULL)
        fail_msg("status %d, no hint: %s", status, err);
}

/* Runs the copy args (a --continue), which must say it resumed, and
 * compares the file it made, b, with the source a. */
static void expect_resumed(const char *const args[], const char *a, const char *b)
{
    char err[4096];

    assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 0);
    if (strstr(err, "big.bin: resumed at ") == NULL)
        fail_msg("not resumed: %s", err);
    assert_true(tu_files_equal(a, b));
}

/* Ctrl-C half way: the error line says that --continue resumes, and it
 * does. */
static void test_interrupt_tells_continue(void **state)
{
    struct tu_fixture *s = *state;
    struct big_get g;
    const char *resume[] = { "get", "--continue", "-p", s->served.portstr, "big.bin",
                             NULL, NULL };
    char err[4096];
    int status = 0;
    pid_t pid;

    big_get_open(&g, s, s->root);
    resume[5] = g.local;
    pid = slow_get(&g, s->served.portstr, "30");
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    /* It ends as Ctrl-C ends a program, after its line. */
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGINT);
    read_text(g.err_path, err, sizeof(err));
    assert_non_null(strstr(err, "ft: get big.bin: interrupted (the same command "
                                "with --continue resumes it)\n"));
    expect_resumed(resume, g.src, g.local);
    big_get_close(&g);
}

/* The server falls silent half way (stopped): once the client's timeout
 * runs out, its error line says that --continue resumes, and the part is
 * there for it. */
static void test_timeout_tells_continue(void **state)
{
    struct tu_fixture *s = *state;
    struct big_get g;
    pid_t pid;

    big_get_open(&g, s, s->root);
    pid = slow_get(&g, s->served.portstr, "2");
    assert_int_equal(kill(s->served.pid, SIGSTOP), 0);
    expect_continue_hint(pid, g.err_path, "ft: get big.bin: ");
    assert_int_equal(kill(s->served.pid, SIGCONT), 0);
    assert_true(tu_exists(g.part));
    big_get_close(&g);
}

/* The server is killed (SIGKILL) half way through a get, so that the
 * connection ends inside a frame: that is a lost connection, not a
 * protocol error. The error line says --continue, the part is kept, and
 * against a server started again the same command with --continue ends
 * the file. */
static void test_server_killed_mid_get_tells_continue(void **state)
{
    struct tu_fixture *s = *state;
    struct big_get g;
    const char *resume[] = { "get", "--continue", "-p", NULL, "big.bin", NULL, NULL };
    pid_t pid;

    big_get_open(&g, s, s->root);
    pid = slow_get(&g, s->served.portstr, "30");
    tu_served_stop(&s->served); /* SIGKILL */
    expect_continue_hint(pid, g.err_path, "ft: get big.bin: ");
    assert_true(tu_file_size(g.part) > 2 * FT_RESUME_CHUNK_BYTES);
    assert_true(tu_fixture_serve(s, NULL));
    resume[3] = s->served.portstr;
    resume[5] = g.local;
    expect_resumed(resume, g.src, g.local);
    assert_false(tu_exists(g.part));
    big_get_close(&g);
}

/* The same for a put: the server killed half way through an upload keeps
 * what it wrote, the error line says --continue, and a server started
 * again on the same store resumes it. */
static void test_server_killed_mid_put_tells_continue(void **state)
{
    TU_DIRECTORY_ONLY("waits on the partial file in .ft/partial; on S3 test_s3_faults kills a server mid-upload and resumes through another");
    struct tu_fixture *s = *state;
    char *src = work(s, "big.bin");
    char *stored = tu_path(s->root, "big.bin");
    char *partials = tu_path(s->root, ".ft/partial");
    char *err_path = work(s, "put.err");
    const char *put[] = { "put", "--limit-rate", "4M", "--timeout", "30", "-p",
                          s->served.portstr, src, NULL };
    const char *resume[] = { "put", "--continue", "-p", NULL, src, NULL };
    pid_t pid;

    tu_write_random(src, 24u << 20, 8);
    pid = spawn_until_past(put, err_path, partials, true, 2 * FT_RESUME_CHUNK_BYTES);
    tu_served_stop(&s->served); /* SIGKILL */
    expect_continue_hint(pid, err_path, "ft: put ");
    assert_false(tu_exists(stored));
    assert_true(tu_fixture_serve(s, NULL));
    resume[3] = s->served.portstr;
    expect_resumed(resume, src, stored);
    free(src);
    free(stored);
    free(partials);
    free(err_path);
}

/* Ctrl-C half way through a get of 4 MiB or less: its line does not say
 * --continue resumes it (a file that small is fetched whole again). */
static void test_interrupt_of_small_get_tells_no_continue(void **state)
{
    struct tu_fixture *s = *state;
    char *src = work(s, "small.src");
    char *part = work(s, ".small.bin.ft-part");
    char *err_path = work(s, "get.err");
    char *local = work(s, "small.bin");
    const char *args[] = { "get", "--limit-rate", "256k", "-p", s->served.portstr,
                           "small.bin", local, NULL };
    char err[4096];
    int status = 0;
    pid_t pid;

    tu_write_random(src, 3u << 20, 9);
    tu_store_put_file(s->root, "small.bin", src);
    pid = spawn_until_past(args, err_path, part, false, 256 * 1024);
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_true(tu_wait_pid(pid, WAIT_MS, &status));
    assert_true(WIFSIGNALED(status));
    read_text(err_path, err, sizeof(err));
    if (strstr(err, "ft: get small.bin: interrupted\n") == NULL)
        fail_msg("%s", err);
    free(src);
    free(part);
    free(err_path);
    free(local);
}

static void test_exit_codes(void **state)
{
    struct tu_fixture *s = *state;
    const char *port = s->served.portstr;
    char *src = work(s, "a.bin");
    char *missing = work(s, "does-not-exist");
    char err[4096];

    tu_write_random(src, 1000, 3);
    {   /* Usage. */
        const char *args[] = { "put", NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 2);
        assert_true(strncmp(err, "ft put: ", 8) == 0);
    }
    {
        const char *args[] = { "frobnicate", NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 2);
    }
    {   /* Refused by the server, with its reason. */
        const char *args[] = { "put", "-p", port, src, "../x", NULL };
        char want[512];

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 4);
        snprintf(want, sizeof(want), "ft: put %s: server refused: invalid name '../x'\n",
                 src);
        /* The failure is the last line (a first-use note may come before). */
        assert_true(strlen(err) >= strlen(want));
        assert_string_equal(err + strlen(err) - strlen(want), want);
    }
    {
        const char *args[] = { "get", "-p", port, "nothing-here", missing, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "no such file"));
        assert_false(tu_exists(missing));
    }
    {   /* Local I/O. */
        const char *args[] = { "put", "-p", port, missing, NULL };
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 5);
        assert_non_null(strstr(err, "No such file or directory"));
    }
    {   /* Cannot connect: a port nobody listens on. */
        int fd = -1;
        uint16_t idle_port = 0;
        char portstr[8], why[128];
        const char *args[] = { "ls", "-p", portstr, NULL };

        assert_int_equal(ft_net_listen("127.0.0.1", 0, &fd, &idle_port, why, sizeof(why)),
                         FT_OK);
        close(fd);
        snprintf(portstr, sizeof(portstr), "%u", (unsigned)idle_port);
        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 3);
        assert_non_null(strstr(err, "cannot connect"));
    }
    free(src);
    free(missing);
}

static void test_help_and_version(void **state)
{
    char *out_path = work(*state, "help.out");
    char err[1024];
    char buf[4096] = "";
    FILE *f;
    const char *version[] = { "--version", NULL };
    const char *help[] = { "--help", NULL };
    const char *put_help[] = { "put", "--help", NULL };

    assert_int_equal(tu_run_ft(version, NULL, out_path, err, sizeof(err)), 0);
    f = fopen(out_path, "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_true(strncmp(buf, "ft ", 3) == 0);
    assert_int_equal(tu_run_ft(help, NULL, out_path, err, sizeof(err)), 0);
    assert_int_equal(tu_run_ft(put_help, NULL, out_path, err, sizeof(err)), 0);
    f = fopen(out_path, "r");
    assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(buf, "--no-verify"));
    free(out_path);
}

/* A server that sends one wrong byte with the right file's digest. */
static void *lying_server(void *arg)
{
    int listen_fd = *(int *)arg;
    static const char content[] = "hellp";
    struct ft_msg m, welcome = { .type = FT_MSG_WELCOME };
    struct ft_msg ready = { .type = FT_MSG_READY }, end = { .type = FT_MSG_END };
    struct ft_hash h;
    struct ft_conn c;
    char peer[FT_NET_PEER_MAX];
    int fd = -1;
    enum ft_err *seen = malloc(sizeof(*seen));

    *seen = FT_ERR_USAGE;
    if (ft_net_accept(listen_fd, WAIT_MS, &fd, peer, sizeof(peer)) != FT_OK ||
        ft_conn_init(&c, fd, WAIT_MS) != FT_OK)
        return seen;
    welcome.u.welcome.version = FT_PROTO_VERSION;
    welcome.u.welcome.features = FT_FEATURE_PLAINTEXT;
    welcome.u.welcome.max_payload = FT_FRAME_MAX_PAYLOAD;
    ready.u.ready.size = 5;
    ft_hash_init(&h);
    ft_hash_update(&h, "hello", 5);
    ft_hash_final(&h, end.u.end.digest);
    end.u.end.has_digest = true;
    end.u.end.total = 5;
    if (ft_conn_recv(&c, &m, WAIT_MS) == FT_OK && m.type == FT_MSG_HELLO &&
        ft_conn_send(&c, &welcome) == FT_OK &&
        ft_conn_recv(&c, &m, WAIT_MS) == FT_OK && m.type == FT_MSG_GET &&
        ft_conn_send(&c, &ready) == FT_OK &&
        ft_conn_send_raw(&c, FT_MSG_DATA, content, 5) == FT_OK &&
        ft_conn_send(&c, &end) == FT_OK &&
        ft_conn_recv(&c, &m, WAIT_MS) == FT_OK && m.type == FT_MSG_ERROR)
        *seen = c.peer_code;
    ft_conn_free(&c);
    return seen;
}

static void test_integrity_failure_keeps_nothing(void **state)
{
    struct tu_fixture *s = *state;
    char *out = work(s, "greeting");
    char *partial = work(s, ".greeting.ft-part");
    char portstr[8], why[128], err[1024];
    const char *args[] = { "get", "--plaintext", "-p", portstr, "greeting", out,
                           NULL };
    enum ft_err *seen = NULL;
    uint16_t port = 0;
    pthread_t tid;
    int listen_fd = -1;

    assert_int_equal(ft_net_listen("127.0.0.1", 0, &listen_fd, &port, why,
                                   sizeof(why)), FT_OK);
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    assert_int_equal(pthread_create(&tid, NULL, lying_server, &listen_fd), 0);
    assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 6);
    assert_non_null(strstr(err, "integrity check failed"));
    pthread_join(tid, (void **)&seen);
    /* The client told the server too. */
    assert_int_equal(*seen, FT_ERR_INTEGRITY);
    assert_false(tu_exists(out));
    assert_false(tu_exists(partial));
    close(listen_fd);
    free(seen);
    free(out);
    free(partial);
}

/* Whether text holds a byte a terminal obeys: C0 (a line's end aside),
 * DEL, or 0x80..0x9f, a C1 control raw or the second byte of one in
 * UTF-8 (the test's names hold no other character beyond ASCII). */
static bool holds_control(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || (*p >= 0x80 && *p <= 0x9f))
            return true;
    }
    return false;
}

/* Names with controls, encoded C1 (c2 9b: CSI) and raw (9b), are shown
 * escaped by every line either side prints: ft's error lines about a
 * local name, its summary line, ls and stat, and the server's log, of a
 * request and of a client that gives up during the handshake. On S3 a
 * raw 0x9b is no key (S3's are UTF-8): refused, saying so. */
static void test_controls_never_printed(void **state)
{
    struct tu_fixture *s = *state;
    char err[4096], out[4096];
    char *src = work(s, "plain.txt"), *listing = work(s, "ls.out");
    char *missing = work(s, "gone\x1b[2J\xc2\x9b\x9b");
    const char *port = s->served.portstr;
    struct ft_conn raw;

    tu_write_text(src, 100);
    {   /* A local name in an error line. */
        const char *args[] = { "put", "-p", port, missing, "x", NULL };

        assert_int_equal(tu_run_ft(args, NULL, NULL, err, sizeof(err)), 5);
        assert_non_null(strstr(err, "gone\\x1b[2J\\xc2\\x9b\\x9b"));
        assert_false(holds_control(err));
    }
    if (tu_store_s3()) {
        const char *put[] = { "put", "-p", port, src, "r\x9b.txt", NULL };

        assert_int_equal(tu_run_ft(put, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "invalid name 'r\\x9b.txt': S3 names must be UTF-8"));
        assert_false(holds_control(err));
    } else { /* A raw 0x9b is a valid name: the summary line, ls and stat. */
        const char *put[] = { "put", "-p", port, src, "r\x9b.txt", NULL };
        const char *ls[] = { "ls", "-p", port, NULL };
        const char *stat[] = { "stat", "-p", port, "r\x9b.txt", NULL };

        assert_int_equal(tu_run_ft(put, NULL, NULL, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "put r\\x9b.txt: "));
        assert_false(holds_control(err));
        assert_int_equal(tu_run_ft(ls, NULL, listing, err, sizeof(err)), 0);
        read_text(listing, out, sizeof(out));
        assert_non_null(strstr(out, "  r\\x9b.txt\n"));
        assert_false(holds_control(out));
        assert_int_equal(tu_run_ft(stat, NULL, listing, err, sizeof(err)), 0);
        read_text(listing, out, sizeof(out));
        assert_non_null(strstr(out, "name: r\\x9b.txt\n"));
        assert_false(holds_control(out));
    }
    {   /* C1 encoded is no valid name: refused, and said so, escaped. */
        const char *put[] = { "put", "-p", port, src, "c\xc2\x9b", NULL };
        const char *ls[] = { "ls", "-p", port, "d\xc2\x9b", NULL };

        assert_int_equal(tu_run_ft(put, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "c\\xc2\\x9b"));
        assert_false(holds_control(err));
        assert_int_equal(tu_run_ft(ls, NULL, NULL, err, sizeof(err)), 4);
        assert_non_null(strstr(err, "d\\xc2\\x9b"));
        assert_false(holds_control(err));
    }
    /* A client that gives up before its HELLO, with words of its own. */
    assert_int_equal(ft_conn_init(&raw, tu_connect_raw(s->served.port), WAIT_MS), FT_OK);
    assert_int_equal(ft_conn_send_error(&raw, FT_ERR_USAGE,
                                        "bye\x1b]0;owned\x07\xc2\x9b\x9b"), FT_OK);
    assert_true(tu_served_log_until(&s->served, "gave up at handshake", WAIT_MS));
    ft_conn_free(&raw);
    assert_true(tu_served_log_until(&s->served, "bye\\x1b]0;owned\\x07\\xc2\\x9b\\x9b",
                                    WAIT_MS));
    assert_non_null(strstr(s->served.log, "put r\\x9b.txt "));
    assert_non_null(strstr(s->served.log, "put c\\xc2\\x9b 0"));
    assert_false(holds_control(s->served.log));
    free(src);
    free(missing);
    free(listing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_SERVED(test_put_get_files_and_streams),
        TU_TEST_SERVED(test_exit_codes),
        TU_TEST_SERVED(test_controls_never_printed),
        TU_TEST_SERVED(test_folders_and_many_files),
        TU_TEST_SERVED(test_names_from_the_top),
        TU_TEST_SERVED(test_sigterm_stops_cleanly),
        TU_TEST_SERVED(test_sighup_does_not_stop),
        TU_TEST_SERVED(test_plaintext_refused_is_told),
        TU_TEST_SERVED(test_interrupt_tells_continue),
        TU_TEST_SERVED(test_timeout_tells_continue),
        TU_TEST_SERVED(test_server_killed_mid_get_tells_continue),
        TU_TEST_SERVED(test_server_killed_mid_put_tells_continue),
        TU_TEST_SERVED(test_interrupt_of_small_get_tells_no_continue),
        TU_TEST_FIXTURE(test_help_and_version),
        TU_TEST_FIXTURE(test_integrity_failure_keeps_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
