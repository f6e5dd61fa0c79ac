/* cli.h - what the ft command's files share: its exit codes, and the
 * commands main() dispatches to. */
#ifndef FT_CLI_H
#define FT_CLI_H

#include "ft/error.h"

/* Exit codes, one per class of failure (documented in README.md, and in
 * --json errors as their "class": cli_error_class). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_CONNECT = 3,
    CLI_EXIT_REFUSED = 4,
    CLI_EXIT_LOCAL_IO = 5,
    CLI_EXIT_INTEGRITY = 6,
    CLI_EXIT_CONNECTION = 7,
};

/* The exit code of a failure's class (main.c). */
int cli_exit_code(enum ft_err err);

/* The commands: each takes its own argv (argv[0] the command's name) and
 * returns the exit code. */
int cli_put(int argc, char **argv);   /* cli_transfer.c */
int cli_get(int argc, char **argv);
int cli_sync(int argc, char **argv);  /* cli_sync.c */
int cli_ls(int argc, char **argv);    /* cli_remote.c */
int cli_rm(int argc, char **argv);
int cli_mv(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_df(int argc, char **argv);
int cli_mkdir(int argc, char **argv);
int cli_serve(int argc, char **argv); /* cli_serve.c */
int cli_keygen(int argc, char **argv);
int cli_id(int argc, char **argv);     /* cli_id.c */
int cli_forget(int argc, char **argv); /* cli_pins.c */
int cli_trust(int argc, char **argv);

#endif
