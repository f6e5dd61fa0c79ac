/* dirnames.h - a folder's names in byte order.
 *
 * A tree walked folder by folder in this order comes out in ft sync's
 * order ('/' first: "a", "a/x", "a.b"), so neither the listing server nor
 * the syncing client sorts (or copies) a whole tree's list. */
#ifndef FT_DIRNAMES_H
#define FT_DIRNAMES_H

#include <dirent.h>
#include <stddef.h>

#include "ft/error.h"

/* The names in the folder d but "." and "..", each allocated, in byte
 * order, *n of them; FT_ERR_NOMEM when out of memory (nothing is kept). */
enum ft_err ft_dir_names(DIR *d, char ***out, size_t *n);
/* Frees what ft_dir_names returned. */
void ft_dir_names_free(char **names, size_t n);

#endif
