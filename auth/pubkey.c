/*
 * pubkey.c - a faster d2i_PUBKEY_bio for libopendkim's RSA keys.
 *
 * Why: libopendkim turns every key it verifies with into an EVP_PKEY with
 * d2i_PUBKEY_bio. On OpenSSL 3.0 (Debian 12) that call builds a decoder
 * context each time (OSSL_DECODER_CTX_new_for_pkey) and costs 100-160 us,
 * more than half of the whole verification of a report mail; the classic
 * ASN.1 decoder, d2i_RSA_PUBKEY, takes about 2 us for the same key.
 * libopendkim offers no hook for this, so this file defines d2i_PUBKEY_bio
 * itself: a program linking libtlsrpt-auth exports it, and the dynamic
 * linker binds libopendkim's call to it (symbol interposition; lib.c refers
 * to auth_pubkey_linked so that this object is always linked in).
 * What it does: a memory BIO holding an RSA SubjectPublicKeyInfo is decoded
 * by d2i_RSA_PUBKEY into a new EVP_PKEY (the same key, owned by the caller
 * as before); anything else (ed25519, other BIOs, a decoding failure, a
 * non-NULL out argument) goes to the real d2i_PUBKEY_bio of libcrypto
 * (dlsym RTLD_NEXT), so the result is never worse than without this file.
 * The BIO is read past the key, as the real call would. Build with
 * -DAUTH_NO_FAST_PUBKEY to leave OpenSSL's function alone.
 */
#define OPENSSL_API_COMPAT 0x10100000L
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "auth_int.h"

/* Referenced by lib.c so that the linker always takes this object. */
int auth_pubkey_linked = 1;

#ifndef AUTH_NO_FAST_PUBKEY
typedef EVP_PKEY *(*d2i_fn)(BIO *, EVP_PKEY **);
static d2i_fn real_d2i;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* Find libcrypto's own d2i_PUBKEY_bio. */
static void real_find(void)
{
    real_d2i = (d2i_fn)dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
}

/* The RSA key of a DER SubjectPublicKeyInfo as a new EVP_PKEY (*used: its
 * length), or NULL. */
static EVP_PKEY *rsa_spki(const unsigned char *der, long len, long *used)
{
    const unsigned char *p = der;
    RSA *rsa = d2i_RSA_PUBKEY(NULL, &p, len);
    if (!rsa)
        return NULL;
    *used = (long)(p - der);
    EVP_PKEY *pk = EVP_PKEY_new();
    if (!pk || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
        EVP_PKEY_free(pk);
        RSA_free(rsa);
        return NULL;
    }
    return pk;
}

/* d2i_PUBKEY_bio, fast for RSA keys in memory BIOs (file comment). */
EVP_PKEY *d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
    pthread_once(&real_once, real_find);
    char *data = NULL;
    long len = bp && !a && BIO_method_type(bp) == BIO_TYPE_MEM ? BIO_get_mem_data(bp, &data) : 0;
    /* SEQUENCE { SEQUENCE { OID rsaEncryption ... */
    static const unsigned char rsa_oid[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                             0x01, 0x01, 0x01 };
    if (len > 32 && data) {
        const unsigned char *d = (const unsigned char *)data;
        for (long i = 2; i < 12 && i + (long)sizeof rsa_oid <= len; i++) {
            if (memcmp(d + i, rsa_oid, sizeof rsa_oid) != 0)
                continue;
            long used = 0;
            EVP_PKEY *pk = rsa_spki(d, len, &used);
            if (pk) {
                char sink[256];                 /* consume what was decoded, as OpenSSL does */
                for (long left = used; left > 0;) {
                    int r = BIO_read(bp, sink, left < (long)sizeof sink ? (int)left : (int)sizeof sink);
                    if (r <= 0)
                        break;
                    left -= r;
                }
                return pk;
            }
            break;
        }
    }
    return real_d2i ? real_d2i(bp, a) : NULL;
}
#endif
