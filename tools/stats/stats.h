/*
 * stats.h - internals of tlsrpt-stats: what fetch.c reads from memcached
 * (key schema v2, store/README.md; v1 data reads the same), what analyze.c
 * derives from it and what the out_*.c formats print.
 *
 * Ownership: one ts_report owns everything (domains, their days and their
 * organisation / MX / result-type sets, the org labels, the not-counted and
 * loss findings, the malformed-key list); ts_report_free() releases it all.
 * Limits: TS_MAX_* below; memory is bounded by them, whatever the server holds.
 * Errors: functions that can fail fill an ts_err with an exit status
 * (TS_EXIT_*) and a one-line message naming the key or option at fault.
 * A malformed counter is not an error: it is skipped and listed (ts_report.bad).
 */
#ifndef TLSRPT_STATS_H
#define TLSRPT_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "store.h"
#include "tlsrpt.h"

#define TS_VERSION "0.2.0"
#define TS_SCHEMA "tlsrpt-stats/2"     /* JSON schema (tools/stats/README.md) */

/* Limits. */
#define TS_MAX_DAYS      366        /* --days upper bound */
#define TS_LEAD_DAYS     7          /* days before the window read for the spike baseline */
#define TS_MAX_DOMAINS   10000      /* domains read from "P domains" or the command line */
#define TS_MAX_MEMBERS   5000       /* members taken from one index set */
#define TS_MAX_ENTITIES  20000      /* distinct orgs (or MX, or types) per domain */
#define TS_MAX_VALUE     (4u * 1024 * 1024) /* bytes taken from one index value (one link) */
#define TS_MAX_LINKS     4096       /* links read of one chained index set (store: 4096) */
#define TS_MGET_CHUNK    65536      /* keys per pipelined multi-get round trip (mget.c) */
#define TS_MAX_BAD       20         /* malformed keys named (all are counted) */
#define TS_MAX_NC        64         /* distinct not-counted reasons */

/* Rules (stated in every output format and in the README). */
#define TS_SPIKE_FACTOR  3          /* failed > 3 x median of the previous 7 report days */
#define TS_SPIKE_FLOOR   10         /* ... and failed >= 10 */
#define TS_CONC_PERCENT  80         /* one org / MX with >= 80% of failures: concentrated */
#define TS_READY_DAYS    21         /* clean days needed before enforce */
#define TS_SILENT_DAYS   3          /* no report in the last 3 window days: silent */

/* Exit statuses (documented in the README and --help). */
enum ts_exit {
    TS_EXIT_OK = 0,
    TS_EXIT_USAGE = 1,          /* bad option, bad config file */
    TS_EXIT_UNREACHABLE = 2,    /* memcached unreachable / error */
    TS_EXIT_NODATA = 3,         /* no domains, or no data for a requested domain */
    TS_EXIT_MALFORMED = 4,      /* no longer used (tlsrpt-stats/1: a malformed counter; now it
                                   is skipped with a warning and the report is still written) */
    TS_EXIT_INTERNAL = 5        /* out of memory, output write error */
};

typedef struct ts_err {
    int code;                   /* TS_EXIT_* */
    char msg[2048];
} ts_err;

/* MTA-STS policy modes, as counted in d:D:Y:mode:M. */
enum ts_mode { TS_MODE_ENFORCE, TS_MODE_TESTING, TS_MODE_NONE, TS_NMODES };
extern const char *const ts_mode_names[TS_NMODES];

/* Policy types, as counted in d:D:Y:ptype:T:ok|fail (store.h TLSRPT_PT_*). */
enum ts_ptype { TS_PT_STS, TS_PT_TLSA, TS_PT_NONE, TS_PT_OTHER, TS_NPT };
extern const char *const ts_pt_names[TS_NPT];

/* A count at or above 2^63-1 is saturated: "at least 9223372036854775807". */
#define TS_SATURATED INT64_MAX
#define TS_IS_SAT(v) ((v) == TS_SATURATED)

/* One UTC day of one domain. A lead day (before the window, for the spike baseline)
   has fail only, and reports = 1 when it had any (its :fail key exists). */
typedef struct ts_day {
    int64_t reports, ok, fail;
    int64_t mode[TS_NMODES];
    int64_t pt_ok[TS_NPT], pt_fail[TS_NPT];
    unsigned char pt_seen;      /* bit t: ptype:T:ok exists (a report had a policy of type t) */
    unsigned char listed;       /* day is in the domain's days index */
    unsigned char partial;      /* P d:D:Y:partial is set: a partial count cannot be ruled out */
    unsigned char mode_read;    /* the mode:* counters of this day were read */
    int spike;                  /* analysis: flagged as spike */
    double baseline;            /* analysis: median failed of previous report days */
    int baseline_n;             /* how many days that median is over */
} ts_day;

/* A reporting organisation, a receiving MX or a result type of one domain. */
typedef struct ts_entity {
    char *enc;                  /* encoded component as in the index */
    char *name;                 /* decoded, valid UTF-8 (bad bytes -> U+FFFD) */
    const char *label;          /* orgs: the display label P org:ORG:name (decoded, valid
                                   UTF-8; owned by ts_report.labels), NULL when none */
    char *display;              /* orgs with a label: "name (label)", else NULL */
    int64_t ok, fail;           /* window sums */
    int first_day, last_day;    /* window day indexes where seen in the index, -1 */
    unsigned stamp;             /* fetch temp: the index set that listed it last */
    double share;               /* analysis: share of the domain's failed sessions */
} ts_entity;

/* A set of entities with a string index (open addressing on enc). */
typedef struct ts_set {
    ts_entity *v;
    size_t n, cap;
    size_t *slot;               /* hash slots: index + 1, 0 = empty */
    size_t nslot;
    size_t *order;              /* analysis: indexes sorted by fail desc, name */
} ts_set;

/* Distribution verdicts. */
enum ts_dist_verdict { TS_DIST_NONE, TS_DIST_CONCENTRATED, TS_DIST_SPREAD, TS_DIST_SINGLE };
extern const char *const ts_dist_names[];

typedef struct ts_dist {
    int verdict;                /* ts_dist_verdict */
    long top;                   /* entity index or -1 */
    double top_share;
    int64_t total;              /* failed sessions over the set */
} ts_dist;

/* Readiness verdicts. */
enum ts_ready_verdict {
    TS_READY_YES, TS_READY_MORE, TS_READY_RESET, TS_READY_ENFORCING,
    TS_READY_MODE_NONE, TS_READY_NO_STS
};
extern const char *const ts_ready_names[];

typedef struct ts_ready {
    int mode;                   /* ts_mode, -1 when no mode was reported */
    int mode_day;               /* window index of the day the mode was read from, -1 */
    int clean;                  /* current run of clean days */
    int needed;                 /* more clean days needed (0 when ready) */
    int reset_day;              /* window index of the failure day that ended the run, -1 */
    int verdict;                /* ts_ready_verdict */
} ts_ready;

/* fetch temp: one member of one window day's orgs / types / mxs set. */
typedef struct ts_memb {
    uint32_t ent;               /* index in the set */
    uint16_t w;                 /* window day */
    uint8_t kind;               /* 0 orgs, 1 types, 2 mxs */
} ts_memb;

typedef struct ts_domain {
    char enc[TLSRPT_KEY_MAX + 1];
    char *name;                 /* decoded, valid UTF-8 */
    int requested;              /* named on the command line */
    ts_day *day;                /* lead + window days; window day w is day[TS_LEAD_DAYS + w] */
    ts_memb *memb;              /* fetch temp: members read, freed after their counters */
    size_t nmemb, capmemb;
    ts_set orgs, mxs, types;
    /* analysis */
    int64_t reports, ok, fail;  /* window totals */
    int64_t pt_ok[TS_NPT], pt_fail[TS_NPT]; /* window totals per policy type */
    int pt_days[TS_NPT];        /* window days with a policy of that type */
    int partial_days;           /* window days marked partial */
    int saturated;              /* some count of the domain reads >= 2^63-1 */
    int report_days, spikes, latest; /* latest: window index of last day with reports, -1 */
    ts_dist orgdist, mxdist;
    long majority;              /* index in types of a type with > 50%, -1 */
    ts_ready ready;
    size_t *silent;             /* org indexes that went silent */
    size_t nsilent;
} ts_domain;

/* A malformed counter key (skipped). */
typedef struct ts_bad {
    char key[TLSRPT_KEY_MAX + 1];
    char value[48];             /* printable preview */
} ts_bad;

/* Report candidates not counted (P nc:Y:REASON) of one window day and reason. */
typedef struct ts_nc {
    int w;                      /* window day (arrival day, UTC) */
    long reason;                /* index in ts_report.nc_reasons */
    int64_t n;
} ts_nc;

/* Why counters may have been lost (ts_loss.why bits). */
enum { TS_LOST_RESTART = 1, TS_LOST_EVICTED = 2, TS_LOST_ARCHIVE = 4 };
extern const char *const ts_lost_names[3];       /* "restart", "evictions", "archive" */

typedef struct ts_loss {
    int checked;                /* the check ran (memcached answered its stats) */
    unsigned why;               /* TS_LOST_* */
    char text[768];             /* one line naming the servers / days, "" when nothing lost */
    int archive_checked;        /* the archive was compared (ArchiveDir given and readable) */
} ts_loss;

typedef struct ts_report {
    int ndays;                  /* window length */
    time_t first;               /* 00:00 UTC of window day 0 */
    char (*dayname)[11];        /* TS_LEAD_DAYS + ndays names, YYYY-MM-DD */
    ts_domain *dom;
    size_t ndom;
    time_t generated;
    unsigned round_trips;       /* pipelined multi-gets made */
    size_t keys;                /* keys asked for */
    char prefix[TLSRPT_KEY_MAX + 1];
    const char *conf;           /* -c FILE for the rebuild commands we print, or NULL */
    const char *archive_dir;    /* -c FILE's ArchiveDir (archive.c compares it), or NULL */
    size_t *dslot;              /* domain hash slots (index + 1), ndslot a power of 2 */
    size_t ndslot;
    ts_set labels;              /* org labels: enc = ORG, name = decoded label */
    ts_bad bad[TS_MAX_BAD];     /* malformed counters, the first TS_MAX_BAD */
    size_t nbad;                /* all malformed counters seen */
    ts_set nc_reasons;          /* not counted: reasons (fail = window sum) */
    ts_nc *nc;                  /* per window day and reason */
    size_t nnc;
    int64_t nc_total;
    unsigned char *nc_day;      /* fetch temp: window day w is listed in P nc:days */
    unsigned char *partial_day; /* fetch temp: lead+window day i is in P partial:days */
    int saturated;              /* some count read >= 2^63-1 */
    ts_loss loss;
} ts_report;

/* Window day w of a domain. */
#define TS_WDAY(d, w) (&(d)->day[TS_LEAD_DAYS + (w)])
/* Name of window day w. */
#define TS_WNAME(r, w) ((r)->dayname[TS_LEAD_DAYS + (w)])

/* util.c */
void *ts_xmalloc(size_t n);
void *ts_xrealloc(void *p, size_t n);
char *ts_xstrdup(const char *s);
void ts_seterr(ts_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *ts_decode_name(const char *enc);
char *ts_domain_name(const char *enc);
int ts_valid_member(const char *s, size_t len);
long ts_set_get(ts_set *s, const char *enc, int create);
void ts_set_free(ts_set *s);
int64_t ts_add64(int64_t a, int64_t b);
void ts_format_count(int64_t v, char *out, size_t outlen);
const char *ts_org_display(const ts_entity *e);
char *ts_rebuild_cmd(const ts_report *r, const char *day, char *out, size_t outlen);
int ts_parse_day(const char *s, time_t *out);
void ts_format_day(time_t t, char out[11]);
double ts_ratio(int64_t part, int64_t whole);
size_t ts_utf8_prefix(const char *s, size_t maxcols, size_t *cols);

/* report.c */
int ts_report_init(ts_report *r, int ndays, time_t today, const char *prefix, ts_err *e);
int ts_report_add_domain(ts_report *r, const char *enc, const char *name, int requested,
                         ts_err *e);
void ts_report_free(ts_report *r);

/* mget.c: pipelined text-protocol multi-gets (see its file comment). */
typedef struct ts_mget ts_mget;
/* A hit: batch index, value, length, 1 when the value was cut to TS_MAX_VALUE. */
typedef void ts_mget_fn(void *arg, size_t idx, const char *val, size_t len, int cut);
ts_mget *ts_mget_new(void *memc, int timeout_ms, ts_err *e);
size_t ts_mget_add(ts_mget *g, const char *key, size_t klen);
size_t ts_mget_pending(const ts_mget *g);
const char *ts_mget_key(const ts_mget *g, size_t i, size_t *len);
int ts_mget_run(ts_mget *g, ts_mget_fn *fn, void *arg, ts_err *e);
void ts_mget_counts(const ts_mget *g, unsigned *round_trips, size_t *keys);
void ts_mget_free(ts_mget *g);

/* fetch.c */
int ts_fetch(void *memc, ts_report *r, int all_domains, ts_err *e);

/* archive.c: compare the archive with P arr:A:H:counted (issue 10.4); 0 compared (loss
   updated), -1 not compared (why). */
int ts_archive_compare(void *memc, const char *dir, ts_report *r, char *why, size_t whylen);

/* loss.c */
int ts_loss_ask(void *store, tlsrpt_loss *out);
void ts_loss_judge(const tlsrpt_loss *in, int asked_ok, int data_seen, ts_report *r);

/* analyze.c */
void ts_analyze(ts_report *r);
void ts_summary_line(const ts_report *r, const ts_domain *d, char *out, size_t outlen);
const char *ts_dist_advice(const ts_domain *d, const ts_set *s, const ts_dist *di, int is_mx,
                           char *buf, size_t len);
void ts_ready_message(const ts_report *r, const ts_domain *d, char *buf, size_t len);

/* rtypes.c: RFC 8460 result types, meaning and where to look. */
typedef struct ts_rtype {
    const char *name;
    const char *meaning;
    const char *look;           /* "DOMAIN" is replaced by the policy domain */
} ts_rtype;
extern const ts_rtype ts_rtypes[];
extern const size_t ts_n_rtypes;
const ts_rtype *ts_rtype_find(const char *name);
void ts_rtype_headline(const ts_rtype *t, const char *domain, double share,
                       char *out, size_t outlen);
void ts_rules(int which, char *out, size_t outlen);
enum { TS_RULE_SPIKE, TS_RULE_DIST, TS_RULE_TYPE, TS_RULE_READY, TS_RULE_SILENT, TS_NRULES };
extern const char *const ts_rule_keys[TS_NRULES];

/* out_*.c: each returns 0, or -1 on a write error. */
int ts_out_text(FILE *f, const ts_report *r);
int ts_out_json(FILE *f, const ts_report *r);
int ts_out_prom(FILE *f, const ts_report *r);
int ts_out_html(FILE *f, const ts_report *r);
/* html_svg.c */
void ts_html_escape(FILE *f, const char *s);
void ts_svg_daily(FILE *f, const ts_report *r, const ts_domain *d);
void ts_svg_types(FILE *f, const ts_domain *d);

#endif
