/* fuzz_server.c - a client's byte stream, as hostile as the fuzzer makes
 * it, fed to the server's handling of one connection. The server must
 * answer or hang up cleanly: no crash, no hang, no leak, nothing outside
 * its root touched. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ft/server.h"
#include "fuzz_io.h"

static struct ft_server *server;
static char root[] = "/tmp/ft-fuzz-server.XXXXXX";

static void quiet(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

/* Uploads from earlier inputs would pile up: start each input afresh. */
static void empty_root(void)
{
    DIR *d = opendir(root);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") != 0 &&
                                     strcmp(de->d_name, "..") != 0 &&
                                     strcmp(de->d_name, ".ft") != 0))
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

static void stop_server(void)
{
    ft_server_free(server);
    fuzz_remove_tree(root);
}

static void start_server(void)
{
    struct ft_server_config cfg = { 0 };
    char err[256];

    if (mkdtemp(root) == NULL)
        abort();
    cfg.root = root;
    cfg.max_file_size = 1 << 20;
    cfg.idle_timeout_ms = 2000;
    cfg.handshake_timeout_ms = 2000;
    cfg.log = quiet;
    /* Past the handshake only in plaintext can the fuzzer reach the
     * request handlers; fuzz_handshake covers the encrypted channel. */
    cfg.allow_plaintext = true;
    /* Opened, not listening: the input comes over a socketpair. */
    if (ft_server_open(&server, &cfg, err, sizeof(err)) != FT_OK) {
        fprintf(stderr, "fuzz_server: %s\n", err);
        abort();
    }
    atexit(stop_server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];

    if (server == NULL)
        start_server();
    if (fuzz_socketpair_with_input(sv, data, size) != 0)
        return 0;
    /* Serves until the stream ends; closes sv[1]. */
    ft_server_serve_fd(server, sv[1], "fuzz");
    close(sv[0]);
    empty_root();
    return 0;
}
