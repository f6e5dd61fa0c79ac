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

size_t ft_utf8_len(const void *s, size_t n)
{
    const unsigned char *p = s;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return len;
}

size_t ft_printable_len(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t len = ft_utf8_len(p, n);

    if (p[0] < 0x20 || p[0] == 0x7f || (p[0] == 0xc2 && len == 2 && p[1] <= 0x9f))
        return 0;
    return len;
}

/* The one quoting of names and text; name: backslash is escaped too. */
static void quote(const unsigned char *p, size_t len, char *out, size_t cap,
                  bool name)
{
    size_t o = 0, i = 0;

    /* Invariant: o + 4 <= cap, room for "..." and the terminator. */
    while (i < len) {
        size_t n = ft_printable_len(p + i, len - i);
        bool plain = n > 0 && !(name && p[i] == '\\');
        size_t need = plain ? n : 4;

        if (o + need + 4 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        } else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", p[i]);
            i++;
        }
    }
    out[o] = '\0';
}

void ft_name_quote(const void *name, size_t len, char *out, size_t cap)
{
    quote(name, len, out, cap, true);
}

void ft_text_quote(const void *text, size_t len, char *out, size_t cap)
{
    quote(text, len, out, cap, false);
}

void ft_json_quote(FILE *out, const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t i = 0;

    putc('"', out);
    while (i < n) {
        size_t len = ft_utf8_len(p + i, n - i);

        if (len == 0) {
            /* A byte that is not UTF-8 has no place in a JSON string: it
             * shows as what it is, replaced. */
            fputs("\\ufffd", out);
            i++;
        } else if (ft_printable_len(p + i, n - i) == 0) {
            /* A control character, C1 included: escaped, and lossless, as
             * it is valid UTF-8. */
            fprintf(out, "\\u%04x", p[i] == 0xc2 ? (unsigned)p[i + 1] : (unsigned)p[i]);
            i += len;
        } else if (p[i] == '"' || p[i] == '\\') {
            putc('\\', out);
            putc(p[i], out);
            i++;
        } else {
            fwrite(p + i, 1, len, out);
            i += len;
        }
    }
    putc('"', out);
}
