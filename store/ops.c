/*
 * ops.c - the memcached primitives store/ is built on, each counting its
 * round trips into the call's info: store-type operations with a single
 * reconnect-and-retry on connection errors, a multi-get that feeds a
 * callback, and the error text for a failed operation.
 *
 * Limits: one retry per operation; an mget of at most ST_MAX_OPS keys.
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
    const char *detail = c->mc ? memcached_last_error_message(c->mc) : NULL;
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

/* Read every result of a started mget into cb; the fetch status. */
static memcached_return_t drain(memcached_st *mc, st_fetch_cb cb, void *arg)
{
    memcached_result_st res;
    memcached_return_t frc = MEMCACHED_SUCCESS;
    int stop = 0;
    if (!memcached_result_create(mc, &res))
        return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    while (memcached_fetch_result(mc, &res, &frc)) {
        if (!stop && cb(arg, memcached_result_key_value(&res), memcached_result_key_length(&res),
                        memcached_result_value(&res), memcached_result_length(&res)) != 0)
            stop = 1;
    }
    memcached_result_free(&res);
    if (frc == MEMCACHED_END || frc == MEMCACHED_NOTFOUND || frc == MEMCACHED_SUCCESS)
        return MEMCACHED_SUCCESS;
    return frc;
}

/* Multi-get keys (one round trip over all servers), optionally retried once. */
memcached_return_t st_mget(st_call *c, const char *const *keys, size_t n, int retry,
                           st_fetch_cb cb, void *arg)
{
    memcached_return_t rc = MEMCACHED_SUCCESS;
    size_t *lens;
    if (n == 0)
        return MEMCACHED_SUCCESS;
    lens = malloc(n * sizeof *lens);
    if (!lens)
        return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(keys[i]);
    for (int attempt = 0; attempt < 2; attempt++) {
        c->info->round_trips++;
        rc = memcached_mget(c->mc, keys, lens, n);
        if (rc == MEMCACHED_SUCCESS)
            rc = drain(c->mc, cb, arg);
        if (rc == MEMCACHED_SUCCESS || !retry || !st_conn_error(rc))
            break;
        memcached_quit(c->mc);
    }
    free(lens);
    return rc;
}
