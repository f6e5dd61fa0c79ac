/* cli_connect.h - connecting a client command as its options say. */
#ifndef FT_CLI_CONNECT_H
#define FT_CLI_CONNECT_H

#include "cli_args.h"

/* Loads the token, connects, pins or checks the server's key and tells
 * what is worth a note (a first pin, no encryption). Returns the client,
 * or NULL with *code the exit code once the failure is told (as "WHAT:
 * why"). The token is wiped from a once the handshake has used it. */
struct ft_client *cli_connect(struct cli_client_args *a, const char *what,
                              int *code);

#endif
