/* s3_heads.c - many HEADs at once over curl's multi interface, a bounded number in flight. */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One HEAD in flight: its easy handle (and connection) is reused by the
 * next key the slot takes. */
struct slot {
    CURL *h;
    struct ft_s3_req req;
    struct ft_s3_call call;
    size_t index; /* in the run's keys */
    int busy;
};

struct ft_s3_heads {
    struct ft_s3 *s;
    CURLM *m;
    struct slot slots[FT_S3_HEADS_MAX];
    char err[512];
};

enum ft_err ft_s3_heads_open(struct ft_s3 *s, struct ft_s3_heads **out)
{
    struct ft_s3_heads *hs = calloc(1, sizeof(*hs));

    if (hs)
        hs->m = curl_multi_init();
    if (!hs || !hs->m) {
        ft_s3_heads_close(hs);
        return FT_ERR_NOMEM;
    }
    hs->s = s;
    /* curl keeps four idle connections per easy handle added, and none is
     * added between runs: without this, a run's connections would be cut
     * down to a few when its last HEAD ends, and the next run would open
     * them again. */
    curl_multi_setopt(hs->m, CURLMOPT_MAXCONNECTS, (long)FT_S3_HEADS_MAX);
    *out = hs;
    return FT_ERR_OK;
}

const char *ft_s3_heads_error(const struct ft_s3_heads *hs)
{
    return hs->err;
}

/* Sends key's HEAD on sl (made on first use) through the one request path. */
static enum ft_err start(struct ft_s3_heads *hs, struct slot *sl, size_t i, const char *key)
{
    enum ft_err err;

    if (!sl->h && !(sl->h = curl_easy_init()))
        return FT_ERR_NOMEM;
    sl->req = (struct ft_s3_req){.method = "HEAD", .key = key};
    err = ft_s3_call_setup(hs->s, sl->h, &sl->req, &sl->call);
    if (!err && curl_multi_add_handle(hs->m, sl->h) != CURLM_OK)
        err = FT_ERR_NOMEM;
    if (err) {
        ft_s3_call_end(&sl->call, CURLE_OUT_OF_MEMORY, hs->err, sizeof(hs->err));
        return err;
    }
    sl->index = i;
    sl->busy = 1;
    return FT_ERR_OK;
}

/* The outcome of sl's HEAD, its message kept when it failed. */
static enum ft_err finish(struct ft_s3_heads *hs, struct slot *sl, CURLcode rc)
{
    char msg[sizeof(hs->err)];
    enum ft_err err;

    curl_multi_remove_handle(hs->m, sl->h);
    err = ft_s3_call_end(&sl->call, rc, msg, sizeof(msg));
    if (err)
        memcpy(hs->err, msg, sizeof(msg));
    sl->busy = 0;
    return err;
}

static struct slot *slot_of(struct ft_s3_heads *hs, CURL *h)
{
    for (size_t i = 0; i < FT_S3_HEADS_MAX; i++)
        if (hs->slots[i].busy && hs->slots[i].h == h)
            return &hs->slots[i];
    return NULL;
}

/* Hands each ended HEAD to cb; *ended counts them. Nonzero: cb said stop. */
static int collect(struct ft_s3_heads *hs, ft_s3_head_cb cb, void *arg, size_t *ended)
{
    CURLMsg *msg;
    int left, stop = 0;

    while (!stop && (msg = curl_multi_info_read(hs->m, &left)) != NULL) {
        struct slot *sl = msg->msg == CURLMSG_DONE ? slot_of(hs, msg->easy_handle) : NULL;
        enum ft_err err;

        if (!sl)
            continue;
        err = finish(hs, sl, msg->data.result);
        (*ended)++;
        stop = cb(arg, sl->index, err, &sl->call.head);
    }
    return stop;
}

enum ft_err ft_s3_heads_run(struct ft_s3_heads *hs, const char *const *keys, size_t n,
                            ft_s3_head_cb cb, void *arg)
{
    size_t next = 0, busy = 0, ended;
    enum ft_err err = FT_ERR_OK;
    int running, stop = 0;

    while (!err && !stop && (next < n || busy > 0)) {
        for (size_t i = 0; !err && next < n && i < FT_S3_HEADS_MAX; i++) {
            if (hs->slots[i].busy)
                continue;
            err = start(hs, &hs->slots[i], next, keys[next]);
            next++;
            busy += !err;
        }
        if (err)
            break;
        if (curl_multi_perform(hs->m, &running) != CURLM_OK) {
            err = FT_ERR_NOMEM;
            snprintf(hs->err, sizeof(hs->err), "S3 HEAD: curl's multi interface failed");
            break;
        }
        ended = 0;
        stop = collect(hs, cb, arg, &ended);
        busy -= ended;
        if (!stop && ended == 0 && busy > 0)
            curl_multi_poll(hs->m, NULL, 0, 1000, NULL);
    }
    /* What is still in flight when the run is cut short is dropped. */
    for (size_t i = 0; i < FT_S3_HEADS_MAX; i++) {
        if (hs->slots[i].busy) {
            char ignored[sizeof(hs->err)];
            curl_multi_remove_handle(hs->m, hs->slots[i].h);
            ft_s3_call_end(&hs->slots[i].call, CURLE_OK, ignored, sizeof(ignored));
            hs->slots[i].busy = 0;
        }
    }
    return !err && stop ? FT_ERR_INTERRUPTED : err;
}

void ft_s3_heads_close(struct ft_s3_heads *hs)
{
    if (!hs)
        return;
    /* No handle is in the multi between runs: it goes first, as curl asks. */
    if (hs->m)
        curl_multi_cleanup(hs->m);
    for (size_t i = 0; i < FT_S3_HEADS_MAX; i++)
        if (hs->slots[i].h)
            curl_easy_cleanup(hs->slots[i].h);
    free(hs);
}
