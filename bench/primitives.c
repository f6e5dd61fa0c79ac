/* primitives.c - the per-byte costs behind docs/PERFORMANCE.md: how long
 * one core takes to push 1 GiB through each libsodium primitive ft uses,
 * in the message sizes ft uses (64 KiB, the largest sealed frame), from a
 * buffer that stays in cache. No I/O, so these are the CPU floors.
 *
 * usage: ft-primitives [MIB]   (default 1024)
 * Prints one line per primitive: seconds per GiB and GB/s. Exit 0, or 1
 * when libsodium does not initialise, 2 on a usage error. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define MESSAGE_BYTES 65519u /* a sealed frame's payload, as ft sends it */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, double seconds, double bytes)
{
    double per_gib = seconds * (1024.0 * 1024.0 * 1024.0) / bytes;

    printf("%-34s %7.3f s/GiB %7.2f GB/s\n", what, per_gib, bytes / seconds / 1e9);
}

int main(int argc, char **argv)
{
    static unsigned char msg[MESSAGE_BYTES], out[MESSAGE_BYTES + 16];
    unsigned char key[32] = { 1 }, nonce[12] = { 0 }, mac[16];
    unsigned char digest[32];
    crypto_generichash_state hash;
    unsigned long long mac_len;
    unsigned long mib = 1024;
    size_t rounds;
    double t0;

    if (argc > 2 || (argc == 2 && (mib = strtoul(argv[1], NULL, 10)) == 0)) {
        fprintf(stderr, "usage: ft-primitives [MIB]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ft-primitives: libsodium failed to initialise\n");
        return 1;
    }
    randombytes_buf(msg, sizeof(msg));
    rounds = (size_t)mib * 1024 * 1024 / MESSAGE_BYTES;

    t0 = now_s();
    crypto_generichash_init(&hash, NULL, 0, sizeof(digest));
    for (size_t i = 0; i < rounds; i++)
        crypto_generichash_update(&hash, msg, sizeof(msg));
    crypto_generichash_final(&hash, digest, sizeof(digest));
    report("BLAKE2b-256", now_s() - t0, (double)rounds * MESSAGE_BYTES);

    if (crypto_aead_aes256gcm_is_available()) {
        crypto_aead_aes256gcm_state state;

        crypto_aead_aes256gcm_beforenm(&state, key);
        t0 = now_s();
        for (size_t i = 0; i < rounds; i++)
            crypto_aead_aes256gcm_encrypt_detached_afternm(
                out, mac, &mac_len, msg, sizeof(msg), NULL, 0, NULL, nonce, &state);
        report("AES-256-GCM encrypt", now_s() - t0, (double)rounds * MESSAGE_BYTES);
    } else {
        printf("%-34s not available on this CPU\n", "AES-256-GCM encrypt");
    }

    t0 = now_s();
    for (size_t i = 0; i < rounds; i++)
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            out, mac, &mac_len, msg, sizeof(msg), NULL, 0, NULL, nonce, key);
    report("ChaCha20-Poly1305 encrypt", now_s() - t0, (double)rounds * MESSAGE_BYTES);
    return 0;
}
