/* cli_transfer.c - ft put and ft get: which files go where, told as they go. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft/ft.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_connect.h"
#include "cli_report.h"

/* Room for one component of a name, with a margin. */
#define LEAF_BUF 512

/* The options put and get share, in their help after -z. */
#define TRANSFER_OPTIONS_HELP                                                  \
    "      --no-verify     skip the end-to-end BLAKE2b-256 check\n"              \
    "      --limit-rate R  move at most R bytes per second, e.g. 500k, 10M\n"   \
    "                      (k, M, G: powers of 1024)\n"                         \
    "      --continue      go on with an interrupted transfer: the part\n"      \
    "                      already there is checked chunk by chunk (BLAKE2b)\n" \
    "                      and sending resumes at the first chunk that\n"       \
    "                      differs; the whole file is verified at the end\n"

static const char put_help[] =
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
    TRANSFER_OPTIONS_HELP
    "      --json          JSON on standard output instead of text:\n"
    CLI_JSON_HELP;

static const char get_help[] =
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
    TRANSFER_OPTIONS_HELP
    "      --json          JSON on standard output (standard error when LOCAL\n"
    "                      is '-', and notes then too, as {\"event\":\"note\",\n"
    "                      \"message\":S}) instead of text:\n"
    CLI_JSON_HELP;

/* Says what --continue did with the part that was there. */
static void note_resume(const struct cli_client_args *a, const char *name,
                        const struct ft_transfer *t)
{
    if (!a->xfer.resume)
        return;
    if (t->resumed_from > 0)
        cli_report_note(a->report, "%s: resumed at %" PRIu64 " bytes (the part "
                        "already there matched, chunk by chunk)", name,
                        t->resumed_from);
    else if (t->restarted)
        cli_report_note(a->report, "%s: the part already there does not match (the "
                        "source changed since?): started from zero", name);
    else
        cli_report_note(a->report, "%s: nothing to continue: started from zero", name);
}

/* The events of a copy, told through the command's report; ctx is the
 * command's struct cli_client_args. */
static void on_start(void *ctx, const char *name, int64_t size)
{
    cli_report_begin(((struct cli_client_args *)ctx)->report, name, size);
}

static void on_done(void *ctx, const char *name, const struct ft_transfer *t)
{
    struct cli_client_args *a = ctx;

    note_resume(a, name, t);
    cli_report_done(a->report, t);
}

static void on_failure(void *ctx, const char *path, enum ft_err err,
                       const char *why)
{
    struct cli_report *rep = ((struct cli_client_args *)ctx)->report;

    if (path == NULL)
        cli_report_fail(rep, cli_exit_code(err), "%s: %s", rep->op, why);
    else
        cli_report_fail(rep, cli_exit_code(err), "%s %s: %s", rep->op, path, why);
}

static void on_skip(void *ctx, const char *path, const char *why)
{
    cli_report_note(((struct cli_client_args *)ctx)->report, "skipped %s: %s",
                    path, why);
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

/* Where a source whose last component is leaf goes: dest itself, or with
 * into the leaf inside dest; without dest, the leaf alone. NULL when out
 * of memory. */
static char *target_of(const char *dest, bool into, const char *leaf)
{
    char *out = NULL;
    size_t n;

    if (dest == NULL || !into)
        return strdup(dest != NULL ? dest : leaf);
    n = strlen(dest);
    while (n > 0 && dest[n - 1] == '/')
        n--;
    if (asprintf(&out, "%.*s%s%s", (int)n, dest, n > 0 ? "/" : "", leaf) < 0)
        return NULL;
    return out;
}

/* put from standard input, or get to standard output ('-'). */
static int stream(struct ft_client *c, struct cli_client_args *a,
                  const struct ft_tree_item *item, bool put)
{
    struct ft_transfer t;
    enum ft_err err;

    cli_report_begin(a->report, item->remote, put ? -1 : -2);
    if (put)
        err = ft_client_put(c, STDIN_FILENO, -1, item->remote, &a->xfer, &t);
    else
        err = ft_client_get(c, item->remote, STDOUT_FILENO, &a->xfer, &t);
    if (err != FT_OK)
        on_failure(a, put ? item->local : item->remote, err, ft_client_error(c));
    else
        on_done(a, item->remote, &t);
    return cli_exit_code(err);
}

/* The operands of put or get: the sources, and where they go. */
struct operands {
    char **srcs;
    int n;
    const char *dest; /* NULL: each source's last component, here */
    bool into;        /* each source goes inside dest, as cp and scp do */
};

static void split_operands(int argc, char **argv, struct operands *o)
{
    int left = argc - optind;

    o->srcs = argv + optind;
    o->n = left - (left >= 2 ? 1 : 0); /* left < 1: none */
    o->dest = left >= 2 ? argv[argc - 1] : NULL;
    o->into = false;
}

/* Copies the sources up (put) or down. Returns the exit code. */
static int copy(struct ft_client *c, struct cli_client_args *a,
                const struct operands *o, bool put)
{
    struct ft_tree_events ev = { on_start, on_done, on_failure, on_skip, a };
    struct ft_tree_item *items = calloc((size_t)o->n, sizeof(*items));
    struct ft_tree_copy copy = { items, (size_t)o->n, a->recursive, &a->xfer, &ev };
    char **targets = calloc((size_t)o->n, sizeof(*targets));
    char leaf[LEAF_BUF];
    int made = 0, code;

    for (; items != NULL && targets != NULL && made < o->n; made++) {
        if (put)
            local_leaf(o->srcs[made], leaf, sizeof(leaf));
        else
            last_component(o->srcs[made], leaf, sizeof(leaf));
        targets[made] = target_of(o->dest, o->into, leaf);
        if (targets[made] == NULL)
            break;
        items[made].local = put ? o->srcs[made] : targets[made];
        items[made].remote = put ? targets[made] : o->srcs[made];
    }
    if (made < o->n)
        code = cli_report_fail(a->report, CLI_EXIT_LOCAL_IO, "%s: out of memory",
                               a->report->op);
    else if (o->n == 1 && strcmp(items[0].local, "-") == 0 && (put || !a->recursive))
        code = stream(c, a, &items[0], put);
    else
        code = cli_exit_code((put ? ft_client_put_tree : ft_client_get_tree)(c, &copy));
    for (int i = 0; targets != NULL && i < made; i++)
        free(targets[i]);
    free(targets);
    free(items);
    return code;
}

/* Whether remote names a folder on the server. */
static bool remote_is_folder(struct ft_client *c, const char *remote)
{
    struct ft_stat st;

    return ft_client_stat_quick(c, remote, &st) == FT_OK && st.is_dir;
}

/* Connects, then copies the operands up (put) or down. */
static int connect_and_copy(struct cli_client_args *a, struct operands *o,
                            bool put)
{
    int code;
    struct ft_client *c = cli_connect(a, a->cmd->name, &code);

    if (c == NULL)
        return code;
    a->xfer.progress = cli_report_progress;
    a->xfer.progress_ctx = a->report;
    /* As cp and scp: several sources, a trailing '/', or an existing folder
     * mean "into"; otherwise the destination is the new name. */
    if (put)
        o->into = o->dest != NULL &&
                  (o->n > 1 || o->dest[strlen(o->dest) - 1] == '/' ||
                   remote_is_folder(c, o->dest));
    code = copy(c, a, o, put);
    ft_client_close(c);
    return code;
}

/* put's operands: at least one source; standard input ('-') alone and
 * with a REMOTE name. Returns an exit code, 0 to go on. */
static int check_put(struct cli_report *rep, const struct operands *o)
{
    if (o->n < 1)
        return cli_report_usage(rep, "%s needs LOCAL", "put");
    if (o->dest != NULL && o->dest[0] == '\0')
        return cli_report_usage(rep, "%s: the REMOTE name is empty", "put");
    for (int i = 0; i < o->n; i++) {
        if (strcmp(o->srcs[i], "-") == 0 && (o->dest == NULL || o->n > 1))
            return cli_report_usage(rep, "%s: standard input needs a REMOTE "
                                    "name, alone", "put -");
    }
    return CLI_EXIT_OK;
}

/* get's operands: at least one source, and an existing folder for
 * several. Trims the sources; tells whether they go into dest. */
static int check_get(struct cli_report *rep, struct operands *o)
{
    struct stat sb;

    if (o->n < 1)
        return cli_report_usage(rep, "%s needs REMOTE", "get");
    cli_trim_remote_names(o->srcs, o->n);
    o->into = o->dest != NULL && stat(o->dest, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (o->n > 1 && !o->into)
        return cli_report_usage(rep, "get: '%s' must be an existing folder when "
                                "several files are fetched", o->dest);
    return CLI_EXIT_OK;
}

/* ft put (put) or ft get. */
static int transfer(int argc, char **argv, bool put)
{
    static const struct cli_command commands[] = {
        { "get", get_help, true, false },
        { "put", put_help, true, false },
    };
    struct cli_client_args a;
    struct cli_report rep;
    struct operands o;
    int code = cli_parse_client_args(argc, argv, &commands[put], &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    /* A get's file itself may own standard output: the JSON then goes
     * beside the text's place, standard error. */
    cli_report_init(&rep, commands[put].name, a.quiet,
                    !a.json ? NULL
                    : !put && argc - optind == 2 && strcmp(argv[optind + 1], "-") == 0
                    ? stderr : stdout);
    a.report = &rep;
    split_operands(argc, argv, &o);
    code = put ? check_put(&rep, &o) : check_get(&rep, &o);
    if (code != CLI_EXIT_OK)
        return code;
    return connect_and_copy(&a, &o, put);
}

int cli_put(int argc, char **argv)
{
    return transfer(argc, argv, true);
}

int cli_get(int argc, char **argv)
{
    return transfer(argc, argv, false);
}
