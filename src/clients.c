/* clients.c - the clients file: who may use a server, from where, until
 * when, and with which rights. */
#include "clients.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BASE64_LEN 44
#define KIND_LEN (sizeof(FT_CLIENT_KEY_KIND) - 1)

_Static_assert(FT_CLIENT_KEY_TEXT_MAX == KIND_LEN + 1 + KEY_BASE64_LEN + 1,
               "the key's text: kind, space, base64, NUL");

void ft_clients_format_key(const uint8_t key[32], char out[FT_CLIENT_KEY_TEXT_MAX])
{
    memcpy(out, FT_CLIENT_KEY_KIND " ", KIND_LEN + 1);
    sodium_bin2base64(out + KIND_LEN + 1, KEY_BASE64_LEN + 1, key, 32,
                      sodium_base64_VARIANT_ORIGINAL);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum ft_err ft_clients_parse_key(const char *text, size_t len, uint8_t key[32])
{
    uint8_t bin[32];
    size_t i = KIND_LEN, binlen = 0;
    const char *end = NULL;

    if (len < KIND_LEN + 1 || memcmp(text, FT_CLIENT_KEY_KIND, KIND_LEN) != 0 ||
        !is_blank(text[KIND_LEN]))
        return FT_ERR_USAGE;
    while (i < len && is_blank(text[i]))
        i++;
    /* libsodium refuses non-canonical base64 (bits left over that are not
     * zero), so each key has one text only, as lookups by text expect. */
    if (len - i != KEY_BASE64_LEN ||
        sodium_base642bin(bin, sizeof(bin), text + i, len - i, NULL, &binlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != sizeof(bin) || end != text + len)
        return FT_ERR_USAGE;
    memcpy(key, bin, sizeof(bin));
    return FT_OK;
}

enum ft_err ft_parse_size(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] < '0' || text[0] > '9')
        return FT_ERR_USAGE;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return FT_ERR_USAGE;
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return FT_ERR_USAGE;
    *out = (uint64_t)v << shift;
    return FT_OK;
}

static const struct {
    const char *name;
    unsigned bit;
} allow_names[] = {
    { "list", FT_ALLOW_LIST },
    { "read", FT_ALLOW_READ },
    { "write", FT_ALLOW_WRITE },
    { "delete", FT_ALLOW_DELETE },
};

enum ft_err ft_clients_parse_allow(const char *text, size_t len, unsigned *allow)
{
    unsigned got = 0;
    size_t i = 0;

    if (len == 0)
        return FT_ERR_USAGE;
    if (len == 4 && memcmp(text, "none", 4) == 0) {
        *allow = 0;
        return FT_OK;
    }
    while (i < len) {
        size_t n = 0;
        unsigned bit = 0;

        while (i + n < len && text[i + n] != ',')
            n++;
        for (size_t k = 0; k < sizeof(allow_names) / sizeof(*allow_names); k++) {
            if (strlen(allow_names[k].name) == n &&
                memcmp(allow_names[k].name, text + i, n) == 0)
                bit = allow_names[k].bit;
        }
        if (bit == 0 || (got & bit) != 0)
            return FT_ERR_USAGE;
        got |= bit;
        i += n;
        if (i < len && ++i == len) /* a comma that ends the list */
            return FT_ERR_USAGE;
    }
    *allow = got;
    return FT_OK;
}
