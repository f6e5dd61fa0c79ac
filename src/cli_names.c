/* cli_names.c - the names on a command line, and where a copy or a move
 * of one goes (as cp, scp and mv decide it). */
#define _GNU_SOURCE
#include "cli_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_below_top(const char *name)
{
    const char *p = name;

    for (;;) {
        if (p[0] == '/')
            p++;
        else if (p[0] == '.' && p[1] == '/')
            p += 2;
        else
            break;
    }
    return p[0] == '\0' ? name : p;
}

void cli_trim_remote_names(char **names, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);

        while (len > 1 && names[i][len - 1] == '/')
            names[i][--len] = '\0';
        names[i] = (char *)cli_below_top(names[i]);
    }
}

bool cli_ends_in_slash(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && name[n - 1] == '/';
}

const char *cli_last_component(const char *path, char *buf, size_t cap)
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

char *cli_target_of(const char *dest, bool into, const char *leaf)
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

bool cli_remote_is_folder(struct ft_client *c, const char *remote)
{
    struct ft_stat st;

    return ft_client_stat_quick(c, remote, &st) == FT_OK && st.is_dir;
}
