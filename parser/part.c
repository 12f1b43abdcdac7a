/*
 * part.c - decode one MIME leaf part as a report candidate: rank it, undo
 * its transfer encoding and hand the bytes to the payload stage; at its end
 * map the JSON to a report.
 *
 * Ranking (lower is better): 1 media type application/tlsrpt+gzip,
 * +json or bare application/tlsrpt; 2 a file name ending in .json,
 * .json.gz, .gz or .zip, or media type application/zip; 3 anything else,
 * by content sniffing (the decoded bytes must start with '{', or be a
 * gzip/zlib stream of it, or a zip of one .json entry). A part is only
 * decoded when no better- or equal-ranked report was found before it.
 * Errors of a candidate are soft: remembered (best rank first) and
 * reported by tlsrpt_finish only when no report was found. Ranks 2 and 3
 * give up quietly when the content does not look like JSON, unless a gzip
 * or zip label (media type or name) is on bytes that are not compressed.
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

/* Rank the current entity as a report candidate (see file comment). */
static int part_rank(const mime_ctype *ct)
{
    if (strcmp(ct->type, "application/tlsrpt+gzip") == 0 ||
        strcmp(ct->type, "application/tlsrpt+json") == 0 ||
        strcmp(ct->type, "application/tlsrpt") == 0)
        return 1;
    if (ends_with(ct->name, ".json") || ends_with(ct->name, ".json.gz") ||
        ends_with(ct->name, ".gz") || ends_with(ct->name, ".zip") || zip_type(ct->type))
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

/* Remember a candidate's error if it is the best-ranked one so far. */
static void soft_error(tlsrpt_decoder *d, int code, const char *msg)
{
    if (d->soft_rank == 0 || d->cand.rank < d->soft_rank) {
        d->soft_err = code;
        d->soft_rank = d->cand.rank;
        snprintf(d->soft_msg, sizeof d->soft_msg, "%s", msg);
        utf8_sanitize(d->soft_msg);
    }
}

/* Drop the candidate. */
static void cand_stop(tlsrpt_decoder *d)
{
    if (d->cand.active)
        payload_free(&d->cand.pl);
    d->cand.active = 0;
}

/* Start decoding a candidate of the given rank and label. */
static void cand_start(tlsrpt_decoder *d, int rank, int label, int cte)
{
    candidate *c = &d->cand;
    cand_stop(d);
    if (d->result_rank && d->result_rank <= rank)
        return;
    if (!c->stage && !(c->stage = malloc(PART_STAGE))) {    /* not zeroed: cheap per mail */
        soft_error(d, TLSRPT_ERR_NOMEM, "out of memory");
        return;
    }
    c->rank = rank;
    c->cte = cte;
    c->nstage = 0;
    b64_init(&c->b64);
    qp_init(&c->qp);
    if (payload_init(&c->pl, d->lim.max_report_bytes, d->lim.max_json_depth, rank > 1) != TLSRPT_OK) {
        payload_free(&c->pl);
        soft_error(d, TLSRPT_ERR_NOMEM, "out of memory");
        return;
    }
    c->pl.label = label;
    c->pl.js.count.max_values = d->lim.max_json_values;
    c->active = 1;
}

/* A leaf body starts: rank it and maybe start a candidate. */
void part_begin(tlsrpt_decoder *d)
{
    cand_start(d, part_rank(&d->ct), part_label(&d->ct), d->cte);
}

/* The whole input is a bare report (raw mode). */
int part_start_raw(tlsrpt_decoder *d)
{
    cand_start(d, 1, LABEL_NONE, CTE_IDENTITY);
    return TLSRPT_OK;
}

/* Pass transfer-decoded bytes to the payload; stop the candidate on error or rejection. */
static void cand_payload(tlsrpt_decoder *d, const unsigned char *buf, size_t len)
{
    char err[TLSRPT_ERRLEN];
    int rc = payload_feed(&d->cand.pl, buf, len, err);
    if (rc != TLSRPT_OK) {
        soft_error(d, rc, err);
        cand_stop(d);
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
                soft_error(d, TLSRPT_ERR_BASE64, "invalid character in base64 data");
                cand_stop(d);
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

/* The leaf ended: finish decoding and keep the report if it is the best so far. */
void part_end(tlsrpt_decoder *d)
{
    candidate *c = &d->cand;
    unsigned char out[128];
    char err[TLSRPT_ERRLEN];
    cand_flush(d);
    if (!c->active)
        return;
    if (c->cte == CTE_BASE64 && b64_finish(&c->b64) != 0) {
        soft_error(d, TLSRPT_ERR_BASE64, "truncated base64 data");
        cand_stop(d);
        return;
    }
    if (c->cte == CTE_QP)
        cand_payload(d, out, qp_finish(&c->qp, out));
    if (!c->active)
        return;
    int rc = payload_finish(&c->pl, err);
    if (rc == TLSRPT_OK && !c->pl.rejected) {
        tlsrpt_report *r;
        rc = tlsrpt_map_report_max(c->pl.js.obj, d->report_domain[0] ? d->report_domain : NULL,
                                   d->lim.max_session_count, &r, err);
        if (rc == TLSRPT_OK) {
            tlsrpt_report_free(d->result);
            d->result = r;
            d->result_rank = c->rank;
        }
    }
    if (rc != TLSRPT_OK)
        soft_error(d, rc, err);
    cand_stop(d);
}
