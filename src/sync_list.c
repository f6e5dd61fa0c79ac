/* sync_list.c - a side's entries for ft sync, packed: names prefix-coded
 * and numbers as varints (entries.c's encoding), in one growing arena. */
#include <stdlib.h>
#include <string.h>

#include "sync_int.h"

/* Entries per group: each group starts afresh (a whole name), so that an
 * entry is found by decoding at most this many. */
#define GROUP 8

/* The type rides in the two low bits of the size. */
#define TYPE_BITS 2

enum ft_err ft_sync_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
    size_t n = *cap ? *cap : first;
    void *grown;

    while (n < need)
        n *= 2;
    if (n == *cap)
        return FT_OK;
    if ((grown = realloc(*p, n * size)) == NULL)
        return FT_ERR_NOMEM;
    *p = grown;
    *cap = n;
    return FT_OK;
}

enum ft_err ft_sync_list_add(struct sync_list *l, const struct sync_entry *e)
{
    struct ft_entries_item it = { (e->size << TYPE_BITS) | (uint64_t)e->type, e->mtime,
                                  e->mode };
    size_t len = strlen(e->name);

    if (len > FT_WIRE_NAME_MAX || e->size >> (64 - TYPE_BITS) != 0)
        return FT_ERR_BAD_NAME;
    if (l->put == NULL && (l->put = malloc(sizeof(*l->put))) == NULL)
        return FT_ERR_NOMEM;
    if (l->n > 0 && ft_sync_name_cmp(l->put->prev, e->name) >= 0)
        l->unsorted = true;
    if (l->n % GROUP == 0) {
        if (ft_sync_grow((void **)&l->groups, &l->capgroups, l->n / GROUP + 1,
                         sizeof(*l->groups), 64) != FT_OK)
            return FT_ERR_NOMEM;
        l->groups[l->n / GROUP] = l->len;
        ft_entries_start(l->put);
    }
    while (!ft_entries_put(l->put, l->bytes, l->cap, &l->len, e->name, len, &it)) {
        if (ft_sync_grow((void **)&l->bytes, &l->cap, l->cap + 1, 1, 4096) != FT_OK)
            return FT_ERR_NOMEM;
    }
    l->n++;
    return FT_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    return ft_sync_name_cmp(((const struct sync_entry *)a)->name,
                            ((const struct sync_entry *)b)->name);
}

enum ft_err ft_sync_list_sort(struct sync_list *l)
{
    struct sync_list out = { 0 };
    struct sync_cursor c = { .i = 0 };
    struct sync_entry *all = calloc(l->n + 1, sizeof(*all));
    size_t n = 0;
    enum ft_err err = all != NULL ? FT_OK : FT_ERR_NOMEM;

    while (err == FT_OK && ft_sync_list_next(l, &c, &all[n])) {
        if ((all[n].name = strdup(all[n].name)) == NULL)
            err = FT_ERR_NOMEM;
        else
            n++;
    }
    if (err == FT_OK)
        qsort(all, n, sizeof(*all), entry_cmp);
    for (size_t k = 0; k < n && err == FT_OK; k++)
        err = ft_sync_list_add(&out, &all[k]);
    for (size_t k = 0; k < n; k++)
        free((char *)all[k].name);
    free(all);
    if (err != FT_OK) {
        ft_sync_list_free(&out);
        return err;
    }
    ft_sync_list_free(l);
    *l = out;
    return FT_OK;
}

bool ft_sync_list_next(const struct sync_list *l, struct sync_cursor *c,
                       struct sync_entry *e)
{
    struct ft_entries_item it;

    if (c->i >= l->n)
        return false;
    if (c->i % GROUP == 0) {
        ft_entries_start(&c->st);
        c->off = l->groups[c->i / GROUP];
    }
    /* What ft_sync_list_add encoded decodes. */
    if (ft_entries_next(&c->st, l->bytes, l->len, &c->off, &it) != FT_OK)
        return false;
    *e = (struct sync_entry){ c->st.prev, it.size >> TYPE_BITS, it.mtime, it.mode,
                              (enum sync_type)(it.size & ((1u << TYPE_BITS) - 1)) };
    c->i++;
    return true;
}

const struct sync_entry *ft_sync_list_get(const struct sync_list *l, size_t i,
                                          struct sync_held *h)
{
    h->c.i = i - i % GROUP;
    while (h->c.i <= i && ft_sync_list_next(l, &h->c, &h->e))
        ;
    return &h->e;
}

void ft_sync_list_free(struct sync_list *l)
{
    free(l->bytes);
    free(l->groups);
    free(l->put);
    memset(l, 0, sizeof(*l));
}
