/*
 * test_bounds.c - every decoder limit of the README's table exactly at its value
 * and one past it, through the public API (tlsrpt_decode_buffer, and the milter
 * way where the limit is counted there too), with a small configured limit and
 * with the default: MaxMessageBytes (16 MiB), MaxReportBytes (8 MiB, plain and
 * gzip), MaxHeaderBytes (64 KiB: LF, CRLF, folded, followed by a long field, the
 * milter way), MaxJsonDepth (32, json-c counting a scalar leaf as a level),
 * MaxMimeDepth (8, multiparts and message/rfc822) and MaxMimePart (100).
 * A result at the value must be the report (its report-id checked), one past it
 * the limit's own error. Memory: a few buffers of at most 16 MiB + 1.
 */
#include "tlib.h"
#include "tlib_report.h"
#include <zlib.h>

#define RID "rid-bounds"

/* A growable byte buffer (test-only: aborts on out of memory). */
typedef struct { char *p; size_t n, cap; } buf;

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
    b->p[b->n] = 0;
}

/* Append a C string. */
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Append n copies of byte c. */
static void fill(buf *b, int c, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = b->n + n + 1;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memset(b->p + b->n, c, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* A valid report of exactly total bytes (padded by a string member), nest extra
   arrays deep in a member "deep" (0: none); total 0: no padding. */
static void report_json(buf *b, size_t total, int nest)
{
    static const char head[] = "{\"organization-name\":\"Bound Org\",\"date-range\":{"
        "\"start-datetime\":\"2026-03-01T00:00:00Z\",\"end-datetime\":\"2026-03-01T23:59:59Z\"},"
        "\"contact-info\":\"c@reporter.example\",\"report-id\":\"" RID "\",\"policies\":[{\"policy\":"
        "{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"bounds.example\"},\"summary\":{"
        "\"total-successful-session-count\":3,\"total-failure-session-count\":0}}]";
    size_t start = b->n;
    puts_(b, head);
    if (nest > 0) {
        puts_(b, ",\"deep\":");
        fill(b, '[', (size_t)nest);
        puts_(b, "1");
        fill(b, ']', (size_t)nest);
    }
    if (total) {
        size_t used = b->n - start + strlen(",\"pad\":\"\"}");
        if (used > total)
            abort();
        puts_(b, ",\"pad\":\"");
        fill(b, 'p', total - used);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

/* gzip of a buffer. */
static void gzip_of(buf *out, const buf *in)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    fill(out, 0, deflateBound(&z, in->n) + 64);
    out->n -= deflateBound(&z, in->n) + 64;
    z.next_in = (unsigned char *)in->p;
    z.avail_in = (uInt)in->n;
    z.next_out = (unsigned char *)out->p + out->n;
    z.avail_out = (uInt)(out->cap - out->n - 1);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    out->n += z.total_out;
    deflateEnd(&z);
}

/* Decode b with limits lim (NULL: defaults) and check: want OK means the report with
   RID, anything else that error. way 1: the milter way. */
static void expect(const char *name, const buf *b, const tlsrpt_limits *lim, int want, int way)
{
    char full[300], err[512] = "";
    int rc;
    if (way) {
        char *s = tlib_decode_milter(b->p, b->n, lim, (tlib_cut){ 0, 0 }, &rc);
        snprintf(full, sizeof full, "%s (milter way) -> %s", name, tlsrpt_reason(want));
        T_CHECK(rc == want && (want != TLSRPT_OK || strstr(s, "report-id=\"" RID "\"\n")), full);
        if (rc != want)
            printf("    got %s\n", tlsrpt_reason(rc));
        free(s);
        return;
    }
    tlsrpt_report *r = tlib_decode(b->p, b->n, lim, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    snprintf(full, sizeof full, "%s -> %s", name, tlsrpt_reason(want));
    T_CHECK(rc == want && (want == TLSRPT_OK ? r && r->report_id && strcmp(r->report_id, RID) == 0
                           : err[0] != 0), full);
    if (rc != want)
        printf("    got %s: %s\n", tlsrpt_reason(rc), err);
    tlsrpt_report_free(r);
}

/* Headers of a report mail with a multipart body of boundary BB. */
static void mail_head(buf *b)
{
    puts_(b, "From: a@reporter.example\nTo: tlsrpt@example.net\nSubject: report\n"
             "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=tlsrpt; boundary=BB\n\n");
}

/* The report part and the close delimiter of BB. */
static void mail_report_part(buf *b)
{
    puts_(b, "--BB\nContent-Type: application/tlsrpt+json\n\n");
    report_json(b, 0, 0);
    puts_(b, "\n--BB--\n");
}

/* A mail of exactly total bytes: a text part of 'x' before the report part. */
static void sized_mail(buf *b, size_t total)
{
    buf tail = { 0 };
    mail_report_part(&tail);
    mail_head(b);
    puts_(b, "--BB\nContent-Type: text/plain\n\n");
    if (b->n + 1 + tail.n > total)
        abort();
    fill(b, 'x', total - b->n - 1 - tail.n);
    puts_(b, "\n");
    put(b, tail.p, tail.n);
    free(tail.p);
}

/* MaxMessageBytes: a mail of exactly L bytes passes with limit L, L - 1 does not. */
static void test_message_bytes(void)
{
    tlsrpt_limits lim;
    buf b = { 0 };
    mail_head(&b);
    mail_report_part(&b);
    tlsrpt_limits_default(&lim);
    lim.max_message_bytes = b.n;
    expect("MaxMessageBytes: message of exactly the limit", &b, &lim, TLSRPT_OK, 0);
    lim.max_message_bytes = b.n - 1;
    expect("MaxMessageBytes: message one byte over the limit", &b, &lim, TLSRPT_ERR_MESSAGE_SIZE, 0);
    free(b.p);
    for (size_t extra = 0; extra <= 1; extra++) {
        buf m = { 0 };
        sized_mail(&m, TLSRPT_DEF_MAX_MESSAGE_BYTES + extra);
        T_INTEQ(m.n, TLSRPT_DEF_MAX_MESSAGE_BYTES + extra, "MaxMessageBytes default: mail size");
        expect(extra ? "MaxMessageBytes default: 16 MiB + 1 message"
                     : "MaxMessageBytes default: 16 MiB message", &m, NULL,
               extra ? TLSRPT_ERR_MESSAGE_SIZE : TLSRPT_OK, 0);
        free(m.p);
    }
}

/* MaxReportBytes: the decoded report of exactly L bytes passes, L + 1 does not. */
static void test_report_bytes(void)
{
    tlsrpt_limits lim;
    tlsrpt_limits_default(&lim);
    lim.max_report_bytes = 4000;
    for (int gz = 0; gz <= 1; gz++) {
        for (size_t extra = 0; extra <= 1; extra++) {
            buf j = { 0 }, z = { 0 }, b = { 0 };
            char name[160];
            report_json(&j, lim.max_report_bytes + extra, 0);
            const buf *in = &j;
            if (gz) {
                gzip_of(&z, &j);
                in = &z;
            }
            snprintf(name, sizeof name, "MaxReportBytes 4000: %s report of %zu bytes",
                     gz ? "gzip'd" : "plain", j.n);
            expect(name, in, &lim, extra ? TLSRPT_ERR_REPORT_SIZE : TLSRPT_OK, 0);
            mail_head(&b);
            puts_(&b, gz ? "--BB\nContent-Type: application/tlsrpt+gzip\n\n"
                         : "--BB\nContent-Type: application/tlsrpt+json\n\n");
            put(&b, in->p, in->n);
            puts_(&b, "\n--BB--\n");
            snprintf(name, sizeof name, "MaxReportBytes 4000: %s report of %zu bytes in a mail",
                     gz ? "gzip'd" : "plain", j.n);
            expect(name, &b, &lim, extra ? TLSRPT_ERR_REPORT_SIZE : TLSRPT_OK, 0);
            free(j.p);
            free(z.p);
            free(b.p);
        }
    }
    for (size_t extra = 0; extra <= 1; extra++) {
        buf j = { 0 }, z = { 0 };
        report_json(&j, TLSRPT_DEF_MAX_REPORT_BYTES + extra, 0);
        gzip_of(&z, &j);
        expect(extra ? "MaxReportBytes default: gzip'd report of 8 MiB + 1"
                     : "MaxReportBytes default: gzip'd report of 8 MiB", &z, NULL,
               extra ? TLSRPT_ERR_REPORT_SIZE : TLSRPT_OK, 0);
        free(j.p);
        free(z.p);
    }
}

/* A mail whose first field has exactly flen bytes (line end not counted), with the
   given line end, folded into lines of 70 when fold, then a long field of next bytes. */
static void header_mail(buf *b, size_t flen, const char *eol, int fold, size_t next)
{
    size_t start = b->n;
    puts_(b, "X-Long: ");
    while (b->n - start < flen) {
        size_t col = 0;
        while (b->n - start < flen && (!fold || col < 70)) {
            puts_(b, "v");
            col++;
        }
        if (fold && b->n - start + strlen(eol) + 2 <= flen) {
            puts_(b, eol);
            puts_(b, "\t");
        }
    }
    puts_(b, eol);
    if (next) {
        puts_(b, "X-Next: ");
        fill(b, 'n', next - 8);
        puts_(b, eol);
    }
    puts_(b, "From: a@reporter.example");
    puts_(b, eol);
    puts_(b, "MIME-Version: 1.0");
    puts_(b, eol);
    puts_(b, "Content-Type: application/tlsrpt+json");
    puts_(b, eol);
    puts_(b, eol);
    report_json(b, 0, 0);
    puts_(b, eol);
}

/* MaxHeaderBytes: a field of exactly the limit (whatever follows it) passes, one more does not. */
static void test_header_bytes(void)
{
    static const char *const eols[] = { "\n", "\r\n" };
    tlsrpt_limits lim;
    char name[200];
    tlsrpt_limits_default(&lim);
    lim.max_header_bytes = 1000;
    for (int e = 0; e < 2; e++)
        for (int fold = 0; fold <= 1; fold++)
            for (size_t next = 0; next <= 1000; next += 1000)
                for (size_t extra = 0; extra <= 1; extra++)
                    for (int way = 0; way <= 1 - (e && fold); way++) {
                        buf b = { 0 };   /* the milter way never sees a folded field's CRs */
                        header_mail(&b, 1000 + extra, eols[e], fold, next);
                        snprintf(name, sizeof name, "MaxHeaderBytes 1000: %s%s field of %zu "
                                 "bytes%s", e ? "CRLF" : "LF", fold ? " folded" : "",
                                 1000 + extra, next ? ", then a field of 1000" : "");
                        expect(name, &b, &lim, extra ? TLSRPT_ERR_HEADER_SIZE : TLSRPT_OK, way);
                        free(b.p);
                    }
    for (size_t extra = 0; extra <= 1; extra++) {
        buf b = { 0 };
        header_mail(&b, TLSRPT_DEF_MAX_HEADER_BYTES + extra, "\r\n", 1, 0);
        expect(extra ? "MaxHeaderBytes default: folded field of 64 KiB + 1"
                     : "MaxHeaderBytes default: folded field of 64 KiB", &b, NULL,
               extra ? TLSRPT_ERR_HEADER_SIZE : TLSRPT_OK, 0);
        free(b.p);
    }
}

/* MaxJsonDepth: the report (depth 6 as json-c counts) with a member k arrays deep
   nests 2 + k levels (object, k arrays, the scalar): k = limit - 2 passes. */
static void test_json_depth(void)
{
    tlsrpt_limits lim;
    char name[160];
    for (int deflim = 0; deflim <= 1; deflim++) {
        tlsrpt_limits_default(&lim);
        if (!deflim)
            lim.max_json_depth = 8;
        for (int extra = 0; extra <= 1; extra++) {
            buf j = { 0 };
            report_json(&j, 0, lim.max_json_depth - 2 + extra);
            snprintf(name, sizeof name, "MaxJsonDepth %d: JSON %d levels deep", lim.max_json_depth,
                     lim.max_json_depth + extra);
            expect(name, &j, deflim ? NULL : &lim, extra ? TLSRPT_ERR_JSON_DEPTH : TLSRPT_OK, 0);
            free(j.p);
        }
    }
}

/* A mail whose report sits inside n nested levels (multiparts, every third a message/rfc822
   when rfc822), the top-level multipart being the first. */
static void nested_mail(buf *b, int n, int rfc822)
{
    char line[200];
    puts_(b, "From: a@reporter.example\nSubject: nested\nMIME-Version: 1.0\n");
    for (int i = 0; i < n; i++) {
        if (rfc822 && i % 3 == 1) {
            puts_(b, "Content-Type: message/rfc822\n\nFrom: inner@reporter.example\n"
                     "MIME-Version: 1.0\n");
            continue;
        }
        snprintf(line, sizeof line, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
        puts_(b, line);
    }
    puts_(b, "Content-Type: application/tlsrpt+json\n\n");
    report_json(b, 0, 0);
    puts_(b, "\n");
    for (int i = n - 1; i >= 0; i--) {
        if (rfc822 && i % 3 == 1)
            continue;
        snprintf(line, sizeof line, "--b%d--\n", i);
        puts_(b, line);
    }
}

/* MaxMimeDepth: n nested levels pass with limit n, n + 1 do not. */
static void test_mime_depth(void)
{
    tlsrpt_limits lim;
    char name[160];
    for (int deflim = 0; deflim <= 1; deflim++)
        for (int rfc822 = 0; rfc822 <= 1; rfc822++)
            for (int extra = 0; extra <= 1; extra++)
                for (int way = 0; way <= 1; way++) {
                    buf b = { 0 };
                    tlsrpt_limits_default(&lim);
                    if (!deflim)
                        lim.max_mime_depth = 3;
                    nested_mail(&b, lim.max_mime_depth + extra, rfc822);
                    snprintf(name, sizeof name, "MaxMimeDepth %d: %d nested levels%s",
                             lim.max_mime_depth, lim.max_mime_depth + extra,
                             rfc822 ? " (with message/rfc822)" : "");
                    expect(name, &b, deflim ? NULL : &lim, extra ? TLSRPT_ERR_MIME_DEPTH
                           : TLSRPT_OK, way);
                    free(b.p);
                }
}

/* MaxMimeParts: n parts in all (the report the last, inside a nested multipart when
   nested) pass with limit n, n + 1 do not. */
static void test_mime_parts(void)
{
    tlsrpt_limits lim;
    char name[160];
    for (int deflim = 0; deflim <= 1; deflim++)
        for (int nested = 0; nested <= 1; nested++)
            for (int extra = 0; extra <= 1; extra++)
                for (int way = 0; way <= 1; way++) {
                    buf b = { 0 };
                    tlsrpt_limits_default(&lim);
                    if (!deflim)
                        lim.max_mime_parts = 5;
                    int n = lim.max_mime_parts + extra;
                    mail_head(&b);
                    /* nested: the last text part and the report inside an inner multipart,
                       itself a part of the outer one */
                    for (int i = 0; i < n - 1 - 2 * nested; i++)
                        puts_(&b, "--BB\nContent-Type: text/plain\n\nfiller\n");
                    if (nested)
                        puts_(&b, "--BB\nContent-Type: multipart/mixed; boundary=CC\n\n"
                                  "--CC\nContent-Type: text/plain\n\nfiller\n--CC\n");
                    else
                        puts_(&b, "--BB\n");
                    puts_(&b, "Content-Type: application/tlsrpt+json\n\n");
                    report_json(&b, 0, 0);
                    puts_(&b, nested ? "\n--CC--\n--BB--\n" : "\n--BB--\n");
                    snprintf(name, sizeof name, "MaxMimeParts %d: %d parts%s", lim.max_mime_parts,
                             n, nested ? " (nested)" : "");
                    expect(name, &b, deflim ? NULL : &lim, extra ? TLSRPT_ERR_MIME_PARTS
                           : TLSRPT_OK, way);
                    free(b.p);
                }
}

int main(void)
{
    test_message_bytes();
    test_report_bytes();
    test_header_bytes();
    test_json_depth();
    test_mime_depth();
    test_mime_parts();
    T_MAIN_END();
}
