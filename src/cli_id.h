/* cli_id.h - the client's own key, for a connection and for ft id. */
#ifndef FT_CLI_ID_H
#define FT_CLI_ID_H

#include <stdbool.h>

#include "ft/keys.h"

struct cli_report;

/* Returned when there is no file to keep the key in, or it cannot be kept
 * in the default one: the connection then proves a key made for it. */
#define CLI_IDENTITY_NONE (-1)

/* Loads the key pair in path, or $FT_IDENTITY, or the default file
 * (~/.config/ft/id), making it there on first use. 0 when kp holds it;
 * an exit code after telling report (NULL: standard error) why a file
 * that was named cannot be used; CLI_IDENTITY_NONE, with a note unless
 * quiet, when the default file cannot be found or used. */
int cli_identity_load(const char *path, struct ft_keypair *kp,
                      struct cli_report *report, bool quiet);

#endif
