/* test_remotes.c - the client side of named remotes: the config file
 * (each key, each mistake with its line), REMOTE:PATH operands, what wins
 * over what, put/get/ls through a named remote on a real server, and
 * forgetting or replacing a pinned server key. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_args.h"
#include "cli_config.h"
#include "cli_operands.h"
#include "testutil.h"

#define FP_A "b2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FP_B "b2:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

/* Parses text as the file "cfg", ~ being /home/u. */
static enum ft_err parse(const char *text, struct cli_config *c, char *err,
                         size_t errlen)
{
    return cli_config_parse(text, strlen(text), "cfg", "/home/u", c, err, errlen);
}

static void test_config_each_key(void **state)
{
    static const char text[] =
        "# the backup server\n"
        "remote backup   # comments end lines too\n"
        "    host files.example.org\n"
        "    port 7000\n"
        "    identity ~/.config/ft/work-id\n"
        "    token-file /etc/ft/backup token\n"
        "    server-key " FP_A "\n"
        "\n"
        "REMOTE v6\r\n"
        "\tHost [::1]\n"
        "remote bare\n";
    struct cli_config c;
    const struct cli_remote *r;
    char err[512] = "";

    (void)state;
    assert_int_equal(parse(text, &c, err, sizeof(err)), FT_OK);
    assert_int_equal(c.n, 3);
    r = cli_config_find(&c, "backup");
    assert_non_null(r);
    assert_string_equal(r->host, "files.example.org");
    assert_int_equal(r->port, 7000);
    assert_string_equal(r->identity, "/home/u/.config/ft/work-id");
    assert_string_equal(r->token_file, "/etc/ft/backup token");
    assert_string_equal(r->server_key, FP_A);
    assert_int_equal(r->line, 2);
    r = cli_config_find(&c, "v6");
    assert_non_null(r);
    assert_string_equal(r->host, "::1");
    assert_int_equal(r->port, 0);
    r = cli_config_find(&c, "bare");
    assert_non_null(r);
    assert_string_equal(r->host, "");
    assert_string_equal(r->token_file, "");
    assert_null(cli_config_find(&c, "nothere"));
    cli_config_free(&c);
}

static void test_config_errors_name_their_line(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "host x\n", "cfg:1: host must come below a 'remote NAME' line" },
        { "remote a\n\n  colour red\n", "cfg:3: unknown key 'colour'" },
        { "remote a\n  port\n", "cfg:2: port needs a value" },
        { "remote a\n  port 70000\n", "cfg:2: port needs a port number" },
        { "remote a\n  port 0\n", "cfg:2: port needs a port number" },
        { "remote a\n  port 7000 8000\n", "cfg:2: port takes one word" },
        { "remote a\n  port 1\n  port 2\n", "cfg:3: port is given twice" },
        { "remote a\nremote b\nremote a\n", "cfg:3: remote 'a' is named twice "
                                             "(first on line 1)" },
        { "remote a:b\n", "cfg:1: a remote's name is letters" },
        { "remote a\n  host me@h\n", "cfg:2: ft has no user names" },
        { "remote a\n  host h:7000\n", "cfg:2: host is a name or an address "
                                         "alone" },
        { "remote a\n  token-file rel/t\n", "cfg:2: token-file needs a full path" },
        { "remote a\n  identity ~bob/id\n", "cfg:2: identity: '~user'" },
        { "remote a\n  server-key b2:short\n", "cfg:2: server-key needs a "
                                                 "fingerprint" },
    };
    struct cli_config c;
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        err[0] = '\0';
        assert_int_equal(parse(cases[i].text, &c, err, sizeof(err)), FT_ERR_USAGE);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("'%s': told '%s', not '%s...'", cases[i].text, err,
                     cases[i].want);
        cli_config_free(&c);
    }
    /* "~" without a home to expand it to. */
    assert_int_equal(cli_config_parse("remote a\n identity ~/id\n", 24, "cfg", NULL,
                                      &c, err, sizeof(err)), FT_ERR_USAGE);
    assert_non_null(strstr(err, "cfg:2: identity: '~' needs HOME"));
    cli_config_free(&c);
    /* A NUL byte, and a line longer than any path. */
    assert_int_equal(cli_config_parse("remote a\n\0", 10, "cfg", NULL, &c, err,
                                      sizeof(err)), FT_ERR_USAGE);
    assert_non_null(strstr(err, "cfg:2: a NUL byte"));
    cli_config_free(&c);
    {
        char long_line[3000];

        memset(long_line, 'x', sizeof(long_line) - 1);
        long_line[sizeof(long_line) - 1] = '\0';
        assert_int_equal(parse(long_line, &c, err, sizeof(err)), FT_ERR_USAGE);
        assert_non_null(strstr(err, "cfg:1: the line is too long"));
        cli_config_free(&c);
    }
}

/* The file itself: read from its path, refused when others may write it. */
static void test_config_file(void **state)
{
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "config");
    struct cli_config c;
    char err[512];

    tu_write_bytes(path, "remote r\n  port 9\n", 18);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cli_config_load(path, false, &c, err, sizeof(err)), FT_OK);
    assert_int_equal(c.n, 1);
    cli_config_free(&c);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(cli_config_load(path, false, &c, err, sizeof(err)), FT_ERR_DENIED);
    assert_non_null(strstr(err, "chmod 644"));
    cli_config_free(&c);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cli_config_load(path, true, &c, err, sizeof(err)), FT_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(cli_config_load(path, false, &c, err, sizeof(err)), FT_ERR_IO);
    free(path);
}

static void test_operand_split(void **state)
{
    static const struct {
        const char *text, *remote, *path;
        bool bracketed;
    } cases[] = {
        { "backup:docs/notes.txt", "backup", "docs/notes.txt", false },
        { "files.example.org:a", "files.example.org", "a", false },
        { "backup:", "backup", "", false },
        { "[::1]:notes.txt", "::1", "notes.txt", true },
        { "[::1]:", "::1", "", true },
        { "./a:b", "", "./a:b", false },
        { "docs/a:b", "", "docs/a:b", false },
        { ":a", "", ":a", false },
        { "plain.txt", "", "plain.txt", false },
        { "[x]", "", "[x]", false },
        { "h:a:b", "h", "a:b", false },
    };
    struct cli_operand op;
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(cli_operand_split(cases[i].text, &op, err, sizeof(err)),
                         FT_OK);
        assert_string_equal(op.remote, cases[i].remote);
        assert_string_equal(op.path, cases[i].path);
        assert_int_equal(op.bracketed, cases[i].bracketed);
    }
    assert_int_equal(cli_operand_split("me@backup:a", &op, err, sizeof(err)),
                     FT_ERR_USAGE);
    assert_non_null(strstr(err, "ft has no user names"));
}

/* Runs cli_operands_take over the words, NULL-ended; *out the remote. */
static enum ft_err take(const char **words, enum cli_operand_roles roles,
                        char **ops, struct cli_operand *which, char *err,
                        size_t errlen)
{
    int n = 0;

    while (words[n] != NULL) {
        ops[n] = (char *)words[n];
        n++;
    }
    return cli_operands_take(ops, n, roles, which, err, errlen);
}

static void test_operands_of_a_command(void **state)
{
    struct cli_operand which;
    char *ops[8];
    char err[512];

    (void)state;
    {   /* put: the sources are here, the destination there. */
        const char *w[] = { "notes.txt", "./a:b", "backup:docs/", NULL };

        assert_int_equal(take(w, CLI_OPERANDS_PUT, ops, &which, err, sizeof(err)),
                         FT_OK);
        assert_string_equal(which.remote, "backup");
        assert_string_equal(ops[0], "notes.txt");
        assert_string_equal(ops[1], "./a:b");
        assert_string_equal(ops[2], "docs/");
    }
    {   /* A put's one operand is local: a colon in it is refused, with the
         * way to name such a file. */
        const char *w[] = { "a:b", NULL };

        assert_int_equal(take(w, CLI_OPERANDS_PUT, ops, &which, err, sizeof(err)),
                         FT_ERR_USAGE);
        assert_non_null(strstr(err, "./a:b"));
    }
    {   /* get: the last of several is here. */
        const char *w[] = { "backup:a", "backup:b", "here:x", NULL };

        assert_int_equal(take(w, CLI_OPERANDS_GET, ops, &which, err, sizeof(err)),
                         FT_ERR_USAGE);
        assert_non_null(strstr(err, "./here:x"));
    }
    {
        const char *w[] = { "[::1]:a", "out", NULL };

        assert_int_equal(take(w, CLI_OPERANDS_GET, ops, &which, err, sizeof(err)),
                         FT_OK);
        assert_string_equal(which.remote, "::1");
        assert_true(which.bracketed);
        assert_string_equal(ops[0], "a");
        assert_string_equal(ops[1], "out");
    }
    {   /* "backup:" is the top of the store. */
        const char *w[] = { "backup:", NULL };

        assert_int_equal(take(w, CLI_OPERANDS_REMOTE, ops, &which, err,
                              sizeof(err)), FT_OK);
        assert_string_equal(ops[0], "/");
    }
    {   /* One command, one server: two remotes, or a remote and none. */
        const char *two[] = { "backup:a", "other:b", NULL };
        const char *mixed[] = { "backup:a", "b", NULL };
        const char *none[] = { "a", "b", NULL };

        assert_int_equal(take(two, CLI_OPERANDS_REMOTE, ops, &which, err,
                              sizeof(err)), FT_ERR_USAGE);
        assert_non_null(strstr(err, "one command talks to one server"));
        assert_int_equal(take(mixed, CLI_OPERANDS_REMOTE, ops, &which, err,
                              sizeof(err)), FT_ERR_USAGE);
        assert_non_null(strstr(err, "--host's server"));
        assert_int_equal(take(none, CLI_OPERANDS_REMOTE, ops, &which, err,
                              sizeof(err)), FT_OK);
        assert_string_equal(which.remote, "");
    }
}

/* Writes the config file text at path, mode 0644, and points FT_CONFIG
 * at it. */
static void write_config(const char *path, const char *text)
{
    tu_write_bytes(path, text, strlen(text));
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(setenv("FT_CONFIG", path, 1), 0);
}

/* cli_parse_client_args over the words (argv[0] the command's name). */
static int parse_args(const char **words, const struct cli_command *cmd,
                      struct cli_client_args *a, char **argv)
{
    int n = 0;

    while (words[n] != NULL) {
        argv[n] = (char *)words[n];
        n++;
    }
    argv[n] = NULL;
    return cli_parse_client_args(n, argv, cmd, a);
}

/* The command line first, then the remote's lines, then the environment. */
static void test_what_wins(void **state)
{
    static const struct cli_command ls = { "ls", "", false, false,
                                           CLI_OPERANDS_REMOTE };
    struct tu_fixture *f = *state;
    char *path = tu_path(f->work, "config");
    struct cli_client_args a;
    char *argv[16];
    char text[512];

    snprintf(text, sizeof(text),
             "remote backup\n host files.example.org\n port 7000\n"
             " identity /k/id\n token-file /k/tok\n server-key %s\n"
             "remote nohost\n", FP_A);
    write_config(path, text);
    setenv("FT_HOST", "env.example.org", 1);
    setenv("FT_PORT", "6000", 1);
    {
        const char *w[] = { "ls", "backup:docs", NULL };

        assert_int_equal(parse_args(w, &ls, &a, argv), 0);
        assert_string_equal(a.cfg.host, "files.example.org");
        assert_int_equal(a.cfg.port, 7000);
        assert_string_equal(a.identity_file, "/k/id");
        assert_string_equal(a.token_file, "/k/tok");
        assert_string_equal(a.cfg.server_key, FP_A);
        assert_string_equal(argv[optind], "docs");
    }
    {
        const char *w[] = { "ls", "-H", "cli.example.org", "-p", "5000",
                            "--token-file", "/c/tok", "--server-key", FP_B,
                            "backup:", NULL };

        assert_int_equal(parse_args(w, &ls, &a, argv), 0);
        assert_string_equal(a.cfg.host, "cli.example.org");
        assert_int_equal(a.cfg.port, 5000);
        assert_string_equal(a.token_file, "/c/tok");
        assert_string_equal(a.cfg.server_key, FP_B);
    }
    {   /* A remote without a host is reached at its name; without a port,
         * at FT_PORT's. */
        const char *w[] = { "ls", "nohost:", NULL };

        assert_int_equal(parse_args(w, &ls, &a, argv), 0);
        assert_string_equal(a.cfg.host, "nohost");
        assert_int_equal(a.cfg.port, 6000);
        assert_null(a.token_file);
        assert_null(a.cfg.server_key);
    }
    {   /* A name the file does not know is a host. */
        const char *w[] = { "ls", "h.example.org:x", NULL };

        assert_int_equal(parse_args(w, &ls, &a, argv), 0);
        assert_string_equal(a.cfg.host, "h.example.org");
    }
    {   /* Without a colon: FT_HOST, as before. */
        const char *w[] = { "ls", "docs", NULL };

        assert_int_equal(parse_args(w, &ls, &a, argv), 0);
        assert_string_equal(a.cfg.host, "env.example.org");
        assert_int_equal(a.cfg.port, 6000);
    }
    unsetenv("FT_HOST");
    unsetenv("FT_PORT");
    unsetenv("FT_CONFIG");
    free(path);
}

/* Runs ft, failing the test with what it said unless it succeeds. */
static void run_ok(const char *const args[], const char *const env[],
                   const char *out)
{
    char err[4096];
    int rc = tu_run_ft_env(args, env, NULL, out, err, sizeof(err));

    if (rc != 0)
        fail_msg("ft %s %s: exit %d: %s", args[0], args[1], rc, err);
}

/* put, ls, get, mv, stat, rm through a remote named in the config file,
 * its token file coming from there too. */
static void test_named_remote_on_a_server(void **state)
{
    /* The test's files: in its own folder, then in the server's store. */
    enum { TOKEN, CONFIG, SRC, COLON, COPY, LISTING, STORED, MOVED, STORED_COLON,
           PATHS };
    static const char *const names[PATHS] = {
        "backup.token", "config", "notes.txt", "a:b", "copy.txt", "listing",
        "docs/notes.txt", "docs/n2.txt", "a:b",
    };
    struct tu_fixture *f = *state;
    char *p[STORED]; /* the local ones; the stored are names[] in the store */
    char config_env[1100], text[1400], err[4096], errbuf[256];
    const char *env[] = { config_env, f->config_env, NULL };
    const char *serve[] = { "--token-file", NULL, NULL };

    for (int i = 0; i < STORED; i++)
        p[i] = tu_path(f->work, names[i]);
    serve[1] = p[TOKEN];
    assert_int_equal(ft_keys_make_token(p[TOKEN], errbuf, sizeof(errbuf)), FT_OK);
    assert_true(tu_fixture_serve(f, serve));
    snprintf(text, sizeof(text), "# where backups go\nremote backup\n"
             "    host 127.0.0.1\n    port %s\n    token-file %s\n",
             f->served.portstr, p[TOKEN]);
    tu_write_bytes(p[CONFIG], text, strlen(text));
    assert_int_equal(chmod(p[CONFIG], 0644), 0);
    snprintf(config_env, sizeof(config_env), "FT_CONFIG=%s", p[CONFIG]);
    tu_write_text(p[SRC], 5000);
    tu_write_text(p[COLON], 100);
    {
        const char *put[] = { "put", "-q", p[SRC], "backup:docs/", NULL };
        const char *ls[] = { "ls", "backup:docs", NULL };
        const char *get[] = { "get", "-q", "backup:docs/notes.txt", p[COPY], NULL };
        const char *mv[] = { "mv", "backup:docs/notes.txt", "backup:docs/n2.txt",
                             NULL };
        const char *stat[] = { "stat", "backup:docs/n2.txt", NULL };
        const char *rm[] = { "rm", "backup:docs/n2.txt", NULL };
        /* A local name with a colon after a slash is a local name. */
        const char *put_colon[] = { "put", "-q", p[COLON], "backup:", NULL };

        run_ok(put, env, NULL);
        assert_true(tu_store_same(f->root, names[STORED], p[SRC]));
        run_ok(ls, env, p[LISTING]);
        {
            FILE *l = fopen(p[LISTING], "r");
            char line[512] = "";

            assert_non_null(l);
            assert_non_null(fgets(line, sizeof(line), l));
            fclose(l);
            assert_non_null(strstr(line, " notes.txt\n"));
        }
        run_ok(get, env, NULL);
        assert_true(tu_files_equal(p[SRC], p[COPY]));
        run_ok(mv, env, NULL);
        assert_true(tu_store_same(f->root, names[MOVED], p[SRC]));
        run_ok(stat, env, NULL);
        run_ok(rm, env, NULL);
        assert_false(tu_store_exists(f->root, names[MOVED]));
        run_ok(put_colon, env, NULL);
        assert_true(tu_store_same(f->root, names[STORED_COLON], p[COLON]));
    }
    {   /* The command line wins: --port 1 has no server. */
        const char *ls[] = { "ls", "--port", "1", "backup:", NULL };
        const char *guess[] = { "ls", "--port", "1", "127.0.0.1:", NULL };

        assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 3);
        assert_null(strstr(err, "no remote"));
        /* A name the config file does not know, taken as a host: said. */
        assert_int_equal(tu_run_ft_env(guess, env, NULL, NULL, err, sizeof(err)), 3);
        assert_non_null(strstr(err, "'127.0.0.1' is no remote of the config file"));
    }
    {   /* The token came from the config: without the remote, none. */
        const char *ls[] = { "ls", "-p", f->served.portstr, NULL };

        assert_int_not_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)),
                             0);
        assert_non_null(strstr(err, "token"));
    }
    {   /* The host form, the same server. */
        const char *ls[] = { "ls", "-p", f->served.portstr, "--token-file",
                             p[TOKEN], "127.0.0.1:", NULL };

        run_ok(ls, env, NULL);
    }
    {   /* Usage errors, exit code 2: users, two servers, a broken config. */
        const char *user[] = { "ls", "me@backup:", NULL };
        const char *two[] = { "mv", "backup:a", "other:b", NULL };
        const char *top[] = { "ls", "backup:", NULL };

        assert_int_equal(tu_run_ft_env(user, env, NULL, NULL, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "no user names"));
        assert_int_equal(tu_run_ft_env(two, env, NULL, NULL, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "one command talks to one server"));
        tu_write_bytes(p[CONFIG], "remote backup\n  prot 1\n", 23);
        assert_int_equal(tu_run_ft_env(top, env, NULL, NULL, err, sizeof(err)), 2);
        assert_non_null(strstr(err, ":2: unknown key 'prot'"));
    }
    for (int i = 0; i < STORED; i++)
        free(p[i]);
}

/* The known-hosts file rewritten: the other lines kept, its mode kept, a
 * link refused, nothing written when nothing is forgotten. */
static void test_known_hosts_rewritten(void **state)
{
    struct tu_fixture *f = *state;
    char *file = tu_path(f->work, "known_hosts");
    char *link = tu_path(f->work, "link");
    static const char before[] =
        "a.example.org 7000 " FP_A "\n"
        "a.example.org 7001 " FP_A "\n"
        "a.example.org.evil 7000 " FP_B "\n"
        "::1 7000 " FP_A "\n"
        "b 7000 " FP_B; /* no newline at the end */
    char text[1024] = "", err[512];
    size_t removed;
    struct stat sb, sb2;
    FILE *in;

    tu_write_bytes(file, before, strlen(before));
    assert_int_equal(chmod(file, 0640), 0);
    assert_int_equal(ft_keys_set_known_host(file, "a.example.org", 7000, NULL,
                                            &removed, err, sizeof(err)), FT_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(ft_keys_set_known_host(file, "::1", 7000, FP_B, &removed, err,
                                            sizeof(err)), FT_OK);
    assert_int_equal(removed, 1);
    in = fopen(file, "r");
    assert_non_null(in);
    assert_int_equal(fread(text, 1, sizeof(text) - 1, in) > 0, 1);
    fclose(in);
    assert_string_equal(text, "a.example.org 7001 " FP_A "\n"
                              "a.example.org.evil 7000 " FP_B "\n"
                              "b 7000 " FP_B "\n"
                              "::1 7000 " FP_B "\n");
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    /* Every port of a host. */
    assert_int_equal(ft_keys_set_known_host(file, "a.example.org", FT_KEYS_ANY_PORT,
                                            NULL, &removed, err, sizeof(err)), FT_OK);
    assert_int_equal(removed, 1);
    /* Nothing to forget: the very same file. */
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(ft_keys_set_known_host(file, "nothere", 7000, NULL, &removed,
                                            err, sizeof(err)), FT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(stat(file, &sb2), 0);
    assert_int_equal(sb.st_ino, sb2.st_ino);
    /* A trust without a port, or with no fingerprint, is refused. */
    assert_int_equal(ft_keys_set_known_host(file, "b", FT_KEYS_ANY_PORT, FP_A,
                                            &removed, err, sizeof(err)), FT_ERR_USAGE);
    assert_int_equal(ft_keys_set_known_host(file, "b", 7000, "b2:x", &removed, err,
                                            sizeof(err)), FT_ERR_USAGE);
    /* A link is never followed: what it points to stays as it is. */
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(ft_keys_set_known_host(link, "b", 7000, NULL, &removed, err,
                                            sizeof(err)), FT_ERR_DENIED);
    assert_non_null(strstr(err, "symbolic link"));
    assert_int_equal(stat(file, &sb2), 0);
    assert_int_equal(sb.st_ino, sb2.st_ino);
    /* No file yet: trust makes it, mode 0600. */
    assert_int_equal(unlink(file), 0);
    assert_int_equal(ft_keys_set_known_host(file, "b", 7000, FP_A, &removed, err,
                                            sizeof(err)), FT_OK);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(tu_count_entries(f->work), 2); /* no temporary left */
    free(file);
    free(link);
}

/* ft trust and ft forget against a real server: a replaced pin refuses
 * the server and names the command; forgotten, the next connection pins
 * the server's key again. */
static void test_forget_and_trust(void **state)
{
    struct tu_fixture *f = *state;
    const char *port = f->server.portstr;
    char target[64], xdg[1100], err[4096], pins[1100], real_fp[FT_FINGERPRINT_MAX];
    const char *env[] = { xdg, NULL };
    const char *ls[] = { "ls", "-p", port, NULL };
    struct ft_client *c = tu_connect(f->server.port, NULL);

    snprintf(real_fp, sizeof(real_fp), "%s", ft_client_server_key(c));
    ft_client_close(c);
    snprintf(target, sizeof(target), "127.0.0.1:%s", port);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", f->config);
    snprintf(pins, sizeof(pins), "%s/ft/known_hosts", f->config);
    assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "pinned its key"));
    {
        const char *trust[] = { "trust", target, FP_A, NULL };

        run_ok(trust, env, NULL);
        assert_int_not_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "THE SERVER'S KEY HAS CHANGED"));
        assert_non_null(strstr(err, "ft forget 127.0.0.1:"));
        assert_non_null(strstr(err, "ft trust 127.0.0.1:"));
    }
    {
        const char *forget[] = { "forget", target, NULL };

        run_ok(forget, env, NULL);
        assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "first connection"));
        assert_non_null(strstr(err, real_fp));
    }
    {   /* Trusted by hand: no first-use pin then. */
        const char *forget[] = { "forget", "127.0.0.1", NULL };
        const char *trust[] = { "trust", target, real_fp, NULL };

        run_ok(forget, env, NULL);
        run_ok(trust, env, NULL);
        assert_int_equal(tu_run_ft_env(ls, env, NULL, NULL, err, sizeof(err)), 0);
        assert_null(strstr(err, "first connection"));
    }
    {   /* A named remote's host and port. */
        char config[1100], text[256], config_env[1200];
        const char *env2[] = { xdg, config_env, NULL };
        const char *forget[] = { "forget", "here", NULL };
        const char *bad[] = { "trust", target, "b2:nope", NULL };

        snprintf(config, sizeof(config), "%s/ft/config", f->config);
        snprintf(text, sizeof(text), "remote here\n host 127.0.0.1\n port %s\n", port);
        tu_write_bytes(config, text, strlen(text));
        assert_int_equal(chmod(config, 0644), 0);
        snprintf(config_env, sizeof(config_env), "FT_CONFIG=%s", config);
        assert_int_equal(tu_run_ft_env(forget, env2, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(tu_file_size(pins), 0);
        assert_int_equal(tu_run_ft_env(bad, env2, NULL, NULL, err, sizeof(err)), 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_each_key),
        cmocka_unit_test(test_config_errors_name_their_line),
        TU_TEST_FIXTURE(test_config_file),
        cmocka_unit_test(test_operand_split),
        cmocka_unit_test(test_operands_of_a_command),
        TU_TEST_FIXTURE(test_what_wins),
        TU_TEST_FIXTURE(test_named_remote_on_a_server),
        TU_TEST_FIXTURE(test_known_hosts_rewritten),
        TU_TEST_SERVER(test_forget_and_trust),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
