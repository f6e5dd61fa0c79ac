/* cli_sync.c - ft sync: which side is the source, and what it did, told
 * line by line (rsync -i's items, or JSON) and in a summary. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ft/ft.h"
#include "ft/sync.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_connect.h"
#include "cli_names.h"
#include "cli_report.h"
#include "name.h"

static const char sync_help[] =
    "usage: ft sync [OPTIONS] SRC DST\n"
    "Makes DST a copy of SRC's contents, sending only what changed; one of\n"
    "the two is REMOTE:PATH (push: SRC is local; pull: DST is). As 'rsync -a\n"
    "SRC/ DST/', whether or not SRC ends in '/': DST gets what is in SRC, not\n"
    "SRC itself; a missing DST folder is made. A single file SRC makes DST\n"
    "that file (into DST, when DST is a folder or ends in '/').\n"
    "A file is left alone when its size, modification time and executable\n"
    "bit are the same on both sides; otherwise, with the same size, its\n"
    "content is compared by BLAKE2b-256 (the digest the server recorded:\n"
    "nothing is read again there) and only its time and mode are set when\n"
    "that is the same; other files travel as the parts that differ when the\n"
    "server takes deltas, whole when not. Folders are made, empty ones\n"
    "too; links and special files of a local SRC are left out (a note says\n"
    "so). Every file is its old or its new version at any moment: a sync\n"
    "cut short finishes when run again.\n"
    "      --delete        remove from DST what SRC lacks (never anything\n"
    "                      outside DST: a link there is removed, not\n"
    "                      followed); a folder with files in it where SRC\n"
    "                      has a file is replaced only with --delete\n"
    "  -n, --dry-run       change nothing anywhere; tell what would change\n"
    "  -i, --itemize       one line per change on standard output, as\n"
    "                      rsync -i: '<f+++++++++ new' (pull: '>'),\n"
    "                      '<f.st...... changed' (c: content, s: size, t: time,\n"
    "                      p: executable bit), '.f..t...... only its time set',\n"
    "                      'cd+++++++++ folder/', '*deleting   name'\n"
    "  -c, --checksum      compare files of the same size and time by\n"
    "                      content too\n"
    "  -z, --compress      compress with zlib on the way\n"
    "      --no-verify     skip the end-to-end BLAKE2b-256 check\n"
    "      --limit-rate R  move at most R bytes per second, e.g. 500k, 10M\n"
    "  -P, --streams N     connections for one large file (1 to 16)\n"
    "      --json          one JSON object per line on standard output, per\n"
    "                      change: {\"event\":\"send\",\"name\":S,\"size\":N,\n"
    "                        \"matched\":N|null,\"why\":\"new\"|\"size,time,...\"}\n"
    "                        (matched: bytes taken from DST's old version),\n"
    "                      {\"event\":\"touch\",\"name\":S,\"why\":S},\n"
    "                      {\"event\":\"mkdir\",\"name\":S},\n"
    "                      {\"event\":\"delete\",\"name\":S,\"type\":\"file\"|\"folder\"},\n"
    "                      {\"event\":\"error\",...} as put's; then one\n"
    "                      {\"event\":\"summary\",\"checked\":N,\"sent\":N,\n"
    "                        \"touched\":N,\"deleted\":N,\"folders\":N,\n"
    "                        \"total_bytes\":N,\"sent_bytes\":N,\n"
    "                        \"literal_bytes\":N,\"wire_bytes\":N,\n"
    "                        \"speedup\":X,\"dry_run\":B}\n";

/* What the events of one sync need. */
struct sync_cli {
    struct cli_client_args *a;
    bool push;
    const char *single; /* the name told for a single file's "" */
};

/* The why of a change as JSON's text: "size,time,perms,content". */
static void why_text(unsigned why, char *buf, size_t cap)
{
    static const struct { unsigned bit; const char *word; } words[] = {
        { FT_SYNC_WHY_SIZE, "size" }, { FT_SYNC_WHY_TIME, "time" },
        { FT_SYNC_WHY_PERMS, "perms" }, { FT_SYNC_WHY_CONTENT, "content" },
    };
    size_t at = 0;

    buf[0] = '\0';
    for (size_t k = 0; k < sizeof(words) / sizeof(*words); k++) {
        if ((why & words[k].bit) && at < cap)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? "," : "",
                                   words[k].word);
    }
}

static void json_change(const struct ft_sync_change *ch, const char *name)
{
    static const char *const events[] = { "send", "send", "touch", "mkdir", "delete" };
    FILE *out = stdout;
    char why[64];

    fprintf(out, "{\"event\":\"%s\",", events[ch->what]);
    cli_json_name(out, name);
    why_text(ch->why, why, sizeof(why));
    if (ch->what == FT_SYNC_NEW || ch->what == FT_SYNC_SEND) {
        fprintf(out, ",\"size\":%" PRIu64 ",\"matched\":", ch->size);
        if (ch->t != NULL)
            fprintf(out, "%" PRIu64, ch->t->delta ? ch->t->matched : 0);
        else
            fputs("null", out);
        fprintf(out, ",\"why\":\"%s\"", ch->what == FT_SYNC_NEW ? "new" : why);
    } else if (ch->what == FT_SYNC_TOUCH) {
        fprintf(out, ",\"why\":\"%s\"", why);
    } else if (ch->what == FT_SYNC_DELETE) {
        fprintf(out, ",\"type\":\"%s\"", ch->is_dir ? "folder" : "file");
    }
    fputs("}\n", out);
}

/* One rsync -i line: YXcstpoguax NAME. */
static void itemize(const struct sync_cli *sc, const struct ft_sync_change *ch,
                    const char *name)
{
    char quoted[FT_PATH_MAX * 4 + 8];
    char attrs[10] = ".........";

    ft_name_quote(name, strlen(name), quoted, sizeof(quoted));
    if (ch->what == FT_SYNC_DELETE) {
        printf("*deleting   %s%s\n", quoted, ch->is_dir ? "/" : "");
        return;
    }
    if (ch->what == FT_SYNC_MKDIR) {
        printf("cd+++++++++ %s/\n", quoted);
        return;
    }
    if (ch->what == FT_SYNC_NEW) {
        printf("%cf+++++++++ %s\n", sc->push ? '<' : '>', quoted);
        return;
    }
    if (ch->why & FT_SYNC_WHY_CONTENT)
        attrs[0] = 'c';
    if (ch->why & FT_SYNC_WHY_SIZE)
        attrs[1] = 's';
    if (ch->why & FT_SYNC_WHY_TIME)
        attrs[2] = 't';
    if (ch->why & FT_SYNC_WHY_PERMS)
        attrs[3] = 'p';
    printf("%cf%s %s\n", ch->what == FT_SYNC_TOUCH ? '.' : sc->push ? '<' : '>', attrs,
           quoted);
}

static void on_change(void *ctx, const struct ft_sync_change *ch)
{
    const struct sync_cli *sc = ctx;
    const char *name = ch->name[0] != '\0' ? ch->name : sc->single;

    if (sc->a->json)
        json_change(ch, name);
    else if (sc->a->itemize)
        itemize(sc, ch, name);
}

static void on_failure(void *ctx, const char *path, enum ft_err err, const char *why)
{
    const struct sync_cli *sc = ctx;

    if (path == NULL)
        cli_report_fail(sc->a->report, cli_exit_code(err), "sync: %s", why);
    else
        cli_report_fail(sc->a->report, cli_exit_code(err), "sync %s: %s", path, why);
}

static void on_skip(void *ctx, const char *path, const char *why)
{
    const struct sync_cli *sc = ctx;

    cli_report_note(sc->a->report, "skipped %s: %s", path, why);
}

/* The speedup, as rsync's: the size of SRC's files over what crossed the
 * wire. */
static double speedup(const struct ft_sync_stats *st)
{
    return st->wire_bytes > 0 ? (double)st->total_bytes / (double)st->wire_bytes : 0.0;
}

static void summary_json(const struct ft_sync_stats *st, bool dry_run)
{
    printf("{\"event\":\"summary\",\"checked\":%" PRIu64 ",\"sent\":%" PRIu64
           ",\"touched\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"folders\":%" PRIu64
           ",\"total_bytes\":%" PRIu64 ",\"sent_bytes\":%" PRIu64
           ",\"literal_bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64
           ",\"speedup\":%.2f,\"dry_run\":%s}\n",
           st->checked, st->sent, st->touched, st->deleted, st->folders,
           st->total_bytes, st->sent_bytes, st->literal_bytes, st->wire_bytes,
           speedup(st), dry_run ? "true" : "false");
}

static void summary_text(const struct ft_sync_stats *st, bool dry_run)
{
    char sent[32], literal[32], wire[32], total[32];

    cli_format_bytes(sent, sizeof(sent), st->sent_bytes);
    cli_format_bytes(literal, sizeof(literal), st->literal_bytes);
    cli_format_bytes(wire, sizeof(wire), st->wire_bytes);
    cli_format_bytes(total, sizeof(total), st->total_bytes);
    fprintf(stderr,
            "%s%" PRIu64 " files checked, %" PRIu64 " sent (%s, %s of it travelled), %"
            PRIu64 " touched, %" PRIu64 " deleted, %" PRIu64 " folders made\n"
            "%s on the wire for %s of files: speedup %.2f\n",
            dry_run ? "dry run, nothing changed: " : "", st->checked, st->sent, sent,
            literal, st->touched, st->deleted, st->folders, wire, total, speedup(st));
}

/* Connects and syncs SRC onto DST. Returns the exit code. */
static int run(struct cli_client_args *a, char **ops)
{
    char leaf[FT_PATH_MAX + 1];
    struct sync_cli sc = { a, a->remote_operand == 1,
                           cli_last_component(ops[0], leaf, sizeof(leaf)) };
    struct ft_sync_events ev = { on_change, on_failure, on_skip, &sc };
    struct ft_sync_options o = { .local = ops[sc.push ? 0 : 1],
                                 .remote = ops[sc.push ? 1 : 0], .push = sc.push,
                                 .delete_extra = a->delete_extra, .dry_run = a->dry_run,
                                 .checksum = a->checksum, .transfer = &a->xfer,
                                 .events = &ev };
    struct ft_sync_stats st;
    int code;
    struct ft_client *c = cli_connect(a, "sync", &code);
    enum ft_err err;

    if (c == NULL)
        return code;
    err = ft_client_sync(c, &o, &st);
    fflush(stdout);
    if (a->json)
        summary_json(&st, a->dry_run);
    else if (!a->quiet)
        summary_text(&st, a->dry_run);
    ft_client_close(c);
    return cli_exit_code(err);
}

int cli_sync(int argc, char **argv)
{
    static const struct cli_command command = { "sync", sync_help, true, true,
                                                CLI_OPERANDS_SYNC };
    struct cli_client_args a;
    struct cli_report rep;
    int code = cli_parse_client_args(argc, argv, &command, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    cli_report_init(&rep, "sync", a.quiet, a.json ? stdout : NULL);
    a.report = &rep;
    if (argc - optind != 2)
        return cli_report_usage(&rep, "sync", "%s", "needs SRC and DST");
    if (a.xfer.resume)
        return cli_report_usage(&rep, "sync", "%s", "takes no --continue: a sync cut "
                                "short finishes when run again");
    argv[optind + a.remote_operand] = (char *)cli_below_top(argv[optind + a.remote_operand]);
    return run(&a, argv + optind);
}
