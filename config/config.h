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
 * (and the unit tests); it never includes anything from milter/. It asks the
 * modules below about their own values: store/ about MemcachedServers and
 * KeyPrefix, auth/ about Reporters and DkimNameservers.
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "tlsrpt.h"
#include "store.h"
#include "auth.h"

#define TM_CONF_DEFAULT_PATH "/etc/tlsrpt-milter.conf"
#define TM_CONF_LINE_MAX 4096
#define TM_CONF_FILE_MAX (1024 * 1024)
#define TM_CONF_MAX_ADDRS 256
#define TM_CONF_MAX_DOMAINS 4096
#define TM_CONF_ADDR_MAX 320        /* one normalized address: 64 local + @ + 255 domain */
#define TM_CONF_MAX_REPORTERS 1024
#define TM_CONF_MAX_DKIM_TIMEOUT 300                /* DkimTimeout upper bound, seconds */
#define TM_CONF_DEF_DECODE_MEMORY ((size_t)256 << 20)
#define TM_CONF_MAX_DECODE_MEMORY ((size_t)1 << 40)    /* MaxDecodeMemory upper bound, 1T */
#define TM_CONF_MAX_JSON_VALUES 100000000           /* MaxJsonValues upper bound */
#define TM_CONF_MAX_SESSION_COUNT ((int64_t)1 << 62) /* MaxSessionCount upper bound */
#define TM_CONF_DEF_ARCHIVE_DAYS 400                /* ArchiveDays default */
#define TM_CONF_MAX_ARCHIVE_DAYS 36500              /* ArchiveDays upper bound (100 years) */

enum tm_action { TM_ACTION_DISCARD = 0, TM_ACTION_TAG };
enum tm_on_store_error { TM_STORE_ERR_DELIVER = 0, TM_STORE_ERR_TEMPFAIL };
enum tm_log_target { TM_LOG_SYSLOG = 0, TM_LOG_STDERR };
enum tm_log_format { TM_LOG_TEXT = 0, TM_LOG_JSON };
/* TM_AUTH_NONE is 0 so that a zeroed tm_config (unit tests) judges nothing; the
   built-in default (tm_config_init) is TM_AUTH_DKIM. */
enum tm_authentication { TM_AUTH_NONE = 0, TM_AUTH_DKIM };
enum tm_on_unauth { TM_UNAUTH_DELIVER = 0, TM_UNAUTH_DISCARD };

/* Every key, in the order tlsrpt-milter -n -v prints them (index of tm_config.line). */
enum tm_key {
    TM_K_SOCKET, TM_K_REPORT_ADDRESS, TM_K_RCPT_DELIM, TM_K_ACTION, TM_K_ON_STORE_ERROR,
    TM_K_MEMCACHED_SERVERS, TM_K_KEY_PREFIX, TM_K_COUNTER_TTL, TM_K_DEDUP_TTL,
    TM_K_POLICY_DOMAINS, TM_K_AUTHENTICATION, TM_K_ON_UNAUTH, TM_K_REPORTERS,
    TM_K_DKIM_TIMEOUT, TM_K_DKIM_KEY_FILE, TM_K_DKIM_REQUIRE_TLSRPT, TM_K_DKIM_NAMESERVERS,
    TM_K_MAX_MESSAGE, TM_K_MAX_REPORT, TM_K_MAX_HEADER,
    TM_K_MAX_JSON_DEPTH, TM_K_MAX_JSON_VALUES, TM_K_MAX_SESSION_COUNT, TM_K_MAX_MIME_DEPTH,
    TM_K_MAX_MIME_PARTS, TM_K_MAX_DECODE_MEMORY, TM_K_USER, TM_K_GROUP,
    TM_K_UMASK, TM_K_PIDFILE, TM_K_LOG_LEVEL, TM_K_LOG_TARGET, TM_K_LOG_FORMAT,
    TM_K_STORE_TIMEOUT,
    TM_K_MAX_NEW_KEYS, TM_K_MAX_DOMAINS_PER_REPORTER,
    TM_K_ARCHIVE_DIR, TM_K_ARCHIVE_DAYS, TM_K_ARCHIVE_ALL,
    TM_K_COUNT
};

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
    int authentication;             /* enum tm_authentication */
    int on_unauth;                  /* enum tm_on_unauth */
    char **reporters;               /* allowed signer organisational domains, NULL = any */
    size_t n_reporters;
    int dkim_timeout_s;             /* all key lookups of one mail together */
    char *dkim_key_file;            /* "" = keys from DNS */
    int dkim_require_tlsrpt;        /* the key record must say s=tlsrpt (or *) */
    char *dkim_nameservers;         /* "" = /etc/resolv.conf */
    tlsrpt_limits limits;
    size_t max_decode_memory;       /* MaxDecodeMemory: the decoders of all mails together */
    char *user;                     /* "" = do not change user */
    char *group;                    /* "" = primary group of user */
    mode_t umask;
    char *pidfile;                  /* "" = none */
    int log_level;                  /* syslog priority: LOG_ERR .. LOG_DEBUG */
    int log_target;                 /* enum tm_log_target */
    int log_format;                 /* enum tm_log_format */
    int store_timeout_ms;
    int max_new_keys;               /* MaxNewKeysPerReport */
    int max_domains_per_reporter;   /* MaxDomainsPerReporter */
    char *archive_dir;              /* ArchiveDir: absolute path, "" = no archive (the
                                       built-in default; the shipped file sets one) */
    int archive_days;               /* ArchiveDays: retention in days, 0 = forever */
    int archive_all;                /* ArchiveAll: also keep uncountable report mails */
    char *source;                   /* file name of the last parse, for messages ("" before) */
    unsigned line[TM_K_COUNT];      /* line where each key was last set, 0 = default */
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

/* Append "FILE:LINE: message" for a whole-file check about key (the line where it was
   last set; "FILE: message (KEY: the default)" when it was not set) to err, like the
   parser's own errors. Returns 1 (one error) so callers can add it to a count. */
int tm_config_errorf(const tm_config *cfg, int key, char *err, size_t errlen,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Name of a key ("KeyPrefix"), NULL when key is out of range. */
const char *tm_config_key_name(int key);
/* Print every key with its effective value (defaults included) as config lines that
   parse back to the same configuration. Returns -1 on a write error. */
int tm_config_print(FILE *f, const tm_config *cfg);

/* Fill a store configuration from cfg (pointers into cfg); pool_size connections. */
void tm_config_store_conf(const tm_config *cfg, int pool_size, tlsrpt_store_conf *sc);

/* Fill a DKIM configuration from cfg (pointers into cfg). */
void tm_config_auth_conf(const tm_config *cfg, tlsrpt_auth_conf *ac);
/* The key an error of tlsrpt_auth_lib_new on cfg's configuration is about: DkimKeyFile
   when set, else DkimNameservers when set, else Authentication. */
int tm_config_auth_key(const tm_config *cfg);

/* The most memory one mail's decoder may hold at these limits (bytes; README "Decoder
   limits"), which MaxDecodeMemory must hold: the report part being decoded
   (TM_BOUND_PER_VALUE per weighted JSON value, TM_BOUND_PER_BYTE per decoded report byte,
   TM_BOUND_FIXED for buffers and zlib) plus the reports kept from the mail's earlier
   parts (TM_BOUND_KEPT_PER_BYTE per byte of the larger of max_message_bytes and
   max_report_bytes, which caps their decoded JSON together). */
size_t tm_decode_mail_bound(const tlsrpt_limits *lim);
#define TM_BOUND_PER_VALUE 104
#define TM_BOUND_PER_BYTE 5
#define TM_BOUND_KEPT_PER_BYTE 2
#define TM_BOUND_FIXED ((size_t)2 << 20)

/* The file system path of a unix:/path, local:/path or /path Socket, else NULL. */
const char *tm_socket_path(const char *spec);

/* Name of a log level ("info"), or "?" */
const char *tm_log_level_name(int level);

#endif
