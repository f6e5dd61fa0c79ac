/* cli_operands.h - operands in scp's form, REMOTE:PATH, and the remote
 * they name: a remote of the config file, or a host.
 *
 * "backup:docs/a" is the name docs/a on the remote backup; "[::1]:a" on
 * the host ::1; "backup:" the top of its store. A colon after a slash is
 * part of a name ("./a:b", "docs/a:b"), and so is one that begins it
 * (":a"). Without a colon, a name is on --host/FT_HOST's server. */
#ifndef FT_CLI_OPERANDS_H
#define FT_CLI_OPERANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli_config.h"
#include "ft/error.h"

/* Which operands of a command are on the server: all (ls, rm, mv, stat,
 * mkdir), or put's and get's, whose last operand of two or more is the
 * destination (put: there; get: here) and the others the sources; or
 * sync's, of which exactly one is written REMOTE:PATH. */
enum cli_operand_roles { CLI_OPERANDS_REMOTE, CLI_OPERANDS_PUT, CLI_OPERANDS_GET,
                         CLI_OPERANDS_SYNC };

/* The remote an operand names, if any. */
struct cli_operand {
    char remote[CLI_HOST_MAX]; /* "": none */
    bool bracketed;            /* "[::1]:": an address, never a remote's name */
    const char *path;          /* inside text: after the colon, or all of it */
    int index;                 /* cli_operands_take: the first operand on the
                                  server (-1: none) */
};

/* Splits text. FT_ERR_USAGE, with why in errbuf, for what scp's form
 * cannot mean in ft (user@host, "[::1" with no "]:"). */
enum ft_err cli_operand_split(const char *text, struct cli_operand *op,
                              char *errbuf, size_t errlen);

/* Takes REMOTE: off the names ops[0..n) of a command whose roles are
 * roles, as they all must name one remote (a local operand none): *which
 * says it (its remote "" when none). An empty PATH becomes "/", the top. */
enum ft_err cli_operands_take(char **ops, int n, enum cli_operand_roles roles,
                              struct cli_operand *which, char *errbuf,
                              size_t errlen);

/* How to reach the remote which names: its lines of the config file (see
 * cli_config_path), or for a name that file does not know, or an address
 * in brackets, the host of that name alone. Config errors: FT_ERR_USAGE
 * or another, "FILE:LINE: why" in errbuf. */
enum ft_err cli_remote_lookup(const struct cli_operand *which,
                              struct cli_remote *out, char *errbuf,
                              size_t errlen);

#endif
