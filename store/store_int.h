/*
 * store_int.h - internals shared by the files of store/ (not a public API).
 *
 * plan.c turns a decoded report into a "plan": the exact counter increments
 * and index-set members to write, computed before anything touches memcached.
 * index.c writes the index sets (through burst.c), store.c owns the pool, the
 * dedup marker and the counters, memc.c parses the server list and configures
 * a memcached_st.
 */
#ifndef TLSRPT_STORE_INT_H
#define TLSRPT_STORE_INT_H

#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/util.h>
#include <pthread.h>
#include "store.h"

#define ST_COMP_MAX 120          /* longer encoded components become "~" + 32 hex */
#define ST_HASHED_LEN 33         /* "~" + 32 hex digits */
#define ST_DOMAIN_ENC_MAX 254    /* encoded domain (<= 253 bytes, like a DNS name) + NUL */
#define ST_MARKER_TTL 120        /* seconds an index marker lives (race window guard) */
#define ST_LINK_SOFT 65536       /* an index-set link grows to about this many bytes */
#define ST_MAX_LINKS 4096        /* links per set (4096 x 64 KB) */
#define ST_MAX_OPS 100000        /* counters + members per report (sanity cap) */
#define ST_MAX_DOMAINS 256       /* distinct policy domains counted per report */
#define ST_DEF_NEW_KEYS 2000     /* MaxNewKeysPerReport */
#define ST_DEF_REP_DOMAINS 1000  /* MaxDomainsPerReporter */
#define ST_ORGS_CAP 1000         /* orgs of one domain and day; beyond, new ones are org:~other */
#define ST_REP_TTL 259200        /* seconds P org:ORG:A:newdomains lives (3 days) */
#define ST_MAX_MX 1000           /* distinct MX names counted per report and domain */
#define ST_MX_INVALID "~invalid" /* MX member of a name that is not a host name */
#define ST_FOLD_OTHER "~other"   /* MX / org member the budget folded into */
#define ST_LABEL_MAX 256          /* bytes of organization-name kept in P org:ORG:name */
#define ST_DEFAULT_PREFIX "tlsrpt:"
#define ST_PREFIX_MAX 64

/* Policy type classes of rule 12 (index of pt_* arrays; TLSRPT_PT_* in store.h). */
#define ST_PT_N TLSRPT_PT_N

/* One counter increment. */
typedef struct st_counter {
    char key[TLSRPT_KEY_MAX + 1];
    uint64_t delta;
    int keep_zero;              /* write even when delta is 0 (ok/fail keys) */
    long dom;                   /* its domain (st_plan.dom), -1: not a domain's counter */
} st_counter;

/* Saturation guard of a domain's day, P d:D:Y:max (count.c): an upper bound of every
   counter of (D, Y); below ST_GUARD_QUIET, and with every delta at most ST_DELTA_QUIET,
   the domain's increments go quiet. */
#define ST_GUARD_QUIET ((uint64_t)1 << 62)
#define ST_DELTA_QUIET ((uint64_t)1 << 40)

/* One index set the plan touches (its key is read in phase 1). */
typedef struct st_pset {
    char key[TLSRPT_KEY_MAX + 1];
    int long_lived;             /* refresh the set's TTL when it grows */
} st_pset;

/* One index-set member to make sure of. */
typedef struct st_member {
    size_t set;                     /* index in st_plan.set */
    long dom;                       /* index in st_plan.dom, -1 for none */
    long anchor;                    /* its counter in st_plan.ctr (exists = listed), or
                                       ST_ANCHOR_DAYS (P domains: d:D:days exists), or
                                       ST_ANCHOR_NONE (read the set's links) */
    char member[ST_DOMAIN_ENC_MAX]; /* canonical component (domains: plain encoding) */
} st_member;

/* Failed sessions of one receiving MX (canonical name). */
typedef struct st_mx {
    char name[ST_COMP_MAX + 1];
    uint64_t cnt;
    unsigned char fold;         /* budget: ST_KEEP, ST_OTHER (into ~other), ST_DROP (type: only) */
} st_mx;

#define ST_KEEP 0
#define ST_OTHER 1
#define ST_DROP 2
#define ST_DROP_BUDGET 1         /* st_dom.drop: MaxNewKeysPerReport */
#define ST_DROP_REPORTER 2       /* st_dom.drop: MaxDomainsPerReporter */

/* What one report holds for one counted domain (plan.c), before any key is built. */
typedef struct st_dom {
    char name[256];             /* normalized domain */
    char D[ST_DOMAIN_ENC_MAX];  /* its key component (full encoding) */
    uint64_t ok, fail;          /* rule 12: the larger of sts / tlsa, plus the others */
    uint64_t pt_ok[ST_PT_N], pt_fail[ST_PT_N];
    unsigned char pt_has[ST_PT_N];
    const char *mode;           /* "enforce", "testing", "none" */
    uint64_t type[12];          /* failed sessions per result type (ST_N_TYPES + other) */
    st_mx *mx;                  /* per-MX sums, the first ST_MAX_MX by name */
    size_t n_mx;
    /* budget decisions (budget.c; all 0 = count everything) */
    unsigned char drop;         /* not counted at all: ST_DROP_BUDGET / ST_DROP_REPORTER */
    unsigned char org_fold;     /* ST_KEEP, ST_OTHER (org:~other), ST_DROP (no org counters) */
    unsigned char new_domain;   /* D was not in P domains (for MaxDomainsPerReporter) */
} st_dom;

/* Everything one report will write. Owned by the caller of st_plan_build. */
typedef struct st_plan {
    st_dom *dom;                /* counted domains, in name order */
    size_t n_dom;
    char Y[ST_COMP_MAX + 1];    /* report day component */
    st_counter *ctr;
    size_t n_ctr, cap_ctr;
    st_member *mem;
    size_t n_mem, cap_mem;
    st_pset *set;               /* set 0 = P domains */
    size_t n_set, cap_set;
    char seen_key[TLSRPT_KEY_MAX + 1];
    char org[ST_COMP_MAX + 1];      /* ORG component: org_key, else organization-name */
    char org_key[256];              /* the signer, normalized; "" without one */
    char label_key[TLSRPT_KEY_MAX + 1]; /* P org:ORG:name, "" without org_key */
    char *label_val;                /* encoded organization-name (malloc'd), or NULL */
    size_t label_len;
    int64_t ok, fail;
    int64_t pt_ok[ST_PT_N], pt_fail[ST_PT_N];
    size_t n_domains;
    char domains[512];
    char arr_day[11];           /* A: the arrival day (UTC) */
    char host[ST_COMP_MAX + 1]; /* H: the host id component, "" without one */
    char rep_key[TLSRPT_KEY_MAX + 1];   /* P org:ORG:A:newdomains */
    size_t rep_new;             /* new domains this report takes (budget.c) */
    char mtoken[128];           /* value of the index markers this call adds (its entry id,
                                   else a token of its own): a marker holding it is ours, from
                                   an earlier attempt of the same entry that stopped before
                                   writing the member */
    int no_markers;             /* write every member not listed, without index markers (the
                                   rebuild: markers of the last minutes, possibly on another
                                   server, must not keep a member out of a set it rewrites) */
} st_plan;

#define ST_ANCHOR_NONE (-1)
#define ST_ANCHOR_DAYS (-2)

/* Set indexes of domain i in st_plan.set (emit.c keeps 4 sets per domain, in order). */
#define ST_SET_DOMAINS 0
#define ST_SET_DAYS(i) (1 + 4 * (i))
#define ST_SET_ORGS(i) (2 + 4 * (i))
#define ST_SET_TYPES(i) (3 + 4 * (i))
#define ST_SET_MXS(i) (4 + 4 * (i))
#define ST_SET_HOSTS(p) (1 + 4 * (p)->n_dom)     /* P hosts:Y, when the report has a host */

/* What phase 1 (or the tally) knows about the index sets, for the budgets. */
typedef struct st_view {
    int (*known)(void *arg, size_t set, const char *member);   /* member in set */
    int (*exists)(void *arg, size_t set);                        /* the set exists */
    size_t (*members)(void *arg, size_t set);                    /* how many it lists */
    void *arg;
    uint64_t rep_count;         /* new domains the reporter made on the arrival day */
} st_view;

#define ST_N_TYPES 11            /* RFC 8460 result types; index 11 = "other" */

/* The store handle (opaque in store.h). */
struct tlsrpt_store {
    memcached_st *master;
    memcached_pool_st *pool;
    char prefix[ST_PREFIX_MAX + 1];
    long counter_ttl, dedup_ttl;
    uint64_t max_count;         /* max_session_count */
    size_t max_new_keys;        /* MaxNewKeysPerReport */
    size_t max_rep_domains;     /* MaxDomainsPerReporter */
    char **allow;               /* normalized allow-list, NULL = all */
    size_t n_allow;
    int timeout_ms;
    pthread_mutex_t pipe_mu;    /* guards pipes */
    struct st_pipe *pipes;      /* idle raw connection sets (pipe.c) */
};

/* keys.c: canonical component of a raw string (encoded, hashed when > ST_COMP_MAX). */
int st_canon(char *out, size_t outlen, const char *raw);
/* keys.c: "~" + 32 hex of the first 16 bytes of SHA-256 of s[0..len). out >= 34 bytes. */
void st_hash_comp(char *out, const char *s, size_t len);

/* plan.c: compute the plan for request q (never NULL): the domains, then every key
   (st_emit); returns a tlsrpt_count_status (COUNTED = go on). */
int st_plan_build(const tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                  st_plan *p, tlsrpt_count_info *info, char *errbuf, size_t errlen);
void st_plan_free(st_plan *p);
/* emit.c: build every counter, set and member of the plan's domains; 0 or -1
   (out of memory, a key that cannot be built, over ST_MAX_OPS). */
int st_emit(const tlsrpt_store *st, st_plan *p);
/* budget.c: decide what of the plan fits MaxNewKeysPerReport and MaxDomainsPerReporter,
   from what view v knows (see budget.c); overhead = items the call makes besides the
   domains' keys. Fills the st_dom decisions, p->rep_new and info->folded; returns
   how many domains are left to count. */
size_t st_budget(const tlsrpt_store *st, st_plan *p, const st_view *v, size_t overhead,
                 tlsrpt_count_info *info);
/* budget.c: drop the last n domains that budget took as new for the reporter (they lost
   the race for the reporter's allowance); returns how many were dropped. */
size_t st_budget_unnew(st_plan *p, size_t n, tlsrpt_count_info *info);
/* budget.c: info->folded.text from its counts. */
void st_fold_describe(const tlsrpt_store *st, tlsrpt_fold_info *f);
/* budget.c: does any decision differ from "count everything"? */
int st_budget_folded(const st_plan *p);
/* plan.c: the UTC day "YYYY-MM-DD" of t into out (11 bytes). */
void st_day_of(time_t t, char *out);
/* plan.c: the plan's info sums (ok, fail, pt_*, domains) over the domains still counted. */
void st_plan_sums(st_plan *p);
/* emit.c: the result type name of index t (0..ST_N_TYPES; ST_N_TYPES = "other"). */
const char *st_type_name(size_t t);
/* emit.c: the policy type name of class i ("sts", "tlsa", "no-policy-found", "other"). */
const char *st_ptype_name(size_t i);

/* memc.c: a configured (not yet connected) memcached_st; NULL + errbuf on error. */
memcached_st *st_memc_create(const char *servers, int timeout_ms, char *errbuf, size_t errlen);
/* memc.c: a connection of st's pool, waiting at most the store timeout + 1 s; NULL with
   errbuf saying so when none came free. Give it back with memcached_pool_release. */
memcached_st *st_pool_fetch(tlsrpt_store *st, char *errbuf, size_t errlen);
/* memc.c: memcached expiry value for a TTL in seconds (absolute over 30 days). */
time_t st_expiry(long ttl);
/* memc.c: is rc a connection-level failure worth one reconnect + retry? */
int st_conn_error(memcached_return_t rc);

/* Per-call context for index.c / store.c. */
typedef struct st_call {
    tlsrpt_store *st;
    memcached_st *mc;
    tlsrpt_count_info *info;
    char *errbuf;
    size_t errlen;
} st_call;

/* ops.c: fill errbuf "OP KEY: memcached error" and return TLSRPT_STORE_FAILED. */
int st_fail(st_call *c, const char *op, const char *key, memcached_return_t rc);
/* ops.c: add/append/touch/delete ('a','p','t','d') with one reconnect+retry on a
   connection error (not for 'p': the caller must check first). Counts round trips.
   Only store.c's removal of the dedup marker ('d') uses it now. */
memcached_return_t st_store_op(st_call *c, char op, const char *key, const char *val,
                               size_t vlen, time_t exp);
/* pipe.c: raw connection set for the counter burst, one per concurrent call. */
typedef struct st_pipe {
    int *fd;                    /* per server position, -1 = closed */
    size_t n;
    struct st_pipe *next;       /* free list link */
} st_pipe;
st_pipe *st_pipe_take(tlsrpt_store *st, size_t nservers);
void st_pipe_give(tlsrpt_store *st, st_pipe *p);
void st_pipe_free(st_pipe *p);
void st_pipe_free_all(tlsrpt_store *st);
long long st_now_ms(void);
size_t st_send_all(int fd, const unsigned char *b, size_t len, long long deadline);
int st_recv_some(int fd, unsigned char *b, size_t cap, size_t *got, long long deadline);
int st_pipe_fd(st_call *c, st_pipe *pp, uint32_t s);
void st_pipe_drop(st_pipe *pp, uint32_t s);
void st_server_label(memcached_st *mc, uint32_t s, char *buf, size_t n);

/* burst.c: one request of a burst (binary protocol). */
typedef struct st_req {
    unsigned char opcode;           /* ST_OP_* */
    const char *key;
    unsigned char extras[20];
    unsigned char extlen;
    const char *val;
    size_t vlen;
    uint64_t cas;                   /* 0, or the CAS a SET must match */
    unsigned char direct;           /* send to server position srv, not by key hash */
    uint32_t srv;
} st_req;
/* burst.c: one answer (every answer but the closing NOOP). */
typedef struct st_ans {
    size_t req;                     /* index of the request answered */
    unsigned char opcode;
    unsigned status;                /* 0 = success */
    const char *key;
    size_t klen;
    const char *val;                /* value (after extras and key), or error text */
    size_t vlen;
    uint64_t cas;
} st_ans;
typedef void (*st_ans_cb)(void *arg, const st_ans *a);
#define ST_OP_SET 0x01
#define ST_OP_ADD 0x02
#define ST_OP_INCREMENT 0x05
#define ST_OP_GETK 0x0c
#define ST_OP_STAT 0x10
#define ST_OP_SETQ 0x11
#define ST_OP_DELETEQ 0x14
#define ST_OP_DECREMENTQ 0x16
#define ST_OP_INCREMENTQ 0x15
#define ST_OP_GETKQ 0x0d
#define ST_OP_ADDQ 0x12
#define ST_OP_APPENDQ 0x19
#define ST_OP_TOUCH 0x1c
#define ST_ST_NOT_FOUND 0x0001       /* binary protocol answer statuses */
#define ST_ST_EXISTS 0x0002
#define ST_ST_TOO_LARGE 0x0003
#define ST_ST_NOT_STORED 0x0005
#define ST_ST_NON_NUMERIC 0x0006
/* burst.c: send reqs grouped per server, each group in one write ended by a NOOP,
   then read every answer into cb: one round trip. 0, or -1 with errbuf set; *maybe
   is set when requests may have been executed although the call failed. */
int st_burst(st_call *c, const char *what, const st_req *reqs, size_t n, st_ans_cb cb,
             void *arg, int *maybe);
/* burst.c: what a burst may have done although it failed. */
typedef struct st_burst_res {
    int maybe;                  /* some requests may have been executed (part sent / no answer) */
    int sent_any;               /* at least one server was sent (part of) its requests */
} st_burst_res;
/* burst.c: st_burst, and when first_req >= 0 the server of reqs[first_req] is sent its
   part first; if that fails, no other server is sent anything. */
int st_burst_x(st_call *c, const char *what, const st_req *reqs, size_t n, st_ans_cb cb,
               void *arg, long first_req, st_burst_res *res);
/* chain.c: add member m (mlen bytes) to the tlsrpt_members arg unless it is listed. */
void st_members_add(void *arg, const char *m, size_t mlen);
/* chain.c: does ms list member m? */
int st_members_has(const tlsrpt_members *ms, const char *m);
/* count.c: is id a usable spool entry id? */
int st_entry_id_ok(const char *id);
/* count.c: phases 1-3 of one planned report on c (a pooled handle). */
int st_count_on(st_call *c, st_plan *p, const tlsrpt_count_req *q);
/* count.c: per domain of a plan, how its counter burst goes (NULL: domain counters
   checked, the others quiet). */
typedef struct st_guard {
    char key[TLSRPT_KEY_MAX + 1];   /* P d:D:Y:max */
    uint64_t value;             /* as phase 1 read it */
    int present;                /* phase 1 found it */
    int quiet;                  /* quiet increments (the guard says nothing can saturate) */
    int touch;                  /* increment the guard (not when it is missing on a known day) */
    uint64_t add;               /* the domain's largest delta of this report */
} st_guard;
/* count.c: the counter burst of a plan (sent: the marker's "ID sent" value, or NULL;
   g: one st_guard per domain, or NULL). */
int st_write_counters(st_call *c, const st_plan *p, const char *sent, st_guard *g);
/* count.c: a plan without dedup marker: its sets, new members, counters. */
int st_run_plain(st_call *c, st_plan *p);
/* index.c: the index sets a plan touches, with what phase 1 and the marker burst read. */
typedef struct st_set_state {
    const char *key;
    char *value;                /* link 0, NUL-terminated copy, NULL when missing */
    size_t vlen;
    uint64_t cas;               /* its CAS as read */
    int exists;
    unsigned links;             /* its highest "+N" token (0: one link) */
    size_t tail_len;            /* link `links`, read in the marker burst when > 0 */
    int tail_exists;
    char **lv;                  /* links 1..links (sets without anchors), or NULL */
    size_t ntok;                /* link 0's members (tokens "+N" not counted) */
    uint32_t *toff, *thash;     /* per member: offset in value, FNV-1a hash */
    uint16_t *tlen;
    uint32_t *tab;              /* ntok > 8: open addressing over them (index + 1) */
    size_t tcap;
} st_set_state;
typedef struct st_sets {
    st_set_state *s;            /* same order as st_plan.set */
    size_t n;
    int oom;
} st_sets;
int st_sets_init(st_sets *ss, const st_plan *p);
int st_sets_got(st_sets *ss, size_t i, const char *val, size_t vlen, uint64_t cas);
void st_sets_free(st_sets *ss);
/* The reporter's allowance of new domains, checked in the marker burst (index.c). */
typedef struct st_rep {
    const char *key;            /* P org:ORG:A:newdomains */
    uint64_t add;               /* new domains this report takes */
    uint64_t limit;             /* MaxDomainsPerReporter */
    uint64_t total;             /* the count after our increment */
    int answered;
} st_rep;
/* index.c: is member one of the space-separated tokens of v? */
int st_has_member(const char *v, const char *member);
/* index.c: does link 0 of set state s list member (its token index, built once)? */
int st_set_has(const st_set_state *s, const char *member);
/* index.c: is member known from phase 1 alone (in link 0, or the set is chained and
   its anchor was read in phase 1)? -1 when the marker burst must tell (chained). */
int st_known1(const st_plan *p, const st_sets *ss, size_t m);
/* ixwrite.c: write the won members need[0..nn) into their sets' links (splitting
   past ST_LINK_SOFT, new links announced in link 0, long-lived sets touched); the
   first round also carries extra[0..n_extra). TLSRPT_COUNTED or FAILED. */
int st_write_members(st_call *c, const st_plan *p, st_sets *ss, const size_t *need, size_t nn,
                     const st_req *extra, size_t n_extra);
/* index.c: error helpers shared with ixwrite.c. */
typedef struct ix_err {
    int failed;
    size_t req;
    unsigned status;
    char msg[128];
} ix_err;
void st_ix_note(ix_err *e, const st_ans *a);
int st_ix_fail(st_call *c, const char *op, const char *key, const ix_err *e, size_t n);
void st_put_exp(unsigned char *p, time_t exp);
/* index.c: make sure every member of the plan is in its set (two bursts when some
   are new, none otherwise; the reporter's count rises in the first, and the domains
   that overshoot it are dropped from the plan); TLSRPT_COUNTED or FAILED. */
int st_index_write(st_call *c, st_plan *p, st_sets *ss, st_rep *rep);

#endif
