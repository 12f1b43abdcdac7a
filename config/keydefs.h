/*
 * keydefs.h - inside the configuration reader: the table of keys that
 * config.c (the file grammar) and keys.c (one setter and one printer per
 * key) share. Not for the programs: they use config.h only.
 *
 * Adding a key: a field (and TM_K_ id) in config.h, its default in
 * tm_config_init and, if it owns memory, tm_config_free (keys.c), a setter
 * and a printer (keys.c, or keys_auth.c for the DKIM keys; the value helpers
 * are in keyparse.c) and its row in tm_keydefs[] (keys.c); README, the sample
 * conf/tlsrpt-milter.conf and tlsrpt-milter.conf(5) in the same commit.
 */
#ifndef TM_KEYDEFS_H
#define TM_KEYDEFS_H

#include <stdio.h>
#include "config.h"

#define TM_MSG_MAX 512              /* one error message, without "FILE:LINE: " */

/* Set one key from its value (never empty unless allow_empty); -1 with msg filled. */
typedef int (*tm_setter)(tm_config *cfg, const char *val, char *msg);
/* Print the key's effective value as config lines ("Name value\n"). */
typedef void (*tm_printer)(FILE *f, const char *name, const tm_config *cfg);

struct tm_keydef {
    const char *name;               /* as documented; matched without case */
    tm_setter set;
    tm_printer print;
    int allow_empty;                /* an empty value is meaningful ("none") */
};

/* Indexed by enum tm_key; every row filled (keys.c). */
extern const struct tm_keydef tm_keydefs[TM_K_COUNT];

/* Value helpers (keyparse.c). */
/* Replace *dst by a copy of val. */
int tm_kp_set_str(char **dst, const char *val, char *msg);
/* Unsigned decimal with an optional one-letter suffix from suffixes (multipliers mult);
   -1 on junk, overflow or above max. */
int tm_kp_parse_scaled(const char *val, const char *suffixes, const unsigned long *mult,
                       unsigned long max, unsigned long *out);
/* Plain integer in [lo, hi]. */
int tm_kp_parse_int(const char *val, long lo, long hi, int *out);
/* Next token of a space/comma separated list into tok; NULL at the end. */
const char *tm_kp_next_token(const char *p, char *tok, size_t toklen, int *toolong);
/* Append a copy of s to a list of at most max entries. */
int tm_kp_list_add(char ***list, size_t *n, size_t max, const char *s, char *msg);
/* Free a list. */
void tm_kp_list_free(char **list, size_t n);
/* Name of value v in a NULL-terminated list, or "?". */
const char *tm_kp_enum_name(const char *const *names, int v);
/* *out = index of val in names (without case), or explain what was expected. */
int tm_kp_set_enum(const char *key, const char *const *names, const char *val, int *out,
                   char *msg);
/* "bad value for KEY: 'VAL' (expected EXPECT)"; returns -1. */
int tm_kp_bad_number(const char *key, const char *val, const char *expect, char *msg);
/* Print "Name value", or "Name" alone for an empty value. */
void tm_kp_put(FILE *f, const char *name, const char *val);
/* Print a list, one line per entry; empty: the bare key (allow_empty) or a comment. */
void tm_kp_put_list(FILE *f, const char *name, char *const *list, size_t n, int allow_empty);

/* The DKIM keys (keys_auth.c): setters, printers, defaults and free. */
int tm_set_authentication(tm_config *c, const char *v, char *m);
int tm_set_on_unauth(tm_config *c, const char *v, char *m);
int tm_set_reporters(tm_config *c, const char *v, char *m);
int tm_set_dkim_timeout(tm_config *c, const char *v, char *m);
int tm_set_dkim_key_file(tm_config *c, const char *v, char *m);
int tm_set_dkim_require(tm_config *c, const char *v, char *m);
int tm_set_dkim_nameservers(tm_config *c, const char *v, char *m);
void tm_pr_authentication(FILE *f, const char *n, const tm_config *c);
void tm_pr_on_unauth(FILE *f, const char *n, const tm_config *c);
void tm_pr_reporters(FILE *f, const char *n, const tm_config *c);
void tm_pr_dkim_timeout(FILE *f, const char *n, const tm_config *c);
void tm_pr_dkim_key_file(FILE *f, const char *n, const tm_config *c);
void tm_pr_dkim_require(FILE *f, const char *n, const tm_config *c);
void tm_pr_dkim_nameservers(FILE *f, const char *n, const tm_config *c);
/* Set the DKIM defaults (-1 on no memory); free what the DKIM keys own. */
int tm_auth_defaults(tm_config *cfg);
void tm_auth_free(tm_config *cfg);

#endif
