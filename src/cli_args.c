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
#include "clients.h"

static const char client_host_text[] =
    "  -H, --host ADDR     server address (default $FT_HOST or 127.0.0.1)\n";
/* Told from its 7th byte on, after spaces, where -p is not the port. */
static const char client_port_text[] =
    "  -p, --port N        server port (default $FT_PORT or 65432)\n";
static const char client_options_text[] =
    "      --token-file F  the server's access token (default $FT_TOKEN_FILE)\n";
/* Told from its 7th byte on, after spaces, where -i is not the identity. */
static const char client_identity_text[] =
    "  -i, --identity F    your key (default $FT_IDENTITY or ~/.config/ft/id,\n"
    "                      made on first use; 'ft id' prints it)\n";
static const char client_more_text[] =
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

/* One option: how getopt_long knows it (its val is the short letter, or an
 * OPT_ value) and what takes its argument in. apply returns 0 to go on,
 * BAD_VALUE, or what the parse returns (see cli_args.h). The appliers that
 * serve many options set the field of the command's args at offset field
 * (of the type the applier says). */
struct cli_option {
    struct option getopt;
    int (*apply)(void *args, const struct cli_option *o, const char *arg);
    size_t field;
    const char *needs; /* what its value must be, told when apply says BAD_VALUE */
};

/* What apply returns for a value it cannot take: parse tells it. */
#define BAD_VALUE (-2)

#define OPTIONS_MAX 40
/* serve --config FILE: at most this many bytes. */
#define CONFIG_MAX (1 << 16)

/* The getopt values of options without a short letter: above any
 * character, so that getopt's optopt tells "-X" from "--long-option". */
enum {
    OPT_NO_VERIFY = 0x100, OPT_TOKEN_FILE, OPT_SERVER_KEY, OPT_PLAINTEXT,
    OPT_CIPHER, OPT_LIMIT_RATE, OPT_CONTINUE, OPT_CONNECT_TIMEOUT, OPT_TIMEOUT,
    OPT_JSON, OPT_MAX_CLIENTS, OPT_MAX_FILE_SIZE, OPT_IDLE_TIMEOUT,
    OPT_HANDSHAKE_TIMEOUT, OPT_MAX_FRAME_SIZE, OPT_READ_ONLY, OPT_KEY_FILE,
    OPT_ALLOW_PLAINTEXT, OPT_MAX_RATE, OPT_PARTIAL_TTL, OPT_PORT,
    OPT_MAX_STREAMS, OPT_CLIENTS, OPT_ANONYMOUS, OPT_CONFIG, OPT_IDENTITY,
    OPT_USER, OPT_NO_SANDBOX, OPT_ON_UPLOAD, OPT_ON_DELETE, OPT_METRICS,
    OPT_LOG_FORMAT, OPT_SCRUB, OPT_DELETE, OPT_STORE, OPT_S3_ENDPOINT,
    OPT_S3_REGION, OPT_S3_ACCESS_KEY, OPT_S3_SECRET_KEY,
};

static const struct cli_option *option_by_val(const struct cli_option *table,
                                              size_t n, int val)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].getopt.val == val)
            return &table[i];
    }
    return NULL;
}

/* How many long options of table begin with the len bytes of text. */
static size_t long_matches(const struct cli_option *table, size_t n,
                           const char *text, size_t len)
{
    size_t found = 0;

    for (size_t i = 0; i < n; i++)
        found += strncmp(table[i].getopt.name, text, len) == 0;
    return found;
}

/* Tells what getopt_long found wrong (it says nothing itself: opterr is
 * 0), in one line that names the command. */
static int bad_option(char **argv, int opt, const char *shortopts,
                      const struct cli_option *table, size_t n)
{
    const char *cmd = argv[0];
    const struct cli_option *o = option_by_val(table, n, optopt);
    const char *text;
    size_t len;

    if (opt == ':' && o != NULL)
        return cli_report_usage(NULL, cmd, "option --%s needs a value",
                                o->getopt.name);
    /* optopt is "-X" that no option has, or an option given a value it
     * does not take ("--json=1"): only the latter has a short letter
     * that this command knows, or none. */
    if (optopt > 0 && optopt < OPT_NO_VERIFY && strchr(shortopts, optopt) == NULL)
        return cli_report_usage(NULL, cmd, "unknown option '-%c'", optopt);
    if (o != NULL)
        return cli_report_usage(NULL, cmd, "option --%s takes no value",
                                o->getopt.name);
    /* A long option it does not know: the last argument it read. */
    text = optind > 0 ? argv[optind - 1] : "";
    len = strcspn(text, "=");
    if (strncmp(text, "--", 2) == 0 && len > 2 &&
        long_matches(table, n, text + 2, len - 2) > 1)
        return cli_report_usage(NULL, cmd, "option '%.*s' is ambiguous", (int)len,
                                text);
    return cli_report_usage(NULL, cmd, "unknown option '%.*s'", (int)len, text);
}

/* Runs getopt_long over argv with the options of table. Options may come
 * anywhere among the operands, as with GNU tools; "--" ends them. */
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
    opterr = 0;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const struct cli_option *o =
            opt == '?' || opt == ':' ? NULL : option_by_val(table, n, opt);
        int rc = o != NULL ? o->apply(args, o, optarg)
                           : bad_option(argv, opt, shortopts, table, n);

        if (rc == BAD_VALUE)
            rc = cli_report_usage(NULL, argv[0], "--%s needs %s, not '%s'",
                                  o->getopt.name, o->needs, optarg);
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
    return parse_port(arg, field_of(args, o)) == 0 ? 0 : BAD_VALUE;
}

/* int: whole seconds, above 0, kept as milliseconds. */
static int set_seconds_ms(void *args, const struct cli_option *o, const char *arg)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v <= 0 || v > INT_MAX / 1000)
        return BAD_VALUE;
    *(int *)field_of(args, o) = (int)v * 1000;
    return 0;
}

/* ---------------------------------------------------- client commands */

/* bool, for the options only some commands take: --no-verify and
 * --continue put and get, --json those and the commands that say so. */
static int set_own_flag(void *args, const struct cli_option *o, const char *arg)
{
    const struct cli_command *cmd = ((struct cli_client_args *)args)->cmd;

    if (!cmd->transfer && !(o->getopt.val == OPT_JSON && cmd->json))
        return cli_report_usage(NULL, cmd->name, "%s does not take --%s", cmd->name,
                                o->getopt.name);
    return set_flag(args, o, arg);
}

/* Whether cmd is mkdir, whose -p is --parents as mkdir(1)'s: its port
 * has its long name alone. */
static bool has_parents(const struct cli_command *cmd)
{
    return strcmp(cmd->name, "mkdir") == 0;
}

/* Whether cmd is sync, whose -i is --itemize, as rsync's. */
static bool is_sync(const struct cli_command *cmd)
{
    return cmd->operands == CLI_OPERANDS_SYNC;
}

static int client_help(void *args, const struct cli_option *o, const char *arg)
{
    const struct cli_command *cmd = ((struct cli_client_args *)args)->cmd;

    (void)o;
    (void)arg;
    fputs(cmd->help, stdout);
    fputs(client_host_text, stdout);
    if (has_parents(cmd))
        printf("      %s", client_port_text + 6);
    else
        fputs(client_port_text, stdout);
    fputs(client_options_text, stdout);
    if (is_sync(cmd))
        printf("      %s", client_identity_text + 6);
    else
        fputs(client_identity_text, stdout);
    fputs(client_more_text, stdout);
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
        return BAD_VALUE;
    return 0;
}

/* Refuses an option of put and get on another command; 0 when it may go on. */
static int transfer_only(const struct cli_client_args *a, const struct cli_option *o)
{
    if (a->cmd->transfer)
        return 0;
    return cli_report_usage(NULL, a->cmd->name, "%s does not take --%s",
                            a->cmd->name, o->getopt.name);
}

static int client_limit_rate(void *args, const struct cli_option *o, const char *arg)
{
    struct cli_client_args *a = args;
    int rc = transfer_only(a, o);

    if (rc != 0)
        return rc;
    if (ft_parse_size(arg, &a->xfer.rate_limit) != FT_OK || a->xfer.rate_limit == 0)
        return BAD_VALUE;
    return 0;
}

/* A whole number from 1 to max. */
static int parse_count(const char *arg, uint64_t max, unsigned *out)
{
    uint64_t n;

    if (ft_parse_size(arg, &n) != FT_OK || n == 0 || n > max)
        return BAD_VALUE;
    *out = (unsigned)n;
    return 0;
}

static int client_streams(void *args, const struct cli_option *o, const char *arg)
{
    struct cli_client_args *a = args;
    int rc = transfer_only(a, o);

    return rc != 0 ? rc : parse_count(arg, FT_MAX_STREAMS, &a->xfer.streams);
}

#define CLIENT(field) offsetof(struct cli_client_args, field)
#define SECONDS "whole seconds above 0"

static const struct cli_option client_options[] = {
    { { "host", required_argument, NULL, 'H' }, set_text, CLIENT(cfg.host), NULL },
    { { "recursive", no_argument, NULL, 'r' }, set_flag, CLIENT(recursive), NULL },
    { { "port", required_argument, NULL, 'p' }, set_port, CLIENT(cfg.port),
      "a port number (0 to 65535)" },
    { { "compress", no_argument, NULL, 'z' }, set_flag, CLIENT(xfer.compress), NULL },
    { { "no-verify", no_argument, NULL, OPT_NO_VERIFY }, set_own_flag,
      CLIENT(xfer.no_verify), NULL },
    { { "quiet", no_argument, NULL, 'q' }, set_flag, CLIENT(quiet), NULL },
    { { "help", no_argument, NULL, 'h' }, client_help, 0, NULL },
    { { "token-file", required_argument, NULL, OPT_TOKEN_FILE }, set_text,
      CLIENT(token_file), NULL },
    { { "identity", required_argument, NULL, 'i' }, set_text,
      CLIENT(identity_file), NULL },
    { { "server-key", required_argument, NULL, OPT_SERVER_KEY }, set_text,
      CLIENT(cfg.server_key), NULL },
    { { "plaintext", no_argument, NULL, OPT_PLAINTEXT }, set_flag,
      CLIENT(cfg.plaintext), NULL },
    { { "cipher", required_argument, NULL, OPT_CIPHER }, client_cipher, 0,
      "chacha20-poly1305 or aes-256-gcm" },
    { { "limit-rate", required_argument, NULL, OPT_LIMIT_RATE }, client_limit_rate, 0,
      "a rate such as 500k or 10M (bytes per second)" },
    { { "continue", no_argument, NULL, OPT_CONTINUE }, set_own_flag,
      CLIENT(xfer.resume), NULL },
    { { "streams", required_argument, NULL, 'P' }, client_streams, 0, "1 to 16" },
    { { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
      set_seconds_ms, CLIENT(cfg.connect_timeout_ms), SECONDS },
    { { "timeout", required_argument, NULL, OPT_TIMEOUT }, set_seconds_ms,
      CLIENT(cfg.timeout_ms), SECONDS },
    { { "json", no_argument, NULL, OPT_JSON }, set_own_flag, CLIENT(json), NULL },
};

/* mkdir's -p, as mkdir(1)'s. */
static const struct cli_option parents_option = {
    { "parents", no_argument, NULL, 'p' }, set_flag, CLIENT(parents), NULL
};

/* sync's, as rsync's; its -i is --itemize, and --identity has no letter. */
static const struct cli_option sync_options[] = {
    { { "delete", no_argument, NULL, OPT_DELETE }, set_flag, CLIENT(delete_extra), NULL },
    { { "dry-run", no_argument, NULL, 'n' }, set_flag, CLIENT(dry_run), NULL },
    { { "itemize", no_argument, NULL, 'i' }, set_flag, CLIENT(itemize), NULL },
    { { "checksum", no_argument, NULL, 'c' }, set_flag, CLIENT(checksum), NULL },
};
#define SYNC_OPTIONS (sizeof(sync_options) / sizeof(*sync_options))

_Static_assert(sizeof(client_options) / sizeof(*client_options) + SYNC_OPTIONS <=
                   OPTIONS_MAX,
               "room for --parents and sync's options");

/* The options of cmd into table, their number returned: the common ones,
 * and mkdir's --parents or sync's own. */
static size_t client_table(const struct cli_command *cmd, struct cli_option *table)
{
    size_t n = sizeof(client_options) / sizeof(*client_options);

    memcpy(table, client_options, sizeof(client_options));
    if (is_sync(cmd)) {
        for (size_t i = 0; i < n; i++) {
            if (table[i].getopt.val == 'i')
                table[i].getopt.val = OPT_IDENTITY;
        }
        memcpy(table + n, sync_options, sizeof(sync_options));
        return n + SYNC_OPTIONS;
    }
    if (!has_parents(cmd))
        return n;
    for (size_t i = 0; i < n; i++) {
        if (table[i].getopt.val == 'p')
            table[i].getopt.val = OPT_PORT;
    }
    table[n] = parents_option;
    return n + 1;
}

/* The remote the operands name, if any: its settings fill what the
 * options left unset. The token and identity files left unset still,
 * their environment variables fill later (cli_connect). */
static int take_remote(int argc, char **argv, struct cli_client_args *a)
{
    struct cli_operand which;
    char err[1024];
    enum ft_err rc = cli_operands_take(argv + optind, argc - optind,
                                       a->cmd->operands, &which, err, sizeof(err));
    struct cli_remote *r = &a->remote;

    if (rc != FT_OK)
        return cli_report_usage(NULL, a->cmd->name, "%s", err);
    a->remote_operand = which.index;
    if (which.remote[0] == '\0')
        return 0;
    rc = cli_remote_lookup(&which, r, err, sizeof(err));
    if (rc != FT_OK)
        return cli_report_fail(NULL, CLI_EXIT_USAGE, "%s: %s", a->cmd->name, err);
    if (a->cfg.host == NULL)
        a->cfg.host = r->host;
    if (a->cfg.port == 0)
        a->cfg.port = r->port;
    if (a->cfg.server_key == NULL && r->server_key[0] != '\0')
        a->cfg.server_key = r->server_key;
    if (a->token_file == NULL && r->token_file[0] != '\0')
        a->token_file = r->token_file;
    if (a->identity_file == NULL && r->identity[0] != '\0')
        a->identity_file = r->identity;
    return 0;
}

int cli_parse_client_args(int argc, char **argv, const struct cli_command *cmd,
                          struct cli_client_args *a)
{
    const char *env_host = getenv("FT_HOST");
    const char *env_port = getenv("FT_PORT");
    struct cli_option table[OPTIONS_MAX];
    size_t n = client_table(cmd, table);
    uint16_t port = 0;
    int rc;

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    if (env_port != NULL && env_port[0] != '\0' && parse_port(env_port, &port) != 0)
        return cli_report_usage(NULL, cmd->name, "FT_PORT is not a port number: "
                                "'%s'", env_port);
    /* Only put and get have -z; every command takes --compress. A leading
     * ':' makes getopt tell a missing value apart. */
    rc = parse(argc, argv,
               is_sync(cmd) ? ":H:p:zqhrP:nic"
               : cmd->transfer ? ":H:p:i:zqhrP:"
               : has_parents(cmd) ? ":H:pi:qhr" : ":H:p:i:qhr",
               table, n, a);
    if (rc == 0)
        rc = take_remote(argc, argv, a);
    if (a->cfg.host == NULL && env_host != NULL && env_host[0] != '\0')
        a->cfg.host = env_host;
    if (a->cfg.port == 0)
        a->cfg.port = port;
    return rc;
}

/* ---------------------------------------------------------------- serve */

static int serve_max_clients(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    return parse_count(arg, 100000, &((struct cli_serve_args *)args)->cfg.max_clients);
}

static int serve_max_streams(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    return parse_count(arg, FT_MAX_STREAMS,
                       &((struct cli_serve_args *)args)->cfg.max_streams);
}

/* uint64_t: a size or a rate (k, M, G), above 0. */
static int set_size(void *args, const struct cli_option *o, const char *arg)
{
    uint64_t *v = field_of(args, o);

    return ft_parse_size(arg, v) == FT_OK && *v != 0 ? 0 : BAD_VALUE;
}

static int serve_max_frame_size(void *args, const struct cli_option *o,
                                const char *arg)
{
    uint64_t n;

    (void)o;
    if (ft_parse_size(arg, &n) != FT_OK || n < 4096 || n > FT_FRAME_MAX_PAYLOAD)
        return BAD_VALUE;
    ((struct cli_serve_args *)args)->cfg.max_frame_payload = (uint32_t)n;
    return 0;
}

static int serve_partial_ttl(void *args, const struct cli_option *o, const char *arg)
{
    uint64_t n;

    (void)o;
    if (ft_parse_size(arg, &n) != FT_OK || n == 0 || n > INT32_MAX)
        return BAD_VALUE;
    ((struct cli_serve_args *)args)->cfg.partial_ttl_s = (int64_t)n;
    return 0;
}

static int serve_anonymous(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    return ft_clients_parse_allow(arg, strlen(arg),
                                  &((struct cli_serve_args *)args)->cfg.anonymous_allow) ==
                   FT_OK
               ? 0
               : BAD_VALUE;
}

static int serve_log_format(void *args, const struct cli_option *o, const char *arg)
{
    (void)o;
    if (strcmp(arg, "text") != 0 && strcmp(arg, "json") != 0)
        return BAD_VALUE;
    ((struct cli_serve_args *)args)->cfg.log_json = strcmp(arg, "json") == 0;
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

_Static_assert(FT_FRAME_MAX_PAYLOAD == 262208, "--max-frame-size's range, told");

static const struct cli_option serve_options[] = {
    { { "root", required_argument, NULL, 'r' }, set_text, SERVE(cfg.root), NULL },
    /* --root's other name: the location of a store, a folder or s3://. */
    { { "store", required_argument, NULL, OPT_STORE }, set_text, SERVE(cfg.root), NULL },
    { { "s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT }, set_text,
      SERVE(cfg.s3_endpoint), NULL },
    { { "host", required_argument, NULL, 'H' }, set_text, SERVE(cfg.host), NULL },
    { { "port", required_argument, NULL, 'p' }, set_port, SERVE(cfg.port),
      "a port number (0 to 65535)" },
    { { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS }, serve_max_clients,
      0, "1 to 100000" },
    { { "max-streams", required_argument, NULL, OPT_MAX_STREAMS }, serve_max_streams,
      0, "1 to 16" },
    { { "max-file-size", required_argument, NULL, OPT_MAX_FILE_SIZE }, set_size,
      SERVE(cfg.max_file_size), "a size such as 10G" },
    { { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT }, set_seconds_ms,
      SERVE(cfg.idle_timeout_ms), SECONDS },
    { { "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
      set_seconds_ms, SERVE(cfg.handshake_timeout_ms), SECONDS },
    { { "max-frame-size", required_argument, NULL, OPT_MAX_FRAME_SIZE },
      serve_max_frame_size, 0, "4096 to 262208" /* FT_FRAME_MAX_PAYLOAD */ },
    { { "read-only", no_argument, NULL, OPT_READ_ONLY }, set_flag,
      SERVE(cfg.read_only), NULL },
    { { "key-file", required_argument, NULL, OPT_KEY_FILE }, set_text,
      SERVE(cfg.key_file), NULL },
    { { "token-file", required_argument, NULL, OPT_TOKEN_FILE }, set_text,
      SERVE(token_file), NULL },
    { { "allow-plaintext", no_argument, NULL, OPT_ALLOW_PLAINTEXT }, set_flag,
      SERVE(cfg.allow_plaintext), NULL },
    { { "max-rate", required_argument, NULL, OPT_MAX_RATE }, set_size,
      SERVE(cfg.max_rate), "a rate such as 10M" },
    { { "partial-ttl", required_argument, NULL, OPT_PARTIAL_TTL }, serve_partial_ttl,
      0, "seconds" },
    { { "clients", required_argument, NULL, OPT_CLIENTS }, set_text,
      SERVE(cfg.clients_file), NULL },
    { { "anonymous", required_argument, NULL, OPT_ANONYMOUS }, serve_anonymous, 0,
      "rights such as list,read (list, read, write, delete; or none)" },
    { { "config", required_argument, NULL, OPT_CONFIG }, set_text, SERVE(config_file),
      NULL },
    { { "user", required_argument, NULL, OPT_USER }, set_text, SERVE(user), NULL },
    { { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX }, set_flag,
      SERVE(no_sandbox), NULL },
    { { "on-upload", required_argument, NULL, OPT_ON_UPLOAD }, set_text,
      SERVE(cfg.on_upload), NULL },
    { { "on-delete", required_argument, NULL, OPT_ON_DELETE }, set_text,
      SERVE(cfg.on_delete), NULL },
    { { "metrics", required_argument, NULL, OPT_METRICS }, set_text,
      SERVE(cfg.metrics), NULL },
    { { "log-format", required_argument, NULL, OPT_LOG_FORMAT }, serve_log_format, 0,
      "text or json" },
    /* The scrub is a run of its own, never a server's setting. */
    { { "scrub", no_argument, NULL, OPT_SCRUB }, set_flag, SERVE(scrub), NULL },
    { { "json", no_argument, NULL, OPT_JSON }, set_flag, SERVE(json), NULL },
    { { "help", no_argument, NULL, 'h' }, print_help, 0, NULL },
};

#define SERVE_OPTIONS (sizeof(serve_options) / sizeof(*serve_options))

/* What only a --config file sets: keys (a command line is seen by every
 * user of the machine, in ps), and the region beside them. */
static const struct cli_option serve_file_options[] = {
    { { "s3-region", required_argument, NULL, OPT_S3_REGION }, set_text,
      SERVE(cfg.s3_region), NULL },
    { { "s3-access-key", required_argument, NULL, OPT_S3_ACCESS_KEY }, set_text,
      SERVE(cfg.s3_access_key), NULL },
    { { "s3-secret-key", required_argument, NULL, OPT_S3_SECRET_KEY }, set_text,
      SERVE(cfg.s3_secret_key), NULL },
};

#define SERVE_FILE_OPTIONS (sizeof(serve_file_options) / sizeof(*serve_file_options))
_Static_assert(SERVE_OPTIONS < OPTIONS_MAX, "OPTIONS_MAX holds serve's options");

/* One line of a --config file, "option value" (value: the rest of the
 * line, blanks around it aside), applied through serve's option table:
 * the file knows the options the command line knows, by their long names. */
static int config_line(struct cli_serve_args *a, const char *file, unsigned n,
                       char *line)
{
    size_t klen = strcspn(line, " \t");
    char *value = line + klen;
    const struct cli_option *o = NULL;
    int rc;

    while (*value == ' ' || *value == '\t')
        *value++ = '\0';
    for (size_t end = strlen(value); end > 0 && strchr(" \t\r", value[end - 1]); end--)
        value[end - 1] = '\0';
    line[klen] = '\0';
    for (size_t i = 0; i < SERVE_OPTIONS && o == NULL; i++) {
        if (strcmp(serve_options[i].getopt.name, line) == 0)
            o = &serve_options[i];
    }
    for (size_t i = 0; i < SERVE_FILE_OPTIONS && o == NULL; i++) {
        if (strcmp(serve_file_options[i].getopt.name, line) == 0)
            o = &serve_file_options[i];
    }
    if (o == NULL || o->apply == print_help || o->getopt.val == OPT_CONFIG ||
        o->getopt.val == OPT_SCRUB || o->getopt.val == OPT_JSON)
        return cli_report_usage(NULL, "serve", "%s:%u: %s '%s'", file, n,
                                o == NULL ? "unknown option" : "not an option for a file:",
                                line);
    if (o->getopt.has_arg == no_argument) {
        if (strcmp(value, "no") == 0)
            return 0;
        if (value[0] != '\0' && strcmp(value, "yes") != 0)
            return cli_report_usage(NULL, "serve", "%s:%u: %s takes yes, no or "
                                    "nothing, not '%s'", file, n, line, value);
    } else if (value[0] == '\0') {
        return cli_report_usage(NULL, "serve", "%s:%u: %s needs a value", file, n, line);
    }
    rc = o->apply(a, o, value);
    if (rc == BAD_VALUE)
        rc = cli_report_usage(NULL, "serve", "%s:%u: %s needs %s, not '%s'", file, n,
                              line, o->needs, value);
    return rc;
}

/* Applies the options of a->config_file; its text stays in a->config_text,
 * where the names it gave point. */
static int apply_config_file(struct cli_serve_args *a)
{
    const char *file = a->config_file;
    FILE *f = fopen(file, "r");
    size_t len;
    char *line;
    unsigned n = 0;
    int rc = 0;

    if (f == NULL)
        return cli_report_usage(NULL, "serve", "cannot read %s: %s", file,
                                strerror(errno));
    a->config_text = malloc(CONFIG_MAX + 1);
    if (a->config_text == NULL) {
        fclose(f);
        return cli_report_usage(NULL, "serve", "%s: out of memory", file);
    }
    len = fread(a->config_text, 1, CONFIG_MAX + 1, f);
    fclose(f);
    if (len > CONFIG_MAX)
        return cli_report_usage(NULL, "serve", "%s: longer than %d bytes", file,
                                CONFIG_MAX);
    a->config_text[len] = '\0';
    if (memchr(a->config_text, '\0', len) != NULL)
        return cli_report_usage(NULL, "serve", "%s: a NUL byte: not a text file", file);
    for (line = a->config_text; rc == 0 && line != NULL; n++) {
        char *next = strchr(line, '\n');

        if (next != NULL)
            *next++ = '\0';
        line += strspn(line, " \t\r");
        if (line[0] != '\0' && line[0] != '#')
            rc = config_line(a, file, n + 1, line);
        line = next;
    }
    return rc;
}

int cli_parse_serve_args(int argc, char **argv, struct cli_serve_args *a)
{
    int rc = parse(argc, argv, ":r:H:p:h", serve_options, SERVE_OPTIONS, a);

    /* The command line was read first only to find --config: now the
     * file, then the command line again, over it. */
    if (rc != 0 || a->config_file == NULL)
        return rc;
    rc = apply_config_file(a);
    if (rc != 0)
        return rc;
    return parse(argc, argv, ":r:H:p:h", serve_options, SERVE_OPTIONS, a);
}

/* ------------------------------------------------------- keygen and id */

/* What a command whose one option names a file is told. */
struct file_args {
    const char *help; /* first: print_help's */
    const char *path;
};

static const struct cli_option keygen_options[] = {
    { { "token", required_argument, NULL, 't' }, set_text,
      offsetof(struct file_args, path), NULL },
    { { "help", no_argument, NULL, 'h' }, print_help, 0, NULL },
};

static const struct cli_option id_options[] = {
    { { "identity", required_argument, NULL, 'i' }, set_text,
      offsetof(struct file_args, path), NULL },
    { { "help", no_argument, NULL, 'h' }, print_help, 0, NULL },
};

int cli_parse_keygen_args(int argc, char **argv, const char *help,
                          const char **path)
{
    struct file_args a = { .help = help, .path = NULL };
    int rc = parse(argc, argv, ":t:h", keygen_options,
                   sizeof(keygen_options) / sizeof(*keygen_options), &a);

    *path = a.path;
    return rc;
}

int cli_parse_id_args(int argc, char **argv, const char *help, const char **path)
{
    struct file_args a = { .help = help, .path = NULL };
    int rc = parse(argc, argv, ":i:h", id_options,
                   sizeof(id_options) / sizeof(*id_options), &a);

    *path = a.path;
    return rc;
}

/* ------------------------------------------------ forget, trust: --help */

int cli_parse_help_only(int argc, char **argv, const char *help)
{
    static const struct cli_option options[] = {
        { { "help", no_argument, NULL, 'h' }, print_help, 0, NULL },
    };

    return parse(argc, argv, ":h", options, 1, &help);
}
