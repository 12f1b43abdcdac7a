/*
 * keydefs.h - inside the configuration reader: the table of keys that
 * config.c (the file grammar) and keys.c (one setter and one printer per
 * key) share. Not for the programs: they use config.h only.
 *
 * Adding a key: a field (and TM_K_ id) in config.h, its default in
 * tm_config_init and, if it owns memory, tm_config_free (keys.c), a setter
 * and a printer and its row in tm_keydefs[] (keys.c); README, the sample
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

#endif
