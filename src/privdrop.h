/* privdrop.h - a server started as root becoming another user.
 *
 * Root is needed for one thing only, a port below 1024. The server opens
 * its store, key and clients file acting as the user (so that what it
 * makes is the user's, and what the user could not open stops it at
 * start), binds as root, then becomes the user for good before it reads a
 * byte from the network. */
#ifndef FT_PRIVDROP_H
#define FT_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

#include "ft/error.h"

struct ft_user {
    char name[64];
    uid_t uid;
    gid_t gid;
    gid_t root_gid; /* the effective group to act as root again with */
};

/* Looks the user up. FT_ERR_USAGE (errbuf says why) when this process is
 * not root, the user is unknown, or is root. */
enum ft_err ft_privdrop_lookup(const char *name, struct ft_user *u,
                               char *errbuf, size_t errlen);

/* Acts as u (its groups, effective ids) until ft_privdrop_act_as_root;
 * files made meanwhile are u's. */
enum ft_err ft_privdrop_act_as(const struct ft_user *u, char *errbuf,
                               size_t errlen);
enum ft_err ft_privdrop_act_as_root(const struct ft_user *u, char *errbuf,
                                    size_t errlen);

/* While acting as u: FT_OK when u may make files in the folder path (or,
 * for a path not there yet, in the folder that would hold it), or only
 * read them when read_only; else FT_ERR_DENIED, errbuf saying how to mend
 * it. */
enum ft_err ft_privdrop_check_store(const struct ft_user *u, const char *path,
                                    int read_only, char *errbuf, size_t errlen);

/* Becomes u for good: groups, real, effective and saved ids; then checks
 * that root cannot be had back. */
enum ft_err ft_privdrop_become(const struct ft_user *u, char *errbuf,
                               size_t errlen);

#endif
