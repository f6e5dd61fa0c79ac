/* conn.h - a connection that carries ft messages over the framing layer.
 *
 * Shared by client and server: it owns the descriptor, one receive buffer
 * of the largest frame and a small read-ahead buffer, so memory per
 * connection is fixed. */
#ifndef FT_CONN_H
#define FT_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "ft/error.h"
#include "ft/frame.h"
#include "noise.h"
#include "proto.h"

/* How often a side that is busy or waiting tells its peer that it lives:
 * well within any peer's timeout for our next frame. */
#define FT_HEARTBEAT_MS 1000

struct ft_conn {
    int fd;
    int timeout_ms;    /* for each frame, sent or received */
    uint8_t *buf;      /* FT_FRAME_MAX_PAYLOAD bytes for received payloads */
    struct ft_frame_reader in; /* every frame received comes through it */
    size_t max_payload; /* largest payload accepted now: tighter before
                           the handshake is done */
    size_t send_chunk;  /* file bytes per DATA frame: what the peer takes */
    uint8_t last_header[FT_FRAME_HEADER_BYTES]; /* of the last frame read */
    size_t last_len;    /* payload bytes of the last message received */
    /* Once sealed, every frame's payload is a Noise transport message
     * whose associated data is the frame header. */
    bool sealed;
    /* The client of an XXpsk3 handshake, until its first frame: the server
     * may still say in clear that our token is wrong (PROTOCOL.md 8.10). */
    bool clear_token_word;
    struct ft_noise_cipherstate tx, rx;
    /* The handshake hash of a sealed connection, which no other connection
     * shares (channel binding); zeros on a plaintext one. */
    uint8_t channel[FT_NOISE_HASH_BYTES];
    uint8_t *seal_buf;  /* FT_NOISE_MAX_MESSAGE_BYTES: a frame being sealed */
    /* Whether KEEPALIVE frames are taken (and skipped): only once the
     * handshake is done, or a stranger could hold a slot forever. From
     * then on, too, a frame cut off is a lost connection (FT_ERR_CLOSED),
     * not a stranger's bytes (FT_ERR_PROTOCOL). */
    bool keepalives;
    /* A frame's header went out but not all its payload: nothing more may
     * be sent on this connection, not even an ERROR. */
    bool mid_frame;
    /* The heartbeat's clock (ft_io_now_ms, or a test's own), and when by it
     * the peer last had reason to know we live: when we last sent a frame,
     * or received one (the peer's wait for our answer starts then). */
    int64_t (*now_ms)(void);
    int64_t beat_ms;
    /* Bytes of frames sent and received, headers and seals included. */
    uint64_t wire_sent, wire_received;
    /* Frames held to leave together (ft_conn_batch): FT_CONN_BATCH_BYTES
     * when on, else NULL; batch_len of them in use. */
    uint8_t *batch;
    size_t batch_len;
    /* The peer's last ERROR frame: its code and NUL-terminated text. */
    enum ft_err peer_code;
    /* Quoted: a control byte takes four (\\xNN), so room for all. */
    char peer_text[4 * FT_ERROR_TEXT_MAX + 1];
};

/* Takes ownership of fd (closed by ft_conn_free, even on failure). */
enum ft_err ft_conn_init(struct ft_conn *c, int fd, int timeout_ms);
void ft_conn_free(struct ft_conn *c);

enum ft_err ft_conn_send(struct ft_conn *c, const struct ft_msg *m);

/* Sends m to leave with the frame that follows it at once (MSG_MORE). */
enum ft_err ft_conn_send_more(struct ft_conn *c, const struct ft_msg *m);

/* From now on, encrypts and authenticates every frame with the transport
 * keys of a finished handshake (which it takes over), and sends file data
 * in chunks that fit a Noise message. */
enum ft_err ft_conn_seal(struct ft_conn *c, struct ft_noise_cipherstate *tx,
                         struct ft_noise_cipherstate *rx);

/* Sends an ERROR frame; the text is formatted as by printf. */
enum ft_err ft_conn_send_error(struct ft_conn *c, enum ft_err code,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends a DATA or DATA_Z frame whose payload the caller built. */
enum ft_err ft_conn_send_raw(struct ft_conn *c, enum ft_msg_type type,
                             const void *payload, size_t len);

/* The same, to leave with the frame that follows it at once (MSG_MORE). */
enum ft_err ft_conn_send_raw_more(struct ft_conn *c, enum ft_msg_type type,
                                  const void *payload, size_t len);

/* Sends a DATA frame of len bytes read from file fd at off, through
 * sendfile: only on a connection that is not sealed. */
enum ft_err ft_conn_send_file(struct ft_conn *c, int fd, uint64_t off,
                              size_t len);

/* Receives and decodes one message; it points into c->buf until the next
 * call. An ERROR frame is returned as a message with its code and text
 * also kept in c->peer_code and c->peer_text. */
enum ft_err ft_conn_recv(struct ft_conn *c, struct ft_msg *m, int timeout_ms);

/* The same into buf (cap bytes) instead of c->buf: the data phase cycles
 * through buffers of its own. */
enum ft_err ft_conn_recv_into(struct ft_conn *c, uint8_t *buf, size_t cap,
                              struct ft_msg *m, int timeout_ms);

/* The same as ft_conn_recv, but a KEEPALIVE is returned like any other
 * message: for a caller that waits in slices and looks at other things
 * between them (another stream's failure). */
enum ft_err ft_conn_recv_any(struct ft_conn *c, struct ft_msg *m, int timeout_ms);

/* Tells the peer we are alive but busy (a long fsync, a hash): it resets
 * the peer's wait for our next frame. */
enum ft_err ft_conn_send_keepalive(struct ft_conn *c);

/* Sends a KEEPALIVE when FT_HEARTBEAT_MS have passed since this side last
 * sent a frame (a KEEPALIVE or any other); cheap enough to call per chunk
 * of a long task. */
enum ft_err ft_conn_heartbeat(struct ft_conn *c);

/* Waits as long as needed for done bytes, moved since started_ms, not to
 * exceed rate_limit bytes per second (0: no limit), telling the peer every
 * FT_HEARTBEAT_MS that we live. With listen (a sender whose peer's next
 * frame can only be a refusal of this transfer), ends early with the
 * peer's ERROR, or when the connection is cut; without (a receiver, whose
 * socket is full of data it is not reading yet, or a pipelined sender,
 * whose peer's frames belong to later exchanges) it only sleeps. */
enum ft_err ft_conn_pace(struct ft_conn *c, uint64_t rate_limit,
                         int64_t started_ms, uint64_t done, bool listen);

/* On, frames are gathered and written FT_CONN_BATCH_BYTES at a time (and
 * when a heartbeat is due, or before any frame is awaited): a stream of
 * many small frames, as a delta's literal chunks, costs a few syscalls
 * instead of one or two a frame. Off writes what is held. */
#define FT_CONN_BATCH_BYTES (256u * 1024u)
enum ft_err ft_conn_batch(struct ft_conn *c, bool on);

/* Whether a frame has come, or begins to within timeout_ms. */
bool ft_conn_input_waits(const struct ft_conn *c, int timeout_ms);

/* On, what is sent waits to leave in full segments; off sends what waits
 * (ft_net_cork on the connection's socket). */
void ft_conn_cork(struct ft_conn *c, bool on);

/* FT_OK when nothing is waiting to be read; otherwise receives the waiting
 * message (used to notice an ERROR while streaming, so not by a pipelined
 * sender: what waits then is the answer to an earlier request). */
enum ft_err ft_conn_poll_error(struct ft_conn *c);

#endif
