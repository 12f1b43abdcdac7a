/*
 * config.h - tlsrpt-milter configuration: defaults, loading and checking.
 *
 * The file holds "Key value" lines; '#' starts a comment line, blank lines
 * are ignored, keys are case-insensitive. Every error names the file and
 * the line ("FILE:LINE: unknown key 'X'"). See tlsrpt-milter.conf(5).
 *
 * Limits: a line is at most TM_CONF_LINE_MAX bytes, the file at most
 * TM_CONF_FILE_MAX bytes, at most TM_CONF_MAX_ADDRS report addresses and
 * TM_CONF_MAX_DOMAINS policy domains. No libmilter: config/ is the one
 * reader of the file, linked by tlsrpt-milter, tlsrpt-parse and tlsrpt-stats
 * (and the unit tests); it never includes anything from milter/.
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stddef.h>
#include <sys/types.h>
#include "tlsrpt.h"
#include "store.h"

#define TM_CONF_DEFAULT_PATH "/etc/tlsrpt-milter.conf"
#define TM_CONF_LINE_MAX 4096
#define TM_CONF_FILE_MAX (1024 * 1024)
#define TM_CONF_MAX_ADDRS 256
#define TM_CONF_MAX_DOMAINS 4096
#define TM_CONF_ADDR_MAX 320        /* one normalized address: 64 local + @ + 255 domain */

enum tm_action { TM_ACTION_DISCARD = 0, TM_ACTION_TAG };
enum tm_on_store_error { TM_STORE_ERR_DELIVER = 0, TM_STORE_ERR_TEMPFAIL };

/* The whole configuration. Strings are owned by the struct (tm_config_free). */
typedef struct tm_config {
    char *socket;                   /* libmilter connection spec */
    char **report_addrs;            /* normalized: lower-case, no <>, "@dom" = whole domain */
    size_t n_report_addrs;
    char *rcpt_delim;               /* recipient delimiter characters, "" = none */
    int action;                     /* enum tm_action */
    int on_store_error;             /* enum tm_on_store_error */
    char *memcached_servers;
    char *key_prefix;
    long counter_ttl;               /* seconds, 0 = no expiry */
    long dedup_ttl;
    char **policy_domains;          /* normalized allow-list, NULL = count all */
    size_t n_policy_domains;
    tlsrpt_limits limits;
    char *user;                     /* "" = do not change user */
    char *group;                    /* "" = primary group of user */
    mode_t umask;
    char *pidfile;                  /* "" = none */
    int log_level;                  /* syslog priority: LOG_ERR .. LOG_DEBUG */
    int store_timeout_ms;
} tm_config;

/* Fill cfg with the built-in defaults (allocates; free with tm_config_free). 0 or -1 on no memory. */
int tm_config_init(tm_config *cfg);
/* Release everything cfg owns; cfg may then be initialized again. */
void tm_config_free(tm_config *cfg);

/* Parse config text (fname is used in messages only) over the values in cfg.
   Error lines "FILE:LINE: ..." go to err (size errlen, newline-separated, truncated).
   Returns the number of errors, 0 when fine. Also runs tm_config_check. */
int tm_config_parse(tm_config *cfg, const char *text, size_t len, const char *fname,
                    char *err, size_t errlen);
/* Read and parse a file (at most TM_CONF_FILE_MAX bytes). Returns the number of errors. */
int tm_config_load(tm_config *cfg, const char *path, char *err, size_t errlen);

/* Fill a store configuration from cfg (pointers into cfg); pool_size connections. */
void tm_config_store_conf(const tm_config *cfg, int pool_size, tlsrpt_store_conf *sc);

/* Name of a log level ("info"), or "?" */
const char *tm_log_level_name(int level);

#endif
