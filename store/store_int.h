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
#define ST_MARKER_TTL 3600       /* seconds an index marker lives (race window guard) */
#define ST_MAX_OPS 100000        /* counters + members per report (sanity cap) */
#define ST_MAX_DOMAINS 256       /* distinct policy domains counted per report */
#define ST_MAX_MX 1000           /* distinct MX names counted per report and domain */
#define ST_LABEL_MAX 256          /* bytes of organization-name kept in P org:ORG:name */
#define ST_DEFAULT_PREFIX "tlsrpt:"
#define ST_PREFIX_MAX 64

/* One counter increment. */
typedef struct st_counter {
    char key[TLSRPT_KEY_MAX + 1];
    uint64_t delta;
    int keep_zero;              /* write even when delta is 0 (ok/fail keys) */
} st_counter;

/* One index-set member to make sure of. */
typedef struct st_member {
    char set[TLSRPT_KEY_MAX + 1];   /* full key of the set */
    char member[ST_DOMAIN_ENC_MAX]; /* canonical component (domains: plain encoding) */
    int long_lived;                 /* refresh the set's TTL when it grows */
} st_member;

/* Everything one report will write. Owned by the caller of st_plan_build. */
typedef struct st_plan {
    st_counter *ctr;
    size_t n_ctr, cap_ctr;
    st_member *mem;
    size_t n_mem, cap_mem;
    char seen_key[TLSRPT_KEY_MAX + 1];
    char org[ST_COMP_MAX + 1];      /* ORG component: org_key, else organization-name */
    char label_key[TLSRPT_KEY_MAX + 1]; /* P org:ORG:name, "" without org_key */
    char *label_val;                /* encoded organization-name (malloc'd), or NULL */
    size_t label_len;
    int64_t ok, fail;
    size_t n_domains;
    char domains[512];
} st_plan;

/* The store handle (opaque in store.h). */
struct tlsrpt_store {
    memcached_st *master;
    memcached_pool_st *pool;
    char prefix[ST_PREFIX_MAX + 1];
    long counter_ttl, dedup_ttl;
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

/* plan.c: compute the plan for request q (never NULL); returns a tlsrpt_count_status
   (COUNTED = go on). */
int st_plan_build(const tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                  st_plan *p, tlsrpt_count_info *info, char *errbuf, size_t errlen);
void st_plan_free(st_plan *p);

/* memc.c: a configured (not yet connected) memcached_st; NULL + errbuf on error. */
memcached_st *st_memc_create(const char *servers, int timeout_ms, char *errbuf, size_t errlen);
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
/* count.c: is id a usable spool entry id? */
int st_entry_id_ok(const char *id);
/* count.c: phases 1-3 of one planned report on c (a pooled handle). */
int st_count_on(st_call *c, const st_plan *p, const tlsrpt_count_req *q);
/* index.c: the index sets a plan touches, with the values read from memcached. */
typedef struct st_set_state {
    const char *key;
    char *value;                /* NUL-terminated copy, NULL when missing */
    int exists;
} st_set_state;
typedef struct st_sets {
    st_set_state *s;            /* sorted by key */
    size_t n;
} st_sets;
int st_sets_init(st_sets *ss, const st_plan *p);
int st_sets_got(st_sets *ss, size_t i, const char *val, size_t vlen);
void st_sets_free(st_sets *ss);
/* index.c: make sure every member of the plan is in its set (two bursts when some
   are new, none otherwise); TLSRPT_COUNTED or FAILED. */
int st_index_write(st_call *c, const st_plan *p, st_sets *ss);

#endif
