/*
 * rbio.h - inside store/: the rebuild's I/O helpers (rbio.c), used by rebuild.c.
 */
#ifndef TLSRPT_RBIO_H
#define TLSRPT_RBIO_H

#include "store_int.h"

#define RB_BURST 4000

/* A list of owned strings. */
typedef struct rb_list {
    char **v;
    size_t n, cap;
} rb_list;
/* Requests to send, with the values they own. */
typedef struct rb_batch {
    st_req *r;
    char **own;                 /* per request: the value it owns (or NULL) */
    size_t n, cap;
} rb_batch;

/* Append a copy of s to l; -1 on out of memory. */
int rl_add(rb_list *l, const char *s);
void rl_free(rb_list *l);
/* Queue one request (key must outlive the batch, val is copied; extras 8 = flags+exp). */
int rb_push(rb_batch *b, unsigned char op, const char *key, const char *val, size_t vlen,
            time_t exp, int extras);
void rb_clear(rb_batch *b);
/* Send a batch; vals (b->n entries, may be NULL) get the values of gets; answers of
   status `ignore` are counted into *ignored. 0 or -1 (errbuf). */
int rb_send(st_call *c, rb_batch *b, char **vals, unsigned ignore, size_t *ignored);
/* Read whole sets keys[0..n): ms[i] members, links[i] highest token. 0 or -1. */
int read_sets(st_call *c, char *const *keys, size_t n, tlsrpt_members *ms, unsigned *links);
/* Queue set key as a fresh chain of ms (old_links: the old chain's, deleted beyond). */
int push_chain(st_call *c, rb_batch *b, rb_list *own, const char *key, const tlsrpt_members *ms,
               unsigned old_links);
/* Queue the delete of set key with its links 1..old_links. */
int push_unset(st_call *c, rb_batch *b, rb_list *own, const char *key, unsigned old_links);

#endif
