/*
 * memc.c - build a configured memcached_st from the store configuration:
 * server list parsing/validation and the behaviours every user of key
 * schema v1 shares (binary protocol, consistent ketama hashing, timeouts),
 * so the milter, tlsrpt-parse --push and tlsrpt-stats map keys to the same
 * servers.
 *
 * Server list: entries "host", "host:port", "[ipv6]:port" or "/unix/socket",
 * separated by commas and/or white space; port defaults to 11211. At most
 * ST_MAX_SERVERS entries, each at most 255 bytes.
 * Errors: NULL with errbuf naming the bad entry or the libmemcached failure.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store_int.h"

#define ST_MAX_SERVERS 64
#define ST_DEFAULT_PORT 11211

/* Is every byte of a host name (or IPv4 literal) plausible? */
static int host_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return 0;
    return 1;
}

/* Split "host[:port]" / "[v6]:port" into host and port; 0 on success. */
static int split_entry(const char *e, char *host, size_t hostlen, unsigned *port,
                       const char **why)
{
    const char *hs = e, *he, *colon;
    *port = ST_DEFAULT_PORT;
    if (*e == '[') {
        hs = e + 1;
        he = strchr(hs, ']');
        if (!he) { *why = "missing ']'"; return -1; }
        colon = he[1] == ':' ? he + 1 : NULL;
        if (he[1] && !colon) { *why = "junk after ']'"; return -1; }
        for (const char *p = hs; p < he; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') { *why = "bad IPv6 address"; return -1; }
        if (he == hs) { *why = "empty host"; return -1; }
    } else {
        colon = strchr(e, ':');
        he = colon ? colon : e + strlen(e);
        if (colon && strchr(colon + 1, ':')) { *why = "IPv6 addresses need [brackets]"; return -1; }
        if (!host_ok(hs, (size_t)(he - hs))) { *why = "bad host name"; return -1; }
    }
    if ((size_t)(he - hs) >= hostlen) { *why = "host too long"; return -1; }
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    if (colon) {
        char *end;
        long v;
        if (!isdigit((unsigned char)colon[1])) { *why = "bad port"; return -1; }
        v = strtol(colon + 1, &end, 10);
        if (*end || v < 1 || v > 65535) { *why = "port must be 1-65535"; return -1; }
        *port = (unsigned)v;
    }
    return 0;
}

/* Add one server entry to mc; 0 or -1 with errbuf set. */
static int add_entry(memcached_st *mc, const char *e, char *errbuf, size_t errlen)
{
    char host[256];
    unsigned port;
    const char *why = "";
    memcached_return_t rc;
    if (e[0] == '/') {
        rc = memcached_server_add_unix_socket(mc, e);
    } else {
        if (split_entry(e, host, sizeof host, &port, &why) != 0) {
            snprintf(errbuf, errlen, "bad memcached server entry '%s': %s", e, why);
            return -1;
        }
        rc = memcached_server_add(mc, host, (in_port_t)port);
    }
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(errbuf, errlen, "bad memcached server entry '%s': %s", e,
                 memcached_strerror(mc, rc));
        return -1;
    }
    return 0;
}

/* Parse the server list into mc; 0 or -1 with errbuf set. */
static int add_servers(memcached_st *mc, const char *servers, char *errbuf, size_t errlen)
{
    char entry[256];
    int n = 0;
    const char *p = servers ? servers : "";
    while (*p) {
        size_t len = strcspn(p, ", \t\r\n");
        if (len == 0) { p++; continue; }
        if (len >= sizeof entry) {
            snprintf(errbuf, errlen, "bad memcached server entry '%.40s...': too long", p);
            return -1;
        }
        memcpy(entry, p, len);
        entry[len] = 0;
        if (++n > ST_MAX_SERVERS) {
            snprintf(errbuf, errlen, "too many memcached servers (max %d)", ST_MAX_SERVERS);
            return -1;
        }
        if (add_entry(mc, entry, errbuf, errlen) != 0)
            return -1;
        p += len;
    }
    if (n == 0) {
        snprintf(errbuf, errlen, "no memcached servers configured");
        return -1;
    }
    return 0;
}

/* A memcached_st with the shared behaviours and the parsed servers. */
memcached_st *st_memc_create(const char *servers, int timeout_ms, char *errbuf, size_t errlen)
{
    memcached_st *mc = memcached_create(NULL);
    int to = timeout_ms > 0 ? timeout_ms : 1000;
    if (!mc) {
        snprintf(errbuf, errlen, "out of memory creating memcached handle");
        return NULL;
    }
    if (memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                                  MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_HASH, MEMCACHED_HASH_MD5) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t)to) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t)to) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1) != MEMCACHED_SUCCESS
        || memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) != MEMCACHED_SUCCESS) {
        snprintf(errbuf, errlen, "cannot configure memcached handle: %s",
                 memcached_last_error_message(mc));
        memcached_free(mc);
        return NULL;
    }
    if (add_servers(mc, servers, errbuf, errlen) != 0) {
        memcached_free(mc);
        return NULL;
    }
    return mc;
}

/* memcached reads an expiry over 30 days as a unix time: convert. */
time_t st_expiry(long ttl)
{
    if (ttl <= 0)
        return 0;
    if (ttl > 2592000L)
        return time(NULL) + (time_t)ttl;
    return (time_t)ttl;
}

/* Connection-level failures: reconnecting once may help. */
int st_conn_error(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_ERRNO:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_PARTIAL_READ:
        return 1;
    default:
        return 0;
    }
}

/* For tlsrpt-stats: a memcached_st with the store's behaviours, checked reachable. */
void *tlsrpt_store_memc_new(const tlsrpt_store_conf *conf, char *errbuf, size_t errlen)
{
    memcached_st *mc;
    memcached_return_t rc;
    if (!conf) {
        snprintf(errbuf, errlen, "no store configuration");
        return NULL;
    }
    mc = st_memc_create(conf->servers, conf->timeout_ms, errbuf, errlen);
    if (!mc)
        return NULL;
    rc = memcached_version(mc);
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(errbuf, errlen, "cannot reach memcached (%s): %s", conf->servers,
                 memcached_last_error_message(mc));
        memcached_free(mc);
        return NULL;
    }
    return mc;
}

/* A connection of the pool, or NULL with errbuf (see store_int.h). */
memcached_st *st_pool_fetch(tlsrpt_store *st, char *errbuf, size_t errlen)
{
    struct timespec wait = { st->timeout_ms / 1000 + 1, 0 };
    memcached_return_t prc = MEMCACHED_SUCCESS;
    memcached_st *mc = memcached_pool_fetch(st->pool, &wait, &prc);
    if (!mc)
        snprintf(errbuf, errlen, "no free memcached connection in the pool: %s",
                 memcached_strerror(NULL, prc));
    return mc;
}
