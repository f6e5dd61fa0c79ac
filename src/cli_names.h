/* cli_names.h - the names on a command line, and where a copy or a move
 * of one goes. */
#ifndef FT_CLI_NAMES_H
#define FT_CLI_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "ft/ft.h"

/* A remote name written from the top of the store, as people write it
 * (and as a client whose root= is its world sees it): "/docs/a" and
 * "./docs/a" are "docs/a". The top itself ("/", ".", "./") is left as it
 * is, for the commands that take it. Returns a pointer into name. */
const char *cli_below_top(const char *name);

/* Drops the slashes that end remote names on the command line ("docs/"),
 * which ls prints for folders: the server's names have none; and takes
 * each from the top (cli_below_top). */
void cli_trim_remote_names(char **names, int n);

/* Whether a name given on the command line ends in '/'. */
bool cli_ends_in_slash(const char *name);

/* The last component of a path, ignoring trailing slashes ("a/b/" -> "b"),
 * into buf. Returns buf. */
const char *cli_last_component(const char *path, char *buf, size_t cap);

/* Where something whose last component is leaf goes: dest itself, or with
 * into the leaf inside dest; without dest, the leaf alone. NULL when out
 * of memory; free() it. */
char *cli_target_of(const char *dest, bool into, const char *leaf);

/* Whether remote names a folder on the server. */
bool cli_remote_is_folder(struct ft_client *c, const char *remote);

#endif
