/*
 * tlib_dkim.h - DKIM fixtures for the auth/ unit tests: keys and signed mails
 * made at test time by tests/lib/dkim-fixtures.py (Debian's /usr/bin/python3
 * with python3-dkim, and openssl) into a private temp directory, removed at
 * exit; and the ways a test pushes a mail through auth/ (raw feed in chunks,
 * or header by header as libmilter hands them over).
 * Limits: the generator runs once per process; cases and mails are read from
 * its manifest (TDK_MAX_CASES). Errors: tdk_fixtures returns NULL with a why
 * for SKIP when python3-dkim or openssl is missing, or when the generator fails.
 */
#ifndef TLIB_DKIM_H
#define TLIB_DKIM_H
#include <stddef.h>
#include "auth.h"

#define TDK_MAX_CASES 160
#define TDK_STRIP_UNTOLD 0x100u /* tdk_verify_milter: strip the blank, do not tell auth/ */

/* One line of manifest.tsv ("-" fields read as ""; numbers -1 when "-"). */
struct tdk_case {
    char name[96], conf[16], reason[32], detail[160], contact[160];
    int expect, disagree, lookups;
};

/* The fixture directory (made on first call), or NULL with *why set. */
const char *tdk_fixtures(const char **why);
/* The cases of the manifest (static storage); their count. */
int tdk_cases(const struct tdk_case **cases);
/* The case named name, or NULL. */
const struct tdk_case *tdk_case_get(const char *name);
/* Read fixture mail NAME.eml (caller frees), NULL if absent. */
char *tdk_load(const char *name, size_t *len);
/* A lib for a manifest conf ("default", "tlsrpt", "reporters") on keys.txt. */
tlsrpt_auth_lib *tdk_lib(const char *conf);

/* Verify msg with tlsrpt_auth_feed in pieces of chunk bytes (0: one piece). */
void tdk_verify_feed(tlsrpt_auth_lib *lib, const char *msg, size_t len, size_t chunk,
                     const char *contact, tlsrpt_verdict *v);
/* Verify msg the libmilter way: each header as name + value (leading blank
 * removed when flags has TLSRPT_AUTH_HDR_STRIPPED, folds as bare LF), eoh,
 * the body in chunk-byte pieces (0: one piece). */
void tdk_verify_milter(tlsrpt_auth_lib *lib, const char *msg, size_t len, size_t chunk,
                       unsigned flags, const char *contact, tlsrpt_verdict *v);
/* Does verdict v match case c? 1 yes; else 0 with why. */
int tdk_matches(const struct tdk_case *c, const tlsrpt_verdict *v, char *why, size_t whylen);
#endif
