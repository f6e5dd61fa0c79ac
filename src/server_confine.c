/* server_confine.c - what a listening server may still touch once it
 * confines itself: its root, its clients file, its port. */
#define _GNU_SOURCE
#include "server_int.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "store.h"

static bool same_folder(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The TCP port of an S3 endpoint's URL: the one it may connect to. */
static uint16_t endpoint_port(const char *url)
{
    const char *host = strstr(url, "://");
    const char *end, *colon;
    bool tls = strncmp(url, "https:", 6) == 0;

    host = host != NULL ? host + 3 : url;
    end = host + strcspn(host, "/?#");
    if (*host == '[') { /* an IPv6 address: its port follows the ']' */
        const char *bracket = memchr(host, ']', (size_t)(end - host));

        host = bracket != NULL ? bracket : host;
    }
    colon = memchr(host, ':', (size_t)(end - host));
    if (colon != NULL) {
        long port = strtol(colon + 1, NULL, 10);

        if (port > 0 && port <= 65535)
            return (uint16_t)port;
    }
    return tls ? 443 : 80;
}

/* A store on S3 has no folder to allow, but a port to connect to, and
 * names to resolve and certificates to read (those of these that exist). */
static void allow_s3(struct ft_server *srv, struct ft_sandbox_rules *r, const char **ro,
                     uint16_t *connect)
{
    static const char *const reads[] = { "/etc/hosts", "/etc/resolv.conf",
                                         "/etc/nsswitch.conf", "/etc/ssl/certs",
                                         "/usr/share/ca-certificates" };

    connect[r->n_connect++] = endpoint_port(srv->cfg.s3_endpoint != NULL
                                                ? srv->cfg.s3_endpoint : "");
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        if (access(reads[i], R_OK) == 0)
            ro[r->n_ro++] = reads[i];
}

enum ft_err ft_server_confine(struct ft_server *srv, bool *confined,
                              char *report, size_t len)
{
    /* SIGHUP rereads the clients file, and an editor saves it by renaming
     * a new file over the old one: its folder stays readable, not the old
     * file alone; and the folder of the file it links to, if it is a
     * link. The key and token are read once, at start: not them. */
    char *clients_dir = NULL, *real = NULL;
    const char *ro[7];
    uint16_t ports[1], connect[1];
    struct ft_sandbox_rules r = {
        .root_fd = ft_store_root_fd(srv->store),
        .root_shown = srv->cfg.root,
        .root_read_only = srv->cfg.read_only,
        .ro_paths = ro,
        .bind_ports = ports,
        .connect_ports = connect,
    };
    enum ft_err err;

    *confined = false;
    if (srv->listen_fd < 0) {
        snprintf(report, len, "confined before it listens: it could not bind");
        return FT_ERR_USAGE;
    }
    ports[r.n_ports++] = srv->port;
    if (r.root_fd < 0)
        allow_s3(srv, &r, ro, connect);
    if (srv->cfg.clients_file != NULL) {
        clients_dir = strdup(srv->cfg.clients_file);
        real = realpath(srv->cfg.clients_file, NULL);
        if (clients_dir == NULL) {
            free(real);
            return FT_ERR_NOMEM;
        }
        const char *dir = dirname(clients_dir);

        ro[r.n_ro++] = dir;
        if (real != NULL) {
            const char *real_dir = dirname(real);

            if (!same_folder(dir, real_dir))
                ro[r.n_ro++] = real_dir;
        }
    }
    err = ft_sandbox_apply(&r, confined, report, len);
    free(clients_dir);
    free(real);
    return err;
}
