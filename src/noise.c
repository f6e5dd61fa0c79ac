/* noise.c - Noise XX and XXpsk3 over X25519, ChaChaPoly or AES-GCM, and
 * BLAKE2b, following revision 34 of the specification section by section:
 * CipherState (5.1), SymmetricState (5.2), HandshakeState (5.3), the psk
 * modifier (9), and the 25519 / ChaChaPoly / AESGCM / BLAKE2b functions
 * (12). Only the two patterns ft uses are written out, as straight-line
 * code, rather than a general token interpreter: less code to get wrong. */
#include "noise.h"

#include <sodium.h>
#include <string.h>

#include "hash.h"

#define HASHLEN FT_NOISE_HASH_BYTES
#define BLOCKLEN 128 /* BLAKE2b's block, the HMAC block size */
#define DHLEN FT_NOISE_DH_BYTES
#define TAGLEN FT_NOISE_TAG_BYTES
#define NONCELEN 12

/* Where a handshake stands. 0 is what a zeroed (wiped or never initialised)
 * struct holds, so such a struct refuses every call. */
enum step {
    STEP_NONE = 0,
    STEP_MSG1,   /* -> e: the initiator writes, the responder reads */
    STEP_MSG2,   /* <- e, ee, s, es */
    STEP_MSG3,   /* -> s, se[, psk] */
    STEP_DONE,   /* ready for ft_noise_split */
    STEP_SPLIT,  /* transport keys handed out */
    STEP_FAILED  /* a read or write failed after changing the state */
};

/* libsodium wants a pointer even for zero bytes; this one is never read. */
static const uint8_t empty[1];

/* ---- CipherState (section 5.1) ------------------------------------------ */

/* The 96-bit AEAD nonce: 32 zero bits, then the 64-bit counter, little-
 * endian for ChaChaPoly and big-endian for AESGCM (section 12.3, 12.4). */
static void make_nonce(enum ft_noise_cipher cipher, uint64_t n,
                       uint8_t nonce[NONCELEN])
{
    int i;

    memset(nonce, 0, NONCELEN);
    for (i = 0; i < 8; i++) {
        uint8_t b = (uint8_t)(n >> (8 * i));
        if (cipher == FT_NOISE_AESGCM)
            nonce[NONCELEN - 1 - i] = b;
        else
            nonce[4 + i] = b;
    }
}

/* ENCRYPT(k, n, ad, plaintext): len + TAGLEN bytes into out. */
static enum ft_err aead_encrypt(const struct ft_noise_cipherstate *cs,
                                const uint8_t *ad, size_t ad_len,
                                const uint8_t *plain, size_t len, uint8_t *out)
{
    uint8_t nonce[NONCELEN];
    unsigned long long clen;
    int rc;

    make_nonce(cs->cipher, cs->n, nonce);
    if (cs->cipher == FT_NOISE_AESGCM)
        rc = crypto_aead_aes256gcm_encrypt(out, &clen, plain, len, ad, ad_len,
                                           NULL, nonce, cs->k);
    else
        rc = crypto_aead_chacha20poly1305_ietf_encrypt(
            out, &clen, plain, len, ad, ad_len, NULL, nonce, cs->k);
    /* AES-GCM refuses (ENOSYS) on a CPU without AES-NI; init already
     * checked, so this is a state nobody should be able to build. */
    return rc == 0 ? FT_OK : FT_ERR_USAGE;
}

/* DECRYPT(k, n, ad, ciphertext): len - TAGLEN bytes into out. */
static enum ft_err aead_decrypt(const struct ft_noise_cipherstate *cs,
                                const uint8_t *ad, size_t ad_len,
                                const uint8_t *cipher, size_t len, uint8_t *out)
{
    uint8_t nonce[NONCELEN];
    unsigned long long mlen;
    int rc;

    make_nonce(cs->cipher, cs->n, nonce);
    if (cs->cipher == FT_NOISE_AESGCM)
        rc = crypto_aead_aes256gcm_decrypt(out, &mlen, NULL, cipher, len, ad,
                                           ad_len, nonce, cs->k);
    else
        rc = crypto_aead_chacha20poly1305_ietf_decrypt(
            out, &mlen, NULL, cipher, len, ad, ad_len, nonce, cs->k);
    if (rc != 0) {
        /* libsodium already clears out on failure; doing it here makes that
         * a promise of this module (noise.h) whatever the version. */
        sodium_memzero(out, len - TAGLEN);
        return FT_ERR_INTEGRITY;
    }
    return FT_OK;
}

static void cipher_set_key(struct ft_noise_cipherstate *cs,
                           const uint8_t k[FT_NOISE_KEY_BYTES])
{
    memcpy(cs->k, k, FT_NOISE_KEY_BYTES);
    cs->n = 0;
    cs->has_key = true;
}

/* EncryptWithAd. Before a key is set the plaintext passes through. The
 * nonce 2^64-1 is reserved (section 5.1): reaching it is an error, never a
 * wrap-around that would reuse a nonce. */
static enum ft_err cipher_encrypt_ad(struct ft_noise_cipherstate *cs,
                                     const uint8_t *ad, size_t ad_len,
                                     const uint8_t *plain, size_t len,
                                     uint8_t *out)
{
    enum ft_err err;

    if (!cs->has_key) {
        if (len > 0)
            memmove(out, plain, len);
        return FT_OK;
    }
    if (cs->n == UINT64_MAX)
        return FT_ERR_PROTOCOL;
    err = aead_encrypt(cs, ad, ad_len, plain, len, out);
    if (err == FT_OK)
        cs->n++;
    return err;
}

/* DecryptWithAd; len includes the tag when a key is set. On an
 * authentication failure n does not advance (section 5.1). */
static enum ft_err cipher_decrypt_ad(struct ft_noise_cipherstate *cs,
                                     const uint8_t *ad, size_t ad_len,
                                     const uint8_t *cipher, size_t len,
                                     uint8_t *out)
{
    enum ft_err err;

    if (!cs->has_key) {
        if (len > 0)
            memmove(out, cipher, len);
        return FT_OK;
    }
    if (cs->n == UINT64_MAX)
        return FT_ERR_PROTOCOL;
    if (len < TAGLEN)
        return FT_ERR_PROTOCOL;
    err = aead_decrypt(cs, ad, ad_len, cipher, len, out);
    if (err == FT_OK)
        cs->n++;
    return err;
}

/* ---- HASH, HMAC, HKDF (section 4.3) ------------------------------------- */

/* HMAC-BLAKE2b per RFC 2104 over the 128-byte block, which is what Noise
 * means by HMAC-HASH. Not libsodium's keyed BLAKE2b: that is a different
 * function and would not interoperate. Noise only ever keys it with HASHLEN
 * bytes (a chaining key or an HKDF temporary key), shorter than a block, so
 * the key is zero-padded and never hashed first. The message is given in
 * two parts so that HKDF can append its counter byte without copying. */
static void hmac_blake2b(const uint8_t key[HASHLEN], const uint8_t *d1,
                         size_t n1, const uint8_t *d2, size_t n2,
                         uint8_t out[HASHLEN])
{
    crypto_generichash_state st;
    uint8_t pad[BLOCKLEN];
    uint8_t inner[HASHLEN];
    size_t i;

    memset(pad, 0x36, sizeof(pad));
    for (i = 0; i < HASHLEN; i++)
        pad[i] ^= key[i];
    crypto_generichash_init(&st, NULL, 0, HASHLEN);
    crypto_generichash_update(&st, pad, sizeof(pad));
    crypto_generichash_update(&st, n1 > 0 ? d1 : empty, n1);
    crypto_generichash_update(&st, n2 > 0 ? d2 : empty, n2);
    crypto_generichash_final(&st, inner, HASHLEN);

    memset(pad, 0x5c, sizeof(pad));
    for (i = 0; i < HASHLEN; i++)
        pad[i] ^= key[i];
    crypto_generichash_init(&st, NULL, 0, HASHLEN);
    crypto_generichash_update(&st, pad, sizeof(pad));
    crypto_generichash_update(&st, inner, sizeof(inner));
    crypto_generichash_final(&st, out, HASHLEN);

    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(inner, sizeof(inner));
    sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, input_key_material, 2 or 3): out3 NULL for two
 * outputs. The outputs may alias ck (MixKey writes ck back over itself):
 * every output is computed into a temporary first. */
static void hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikm_len,
                 uint8_t out1[HASHLEN], uint8_t out2[HASHLEN],
                 uint8_t out3[HASHLEN])
{
    uint8_t temp_key[HASHLEN];
    uint8_t o1[HASHLEN], o2[HASHLEN], o3[HASHLEN];
    const uint8_t one = 0x01, two = 0x02, three = 0x03;

    hmac_blake2b(ck, ikm, ikm_len, NULL, 0, temp_key);
    hmac_blake2b(temp_key, &one, 1, NULL, 0, o1);
    hmac_blake2b(temp_key, o1, HASHLEN, &two, 1, o2);
    if (out3 != NULL)
        hmac_blake2b(temp_key, o2, HASHLEN, &three, 1, o3);
    memcpy(out1, o1, HASHLEN);
    memcpy(out2, o2, HASHLEN);
    if (out3 != NULL)
        memcpy(out3, o3, HASHLEN);
    sodium_memzero(temp_key, sizeof(temp_key));
    sodium_memzero(o1, sizeof(o1));
    sodium_memzero(o2, sizeof(o2));
    sodium_memzero(o3, sizeof(o3));
}

/* ---- SymmetricState (section 5.2) --------------------------------------- */

static void mix_hash(struct ft_noise_handshake *hs, const uint8_t *data,
                     size_t len)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, HASHLEN);
    crypto_generichash_update(&st, hs->h, HASHLEN);
    crypto_generichash_update(&st, len > 0 ? data : empty, len);
    crypto_generichash_final(&st, hs->h, HASHLEN);
}

/* MixKey: HKDF's second output is 64 bytes; the cipher key is its first 32
 * (HASHLEN 64 truncates temp_k, section 5.2). */
static void mix_key(struct ft_noise_handshake *hs, const uint8_t *ikm,
                    size_t ikm_len)
{
    uint8_t temp_k[HASHLEN];

    hkdf(hs->ck, ikm, ikm_len, hs->ck, temp_k, NULL);
    cipher_set_key(&hs->cs, temp_k);
    sodium_memzero(temp_k, sizeof(temp_k));
}

/* MixKeyAndHash, the "psk" token's work. */
static void mix_key_and_hash(struct ft_noise_handshake *hs, const uint8_t *ikm,
                             size_t ikm_len)
{
    uint8_t temp_h[HASHLEN], temp_k[HASHLEN];

    hkdf(hs->ck, ikm, ikm_len, hs->ck, temp_h, temp_k);
    mix_hash(hs, temp_h, HASHLEN);
    cipher_set_key(&hs->cs, temp_k);
    sodium_memzero(temp_h, sizeof(temp_h));
    sodium_memzero(temp_k, sizeof(temp_k));
}

/* EncryptAndHash: out gets len bytes, or len + TAGLEN once a key is set. */
static enum ft_err encrypt_and_hash(struct ft_noise_handshake *hs,
                                    const uint8_t *plain, size_t len,
                                    uint8_t *out, size_t *out_len)
{
    enum ft_err err;
    size_t n = len + (hs->cs.has_key ? TAGLEN : 0);

    err = cipher_encrypt_ad(&hs->cs, hs->h, HASHLEN, plain, len, out);
    if (err != FT_OK)
        return err;
    mix_hash(hs, out, n);
    *out_len = n;
    return FT_OK;
}

/* DecryptAndHash over len bytes of ciphertext (tag included once a key is
 * set). h is mixed with the ciphertext, as the sender did, and only after
 * it served as the associated data. */
static enum ft_err decrypt_and_hash(struct ft_noise_handshake *hs,
                                    const uint8_t *cipher, size_t len,
                                    uint8_t *out)
{
    enum ft_err err;

    err = cipher_decrypt_ad(&hs->cs, hs->h, HASHLEN, cipher, len, out);
    if (err != FT_OK)
        return err;
    mix_hash(hs, cipher, len);
    return FT_OK;
}

/* DH(key_pair, public_key): X25519, the 32-byte result used as it comes
 * (no hashing, unlike crypto_box_beforenm). libsodium refuses a peer key of
 * small order, whose result would be all zeros; section 12.1 allows
 * signalling an error there, and we do: FT_ERR_PROTOCOL. */
static enum ft_err dh_mix_key(struct ft_noise_handshake *hs,
                              const uint8_t priv[DHLEN],
                              const uint8_t pub[DHLEN])
{
    uint8_t shared[DHLEN];

    if (crypto_scalarmult(shared, priv, pub) != 0) {
        sodium_memzero(shared, sizeof(shared));
        return FT_ERR_PROTOCOL;
    }
    mix_key(hs, shared, sizeof(shared));
    sodium_memzero(shared, sizeof(shared));
    return FT_OK;
}

/* ---- HandshakeState (section 5.3) --------------------------------------- */

bool ft_noise_cipher_available(enum ft_noise_cipher cipher)
{
    if (ft_hash_library_init() != 0)
        return false;
    switch (cipher) {
    case FT_NOISE_CHACHAPOLY:
        return true;
    case FT_NOISE_AESGCM:
        return crypto_aead_aes256gcm_is_available() == 1;
    }
    return false;
}

const char *ft_noise_protocol_name(bool psk, enum ft_noise_cipher cipher)
{
    switch (cipher) {
    case FT_NOISE_CHACHAPOLY:
        return psk ? "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"
                   : "Noise_XX_25519_ChaChaPoly_BLAKE2b";
    case FT_NOISE_AESGCM:
        return psk ? "Noise_XXpsk3_25519_AESGCM_BLAKE2b"
                   : "Noise_XX_25519_AESGCM_BLAKE2b";
    }
    return NULL;
}

void ft_noise_handshake_wipe(struct ft_noise_handshake *hs)
{
    if (hs != NULL)
        sodium_memzero(hs, sizeof(*hs));
}

void ft_noise_cipherstate_wipe(struct ft_noise_cipherstate *cs)
{
    if (cs != NULL)
        sodium_memzero(cs, sizeof(*cs));
}

/* A failure after the state changed: h and ck no longer match the peer's,
 * so nothing can resume. Wipe, and remember why every later call fails. */
static enum ft_err fail(struct ft_noise_handshake *hs, enum ft_err err)
{
    sodium_memzero(hs, sizeof(*hs));
    hs->step = STEP_FAILED;
    return err;
}

/* The last message went through: the handshake no longer needs its private
 * keys or the psk, only ck (for Split), h and rs. Wiping now rather than at
 * ft_noise_handshake_wipe keeps them out of memory while the session runs. */
static void finish(struct ft_noise_handshake *hs)
{
    sodium_memzero(hs->s_priv, sizeof(hs->s_priv));
    sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
    sodium_memzero(hs->psk, sizeof(hs->psk));
    ft_noise_cipherstate_wipe(&hs->cs);
    hs->step = STEP_DONE;
}

enum ft_err ft_noise_init(struct ft_noise_handshake *hs, bool initiator,
                          enum ft_noise_cipher cipher, const uint8_t *prologue,
                          size_t prologue_len,
                          const uint8_t *local_static_private,
                          const uint8_t *psk,
                          const uint8_t *fixed_ephemeral_private)
{
    const char *name;
    size_t name_len;
    enum ft_err err;

    if (hs == NULL)
        return FT_ERR_USAGE;
    sodium_memzero(hs, sizeof(*hs));
    name = ft_noise_protocol_name(psk != NULL, cipher);
    /* XX gives each side a static key. */
    if (name == NULL || (prologue == NULL && prologue_len > 0) ||
        local_static_private == NULL)
        return FT_ERR_USAGE;
    if (ft_hash_library_init() != 0)
        return FT_ERR_NOMEM;
    if (!ft_noise_cipher_available(cipher))
        return FT_ERR_USAGE;

    hs->initiator = initiator;
    /* Kept apart from cs, which finish() wipes before Split needs it. */
    hs->cipher = cipher;
    hs->cs.cipher = cipher;

    /* InitializeSymmetric: a name of at most HASHLEN bytes is used directly,
     * zero-padded (all four of ours are); a longer one is hashed. */
    name_len = strlen(name);
    if (name_len <= HASHLEN)
        memcpy(hs->h, name, name_len);
    else
        crypto_generichash(hs->h, HASHLEN, (const uint8_t *)name, name_len,
                           NULL, 0);
    memcpy(hs->ck, hs->h, HASHLEN);
    mix_hash(hs, prologue, prologue_len);
    /* XX has no pre-messages: nothing else enters h before message 1. */

    if (psk != NULL) {
        memcpy(hs->psk, psk, FT_NOISE_PSK_BYTES);
        hs->has_psk = true;
    }
    memcpy(hs->s_priv, local_static_private, DHLEN);
    if (crypto_scalarmult_base(hs->s_pub, hs->s_priv) != 0) {
        err = FT_ERR_USAGE;
        goto out;
    }
    /* The ephemeral key is drawn now rather than at the "e" token: the same
     * key either way, and the write path then cannot fail for want of it. */
    if (fixed_ephemeral_private != NULL)
        memcpy(hs->e_priv, fixed_ephemeral_private, DHLEN);
    else
        randombytes_buf(hs->e_priv, DHLEN);
    if (crypto_scalarmult_base(hs->e_pub, hs->e_priv) != 0) {
        err = FT_ERR_USAGE;
        goto out;
    }
    hs->step = STEP_MSG1;
    err = FT_OK;
out:
    if (err != FT_OK)
        sodium_memzero(hs, sizeof(*hs));
    return err;
}

/* The "e" token, written: send e.public_key, MixHash it, and in a psk
 * handshake also MixKey it (section 9.2), which is why XXpsk3's first
 * payload is already encrypted. */
static void write_e(struct ft_noise_handshake *hs, uint8_t *out)
{
    memcpy(out, hs->e_pub, DHLEN);
    mix_hash(hs, hs->e_pub, DHLEN);
    if (hs->has_psk)
        mix_key(hs, hs->e_pub, DHLEN);
}

static void read_e(struct ft_noise_handshake *hs, const uint8_t *msg)
{
    memcpy(hs->re, msg, DHLEN);
    mix_hash(hs, hs->re, DHLEN);
    if (hs->has_psk)
        mix_key(hs, hs->re, DHLEN);
}

/* Bytes a message adds to its payload. Message 1 is "e" and the payload,
 * encrypted only under psk. Message 2 is "e", the encrypted static key and
 * the payload, the last two always encrypted since "ee" set a key; message
 * 3 the same without "e". */
static size_t message_overhead(const struct ft_noise_handshake *hs)
{
    if (hs->step == STEP_MSG1)
        return DHLEN + (hs->has_psk ? TAGLEN : 0);
    if (hs->step == STEP_MSG2)
        return DHLEN + (DHLEN + TAGLEN) + TAGLEN;
    return (DHLEN + TAGLEN) + TAGLEN;
}

/* Whose turn it is: messages 1 and 3 are the initiator's to write. */
static bool my_turn_to_write(const struct ft_noise_handshake *hs)
{
    switch (hs->step) {
    case STEP_MSG1:
    case STEP_MSG3:
        return hs->initiator;
    case STEP_MSG2:
        return !hs->initiator;
    default:
        return false;
    }
}

static bool my_turn_to_read(const struct ft_noise_handshake *hs)
{
    return (hs->step == STEP_MSG1 || hs->step == STEP_MSG2 ||
            hs->step == STEP_MSG3) &&
           !my_turn_to_write(hs);
}

/* The "s" token, read: the peer's static key, always encrypted here (a key
 * is set by then, as message_overhead counts). Said explicitly so that no
 * keyless copy of DHLEN + TAGLEN bytes into rs is ever possible. */
static enum ft_err read_s(struct ft_noise_handshake *hs, const uint8_t *msg)
{
    uint8_t rs[DHLEN + TAGLEN]; /* room for a keyless copy all the same */
    enum ft_err err;

    if (!hs->cs.has_key)
        return FT_ERR_PROTOCOL;
    err = decrypt_and_hash(hs, msg, DHLEN + TAGLEN, rs);
    if (err == FT_OK)
        memcpy(hs->rs, rs, DHLEN);
    sodium_memzero(rs, sizeof(rs));
    return err;
}

enum ft_err ft_noise_write_message(struct ft_noise_handshake *hs,
                                   const uint8_t *payload, size_t len,
                                   uint8_t *out, size_t cap, size_t *out_len)
{
    size_t overhead, pos, n;
    enum ft_err err;

    if (hs == NULL || out == NULL || out_len == NULL ||
        (payload == NULL && len > 0))
        return FT_ERR_USAGE;
    if (!my_turn_to_write(hs))
        return FT_ERR_PROTOCOL;
    /* All checks come before the first change to the state, so that a
     * refused call leaves the handshake as it was. */
    overhead = message_overhead(hs);
    if (len > FT_NOISE_MAX_MESSAGE_BYTES - overhead || overhead + len > cap)
        return FT_ERR_USAGE;

    pos = 0;
    if (hs->step != STEP_MSG3) {
        write_e(hs, out);
        pos = DHLEN;
    }
    if (hs->step == STEP_MSG2) {
        /* <- e, ee, s, es as the responder. */
        err = dh_mix_key(hs, hs->e_priv, hs->re); /* ee */
        if (err == FT_OK)
            err = encrypt_and_hash(hs, hs->s_pub, DHLEN, out + pos, &n); /* s */
        if (err != FT_OK)
            return fail(hs, err);
        pos += n;
        err = dh_mix_key(hs, hs->s_priv, hs->re); /* es, responder side */
        if (err != FT_OK)
            return fail(hs, err);
    } else if (hs->step == STEP_MSG3) {
        /* -> s, se[, psk] as the initiator. */
        err = encrypt_and_hash(hs, hs->s_pub, DHLEN, out, &n); /* s */
        if (err == FT_OK)
            err = dh_mix_key(hs, hs->s_priv, hs->re); /* se, initiator side */
        if (err != FT_OK)
            return fail(hs, err);
        pos += n;
        if (hs->has_psk)
            mix_key_and_hash(hs, hs->psk, FT_NOISE_PSK_BYTES);
    }
    err = encrypt_and_hash(hs, payload != NULL ? payload : empty, len,
                           out + pos, &n);
    if (err != FT_OK)
        return fail(hs, err);
    pos += n;

    if (hs->step == STEP_MSG3)
        finish(hs);
    else
        hs->step++;
    *out_len = pos;
    return FT_OK;
}

enum ft_err ft_noise_read_message(struct ft_noise_handshake *hs,
                                  const uint8_t *msg, size_t len,
                                  uint8_t *payload, size_t cap,
                                  size_t *payload_len)
{
    uint8_t none[1]; /* where an empty payload goes when payload is NULL */
    size_t overhead, pos, plen;
    enum ft_err err;

    if (hs == NULL || msg == NULL || payload_len == NULL ||
        (payload == NULL && cap > 0))
        return FT_ERR_USAGE;
    if (!my_turn_to_read(hs))
        return FT_ERR_PROTOCOL;
    overhead = message_overhead(hs);
    if (len < overhead || len > FT_NOISE_MAX_MESSAGE_BYTES)
        return FT_ERR_PROTOCOL;
    plen = len - overhead;
    if (plen > cap)
        return FT_ERR_USAGE;

    pos = 0;
    if (hs->step != STEP_MSG3) {
        read_e(hs, msg);
        pos = DHLEN;
    }
    if (hs->step == STEP_MSG2) {
        /* <- e, ee, s, es as the initiator. */
        err = dh_mix_key(hs, hs->e_priv, hs->re); /* ee */
        if (err == FT_OK)
            err = read_s(hs, msg + pos); /* s */
        if (err == FT_OK)
            err = dh_mix_key(hs, hs->e_priv, hs->rs); /* es, initiator side */
        if (err != FT_OK)
            return fail(hs, err);
        pos += DHLEN + TAGLEN;
    } else if (hs->step == STEP_MSG3) {
        /* -> s, se[, psk] as the responder. */
        err = read_s(hs, msg); /* s */
        if (err == FT_OK)
            err = dh_mix_key(hs, hs->e_priv, hs->rs); /* se, responder side */
        if (err != FT_OK)
            return fail(hs, err);
        pos += DHLEN + TAGLEN;
        if (hs->has_psk)
            mix_key_and_hash(hs, hs->psk, FT_NOISE_PSK_BYTES);
    }
    /* payload is NULL only with cap 0, so plen is 0: nothing is written. */
    err = decrypt_and_hash(hs, msg + pos, len - pos,
                           payload != NULL ? payload : none);
    if (err != FT_OK)
        return fail(hs, err);

    /* Only now, with every tag of the message checked, is the static key
     * it carried the peer's. */
    if (hs->step != STEP_MSG1)
        hs->has_rs = true;
    if (hs->step == STEP_MSG3)
        finish(hs);
    else
        hs->step++;
    *payload_len = plen;
    return FT_OK;
}

bool ft_noise_handshake_done(const struct ft_noise_handshake *hs)
{
    return hs != NULL && (hs->step == STEP_DONE || hs->step == STEP_SPLIT);
}

enum ft_err ft_noise_split(struct ft_noise_handshake *hs,
                           struct ft_noise_cipherstate *send,
                           struct ft_noise_cipherstate *recv)
{
    uint8_t k1[HASHLEN], k2[HASHLEN];
    struct ft_noise_cipherstate *c1, *c2;

    if (hs == NULL || send == NULL || recv == NULL || send == recv)
        return FT_ERR_USAGE;
    if (hs->step != STEP_DONE)
        return FT_ERR_PROTOCOL;
    /* Split: HKDF(ck, zero-length input, 2), each key truncated to 32. */
    hkdf(hs->ck, empty, 0, k1, k2, NULL);
    c1 = hs->initiator ? send : recv;
    c2 = hs->initiator ? recv : send;
    sodium_memzero(c1, sizeof(*c1));
    sodium_memzero(c2, sizeof(*c2));
    c1->cipher = hs->cipher;
    c2->cipher = hs->cipher;
    cipher_set_key(c1, k1);
    cipher_set_key(c2, k2);
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
    sodium_memzero(hs->ck, sizeof(hs->ck));
    hs->step = STEP_SPLIT;
    return FT_OK;
}

const uint8_t *ft_noise_remote_static(const struct ft_noise_handshake *hs)
{
    if (hs == NULL || !hs->has_rs)
        return NULL;
    return hs->rs;
}

void ft_noise_handshake_hash(const struct ft_noise_handshake *hs,
                             uint8_t out[FT_NOISE_HASH_BYTES])
{
    if (hs == NULL)
        memset(out, 0, HASHLEN);
    else
        memcpy(out, hs->h, HASHLEN);
}

/* ---- Transport ----------------------------------------------------------- */

enum ft_err ft_noise_encrypt(struct ft_noise_cipherstate *cs,
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *plain, size_t len, uint8_t *out)
{
    if (cs == NULL || out == NULL || (plain == NULL && len > 0) ||
        (ad == NULL && ad_len > 0) || len > FT_NOISE_MAX_PAYLOAD_BYTES)
        return FT_ERR_USAGE;
    /* A transport without a key would send plaintext: refuse. */
    if (!cs->has_key)
        return FT_ERR_PROTOCOL;
    return cipher_encrypt_ad(cs, ad != NULL ? ad : empty, ad_len,
                             plain != NULL ? plain : empty, len, out);
}

enum ft_err ft_noise_decrypt(struct ft_noise_cipherstate *cs,
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *cipher, size_t len, uint8_t *out)
{
    if (cs == NULL || cipher == NULL || out == NULL ||
        (ad == NULL && ad_len > 0))
        return FT_ERR_USAGE;
    if (!cs->has_key || len < TAGLEN || len > FT_NOISE_MAX_MESSAGE_BYTES)
        return FT_ERR_PROTOCOL;
    return cipher_decrypt_ad(cs, ad != NULL ? ad : empty, ad_len, cipher, len,
                             out);
}
