/* cli_config.c - the client's config file, which names remotes. */
#define _GNU_SOURCE
#include "cli_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* The longest line read: a path and its key, with room to spare. */
#define LINE_MAX_BYTES (CLI_CONFIG_PATH_MAX + 128)

struct parser {
    const char *file;
    const char *home;
    unsigned line;
    struct cli_config *out;
    struct cli_remote *cur; /* the remote the lines below its "remote" fill */
    unsigned seen;          /* the keys cur has had, one bit each */
    char *errbuf;
    size_t errlen;
};

/* Tells what is wrong with the current line, as "FILE:LINE: why". */
__attribute__((format(printf, 2, 3)))
static enum ft_err bad(struct parser *p, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(p->errbuf, p->errlen, "%s:%u: %s", p->file, p->line, why);
    return FT_ERR_USAGE;
}

/* Copies a value into a field of cap bytes, refusing one that is too long. */
static enum ft_err copy_value(struct parser *p, const char *key, char *field,
                              size_t cap, const char *value)
{
    if (strlen(value) >= cap)
        return bad(p, "%s is too long (at most %zu bytes)", key, cap - 1);
    memcpy(field, value, strlen(value) + 1);
    return FT_OK;
}

static bool one_word(const char *value)
{
    return strpbrk(value, " \t") == NULL;
}

static enum ft_err set_host(struct parser *p, const char *value)
{
    size_t n = strlen(value);
    const char *colon = strchr(value, ':');

    if (!one_word(value))
        return bad(p, "host is one word, not '%s'", value);
    if (strchr(value, '@') != NULL)
        return bad(p, "ft has no user names ('%s'): the server knows a client "
                   "by its key; write the host alone", value);
    if (value[0] == '[' && value[n - 1] == ']') { /* [::1], as on the command line */
        value++;
        n -= 2;
    }
    if (n == 0 || strcspn(value, "[]/") < n)
        return bad(p, "host needs a name or an address, not '%s'", value);
    if (colon != NULL && strchr(colon + 1, ':') == NULL)
        return bad(p, "host is a name or an address alone: write the port on a "
                   "line of its own ('port N')");
    if (n >= CLI_HOST_MAX)
        return bad(p, "host is too long (at most %d bytes)", CLI_HOST_MAX - 1);
    memcpy(p->cur->host, value, n);
    p->cur->host[n] = '\0';
    return FT_OK;
}

static enum ft_err set_port(struct parser *p, const char *value)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' || v == 0 ||
        v > 65535)
        return bad(p, "port needs a port number (1 to 65535), not '%s'", value);
    p->cur->port = (uint16_t)v;
    return FT_OK;
}

static enum ft_err set_server_key(struct parser *p, const char *value)
{
    if (!ft_keys_fingerprint_valid(value))
        return bad(p, "server-key needs a fingerprint as ft prints it ('b2:' and "
                   "43 characters), not '%s'", value);
    return copy_value(p, "server-key", p->cur->server_key,
                      sizeof(p->cur->server_key), value);
}

/* A path: absolute, or from the home folder ("~/..."); a relative path
 * would depend on where ft happens to run. */
static enum ft_err set_path(struct parser *p, const char *key, char *field,
                            const char *value)
{
    char joined[CLI_CONFIG_PATH_MAX + 1];

    if (value[0] == '~' && value[1] != '\0' && value[1] != '/')
        return bad(p, "%s: '~user' is not understood: write the whole path", key);
    if (value[0] == '~' && (p->home == NULL || p->home[0] != '/'))
        return bad(p, "%s: '~' needs HOME set to a full path", key);
    if (value[0] != '~' && value[0] != '/')
        return bad(p, "%s needs a full path or one from '~/', not '%s'", key, value);
    if (value[0] == '~') {
        if ((size_t)snprintf(joined, sizeof(joined), "%s%s", p->home, value + 1) >=
            sizeof(joined))
            return bad(p, "%s is too long (at most %d bytes)", key,
                       CLI_CONFIG_PATH_MAX - 1);
        value = joined;
    }
    return copy_value(p, key, field, CLI_CONFIG_PATH_MAX, value);
}

static enum ft_err set_identity(struct parser *p, const char *value)
{
    return set_path(p, "identity", p->cur->identity, value);
}

static enum ft_err set_token_file(struct parser *p, const char *value)
{
    return set_path(p, "token-file", p->cur->token_file, value);
}

static enum ft_err begin_remote(struct parser *p, const char *value)
{
    struct cli_config *c = p->out;
    const struct cli_remote *twin = cli_config_find(c, value);
    struct cli_remote *grown;

    if (value[strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789._-")] != '\0' ||
        strlen(value) >= CLI_REMOTE_NAME_MAX)
        return bad(p, "a remote's name is letters, digits, '.', '_' and '-' (at "
                   "most %d), not '%s'", CLI_REMOTE_NAME_MAX - 1, value);
    if (twin != NULL)
        return bad(p, "remote '%s' is named twice (first on line %u)", value,
                   twin->line);
    if (c->n == CLI_CONFIG_REMOTES_MAX)
        return bad(p, "more than %d remotes", CLI_CONFIG_REMOTES_MAX);
    /* Grown by doubling at powers of two. */
    if ((c->n & (c->n - 1)) == 0) {
        grown = realloc(c->remotes, (c->n ? 2 * c->n : 1) * sizeof(*grown));
        if (grown == NULL)
            return FT_ERR_NOMEM;
        c->remotes = grown;
    }
    p->cur = &c->remotes[c->n++];
    memset(p->cur, 0, sizeof(*p->cur));
    memcpy(p->cur->name, value, strlen(value) + 1);
    p->cur->line = p->line;
    p->seen = 0;
    return FT_OK;
}

static const struct {
    const char *key;
    enum ft_err (*set)(struct parser *p, const char *value);
    bool path; /* may hold spaces */
} keys[] = {
    { "remote", begin_remote, false },
    { "host", set_host, false },
    { "port", set_port, false },
    { "identity", set_identity, true },
    { "token-file", set_token_file, true },
    { "server-key", set_server_key, false },
};

/* One line, NUL-terminated, its comment and its line end still on it. */
static enum ft_err parse_line(struct parser *p, char *line)
{
    char *key, *value, *end;
    size_t i, keylen;

    for (end = line; *end != '\0'; end++) {
        if (*end == '#' && (end == line || end[-1] == ' ' || end[-1] == '\t'))
            break;
    }
    while (end > line && strchr(" \t\r\n", end[-1]) != NULL)
        end--;
    *end = '\0';
    key = line + strspn(line, " \t");
    if (*key == '\0')
        return FT_OK;
    keylen = strcspn(key, " \t");
    value = key + keylen + strspn(key + keylen, " \t");
    key[keylen] = '\0';
    for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        if (strcasecmp(key, keys[i].key) == 0)
            break;
    }
    if (i == sizeof(keys) / sizeof(*keys))
        return bad(p, "unknown key '%s' (known: remote, host, port, identity, "
                   "token-file, server-key)", key);
    if (*value == '\0')
        return bad(p, "%s needs a value", keys[i].key);
    if (!keys[i].path && !one_word(value))
        return bad(p, "%s takes one word, not '%s'", keys[i].key, value);
    if (i > 0 && p->cur == NULL)
        return bad(p, "%s must come below a 'remote NAME' line", keys[i].key);
    if (i > 0 && (p->seen & (1u << i)))
        return bad(p, "%s is given twice for remote '%s'", keys[i].key,
                   p->cur->name);
    p->seen |= 1u << i;
    return keys[i].set(p, value);
}

enum ft_err cli_config_parse(const char *text, size_t len, const char *file,
                             const char *home, struct cli_config *out,
                             char *errbuf, size_t errlen)
{
    struct parser p = { file, home, 0, out, NULL, 0, errbuf, errlen };
    char line[LINE_MAX_BYTES];
    enum ft_err err = FT_OK;
    size_t at = 0;

    memset(out, 0, sizeof(*out));
    while (err == FT_OK && at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (text + at)) : len - at;

        p.line++;
        if (n >= sizeof(line))
            err = bad(&p, "the line is too long (at most %zu bytes)", sizeof(line) - 1);
        else if (memchr(text + at, '\0', n) != NULL)
            err = bad(&p, "a NUL byte: this is not a text file");
        else {
            memcpy(line, text + at, n);
            line[n] = '\0';
            err = parse_line(&p, line);
        }
        at += n + 1;
    }
    return err;
}

enum ft_err cli_config_load(const char *path, bool missing_ok,
                            struct cli_config *out, char *errbuf, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    struct stat sb;
    enum ft_err err = FT_ERR_IO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    memset(out, 0, sizeof(*out));
    if (fd < 0 && errno == ENOENT && missing_ok)
        return FT_OK;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)CLI_CONFIG_FILE_MAX) {
        snprintf(errbuf, errlen, "%s: not a regular file of at most %u bytes", path,
                 CLI_CONFIG_FILE_MAX);
        goto out;
    }
    if (sb.st_mode & 022) {
        snprintf(errbuf, errlen, "%s: permissions %03o let other users change where "
                 "ft connects (chmod 644 %s)", path, (unsigned)(sb.st_mode & 0777),
                 path);
        err = FT_ERR_DENIED;
        goto out;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (text == NULL) {
        err = FT_ERR_NOMEM;
        goto out;
    }
    err = ft_io_read_full(fd, text, (size_t)sb.st_size, FT_IO_NO_DEADLINE, &len);
    if (err != FT_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    err = cli_config_parse(text, len, path, getenv("HOME"), out, errbuf, errlen);
out:
    free(text);
    if (fd >= 0)
        close(fd);
    return err;
}

const struct cli_remote *cli_config_find(const struct cli_config *c,
                                         const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->remotes[i].name, name) == 0)
            return &c->remotes[i];
    }
    return NULL;
}

void cli_config_free(struct cli_config *c)
{
    free(c->remotes);
    c->remotes = NULL;
    c->n = 0;
}

char *cli_config_path(bool *is_default)
{
    const char *env = getenv("FT_CONFIG");

    *is_default = env == NULL || env[0] == '\0';
    return *is_default ? ft_keys_config_file("config") : strdup(env);
}
