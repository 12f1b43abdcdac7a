/*
 * ops.c - the memcached primitives store/ is built on, each counting its
 * round trips into the call's info: store-type operations with a single
 * reconnect-and-retry on connection errors, and the error text for a
 * failed operation.
 *
 * tlsrpt_store_parse_count reads a counter value the way memcached may hold
 * it (right-padded with spaces after an incr that got shorter).
 * Limits: one retry per operation.
 * Errors: returned as memcached_return_t; st_fail turns one into errbuf text
 * naming the operation, the key and libmemcached's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

/* Fill errbuf with what failed and return TLSRPT_STORE_FAILED. */
int st_fail(st_call *c, const char *op, const char *key, memcached_return_t rc)
{
    const char *detail = c->mc && memcached_last_error(c->mc) != MEMCACHED_SUCCESS
                             ? memcached_last_error_message(c->mc) : NULL;
    if (c->errbuf && c->errlen)
        snprintf(c->errbuf, c->errlen, "memcached %s %s failed: %s%s%s%s",
                 op, key ? key : "", memcached_strerror(c->mc, rc),
                 detail && *detail ? " (" : "", detail && *detail ? detail : "",
                 detail && *detail ? ")" : "");
    snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
    return TLSRPT_STORE_FAILED;
}

/* Run one store-type operation once. */
static memcached_return_t run_op(memcached_st *mc, char op, const char *key, const char *val,
                                 size_t vlen, time_t exp)
{
    size_t klen = strlen(key);
    switch (op) {
    case 'a':
        return memcached_add(mc, key, klen, val, vlen, exp, 0);
    case 'p':
        return memcached_append(mc, key, klen, val, vlen, exp, 0);
    case 't':
        return memcached_touch(mc, key, klen, exp);
    case 'd':
        return memcached_delete(mc, key, klen, 0);
    default:
        return MEMCACHED_INVALID_ARGUMENTS;
    }
}

/* add / append / touch / delete with one reconnect+retry on a connection error. */
memcached_return_t st_store_op(st_call *c, char op, const char *key, const char *val,
                               size_t vlen, time_t exp)
{
    memcached_return_t rc = MEMCACHED_SUCCESS;
    for (int attempt = 0; attempt < 2; attempt++) {
        c->info->round_trips++;
        rc = run_op(c->mc, op, key, val, vlen, exp);
        if (!st_conn_error(rc) || op == 'p')
            break;
        memcached_quit(c->mc);
    }
    return rc;
}

/* A counter value: digits, then only spaces / CR / LF; saturates at 2^63-1. */
int tlsrpt_store_parse_count(const char *v, size_t len, int64_t *out)
{
    uint64_t n = 0;
    size_t i = 0;
    int sat = 0;
    while (i < len && v[i] == ' ')
        i++;
    if (i == len || v[i] < '0' || v[i] > '9')
        return -1;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (n > ((uint64_t)INT64_MAX - d) / 10)
            sat = 1;
        else
            n = n * 10 + d;
    }
    for (; i < len; i++)
        if (v[i] != ' ' && v[i] != '\r' && v[i] != '\n' && v[i] != 0)
            return -1;
    *out = sat ? INT64_MAX : (int64_t)n;
    return 0;
}
