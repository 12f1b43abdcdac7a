/* tlib_spool.c - archive test helpers (see tlib_spool.h). */
#include "tlib.h"
#include "tlib_spool.h"
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

/* A fresh private directory. */
char *tsp_tmpdir(const char *tag)
{
    const char *t = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tlsrpt-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    return mkdtemp(path) ? strdup(path) : NULL;
}

/* nftw callback: remove one entry. */
static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* rm -rf. */
int tsp_rmrf(const char *path)
{
    return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* xorshift32. */
static uint32_t next(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* The test mail of (seed, size). */
void tsp_message(unsigned seed, size_t size, unsigned char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char head[160];
    uint32_t s = seed * 2654435761u + 1;
    int hl = snprintf(head, sizeof head, "From: reports@sender.test\r\nSubject: Report %u\r\n"
                      "Content-Type: application/tlsrpt+gzip\r\n\r\n", seed);
    size_t i = 0;
    for (; i < size && i < (size_t)hl; i++)
        out[i] = (unsigned char)head[i];
    while (i < size) {
        uint32_t r = next(&s);
        if (r % 7 == 0) {                       /* a run of binary bytes */
            for (int k = 0; k < 20 && i < size; k++)
                out[i++] = (unsigned char)next(&s);
        } else {                                /* a base64-like line */
            for (int k = 0; k < 76 && i < size; k++)
                out[i++] = (unsigned char)b64[next(&s) % 64];
            if (i < size)
                out[i++] = '\r';
            if (i < size)
                out[i++] = '\n';
        }
    }
}

/* Write and commit the mail (seed, size). */
int tsp_put(tlsrpt_spool *sp, time_t arrival, unsigned seed, size_t size, size_t chunk,
            int pending, char id[TLSRPT_SPOOL_ID_MAX], char *err, size_t errlen)
{
    unsigned char *msg = malloc(size + 1);
    char num[32];
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    tlsrpt_spool_w *w = msg && m ? tlsrpt_spool_begin(sp, arrival, err, errlen) : NULL;
    int rc = -1;
    if (!w)
        goto out;
    tsp_message(seed, size, msg);
    for (size_t off = 0; off < size; off += chunk)
        if (tlsrpt_spool_write(w, msg + off, size - off < chunk ? size - off : chunk) < 0) {
            snprintf(err, errlen, "%s", tlsrpt_spool_w_error(w));
            tlsrpt_spool_abort(w);
            goto out;
        }
    snprintf(num, sizeof num, "%u", seed);
    tlsrpt_spool_meta_set(m, "test-seed", num);
    snprintf(num, sizeof num, "%zu", size);
    tlsrpt_spool_meta_set(m, "test-size", num);
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_QUEUE_ID, "4ABCDEF");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_VERDICT, "countable");
    rc = tlsrpt_spool_commit(w, m, pending, id, TLSRPT_SPOOL_ID_MAX, err, errlen);
out:
    free(msg);
    tlsrpt_spool_meta_free(m);
    return rc;
}

/* Read an entry whole. */
unsigned char *tsp_read_all(tlsrpt_spool *sp, const char *id, size_t rdchunk, size_t *len,
                            char *why, size_t whylen)
{
    tlsrpt_spool_reader *r = tlsrpt_spool_reader_open(sp, id, why, whylen);
    if (!r)
        return NULL;
    size_t cap = 65536, n = 0;
    unsigned char *buf = malloc(cap);
    long got = 0;
    while (buf) {
        if (cap - n < rdchunk) {
            unsigned char *nb = realloc(buf, cap * 2 + rdchunk);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap = cap * 2 + rdchunk;
        }
        if ((got = tlsrpt_spool_reader_read(r, buf + n, rdchunk)) <= 0)
            break;
        n += (size_t)got;
    }
    if (buf && got < 0) {
        snprintf(why, whylen, "%s", tlsrpt_spool_reader_error(r));
        free(buf);
        buf = NULL;
    }
    tlsrpt_spool_reader_close(r);
    if (buf)
        *len = n;
    return buf;
}

/* Compare an entry with its test-seed mail. */
int tsp_check(tlsrpt_spool *sp, const char *id, char *why, size_t whylen)
{
    size_t len;
    unsigned char *got = tsp_read_all(sp, id, 65536, &len, why, whylen);
    if (!got)
        return 0;
    tlsrpt_spool_reader *r = tlsrpt_spool_reader_open(sp, id, why, whylen);
    const tlsrpt_spool_meta *m = r ? tlsrpt_spool_reader_meta(r) : NULL;
    const char *seed = m ? tlsrpt_spool_meta_get(m, "test-seed", NULL) : NULL;
    const char *size = m ? tlsrpt_spool_meta_get(m, "test-size", NULL) : NULL;
    int ok = 0;
    if (!seed || !size) {
        snprintf(why, whylen, "%s: no test-seed/test-size", id);
    } else if (strtoul(size, NULL, 10) != len) {
        snprintf(why, whylen, "%s: %zu bytes, %s written", id, len, size);
    } else {
        unsigned char *want = malloc(len + 1);
        tsp_message((unsigned)strtoul(seed, NULL, 10), len, want);
        ok = memcmp(want, got, len) == 0;
        if (!ok)
            snprintf(why, whylen, "%s: bytes differ", id);
        free(want);
    }
    tlsrpt_spool_reader_close(r);
    free(got);
    return ok;
}

/* Files in DIR/sub. */
long tsp_count_files(const char *dir, const char *sub)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    long n = 0;
    struct dirent *de;
    if (!d)
        return 0;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}
