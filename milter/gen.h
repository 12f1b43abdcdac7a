/*
 * gen.h - configuration generations of the running milter: what SIGHUP swaps.
 *
 * A generation is one complete, checked configuration together with the
 * memcached store and the DKIM library handle (auth/, with the key file read
 * into it; none with Authentication none) built from it. There is always exactly one current
 * generation; a reload builds a new one off to the side and, only when it
 * is complete, makes it current (tm_gen_install). Every mail takes a
 * reference to the generation that is current when the mail starts
 * (tm_gen_acquire at MAIL FROM) and uses that configuration and store
 * until it ends (tm_gen_release at end of message, abort, an early final
 * answer or close). So a mail in flight keeps the configuration it started
 * with, and a generation is freed only when it is no longer current and
 * no mail holds it.
 *
 * Ownership: the current pointer holds one reference; each holder of a
 * tm_gen * (a mail) holds one. The configuration and store inside are
 * read-only once the generation exists (the store is thread-safe). Free
 * happens in whichever thread drops the last reference. One mutex guards
 * the pointer and the counts; nothing slow runs under it.
 * tm_gen_inflight() counts the references held by mails: the mails in flight.
 * At exit the current generation is not freed: libmilter's worker threads
 * may still run a callback while the process ends (it stays reachable).
 */
#ifndef TM_GEN_H
#define TM_GEN_H

#include "config.h"
#include "store.h"
#include "auth.h"

typedef struct tm_gen {
    tm_config cfg;              /* owned */
    tlsrpt_store *store;        /* owned */
    tlsrpt_auth_lib *auth;      /* owned; NULL with Authentication none. Every mail frees
                                   its tlsrpt_auth before it drops its reference */
    unsigned long id;           /* 1 at start, +1 per successful reload */
    unsigned refs;              /* under the module's lock */
} tm_gen;

/* A mail in flight, as the stop sees it: linked while the mail holds a generation. */
typedef struct tm_flight {
    struct tm_flight *prev, *next;  /* under the module's lock */
    char qid[64];                   /* queue id once known (copy, under the lock) */
} tm_flight;

/* memcached connections per store (a report waits for a free one). */
#define TM_STORE_POOL 32

/* Read and check path into a new generation (not yet current). NULL with the
   "FILE:LINE: ..." lines in err and their count in *nerr on errors. */
tm_gen *tm_gen_load(const char *path, char *err, size_t errlen, int *nerr);
/* Free a generation that never became current. */
void tm_gen_discard(tm_gen *g);

/* Make g current (numbering it); the previous one is freed once no mail holds it. */
void tm_gen_install(tm_gen *g);
/* The current generation with one more reference for the mail f (linked into the
   list of mails in flight); NULL only before the first install. */
tm_gen *tm_gen_acquire(tm_flight *f);
/* The mail f ends: unlink it and drop its reference to g; g NULL is ignored. */
void tm_gen_release(tm_gen *g, tm_flight *f);
/* Record the queue id of a mail in flight (for the stop's log lines). */
void tm_gen_flight_qid(tm_flight *f, const char *qid);
/* The current generation with one more reference for a background thread (retry.c):
   not a mail in flight (the stop does not wait for it). NULL before the first install. */
tm_gen *tm_gen_hold(void);
/* Drop a reference of tm_gen_hold; NULL is ignored. */
void tm_gen_drop(tm_gen *g);
/* Mails in flight (references held by mails). */
unsigned tm_gen_inflight(void);
/* Call fn with the queue id ("" when unknown) of every mail in flight, under the lock
   (fn must not call into this module). */
void tm_gen_each_inflight(void (*fn)(const char *qid, void *arg), void *arg);

#endif
