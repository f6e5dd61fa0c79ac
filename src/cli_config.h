/* cli_config.h - the client's config file, which names remotes.
 *
 * ~/.config/ft/config ($XDG_CONFIG_HOME/ft/config; FT_CONFIG names
 * another), as ssh_config: a "remote NAME" line begins a remote, and the
 * lines below it, "KEY VALUE", say how to reach it:
 *
 *   # the backup server
 *   remote backup
 *       host files.example.org
 *       port 7000
 *       identity ~/.config/ft/work-id
 *       token-file ~/.config/ft/backup.token
 *       server-key b2:...
 *
 * Keys are case-insensitive; a '#' that begins the line or follows a space
 * begins a comment; indentation is the reader's. host (default: the
 * remote's name), port, server-key and the name are one word; identity
 * and token-file are paths, absolute or from "~/" (the home folder). */
#ifndef FT_CLI_CONFIG_H
#define FT_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "ft/keys.h"

#define CLI_CONFIG_FILE_MAX (256u << 10)
#define CLI_CONFIG_REMOTES_MAX 1024
#define CLI_REMOTE_NAME_MAX 64
#define CLI_HOST_MAX 256 /* a DNS name is at most 253 characters */
#define CLI_CONFIG_PATH_MAX 1024

/* One remote: what the file says; "" or 0 where it says nothing. */
struct cli_remote {
    char name[CLI_REMOTE_NAME_MAX];
    char host[CLI_HOST_MAX];
    uint16_t port;
    char identity[CLI_CONFIG_PATH_MAX];
    char token_file[CLI_CONFIG_PATH_MAX];
    char server_key[FT_FINGERPRINT_MAX];
    unsigned line; /* where its "remote" line is */
};

struct cli_config {
    struct cli_remote *remotes;
    size_t n;
};

/* Parses len bytes of text, the config file named file (for messages),
 * "~/" meaning home (NULL: a "~" is refused). On a mistake: FT_ERR_USAGE
 * and "FILE:LINE: what is wrong" in errbuf. cli_config_free() the result
 * in every case. */
enum ft_err cli_config_parse(const char *text, size_t len, const char *file,
                             const char *home, struct cli_config *out,
                             char *errbuf, size_t errlen);

/* Reads and parses the file at path (as cli_config_parse, with $HOME). A
 * file that does not exist is an empty config when missing_ok. Refused: a
 * file other users may change (it says where ft connects). */
enum ft_err cli_config_load(const char *path, bool missing_ok,
                            struct cli_config *out, char *errbuf, size_t errlen);

/* The remote called name, or NULL. */
const struct cli_remote *cli_config_find(const struct cli_config *c,
                                         const char *name);

void cli_config_free(struct cli_config *c);

/* The config file: $FT_CONFIG, else $XDG_CONFIG_HOME/ft/config or
 * ~/.config/ft/config (*is_default then true); NULL when none can be
 * found. free() it. */
char *cli_config_path(bool *is_default);

#endif
