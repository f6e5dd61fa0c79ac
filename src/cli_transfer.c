/* cli_transfer.c - ft put and ft get: which files go where, told as they
 * go. The copying itself is the library's (ft_client_put_tree and
 * ft_client_get_tree). */
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
    "      --no-verify     skip the end-to-end BLAKE2b-256 check\n"
    "      --limit-rate R  move at most R bytes per second, e.g. 500k, 10M\n"
    "                      (k, M, G: powers of 1024)\n"
    "      --continue      go on with an interrupted transfer: the part\n"
    "                      already there is checked chunk by chunk (BLAKE2b)\n"
    "                      and sending resumes at the first chunk that\n"
    "                      differs; the whole file is verified at the end\n"
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

/* Copies the n sources, up (put) or down, to dest: as cp and scp do, with
 * into each goes inside dest under its own last component. Returns the
 * exit code. */
static int copy(struct ft_client *c, struct cli_client_args *a, char **srcs,
                int n, const char *dest, bool into, bool put)
{
    struct ft_tree_events ev = { on_start, on_done, on_failure, on_skip, a };
    struct ft_tree_item *items = calloc((size_t)n, sizeof(*items));
    char leaf[LEAF_BUF];
    char **targets = calloc((size_t)n, sizeof(*targets));
    int made = 0, code;

    for (; items != NULL && targets != NULL && made < n; made++) {
        if (put)
            local_leaf(srcs[made], leaf, sizeof(leaf));
        else
            last_component(srcs[made], leaf, sizeof(leaf));
        targets[made] = target_of(dest, into, leaf);
        if (targets[made] == NULL)
            break;
        items[made].local = put ? srcs[made] : targets[made];
        items[made].remote = put ? targets[made] : srcs[made];
    }
    if (made < n)
        code = cli_report_fail(a->report, CLI_EXIT_LOCAL_IO, "%s: out of memory",
                               a->report->op);
    else if (n == 1 && strcmp(items[0].local, "-") == 0 && (put || !a->recursive))
        code = stream(c, a, &items[0], put);
    else if (put)
        code = cli_exit_code(ft_client_put_tree(c, items, (size_t)n, a->recursive,
                                                &a->xfer, &ev));
    else
        code = cli_exit_code(ft_client_get_tree(c, items, (size_t)n, a->recursive,
                                                &a->xfer, &ev));
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

int cli_put(int argc, char **argv)
{
    static const struct cli_command cmd = { "put", put_help, true, false };
    struct cli_client_args a;
    struct cli_report rep;
    struct ft_client *c;
    const char *dest;
    bool into;
    int nsrc;
    int code = cli_parse_client_args(argc, argv, &cmd, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
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
    c = cli_connect(&a, "put", &code);
    if (c == NULL)
        return code;
    a.xfer.progress = cli_report_progress;
    a.xfer.progress_ctx = &rep;
    /* As cp and scp: several sources, a trailing '/', or an existing folder
     * mean "into"; otherwise the destination is the new name. */
    into = dest != NULL && (nsrc > 1 || dest[strlen(dest) - 1] == '/' ||
                            remote_is_folder(c, dest));
    code = copy(c, &a, argv + optind, nsrc, dest, into, true);
    ft_client_close(c);
    return code;
}

int cli_get(int argc, char **argv)
{
    static const struct cli_command cmd = { "get", get_help, true, false };
    struct cli_client_args a;
    struct cli_report rep;
    struct ft_client *c;
    const char *dest;
    struct stat sb;
    bool into;
    int nsrc;
    int code = cli_parse_client_args(argc, argv, &cmd, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
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
    cli_trim_remote_names(argv + optind, nsrc);
    into = dest != NULL && stat(dest, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (nsrc > 1 && !into)
        return cli_report_usage(&rep, "get: '%s' must be an existing folder when "
                                "several files are fetched", dest);
    c = cli_connect(&a, "get", &code);
    if (c == NULL)
        return code;
    a.xfer.progress = cli_report_progress;
    a.xfer.progress_ctx = &rep;
    code = copy(c, &a, argv + optind, nsrc, dest, into, false);
    ft_client_close(c);
    return code;
}
