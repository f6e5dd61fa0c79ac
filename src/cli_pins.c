/* cli_pins.c - ft forget and ft trust: the pins of servers' keys, changed
 * on purpose (as ssh-keygen -R). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft/ft.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_operands.h"
#include "cli_report.h"

static const char forget_help[] =
    "usage: ft forget [OPTIONS] HOST[:PORT]... | REMOTE...\n"
    "Forgets the server key pinned for HOST on PORT (without PORT: on every\n"
    "port), or for a REMOTE of the config file (its host and port), in\n"
    "~/.config/ft/known_hosts: for a server whose key was replaced on purpose.\n"
    "The next connection pins the key the server then shows. An IPv6\n"
    "address with a port is written [ADDR]:PORT.\n"
    "  -h, --help          this help\n";

static const char trust_help[] =
    "usage: ft trust [OPTIONS] HOST[:PORT] | REMOTE  FINGERPRINT\n"
    "Pins FINGERPRINT (b2:..., as 'ft serve' prints its key's) for HOST on\n"
    "PORT (default $FT_PORT or 65432), or for a REMOTE of the config file,\n"
    "in place of the key pinned before, if any.\n"
    "  -h, --help          this help\n";

/* A server whose pins change: its host, and its port or FT_KEYS_ANY_PORT. */
struct pin_target {
    struct cli_remote remote;
    int port;
};

/* The port after "HOST:" (text; "" none); 0 when it is no port. */
static int port_of(const char *text)
{
    char *end;
    unsigned long v;

    if (text[0] < '0' || text[0] > '9')
        return 0;
    errno = 0;
    v = strtoul(text, &end, 10);
    return errno == 0 && *end == '\0' && v <= 65535 ? (int)v : 0;
}

/* Reads HOST[:PORT], [ADDR][:PORT] or REMOTE[:PORT] into *t: a REMOTE's
 * host and port come from the config file. Returns 0 or the exit code,
 * told. */
static int target_of(const char *cmd, const char *text, struct pin_target *t)
{
    struct cli_operand op = { .bracketed = text[0] == '[' };
    const char *start = text + op.bracketed;
    const char *end = op.bracketed ? strchr(text, ']') : strchr(text, ':');
    const char *port = "";
    char err[1024];
    enum ft_err rc;

    if (op.bracketed && (end == NULL || (end[1] != '\0' && end[1] != ':')))
        return cli_report_usage(NULL, cmd, "'%s': an address in brackets is "
                                "[ADDR] or [ADDR]:PORT", text);
    if (!op.bracketed && (end == NULL || strchr(end + 1, ':') != NULL))
        end = start + strlen(start); /* no port, or an IPv6 address */
    if (*end != '\0')
        port = end + op.bracketed + (end[op.bracketed] == ':');
    t->port = port[0] == '\0' ? FT_KEYS_ANY_PORT : port_of(port);
    if (t->port == 0 || end == start || (size_t)(end - start) >= sizeof(op.remote))
        return cli_report_usage(NULL, cmd, "'%s' is no HOST[:PORT] (a port is 1 "
                                "to 65535)", text);
    memcpy(op.remote, start, (size_t)(end - start));
    rc = cli_remote_lookup(&op, &t->remote, err, sizeof(err));
    if (rc != FT_OK)
        return cli_report_fail(NULL, CLI_EXIT_USAGE, "%s: %s", cmd, err);
    if (t->port == FT_KEYS_ANY_PORT && t->remote.port != 0)
        t->port = t->remote.port;
    return 0;
}

/* Forgets (fingerprint NULL) or replaces the pins of t in the known-hosts
 * file, and says what it did. Returns the exit code. */
static int repin(const char *cmd, const struct pin_target *t,
                 const char *fingerprint)
{
    char *file = ft_keys_default_known_hosts();
    char err[1024], port[16] = "";
    size_t removed = 0;
    enum ft_err rc;
    int code = CLI_EXIT_OK;

    if (file == NULL)
        return cli_report_fail(NULL, CLI_EXIT_USAGE, "%s: neither HOME nor "
                               "XDG_CONFIG_HOME is set: no known_hosts file", cmd);
    rc = ft_keys_set_known_host(file, t->remote.host, t->port, fingerprint,
                                &removed, err, sizeof(err));
    if (t->port != FT_KEYS_ANY_PORT)
        snprintf(port, sizeof(port), " port %d", t->port);
    if (rc != FT_OK)
        code = cli_report_fail(NULL, cli_exit_code(rc), "%s: %s", cmd, err);
    else if (fingerprint != NULL)
        printf("%s%s: pinned %s in %s%s\n", t->remote.host, port, fingerprint, file,
               removed > 0 ? ", in place of the key pinned before" : "");
    else if (removed > 0)
        printf("%s%s: forgot %zu pinned key%s in %s\n", t->remote.host, port, removed,
               removed > 1 ? "s" : "", file);
    else
        printf("%s%s: no key pinned in %s\n", t->remote.host, port, file);
    free(file);
    return code;
}

int cli_forget(int argc, char **argv)
{
    struct pin_target t;
    int code = cli_parse_help_only(argc, argv, forget_help);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (optind == argc)
        return cli_report_usage(NULL, "forget", "%s", "needs a HOST or a REMOTE");
    for (int i = optind; i < argc && code == CLI_EXIT_OK; i++) {
        code = target_of("forget", argv[i], &t);
        if (code == CLI_EXIT_OK)
            code = repin("forget", &t, NULL);
    }
    return code;
}

int cli_trust(int argc, char **argv)
{
    struct pin_target t;
    const char *env_port = getenv("FT_PORT");
    int code = cli_parse_help_only(argc, argv, trust_help);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (argc - optind != 2)
        return cli_report_usage(NULL, "trust", "%s",
                                "needs a HOST (or a REMOTE) and a FINGERPRINT");
    if (!ft_keys_fingerprint_valid(argv[optind + 1]))
        return cli_report_usage(NULL, "trust", "'%s' is no fingerprint: 'b2:' and "
                                "43 characters, as the server prints its key's",
                                argv[optind + 1]);
    code = target_of("trust", argv[optind], &t);
    if (code != CLI_EXIT_OK)
        return code;
    if (t.port == FT_KEYS_ANY_PORT)
        t.port = env_port != NULL && port_of(env_port) != 0 ? port_of(env_port)
                                                              : FT_DEFAULT_PORT;
    return repin("trust", &t, argv[optind + 1]);
}
