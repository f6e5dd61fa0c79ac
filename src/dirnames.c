/* dirnames.c - a folder's names in byte order. */
#include "dirnames.h"

#include <stdlib.h>
#include <string.h>

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum ft_err ft_dir_names(DIR *d, char ***out, size_t *n)
{
    char **names = NULL, **grown;
    size_t cap = 0;
    struct dirent *de;

    *n = 0;
    *out = NULL;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            if ((grown = realloc(names, cap * sizeof(*names))) == NULL)
                goto nomem;
            names = grown;
        }
        if ((names[*n] = strdup(de->d_name)) == NULL)
            goto nomem;
        (*n)++;
    }
    if (*n > 1)
        qsort(names, *n, sizeof(*names), name_cmp);
    *out = names;
    return FT_OK;
nomem:
    ft_dir_names_free(names, *n);
    *n = 0;
    return FT_ERR_NOMEM;
}

void ft_dir_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
