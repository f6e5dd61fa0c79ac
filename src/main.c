/* main.c - the ft command: dispatch, and the exit code of each failure. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ft/ft.h"

#include "cli.h"
#include "cli_report.h"

static const char usage_text[] =
    "usage: ft COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Commands:\n"
    "  serve            serve a directory (default ./ft-store)\n"
    "  put LOCAL [REMOTE]   upload a file ('-' reads standard input)\n"
    "  get REMOTE [LOCAL]   download a file ('-' writes standard output)\n"
    "  sync SRC DST     make DST a copy of SRC, sending only what changed\n"
    "  ls               list the files on the server\n"
    "  rm NAME...       delete files on the server\n"
    "  mv OLD NEW       rename a file on the server, atomically\n"
    "  stat NAME...     size, time, mode and BLAKE2b-256 digest of files\n"
    "  mkdir NAME...    make folders on the server\n"
    "  df               what this client holds on the server, and its quota\n"
    "  keygen --token FILE  make an access token\n"
    "  id               print your key, for a server's clients file\n"
    "  forget HOST[:PORT]   forget the server key pinned for HOST\n"
    "  trust HOST[:PORT] FP pin the server key FP for HOST instead\n"
    "\n"
    "Run 'ft COMMAND --help' for a command's options.\n"
    "A name on the server may be written REMOTE:NAME (as scp's HOST:PATH),\n"
    "REMOTE a host or a remote named in ~/.config/ft/config ($FT_CONFIG).\n"
    "Environment: FT_HOST and FT_PORT set the client's default server;\n"
    "FT_TOKEN_FILE its token, FT_IDENTITY your key (default ~/.config/ft/id).\n"
    "Server keys are pinned on first use in ~/.config/ft/known_hosts.\n"
    "Exit codes: 0 ok, 2 usage, 3 cannot connect, 4 refused by the server,\n"
    "            5 local I/O error, 6 integrity check failed,\n"
    "            7 connection lost or protocol error.\n";

int cli_exit_code(enum ft_err err)
{
    switch (ft_client_failure(err)) {
    case FT_FAILURE_NONE:
        return CLI_EXIT_OK;
    case FT_FAILURE_USAGE:
        return CLI_EXIT_USAGE;
    case FT_FAILURE_CONNECT:
        return CLI_EXIT_CONNECT;
    case FT_FAILURE_REFUSED:
        return CLI_EXIT_REFUSED;
    case FT_FAILURE_LOCAL:
        return CLI_EXIT_LOCAL_IO;
    case FT_FAILURE_INTEGRITY:
        return CLI_EXIT_INTEGRITY;
    case FT_FAILURE_CONNECTION:
        return CLI_EXIT_CONNECTION;
    }
    return CLI_EXIT_CONNECTION;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        { "serve", cli_serve }, { "put", cli_put }, { "get", cli_get },
        { "ls", cli_ls },       { "rm", cli_rm },   { "keygen", cli_keygen },
        { "mv", cli_mv },       { "stat", cli_stat },   { "mkdir", cli_mkdir },
        { "df", cli_df },       { "id", cli_id },
        { "forget", cli_forget }, { "trust", cli_trust }, { "sync", cli_sync },
    };

    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return cli_report_usage(NULL, NULL, "%s", "a COMMAND is needed");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ft %s\n", FT_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    return cli_report_usage(NULL, NULL, "unknown command '%s'", argv[1]);
}
