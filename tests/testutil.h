/* testutil.h - helpers shared by the test programs: temporary folders and
 * files, the ft command run as a child, bounded waits, feeding a pipe.
 * Servers, clients and the cmocka fixture are in testutil_server.h, which
 * this header includes.
 *
 * Config isolation: every ft run or spawned here gets XDG_CONFIG_HOME and
 * HOME in a fresh folder of the test's, so that the keys it pins never
 * reach the user's ~/.config, nor meet the pins of an earlier server on a
 * reused port. A test that wants a folder of its own passes
 * "XDG_CONFIG_HOME=DIR" in env, which comes after the defaults. */
#ifndef FT_TESTUTIL_H
#define FT_TESTUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ft/ft.h"

/* A new empty folder under $TMPDIR or /tmp; free() the result. */
char *tu_tempdir(void);
/* Removes path and everything under it. */
void tu_rmtree(const char *path);
/* Joins a folder and a name; free() the result. */
char *tu_path(const char *dir, const char *name);

/* Writes n pseudo-random bytes derived from seed, streaming. */
void tu_write_random(const char *path, uint64_t n, uint32_t seed);
void tu_write_bytes(const char *path, const void *data, size_t n);
/* Writes compressible text of about n bytes. */
void tu_write_text(const char *path, uint64_t n);
/* The BLAKE2b-256 of the file at path, as b2sum -l 256 prints it (65
 * bytes with the NUL). */
void tu_file_digest_hex(const char *path, char hex[65]);
/* 1 when both files exist and hold the same bytes. */
bool tu_files_equal(const char *a, const char *b);
bool tu_exists(const char *path);
/* Number of entries in a folder, "." and ".." aside; -1 if unreadable. */
int tu_count_entries(const char *dir);

/* Aborts the test program with what failed and errno: for the harness's
 * own failures (no memory, no temporary folder), not for assertions. */
_Noreturn void tu_die(const char *what);

/* Runs the ft binary with args (NULL-terminated, without "ft"), standard
 * input from in_path (NULL: /dev/null), standard output to out_path (NULL:
 * /dev/null), and its standard error captured into err (NUL-terminated).
 * FT_HOST/FT_PORT are not inherited; the config folder is isolated (above).
 * Kills it after 120 s. Returns its exit status, or -1 if it died by a
 * signal. */
int tu_run_ft(const char *const args[], const char *in_path,
              const char *out_path, char *err, size_t errlen);

/* The same with extra environment entries ("FT_PORT=1234"), NULL-ended. */
int tu_run_ft_env(const char *const args[], const char *const env[],
                  const char *in_path, const char *out_path, char *err,
                  size_t errlen);

/* --- Waiting on conditions and processes. --- */

/* Milliseconds on the monotonic clock. */
int64_t tu_now_ms(void);
/* Sleeps ms milliseconds: for pacing and polling loops, never readiness. */
void tu_sleep_ms(int ms);
/* Size of a file, -1 if it does not exist. */
int64_t tu_file_size(const char *path);
/* Changes 8 bytes of the file at path in place (from byte 1000) and puts
 * its times back: a change behind a server's back that neither its size
 * nor its mtime shows. */
void tu_tamper(const char *path);
/* Total size of the files in a folder; -1 if unreadable. */
int64_t tu_dir_bytes(const char *dir);
/* Polls dir every 10 ms, up to timeout_ms, until it holds n entries. */
bool tu_wait_count(const char *dir, int n, int timeout_ms);
/* Polls dir every 10 ms, up to timeout_ms, until its files hold more than
 * min_bytes in total. */
bool tu_wait_dir_bytes(const char *dir, int64_t min_bytes, int timeout_ms);

/* Starts the ft binary with args (NULL-ended, without "ft") and the given
 * descriptors as its standard input, output and error (-1: /dev/null).
 * FT_HOST/FT_PORT are not inherited; the config folder is isolated (above;
 * removed when the test program exits). Returns its pid; does not wait. */
pid_t tu_spawn_ft(const char *const args[], int in_fd, int out_fd, int err_fd);
/* The same with extra environment entries (NULL-ended). */
pid_t tu_spawn_ft_env(const char *const args[], const char *const env[],
                      int in_fd, int out_fd, int err_fd);
/* Waits up to timeout_ms for pid to exit: true with its wait status. */
bool tu_wait_pid(pid_t pid, int timeout_ms, int *status);
/* SIGKILLs *pid if it is above 0, reaps it, sets *pid to 0. */
void tu_kill_pid(pid_t *pid);

/* Writes n pseudo-random bytes to fd, the same bytes tu_write_random(path,
 * n, seed) writes, waiting at most timeout_ms in all (fd is made
 * non-blocking). Returns the number written: less than n when the reader
 * went away or the time ran out. Safe to call from any thread. */
uint64_t tu_feed(int fd, uint64_t n, uint32_t seed, int timeout_ms);

/* tu_feed in a thread of its own, closing fd afterwards when close_after. */
struct tu_feeder {
    pthread_t thread;
    int fd;
    uint64_t n;
    uint32_t seed;
    int timeout_ms;
    bool close_after;
    uint64_t written; /* valid after tu_feeder_join */
};
void tu_feeder_start(struct tu_feeder *f, int fd, uint64_t n, uint32_t seed,
                     int timeout_ms, bool close_after);
uint64_t tu_feeder_join(struct tu_feeder *f);

#include "testutil_server.h"

#endif
