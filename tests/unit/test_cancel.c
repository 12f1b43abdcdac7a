/*
 * test_cancel.c - the decoder's cancel hook (tlsrpt_decoder_set_cancel), which the
 * milter uses to cut a long decoding step short when it stops: a hook that never
 * cancels changes nothing (same report as without one) and is polled for every piece
 * of at most 16 KiB of JSON (1 MiB: 64 to 128 polls); a hook that cancels at its N-th poll stops the decoder
 * at once (polled exactly N times) with the sticky error TLSRPT_ERR_CANCELLED,
 * reason "cancelled", for a gzip'd bare report, a plain one, and a base64 gzip
 * attachment fed the milter way with the hook set in the middle of the part. The
 * input is a valid report padded with 1 MiB of blanks (a random mix of the four, so the
 * gzip stays ~256 KiB) inside its JSON object.
 */
#include "tlib.h"
#include "tlib_report.h"
#include <zlib.h>

#define PAD (1u << 20)

static const char REPORT_HEAD[] = "{\"organization-name\":\"Cancel Test\",";
static const char REPORT_TAIL[] =
    "\"date-range\":{\"start-datetime\":\"2026-11-30T00:00:00Z\","
    "\"end-datetime\":\"2026-11-30T23:59:59Z\"},\"contact-info\":\"tlsrpt@cancel.test\","
    "\"report-id\":\"cancel-1\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
    "\"policy-domain\":\"cancel.test\"},\"summary\":{\"total-successful-session-count\":7,"
    "\"total-failure-session-count\":1}}]}";

static int g_polls, g_cancel_at, g_flag;

/* Cancel at the g_cancel_at-th poll (0: never). */
static int hook_count(void *arg)
{
    (void)arg;
    return ++g_polls == g_cancel_at;
}

/* Cancel while g_flag is set. */
static int hook_flag(void *arg)
{
    (void)arg;
    g_polls++;
    return g_flag;
}

/* The padded report (malloc'd, *len). */
static char *padded_json(size_t *len)
{
    size_t h = strlen(REPORT_HEAD), t = strlen(REPORT_TAIL);
    char *j = malloc(h + PAD + t + 1);
    memcpy(j, REPORT_HEAD, h);
    unsigned x = 12345;                     /* blanks that gzip cannot shrink to nothing */
    for (size_t i = 0; i < PAD; i++) {
        x = x * 1103515245u + 12345u;
        j[h + i] = " \t\r\n"[x >> 16 & 3];
    }
    memcpy(j + h + PAD, REPORT_TAIL, t + 1);
    *len = h + PAD + t;
    return j;
}

/* gzip of buf (malloc'd, *out_len). */
static unsigned char *gzip_buf(const char *buf, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)buf;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* A report mail with buf as a base64 application/tlsrpt+gzip attachment; *body_off is
   where its body starts (after the blank line). */
static char *report_mail(const unsigned char *buf, size_t len, size_t *mlen, size_t *body_off)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *head = "From: reports@cancel.test\r\nTo: rua@rua.test\r\nSubject: Report\r\n"
                       "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
                       "report-type=tlsrpt; boundary=\"b\"\r\n\r\n";
    const char *part = "--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
                       "Content-Transfer-Encoding: base64\r\n\r\n";
    char *m = malloc(strlen(head) + strlen(part) + len * 2 + 64);
    size_t n = 0;
    n += (size_t)sprintf(m + n, "%s", head);
    *body_off = n;
    n += (size_t)sprintf(m + n, "%s", part);
    for (size_t i = 0, col = 0; i < len; i += 3) {
        unsigned v = (unsigned)buf[i] << 16 | (i + 1 < len ? (unsigned)buf[i + 1] << 8 : 0)
                     | (i + 2 < len ? buf[i + 2] : 0);
        m[n++] = b64[v >> 18 & 63];
        m[n++] = b64[v >> 12 & 63];
        m[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        m[n++] = i + 2 < len ? b64[v & 63] : '=';
        if ((col += 4) == 76 || i + 3 >= len) {
            m[n++] = '\r';
            m[n++] = '\n';
            col = 0;
        }
    }
    n += (size_t)sprintf(m + n, "--b--\r\n");
    *mlen = n;
    return m;
}

/* Feed a bare report in 64 KiB chunks with a counting hook; the first error or finish. */
static int feed_raw(const void *buf, size_t len, int cancel_at, tlsrpt_decoder **out)
{
    tlsrpt_decoder *d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_RAW);
    g_polls = 0;
    g_cancel_at = cancel_at;
    tlsrpt_decoder_set_cancel(d, hook_count, NULL);
    int rc = TLSRPT_OK;
    for (size_t off = 0; off < len && rc == TLSRPT_OK; off += 65536)
        rc = tlsrpt_feed(d, (const char *)buf + off, len - off < 65536 ? len - off : 65536);
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    *out = d;
    return rc;
}

/* One payload kind: never cancelled decodes as without a hook; cancelled at poll 10. */
static void check_raw(const char *what, const void *buf, size_t len, const tlsrpt_report *ref)
{
    char name[160];
    tlsrpt_decoder *d;
    int rc = feed_raw(buf, len, 0, &d);
    snprintf(name, sizeof name, "%s: a hook that never cancels: decoded", what);
    T_INTEQ(rc, TLSRPT_OK, name);
    char *a = rc == TLSRPT_OK ? tlib_render(tlsrpt_result(d)) : NULL, *b = tlib_render(ref);
    snprintf(name, sizeof name, "%s: ... the same report as without a hook", what);
    T_STREQ(a, b, name);
    free(a);
    free(b);
    snprintf(name, sizeof name, "%s: polled per piece of at most 16 KiB of JSON, not per byte "
             "(%d polls, %u..%u)", what, g_polls, PAD / 16384, 2 * PAD / 16384);
    T_CHECK(g_polls >= (int)(PAD / 16384) && g_polls <= (int)(2 * PAD / 16384), name);
    tlsrpt_decoder_free(d);

    rc = feed_raw(buf, len, 10, &d);
    snprintf(name, sizeof name, "%s: cancelled at the 10th poll: TLSRPT_ERR_CANCELLED", what);
    T_INTEQ(rc, TLSRPT_ERR_CANCELLED, name);
    snprintf(name, sizeof name, "%s: ... stopped at once (polled 10 times: %d)", what, g_polls);
    T_INTEQ(g_polls, 10, name);
    snprintf(name, sizeof name, "%s: ... reason cancelled", what);
    T_STREQ(tlsrpt_reason(tlsrpt_error(d)), "cancelled", name);
    snprintf(name, sizeof name, "%s: ... the message says so", what);
    T_CHECK(strstr(tlsrpt_errstr(d), "cancelled") != NULL, name);
    snprintf(name, sizeof name, "%s: ... sticky: more input and finish return it", what);
    T_CHECK(tlsrpt_feed(d, " ", 1) == TLSRPT_ERR_CANCELLED
            && tlsrpt_finish(d) == TLSRPT_ERR_CANCELLED && tlsrpt_result(d) == NULL, name);
    tlsrpt_decoder_free(d);
}

/* The milter way: the hook set (cancelling) in the middle of the report part. */
static void check_milter(const unsigned char *gz, size_t gzlen, const tlsrpt_report *ref)
{
    size_t mlen, boff;
    char *mail = report_mail(gz, gzlen, &mlen, &boff);
    int rc;
    char *got = tlib_decode_milter(mail, mlen, NULL, (tlib_cut){ 0, 4096 }, &rc);
    T_INTEQ(rc, TLSRPT_OK, "milter way: the attachment decodes without a hook");
    char *want = tlib_render(ref);
    T_CHECK(got && want && strstr(got, want) != NULL, "milter way: ... the same report");
    free(got);
    free(want);

    tlsrpt_decoder *d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_MESSAGE);
    const char *hdr[][2] = { { "From", " reports@cancel.test" }, { "To", " rua@rua.test" },
                             { "Subject", " Report" }, { "MIME-Version", " 1.0" },
                             { "Content-Type", " multipart/report; report-type=tlsrpt; boundary=\"b\"" } };
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++)
        tlsrpt_feed_header(d, hdr[i][0], hdr[i][1]);
    tlsrpt_end_headers(d);
    size_t half = boff + (mlen - boff) / 2, off = boff;
    rc = tlsrpt_feed_body(d, mail + off, half - off);
    T_INTEQ(rc, TLSRPT_OK, "milter way: the first half of the body decodes");
    g_polls = 0;
    g_flag = 0;
    tlsrpt_decoder_set_cancel(d, hook_flag, NULL);
    size_t c1 = mlen - half < 65536 ? mlen - half : 65536;
    rc = tlsrpt_feed_body(d, mail + half, c1);
    T_CHECK(rc == TLSRPT_OK && g_polls > 0, "milter way: a hook set mid-part is polled");
    g_flag = 1;
    int before = g_polls;
    size_t c2 = mlen - half - c1 < 65536 ? mlen - half - c1 : 65536;
    T_CHECK(c2 > 4096, "milter way: the mail is long enough for the test");
    rc = tlsrpt_feed_body(d, mail + half + c1, c2);
    T_INTEQ(rc, TLSRPT_ERR_CANCELLED, "milter way: cancelling stops the next body chunk");
    T_INTEQ(g_polls - before, 1, "milter way: ... at its first piece");
    T_INTEQ(tlsrpt_finish(d), TLSRPT_ERR_CANCELLED, "milter way: ... finish says cancelled");
    T_INTEQ(tlsrpt_result_count(d), 0, "milter way: ... no report");
    tlsrpt_decoder_free(d);
    free(mail);
}

int main(void)
{
    size_t jlen, gzlen;
    char *json = padded_json(&jlen);
    unsigned char *gz = gzip_buf(json, jlen, &gzlen);
    int rc;
    char err[256];
    tlsrpt_report *ref = tlib_decode(json, jlen, NULL, TLSRPT_MODE_RAW, &rc, err, sizeof err);
    T_CHECK(ref != NULL, "the padded report decodes without a hook");
    if (!ref) {
        printf("# %s\n", err);
        T_MAIN_END();
    }
    check_raw("gzip", gz, gzlen, ref);
    check_raw("plain", json, jlen, ref);
    check_milter(gz, gzlen, ref);
    T_STREQ(tlsrpt_reason(TLSRPT_ERR_CANCELLED), "cancelled", "reason token of TLSRPT_ERR_CANCELLED");
    tlsrpt_report_free(ref);
    free(gz);
    free(json);
    T_MAIN_END();
}
