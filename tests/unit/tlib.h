/*
 * tlib.h - minimal test helpers. Each check prints one line:
 *   PASS: name | FAIL: name (file:line: why) | SKIP: name (why)
 * tests/run-tests.sh counts those lines across all test programs and scripts.
 */
#ifndef TLIB_H
#define TLIB_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int tlib_failed;

#define T_PASS(name) printf("PASS: %s\n", (name))
#define T_SKIP(name, why) printf("SKIP: %s (%s)\n", (name), (why))
#define T_CHECK(cond, name) do { \
    if (cond) printf("PASS: %s\n", (name)); \
    else { printf("FAIL: %s (%s:%d: %s)\n", (name), __FILE__, __LINE__, #cond); tlib_failed++; } \
    fflush(stdout); } while (0)
#define T_STREQ(a, b, name) do { \
    const char *ta_ = (a), *tb_ = (b); \
    if (ta_ && tb_ && strcmp(ta_, tb_) == 0) printf("PASS: %s\n", (name)); \
    else { printf("FAIL: %s (%s:%d: \"%s\" != \"%s\")\n", (name), __FILE__, __LINE__, \
                  ta_ ? ta_ : "(null)", tb_ ? tb_ : "(null)"); tlib_failed++; } \
    fflush(stdout); } while (0)
#define T_INTEQ(a, b, name) do { \
    long long ta_ = (long long)(a), tb_ = (long long)(b); \
    if (ta_ == tb_) printf("PASS: %s\n", (name)); \
    else { printf("FAIL: %s (%s:%d: %lld != %lld)\n", (name), __FILE__, __LINE__, ta_, tb_); \
           tlib_failed++; } \
    fflush(stdout); } while (0)

/* Read a whole file; NULL if missing. Caller frees. */
char *tlib_read_file(const char *path, size_t *len);
/* Directory of the shared corpus (env TLSRPT_CORPUS or ../shared/corpus), NULL if absent. */
const char *tlib_corpus_dir(void);
/* Source tree root (env TLSRPT_SRCDIR or "."). */
const char *tlib_srcdir(void);

#define T_MAIN_END() return tlib_failed ? 1 : 0
#endif
