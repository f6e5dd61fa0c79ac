/* error.c - messages for enum ft_err. */
#include "ft/error.h"

/* A switch rather than a table: with -Wall the compiler names any enum value
 * the switch misses, and codes read off the wire that are not in the enum
 * still get a message. */
const char *ft_strerror(enum ft_err err)
{
    switch (err) {
#define FT_ERR_CASE(name, num, msg) \
    case FT_ERR_##name:             \
        return msg;
        FT_ERR_MAP(FT_ERR_CASE)
#undef FT_ERR_CASE
    }
    return "unknown error";
}

const char *ft_err_name(enum ft_err err)
{
    switch (err) {
#define FT_ERR_CASE(name, num, msg) \
    case FT_ERR_##name:             \
        return #name;
        FT_ERR_MAP(FT_ERR_CASE)
#undef FT_ERR_CASE
    }
    return "UNKNOWN";
}
