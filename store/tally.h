/*
 * tally.h - inside store/: the rebuild tally's structures (tally.c builds it,
 * rebuild.c writes it). Not a public API: store.h has the calls.
 */
#ifndef TLSRPT_TALLY_H
#define TLSRPT_TALLY_H

#include "store_int.h"

/* One key of the tally: a counter (v), a set (mem, ll), a marker or label (str). */
typedef struct tl_ent {
    char *key;
    uint64_t v;
    char day[11];               /* the report day of a d:/hosts: key, "nc" for nc:, "" else */
    unsigned char ll;           /* a long-lived set (P domains, d:D:days, nc:days) */
    char *str;
    tlsrpt_members mem;
} tl_ent;

/* Keys to entries (open addressing over an array of entries). */
typedef struct tl_map {
    tl_ent *e;
    size_t n, cap;
    size_t *tab, tcap;          /* 0 empty, else entry index + 1 */
} tl_map;

struct tlsrpt_tally {
    tlsrpt_store *st;
    tl_map ctr;                 /* counters */
    tl_map set;                 /* index sets */
    tl_map seen;                /* dedup markers (value "ENTRYID rebuilt") */
    tl_map label;               /* P org:ORG:name */
    tl_map rep;                 /* new domains per reporter and arrival day (budgets) */
    tlsrpt_members known_domains;
    size_t reports, dups;
};

/* Entry index of key, or -1. */
long tl_find(const tl_map *m, const char *key);
/* Entry of key, created (zeroed) when missing; NULL on out of memory. */
tl_ent *tl_put(tl_map *m, const char *key);
/* Free a map and what its entries own. */
void tl_free(tl_map *m);

#endif
