/*
 * sha256.h - small SHA-256 (FIPS 180-4) for store/ key hashing and dedup.
 *
 * One-shot and incremental forms. No allocation, no errors; input length is
 * limited only by the 64-bit bit counter.
 */
#ifndef TLSRPT_SHA256_H
#define TLSRPT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TLSRPT_SHA256_LEN 32

typedef struct tlsrpt_sha256_ctx {
    uint32_t h[8];
    uint64_t total;         /* bytes hashed so far */
    unsigned char buf[64];
    size_t used;            /* bytes pending in buf */
} tlsrpt_sha256_ctx;

void tlsrpt_sha256_init(tlsrpt_sha256_ctx *c);
void tlsrpt_sha256_update(tlsrpt_sha256_ctx *c, const void *data, size_t len);
void tlsrpt_sha256_final(tlsrpt_sha256_ctx *c, unsigned char out[TLSRPT_SHA256_LEN]);
/* Hash one buffer. */
void tlsrpt_sha256(const void *data, size_t len, unsigned char out[TLSRPT_SHA256_LEN]);
/* Write n bytes as lower-case hex plus a NUL into out (2n+1 bytes). */
void tlsrpt_hex(char *out, const unsigned char *in, size_t n);

#endif
