/*
 * session.h - one MTA-side milter connection of the test driver: OPTNEG,
 * CONNECT, HELO, then N messages (MAIL, RCPT..., DATA, headers, EOH, body
 * chunks, EOM), then QUIT. Each message's actions are printed as one block.
 *
 * Ownership: drv_opts and the msgfiles are read-only and shared by all
 * connection threads; each thread owns its mp_conn and its drv_stats, which
 * the caller adds up after joining. Output blocks are written under a mutex.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stddef.h>
#include "msgfile.h"

/* Command-line settings shared by every connection. */
typedef struct drv_opts {
    const char *socket;
    const char *from;
    const char **rcpts;
    size_t nrcpts;
    size_t chunk;           /* body chunk size, 1..65535 */
    int chunk_delay_ms;     /* -d: pause before each body chunk (a slow MTA), 0 = none */
    int nmsg;               /* messages per connection */
    int nconn;              /* concurrent connections */
    int abort_all;          /* -a: abort every message mid-body */
    int abort_nth;          /* -A K: abort the K-th message of each connection */
    int timeout_ms;
    int verbose;            /* also print CONTINUE replies of every step */
    int quiet;              /* print only the summary */
    int probe;              /* -P: only connect, negotiate, quit */
    int no_leadspc;         /* -L: do not offer SMFIP_HDR_LEADSPC */
    const char *helo;
    msgfile *files;
    size_t nfiles;
} drv_opts;

/* Per-connection counters, summed by main. */
typedef struct drv_stats {
    unsigned long messages, accept, cont, discard, reject, tempfail, replycode;
    unsigned long aborted, errors, addheader, delrcpt, early;
} drv_stats;

/* Connect, negotiate options and quit; 0 when the filter answered, else -1 (message on stderr). */
int drv_probe(const drv_opts *o);
/* Run connection number idx (0-based) to completion; counts into st. */
void drv_run_connection(const drv_opts *o, int idx, drv_stats *st);

#endif
