/*
 * msgctx.h - per-connection and per-message state of tlsrpt-milter.
 *
 * libmilter runs the callbacks of one connection one at a time, but maybe
 * on different worker threads, so all state lives in a tm_conn hung on the
 * connection with smfi_setpriv(); nothing per-message is global.
 *
 * Ownership:
 *   - tm_conn: allocated in xxfi_connect (or lazily by the first callback
 *     that finds none), freed only in xxfi_close (which also resets msg).
 *   - tm_msg (embedded in tm_conn): reset -- decoder freed, recipient
 *     strings freed -- at xxfi_envfrom (a new message starts), at the end
 *     of xxfi_eom and in xxfi_abort. Many messages per connection are fine.
 *   - tm_msg.dec: created at the first header / end of headers of a mail
 *     with a report recipient, owned by the message, freed by the reset.
 *   - tm_msg.rua[i]: copies of argv[0] of xxfi_envrcpt, byte for byte (as
 *     smfi_delrcpt() needs them), owned by the message.
 *   - the configuration and the store are process-wide, created before
 *     smfi_main() and only read by the callbacks (the store is thread-safe).
 *
 * Limits: at most TM_MAX_RUA_RCPTS report recipients are remembered; with
 * more, the mail is tagged instead of discarded (never lost).
 */
#ifndef TM_MSGCTX_H
#define TM_MSGCTX_H

#include <stddef.h>
#include <libmilter/mfapi.h>
#include "tlsrpt.h"
#include "store.h"
#include "config.h"

#define TM_MAX_RUA_RCPTS 1000
#define TM_QUEUEID_MAX 64
#define TM_STATUS_HEADER "X-TLSRPT-Status"

/* One message (MAIL FROM .. end of message or abort). */
typedef struct tm_msg {
    char **rua;                 /* report recipients exactly as received (owned) */
    size_t n_rua;
    size_t n_other;             /* recipients that are not report addresses */
    int has_rua;                /* at least one report recipient was seen */
    int rua_lost;               /* a report recipient could not be remembered:
                                   never remove recipients nor discard */
    tlsrpt_decoder *dec;        /* decoder (owned), NULL until the headers start */
    int feeding;                /* 1 while the decoder takes input */
    const char *fail_reason;    /* internal failure token ("out-of-memory"), or NULL */
    unsigned n_status_hdrs;     /* X-TLSRPT-Status fields already in the mail */
    char queue_id[TM_QUEUEID_MAX]; /* "{i}" macro, "" until known */
} tm_msg;

/* One SMTP connection from the MTA. */
typedef struct tm_conn {
    tm_msg msg;
    unsigned long n_msgs;       /* messages seen on this connection */
} tm_conn;

/* Hand the callbacks the shared configuration and store (before smfi_register). */
void tm_callbacks_init(const tm_config *cfg, tlsrpt_store *store);
/* The filter description for smfi_register(). */
struct smfiDesc *tm_milter_desc(void);

#endif
