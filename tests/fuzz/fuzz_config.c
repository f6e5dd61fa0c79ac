/* fuzz_config.c - the client's config file (cli_config.c), and each of its
 * lines read as a REMOTE:PATH operand (cli_operands.c): whatever a person
 * writes there, a parse ends in remotes or in one "FILE:LINE: why", never
 * a crash, and every remote it gives holds terminated, bounded fields. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_config.h"
#include "cli_operands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The remotes must read back as the strings they are. */
static void check_remotes(const struct cli_config *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct cli_remote *r = &c->remotes[i];

        if (strnlen(r->name, sizeof(r->name)) == sizeof(r->name) ||
            strnlen(r->host, sizeof(r->host)) == sizeof(r->host) ||
            strnlen(r->identity, sizeof(r->identity)) == sizeof(r->identity) ||
            strnlen(r->token_file, sizeof(r->token_file)) == sizeof(r->token_file) ||
            strnlen(r->server_key, sizeof(r->server_key)) == sizeof(r->server_key) ||
            r->name[0] == '\0' || cli_config_find(c, r->name) != r)
            abort();
    }
}

/* Each line as an operand: split, then taken as put's destination. */
static void split_lines(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char err[512];

    if (copy == NULL)
        return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *line = copy, *next; line != NULL; line = next) {
        struct cli_operand op;
        char *ops[2] = { (char *)"local", line };

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (cli_operand_split(line, &op, err, sizeof(err)) == FT_OK &&
            strnlen(op.remote, sizeof(op.remote)) == sizeof(op.remote))
            abort();
        (void)cli_operands_take(ops, 2, CLI_OPERANDS_PUT, &op, err, sizeof(err));
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cli_config c;
    char err[1024];
    enum ft_err rc = cli_config_parse((const char *)data, size, "config",
                                      "/home/fuzz", &c, err, sizeof(err));

    if (rc == FT_OK)
        check_remotes(&c);
    else if (rc == FT_ERR_USAGE && strncmp(err, "config:", 7) != 0)
        abort(); /* every mistake is told with its line */
    cli_config_free(&c);
    split_lines(data, size);
    return 0;
}
