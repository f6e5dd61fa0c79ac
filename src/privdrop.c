/* privdrop.c - a server started as root becoming another user. */
#define _GNU_SOURCE
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ft_err ft_privdrop_lookup(const char *name, struct ft_user *u,
                               char *errbuf, size_t errlen)
{
    struct passwd *pw;

    if (geteuid() != 0) {
        snprintf(errbuf, errlen, "--user needs a server started as root (this "
                 "one runs as uid %u): without it, run it as %s directly",
                 (unsigned)geteuid(), name);
        return FT_ERR_USAGE;
    }
    errno = 0;
    pw = getpwnam(name);
    if (pw == NULL) {
        snprintf(errbuf, errlen, "--user: no user '%s'%s%s", name,
                 errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
        return FT_ERR_USAGE;
    }
    if (pw->pw_uid == 0) {
        snprintf(errbuf, errlen, "--user %s is root: name an unprivileged user",
                 name);
        return FT_ERR_USAGE;
    }
    if (strlen(name) >= sizeof(u->name)) {
        snprintf(errbuf, errlen, "--user: the name '%s' is too long", name);
        return FT_ERR_USAGE;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    u->root_gid = getegid();
    return FT_OK;
}

static enum ft_err failed(const struct ft_user *u, const char *what,
                          char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "--user %s: %s: %s", u->name, what, strerror(errno));
    return FT_ERR_IO;
}

/* Takes u's groups, then its group and user ids: the effective ones only
 * (root can come back), or for good, real and saved too. */
static enum ft_err take_ids(const struct ft_user *u, bool for_good,
                            char *errbuf, size_t errlen)
{
    if (initgroups(u->name, u->gid) != 0)
        return failed(u, "initgroups", errbuf, errlen);
    if ((for_good ? setgid(u->gid) : setegid(u->gid)) != 0)
        return failed(u, for_good ? "setgid" : "setegid", errbuf, errlen);
    if ((for_good ? setuid(u->uid) : seteuid(u->uid)) != 0)
        return failed(u, for_good ? "setuid" : "seteuid", errbuf, errlen);
    return FT_OK;
}

enum ft_err ft_privdrop_act_as(const struct ft_user *u, char *errbuf,
                               size_t errlen)
{
    return take_ids(u, false, errbuf, errlen);
}

enum ft_err ft_privdrop_act_as_root(const struct ft_user *u, char *errbuf,
                                    size_t errlen)
{
    if (seteuid(0) != 0)
        return failed(u, "seteuid(0)", errbuf, errlen);
    if (setegid(u->root_gid) != 0)
        return failed(u, "setegid", errbuf, errlen);
    return FT_OK;
}

enum ft_err ft_privdrop_check_store(const struct ft_user *u, const char *path,
                                    int read_only, char *errbuf, size_t errlen)
{
    int want = read_only ? R_OK | X_OK : W_OK | X_OK;
    char *copy = strdup(path);
    const char *folder = path;
    enum ft_err err = FT_OK;

    if (copy == NULL)
        return FT_ERR_NOMEM;
    /* A store not made yet is made in its folder. */
    if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) != 0 && errno == ENOENT)
        folder = dirname(copy);
    if (faccessat(AT_FDCWD, folder, want, AT_EACCESS) != 0) {
        snprintf(errbuf, errlen, "the store %s: user %s (uid %u) may not %s %s "
                 "(%s): chown -R %s %s", path, u->name, (unsigned)u->uid,
                 read_only ? "read" : "write in", folder, strerror(errno),
                 u->name, folder == path ? path : "its folder, or make it");
        err = FT_ERR_DENIED;
    }
    free(copy);
    return err;
}

enum ft_err ft_privdrop_become(const struct ft_user *u, char *errbuf,
                               size_t errlen)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    enum ft_err err;

    if (seteuid(0) != 0)
        return failed(u, "seteuid(0)", errbuf, errlen);
    err = take_ids(u, true, errbuf, errlen);
    if (err != FT_OK)
        return err;
    /* Root as the real, effective or saved id, or its group, would let a
     * bug take everything back. */
    if (setuid(0) == 0 || seteuid(0) == 0 || (u->gid != 0 && setgid(0) == 0) ||
        getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
        r != u->uid || e != u->uid || s != u->uid || rg != u->gid ||
        eg != u->gid || sg != u->gid) {
        snprintf(errbuf, errlen, "--user %s: root could be regained: not serving",
                 u->name);
        return FT_ERR_DENIED;
    }
    return FT_OK;
}
