/* testutil.h - helpers shared by the test programs: temporary folders,
 * files of random bytes, an in-process server on 127.0.0.1 port 0, and a
 * way to run the ft command and capture what it says. */
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
/* 1 when both files exist and hold the same bytes. */
bool tu_files_equal(const char *a, const char *b);
bool tu_exists(const char *path);
/* Number of entries in a folder, "." and ".." aside; -1 if unreadable. */
int tu_count_entries(const char *dir);

/* A server running in a thread of the test, on 127.0.0.1, any free port. */
struct tu_server {
    struct ft_server *srv;
    pthread_t thread;
    uint16_t port;
    char *root; /* owned */
};
/* Starts a server on a new temporary root; cfg may be NULL. Its root and
 * port are filled in by this function. */
void tu_server_start(struct tu_server *t, const struct ft_server_config *cfg);
/* Stops it, waits for it, removes its root. */
void tu_server_stop(struct tu_server *t);

/* Runs the ft binary with args (NULL-terminated, without "ft"), standard
 * input from in_path (NULL: /dev/null), standard output to out_path (NULL:
 * /dev/null), and its standard error captured into err (NUL-terminated).
 * FT_HOST/FT_PORT are not inherited. Kills it after 120 s. Returns its exit
 * status, or -1 if it died by a signal. */
int tu_run_ft(const char *const args[], const char *in_path,
              const char *out_path, char *err, size_t errlen);

/* The same with extra environment entries ("FT_PORT=1234"), NULL-ended. */
int tu_run_ft_env(const char *const args[], const char *const env[],
                  const char *in_path, const char *out_path, char *err,
                  size_t errlen);

/* Connects a raw socket to the server, for hand-built frames. */
int tu_connect_raw(uint16_t port);

/* --- Waiting on conditions, processes, servers in child processes. --- */

/* Milliseconds on the monotonic clock. */
int64_t tu_now_ms(void);
/* Sleeps ms milliseconds: for pacing and polling loops, never readiness. */
void tu_sleep_ms(int ms);
/* Size of a file, -1 if it does not exist. */
int64_t tu_file_size(const char *path);
/* Total size of the files in a folder; -1 if unreadable. */
int64_t tu_dir_bytes(const char *dir);
/* Polls dir every 10 ms, up to timeout_ms, until it holds n entries. */
bool tu_wait_count(const char *dir, int n, int timeout_ms);
/* Polls dir every 10 ms, up to timeout_ms, until its files hold more than
 * min_bytes in total. */
bool tu_wait_dir_bytes(const char *dir, int64_t min_bytes, int timeout_ms);

/* Starts the ft binary with args (NULL-ended, without "ft") and the given
 * descriptors as its standard input, output and error (-1: /dev/null).
 * FT_HOST/FT_PORT are not inherited. Returns its pid; does not wait. */
pid_t tu_spawn_ft(const char *const args[], int in_fd, int out_fd, int err_fd);
/* The same with extra environment entries (NULL-ended). A client should get
 * "XDG_CONFIG_HOME=DIR" with a folder of the test's, so that the keys it
 * pins stay out of the user's ~/.config. */
pid_t tu_spawn_ft_env(const char *const args[], const char *const env[],
                      int in_fd, int out_fd, int err_fd);
/* Waits up to timeout_ms for pid to exit: true with its wait status. */
bool tu_wait_pid(pid_t pid, int timeout_ms, int *status);
/* SIGKILLs *pid if it is above 0, reaps it, sets *pid to 0. */
void tu_kill_pid(pid_t *pid);

/* An `ft serve` child process, its standard error going to a log file
 * that is read as it grows. */
struct tu_served {
    pid_t pid;          /* 0 once reaped */
    uint16_t port;
    char portstr[8];
    int log_fd;         /* reading side of the log file */
    char *log;          /* everything read so far, NUL-terminated */
    size_t log_len, log_cap;
};
/* Starts `ft serve --root root --port 0 EXTRA...` logging to log_path and
 * waits (bounded) until it prints its port. extra may be NULL. Returns false
 * (the child reaped) if it never does. */
bool tu_served_start(struct tu_served *s, const char *root,
                     const char *log_path, const char *const extra[]);
/* Reads the log until want appears, for up to timeout_ms. */
bool tu_served_log_until(struct tu_served *s, const char *want, int timeout_ms);
/* Kills the child if it still runs, reaps it, frees the log. Idempotent. */
void tu_served_stop(struct tu_served *s);

/* Connects to 127.0.0.1:port and performs a raw HELLO/WELCOME exchange on
 * conn (per-frame timeout timeout_ms) announcing features. *max_payload,
 * when not NULL, receives WELCOME's limit. Returns false on any failure;
 * ft_conn_free(conn) is due afterwards in every case. */
struct ft_conn;
bool tu_raw_handshake(struct ft_conn *conn, uint16_t port, uint32_t features,
                      int timeout_ms, uint32_t *max_payload);

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

#endif
