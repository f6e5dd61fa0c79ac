/* server_confine.c - what a listening server may still touch once it
 * confines itself: its root, its clients file, its port. */
#define _GNU_SOURCE
#include "server_int.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "store.h"

enum ft_err ft_server_confine(struct ft_server *srv, bool *confined,
                              char *report, size_t len)
{
    /* SIGHUP rereads the clients file, and an editor saves it by renaming
     * a new file over the old one: its folder stays readable, not the old
     * file alone. The key and token are read once, at start: not them. */
    char *clients_dir = NULL;
    const char *ro[1];
    uint16_t ports[1];
    struct ft_sandbox_rules r = {
        .root_fd = ft_store_root_fd(srv->store),
        .root_shown = srv->cfg.root,
        .root_read_only = srv->cfg.read_only,
        .ro_paths = ro,
        .bind_ports = ports,
    };
    enum ft_err err;

    *confined = false;
    if (srv->listen_fd < 0) {
        snprintf(report, len, "confined before it listens: it could not bind");
        return FT_ERR_USAGE;
    }
    ports[r.n_ports++] = srv->port;
    if (srv->cfg.clients_file != NULL) {
        clients_dir = strdup(srv->cfg.clients_file);
        if (clients_dir == NULL)
            return FT_ERR_NOMEM;
        ro[r.n_ro++] = dirname(clients_dir);
    }
    err = ft_sandbox_apply(&r, confined, report, len);
    free(clients_dir);
    return err;
}
