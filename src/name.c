/* name.c - the rules for names, shared by client and store. */
#include "name.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* One component, between slashes. */
static bool component_ok(const unsigned char *p, size_t len)
{
    if (len == 0 || len > FT_NAME_MAX)
        return false;
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
        /* U+0080..U+009F in UTF-8: C1 controls, which terminals obey too. */
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

/* The rules; at_top: name starts at the top of the store, where its first
 * component must not be the metadata folder. */
static enum ft_err check(const unsigned char *p, size_t len, bool at_top)
{
    size_t start = 0;
    size_t depth = 0;

    if (len == 0 || len > FT_PATH_MAX)
        return FT_ERR_BAD_NAME;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        if (!component_ok(p + start, i - start) || ++depth > FT_PATH_DEPTH_MAX)
            return FT_ERR_BAD_NAME;
        if (at_top && depth == 1 && i - start == strlen(FT_NAME_RESERVED) &&
            memcmp(p, FT_NAME_RESERVED, i - start) == 0)
            return FT_ERR_BAD_NAME;
        start = i + 1;
    }
    return FT_OK;
}

enum ft_err ft_name_check(const void *name, size_t len)
{
    return check(name, len, true);
}

enum ft_err ft_name_check_below(const void *name, size_t len)
{
    return check(name, len, false);
}

void ft_name_quote(const void *name, size_t len, char *out, size_t cap)
{
    const unsigned char *p = name;
    size_t o = 0;

    /* Invariant: o + 4 <= cap, room for "..." and the terminator. */
    for (size_t i = 0; i < len; i++) {
        bool plain = p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\';
        size_t need = plain ? 1 : 4;

        if (o + need + 4 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain)
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02x", p[i]);
    }
    out[o] = '\0';
}
