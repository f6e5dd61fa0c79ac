/* name.h - what a file name on the wire may be. */
#ifndef FT_NAME_H
#define FT_NAME_H

#include <stddef.h>
#include <stdio.h>

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

/* Length of the well-formed UTF-8 sequence at s (n > 0 bytes left), 0
 * when there is none: no overlong forms, no surrogates, nothing above
 * U+10FFFF (RFC 3629). */
size_t ft_utf8_len(const void *s, size_t n);

/* Length of the character at s (n > 0 bytes left) when a terminal may be
 * given it as it is: well-formed UTF-8 and no control (C0, DEL, or C1
 * U+0080..U+009F, which terminals obey too). 0 when the byte at s must be
 * escaped: a control, or a byte that is not part of UTF-8 (a raw 0x9b is
 * CSI to a terminal in an 8-bit mode). */
size_t ft_printable_len(const void *s, size_t n);

/* Writes name into out (cap bytes) for a message to a person or a log:
 * printable characters as they are, each other byte (controls, bytes that
 * are not UTF-8, and backslash, so that the quote reads one way only) as
 * \xNN; cut between characters with "..." when too long. cap must be at
 * least 8. Every name either side prints goes through here. */
void ft_name_quote(const void *name, size_t len, char *out, size_t cap);

/* Writes the JSON string literal of s[0..n) to out: '"', '\\' and the
 * controls (C0, DEL, C1, as \uXXXX) escaped, a byte that is not UTF-8 as
 * \ufffd. */
void ft_json_quote(FILE *out, const void *s, size_t n);

/* The same for a line of text that may hold names already quoted (a
 * message, a peer's error text): backslashes stay as they are. */
void ft_text_quote(const void *text, size_t len, char *out, size_t cap);

#endif
