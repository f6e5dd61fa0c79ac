/* server_admit.c - which clients may use the server, and their rights. */
#include "server_int.h"

#include <string.h>

enum ft_err ft_server_admit(struct session *s)
{
    memset(&s->rights, 0, sizeof(s->rights));
    s->rights.allow = FT_ALLOW_ALL;
    s->rights.quota_bytes = FT_UNLIMITED;
    s->rights.quota_files = FT_UNLIMITED;
    return FT_OK;
}
