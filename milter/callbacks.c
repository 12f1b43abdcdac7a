/*
 * callbacks.c - the libmilter callbacks: collect the envelope, stream a
 * report mail's headers and body into a decoder, act at end of message.
 *
 * A mail without a report recipient (ReportAddress) is accepted at DATA
 * (or at the first header / end of headers when the MTA does not send
 * DATA), so its body is never sent to us. For a report mail every header
 * and body chunk goes to the per-message decoder; after a decoder error
 * the rest is read but not fed. What to do at end of message is in
 * outcome.c. State and ownership: see msgctx.h.
 *
 * Errors: no callback ever returns SMFIS_REJECT; an internal failure
 * (out of memory) makes the mail be delivered (SMFIS_ACCEPT), tagged
 * with X-TLSRPT-Status when we still can.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "msgctx.h"
#include "outcome.h"
#include "rcpt.h"
#include "log.h"

static const tm_config *g_cfg;          /* read-only after start */
static tlsrpt_store *g_store;           /* thread-safe */

/* Remember the shared configuration and store. */
void tm_callbacks_init(const tm_config *cfg, tlsrpt_store *store)
{
    g_cfg = cfg;
    g_store = store;
}

/* Forget the message: free the decoder and recipient copies. */
static void msg_reset(tm_msg *m)
{
    for (size_t i = 0; i < m->n_rua; i++)
        free(m->rua[i]);
    free(m->rua);
    tlsrpt_decoder_free(m->dec);
    memset(m, 0, sizeof *m);
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
}

/* Create the decoder for a report mail (first header or end of headers). */
static void msg_start_decoder(tm_msg *m)
{
    if (m->dec || m->fail_reason)
        return;
    m->dec = tlsrpt_decoder_new(&g_cfg->limits, TLSRPT_MODE_MESSAGE);
    if (!m->dec) {
        m->fail_reason = "out-of-memory";
        tm_log(LOG_ERR, "%s: out of memory creating a decoder",
               m->queue_id[0] ? m->queue_id : "NOQUEUE");
        return;
    }
    m->feeding = 1;
}

/* Stop feeding after the first decoder error (errors are sticky). */
static void fed(tm_msg *m, int rc)
{
    if (rc != TLSRPT_OK) {
        m->feeding = 0;
        tm_log(LOG_DEBUG, "%s: decoder error %s (%s); reading on without decoding",
               m->queue_id[0] ? m->queue_id : "NOQUEUE", tlsrpt_reason(rc),
               tlsrpt_errstr(m->dec));
    }
}

/* New SMTP connection: allocate its context. */
static sfsistat tm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)host;
    (void)addr;
    return get_conn(ctx) ? SMFIS_CONTINUE : SMFIS_ACCEPT;
}

/* MAIL FROM: a new message starts. */
static sfsistat tm_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    tm_conn *c = get_conn(ctx);
    if (!c)
        return SMFIS_ACCEPT;
    msg_reset(&c->msg);
    c->n_msgs++;
    get_queue_id(ctx, &c->msg);
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
        tm_log(LOG_WARNING, "%s: cannot remember report recipient %.200s; the mail will be "
               "tagged, not discarded", m->queue_id[0] ? m->queue_id : "NOQUEUE", rcpt);
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
    int rua = argv && argv[0] && tm_rcpt_match(argv[0], g_cfg->report_addrs,
                                               g_cfg->n_report_addrs, g_cfg->rcpt_delim);
    if (rua)
        add_rua(&c->msg, argv[0]);
    else
        c->msg.n_other++;
    tm_log(LOG_DEBUG, "%s: recipient %.300s: %s", c->msg.queue_id[0] ? c->msg.queue_id
           : "NOQUEUE", argv && argv[0] ? argv[0] : "(none)", rua ? "report address" : "other");
    return SMFIS_CONTINUE;
}

/* DATA: a mail without report recipients needs nothing more from us. */
static sfsistat tm_data(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return SMFIS_ACCEPT;
    get_queue_id(ctx, &c->msg);
    return SMFIS_CONTINUE;
}

/* One header field: count forged status headers, feed the decoder. */
static sfsistat tm_header(SMFICTX *ctx, char *name, char *value)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    if (name && strcasecmp(name, TM_STATUS_HEADER) == 0)
        m->n_status_hdrs++;
    msg_start_decoder(m);
    if (m->feeding && name && value)
        fed(m, tlsrpt_feed_header(m->dec, name, value));
    return SMFIS_CONTINUE;
}

/* End of headers: tell the decoder; the body comes next. */
static sfsistat tm_eoh(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    get_queue_id(ctx, m);
    msg_start_decoder(m);
    if (m->feeding)
        fed(m, tlsrpt_end_headers(m->dec));
    return SMFIS_CONTINUE;
}

/* One body chunk. */
static sfsistat tm_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return SMFIS_ACCEPT;
    tm_msg *m = &c->msg;
    if (m->feeding)
        fed(m, tlsrpt_feed_body(m->dec, buf, len));
    return SMFIS_CONTINUE;
}

/* End of message: decode, count, act; then forget the message. */
static sfsistat tm_eom(SMFICTX *ctx)
{
    tm_conn *c = get_conn(ctx);
    if (!c || !c->msg.has_rua)
        return SMFIS_ACCEPT;
    get_queue_id(ctx, &c->msg);
    sfsistat r = tm_outcome(ctx, &c->msg, g_cfg, g_store);
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
};

/* The description handed to smfi_register(). */
struct smfiDesc *tm_milter_desc(void)
{
    return &tm_desc;
}
