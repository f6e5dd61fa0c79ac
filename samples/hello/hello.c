/* hello.c - the classic socket exercise on ft's framing layer.
 *
 * A client connects to 127.0.0.1:65432 and sends "Hello, Server! This is
 * Client."; the server answers "Message received by server". Here each
 * message is one ft frame, so neither side has to guess where a message
 * ends, and the server accepts nothing longer than it is prepared for.
 *
 *   ft-hello server [PORT]   wait for one client and answer it
 *   ft-hello client [PORT]   send the greeting and print the answer
 *   ft-hello                 both, in one process (port chosen freely)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ft/ft.h"

#define HELLO_PORT 65432
#define MSG_TEXT 1 /* the only frame type of this little protocol */
#define TIMEOUT_MS 10000

static const char greeting[] = "Hello, Server! This is Client.";
static const char answer[] = "Message received by server";

/* Waits for one client, prints its message, answers. */
static enum ft_err serve_one(int listen_fd)
{
    char peer[FT_NET_PEER_MAX];
    char buf[256];
    struct ft_frame f;
    enum ft_err err;
    int fd = -1;

    err = ft_net_accept(listen_fd, TIMEOUT_MS, &fd, peer, sizeof(peer));
    if (err != FT_OK)
        return err;
    /* buf's size is the longest message accepted: a longer one is refused
     * before a byte of it is read. */
    err = ft_frame_read(fd, buf, sizeof(buf) - 1, &f, TIMEOUT_MS);
    if (err == FT_OK) {
        buf[f.len] = '\0';
        printf("server: from %s: %s\n", peer, buf);
        err = ft_frame_write(fd, MSG_TEXT, answer, strlen(answer), TIMEOUT_MS);
    }
    close(fd);
    return err;
}

static enum ft_err run_client(uint16_t port)
{
    char buf[256];
    char why[256];
    struct ft_frame f;
    enum ft_err err;
    int fd = -1;

    err = ft_net_connect("127.0.0.1", port, TIMEOUT_MS, &fd, why, sizeof(why));
    if (err != FT_OK) {
        fprintf(stderr, "client: %s\n", why);
        return err;
    }
    err = ft_frame_write(fd, MSG_TEXT, greeting, strlen(greeting), TIMEOUT_MS);
    if (err == FT_OK)
        err = ft_frame_read(fd, buf, sizeof(buf) - 1, &f, TIMEOUT_MS);
    if (err == FT_OK) {
        buf[f.len] = '\0';
        printf("client: server says: %s\n", buf);
    }
    close(fd);
    return err;
}

static void *server_thread(void *arg)
{
    enum ft_err err = serve_one(*(int *)arg);

    if (err != FT_OK)
        fprintf(stderr, "server: %s\n", ft_strerror(err));
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "both";
    uint16_t port = argc > 2 ? (uint16_t)atoi(argv[2]) : HELLO_PORT;
    char why[256];
    enum ft_err err;
    int listen_fd = -1;

    if (strcmp(mode, "client") == 0) {
        err = run_client(port);
    } else if (strcmp(mode, "server") == 0 || strcmp(mode, "both") == 0) {
        if (strcmp(mode, "both") == 0)
            port = 0; /* any free port: the demo must not collide */
        err = ft_net_listen("127.0.0.1", port, &listen_fd, &port, why, sizeof(why));
        if (err != FT_OK) {
            fprintf(stderr, "server: %s\n", why);
            return 1;
        }
        printf("server: listening on 127.0.0.1 port %u\n", (unsigned)port);
        fflush(stdout);
        if (strcmp(mode, "server") == 0) {
            err = serve_one(listen_fd);
        } else {
            pthread_t tid;

            pthread_create(&tid, NULL, server_thread, &listen_fd);
            err = run_client(port);
            pthread_join(tid, NULL);
        }
        close(listen_fd);
    } else {
        fprintf(stderr, "usage: ft-hello [server|client] [PORT]\n");
        return 2;
    }
    if (err != FT_OK) {
        fprintf(stderr, "ft-hello: %s\n", ft_strerror(err));
        return 1;
    }
    return 0;
}
