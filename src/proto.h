/* proto.h - ft protocol messages <-> frame payloads. No I/O here.
 *
 * docs/PROTOCOL.md is the normative description; this file is its code.
 * Decoded messages point into the payload they came from (struct ft_bytes),
 * so they live only as long as that buffer. */
#ifndef FT_PROTO_H
#define FT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ft/error.h"
#include "ft/frame.h"

#define FT_PROTO_VERSION 2
#define FT_PROTO_MAGIC "\x89" "FT\n"
#define FT_PROTO_MAGIC_BYTES 4
/* Bytes of file content per DATA frame, at most. A peer whose frame limit
 * is lower (WELCOME's max_payload) gets smaller chunks. */
#define FT_CHUNK_BYTES (256u * 1024u)
/* The smallest frame limit a server may announce. */
#define FT_MIN_MAX_PAYLOAD 4096u
#define FT_DIGEST_BYTES 32
/* Longest human message an ERROR frame carries. */
#define FT_ERROR_TEXT_MAX 512
/* Longest name on the wire; the store applies its own, tighter rules. */
#define FT_WIRE_NAME_MAX 4096
/* Size of a PUT whose length is not known in advance (standard input). */
#define FT_SIZE_UNKNOWN UINT64_MAX

/* Feature bits negotiated by HELLO/WELCOME. The client offers the channels
 * it can run; the server's WELCOME names exactly one. */
#define FT_FEATURE_ZLIB 0x1u
#define FT_FEATURE_CHACHAPOLY 0x2u /* Noise_NX(psk2)_25519_ChaChaPoly_BLAKE2b */
#define FT_FEATURE_AESGCM 0x4u     /* Noise_NX(psk2)_25519_AESGCM_BLAKE2b */
#define FT_FEATURE_PLAINTEXT 0x8u  /* no encryption: asked, and allowed */
#define FT_FEATURE_TOKEN 0x10u     /* the psk2 variant: a token is mixed in */
#define FT_FEATURE_PIPELINE 0x20u  /* PUT with FT_XFER_PIPELINE is understood */
#define FT_FEATURE_MKDIR 0x40u     /* the MKDIR request is understood */
#define FT_FEATURE_STREAMS 0x80u   /* striped transfers, JOIN and STRIPE */
#define FT_FEATURE_USAGE 0x100u    /* the USAGE request is understood (ft df) */
#define FT_FEATURE_DELTA 0x200u    /* TOUCH, DELTA_PUT, DELTA_GET (ft sync) */
#define FT_FEATURE_LIST_PACKED 0x400u /* LIST with FT_TREE_PACKED: ENTRIES */
#define FT_FEATURE_TOUCH_PACKED 0x800u /* TOUCHES, answered by TOUCHED */
#define FT_FEATURE_CHANNELS                                                    \
    (FT_FEATURE_CHACHAPOLY | FT_FEATURE_AESGCM | FT_FEATURE_PLAINTEXT)
/* What a session has when both sides do: WELCOME repeats those offered. */
#define FT_FEATURE_SHARED                                                      \
    (FT_FEATURE_ZLIB | FT_FEATURE_PIPELINE | FT_FEATURE_MKDIR |               \
     FT_FEATURE_STREAMS | FT_FEATURE_USAGE | FT_FEATURE_DELTA |               \
     FT_FEATURE_LIST_PACKED | FT_FEATURE_TOUCH_PACKED)


/* Flags of PUT and GET. */
#define FT_XFER_COMPRESS 0x1u /* the sender may send DATA_Z frames */
#define FT_XFER_VERIFY 0x2u   /* END carries the BLAKE2b-256 digest */
#define FT_XFER_META 0x4u     /* PUT's mtime and mode are the source's */
#define FT_XFER_RESUME 0x8u   /* continue an interrupted transfer (SUMS) */
/* PUT: the data follows at once, with no READY; the answer may come after
 * later requests' data (the server commits several uploads together). */
#define FT_XFER_PIPELINE 0x10u
/* PUT and GET: the data may travel striped over connections that JOIN;
 * STREAMS follows READY and says whether it does (stripe.h). */
#define FT_XFER_STRIPED 0x20u
/* PUT (with FT_FEATURE_DELTA): the server cuts the file into chunks as it
 * arrives and records their list with it, for the delta syncs to come. */
#define FT_XFER_CHUNKS 0x40u
#define FT_XFER_KNOWN_FLAGS                                                    \
    (FT_XFER_COMPRESS | FT_XFER_VERIFY | FT_XFER_META | FT_XFER_RESUME |      \
     FT_XFER_PIPELINE | FT_XFER_STRIPED | FT_XFER_CHUNKS)
/* A striped transfer's ticket and join secret (JOIN, STREAMS). */
#define FT_JOIN_TICKET_BYTES 16
#define FT_JOIN_SECRET_BYTES 32
/* Resumed transfers compare what is already there in chunks of this size,
 * by their BLAKE2b-256 digests; SUMS frames carry at most this many. */
#define FT_RESUME_CHUNK_BYTES (4u * 1024u * 1024u)
#define FT_SUMS_PER_FRAME 120u /* fits any side's small-message buffer */
/* The permission bits that travel: the executable bits. The rest follow
 * the receiver's own defaults, as with cp. */
#define FT_MODE_EXEC 0111u
/* Mode bits of ENTRY and STAT_INFO: the type, as in POSIX st_mode. */
#define FT_MODE_TYPE 0170000u
#define FT_MODE_DIR 0040000u
#define FT_MODE_FILE 0100000u

/* CHUNKS: entries per frame at most (1 + 12 * 340 bytes: fits any side's
 * small-message buffer). */
#define FT_CHUNKS_PER_FRAME 340u
#define FT_CHUNK_ENTRY_BYTES 12u

/* USAGE_INFO's quota when there is none. */
#define FT_QUOTA_NONE UINT64_MAX

/* Flags of LIST and DELETE. */
#define FT_TREE_RECURSIVE 0x1u
/* Flag of LIST (with FT_FEATURE_LIST_PACKED): answer with ENTRIES frames,
 * many prefix-coded entries each (entries.h), instead of one ENTRY each. */
#define FT_TREE_PACKED 0x2u
/* Flag of MKDIR: make the missing folders above too, and take an existing
 * folder for success, as mkdir -p does. */
#define FT_MKDIR_PARENTS 0x1u

enum ft_msg_type {
    FT_MSG_HELLO = 1,
    FT_MSG_WELCOME = 2,
    FT_MSG_ERROR = 3,
    FT_MSG_PUT = 4,
    FT_MSG_GET = 5,
    FT_MSG_LIST = 6,
    FT_MSG_DELETE = 7,
    FT_MSG_READY = 8,
    FT_MSG_DATA = 9,
    FT_MSG_DATA_Z = 10,
    FT_MSG_END = 11,
    FT_MSG_DONE = 12,
    FT_MSG_ENTRY = 13,
    FT_MSG_NOISE = 14, /* a Noise handshake message */
    FT_MSG_STAT = 15,
    FT_MSG_STAT_INFO = 16,
    FT_MSG_MOVE = 17,
    FT_MSG_KEEPALIVE = 18, /* "still here": sent while busy, skipped by readers */
    FT_MSG_SUMS = 19,      /* digests of the chunks a side already holds */
    FT_MSG_RESUME_AT = 20, /* put: the offset the client sends from */
    FT_MSG_MKDIR = 21,     /* make a folder (with FT_FEATURE_MKDIR) */
    /* With FT_FEATURE_STREAMS: */
    FT_MSG_STREAMS = 22, /* after READY of a striped request: how to join */
    FT_MSG_JOIN = 23,    /* a new connection's first request: join a transfer */
    FT_MSG_STRIPE = 24,  /* the unit whose DATA follows; length 0: no more */
    /* With FT_FEATURE_USAGE: */
    FT_MSG_USAGE = 25,      /* how much the client holds, and may (ft df) */
    FT_MSG_USAGE_INFO = 26, /* the answer */
    /* With FT_FEATURE_DELTA (ft sync; PROTOCOL.md 9.9): */
    FT_MSG_TOUCH = 27,       /* same content? then take this mtime and mode */
    FT_MSG_DELTA_PUT = 28,   /* upload as a delta against the stored version */
    FT_MSG_DELTA_GET = 29,   /* download as a delta against the client's */
    FT_MSG_CHUNKS = 30,      /* a signature: the receiver's chunk list */
    FT_MSG_DELTA_COPY = 31,  /* new content: chunks the receiver has */
    FT_MSG_DELTA_CHUNK = 32, /* new content: one chunk's bytes follow */
    /* With FT_FEATURE_LIST_PACKED: */
    FT_MSG_ENTRIES = 33, /* many entries of a listing, packed (entries.h) */
    /* With FT_FEATURE_TOUCH_PACKED: */
    FT_MSG_TOUCHES = 34, /* many TOUCHes in one request, packed (touches.h) */
    FT_MSG_TOUCHED = 35, /* their answer: one result each */
};

struct ft_bytes {
    const uint8_t *ptr;
    size_t len;
};

struct ft_msg {
    enum ft_msg_type type;
    union {
        struct { uint16_t version; uint32_t features; } hello;
        struct { uint16_t version; uint32_t features; uint32_t max_payload; } welcome;
        struct { uint16_t code; struct ft_bytes text; } error;
        struct {
            uint32_t flags;
            uint64_t size;
            struct ft_bytes name;
            int64_t mtime;  /* with FT_XFER_META */
            uint32_t mode;  /* permission bits, with FT_XFER_META */
        } put;
        struct { uint32_t flags; struct ft_bytes name; } get;
        struct { uint32_t flags; struct ft_bytes name; } del;
        struct { uint32_t flags; struct ft_bytes folder; } list;
        /* Answer to PUT (all zero) and to GET (the file's). */
        struct {
            uint64_t size;
            int64_t mtime;
            uint32_t mode;
            uint64_t offset; /* get: where DATA starts; put: what the server holds */
        } ready;
        /* The holder's chunk digests; the source's size and mtime when the
         * holder got its part (get), so a changed source starts over. An
         * empty list ends them. */
        struct {
            uint32_t chunk;
            uint64_t src_size;
            int64_t src_mtime;
            struct ft_bytes digests; /* a multiple of FT_DIGEST_BYTES */
        } sums;
        struct { uint64_t offset; } resume_at;
        struct { struct ft_bytes bytes; } data;
        struct { uint32_t raw_len; struct ft_bytes deflated; } data_z;
        struct { uint64_t total; bool has_digest; uint8_t digest[FT_DIGEST_BYTES]; } end;
        /* PUT published (count = bytes), DELETE done, LIST ended (entries),
         * MKDIR done (1: the folder was made, 0: it was there). */
        struct { uint64_t count; } done;
        struct {
            uint64_t size;
            int64_t mtime;
            uint32_t mode; /* FT_MODE_DIR or FT_MODE_FILE | permissions */
            struct ft_bytes name;
        } entry;
        struct { struct ft_bytes bytes; } noise;
        /* flags: FT_STAT_*; sent only when not 0. */
        struct { struct ft_bytes name; uint32_t flags; } stat;
        struct {
            uint64_t size;
            int64_t mtime;
            uint32_t mode;
            uint8_t digest[FT_DIGEST_BYTES];
        } stat_info;
        struct { struct ft_bytes from, to; } move;
        struct { uint32_t flags; struct ft_bytes name; } mkdir;
        /* streams: how many connections may join (0: not striped, the
         * data follows on this one as for any request). */
        struct {
            uint32_t streams;
            uint8_t ticket[FT_JOIN_TICKET_BYTES];
            uint8_t secret[FT_JOIN_SECRET_BYTES];
        } streams;
        struct {
            uint8_t ticket[FT_JOIN_TICKET_BYTES];
            uint8_t proof[FT_DIGEST_BYTES];
        } join;
        struct { uint64_t offset; uint32_t length; } stripe;
        /* The client's world: stored, under way or kept (pending), and its
         * quota (FT_QUOTA_NONE: none). USAGE itself carries nothing. */
        struct {
            uint64_t bytes, pending_bytes, quota_bytes;
            uint64_t files, pending_files, quota_files;
        } usage_info;
        /* If the stored file's content has this digest, it takes mtime
         * and mode (DONE 1); otherwise nothing changes (DONE 0). */
        struct {
            int64_t mtime;
            uint32_t mode;
            uint8_t digest[FT_DIGEST_BYTES];
            struct ft_bytes name;
        } touch;
        /* flags: FT_XFER_COMPRESS | FT_XFER_VERIFY | FT_XFER_META. */
        struct {
            uint32_t flags;
            uint64_t size;
            int64_t mtime;
            uint32_t mode;
            struct ft_bytes name;
        } delta_put;
        struct { uint32_t flags; struct ft_bytes name; } delta_get;
        /* level: the chunker's (chunker.h), the same in every frame of one
         * list; entries: FT_CHUNK_ENTRY_BYTES each (length u32, hash u64),
         * none in the frame that ends the list. */
        struct { uint8_t level; struct ft_bytes entries; } chunks;
        struct { uint32_t first, count; } delta_copy;
        struct { uint32_t length; } delta_chunk;
        /* Packed entries (entries.h); never empty. */
        struct { struct ft_bytes bytes; } entries;
        /* TOUCHES and TOUCHED (touches.h); never empty. */
        struct { struct ft_bytes bytes; } packed;
    } u;
};

/* Encodes msg into buf (capacity cap); *len receives the payload length.
 * DATA and DATA_Z are not encoded here: their bytes are sent in place. */
enum ft_err ft_msg_encode(const struct ft_msg *msg, uint8_t *buf, size_t cap,
                          size_t *len);

/* Decodes a frame's payload. Returns FT_ERR_PROTOCOL for an unknown type or
 * a payload that is short, long or out of range. */
enum ft_err ft_msg_decode(uint8_t type, const uint8_t *payload, size_t len,
                          struct ft_msg *msg);

/* The name of a message type for diagnostics ("DATA"), or "unknown". */
const char *ft_msg_name(unsigned type);

/* Header of a DATA_Z frame: the 4-byte raw length before the deflated data. */
/* STAT flag: answer at once, with the digest only if the server recorded
 * one (zeros otherwise), never by reading the whole file. */
#define FT_STAT_NO_HASH 1u

#define FT_DATA_Z_HEADER_BYTES 4
void ft_msg_put_u32(uint8_t *p, uint32_t v);

#endif
