/* cli_connect.c - a client command's connection: token, key, pin, notes. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_connect.h"
#include "cli_id.h"
#include "cli_report.h"

/* Reads the token file, if any, loads the client's key and finds the
 * known-hosts file. */
static int prepare_security(struct cli_client_args *a, const char *what)
{
    char err[512];
    enum ft_err rc;
    int code;

    code = cli_identity_load(a->identity_file, &a->identity, a->report, a->quiet);
    if (code == 0)
        a->cfg.identity = &a->identity;
    else if (code != CLI_IDENTITY_NONE)
        return code;

    if (a->token_file == NULL)
        a->token_file = getenv("FT_TOKEN_FILE");
    if (a->token_file != NULL && a->token_file[0] != '\0') {
        rc = ft_keys_load_token(a->token_file, a->token, err, sizeof(err));
        if (rc != FT_OK)
            return cli_report_fail(a->report,
                                   cli_exit_code(rc == FT_ERR_DENIED ? FT_ERR_USAGE
                                                                     : rc),
                                   "%s: token: %s", what, err);
        a->cfg.token = a->token;
    }
    a->known_hosts = ft_keys_default_known_hosts();
    a->cfg.known_hosts = a->known_hosts;
    if (a->known_hosts == NULL && a->cfg.server_key == NULL && !a->quiet)
        cli_report_note(a->report, "neither HOME nor XDG_CONFIG_HOME is set: the "
                        "server's key cannot be pinned (use --server-key)");
    return 0;
}

struct ft_client *cli_connect(struct cli_client_args *a, const char *what,
                              int *code)
{
    struct ft_client *c = NULL;
    char err[2048];
    enum ft_err rc;

    *code = prepare_security(a, what);
    if (*code != 0)
        return NULL;
    rc = ft_client_connect(&c, &a->cfg, err, sizeof(err));
    ft_keys_wipe(a->token, sizeof(a->token));
    ft_keys_wipe(&a->identity, sizeof(a->identity));
    free(a->known_hosts);
    a->known_hosts = NULL;
    if (rc != FT_OK) {
        *code = cli_report_fail(a->report, cli_exit_code(rc), "%s: %s", what, err);
        return NULL;
    }
    if (a->quiet)
        return c;
    if (ft_client_pinned_now(c))
        cli_report_note(a->report, "first connection to %s port %u: pinned its key %s",
                        a->cfg.host ? a->cfg.host : FT_DEFAULT_HOST,
                        (unsigned)(a->cfg.port ? a->cfg.port : FT_DEFAULT_PORT),
                        ft_client_server_key(c));
    if (!ft_client_encrypted(c))
        cli_report_note(a->report, "this connection is NOT encrypted (--plaintext)");
    else if (a->cfg.plaintext)
        cli_report_note(a->report, "the server does not allow plaintext: the "
                                   "connection is encrypted (%s)",
                        ft_client_protocol(c));
    return c;
}
