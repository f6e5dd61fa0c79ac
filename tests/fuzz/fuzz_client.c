/* fuzz_client.c - a server's replies, as hostile as the fuzzer makes them,
 * fed to the client: handshake, then list, get, put and remove in an order
 * the first byte picks, then df. The client must fail cleanly, never crash
 * or hang. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ft/client.h"
#include "fuzz_io.h"

static int ignore_entry(const struct ft_entry *e, void *ctx)
{
    (void)e;
    (void)ctx;
    return 0;
}

static void run_op(struct ft_client *c, unsigned op)
{
    static const char upload[] = "fuzz upload";
    int fd;

    switch (op % 4) {
    case 0:
        ft_client_list(c, ignore_entry, NULL);
        break;
    case 1:
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        ft_client_get(c, "name", fd, NULL, NULL);
        close(fd);
        break;
    case 2: {
        int p[2];

        if (pipe(p) != 0)
            return;
        if (write(p[1], upload, sizeof(upload)) != (ssize_t)sizeof(upload))
            abort();
        close(p[1]);
        ft_client_put(c, p[0], sizeof(upload), "name", NULL, NULL);
        close(p[0]);
        break;
    }
    case 3:
        ft_client_remove(c, "name");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ft_client_config cfg = { .timeout_ms = 2000, .plaintext = true };
    struct ft_client *c = NULL;
    char err[256];
    unsigned order;
    int sv[2];

    if (size < 1)
        return 0;
    order = data[0];
    if (fuzz_socketpair_with_input(sv, data + 1, size - 1) != 0)
        return 0;
    if (ft_client_attach(&c, sv[1], &cfg, err, sizeof(err)) == FT_OK) {
        struct ft_usage usage;

        for (unsigned i = 0; i < 4; i++)
            run_op(c, (order >> (2 * i)) & 3);
        ft_client_usage(c, &usage);
        ft_client_close(c);
    }
    close(sv[0]);
    return 0;
}
