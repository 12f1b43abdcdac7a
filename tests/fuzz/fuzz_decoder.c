/*
 * fuzz_decoder.c - libFuzzer target for the TLS-RPT decoder (parser/).
 *
 * Input layout: byte 0 picks the way and the chunking, byte 1 the limits,
 * the rest is fed to the decoder:
 *   byte0 & 3        0 feed AUTO, 1 feed MESSAGE, 2 feed RAW, 3 milter way
 *                    (header name/value pairs, end_headers, body chunks)
 *   (byte0 >> 2) & 7 chunk size 1, 2, 3, 7, 64, 4096, 65535, or varying
 *                    (sizes 1..256 drawn from a PRNG seeded by byte 1)
 *   byte0 >> 5       0 no cancel hook, K a hook that cancels at its K-th poll
 *   byte1 & 1        0 default limits, 1 small limits (from byte1's bits; JSON
 *                    values 16..128, so the value counter's limit is hit)
 * After finish it checks the invariants: finish repeats its result; a
 * report XOR an error; the report list and the report-part list agree (order,
 * decoded parts = reports, failed parts have a message); an error has a non-empty message and reason token
 * and equals tlsrpt_error(); every string of a report and the error message
 * are readable, well-formed UTF-8; counts
 * are in [0, MaxSessionCount]; day is "" or YYYY-MM-DD; a cancel hook is never polled
 * again once it cancelled, and the decoder ends cancelled exactly when it did. A
 * violation aborts (a crash report).
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined.
 */
#include "tlsrpt.h"
#include "stages.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t chunk_sizes[] = { 1, 2, 3, 7, 64, 4096, 65535, 0 };

/* Abort with a message: libFuzzer records the input as a crash. */
static void die(const char *why)
{
    fprintf(stderr, "invariant violated: %s\n", why);
    abort();
}

static int g_polls, g_cancel_at;

/* The cancel hook: cancels at poll g_cancel_at; polled after that is a bug. */
static int cancel_hook(void *arg)
{
    (void)arg;
    if (g_polls >= g_cancel_at)
        die("the cancel hook was polled again after it cancelled");
    return ++g_polls == g_cancel_at;
}

/* Touch every byte of a string so ASan sees a bad pointer or a missing NUL; it must
   be well-formed UTF-8 (the decoder repairs what the input had). */
static size_t touch(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (s && !utf8_valid(s, n))
        die("a report string is not well-formed UTF-8");
    return n;
}

/* Check a decoded report's structure. */
static void check_report(const tlsrpt_report *r)
{
    size_t n = touch(r->organization_name) + touch(r->contact_info) + touch(r->report_id) +
               touch(r->start_raw) + touch(r->end_raw);
    if (!(r->day[0] == 0 || (strlen(r->day) == 10 && r->day[4] == '-' && r->day[7] == '-')))
        die("day is neither empty nor YYYY-MM-DD");
    if (r->has_start && !r->start_raw)
        die("has_start without start_raw");
    if (r->n_policies && !r->policies)
        die("n_policies without policies");
    for (size_t i = 0; i < r->n_policies; i++) {
        const tlsrpt_policy *p = &r->policies[i];
        n += touch(p->policy_type) + touch(p->policy_domain);
        for (size_t k = 0; k < p->n_policy_string; k++)
            n += touch(p->policy_string[k]);
        for (size_t k = 0; k < p->n_mx_host; k++)
            n += touch(p->mx_host[k]);
        if (p->total_successful < 0 || p->total_failure < 0)
            die("negative summary count");
        if (p->total_successful > TLSRPT_DEF_MAX_SESSION_COUNT || p->total_failure > TLSRPT_DEF_MAX_SESSION_COUNT)
            die("summary count above MaxSessionCount");
        if (p->policy_domain_from_header && !p->policy_domain)
            die("domain from header but NULL");
        for (size_t k = 0; k < p->n_failures; k++) {
            const tlsrpt_failure *f = &p->failures[k];
            n += touch(f->result_type) + touch(f->sending_mta_ip) + touch(f->receiving_mx_hostname) +
                 touch(f->receiving_mx_helo) + touch(f->receiving_ip) +
                 touch(f->additional_information) + touch(f->failure_reason_code);
            if (f->failed_session_count < 0 || f->failed_session_count > TLSRPT_DEF_MAX_SESSION_COUNT)
                die("failed-session-count negative or above MaxSessionCount");
        }
    }
    (void)n;
}

/* The report list and the part list agree (several reports per mail). */
static void check_lists(tlsrpt_decoder *d, int fin)
{
    size_t nr = tlsrpt_result_count(d), np = tlsrpt_part_count(d), ok = 0;
    int last = 0;
    if ((fin == TLSRPT_OK) != (nr > 0) || np < nr)
        die("result count does not match finish / the part list");
    if (nr && tlsrpt_result(d) != tlsrpt_result_at(d, 0))
        die("tlsrpt_result is not the first report");
    for (size_t i = 0; i < nr; i++)
        check_report(tlsrpt_result_at(d, i));
    for (size_t i = 0; i < np; i++) {
        tlsrpt_part p;
        int rc = tlsrpt_part_at(d, i, &p);
        if (rc != p.err || p.part <= last)
            die("part list out of order or inconsistent");
        last = p.part;
        if (rc == TLSRPT_OK) {
            if (fin == TLSRPT_OK && p.report != tlsrpt_result_at(d, ok))
                die("a decoded part's report is not the next report");
            ok++;
        } else if (!*p.msg || !utf8_valid(p.msg, strlen(p.msg)) || !*tlsrpt_reason(rc)) {
            die("a failed part without a well-formed message or reason");
        }
    }
    if (fin == TLSRPT_OK && ok != nr)
        die("decoded parts and reports differ in number");
}

/* Feed len bytes through fn in the chosen chunking. */
static int feed(tlsrpt_decoder *d, int (*fn)(tlsrpt_decoder *, const void *, size_t),
                const uint8_t *p, size_t len, size_t chunk, uint32_t *seed)
{
    int rc = TLSRPT_OK;
    while (len > 0 && rc == TLSRPT_OK) {
        size_t n = chunk;
        if (!n) {
            *seed = *seed * 1103515245u + 12345u;
            n = (*seed >> 16) % 256 + 1;
        }
        if (n > len)
            n = len;
        rc = fn(d, p, n);
        p += n;
        len -= n;
        if (tlsrpt_memory_estimate(d) > (size_t)1 << 31)
            die("memory estimate beyond 2 GB for a fuzz input");
    }
    return rc;
}

/* The milter way: split the header block into fields, then feed the body. */
static int milter_way(tlsrpt_decoder *d, const uint8_t *p, size_t len, size_t chunk,
                      uint32_t *seed)
{
    const uint8_t *end = p + len;
    int rc = TLSRPT_OK;
    while (p < end && rc == TLSRPT_OK && *p != '\n' && *p != '\r') {
        const uint8_t *e = p;
        for (;;) {
            const uint8_t *nl = memchr(e, '\n', (size_t)(end - e));
            e = nl ? nl + 1 : end;
            if (e >= end || (*e != ' ' && *e != '\t'))
                break;
        }
        const uint8_t *colon = memchr(p, ':', (size_t)(e - p));
        if (colon) {
            char *name = strndup((const char *)p, (size_t)(colon - p));
            char *val = strndup((const char *)colon + 1, (size_t)(e - colon - 1));
            if (name && val)
                rc = tlsrpt_feed_header(d, name, val + strspn(val, " \t"));
            free(name);
            free(val);
        }
        p = e;
    }
    if (p < end && *p == '\r')                 /* the empty line ending the header */
        p++;
    if (p < end && *p == '\n')
        p++;
    if (rc == TLSRPT_OK)
        rc = tlsrpt_end_headers(d);
    if (rc == TLSRPT_OK)
        rc = feed(d, tlsrpt_feed_body, p, (size_t)(end - p), chunk, seed);
    return rc;
}

/* One fuzz input: decode it the chosen way and check the invariants. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int way = data[0] & 3;
    size_t chunk = chunk_sizes[(data[0] >> 2) & 7];
    uint32_t seed = data[1];
    tlsrpt_limits lim, *limp = NULL;
    if (data[1] & 1) {
        memset(&lim, 0, sizeof lim);
        lim.max_mime_depth = 1 + ((data[1] >> 1) & 3);
        lim.max_mime_parts = 2 + ((data[1] >> 3) & 7);
        lim.max_header_bytes = 64u << ((data[1] >> 6) & 3);
        lim.max_report_bytes = 4096;
        lim.max_json_depth = 8;
        lim.max_message_bytes = 1 << 16;
        lim.max_json_values = 16u << ((data[1] >> 4) & 3);
        limp = &lim;
    }
    data += 2;
    size -= 2;
    enum tlsrpt_mode mode = way == 1 ? TLSRPT_MODE_MESSAGE : way == 2 ? TLSRPT_MODE_RAW
                          : way == 3 ? TLSRPT_MODE_MESSAGE : TLSRPT_MODE_AUTO;
    tlsrpt_decoder *d = tlsrpt_decoder_new(limp, mode);
    if (!d)
        return 0;
    g_polls = 0;
    g_cancel_at = data[-2] >> 5;
    if (g_cancel_at)
        tlsrpt_decoder_set_cancel(d, cancel_hook, NULL);
    int rc = way == 3 ? milter_way(d, data, size, chunk, &seed)
                      : feed(d, tlsrpt_feed, data, size, chunk, &seed);
    int fin = tlsrpt_finish(d);
    if (rc != TLSRPT_OK && fin != rc)
        die("finish did not keep the sticky error");
    if (tlsrpt_finish(d) != fin)
        die("a second finish changed the result");
    if (tlsrpt_error(d) != fin)
        die("tlsrpt_error differs from finish");
    if ((g_cancel_at && g_polls == g_cancel_at) != (fin == TLSRPT_ERR_CANCELLED))
        die("cancelled without the hook saying so, or the hook's cancel not kept");
    if (tlsrpt_bytes_fed(d) > size + 1024 * 1024)
        die("bytes_fed larger than the input");
    const tlsrpt_report *r = tlsrpt_result(d);
    if ((fin == TLSRPT_OK) != (r != NULL))
        die("result XOR error broken");
    if (fin != TLSRPT_OK) {
        if (!tlsrpt_errstr(d) || !*tlsrpt_errstr(d))
            die("error without a message");
        if (!utf8_valid(tlsrpt_errstr(d), strlen(tlsrpt_errstr(d))))
            die("error message is not well-formed UTF-8");
        if (!tlsrpt_reason(fin) || !*tlsrpt_reason(fin))
            die("error without a reason token");
    }
    check_lists(d, fin);
    for (size_t n = tlsrpt_result_count(d); n > 0; n--) {
        tlsrpt_report *own = tlsrpt_take_result(d);
        if (!own || tlsrpt_result_count(d) != n - 1)
            die("take_result did not hand over the first report");
        tlsrpt_report_free(own);
    }
    if (tlsrpt_result(d) != NULL)
        die("a report left after taking them all");
    tlsrpt_decoder_free(d);
    return 0;
}
