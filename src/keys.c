/* keys.c - key files, fingerprints, known hosts and tokens. */
#define _GNU_SOURCE
#include "ft/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "io.h"

/* A short token is guessable by anyone who can start a handshake. */
#define TOKEN_MIN_BYTES 16
#define TOKEN_FILE_MAX 4096
#define KNOWN_HOSTS_LINE_MAX 512
/* Domain separation: a token hashes to a key for this purpose only. */
#define TOKEN_CONTEXT "ft token v1"

/* Creates every missing folder above path, mode 0700. */
static int make_parents(const char *path)
{
    char *copy = strdup(path);
    char *dir;
    int rc = 0;

    if (copy == NULL)
        return -1;
    dir = dirname(copy);
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0 && access(dir, F_OK) != 0) {
        rc = make_parents(dir);
        if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
            rc = -1;
    }
    free(copy);
    return rc;
}

/* Reads a whole small secret file, name relative to dir_fd (path: how a
 * person knows it), refusing one that others can read; with flags
 * O_NOFOLLOW, a link too. */
static enum ft_err read_secret_at(int dir_fd, const char *name,
                                  const char *path, int flags, uint8_t *buf,
                                  size_t cap, size_t *len, char *errbuf,
                                  size_t errlen)
{
    struct stat sb;
    enum ft_err err = FT_OK;
    size_t got = 0;
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);

    if (fd < 0 && errno == ELOOP && (flags & O_NOFOLLOW)) {
        snprintf(errbuf, errlen, "%s is a symbolic link, never followed to a "
                 "secret: remove it (rm %s)", path, path);
        err = FT_ERR_DENIED;
        goto out;
    }
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        err = FT_ERR_IO;
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(errbuf, errlen, "%s: not a regular file", path);
        err = FT_ERR_IO;
        goto out;
    }
    if (sb.st_mode & 077) {
        snprintf(errbuf, errlen,
                 "%s: permissions %03o are too open: other users could read "
                 "this secret (chmod 600 %s)",
                 path, (unsigned)(sb.st_mode & 0777), path);
        err = FT_ERR_DENIED;
        goto out;
    }
    err = ft_io_read_full(fd, buf, cap, FT_IO_NO_DEADLINE, &got);
    if (err != FT_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    return err;
}

/* Writes a new secret file with mode 0600; refuses to replace one. With
 * make_folders, the missing folders above it are made (0700); without,
 * a missing folder is an error that names it. */
static enum ft_err write_secret_at(int dir_fd, const char *name,
                                   const char *path, const void *buf,
                                   size_t len, bool make_folders,
                                   char *errbuf, size_t errlen)
{
    enum ft_err err;
    int fd;

    if (make_folders && make_parents(path) != 0) {
        snprintf(errbuf, errlen, "%s: cannot create its folder: %s", path,
                 strerror(errno));
        return FT_ERR_IO;
    }
    fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                0600);
    if (fd < 0 && errno == ENOENT && !make_folders) {
        char *copy = strdup(path);

        snprintf(errbuf, errlen, "%s: its folder %s does not exist", path,
                 copy != NULL ? dirname(copy) : "");
        free(copy);
        return FT_ERR_IO;
    }
    if (fd < 0) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return FT_ERR_IO;
    }
    err = ft_io_write_full(fd, buf, len, FT_IO_NO_DEADLINE);
    if (err == FT_OK && fsync(fd) != 0)
        err = FT_ERR_IO;
    if (err != FT_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        unlinkat(dir_fd, name, 0);
    }
    close(fd);
    return err;
}

/* The key file name relative to dir_fd, known to a person as path; flags
 * O_NOFOLLOW refuses a link in its place. */
static enum ft_err load_or_create_at(int dir_fd, const char *name,
                                     const char *path, int flags,
                                     struct ft_keypair *kp, bool *created,
                                     char *errbuf, size_t errlen)
{
    uint8_t buf[FT_KEY_BYTES + 1];
    size_t len = 0;
    struct stat sb;
    enum ft_err err;

    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    *created = false;
    if (fstatat(dir_fd, name, &sb,
                flags & O_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0) != 0 &&
        errno == ENOENT) {
        ft_keys_generate(kp);
        err = write_secret_at(dir_fd, name, path, kp->private_key, FT_KEY_BYTES,
                              dir_fd == AT_FDCWD, errbuf, errlen);
        if (err != FT_OK) {
            ft_keys_wipe(kp, sizeof(*kp)); /* never saved: not to be used */
            return err;
        }
        *created = true;
        return FT_OK;
    } else {
        err = read_secret_at(dir_fd, name, path, flags, buf, sizeof(buf), &len,
                             errbuf, errlen);
        if (err == FT_OK && len != FT_KEY_BYTES) {
            snprintf(errbuf, errlen, "%s: not an ft key file (%zu bytes, not %d)",
                     path, len, FT_KEY_BYTES);
            err = FT_ERR_IO;
        }
        if (err != FT_OK)
            goto out;
        memcpy(kp->private_key, buf, FT_KEY_BYTES);
        crypto_scalarmult_base(kp->public_key, kp->private_key);
    }
out:
    sodium_memzero(buf, sizeof(buf));
    return err;
}

void ft_keys_generate(struct ft_keypair *kp)
{
    randombytes_buf(kp->private_key, FT_KEY_BYTES);
    crypto_scalarmult_base(kp->public_key, kp->private_key);
}

enum ft_err ft_keys_load_or_create(const char *path, struct ft_keypair *kp,
                                   bool *created, char *errbuf, size_t errlen)
{
    return load_or_create_at(AT_FDCWD, path, path, 0, kp, created, errbuf,
                             errlen);
}

enum ft_err ft_keys_load_or_create_at(int dir_fd, const char *name,
                                      const char *shown, struct ft_keypair *kp,
                                      bool *created, char *errbuf,
                                      size_t errlen)
{
    return load_or_create_at(dir_fd, name, shown, O_NOFOLLOW, kp, created,
                             errbuf, errlen);
}

void ft_keys_fingerprint(const uint8_t public_key[FT_KEY_BYTES],
                         char out[FT_FINGERPRINT_MAX])
{
    uint8_t digest[FT_HASH_BYTES];
    struct ft_hash h;

    ft_hash_init(&h);
    ft_hash_update(&h, public_key, FT_KEY_BYTES);
    ft_hash_final(&h, digest);
    memcpy(out, "b2:", 3);
    sodium_bin2base64(out + 3, FT_FINGERPRINT_MAX - 3, digest, sizeof(digest),
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

enum ft_err ft_keys_make_token(const char *path, char *errbuf, size_t errlen)
{
    uint8_t token[FT_TOKEN_BYTES];
    char hex[2 * FT_TOKEN_BYTES + 2];
    enum ft_err err;

    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    randombytes_buf(token, sizeof(token));
    sodium_bin2hex(hex, sizeof(hex) - 1, token, sizeof(token));
    hex[2 * FT_TOKEN_BYTES] = '\n';
    hex[2 * FT_TOKEN_BYTES + 1] = '\0';
    err = write_secret_at(AT_FDCWD, path, path, hex, 2 * FT_TOKEN_BYTES + 1,
                          false, errbuf, errlen);
    sodium_memzero(token, sizeof(token));
    sodium_memzero(hex, sizeof(hex));
    return err;
}

enum ft_err ft_keys_load_token(const char *path, uint8_t psk[FT_TOKEN_BYTES],
                               char *errbuf, size_t errlen)
{
    uint8_t buf[TOKEN_FILE_MAX];
    crypto_generichash_state st;
    size_t len = 0;
    enum ft_err err;

    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    err = read_secret_at(AT_FDCWD, path, path, 0, buf, sizeof(buf), &len,
                         errbuf, errlen);
    if (err != FT_OK)
        goto out;
    /* A trailing newline is the editor's, not the secret's. */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                       buf[len - 1] == ' '))
        len--;
    if (len < TOKEN_MIN_BYTES) {
        snprintf(errbuf, errlen,
                 "%s: a token needs at least %d bytes; make one with "
                 "'ft keygen --token FILE'", path, TOKEN_MIN_BYTES);
        err = FT_ERR_USAGE;
        goto out;
    }
    crypto_generichash_init(&st, NULL, 0, FT_TOKEN_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)TOKEN_CONTEXT,
                              sizeof(TOKEN_CONTEXT));
    crypto_generichash_update(&st, buf, len);
    crypto_generichash_final(&st, psk, FT_TOKEN_BYTES);
out:
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(&st, sizeof(st));
    return err;
}

char *ft_keys_config_file(const char *name)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *path = NULL;
    int n;

    if (xdg != NULL && xdg[0] == '/')
        n = asprintf(&path, "%s/ft/%s", xdg, name);
    else if (home != NULL && home[0] != '\0')
        n = asprintf(&path, "%s/.config/ft/%s", home, name);
    else
        return NULL;
    return n < 0 ? NULL : path;
}

char *ft_keys_default_known_hosts(void)
{
    return ft_keys_config_file("known_hosts");
}

enum ft_err ft_keys_pin_known_host(const char *file, const char *host,
                                   uint16_t port, const char *fingerprint,
                                   char *errbuf, size_t errlen)
{
    char line[KNOWN_HOSTS_LINE_MAX];
    enum ft_err err = FT_OK;
    int fd;

    /* O_APPEND keeps concurrent clients' lines whole. */
    if (make_parents(file) != 0) {
        snprintf(errbuf, errlen, "%s: cannot create its folder: %s", file,
                 strerror(errno));
        return FT_ERR_IO;
    }
    fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(line, sizeof(line), "%s %u %s\n", host, (unsigned)port, fingerprint);
    if (fd < 0 || ft_io_write_full(fd, line, strlen(line), FT_IO_NO_DEADLINE) != FT_OK) {
        snprintf(errbuf, errlen, "%s: %s", file, strerror(errno));
        err = FT_ERR_IO;
    }
    if (fd >= 0)
        close(fd);
    return err;
}

enum ft_err ft_keys_check_known_host(const char *file, const char *host,
                                     uint16_t port, const char *fingerprint,
                                     bool pin_new, enum ft_known *result,
                                     char old_fingerprint[FT_FINGERPRINT_MAX],
                                     char *errbuf, size_t errlen)
{
    char line[KNOWN_HOSTS_LINE_MAX];
    char key[300];
    size_t key_len;
    FILE *f = NULL;

    snprintf(key, sizeof(key), "%s %u ", host, (unsigned)port);
    key_len = strlen(key);
    f = fopen(file, "re");
    if (f == NULL && errno != ENOENT) {
        snprintf(errbuf, errlen, "%s: %s", file, strerror(errno));
        return FT_ERR_IO;
    }
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, key, key_len) != 0)
            continue;
        snprintf(old_fingerprint, FT_FINGERPRINT_MAX, "%s", line + key_len);
        *result = strcmp(line + key_len, fingerprint) == 0 ? FT_KNOWN_MATCH
                                                          : FT_KNOWN_CHANGED;
        fclose(f);
        return FT_OK;
    }
    if (f != NULL)
        fclose(f);
    *result = FT_KNOWN_NEW;
    if (!pin_new)
        return FT_OK;
    return ft_keys_pin_known_host(file, host, port, fingerprint, errbuf, errlen);
}

void ft_keys_wipe(void *secret, size_t len)
{
    sodium_memzero(secret, len);
}
