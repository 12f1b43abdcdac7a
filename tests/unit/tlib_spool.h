/*
 * tlib_spool.h - helpers for the archive (spool/) tests: private temporary
 * directories, deterministic test mails, writing and checking entries.
 */
#ifndef TLIB_SPOOL_H
#define TLIB_SPOOL_H
#include <stddef.h>
#include <time.h>
#include "spool.h"

/* A fresh private directory under $TMPDIR (or /tmp): malloc'd path, NULL on failure. */
char *tsp_tmpdir(const char *tag);
/* rm -rf path (no symlinks followed); 0 / -1. */
int tsp_rmrf(const char *path);
/* The test mail of (seed, size): headers, then text lines and binary bytes (NUL, 0xff,
   CR, LF) mixed; the same bytes every time. out has room for size. */
void tsp_message(unsigned seed, size_t size, unsigned char *out);
/* Write the mail (seed, size) in chunks of `chunk` bytes and commit it with a meta holding
   test-seed; 0 and the id, or -1 (err). */
int tsp_put(tlsrpt_spool *sp, time_t arrival, unsigned seed, size_t size, size_t chunk,
            int pending, char id[TLSRPT_SPOOL_ID_MAX], char *err, size_t errlen);
/* Read entry id back and compare it with its test-seed mail: 1 when byte-exact (and the
   meta's size matches), else 0 with why. */
int tsp_check(tlsrpt_spool *sp, const char *id, char *why, size_t whylen);
/* Read entry id whole into a malloc'd buffer (*len); NULL with why. */
unsigned char *tsp_read_all(tlsrpt_spool *sp, const char *id, size_t rdchunk, size_t *len,
                            char *why, size_t whylen);
/* Number of files in DIR/sub (0 when absent). */
long tsp_count_files(const char *dir, const char *sub);
#endif
