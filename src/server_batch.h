/* server_batch.h - pipelined uploads committed together, answered in order.
 *
 * A session hands each pipelined upload received whole to its batch; the
 * batch commits them together on a thread of its own while the session
 * receives the next, and gives each its answer, in order, through the
 * session's callbacks. It never touches the connection. */
#ifndef FT_SERVER_BATCH_H
#define FT_SERVER_BATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server_quota.h"
#include "store.h"

struct put_queue;

/* The descriptors that uploads waiting in batches may hold, shared by all
 * of a server's sessions: what the process may open beyond what each
 * session needs for its own request. A batch that cannot take its next
 * upload's from here, or has taken its session's share, is committed at
 * once, so that no client, however many uploads it leaves waiting, can
 * leave the others without descriptors. */
struct ft_server_fd_budget {
    atomic_size_t free;
    size_t session_max; /* the most one session's batches hold */
};

/* The budget of a server of at most sessions sessions in a process that
 * may open limit descriptors (RLIMIT_NOFILE). */
void ft_server_fd_budget_init(struct ft_server_fd_budget *fb, uint64_t limit,
                              unsigned sessions);

/* How the batch reaches the client, through the session. */
struct ft_server_batch_replies {
    /* The answer to one committed upload (err its commit's result),
     * called in the order the uploads were enqueued. */
    void (*answer)(void *ctx, const struct ft_upload *up,
                   struct ft_quota_hold *hold, uint64_t bytes, int64_t started,
                   enum ft_err err);
    /* Around a run of answers: true before, false after, so that they
     * may leave together. */
    void (*gather)(void *ctx, bool on);
    /* Called every heartbeat_ms while a commit is awaited: flushing a
     * large file can outlast the client's timeout. */
    void (*heartbeat)(void *ctx);
    int heartbeat_ms;
    void *ctx;
};

struct ft_server_batch {
    struct ft_store *store;
    struct ft_server_fd_budget *fds;
    struct ft_server_batch_replies replies;
    /* The queue being filled (made at the first upload) and the other
     * one: being committed meanwhile, or empty. */
    struct put_queue *queue;
    struct put_queue *spare;
    bool committing;
};

void ft_server_batch_init(struct ft_server_batch *b, struct ft_store *store,
                          struct ft_server_fd_budget *fds,
                          const struct ft_server_batch_replies *replies);

/* Room for the bytes of a small pipelined upload, held in memory until
 * its commit; NULL: it goes to its temporary as it arrives. */
uint8_t *ft_server_batch_held_room(struct ft_server_batch *b, uint64_t size);

/* Takes over a pipelined upload received whole (up is left empty) and
 * what it holds of its quota (hold too); its answer comes through replies
 * once it is committed, with that hold to end. */
enum ft_err ft_server_batch_enqueue(struct ft_server_batch *b, struct ft_upload *up,
                                    struct ft_quota_hold *hold, uint64_t bytes,
                                    int64_t started);

/* Whether uploads wait for their commit or their answers. */
bool ft_server_batch_waiting(const struct ft_server_batch *b);

/* Commits every waiting upload and answers each, in order. */
void ft_server_batch_flush(struct ft_server_batch *b);

/* Commits one upload that is not pipelined, with heartbeats meanwhile. */
enum ft_err ft_server_batch_commit_one(struct ft_server_batch *b, struct ft_upload *up);

/* Gives back the queues' memory; none may be waiting (flush first). */
void ft_server_batch_release(struct ft_server_batch *b);

#endif
