/* hashpass.c - the hash ceiling of a verified transfer: one BLAKE2b-256
 * pass over a file, read in the same 256 KiB pieces a transfer would, with
 * the same libsodium calls (crypto_generichash init/update/final).
 *
 * usage: ft-hashpass [FILE]   (no FILE or '-': standard input)
 * Prints "HEX  NAME" as `b2sum -l 256` does. Exit 0 on success, 1 on a
 * read error, 2 on a usage error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define HASHPASS_CHUNK_BYTES (256u * 1024u)
#define HASHPASS_DIGEST_BYTES 32u /* BLAKE2b-256 */

/* Reads up to n bytes, retrying EINTR. Returns the count (0 at EOF) or -1
 * with errno set. A short count is fine here: the hash takes any split. */
static ssize_t read_retry(int fd, void *buf, size_t n)
{
    ssize_t got;

    do {
        got = read(fd, buf, n);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* Hashes everything fd yields into digest. Returns 0, or -1 with errno set
 * by the failing read. */
static int hash_fd(int fd, unsigned char *buf,
                   unsigned char digest[HASHPASS_DIGEST_BYTES])
{
    crypto_generichash_state state;
    ssize_t got;

    crypto_generichash_init(&state, NULL, 0, HASHPASS_DIGEST_BYTES);
    for (;;) {
        got = read_retry(fd, buf, HASHPASS_CHUNK_BYTES);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        crypto_generichash_update(&state, buf, (unsigned long long)got);
    }
    crypto_generichash_final(&state, digest, HASHPASS_DIGEST_BYTES);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned char digest[HASHPASS_DIGEST_BYTES];
    char hex[2 * HASHPASS_DIGEST_BYTES + 1];
    unsigned char *buf = NULL;
    const char *path = "-";
    int fd = STDIN_FILENO;
    int code = 1;

    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                                   strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: ft-hashpass [FILE]\n"
                        "Prints the BLAKE2b-256 of FILE (default: standard input).\n");
        return argc > 2 ? 2 : 0;
    }
    if (argc == 2)
        path = argv[1];
    if (sodium_init() < 0) {
        fprintf(stderr, "ft-hashpass: libsodium failed to initialise\n");
        goto out;
    }
    if (strcmp(path, "-") != 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "ft-hashpass: %s: %s\n", path, strerror(errno));
            goto out;
        }
    }
    buf = malloc(HASHPASS_CHUNK_BYTES);
    if (buf == NULL) {
        fprintf(stderr, "ft-hashpass: out of memory\n");
        goto out;
    }
    if (hash_fd(fd, buf, digest) != 0) {
        fprintf(stderr, "ft-hashpass: read %s: %s\n", path, strerror(errno));
        goto out;
    }
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    /* A full disk or closed pipe on stdout is a failure too. */
    if (printf("%s  %s\n", hex, path) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "ft-hashpass: write: %s\n", strerror(errno));
        goto out;
    }
    code = 0;
out:
    if (fd > STDIN_FILENO)
        close(fd);
    free(buf);
    return code;
}
