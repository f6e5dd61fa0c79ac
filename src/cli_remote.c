/* cli_remote.c - ft ls, rm, mv, stat and mkdir: the server's names, not
 * contents. */
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
    "usage: ft ls [OPTIONS] [FOLDER]\n"
    "Lists the server's files (or those in FOLDER): size in bytes,\n"
    "modification time (UTC), name; folders end in '/'.\n"
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
    "       ft mv [OPTIONS] OLD FOLDER/\n"
    "Renames a file on the server, atomically; a file named NEW is replaced.\n"
    "When NEW ends in '/' or is a folder, OLD moves into it, keeping its name.\n";

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
        { "ls", ls_help, false, true }, 0, 1, "takes at most one FOLDER"
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

/* One request on a name: FT_OK, or the failure ft_client_error tells. */
typedef enum ft_err (*name_request_fn)(struct ft_client *c,
                                       const struct cli_client_args *a,
                                       const char *name);

/* Runs the command this: the request on each name given, telling each
 * failure; goes on past the server's refusals. Returns the exit code of
 * the last failure. */
static int each_name(int argc, char **argv, const struct remote_command *this,
                     name_request_fn request)
{
    struct cli_client_args a;
    int code;
    struct ft_client *c = start(argc, argv, this, &a, &code, NULL);

    for (int i = optind; c != NULL && i < argc; i++) {
        enum ft_err err = request(c, &a, argv[i]);

        if (err == FT_OK)
            continue;
        code = cli_report_fail(NULL, cli_exit_code(err), "%s %s: %s",
                               this->cmd.name, argv[i], ft_client_error(c));
        if (code != CLI_EXIT_REFUSED)
            break;
    }
    ft_client_close(c);
    return code;
}

static enum ft_err remove_name(struct ft_client *c, const struct cli_client_args *a,
                               const char *name)
{
    return ft_client_remove_tree(c, name, a->recursive);
}

int cli_rm(int argc, char **argv)
{
    static const struct remote_command this = {
        { "rm", rm_help, false, false }, 1, INT_MAX, "needs at least one NAME"
    };

    return each_name(argc, argv, &this, remove_name);
}

int cli_mv(int argc, char **argv)
{
    static const struct remote_command this = {
        { "mv", mv_help, false, false }, 2, 2, "needs OLD and NEW"
    };
    struct cli_client_args a;
    char leaf[512]; /* one component: at most 255 bytes */
    char *to = NULL;
    bool into = false;
    int code;
    struct ft_client *c = start(argc, argv, &this, &a, &code, &into);
    enum ft_err err;

    if (c == NULL)
        return code;
    /* As mv(1): NEW ending in '/', or an existing folder, means into it. */
    into = into || cli_remote_is_folder(c, argv[optind + 1]);
    to = cli_target_of(argv[optind + 1], into,
                       cli_last_component(argv[optind], leaf, sizeof(leaf)));
    err = to != NULL ? ft_client_move(c, argv[optind], to) : FT_ERR_NOMEM;
    if (err != FT_OK) {
        code = cli_report_fail(NULL, cli_exit_code(err), "mv %s: %s", argv[optind],
                               to != NULL ? ft_client_error(c) : ft_strerror(err));
    }
    free(to);
    ft_client_close(c);
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

static enum ft_err stat_name(struct ft_client *c, const struct cli_client_args *a,
                             const char *name)
{
    struct ft_stat st;
    enum ft_err err = ft_client_stat(c, name, &st);

    if (err == FT_OK)
        print_stat(name, &st, a->json);
    return err;
}

int cli_stat(int argc, char **argv)
{
    static const struct remote_command this = {
        { "stat", stat_help, false, true }, 1, INT_MAX, "needs at least one NAME"
    };

    return each_name(argc, argv, &this, stat_name);
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

static enum ft_err make_folder(struct ft_client *c, const struct cli_client_args *a,
                               const char *name)
{
    bool made = false;
    enum ft_err err = ft_client_mkdir(c, name, a->parents, &made);

    if (err == FT_OK && a->json) {
        fputs("{", stdout);
        cli_json_name(stdout, name);
        printf(",\"type\":\"folder\",\"made\":%s}\n", made ? "true" : "false");
    }
    return err;
}

int cli_mkdir(int argc, char **argv)
{
    static const struct remote_command this = {
        { "mkdir", mkdir_help, false, true }, 1, INT_MAX,
        "needs at least one NAME"
    };

    return each_name(argc, argv, &this, make_folder);
}
