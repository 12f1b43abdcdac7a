/*
 * decoder.c - the decoder's API (tlsrpt.h): create, feed (whole message,
 * milter-style header/body, or bare report), finish, result, free.
 *
 * Counts every fed byte against max_message_bytes. In AUTO mode the first
 * non-whitespace bytes decide: '{' '[', a UTF-8 BOM, a gzip magic, a zlib header
 * or a zip local header ("PK\3\4") means a bare report, anything else a message. Hard errors (limits,
 * memory, API misuse) are sticky and stop all decoding; a report part's
 * errors are soft: kept in the part list (results.c), and returned by
 * tlsrpt_finish only when no report part decoded at all.
 */
#include "decoder_int.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Record a sticky error; returns the code. */
int dec_fail(tlsrpt_decoder *d, int code, const char *fmt, ...)
{
    if (d->err != TLSRPT_OK)
        return d->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
    va_end(ap);
    utf8_sanitize(d->errmsg);                   /* may quote the input; goes to logs */
    d->err = code;
    if (d->cand.active) {
        payload_free(&d->cand.pl);
        d->cand.active = 0;
    }
    return code;
}

/* The cancel hook (tlsrpt.h); a part being decoded polls it from its next piece on. */
void tlsrpt_decoder_set_cancel(tlsrpt_decoder *d, tlsrpt_cancel_fn fn, void *arg)
{
    d->cancel = fn;
    d->cancel_arg = arg;
    d->cand.pl.cancel = fn;                     /* cand_start sets it for each new part */
    d->cand.pl.cancel_arg = arg;
}

/* Create a decoder with limits (0 fields = defaults). */
tlsrpt_decoder *tlsrpt_decoder_new(const tlsrpt_limits *lim, enum tlsrpt_mode mode)
{
    tlsrpt_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    tlsrpt_limits_default(&d->lim);
    if (lim) {
        if (lim->max_message_bytes) d->lim.max_message_bytes = lim->max_message_bytes;
        if (lim->max_report_bytes) d->lim.max_report_bytes = lim->max_report_bytes;
        if (lim->max_header_bytes) d->lim.max_header_bytes = lim->max_header_bytes;
        if (lim->max_json_depth > 0) d->lim.max_json_depth = lim->max_json_depth;
        if (lim->max_mime_depth > 0) d->lim.max_mime_depth = lim->max_mime_depth;
        if (lim->max_mime_parts > 0) d->lim.max_mime_parts = lim->max_mime_parts;
        if (lim->max_json_values) d->lim.max_json_values = lim->max_json_values;
        if (lim->max_session_count > 0) d->lim.max_session_count = lim->max_session_count;
    }
    d->mode = mode;
    d->cte = CTE_IDENTITY;
    d->stack = calloc((size_t)d->lim.max_mime_depth, sizeof *d->stack);
    if (!d->stack) {
        free(d);
        return NULL;
    }
    return d;
}

/* Count input bytes against the message limit. */
static int count_bytes(tlsrpt_decoder *d, size_t n)
{
    if (d->err != TLSRPT_OK)
        return d->err;
    if (d->finished)
        return dec_fail(d, TLSRPT_ERR_USAGE, "input after tlsrpt_finish");
    if (n > d->lim.max_message_bytes - d->fed || d->fed + n > d->lim.max_message_bytes)
        return dec_fail(d, TLSRPT_ERR_MESSAGE_SIZE, "message larger than the limit of %zu bytes",
                        d->lim.max_message_bytes);
    d->fed += n;
    return TLSRPT_OK;
}

/* AUTO mode: a bare report starts with '{', '[', a gzip magic, a zlib header or "PK\3\4". */
static int looks_raw(const unsigned char *b, size_t n)
{
    if (b[0] == '{' || b[0] == '[')
        return 1;
    if (n < 2)
        return 0;
    if ((b[0] == 0x1f && b[1] == 0x8b) || (b[0] == 0xEF && b[1] == 0xBB))
        return 1;                               /* gzip, or JSON after a UTF-8 BOM */
    if (n >= 4 && memcmp(b, "PK\3\4", 4) == 0)
        return 1;                               /* a zip archive */
    return (b[0] & 0x0f) == 8 && (b[0] >> 4) <= 7 && ((b[0] << 8) | b[1]) % 31 == 0;
}

/* AUTO mode: bytes needed to decide (4 for a possible "PK\3\4", else 2). */
static int auto_need(const tlsrpt_decoder *d)
{
    if (d->nauto > 0 && (d->autobuf[0] == '{' || d->autobuf[0] == '['))
        return 1;
    return d->nauto > 0 && d->autobuf[0] == 'P' && (d->nauto < 2 || d->autobuf[1] == 'K') ? 4 : 2;
}

/* AUTO mode: decide from the first significant bytes; feeds them on. At end of
   input (p NULL) it decides with what it has. */
static int decide_mode(tlsrpt_decoder *d, const char **p, size_t *len)
{
    while (*len > 0 && d->nauto < auto_need(d)) {
        d->autobuf[d->nauto++] = **p;
        (*p)++;
        (*len)--;
    }
    if (p && d->nauto < auto_need(d))
        return 0;                               /* need more bytes */
    d->mode = looks_raw((const unsigned char *)d->autobuf, (size_t)d->nauto)
              ? TLSRPT_MODE_RAW : TLSRPT_MODE_MESSAGE;
    if (d->mode == TLSRPT_MODE_RAW) {
        part_start_raw(d);
        d->fed_raw = 1;
        part_feed(d, d->autobuf, (size_t)d->nauto);
    } else {
        mime_body(d, d->autobuf, (size_t)d->nauto);
    }
    return 1;
}

/* Feed raw bytes. */
int tlsrpt_feed(tlsrpt_decoder *d, const void *buf, size_t len)
{
    const char *p = buf;
    if (count_bytes(d, len) != TLSRPT_OK)
        return d->err;
    if (d->milter_way)
        return dec_fail(d, TLSRPT_ERR_USAGE, "tlsrpt_feed after tlsrpt_feed_header");
    if (d->mode == TLSRPT_MODE_AUTO) {
        while (d->nauto == 0 && len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++, len--;
        if (len == 0 || !decide_mode(d, &p, &len))
            return d->err;
    } else if (d->mode == TLSRPT_MODE_RAW && !d->cand.active && !d->fed_raw) {
        part_start_raw(d);
    }
    if (d->mode == TLSRPT_MODE_RAW) {
        d->fed_raw = 1;
        return part_feed(d, p, len) != TLSRPT_OK ? d->err : d->err;
    }
    return mime_body(d, p, len);
}

/* Milter way: one header field. */
int tlsrpt_feed_header(tlsrpt_decoder *d, const char *name, const char *value)
{
    size_t vl = strlen(value), nl = strlen(name);
    if (count_bytes(d, nl + vl + 3) != TLSRPT_OK)
        return d->err;
    if (d->in_body || d->fed_raw || (d->fed > nl + vl + 3 && !d->milter_way))
        return dec_fail(d, TLSRPT_ERR_USAGE, "tlsrpt_feed_header out of order");
    d->milter_way = 1;
    d->mode = TLSRPT_MODE_MESSAGE;
    if (nl + vl + 2 > d->lim.max_header_bytes)
        return dec_fail(d, TLSRPT_ERR_HEADER_SIZE, "header field %.40s longer than the limit of %zu bytes",
                        name, d->lim.max_header_bytes);
    return mime_header(d, name, value);
}

/* Milter way: end of headers. */
int tlsrpt_end_headers(tlsrpt_decoder *d)
{
    if (d->err != TLSRPT_OK)
        return d->err;
    if (d->in_body || d->fed_raw || (d->fed > 0 && !d->milter_way))
        return dec_fail(d, TLSRPT_ERR_USAGE, "tlsrpt_end_headers out of order");
    d->milter_way = 1;
    d->in_body = 1;
    d->mode = TLSRPT_MODE_MESSAGE;
    return mime_end_headers(d);
}

/* Milter way: body chunk. */
int tlsrpt_feed_body(tlsrpt_decoder *d, const void *buf, size_t len)
{
    if (count_bytes(d, len) != TLSRPT_OK)
        return d->err;
    if (!d->in_body)
        return dec_fail(d, TLSRPT_ERR_USAGE, "tlsrpt_feed_body before tlsrpt_end_headers");
    return mime_body(d, buf, len);
}

/* End of input: finish the open part; OK when any report part decoded, else the
   first report part's error, else no-report. */
int tlsrpt_finish(tlsrpt_decoder *d)
{
    if (d->finished || d->err != TLSRPT_OK)
        return d->err;
    if (d->mode == TLSRPT_MODE_AUTO && d->nauto > 0)
        decide_mode(d, NULL, &(size_t){ 0 });   /* an input shorter than the magic */
    if (d->mode == TLSRPT_MODE_RAW)
        part_end(d);
    else if (d->mode == TLSRPT_MODE_MESSAGE)
        mime_finish(d);
    d->finished = 1;
    if (d->err != TLSRPT_OK)
        return d->err;
    if (d->nreports > 0)
        return TLSRPT_OK;                       /* failed parts stay in the part list */
    if (d->nrparts > 0)
        return dec_fail(d, d->rparts[0].err, "%s", d->rparts[0].msg);
    return dec_fail(d, TLSRPT_ERR_NO_REPORT, "no report found");
}

/* Current error code. */
int tlsrpt_error(const tlsrpt_decoder *d)
{
    return d->err;
}

/* Current error message. */
const char *tlsrpt_errstr(const tlsrpt_decoder *d)
{
    return d->err != TLSRPT_OK ? d->errmsg : "";
}

/* Bytes fed so far. */
size_t tlsrpt_bytes_fed(const tlsrpt_decoder *d)
{
    return d->fed;
}

/* The mode the input is read in (AUTO until decided). */
enum tlsrpt_mode tlsrpt_input_mode(const tlsrpt_decoder *d)
{
    return (enum tlsrpt_mode)d->mode;
}

/* zlib's inflate state and 32 KiB window, json-c's tokener with its depth stack. */
#define ZLIB_BYTES (7200 + 32768)
#define TOKENER_BYTES(depth) (256 + (size_t)(depth) * 48)

/* Estimated memory now (see tlsrpt.h): fixed buffers, the candidate being decoded
   (json-c's tree from the value count, plus the arena mapping it will add) and the
   reports kept with their part records. */
size_t tlsrpt_memory_estimate(const tlsrpt_decoder *d)
{
    size_t n = sizeof *d + (size_t)d->lim.max_mime_depth * sizeof *d->stack + d->hcap;
    const candidate *c = &d->cand;
    if (c->stage)
        n += PART_STAGE;
    if (c->active) {
        const json_count *jc = &c->pl.js.count;
        n += TOKENER_BYTES(d->lim.max_json_depth) + (c->pl.zinit ? ZLIB_BYTES : 0);
        n += json_count_memory(jc) + json_count_arena(jc);
    }
    return n + results_memory(d);
}

/* Free the decoder and what it owns. */
void tlsrpt_decoder_free(tlsrpt_decoder *d)
{
    if (!d)
        return;
    if (d->cand.active)
        payload_free(&d->cand.pl);
    free(d->cand.stage);
    results_free(d);
    mime_free(d);
    free(d);
}

/* Decode a whole buffer in one call. */
int tlsrpt_decode_buffer(const void *buf, size_t len, const tlsrpt_limits *lim,
                         enum tlsrpt_mode mode, tlsrpt_report **out,
                         char *errbuf, size_t errlen)
{
    tlsrpt_decoder *d = tlsrpt_decoder_new(lim, mode);
    *out = NULL;
    if (!d) {
        if (errlen)
            snprintf(errbuf, errlen, "out of memory");
        return TLSRPT_ERR_NOMEM;
    }
    int rc = tlsrpt_feed(d, buf, len);
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    if (rc == TLSRPT_OK)
        *out = tlsrpt_take_result(d);
    else if (errlen)
        snprintf(errbuf, errlen, "%s", tlsrpt_errstr(d));
    tlsrpt_decoder_free(d);
    return rc;
}
