/*
 * part.c - decode each report part of a mail in turn: decide whether a MIME
 * leaf is a report part and how its content is sniffed, undo its transfer
 * encoding, hand the bytes to the payload stage, and at its end map the
 * JSON to a report kept in the mail's list (results.c). json-c's state is
 * freed between parts.
 *
 * A leaf is a report part (README "Which parts are reports") when
 *   1 its media type is application/tlsrpt+gzip, +json or bare
 *     application/tlsrpt (content decoded whatever it is: an error is the
 *     part's error);
 *   2 its file name ends in .json, .json.gz, .gz or .zip, or its media type
 *     is application/json or application/zip: when its content is JSON, or
 *     gzip/zlib/zip of JSON (anything else is skipped quietly, but a gzip or
 *     zip label on bytes that are not compressed is an error);
 *   3 otherwise, when the leaf is a whole message body (a single-part or
 *     non-MIME mail, or a message/rfc822 one): sniffed as in 2;
 *   4 otherwise, in a multipart: when its content is a zip of one .json
 *     entry (any label), or, for a part that is not text, gzip of JSON.
 *     Text parts holding JSON, human-readable parts, decoys: not reports.
 * Every report part counts; the decoded JSON of the reports kept for one
 * mail is capped at the larger of max_message_bytes and max_report_bytes
 * together (each report is still capped at max_report_bytes).
 */
#include "decoder_int.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define CHUNK PART_STAGE

/* Does s end with suffix, ignoring case? */
static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Is the media type one of the zip types? */
static int zip_type(const char *t)
{
    return strcmp(t, "application/zip") == 0 || strcmp(t, "application/x-zip-compressed") == 0 ||
           strcmp(t, "application/x-zip") == 0;
}

/* Is the entity labelled a report by its media type (1), its name or a JSON/zip type (2)? */
static int part_rank(const mime_ctype *ct)
{
    if (strcmp(ct->type, "application/tlsrpt+gzip") == 0 ||
        strcmp(ct->type, "application/tlsrpt+json") == 0 ||
        strcmp(ct->type, "application/tlsrpt") == 0)
        return 1;
    if (ends_with(ct->name, ".json") || ends_with(ct->name, ".json.gz") ||
        ends_with(ct->name, ".gz") || ends_with(ct->name, ".zip") || zip_type(ct->type) ||
        strcmp(ct->type, "application/json") == 0)
        return 2;
    return 3;
}

/* What the part's media type or name says it holds (LABEL_*). */
static int part_label(const mime_ctype *ct)
{
    if (zip_type(ct->type) || ends_with(ct->name, ".zip"))
        return LABEL_ZIP;
    if (strcmp(ct->type, "application/tlsrpt+gzip") == 0 || strcmp(ct->type, "application/gzip") == 0 ||
        strcmp(ct->type, "application/x-gzip") == 0 || ends_with(ct->name, ".gz"))
        return LABEL_GZIP;
    return LABEL_NONE;
}

/* A report part failed: keep its error in the mail's part list. */
static void part_failed(tlsrpt_decoder *d, int code, const char *msg)
{
    results_add(d, d->cand.leaf, code, msg, NULL);
}

/* Drop the candidate. */
static void cand_stop(tlsrpt_decoder *d)
{
    if (d->cand.active)
        payload_free(&d->cand.pl);
    d->cand.active = 0;
}

/* Start decoding a candidate with the given sniffing and label. */
static void cand_start(tlsrpt_decoder *d, int sniff, int label, int cte)
{
    candidate *c = &d->cand;
    size_t cap = d->lim.max_message_bytes > d->lim.max_report_bytes ? d->lim.max_message_bytes
                                                                     : d->lim.max_report_bytes;
    size_t left = cap - d->kept_bytes;          /* the mail's budget for its reports */
    cand_stop(d);
    c->leaf = ++d->leaves;
    if (!c->stage && !(c->stage = malloc(PART_STAGE))) {    /* not zeroed: cheap per mail */
        part_failed(d, TLSRPT_ERR_NOMEM, "out of memory");
        return;
    }
    c->cte = cte;
    c->nstage = 0;
    b64_init(&c->b64);
    qp_init(&c->qp);
    if (payload_init(&c->pl, left < d->lim.max_report_bytes ? left : d->lim.max_report_bytes,
                     d->lim.max_json_depth, sniff) != TLSRPT_OK) {
        payload_free(&c->pl);
        part_failed(d, TLSRPT_ERR_NOMEM, "out of memory");
        return;
    }
    c->pl.mail_capped = left < d->lim.max_report_bytes;
    c->pl.label = label;
    c->pl.js.count.max_values = d->lim.max_json_values;
    c->pl.cancel = d->cancel;
    c->pl.cancel_arg = d->cancel_arg;
    c->active = 1;
}

/* A leaf body starts: is it a report part, and how is it sniffed (file comment)? */
void part_begin(tlsrpt_decoder *d)
{
    int whole = d->depth == 0 || d->stack[d->depth - 1].rfc822;
    int rank = part_rank(&d->ct);
    int sniff = rank == 1 ? SNIFF_NONE : rank == 2 || whole ? SNIFF_JSON
              : strncmp(d->ct.type, "text/", 5) == 0 ? SNIFF_ZIP : SNIFF_COMPRESSED;
    cand_start(d, sniff, part_label(&d->ct), d->cte);
}

/* The whole input is a bare report (raw mode). */
int part_start_raw(tlsrpt_decoder *d)
{
    cand_start(d, SNIFF_NONE, LABEL_NONE, CTE_IDENTITY);
    return TLSRPT_OK;
}

/* Pass transfer-decoded bytes to the payload; stop the candidate on error or rejection. */
static void cand_payload(tlsrpt_decoder *d, const unsigned char *buf, size_t len)
{
    char err[TLSRPT_ERRLEN];
    int rc = payload_feed(&d->cand.pl, buf, len, err);
    if (rc == TLSRPT_ERR_CANCELLED) {
        dec_fail(d, rc, "%s", err);             /* the whole decoder stops */
    } else if (rc != TLSRPT_OK) {
        cand_stop(d);
        part_failed(d, rc, err);
    } else if (d->cand.pl.rejected) {
        cand_stop(d);
    }
}

/* Undo the transfer encoding of body bytes and pass them on. */
static void cand_decode(tlsrpt_decoder *d, const char *buf, size_t len)
{
    unsigned char out[CHUNK + sizeof(((qp_state *)0)->ws) + 8];
    candidate *c = &d->cand;
    while (len > 0 && c->active) {
        size_t n = len > CHUNK ? CHUNK : len;
        if (c->cte == CTE_BASE64) {
            long got = b64_decode(&c->b64, buf, n, out);
            if (got < 0) {
                cand_stop(d);
                part_failed(d, TLSRPT_ERR_BASE64, "invalid character in base64 data");
                break;
            }
            cand_payload(d, out, (size_t)got);
        } else if (c->cte == CTE_QP) {
            cand_payload(d, out, qp_decode(&c->qp, buf, n, out));
        } else {
            cand_payload(d, (const unsigned char *)buf, n);
        }
        buf += n;
        len -= n;
    }
}

/* Decode what the stage holds. */
static void cand_flush(tlsrpt_decoder *d)
{
    size_t n = d->cand.nstage;
    d->cand.nstage = 0;
    if (n)
        cand_decode(d, d->cand.stage, n);
}

/* Feed body bytes of the current leaf: gathered into the stage, so that base64,
   inflate and the JSON tokener run on 16 KiB steps rather than on single lines. */
int part_feed(tlsrpt_decoder *d, const char *buf, size_t len)
{
    candidate *c = &d->cand;
    while (len > 0 && c->active) {
        if (c->nstage == 0 && len >= PART_STAGE) {
            cand_decode(d, buf, len);                   /* big chunk: no copy */
            break;
        }
        size_t n = PART_STAGE - c->nstage < len ? PART_STAGE - c->nstage : len;
        memcpy(c->stage + c->nstage, buf, n);
        c->nstage += n;
        buf += n;
        len -= n;
        if (c->nstage == PART_STAGE)
            cand_flush(d);
    }
    return TLSRPT_OK;
}

/* The leaf ended: finish decoding, keep the report (or the part's error) in the list. */
void part_end(tlsrpt_decoder *d)
{
    candidate *c = &d->cand;
    unsigned char out[128];
    char err[TLSRPT_ERRLEN];
    tlsrpt_report *r = NULL;
    cand_flush(d);
    if (!c->active)
        return;
    if (c->cte == CTE_BASE64 && b64_finish(&c->b64) != 0) {
        cand_stop(d);
        part_failed(d, TLSRPT_ERR_BASE64, "truncated base64 data");
        return;
    }
    if (c->cte == CTE_QP)
        cand_payload(d, out, qp_finish(&c->qp, out));
    if (!c->active)
        return;
    int rc = payload_finish(&c->pl, err);
    int rejected = c->pl.rejected;
    size_t bytes = c->pl.out_bytes;
    if (rc == TLSRPT_OK && !rejected)
        rc = tlsrpt_map_report_max(c->pl.js.obj, d->report_domain[0] ? d->report_domain : NULL,
                                   d->lim.max_session_count, &r, err);
    cand_stop(d);                               /* json-c's tree goes before the next part */
    if (rc != TLSRPT_OK) {
        part_failed(d, rc, err);
    } else if (!rejected && results_add(d, c->leaf, TLSRPT_OK, "", r) == TLSRPT_OK) {
        d->kept_bytes += bytes;
    }
}
