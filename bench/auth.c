/*
 * auth.c - cost of the DKIM verdict (auth/) per report mail, for predicting
 * the milter's throughput with Authentication dkim against without.
 *
 * Mails and keys are made at start by tests/lib/dkim-fixtures.py (through
 * tests/unit/tlib_dkim.c; needs /usr/bin/python3 with python3-dkim, openssl).
 * Each mail goes the milter's way (tlsrpt_auth_header per header, eoh, body
 * in 64 KiB chunks, finish, judge), keys from the key file (DkimKeyFile; DNS
 * time is the network's, not ours). Prints CPU microseconds per mail
 * (CLOCK_PROCESS_CPUTIME_ID, so other load on the machine counts less than in
 * wall time), the wall rate with 1 and 2 threads, and what OpenSSL 3.0's
 * d2i_PUBKEY_bio costs against auth/pubkey.c's.
 * Usage: bench/auth.sh (builds this file) [N mails per figure, default 3000].
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "tlib.h"
#include "tlib_dkim.h"

static tlsrpt_auth_lib *lib;
static char *mail;
static size_t mail_len;
static int per_thread;

/* Seconds of clock c. */
static double now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Verify mail n times; how many were authentic. */
static int run(const char *m, size_t len, int n)
{
    int ok = 0;
    tlsrpt_verdict v;
    for (int i = 0; i < n; i++) {
        tdk_verify_milter(lib, m, len, 65536, 0, NULL, &v);
        ok += v.authentic;
    }
    return ok;
}

/* One thread of the rate figure. */
static void *worker(void *arg)
{
    (void)arg;
    run(mail, mail_len, per_thread);
    return NULL;
}

/* Mails per second (wall) with t threads on the Google-shaped mail. */
static double rate(int t, int n)
{
    pthread_t th[8];
    per_thread = n / t;
    double t0 = now(CLOCK_MONOTONIC);
    for (int i = 0; i < t; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    return per_thread * t / (now(CLOCK_MONOTONIC) - t0);
}

/* Microseconds per d2i_PUBKEY_bio of a 2048-bit RSA key, through fn. */
static double d2i_cost(EVP_PKEY *(*fn)(BIO *, EVP_PKEY **), int n)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(k, &der);
    double t0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        BIO *b = BIO_new_mem_buf(der, len);
        EVP_PKEY_free(fn(b, NULL));
        BIO_free(b);
    }
    double us = (now(CLOCK_PROCESS_CPUTIME_ID) - t0) * 1e6 / n;
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    return us;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    const char *why;
    if (!tdk_fixtures(&why)) {
        fprintf(stderr, "bench/auth: %s\n", why);
        return 1;
    }
    lib = tdk_lib("default");
    static const char *const names[] = { "signed_google", "microsoft_1024", "ed25519",
                                         "body_tampered", "fifty_sigs", "unaligned", "unsigned" };
    printf("%-16s %6s %8s %10s %s\n", "mail", "bytes", "cpu_us", "authentic", "what");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len;
        char *m = tdk_load(names[i], &len);
        if (!m)
            continue;
        run(m, len, n / 10);                    /* warm up */
        double t0 = now(CLOCK_PROCESS_CPUTIME_ID);
        int ok = run(m, len, n);
        double us = (now(CLOCK_PROCESS_CPUTIME_ID) - t0) * 1e6 / n;
        printf("%-16s %6zu %8.1f %5d/%-4d %s\n", names[i], len, us, ok, n,
               tdk_case_get(names[i]) ? tdk_case_get(names[i])->detail : "");
        if (i == 0)
            mail = m, mail_len = len;
        else
            free(m);
    }
    if (mail) {
        double r1 = rate(1, n), r2 = rate(2, n);
        printf("signed_google wall rate: %.0f mails/s with 1 thread, %.0f with 2 threads\n", r1, r2);
    }
    EVP_PKEY *(*real)(BIO *, EVP_PKEY **) =
        (EVP_PKEY * (*)(BIO *, EVP_PKEY **)) dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
    if (real && (void *)real != (void *)d2i_PUBKEY_bio)
        printf("d2i_PUBKEY_bio (RSA 2048) cpu_us: libcrypto %.1f, auth/pubkey.c %.1f\n",
               d2i_cost(real, 2000), d2i_cost(d2i_PUBKEY_bio, 2000));
    free(mail);
    tlsrpt_auth_lib_free(lib);
    return 0;
}
