/*
 * tlib_store.h - helpers shared by the store tests: a tlsrpt_report built
 * by hand (no parser involved), a store on given memcached servers, and
 * the hex SHA-256 of a buffer. Limits: TLIB_TR_POL policies per report,
 * TLIB_TR_FAIL failure entries and TLIB_TR_PS policy-string lines per
 * policy; going past one is a bug in the test and aborts. Strings put
 * into a report are borrowed, not copied: they must outlive it.
 */
#ifndef TLIB_STORE_H
#define TLIB_STORE_H
#include <stddef.h>
#include <stdint.h>
#include "tlsrpt.h"
#include "store.h"

#define TLIB_TR_POL 4
#define TLIB_TR_FAIL 4
#define TLIB_TR_PS 4

/* A hand-built report and the storage its arrays point into. */
typedef struct tlib_tr {
    tlsrpt_report r;
    tlsrpt_policy pol[TLIB_TR_POL];
    tlsrpt_failure f[TLIB_TR_POL][TLIB_TR_FAIL];
    char *ps[TLIB_TR_POL][TLIB_TR_PS];
} tlib_tr;

/* A report with no policies yet (day NULL: no start date). */
void tlib_tr_init(tlib_tr *t, const char *org, const char *rid, const char *day);
/* Add a policy with its totals; returns its index. */
int tlib_tr_policy(tlib_tr *t, const char *type, const char *domain, int64_t ok, int64_t fail);
/* Add a policy-string line to policy i. */
void tlib_tr_ps(tlib_tr *t, int i, const char *s);
/* Add a failure-details entry to policy i. */
void tlib_tr_fail(tlib_tr *t, int i, const char *rt, const char *mx, int64_t n);

/* A store on servers with the given prefix and allow-list; NULL (reason printed) on error. */
tlsrpt_store *tlib_mkstore(const char *servers, const char *prefix, const char *const *allow, size_t n);
/* The same with MaxNewKeysPerReport new_keys and MaxDomainsPerReporter rep (0 = default). */
tlsrpt_store *tlib_mkstore_b(const char *servers, const char *prefix, size_t new_keys, size_t rep);
/* Hex SHA-256 of a buffer through the one-shot API. */
void tlib_sha_hex(const void *d, size_t n, char out[65]);
#endif
