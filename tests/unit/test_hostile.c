/*
 * test_hostile.c - hostile inputs, each decoded with the default limits
 * AND with a configured small limit: a gzip bomb (~300 MB of spaces in a
 * JSON string, compressed to < 1 MB, base64 in a MIME part and bare) is
 * stopped at the cap with bounded peak RSS; JSON nested 100,000 deep;
 * truncated gzip and base64; MIME bombs (thousands of nested or sibling
 * parts); an over-long header; an over-long message; NUL bytes and
 * invalid UTF-8 in strings; 10,000 failure-details; no report; random
 * garbage (never a crash, always result XOR error with a message).
 * Memory: the bomb is generated streaming (64 KiB at a time).
 */
#include "tlib.h"
#include "tlib_report.h"
#include <stdint.h>
#include <sys/resource.h>
#include <zlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define RSS_BUDGET_MB 256          /* ASan's shadow memory and quarantine */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_BUDGET_MB 256
#endif
#endif
#ifndef RSS_BUDGET_MB
#define RSS_BUDGET_MB 64
#endif

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

/* Peak resident set size in MB. */
static long peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Decode with the given limits in 64 KiB chunks; returns the code (and frees all). */
static int run(const buf *b, const tlsrpt_limits *lim, enum tlsrpt_mode mode, char *err, size_t el)
{
    int rc;
    tlsrpt_report *r = tlib_decode(b->p, b->n, lim, mode, &rc, err, el);
    tlsrpt_report_free(r);
    return rc;
}

/* Check one input against both limit sets. */
static void expect2(const char *what, const buf *b, const tlsrpt_limits *small, int want_small,
                    int want_default)
{
    char name[256], err[512];
    int rc = run(b, NULL, TLSRPT_MODE_AUTO, err, sizeof err);
    snprintf(name, sizeof name, "%s (default limits) -> %s", what, tlsrpt_reason(want_default));
    T_CHECK(rc == want_default && (rc == TLSRPT_OK || err[0]), name);
    if (rc != want_default)
        printf("    got %s: %s\n", tlsrpt_reason(rc), err);
    rc = run(b, small, TLSRPT_MODE_AUTO, err, sizeof err);
    snprintf(name, sizeof name, "%s (small limit) -> %s", what, tlsrpt_reason(want_small));
    T_CHECK(rc == want_small && (rc == TLSRPT_OK || err[0]), name);
    if (rc != want_small)
        printf("    got %s: %s\n", tlsrpt_reason(rc), err);
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

/* A report mail around one attachment body (already encoded). */
static void mail(buf *b, const char *ctype, const char *cte, const buf *body)
{
    puts_(b, "From: a@reporter.example\nTo: tlsrpt@example.net\nSubject: report\n"
             "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=tlsrpt; boundary=BB\n\n"
             "--BB\nContent-Type: text/plain\n\nhello\n--BB\nContent-Type: ");
    puts_(b, ctype);
    puts_(b, "\nContent-Transfer-Encoding: ");
    puts_(b, cte);
    puts_(b, "\n\n");
    put(b, body->p, body->n);
    puts_(b, "\n--BB--\n");
}

/* gzip (with header) of prefix + nspace spaces + suffix, generated streaming. */
static void gzip_bomb(buf *out, const char *prefix, size_t nspace, const char *suffix)
{
    z_stream z;
    static unsigned char sp[65536], o[65536];
    memset(sp, ' ', sizeof sp);
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY);
    for (int stage = 0; stage < 3; stage++) {
        size_t left = stage == 1 ? nspace : strlen(stage ? suffix : prefix);
        const unsigned char *src = stage == 1 ? sp : (const unsigned char *)(stage ? suffix : prefix);
        while (left > 0 || stage == 2) {
            size_t n = stage == 1 ? (left < sizeof sp ? left : sizeof sp) : left;
            z.next_in = (unsigned char *)src;
            z.avail_in = (uInt)n;
            left -= n;
            int fl = stage == 2 && left == 0 ? Z_FINISH : Z_NO_FLUSH;
            int zr;
            do {
                z.next_out = o;
                z.avail_out = sizeof o;
                zr = deflate(&z, fl);
                put(out, o, sizeof o - z.avail_out);
            } while (z.avail_out == 0 || (fl == Z_FINISH && zr != Z_STREAM_END));
            if (stage == 2)
                break;
        }
    }
    deflateEnd(&z);
}

/* The decompression bomb, in a MIME part and bare. */
static void test_bomb(void)
{
    buf gz = { 0 }, b64 = { 0 }, m = { 0 };
    gzip_bomb(&gz, "{\"organization-name\":\"", (size_t)300 << 20, "\",\"policies\":[]}");
    T_CHECK(gz.n < 1024 * 1024, "bomb: 300 MB compressed to < 1 MB");
    put_b64(&b64, (unsigned char *)gz.p, gz.n);
    mail(&m, "application/tlsrpt+gzip", "base64", &b64);
    tlsrpt_limits small = { .max_report_bytes = 1 << 20 };
    long before = peak_mb();
    expect2("bomb in a base64 MIME part", &m, &small, TLSRPT_ERR_REPORT_SIZE, TLSRPT_ERR_REPORT_SIZE);
    expect2("bomb as a bare .json.gz", &gz, &small, TLSRPT_ERR_REPORT_SIZE, TLSRPT_ERR_REPORT_SIZE);
    tlib_cut c = { 0, 65536 };
    char *s = tlib_decode_milter(m.p, m.n, NULL, c, NULL);
    T_CHECK(strncmp(s, "ERR report-too-large", 20) == 0, "bomb the milter way -> report-too-large");
    free(s);
    long grew = peak_mb() - before;
    char name[128];
    snprintf(name, sizeof name, "bomb: peak RSS grew %ld MB (< %d MB)", grew, RSS_BUDGET_MB);
    T_CHECK(grew < RSS_BUDGET_MB, name);
    printf("# bomb: %zu bytes gzip, %zu bytes mail, peak RSS growth %ld MB\n", gz.n, m.n, grew);
    free(gz.p);
    free(b64.p);
    free(m.p);
}

/* JSON nested 100,000 deep, bare and in a mail. */
static void test_deep_json(void)
{
    buf j = { 0 }, m = { 0 }, o = { 0 };
    for (int i = 0; i < 100000; i++)
        puts_(&j, "[");
    for (int i = 0; i < 100000; i++)
        puts_(&j, "]");
    tlsrpt_limits small = { .max_json_depth = 4 };
    expect2("JSON arrays nested 100,000 deep", &j, &small, TLSRPT_ERR_JSON_DEPTH, TLSRPT_ERR_JSON_DEPTH);
    for (int i = 0; i < 100000; i++)
        puts_(&o, "{\"a\":");
    mail(&m, "application/tlsrpt+json", "7bit", &o);
    expect2("JSON objects nested 100,000 deep (truncated) in a mail", &m, &small,
            TLSRPT_ERR_JSON_DEPTH, TLSRPT_ERR_JSON_DEPTH);
    buf ok = { 0 };
    puts_(&ok, "{\"policies\":[{\"policy\":{\"policy-type\":\"sts\"}}]}");
    small.max_json_depth = 6;           /* json-c counts the scalar leaf as a level too */
    expect2("JSON report 4 containers deep", &ok, &small, TLSRPT_OK, TLSRPT_OK);
    free(j.p);
    free(m.p);
    free(o.p);
    free(ok.p);
}

static const char *REPORT =
    "{\"organization-name\":\"Org\",\"report-id\":\"r1\",\"date-range\":{\"start-datetime\":"
    "\"2024-01-01T00:00:00Z\",\"end-datetime\":\"2024-01-01T23:59:59Z\"},\"policies\":[{\"policy\":"
    "{\"policy-type\":\"sts\",\"policy-domain\":\"example.net\"},\"summary\":{\"total-successful-"
    "session-count\":5,\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":"
    "\"validation-failure\",\"failed-session-count\":1}]}]}";

/* Truncated gzip and base64. */
static void test_truncated(void)
{
    unsigned char gz[2048];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)REPORT;
    z.avail_in = (uInt)strlen(REPORT);
    z.next_out = gz;
    z.avail_out = sizeof gz;
    deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    tlsrpt_limits small = { .max_report_bytes = 4096, .max_message_bytes = 8192 };
    buf full = { 0 }, m = { 0 };
    put_b64(&full, gz, n);
    mail(&m, "application/tlsrpt+gzip", "base64", &full);
    expect2("intact gzip control case", &m, &small, TLSRPT_OK, TLSRPT_OK);
    buf half = { 0 }, mh = { 0 }, raw = { 0 };
    put_b64(&half, gz, n / 2);
    mail(&mh, "application/tlsrpt+gzip", "base64", &half);
    expect2("truncated gzip in a mail", &mh, &small, TLSRPT_ERR_GZIP, TLSRPT_ERR_GZIP);
    put(&raw, gz, n / 2);
    expect2("truncated bare gzip", &raw, &small, TLSRPT_ERR_GZIP, TLSRPT_ERR_GZIP);
    /* base64 cut so that a lone 6-bit group remains (4k+1 characters) */
    buf b = { 0 }, mb = { 0 };
    size_t keep = full.n;
    while (keep > 0 && (full.p[keep - 1] == '\n' || full.p[keep - 1] == '='))
        keep--;
    size_t chars = 0;
    for (size_t i = 0; i < keep; i++)
        chars += full.p[i] != '\n';
    while (chars % 4 != 1) {
        keep--;
        chars -= full.p[keep] != '\n';
    }
    put(&b, full.p, keep);
    mail(&mb, "application/tlsrpt+gzip", "base64", &b);
    char err[512];
    int rc = run(&mb, NULL, TLSRPT_MODE_AUTO, err, sizeof err);
    T_CHECK(rc == TLSRPT_ERR_BASE64 || rc == TLSRPT_ERR_GZIP, "truncated base64 -> corrupt-base64 or -gzip");
    rc = run(&mb, &small, TLSRPT_MODE_AUTO, err, sizeof err);
    T_CHECK(rc == TLSRPT_ERR_BASE64 || rc == TLSRPT_ERR_GZIP, "truncated base64 (small limit) -> an error");
    buf bad = { 0 }, mbad = { 0 };
    put(&bad, full.p, full.n / 2);
    puts_(&bad, "*!*\n");
    put(&bad, full.p + full.n / 2, full.n - full.n / 2);
    mail(&mbad, "application/tlsrpt+gzip", "base64", &bad);
    expect2("bad character in base64", &mbad, &small, TLSRPT_ERR_BASE64, TLSRPT_ERR_BASE64);
    free(full.p); free(m.p); free(half.p); free(mh.p); free(raw.p);
    free(b.p); free(mb.p); free(bad.p); free(mbad.p);
}

/* MIME bombs: thousands of nested and of sibling parts. */
static void test_mime_bombs(void)
{
    buf nested = { 0 }, sib = { 0 }, few = { 0 };
    char line[128];
    puts_(&nested, "From: a@b.example\nMIME-Version: 1.0\n");
    for (int i = 0; i < 5000; i++) {
        snprintf(line, sizeof line, "Content-Type: multipart/mixed; boundary=\"n%d\"\n\n--n%d\n", i, i);
        puts_(&nested, line);
    }
    puts_(&nested, "Content-Type: application/tlsrpt+json\n\n");
    puts_(&nested, REPORT);
    tlsrpt_limits small = { .max_mime_depth = 3, .max_mime_parts = 5 };
    expect2("MIME bomb: 5000 nested multiparts", &nested, &small, TLSRPT_ERR_MIME_DEPTH,
            TLSRPT_ERR_MIME_DEPTH);

    puts_(&sib, "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=S\n\n");
    for (int i = 0; i < 5000; i++)
        puts_(&sib, "--S\nContent-Type: text/plain\n\nx\n");
    puts_(&sib, "--S\nContent-Type: application/tlsrpt+json\n\n");
    puts_(&sib, REPORT);
    puts_(&sib, "\n--S--\n");
    expect2("MIME bomb: 5000 sibling parts", &sib, &small, TLSRPT_ERR_MIME_PARTS, TLSRPT_ERR_MIME_PARTS);

    puts_(&few, "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=S\n\n"
                "--S\nContent-Type: text/plain\n\nx\n--S\nContent-Type: application/tlsrpt+json\n\n");
    puts_(&few, REPORT);
    puts_(&few, "\n--S--\n");
    expect2("two parts under both limits", &few, &small, TLSRPT_OK, TLSRPT_OK);
    free(nested.p); free(sib.p); free(few.p);
}

/* Header field and message size limits, by feed and the milter way. */
static void test_sizes(void)
{
    buf h = { 0 }, big = { 0 }, folded = { 0 };
    puts_(&h, "From: a@b.example\nSubject: ");
    for (int i = 0; i < 100000; i++)
        puts_(&h, "x");
    puts_(&h, "\nContent-Type: application/tlsrpt+json\n\n");
    puts_(&h, REPORT);
    tlsrpt_limits small = { .max_header_bytes = 1024 };
    expect2("header field of 100 kB", &h, &small, TLSRPT_ERR_HEADER_SIZE, TLSRPT_ERR_HEADER_SIZE);
    puts_(&folded, "From: a@b.example\nX-Long: a\n");
    for (int i = 0; i < 8000; i++)
        puts_(&folded, "  folded\n");
    puts_(&folded, "Content-Type: application/tlsrpt+json\n\n");
    puts_(&folded, REPORT);
    expect2("folded header field of 70 kB", &folded, &small, TLSRPT_ERR_HEADER_SIZE,
            TLSRPT_ERR_HEADER_SIZE);
    buf ph = { 0 };
    puts_(&ph, "From: a@b.example\nContent-Type: multipart/mixed; boundary=S\n\n--S\n"
               "Content-Type: application/tlsrpt+json; name=\"");
    for (int i = 0; i < 70000; i++)
        puts_(&ph, "n");
    puts_(&ph, "\"\n\n");
    puts_(&ph, REPORT);
    puts_(&ph, "\n--S--\n");
    expect2("MIME part header field of 70 kB", &ph, &small, TLSRPT_ERR_HEADER_SIZE,
            TLSRPT_ERR_HEADER_SIZE);

    tlsrpt_decoder *d = tlsrpt_decoder_new(&small, TLSRPT_MODE_MESSAGE);
    char *v = malloc(2000);
    memset(v, 'v', 1999);
    v[1999] = 0;
    int rc = tlsrpt_feed_header(d, "Subject", v);
    if (rc == TLSRPT_OK)
        rc = tlsrpt_end_headers(d);
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    T_INTEQ(rc, TLSRPT_ERR_HEADER_SIZE, "milter way: 2000-byte header, limit 1024 -> header-too-long");
    T_INTEQ(tlsrpt_finish(d), TLSRPT_ERR_HEADER_SIZE, "error stays sticky");
    tlsrpt_decoder_free(d);
    free(v);

    small.max_message_bytes = 4000;
    puts_(&big, "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=S\n\n"
                "--S\nContent-Type: application/tlsrpt+json\n\n");
    puts_(&big, REPORT);
    puts_(&big, "\n--S\nContent-Type: text/plain\n\n");
    char row[1025];
    memset(row, 'y', 1023);
    row[1023] = '\n';
    row[1024] = 0;
    while (big.n < (size_t)17 << 20)
        put(&big, row, 1024);
    puts_(&big, "--S--\n");
    expect2("17 MB message", &big, &small, TLSRPT_ERR_MESSAGE_SIZE, TLSRPT_ERR_MESSAGE_SIZE);
    d = tlsrpt_decoder_new(&small, TLSRPT_MODE_AUTO);
    rc = TLSRPT_OK;
    size_t off = 0;
    while (off < big.n && rc == TLSRPT_OK) {
        rc = tlsrpt_feed(d, big.p + off, 1000);
        off += 1000;
    }
    T_CHECK(rc == TLSRPT_ERR_MESSAGE_SIZE && off <= 5000, "feed returns message-too-large at the limit");
    T_INTEQ(tlsrpt_feed(d, "x", 1), TLSRPT_ERR_MESSAGE_SIZE, "feed after the error stays failed");
    tlsrpt_decoder_free(d);
    free(h.p); free(big.p); free(folded.p); free(ph.p);
}

/* NUL bytes and invalid UTF-8 in strings; 10,000 failure-details. */
static void test_strings_and_many(void)
{
    buf j = { 0 };
    puts_(&j, "{\"organization-name\":\"A\\u0000B\",\"report-id\":\"\xff\xfe\xc3(\",\"policies\":"
              "[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"ex\\u0000ample.net\"},"
              "\"summary\":{\"total-successful-session-count\":7,\"total-failure-session-count\":2},"
              "\"failure-details\":[{\"result-type\":\"\xc0\xaf\",\"failed-session-count\":2}]}]}");
    char err[512];
    int rc;
    tlsrpt_limits small = { .max_report_bytes = 64 * 1024 };
    for (int pass = 0; pass < 2; pass++) {
        tlsrpt_report *r = tlib_decode(j.p, j.n, pass ? &small : NULL, TLSRPT_MODE_AUTO, &rc, err,
                                       sizeof err);
        T_CHECK(rc == TLSRPT_OK && r && r->n_policies == 1 && r->policies[0].total_successful == 7 &&
                r->policies[0].n_failures == 1 && r->policies[0].failures[0].failed_session_count == 2,
                pass ? "NUL and invalid UTF-8 -> correct report (small limit)"
                     : "NUL and invalid UTF-8 -> correct report");
        T_CHECK(r && r->organization_name && strcmp(r->organization_name, "A\xEF\xBF\xBD" "B") == 0,
                "NUL in a string -> U+FFFD");
        T_CHECK(r && r->report_id && strlen(r->report_id) > 0, "invalid UTF-8 string kept (non-empty)");
        tlsrpt_report_free(r);
    }
    buf many = { 0 };
    puts_(&many, "{\"organization-name\":\"Many\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
                 "\"policy-domain\":\"example.net\"},\"summary\":{\"total-successful-session-count\":1,"
                 "\"total-failure-session-count\":50005000},\"failure-details\":[");
    char fd[256];
    long long want = 0;
    for (int i = 1; i <= 10000; i++) {
        snprintf(fd, sizeof fd, "%s{\"result-type\":\"%s\",\"sending-mta-ip\":\"192.0.2.%d\","
                 "\"receiving-mx-hostname\":\"mx%d.example.net\",\"failed-session-count\":%d}",
                 i > 1 ? "," : "", i % 3 ? "validation-failure" : "certificate-expired", i % 250, i, i);
        puts_(&many, fd);
        want += i;
    }
    puts_(&many, "]}]}");
    tlsrpt_report *r = tlib_decode(many.p, many.n, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    long long sum = 0, ce = 0;
    for (size_t i = 0; r && r->n_policies == 1 && i < r->policies[0].n_failures; i++) {
        sum += r->policies[0].failures[i].failed_session_count;
        if (strcmp(r->policies[0].failures[i].result_type, "certificate-expired") == 0)
            ce += r->policies[0].failures[i].failed_session_count;
    }
    T_CHECK(rc == TLSRPT_OK && r && r->policies[0].n_failures == 10000, "10,000 failure-details kept");
    T_CHECK(sum == want && sum == 50005000, "10,000 failure-details: sum of counts");
    T_CHECK(ce == 16668333, "10,000 failure-details: sum for one result-type");
    char *pol = r ? tlib_policies_tsv(r) : NULL;
    T_STREQ(pol, "example.net:1:50005000:certificate-expired=16668333,validation-failure=33336667",
            "10,000 failure-details: per-type sums");
    free(pol);
    tlsrpt_report_free(r);
    buf mb = { 0 }, m = { 0 };
    put_b64(&mb, (unsigned char *)many.p, many.n);
    mail(&m, "application/tlsrpt+json", "base64", &mb);
    expect2("10,000 failure-details in a base64 mail", &m, &small, TLSRPT_ERR_REPORT_SIZE, TLSRPT_OK);
    free(j.p); free(many.p); free(mb.p); free(m.p);
}

/* No report at all. */
static void test_no_report(void)
{
    buf t = { 0 }, e = { 0 };
    puts_(&t, "From: a@b.example\nSubject: hi\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
              "boundary=S\n\n--S\nContent-Type: text/plain\n\nno report\n--S\nContent-Type: image/png\n"
              "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--S--\n");
    tlsrpt_limits small = { .max_mime_parts = 10 };
    expect2("mail without a report", &t, &small, TLSRPT_ERR_NO_REPORT, TLSRPT_ERR_NO_REPORT);
    char err[512];
    run(&t, NULL, TLSRPT_MODE_AUTO, err, sizeof err);
    T_CHECK(strstr(err, "no report found") != NULL, "no report: message says \"no report found\"");
    put(&e, "", 0);
    int rc = run(&e, NULL, TLSRPT_MODE_AUTO, err, sizeof err);
    T_CHECK(rc != TLSRPT_OK && err[0], "empty input -> an error with a message");
    free(t.p);
    free(e.p);
}

/* A leading UTF-8 byte order mark is skipped, split anywhere; JSON without "policies" is no report. */
static void test_bom_and_not_a_report(void)
{
    static const char bom[] = "\xEF\xBB\xBF{\"organization-name\":\"o\",\"report-id\":\"r\","
        "\"date-range\":{\"start-datetime\":\"2026-01-02T00:00:00Z\"},\"policies\":[]}";
    char name[64];
    int rc, same = 1;
    char *one = tlib_decode_feed(bom, strlen(bom), NULL, TLSRPT_MODE_AUTO, (tlib_cut){ 0, 0 }, &rc);
    T_INTEQ(rc, TLSRPT_OK, "bare JSON after a UTF-8 BOM decodes");
    for (size_t cut = 1; cut < 6; cut++) {
        char *two = tlib_decode_feed(bom, strlen(bom), NULL, TLSRPT_MODE_AUTO, (tlib_cut){ cut, 0 }, &rc);
        same &= one && two && strcmp(one, two) == 0;
        free(two);
    }
    snprintf(name, sizeof name, "BOM split inside the mark gives the same report");
    T_CHECK(same, name);
    free(one);
    static const char *notrep[] = { "{}", "{\"foo\":1}", "{\"organization-name\":\"x\"}" };
    for (size_t i = 0; i < 3; i++) {
        char *r = tlib_decode_feed(notrep[i], strlen(notrep[i]), NULL, TLSRPT_MODE_AUTO,
                                   (tlib_cut){ 0, 0 }, &rc);
        snprintf(name, sizeof name, "JSON without policies rejected: %s", notrep[i]);
        T_INTEQ(rc, TLSRPT_ERR_INVALID, name);
        free(r);
    }
}

/* Random garbage, plain and dressed up as a mail or a report, in random chunkings. */
static void test_garbage(void)
{
    static const char *pre[] = { "", "{", "\x1f\x8b\x08", "x\x9c",
        "Content-Type: multipart/report; boundary=Q\n\n--Q\nContent-Type: application/tlsrpt+gzip\n"
        "Content-Transfer-Encoding: base64\n\n",
        "Content-Type: application/tlsrpt+json\nContent-Transfer-Encoding: quoted-printable\n\n" };
    uint64_t x = 88172645463325252ull;
    unsigned char g[5000];
    int bad = 0, ok_random = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0, pl = strlen(pre[iter % 6]);
        memcpy(g, pre[iter % 6], pl);
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t n = x % (sizeof g - pl);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            g[pl + i] = (iter / 6) % 2 ? (unsigned char)x : "ABab+/=\n-Q{}\":,[]0"[x % 19];
        }
        len = pl + n;
        tlsrpt_limits small = { .max_report_bytes = 2000, .max_mime_parts = 3, .max_mime_depth = 2,
                                .max_header_bytes = 100, .max_json_depth = 3, .max_message_bytes = 4000 };
        tlib_cut how = { 0, (size_t)(x % 97) + 1 };
        int rc;
        char *s = tlib_decode_feed(g, len, iter % 3 ? &small : NULL, (enum tlsrpt_mode)(iter % 3), how, &rc);
        if ((rc == TLSRPT_OK) != (strncmp(s, "OK\n", 3) == 0) || strstr(s, "(empty error string)") ||
            strstr(s, "differs") || strstr(s, "without a result"))
            bad++;
        if (rc == TLSRPT_OK && iter % 6 == 0 && (iter / 6) % 2)
            ok_random++;
        free(s);
    }
    T_CHECK(bad == 0, "3000 garbage inputs: result XOR error with a message, no crash");
    T_CHECK(ok_random == 0, "pure random bytes never decode as a report");
}

/* API misuse and bookkeeping: out-of-order calls give "usage", never a crash. */
static void test_api(void)
{
    tlsrpt_decoder *d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_AUTO);
    tlsrpt_feed(d, "From: a@b\n", 10);
    T_INTEQ(tlsrpt_feed_header(d, "Subject", "x"), TLSRPT_ERR_USAGE, "feed_header after feed -> usage");
    T_CHECK(*tlsrpt_errstr(d) != 0, "usage error has a message");
    tlsrpt_decoder_free(d);
    d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_MESSAGE);
    T_INTEQ(tlsrpt_feed_body(d, "x", 1), TLSRPT_ERR_USAGE, "feed_body before end_headers -> usage");
    tlsrpt_decoder_free(d);
    d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_MESSAGE);
    tlsrpt_feed_header(d, "Content-Type", "application/tlsrpt+json");
    tlsrpt_end_headers(d);
    T_INTEQ(tlsrpt_end_headers(d), TLSRPT_ERR_USAGE, "end_headers twice -> usage");
    tlsrpt_decoder_free(d);
    d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_MESSAGE);
    tlsrpt_feed_header(d, "Subject", "nothing");
    tlsrpt_end_headers(d);
    T_INTEQ(tlsrpt_finish(d), TLSRPT_ERR_NO_REPORT, "milter way, no body -> no-report");
    tlsrpt_decoder_free(d);

    d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_RAW);
    size_t half = strlen(REPORT) / 2;
    tlsrpt_feed(d, REPORT, half);
    tlsrpt_feed(d, REPORT + half, strlen(REPORT) - half);
    T_INTEQ(tlsrpt_bytes_fed(d), strlen(REPORT), "bytes_fed counts every byte");
    T_INTEQ(tlsrpt_finish(d), TLSRPT_OK, "raw report decodes");
    T_CHECK(tlsrpt_result(d) != NULL && tlsrpt_error(d) == TLSRPT_OK && *tlsrpt_errstr(d) == 0,
            "result present, no error, empty message");
    tlsrpt_report *r = tlsrpt_take_result(d);
    T_CHECK(r && tlsrpt_result(d) == NULL, "take_result hands the report over");
    T_CHECK(r && r->n_policies == 1 && r->policies[0].total_successful == 5, "taken report intact");
    T_INTEQ(tlsrpt_feed(d, "x", 1), TLSRPT_ERR_USAGE, "feed after finish -> usage");
    tlsrpt_decoder_free(d);
    T_CHECK(r && r->organization_name && strcmp(r->organization_name, "Org") == 0,
            "taken report outlives its decoder");
    tlsrpt_report_free(r);
    tlsrpt_report_free(NULL);

    tlsrpt_limits l;
    tlsrpt_limits_default(&l);
    T_CHECK(l.max_message_bytes == TLSRPT_DEF_MAX_MESSAGE_BYTES &&
            l.max_report_bytes == TLSRPT_DEF_MAX_REPORT_BYTES &&
            l.max_header_bytes == TLSRPT_DEF_MAX_HEADER_BYTES &&
            l.max_json_depth == TLSRPT_DEF_MAX_JSON_DEPTH &&
            l.max_mime_depth == TLSRPT_DEF_MAX_MIME_DEPTH &&
            l.max_mime_parts == TLSRPT_DEF_MAX_MIME_PARTS, "limits_default sets the documented defaults");
    int distinct = 1;
    for (int i = 0; i < TLSRPT_ERR__COUNT; i++)
        for (int k = 0; k < i; k++)
            if (!tlsrpt_reason(i) || !*tlsrpt_reason(i) || strcmp(tlsrpt_reason(i), tlsrpt_reason(k)) == 0)
                distinct = 0;
    T_CHECK(distinct, "every error code has its own non-empty reason token");
    T_CHECK(tlsrpt_reason(TLSRPT_ERR__COUNT + 5) != NULL && tlsrpt_reason(-1) != NULL,
            "reason of an unknown code is not NULL");
    T_STREQ(tlsrpt_reason(TLSRPT_ERR_REPORT_SIZE), "report-too-large", "reason token report-too-large");
}

/* Run the hostile-input tests. */
int main(void)
{
    test_bomb();
    test_deep_json();
    test_truncated();
    test_mime_bombs();
    test_sizes();
    test_strings_and_many();
    test_no_report();
    test_bom_and_not_a_report();
    test_garbage();
    test_api();
    T_MAIN_END();
}
