/* cli_remote.c - ft ls, rm, mv, stat, mkdir and df: the server's names
 * and usage, not contents. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ft/ft.h"

#include "cli.h"
#include "cli_args.h"
#include "cli_connect.h"
#include "cli_names.h"
#include "cli_report.h"
#include "name.h"

static const char ls_help[] =
    "usage: ft ls [OPTIONS] [FOLDER | FILE]\n"
    "Lists the server's files (or those in FOLDER, or FILE itself; '/' and\n"
    "'.' are the top): size in bytes, modification time (UTC), name;\n"
    "folders end in '/'.\n"
    "  -r, --recursive     everything below, with names relative to FOLDER\n"
    "      --json          print one JSON array on standard output instead,\n"
    "                      [{\"name\":S,\"type\":\"file\"|\"folder\",\"size\":N,\n"
    "                      \"mtime\":SECONDS},...] sorted by name; a name that\n"
    "                      is not UTF-8 comes as \"name\":null,\"name_base64\":S,\n"
    "                      its bytes in base64; a failure is still told as text\n";

static const char rm_help[] =
    "usage: ft rm [OPTIONS] NAME...\n"
    "Deletes files on the server.\n"
    "  -r, --recursive     delete folders and everything in them\n";

static const char mv_help[] =
    "usage: ft mv [OPTIONS] OLD NEW\n"
    "       ft mv [OPTIONS] OLD... FOLDER/\n"
    "Renames a file on the server, atomically; a file named NEW is replaced.\n"
    "When NEW ends in '/' or is a folder, OLD moves into it, keeping its name;\n"
    "several OLDs all move into FOLDER, which must be one (or end in '/').\n";

static const char stat_help[] =
    "usage: ft stat [OPTIONS] NAME...\n"
    "Shows a file's size, modification time, mode and the BLAKE2b-256\n"
    "digest of its content (the hex that 'b2sum -l 256' prints).\n"
    "      --json          one JSON object per NAME on standard output:\n"
    "                      {\"name\":S,\"type\":\"file\"|\"folder\",\"size\":N,\n"
    "                      \"mtime\":N,\"mode\":N,\"folder\":B,\n"
    "                      \"blake2b_256\":\"hex\"|null}; a name that is not\n"
    "                      UTF-8 comes as \"name\":null,\"name_base64\":S\n";

/* A command on remote names: its options, and how many names it takes. */
struct remote_command {
    struct cli_command cmd;
    int min_names, max_names;
    const char *wrong_count; /* told after the command's name */
    bool server_only; /* its one operand may only name the server: REMOTE: */
};

/* Parses the options of rc, checks and trims its names, connects. Returns
 * the client, or NULL with *code the exit code (0 after --help). *slash
 * (when not NULL) tells whether the last name ended in '/'. */
static struct ft_client *start(int argc, char **argv,
                               const struct remote_command *rc,
                               struct cli_client_args *a, int *code, bool *slash)
{
    int names;

    *code = cli_parse_client_args(argc, argv, &rc->cmd, a);
    if (*code != 0) {
        *code = *code < 0 ? CLI_EXIT_OK : *code;
        return NULL;
    }
    names = argc - optind;
    if (names < rc->min_names || names > rc->max_names) {
        *code = cli_report_usage(NULL, rc->cmd.name, "%s", rc->wrong_count);
        return NULL;
    }
    if (slash != NULL)
        *slash = names > 0 && cli_ends_in_slash(argv[argc - 1]);
    cli_trim_remote_names(argv + optind, names);
    if (rc->server_only && names == 1 && strcmp(argv[optind], "") != 0 &&
        strcmp(argv[optind], "/") != 0) {
        *code = cli_report_usage(NULL, rc->cmd.name, "%s", rc->wrong_count);
        return NULL;
    }
    return cli_connect(a, rc->cmd.name, code);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct ft_entry *)a)->name,
                  ((const struct ft_entry *)b)->name);
}

/* One line per entry: size, modification time (UTC), name, quoted as
 * every name shown is (name.c). */
static void print_listing(const struct ft_listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        char when[48], name[FT_PATH_MAX * 4 + 8];

        cli_format_time(when, sizeof(when), l->entries[i].mtime);
        ft_name_quote(l->entries[i].name, strlen(l->entries[i].name), name,
                      sizeof(name));
        printf("%12" PRIu64 "  %s  %s%s\n", l->entries[i].size, when, name,
               l->entries[i].is_dir ? "/" : "");
    }
}

int cli_ls(int argc, char **argv)
{
    static const struct remote_command this = {
        { "ls", ls_help, false, true, CLI_OPERANDS_REMOTE },
        0, 1, "takes at most one FOLDER", false
    };
    struct cli_client_args a;
    struct ft_listing l = { NULL, 0, 0 };
    int code;
    struct ft_client *c = start(argc, argv, &this, &a, &code, NULL);
    enum ft_err err;

    if (c == NULL)
        return code;
    err = ft_client_list_all(c, argv[optind], a.recursive, &l);
    if (err != FT_OK) {
        code = cli_report_fail(NULL, cli_exit_code(err), "ls: %s",
                               ft_client_error(c));
        goto out;
    }
    if (l.n > 1)
        qsort(l.entries, l.n, sizeof(*l.entries), by_name);
    if (a.json)
        cli_report_list_json(stdout, l.entries, l.n);
    else
        print_listing(&l);
out:
    ft_listing_free(&l);
    ft_client_close(c);
    return code;
}

/* Prints what a request's answer told of name. */
typedef void (*name_print_fn)(const struct cli_client_args *a, const char *name,
                              const struct ft_name_answer *ans);

/* What a command does with each name: the request, and what is printed
 * of a success (NULL: nothing). */
struct name_job {
    const struct remote_command *rc;
    const struct cli_client_args *a;
    struct ft_client *c;
    const struct ft_name_request *reqs;
    name_print_fn print;
    int code;
};

/* Tells how the request on a name ended; stops after a failure that is
 * more than the server's refusal of that name. */
static int told(void *ctx, size_t i, enum ft_err err, const struct ft_name_answer *ans)
{
    struct name_job *job = ctx;

    if (err == FT_OK) {
        if (job->print != NULL)
            job->print(job->a, job->reqs[i].name, ans);
        return 0;
    }
    job->code = cli_report_fail(NULL, cli_exit_code(err), "%s %s: %s",
                                job->rc->cmd.name, job->reqs[i].name,
                                ft_client_error(job->c));
    return job->code != CLI_EXIT_REFUSED;
}

/* Runs the requests on the names of a command, all asked at once and told
 * in order. Returns the exit code of the last failure. */
static int run_names(struct name_job *job, size_t n)
{
    enum ft_err err;

    job->code = CLI_EXIT_OK;
    err = ft_client_names(job->c, job->reqs, n, told, job);
    /* Refused before any answer (a link lost by an earlier request): no
     * name was told, so say it here. */
    if (err != FT_OK && job->code == CLI_EXIT_OK)
        job->code = cli_report_fail(NULL, cli_exit_code(err), "%s: %s",
                                    job->rc->cmd.name, ft_client_error(job->c));
    return job->code;
}

/* Runs the command rc: the request op on each name given. */
static int each_name(int argc, char **argv, const struct remote_command *rc,
                     enum ft_name_op op, name_print_fn print)
{
    struct cli_client_args a;
    struct ft_name_request *reqs = NULL;
    struct name_job job = { .rc = rc, .a = &a, .print = print };
    int code;

    job.c = start(argc, argv, rc, &a, &code, NULL);
    if (job.c == NULL)
        return code;
    if (op == FT_NAME_REMOVE && a.recursive)
        op = FT_NAME_REMOVE_TREE;
    if (op == FT_NAME_MKDIR && a.parents)
        op = FT_NAME_MKDIR_PARENTS;
    reqs = calloc((size_t)(argc - optind), sizeof(*reqs));
    if (reqs == NULL) {
        code = cli_report_fail(NULL, CLI_EXIT_LOCAL_IO, "%s: out of memory",
                               rc->cmd.name);
        goto out;
    }
    for (int i = optind; i < argc; i++)
        reqs[i - optind] = (struct ft_name_request){ .op = op, .name = argv[i] };
    job.reqs = reqs;
    code = run_names(&job, (size_t)(argc - optind));
out:
    free(reqs);
    ft_client_close(job.c);
    return code;
}

int cli_rm(int argc, char **argv)
{
    static const struct remote_command this = {
        { "rm", rm_help, false, false, CLI_OPERANDS_REMOTE },
        1, INT_MAX, "needs at least one NAME", false
    };

    return each_name(argc, argv, &this, FT_NAME_REMOVE, NULL);
}

/* The moves of OLD... into or onto NEW (the last name), one request each;
 * NULL when out of memory. The new names are allocated. */
static struct ft_name_request *moves_of(char **names, int n, bool into)
{
    struct ft_name_request *reqs = calloc((size_t)n, sizeof(*reqs));
    const char *dest = names[n];
    char leaf[512]; /* one component: at most 255 bytes */

    for (int i = 0; reqs != NULL && i < n; i++) {
        reqs[i] = (struct ft_name_request){ .op = FT_NAME_MOVE, .name = names[i] };
        reqs[i].to = cli_target_of(dest, into,
                                   cli_last_component(names[i], leaf, sizeof(leaf)));
        if (reqs[i].to == NULL) {
            for (int j = 0; j < i; j++)
                free((char *)reqs[j].to);
            free(reqs);
            reqs = NULL;
        }
    }
    return reqs;
}

int cli_mv(int argc, char **argv)
{
    static const struct remote_command this = {
        { "mv", mv_help, false, false, CLI_OPERANDS_REMOTE },
        2, INT_MAX, "needs OLD and NEW", false
    };
    struct cli_client_args a;
    struct ft_name_request *reqs = NULL;
    struct name_job job = { .rc = &this, .a = &a, .print = NULL };
    bool into = false;
    int code, n;

    job.c = start(argc, argv, &this, &a, &code, &into);
    if (job.c == NULL)
        return code;
    n = argc - optind - 1;
    /* As mv(1): NEW ending in '/', or an existing folder, means into it;
     * several OLDs go into NEW, which must be one. */
    into = into || cli_remote_is_folder(job.c, argv[argc - 1]);
    if (n > 1 && !into) {
        code = cli_report_usage(NULL, "mv", "'%s' must be a folder (or end in "
                                "'/') when several names are moved", argv[argc - 1]);
        goto out;
    }
    reqs = moves_of(argv + optind, n, into);
    if (reqs == NULL) {
        code = cli_report_fail(NULL, CLI_EXIT_LOCAL_IO, "mv: out of memory");
        goto out;
    }
    job.reqs = reqs;
    code = run_names(&job, (size_t)n);
    for (int i = 0; i < n; i++)
        free((char *)reqs[i].to);
out:
    free(reqs);
    ft_client_close(job.c);
    return code;
}

/* Prints what stat learnt of name, as text or as one JSON object. */
static void print_stat(const char *name, const struct ft_stat *st, bool json)
{
    char when[48], quoted[FT_PATH_MAX * 4 + 8];
    bool in_range;

    if (json) {
        fputs("{", stdout);
        cli_json_name(stdout, name);
        printf(",\"type\":\"%s\",\"size\":%" PRIu64 ",\"mtime\":%" PRId64
               ",\"mode\":%u,\"folder\":%s,\"blake2b_256\":",
               st->is_dir ? "folder" : "file", st->size, st->mtime,
               (unsigned)(st->mode & 07777), st->is_dir ? "true" : "false");
        printf(st->is_dir ? "null}\n" : "\"%s\"}\n", st->digest_hex);
        return;
    }
    in_range = cli_format_time(when, sizeof(when), st->mtime);
    ft_name_quote(name, strlen(name), quoted, sizeof(quoted));
    printf("name: %s%s\nsize: %" PRIu64 "\nmtime: %s%s\nmode: %04o\n",
           quoted, st->is_dir ? "/" : "", st->size, when, in_range ? " UTC" : "",
           (unsigned)(st->mode & 07777));
    if (!st->is_dir)
        printf("blake2b-256: %s\n", st->digest_hex);
}

static void print_stat_answer(const struct cli_client_args *a, const char *name,
                              const struct ft_name_answer *ans)
{
    print_stat(name, &ans->st, a->json);
}

int cli_stat(int argc, char **argv)
{
    static const struct remote_command this = {
        { "stat", stat_help, false, true, CLI_OPERANDS_REMOTE },
        1, INT_MAX, "needs at least one NAME", false
    };

    return each_name(argc, argv, &this, FT_NAME_STAT, print_stat_answer);
}

static const char mkdir_help[] =
    "usage: ft mkdir [OPTIONS] NAME...\n"
    "Makes folders on the server (mode 0755).\n"
    "  -p, --parents       make the folders above as needed too; a folder\n"
    "                      that is there already is no failure\n"
    "      --json          one JSON object per NAME made on standard output:\n"
    "                      {\"name\":S,\"type\":\"folder\",\"made\":B} (false:\n"
    "                      it was there); a name that is not UTF-8 comes as\n"
    "                      \"name\":null,\"name_base64\":S\n";

/* With --json, says whether the folder was made or was there. */
static void print_made(const struct cli_client_args *a, const char *name,
                       const struct ft_name_answer *ans)
{
    if (!a->json)
        return;
    fputs("{", stdout);
    cli_json_name(stdout, name);
    printf(",\"type\":\"folder\",\"made\":%s}\n", ans->made ? "true" : "false");
}

int cli_mkdir(int argc, char **argv)
{
    static const struct remote_command this = {
        { "mkdir", mkdir_help, false, true, CLI_OPERANDS_REMOTE },
        1, INT_MAX,
        "needs at least one NAME", false
    };

    return each_name(argc, argv, &this, FT_NAME_MKDIR, print_made);
}

static const char df_help[] =
    "usage: ft df [OPTIONS] [REMOTE:]\n"
    "Shows what this client holds on the server and may hold: the bytes and\n"
    "files under its folder there, against its quota (quota= and files= of\n"
    "its line in the server's clients file); uploads under way and\n"
    "interrupted ones kept for --continue count too.\n"
    "      --json          one JSON object on standard output:\n"
    "                      {\"bytes\":N,\"pending_bytes\":N,\"quota_bytes\":N|null,\n"
    "                      \"files\":N,\"pending_files\":N,\"quota_files\":N|null}\n"
    "                      (null: no quota)\n";

/* One line of df: used (stored and pending) against quota. */
static void print_usage_line(const char *what, uint64_t used, uint64_t pending,
                             uint64_t quota, bool bytes)
{
    char shown[32], limit[32];

    if (bytes) {
        cli_format_bytes(shown, sizeof(shown), used + pending);
        cli_format_bytes(limit, sizeof(limit), quota);
    } else {
        snprintf(shown, sizeof(shown), "%" PRIu64, used + pending);
        snprintf(limit, sizeof(limit), "%" PRIu64, quota);
    }
    if (quota == FT_CLIENT_NO_QUOTA)
        printf("%s: %s used, no quota", what, shown);
    else
        printf("%s: %s used of %s (%.1f%%)", what, shown, limit,
               quota > 0 ? 100.0 * (double)(used + pending) / (double)quota : 100.0);
    if (pending > 0)
        printf(", %" PRIu64 " of it in uploads under way or kept", pending);
    putchar('\n');
}

static void print_json_quota(const char *key, uint64_t quota)
{
    if (quota == FT_CLIENT_NO_QUOTA)
        printf(",\"%s\":null", key);
    else
        printf(",\"%s\":%" PRIu64, key, quota);
}

int cli_df(int argc, char **argv)
{
    static const struct remote_command this = {
        { "df", df_help, false, true, CLI_OPERANDS_REMOTE }, 0, 1,
        "takes no NAME, only the server as REMOTE:", true
    };
    struct cli_client_args a;
    struct ft_usage u;
    int code;
    struct ft_client *c = start(argc, argv, &this, &a, &code, NULL);
    enum ft_err err;

    if (c == NULL)
        return code;
    err = ft_client_usage(c, &u);
    if (err != FT_OK) {
        code = cli_report_fail(NULL, cli_exit_code(err), "df: %s",
                               ft_client_error(c));
    } else if (a.json) {
        printf("{\"bytes\":%" PRIu64 ",\"pending_bytes\":%" PRIu64, u.bytes,
               u.pending_bytes);
        print_json_quota("quota_bytes", u.quota_bytes);
        printf(",\"files\":%" PRIu64 ",\"pending_files\":%" PRIu64, u.files,
               u.pending_files);
        print_json_quota("quota_files", u.quota_files);
        puts("}");
    } else {
        print_usage_line("bytes", u.bytes, u.pending_bytes, u.quota_bytes, true);
        print_usage_line("files", u.files, u.pending_files, u.quota_files, false);
    }
    ft_client_close(c);
    return code;
}
