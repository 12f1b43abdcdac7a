/*
 * parse.h - tlsrpt-parse internals: input walking (main.c), output (out.c)
 * and counting into memcached (push.c). --rebuild has its own header (rebuild.h).
 */
#ifndef TLSRPT_PARSE_H
#define TLSRPT_PARSE_H

#include <stdio.h>
#include <stdint.h>
#include "tlsrpt.h"
#include "auth.h"
#include "config.h"

struct rt_sum {
    const char *name;
    int64_t n;
};

void out_json(FILE *f, const char *name, const tlsrpt_report *r, int err, const char *errmsg);
/* out_json with the report part number (0: the input has one) and the DKIM verdict
   (NULL: not verified). */
void out_json_ex(FILE *f, const char *name, int part, const tlsrpt_report *r, int err,
                 const char *errmsg, const tlsrpt_verdict *v);
void out_tsv_header(FILE *f);
void out_tsv(FILE *f, const char *name, const tlsrpt_report *r, const char *errmsg);

/* push.c: cfg must outlive the push_ctx. */
typedef struct push_ctx push_ctx;
push_ctx *push_open(const tm_config *cfg, const char *servers, const char *prefix);
/* Count one report (v: its DKIM verdict, NULL for a bare report: counted under its
   organization-name); prints a line; returns 0 counted/duplicate, 1 not counted. */
int push_report(push_ctx *p, const char *name, const tlsrpt_report *r, const tlsrpt_verdict *v);

/* verify.c: DKIM verification of one input (a message), next to its decoder. */
typedef struct pv_file {
    int on, bare, oom;
    tlsrpt_auth *a;
} pv_file;
void pv_start(pv_file *v, tlsrpt_auth_lib *lib, const char *name);
void pv_feed(pv_file *v, const tlsrpt_decoder *d, const void *buf, size_t len);
int pv_finish(pv_file *v, const tlsrpt_decoder *d);
void pv_judge(pv_file *v, const tlsrpt_report *r, tlsrpt_verdict *out);
void pv_end(pv_file *v);
void push_close(push_ctx *p);

#endif
