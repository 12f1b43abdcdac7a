/*
 * session.c - the MTA's side of one milter connection, step by step, for
 * the test driver. Honours the steps and replies the filter negotiated
 * (SMFIP_NO* steps are skipped, SMFIP_NR_* steps get no reply read,
 * SMFIS_SKIP stops the body, HDR_LEADSPC keeps the space after the colon, and a
 * header the filter adds is then printed as the MTA writes it: "Name:" + value).
 *
 * Output, one line per action, in a block per message:
 *   MESSAGE conn=C msg=K file=PATH
 *   ADDHEADER Name: value | INSHEADER i Name: value | CHGHEADER i Name: value
 *   DELRCPT <addr> | ADDRCPT <addr> | CHGFROM <addr> | REPLBODY n | QUARANTINE why
 *   ACCEPT | CONTINUE | DISCARD | REJECT | TEMPFAIL | REPLYCODE text   (final)
 *   RCPT <addr> REJECT|TEMPFAIL|REPLYCODE text   (one recipient refused)
 *   ABORTED (the driver aborted the message) | ERROR why (protocol failure)
 * Errors: a protocol error or timeout ends the connection (counted in errors).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mproto.h"
#include "session.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* Per-message state of one connection. */
typedef struct msgctx {
    mp_conn *c;
    const drv_opts *o;
    drv_stats *st;
    FILE *out;              /* this message's output block */
    char qid[32];
} msgctx;

/* Print s with control characters escaped, so one action stays one line. */
static void put_escaped(FILE *out, const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len && s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\r')
            fputs("\\r", out);
        else if (ch < ' ' && ch != '\t')
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
}

/* The i-th NUL-terminated string in a reply's data, "" when missing. */
static const char *nth_str(const unsigned char *d, size_t len, int i)
{
    size_t off = 0;
    while (i-- > 0) {
        const unsigned char *z = memchr(d + off, '\0', len - off);
        if (!z)
            return "";
        off = (size_t)(z - d) + 1;
        if (off >= len)
            return "";
    }
    return (const char *)d + off;
}

/* What goes between a header's colon and the value the filter sent, as the MTA writes
   it: a blank of its own unless HDR_LEADSPC was negotiated (the value then has to bring
   its blank itself). An empty value (a deletion) is shown "Name: ". */
static const char *sep(const msgctx *x, const char *value)
{
    return !*value || !(x->c->prot & SMFIP_HDR_LEADSPC) ? " " : "";
}

/* Print one modification action (EOM phase); 0, or -1 for an unknown reply. */
static int print_modification(msgctx *x, int cmd, size_t len)
{
    const unsigned char *d = x->c->rbuf;
    FILE *out = x->out;

    switch (cmd) {
    case 'h':
        x->st->addheader++;
        fprintf(out, "ADDHEADER %s:%s", nth_str(d, len, 0), sep(x, nth_str(d, len, 1)));
        put_escaped(out, nth_str(d, len, 1), len);
        break;
    case 'i': case 'm':
        if (len < 4)
            return -1;
        fprintf(out, "%s %u %s:%s", cmd == 'i' ? "INSHEADER" : "CHGHEADER",
                (unsigned)((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]),
                nth_str(d + 4, len - 4, 0), sep(x, nth_str(d + 4, len - 4, 1)));
        put_escaped(out, nth_str(d + 4, len - 4, 1), len);
        break;
    case '-':
        x->st->delrcpt++;
        fprintf(out, "DELRCPT %s", nth_str(d, len, 0));
        break;
    case '+': case '2':
        fprintf(out, "ADDRCPT %s", nth_str(d, len, 0));
        break;
    case 'e':
        fprintf(out, "CHGFROM %s", nth_str(d, len, 0));
        break;
    case 'b':
        fprintf(out, "REPLBODY %zu", len);
        break;
    case 'q':
        fprintf(out, "QUARANTINE %s", nth_str(d, len, 0));
        break;
    default:
        return -1;
    }
    fputc('\n', out);
    return 0;
}

/* Name of a final reply, NULL when cmd is not one. */
static const char *final_name(int cmd)
{
    switch (cmd) {
    case 'a': return "ACCEPT";
    case 'c': return "CONTINUE";
    case 'd': return "DISCARD";
    case 'r': return "REJECT";
    case 't': return "TEMPFAIL";
    case 'y': return "REPLYCODE";
    case 's': return "SKIP";
    case 'f': return "CONN_FAIL";
    case '4': return "SHUTDOWN";
    default: return NULL;
    }
}

/* Read replies until a final one; modifications only when eom. Returns cmd or -1. */
static int read_reply(msgctx *x, const char *step, int eom)
{
    int cmd;
    size_t len;

    for (;;) {
        if (mp_recv(x->c, &cmd, &len) < 0)
            return -1;
        if (cmd == 'p')
            continue;                   /* progress: keep waiting */
        if (final_name(cmd))
            break;
        if (!eom || print_modification(x, cmd, len) < 0) {
            snprintf(x->c->err, sizeof(x->c->err), "unexpected reply '%c' to %s", cmd, step);
            return -1;
        }
    }
    if (x->o->verbose && !eom)
        fprintf(x->out, "# %s -> %s\n", step, final_name(cmd));
    return cmd;
}

/* Print a final reply (with its text for REPLYCODE). */
static void print_final(msgctx *x, const char *prefix, int cmd)
{
    fputs(prefix, x->out);
    fputs(final_name(cmd), x->out);
    if (cmd == 'y') {
        fputc(' ', x->out);
        put_escaped(x->out, (const char *)x->c->rbuf, strlen((const char *)x->c->rbuf));
    }
    fputc('\n', x->out);
}

/* Count a message's final disposition (at EOM or earlier). */
static void count_final(drv_stats *st, int r)
{
    switch (r) {
    case 'a': st->accept++; break;
    case 'c': st->cont++; break;
    case 'd': st->discard++; break;
    case 'r': st->reject++; break;
    case 't': st->tempfail++; break;
    case 'y': st->replycode++; break;
    default: break;
    }
}

/* Send a macro packet for command letter which with name/value pairs. */
static int send_macros(msgctx *x, int which, const char *const *kv, size_t n)
{
    mp_buf b = { 0 };
    char w = (char)which;
    size_t i;
    int rc;

    mp_buf_add(&b, &w, 1);
    for (i = 0; i < n; i++)
        mp_buf_str(&b, kv[i]);
    rc = b.oom ? -1 : mp_send(x->c, SMFIC_MACRO, b.p, b.len);
    mp_buf_free(&b);
    return rc;
}

/* Send one step (unless the filter disabled it) and read its reply unless NR.
   Returns the reply letter, 'c' when none is expected, 0 when skipped, -1 on error. */
static int step(msgctx *x, const char *name, int cmd, const void *data, size_t len,
                unsigned no_flag, unsigned nr_flag)
{
    if (no_flag && (x->c->prot & no_flag))
        return 0;
    if (mp_send(x->c, cmd, data, len) < 0)
        return -1;
    if (nr_flag && (x->c->prot & nr_flag))
        return 'c';
    return read_reply(x, name, 0);
}

/* Send "<addr>\0" as MAIL or RCPT. */
static int step_addr(msgctx *x, const char *name, int cmd, const char *addr,
                     unsigned no_flag, unsigned nr_flag)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "<%s>", addr);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    return step(x, name, cmd, buf, (size_t)n + 1, no_flag, nr_flag);
}

/* Envelope: MAIL and every RCPT. 1 = go on, 0 = message ended, -1 = error. */
static int do_envelope(msgctx *x)
{
    const char *mk[] = { "{mail_addr}", x->o->from, "i", x->qid };
    size_t i, refused = 0;
    int r;

    if (send_macros(x, SMFIC_MAIL, mk, 4) < 0)
        return -1;
    r = step_addr(x, "MAIL", SMFIC_MAIL, x->o->from, SMFIP_NOMAIL, SMFIP_NR_MAIL);
    if (r < 0)
        return -1;
    if (r && r != 'c') {
        x->st->early++;
        count_final(x->st, r);
        print_final(x, "", r);
        return 0;
    }
    for (i = 0; i < x->o->nrcpts; i++) {
        const char *rk[] = { "{rcpt_addr}", x->o->rcpts[i] };
        if (send_macros(x, SMFIC_RCPT, rk, 2) < 0)
            return -1;
        r = step_addr(x, "RCPT", SMFIC_RCPT, x->o->rcpts[i], SMFIP_NORCPT, SMFIP_NR_RCPT);
        if (r < 0)
            return -1;
        if (r == 'a' || r == 'd') {     /* accept/discard the whole message: no more filtering */
            x->st->early++;
            count_final(x->st, r);
            print_final(x, "", r);
            return 0;
        }
        if (r && r != 'c') {
            char pre[600];
            snprintf(pre, sizeof(pre), "RCPT %s ", x->o->rcpts[i]);
            print_final(x, pre, r);
            refused++;
        }
    }
    if (refused == x->o->nrcpts) {  /* no recipient left: the MTA aborts */
        fputs("NORCPT\n", x->out);
        return mp_send(x->c, SMFIC_ABORT, NULL, 0) < 0 ? -1 : 0;
    }
    return 1;
}

/* DATA, every header, EOH. 1 = go on, 0 = message ended, -1 = error. */
static int do_headers(msgctx *x, const msgfile *m)
{
    const char *dk[] = { "i", x->qid };
    mp_buf b = { 0 };
    size_t i;
    int r;

    if (send_macros(x, SMFIC_DATA, dk, 2) < 0)
        return -1;
    if ((r = step(x, "DATA", SMFIC_DATA, NULL, 0, SMFIP_NODATA, SMFIP_NR_DATA)) < 0)
        return -1;
    if (r && r != 'c')
        goto ended;
    for (i = 0; i < m->nhdrs; i++) {
        const char *v = m->hdrs[i].value;
        if (!(x->c->prot & SMFIP_HDR_LEADSPC) && v[0] == ' ')
            v++;                /* Postfix eats one space (not a tab) after the colon */
        b.len = 0;
        mp_buf_str(&b, m->hdrs[i].name);
        mp_buf_str(&b, v);
        if (b.oom) {
            mp_buf_free(&b);
            snprintf(x->c->err, sizeof(x->c->err), "header too large for a packet");
            return -1;
        }
        r = step(x, "HEADER", SMFIC_HEADER, b.p, b.len, SMFIP_NOHDRS, SMFIP_NR_HDR);
        if (r < 0 || (r && r != 'c'))
            break;
    }
    mp_buf_free(&b);
    if (r < 0)
        return -1;
    if (r && r != 'c')
        goto ended;
    if ((r = step(x, "EOH", SMFIC_EOH, NULL, 0, SMFIP_NOEOH, SMFIP_NR_EOH)) < 0)
        return -1;
    if (r && r != 'c')
        goto ended;
    return 1;
ended:
    x->st->early++;
    count_final(x->st, r);
    print_final(x, "", r);
    return 0;
}

/* Body chunks (aborting half way when asked), then EOM. 0 done, -1 error. */
static int do_body(msgctx *x, const msgfile *m, int abort_it)
{
    size_t off = 0, chunk = x->o->chunk, half = m->bodylen / 2;
    const char *ek[] = { "i", x->qid };
    int r;

    while (off < m->bodylen && !(x->c->prot & SMFIP_NOBODY)) {
        size_t n = m->bodylen - off < chunk ? m->bodylen - off : chunk;
        if (abort_it && off > 0 && off >= half)
            break;
        if (x->o->chunk_delay_ms > 0) {
            struct timespec d = { x->o->chunk_delay_ms / 1000,
                                  (long)(x->o->chunk_delay_ms % 1000) * 1000000L };
            nanosleep(&d, NULL);
        }
        if ((r = step(x, "BODY", SMFIC_BODY, m->body + off, n, 0, SMFIP_NR_BODY)) < 0)
            return -1;
        off += n;
        if (r == 's')
            break;              /* filter has seen enough of the body */
        if (r != 'c') {
            x->st->early++;
            count_final(x->st, r);
            print_final(x, "", r);
            return 0;
        }
    }
    if (abort_it) {
        x->st->aborted++;
        fputs("ABORTED\n", x->out);
        return mp_send(x->c, SMFIC_ABORT, NULL, 0);
    }
    if (send_macros(x, SMFIC_BODYEOB, ek, 2) < 0 || mp_send(x->c, SMFIC_BODYEOB, NULL, 0) < 0)
        return -1;
    if ((r = read_reply(x, "EOM", 1)) < 0)
        return -1;
    print_final(x, "", r);
    count_final(x->st, r);
    return 0;
}

/* One whole message; 0, or -1 when the connection is no longer usable. */
static int do_message(msgctx *x, const msgfile *m, int abort_it)
{
    int r = do_envelope(x);
    if (r == 1)
        r = do_headers(x, m);
    if (r == 1)
        r = do_body(x, m, abort_it);
    x->st->messages++;
    return r < 0 ? -1 : 0;
}

/* Write a finished block to stdout in one piece. */
static void flush_block(const drv_opts *o, char *text, size_t len)
{
    if (!o->quiet && len) {
        pthread_mutex_lock(&out_lock);
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
    }
}

/* OPTNEG, CONNECT and HELO; 1 = go on, 0 = filter declined the connection, -1 error. */
static int open_session(msgctx *x)
{
    const char *ck[] = { "j", "driver.test", "{daemon_name}", "milter-driver",
                         "_", "localhost [127.0.0.1]" };
    mp_buf b = { 0 };
    unsigned char port[2] = { 0x30, 0x39 };     /* 12345 */
    int r;

    if (mp_optneg(x->c, x->o->no_leadspc) < 0 || send_macros(x, SMFIC_CONNECT, ck, 6) < 0)
        return -1;
    mp_buf_str(&b, "localhost");
    mp_buf_add(&b, "4", 1);
    mp_buf_add(&b, port, 2);
    mp_buf_str(&b, "127.0.0.1");
    r = step(x, "CONNECT", SMFIC_CONNECT, b.p, b.len, SMFIP_NOCONNECT, SMFIP_NR_CONN);
    mp_buf_free(&b);
    if (r < 0)
        return -1;
    if (r == 0 || r == 'c')
        r = step(x, "HELO", SMFIC_HELO, x->o->helo, strlen(x->o->helo) + 1,
                 SMFIP_NOHELO, SMFIP_NR_HELO);
    if (r < 0)
        return -1;
    if (r && r != 'c') {
        print_final(x, "CONNECTION ", r);
        return 0;
    }
    return 1;
}

void drv_run_connection(const drv_opts *o, int idx, drv_stats *st)
{
    mp_conn c;
    msgctx x = { .c = &c, .o = o, .st = st };
    char *text = NULL;
    size_t tlen = 0;
    int k, r = 1;

    x.out = open_memstream(&text, &tlen);
    if (!x.out) {
        st->errors++;
        return;
    }
    if (mp_connect(&c, o->socket, o->timeout_ms) < 0 || (r = open_session(&x)) < 0) {
        fprintf(x.out, "ERROR conn=%d %s\n", idx + 1, c.err);
        st->errors++;
        r = 0;
    } else if (o->verbose) {
        fprintf(x.out, "# negotiated actions %#x steps %#x%s\n", (unsigned)c.actions,
                (unsigned)c.prot, (c.prot & SMFIP_HDR_LEADSPC) ? " (HDR_LEADSPC)" : "");
    }
    fflush(x.out);
    flush_block(o, text, tlen);
    for (k = 0; r > 0 && k < o->nmsg; k++) {
        const msgfile *m = &o->files[((size_t)idx * (size_t)o->nmsg + (size_t)k) % o->nfiles];
        int abort_it = o->abort_all || o->abort_nth == k + 1;
        rewind(x.out);
        tlen = 0;
        snprintf(x.qid, sizeof(x.qid), "DRV%04X%04X", (unsigned)idx + 1, (unsigned)k + 1);
        fprintf(x.out, "MESSAGE conn=%d msg=%d file=%s\n", idx + 1, k + 1, m->path);
        if (do_message(&x, m, abort_it) < 0) {
            fprintf(x.out, "ERROR conn=%d msg=%d %s\n", idx + 1, k + 1, c.err);
            st->errors++;
            r = 0;
        }
        fflush(x.out);
        flush_block(o, text, (size_t)ftell(x.out));
    }
    if (r > 0)
        mp_send(&c, SMFIC_QUIT, NULL, 0);
    mp_close(&c);
    fclose(x.out);
    free(text);
}

int drv_probe(const drv_opts *o)
{
    mp_conn c;
    int rc = -1;

    if (mp_connect(&c, o->socket, o->timeout_ms) == 0 && mp_optneg(&c, o->no_leadspc) == 0)
        rc = mp_send(&c, SMFIC_QUIT, NULL, 0);
    if (rc < 0)
        fprintf(stderr, "milter-driver: probe %s: %s\n", o->socket, c.err);
    mp_close(&c);
    return rc;
}
