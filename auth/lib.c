/*
 * lib.c - the process-wide tlsrpt_auth_lib and libopendkim's callbacks.
 *
 * One DKIM_LIB (dkim_init once) serves every thread: per-mail DKIM handles
 * are independent, and the one piece of shared mutable state libopendkim
 * has, its resolver, is never used because dkim_set_key_lookup routes every
 * key lookup to auth_key_lookup (file table or our own DNS client, state on
 * the stack of the calling thread). The lib's own counters are atomics.
 *
 * auth_prescreen (dkim_set_prescreen) runs inside dkim_eoh, before any key
 * lookup, and marks ignored (dkim_sig_ignore) every signature that cannot
 * count: already broken at parse time (x= expired, bad version...), d= not
 * aligned with From, l= present, rsa-sha1 (RFC 8301), or beyond the
 * TLSRPT_AUTH_MAX_ALIGNED aligned ones. Only the rest cost a lookup.
 * auth_key_lookup returns DKIM_CBSTAT_NOTFOUND for every failure (not found,
 * timeout, DNS error, unusable s=) and keeps the real reason per key name,
 * so a failing key neither stops the other signatures nor is asked twice.
 * Errors: lib_new fails (NULL, err) on a bad key file, nameserver list or
 * Reporters entry, or when libopendkim cannot start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth_int.h"

/* libopendkim prescreen: ignore every signature that cannot count (file comment). */
DKIM_CBSTAT auth_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    tlsrpt_auth *a = dkim_get_user_context(dkim);
    if (!a || a->sigs)
        return DKIM_CBSTAT_CONTINUE;
    int cap = nsigs < TLSRPT_AUTH_MAX_SIGS ? nsigs : TLSRPT_AUTH_MAX_SIGS;
    a->sigs = calloc((size_t)(cap > 0 ? cap : 1), sizeof *a->sigs);
    if (!a->sigs) {
        auth_fatal(a, "out of memory");
        return DKIM_CBSTAT_ERROR;
    }
    for (int i = 0; i < nsigs; i++) {
        DKIM_SIGINFO *si = sigs[i];
        if (a->nsigs == cap) {
            dkim_sig_ignore(si);
            continue;
        }
        struct auth_sig *s = &a->sigs[a->nsigs++];
        memset(s, 0, sizeof *s);
        s->si = si;
        const char *d = (const char *)dkim_sig_getdomain(si);
        auth_clean(s->domain, sizeof s->domain, d ? d : "");
        if (!d || tlsrpt_org_domain(d, s->org, sizeof s->org) != 0)
            s->org[0] = 0;
        int err = dkim_sig_geterror(si);
        int aligned = a->from_org[0] && s->org[0] && strcmp(s->org, a->from_org) == 0;
        dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
        (void)dkim_sig_getsignalg(si, &alg);
        s->ignored = 1;
        if (err != DKIM_SIGERROR_UNKNOWN && err != DKIM_SIGERROR_OK)
            auth_sig_fail(s, aligned ? ST_REFUSED : ST_UNREADABLE, "%s (d=%s)",
                          dkim_sig_geterrorstr(err), s->domain[0] ? s->domain : "?");
        else if (!aligned)
            auth_sig_fail(s, a->from_org[0] ? ST_UNALIGNED : ST_UNREADABLE,
                          "d=%s not aligned with From domain %s", s->domain[0] ? s->domain : "?",
                          a->from_domain[0] ? a->from_domain : "?");
        else if (dkim_sig_gettagvalue(si, 0, (u_char *)"l") != NULL)
            auth_sig_fail(s, ST_REFUSED, "l= present (d=%s)", s->domain);
        else if (alg == DKIM_SIGN_RSASHA1)
            auth_sig_fail(s, ST_REFUSED, "rsa-sha1 refused, RFC 8301 (d=%s)", s->domain);
        else if (a->naligned >= TLSRPT_AUTH_MAX_ALIGNED)
            auth_sig_fail(s, ST_REFUSED, "more than %d aligned signatures (d=%s)",
                          TLSRPT_AUTH_MAX_ALIGNED, s->domain);
        else
            s->ignored = 0, a->naligned++;
        if (s->ignored)
            dkim_sig_ignore(si);
    }
    return DKIM_CBSTAT_CONTINUE;
}

/* libopendkim key lookup: the key record of sig into buf (file comment). */
DKIM_CBSTAT auth_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    tlsrpt_auth *a = dkim_get_user_context(dkim);
    const char *sel = (const char *)dkim_sig_getselector(sig);
    const char *dom = (const char *)dkim_sig_getdomain(sig);
    if (!a || !sel || !dom)
        return DKIM_CBSTAT_NOTFOUND;
    struct auth_keyinfo *k = auth_key_find(a, sel, dom);
    if (k && k->res != KEY_OK)
        return DKIM_CBSTAT_NOTFOUND;        /* failed before: same answer, no new lookup */
    if (!k) {
        if (a->nkeys == TLSRPT_AUTH_MAX_ALIGNED)
            return DKIM_CBSTAT_NOTFOUND;
        k = &a->keys[a->nkeys];
        char raw[sizeof k->name];
        int n = snprintf(raw, sizeof raw, "%s._domainkey.%s", sel, dom);
        if (n < 0 || (size_t)n >= sizeof raw ||
            auth_domain_norm(raw, (size_t)n, k->name, sizeof k->name) != 0)
            return DKIM_CBSTAT_NOTFOUND;
        a->nkeys++;
    }
    char rec[4096];
    k->res = auth_key_fetch(a, k->name, rec, sizeof rec, k->why, sizeof k->why);
    if (k->res != KEY_OK)
        return DKIM_CBSTAT_NOTFOUND;
    int rc = auth_key_record_check(rec, a->lib->require_tlsrpt, (char *)buf, buflen,
                                   k->why, sizeof k->why);
    if (rc == 1)
        return DKIM_CBSTAT_CONTINUE;
    k->res = rc == 0 ? KEY_UNUSABLE : KEY_ERROR;
    if (rc < 0)
        snprintf(k->why, sizeof k->why, "key record too long");
    return DKIM_CBSTAT_NOTFOUND;
}

/* Normalised copies of the Reporters list; 0 or -1 with err. */
static int reporters_set(tlsrpt_auth_lib *lib, const tlsrpt_auth_conf *conf, char *err,
                         size_t errlen)
{
    if (!conf->reporters || conf->n_reporters == 0)
        return 0;
    lib->reporters = calloc(conf->n_reporters, sizeof *lib->reporters);
    if (!lib->reporters) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < conf->n_reporters; i++) {
        const char *r = conf->reporters[i];
        char norm[AUTH_DOMAIN_MAX], org[AUTH_DOMAIN_MAX];
        if (!r || auth_domain_norm(r, strlen(r), norm, sizeof norm) != 0 ||
            tlsrpt_org_domain(norm, org, sizeof org) != 0) {
            snprintf(err, errlen, "Reporters: '%.100s' is not a domain with an organisational "
                     "domain", r ? r : "");
            return -1;
        }
        if (strcmp(norm, org) != 0) {
            snprintf(err, errlen, "Reporters: '%.100s' is not an organisational domain (use '%s')",
                     r, org);
            return -1;
        }
        if (!(lib->reporters[lib->nreporters++] = strdup(org))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Start libopendkim with our callbacks; 0 or -1 with err. */
static int dkim_start(tlsrpt_auth_lib *lib, char *err, size_t errlen)
{
    lib->dkim = dkim_init(NULL, NULL);
    if (!lib->dkim) {
        snprintf(err, errlen, "dkim_init failed");
        return -1;
    }
    unsigned int minbits = 1024;                /* Microsoft signs with 1024-bit keys */
    if (dkim_options(lib->dkim, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits,
                     sizeof minbits) != DKIM_STAT_OK ||
        dkim_set_prescreen(lib->dkim, auth_prescreen) != DKIM_STAT_OK ||
        dkim_set_key_lookup(lib->dkim, auth_key_lookup) != DKIM_STAT_OK) {
        snprintf(err, errlen, "libopendkim refused its options");
        return -1;
    }
    return 0;
}

/* Process-wide state (auth.h). */
tlsrpt_auth_lib *tlsrpt_auth_lib_new(const tlsrpt_auth_conf *conf, char *err, size_t errlen)
{
    static const tlsrpt_auth_conf defaults;
    char dummy[8];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    if (!conf)
        conf = &defaults;
    tlsrpt_auth_lib *lib = auth_pubkey_linked ? calloc(1, sizeof *lib) : NULL;
    if (!lib) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lib->timeout_ms = (conf->timeout_s > 0 ? conf->timeout_s : TLSRPT_AUTH_DEFAULT_TIMEOUT) * 1000;
    lib->require_tlsrpt = conf->require_tlsrpt_service != 0;
    if (conf->key_file) {
        if (auth_keyfile_load(lib, conf->key_file, err, errlen) < 0)
            goto fail;
    } else if ((lib->nns = auth_dns_parse_servers(conf->nameservers, lib->ns, AUTH_MAX_NS,
                                                  err, errlen)) < 0) {
        goto fail;
    }
    char org[16];
    if (tlsrpt_org_domain("www.example.com", org, sizeof org) != 0) {
        snprintf(err, errlen, "no public suffix list (libpsl: install the publicsuffix package)");
        goto fail;
    }
    if (reporters_set(lib, conf, err, errlen) < 0 || dkim_start(lib, err, errlen) < 0)
        goto fail;
    return lib;
fail:
    tlsrpt_auth_lib_free(lib);
    return NULL;
}

/* Free the lib. */
void tlsrpt_auth_lib_free(tlsrpt_auth_lib *lib)
{
    if (!lib)
        return;
    if (lib->dkim)
        dkim_close(lib->dkim);
    auth_keyfile_free(lib);
    for (size_t i = 0; i < lib->nreporters; i++)
        free(lib->reporters[i]);
    free(lib->reporters);
    free(lib);
}

/* Copy the lib's counters. */
void tlsrpt_auth_lib_stats(tlsrpt_auth_lib *lib, tlsrpt_auth_stats *st)
{
    st->mails = atomic_load(&lib->st_mails);
    st->authentic = atomic_load(&lib->st_authentic);
    st->lookups = atomic_load(&lib->st_lookups);
    st->dns_timeouts = atomic_load(&lib->st_timeouts);
}
