/*
 * store.h - count decoded TLS-RPT reports into memcached (key schema v2).
 *
 * Shared by tlsrpt-milter, `tlsrpt-parse --push` / `--rebuild` and tlsrpt-stats,
 * so that every path counts and reads the same keys. Thread-safe: a tlsrpt_store
 * holds a memcached_pool and raw pipelined connections; each call takes its own.
 *
 * Key schema v2 (P = KeyPrefix, default "tlsrpt:"; D = policy domain as a host name,
 * A-labels, no trailing dot; Y = UTC day of the report start, A = UTC arrival day;
 * ORG = the DKIM signer's organisational domain, or the organization-name without
 * a signer; store/README.md has every rule):
 *   P d:D:Y:ok | :fail | :reports                 counters (ok/fail: rule 12, sts and tlsa
 *                                                of one domain are the same sessions)
 *   P d:D:Y:ptype:T:ok | :fail                    per policy type (sts tlsa no-policy-found other)
 *   P d:D:Y:type:RT                               failed sessions per result type
 *   P d:D:Y:org:ORG:ok | :fail                    per reporter (~other: folded by a budget)
 *   P d:D:Y:mx:MX:fail                            per receiving MX (~invalid, ~other)
 *   P d:D:Y:mode:enforce|testing|none             reports by MTA-STS mode
 *   P d:D:Y:max                                   saturation guard (internal)
 *   P d:D:Y:partial                               reports whose count may be partial
 *   P org:ORG:name                                display label (encoded organization-name)
 *   P arr:A:H:counted, P nc:A:REASON              archive entries counted / candidates not
 *   P domains, P d:D:days, P d:D:Y:orgs|types|mxs, P hosts:Y, P nc:days, P nc:A:reasons,
 *   P partial:days                                index sets: chains of links (tokens +N,
 *                                                links K:+N), see tlsrpt_store_set_read
 *   P seen:H                                      dedup marker, H = hex SHA-256 of "dkim" NUL
 *                                                signer NUL report-id (v1: organization-name
 *                                                NUL report-id); value: the entry id
 *   P epoch (per server), P org:ORG:A:newdomains, P ix:H    internal
 * Every key component byte outside [A-Za-z0-9._-] is written %XX (upper-case hex).
 * A key over 250 bytes has its longest component replaced by "~" + 32 hex digits
 * of a hash ("~" is never produced by the encoding, so no collision with a plain one).
 * Counters saturate at 2^63-1; readers use tlsrpt_store_parse_count.
 */
#ifndef TLSRPT_STORE_H
#define TLSRPT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "tlsrpt.h"

#define TLSRPT_KEY_MAX 250

typedef struct tlsrpt_store_conf {
    const char *servers;            /* "host:port[,host:port...]" (also space-separated) */
    const char *prefix;             /* default "tlsrpt:" when NULL */
    long counter_ttl;               /* seconds; 0 = no expiry */
    long dedup_ttl;                 /* seconds; 0 = no expiry */
    const char *const *policy_domains; /* allow-list (normalized), NULL = count all */
    size_t n_policy_domains;
    int timeout_ms;                 /* connect/IO timeout, default 1000 */
    int pool_size;                  /* connections in the pool, default 8 */
    int64_t max_session_count;      /* a count above it makes a report invalid-report;
                                       0 = TLSRPT_DEF_MAX_SESSION_COUNT (2^40) */
    size_t max_new_keys;            /* MaxNewKeysPerReport: memcached items one report may
                                       create; 0 = 2000 */
    size_t max_domains_per_reporter;/* MaxDomainsPerReporter: new domains per reporter and
                                       arrival day; 0 = 1000 */
} tlsrpt_store_conf;

typedef struct tlsrpt_store tlsrpt_store;

/* Outcome of counting one report. */
enum tlsrpt_count_status {
    TLSRPT_COUNTED = 0,     /* counters written */
    TLSRPT_DUPLICATE,       /* same org + report-id already counted: nothing written */
    TLSRPT_NOT_COUNTABLE,   /* no policy left to count (foreign domain / no domain / no date) */
    TLSRPT_STORE_FAILED     /* memcached error: see errbuf */
};

/* What the budgets left out of one report (for the log line). */
typedef struct tlsrpt_fold_info {
    unsigned mx_other;          /* new MX names counted under mx:~other */
    unsigned mx_dropped;        /* new MX names without an mx: counter (no room for ~other) */
    unsigned org_other;         /* domains whose new org counted under org:~other */
    unsigned org_dropped;       /* domains counted without org: counters */
    unsigned domains_budget;    /* domains not counted: MaxNewKeysPerReport */
    unsigned domains_reporter;  /* domains not counted: MaxDomainsPerReporter */
    unsigned new_items;         /* memcached items the report may create (an upper bound) */
    char text[240];             /* one line saying all of it, "" when nothing was left out */
} tlsrpt_fold_info;

/* Policy type classes (rule 12): index of tlsrpt_count_info.pt_ok / pt_fail. */
enum { TLSRPT_PT_STS, TLSRPT_PT_TLSA, TLSRPT_PT_NONE /* no-policy-found */, TLSRPT_PT_OTHER,
       TLSRPT_PT_N };

typedef struct tlsrpt_count_info {
    int64_t ok, fail;               /* summed over the counted domains (rule 12: per domain the
                                       larger of sts / tlsa, plus no-policy-found and others) */
    int64_t pt_ok[TLSRPT_PT_N];     /* sessions per policy type, summed over the counted domains */
    int64_t pt_fail[TLSRPT_PT_N];
    size_t n_domains;               /* distinct domains counted */
    char domains[512];              /* comma-separated counted domains (truncated) */
    char reason[64];                /* reason token when not counted:
                                       "foreign-domain", "no-policy-domain", "no-date",
                                       "store-unavailable", "store-partial",
                                       "invalid-report" (a count above max_session_count),
                                       "too-many-domains" (the budgets left nothing) */
    unsigned round_trips;           /* memcached round trips this call cost */
    unsigned saturated;             /* counters that reached 2^63-1 and were clamped there */
    tlsrpt_fold_info folded;        /* what MaxNewKeysPerReport / MaxDomainsPerReporter left out */
    int resumed;                    /* the dedup marker held our own entry_id (an earlier
                                       attempt stopped before its counter burst): counted now */
    int partial;                    /* TLSRPT_STORE_FAILED after (part of) the counter burst
                                       may have been applied, or an earlier attempt's counter
                                       burst was sent (reason "store-partial") */
} tlsrpt_count_info;

/* One counting request: the report's identity and where it comes from. */
typedef struct tlsrpt_count_req {
    const char *org_key;            /* the DKIM signer's organisational domain (lower-case
                                       A-label), or NULL (Authentication none): identity is
                                       the report's organization-name, as in schema v1 */
    const char *entry_id;           /* spool entry id ([A-Za-z0-9.-], < 100 bytes): the value of
                                       the dedup marker; NULL = a token unique to this call */
    const char *host_id;            /* archive id of this host, NULL = none */
    time_t arrival;                 /* arrival time of the mail; 0 = now */
    unsigned flags;                 /* TLSRPT_REQ_* */
    void (*before_counters)(void *arg); /* called just before the counter burst is sent */
    void *arg;
} tlsrpt_count_req;

/* flags: an earlier attempt of this entry may have sent its counter burst (the spool
   entry was found "counting" after a crash): count only when the dedup marker is found
   holding our entry_id from before its counter burst; when it is missing (memcached
   lost it) or says the burst was sent, fail with partial = 1 and write nothing. */
#define TLSRPT_REQ_RECOVER 0x01

/* Connect (lazily) to the servers. NULL with errbuf filled on a bad configuration. */
tlsrpt_store *tlsrpt_store_new(const tlsrpt_store_conf *conf, char *errbuf, size_t errlen);
void tlsrpt_store_free(tlsrpt_store *st);

/* Count one validated report; dedup first. Returns a tlsrpt_count_status.
   = tlsrpt_store_count_req with every request field NULL / 0. */
int tlsrpt_store_count(tlsrpt_store *st, const tlsrpt_report *r, tlsrpt_count_info *info,
                       char *errbuf, size_t errlen);
/* Count one validated report for request q (NULL = all defaults). Dedup by identity
   (q->org_key, else organization-name) and report-id; the marker holds q->entry_id.
   A marker holding q->entry_id (set by an earlier attempt that stopped before its
   counter burst) is taken as ours: counted now, info->resumed = 1. */
int tlsrpt_store_count_req(tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                           tlsrpt_count_info *info, char *errbuf, size_t errlen);

/* Parse a counter value as memcached returns it: decimal digits, maybe padded with
   spaces (memcached pads an incr result that got shorter) or ending in CR/LF. Values
   at or above 2^63-1 read as 2^63-1 (saturated). 0, or -1 when it is not a number. */
int tlsrpt_store_parse_count(const char *v, size_t len, int64_t *out);

/* One spelling per host name: drop one trailing dot, U-labels to A-labels (libidn2,
   IDNA2008 + TR46 non-transitional), lower-case; then labels of 1..63 bytes of
   [a-z0-9-], not starting or ending with '-', at most 253 bytes in all. 0 (out
   filled), -1 not a host name (out ""), -2 out too small. Policy domains, MX names,
   PolicyDomains entries and org_key all go through it. */
int tlsrpt_store_normalize_domain(const char *in, char *out, size_t outlen);

/* Count a report candidate that was not counted, by arrival day (0 = now) and reason
   token: P nc:A:REASON += 1, listed in P nc:days and P nc:A:reasons. TLSRPT_COUNTED or
   TLSRPT_STORE_FAILED (errbuf). */
int tlsrpt_store_not_counted(tlsrpt_store *st, time_t arrival, const char *reason,
                             char *errbuf, size_t errlen);
/* A partial count of report r cannot be ruled out (info->partial): P d:D:Y:partial += 1
   for each of its domains, listed in P partial:days; a rebuild of the day clears it.
   TLSRPT_COUNTED, TLSRPT_NOT_COUNTABLE (nothing of r is countable) or _STORE_FAILED. */
int tlsrpt_store_mark_partial(tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                              char *errbuf, size_t errlen);

/* Loss detection: what each memcached server says (tlsrpt_store_check_loss). */
typedef struct tlsrpt_server_state {
    char server[300];           /* host:port or socket path */
    int reachable;
    long long epoch;            /* P epoch on that server: when counting into it began; 0 none */
    long long uptime;           /* seconds since memcached started (stats) */
    long long evictions;        /* items memcached evicted since it started (any client's) */
    long long curr_items;
    int lost;                   /* no epoch although data is expected (another server has one,
                                   or TLSRPT_LOSS_EXPECT): the server lost what it held */
    int restarted;              /* the epoch is older than the server: a restart kept the data */
    int marked;                 /* TLSRPT_LOSS_MARK wrote a new epoch */
} tlsrpt_server_state;
typedef struct tlsrpt_loss {
    size_t n;
    tlsrpt_server_state s[64];
    int loss;                   /* some server lost its data, or evicted items */
    char text[600];             /* one line for the log ("" when all is well) */
} tlsrpt_loss;
#define TLSRPT_LOSS_MARK   0x01 /* add P epoch = now where it is missing (after judging) */
#define TLSRPT_LOSS_EXPECT 0x02 /* counting happened before (the archive is not empty) */
/* Ask every server for P epoch and its stats (one round trip; one more with MARK).
   0, or -1 with errbuf when no server could be asked. */
int tlsrpt_store_check_loss(tlsrpt_store *st, unsigned flags, tlsrpt_loss *out,
                            char *errbuf, size_t errlen);

/* ---- rebuild (tlsrpt-parse --rebuild): recount from the archive, then replace ---- */
typedef struct tlsrpt_tally tlsrpt_tally;
#define TLSRPT_TALLY_KNOWN_DOMAINS 0x01 /* domains memcached lists count as known for the
                                           budgets (a --day rebuild of a live store) */
/* A recount in memory with st's prefix, allow-list and budgets (st must outlive it). */
tlsrpt_tally *tlsrpt_tally_new(tlsrpt_store *st, unsigned flags, char *errbuf, size_t errlen);
/* Add one archived report with its request (identity, entry and host id, arrival), as
   live counting would; feed them in archive order. A tlsrpt_count_status (DUPLICATE:
   the same identity and report-id was added before, from any archive). */
int tlsrpt_tally_add(tlsrpt_tally *t, const tlsrpt_report *r, const tlsrpt_count_req *q,
                     tlsrpt_count_info *info, char *errbuf, size_t errlen);
/* Add one archived report candidate that was not counted (arrival, reason token). 0/-1. */
int tlsrpt_tally_not_counted(tlsrpt_tally *t, time_t arrival, const char *reason);
void tlsrpt_tally_free(tlsrpt_tally *t);

/* What to replace with a tally. */
typedef struct tlsrpt_rebuild_opts {
    const char *day;            /* one report day "YYYY-MM-DD", or NULL: every day */
    const char *const *hosts;   /* archive ids of the archives fed (P hosts:Y is checked) */
    size_t n_hosts;
    int force;                  /* replace a day that other hosts counted into too */
    /* called for every key whose value changes (old / new -1: missing) */
    void (*on_change)(void *arg, const char *key, int64_t old_value, int64_t new_value);
    void *arg;
} tlsrpt_rebuild_opts;
typedef struct tlsrpt_rebuild_result {
    size_t days;                /* report days replaced */
    size_t written, deleted, unchanged;     /* counters */
    size_t sets;                /* index sets written */
    size_t markers;             /* dedup markers added (missing ones only) */
    char other_hosts[256];      /* hosts in P hosts:Y that were not given (space-separated) */
    char text[640];             /* one line saying what was replaced */
} tlsrpt_rebuild_result;
#define TLSRPT_REBUILD_REFUSED 5    /* a day has counts of hosts not given, and no force */
/* Replace memcached's counters (and index sets) of the tally's report days (or of
   opts->day) by the tally's: every key the recount has is set, every counter of those
   days it lacks is deleted, their per-day index sets are rewritten, the partial flags
   go; long-lived sets only gain members; markers missing are added. Running it twice
   changes nothing. 0, TLSRPT_REBUILD_REFUSED (res->other_hosts, nothing written), or
   -1 with errbuf. */
int tlsrpt_store_rebuild(tlsrpt_store *st, tlsrpt_tally *t, const tlsrpt_rebuild_opts *o,
                         tlsrpt_rebuild_result *res, char *errbuf, size_t errlen);

/* Encode one key component (%XX outside [A-Za-z0-9._-]); returns length, or -1 if it does not fit. */
int tlsrpt_key_component(char *out, size_t outlen, const char *s);
/* Decode a component back to the raw string; returns length or -1. */
int tlsrpt_key_decode(char *out, size_t outlen, const char *comp);
/* Build P + components joined by ':', hashing the longest component while > 250 bytes.
   Components are already encoded. Returns length or -1. */
int tlsrpt_key_build(char *out, size_t outlen, const char *prefix,
                     const char *const *comps, size_t n);

/* Index sets are chains (store/README.md "Index sets"): link 0 is the set's key; its
   value lists members and tokens "+N" naming links; a member never starts with '+'.
   The highest token of a link-0 value (0 = the set is one link): */
unsigned tlsrpt_set_links(const char *val, size_t len);
/* Key of link n (>= 1) of set key (prefix = KeyPrefix); length or -1. */
int tlsrpt_set_link_key(char *out, size_t outlen, const char *prefix, const char *key, unsigned n);
/* Call fn (may be NULL) for every member of one link's value; returns how many. */
size_t tlsrpt_set_each(const char *val, size_t len,
                       void (*fn)(void *arg, const char *m, size_t mlen), void *arg);
/* A whole set as read by tlsrpt_store_set_read: members in first-seen order, each once. */
typedef struct tlsrpt_members {
    char **v;
    size_t n, cap;
    int oom;
    size_t *table, tcap;        /* internal: drops repeated members */
} tlsrpt_members;
/* Read a whole set with a memcached_st of tlsrpt_store_memc_new: link 0, then all its
   links in one more round trip (only for a chained set). 0 (missing = no members) or
   -1 with errbuf. Free out with tlsrpt_members_free. */
int tlsrpt_store_set_read(void *memc, const char *prefix, const char *key, tlsrpt_members *out,
                          char *errbuf, size_t errlen);
void tlsrpt_members_free(tlsrpt_members *ms);

/* Lower-level access for tlsrpt-stats: a connected memcached_st from the store's
   configuration (caller frees with memcached_free). Declared as void* to keep
   libmemcached out of this header. */
void *tlsrpt_store_memc_new(const tlsrpt_store_conf *conf, char *errbuf, size_t errlen);

#endif
