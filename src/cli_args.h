/* cli_args.h - the options of each ft command, parsed from one table per
 * kind of command (client, serve, keygen, id).
 *
 * Each parse returns 0 to go on, -1 after printing the command's help (the
 * command then ends with exit code 0), or the exit code of a usage error
 * it told on standard error, in one line. Options may come anywhere among
 * the operands, as with GNU tools, and "--" ends them; afterwards the
 * operands are argv[optind..argc), in their order. */
#ifndef FT_CLI_ARGS_H
#define FT_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli_operands.h"
#include "ft/ft.h"
#include "ft/keys.h"

struct cli_report;

/* A client command, and the options it takes beyond the common ones. */
struct cli_command {
    const char *name;
    const char *help; /* printed before the common options' help */
    bool transfer;    /* -z, --no-verify, --limit-rate, --continue */
    bool json;        /* --json */
    /* Which may be REMOTE:PATH; CLI_OPERANDS_SYNC also brings sync's
     * options: --delete, --dry-run, --itemize (-i), --checksum. */
    enum cli_operand_roles operands;
};

/* What every client command shares. */
struct cli_client_args {
    const struct cli_command *cmd;
    struct ft_client_config cfg;
    struct ft_transfer_options xfer;
    bool quiet;
    const char *token_file;
    uint8_t token[FT_TOKEN_BYTES];
    char *known_hosts;         /* owned */
    const char *identity_file; /* --identity, FT_IDENTITY, or the default */
    struct ft_keypair identity; /* cfg.identity points here once loaded */
    bool json;                 /* --json (put, get, ls, stat) */
    bool recursive;            /* -r (put, get, ls, rm) */
    bool parents;              /* -p (mkdir) */
    bool delete_extra, dry_run, itemize, checksum; /* sync's */
    int remote_operand;        /* sync: which operand is REMOTE:PATH */
    struct cli_report *report; /* put, get: where failures and notes go */
    bool resumable;            /* put, get: --continue can take up a failure */
    struct cli_remote remote;  /* what REMOTE:PATH operands name; cfg's
                                  strings may point here */
};

/* Parses a client command's options, and takes the REMOTE: off its
 * operands: what the command line says comes first, then the remote's
 * lines in the config file, then FT_HOST and FT_PORT. */
int cli_parse_client_args(int argc, char **argv, const struct cli_command *cmd,
                          struct cli_client_args *a);

/* What serve is told. */
struct cli_serve_args {
    const char *help; /* first, as the help option takes it */
    struct ft_server_config cfg;
    const char *token_file;
    const char *config_file; /* --config */
    char *config_text; /* owned: cfg's names may point into it; free() it */
};

/* Parses serve's options into a->cfg (whose defaults the caller set):
 * those of --config FILE first, one "option value" a line, then the
 * command line's, which override them. */
int cli_parse_serve_args(int argc, char **argv, struct cli_serve_args *a);

/* Parses keygen's options: *path is the token file to write, or NULL. */
int cli_parse_keygen_args(int argc, char **argv, const char *help,
                          const char **path);
/* Parses id's options: *path is the key file given, or NULL. */
int cli_parse_id_args(int argc, char **argv, const char *help, const char **path);

/* Parses the options of a command that has only --help (forget, trust). */
int cli_parse_help_only(int argc, char **argv, const char *help);

#endif
