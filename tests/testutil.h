/* testutil.h - helpers shared by the test programs: temporary folders,
 * files of random bytes, an in-process server on 127.0.0.1 port 0, and a
 * way to run the ft command and capture what it says. */
#ifndef FT_TESTUTIL_H
#define FT_TESTUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
