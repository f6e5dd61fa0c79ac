/* cli_transfer.c - ft put and ft get: which files go where, told as they go. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft/ft.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_connect.h"
#include "cli_names.h"
#include "cli_report.h"
#include "name.h"

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
    "                      differs; the whole file is verified at the end\n"   \
    "  -P, --streams N     connections for one large file (1 to 16); by\n"     \
    "                      default ft decides: one on a short path, more on\n" \
    "                      a long one while each adds speed\n"

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

/* What an interrupted transfer's error line adds: the part that made it
 * is kept (by the server for a put, beside the file for a get), so the
 * same command with --continue goes on from there. */
#define CONTINUE_HINT " (the same command with --continue resumes it)"

/* Whether a failure cut a transfer off half way: the link went or fell
 * silent, not a refusal nor the data. */
static bool interrupted(enum ft_err err)
{
    return err == FT_ERR_CLOSED || err == FT_ERR_TIMEOUT ||
           err == FT_ERR_INTERRUPTED;
}

/* Whether the transfer that failed with err can be continued: the link
 * went, and a get's part was kept (its size, known once data came, says;
 * a put's upload the server keeps). */
static bool continuable(const struct cli_client_args *a, enum ft_err err)
{
    const struct cli_report *rep = a->report;

    if (!a->resumable || !interrupted(err))
        return false;
    return strcmp(rep->op, "put") == 0 ||
           (rep->total != FT_SIZE_UNKNOWN_TOTAL && ft_client_get_keeps_part(rep->total));
}

/* Ctrl-C (or SIGTERM) during a transfer: its error line, made ready before
 * each file (a handler may only write it), and its length; 0: none. */
static char interrupted_line[2048]; /* a name is at most 1024 bytes */
static volatile sig_atomic_t interrupted_len;

static void on_interrupt(int sig)
{
    if (interrupted_len > 0 &&
        write(STDERR_FILENO, interrupted_line, (size_t)interrupted_len) < 0)
        interrupted_len = 0; /* nothing more can be done about it here */
    /* Ends as the signal would have: the shell sees what stopped us. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Makes ready the line a Ctrl-C during the transfer of name tells, with
 * the signals that would tell it held meanwhile: --continue only where
 * continuable says (for a get, from its first progress on, when its size
 * is known). Text mode only: JSON has no event for it. */
static void arm_interrupt(const struct cli_client_args *a, const char *name)
{
    char quoted[FT_PATH_MAX * 4 + 8];
    sigset_t block, old;
    int n;

    if (a->report->json != NULL)
        return;
    ft_name_quote(name, strlen(name), quoted, sizeof(quoted));
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    n = snprintf(interrupted_line, sizeof(interrupted_line),
                 "%sft: %s %s: interrupted%s\n", a->report->tty ? "\r\033[K" : "",
                 a->report->op, quoted,
                 continuable(a, FT_ERR_INTERRUPTED) ? CONTINUE_HINT : "");
    if (n >= (int)sizeof(interrupted_line)) { /* cut: still one whole line */
        n = (int)sizeof(interrupted_line) - 1;
        interrupted_line[n - 1] = '\n';
    }
    interrupted_len = n < 0 ? 0 : n;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Has Ctrl-C and SIGTERM tell the line arm_interrupt made ready. */
static void catch_interrupts(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The events of a copy, told through the command's report; ctx is the
 * command's struct cli_client_args. */
static void on_start(void *ctx, const char *name, int64_t size)
{
    struct cli_client_args *a = ctx;

    cli_report_begin(a->report, name, size);
    arm_interrupt(a, name);
}

/* Progress, told through the command's report; a get's first tells its
 * size, and with it whether Ctrl-C leaves a part to continue. */
static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct cli_client_args *a = ctx;
    bool size_was_pending = a->report->size_pending;

    cli_report_progress(a->report, done, total);
    if (size_was_pending && interrupted_len > 0)
        arm_interrupt(a, a->report->name);
}

static void on_done(void *ctx, const char *name, const struct ft_transfer *t)
{
    struct cli_client_args *a = ctx;

    interrupted_len = 0;
    note_resume(a, name, t);
    cli_report_done(a->report, t);
}

static void on_failure(void *ctx, const char *path, enum ft_err err,
                       const char *why)
{
    struct cli_client_args *a = ctx;
    struct cli_report *rep = a->report;
    const char *hint = continuable(a, err) ? CONTINUE_HINT : "";

    interrupted_len = 0;
    if (path == NULL)
        cli_report_fail(rep, cli_exit_code(err), "%s: %s%s", rep->op, why, hint);
    else
        cli_report_fail(rep, cli_exit_code(err), "%s %s: %s%s", rep->op, path, why,
                        hint);
}

static void on_skip(void *ctx, const char *path, const char *why)
{
    cli_report_note(((struct cli_client_args *)ctx)->report, "skipped %s: %s",
                    path, why);
}

/* The name a local path goes under: its last component, or for "." and
 * ".." (which no server name may be) the real folder's name. */
static const char *local_leaf(const char *path, char *buf, size_t cap)
{
    char *real;

    cli_last_component(path, buf, cap);
    if (strcmp(buf, ".") != 0 && strcmp(buf, "..") != 0)
        return buf;
    real = realpath(path, NULL);
    if (real != NULL) {
        cli_last_component(real, buf, cap);
        free(real);
    }
    return buf;
}

/* put from standard input, or get to standard output ('-'). */
static int stream(struct ft_client *c, struct cli_client_args *a,
                  const struct ft_tree_item *item, bool put)
{
    struct ft_transfer t;
    enum ft_err err;

    cli_report_begin(a->report, item->remote, put ? -1 : -2);
    arm_interrupt(a, item->remote);
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
            cli_last_component(o->srcs[made], leaf, sizeof(leaf));
        targets[made] = cli_target_of(o->dest, o->into, leaf);
        if (targets[made] == NULL)
            break;
        items[made].local = put ? o->srcs[made] : targets[made];
        items[made].remote = put ? targets[made] : o->srcs[made];
    }
    /* A put --continue is checked whole, or not done at all. */
    a->resumable = !(put && a->xfer.no_verify);
    if (made < o->n) {
        code = cli_report_fail(a->report, CLI_EXIT_LOCAL_IO, "%s: out of memory",
                               a->report->op);
    } else if (o->n == 1 && strcmp(items[0].local, "-") == 0 &&
               (put || !a->recursive)) {
        a->resumable = false; /* a stream cannot be read again */
        code = stream(c, a, &items[0], put);
    } else {
        code = cli_exit_code((put ? ft_client_put_tree : ft_client_get_tree)(c, &copy));
    }
    for (int i = 0; targets != NULL && i < made; i++)
        free(targets[i]);
    free(targets);
    free(items);
    return code;
}

/* Connects, then copies the operands up (put) or down. */
static int connect_and_copy(struct cli_client_args *a, struct operands *o,
                            bool put)
{
    int code;
    struct ft_client *c = cli_connect(a, a->cmd->name, &code);

    if (c == NULL)
        return code;
    a->xfer.progress = on_progress;
    a->xfer.progress_ctx = a;
    catch_interrupts();
    /* As cp and scp: several sources, a trailing '/', or an existing folder
     * mean "into"; otherwise the destination is the new name. */
    if (put)
        o->into = o->dest != NULL &&
                  (o->n > 1 || cli_ends_in_slash(o->dest) ||
                   cli_remote_is_folder(c, o->dest));
    code = copy(c, a, o, put);
    ft_client_close(c);
    return code;
}

/* put's operands: at least one source; standard input ('-') alone and
 * with a REMOTE name. Returns an exit code, 0 to go on. */
static int check_put(struct cli_report *rep, const struct operands *o)
{
    if (o->n < 1)
        return cli_report_usage(rep, "put", "%s", "LOCAL is missing");
    if (o->dest != NULL && o->dest[0] == '\0')
        return cli_report_usage(rep, "put", "%s", "the REMOTE name is empty");
    for (int i = 0; i < o->n; i++) {
        if (strcmp(o->srcs[i], "-") == 0 && (o->dest == NULL || o->n > 1))
            return cli_report_usage(rep, "put", "%s", "standard input ('-') "
                                    "needs a REMOTE name, and goes alone");
    }
    return CLI_EXIT_OK;
}

/* get's operands: at least one source, and an existing folder for
 * several. Trims the sources; tells whether they go into dest. */
static int check_get(struct cli_report *rep, struct operands *o)
{
    struct stat sb;

    if (o->n < 1)
        return cli_report_usage(rep, "get", "%s", "REMOTE is missing");
    cli_trim_remote_names(o->srcs, o->n);
    o->into = o->dest != NULL && stat(o->dest, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (o->n > 1 && !o->into)
        return cli_report_usage(rep, "get", "'%s' must be an existing folder "
                                "when several files are fetched", o->dest);
    return CLI_EXIT_OK;
}

/* ft put (put) or ft get. */
static int transfer(int argc, char **argv, bool put)
{
    static const struct cli_command commands[] = {
        { "get", get_help, true, false, CLI_OPERANDS_GET },
        { "put", put_help, true, false, CLI_OPERANDS_PUT },
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
    if (put && o.dest != NULL)
        o.dest = cli_below_top(o.dest);
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
