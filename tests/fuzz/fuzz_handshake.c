/* fuzz_handshake.c - a client's byte stream against the server's encrypted
 * channel: HELLO, the Noise handshake, then sealed frames. The first byte
 * picks a server without a token (XX) or with one (XXpsk3). Every path must
 * end in a clean refusal: a forged or garbled handshake never gets a
 * request served, never crashes, never hangs. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ft/server.h"
#include "fuzz_io.h"

static struct ft_server *servers[2];
static char roots[2][32] = { "/tmp/ft-fuzz-hs0.XXXXXX", "/tmp/ft-fuzz-hs1.XXXXXX" };
static const uint8_t fuzz_token[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void quiet(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

static void stop_servers(void)
{
    for (int i = 0; i < 2; i++) {
        ft_server_free(servers[i]);
        fuzz_remove_tree(roots[i]);
    }
}

static void start_servers(void)
{
    for (int i = 0; i < 2; i++) {
        struct ft_server_config cfg = { 0 };
        char err[256];

        if (mkdtemp(roots[i]) == NULL)
            abort();
        cfg.root = roots[i];
        cfg.idle_timeout_ms = 2000;
        cfg.handshake_timeout_ms = 2000;
        cfg.log = quiet;
        cfg.token = i == 1 ? fuzz_token : NULL;
        if (ft_server_start(&servers[i], &cfg, err, sizeof(err)) != FT_OK) {
            fprintf(stderr, "fuzz_handshake: %s\n", err);
            abort();
        }
    }
    atexit(stop_servers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];

    if (size < 1)
        return 0;
    if (servers[0] == NULL)
        start_servers();
    if (fuzz_socketpair_with_input(sv, data + 1, size - 1) != 0)
        return 0;
    ft_server_serve_fd(servers[data[0] & 1], sv[1], "fuzz");
    close(sv[0]);
    return 0;
}
