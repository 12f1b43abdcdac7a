/*
 * auth_int.h - internals shared by the files of auth/ (not for callers).
 *
 * lib.c       tlsrpt_auth_lib: libopendkim handle, its callbacks, config
 * msg.c       tlsrpt_auth: the per-mail flow through libopendkim
 * feed.c      tlsrpt_auth_feed: a raw message split into headers and body
 * rule.c      the verdict: which signature counts, why the others do not
 * keys.c      key file table, key record checks (s=), lookup dispatch
 * dns.c       our own TXT query with a hard deadline
 * addr.c      From / contact-info address parsing, string sanitising
 * orgdomain.c organisational domains (libpsl)
 */
#ifndef TLSRPT_AUTH_INT_H
#define TLSRPT_AUTH_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <dkim.h>
#include "auth.h"

#define AUTH_MAX_NS 4
#define AUTH_DOMAIN_MAX 256
#define AUTH_WHY_MAX 160

/* One DNS server. */
struct auth_ns {
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* One line of the key file: lower-cased name, record. */
struct auth_keyent {
    char *name;
    char *record;
    size_t line;
};

struct tlsrpt_auth_lib {
    DKIM_LIB *dkim;
    int timeout_ms;
    int require_tlsrpt;
    struct auth_keyent *keys;       /* sorted by name, NULL when DNS */
    size_t nkeys;
    int use_file;
    struct auth_ns ns[AUTH_MAX_NS];
    int nns;
    char **reporters;               /* normalised org domains */
    size_t nreporters;
    atomic_ulong st_mails, st_authentic, st_lookups, st_timeouts;
};

/* How far a signature got (a higher stage explains a failure better). */
enum auth_stage {
    ST_NONE = 0,
    ST_UNREADABLE,                  /* libopendkim could not use it, d= not aligned or absent */
    ST_UNALIGNED,                   /* d= not aligned with From */
    ST_REFUSED,                     /* aligned, refused before any lookup (l=, x=, sha1, cap) */
    ST_KEY,                         /* key missing, unreachable or unusable */
    ST_BADSIG,                      /* header signature does not verify */
    ST_BODYHASH,                    /* body hash mismatch */
    ST_PASS
};

/* Our view of one signature of libopendkim's list. */
struct auth_sig {
    DKIM_SIGINFO *si;
    char domain[AUTH_DOMAIN_MAX];   /* sanitised d= */
    char org[AUTH_DOMAIN_MAX];      /* its organisational domain, "" if none */
    int ignored;                    /* ignored in prescreen (stage/why set) */
    enum auth_stage stage;
    char why[AUTH_WHY_MAX];
};

/* Result of one key lookup, kept per mail (dedup, and for the verdict). */
enum auth_keyres { KEY_OK, KEY_NOTFOUND, KEY_TIMEOUT, KEY_ERROR, KEY_UNUSABLE };
struct auth_keyinfo {
    char name[AUTH_DOMAIN_MAX + 64];  /* selector._domainkey.domain, lower-case */
    enum auth_keyres res;
    char why[AUTH_WHY_MAX];
};

/* tlsrpt_auth_feed's splitter state. */
struct auth_feed {
    int used;                       /* tlsrpt_auth_feed was called */
    int state;                      /* 0 first line, 1 headers, 2 body, 3 given up */
    char *buf;                      /* current header (+ partial line) */
    size_t len, cap, line_off;
};

struct tlsrpt_auth {
    tlsrpt_auth_lib *lib;
    DKIM *dkim;
    char id[64];
    unsigned flags;
    int eoh_done, body_wanted, finished;
    int last_cr, last_lf;           /* body: the last byte was CR, LF */
    unsigned long long body_bytes;
    /* headers seen */
    int from_count, from_addrs;
    char from_domain[AUTH_DOMAIN_MAX];
    char from_org[AUTH_DOMAIN_MAX];
    int from_err;                   /* 0 ok, else why the From is unusable */
    int have_submitter;
    char submitter[128];
    unsigned sig_headers, sig_skipped, sig_syntax;
    size_t hdr_bytes;
    char *hbuf;                     /* "Name: value" as given to dkim_header */
    size_t hcap;
    /* set on the way */
    int fatal;
    char fatal_why[AUTH_WHY_MAX];
    struct auth_sig *sigs;          /* libopendkim's list, allocated in the prescreen */
    int nsigs, naligned;
    struct auth_keyinfo keys[TLSRPT_AUTH_MAX_ALIGNED];
    int nkeys;
    unsigned lookups;
    int64_t deadline_ms;            /* for DNS; 0 until the first query */
    struct auth_feed feed;
    /* result (tlsrpt_auth_finish) */
    int authentic;
    int pass;                       /* index into sigs of the signature that counts, -1 */
    char detail[320];
};

/* pubkey.c: referenced so that its d2i_PUBKEY_bio is linked in */
extern int auth_pubkey_linked;

/* lib.c: libopendkim callbacks */
DKIM_CBSTAT auth_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs);
DKIM_CBSTAT auth_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen);

/* msg.c */
void auth_fatal(tlsrpt_auth *a, const char *why);
void auth_header_exact(tlsrpt_auth *a, const char *name, size_t namelen,
                       const char *value, size_t valuelen);

/* rule.c */
void auth_evaluate(tlsrpt_auth *a);
void auth_sig_fail(struct auth_sig *s, enum auth_stage st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* keys.c */
int auth_keyfile_load(tlsrpt_auth_lib *lib, const char *path, char *err, size_t errlen);
void auth_keyfile_free(tlsrpt_auth_lib *lib);
enum auth_keyres auth_key_fetch(tlsrpt_auth *a, const char *name, char *rec, size_t reclen,
                                char *why, size_t whylen);
int auth_key_record_check(const char *rec, int require_tlsrpt, char *out, size_t outlen,
                          char *why, size_t whylen);
struct auth_keyinfo *auth_key_find(tlsrpt_auth *a, const char *selector, const char *domain);

/* dns.c: 0 found (TXT in out), 1 no such record, -1 deadline passed, -2 error (why) */
int auth_dns_parse_servers(const char *list, struct auth_ns *ns, int max, char *err, size_t errlen);
int auth_dns_txt(const struct auth_ns *ns, int nns, const char *name, int64_t deadline_ms,
                 char *out, size_t outlen, char *why, size_t whylen);
int64_t auth_now_ms(void);

/* addr.c */
int auth_addr_list(const char *value, char *domain, size_t domlen);
int auth_contact_domain(const char *contact, char *domain, size_t domlen);
void auth_clean(char *dst, size_t dstlen, const char *src);
int auth_domain_norm(const char *in, size_t inlen, char *out, size_t outlen);

#endif
