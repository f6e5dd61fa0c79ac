/* fuzz_io.c - see fuzz_io.h. */
#define _GNU_SOURCE
#include "fuzz_io.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Inputs are capped (-max_len) well below this, so the whole input and
 * every reply fit in the socket buffers and nothing blocks. */
#define FUZZ_SOCKET_BUFFER (4 * 1024 * 1024)

int fuzz_socketpair_with_input(int sv[2], const uint8_t *data, size_t size)
{
    int buf = FUZZ_SOCKET_BUFFER;
    size_t done = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    }
    while (done < size) {
        ssize_t w = send(sv[0], data + done, size - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w <= 0)
            goto fail;
        done += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR);
    return 0;
fail:
    close(sv[0]);
    close(sv[1]);
    return -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fuzz_remove_tree(const char *path)
{
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
