/* cli_serve.c - ft serve and ft keygen. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ft/ft.h"
#include "ft/keys.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_report.h"
#include "privdrop.h"

static const char serve_help[] =
    "usage: ft serve [OPTIONS]\n"
    "       ft serve --scrub [--json] [ROOT]\n"
    "Serves a directory to ft clients until SIGINT or SIGTERM; SIGHUP rereads\n"
    "the clients file. With --scrub, serves nothing: reads every stored file\n"
    "that has a recorded digest and reports those that no longer match it.\n"
    "  -r, --root DIR          directory to serve (default ./ft-store, created)\n"
    "      --store LOCATION    the same: a directory, or s3://BUCKET[/PREFIX]\n"
    "                          (S3: needs --key-file and --s3-endpoint)\n"
    "      --s3-endpoint URL   the S3 engine's address (path-style); keys and\n"
    "                          region from AWS_ACCESS_KEY_ID,\n"
    "                          AWS_SECRET_ACCESS_KEY, AWS_REGION or --config's\n"
    "                          s3-access-key, s3-secret-key, s3-region\n"
    "  -H, --host ADDR         address to listen on (default 127.0.0.1; '::' for all)\n"
    "  -p, --port N            port (default 65432; 0 picks a free one)\n"
    "      --max-clients N     connections served at once (default 64)\n"
    "      --max-streams N     connections one transfer may use, 1 to 16\n"
    "                          (default 8; each counts as a client)\n"
    "      --max-file-size N   largest upload accepted, e.g. 10G (default none)\n"
    "      --idle-timeout S    drop a client silent for S seconds (default 300)\n"
    "      --handshake-timeout S  drop a client that has not said hello (default 10)\n"
    "      --max-frame-size N  largest frame payload accepted (4096 to 262208)\n"
    "      --read-only         refuse put and rm\n"
    "      --key-file FILE     the server's key (default ROOT/.ft/server.key,\n"
    "                          made on first start)\n"
    "      --token-file FILE   admit only clients holding this token\n"
    "                          (make one with 'ft keygen --token FILE')\n"
    "      --allow-plaintext   grant --plaintext to clients that ask for it\n"
    "      --partial-ttl S     keep interrupted uploads S seconds for\n"
    "                          put --continue (default 86400)\n"
    "      --max-rate RATE     bytes per second per client, e.g. 10M (k, M, G:\n"
    "                          powers of 1024)\n"
    "      --clients FILE      admit only the client keys FILE names, each with\n"
    "                          its rights (see ft(1): THE CLIENTS FILE)\n"
    "      --anonymous PERMS   the rights of a key the clients file does not\n"
    "                          name (without --clients: of everyone), on the\n"
    "                          whole store: list, read, write, delete joined by\n"
    "                          commas, e.g. list,read (default: refused)\n"
    "      --on-upload PROG    run PROG after each published upload, the name\n"
    "                          its argument; FT_NAME, FT_SIZE, FT_DIGEST,\n"
    "                          FT_CLIENT, FT_EVENT in its environment\n"
    "      --on-delete PROG    the same after each delete\n"
    "      --metrics ADDR:PORT serve Prometheus metrics (GET /metrics) there;\n"
    "                          no authentication: keep it on localhost\n"
    "      --log-format F      text (default) or json: one object a line\n"
    "      --scrub             check the store's recorded digests (see above);\n"
    "                          exit 6 when a file does not match\n"
    "      --json              with --scrub: one JSON object per finding\n"
    "      --config FILE       options from FILE, one 'option value' a line\n"
    "                          (long names without --); the command line wins\n"
    "      --user NAME         started as root: open the store as NAME, bind the\n"
    "                          port, then run as NAME for good\n"
    "      --no-sandbox        do not confine the server (by default it gives up\n"
    "                          all files but its root's and its clients file's,\n"
    "                          and every TCP port but its own: Landlock)\n"
    "  -h, --help              this help\n";

static const char keygen_help[] =
    "usage: ft keygen --token FILE\n"
    "Writes a new access token (32 random bytes) to FILE, readable only by\n"
    "you. Give it to the server (--token-file) and to each client\n"
    "(--token-file or FT_TOKEN_FILE). FILE must not exist yet; its folder\n"
    "must, and '-' is refused (a secret does not go to standard output).\n";

/* The signal that asked the server to stop (0: none yet). */
static volatile sig_atomic_t stop_requested;
static struct ft_server *running_server;

static void on_stop_signal(int sig)
{
    stop_requested = sig;
    if (running_server != NULL)
        ft_server_stop(running_server);
}

/* SIGHUP, as daemons take it: reread the clients file, drop no one. */
static void on_reload_signal(int sig)
{
    (void)sig;
    if (running_server != NULL)
        ft_server_ask_reload(running_server);
}

static void log_to_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* A line for the operator on standard error: as the log's lines are,
 * text or (--log-format json) a JSON object. */
static void __attribute__((format(printf, 2, 3)))
say(const struct cli_serve_args *a, const char *fmt, ...)
{
    char line[1024], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (!a->cfg.log_json) {
        fprintf(stderr, "%s\n", line);
        return;
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", stamp,
            strncmp(line, "warning: ", 9) == 0 ? "warn" : "info");
    cli_json_string(stderr, line, strlen(line));
    fputs("}\n", stderr);
}

/* What the server's operator is told once it listens. */
static void tell_started(const struct cli_serve_args *a, struct ft_server *srv)
{
    say(a, "server key %s%s", ft_server_fingerprint(srv),
        ft_server_key_created(srv) ? " (new: made on this first start)" : "");
    if (ft_server_key_temporary(srv))
        say(a, "note: read-only, and the store holds no key: this key lasts only "
               "this run, and clients that pin it will see it change (start once "
               "without --read-only to keep one)");
    if (a->cfg.clients_file != NULL)
        say(a, "clients: the keys of %s; other keys %s", a->cfg.clients_file,
            a->cfg.anonymous_allow != 0 ? "may use it as --anonymous says"
                                        : "are refused");
    else if (a->token_file == NULL)
        say(a, "warning: no token: anyone who can reach this port may %s the store "
               "(see --token-file)",
            a->cfg.anonymous_allow != 0 ? "use (as --anonymous says)"
            : a->cfg.read_only          ? "read"
                                        : "read and write");
    if (a->cfg.allow_plaintext)
        say(a, "warning: --allow-plaintext: clients that ask get an UNENCRYPTED "
               "connection%s",
            a->token_file != NULL ? " (not while a token is required)" : "");
    say(a, "ft %s serving %s on %s port %u%s", FT_VERSION,
        a->cfg.root ? a->cfg.root : FT_DEFAULT_ROOT,
        a->cfg.host ? a->cfg.host : "127.0.0.1", (unsigned)ft_server_port(srv),
        a->cfg.read_only ? " (read-only)" : "");
}

/* Serves with srv until SIGINT or SIGTERM, then frees it; returns the
 * exit code. */
static int run_until_stopped(struct ft_server *srv, const struct cli_serve_args *a)
{
    struct sigaction sa;
    enum ft_err rc;

    running_server = srv;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Not a stop: a server in a closed terminal goes on (as under nohup). */
    sa.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &sa, NULL);
    tell_started(a, srv);
    if (stop_requested)
        ft_server_stop(srv);
    rc = ft_server_run(srv);
    running_server = NULL;
    ft_server_free(srv);
    if (stop_requested != 0)
        say(a, "ft serve: %s received", stop_requested == SIGINT ? "SIGINT" : "SIGTERM");
    say(a, "ft serve: stopped");
    return rc == FT_OK ? CLI_EXIT_OK : CLI_EXIT_LOCAL_IO;
}

/* Opens the server, acting as --user's user if there is one (what it
 * makes is the user's; what the user may not open stops it now), binds
 * its port as root (one below 1024 needs it), then becomes the user for
 * good, before a byte is read from the network. Returns 0 to go on, or
 * the exit code, having told what failed. */
static int open_and_bind(const struct cli_serve_args *a, struct ft_server **srv)
{
    const char *root = a->cfg.root != NULL ? a->cfg.root : FT_DEFAULT_ROOT;
    struct ft_user user;
    char err[1024];
    enum ft_err rc = FT_OK;

    *srv = NULL;
    if (a->user != NULL) {
        rc = ft_privdrop_lookup(a->user, &user, err, sizeof(err));
        if (rc == FT_OK)
            rc = ft_privdrop_act_as(&user, err, sizeof(err));
        if (rc == FT_OK)
            rc = ft_privdrop_check_store(&user, root, a->cfg.read_only, err,
                                         sizeof(err));
        if (rc != FT_OK)
            goto out;
    }
    rc = ft_server_open(srv, &a->cfg, err, sizeof(err));
    if (rc == FT_OK && a->user != NULL)
        rc = ft_privdrop_act_as_root(&user, err, sizeof(err));
    if (rc == FT_OK)
        rc = ft_server_listen(*srv, err, sizeof(err));
    if (rc == FT_OK && a->user != NULL) {
        rc = ft_privdrop_become(&user, err, sizeof(err));
        if (rc == FT_OK)
            say(a, "user: %s (uid %u, gid %u) from now on", user.name,
                (unsigned)user.uid, (unsigned)user.gid);
    }
out:
    if (rc == FT_OK)
        return 0;
    fprintf(stderr, "ft: serve: %s\n", err);
    ft_server_free(*srv);
    *srv = NULL;
    return cli_exit_code(rc);
}

/* Gives up what the server no longer needs, unless told not to; a kernel
 * without Landlock gets a warning, and the server runs. Returns 0 to go
 * on, or the exit code. */
static int confine(const struct cli_serve_args *a, struct ft_server *srv)
{
    char report[1024] = "out of memory";
    bool confined;
    enum ft_err rc;

    if (a->no_sandbox) {
        say(a, "sandbox: off (--no-sandbox)");
        return 0;
    }
    rc = ft_server_confine(srv, &confined, report, sizeof(report));
    if (rc != FT_OK) {
        fprintf(stderr, "ft: serve: sandbox: %s\n", report);
        return cli_exit_code(rc);
    }
    say(a, "%ssandbox: %s", confined ? "" : "warning: ", report);
    return 0;
}

/* The ecosystem's credentials: the environment over the config file, as
 * the AWS tools read them. */
static void s3_from_environment(struct ft_server_config *cfg)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *region = getenv("AWS_REGION");

    if (id != NULL && id[0] != '\0')
        cfg->s3_access_key = id;
    if (secret != NULL && secret[0] != '\0')
        cfg->s3_secret_key = secret;
    if (region != NULL && region[0] != '\0')
        cfg->s3_region = region;
}

int cli_serve(int argc, char **argv)
{
    struct cli_serve_args a = {
        .help = serve_help,
        .cfg = { .port = FT_DEFAULT_PORT, .log = log_to_stderr },
    };
    uint8_t token[FT_TOKEN_BYTES];
    struct ft_server *srv = NULL;
    char err[1024];
    enum ft_err rc;
    int code = cli_parse_serve_args(argc, argv, &a);

    if (code != 0)
        goto out;
    if (a.scrub && argc - optind <= 1) {
        code = cli_scrub(&a, argc > optind ? argv[optind] : NULL);
        goto out;
    }
    if (a.json && !a.scrub) {
        code = cli_report_usage(NULL, "serve", "%s", "--json goes with --scrub");
        goto out;
    }
    if (argc != optind) {
        code = cli_report_usage(NULL, "serve", "takes no arguments, not '%s'",
                                argv[optind]);
        goto out;
    }
    s3_from_environment(&a.cfg);
    if (a.token_file != NULL) {
        rc = ft_keys_load_token(a.token_file, token, err, sizeof(err));
        if (rc != FT_OK) {
            fprintf(stderr, "ft: serve: token: %s\n", err);
            code = CLI_EXIT_USAGE;
            goto out;
        }
        a.cfg.token = token;
    }
    code = open_and_bind(&a, &srv);
    ft_keys_wipe(token, sizeof(token));
    if (code == 0)
        code = confine(&a, srv);
    if (code != 0) {
        ft_server_free(srv);
        goto out;
    }
    code = run_until_stopped(srv, &a);
out:
    free(a.config_text);
    return code < 0 ? CLI_EXIT_OK : code;
}

int cli_keygen(int argc, char **argv)
{
    const char *path = NULL;
    char err[512];
    enum ft_err rc;
    int code = cli_parse_keygen_args(argc, argv, keygen_help, &path);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (path == NULL || argc != optind)
        return cli_report_usage(NULL, "keygen", "%s", "needs --token FILE");
    /* Not standard output: a secret on a terminal or in a pipe's log is
     * one that others may read. */
    if (strcmp(path, "-") == 0)
        return cli_report_usage(NULL, "keygen", "%s", "--token needs a FILE, not "
                                "'-': the token is a secret, kept in a file only "
                                "you can read");
    rc = ft_keys_make_token(path, err, sizeof(err));
    if (rc != FT_OK) {
        fprintf(stderr, "ft: keygen: %s\n", err);
        return cli_exit_code(rc);
    }
    fprintf(stderr, "token written to %s\n", path);
    return CLI_EXIT_OK;
}
