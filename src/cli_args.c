/* cli_args.c - the options of each ft command, from one table per kind. */
#define _GNU_SOURCE
#include "cli_args.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_report.h"

static const char client_options_text[] =
    "  -H, --host ADDR     server address (default $FT_HOST or 127.0.0.1)\n"
    "  -p, --port N        server port (default $FT_PORT or 65432)\n"
    "      --token-file F  the server's access token (default $FT_TOKEN_FILE)\n"
    "      --server-key FP the server's key fingerprint (b2:...) must be FP\n"
    "      --plaintext     no encryption, if the server allows it (trusted\n"
    "                      networks and benchmarks only)\n"
    "      --connect-timeout S  give up connecting after S seconds (default 30)\n"
    "      --timeout S     give up when the server says nothing for S seconds\n"
    "                      (it sends heartbeats while busy; default 30)\n"
    "      --cipher C      offer only chacha20-poly1305 or aes-256-gcm\n"
    "                      (default: both; the server picks AES where both\n"
    "                      have it in hardware)\n"
    "  -q, --quiet         no progress line, no summary line, no notes\n"
    "  -h, --help          this help\n";

/* One option: how getopt_long knows it (its val is the short letter, or a
 * letter standing for it) and what takes its argument in. apply returns 0
 * to go on, or what the parse returns (see cli_args.h). The appliers that
 * serve many options set the field of the command's args at offset field
 * (of the type the applier says). */
struct cli_option {
    struct option getopt;
    int (*apply)(void *args, const struct cli_option *o, const char *arg);
    size_t field;
};

#define OPTIONS_MAX 24

/* Runs getopt_long over argv with the options of table. */
static int parse(int argc, char **argv, const char *shortopts,
                 const struct cli_option *table, size_t n, void *args)
{
    struct option longopts[OPTIONS_MAX + 1];
    size_t known = n < OPTIONS_MAX ? n : OPTIONS_MAX;
    int opt;

    for (size_t i = 0; i < known; i++)
        longopts[i] = table[i].getopt;
    memset(&longopts[known], 0, sizeof(*longopts)); /* the end of the list */
    optind = 1;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const struct cli_option *o = NULL;
        int rc;

        for (size_t i = 0; i < n && o == NULL; i++)
            o = table[i].getopt.val == opt ? &table[i] : NULL;
        rc = o != NULL ? o->apply(args, o, optarg)
                       : cli_report_usage(NULL, "bad option for %s", argv[0]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void *field_of(void *args, const struct cli_option *o)
{
    return (char *)args + o->field;
}

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* A size such as 10M or 1G (powers of 1024); 0 on success. */
static int parse_size(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] == '-')
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return -1;
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* bool: the option is given. */
static int set_flag(void *args, const struct cli_option *o, const char *arg)
{
    (void)arg;
    *(bool *)field_of(args, o) = true;
    return 0;
}

/* const char *: the argument itself. */
static int set_text(void *args, const struct cli_option *o, const char *arg)
{
    *(const char **)field_of(args, o) = arg;
    return 0;
}

/* uint16_t: a port number. */
static int set_port(void *args, const struct cli_option *o, const char *arg)
{
    if (parse_port(arg, field_of(args, o)) != 0)
        return cli_report_usage(NULL, "not a port number: '%s'", arg);
    return 0;
}

/* int: whole seconds, above 0, kept as milliseconds. */
static int set_seconds_ms(void *args, const struct cli_option *o, const char *arg)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v <= 0 || v > INT_MAX / 1000)
        return cli_report_usage(NULL, "--%s needs seconds, not '%s'", o->getopt.name,
                                arg);
    *(int *)field_of(args, o) = (int)v * 1000;
    return 0;
}

/* ---------------------------------------------------- client commands */

/* bool, for the options only some commands take: --no-verify and
 * --continue put and get, --json those and the commands that say so. */
static int set_own_flag(void *args, const struct cli_option *o, const char *arg)
{
    const struct cli_command *cmd = ((struct cli_client_args *)args)->cmd;

    if (!cmd->transfer && !(o->getopt.val == 'J' && cmd->json))
        return cli_report_usage(NULL, "%s does not take --%s", cmd->name,
                                o->getopt.name);
    return set_flag(args, o, arg);
}

static int client_help(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    (void)arg;
    fputs(((struct cli_client_args *)args)->cmd->help, stdout);
    fputs(client_options_text, stdout);
    return -1;
}

static int client_cipher(void *args, const struct cli_option *o, const char *arg)
{
    struct cli_client_args *a = args;

    (void)o;
    if (strcmp(arg, "chacha20-poly1305") == 0)
        a->cfg.cipher = FT_CIPHER_CHACHAPOLY;
    else if (strcmp(arg, "aes-256-gcm") == 0)
        a->cfg.cipher = FT_CIPHER_AESGCM;
    else
        return cli_report_usage(NULL, "--cipher is chacha20-poly1305 or "
                                      "aes-256-gcm, not '%s'", arg);
    return 0;
}

static int client_limit_rate(void *args, const struct cli_option *o, const char *arg)
{
    struct cli_client_args *a = args;

    (void)o;
    if (!a->cmd->transfer || parse_size(arg, &a->xfer.rate_limit) != 0 ||
        a->xfer.rate_limit == 0)
        return cli_report_usage(NULL, "--limit-rate needs a rate such as 500k or "
                                      "10M (bytes per second), not '%s'", arg);
    return 0;
}

#define CLIENT(field) offsetof(struct cli_client_args, field)

static const struct cli_option client_options[] = {
    { { "host", required_argument, NULL, 'H' }, set_text, CLIENT(cfg.host) },
    { { "recursive", no_argument, NULL, 'r' }, set_flag, CLIENT(recursive) },
    { { "port", required_argument, NULL, 'p' }, set_port, CLIENT(cfg.port) },
    { { "compress", no_argument, NULL, 'z' }, set_flag, CLIENT(xfer.compress) },
    { { "no-verify", no_argument, NULL, 'V' }, set_own_flag, CLIENT(xfer.no_verify) },
    { { "quiet", no_argument, NULL, 'q' }, set_flag, CLIENT(quiet) },
    { { "help", no_argument, NULL, 'h' }, client_help, 0 },
    { { "token-file", required_argument, NULL, 'T' }, set_text, CLIENT(token_file) },
    { { "server-key", required_argument, NULL, 'K' }, set_text,
      CLIENT(cfg.server_key) },
    { { "plaintext", no_argument, NULL, 'P' }, set_flag, CLIENT(cfg.plaintext) },
    { { "cipher", required_argument, NULL, 'C' }, client_cipher, 0 },
    { { "limit-rate", required_argument, NULL, 'L' }, client_limit_rate, 0 },
    { { "continue", no_argument, NULL, 'U' }, set_own_flag, CLIENT(xfer.resume) },
    { { "connect-timeout", required_argument, NULL, 'c' }, set_seconds_ms,
      CLIENT(cfg.connect_timeout_ms) },
    { { "timeout", required_argument, NULL, 't' }, set_seconds_ms,
      CLIENT(cfg.timeout_ms) },
    { { "json", no_argument, NULL, 'J' }, set_own_flag, CLIENT(json) },
};

int cli_parse_client_args(int argc, char **argv, const struct cli_command *cmd,
                          struct cli_client_args *a)
{
    const char *env_port = getenv("FT_PORT");

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->cfg.host = getenv("FT_HOST");
    if (a->cfg.host != NULL && a->cfg.host[0] == '\0')
        a->cfg.host = NULL;
    if (env_port != NULL && env_port[0] != '\0' &&
        parse_port(env_port, &a->cfg.port) != 0)
        return cli_report_usage(NULL, "FT_PORT is not a port number: '%s'", env_port);
    /* Only put and get have -z; every command takes --compress. */
    return parse(argc, argv, cmd->transfer ? "+H:p:zqhr" : "+H:p:qhr",
                 client_options, sizeof(client_options) / sizeof(*client_options),
                 a);
}

void cli_trim_remote_names(char **names, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);

        while (len > 1 && names[i][len - 1] == '/')
            names[i][--len] = '\0';
    }
}

/* ---------------------------------------------------------------- serve */

static int serve_max_clients(void *args, const struct cli_option *o, const char *arg)
{
    uint64_t n;

    (void)o;
    if (parse_size(arg, &n) != 0 || n == 0 || n > 100000)
        return cli_report_usage(NULL, "--max-clients needs 1 to 100000, not '%s'",
                                arg);
    ((struct cli_serve_args *)args)->cfg.max_clients = (unsigned)n;
    return 0;
}

static int serve_max_file_size(void *args, const struct cli_option *o,
                               const char *arg)
{
    struct ft_server_config *cfg = &((struct cli_serve_args *)args)->cfg;

    (void)o;
    if (parse_size(arg, &cfg->max_file_size) != 0 || cfg->max_file_size == 0)
        return cli_report_usage(NULL, "--max-file-size needs a size such as 10G, "
                                      "not '%s'", arg);
    return 0;
}

static int serve_max_frame_size(void *args, const struct cli_option *o,
                                const char *arg)
{
    uint64_t n;

    (void)o;
    if (parse_size(arg, &n) != 0 || n < 4096 || n > FT_FRAME_MAX_PAYLOAD)
        return cli_report_usage(NULL, "--max-frame-size needs 4096 to %u, not '%s'",
                                FT_FRAME_MAX_PAYLOAD, arg);
    ((struct cli_serve_args *)args)->cfg.max_frame_payload = (uint32_t)n;
    return 0;
}

static int serve_max_rate(void *args, const struct cli_option *o, const char *arg)
{
    struct ft_server_config *cfg = &((struct cli_serve_args *)args)->cfg;

    (void)o;
    if (parse_size(arg, &cfg->max_rate) != 0 || cfg->max_rate == 0)
        return cli_report_usage(NULL, "--max-rate needs a rate such as 10M, not '%s'",
                                arg);
    return 0;
}

static int serve_partial_ttl(void *args, const struct cli_option *o, const char *arg)
{
    uint64_t n;

    (void)o;
    if (parse_size(arg, &n) != 0 || n == 0 || n > INT32_MAX)
        return cli_report_usage(NULL, "--partial-ttl needs seconds, not '%s'", arg);
    ((struct cli_serve_args *)args)->cfg.partial_ttl_s = (int64_t)n;
    return 0;
}

/* serve and keygen: the help text is the args' first field. */
static int print_help(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    (void)arg;
    fputs(*(const char **)args, stdout);
    return -1;
}

#define SERVE(field) offsetof(struct cli_serve_args, field)

static const struct cli_option serve_options[] = {
    { { "root", required_argument, NULL, 'r' }, set_text, SERVE(cfg.root) },
    { { "host", required_argument, NULL, 'H' }, set_text, SERVE(cfg.host) },
    { { "port", required_argument, NULL, 'p' }, set_port, SERVE(cfg.port) },
    { { "max-clients", required_argument, NULL, 'c' }, serve_max_clients, 0 },
    { { "max-file-size", required_argument, NULL, 'm' }, serve_max_file_size, 0 },
    { { "idle-timeout", required_argument, NULL, 'i' }, set_seconds_ms,
      SERVE(cfg.idle_timeout_ms) },
    { { "handshake-timeout", required_argument, NULL, 'k' }, set_seconds_ms,
      SERVE(cfg.handshake_timeout_ms) },
    { { "max-frame-size", required_argument, NULL, 'f' }, serve_max_frame_size, 0 },
    { { "read-only", no_argument, NULL, 'R' }, set_flag, SERVE(cfg.read_only) },
    { { "key-file", required_argument, NULL, 'K' }, set_text, SERVE(cfg.key_file) },
    { { "token-file", required_argument, NULL, 'T' }, set_text, SERVE(token_file) },
    { { "allow-plaintext", no_argument, NULL, 'P' }, set_flag,
      SERVE(cfg.allow_plaintext) },
    { { "max-rate", required_argument, NULL, 'M' }, serve_max_rate, 0 },
    { { "partial-ttl", required_argument, NULL, 'l' }, serve_partial_ttl, 0 },
    { { "help", no_argument, NULL, 'h' }, print_help, 0 },
};

int cli_parse_serve_args(int argc, char **argv, struct cli_serve_args *a)
{
    return parse(argc, argv, "+r:H:p:h", serve_options,
                 sizeof(serve_options) / sizeof(*serve_options), a);
}

/* --------------------------------------------------------------- keygen */

struct keygen_args {
    const char *help; /* first: print_help's */
    const char *path;
};

static const struct cli_option keygen_options[] = {
    { { "token", required_argument, NULL, 't' }, set_text,
      offsetof(struct keygen_args, path) },
    { { "help", no_argument, NULL, 'h' }, print_help, 0 },
};

int cli_parse_keygen_args(int argc, char **argv, const char *help,
                          const char **path)
{
    struct keygen_args a = { .help = help, .path = NULL };
    int rc = parse(argc, argv, "+t:h", keygen_options,
                   sizeof(keygen_options) / sizeof(*keygen_options), &a);

    *path = a.path;
    return rc;
}
