/* server_confine.c - what a listening server may still touch once it
 * confines itself: its root, its clients file, its port. */
#define _GNU_SOURCE
#include "server_int.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sandbox.h"
#include "store.h"

static bool same_folder(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

enum ft_err ft_server_confine(struct ft_server *srv, bool *confined,
                              char *report, size_t len)
{
    /* SIGHUP rereads the clients file, and an editor saves it by renaming
     * a new file over the old one: its folder stays readable, not the old
     * file alone; and the folder of the file it links to, if it is a
     * link. The key and token are read once, at start: not them. */
    char *clients_dir = NULL, *real = NULL;
    const char *ro[2];
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
        real = realpath(srv->cfg.clients_file, NULL);
        if (clients_dir == NULL) {
            free(real);
            return FT_ERR_NOMEM;
        }
        ro[r.n_ro++] = dirname(clients_dir);
        if (real != NULL) {
            const char *real_dir = dirname(real);

            if (!same_folder(ro[0], real_dir))
                ro[r.n_ro++] = real_dir;
        }
    }
    err = ft_sandbox_apply(&r, confined, report, len);
    free(clients_dir);
    free(real);
    return err;
}
