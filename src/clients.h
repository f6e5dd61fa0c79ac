/* clients.h - what one client may do on a server: the rights its line of
 * the clients file gives it (or a server without one gives everyone). */
#ifndef FT_CLIENTS_H
#define FT_CLIENTS_H

#include <stdint.h>

#include "name.h"

/* The rights of allow=: read is get and stat, write is put, mkdir and the
 * destination of a move, delete is rm and the source of a move, list ls. */
enum {
    FT_ALLOW_LIST = 1u << 0,
    FT_ALLOW_READ = 1u << 1,
    FT_ALLOW_WRITE = 1u << 2,
    FT_ALLOW_DELETE = 1u << 3,
    FT_ALLOW_ALL = 0xfu,
};

#define FT_CLIENT_NAME_MAX 64
#define FT_UNLIMITED UINT64_MAX

struct ft_client_rights {
    char name[FT_CLIENT_NAME_MAX + 1]; /* "": none, logs use the fingerprint */
    /* The folder of the store that is the client's whole world, as a name
     * without a trailing slash; "": the whole store. */
    char root[FT_PATH_MAX + 1];
    unsigned allow;       /* FT_ALLOW_* */
    uint64_t quota_bytes; /* under root, in-flight and kept uploads too; */
    uint64_t quota_files; /* FT_UNLIMITED: none */
    uint64_t rate;        /* bytes per second; 0: no cap of its own */
};

#endif
