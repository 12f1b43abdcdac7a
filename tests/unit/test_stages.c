/*
 * test_stages.c - unit tests of the decoder's transfer and header stages
 * through parser/stages.h: base64, quoted-printable, MIME header fields
 * and parameters (RFC 2045/2231), and the payload stage's gzip/zlib/plain
 * sniffing with its report-size cap. JSON mapping is in test_map.c.
 * Every streaming stage is also checked split at every input position.
 */
#include "tlib.h"
#include "stages.h"
#include <zlib.h>

/* base64-decode in (split at `cut`); returns length or -1 (bad byte) or -2 (finish failed). */
static long b64_run(const char *in, size_t cut, unsigned char *out)
{
    b64_state s;
    size_t len = strlen(in);
    long n1, n2;
    b64_init(&s);
    if (cut > len)
        cut = len;
    if ((n1 = b64_decode(&s, in, cut, out)) < 0)
        return -1;
    if ((n2 = b64_decode(&s, in + cut, len - cut, out + n1)) < 0)
        return -1;
    return b64_finish(&s) < 0 ? -2 : n1 + n2;
}

/* One base64 case checked at every split position. */
static void b64_case(const char *name, const char *in, const char *want, long want_rc)
{
    unsigned char out[1024];
    int ok = 1;
    char why[256] = "";
    for (size_t cut = 0; cut <= strlen(in) && ok; cut++) {
        long n = b64_run(in, cut, out);
        if (want_rc < 0 ? n != want_rc
                        : (n != (long)strlen(want) || memcmp(out, want, (size_t)n) != 0)) {
            snprintf(why, sizeof why, "%s: split at %zu gave %ld", name, cut, n);
            ok = 0;
        }
    }
    T_CHECK(ok, ok ? name : why);
}

/* base64: ragged lines, whitespace, CRLF, padding, errors. */
static void test_b64(void)
{
    b64_case("b64 plain", "eyJhIjoxfQ==", "{\"a\":1}", 0);
    b64_case("b64 ragged lines + CRLF", "ey\r\nJhIj\r\noxf\r\nQ=\r\n=\r\n", "{\"a\":1}", 0);
    b64_case("b64 spaces and tabs", " e y J h\tIjoxfQ = = \n", "{\"a\":1}", 0);
    b64_case("b64 bare LF lines", "SGVs\nbG8s\nIHdv\ncmxk\n", "Hello, world", 0);
    b64_case("b64 one-byte pad", "QUI=", "AB", 0);
    b64_case("b64 bad char -> error", "eyJh*IjoxfQ==", NULL, -1);
    b64_case("b64 minus is not base64", "ab-d", NULL, -1);
    b64_case("b64 data after padding -> error", "QQ==QUJD", NULL, -1);
    b64_case("b64 truncated quantum -> error", "eyJhIjoxfQ==Q", NULL, -1);
    b64_case("b64 lone 6 bits at end -> finish error", "QUJDR", NULL, -2);
    /* binary round trip through every byte value */
    unsigned char bin[256], out[400];
    char enc[400];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)(255 - i);
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t e = 0;
    for (int i = 0; i < 256; i += 3) {
        unsigned v = (unsigned)bin[i] << 16 | (i + 1 < 256 ? (unsigned)bin[i + 1] << 8 : 0) |
                     (i + 2 < 256 ? bin[i + 2] : 0);
        enc[e++] = a[v >> 18 & 63];
        enc[e++] = a[v >> 12 & 63];
        enc[e++] = i + 1 < 256 ? a[v >> 6 & 63] : '=';
        enc[e++] = i + 2 < 256 ? a[v & 63] : '=';
        if (e % 77 == 76)
            enc[e++] = '\n';
    }
    enc[e] = 0;
    long n = b64_run(enc, e / 2, out);
    T_CHECK(n == 256 && memcmp(out, bin, 256) == 0, "b64 all byte values round trip");
}

/* quoted-printable decode of in split at cut. */
static size_t qp_run(const char *in, size_t cut, unsigned char *out)
{
    qp_state s;
    size_t len = strlen(in), n;
    qp_init(&s);
    n = qp_decode(&s, in, cut, out);
    n += qp_decode(&s, in + cut, len - cut, out + n);
    n += qp_finish(&s, out + n);
    return n;
}

/* One QP case checked at every split position. */
static void qp_case(const char *name, const char *in, const char *want)
{
    unsigned char out[4096];
    int ok = 1;
    char why[512] = "";
    for (size_t cut = 0; cut <= strlen(in) && ok; cut++) {
        size_t n = qp_run(in, cut, out);
        if (n != strlen(want) || memcmp(out, want, n) != 0) {
            snprintf(why, sizeof why, "%s: split at %zu gave \"%.*s\"", name, cut, (int)n, out);
            ok = 0;
        }
    }
    T_CHECK(ok, ok ? name : why);
}

/* quoted-printable: soft breaks, escapes, lenient on bad escapes. */
static void test_qp(void)
{
    qp_case("qp =XX escapes", "{\"a\"=3D=22b=22}", "{\"a\"=\"b\"}");
    qp_case("qp lower-case hex accepted", "=7b=7D", "{}");
    qp_case("qp soft break LF", "{\"org\":\"Exa=\nmple\"}", "{\"org\":\"Example\"}");
    qp_case("qp soft break CRLF", "{\"org\":\"Exa=\r\nmple\"}", "{\"org\":\"Example\"}");
    qp_case("qp soft break with trailing blanks", "ab= \t\r\ncd", "abcd");
    qp_case("qp hard line breaks kept", "a\nb\r\nc", "a\nb\r\nc");
    qp_case("qp trailing whitespace dropped", "a  \nb\t\r\nc", "a\nb\r\nc");
    qp_case("qp inner whitespace kept", "a  b", "a  b");
    qp_case("qp bad escape kept verbatim", "a=ZZb=4", "a=ZZb=4");
    qp_case("qp =X then bad", "x=4G", "x=4G");
    qp_case("qp UTF-8 bytes", "=C3=BC", "\xC3\xBC");
    unsigned char o[64];
    size_t on = qp_run("abc=", 4, o);
    T_CHECK((on == 3 || (on == 4 && o[3] == '=')) && memcmp(o, "abc", 3) == 0,
            "qp lone = at the end dropped or kept");
    /* a long run of trailing whitespace beyond the hold buffer must not overflow */
    char in[400], want[400];
    memset(in, ' ', 300);
    strcpy(in + 300, "x");
    strcpy(want, in);
    qp_case("qp 300 blanks then text", in, want);
}

/* MIME Content-Type parsing. */
static void test_ctype(void)
{
    mime_ctype ct;
    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("Multipart/Report; report-type=\"tlsrpt\"; boundary=\"----=_Next_0\"", &ct);
    T_STREQ(ct.type, "multipart/report", "ctype type lower-cased");
    T_STREQ(ct.boundary, "----=_Next_0", "ctype quoted boundary");
    T_STREQ(ct.report_type, "tlsrpt", "ctype report-type quoted");

    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("multipart/report; BOUNDARY=Simple-Bnd_42; Report-Type=TLSRPT", &ct);
    T_STREQ(ct.boundary, "Simple-Bnd_42", "ctype unquoted boundary keeps case");
    T_STREQ(ct.report_type, "tlsrpt", "ctype report-type unquoted, upper -> lower");

    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("multipart/report; boundary=\"=_a'()+,-./:=?\"; report-type=tlsrpt", &ct);
    T_STREQ(ct.boundary, "=_a'()+,-./:=?", "ctype boundary with special characters");

    memset(&ct, 0, sizeof ct);
    mime_parse_ctype(" application/tlsrpt+gzip ; name=\"a;b.json.gz\"", &ct);
    T_STREQ(ct.type, "application/tlsrpt+gzip", "ctype type with blanks around");
    T_STREQ(ct.name, "a;b.json.gz", "ctype quoted name containing ';'");

    memset(&ct, 0, sizeof ct);
    char v[] = "application/tlsrpt+gzip; \r\n\tname=\"google.com!x.json.gz\"";
    mime_unfold(v);
    T_STREQ(v, "application/tlsrpt+gzip; \tname=\"google.com!x.json.gz\"", "mime_unfold CRLF+tab");
    mime_parse_ctype(v, &ct);
    T_STREQ(ct.name, "google.com!x.json.gz", "ctype folded name after trailing space");

    char v2[] = "a;\n b;\r\n\t c";
    mime_unfold(v2);
    T_STREQ(v2, "a; b;\t c", "mime_unfold LF and CRLF folds keep the blanks");

    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("text/plain", &ct);
    T_CHECK(ct.boundary[0] == 0 && ct.name[0] == 0 && ct.report_type[0] == 0,
            "ctype without parameters leaves them empty");
    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("", &ct);
    T_STREQ(ct.type, "", "ctype empty value");
}

/* MIME parameters: RFC 2231, dispositions, CTE. */
static void test_params(void)
{
    char out[256];
    T_CHECK(mime_get_param("attachment; FileName=\"r.json\"", "filename", out, sizeof out) == 1,
            "param found case-insensitively");
    T_STREQ(out, "r.json", "param value");
    T_CHECK(mime_get_param("attachment; name=x", "filename", out, sizeof out) == 0,
            "param absent -> 0");
    T_CHECK(mime_get_param("attachment; xfilename=a; filename=b", "filename", out, sizeof out) &&
            strcmp(out, "b") == 0, "param name must match exactly");
    mime_get_param("attachment; filename=\"a \\\"q\\\" b\"", "filename", out, sizeof out);
    T_STREQ(out, "a \"q\" b", "param quoted-pair unescaped");

    mime_get_param("attachment; filename*0*=UTF-8''reporter.example%21example.net%21;"
                   " filename*1=\"1714521600!1714608000.js\"; filename*2=on.gz",
                   "filename", out, sizeof out);
    T_STREQ(out, "reporter.example!example.net!1714521600!1714608000.json.gz",
            "RFC 2231 continuations with charset and %XX");
    mime_get_param("x; filename*1=b.json; filename*0=a", "filename", out, sizeof out);
    T_STREQ(out, "ab.json", "RFC 2231 segments out of order");
    mime_get_param("x; NAME*=us-ascii'en'report%2Ejson", "name", out, sizeof out);
    T_STREQ(out, "report.json", "RFC 2231 single encoded value with lang");
    mime_get_param("x; name*=''%e4%6a", "name", out, sizeof out);
    T_STREQ(out, "\xe4j", "RFC 2231 lower-case %xx, empty charset");
    mime_get_param("x; name*0*=%41%; name*1*=B", "name", out, sizeof out);
    T_CHECK(strstr(out, "A") != NULL && strlen(out) >= 2, "RFC 2231 bad % kept leniently");

    char small[8];
    mime_get_param("x; filename=\"a-very-long-name.json.gz\"", "filename", small, sizeof small);
    T_STREQ(small, "json.gz", "long value keeps its tail (suffix survives)");

    mime_ctype ct;
    memset(&ct, 0, sizeof ct);
    mime_parse_ctype("application/octet-stream; name=a.bin", &ct);
    mime_parse_disposition("attachment;\tfilename=\"b.json.gz\"", &ct);
    T_STREQ(ct.name, "b.json.gz", "disposition filename preferred over ctype name");
    memset(&ct, 0, sizeof ct);
    mime_parse_disposition("inline", &ct);
    mime_parse_ctype("application/octet-stream; name=c.json", &ct);
    T_STREQ(ct.name, "c.json", "ctype name used when disposition has none");

    T_INTEQ(mime_parse_cte(" BASE64 "), CTE_BASE64, "cte base64 any case");
    T_INTEQ(mime_parse_cte("Quoted-Printable"), CTE_QP, "cte quoted-printable");
    T_INTEQ(mime_parse_cte("7bit"), CTE_IDENTITY, "cte 7bit identity");
    T_INTEQ(mime_parse_cte("binary"), CTE_IDENTITY, "cte binary identity");
    T_INTEQ(mime_parse_cte("x-uuencode"), CTE_IDENTITY, "cte unknown identity");
}

/* Build a gzip member by hand with optional header fields. */
static size_t make_gzip(const char *data, int flags, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned char h[] = { 0x1f, 0x8b, 8, (unsigned char)flags, 0, 0, 0, 0, 2, 3 };
    memcpy(out, h, sizeof h);
    n = sizeof h;
    if (flags & 4) {                                    /* FEXTRA */
        memcpy(out + n, "\x06\x00" "AP\x02\x00xy", 8);
        n += 8;
    }
    if (flags & 8) {                                    /* FNAME */
        memcpy(out + n, "rpt01.json.1", 13);
        n += 13;
    }
    if (flags & 16) {                                   /* FCOMMENT */
        memcpy(out + n, "comment", 8);
        n += 8;
    }
    if (flags & 2) {                                    /* FHCRC */
        uLong c = crc32(0, out, (uInt)n);
        out[n++] = c & 255;
        out[n++] = (c >> 8) & 255;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)strlen(data);
    z.next_out = out + n;
    z.avail_out = (uInt)(cap - n - 8);
    deflate(&z, Z_FINISH);
    n += z.total_out;
    deflateEnd(&z);
    uLong c = crc32(0, (const unsigned char *)data, (uInt)strlen(data));
    size_t len = strlen(data);
    for (int i = 0; i < 4; i++)
        out[n++] = (c >> (8 * i)) & 255;
    for (int i = 0; i < 4; i++)
        out[n++] = (len >> (8 * i)) & 255;
    return n;
}

/* Run the payload stage over buf split at cut; returns rc and the object's "a" value. */
static int payload_run(const unsigned char *buf, size_t len, size_t cut, size_t cap, int sniff,
                       long long *a, int *rejected)
{
    payload p;
    char err[TLSRPT_ERRLEN] = "";
    int rc = payload_init(&p, cap, 32, sniff);
    *a = -1;
    if (rc == TLSRPT_OK)
        rc = payload_feed(&p, buf, cut, err);
    if (rc == TLSRPT_OK)
        rc = payload_feed(&p, buf + cut, len - cut, err);
    if (rc == TLSRPT_OK)
        rc = payload_finish(&p, err);
    *rejected = p.rejected;
    struct json_object *v;
    if (rc == TLSRPT_OK && p.js.obj && json_object_object_get_ex(p.js.obj, "a", &v))
        *a = json_object_get_int64(v);
    if (rc != TLSRPT_OK && !err[0])
        rc = -100;                                      /* an error must say why */
    payload_free(&p);
    return rc;
}

/* One payload case at every split position. */
static void payload_case(const char *name, const unsigned char *buf, size_t len, size_t cap,
                         int sniff, int want_rc, long long want_a)
{
    int ok = 1, rej;
    long long a;
    char why[256] = "";
    for (size_t cut = 0; cut <= len && ok; cut++) {
        int rc = payload_run(buf, len, cut, cap, sniff, &a, &rej);
        if (rc != want_rc || (want_rc == TLSRPT_OK && a != want_a)) {
            snprintf(why, sizeof why, "%s: split at %zu: rc %d a %lld", name, cut, rc, a);
            ok = 0;
        }
    }
    T_CHECK(ok, ok ? name : why);
}

/* gzip/zlib/plain payloads. */
static void test_payload(void)
{
    static const char *json = "{\"a\": 42, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
    unsigned char gz[1024], z[1024];
    size_t n;
    payload_case("payload plain JSON", (const unsigned char *)json, strlen(json), 1 << 20, 0,
                 TLSRPT_OK, 42);
    int flagsets[] = { 0, 8, 16, 4, 2, 4 | 8 | 16 | 2 };
    const char *names[] = { "payload gzip no flags", "payload gzip FNAME", "payload gzip FCOMMENT",
                            "payload gzip FEXTRA", "payload gzip FHCRC", "payload gzip all flags" };
    for (int i = 0; i < 6; i++) {
        n = make_gzip(json, flagsets[i], gz, sizeof gz);
        payload_case(names[i], gz, n, 1 << 20, 0, TLSRPT_OK, 42);
    }
    n = make_gzip(json, 8, gz, sizeof gz);
    memcpy(gz + n, "\0\0trailing garbage\x1f\x8b", 20);
    payload_case("payload gzip trailing garbage ignored", gz, n + 20, 1 << 20, 0, TLSRPT_OK, 42);
    n = make_gzip(json, 8, gz, sizeof gz);
    payload_case("payload truncated gzip -> corrupt-gzip", gz, n - 12, 1 << 20, 0,
                 TLSRPT_ERR_GZIP, 0);
    payload_case("payload gzip cut in the header -> corrupt-gzip", gz, 15, 1 << 20, 0,
                 TLSRPT_ERR_GZIP, 0);
    memcpy(z, gz, n);
    for (size_t i = 24; i < n - 10; i += 3)
        z[i] ^= 0xA5;                                    /* corrupt the deflate data */
    int rej;
    long long a;
    int rc = payload_run(z, n, n / 2, 1 << 20, 0, &a, &rej);
    T_CHECK(rc != TLSRPT_OK, "payload corrupt deflate -> an error");
    uLongf zl = sizeof z;
    compress2(z, &zl, (const Bytef *)json, strlen(json), 9);
    payload_case("payload zlib stream", z, zl, 1 << 20, 0, TLSRPT_OK, 42);
    payload_case("payload gzip over cap -> report-too-large", gz, n, 20, 0,
                 TLSRPT_ERR_REPORT_SIZE, 0);
    payload_case("payload plain over cap -> report-too-large", (const unsigned char *)json,
                 strlen(json), 20, 0, TLSRPT_ERR_REPORT_SIZE, 0);
    payload_case("payload exactly at cap is fine", (const unsigned char *)json, strlen(json),
                 strlen(json), 0, TLSRPT_OK, 42);
    payload_case("payload truncated JSON -> corrupt-json", (const unsigned char *)json, 20,
                 1 << 20, 0, TLSRPT_ERR_JSON, 0);

    rc = payload_run((const unsigned char *)"Hello, this is text", 19, 5, 1 << 20, 1, &a, &rej);
    T_CHECK(rc == TLSRPT_OK && rej, "payload sniff: plain text rejected quietly");
    rc = payload_run((const unsigned char *)"Hello", 5, 2, 1 << 20, 0, &a, &rej);
    T_INTEQ(rc, TLSRPT_ERR_JSON, "payload no sniff: text is corrupt JSON");
    rc = payload_run((const unsigned char *)" \r\n {\"a\":7}", 11, 3, 1 << 20, 1, &a, &rej);
    T_CHECK(rc == TLSRPT_OK && !rej && a == 7, "payload sniff: JSON after blanks accepted");
    rc = payload_run((const unsigned char *)"{\"a\":1} trailing", 16, 3, 1 << 20, 0, &a, &rej);
    T_CHECK(rc == TLSRPT_OK && a == 1, "payload: bytes after the JSON value ignored");
}

/* Run the stage tests. */
int main(void)
{
    test_b64();
    test_qp();
    test_ctype();
    test_params();
    test_payload();
    T_MAIN_END();
}
