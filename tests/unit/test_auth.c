/*
 * test_auth.c - unit tests of auth/, the DKIM verdict on report mails, with
 * real signatures: keys and mails are made at test time by
 * tests/lib/dkim-fixtures.py (python3-dkim, openssl; SKIP without them), the
 * shared corpus's real reports re-signed with a test key (SKIP when absent).
 * Every manifest case is verified three ways (raw feed; header by header with
 * and without the leading blank), the chunkings (1, 7, 64, 4096 bytes, and a
 * small mail split at every byte) must all give the same verdict, and the
 * bounds (thousands of signatures, huge headers) hold. Also the pieces:
 * organisational domains, address parsing, s= checks, config errors.
 * DNS, timeouts and threads are in test_auth_dns.c. Prints one INFO timing
 * line (per-mail cost), never asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "tlib.h"
#include "tlib_dkim.h"
#include "auth_int.h"

/* ---------- pieces ---------- */

/* One tlsrpt_org_domain case. */
static void org_case(const char *in, int want_rc, const char *want)
{
    char out[256], name[160];
    int rc = tlsrpt_org_domain(in, out, sizeof out);
    snprintf(name, sizeof name, "org domain of '%s' is %s", in, want ? want : "none");
    T_CHECK(rc == want_rc && (!want || strcmp(out, want) == 0), name);
}

/* Organisational domains (libpsl and Debian's list). */
static void test_orgdomain(void)
{
    org_case("google.com", 0, "google.com");
    org_case("noreply.smtp.google.com", 0, "google.com");
    org_case("Microsoft.COM.", 0, "microsoft.com");
    org_case("mail.ru", 0, "mail.ru");
    org_case("x.y.mail.ru", 0, "mail.ru");
    org_case("a.b.example.co.uk", 0, "example.co.uk");
    org_case("mail.sender.example.com", 0, "example.com");
    org_case("reporter.example", 0, "reporter.example");
    org_case("co.uk", -2, NULL);
    org_case("com", -2, NULL);
    org_case("bad domain.com", -1, NULL);
    org_case("a..b.com", -1, NULL);
    org_case("xn--mller-kva.de", 0, "xn--mller-kva.de");
    org_case("m\xc3\xbcller.de", -1, NULL);
    org_case("", -1, NULL);
    char small[6];
    T_CHECK(tlsrpt_org_domain("google.com", small, sizeof small) == -3, "org domain: small buffer -3");
}

/* One From value: want count (or -1) and the first domain. */
static void addr_case(const char *v, int want, const char *dom)
{
    char d[256], name[200];
    int n = auth_addr_list(v, d, sizeof d);
    snprintf(name, sizeof name, "From '%s': %d address(es)%s%s", v, want, dom ? " at " : "",
             dom ? dom : "");
    T_CHECK(n == want && (!dom || strcmp(d, dom) == 0), name);
}

/* From and contact-info parsing, log-safe strings. */
static void test_addr(void)
{
    addr_case(" noreply-smtp-tls-reporting@google.com", 1, "google.com");
    addr_case(" <tlsrpt-noreply@microsoft.com>", 1, "microsoft.com");
    addr_case(" \"Reporter, Inc. <x@evil.example>\" <a@Reporter.Example>", 1, "reporter.example");
    addr_case(" a@b.example (comment with @ and <x@y>)", 1, "b.example");
    addr_case(" a@b.example, c@d.example", 2, "b.example");
    addr_case(" group: a@b.example, c@d.example;", 2, "b.example");
    addr_case(" undisclosed:;", 0, NULL);
    addr_case(" \"a@evil.example\"@good.example", 1, "good.example");
    addr_case(" <a@b.example", -1, NULL);
    addr_case(" \"unterminated@x.example", -1, NULL);
    addr_case(" nobody", -1, NULL);
    addr_case(" a@[192.0.2.1]", -1, NULL);
    addr_case("", 0, NULL);
    char d[256];
    T_CHECK(auth_contact_domain("mailto:tls@Mail.Google.com?subject=x", d, sizeof d) == 1 &&
            strcmp(d, "mail.google.com") == 0, "contact mailto: with query");
    T_CHECK(auth_contact_domain("https://a@evil.example/x", d, sizeof d) == 0,
            "contact https URI is not an address");
    T_CHECK(auth_contact_domain("Team <t@x.example>", d, sizeof d) == 1 &&
            strcmp(d, "x.example") == 0, "contact with display name");
    T_CHECK(auth_contact_domain("t@", d, sizeof d) == -1, "contact without domain is unreadable");
    T_CHECK(auth_contact_domain("no address", d, sizeof d) == 0, "contact that is a name");
    char out[16];
    auth_clean(out, sizeof out, "a\"b\\c\x01\xc3\xa9" "defghijkl");
    T_STREQ(out, "a?b?c???defghij", "auth_clean replaces and truncates");
}

/* One key record s= check. */
static void key_case(const char *rec, int req, int want, const char *want_out)
{
    char out[256], why[160], name[200];
    int rc = auth_key_record_check(rec, req, out, sizeof out, why, sizeof why);
    snprintf(name, sizeof name, "key '%s'%s: %s", rec, req ? " (require tlsrpt)" : "",
             want ? "usable" : "refused");
    T_CHECK(rc == want && (!want_out || strcmp(out, want_out) == 0), name);
}

/* Service types and the record handed to libopendkim. */
static void test_key_record(void)
{
    key_case("v=DKIM1; k=rsa; p=AB", 0, 1, "v=DKIM1; k=rsa; p=AB");
    key_case("v=DKIM1; s=email; p=AB", 0, 1, "v=DKIM1; s=email; p=AB");
    key_case("v=DKIM1; s=*; p=AB", 0, 1, NULL);
    key_case("v=DKIM1; s = tlsrpt ; p=AB", 0, 1, "v=DKIM1; p=AB");
    key_case("v=DKIM1; s=other:TLSRPT; p=AB", 0, 1, "v=DKIM1; p=AB");
    key_case("v=DKIM1; p=AB; s=tlsrpt", 0, 1, "v=DKIM1; p=AB;");
    key_case("v=DKIM1; s=other; p=AB", 0, 0, NULL);
    key_case("v=DKIM1; p=AB", 1, 0, NULL);
    key_case("v=DKIM1; s=email; p=AB", 1, 0, NULL);
    key_case("v=DKIM1; s=email:tlsrpt; p=AB", 1, 1, "v=DKIM1; s=email:tlsrpt; p=AB");
    key_case("v=DKIM1; s=*; p=AB", 1, 1, NULL);
}

/* Configuration errors name what is wrong. */
static void test_lib_errors(const char *dir)
{
    char err[256], path[300];
    tlsrpt_auth_conf c = { .key_file = "/nonexistent/keys" };
    T_CHECK(!tlsrpt_auth_lib_new(&c, err, sizeof err) && strstr(err, "/nonexistent/keys"),
            "missing key file: error names it");
    snprintf(path, sizeof path, "%s/bad-keys.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("# comment\n\nsel._domainkey.x.example v=DKIM1; p=AB\nnorecord._domainkey.x.example\n", f);
    fclose(f);
    c.key_file = path;
    T_CHECK(!tlsrpt_auth_lib_new(&c, err, sizeof err) && strstr(err, "bad-keys.txt:4"),
            "key file line without record: error names file:line");
    tlsrpt_auth_conf d = { .nameservers = "127.0.0.1:53, [::1]:5353 192.0.2.1" };
    tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&d, err, sizeof err);
    T_CHECK(lib && lib->nns == 3, "three nameservers parsed");
    tlsrpt_auth_lib_free(lib);
    d.nameservers = "127.0.0.1:99999";
    T_CHECK(!tlsrpt_auth_lib_new(&d, err, sizeof err) && strstr(err, "127.0.0.1:99999"),
            "bad nameserver port: error names it");
    static const char *const bad[] = { "mail.google.com" };
    tlsrpt_auth_conf e = { .reporters = bad, .n_reporters = 1 };
    T_CHECK(!tlsrpt_auth_lib_new(&e, err, sizeof err) && strstr(err, "use 'google.com'"),
            "Reporters entry not an organisational domain: error suggests it");
    static const char *const ps[] = { "co.uk" };
    e.reporters = ps;
    T_CHECK(!tlsrpt_auth_lib_new(&e, err, sizeof err) && strstr(err, "co.uk"),
            "Reporters entry that is a public suffix refused");
}

/* auth/pubkey.c's d2i_PUBKEY_bio gives the key libcrypto's gives, or falls back. */
static void test_pubkey(void)
{
    EVP_PKEY *(*real)(BIO *, EVP_PKEY **) =
        (EVP_PKEY * (*)(BIO *, EVP_PKEY **)) dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
    EVP_PKEY *k = EVP_RSA_gen(1024), *e = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char *der = NULL, *eder = NULL;
    int len = i2d_PUBKEY(k, &der), elen = i2d_PUBKEY(e, &eder);
    BIO *b1 = BIO_new_mem_buf(der, len), *b2 = BIO_new_mem_buf(der, len);
    EVP_PKEY *ours = d2i_PUBKEY_bio(b1, NULL), *theirs = real ? real(b2, NULL) : NULL;
    T_CHECK(ours && theirs && (void *)real != (void *)d2i_PUBKEY_bio &&
            EVP_PKEY_eq(ours, theirs) == 1 && EVP_PKEY_eq(ours, k) == 1 &&
            BIO_pending(b1) == 0 && BIO_pending(b2) == 0,
            "fast d2i_PUBKEY_bio: the same RSA key as libcrypto's, BIO consumed");
    EVP_PKEY_free(ours);
    BIO_free(b1);
    b1 = BIO_new_mem_buf(eder, elen);
    ours = d2i_PUBKEY_bio(b1, NULL);
    T_CHECK(ours && EVP_PKEY_eq(ours, e) == 1, "fast d2i_PUBKEY_bio: ed25519 falls back to libcrypto");
    EVP_PKEY_free(ours);
    BIO_free(b1);
    der[len / 2] ^= 0x55;
    b1 = BIO_new_mem_buf(der, len);
    ours = d2i_PUBKEY_bio(b1, NULL);
    T_CHECK(!ours || EVP_PKEY_eq(ours, k) != 1, "fast d2i_PUBKEY_bio: a corrupt key is not the key");
    EVP_PKEY_free(ours);
    BIO_free(b1);
    BIO_free(b2);
    EVP_PKEY_free(theirs);
    EVP_PKEY_free(k);
    EVP_PKEY_free(e);
    OPENSSL_free(der);
    OPENSSL_free(eder);
}

/* ---------- real signatures ---------- */

/* Every manifest case, three ways. */
static void test_cases(void)
{
    const struct tdk_case *cs;
    int n = tdk_cases(&cs);
    tlsrpt_auth_lib *libs[3] = { tdk_lib("default"), tdk_lib("tlsrpt"), tdk_lib("reporters") };
    int corpus = 0;
    for (int i = 0; i < n; i++) {
        const struct tdk_case *c = &cs[i];
        tlsrpt_auth_lib *lib = strcmp(c->conf, "tlsrpt") == 0      ? libs[1]
                               : strcmp(c->conf, "reporters") == 0 ? libs[2] : libs[0];
        size_t len;
        char *m = tdk_load(c->name, &len), why[400], name[800];
        tlsrpt_verdict v;
        corpus += strncmp(c->name, "corpus_", 7) == 0;
        static const char *const way[3] = { "raw feed", "milter LEADSPC", "milter stripped" };
        for (int w = 0; w < 3; w++) {
            if (w == 0)
                tdk_verify_feed(lib, m, len, 0, c->contact, &v);
            else
                tdk_verify_milter(lib, m, len, 0, w == 2 ? TLSRPT_AUTH_HDR_STRIPPED : 0,
                                  c->contact, &v);
            int ok = m && tdk_matches(c, &v, why, sizeof why);
            snprintf(name, sizeof name, "%s (%s): %s%s%s", c->name, way[w],
                     c->expect ? "authentic" : "refused", ok ? "" : ": ", ok ? "" : why);
            T_CHECK(ok, name);
        }
        free(m);
    }
    if (!tlib_corpus_dir())
        T_SKIP("re-signed corpus mails", "corpus absent");
    else
        T_CHECK(corpus >= 5, "corpus mails re-signed and verified");
    for (int i = 0; i < 3; i++)
        tlsrpt_auth_lib_free(libs[i]);
}

/* Identity and verdict fields of the Google-shaped mail. */
static void test_identity(tlsrpt_auth_lib *lib)
{
    size_t len, len2;
    char *m = tdk_load("signed_google", &len);
    tlsrpt_verdict v;
    tdk_verify_feed(lib, m, len, 0, "smtp-tls-reporting@google.com", &v);
    T_CHECK(v.authentic && strcmp(v.signer, "google.com") == 0 &&
            strcmp(v.signer_org, "google.com") == 0 &&
            strcmp(v.from_domain, "google.com") == 0 && strcmp(v.submitter, "google.com") == 0 &&
            !v.submitter_disagrees && v.signatures == 1, "google: identity is the signer google.com");
    char *ss = tdk_load("canon_simple_simple", &len2);
    tdk_verify_milter(lib, ss, len2, 0, TDK_STRIP_UNTOLD, NULL, &v);
    T_CHECK(!v.authentic && strstr(v.detail, "did not verify"),
            "simple header canonicalisation: values stripped but flag not given -> no pass");
    tdk_verify_milter(lib, ss, len2, 0, TLSRPT_AUTH_HDR_STRIPPED, NULL, &v);
    T_CHECK(v.authentic, "simple header canonicalisation: values stripped, TLSRPT_AUTH_HDR_STRIPPED -> pass");
    free(ss);
    tlsrpt_auth *a = tlsrpt_auth_new(lib, "q1", 0);
    tlsrpt_auth_feed(a, m, len);
    T_CHECK(tlsrpt_auth_finish(a) == 1 && tlsrpt_auth_finish(a) == 1, "finish is idempotent");
    tlsrpt_auth_judge(a, "smtp-tls-reporting@google.com", "Example Org \x01\xff\"", &v);
    T_CHECK(v.authentic && v.submitter_disagrees && strcmp(v.submitter, "Example Org ???") == 0,
            "submitter given by the caller: disagreement flagged, string made log-safe");
    tlsrpt_auth_judge(a, "tlsrpt@evil.example", NULL, &v);
    T_CHECK(!v.authentic && strcmp(v.reason, "unauthenticated") == 0 && v.signer_org[0],
            "second report of the same mail judged on its own contact-info");
    tlsrpt_auth_free(a);
    m = realloc(m, len + 1);
    tlsrpt_auth_stats st;
    tlsrpt_auth_lib_stats(lib, &st);
    T_CHECK(st.mails >= 2 && st.authentic >= 2 && st.lookups >= 2, "lib counters move");
    free(m);
}

/* The same verdict for every chunking, both ways, CRLF and LF. */
static void chunk_case(tlsrpt_auth_lib *lib, const char *case_name)
{
    const struct tdk_case *c = tdk_case_get(case_name);
    size_t len;
    char *m = tdk_load(case_name, &len), why[400], name[800];
    if (!c || !m) {
        T_CHECK(0, case_name);
        return;
    }
    static const size_t sizes[] = { 1, 7, 64, 4096 };
    int bad = 0;
    tlsrpt_verdict v;
    for (size_t i = 0; i < 4 && !bad; i++) {
        tdk_verify_feed(lib, m, len, sizes[i], c->contact, &v);
        bad = !tdk_matches(c, &v, why, sizeof why);
        if (!bad) {
            tdk_verify_milter(lib, m, len, sizes[i], 0, c->contact, &v);
            bad = !tdk_matches(c, &v, why, sizeof why);
        }
        if (bad)
            snprintf(name, sizeof name, "%s: chunks of %zu: %s", case_name, sizes[i], why);
    }
    if (!bad)
        snprintf(name, sizeof name, "%s: same verdict in chunks of 1, 7, 64, 4096, feed and milter",
                 case_name);
    T_CHECK(!bad, name);
    char *lf = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!(m[i] == '\r' && i + 1 < len && m[i + 1] == '\n'))
            lf[n++] = m[i];
    tdk_verify_feed(lib, lf, n, 5, c->contact, &v);
    snprintf(name, sizeof name, "%s: LF line endings give the same verdict", case_name);
    T_CHECK(tdk_matches(c, &v, why, sizeof why), name);
    free(lf);
    free(m);
}

/* A small mail split at every byte. */
static void test_every_split(tlsrpt_auth_lib *lib)
{
    const struct tdk_case *c = tdk_case_get("small");
    size_t len;
    char *m = tdk_load("small", &len), why[400] = "", name[800];
    int bad = -1;
    tlsrpt_verdict v;
    for (size_t cut = 0; m && cut <= len && bad < 0; cut++) {
        tlsrpt_auth *a = tlsrpt_auth_new(lib, "split", 0);
        tlsrpt_auth_feed(a, m, cut);
        tlsrpt_auth_feed(a, m + cut, len - cut);
        tlsrpt_auth_judge(a, c->contact, NULL, &v);
        tlsrpt_auth_free(a);
        if (!tdk_matches(c, &v, why, sizeof why))
            bad = (int)cut;
    }
    snprintf(name, sizeof name, "small mail (%zu bytes) split at every byte: same verdict%s%s",
             len, bad >= 0 ? ": " : "", bad >= 0 ? why : "");
    T_CHECK(m && bad < 0, name);
    free(m);
}

/* Hostile sizes: thousands of signatures, huge headers. */
static void test_bounds(tlsrpt_auth_lib *lib)
{
    size_t len;
    char *m = tdk_load("signed_google", &len);
    tlsrpt_verdict v;
    /* 3000 syntactically fine aligned signatures before the valid one */
    size_t cap = len + 3000 * 200 + 1, n = 0;
    char *big = malloc(cap);
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(big + n, cap - n, "DKIM-Signature: v=1; a=rsa-sha256; d=google.com; "
                              "s=s%d; h=from; bh=AAAA; b=AAAA\r\n", i);
    memcpy(big + n, m, len);
    tlsrpt_auth *a = tlsrpt_auth_new(lib, "many", 0);
    tlsrpt_auth_feed(a, big, n + len);
    tlsrpt_auth_judge(a, NULL, NULL, &v);
    T_CHECK(!v.authentic && v.signatures == 3001 && v.lookups <= TLSRPT_AUTH_MAX_ALIGNED,
            "3000 signatures: at most 16 lookups, the valid one beyond the cap not verified");
    tlsrpt_auth_free(a);
    /* one 200 KB DKIM-Signature before the valid one: skipped, the valid one counts */
    n = (size_t)snprintf(big, cap, "DKIM-Signature: v=1; a=rsa-sha256; d=google.com; s=x; h=from; z=");
    memset(big + n, 'A', 200000);
    n += 200000;
    memcpy(big + n, "\r\n", 2);
    memcpy(big + n + 2, m, len);
    tdk_verify_milter(lib, big, n + 2 + len, 4096, 0, NULL, &v);
    T_CHECK(v.authentic, "200 KB DKIM-Signature skipped, the valid one still counts (milter way)");
    tdk_verify_feed(lib, big, n + 2 + len, 4096, NULL, &v);
    T_CHECK(!v.authentic && strstr(v.detail, "header too long"),
            "raw feed: a 200 KB header is refused (header too long)");
    /* 2 MB of headers in 20 KB pieces */
    free(big);
    cap = 2200000 + len;
    big = malloc(cap);
    n = 0;
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(big + n, cap - n, "X-Filler-%d: ", i);
        memset(big + n, 'x', 20000);
        n += 20000;
        memcpy(big + n, "\r\n", 2), n += 2;
    }
    memcpy(big + n, m, len);
    tdk_verify_milter(lib, big, n + len, 65536, 0, NULL, &v);
    T_CHECK(!v.authentic && strstr(v.detail, "headers too large"), "2 MB of headers: refused");
    free(big);
    /* 8 MB appended to the body, streamed: blanks only (relaxed body canonicalisation
     * drops trailing whitespace: still authentic), then text lines (body hash mismatch) */
    big = malloc(8 << 20);
    for (int pass = 0; pass < 2; pass++) {
        memset(big, pass ? 'a' : ' ', 8 << 20);
        for (size_t i = 998; pass && i + 1 < (8u << 20); i += 1000)
            big[i] = '\r', big[i + 1] = '\n';
        a = tlsrpt_auth_new(lib, "body", 0);
        tlsrpt_auth_feed(a, m, len);
        for (int i = 0; i < 8; i++)
            tlsrpt_auth_feed(a, big + ((size_t)i << 20), 1 << 20);
        tlsrpt_auth_judge(a, NULL, NULL, &v);
        if (pass)
            T_CHECK(!v.authentic && strstr(v.detail, "body hash mismatch"),
                    "8 MB of text appended to the body: body hash mismatch");
        else
            T_CHECK(v.authentic, "8 MB of blanks appended: relaxed body canonicalisation ignores them");
        tlsrpt_auth_free(a);
    }
    free(big);
    free(m);
    a = tlsrpt_auth_new(lib, NULL, 0);
    tlsrpt_auth_judge(a, NULL, NULL, &v);
    T_CHECK(!v.authentic && strcmp(v.detail, "no signature") == 0, "empty mail: no signature");
    tlsrpt_auth_free(a);
    tlsrpt_auth_free(NULL);
}

/* Per-mail cost of a typical report (2048-bit RSA, key from file): information only. */
static void timing(tlsrpt_auth_lib *lib)
{
    size_t len;
    char *m = tdk_load("signed_google", &len);
    struct timespec t0, t1;
    tlsrpt_verdict v;
    int n = 300, ok = 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (int i = 0; i < n; i++) {
        tdk_verify_milter(lib, m, len, 4096, 0, NULL, &v);
        ok &= v.authentic;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
    printf("INFO: DKIM verify of a %zu-byte report mail (rsa-sha256 2048, key file): %.1f us CPU/mail%s\n",
           len, us, ok ? "" : " (NOT all authentic)");
    free(m);
}

int main(void)
{
    const char *why;
    test_orgdomain();
    test_addr();
    test_key_record();
    test_pubkey();
    const char *dir = tdk_fixtures(&why);
    if (!dir) {
        T_SKIP("DKIM signatures made at test time", why);
        T_MAIN_END();
    }
    test_lib_errors(dir);
    test_cases();
    tlsrpt_auth_lib *lib = tdk_lib("default");
    test_identity(lib);
    chunk_case(lib, "signed_google");
    chunk_case(lib, "body_tampered");
    chunk_case(lib, "l_appended");
    chunk_case(lib, "fifty_sigs");
    chunk_case(lib, "canon_simple_simple");
    test_every_split(lib);
    test_bounds(lib);
    timing(lib);
    tlsrpt_auth_lib_free(lib);
    T_MAIN_END();
}
