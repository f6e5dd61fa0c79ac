/* main.c - the ft command: parse, call the library, map errors to exit
 * codes. Nothing here moves bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ft/ft.h"
#include "ft/keys.h"

#include "cli_report.h"

/* Room for one component of a name, with a margin. */
#define FT_LEAF_BUF 512

/* Exit codes, one per class of failure (documented in README.md). */
enum exit_code {
    EXIT_OK = 0,
    EXIT_USAGE = 2,
    EXIT_CONNECT = 3,
    EXIT_REFUSED = 4,
    EXIT_LOCAL_IO = 5,
    EXIT_INTEGRITY = 6,
    EXIT_CONNECTION = 7,
};

static const char usage_text[] =
    "usage: ft COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Commands:\n"
    "  serve            serve a directory (default ./ft-store)\n"
    "  put LOCAL [REMOTE]   upload a file ('-' reads standard input)\n"
    "  get REMOTE [LOCAL]   download a file ('-' writes standard output)\n"
    "  ls               list the files on the server\n"
    "  rm NAME...       delete files on the server\n"
    "  mv OLD NEW       rename a file on the server, atomically\n"
    "  stat NAME...     size, time, mode and BLAKE2b-256 digest of files\n"
    "  keygen --token FILE  make an access token\n"
    "\n"
    "Run 'ft COMMAND --help' for a command's options.\n"
    "Environment: FT_HOST and FT_PORT set the client's default server;\n"
    "FT_TOKEN_FILE its token. Server keys are pinned on first use in\n"
    "~/.config/ft/known_hosts.\n"
    "Exit codes: 0 ok, 2 usage, 3 cannot connect, 4 refused by the server,\n"
    "            5 local I/O error, 6 integrity check failed,\n"
    "            7 connection lost or protocol error.\n";

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

static volatile sig_atomic_t stop_requested;
static struct ft_server *running_server;

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ft: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'ft --help')\n");
    return EXIT_USAGE;
}

/* The class of a failure, for the exit code. */
static int exit_code_for(enum ft_err err)
{
    switch (err) {
    case FT_ERR_OK:
        return EXIT_OK;
    case FT_ERR_USAGE:
        return EXIT_USAGE;
    case FT_ERR_CONNECT:
    case FT_ERR_NOT_FT:
    case FT_ERR_VERSION:
    case FT_ERR_KEY_CHANGED:
        return EXIT_CONNECT;
    case FT_ERR_BAD_NAME:
    case FT_ERR_NOT_FOUND:
    case FT_ERR_NO_SPACE:
    case FT_ERR_TOO_LARGE:
    case FT_ERR_READ_ONLY:
    case FT_ERR_BUSY:
    case FT_ERR_DENIED:
    case FT_ERR_SERVER:
    case FT_ERR_TOKEN:
        return EXIT_REFUSED;
    case FT_ERR_IO:
    case FT_ERR_NOMEM:
    case FT_ERR_CHANGED:
        return EXIT_LOCAL_IO;
    case FT_ERR_INTEGRITY:
    case FT_ERR_TAMPERED:
        return EXIT_INTEGRITY;
    case FT_ERR_CLOSED:
    case FT_ERR_TIMEOUT:
    case FT_ERR_PROTOCOL:
    case FT_ERR_FRAME_TOO_BIG:
    case FT_ERR_INTERRUPTED:
        return EXIT_CONNECTION;
    }
    return EXIT_CONNECTION;
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

static int parse_seconds_ms(const char *text, int *ms)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0 || v > INT_MAX / 1000)
        return -1;
    *ms = (int)v * 1000;
    return 0;
}

/* What every client command shares. */
struct client_args {
    struct ft_client_config cfg;
    struct ft_transfer_options xfer;
    bool quiet;
    const char *token_file;
    uint8_t token[FT_TOKEN_BYTES];
    char *known_hosts; /* owned */
    bool json;                 /* --json (put, get, ls) */
    bool recursive;            /* -r (put, get, rm) */
    struct cli_report *report; /* put, get: where failures and notes go */
    struct put_pipe *pipe;     /* put -r: the pipelined puts due */
};

/* put -r sends files up to this size pipelined, without waiting for the
 * server between them; larger ones go one at a time, with progress. */
#define PIPELINED_FILE_MAX (1024 * 1024)

/* The names of the pipelined puts whose answers are due, oldest first. */
struct put_pipe {
    char *local[FT_PIPELINE_MAX];
    char *remote[FT_PIPELINE_MAX];
    int64_t size[FT_PIPELINE_MAX];
    size_t first, count;
};

static const struct option client_long_options[] = {
    { "host", required_argument, NULL, 'H' },
    { "recursive", no_argument, NULL, 'r' },
    { "port", required_argument, NULL, 'p' },
    { "compress", no_argument, NULL, 'z' },
    { "no-verify", no_argument, NULL, 'V' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "token-file", required_argument, NULL, 'T' },
    { "server-key", required_argument, NULL, 'K' },
    { "plaintext", no_argument, NULL, 'P' },
    { "cipher", required_argument, NULL, 'C' },
    { "limit-rate", required_argument, NULL, 'L' },
    { "continue", no_argument, NULL, 'U' },
    { "connect-timeout", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'J' },
    { NULL, 0, NULL, 0 },
};

/* Parses the client options of a command. Returns -1 after printing help,
 * an exit code > 0 on a usage error, 0 to go on. transfer tells whether -z
 * and --no-verify apply. */
static int parse_client_args(int argc, char **argv, const char *help,
                             bool transfer, struct client_args *a)
{
    const char *env_port = getenv("FT_PORT");
    int opt;

    memset(a, 0, sizeof(*a));
    a->cfg.host = getenv("FT_HOST");
    if (a->cfg.host != NULL && a->cfg.host[0] == '\0')
        a->cfg.host = NULL;
    if (env_port != NULL && env_port[0] != '\0' &&
        parse_port(env_port, &a->cfg.port) != 0)
        return fail_usage("FT_PORT is not a port number: '%s'", env_port);
    optind = 1;
    while ((opt = getopt_long(argc, argv, transfer ? "+H:p:zqhr" : "+H:p:qhr",
                              client_long_options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            a->recursive = true;
            break;
        case 'H':
            a->cfg.host = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &a->cfg.port) != 0)
                return fail_usage("not a port number: '%s'", optarg);
            break;
        case 'z':
            a->xfer.compress = true;
            break;
        case 'V':
            if (!transfer)
                return fail_usage("%s does not take --no-verify", argv[0]);
            a->xfer.no_verify = true;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'T':
            a->token_file = optarg;
            break;
        case 'K':
            a->cfg.server_key = optarg;
            break;
        case 'P':
            a->cfg.plaintext = true;
            break;
        case 'L':
            if (!transfer || parse_size(optarg, &a->xfer.rate_limit) != 0 ||
                a->xfer.rate_limit == 0)
                return fail_usage("--limit-rate needs a rate such as 500k or "
                                  "10M (bytes per second), not '%s'", optarg);
            break;
        case 'U':
            if (!transfer)
                return fail_usage("%s does not take --continue", argv[0]);
            a->xfer.resume = true;
            break;
        case 'c':
            if (parse_seconds_ms(optarg, &a->cfg.connect_timeout_ms) != 0)
                return fail_usage("--connect-timeout needs seconds, not '%s'", optarg);
            break;
        case 't':
            if (parse_seconds_ms(optarg, &a->cfg.timeout_ms) != 0)
                return fail_usage("--timeout needs seconds, not '%s'", optarg);
            break;
        case 'C':
            if (strcmp(optarg, "chacha20-poly1305") == 0)
                a->cfg.cipher = FT_CIPHER_CHACHAPOLY;
            else if (strcmp(optarg, "aes-256-gcm") == 0)
                a->cfg.cipher = FT_CIPHER_AESGCM;
            else
                return fail_usage("--cipher is chacha20-poly1305 or aes-256-gcm, "
                                  "not '%s'", optarg);
            break;
        case 'J':
            if (!transfer && strcmp(argv[0], "ls") != 0 &&
                strcmp(argv[0], "stat") != 0)
                return fail_usage("%s does not take --json", argv[0]);
            a->json = true;
            break;
        case 'h':
            fputs(help, stdout);
            fputs(client_options_text, stdout);
            return -1;
        default:
            return fail_usage("bad option for %s", argv[0]);
        }
    }
    return 0;
}

/* Reads the token file, if any, and finds the known-hosts file. */
static int prepare_security(struct client_args *a, const char *what)
{
    char err[512];
    enum ft_err rc;

    if (a->token_file == NULL)
        a->token_file = getenv("FT_TOKEN_FILE");
    if (a->token_file != NULL && a->token_file[0] != '\0') {
        rc = ft_keys_load_token(a->token_file, a->token, err, sizeof(err));
        if (rc != FT_OK)
            return cli_report_fail(a->report,
                                   exit_code_for(rc == FT_ERR_DENIED ? FT_ERR_USAGE : rc),
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

static struct ft_client *connect_or_complain(struct client_args *a,
                                             const char *what, int *code)
{
    struct ft_client *c = NULL;
    char err[2048];
    enum ft_err rc;

    *code = prepare_security(a, what);
    if (*code != 0)
        return NULL;
    rc = ft_client_connect(&c, &a->cfg, err, sizeof(err));
    sodium_memzero(a->token, sizeof(a->token));
    free(a->known_hosts);
    a->known_hosts = NULL;
    if (rc != FT_OK) {
        *code = cli_report_fail(a->report, exit_code_for(rc), "%s: %s", what, err);
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
                                   "connection is encrypted (%s)", ft_client_protocol(c));
    return c;
}

/* Drops the slashes that end remote names on the command line ("docs/"),
 * which ls prints for folders: the server's names have none. */
static void trim_remote_names(char **names, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);

        while (len > 1 && names[i][len - 1] == '/')
            names[i][--len] = '\0';
    }
}

/* The last component of a path, ignoring trailing slashes ("a/b/" -> "b"). */
static const char *last_component(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    const char *start;

    while (n > 1 && path[n - 1] == '/')
        n--;
    start = path + n;
    while (start > path && start[-1] != '/')
        start--;
    snprintf(buf, cap, "%.*s", (int)(path + n - start), start);
    return buf;
}

/* The name a local path goes under: its last component, or for "." and
 * ".." (which no server name may be) the real folder's name. */
static const char *local_leaf(const char *path, char *buf, size_t cap)
{
    char *real;

    last_component(path, buf, cap);
    if (strcmp(buf, ".") != 0 && strcmp(buf, "..") != 0)
        return buf;
    real = realpath(path, NULL);
    if (real != NULL) {
        last_component(real, buf, cap);
        free(real);
    }
    return buf;
}

/* folder/leaf, or leaf alone when folder is empty. */
static char *join(const char *folder, const char *leaf)
{
    char *out = NULL;
    size_t n = strlen(folder);

    while (n > 0 && folder[n - 1] == '/')
        n--;
    if (n == 0)
        return strdup(leaf);
    if (asprintf(&out, "%.*s/%s", (int)n, folder, leaf) < 0)
        return NULL;
    return out;
}

/* Whether a command over many files goes on after one ended with code:
 * yes past trouble with that file alone, no once the link is in doubt. */
static bool keeps_going(int code)
{
    return code == EXIT_OK || code == EXIT_LOCAL_IO || code == EXIT_REFUSED;
}

/* Says what --continue did with the part that was there. */
static void note_resume(struct cli_report *rep, const struct client_args *a,
                        const char *name, const struct ft_transfer *t)
{
    if (!a->xfer.resume)
        return;
    if (t->resumed_from > 0)
        cli_report_note(rep, "%s: resumed at %" PRIu64 " bytes (the part already "
                        "there matched, chunk by chunk)", name, t->resumed_from);
    else if (t->restarted)
        cli_report_note(rep, "%s: the part already there does not match (the "
                        "source changed since?): started from zero", name);
    else
        cli_report_note(rep, "%s: nothing to continue: started from zero", name);
}

/* Opens the regular file local for a put. Returns an exit code, 0 with *fd
 * open on success. */
static int open_source(struct cli_report *rep, const char *local, int *fd,
                       struct stat *sb)
{
    /* O_NONBLOCK: a FIFO named by mistake must not hang the open. */
    *fd = open(local, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd >= 0)
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
    if (*fd < 0 || fstat(*fd, sb) != 0)
        return cli_report_fail(rep, EXIT_LOCAL_IO, "put %s: %s", local,
                               strerror(errno));
    if (!S_ISREG(sb->st_mode))
        return cli_report_fail(rep, EXIT_LOCAL_IO, "put %s: %s", local,
                               S_ISDIR(sb->st_mode)
                                   ? "is a folder (use -r to copy it)"
                                   : "not a regular file");
    return EXIT_OK;
}

/* Uploads one local file (or standard input, "-") as remote. Returns an
 * exit code, 0 on success. */
static int put_one(struct ft_client *c, struct client_args *a,
                   struct cli_report *rep, const char *local, const char *remote)
{
    struct ft_transfer t;
    struct stat sb;
    int64_t size = -1;
    int fd = STDIN_FILENO;
    int code = EXIT_OK;
    enum ft_err err;

    if (strcmp(local, "-") != 0) {
        code = open_source(rep, local, &fd, &sb);
        if (code != EXIT_OK)
            goto out;
        size = sb.st_size;
    }
    cli_report_begin(rep, remote, size);
    err = ft_client_put(c, fd, size, remote, &a->xfer, &t);
    if (err != FT_OK) {
        code = cli_report_fail(rep, exit_code_for(err), "put %s: %s", local,
                               ft_client_error(c));
    } else {
        note_resume(rep, a, remote, &t);
        cli_report_done(rep, &t);
    }
out:
    if (fd > STDIN_FILENO)
        close(fd);
    return code;
}

/* Folds rc into code as put -r does: the first failure is kept, unless a
 * later one ends the run. */
static void keep_code(int *code, int rc)
{
    if (*code == EXIT_OK || !keeps_going(rc))
        *code = rc;
}

/* Reads the answers to pipelined puts until at most leave are due, and
 * reports each. Returns an exit code for them all. */
static int collect_puts(struct ft_client *c, struct client_args *a,
                        struct cli_report *rep, size_t leave)
{
    struct put_pipe *pp = a->pipe;
    int code = EXIT_OK;

    while (pp->count > leave) {
        size_t at = pp->first;
        struct ft_transfer t;
        enum ft_err err = ft_client_put_wait(c, &t);

        cli_report_begin(rep, pp->remote[at], pp->size[at]);
        if (err != FT_OK)
            keep_code(&code, cli_report_fail(rep, exit_code_for(err), "put %s: %s",
                                             pp->local[at], ft_client_error(c)));
        else
            cli_report_done(rep, &t);
        free(pp->local[at]);
        free(pp->remote[at]);
        pp->first = (pp->first + 1) % FT_PIPELINE_MAX;
        pp->count--;
    }
    return code;
}

/* Sends one small file of a tree pipelined; its answer is read later. */
static int put_piped(struct ft_client *c, struct client_args *a,
                     struct cli_report *rep, const char *local,
                     const char *remote)
{
    struct put_pipe *pp = a->pipe;
    struct stat sb;
    int code = EXIT_OK, fd = -1;
    size_t at;
    enum ft_err err;

    if (pp->count == FT_PIPELINE_MAX)
        code = collect_puts(c, a, rep, FT_PIPELINE_MAX - 1);
    if (!keeps_going(code))
        return code;
    keep_code(&code, open_source(rep, local, &fd, &sb));
    if (fd < 0 || code != EXIT_OK)
        goto out;
    at = (pp->first + pp->count) % FT_PIPELINE_MAX;
    pp->local[at] = strdup(local);
    pp->remote[at] = strdup(remote);
    pp->size[at] = sb.st_size;
    if (pp->local[at] == NULL || pp->remote[at] == NULL) {
        free(pp->local[at]);
        free(pp->remote[at]);
        keep_code(&code, cli_report_fail(rep, EXIT_LOCAL_IO, "put: out of memory"));
        goto out;
    }
    err = ft_client_put_send(c, fd, sb.st_size, remote, &a->xfer);
    if (err == FT_OK) {
        pp->count++;
        goto out;
    }
    cli_report_begin(rep, remote, sb.st_size);
    keep_code(&code, cli_report_fail(rep, exit_code_for(err), "put %s: %s", local,
                                     ft_client_error(c)));
    free(pp->local[at]);
    free(pp->remote[at]);
out:
    if (fd >= 0)
        close(fd);
    return code;
}

/* Whether put -r sends this file pipelined. */
static bool pipelines(const struct ft_client *c, const struct client_args *a,
                      const struct stat *sb)
{
    return a->pipe != NULL && !a->xfer.resume && ft_client_can_pipeline(c) &&
           sb->st_size <= PIPELINED_FILE_MAX;
}

/* Uploads the tree under the local folder dir into the remote folder
 * remote, one file after the other over the same connection. Links and
 * special files are skipped with a note, as they have no place in a store
 * of files. Returns the first failure's exit code, going on past local
 * ones. */
static int put_tree(struct ft_client *c, struct client_args *a,
                    struct cli_report *rep, const char *dir, const char *remote,
                    int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int code = EXIT_OK;

    if (d == NULL)
        return cli_report_fail(rep, EXIT_LOCAL_IO, "put %s: %s", dir,
                               strerror(errno));
    if (depth > 64) {
        closedir(d);
        return cli_report_fail(rep, EXIT_LOCAL_IO, "put %s: folders nested too deep",
                               dir);
    }
    while (keeps_going(code)) {
        char *local, *target;
        struct stat sb;
        int rc = EXIT_OK;

        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        local = join(dir, de->d_name);
        target = join(remote, de->d_name);
        if (local == NULL || target == NULL)
            rc = cli_report_fail(rep, EXIT_LOCAL_IO, "put: out of memory");
        else if (lstat(local, &sb) != 0)
            rc = cli_report_fail(rep, EXIT_LOCAL_IO, "put %s: %s", local,
                                 strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            rc = put_tree(c, a, rep, local, target, depth + 1);
        else if (S_ISREG(sb.st_mode) && pipelines(c, a, &sb))
            rc = put_piped(c, a, rep, local, target);
        else if (S_ISREG(sb.st_mode)) {
            rc = collect_puts(c, a, rep, 0);
            if (keeps_going(rc))
                keep_code(&rc, put_one(c, a, rep, local, target));
        } else
            cli_report_note(rep, "skipped %s: not a regular file or folder", local);
        /* One file's trouble does not stop the others; a lost link does. */
        keep_code(&code, rc);
        free(local);
        free(target);
    }
    closedir(d);
    return code;
}

/* Whether remote names a folder on the server. */
static bool remote_is_folder(struct ft_client *c, const char *remote)
{
    struct ft_stat st;

    return ft_client_stat_quick(c, remote, &st) == FT_OK &&
           (st.mode & 0170000) == 0040000;
}

static int cmd_put(int argc, char **argv)
{
    static const char help[] =
        "usage: ft put [OPTIONS] LOCAL [REMOTE]\n"
        "       ft put [OPTIONS] LOCAL... REMOTE_FOLDER\n"
        "       ft put -r [OPTIONS] FOLDER [REMOTE_FOLDER]\n"
        "Uploads LOCAL ('-': standard input) as REMOTE (default: LOCAL's base\n"
        "name); when REMOTE is a folder on the server, or ends in '/', into it.\n"
        "With several LOCALs, the last operand is the folder they go into.\n"
        "Names may hold folders (a/b/c.txt): the server creates them. Every\n"
        "file travels over the same connection. The modification time and the\n"
        "executable bit go along.\n"
        "On a terminal, a progress line (bytes, percent, MB/s, time left) shows\n"
        "on standard error until the summary line replaces it.\n"
        "  -r, --recursive     copy folders and everything in them\n"
        "  -z, --compress      compress with zlib on the way\n"
        "      --no-verify     skip the end-to-end BLAKE2b-256 check\n"
        "      --limit-rate R  move at most R bytes per second, e.g. 500k, 10M\n"
        "                      (k, M, G: powers of 1024)\n"
        "      --continue      go on with an interrupted transfer: the part\n"
        "                      already there is checked chunk by chunk (BLAKE2b)\n"
        "                      and sending resumes at the first chunk that\n"
        "                      differs; the whole file is verified at the end\n"
        "      --json          JSON on standard output instead of text:\n"
        CLI_JSON_HELP;
    struct client_args a;
    struct cli_report rep;
    struct put_pipe pipe = { .count = 0 };
    struct ft_client *c = NULL;
    const char *dest;
    char leaf[FT_LEAF_BUF];
    int nsrc;
    bool into_folder;
    int code = parse_client_args(argc, argv, help, true, &a);

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    cli_report_init(&rep, "put", a.quiet, a.json ? stdout : NULL);
    a.report = &rep;
    nsrc = argc - optind - (argc - optind >= 2 ? 1 : 0);
    if (argc - optind < 1)
        return cli_report_usage(&rep, "%s needs LOCAL", "put");
    dest = argc - optind >= 2 ? argv[argc - 1] : NULL;
    if (dest != NULL && dest[0] == '\0')
        return cli_report_usage(&rep, "%s: the REMOTE name is empty", "put");
    for (int i = optind; i < optind + nsrc; i++) {
        if (strcmp(argv[i], "-") == 0 && (dest == NULL || nsrc > 1))
            return cli_report_usage(&rep, "%s: standard input needs a REMOTE "
                                    "name, alone", "put -");
    }
    c = connect_or_complain(&a, "put", &code);
    if (c == NULL)
        return code;
    a.xfer.progress = cli_report_progress;
    a.xfer.progress_ctx = &rep;
    /* As cp and scp: several sources, a trailing '/', or an existing folder
     * mean "into"; otherwise the destination is the new name. */
    into_folder = dest != NULL &&
                  (nsrc > 1 || dest[strlen(dest) - 1] == '/' ||
                   remote_is_folder(c, dest));
    for (int i = optind; i < optind + nsrc; i++) {
        const char *local = argv[i];
        char *target;
        struct stat sb;
        int rc;

        local_leaf(local, leaf, sizeof(leaf));
        if (dest == NULL)
            target = strdup(leaf);
        else if (into_folder)
            target = join(dest, leaf);
        else
            target = strdup(dest);
        if (target == NULL) {
            rc = cli_report_fail(&rep, EXIT_LOCAL_IO, "put: out of memory");
        } else if (a.recursive && stat(local, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            a.pipe = &pipe;
            rc = put_tree(c, &a, &rep, local, target, 1);
            keep_code(&rc, collect_puts(c, &a, &rep, 0));
            a.pipe = NULL;
        } else {
            rc = put_one(c, &a, &rep, local, target);
        }
        free(target);
        if (code == EXIT_OK)
            code = rc;
        if (!keeps_going(rc))
            break;
    }
    ft_client_close(c);
    return code;
}

/* Downloads one remote file to local ("-": standard output); with asked,
 * reads the answer to the pipelined GET sent for it. */
static int get_one(struct ft_client *c, struct client_args *a,
                   struct cli_report *rep, const char *remote, const char *local,
                   bool asked)
{
    struct ft_transfer t;
    enum ft_err err;

    cli_report_begin(rep, remote, -2);
    if (asked)
        err = ft_client_get_file_wait(c, remote, local, &a->xfer, &t);
    else if (strcmp(local, "-") == 0)
        err = ft_client_get(c, remote, STDOUT_FILENO, &a->xfer, &t);
    else
        err = ft_client_get_file(c, remote, local, &a->xfer, &t);
    if (err != FT_OK)
        return cli_report_fail(rep, exit_code_for(err), "get %s: %s", remote,
                               ft_client_error(c));
    note_resume(rep, a, remote, &t);
    cli_report_done(rep, &t);
    return EXIT_OK;
}

/* The files of a remote folder, listed before any is fetched: a listing
 * and a download cannot share the connection at once. */
struct tree_list {
    struct tree_entry {
        char *name; /* a folder's ends in '/' */
        uint64_t size;
    } *entries;
    size_t n, cap;
};

static int collect_tree(const struct ft_entry *e, void *ctx)
{
    struct tree_list *l = ctx;
    struct tree_entry *grown;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        grown = realloc(l->entries, l->cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->entries = grown;
    }
    /* Folders come as their own entries; a trailing '/' marks them. */
    if (asprintf(&l->entries[l->n].name, "%s%s", e->name, e->is_dir ? "/" : "") < 0)
        return -1;
    l->entries[l->n].size = e->size;
    l->n++;
    return 0;
}

/* Makes every missing folder of path (a file's path), like mkdir -p, from
 * depth start on (the part the user named is theirs to have links in). A
 * link where the server's names lead is refused, not followed: a
 * listing must not steer files out of the folder the user chose. */
static int make_parents(const char *path, size_t start)
{
    char *copy = strdup(path);
    int rc = 0;

    if (copy == NULL)
        return -1;
    for (char *p = copy + start; *p != '\0' && rc == 0; p++) {
        struct stat sb;

        if (*p != '/' || p == copy)
            continue;
        *p = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST)
            rc = -1;
        else if (lstat(copy, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            errno = ELOOP;
            rc = -1;
        }
        *p = '/';
    }
    free(copy);
    return rc;
}

/* make_parents for the entries of a tree in turn: the folder the last one
 * went into is not made, nor checked, again (four system calls per file
 * of a get -r, on a deep tree more). */
static int make_parents_once(char **made, const char *path, size_t start)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash != NULL ? (size_t)(slash - path) : 0;

    if (*made != NULL && strlen(*made) == len && strncmp(*made, path, len) == 0)
        return 0;
    free(*made);
    *made = NULL;
    if (make_parents(path, start) != 0)
        return -1;
    *made = strndup(path, len); /* out of memory: made again next time */
    return 0;
}

/* Whether get -r asks for entry e pipelined: a file of at most
 * PIPELINED_FILE_MAX, when the server takes pipelined requests. */
static bool get_pipelines(const struct ft_client *c, const struct client_args *a,
                          const struct tree_entry *e)
{
    size_t len = strlen(e->name);

    return !a->xfer.resume && ft_client_can_pipeline(c) && e->name[len - 1] != '/' &&
           e->size <= PIPELINED_FILE_MAX;
}

/* Sends the pipelined GETs of the entries from *next on, up to the first
 * that is not pipelined, keeping at most FT_PIPELINE_MAX due. */
static void ask_ahead(struct ft_client *c, struct client_args *a,
                      const struct tree_list *l, const char *remote, size_t *next)
{
    /* Asked for in batches of half the window, which leave together, so
     * that the server wakes up once per batch, not once per file. */
    if (*next >= l->n || ft_client_gets_due(c) > FT_PIPELINE_MAX / 2)
        return;
    ft_client_batch_begin(c);
    while (*next < l->n && ft_client_gets_due(c) < FT_PIPELINE_MAX) {
        const struct tree_entry *e = &l->entries[*next];
        char *from;

        if (e->name[strlen(e->name) - 1] == '/') { /* a folder: nothing to ask */
            (*next)++;
            continue;
        }
        if (!get_pipelines(c, a, e) || (from = join(remote, e->name)) == NULL)
            break;
        if (ft_client_get_send(c, from, &a->xfer) != FT_OK) {
            free(from);
            break; /* the entry's turn reports why */
        }
        free(from);
        (*next)++;
    }
    ft_client_batch_end(c);
}

static int get_tree(struct ft_client *c, struct client_args *a,
                    struct cli_report *rep, const char *remote, const char *local)
{
    struct tree_list l = { NULL, 0, 0 };
    char *made = NULL; /* the folder the last entry went into */
    int code = EXIT_OK;
    size_t next = 0; /* the first entry whose GET is not sent yet */
    enum ft_err err = ft_client_list_folder(c, remote, true, collect_tree, &l);

    if (err != FT_OK)
        code = cli_report_fail(rep, exit_code_for(err), "get %s: %s", remote,
                               ft_client_error(c));
    if (code == EXIT_OK && mkdir(local, 0777) != 0 && errno != EEXIST)
        code = cli_report_fail(rep, EXIT_LOCAL_IO, "get %s: %s", local,
                               strerror(errno));
    for (size_t i = 0; i < l.n && keeps_going(code); i++) {
        const char *name = l.entries[i].name;
        size_t len = strlen(name);
        char *from = join(remote, name);
        char *to = join(local, name);
        bool asked;
        int rc;

        /* Keep the window of pipelined GETs full, from here on. */
        if (next < i)
            next = i;
        ask_ahead(c, a, &l, remote, &next);
        asked = next > i && name[len - 1] != '/';
        rc = EXIT_OK;
        if (from == NULL || to == NULL)
            rc = cli_report_fail(rep, EXIT_LOCAL_IO, "get: out of memory");
        else if (make_parents_once(&made, to, strlen(local) + 1) != 0)
            rc = cli_report_fail(rep, EXIT_LOCAL_IO, "get %s: %s", to,
                                 strerror(errno));
        if (rc != EXIT_OK) {
            /* Its answer comes whether or not it can be kept. */
            if (asked)
                ft_client_get_drop(c, &a->xfer);
        } else if (name[len - 1] == '/') { /* a folder: made above */
            rc = mkdir(to, 0777) == 0 || errno == EEXIST
                     ? EXIT_OK
                     : cli_report_fail(rep, EXIT_LOCAL_IO, "get %s: %s", to,
                                       strerror(errno));
        } else {
            rc = get_one(c, a, rep, from, to, asked);
        }
        /* One file's trouble does not stop the others; a lost link does. */
        keep_code(&code, rc);
        free(from);
        free(to);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.entries[i].name);
    free(l.entries);
    free(made);
    return code;
}

static int cmd_get(int argc, char **argv)
{
    static const char help[] =
        "usage: ft get [OPTIONS] REMOTE [LOCAL]\n"
        "       ft get [OPTIONS] REMOTE... LOCAL_FOLDER\n"
        "       ft get -r [OPTIONS] REMOTE_FOLDER [FOLDER]\n"
        "Downloads REMOTE to LOCAL (default: REMOTE's base name in the current\n"
        "directory; an existing folder: into it; '-': standard output). With\n"
        "several REMOTEs, the last operand is the folder they go into. Each file\n"
        "appears under its name only once it has arrived whole and verified,\n"
        "with the server's modification time and executable bit.\n"
        "On a terminal, a progress line (bytes, percent, MB/s, time left) shows\n"
        "on standard error until the summary line replaces it.\n"
        "  -r, --recursive     copy folders and everything in them\n"
        "  -z, --compress      ask the server to compress with zlib\n"
        "      --no-verify     skip the end-to-end BLAKE2b-256 check\n"
        "      --limit-rate R  move at most R bytes per second, e.g. 500k, 10M\n"
        "                      (k, M, G: powers of 1024)\n"
        "      --continue      go on with an interrupted transfer: the part\n"
        "                      already there is checked chunk by chunk (BLAKE2b)\n"
        "                      and sending resumes at the first chunk that\n"
        "                      differs; the whole file is verified at the end\n"
        "      --json          JSON on standard output (standard error when LOCAL\n"
        "                      is '-', and notes then too, as {\"event\":\"note\",\n"
        "                      \"message\":S}) instead of text:\n"
        CLI_JSON_HELP;
    struct client_args a;
    struct cli_report rep;
    struct ft_client *c = NULL;
    const char *dest;
    char leaf[FT_LEAF_BUF];
    struct stat sb;
    int nsrc;
    bool into_folder;
    int code = parse_client_args(argc, argv, help, true, &a);

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    /* The file itself may own standard output: the JSON then goes beside
     * the text's place, standard error. */
    cli_report_init(&rep, "get", a.quiet,
                    !a.json ? NULL
                    : argc - optind == 2 && strcmp(argv[optind + 1], "-") == 0
                    ? stderr : stdout);
    a.report = &rep;
    if (argc - optind < 1)
        return cli_report_usage(&rep, "%s needs REMOTE", "get");
    nsrc = argc - optind - (argc - optind >= 2 ? 1 : 0);
    dest = argc - optind >= 2 ? argv[argc - 1] : NULL;
    trim_remote_names(argv + optind, nsrc);
    into_folder = dest != NULL && stat(dest, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (nsrc > 1 && !into_folder)
        return cli_report_usage(&rep, "get: '%s' must be an existing folder when "
                                "several files are fetched", dest);
    c = connect_or_complain(&a, "get", &code);
    if (c == NULL)
        return code;
    a.xfer.progress = cli_report_progress;
    a.xfer.progress_ctx = &rep;
    for (int i = optind; i < optind + nsrc; i++) {
        const char *remote = argv[i];
        char *target;
        int rc;

        last_component(remote, leaf, sizeof(leaf));
        if (dest == NULL)
            target = strdup(leaf);
        else if (into_folder)
            target = join(dest, leaf);
        else
            target = strdup(dest);
        if (target == NULL)
            rc = cli_report_fail(&rep, EXIT_LOCAL_IO, "get: out of memory");
        else if (a.recursive)
            rc = get_tree(c, &a, &rep, remote, target);
        else
            rc = get_one(c, &a, &rep, remote, target, false);
        free(target);
        if (code == EXIT_OK)
            code = rc;
        if (!keeps_going(rc))
            break;
    }
    ft_client_close(c);
    return code;
}

struct listing {
    struct ft_entry *items;
    size_t n, cap;
};

static int collect_entry(const struct ft_entry *e, void *ctx)
{
    struct listing *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct ft_entry *items = realloc(l->items, cap * sizeof(*items));

        if (items == NULL)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n] = *e;
    l->items[l->n].name = strdup(e->name);
    if (l->items[l->n].name == NULL)
        return -1;
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct ft_entry *)a)->name,
                  ((const struct ft_entry *)b)->name);
}

static int cmd_ls(int argc, char **argv)
{
    static const char help[] =
        "usage: ft ls [OPTIONS] [FOLDER]\n"
        "Lists the server's files (or those in FOLDER): size in bytes,\n"
        "modification time (UTC), name; folders end in '/'.\n"
        "  -r, --recursive     everything below, with names relative to FOLDER\n"
        "      --json          print one JSON array on standard output instead,\n"
        "                      [{\"name\":S,\"size\":N,\"mtime\":SECONDS},...] sorted\n"
        "                      by name (bytes of a name that are not UTF-8 appear\n"
        "                      as \\u00XX); a failure is still told as text\n";
    struct client_args a;
    struct listing l = { NULL, 0, 0 };
    struct ft_client *c = NULL;
    int code = parse_client_args(argc, argv, help, false, &a);
    enum ft_err err;

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    if (argc - optind > 1)
        return fail_usage("%s takes at most one FOLDER", "ls");
    trim_remote_names(argv + optind, argc - optind);
    c = connect_or_complain(&a, "ls", &code);
    if (c == NULL)
        goto out;
    err = ft_client_list_folder(c, argv[optind], a.recursive, collect_entry, &l);
    if (err != FT_OK) {
        fprintf(stderr, "ft: ls: %s\n", ft_client_error(c));
        code = exit_code_for(err);
        goto out;
    }
    if (l.n > 1)
        qsort(l.items, l.n, sizeof(*l.items), by_name);
    if (a.json)
        cli_report_list_json(stdout, l.items, l.n);
    for (size_t i = 0; !a.json && i < l.n; i++) {
        char when[32];
        time_t t = (time_t)l.items[i].mtime;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("%12" PRIu64 "  %s  %s%s\n", l.items[i].size, when,
               l.items[i].name, l.items[i].is_dir ? "/" : "");
    }
out:
    for (size_t i = 0; i < l.n; i++)
        free((char *)l.items[i].name);
    free(l.items);
    ft_client_close(c);
    return code;
}

static int cmd_rm(int argc, char **argv)
{
    static const char help[] =
        "usage: ft rm [OPTIONS] NAME...\n"
        "Deletes files on the server.\n"
        "  -r, --recursive     delete folders and everything in them\n";
    struct client_args a;
    struct ft_client *c = NULL;
    int code = parse_client_args(argc, argv, help, false, &a);

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    if (argc == optind)
        return fail_usage("%s needs at least one NAME", "rm");
    trim_remote_names(argv + optind, argc - optind);
    c = connect_or_complain(&a, "rm", &code);
    for (int i = optind; c != NULL && i < argc; i++) {
        enum ft_err err = ft_client_remove_tree(c, argv[i], a.recursive);

        if (err != FT_OK) {
            fprintf(stderr, "ft: rm %s: %s\n", argv[i], ft_client_error(c));
            code = exit_code_for(err);
            if (err != FT_ERR_NOT_FOUND && exit_code_for(err) != EXIT_REFUSED)
                break;
        }
    }
    ft_client_close(c);
    return code;
}

static int cmd_mv(int argc, char **argv)
{
    static const char help[] =
        "usage: ft mv [OPTIONS] OLD NEW\n"
        "Renames a file on the server, atomically; a file named NEW is replaced.\n";
    struct client_args a;
    struct ft_client *c = NULL;
    int code = parse_client_args(argc, argv, help, false, &a);
    enum ft_err err;

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    if (argc - optind != 2)
        return fail_usage("%s needs OLD and NEW", "mv");
    trim_remote_names(argv + optind, 2);
    c = connect_or_complain(&a, "mv", &code);
    if (c == NULL)
        return code;
    err = ft_client_move(c, argv[optind], argv[optind + 1]);
    if (err != FT_OK) {
        fprintf(stderr, "ft: mv %s: %s\n", argv[optind], ft_client_error(c));
        code = exit_code_for(err);
    }
    ft_client_close(c);
    return code;
}

static int cmd_stat(int argc, char **argv)
{
    static const char help[] =
        "usage: ft stat [OPTIONS] NAME...\n"
        "Shows a file's size, modification time, mode and the BLAKE2b-256\n"
        "digest of its content (the hex that 'b2sum -l 256' prints).\n"
        "      --json          one JSON object per NAME on standard output:\n"
        "                      {\"name\":S,\"size\":N,\"mtime\":N,\"mode\":N,\n"
        "                      \"folder\":B,\"blake2b_256\":\"hex\"|null}\n";
    struct client_args a;
    struct ft_client *c = NULL;
    int code = parse_client_args(argc, argv, help, false, &a);

    if (code != 0)
        return code < 0 ? EXIT_OK : code;
    if (argc == optind)
        return fail_usage("%s needs at least one NAME", "stat");
    trim_remote_names(argv + optind, argc - optind);
    c = connect_or_complain(&a, "stat", &code);
    for (int i = optind; c != NULL && i < argc; i++) {
        struct ft_stat st;
        char when[32];
        time_t t;
        struct tm tm;
        bool is_dir;
        enum ft_err err = ft_client_stat(c, argv[i], &st);

        if (err != FT_OK) {
            fprintf(stderr, "ft: stat %s: %s\n", argv[i], ft_client_error(c));
            code = exit_code_for(err);
            if (exit_code_for(err) != EXIT_REFUSED)
                break;
            continue;
        }
        is_dir = (st.mode & 0170000) == 0040000;
        if (a.json) {
            fputs("{\"name\":", stdout);
            cli_json_string(stdout, argv[i], strlen(argv[i]));
            printf(",\"size\":%" PRIu64 ",\"mtime\":%" PRId64 ",\"mode\":%u,"
                   "\"folder\":%s,\"blake2b_256\":", st.size, st.mtime,
                   (unsigned)(st.mode & 07777), is_dir ? "true" : "false");
            printf(is_dir ? "null}\n" : "\"%s\"}\n", st.digest_hex);
            continue;
        }
        t = (time_t)st.mtime;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
        printf("name: %s%s\nsize: %" PRIu64 "\nmtime: %s\nmode: %04o\n",
               argv[i], is_dir ? "/" : "", st.size, when,
               (unsigned)(st.mode & 07777));
        if (!is_dir)
            printf("blake2b-256: %s\n", st.digest_hex);
    }
    ft_client_close(c);
    return code;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (running_server != NULL)
        ft_server_stop(running_server);
}

static void log_to_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* A client's pipelined uploads hold two descriptors each until they are
 * committed: lift the soft limit on open files (often 1024) to the hard
 * one, as servers commonly do. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int cmd_serve(int argc, char **argv)
{
    static const char help[] =
        "usage: ft serve [OPTIONS]\n"
        "Serves a directory to ft clients until SIGINT or SIGTERM.\n"
        "  -r, --root DIR          directory to serve (default ./ft-store, created)\n"
        "  -H, --host ADDR         address to listen on (default 127.0.0.1; '::' for all)\n"
        "  -p, --port N            port (default 65432; 0 picks a free one)\n"
        "      --max-clients N     connections served at once (default 64)\n"
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
        "  -h, --help              this help\n";
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "max-clients", required_argument, NULL, 'c' },
        { "max-file-size", required_argument, NULL, 'm' },
        { "idle-timeout", required_argument, NULL, 'i' },
        { "handshake-timeout", required_argument, NULL, 'k' },
        { "max-frame-size", required_argument, NULL, 'f' },
        { "read-only", no_argument, NULL, 'R' },
        { "key-file", required_argument, NULL, 'K' },
        { "token-file", required_argument, NULL, 'T' },
        { "allow-plaintext", no_argument, NULL, 'P' },
        { "max-rate", required_argument, NULL, 'M' },
        { "partial-ttl", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ft_server_config cfg = { .port = FT_DEFAULT_PORT, .log = log_to_stderr };
    uint8_t token[FT_TOKEN_BYTES];
    const char *token_file = NULL;
    struct sigaction sa;
    struct ft_server *srv = NULL;
    char err[1024];
    uint64_t n;
    enum ft_err rc;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "+r:H:p:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            cfg.root = optarg;
            break;
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &cfg.port) != 0)
                return fail_usage("not a port number: '%s'", optarg);
            break;
        case 'c':
            if (parse_size(optarg, &n) != 0 || n == 0 || n > 100000)
                return fail_usage("--max-clients needs 1 to 100000, not '%s'", optarg);
            cfg.max_clients = (unsigned)n;
            break;
        case 'm':
            if (parse_size(optarg, &cfg.max_file_size) != 0 || cfg.max_file_size == 0)
                return fail_usage("--max-file-size needs a size such as 10G, not '%s'",
                                  optarg);
            break;
        case 'i':
            if (parse_seconds_ms(optarg, &cfg.idle_timeout_ms) != 0)
                return fail_usage("--idle-timeout needs seconds, not '%s'", optarg);
            break;
        case 'k':
            if (parse_seconds_ms(optarg, &cfg.handshake_timeout_ms) != 0)
                return fail_usage("--handshake-timeout needs seconds, not '%s'",
                                  optarg);
            break;
        case 'f':
            if (parse_size(optarg, &n) != 0 || n < 4096 || n > FT_FRAME_MAX_PAYLOAD)
                return fail_usage("--max-frame-size needs 4096 to %u, not '%s'",
                                  FT_FRAME_MAX_PAYLOAD, optarg);
            cfg.max_frame_payload = (uint32_t)n;
            break;
        case 'R':
            cfg.read_only = true;
            break;
        case 'K':
            cfg.key_file = optarg;
            break;
        case 'T':
            token_file = optarg;
            break;
        case 'P':
            cfg.allow_plaintext = true;
            break;
        case 'l':
            if (parse_size(optarg, &n) != 0 || n == 0 || n > INT32_MAX)
                return fail_usage("--partial-ttl needs seconds, not '%s'", optarg);
            cfg.partial_ttl_s = (int64_t)n;
            break;
        case 'M':
            if (parse_size(optarg, &cfg.max_rate) != 0 || cfg.max_rate == 0)
                return fail_usage("--max-rate needs a rate such as 10M, not '%s'",
                                  optarg);
            break;
        case 'h':
            fputs(help, stdout);
            return EXIT_OK;
        default:
            return fail_usage("bad option for %s", "serve");
        }
    }
    if (argc != optind)
        return fail_usage("serve takes no arguments, not '%s'", argv[optind]);
    if (token_file != NULL) {
        rc = ft_keys_load_token(token_file, token, err, sizeof(err));
        if (rc != FT_OK) {
            fprintf(stderr, "ft: serve: token: %s\n", err);
            return EXIT_USAGE;
        }
        cfg.token = token;
    }
    raise_fd_limit();
    rc = ft_server_start(&srv, &cfg, err, sizeof(err));
    sodium_memzero(token, sizeof(token));
    if (rc != FT_OK) {
        fprintf(stderr, "ft: serve: %s\n", err);
        return exit_code_for(rc);
    }
    running_server = srv;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "server key %s%s\n", ft_server_fingerprint(srv),
            ft_server_key_created(srv) ? " (new: made on this first start)" : "");
    if (token_file == NULL)
        fprintf(stderr, "warning: no token: anyone who can reach this port may "
                        "%s the store (see --token-file)\n",
                cfg.read_only ? "read" : "read and write");
    if (cfg.allow_plaintext)
        fprintf(stderr, "warning: --allow-plaintext: clients that ask get an "
                        "UNENCRYPTED connection%s\n",
                token_file != NULL ? " (not while a token is required)" : "");
    fprintf(stderr, "ft %s serving %s on %s port %u%s\n", FT_VERSION,
            cfg.root ? cfg.root : FT_DEFAULT_ROOT, cfg.host ? cfg.host : "127.0.0.1",
            (unsigned)ft_server_port(srv), cfg.read_only ? " (read-only)" : "");
    if (stop_requested)
        ft_server_stop(srv);
    rc = ft_server_run(srv);
    running_server = NULL;
    ft_server_free(srv);
    fprintf(stderr, "ft serve: stopped\n");
    return rc == FT_OK ? EXIT_OK : EXIT_LOCAL_IO;
}

static int cmd_keygen(int argc, char **argv)
{
    static const char help[] =
        "usage: ft keygen --token FILE\n"
        "Writes a new access token (32 random bytes) to FILE, readable only by\n"
        "you. Give it to the server (--token-file) and to each client\n"
        "(--token-file or FT_TOKEN_FILE).\n";
    static const struct option opts[] = {
        { "token", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    char err[512];
    enum ft_err rc;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "+t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            path = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            return EXIT_OK;
        default:
            return fail_usage("bad option for %s", "keygen");
        }
    }
    if (path == NULL || argc != optind)
        return fail_usage("%s", "keygen needs --token FILE");
    rc = ft_keys_make_token(path, err, sizeof(err));
    if (rc != FT_OK) {
        fprintf(stderr, "ft: keygen: %s\n", err);
        return exit_code_for(rc);
    }
    fprintf(stderr, "token written to %s\n", path);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        { "serve", cmd_serve }, { "put", cmd_put }, { "get", cmd_get },
        { "ls", cmd_ls },       { "rm", cmd_rm },   { "keygen", cmd_keygen },
        { "mv", cmd_mv },       { "stat", cmd_stat },
    };

    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return fail_usage("%s", "a COMMAND is needed");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ft %s\n", FT_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    return fail_usage("unknown command '%s'", argv[1]);
}
