/*
 * test_zip.c - the payload stage's ZIP reader (parser/zip.c) on archives
 * built here byte by byte: stored and deflated entries, data descriptors
 * with and without their signature, extra fields, long names, every way
 * an archive is refused (encrypted, zip64, other methods, several entries,
 * not a .json entry) or broken (CRC, truncation), each checked split at
 * every input position; quiet rejection of other zips in sniffed parts;
 * a zip bomb (300 MB of deflated spaces) stopped at max_report_bytes with
 * bounded peak RSS, in a base64 mail part.
 */
#include "tlib.h"
#include "tlib_report.h"
#include "stages.h"
#include <sys/resource.h>
#include <zlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define RSS_BUDGET_MB 256
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_BUDGET_MB 256
#endif
#endif
#ifndef RSS_BUDGET_MB
#define RSS_BUDGET_MB 64
#endif

static const char *JSON = "{\"a\": 42, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";

/* How to build one archive. */
typedef struct zspec {
    const char *name;           /* entry name (default report.json) */
    int method;                 /* 0 stored, 8 deflated, or any other number */
    int descriptor;             /* 0 none, 1 with its signature, 2 without */
    unsigned flags;             /* extra general-purpose flag bits */
    int zip64_extra;            /* a zip64 extra record */
    int other_extra;            /* an unknown extra record (extended timestamp) */
    int second_entry;           /* a second local header after the first entry */
    int no_central;             /* end right after the entry */
    int bad_crc;                /* wrong CRC in the header / descriptor */
    const char *trailer;        /* bytes after the archive */
} zspec;

/* A growable byte buffer (test-only: aborts on out of memory). */
typedef struct { unsigned char *p; size_t n, cap; } buf;

/* Append n bytes. */
static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Append little-endian 16 / 32 bit values. */
static void put16(buf *b, unsigned v)
{
    unsigned char c[2] = { v & 255, (v >> 8) & 255 };
    put(b, c, 2);
}
static void put32(buf *b, uint32_t v)
{
    unsigned char c[4] = { v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24 };
    put(b, c, 4);
}

/* Raw deflate of data. */
static void deflate_raw(buf *out, const unsigned char *data, size_t n)
{
    z_stream z;
    unsigned char o[65536];
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    int zr;
    do {
        z.next_out = o;
        z.avail_out = sizeof o;
        zr = deflate(&z, Z_FINISH);
        put(out, o, sizeof o - z.avail_out);
    } while (zr != Z_STREAM_END);
    deflateEnd(&z);
}

/* One local header + data (+ descriptor) for `data` as spec says. */
static void zip_entry(buf *b, const zspec *s, const char *data, size_t dlen)
{
    const char *name = s->name ? s->name : "report.json";
    buf comp = { 0 };
    if (s->method == 8)
        deflate_raw(&comp, (const unsigned char *)data, dlen);
    else
        put(&comp, data, dlen);
    uint32_t crc = (uint32_t)crc32(0, (const unsigned char *)data, (uInt)dlen) ^ (s->bad_crc ? 1u : 0u);
    unsigned flags = s->flags | (s->descriptor ? 8u : 0u);
    put32(b, 0x04034b50u);
    put16(b, 20);
    put16(b, flags);
    put16(b, (unsigned)s->method);
    put32(b, 0);                                    /* time, date */
    put32(b, s->descriptor ? 0 : crc);
    put32(b, s->zip64_extra ? 0xffffffffu : s->descriptor ? 0 : (uint32_t)comp.n);
    put32(b, s->zip64_extra ? 0xffffffffu : s->descriptor ? 0 : (uint32_t)dlen);
    put16(b, (unsigned)strlen(name));
    put16(b, (s->zip64_extra ? 20u : 0u) + (s->other_extra ? 9u : 0u));
    put(b, name, strlen(name));
    if (s->other_extra) {
        put16(b, 0x5455);
        put16(b, 5);
        put(b, "\x01\0\0\0\0", 5);
    }
    if (s->zip64_extra) {
        put16(b, 0x0001);
        put16(b, 16);
        put32(b, (uint32_t)dlen); put32(b, 0);
        put32(b, (uint32_t)comp.n); put32(b, 0);
    }
    put(b, comp.p, comp.n);
    if (s->descriptor) {
        if (s->descriptor == 1)
            put32(b, 0x08074b50u);
        put32(b, crc);
        put32(b, (uint32_t)comp.n);
        put32(b, (uint32_t)dlen);
    }
    free(comp.p);
}

/* A whole archive: entry, maybe a second one, a (token) central directory, trailer. */
static buf make_zip(const zspec *s, const char *data)
{
    buf b = { 0 };
    zip_entry(&b, s, data, strlen(data));
    if (s->second_entry)
        zip_entry(&b, s, data, strlen(data));
    if (!s->no_central) {
        put32(&b, 0x02014b50u);                     /* central header: only its start matters */
        put(&b, "\x14\0\x14\0\0\0\0\0", 8);
        put32(&b, 0x06054b50u);
        put(&b, "\0\0\0\0\1\0\1\0", 8);
    }
    if (s->trailer)
        put(&b, s->trailer, strlen(s->trailer));
    return b;
}

/* Run the payload over buf split at cut; rc, the object's "a", rejected and the message. */
static int zrun(const buf *b, size_t cut, size_t cap, int sniff, int label, long long *a, int *rej,
                char *err)
{
    payload p;
    int rc = payload_init(&p, cap, 32, sniff);
    p.label = label;
    *a = -1;
    err[0] = 0;
    if (rc == TLSRPT_OK)
        rc = payload_feed(&p, b->p, cut, err);
    if (rc == TLSRPT_OK)
        rc = payload_feed(&p, b->p + cut, b->n - cut, err);
    if (rc == TLSRPT_OK)
        rc = payload_finish(&p, err);
    *rej = p.rejected;
    struct json_object *v;
    if (rc == TLSRPT_OK && !p.rejected && p.js.obj && json_object_object_get_ex(p.js.obj, "a", &v))
        *a = json_object_get_int64(v);
    if (rc != TLSRPT_OK && !err[0])
        rc = -100;                                  /* an error must say why */
    payload_free(&p);
    return rc;
}

/* One archive at every split: want_rc (and a == 42 on success, or quiet rejection), and
   the message containing want_msg. */
static void zcase(const char *name, const zspec *s, const char *data, size_t cap, int sniff, int label,
                  int want_rc, int want_rej, const char *want_msg)
{
    buf b = make_zip(s, data);
    char why[512] = "", err[TLSRPT_ERRLEN];
    int ok = 1, rej;
    long long a;
    for (size_t cut = 0; cut <= b.n && ok; cut++) {
        int rc = zrun(&b, cut, cap, sniff, label, &a, &rej, err);
        if (rc != want_rc || rej != want_rej || (rc == TLSRPT_OK && !rej && a != 42) ||
            (want_msg && !strstr(err, want_msg))) {
            snprintf(why, sizeof why, "%s: split at %zu: rc %d (%s) rejected %d a %lld", name, cut, rc,
                     err, rej, a);
            ok = 0;
        }
    }
    T_CHECK(ok, ok ? name : why);
    free(b.p);
}

/* Archives that decode, and the ways one is refused or broken. */
static void test_archives(void)
{
    size_t cap = 1 << 20;
    zcase("zip stored", &(zspec){ .method = 0 }, JSON, cap, 0, 0, TLSRPT_OK, 0, NULL);
    zcase("zip deflated", &(zspec){ .method = 8 }, JSON, cap, 0, 0, TLSRPT_OK, 0, NULL);
    zcase("zip deflated, descriptor with signature", &(zspec){ .method = 8, .descriptor = 1 }, JSON,
          cap, 0, 0, TLSRPT_OK, 0, NULL);
    zcase("zip deflated, descriptor without signature", &(zspec){ .method = 8, .descriptor = 2 }, JSON,
          cap, 0, 0, TLSRPT_OK, 0, NULL);
    zcase("zip with an unknown extra record", &(zspec){ .method = 8, .other_extra = 1 }, JSON, cap, 0,
          0, TLSRPT_OK, 0, NULL);
    zcase("zip without a central directory", &(zspec){ .method = 8, .no_central = 1 }, JSON, cap, 0, 0,
          TLSRPT_OK, 0, NULL);
    zcase("zip with bytes after the archive", &(zspec){ .method = 0, .trailer = "junk PK\3\4" }, JSON,
          cap, 0, 0, TLSRPT_OK, 0, NULL);
    zcase("zip entry name in capitals", &(zspec){ .method = 8, .name = "REPORT.JSON" }, JSON, cap, 0, 0,
          TLSRPT_OK, 0, NULL);
    char longname[400];
    memset(longname, 'n', 300);
    strcpy(longname + 300, ".json");
    zcase("zip entry name of 305 bytes", &(zspec){ .method = 8, .name = longname }, JSON, cap, 0, 0,
          TLSRPT_OK, 0, NULL);
    strcpy(longname + 300, ".txt\x01");
    zcase("zip long non-.json name: refused, name shown sanitized", &(zspec){ .method = 8, .name = longname },
          JSON, cap, 0, 0, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "nnnn.txt?\")");
    zcase("zip over the cap -> report-too-large", &(zspec){ .method = 8 }, JSON, 20, 0, 0,
          TLSRPT_ERR_REPORT_SIZE, 0, NULL);
    char padded[512];
    snprintf(padded, sizeof padded, "%s%300s", JSON, "");
    zcase("zip: bytes after the JSON value count against the cap", &(zspec){ .method = 8 }, padded,
          strlen(JSON) + 100, 0, 0, TLSRPT_ERR_REPORT_SIZE, 0, NULL);
    zcase("zip: exactly at the cap", &(zspec){ .method = 8 }, padded, strlen(padded), 0, 0, TLSRPT_OK, 0,
          NULL);

}

/* The ways an archive is refused (unsupported-archive) or broken (corrupt). */
static void test_refused(void)
{
    size_t cap = 1 << 20;
    zcase("zip zip64 extra -> unsupported-archive", &(zspec){ .method = 8, .zip64_extra = 1 }, JSON, cap,
          0, 0, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "zip64");
    zcase("zip encrypted -> unsupported-archive", &(zspec){ .method = 8, .flags = 1 }, JSON, cap, 0, 0,
          TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "encrypted");
    zcase("zip method 12 (bzip2) -> unsupported-archive", &(zspec){ .method = 12 }, JSON, cap, 0, 0,
          TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "compression method 12");
    zcase("zip two entries -> unsupported-archive", &(zspec){ .method = 8, .second_entry = 1 }, JSON, cap,
          0, 0, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "several entries");
    zcase("zip two stored entries -> unsupported-archive", &(zspec){ .method = 0, .second_entry = 1 },
          JSON, cap, 0, 0, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "several entries");
    zcase("zip stored with a descriptor -> unsupported-archive", &(zspec){ .method = 0, .descriptor = 1 },
          JSON, cap, 0, 0, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "data descriptor");
    zcase("zip entry not .json -> unsupported-archive", &(zspec){ .method = 8, .name = "r.xml" }, JSON,
          cap, 0, LABEL_ZIP, TLSRPT_ERR_UNSUPPORTED_ARCHIVE, 0, "not a .json file");
    zcase("zip entry not .json, sniffed, unlabelled: not a report", &(zspec){ .method = 8,
          .name = "[Content_Types].xml" }, "<xml/>", cap, 1, 0, TLSRPT_OK, 1, NULL);
    zcase("zip entry .json, sniffed, not JSON: not a report", &(zspec){ .method = 8 }, "hello", cap, 1, 0,
          TLSRPT_OK, 1, NULL);
    zcase("zip bad CRC -> corrupt", &(zspec){ .method = 0, .bad_crc = 1 }, JSON, cap, 0, 0,
          TLSRPT_ERR_GZIP, 0, "CRC mismatch");
    zcase("zip bad CRC in the descriptor -> corrupt", &(zspec){ .method = 8, .descriptor = 2, .bad_crc = 1 },
          JSON, cap, 0, 0, TLSRPT_ERR_GZIP, 0, "CRC mismatch");
    zcase("zip empty stored entry -> corrupt-json", &(zspec){ .method = 0 }, "", cap, 0, 0, TLSRPT_ERR_JSON,
          0, NULL);

    buf whole = make_zip(&(zspec){ .method = 8, .descriptor = 1 }, JSON);
    static const char *where[] = { "local file header", "entry's data", "data descriptor" };
    size_t cuts[] = { 20, whole.n - 60, whole.n - 30 - 10 };
    for (int i = 0; i < 3; i++) {
        buf t = { whole.p, cuts[i], 0 };
        char err[TLSRPT_ERRLEN], name[TLSRPT_ERRLEN + 64];
        int rej;
        long long a;
        int ok = 1;
        for (size_t cut = 0; cut <= t.n; cut++)
            ok &= zrun(&t, cut, 1 << 20, 0, 0, &a, &rej, err) == TLSRPT_ERR_GZIP && strstr(err, where[i]);
        snprintf(name, sizeof name, "zip truncated in the %s -> corrupt (%s)", where[i], err);
        T_CHECK(ok, name);
    }
    free(whole.p);
}

/* Base64 in 76-column lines. */
static void put_b64(buf *b, const unsigned char *s, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[80];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        line[k++] = a[v >> 18 & 63];
        line[k++] = a[v >> 12 & 63];
        line[k++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        line[k++] = i + 2 < n ? a[v & 63] : '=';
        if (k == 76 || i + 3 >= n) {
            line[k++] = '\n';
            put(b, line, k);
            k = 0;
        }
    }
}

/* A mail with a text part, the given attachments (ctype, base64 body) and the closing line. */
static buf zmail(const char *ct1, const buf *z1, const char *ct2, const buf *z2)
{
    buf m = { 0 };
    const char *h = "From: a@reporter.example\nSubject: report\nMIME-Version: 1.0\n"
                    "Content-Type: multipart/mixed; boundary=ZZ\n\n--ZZ\nContent-Type: text/plain\n\nhi\n";
    put(&m, h, strlen(h));
    for (int i = 0; i < 2; i++) {
        const char *ct = i ? ct2 : ct1;
        const buf *z = i ? z2 : z1;
        if (!ct)
            continue;
        char ph[256];
        snprintf(ph, sizeof ph, "--ZZ\nContent-Type: %s\nContent-Transfer-Encoding: base64\n\n", ct);
        put(&m, ph, strlen(ph));
        put_b64(&m, z->p, z->n);
    }
    put(&m, "--ZZ--\n", 7);
    return m;
}

/* Peak resident set size in MB. */
static long peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* A zip of one deflated entry: a JSON string of nsp spaces (deflated streaming, wrapped by hand). */
static void zip_bomb(buf *bomb, size_t nsp)
{
    buf sp = { 0 };
    z_stream z;
    static unsigned char o[65536], spaces[65536];
    memset(spaces, ' ', sizeof spaces);
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    uint32_t crc = (uint32_t)crc32(0, Z_NULL, 0);
    const char *pre = "{\"organization-name\":\"", *post = "\",\"policies\":[]}";
    for (int stage = 0; stage < 3; stage++) {
        size_t left = stage == 1 ? nsp : strlen(stage ? post : pre);
        while (left > 0 || stage == 2) {
            const unsigned char *src = stage == 1 ? spaces : (const unsigned char *)(stage ? post : pre);
            size_t n = stage == 1 ? (left < sizeof spaces ? left : sizeof spaces) : left;
            crc = (uint32_t)crc32(crc, src, (uInt)n);
            z.next_in = (unsigned char *)src;
            z.avail_in = (uInt)n;
            left -= n;
            int fl = stage == 2 ? Z_FINISH : Z_NO_FLUSH, zr;
            do {
                z.next_out = o;
                z.avail_out = sizeof o;
                zr = deflate(&z, fl);
                put(&sp, o, sizeof o - z.avail_out);
            } while (z.avail_out == 0 || (fl == Z_FINISH && zr != Z_STREAM_END));
            if (stage == 2)
                break;
        }
    }
    deflateEnd(&z);
    put32(bomb, 0x04034b50u);
    put16(bomb, 20); put16(bomb, 0); put16(bomb, 8); put32(bomb, 0);
    put32(bomb, crc); put32(bomb, (uint32_t)sp.n); put32(bomb, (uint32_t)(nsp + 38));
    put16(bomb, 11); put16(bomb, 0);
    put(bomb, "report.json", 11);
    put(bomb, sp.p, sp.n);
    free(sp.p);
}

/* Other zips in a mail are not reports; a zip bomb stops at the cap with bounded memory. */
static void test_mails(void)
{
    static const char *rep = "{\"organization-name\":\"Z\",\"policies\":[]}";
    buf docx = make_zip(&(zspec){ .method = 8, .name = "[Content_Types].xml" }, "<Types/>");
    buf good = make_zip(&(zspec){ .method = 8, .name = "r.json" }, rep);
    const char *office = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    char err[512];
    int rc;
    buf m = zmail(office, &docx, NULL, NULL);
    tlsrpt_report *r = tlib_decode(m.p, m.n, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    T_INTEQ(rc, TLSRPT_ERR_NO_REPORT, "an office document (a zip) is not a report: no-report");
    tlsrpt_report_free(r);
    free(m.p);
    m = zmail(office, &docx, "application/octet-stream", &good);
    r = tlib_decode(m.p, m.n, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    T_CHECK(rc == TLSRPT_OK && r && r->organization_name && strcmp(r->organization_name, "Z") == 0,
            "office document, then a zipped report by magic: the report");
    tlsrpt_report_free(r);
    free(m.p);

    buf bomb = { 0 };
    zip_bomb(&bomb, (size_t)300 << 20);
    T_CHECK(bomb.n < 1024 * 1024, "zip bomb: 300 MB deflated to < 1 MB");
    m = zmail("application/zip", &bomb, NULL, NULL);
    long before = peak_mb();
    r = tlib_decode(m.p, m.n, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    T_INTEQ(rc, TLSRPT_ERR_REPORT_SIZE, "zip bomb in a base64 part -> report-too-large (default limits)");
    tlsrpt_report_free(r);
    tlsrpt_limits small = { .max_report_bytes = 1 << 20 };
    r = tlib_decode(bomb.p, bomb.n, &small, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    T_INTEQ(rc, TLSRPT_ERR_REPORT_SIZE, "bare zip bomb -> report-too-large (1 MiB cap)");
    tlsrpt_report_free(r);
    long grew = peak_mb() - before;
    char name[128];
    snprintf(name, sizeof name, "zip bomb: peak RSS grew %ld MB (< %d MB)", grew, RSS_BUDGET_MB);
    T_CHECK(grew < RSS_BUDGET_MB, name);
    free(m.p); free(bomb.p); free(docx.p); free(good.p);
}

/* Run the zip tests. */
int main(void)
{
    test_archives();
    test_refused();
    test_mails();
    T_MAIN_END();
}
