/*
 * decoder_int.h - the decoder's internal state, shared by decoder.c (API,
 * message framing, limits) and mime.c (MIME structure, part selection).
 *
 * Ownership: the decoder owns everything here; cand.pl is live only while
 * a candidate part is being decoded (cand.active); each report in reports[]
 * (and rparts[].report) is owned until tlsrpt_take_result or
 * tlsrpt_decoder_free.
 */
#ifndef TLSRPT_DECODER_INT_H
#define TLSRPT_DECODER_INT_H

#include "stages.h"

#define MIME_PEEK 320           /* bytes of a body line kept to test for a boundary */
#define PART_STAGE 16384        /* body bytes gathered per decoding step */

/* One report part's outcome (results.c). */
typedef struct part_rec {
    int leaf;                   /* leaf number in the message, 1-based */
    int err;                    /* TLSRPT_OK: decoded into report (NULL once taken) */
    tlsrpt_report *report;
    char msg[TLSRPT_ERRLEN];
} part_rec;

/* One open multipart (or message/rfc822 nesting, boundary ""). */
typedef struct mime_level {
    char boundary[256];
    int rfc822;
} mime_level;

enum mstate {
    M_HEADERS = 0,  /* reading an entity's header lines */
    M_BODY,         /* leaf body */
    M_PREAMBLE,     /* multipart preamble or epilogue: ignored text */
    M_DONE          /* after the outermost closing boundary */
};

/* The part being decoded as a report candidate. */
typedef struct candidate {
    int active;
    int leaf;                   /* its leaf number in the message, 1-based */
    int cte;
    b64_state b64;
    qp_state qp;
    payload pl;
    char *stage;                /* PART_STAGE body bytes gathered before decoding (the */
    size_t nstage;              /* MIME layer hands them over line by line); malloc'd once */
} candidate;

struct tlsrpt_decoder {
    tlsrpt_limits lim;
    int mode;                   /* TLSRPT_MODE_*; AUTO until decided */
    int err;                    /* sticky hard error */
    char errmsg[TLSRPT_ERRLEN];
    size_t fed;
    int finished;
    int in_body;                /* message headers done */
    int milter_way;             /* headers came through tlsrpt_feed_header */
    int fed_raw;                /* raw-mode bytes were fed */
    char autobuf[4];            /* AUTO mode: first significant bytes */
    int nauto;

    /* header accumulation (message and part headers) */
    char *hbuf;                 /* pending logical header, then the current physical line */
    size_t hlen, hcap, hline;   /* hline: offset where the current physical line starts */

    /* MIME */
    enum mstate st;
    mime_level *stack;
    int depth;
    int parts;
    mime_ctype ct;              /* headers of the current entity */
    int cte;
    char peek[MIME_PEEK];       /* start of the current body line */
    size_t npeek;
    int long_line;              /* current line passed MIME_PEEK: stream it through */
    char report_domain[256];    /* TLS-Report-Domain */

    candidate cand;
    int leaves;                 /* leaf bodies seen */

    /* results.c: every report part's outcome in mail order, and the reports */
    part_rec *rparts;
    size_t nrparts, caprparts;
    tlsrpt_report **reports;    /* the decoded ones, in mail order */
    size_t nreports, capreports;
    size_t kept_bytes;          /* decoded JSON bytes of the reports kept */
    tlsrpt_cancel_fn cancel;    /* tlsrpt_decoder_set_cancel, copied into each payload */
    void *cancel_arg;
};

/* decoder.c */
int dec_fail(tlsrpt_decoder *d, int code, const char *fmt, ...);

/* mime.c */
int mime_header(tlsrpt_decoder *d, const char *name, const char *value);
int mime_end_headers(tlsrpt_decoder *d);
int mime_body(tlsrpt_decoder *d, const char *buf, size_t len);
int mime_finish(tlsrpt_decoder *d);
void mime_free(tlsrpt_decoder *d);
int mime_line_header(tlsrpt_decoder *d, const char *buf, size_t len);

/* results.c: record a report part's outcome (report on success, else err and msg);
   TLSRPT_OK, or a hard TLSRPT_ERR_NOMEM (then r is freed). */
int results_add(tlsrpt_decoder *d, int leaf, int err, const char *msg, tlsrpt_report *r);
size_t results_memory(const tlsrpt_decoder *d);
void results_free(tlsrpt_decoder *d);

/* part.c: candidate decoding */
void part_begin(tlsrpt_decoder *d);
int part_feed(tlsrpt_decoder *d, const char *buf, size_t len);
void part_end(tlsrpt_decoder *d);
int part_start_raw(tlsrpt_decoder *d);

#endif
