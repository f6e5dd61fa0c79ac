/* proto.c - encoding and decoding of ft messages. */
#include "proto.h"

#include <string.h>

#include "noise.h"

/* A bounded writer: once a put does not fit, every later put is ignored
 * and the encode fails, so callers check once at the end. */
struct writer {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
};

/* A bounded reader: a get past the end marks it bad and yields zeros. */
struct reader {
    const uint8_t *buf;
    size_t len, pos;
    bool bad;
};

void ft_msg_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_bytes(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_uint(struct writer *w, uint64_t v, size_t width)
{
    uint8_t b[8];

    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    put_bytes(w, b, width);
}

/* A string with a 16-bit length before it. */
static void put_str(struct writer *w, struct ft_bytes s)
{
    if (s.len > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    put_uint(w, s.len, 2);
    put_bytes(w, s.ptr, s.len);
}

static const uint8_t *get_bytes(struct reader *r, size_t n)
{
    const uint8_t *p;

    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return NULL;
    }
    p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_uint(struct reader *r, size_t width)
{
    const uint8_t *p = get_bytes(r, width);
    uint64_t v = 0;

    if (p == NULL)
        return 0;
    for (size_t i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

static struct ft_bytes get_str(struct reader *r, size_t max)
{
    struct ft_bytes s = { NULL, 0 };
    size_t n = (size_t)get_uint(r, 2);

    if (n > max) {
        r->bad = true;
        return s;
    }
    s.ptr = get_bytes(r, n);
    s.len = s.ptr != NULL ? n : 0;
    return s;
}

/* n bytes copied out, or zeros when the payload is short. */
static void get_into(struct reader *r, uint8_t *out, size_t n)
{
    const uint8_t *p = get_bytes(r, n);

    if (p != NULL)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

/* The rest of the payload. */
static struct ft_bytes get_rest(struct reader *r)
{
    struct ft_bytes s = { NULL, 0 };

    if (!r->bad) {
        s.ptr = r->buf + r->pos;
        s.len = r->len - r->pos;
        r->pos = r->len;
    }
    return s;
}

/* One case per message type, in the order of docs/PROTOCOL.md: the
 * function is long because it is the wire format's table, and read as one
 * it can be checked against that document line by line. */
enum ft_err ft_msg_encode(const struct ft_msg *msg, uint8_t *buf, size_t cap,
                          size_t *len)
{
    struct writer w = { .buf = buf, .cap = cap };
    const struct ft_bytes magic = { (const uint8_t *)FT_PROTO_MAGIC,
                                    FT_PROTO_MAGIC_BYTES };

    switch (msg->type) {
    case FT_MSG_HELLO:
        put_bytes(&w, magic.ptr, magic.len);
        put_uint(&w, msg->u.hello.version, 2);
        put_uint(&w, msg->u.hello.features, 4);
        break;
    case FT_MSG_WELCOME:
        put_bytes(&w, magic.ptr, magic.len);
        put_uint(&w, msg->u.welcome.version, 2);
        put_uint(&w, msg->u.welcome.features, 4);
        put_uint(&w, msg->u.welcome.max_payload, 4);
        break;
    case FT_MSG_ERROR:
        put_uint(&w, msg->u.error.code, 2);
        put_bytes(&w, msg->u.error.text.ptr,
                  msg->u.error.text.len > FT_ERROR_TEXT_MAX
                      ? FT_ERROR_TEXT_MAX
                      : msg->u.error.text.len);
        break;
    case FT_MSG_PUT:
        put_uint(&w, msg->u.put.flags, 4);
        put_uint(&w, msg->u.put.size, 8);
        put_str(&w, msg->u.put.name);
        put_uint(&w, (uint64_t)msg->u.put.mtime, 8);
        put_uint(&w, msg->u.put.mode, 4);
        break;
    case FT_MSG_GET:
        put_uint(&w, msg->u.get.flags, 4);
        put_str(&w, msg->u.get.name);
        break;
    case FT_MSG_KEEPALIVE:
    case FT_MSG_USAGE:
        break;
    case FT_MSG_SUMS:
        put_uint(&w, msg->u.sums.chunk, 4);
        put_uint(&w, msg->u.sums.src_size, 8);
        put_uint(&w, (uint64_t)msg->u.sums.src_mtime, 8);
        put_bytes(&w, msg->u.sums.digests.ptr, msg->u.sums.digests.len);
        break;
    case FT_MSG_RESUME_AT:
        put_uint(&w, msg->u.resume_at.offset, 8);
        break;
    case FT_MSG_LIST:
        put_uint(&w, msg->u.list.flags, 4);
        put_str(&w, msg->u.list.folder);
        break;
    case FT_MSG_DELETE:
        put_uint(&w, msg->u.del.flags, 4);
        put_str(&w, msg->u.del.name);
        break;
    case FT_MSG_READY:
        put_uint(&w, msg->u.ready.size, 8);
        put_uint(&w, (uint64_t)msg->u.ready.mtime, 8);
        put_uint(&w, msg->u.ready.mode, 4);
        put_uint(&w, msg->u.ready.offset, 8);
        break;
    case FT_MSG_END:
        put_uint(&w, msg->u.end.total, 8);
        if (msg->u.end.has_digest)
            put_bytes(&w, msg->u.end.digest, FT_DIGEST_BYTES);
        break;
    case FT_MSG_DONE:
        put_uint(&w, msg->u.done.count, 8);
        break;
    case FT_MSG_ENTRY:
        put_uint(&w, msg->u.entry.size, 8);
        put_uint(&w, (uint64_t)msg->u.entry.mtime, 8);
        put_uint(&w, msg->u.entry.mode, 4);
        put_str(&w, msg->u.entry.name);
        break;
    case FT_MSG_NOISE:
        put_bytes(&w, msg->u.noise.bytes.ptr, msg->u.noise.bytes.len);
        break;
    case FT_MSG_ENTRIES:
        put_bytes(&w, msg->u.entries.bytes.ptr, msg->u.entries.bytes.len);
        break;
    case FT_MSG_TOUCHES:
    case FT_MSG_TOUCHED:
        put_bytes(&w, msg->u.packed.bytes.ptr, msg->u.packed.bytes.len);
        break;
    case FT_MSG_STAT:
        put_str(&w, msg->u.stat.name);
        if (msg->u.stat.flags != 0)
            put_uint(&w, msg->u.stat.flags, 4);
        break;
    case FT_MSG_STAT_INFO:
        put_uint(&w, msg->u.stat_info.size, 8);
        put_uint(&w, (uint64_t)msg->u.stat_info.mtime, 8);
        put_uint(&w, msg->u.stat_info.mode, 4);
        put_bytes(&w, msg->u.stat_info.digest, FT_DIGEST_BYTES);
        break;
    case FT_MSG_MOVE:
        put_str(&w, msg->u.move.from);
        put_str(&w, msg->u.move.to);
        break;
    case FT_MSG_MKDIR:
        put_uint(&w, msg->u.mkdir.flags, 4);
        put_str(&w, msg->u.mkdir.name);
        break;
    case FT_MSG_STREAMS:
        put_uint(&w, msg->u.streams.streams, 4);
        put_bytes(&w, msg->u.streams.ticket, FT_JOIN_TICKET_BYTES);
        put_bytes(&w, msg->u.streams.secret, FT_JOIN_SECRET_BYTES);
        break;
    case FT_MSG_JOIN:
        put_bytes(&w, msg->u.join.ticket, FT_JOIN_TICKET_BYTES);
        put_bytes(&w, msg->u.join.proof, FT_DIGEST_BYTES);
        break;
    case FT_MSG_STRIPE:
        put_uint(&w, msg->u.stripe.offset, 8);
        put_uint(&w, msg->u.stripe.length, 4);
        break;
    case FT_MSG_USAGE_INFO:
        put_uint(&w, msg->u.usage_info.bytes, 8);
        put_uint(&w, msg->u.usage_info.pending_bytes, 8);
        put_uint(&w, msg->u.usage_info.quota_bytes, 8);
        put_uint(&w, msg->u.usage_info.files, 8);
        put_uint(&w, msg->u.usage_info.pending_files, 8);
        put_uint(&w, msg->u.usage_info.quota_files, 8);
        break;
    case FT_MSG_TOUCH:
        put_uint(&w, (uint64_t)msg->u.touch.mtime, 8);
        put_uint(&w, msg->u.touch.mode, 4);
        put_bytes(&w, msg->u.touch.digest, FT_DIGEST_BYTES);
        put_str(&w, msg->u.touch.name);
        break;
    case FT_MSG_DELTA_PUT:
        put_uint(&w, msg->u.delta_put.flags, 4);
        put_uint(&w, msg->u.delta_put.size, 8);
        put_uint(&w, (uint64_t)msg->u.delta_put.mtime, 8);
        put_uint(&w, msg->u.delta_put.mode, 4);
        put_str(&w, msg->u.delta_put.name);
        break;
    case FT_MSG_DELTA_GET:
        put_uint(&w, msg->u.delta_get.flags, 4);
        put_str(&w, msg->u.delta_get.name);
        break;
    case FT_MSG_CHUNKS:
        if (msg->u.chunks.entries.len % FT_CHUNK_ENTRY_BYTES != 0 ||
            msg->u.chunks.entries.len >
                FT_CHUNKS_PER_FRAME * FT_CHUNK_ENTRY_BYTES)
            return FT_ERR_PROTOCOL;
        put_uint(&w, msg->u.chunks.level, 1);
        put_bytes(&w, msg->u.chunks.entries.ptr, msg->u.chunks.entries.len);
        break;
    case FT_MSG_DELTA_COPY:
        put_uint(&w, msg->u.delta_copy.first, 4);
        put_uint(&w, msg->u.delta_copy.count, 4);
        break;
    case FT_MSG_DELTA_CHUNK:
        put_uint(&w, msg->u.delta_chunk.length, 4);
        break;
    case FT_MSG_DATA:
    case FT_MSG_DATA_Z:
        return FT_ERR_USAGE;
    }
    if (w.overflow)
        return FT_ERR_FRAME_TOO_BIG;
    *len = w.len;
    return FT_OK;
}

/* The reverse of ft_msg_encode, one case per message type, long for the
 * same reason: one table of the format, every field bounded as it is read. */
enum ft_err ft_msg_decode(uint8_t type, const uint8_t *payload, size_t len,
                          struct ft_msg *msg)
{
    struct reader r = { .buf = payload, .len = len };
    const uint8_t *magic;
    size_t digest_len;

    memset(msg, 0, sizeof(*msg));
    msg->type = (enum ft_msg_type)type;
    switch (type) {
    case FT_MSG_HELLO:
        magic = get_bytes(&r, FT_PROTO_MAGIC_BYTES);
        if (magic == NULL || memcmp(magic, FT_PROTO_MAGIC, FT_PROTO_MAGIC_BYTES))
            return FT_ERR_NOT_FT;
        msg->u.hello.version = (uint16_t)get_uint(&r, 2);
        msg->u.hello.features = (uint32_t)get_uint(&r, 4);
        /* Later versions may append fields; version 1 ignores them. */
        get_rest(&r);
        break;
    case FT_MSG_WELCOME:
        magic = get_bytes(&r, FT_PROTO_MAGIC_BYTES);
        if (magic == NULL || memcmp(magic, FT_PROTO_MAGIC, FT_PROTO_MAGIC_BYTES))
            return FT_ERR_NOT_FT;
        msg->u.welcome.version = (uint16_t)get_uint(&r, 2);
        msg->u.welcome.features = (uint32_t)get_uint(&r, 4);
        msg->u.welcome.max_payload = (uint32_t)get_uint(&r, 4);
        get_rest(&r);
        break;
    case FT_MSG_ERROR:
        msg->u.error.code = (uint16_t)get_uint(&r, 2);
        msg->u.error.text = get_rest(&r);
        if (msg->u.error.text.len > FT_ERROR_TEXT_MAX)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_PUT:
        msg->u.put.flags = (uint32_t)get_uint(&r, 4);
        msg->u.put.size = get_uint(&r, 8);
        msg->u.put.name = get_str(&r, FT_WIRE_NAME_MAX);
        msg->u.put.mtime = (int64_t)get_uint(&r, 8);
        msg->u.put.mode = (uint32_t)get_uint(&r, 4);
        break;
    case FT_MSG_GET:
        msg->u.get.flags = (uint32_t)get_uint(&r, 4);
        msg->u.get.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_KEEPALIVE:
    case FT_MSG_USAGE:
        break;
    case FT_MSG_SUMS:
        msg->u.sums.chunk = (uint32_t)get_uint(&r, 4);
        msg->u.sums.src_size = get_uint(&r, 8);
        msg->u.sums.src_mtime = (int64_t)get_uint(&r, 8);
        msg->u.sums.digests = get_rest(&r);
        if (msg->u.sums.digests.len % FT_DIGEST_BYTES != 0 ||
            msg->u.sums.digests.len > FT_SUMS_PER_FRAME * FT_DIGEST_BYTES ||
            msg->u.sums.chunk != FT_RESUME_CHUNK_BYTES)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_RESUME_AT:
        msg->u.resume_at.offset = get_uint(&r, 8);
        break;
    case FT_MSG_LIST:
        msg->u.list.flags = (uint32_t)get_uint(&r, 4);
        msg->u.list.folder = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_DELETE:
        msg->u.del.flags = (uint32_t)get_uint(&r, 4);
        msg->u.del.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_READY:
        msg->u.ready.size = get_uint(&r, 8);
        msg->u.ready.mtime = (int64_t)get_uint(&r, 8);
        msg->u.ready.mode = (uint32_t)get_uint(&r, 4);
        msg->u.ready.offset = get_uint(&r, 8);
        break;
    case FT_MSG_DATA:
        msg->u.data.bytes = get_rest(&r);
        if (msg->u.data.bytes.len > FT_CHUNK_BYTES)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_DATA_Z:
        msg->u.data_z.raw_len = (uint32_t)get_uint(&r, 4);
        msg->u.data_z.deflated = get_rest(&r);
        if (msg->u.data_z.raw_len == 0 || msg->u.data_z.raw_len > FT_CHUNK_BYTES)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_END:
        msg->u.end.total = get_uint(&r, 8);
        digest_len = r.bad ? 0 : r.len - r.pos;
        if (digest_len == FT_DIGEST_BYTES) {
            msg->u.end.has_digest = true;
            memcpy(msg->u.end.digest, get_bytes(&r, FT_DIGEST_BYTES),
                   FT_DIGEST_BYTES);
        }
        break;
    case FT_MSG_DONE:
        msg->u.done.count = get_uint(&r, 8);
        break;
    case FT_MSG_ENTRY:
        msg->u.entry.size = get_uint(&r, 8);
        msg->u.entry.mtime = (int64_t)get_uint(&r, 8);
        msg->u.entry.mode = (uint32_t)get_uint(&r, 4);
        msg->u.entry.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_STAT:
        msg->u.stat.name = get_str(&r, FT_WIRE_NAME_MAX);
        msg->u.stat.flags = r.pos < r.len ? (uint32_t)get_uint(&r, 4) : 0;
        break;
    case FT_MSG_STAT_INFO: {
        const uint8_t *d;

        msg->u.stat_info.size = get_uint(&r, 8);
        msg->u.stat_info.mtime = (int64_t)get_uint(&r, 8);
        msg->u.stat_info.mode = (uint32_t)get_uint(&r, 4);
        d = get_bytes(&r, FT_DIGEST_BYTES);
        if (d != NULL)
            memcpy(msg->u.stat_info.digest, d, FT_DIGEST_BYTES);
        break;
    }
    case FT_MSG_MOVE:
        msg->u.move.from = get_str(&r, FT_WIRE_NAME_MAX);
        msg->u.move.to = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_MKDIR:
        msg->u.mkdir.flags = (uint32_t)get_uint(&r, 4);
        msg->u.mkdir.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_STREAMS:
        msg->u.streams.streams = (uint32_t)get_uint(&r, 4);
        get_into(&r, msg->u.streams.ticket, FT_JOIN_TICKET_BYTES);
        get_into(&r, msg->u.streams.secret, FT_JOIN_SECRET_BYTES);
        break;
    case FT_MSG_JOIN:
        get_into(&r, msg->u.join.ticket, FT_JOIN_TICKET_BYTES);
        get_into(&r, msg->u.join.proof, FT_DIGEST_BYTES);
        break;
    case FT_MSG_STRIPE:
        msg->u.stripe.offset = get_uint(&r, 8);
        msg->u.stripe.length = (uint32_t)get_uint(&r, 4);
        break;
    case FT_MSG_USAGE_INFO:
        msg->u.usage_info.bytes = get_uint(&r, 8);
        msg->u.usage_info.pending_bytes = get_uint(&r, 8);
        msg->u.usage_info.quota_bytes = get_uint(&r, 8);
        msg->u.usage_info.files = get_uint(&r, 8);
        msg->u.usage_info.pending_files = get_uint(&r, 8);
        msg->u.usage_info.quota_files = get_uint(&r, 8);
        break;
    case FT_MSG_TOUCH:
        msg->u.touch.mtime = (int64_t)get_uint(&r, 8);
        msg->u.touch.mode = (uint32_t)get_uint(&r, 4);
        get_into(&r, msg->u.touch.digest, FT_DIGEST_BYTES);
        msg->u.touch.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_DELTA_PUT:
        msg->u.delta_put.flags = (uint32_t)get_uint(&r, 4);
        msg->u.delta_put.size = get_uint(&r, 8);
        msg->u.delta_put.mtime = (int64_t)get_uint(&r, 8);
        msg->u.delta_put.mode = (uint32_t)get_uint(&r, 4);
        msg->u.delta_put.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_DELTA_GET:
        msg->u.delta_get.flags = (uint32_t)get_uint(&r, 4);
        msg->u.delta_get.name = get_str(&r, FT_WIRE_NAME_MAX);
        break;
    case FT_MSG_CHUNKS:
        msg->u.chunks.level = (uint8_t)get_uint(&r, 1);
        msg->u.chunks.entries = get_rest(&r);
        if (msg->u.chunks.entries.len % FT_CHUNK_ENTRY_BYTES != 0 ||
            msg->u.chunks.entries.len >
                FT_CHUNKS_PER_FRAME * FT_CHUNK_ENTRY_BYTES)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_DELTA_COPY:
        msg->u.delta_copy.first = (uint32_t)get_uint(&r, 4);
        msg->u.delta_copy.count = (uint32_t)get_uint(&r, 4);
        break;
    case FT_MSG_DELTA_CHUNK:
        msg->u.delta_chunk.length = (uint32_t)get_uint(&r, 4);
        break;
    case FT_MSG_NOISE:
        msg->u.noise.bytes = get_rest(&r);
        if (msg->u.noise.bytes.len > FT_NOISE_MAX_MESSAGE_BYTES)
            return FT_ERR_PROTOCOL;
        break;
    case FT_MSG_ENTRIES:
        msg->u.entries.bytes = get_rest(&r);
        if (msg->u.entries.bytes.len == 0)
            return FT_ERR_PROTOCOL;
        break;
    /* Their contents are read by touches.c, which checks them. */
    case FT_MSG_TOUCHES:
    case FT_MSG_TOUCHED:
        msg->u.packed.bytes = get_rest(&r);
        if (msg->u.packed.bytes.len == 0)
            return FT_ERR_PROTOCOL;
        break;
    default:
        return FT_ERR_PROTOCOL;
    }
    /* Every byte must be accounted for: trailing junk is malformed too. */
    if (r.bad || r.pos != r.len)
        return FT_ERR_PROTOCOL;
    return FT_OK;
}

const char *ft_msg_name(unsigned type)
{
    switch (type) {
    case FT_MSG_HELLO: return "HELLO";
    case FT_MSG_WELCOME: return "WELCOME";
    case FT_MSG_ERROR: return "ERROR";
    case FT_MSG_PUT: return "PUT";
    case FT_MSG_GET: return "GET";
    case FT_MSG_LIST: return "LIST";
    case FT_MSG_DELETE: return "DELETE";
    case FT_MSG_READY: return "READY";
    case FT_MSG_DATA: return "DATA";
    case FT_MSG_DATA_Z: return "DATA_Z";
    case FT_MSG_END: return "END";
    case FT_MSG_DONE: return "DONE";
    case FT_MSG_ENTRY: return "ENTRY";
    case FT_MSG_NOISE: return "NOISE";
    case FT_MSG_ENTRIES: return "ENTRIES";
    case FT_MSG_TOUCHES: return "TOUCHES";
    case FT_MSG_TOUCHED: return "TOUCHED";
    case FT_MSG_STAT: return "STAT";
    case FT_MSG_STAT_INFO: return "STAT_INFO";
    case FT_MSG_MOVE: return "MOVE";
    case FT_MSG_KEEPALIVE: return "KEEPALIVE";
    case FT_MSG_SUMS: return "SUMS";
    case FT_MSG_RESUME_AT: return "RESUME_AT";
    case FT_MSG_MKDIR: return "MKDIR";
    case FT_MSG_STREAMS: return "STREAMS";
    case FT_MSG_JOIN: return "JOIN";
    case FT_MSG_STRIPE: return "STRIPE";
    case FT_MSG_USAGE: return "USAGE";
    case FT_MSG_USAGE_INFO: return "USAGE_INFO";
    case FT_MSG_TOUCH: return "TOUCH";
    case FT_MSG_DELTA_PUT: return "DELTA_PUT";
    case FT_MSG_DELTA_GET: return "DELTA_GET";
    case FT_MSG_CHUNKS: return "CHUNKS";
    case FT_MSG_DELTA_COPY: return "DELTA_COPY";
    case FT_MSG_DELTA_CHUNK: return "DELTA_CHUNK";
    }
    return "unknown";
}
