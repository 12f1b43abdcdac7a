/*
 * tlib_report.h - decoder helpers shared by the decoder tests: a canonical
 * text rendering of a tlsrpt_report (every field), the oracle-style
 * policies summary, and drivers that feed a buffer to a decoder in a
 * given chunking, either as raw bytes (tlsrpt_feed) or the milter way
 * (headers split into name/value pairs, then the body in chunks).
 * All returned strings are malloc'd; the caller frees them.
 */
#ifndef TLIB_REPORT_H
#define TLIB_REPORT_H
#include "tlsrpt.h"
#include <stddef.h>

/* Every field of a report, one "key=value" per line. */
char *tlib_render(const tlsrpt_report *r);
/* oracle.py's policies column: "domain:succ:fail:rt=n,...;..." */
char *tlib_policies_tsv(const tlsrpt_report *r);
/* The oracle --tsv line for a report (no trailing newline). */
char *tlib_tsv_line(const char *file, const tlsrpt_report *r);

/* How to cut the input: cut > 0 splits once at that offset; else chunk bytes per feed. */
typedef struct tlib_cut {
    size_t cut;        /* two chunks: [0,cut) and [cut,len) when cut > 0 */
    size_t chunk;      /* otherwise chunks of this many bytes (0: one chunk) */
} tlib_cut;

/* Decode buf by tlsrpt_feed; returns "OK\n<render>" (then "=== report i\n<render>" for
   every further report and "\n=== part N: <reason>" for every failed report part) or
   "ERR <reason>". *rc gets the code. */
char *tlib_decode_feed(const void *buf, size_t len, const tlsrpt_limits *lim,
                       enum tlsrpt_mode mode, tlib_cut how, int *rc);
/* Same, the milter way: header name/value pairs, end_headers, body chunks (cut applies to the body). */
char *tlib_decode_milter(const void *buf, size_t len, const tlsrpt_limits *lim,
                         tlib_cut how, int *rc);
/* Decode in one call and keep the report (NULL when rejected). */
tlsrpt_report *tlib_decode(const void *buf, size_t len, const tlsrpt_limits *lim,
                           enum tlsrpt_mode mode, int *rc, char *err, size_t errlen);
#endif
