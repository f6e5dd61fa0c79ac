/* s3_reader.c - one object read as asked: one GET kept open, paused while unread. */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ft_s3_reader {
    struct ft_s3 *s;
    char *key;
    struct curl_slist *if_match; /* NULL: whatever the key holds */
    CURL *h;
    CURLM *m;
    struct ft_s3_req req;
    struct ft_s3_call call;
    int running;       /* a GET is open (maybe paused) */
    int paused;
    enum ft_err ended; /* the GET's outcome once it ended */
    int at_end;
    uint64_t pos;      /* object offset of the next byte handed out */
    char *spill;       /* the part of one write that did not fit */
    size_t spill_len, spill_off, spill_cap;
    char *dst;         /* the caller's buffer, while a read waits */
    size_t want, got;
    char err[512];
};

/* Takes what fits in the caller's buffer; keeps the rest of this one write
 * (at most one curl buffer); pauses when the buffer was already full. */
static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct ft_s3_reader *r = arg;
    size_t len = size * n, take;

    if (r->call.status / 100 != 2)
        return ft_s3_call_body(data, size, n, &r->call);
    if (r->got == r->want) {
        r->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    take = len < r->want - r->got ? len : r->want - r->got;
    memcpy(r->dst + r->got, data, take);
    r->got += take;
    if (take < len) {
        if (len - take > r->spill_cap) {
            char *p = realloc(r->spill, len - take);
            if (!p)
                return 0;
            r->spill = p;
            r->spill_cap = len - take;
        }
        memcpy(r->spill, data + take, len - take);
        r->spill_len = len - take;
        r->spill_off = 0;
    }
    return len;
}

static void stop_get(struct ft_s3_reader *r)
{
    if (!r->running)
        return;
    curl_multi_remove_handle(r->m, r->h);
    ft_s3_call_end(&r->call, CURLE_OK, r->err, sizeof(r->err));
    r->running = 0;
}

static enum ft_err start_get(struct ft_s3_reader *r, uint64_t off)
{
    enum ft_err err;
    stop_get(r);
    r->spill_len = r->spill_off = 0;
    r->paused = r->at_end = 0;
    r->ended = FT_ERR_OK;
    r->pos = off;
    r->req = (struct ft_s3_req){.method = "GET", .key = r->key, .ranged = off > 0,
                                .range_off = off, .headers = r->if_match};
    err = ft_s3_call_setup(r->s, r->h, &r->req, &r->call);
    if (err) {
        ft_s3_call_end(&r->call, CURLE_OUT_OF_MEMORY, r->err, sizeof(r->err));
        return err;
    }
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    if (curl_multi_add_handle(r->m, r->h) != CURLM_OK) {
        ft_s3_call_end(&r->call, CURLE_OUT_OF_MEMORY, r->err, sizeof(r->err));
        return FT_ERR_NOMEM;
    }
    r->running = 1;
    return FT_ERR_OK;
}

/* Moves the GET on until the caller's buffer is full or it ends. */
static void pump(struct ft_s3_reader *r)
{
    int still = 1;
    CURLMsg *msg;
    int left;

    if (r->paused) {
        r->paused = 0;
        curl_easy_pause(r->h, CURLPAUSE_CONT);
    }
    while (r->got < r->want && still && !r->paused) {
        if (curl_multi_perform(r->m, &still) != CURLM_OK)
            break;
        if (r->got < r->want && still && !r->paused)
            curl_multi_poll(r->m, NULL, 0, 1000, NULL);
    }
    while ((msg = curl_multi_info_read(r->m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_multi_remove_handle(r->m, r->h);
        r->ended = ft_s3_call_end(&r->call, msg->data.result, r->err, sizeof(r->err));
        /* A range starting at the end is 416: that is the end, not an error. */
        if (r->ended == FT_ERR_TOO_LARGE && r->req.ranged)
            r->ended = FT_ERR_OK, r->err[0] = '\0';
        r->running = 0;
        r->at_end = 1;
    }
}

enum ft_err ft_s3_reader_read_at(struct ft_s3_reader *r, void *buf, size_t n,
                                 uint64_t off, size_t *got)
{
    enum ft_err err;

    *got = 0;
    /* A GET that ended in a failure is tried again by the next read. */
    if (off != r->pos || (!r->running && (!r->at_end || r->ended != FT_ERR_OK))) {
        err = start_get(r, off);
        if (err)
            return err;
    }
    r->dst = buf;
    r->want = n;
    r->got = r->spill_len - r->spill_off < n ? r->spill_len - r->spill_off : n;
    if (r->got) {
        memcpy(buf, r->spill + r->spill_off, r->got);
        r->spill_off += r->got;
    }
    if (r->running && r->got < n)
        pump(r);
    *got = r->got;
    r->pos += r->got;
    r->dst = NULL;
    r->want = r->got = 0;
    if (*got == 0 && r->at_end)
        return r->ended;
    return FT_ERR_OK;
}

enum ft_err ft_s3_reader_open(struct ft_s3 *s, const char *key, const char *etag,
                              struct ft_s3_reader **out)
{
    struct ft_s3_reader *r = calloc(1, sizeof(*r));
    char line[FT_S3_ETAG_MAX + 16];
    if (!r)
        return FT_ERR_NOMEM;
    r->s = s;
    r->key = strdup(key);
    r->h = curl_easy_init();
    r->m = curl_multi_init();
    if (etag) {
        snprintf(line, sizeof(line), "If-Match: %s", etag);
        r->if_match = curl_slist_append(NULL, line);
    }
    if (!r->key || !r->h || !r->m || (etag && !r->if_match)) {
        ft_s3_reader_close(r);
        return FT_ERR_NOMEM;
    }
    *out = r;
    return FT_ERR_OK;
}

const char *ft_s3_reader_error(const struct ft_s3_reader *r)
{
    return r->err;
}

void ft_s3_reader_close(struct ft_s3_reader *r)
{
    if (!r)
        return;
    stop_get(r);
    if (r->m)
        curl_multi_cleanup(r->m);
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->if_match);
    free(r->spill);
    free(r->key);
    free(r);
}
