/*
 * retry_int.h - inside the retry thread: retry.c (the thread) and recount.c
 * (one entry counted from the archive).
 */
#ifndef TM_RETRY_INT_H
#define TM_RETRY_INT_H

#include "spool.h"
#include "store.h"
#include "config.h"

/* Count (NEW, COUNTING) or flag (PARTIAL) pending entry id, claimed by the caller, with
   store st and the limits of cfg. 0 = settled or skipped (logged), 1 = the store failed:
   the entry stays pending. */
int tm_recount_entry(tlsrpt_spool *sp, tlsrpt_store *st, const tm_config *cfg, const char *id,
                     int state);

#endif
