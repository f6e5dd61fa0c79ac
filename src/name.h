/* name.h - what a file name on the wire may be. */
#ifndef FT_NAME_H
#define FT_NAME_H

#include <stddef.h>

#include "ft/error.h"

/* Longest component of a name in bytes, as most file systems allow. */
#define FT_NAME_MAX 255
/* Longest name, folders included ("a/b/c.txt"), and the deepest nesting. */
#define FT_PATH_MAX 1024
#define FT_PATH_DEPTH_MAX 64
/* The server's hidden metadata folder at the root of its store; below the
 * root, an ordinary name. */
#define FT_NAME_RESERVED ".ft"

/* FT_OK if name (len bytes, not NUL-terminated) is acceptable: at most
 * FT_PATH_MAX bytes of components joined by single '/' (no leading or
 * trailing '/'), each 1 to FT_NAME_MAX bytes with no NUL or other control
 * character and not "." or "..", at most FT_PATH_DEPTH_MAX deep, the first
 * not the reserved metadata folder. FT_ERR_BAD_NAME otherwise. */
enum ft_err ft_name_check(const void *name, size_t len);
/* The same for a name relative to a folder below the top, as a listing of
 * that folder gives it: there ".ft" is an ordinary name, first or not. */
enum ft_err ft_name_check_below(const void *name, size_t len);

/* Writes name into out (cap bytes) for a message to a person: printable
 * bytes as they are, others as \xNN, cut with "..." when too long. cap must be at
 * least 8. */
void ft_name_quote(const void *name, size_t len, char *out, size_t cap);

#endif
