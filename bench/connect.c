/* connect.c - how many new connections per second one client gets from an
 * ft server: each one the whole handshake (HELLO, WELCOME, the Noise
 * handshake, admission) and one quick STAT, so that the server's side of
 * the handshake is done before the next begins. Sequential, as a script
 * or a cron job connects. Uses only the public client API, so that the
 * same source builds against an older libftcore (bench/handshakes.sh
 * compares two builds in one run); where the library has client keys
 * (ft/keys.h defines FT_KEYS_IDENTITY), the client proves one key, made
 * once, as a program that keeps its key does.
 *
 * usage: ft-connect-rate PORT SECONDS NAME
 * Prints "N connections in S s: R per second". Exit 0, 1 when a connection
 * fails, 2 on a usage error. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ft/client.h"
#include "ft/keys.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct ft_client_config cfg = { .host = "127.0.0.1" };
    struct ft_client *c = NULL;
    struct ft_stat st;
    char err[1024];
    double start, seconds, elapsed = 0;
    long port, n = 0;

    if (argc != 4 || (port = strtol(argv[1], NULL, 10)) <= 0 || port > 65535 ||
        (seconds = strtod(argv[2], NULL)) <= 0) {
        fprintf(stderr, "usage: ft-connect-rate PORT SECONDS NAME\n");
        return 2;
    }
    cfg.port = (uint16_t)port;
#ifdef FT_KEYS_IDENTITY
    static struct ft_keypair me;
    ft_keys_generate(&me);
    cfg.identity = &me;
#endif
    start = now_s();
    while (elapsed < seconds) {
        if (ft_client_connect(&c, &cfg, err, sizeof(err)) != FT_OK) {
            fprintf(stderr, "ft-connect-rate: %s\n", err);
            return 1;
        }
        if (ft_client_stat_quick(c, argv[3], &st) != FT_OK) {
            fprintf(stderr, "ft-connect-rate: stat: %s\n", ft_client_error(c));
            ft_client_close(c);
            return 1;
        }
        ft_client_close(c);
        n++;
        elapsed = now_s() - start;
    }
    printf("%ld connections in %.2f s: %.0f per second\n", n, elapsed,
           (double)n / elapsed);
    return 0;
}
