/* clients.h - what one client may do on a server: the rights its line of
 * the clients file gives it (or a server without one gives everyone). */
#ifndef FT_CLIENTS_H
#define FT_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "name.h"

/* The rights of allow=: read is get and stat, write is put, mkdir and the
 * destination of a move, delete is rm and the source of a move, list ls. */
enum {
    FT_ALLOW_LIST = 1u << 0,
    FT_ALLOW_READ = 1u << 1,
    FT_ALLOW_WRITE = 1u << 2,
    FT_ALLOW_DELETE = 1u << 3,
    FT_ALLOW_ALL = 0xfu,
};

#define FT_CLIENT_NAME_MAX 64
#define FT_UNLIMITED UINT64_MAX

struct ft_client_rights {
    char name[FT_CLIENT_NAME_MAX + 1]; /* "": none, logs use the fingerprint */
    /* The folder of the store that is the client's whole world, as a name
     * without a trailing slash; "": the whole store. */
    char root[FT_PATH_MAX + 1];
    unsigned allow;       /* FT_ALLOW_* */
    uint64_t quota_bytes; /* under root, in-flight and kept uploads too; */
    uint64_t quota_files; /* FT_UNLIMITED: none */
    uint64_t rate;        /* bytes per second; 0: no cap of its own */
};

/* --- The key as `ft id` prints it and the clients file names it. --- */

/* "ft-x25519", a space, and the standard base64 of the 32-byte X25519
 * public key, padded: 44 characters. */
#define FT_CLIENT_KEY_KIND "ft-x25519"
#define FT_CLIENT_KEY_TEXT_MAX (sizeof(FT_CLIENT_KEY_KIND) + 44 + 1)

/* Whether c may stand in a name= (letters, digits and . _ @ + -). */
bool ft_clients_name_char(char c);

/* Writes key's text, NUL-terminated. */
void ft_clients_format_key(const uint8_t key[32], char out[FT_CLIENT_KEY_TEXT_MAX]);

/* Reads the len bytes of text (no NUL needed) as a key's text: the kind,
 * one or more blanks, the base64; nothing before or after. FT_ERR_USAGE
 * for anything else (another kind, a key of another length, base64 that
 * is not canonical). */
enum ft_err ft_clients_parse_key(const char *text, size_t len, uint8_t key[32]);

/* --- The values the clients file and serve's options share. --- */

/* A size or a rate such as 10M or 1G (powers of 1024, k M G T); FT_OK or
 * FT_ERR_USAGE. The command line reads its sizes with it too. */
enum ft_err ft_parse_size(const char *text, uint64_t *out);

/* allow='s list: names of FT_ALLOW_* joined by commas, in any order, or
 * "none" alone for no right; an empty list is refused (a typo, likely),
 * as is an unknown or repeated name. */
enum ft_err ft_clients_parse_allow(const char *text, size_t len, unsigned *allow);
/* The rights in allow by name, joined by sep ("list,read"); "none". */
void ft_clients_allow_text(unsigned allow, const char *sep, char *buf, size_t cap);

/* --- The clients file. --- */

/* Its bounds: a longer line or a longer file is refused as a whole. */
#define FT_CLIENTS_LINE_MAX 4096
#define FT_CLIENTS_LINES_MAX 100000
#define FT_CLIENTS_FILE_MAX (16u << 20)
/* from= names at most this many networks. */
#define FT_CLIENTS_FROM_MAX 16

/* A network of from=: family 4 or 6, its 16 bytes (IPv4 in the first 4). */
struct ft_client_net {
    uint8_t family;
    uint8_t prefix;
    uint8_t addr[16];
};

/* One line of the file. root and from point into the table's memory. */
struct ft_client_entry {
    uint8_t key[32];
    char name[FT_CLIENT_NAME_MAX + 1]; /* "": none */
    const char *root;  /* NULL: the whole store */
    unsigned allow;
    uint64_t quota_bytes, quota_files; /* FT_UNLIMITED: none */
    uint64_t rate;     /* 0: none of its own */
    int64_t expires;   /* Unix time from which the key is refused; 0: never */
    unsigned nfrom;    /* 0: any address */
    const struct ft_client_net *from;
    unsigned line;
};

/* A parsed file: its entries, sorted by key. Never changed once made, so
 * that threads may read it while the server swaps in another. */
struct ft_clients;

/* Parses the len bytes of text, the contents of the file called name (for
 * messages). On failure errbuf gets "NAME:LINE: what is wrong" and *out
 * is untouched; FT_ERR_USAGE for a malformed file, FT_ERR_NOMEM. */
enum ft_err ft_clients_parse(const char *name, const char *text, size_t len,
                             struct ft_clients **out, char *errbuf, size_t errlen);

/* Reads and parses the file at path (its size bounded by the bounds
 * above); errors as ft_clients_parse, FT_ERR_IO for a file that cannot be
 * read, FT_ERR_DENIED for one that group or others may write. */
enum ft_err ft_clients_load(const char *path, struct ft_clients **out,
                            char *errbuf, size_t errlen);

/* The line of key, or NULL. */
const struct ft_client_entry *ft_clients_find(const struct ft_clients *c,
                                              const uint8_t key[32]);

/* The rights e gives. */
void ft_clients_rights(const struct ft_client_entry *e, struct ft_client_rights *out);

/* How many keys the file names. */
size_t ft_clients_count(const struct ft_clients *c);

/* Whether e's from= lets in a peer of the given family (4 or 6; anything
 * else: no address, such as a Unix socket) and address (4 or 16 bytes). */
bool ft_clients_from_ok(const struct ft_client_entry *e, int family,
                        const uint8_t *addr);

/* Whether e's expires= has passed at Unix time now. */
bool ft_clients_expired(const struct ft_client_entry *e, int64_t now);

/* Frees a parsed file; NULL is accepted. */
void ft_clients_free(struct ft_clients *c);

#endif
