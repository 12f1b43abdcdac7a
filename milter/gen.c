/*
 * gen.c - configuration generations: load, install, reference counting
 * (see gen.h for the rules).
 *
 * Errors: tm_gen_load reports configuration errors as the reader does
 * ("FILE:LINE: message"), a store that cannot be created as
 * "FILE: memcached store: ..." and a DKIM library that cannot start (the key
 * file unreadable or malformed, no public suffix list) as
 * "FILE:LINE: DkimKeyFile: ..." (the key it is about). Out of memory is an
 * error like any other.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static tm_gen *g_current;           /* holds one reference */
static unsigned long g_next_id = 1;
static unsigned g_inflight;         /* references held by mails */
static tm_flight g_flights = { &g_flights, &g_flights, "" };   /* list head */

/* The DKIM library of a configuration; NULL with its one error line appended to err. */
static tlsrpt_auth_lib *auth_start(const tm_config *cfg, char *err, size_t errlen)
{
    char aerr[512] = "";
    tlsrpt_auth_conf ac;
    tm_config_auth_conf(cfg, &ac);
    tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&ac, aerr, sizeof aerr);
    if (!lib) {
        int key = tm_config_auth_key(cfg);
        tm_config_errorf(cfg, key, err, errlen, "%s: %s", tm_config_key_name(key), aerr);
    }
    return lib;
}

/* Read and check a file into a new generation with its own store. */
tm_gen *tm_gen_load(const char *path, char *err, size_t errlen, int *nerr)
{
    tm_gen *g = calloc(1, sizeof *g);
    *nerr = 1;
    if (!g || tm_config_init(&g->cfg) != 0) {
        snprintf(err, errlen, "%s: out of memory\n", path);
        free(g);
        return NULL;
    }
    if ((*nerr = tm_config_load(&g->cfg, path, err, errlen)) != 0) {
        tm_gen_discard(g);
        return NULL;
    }
    char serr[256];
    tlsrpt_store_conf sc;
    tm_config_store_conf(&g->cfg, TM_STORE_POOL, &sc);
    if (!(g->store = tlsrpt_store_new(&sc, serr, sizeof serr))) {
        snprintf(err, errlen, "%s: memcached store: %s\n", path, serr);
        *nerr = 1;
        tm_gen_discard(g);
        return NULL;
    }
    if (g->cfg.authentication == TM_AUTH_DKIM && !(g->auth = auth_start(&g->cfg, err, errlen))) {
        *nerr = 1;
        tm_gen_discard(g);
        return NULL;
    }
    return g;
}

/* Free a generation and all it owns. */
void tm_gen_discard(tm_gen *g)
{
    if (!g)
        return;
    tlsrpt_store_free(g->store);
    tlsrpt_auth_lib_free(g->auth);
    tm_config_free(&g->cfg);
    free(g);
}

/* Drop one reference under the lock; returns g when it must be freed (outside the lock). */
static tm_gen *unref_locked(tm_gen *g)
{
    return g && --g->refs == 0 ? g : NULL;
}

/* Make g current. */
void tm_gen_install(tm_gen *g)
{
    pthread_mutex_lock(&g_lock);
    g->id = g_next_id++;
    g->refs = 1;
    tm_gen *old = unref_locked(g_current);
    g_current = g;
    pthread_mutex_unlock(&g_lock);
    tm_gen_discard(old);
}

/* The current generation, referenced for a mail. */
tm_gen *tm_gen_acquire(tm_flight *f)
{
    pthread_mutex_lock(&g_lock);
    tm_gen *g = g_current;
    if (g) {
        g->refs++;
        g_inflight++;
        f->qid[0] = 0;
        f->next = &g_flights;
        f->prev = g_flights.prev;
        g_flights.prev->next = f;
        g_flights.prev = f;
    }
    pthread_mutex_unlock(&g_lock);
    return g;
}

/* A mail ends: unlink it, drop its reference. */
void tm_gen_release(tm_gen *g, tm_flight *f)
{
    if (!g)
        return;
    pthread_mutex_lock(&g_lock);
    g_inflight--;
    f->prev->next = f->next;
    f->next->prev = f->prev;
    f->prev = f->next = NULL;
    tm_gen *dead = unref_locked(g);
    pthread_mutex_unlock(&g_lock);
    tm_gen_discard(dead);
}

/* The current generation for a background thread. */
tm_gen *tm_gen_hold(void)
{
    pthread_mutex_lock(&g_lock);
    tm_gen *g = g_current;
    if (g)
        g->refs++;
    pthread_mutex_unlock(&g_lock);
    return g;
}

/* A background thread lets go of g. */
void tm_gen_drop(tm_gen *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g_lock);
    tm_gen *dead = unref_locked(g);
    pthread_mutex_unlock(&g_lock);
    tm_gen_discard(dead);
}

/* Remember a mail's queue id. */
void tm_gen_flight_qid(tm_flight *f, const char *qid)
{
    pthread_mutex_lock(&g_lock);
    if (f->next)
        snprintf(f->qid, sizeof f->qid, "%s", qid);
    pthread_mutex_unlock(&g_lock);
}

/* Visit every mail in flight. */
void tm_gen_each_inflight(void (*fn)(const char *qid, void *arg), void *arg)
{
    pthread_mutex_lock(&g_lock);
    for (tm_flight *f = g_flights.next; f != &g_flights; f = f->next)
        fn(f->qid, arg);
    pthread_mutex_unlock(&g_lock);
}

/* Mails in flight. */
unsigned tm_gen_inflight(void)
{
    pthread_mutex_lock(&g_lock);
    unsigned n = g_inflight;
    pthread_mutex_unlock(&g_lock);
    return n;
}
