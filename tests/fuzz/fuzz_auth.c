/*
 * fuzz_auth.c - libFuzzer target for the DKIM path (auth/ over libopendkim):
 * the raw-message splitter, header handling, From and contact-info parsing,
 * the prescreen, key records, the verdict. The decoder keeps its own target
 * (fuzz_decoder.c).
 * Input: one selector byte, then a mail. Selector bit 0: header values
 * stripped of their leading blank (TLSRPT_AUTH_HDR_STRIPPED); bit 1: header
 * by header the libmilter way instead of tlsrpt_auth_feed; bits 2-7: chunk
 * size - 1 (x 37 for the milter way's body). Keys: the key file named by
 * TLSRPT_FUZZ_KEYS (tests/fuzz/run-fuzz-auth.sh makes one with signed seeds
 * at run time), else none at all (every key "not found"). Never DNS.
 * Each run also judges one report with a contact-info taken from the input
 * and asks tlsrpt_org_domain about it. A verdict string that is not printable
 * ASCII without '"' and '\' aborts (the module promises log-safe strings).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"

static tlsrpt_auth_lib *lib;

/* Start the lib once, on the key file of TLSRPT_FUZZ_KEYS or an empty one. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char empty[] = "/tmp/fuzz-auth-keys.XXXXXX";
    const char *kf = getenv("TLSRPT_FUZZ_KEYS");
    if (!kf || !*kf) {
        int fd = mkstemp(empty);
        if (fd < 0)
            abort();
        close(fd);
        kf = empty;
    }
    char err[256];
    tlsrpt_auth_conf c = { .key_file = kf };
    lib = tlsrpt_auth_lib_new(&c, err, sizeof err);
    if (kf == empty)
        unlink(empty);
    if (!lib) {
        fprintf(stderr, "fuzz_auth: %s\n", err);
        abort();
    }
    return 0;
}

/* Abort unless s is printable ASCII without '"' and '\'. */
static void check_clean(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            abort();
}

/* Give the headers of m the libmilter way; returns where the body starts. */
static size_t milter_headers(tlsrpt_auth *a, const char *m, size_t n)
{
    char *name = malloc(n + 1), *val = malloc(n + 1);
    size_t p = 0, nl = 0, vl = 0;
    int have = 0;
    while (p < n) {
        size_t e = p;
        while (e < n && m[e] != '\n')
            e++;
        size_t ll = e - p;
        if (ll > 0 && m[p + ll - 1] == '\r')
            ll--;
        int cont = ll > 0 && (m[p] == ' ' || m[p] == '\t');
        if (have && !cont) {
            name[nl] = 0, val[vl] = 0;
            tlsrpt_auth_header(a, name, val);
            have = 0;
        }
        if (ll == 0) {
            p = e < n ? e + 1 : e;
            break;
        }
        if (cont && have) {
            val[vl++] = '\n';
            memcpy(val + vl, m + p, ll), vl += ll;
        } else if (!cont) {
            const char *c = memchr(m + p, ':', ll);
            if (c) {
                nl = (size_t)(c - (m + p));
                memcpy(name, m + p, nl);
                vl = ll - nl - 1;
                memcpy(val, c + 1, vl);
                have = 1;
            }
        }
        p = e < n ? e + 1 : e;
    }
    if (have) {
        name[nl] = 0, val[vl] = 0;
        tlsrpt_auth_header(a, name, val);
    }
    free(name);
    free(val);
    return p;
}

/* One input: a selector byte and a mail, verified and judged (file comment). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *m = (const char *)data + 1;
    size_t n = size - 1, chunk = (sel >> 2) + 1;
    tlsrpt_auth *a = tlsrpt_auth_new(lib, "fuzz", sel & 1 ? TLSRPT_AUTH_HDR_STRIPPED : 0);
    if (!a)
        return 0;
    if (sel & 2) {
        size_t b = milter_headers(a, m, n);
        tlsrpt_auth_eoh(a);
        for (chunk *= 37; b < n; b += chunk)
            tlsrpt_auth_body(a, m + b, n - b < chunk ? n - b : chunk);
    } else {
        for (size_t off = 0; off < n; off += chunk)
            tlsrpt_auth_feed(a, m + off, n - off < chunk ? n - off : chunk);
    }
    tlsrpt_auth_finish(a);
    char contact[64];
    size_t cl = n < sizeof contact - 1 ? n : sizeof contact - 1;
    memcpy(contact, m + (n - cl), cl);
    contact[cl] = 0;
    tlsrpt_verdict v;
    tlsrpt_auth_judge(a, contact, NULL, &v);
    check_clean(v.reason), check_clean(v.detail), check_clean(v.signer);
    check_clean(v.signer_org), check_clean(v.from_domain), check_clean(v.submitter);
    tlsrpt_auth_judge(a, NULL, contact, &v);
    check_clean(v.submitter);
    tlsrpt_auth_free(a);
    char org[256];
    if (tlsrpt_org_domain(contact, org, sizeof org) == 0)
        check_clean(org);
    return 0;
}
