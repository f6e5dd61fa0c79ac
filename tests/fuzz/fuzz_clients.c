/* fuzz_clients.c - the two files a server's operator writes: the clients
 * file (ft_clients_parse) and serve --config (cli_parse_serve_args). The
 * first byte picks which (even: clients, odd: config). Any input must end
 * in a table or an error naming the file, never a crash, a leak or a read
 * past its end. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_args.h"
#include "clients.h"

static char config_path[] = "/tmp/ft-fuzz-config.XXXXXX";
static int config_fd = -1;

static void remove_config(void)
{
    unlink(config_path);
}

/* Parses text, then looks up what it can: a key from the input itself,
 * the rights and networks of what it finds. */
static void clients(const uint8_t *data, size_t size)
{
    /* A copy of its own size, that a read past its end trips ASan. */
    char *text = malloc(size != 0 ? size : 1);
    struct ft_clients *c = NULL;
    char err[512];

    if (text == NULL)
        return;
    memcpy(text, data, size);
    if (ft_clients_parse("fuzz", text, size, &c, err, sizeof(err)) == FT_OK) {
        uint8_t key[32] = { 0 };
        const struct ft_client_entry *e;
        struct ft_client_rights r;

        memcpy(key, data, size < 32 ? size : 32);
        e = ft_clients_find(c, key);
        if (e != NULL) {
            ft_clients_rights(e, &r);
            (void)ft_clients_from_ok(e, 4, key);
            (void)ft_clients_from_ok(e, 6, key);
            (void)ft_clients_expired(e, 0);
        }
        ft_clients_free(c);
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort(); /* an error that does not name the file */
    }
    free(text);
}

/* The same bytes as a --config file, read through serve's option table. */
static void config(const uint8_t *data, size_t size)
{
    char *argv[] = { "serve", "--config", config_path, NULL };
    struct cli_serve_args a = { .help = "" };

    if (config_fd < 0) {
        config_fd = mkstemp(config_path);
        if (config_fd < 0)
            abort();
        atexit(remove_config);
    }
    if (ftruncate(config_fd, 0) != 0 || pwrite(config_fd, data, size, 0) != (ssize_t)size)
        abort();
    (void)cli_parse_serve_args(3, argv, &a);
    free(a.config_text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0)
        clients(data + 1, size - 1);
    else
        config(data + 1, size - 1);
    return 0;
}
