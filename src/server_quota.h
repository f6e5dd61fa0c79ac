/* server_quota.h - how much each client's world holds: the bytes and files
 * under a root, counted once, kept up to date, with the uploads under way
 * and the interrupted ones kept counted too.
 *
 * A root's usage is counted by one walk of the store, at the first session
 * of that root that needs it, and is then kept in memory for the server's
 * life, shared by every session of that root and changed under one lock
 * by every upload, removal and move, whichever session makes it (a change
 * counts for every counted root that holds its name). Folders do not
 * count as files: files= counts stored files. */
#ifndef FT_SERVER_QUOTA_H
#define FT_SERVER_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients.h"
#include "ft/error.h"
#include "resume.h"
#include "store.h"

struct ft_quotas; /* a server's: every root counted so far */
struct ft_quota;  /* one root's usage */

/* What one upload holds of its root's usage until it is committed, fails
 * or is kept: its announced size (or what arrived, when the size is not
 * known) and the file it will make. */
struct ft_quota_hold {
    struct ft_quota *q; /* NULL: nothing held */
    uint64_t bytes, files;
    bool grows;         /* the size is not known: held as it arrives */
    char key[FT_RESUME_KEY_HEX_BYTES]; /* kept under this if interrupted; "" */
};

/* A root's usage as ft df shows it. */
struct ft_quota_usage {
    uint64_t bytes, files;                 /* stored */
    uint64_t pending_bytes, pending_files; /* uploads under way, kept ones */
};

enum ft_err ft_quotas_new(struct ft_store *st, int64_t partial_ttl_s,
                          struct ft_quotas **out);
void ft_quotas_free(struct ft_quotas *qs);

/* The usage of root ("": the whole store), counted by a walk the first
 * time; a session that asks while another counts it waits for that. */
enum ft_err ft_quota_attach(struct ft_quotas *qs, const char *root,
                            struct ft_quota **out);
/* The usage of root if it was counted already, else NULL. */
struct ft_quota *ft_quota_find(struct ft_quotas *qs, const char *root);

/* Holds bytes and files for an upload, if q's usage stays within r's
 * quota with them; FT_ERR_QUOTA if not (nothing is held then). The kept
 * upload under h->key (set before) stops counting: this upload takes it
 * over. q NULL: nothing to count, FT_OK. */
enum ft_err ft_quota_reserve(struct ft_quota *q, const struct ft_client_rights *r,
                             uint64_t bytes, uint64_t files,
                             struct ft_quota_hold *h);
/* n more bytes of an upload of unknown size: FT_ERR_QUOTA if they do not
 * fit. */
enum ft_err ft_quota_grow(struct ft_quota_hold *h, const struct ft_client_rights *r,
                          uint64_t n);
/* Ends what h holds: a committed upload (up as the commit left it) counts
 * for every root that holds its name; one that was not and left a kept
 * upload counts that until it is resumed or expires. */
void ft_quota_finish(struct ft_quotas *qs, struct ft_quota_hold *h,
                     const struct ft_upload *up, bool committed);

/* A change the store made at name (a removal, a move's ends): counts for
 * every root that holds name. */
void ft_quotas_charge(struct ft_quotas *qs, const char *name, int64_t bytes,
                      int64_t files);
/* Whether any root is counted: if not, nothing need be measured for it. */
bool ft_quotas_counting(struct ft_quotas *qs);
/* Whether every counted root holds both names or neither: a move between
 * them then changes nothing but what it replaces. */
bool ft_quotas_same_roots(struct ft_quotas *qs, const char *a, const char *b);

void ft_quota_usage(struct ft_quota *q, struct ft_quota_usage *u);
/* Why an upload was refused with FT_ERR_QUOTA, for the client: "quota
 * exceeded: 10 of 10 files used". */
void ft_quota_describe(struct ft_quota *q, const struct ft_client_rights *r,
                       char *buf, size_t cap);

#endif
