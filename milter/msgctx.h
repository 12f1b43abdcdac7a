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
 *   - tm_msg.mem: the decoder's charge against MaxDecodeMemory, given back
 *     by the reset (budget.h).
 *   - tm_msg.auth: the mail's DKIM verification (Authentication dkim), made
 *     with the decoder from the generation's tlsrpt_auth_lib, owned by the
 *     message, freed by the reset before the generation is released.
 *   - tm_msg.rua[i]: copies of argv[0] of xxfi_envrcpt, byte for byte (as
 *     smfi_delrcpt() needs them), owned by the message.
 *   - tm_msg.gen: the configuration generation (configuration + store,
 *     gen.h) current when the mail started: a reference taken at
 *     xxfi_envfrom and dropped by the reset, which also runs as soon as we
 *     give a final answer for the mail (accept, discard, tempfail) -- so a
 *     reload never changes a mail half way, and "mails in flight" are the
 *     mails holding a reference. Callbacks read the configuration only
 *     through m->gen, never a global.
 *
 *   - tm_msg.arch: the archive writer (ArchiveDir), begun with the decoder,
 *     committed or aborted at end of message, aborted by the reset.
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
#include "auth.h"
#include "config.h"
#include "gen.h"
#include "budget.h"
#include "archive.h"

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
    tlsrpt_auth *auth;          /* DKIM verification (owned), NULL without Authentication dkim */
    int auth_body;              /* the DKIM verdict still needs the body */
    tm_mem mem;                 /* the decoder's share of MaxDecodeMemory (budget.h) */
    size_t mem_bound;           /* one mail's decoder bound at the generation's limits */
    size_t mem_budget;          /* the generation's MaxDecodeMemory */
    int leadspc;                /* at end of message: HDR_LEADSPC negotiated, so a header
                                   value we add must carry its own leading blank */
    int feeding;                /* 1 while the decoder takes input */
    const char *fail_reason;    /* internal failure token ("out-of-memory"), or NULL */
    unsigned n_status_hdrs;     /* X-TLSRPT-Status fields already in the mail */
    char queue_id[TM_QUEUEID_MAX]; /* "{i}" macro, "" until known */
    tm_gen *gen;                /* referenced generation, NULL when no mail is open */
    tm_flight flight;           /* our entry in the list of mails in flight (gen.h) */
    tm_arch arch;               /* the mail's archive entry (archive.h): writer owned by
                                   the message, aborted by the reset unless committed */
} tm_msg;

/* One SMTP connection from the MTA. */
typedef struct tm_conn {
    tm_msg msg;
    unsigned long n_msgs;       /* messages seen on this connection */
    int leadspc;                /* the MTA keeps the blank after a header's colon
                                   (SMFIP_HDR_LEADSPC negotiated) */
} tm_conn;

/* The filter description for smfi_register(). */
struct smfiDesc *tm_milter_desc(void);

#endif
