/*
 * results.c - what a mail's report parts gave: every report part's outcome
 * in mail order (a report, or the part's error and message), and the list
 * of reports (tlsrpt.h: tlsrpt_result_count / _at, tlsrpt_part_count / _at,
 * tlsrpt_part_error, and the single-report tlsrpt_result /
 * tlsrpt_take_result, which see the first report).
 *
 * Limits: one record per leaf body that is a report part, so at most one
 * per MIME part of the message (max_mime_parts) plus the message's own
 * body; each report's memory is bounded by the per-report limits and the
 * reports of one mail together by the mail's decoded-bytes budget
 * (part.c). Both arrays grow by doubling. Errors: TLSRPT_ERR_NOMEM when a
 * record cannot be kept (a hard error: the mail is not half-counted).
 */
#include "decoder_int.h"
#include <stdio.h>
#include <stdlib.h>

/* Grow *arr (of elem bytes) to hold n + 1 entries. 0 ok, -1 out of memory. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *p = nc <= SIZE_MAX / elem ? realloc(*arr, nc * elem) : NULL;
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Record a report part's outcome (see decoder_int.h). */
int results_add(tlsrpt_decoder *d, int leaf, int err, const char *msg, tlsrpt_report *r)
{
    if (grow((void **)&d->rparts, &d->caprparts, d->nrparts, sizeof *d->rparts) != 0 ||
        (r && grow((void **)&d->reports, &d->capreports, d->nreports, sizeof *d->reports) != 0)) {
        tlsrpt_report_free(r);
        return dec_fail(d, TLSRPT_ERR_NOMEM, "out of memory keeping the reports of the mail");
    }
    part_rec *p = &d->rparts[d->nrparts++];
    p->leaf = leaf;
    p->err = r ? TLSRPT_OK : err;
    p->report = r;
    snprintf(p->msg, sizeof p->msg, "%s", r ? "" : msg);
    utf8_sanitize(p->msg);                      /* may quote the input; goes to logs */
    if (r)
        d->reports[d->nreports++] = r;
    return TLSRPT_OK;
}

/* Bytes the records and the kept reports hold. */
size_t results_memory(const tlsrpt_decoder *d)
{
    size_t n = d->caprparts * sizeof *d->rparts + d->capreports * sizeof *d->reports;
    for (size_t i = 0; i < d->nreports; i++)
        n += arena_size(d->reports[i]->arena);
    return n;
}

/* Free the records and every report still held. */
void results_free(tlsrpt_decoder *d)
{
    for (size_t i = 0; i < d->nreports; i++)
        tlsrpt_report_free(d->reports[i]);
    free(d->reports);
    free(d->rparts);
    d->reports = NULL;
    d->rparts = NULL;
    d->nreports = d->nrparts = d->capreports = d->caprparts = 0;
}

/* Reports after a successful finish. */
size_t tlsrpt_result_count(const tlsrpt_decoder *d)
{
    return d->finished && d->err == TLSRPT_OK ? d->nreports : 0;
}

/* The i-th report after a successful finish, else NULL. */
const tlsrpt_report *tlsrpt_result_at(const tlsrpt_decoder *d, size_t i)
{
    return i < tlsrpt_result_count(d) ? d->reports[i] : NULL;
}

/* The first report after a successful finish. */
const tlsrpt_report *tlsrpt_result(const tlsrpt_decoder *d)
{
    return tlsrpt_result_at(d, 0);
}

/* Take the first report out of the list; the caller frees it. */
tlsrpt_report *tlsrpt_take_result(tlsrpt_decoder *d)
{
    tlsrpt_report *r = (tlsrpt_report *)tlsrpt_result(d);
    if (!r)
        return NULL;
    memmove(d->reports, d->reports + 1, (d->nreports - 1) * sizeof *d->reports);
    d->nreports--;
    for (size_t i = 0; i < d->nrparts; i++)
        if (d->rparts[i].report == r)
            d->rparts[i].report = NULL;
    return r;
}

/* Report parts recorded once finished (also when finish failed). */
size_t tlsrpt_part_count(const tlsrpt_decoder *d)
{
    return d->finished ? d->nrparts : 0;
}

/* Report part i; returns its error (TLSRPT_OK when decoded), TLSRPT_ERR_USAGE out of range. */
int tlsrpt_part_at(const tlsrpt_decoder *d, size_t i, tlsrpt_part *out)
{
    if (i >= tlsrpt_part_count(d)) {
        memset(out, 0, sizeof *out);
        out->err = TLSRPT_ERR_USAGE;
        out->msg = "no such report part";
        return TLSRPT_ERR_USAGE;
    }
    const part_rec *p = &d->rparts[i];
    out->part = p->leaf;
    out->err = p->err;
    out->msg = p->msg;
    out->report = p->err == TLSRPT_OK && d->err == TLSRPT_OK ? p->report : NULL;
    return p->err;
}

/* The error of report part i (TLSRPT_OK when it decoded); *msg its message. */
int tlsrpt_part_error(const tlsrpt_decoder *d, size_t i, const char **msg)
{
    tlsrpt_part p;
    int rc = tlsrpt_part_at(d, i, &p);
    if (msg)
        *msg = p.msg;
    return rc;
}
