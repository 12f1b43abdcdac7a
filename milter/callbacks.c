/*
 * callbacks.c - the libmilter callbacks: collect the envelope, stream a
 * report mail's headers and body into a decoder, act at end of message.
 *
 * A mail without a report recipient (ReportAddress) is accepted at DATA
 * (or at the first header / end of headers when the MTA does not send
 * DATA), so its body is never sent to us. For a report mail every header
 * and body chunk goes to the per-message decoder and, with Authentication
 * dkim, to the mail's DKIM verification (auth/: key lookups at end of
 * headers, bounded by DkimTimeout; nothing of the body is kept for it);
 * after a decoder error the rest is read but fed to neither. What to do at
 * end of message is in outcome.c. State and ownership: see msgctx.h.
 *
 * Header values: xxfi_negotiate asks for SMFIP_HDR_LEADSPC when the MTA
 * offers it (Postfix and Sendmail do), so a value keeps the blank after its
 * colon, as DKIM's simple header canonicalisation needs; the decoder gets the
 * value without that one space, as before (what Postfix hands over without
 * the flag). An MTA without it: auth/ is told (TLSRPT_AUTH_HDR_STRIPPED).
 * With the flag the MTA also writes the values we add verbatim, so
 * outcome.c puts the blank in front of them itself.
 *
 * Archive (ArchiveDir, archive.h): the same headers and body chunks go to
 * the mail's spool writer as they arrive, from the first header on; after a
 * decoder error (the mail can no longer be counted) the writer is dropped
 * unless ArchiveAll. outcome.c commits it before answering.
 *
 * Memory (budget.h): a decoder call that may decode (a body chunk, the end of
 * the message) first reserves what the decoder may still grow to one mail's
 * bound (tm_decode_mail_bound) against MaxDecodeMemory,
 * and every decoder call is charged its estimate after it; a mail that does
 * not fit gets 451 4.3.1 at that point (the sender retries), logged with
 * reason=memory-budget.
 *
 * Errors: no callback ever returns SMFIS_REJECT; an internal failure
 * (out of memory) makes the mail be delivered (SMFIS_ACCEPT), tagged
 * with X-TLSRPT-Status when we still can.
 *
 * Stopping (control.h): while draining, a new connection or a new mail
 * gets SMFIS_TEMPFAIL and mails in flight go on as usual; in the hurry
 * phase a report mail in flight gets SMFIS_TEMPFAIL at its next callback
 * (a mail without report recipients is accepted, as always).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "msgctx.h"
#include "outcome.h"
#include "rcpt.h"
#include "log.h"
#include "control.h"
#include "metrics.h"

/* Forget the message: free the decoder and recipient copies, give its memory charge
   back (a heap trim after a burst), drop its generation. */
static void msg_reset(tm_msg *m)
{
    for (size_t i = 0; i < m->n_rua; i++)
        free(m->rua[i]);
    free(m->rua);
    int decoded = m->dec != NULL;
    tlsrpt_decoder_free(m->dec);
    tm_mem_release(&m->mem);
    if (decoded)
        tm_mem_trim_check();
    tlsrpt_auth_free(m->auth);                  /* before its generation's lib can go */
    tm_archive_reset(&m->arch);
    tm_gen_release(m->gen, &m->flight);
    memset(m, 0, sizeof *m);
}

/* The mail's generation, taken now if the MTA skipped MAIL FROM. */
static const tm_gen *msg_gen(tm_msg *m)
{
    if (!m->gen) {
        m->gen = tm_gen_acquire(&m->flight);
        if (m->gen && m->queue_id[0])
            tm_gen_flight_qid(&m->flight, m->queue_id);
    }
    return m->gen;
}

/* A final answer for the mail ends it for us: release it at once. */
static sfsistat final(tm_msg *m, sfsistat r)
{
    if (r != SMFIS_CONTINUE)
        msg_reset(m);
    return r;
}

/* Stopping, hurry phase: a report mail still in flight is answered tempfail (also
   right after a decoding step, which the decoder's cancel hook may have cut short). */
static int hurry(tm_msg *m, const char *where)
{
    if (tm_stop_phase() < TM_STOP_HURRY)
        return 0;
    int cut = m->dec && tlsrpt_error(m->dec) == TLSRPT_ERR_CANCELLED;
    tm_logq(LOG_WARNING, m->queue_id, "stopping: temporary failure at %s (%s)", where,
            cut ? "reason=cancelled: its decoding was cut short"
                : "the mail did not finish within the stop grace time");
    tm_metrics_tempfail("stopping");
    return 1;
}

/* The decoders' cancel hook: stopping in a hurry. */
static int decode_cancelled(void *arg)
{
    (void)arg;
    return tm_stop_phase() >= TM_STOP_HURRY;
}

/* The connection context, allocated here if the MTA skipped connect. NULL on no memory. */
static tm_conn *get_conn(SMFICTX *ctx)
{
    tm_conn *c = smfi_getpriv(ctx);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c) {
        tm_log(LOG_ERR, "out of memory for a connection context: mail passes unfiltered");
        return NULL;
    }
    if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
        tm_log(LOG_ERR, "smfi_setpriv failed: mail passes unfiltered");
        free(c);
        return NULL;
    }
    return c;
}

/* Copy the queue id macro into the message once it is known. */
static void get_queue_id(SMFICTX *ctx, tm_msg *m)
{
    if (m->queue_id[0])
        return;
    const char *q = smfi_getsymval(ctx, "{i}");
    if (!q)
        q = smfi_getsymval(ctx, "i");
    if (!q || !*q)
        return;
    size_t i;
    for (i = 0; q[i] && i + 1 < sizeof m->queue_id; i++)
        m->queue_id[i] = (q[i] > ' ' && q[i] < 0x7f) ? q[i] : '?';
    m->queue_id[i] = 0;
    if (m->gen)
        tm_gen_flight_qid(&m->flight, m->queue_id);
}

/* Create the decoder (and the DKIM verification) for a report mail (first header or end
   of headers); leadspc: header values keep their leading blank. */
static void msg_start_decoder(tm_msg *m, int leadspc)
{
    if (m->dec || m->fail_reason)
        return;
    tm_metrics_mail_start(&m->t0);              /* a report candidate: seen, timed */
    const tm_gen *g = msg_gen(m);
    m->dec = g ? tlsrpt_decoder_new(&g->cfg.limits, TLSRPT_MODE_MESSAGE) : NULL;
    if (m->dec)
        tlsrpt_decoder_set_cancel(m->dec, decode_cancelled, NULL);
    if (m->dec && g->auth)
        m->auth = tlsrpt_auth_new(g->auth, m->queue_id[0] ? m->queue_id : NULL,
                                  leadspc ? 0 : TLSRPT_AUTH_HDR_STRIPPED);
    if (!m->dec || (g->auth && !m->auth)) {
        m->fail_reason = "out-of-memory";
        tm_logq(LOG_ERR, m->queue_id, "out of memory creating a decoder");
        return;
    }
    m->mem_bound = tm_decode_mail_bound(&g->cfg.limits);
    m->mem_budget = g->cfg.max_decode_memory;
    m->feeding = 1;
    tm_archive_begin(&m->arch, m->queue_id);
}

/* After a decoder error the mail cannot be counted: stop archiving it (ArchiveAll keeps it). */
static void arch_check(tm_msg *m)
{
    if (m->arch.w && !m->feeding && !(m->gen && m->gen->cfg.archive_all))
        tm_archive_drop(&m->arch);
}

/* Stopping in a hurry: a wait for room in the budget ends. */
static int mem_stopping(void)
{
    return decode_cancelled(NULL);
}

/* The 451 log line of a mail that does not fit in MaxDecodeMemory. */
static void log_budget(const tm_msg *m, const tm_mem_why *w, int after)
{
    char what[200];
    if (after)
        snprintf(what, sizeof what, "its decoder holds %zuk; the decoders of all mails %zuk",
                 w->need >> 10, w->in_use >> 10);
    else
        snprintf(what, sizeof what, "its next decoding step may take up to %zuk, the decoders of all "
                 "mails hold %zuk; waited %ld ms%s", w->need >> 10, w->in_use >> 10, w->waited_ms,
                 w->stopped ? ", stopping" : "");
    tm_logq(LOG_WARNING, m->queue_id, "not counted: reason=memory-budget (%s, MaxDecodeMemory "
            "%zuk); temporary failure returned (451 4.3.1)", what, w->budget >> 10);
}

/* Before a decoder call that may decode: reserve what the decoder may still grow to its
   bound. 0, or -1 (logged). */
static int mem_reserve(tm_msg *m)
{
    tm_mem_why w;
    size_t grow = m->mem_bound > m->mem.charged ? m->mem_bound - m->mem.charged : 0;
    if (tm_mem_enter(&m->mem, grow, m->mem_budget, mem_stopping, &w) == 0)
        return 0;
    log_budget(m, &w, 0);
    return -1;
}

/* After a decoder call: charge its estimate (after a decoding one, trim the heap when it
   kept freed pages). 0, or -1 when over the budget (logged). */
static int mem_charge(tm_msg *m)
{
    tm_mem_why w;
    int decoding = m->mem.reserved > 0;
    int rc = m->dec ? tm_mem_charge(&m->mem, tlsrpt_memory_estimate(m->dec), m->mem_budget, &w)
             : 0;
    if (decoding)
        tm_mem_trim_check();
    if (rc == 0)
        return 0;
    log_budget(m, &w, 1);
    return -1;
}

/* A mail that does not fit in MaxDecodeMemory: 451 4.3.1, and it ends for us. */
static sfsistat over_budget(SMFICTX *ctx, tm_msg *m)
{
    char code[] = "451", xcode[] = "4.3.1";
    char text[] = "TLS-RPT decoder busy, try again later";
    tm_metrics_tempfail("memory-budget");
    if (smfi_setreply(ctx, code, xcode, text) != MI_SUCCESS)
        tm_logq(LOG_WARNING, m->queue_id, "smfi_setreply failed");
    return final(m, SMFIS_TEMPFAIL);
}

/* The DKIM verification's end of headers: key lookups (bounded by DkimTimeout). */
static void auth_eoh(tm_msg *m)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    m->auth_body = tlsrpt_auth_eoh(m->auth);
    unsigned n = tlsrpt_auth_lookups(m->auth);
    if (n > 0 && tm_log_enabled(LOG_DEBUG)) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        tm_logq(LOG_DEBUG, m->queue_id, "DKIM: %u key lookup(s) at end of headers in %ld ms", n,
                (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    }
}

/* Stop feeding after the first decoder error (errors are sticky). */
static void fed(tm_msg *m, int rc)
{
    if (rc != TLSRPT_OK) {
        m->feeding = 0;
        tm_logq(LOG_DEBUG, m->queue_id, "decoder error %s (%s); reading on without decoding",
                tlsrpt_reason(rc), tlsrpt_errstr(m->dec));
    }
}

/* The actions the milter uses. */
#define TM_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT)

/* Option negotiation: our actions; SMFIP_HDR_LEADSPC when offered (DKIM needs header
   values as they were); no HELO and unknown-command steps (we have no callbacks). */
static sfsistat tm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3, unsigned long *pf0,
                             unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    if ((f0 & TM_ACTIONS) != TM_ACTIONS)
        tm_log(LOG_WARNING, "the MTA offers milter actions %#lx, not all of %#lx: a change "
               "it does not allow fails and the mail is delivered", f0, (unsigned long)TM_ACTIONS);
    *pf0 = f0 & TM_ACTIONS;
    *pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_NOHELO | SMFIP_NOUNKNOWN);
    *pf2 = 0;
    *pf3 = 0;
    tm_conn *c = get_conn(ctx);
    if (c)
        c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
    return SMFIS_CONTINUE;
}

/* New SMTP connection: allocate its context (stopping: temporary failure). */
static sfsistat tm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)addr;
    if (tm_stop_phase() != TM_STOP_NONE) {
        tm_log(LOG_INFO, "stopping: temporary failure for a new connection (%.200s)",
               host ? host : "unknown");
        return SMFIS_TEMPFAIL;
    }
    return get_conn(ctx) ? SMFIS_CONTINUE : SMFIS_ACCEPT;
}

/* MAIL FROM: a new message starts with the current generation (stopping: tempfail). */
static sfsistat tm_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    tm_conn *c = get_conn(ctx);
    if (!c)
        return SMFIS_ACCEPT;
    msg_reset(&c->msg);
    get_queue_id(ctx, &c->msg);
    if (tm_stop_phase() != TM_STOP_NONE) {
        tm_logq(LOG_INFO, c->msg.queue_id, "stopping: temporary failure for a new mail");
        return SMFIS_TEMPFAIL;
    }
    c->n_msgs++;
    if (!msg_gen(&c->msg)) {
        tm_logq(LOG_ERR, c->msg.queue_id, "no configuration: mail passes unfiltered");
        return SMFIS_ACCEPT;
    }
    return SMFIS_CONTINUE;
}

/* Remember a report recipient exactly as received, for smfi_delrcpt. */
static void add_rua(tm_msg *m, const char *rcpt)
{
    char **nr = NULL, *copy = NULL;
    m->has_rua = 1;
    if (m->n_rua < TM_MAX_RUA_RCPTS) {
        nr = realloc(m->rua, (m->n_rua + 1) * sizeof *nr);
        if (nr)
            m->rua = nr;
        copy = nr ? strdup(rcpt) : NULL;
    }
    if (!copy) {
        m->rua_lost = 1;    /* cannot remove it later: tag instead of discarding */
        tm_logq(LOG_WARNING, m->queue_id, "cannot remember report recipient %.200s; the mail "
                "will be tagged, not discarded", rcpt);
        return;
    }
    m->rua[m->n_rua++] = copy;
}

/* RCPT TO: sort the recipient into report / other. */
static sfsistat tm_envrcpt(SMFICTX *ctx, char **argv)
{
    tm_conn *c = get_conn(ctx);
    if (!c)
        return SMFIS_ACCEPT;
    get_queue_id(ctx, &c->msg);
    const tm_gen *g = msg_gen(&c->msg);
    if (!g)
        return SMFIS_ACCEPT;
    int rua = argv && argv[0] && tm_rcpt_match(argv[0], g->cfg.report_addrs,
                                               g->cfg.n_report_addrs, g->cfg.rcpt_delim);
    if (rua)
        add_rua(&c->msg, argv[0]);
    else
        c->msg.n_other++;
    tm_logq(LOG_DEBUG, c->msg.queue_id, "recipient %.300s: %s", argv && argv[0] ? argv[0]
            : "(none)", rua ? "report address" : "other");
    return SMFIS_CONTINUE;
}

/* DATA: a mail without report recipients needs nothing more from us. */
static sfsistat tm_data(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return c ? final(&c->msg, SMFIS_ACCEPT) : SMFIS_ACCEPT;
    get_queue_id(ctx, &c->msg);
    if (hurry(&c->msg, "DATA"))
        return final(&c->msg, SMFIS_TEMPFAIL);
    return SMFIS_CONTINUE;
}

/* One header field: count forged status headers, feed the decoder. */
static sfsistat tm_header(SMFICTX *ctx, char *name, char *value)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return c ? final(&c->msg, SMFIS_ACCEPT) : SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    if (hurry(m, "a header"))
        return final(m, SMFIS_TEMPFAIL);
    if (name && strcasecmp(name, TM_STATUS_HEADER) == 0)
        m->n_status_hdrs++;
    msg_start_decoder(m, c->leadspc);
    arch_check(m);
    tm_archive_header(&m->arch, name, value, c->leadspc);
    if (m->feeding && name && value) {
        tlsrpt_auth_header(m->auth, name, value);
        fed(m, tlsrpt_feed_header(m->dec, name, c->leadspc && value[0] == ' ' ? value + 1
                                  : value));
        if (mem_charge(m) != 0)
            return over_budget(ctx, m);
    }
    return SMFIS_CONTINUE;
}

/* End of headers: tell the decoder; the body comes next. */
static sfsistat tm_eoh(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return c ? final(&c->msg, SMFIS_ACCEPT) : SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    get_queue_id(ctx, m);
    if (hurry(m, "end of headers"))
        return final(m, SMFIS_TEMPFAIL);
    msg_start_decoder(m, c->leadspc);
    arch_check(m);
    tm_archive_eoh(&m->arch);
    if (m->feeding) {
        fed(m, tlsrpt_end_headers(m->dec));
        if (mem_charge(m) != 0)
            return over_budget(ctx, m);
    }
    if (m->feeding && m->auth)
        auth_eoh(m);
    return SMFIS_CONTINUE;
}

/* One body chunk. */
static sfsistat tm_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return c ? final(&c->msg, SMFIS_ACCEPT) : SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    if (hurry(m, "a body chunk"))
        return final(m, SMFIS_TEMPFAIL);
    arch_check(m);
    tm_archive_body(&m->arch, buf, len);
    if (m->feeding && m->auth_body)
        tlsrpt_auth_body(m->auth, buf, len);
    if (m->feeding) {
        if (mem_reserve(m) != 0)
            return over_budget(ctx, m);
        fed(m, tlsrpt_feed_body(m->dec, buf, len));
        if (hurry(m, "a body chunk"))
            return final(m, SMFIS_TEMPFAIL);
        if (mem_charge(m) != 0)
            return over_budget(ctx, m);
    }
    return SMFIS_CONTINUE;
}

/* End of message: decode, count, act; then forget the message. */
static sfsistat tm_eom(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return c ? final(&c->msg, SMFIS_ACCEPT) : SMFIS_ACCEPT;
    get_queue_id(ctx, &c->msg);
    if (hurry(&c->msg, "end of message"))
        return final(&c->msg, SMFIS_TEMPFAIL);
    tm_msg *m = &c->msg;
    if (m->feeding) {                           /* the last step decodes: reserve for it */
        if (mem_reserve(m) != 0)
            return over_budget(ctx, m);
        tlsrpt_finish(m->dec);                  /* tm_outcome's own call then returns at once */
        if (hurry(m, "end of message"))
            return final(m, SMFIS_TEMPFAIL);
        if (mem_charge(m) != 0)
            return over_budget(ctx, m);
    }
    const tm_gen *g = msg_gen(&c->msg);
    c->msg.leadspc = c->leadspc;
    sfsistat r = g ? tm_outcome(ctx, &c->msg, &g->cfg, g->store) : SMFIS_ACCEPT;
    tm_metrics_mail_done(&c->msg.t0);
    msg_reset(&c->msg);
    return r;
}

/* The MTA aborted the message (RSET, lost client, ...). */
static sfsistat tm_abort(SMFICTX *ctx)
{
    tm_conn *c = smfi_getpriv(ctx);
    if (c)
        msg_reset(&c->msg);
    return SMFIS_CONTINUE;
}

/* Connection closed: free everything. */
static sfsistat tm_close(SMFICTX *ctx)
{
    tm_conn *c = smfi_getpriv(ctx);
    if (c) {
        msg_reset(&c->msg);
        free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

static struct smfiDesc tm_desc = {
    .xxfi_name = "tlsrpt-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT,
    .xxfi_connect = tm_connect,
    .xxfi_envfrom = tm_envfrom,
    .xxfi_envrcpt = tm_envrcpt,
    .xxfi_header = tm_header,
    .xxfi_eoh = tm_eoh,
    .xxfi_body = tm_body,
    .xxfi_eom = tm_eom,
    .xxfi_abort = tm_abort,
    .xxfi_close = tm_close,
    .xxfi_data = tm_data,
    .xxfi_negotiate = tm_negotiate,
};

/* The description handed to smfi_register(). */
struct smfiDesc *tm_milter_desc(void)
{
    return &tm_desc;
}
