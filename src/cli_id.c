/* cli_id.c - the client's own key: loading it for a connection, and ft id,
 * which prints it as a server's clients file names it. */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_id.h"
#include "cli_report.h"
#include "clients.h"

static const char id_help[] =
    "usage: ft id [-i FILE]\n"
    "Prints your key as one line for a server's clients file: the public key\n"
    "and a name= made from user@host. Give the line to the server's operator.\n"
    "The key pair is made on first use in ~/.config/ft/id (readable only by\n"
    "you); -i/--identity or FT_IDENTITY name another file.\n";

int cli_identity_load(const char *path, struct ft_keypair *kp,
                      struct cli_report *report, bool quiet)
{
    const char *given = path != NULL ? path : getenv("FT_IDENTITY");
    char *fallback = NULL;
    char err[512];
    bool created = false;
    enum ft_err rc;
    int code = 0;

    if (given != NULL && given[0] == '\0')
        given = NULL;
    if (given == NULL)
        fallback = ft_keys_config_file(FT_KEYS_IDENTITY);
    if (given == NULL && fallback == NULL) {
        if (!quiet)
            cli_report_note(report, "neither HOME nor XDG_CONFIG_HOME is set: "
                            "this run proves a key of its own (-i FILE keeps one)");
        return CLI_IDENTITY_NONE;
    }
    rc = ft_keys_load_or_create(given != NULL ? given : fallback, kp, &created,
                                err, sizeof(err));
    if (rc != FT_OK && given != NULL) {
        code = cli_report_fail(report, CLI_EXIT_USAGE, "identity: %s", err);
    } else if (rc != FT_OK) {
        /* A home that cannot keep the key (read-only, say) need not stop a
         * download; only a server that knows the key would refuse. */
        if (!quiet)
            cli_report_note(report, "cannot keep your key: %s; this run "
                            "proves a key of its own", err);
        code = CLI_IDENTITY_NONE;
    } else if (created && !quiet) {
        cli_report_note(report, "made your key in %s ('ft id' prints it for a "
                        "server's operator)", given != NULL ? given : fallback);
    }
    free(fallback);
    return code;
}

/* user@host for name=, in the letters a clients file takes. */
static void default_name(char *out, size_t cap)
{
    const struct passwd *pw = getpwuid(getuid());
    const char *user = pw != NULL ? pw->pw_name : getenv("USER");
    char host[256] = "";
    size_t n;

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "host");
    snprintf(out, cap, "%s@%s", user != NULL && user[0] ? user : "user", host);
    for (n = 0; out[n] != '\0'; n++) {
        if (!ft_clients_name_char(out[n]))
            out[n] = '-';
    }
}

int cli_id(int argc, char **argv)
{
    const char *path = NULL;
    struct ft_keypair kp;
    char text[FT_CLIENT_KEY_TEXT_MAX];
    char name[FT_CLIENT_NAME_MAX + 1];
    int code = cli_parse_id_args(argc, argv, id_help, &path);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (argc != optind)
        return cli_report_usage(NULL, "id", "takes no arguments, not '%s'",
                                argv[optind]);
    code = cli_identity_load(path, &kp, NULL, true);
    if (code == CLI_IDENTITY_NONE)
        return cli_report_usage(NULL, "id", "%s", "no file to keep your key in: "
                                "set HOME, or give -i FILE");
    if (code != 0)
        return code;
    ft_clients_format_key(kp.public_key, text);
    ft_keys_wipe(&kp, sizeof(kp));
    default_name(name, sizeof(name));
    printf("%s name=%s\n", text, name);
    return CLI_EXIT_OK;
}
