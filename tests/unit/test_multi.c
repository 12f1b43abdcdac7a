/*
 * test_multi.c - several reports in one mail (issue 12.3): the list API
 * (tlsrpt_result_count / _at, tlsrpt_part_count / _at / _error,
 * tlsrpt_take_result on a list), on the multi-report fixtures (two gzip
 * attachments in order, a corrupt one before a good one, two identical
 * ones, report parts by type / name / zip magic among decoys, all parts
 * failed) and on mails built here: which parts are reports (text parts,
 * unnamed octet-stream JSON or zlib in a multipart are not; the same in a
 * single-part mail or a forwarded message are), the max_mime_parts bound,
 * the mail's decoded-bytes budget, and the memory estimate counting kept
 * reports. Chunking is checked by test_split over the same fixtures.
 */
#include "tlib.h"
#include "tlib_report.h"
#include <zlib.h>

/* A growable string (test-only: aborts on out of memory). */
typedef struct { char *p; size_t n, cap; } sbuf;

/* Append n bytes. */
static void put(sbuf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* Append a C string. */
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Base64 of n bytes in 76-column lines. */
static void put_b64(sbuf *b, const unsigned char *s, size_t n)
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

/* gzip (wbits 31) or zlib (15) of s, base64, into b. */
static void put_compressed_b64(sbuf *b, const char *s, int wbits)
{
    unsigned char out[65536];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)s;
    z.avail_in = (uInt)strlen(s);
    z.next_out = out;
    z.avail_out = sizeof out;
    deflate(&z, Z_FINISH);
    put_b64(b, out, z.total_out);
    deflateEnd(&z);
}

/* A small report whose report-id is id (and organization-name org). */
static void report_json(char *out, size_t cap, const char *id, int pad)
{
    snprintf(out, cap, "{\"organization-name\":\"Org\",\"report-id\":\"%s\",\"date-range\":{\"start-datetime\":"
             "\"2024-05-01T00:00:00Z\"},\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":"
             "\"example.net\"},\"summary\":{\"total-successful-session-count\":1}}],\"pad\":\"%*s\"}",
             id, pad, "");
}

/* Start a multipart/mixed mail. */
static void mail_start(sbuf *m)
{
    puts_(m, "From: a@reporter.example\nSubject: reports\nMIME-Version: 1.0\n"
             "Content-Type: multipart/mixed; boundary=MM\n\n--MM\nContent-Type: text/plain\n\nhello\n");
}

/* Decode a whole buffer; the caller frees the decoder. */
static tlsrpt_decoder *decode(const char *buf, size_t len, const tlsrpt_limits *lim, int *rc)
{
    tlsrpt_decoder *d = tlsrpt_decoder_new(lim, TLSRPT_MODE_AUTO);
    *rc = tlsrpt_feed(d, buf, len);
    int fin = tlsrpt_finish(d);
    if (*rc == TLSRPT_OK)
        *rc = fin;
    return d;
}

/* Decode a fixture file; NULL (and a FAIL) when it is missing. */
static tlsrpt_decoder *fixture(const char *name, int *rc)
{
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", tlib_srcdir(), name);
    char *buf = tlib_read_file(path, &len);
    if (!buf) {
        printf("FAIL: read %s\n", path);
        tlib_failed++;
        return NULL;
    }
    tlsrpt_decoder *d = decode(buf, len, NULL, rc);
    free(buf);
    return d;
}

/* Does report i have report-id id? */
static int has_id(const tlsrpt_decoder *d, size_t i, const char *id)
{
    const tlsrpt_report *r = tlsrpt_result_at(d, i);
    return r && r->report_id && strcmp(r->report_id, id) == 0;
}

/* The multi-report fixtures through the list API. */
static void test_fixtures(void)
{
    int rc;
    tlsrpt_part p;
    tlsrpt_decoder *d = fixture("multi-two-gzip.eml", &rc);
    if (!d)
        return;
    T_CHECK(rc == TLSRPT_OK && tlsrpt_result_count(d) == 2, "two gzip attachments: two reports");
    T_CHECK(has_id(d, 0, "rid-multi-two-gzip.eml-a") && has_id(d, 1, "rid-multi-two-gzip.eml-b"),
            "two gzip attachments: in mail order");
    T_CHECK(tlsrpt_result(d) == tlsrpt_result_at(d, 0) && tlsrpt_result_at(d, 2) == NULL,
            "tlsrpt_result is the first; past the end is NULL");
    T_CHECK(tlsrpt_part_count(d) == 2 && tlsrpt_part_at(d, 0, &p) == TLSRPT_OK && p.part == 2 &&
            p.report == tlsrpt_result_at(d, 0) && tlsrpt_part_at(d, 1, &p) == TLSRPT_OK && p.part == 3 &&
            p.report == tlsrpt_result_at(d, 1) && *p.msg == 0,
            "two gzip attachments: parts 2 and 3 (the text part 1 is no report part)");
    T_INTEQ(tlsrpt_part_at(d, 2, &p), TLSRPT_ERR_USAGE, "part past the end -> usage");
    tlsrpt_report *a = tlsrpt_take_result(d);
    T_CHECK(a && a->report_id && strcmp(a->report_id, "rid-multi-two-gzip.eml-a") == 0 &&
            tlsrpt_result_count(d) == 1 && has_id(d, 0, "rid-multi-two-gzip.eml-b"),
            "take_result takes the first; the second becomes the first");
    T_CHECK(tlsrpt_part_at(d, 0, &p) == TLSRPT_OK && p.report == NULL &&
            tlsrpt_part_at(d, 1, &p) == TLSRPT_OK && p.report == tlsrpt_result(d),
            "a taken report is NULL in the part list");
    tlsrpt_report *b = tlsrpt_take_result(d);
    T_CHECK(b && tlsrpt_result_count(d) == 0 && !tlsrpt_result(d) && !tlsrpt_take_result(d),
            "take_result twice empties the list");
    tlsrpt_decoder_free(d);
    tlsrpt_report_free(a);
    tlsrpt_report_free(b);

    d = fixture("multi-corrupt-then-good.eml", &rc);
    const char *msg = NULL;
    T_CHECK(d && rc == TLSRPT_OK && tlsrpt_result_count(d) == 1 &&
            has_id(d, 0, "rid-multi-corrupt-then-good.eml"), "corrupt then good: one report");
    T_CHECK(d && tlsrpt_part_count(d) == 2 && tlsrpt_part_error(d, 0, &msg) == TLSRPT_ERR_GZIP &&
            msg && strstr(msg, "gzip") && tlsrpt_part_error(d, 1, &msg) == TLSRPT_OK && *msg == 0,
            "corrupt then good: a part error (corrupt-gzip, with its message) and the report");
    T_CHECK(d && tlsrpt_error(d) == TLSRPT_OK && *tlsrpt_errstr(d) == 0, "corrupt then good: no error");
    tlsrpt_decoder_free(d);

    d = fixture("multi-identical.eml", &rc);
    char *r0 = d && tlsrpt_result_count(d) == 2 ? tlib_render(tlsrpt_result_at(d, 0)) : NULL;
    char *r1 = r0 ? tlib_render(tlsrpt_result_at(d, 1)) : NULL;
    T_CHECK(r0 && r1 && strcmp(r0, r1) == 0, "two identical attachments: two equal reports (dedup is the store's)");
    free(r0);
    free(r1);
    tlsrpt_decoder_free(d);

    d = fixture("multi-kinds-and-decoys.eml", &rc);
    T_CHECK(d && rc == TLSRPT_OK && tlsrpt_result_count(d) == 3 && tlsrpt_part_count(d) == 3 &&
            has_id(d, 0, "rid-multi-kinds-and-decoys.eml-type") &&
            has_id(d, 1, "rid-multi-kinds-and-decoys.eml-name") &&
            has_id(d, 2, "rid-multi-kinds-and-decoys.eml-zip"),
            "by type, by name, by zip magic: three reports; text, HTML, unnamed JSON: none");
    T_CHECK(d && tlsrpt_part_at(d, 0, &p) == TLSRPT_OK && p.part == 3 && tlsrpt_part_at(d, 1, &p) == TLSRPT_OK &&
            p.part == 6 && tlsrpt_part_at(d, 2, &p) == TLSRPT_OK && p.part == 7, "their part numbers 3, 6, 7");
    tlsrpt_decoder_free(d);

    d = fixture("multi-all-failed.eml", &rc);
    T_CHECK(d && rc == TLSRPT_ERR_BASE64 && strstr(tlsrpt_errstr(d), "base64") && tlsrpt_result_count(d) == 0 &&
            !tlsrpt_result(d), "every part failed: the first part's error");
    T_CHECK(d && tlsrpt_part_count(d) == 2 && tlsrpt_part_error(d, 0, NULL) == TLSRPT_ERR_BASE64 &&
            tlsrpt_part_error(d, 1, NULL) == TLSRPT_ERR_GZIP, "every part failed: both part errors listed");
    tlsrpt_decoder_free(d);
}

/* Decode a one-attachment mail; returns the result count or -rc. */
static int one_part(const char *ctype, const char *cte, const char *body, int multipart)
{
    sbuf m = { 0 };
    int rc;
    if (multipart)
        mail_start(&m);
    else
        puts_(&m, "From: a@reporter.example\nMIME-Version: 1.0\n");
    if (multipart)
        puts_(&m, "--MM\n");
    if (ctype) {
        puts_(&m, "Content-Type: ");
        puts_(&m, ctype);
        puts_(&m, "\n");
    }
    if (cte) {
        puts_(&m, "Content-Transfer-Encoding: ");
        puts_(&m, cte);
        puts_(&m, "\n");
    }
    puts_(&m, "\n");
    puts_(&m, body);
    if (multipart)
        puts_(&m, "\n--MM--\n");
    tlsrpt_decoder *d = decode(m.p, m.n, NULL, &rc);
    int n = rc == TLSRPT_OK ? (int)tlsrpt_result_count(d) : -rc;
    tlsrpt_decoder_free(d);
    free(m.p);
    return n;
}

/* Which parts are reports, in a multipart and as a whole message body. */
static void test_rules(void)
{
    char rep[1024];
    sbuf gz = { 0 }, zl = { 0 };
    report_json(rep, sizeof rep, "rule", 0);
    put_compressed_b64(&gz, rep, 31);
    put_compressed_b64(&zl, rep, 15);
    T_INTEQ(one_part("text/plain", NULL, rep, 1), -TLSRPT_ERR_NO_REPORT, "multipart: JSON in text/plain is no report");
    T_INTEQ(one_part("application/octet-stream", NULL, rep, 1), -TLSRPT_ERR_NO_REPORT,
            "multipart: JSON in an unnamed octet-stream is no report");
    T_INTEQ(one_part("application/json", NULL, rep, 1), 1, "multipart: application/json is a report part");
    T_INTEQ(one_part("application/octet-stream", "base64", gz.p, 1), 1,
            "multipart: gzip in an unnamed octet-stream is a report (by magic)");
    T_INTEQ(one_part("application/octet-stream", "base64", zl.p, 1), -TLSRPT_ERR_NO_REPORT,
            "multipart: zlib in an unnamed octet-stream is not (its 2-byte magic is too weak)");
    T_INTEQ(one_part("text/plain", "base64", gz.p, 1), -TLSRPT_ERR_NO_REPORT,
            "multipart: gzip in a text part is not a report");
    T_INTEQ(one_part(NULL, NULL, rep, 0), 1, "non-MIME mail: a JSON body is a report (sniffed)");
    T_INTEQ(one_part("text/plain", NULL, rep, 0), 1, "single-part text/plain mail: sniffed");
    T_INTEQ(one_part("application/octet-stream", "base64", zl.p, 0), 1, "single-part mail: zlib sniffed");
    T_INTEQ(one_part("text/plain", NULL, "Hello, no report here.", 0), -TLSRPT_ERR_NO_REPORT,
            "single-part text mail without JSON: no-report");
    sbuf fw = { 0 };
    mail_start(&fw);
    puts_(&fw, "--MM\nContent-Type: message/rfc822\n\nFrom: b@reporter.example\nSubject: r\n\n");
    puts_(&fw, rep);
    puts_(&fw, "\n--MM--\n");
    int rc;
    tlsrpt_decoder *d = decode(fw.p, fw.n, NULL, &rc);
    T_CHECK(rc == TLSRPT_OK && tlsrpt_result_count(d) == 1, "forwarded non-MIME message: its JSON body is a report");
    tlsrpt_decoder_free(d);
    d = decode(rep, strlen(rep), NULL, &rc);
    tlsrpt_part p;
    T_CHECK(rc == TLSRPT_OK && tlsrpt_part_count(d) == 1 && tlsrpt_part_at(d, 0, &p) == TLSRPT_OK && p.part == 1,
            "bare report: one report part, number 1");
    tlsrpt_decoder_free(d);
    free(gz.p);
    free(zl.p);
    free(fw.p);
}

/* A mail of n gzip report parts (JSON padded by pad bytes each). */
static void many_reports(sbuf *m, int n, int pad)
{
    char rep[70000], id[32];
    mail_start(m);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "r%d", i);
        report_json(rep, sizeof rep, id, pad);
        puts_(m, "--MM\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n");
        put_compressed_b64(m, rep, 31);
    }
    puts_(m, "--MM--\n");
}

/* Bounds: max_mime_parts, the mail's decoded budget, the estimate counting kept reports. */
static void test_bounds(void)
{
    sbuf m = { 0 }, m2 = { 0 };
    int rc;
    tlsrpt_limits lim = { .max_mime_parts = 20 };
    many_reports(&m, 19, 0);                    /* 1 text part + 19 = 20 parts */
    tlsrpt_decoder *d = decode(m.p, m.n, &lim, &rc);
    T_CHECK(rc == TLSRPT_OK && tlsrpt_result_count(d) == 19 && has_id(d, 18, "r18"),
            "max_mime_parts 20: 19 report parts, all decoded");
    tlsrpt_decoder_free(d);
    many_reports(&m2, 20, 0);
    d = decode(m2.p, m2.n, &lim, &rc);
    T_CHECK(rc == TLSRPT_ERR_MIME_PARTS && tlsrpt_result_count(d) == 0, "21 parts: mime-too-many-parts, no report");
    tlsrpt_decoder_free(d);
    free(m.p);
    free(m2.p);

    /* budget: the larger of max_message_bytes and max_report_bytes for all reports together */
    m = (sbuf){ 0 };
    many_reports(&m, 3, 6000);                  /* ~6.3 KB of JSON each, ~0.5 KB gzip'd */
    lim = (tlsrpt_limits){ .max_report_bytes = 8000, .max_message_bytes = 14000 };
    d = decode(m.p, m.n, &lim, &rc);
    const char *msg = "";
    T_CHECK(rc == TLSRPT_OK && tlsrpt_result_count(d) == 2 && tlsrpt_part_count(d) == 3 &&
            tlsrpt_part_error(d, 2, &msg) == TLSRPT_ERR_REPORT_SIZE && strstr(msg, "budget"),
            "three 6 KB reports, mail budget 14 KB: two kept, the third report-too-large (budget)");
    tlsrpt_decoder_free(d);
    lim.max_message_bytes = 20000;
    d = decode(m.p, m.n, &lim, &rc);
    T_CHECK(rc == TLSRPT_OK && tlsrpt_result_count(d) == 3, "... budget 20 KB: all three");
    tlsrpt_decoder_free(d);
    free(m.p);

    m = (sbuf){ 0 };
    m2 = (sbuf){ 0 };
    many_reports(&m, 1, 0);
    many_reports(&m2, 10, 0);
    tlsrpt_decoder *d1 = decode(m.p, m.n, NULL, &rc);
    tlsrpt_decoder *d10 = decode(m2.p, m2.n, NULL, &rc);
    size_t e1 = tlsrpt_memory_estimate(d1), e10 = tlsrpt_memory_estimate(d10);
    char name[160];
    snprintf(name, sizeof name, "memory estimate counts kept reports (1: %zu, 10: %zu bytes)", e1, e10);
    T_CHECK(tlsrpt_result_count(d10) == 10 && e10 >= e1 + 9 * 65536, name);
    tlsrpt_report *t = tlsrpt_take_result(d10);
    T_CHECK(tlsrpt_memory_estimate(d10) < e10, "a taken report leaves the estimate");
    tlsrpt_report_free(t);
    tlsrpt_decoder_free(d1);
    tlsrpt_decoder_free(d10);
    free(m.p);
    free(m2.p);
}

/* Run the several-reports tests. */
int main(void)
{
    test_fixtures();
    test_rules();
    test_bounds();
    T_MAIN_END();
}
