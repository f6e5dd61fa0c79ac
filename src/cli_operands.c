/* cli_operands.c - operands in scp's form, REMOTE:PATH, and the remote
 * they name. */
#define _GNU_SOURCE
#include "cli_operands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What "backup:" names: the top of the store. */
static char top_folder[] = "/";

/* Sets op's remote to the len bytes at name. */
static enum ft_err set_remote(struct cli_operand *op, const char *text,
                              const char *name, size_t len, char *errbuf,
                              size_t errlen)
{
    if (memchr(name, '@', len) != NULL) {
        snprintf(errbuf, errlen, "'%s': ft has no user names; the server knows "
                 "a client by its key: write HOST:PATH or REMOTE:PATH (for a "
                 "local file, ./%s)", text, text);
        return FT_ERR_USAGE;
    }
    if (len >= sizeof(op->remote)) {
        snprintf(errbuf, errlen, "'%.40s...': the name of a remote or host is "
                 "at most %zu bytes", text, sizeof(op->remote) - 1);
        return FT_ERR_USAGE;
    }
    memcpy(op->remote, name, len);
    op->remote[len] = '\0';
    return FT_OK;
}

enum ft_err cli_operand_split(const char *text, struct cli_operand *op,
                              char *errbuf, size_t errlen)
{
    const char *colon = strchr(text, ':');
    const char *slash = strchr(text, '/');
    const char *close = text[0] == '[' ? strchr(text, ']') : NULL;

    memset(op, 0, sizeof(*op));
    op->path = text;
    if (close != NULL && close[1] == ':' && close > text + 1 &&
        memchr(text, '/', (size_t)(close - text)) == NULL) {
        op->bracketed = true;
        op->path = close + 2;
        return set_remote(op, text, text + 1, (size_t)(close - text - 1), errbuf,
                          errlen);
    }
    if (colon == NULL || colon == text || (slash != NULL && slash < colon))
        return FT_OK;
    op->path = colon + 1;
    return set_remote(op, text, text, (size_t)(colon - text), errbuf, errlen);
}

/* Whether operand i of n is a local file, as roles say. */
static bool is_local(enum cli_operand_roles roles, int i, int n)
{
    if (roles == CLI_OPERANDS_PUT)
        return n == 1 || i < n - 1;
    return roles == CLI_OPERANDS_GET && n >= 2 && i == n - 1;
}

static bool same_remote(const struct cli_operand *a, const struct cli_operand *b)
{
    return strcmp(a->remote, b->remote) == 0 && a->bracketed == b->bracketed;
}

enum ft_err cli_operands_take(char **ops, int n, enum cli_operand_roles roles,
                              struct cli_operand *which, char *errbuf,
                              size_t errlen)
{
    const char *first = NULL; /* the first operand on the server, as given */
    struct cli_operand op;

    memset(which, 0, sizeof(*which));
    which->index = -1;
    for (int i = 0; i < n; i++) {
        enum ft_err err = cli_operand_split(ops[i], &op, errbuf, errlen);

        if (err != FT_OK)
            return err;
        if (roles == CLI_OPERANDS_SYNC && (op.remote[0] == '\0' || first != NULL)) {
            if (op.remote[0] == '\0')
                continue;
            snprintf(errbuf, errlen, "'%s' and '%s' are both remote: one of SRC "
                     "and DST is local", first, ops[i]);
            return FT_ERR_USAGE;
        }
        if (is_local(roles, i, n)) {
            if (op.remote[0] == '\0')
                continue;
            snprintf(errbuf, errlen, "'%s' names the remote %s, where a local "
                     "file is due (ft put uploads, ft get downloads; a local "
                     "file whose name has a colon is written ./%s)", ops[i],
                     op.remote, ops[i]);
            return FT_ERR_USAGE;
        }
        if (first == NULL) {
            first = ops[i];
            *which = op;
            which->index = i;
        } else if (!same_remote(&op, which)) {
            snprintf(errbuf, errlen, "'%s' and '%s' are on %s and %s: one command "
                     "talks to one server", first, ops[i],
                     which->remote[0] ? which->remote : "--host's server",
                     op.remote[0] ? op.remote : "--host's server");
            return FT_ERR_USAGE;
        }
        ops[i] = op.path[0] != '\0' ? (char *)op.path
                 : op.remote[0] != '\0' ? top_folder : ops[i];
    }
    which->path = NULL; /* the last operand's, of no use to the caller */
    if (roles == CLI_OPERANDS_SYNC && n == 2 && first == NULL) {
        snprintf(errbuf, errlen, "one of SRC and DST must be REMOTE:PATH (HOST:PATH, "
                 "or a remote of the config file)");
        return FT_ERR_USAGE;
    }
    return FT_OK;
}

enum ft_err cli_remote_lookup(const struct cli_operand *which,
                              struct cli_remote *out, char *errbuf,
                              size_t errlen)
{
    struct cli_config config = { NULL, 0 };
    const struct cli_remote *found = NULL;
    bool is_default = true;
    char *path = NULL;
    enum ft_err err = FT_OK;

    memset(out, 0, sizeof(*out));
    if (!which->bracketed)
        path = cli_config_path(&is_default);
    if (path != NULL)
        err = cli_config_load(path, is_default, &config, errbuf, errlen);
    if (err != FT_OK)
        goto out;
    found = cli_config_find(&config, which->remote);
    if (found != NULL)
        *out = *found;
    /* A remote with no host line is reached at its name, as ssh's Host. */
    if (out->host[0] == '\0')
        snprintf(out->host, sizeof(out->host), "%s", which->remote);
out:
    cli_config_free(&config);
    free(path);
    return err;
}
