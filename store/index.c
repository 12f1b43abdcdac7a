/*
 * index.c - keep the index sets of key schema v2 (P domains, P d:D:days,
 * P d:D:Y:orgs|types|mxs): members separated by single spaces, each member
 * once even when many processes add the same member at the same time, in a
 * chain of links so no item nears memcached's item size (chain.c).
 *
 * Which members are new: store.c reads link 0 of every set the report touches
 * in phase 1 (st_sets_*). A member listed there costs nothing (the normal
 * case). In a set that is one link, a member not listed is new. In a chained
 * set (link 0 holds "+N" tokens) a member may be in any link, so its anchor
 * decides - a key that exists exactly when the member is listed: for P domains
 * the domain's d:D:days (read in phase 1 anyway), for the others the
 * member's own counter (d:D:Y:reports, org:O:ok, type:RT, mx:MX:fail: a
 * counter is written only after its member was), read in the marker burst;
 * a set without counters has its links read there instead.
 * The marker burst: for each new (or undecided) member a quiet add of a
 * marker P ix:H (H = 32 hex of SHA-256(set key NUL member)) holding the
 * call's entry id (or token), and a quiet get of it; an answer to the add
 * means the marker was there: someone else writes that member, unless the
 * get shows our own value (an earlier attempt of the same archive entry that
 * stopped before writing it: we write it now). With it go the
 * reporter's new-domain increment (budget.c), the anchors, and the last link
 * of each chained set that gets members (its length decides append or next
 * link). Only the winners are written (ixwrite.c), in one more burst.
 * Markers live ST_MARKER_TTL seconds (2 minutes): long enough to cover the race
 * (a marker and its append are one round trip apart), short enough that a
 * member whose writer died before appending, or whose set's server restarted
 * empty while the marker lives on another server, comes back with the next
 * report that has it. A plan with no_markers (the rebuild) writes every member
 * it does not find listed, markers or not.
 * A member can be listed twice only when memcached lost its anchor (evicted
 * or expired while the set lives on); readers drop repeats (chain.c).
 * Limits: members <= ST_COMP_MAX bytes (a domain: its full encoding, <= 253);
 * per report the bursts hold every new member (the plan caps them).
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key and operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"
#include "sha256.h"

/* Is member one of the space-separated tokens of v? */
int st_has_member(const char *v, const char *member)
{
    size_t ml = strlen(member);
    for (const char *p = v; p && *p; ) {
        while (*p == ' ')
            p++;
        size_t tl = strcspn(p, " ");
        if (tl == ml && memcmp(p, member, ml) == 0)
            return 1;
        p += tl;
    }
    return 0;
}

/* Marker key of (set, member). */
static int marker_key(const tlsrpt_store *st, const st_plan *p, const st_member *m, char *out,
                      size_t outlen)
{
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[33];
    const char *set = p->set[m->set].key;
    tlsrpt_sha256_init(&c);
    tlsrpt_sha256_update(&c, set, strlen(set) + 1);
    tlsrpt_sha256_update(&c, m->member, strlen(m->member));
    tlsrpt_sha256_final(&c, d);
    tlsrpt_hex(hex, d, 16);
    return tlsrpt_key_build(out, outlen, st->prefix, (const char *const[]){ "ix", hex }, 2);
}

/* One state per set of the plan (same order); 0 or -1 on out of memory. */
int st_sets_init(st_sets *ss, const st_plan *p)
{
    ss->n = p->n_set;
    ss->oom = 0;
    ss->s = calloc(p->n_set ? p->n_set : 1, sizeof *ss->s);
    if (!ss->s)
        return -1;
    for (size_t i = 0; i < p->n_set; i++)
        ss->s[i].key = p->set[i].key;
    return 0;
}

/* FNV-1a of n bytes. */
static uint32_t fnv32(const char *m, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ (unsigned char)*m++) * 16777619u;
    return h;
}

/* Index the members of s->value in one pass (once, when it is read): offsets, lengths,
   hashes in one allocation, a hash table past 8 members, the highest "+N" token.
   -1 on out of memory. */
static int index_members(st_set_state *s)
{
    size_t cap = s->vlen / 2 + 1, k = 0;
    char *mem = malloc(cap * (2 * sizeof(uint32_t) + sizeof(uint16_t)));
    if (!mem)
        return -1;
    s->toff = (uint32_t *)mem;
    s->thash = s->toff + cap;
    s->tlen = (uint16_t *)(s->thash + cap);
    for (size_t i = 0; i < s->vlen; ) {
        while (i < s->vlen && s->value[i] == ' ')
            i++;
        size_t st = i;
        uint32_t h = 2166136261u;
        for (; i < s->vlen && s->value[i] != ' '; i++)
            h = (h ^ (unsigned char)s->value[i]) * 16777619u;
        if (i == st)
            continue;
        if (s->value[st] == '+') {  /* a link token: not a member */
            unsigned n = 0;
            size_t d = st + 1;
            for (; d < i && d < st + 7 && s->value[d] >= '0' && s->value[d] <= '9'; d++)
                n = n * 10 + (unsigned)(s->value[d] - '0');
            if (d == i && d > st + 1 && n > s->links && n <= ST_MAX_LINKS)
                s->links = n;
            continue;
        }
        s->toff[k] = (uint32_t)st;
        s->tlen[k] = (uint16_t)(i - st < 65535 ? i - st : 65535);
        s->thash[k++] = h;
    }
    s->ntok = k;
    if (k <= 8)
        return 0;
    for (s->tcap = 16; s->tcap < 2 * k; s->tcap *= 2)
        ;
    if (!(s->tab = calloc(s->tcap, sizeof *s->tab)))
        return -1;
    for (size_t j = 0; j < k; j++) {
        size_t h = s->thash[j] & (s->tcap - 1);
        while (s->tab[h])
            h = (h + 1) & (s->tcap - 1);
        s->tab[h] = (uint32_t)(j + 1);
    }
    return 0;
}

/* Does link 0 of s list member? */
int st_set_has(const st_set_state *s, const char *member)
{
    size_t ml = strlen(member);
    uint32_t h = fnv32(member, ml);
    if (s->tab) {
        for (size_t i = h & (s->tcap - 1); s->tab[i]; i = (i + 1) & (s->tcap - 1)) {
            size_t j = s->tab[i] - 1;
            if (s->thash[j] == h && s->tlen[j] == ml && memcmp(s->value + s->toff[j], member, ml) == 0)
                return 1;
        }
        return 0;
    }
    for (size_t j = 0; j < s->ntok; j++)
        if (s->thash[j] == h && s->tlen[j] == ml && memcmp(s->value + s->toff[j], member, ml) == 0)
            return 1;
    return 0;
}

/* Remember link 0's value read for set i; -1 on out of memory. */
int st_sets_got(st_sets *ss, size_t i, const char *val, size_t vlen, uint64_t cas)
{
    if (i >= ss->n || ss->s[i].value)
        return 0;
    ss->s[i].value = malloc(vlen + 1);
    if (!ss->s[i].value)
        return -1;
    memcpy(ss->s[i].value, val, vlen);
    ss->s[i].value[vlen] = 0;
    ss->s[i].vlen = vlen;
    ss->s[i].cas = cas;
    ss->s[i].exists = 1;
    ss->s[i].links = 0;
    return index_members(&ss->s[i]);
}

/* Release the values read. */
void st_sets_free(st_sets *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        free(ss->s[i].value);
        for (unsigned k = 0; ss->s[i].lv && k < ss->s[i].links; k++)
            free(ss->s[i].lv[k]);
        free(ss->s[i].lv);
        free(ss->s[i].toff), free(ss->s[i].tab);     /* toff holds thash and tlen too */
    }
    free(ss->s);
    ss->s = NULL;
    ss->n = 0;
}

/* Is member m known from phase 1 alone? 1 / 0, or -1 when the marker burst must tell. */
int st_known1(const st_plan *p, const st_sets *ss, size_t m)
{
    const st_member *mb = &p->mem[m];
    const st_set_state *s = &ss->s[mb->set];
    if (s->value && st_set_has(s, mb->member))
        return 1;
    if (s->links == 0)
        return 0;
    if (mb->anchor == ST_ANCHOR_DAYS)
        return ss->s[ST_SET_DAYS(mb->dom)].exists;
    return -1;
}

/* Note answer a as a failure (only the first one is kept in detail). */
void st_ix_note(ix_err *e, const st_ans *a)
{
    if (e->failed++ == 0) {
        e->req = a->req;
        e->status = a->status;
        snprintf(e->msg, sizeof e->msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    }
}

/* errbuf for a failed answer of an index burst; returns TLSRPT_STORE_FAILED. */
int st_ix_fail(st_call *c, const char *op, const char *key, const ix_err *e, size_t n)
{
    snprintf(c->errbuf, c->errlen, "memcached %s %s failed: %s (status 0x%04x; %d of %zu failed)",
             op, key, e->msg[0] ? e->msg : "error", e->status, e->failed, n);
    snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
    return TLSRPT_STORE_FAILED;
}

/* Store a 32-bit expiry big-endian at p. */
void st_put_exp(unsigned char *p, time_t exp)
{
    uint32_t v = (uint32_t)exp;
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

/* What the marker burst asks besides the markers, request by request. */
enum { MK_MARKER, MK_REP, MK_TAIL, MK_ANCHOR, MK_LINK, MK_MINE };
typedef struct mk_req {
    unsigned char kind;
    size_t who;                 /* marker / anchor: index in need; tail / link: set */
    unsigned link;              /* MK_LINK: which link (1..) */
} mk_req;

/* Answers of the marker burst. */
typedef struct ix_marks {
    st_sets *ss;
    const mk_req *what;
    unsigned char *lost;        /* per need entry: the marker was there before our add */
    unsigned char *mine;        /* per need entry: ... holding our token (an earlier attempt) */
    const char *token;          /* our marker value */
    unsigned char *anchored;    /* per need entry: its anchor exists (member listed) */
    st_rep *rep;
    int oom;
    ix_err err;
} ix_marks;

/* Keep link k (1..) of set s as read in the marker burst; -1 on out of memory. */
static int keep_link(st_set_state *s, unsigned k, const char *val, size_t vlen)
{
    if (!s->lv && !(s->lv = calloc(s->links, sizeof *s->lv)))
        return -1;
    free(s->lv[k - 1]);
    return (s->lv[k - 1] = strndup(val, vlen)) ? 0 : -1;
}

/* Burst callback of the marker burst (quiet adds and gets answer only when not stored /
   on a hit; the reporter's increment always answers). */
static void on_marks(void *arg, const st_ans *a)
{
    ix_marks *m = arg;
    const mk_req *w = &m->what[a->req];
    if (w->kind == MK_REP) {
        if (a->status == 0 && a->vlen == 8) {
            m->rep->answered = 1;
            for (int i = 0; i < 8; i++)
                m->rep->total = m->rep->total << 8 | (unsigned char)a->val[i];
        } else if (a->status != 0) {
            st_ix_note(&m->err, a);
        }
    } else if (w->kind == MK_MARKER) {
        if (a->status == ST_ST_EXISTS || a->status == ST_ST_NOT_STORED)
            m->lost[w->who] = 1;
        else if (a->status != 0)
            st_ix_note(&m->err, a);
    } else if (a->status == 0 && w->kind == MK_MINE) {
        m->mine[w->who] = a->vlen == strlen(m->token) && memcmp(a->val, m->token, a->vlen) == 0;
    } else if (a->status == 0 && w->kind == MK_ANCHOR) {
        m->anchored[w->who] = 1;
    } else if (a->status == 0 && w->kind == MK_TAIL) {
        m->ss->s[w->who].tail_exists = 1;
        m->ss->s[w->who].tail_len = a->vlen;
    } else if (a->status == 0 && w->kind == MK_LINK) {
        m->oom |= keep_link(&m->ss->s[w->who], w->link, a->val, a->vlen) < 0;
    }
}

/* The reporter's increment (a request of the marker burst): +add, created with add. */
static void rep_req(st_req *r, const st_rep *rep)
{
    *r = (st_req){ .opcode = ST_OP_INCREMENT, .key = rep->key, .extlen = 20 };
    for (int b = 0; b < 8; b++) {
        r->extras[b] = (unsigned char)(rep->add >> (56 - 8 * b));
        r->extras[8 + b] = r->extras[b];
    }
    st_put_exp(r->extras + 16, st_expiry(ST_REP_TTL));
}

/* The marker burst's requests and their keys. */
typedef struct mk_batch {
    st_req *reqs;
    mk_req *what;
    char (*keys)[TLSRPT_KEY_MAX + 1];   /* link keys */
    size_t n, cap, nk;
} mk_batch;

/* Append one request for key (copied into the batch when kcopy). */
static st_req *mk_add(mk_batch *b, unsigned char op, const char *key, int kcopy, mk_req w)
{
    size_t i = b->n++;
    if (kcopy) {
        snprintf(b->keys[b->nk], sizeof b->keys[b->nk], "%s", key);
        key = b->keys[b->nk++];
    }
    b->reqs[i] = (st_req){ .opcode = op, .key = key };
    b->what[i] = w;
    return &b->reqs[i];
}

/* Requests of the marker burst: markers (keys into mk, in need order), the reporter's
   increment, and for chained sets the anchors of undecided members, and their last
   link (or, for a set without anchors, all its links). */
static int mk_build(st_call *c, const st_plan *p, st_sets *ss, const size_t *need, size_t nn,
                    const signed char *undecided, st_rep *rep, mk_batch *b,
                    char (*mk)[TLSRPT_KEY_MAX + 1])
{
    long mttl = c->st->counter_ttl > 0 && c->st->counter_ttl < ST_MARKER_TTL
                    ? c->st->counter_ttl : ST_MARKER_TTL;
    unsigned char *want = calloc(ss->n ? ss->n : 1, 2);     /* per set: [0] tail, [1] links */
    char lk[TLSRPT_KEY_MAX + 1];
    if (!want)
        return -1;
    for (size_t k = 0; k < nn; k++) {
        const st_member *m = &p->mem[need[k]];
        if (marker_key(c->st, p, m, mk[k], sizeof mk[k]) < 0) {
            free(want);
            return -1;
        }
        st_req *r = mk_add(b, ST_OP_ADDQ, mk[k], 0, (mk_req){ MK_MARKER, k, 0 });
        r->extlen = 8;
        r->val = p->mtoken[0] ? p->mtoken : "1";
        r->vlen = strlen(r->val);
        st_put_exp(r->extras + 4, st_expiry(mttl));
        if (p->mtoken[0])               /* whose marker it is, when it was there before */
            mk_add(b, ST_OP_GETKQ, mk[k], 0, (mk_req){ MK_MINE, k, 0 });
        want[2 * m->set] |= ss->s[m->set].links > 0;
        want[2 * m->set + 1] |= undecided[k] && m->anchor == ST_ANCHOR_NONE;
        if (undecided[k] && m->anchor >= 0)
            mk_add(b, ST_OP_GETKQ, p->ctr[m->anchor].key, 0, (mk_req){ MK_ANCHOR, k, 0 });
    }
    if (rep && rep->add)
        rep_req(mk_add(b, ST_OP_INCREMENT, rep->key, 0, (mk_req){ MK_REP, 0, 0 }), rep);
    for (size_t s = 0; s < ss->n; s++) {
        unsigned N = ss->s[s].links;
        for (unsigned k = want[2 * s + 1] ? 1 : N; want[2 * s] && k >= 1 && k <= N; k++)
            if (tlsrpt_set_link_key(lk, sizeof lk, c->st->prefix, ss->s[s].key, k) > 0)
                mk_add(b, ST_OP_GETKQ, lk, 1,
                       (mk_req){ want[2 * s + 1] ? MK_LINK : MK_TAIL, s, k });
    }
    free(want);
    return 0;
}

/* Drop from need (and mk, kept in step) what the burst showed: lost markers, and
   undecided members that are listed after all (anchor exists, or found in a link). */
static void mk_resolve(const st_plan *p, st_sets *ss, size_t *need, size_t *nn,
                       const signed char *undecided, const ix_marks *m, char (*mk)[TLSRPT_KEY_MAX + 1])
{
    size_t w = 0;
    for (size_t i = 0; i < ss->n; i++) {
        st_set_state *s = &ss->s[i];
        if (s->lv && s->links && s->lv[s->links - 1]) {     /* links read: the last is the tail */
            s->tail_exists = 1;
            s->tail_len = strlen(s->lv[s->links - 1]);
        }
    }
    for (size_t k = 0; k < *nn; k++) {
        const st_member *mb = &p->mem[need[k]];
        const st_set_state *s = &ss->s[mb->set];
        int listed = m->anchored[k];
        for (unsigned l = 0; !listed && undecided[k] && mb->anchor == ST_ANCHOR_NONE && s->lv
                             && l < s->links; l++)
            listed = s->lv[l] && st_has_member(s->lv[l], mb->member);
        if ((!m->lost[k] || m->mine[k]) && !listed) {
            need[w] = need[k];
            memmove(mk[w++], mk[k], sizeof mk[k]);
        }
    }
    *nn = w;
}

/* The marker burst for need[0..*nn); keeps in need (and mk, its marker keys) only the
   members to write: markers won, not listed after all. */
static int take_markers(st_call *c, const st_plan *p, st_sets *ss, size_t *need, size_t *nn,
                        const signed char *undecided, st_rep *rep, char (*mk)[TLSRPT_KEY_MAX + 1])
{
    size_t cap = 3 * *nn + 1, links = 0;
    for (size_t s = 0; s < ss->n; s++)
        links += ss->s[s].links;
    cap += links;
    mk_batch b = { calloc(cap, sizeof *b.reqs), calloc(cap, sizeof *b.what),
                   calloc(links + 1, sizeof *b.keys), 0, cap, 0 };
    ix_marks m = { ss, b.what, calloc(*nn + 1, 1), calloc(*nn + 1, 1), p->mtoken,
                   calloc(*nn + 1, 1), rep && rep->add ? rep : NULL, 0, { 0, 0, 0, "" } };
    int rc = TLSRPT_COUNTED, maybe;
    if (!b.reqs || !b.what || !b.keys || !m.lost || !m.mine || !m.anchored
        || mk_build(c, p, ss, need, *nn, undecided, rep, &b, mk) < 0)
        rc = st_fail(c, "add", "(index markers)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    else if (st_burst(c, "add (index markers)", b.reqs, b.n, on_marks, &m, &maybe) != 0)
        rc = TLSRPT_STORE_FAILED;
    else if (m.err.failed)
        rc = st_ix_fail(c, b.what[m.err.req].kind == MK_REP ? "incr" : "add", b.reqs[m.err.req].key,
                        &m.err, b.n);
    else if (m.oom)
        rc = st_fail(c, "get", "(index links)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    if (rc == TLSRPT_COUNTED)
        mk_resolve(p, ss, need, nn, undecided, &m, mk);
    free(b.reqs), free(b.what), free(b.keys), free(m.lost), free(m.mine), free(m.anchored);
    return rc;
}

/* After the marker burst: when the reporter's count went past its limit (another
   report of the same reporter took part of the allowance meanwhile), drop the last new
   domains (budget.c), take their won members out of need, and fill extra with the
   deletes of their markers and the decrement of the count; returns how many extras. */
static size_t rep_overshoot(st_plan *p, st_rep *rep, size_t *need, size_t *nn,
                            char (*mk)[TLSRPT_KEY_MAX + 1], st_req *extra, tlsrpt_count_info *info)
{
    size_t n_extra = 0, w = 0;
    if (!rep || !rep->answered || rep->total <= rep->limit)
        return 0;
    uint64_t over = rep->total - rep->limit;
    size_t dropped = st_budget_unnew(p, over < rep->add ? (size_t)over : rep->add, info);
    for (size_t k = 0; k < *nn; k++) {
        long d = p->mem[need[k]].dom;
        if (d >= 0 && p->dom[d].drop)
            extra[n_extra++] = (st_req){ .opcode = ST_OP_DELETEQ, .key = mk[k] };
        else {
            need[w] = need[k];
            memmove(mk[w++], mk[k], sizeof mk[k]);
        }
    }
    *nn = w;
    if (dropped) {
        st_req *r = &extra[n_extra++];
        *r = (st_req){ .opcode = ST_OP_DECREMENTQ, .key = rep->key, .extlen = 20 };
        for (int b = 0; b < 8; b++)
            r->extras[b] = (unsigned char)((uint64_t)dropped >> (56 - 8 * b));
        st_put_exp(r->extras + 16, st_expiry(ST_REP_TTL));
    }
    return n_extra;
}

/* Make sure every member of the plan is in its set (link 0 already read into ss): one
   burst for the markers of the new members (with the reporter's increment, anchors and
   last links), one (rarely more) for the writes. */
int st_index_write(st_call *c, st_plan *p, st_sets *ss, st_rep *rep)
{
    size_t n = p->n_mem ? p->n_mem : 1, nn = 0, n_extra = 0;
    size_t *need = malloc(n * sizeof *need);
    signed char *undecided = malloc(n);
    char (*mk)[TLSRPT_KEY_MAX + 1] = NULL;
    st_req *extra = NULL;
    int rc = TLSRPT_COUNTED;
    for (size_t i = 0; need && undecided && i < p->n_mem; i++) {
        int k = st_known1(p, ss, i);
        if (k != 1) {
            undecided[nn] = k < 0;
            need[nn++] = i;
        }
    }
    if (nn == 0 && need && undecided) {     /* the steady state: every member listed */
        free(need), free(undecided);
        return TLSRPT_COUNTED;
    }
    mk = malloc(n * sizeof *mk);
    extra = malloc((n + 1) * sizeof *extra);
    if (!need || !undecided || !mk || !extra) {
        free(need), free(undecided), free(mk), free(extra);
        return st_fail(c, "add", "(index markers)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    if (nn > 0 && !p->no_markers)
        rc = take_markers(c, p, ss, need, &nn, undecided, rep, mk);
    if (rc == TLSRPT_COUNTED)
        n_extra = rep_overshoot(p, rep, need, &nn, mk, extra, c->info);
    if (rc == TLSRPT_COUNTED && nn + n_extra > 0)
        rc = st_write_members(c, p, ss, need, nn, extra, n_extra);
    free(need), free(undecided), free(mk), free(extra);
    return rc;
}
