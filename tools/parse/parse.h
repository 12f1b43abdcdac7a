/*
 * parse.h - tlsrpt-parse internals: input walking (main.c), output (out.c)
 * and counting into memcached (push.c). --rebuild has its own header (rebuild.h).
 */
#ifndef TLSRPT_PARSE_H
#define TLSRPT_PARSE_H

#include <stdio.h>
#include <stdint.h>
#include "tlsrpt.h"

struct rt_sum {
    const char *name;
    int64_t n;
};

void out_json(FILE *f, const char *name, const tlsrpt_report *r, int err, const char *errmsg);
void out_tsv_header(FILE *f);
void out_tsv(FILE *f, const char *name, const tlsrpt_report *r, const char *errmsg);

/* push.c */
typedef struct push_ctx push_ctx;
push_ctx *push_open(const char *conf_file, const char *servers, const char *prefix,
                    tlsrpt_limits *lim);
/* Count one report; prints a line; returns 0 counted/duplicate, 1 not counted. */
int push_report(push_ctx *p, const char *name, const tlsrpt_report *r);
void push_close(push_ctx *p);

#endif
