/* sandbox.h - a process confining itself with Landlock.
 *
 * Landlock is the kernel's unprivileged sandbox: a process gives up, for
 * good, the file system and TCP access it does not name. It restricts the
 * calling thread and the threads and processes it starts afterwards, not
 * those already running: call ft_sandbox_apply while the process has one
 * thread (it refuses otherwise), before any thread is started. */
#ifndef FT_SANDBOX_H
#define FT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"

/* What the confined process may still use; everything else of the file
 * system, and TCP bind and connect where the kernel can restrict them, is
 * refused. */
struct ft_sandbox_rules {
    int root_fd;                   /* a folder: read and write beneath it;
                                      -1: none (a store on S3) */
    const char *root_shown;        /* its name, for the report */
    bool root_read_only;           /* only read beneath it */
    const char *const *ro_paths;   /* files or folders: read beneath each */
    size_t n_ro;
    const uint16_t *bind_ports;    /* the only TCP ports it may bind */
    size_t n_ports;
    const uint16_t *connect_ports; /* the only TCP ports it may connect to */
    size_t n_connect;
};

/* The highest Landlock ABI this kernel offers; 0 when it has none (errno
 * says why: ENOSYS not built in, EOPNOTSUPP turned off at boot). */
int ft_sandbox_abi(void);

/* Confines this process to r with the highest ABI the kernel offers, and
 * sets no_new_privs (Landlock's condition). *applied tells whether it did:
 * a kernel without Landlock, or with only ABI 1 (which would refuse the
 * rename that publishes an upload), leaves the process as it was, FT_OK.
 * report receives what it got, or why not, in one line. FT_ERR_USAGE when
 * the process has other threads (they would stay free), FT_ERR_IO when a
 * path cannot be opened or the kernel refuses a rule: nothing is
 * restricted then. */
enum ft_err ft_sandbox_apply(const struct ft_sandbox_rules *r, bool *applied,
                             char *report, size_t len);

#endif
