/*
 * test_map.c - unit tests of the JSON stage and the report mapping
 * (parser/stages.h: json_stage_*, tlsrpt_map_report) and the date and
 * domain helpers of tlsrpt.h: every RFC 8460 field, mx-host as string or
 * array, null contact-info, TLS-Report-Domain fallback, invalid counts
 * (negative, fractional, string, beyond int64, above MaxSessionCount), unknown result-types kept
 * verbatim, dates with and without Z and with offsets -> UTC and day;
 * UTF-8 repair (overlong, surrogates, > U+10FFFF, truncated, NUL).
 */
#include "tlib.h"
#include "stages.h"
#include <stdint.h>

/* The RFC 8460 appendix B example with mx-host as an array. */
static const char *RFC_EXAMPLE =
    "{\"organization-name\":\"Company-X\","
    "\"date-range\":{\"start-datetime\":\"2016-04-01T00:00:00Z\",\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
    "\"contact-info\":\"sts-reporting@company-x.example\","
    "\"report-id\":\"5065427c-23d3-47ca-b6e0-946ea0e8c4be\","
    "\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\","
    "\"mode: testing\",\"mx: *.mail.company-y.example\",\"max_age: 86400\"],"
    "\"policy-domain\":\"company-y.example\",\"mx-host\":[\"*.mail.company-y.example\"]},"
    "\"summary\":{\"total-successful-session-count\":5326,\"total-failure-session-count\":303},"
    "\"failure-details\":[{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":\"2001:db8:abcd:0012::1\","
    "\"receiving-mx-hostname\":\"mx1.mail.company-y.example\",\"failed-session-count\":100},"
    "{\"result-type\":\"starttls-not-supported\",\"sending-mta-ip\":\"2001:db8:abcd:0013::1\","
    "\"receiving-mx-hostname\":\"mx2.mail.company-y.example\",\"receiving-ip\":\"203.0.113.56\","
    "\"failed-session-count\":200,\"additional-information\":\"https://reports.company-x.example/"
    "report_info?id=5065427c-23d3#StarttlsNotSupported\"},"
    "{\"result-type\":\"validation-failure\",\"sending-mta-ip\":\"198.51.100.62\","
    "\"receiving-ip\":\"203.0.113.58\",\"receiving-mx-helo\":\"mx3.mail.company-y.example\","
    "\"failed-session-count\":3,\"failure-reason-code\":\"X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED\"}]}]}";

/* Map a JSON text; returns the code, *out the report. */
static int map_text(const char *json, const char *hdr_domain, tlsrpt_report **out, char *err)
{
    struct json_object *o = json_tokener_parse(json);
    *out = NULL;
    if (!o) {
        snprintf(err, TLSRPT_ERRLEN, "test JSON did not parse");
        return -1;
    }
    int rc = tlsrpt_map_report(o, hdr_domain, out, err);
    json_object_put(o);
    return rc;
}

/* Every field of the RFC example. */
static void test_rfc_example(void)
{
    char err[TLSRPT_ERRLEN] = "";
    tlsrpt_report *r;
    int rc = map_text(RFC_EXAMPLE, "ignored.example", &r, err);
    T_INTEQ(rc, TLSRPT_OK, "map RFC example");
    if (!r)
        return;
    T_STREQ(r->organization_name, "Company-X", "organization-name");
    T_STREQ(r->contact_info, "sts-reporting@company-x.example", "contact-info");
    T_STREQ(r->report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be", "report-id");
    T_STREQ(r->start_raw, "2016-04-01T00:00:00Z", "start raw");
    T_STREQ(r->end_raw, "2016-04-01T23:59:59Z", "end raw");
    T_CHECK(r->has_start && r->start == 1459468800, "start as UTC time_t");
    T_CHECK(r->has_end && r->end == 1459555199, "end as UTC time_t");
    T_STREQ(r->day, "2016-04-01", "day");
    T_INTEQ(r->n_policies, 1, "one policy");
    tlsrpt_policy *p = &r->policies[0];
    T_STREQ(p->policy_type, "sts", "policy-type");
    T_CHECK(p->n_policy_string == 4 && strcmp(p->policy_string[2], "mx: *.mail.company-y.example") == 0,
            "policy-string array");
    T_CHECK(p->policy_domain && strcmp(p->policy_domain, "company-y.example") == 0 &&
            !p->policy_domain_from_header, "policy-domain from the report wins over the header");
    T_CHECK(p->n_mx_host == 1 && strcmp(p->mx_host[0], "*.mail.company-y.example") == 0,
            "mx-host array");
    T_CHECK(p->has_total_successful && p->total_successful == 5326, "total-successful");
    T_CHECK(p->has_total_failure && p->total_failure == 303, "total-failure");
    T_INTEQ(p->n_failures, 3, "three failure-details");
    if (p->n_failures == 3) {
        tlsrpt_failure *f = p->failures;
        T_STREQ(f[0].result_type, "certificate-expired", "failure 0 result-type");
        T_STREQ(f[0].sending_mta_ip, "2001:db8:abcd:0012::1", "failure 0 sending-mta-ip");
        T_STREQ(f[0].receiving_mx_hostname, "mx1.mail.company-y.example", "failure 0 mx hostname");
        T_CHECK(f[0].receiving_ip == NULL && f[0].receiving_mx_helo == NULL, "absent strings NULL");
        T_CHECK(f[0].has_failed_session_count && f[0].failed_session_count == 100, "failure 0 count");
        T_STREQ(f[1].receiving_ip, "203.0.113.56", "failure 1 receiving-ip");
        T_CHECK(f[1].additional_information && strstr(f[1].additional_information, "#Starttls"),
                "failure 1 additional-information");
        T_STREQ(f[2].receiving_mx_helo, "mx3.mail.company-y.example", "failure 2 receiving-mx-helo");
        T_STREQ(f[2].failure_reason_code, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
                "failure 2 failure-reason-code");
        T_INTEQ(f[2].failed_session_count, 3, "failure 2 count");
    }
    tlsrpt_report_free(r);
}

/* Shapes: mx-host string, null contact, header domain, unknown types, missing fields. */
static void test_shapes(void)
{
    char err[TLSRPT_ERRLEN] = "";
    tlsrpt_report *r;
    int rc = map_text("{\"contact-info\":null,\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
                      "\"mx-host\":\"mx.example.net\",\"policy-string\":\"version: STSv1\"}}]}",
                      NULL, &r, err);
    T_INTEQ(rc, TLSRPT_OK, "map mx-host string");
    if (r) {
        T_CHECK(r->contact_info == NULL, "contact-info null -> NULL");
        T_CHECK(r->policies[0].n_mx_host == 1 && strcmp(r->policies[0].mx_host[0], "mx.example.net") == 0,
                "mx-host string -> one-entry array");
        T_CHECK(r->policies[0].n_policy_string == 1, "policy-string string -> one-entry array");
        T_CHECK(r->policies[0].policy_domain == NULL, "no domain and no header -> NULL");
        T_CHECK(!r->policies[0].has_total_successful && !r->policies[0].has_total_failure,
                "summary absent -> has_* 0");
        T_CHECK(!r->has_start && r->day[0] == 0, "no date-range -> no start, empty day");
        tlsrpt_report_free(r);
    }
    rc = map_text("{\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\"},"
                  "\"summary\":{\"total-successful-session-count\":48}},"
                  "{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"\"}}]}",
                  "hdr.example", &r, err);
    T_INTEQ(rc, TLSRPT_OK, "map no-policy-found without domain");
    if (r) {
        T_CHECK(r->policies[0].policy_domain && strcmp(r->policies[0].policy_domain, "hdr.example") == 0 &&
                r->policies[0].policy_domain_from_header, "TLS-Report-Domain used for missing domain");
        T_CHECK(r->policies[1].policy_domain && strcmp(r->policies[1].policy_domain, "hdr.example") == 0,
                "TLS-Report-Domain used for empty domain");
        T_CHECK(r->policies[0].has_total_successful && !r->policies[0].has_total_failure,
                "summary without failure count");
        tlsrpt_report_free(r);
    }
    rc = map_text("{\"policies\":[{\"policy\":{\"policy-type\":\"x-new-type\"},\"failure-details\":["
                  "{\"result-type\":\"Testing\",\"failed-session-count\":2},"
                  "{\"result-type\":\"x-future-result\"},{\"failed-session-count\":1}]}],"
                  "\"unknown-key\":{\"deep\":[1,2,3]}}", NULL, &r, err);
    T_INTEQ(rc, TLSRPT_OK, "map unknown types and keys");
    if (r) {
        tlsrpt_policy *p = &r->policies[0];
        T_STREQ(p->policy_type, "x-new-type", "unknown policy-type verbatim");
        T_CHECK(p->n_failures == 3 && strcmp(p->failures[0].result_type, "Testing") == 0 &&
                strcmp(p->failures[1].result_type, "x-future-result") == 0,
                "unknown result-types verbatim (case kept)");
        T_CHECK(p->n_failures == 3 && !p->failures[1].has_failed_session_count &&
                p->failures[1].failed_session_count == 0, "missing failed-session-count -> 0, has 0");
        T_CHECK(p->n_failures == 3 && p->failures[2].result_type == NULL, "missing result-type NULL");
        tlsrpt_report_free(r);
    }
    rc = map_text("{\"organization-name\":\"a\\u0000b\",\"report-id\":\"\\u00e9\\ud83d\\ude00\",\"policies\":[]}",
                  NULL, &r, err);
    T_INTEQ(rc, TLSRPT_OK, "map strings with NUL and non-ASCII");
    if (r) {
        T_CHECK(memcmp(r->organization_name, "a\xEF\xBF\xBD" "b", 6) == 0, "embedded NUL -> U+FFFD");
        T_STREQ(r->report_id, "\xC3\xA9\xF0\x9F\x98\x80", "unicode escapes -> UTF-8");
        tlsrpt_report_free(r);
    }
}

/* Counts that make the whole report invalid, and the edge that is still fine. */
static void test_counts(void)
{
    static const char *bad[] = { "-1", "1.5", "\"5\"", "9223372036854775808",
                                 "18446744073709551615", "-9223372036854775809", "1e3", "true",
                                 "[1]", "{}" };
    char json[512], name[128], err[TLSRPT_ERRLEN];
    tlsrpt_report *r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int where = 0; where < 3; where++) {
            static const char *fmt[] = {
                "{\"policies\":[{\"summary\":{\"total-successful-session-count\":%s}}]}",
                "{\"policies\":[{\"summary\":{\"total-failure-session-count\":%s}}]}",
                "{\"policies\":[{\"failure-details\":[{\"result-type\":\"x\",\"failed-session-count\":1},"
                "{\"result-type\":\"y\",\"failed-session-count\":%s}]}]}" };
            snprintf(json, sizeof json, fmt[where], bad[i]);
            err[0] = 0;
            int rc = map_text(json, NULL, &r, err);
            snprintf(name, sizeof name, "count %s in %s -> invalid-report", bad[i],
                     where == 0 ? "total-successful" : where == 1 ? "total-failure" : "failure-details");
            T_CHECK(rc == TLSRPT_ERR_INVALID && r == NULL && err[0], name);
            tlsrpt_report_free(r);
        }
    }
    struct json_object *o = json_tokener_parse("{\"policies\":[{\"summary\":{\"total-successful-"
        "session-count\":9223372036854775807,\"total-failure-session-count\":0}}]}");
    int rc = tlsrpt_map_report_max(o, NULL, INT64_MAX, &r, err);
    json_object_put(o);
    T_CHECK(rc == TLSRPT_OK && r && r->policies[0].total_successful == INT64_MAX &&
            r->policies[0].has_total_failure && r->policies[0].total_failure == 0,
            "count 2^63-1 and 0 are valid when MaxSessionCount allows them");
    tlsrpt_report_free(r);
    static const char *empty[] = { "{}", "{\"foo\":1}", "{\"organization-name\":\"x\"}" };
    for (size_t i = 0; i < 3; i++) {
        rc = map_text(empty[i], NULL, &r, err);
        snprintf(name, sizeof name, "object without \"policies\" (%s) -> invalid-report", empty[i]);
        T_CHECK(rc == TLSRPT_ERR_INVALID && r == NULL, name);
        tlsrpt_report_free(r);
    }
    rc = map_text("[1,2]", NULL, &r, err);
    T_INTEQ(rc, TLSRPT_ERR_INVALID, "top-level array -> invalid-report");
    rc = map_text("{\"policies\":{\"a\":1}}", NULL, &r, err);
    T_INTEQ(rc, TLSRPT_ERR_INVALID, "policies not an array -> invalid-report");
    rc = map_text("{\"policies\":[{\"failure-details\":[1]}]}", NULL, &r, err);
    T_INTEQ(rc, TLSRPT_ERR_INVALID, "failure-details entry not an object -> invalid-report");
}

/* MaxSessionCount: 2^40 by default, each count field at the limit and one above. */
static void test_session_limit(void)
{
    static const char *fmt[] = {
        "{\"policies\":[{\"summary\":{\"total-successful-session-count\":%s}}]}",
        "{\"policies\":[{\"summary\":{\"total-failure-session-count\":%s}}]}",
        "{\"policies\":[{\"failure-details\":[{\"result-type\":\"y\",\"failed-session-count\":%s}]}]}" };
    static const char *field[] = { "total-successful-session-count", "total-failure-session-count",
                                   "failed-session-count" };
    char json[512], name[256], err[TLSRPT_ERRLEN], want[160];
    tlsrpt_report *r;
    T_INTEQ(TLSRPT_DEF_MAX_SESSION_COUNT, 1099511627776LL, "default MaxSessionCount is 2^40");
    for (int where = 0; where < 3; where++) {
        snprintf(json, sizeof json, fmt[where], "1099511627776");
        int rc = map_text(json, NULL, &r, err);
        int64_t got = !r ? -1 : where == 0 ? r->policies[0].total_successful
                    : where == 1 ? r->policies[0].total_failure : r->policies[0].failures[0].failed_session_count;
        snprintf(name, sizeof name, "%s 2^40 is valid (default limit)", field[where]);
        T_CHECK(rc == TLSRPT_OK && got == 1099511627776LL, name);
        tlsrpt_report_free(r);
        snprintf(json, sizeof json, fmt[where], "1099511627777");
        rc = map_text(json, NULL, &r, err);
        snprintf(name, sizeof name, "%s 2^40+1 -> invalid-report naming the field and value", field[where]);
        snprintf(want, sizeof want, "\"%s\" is 1099511627777, above the limit of 1099511627776", field[where]);
        T_CHECK(rc == TLSRPT_ERR_INVALID && !r && strstr(err, want) && strstr(err, "MaxSessionCount"), name);
        if (!strstr(err, want))
            printf("    message: %s\n", err);
        tlsrpt_report_free(r);
    }
    /* through the decoder, with a configured limit; 0 and negative mean the default */
    static const char *rep = "{\"policies\":[{\"summary\":{\"total-successful-session-count\":%lld}}]}";
    struct { int64_t lim, count; int want; const char *what; } c[] = {
        { 100, 100, TLSRPT_OK, "limits.max_session_count 100: 100 decodes" },
        { 100, 101, TLSRPT_ERR_INVALID, "limits.max_session_count 100: 101 -> invalid-report" },
        { 0, 1099511627776LL, TLSRPT_OK, "limits.max_session_count 0 = default: 2^40 decodes" },
        { 0, 1099511627777LL, TLSRPT_ERR_INVALID, "limits.max_session_count 0 = default: 2^40+1 invalid" },
        { -5, 1099511627777LL, TLSRPT_ERR_INVALID, "limits.max_session_count < 0 = default" },
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        tlsrpt_limits l = { .max_session_count = c[i].lim };
        snprintf(json, sizeof json, rep, (long long)c[i].count);
        int rc = tlsrpt_decode_buffer(json, strlen(json), &l, TLSRPT_MODE_RAW, &r, err, sizeof err);
        T_INTEQ(rc, c[i].want, c[i].what);
        tlsrpt_report_free(r);
    }
    tlsrpt_limits l;
    tlsrpt_limits_default(&l);
    T_INTEQ(l.max_session_count, TLSRPT_DEF_MAX_SESSION_COUNT, "limits_default sets max_session_count");
}

/* Dates: Z, none, offsets, fractions; day of start in UTC. */
static void test_dates(void)
{
    static const struct { const char *in; long long want; } ok[] = {
        { "2016-04-01T00:00:00Z", 1459468800 },
        { "2016-04-01T00:00:00", 1459468800 },
        { "2016-04-01t00:00:00z", 1459468800 },
        { "2016-04-01T00:00:00.123Z", 1459468800 },
        { "2016-04-01T02:00:00+02:00", 1459468800 },
        { "2016-03-31T19:30:00-04:30", 1459468800 },
        { "2024-02-29T23:59:59Z", 1709251199 },
        { "2000-01-01T00:00:00+0100", 946681200 },
    };
    char name[128];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        time_t t = 0;
        int rc = tlsrpt_parse_datetime(ok[i].in, &t);
        snprintf(name, sizeof name, "datetime %s", ok[i].in);
        T_CHECK(rc == 0 && (long long)t == ok[i].want, name);
    }
    static const char *bad[] = { "", "2016-04-01", "yesterday", "2016-13-01T00:00:00Z",
                                 "2016-04-01T25:00:00Z", "2016-04-01T00:00:00Zjunk",
                                 "2016/04/01T00:00:00Z" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        time_t t;
        snprintf(name, sizeof name, "datetime rejects \"%s\"", bad[i]);
        T_CHECK(tlsrpt_parse_datetime(bad[i], &t) != 0, name);
    }
    char err[TLSRPT_ERRLEN];
    tlsrpt_report *r;
    int rc = map_text("{\"date-range\":{\"start-datetime\":\"2024-03-01T23:00:00-02:00\","
                      "\"end-datetime\":\"not a date\"},\"policies\":[{}]}", NULL, &r, err);
    T_CHECK(rc == TLSRPT_OK && r && r->has_start && strcmp(r->day, "2024-03-02") == 0,
            "offset start -> UTC day of the next date");
    T_CHECK(r && !r->has_end && r->end_raw && strcmp(r->end_raw, "not a date") == 0,
            "unparseable end kept raw, has_end 0");
    tlsrpt_report_free(r);
    rc = map_text("{\"date-range\":{\"start-datetime\":\"2023-01-10T00:00:00\"},"
                  "\"policies\":[{}]}", NULL, &r, err);
    T_CHECK(rc == TLSRPT_OK && r && strcmp(r->day, "2023-01-10") == 0 && r->start == 1673308800,
            "Microsoft date without Z read as UTC");
    tlsrpt_report_free(r);

    char d[64];
    tlsrpt_normalize_domain("Example.NET.", d, sizeof d);
    T_STREQ(d, "example.net", "normalize domain: lower-case, trailing dot");
    tlsrpt_normalize_domain("a-very-long-domain.example", d, 7);
    T_CHECK(strlen(d) <= 6, "normalize domain truncates to the buffer");
}

/* The JSON stage: any chunking, depth limit, truncation. */
static void test_json_stage(void)
{
    char err[TLSRPT_ERRLEN];
    size_t len = strlen(RFC_EXAMPLE);
    int ok = 1;
    for (size_t cut = 0; cut <= len && ok; cut++) {
        json_stage s;
        json_stage_init(&s, 32);
        int rc = json_stage_feed(&s, RFC_EXAMPLE, cut, err);
        if (rc == TLSRPT_OK)
            rc = json_stage_feed(&s, RFC_EXAMPLE + cut, len - cut, err);
        if (rc == TLSRPT_OK)
            rc = json_stage_finish(&s, err);
        ok = rc == TLSRPT_OK && s.obj && json_object_is_type(s.obj, json_type_object);
        json_stage_free(&s);
    }
    T_CHECK(ok, "json stage: RFC example split at every position");

    char deep[200];
    for (int depth = 5; depth <= 6; depth++) {
        json_stage s;
        int n = 0;
        for (int i = 0; i < depth; i++)
            deep[n++] = '[';
        for (int i = 0; i < depth; i++)
            deep[n++] = ']';
        json_stage_init(&s, 5);
        int rc = json_stage_feed(&s, deep, (size_t)n, err);
        if (rc == TLSRPT_OK)
            rc = json_stage_finish(&s, err);
        T_INTEQ(rc, depth == 5 ? TLSRPT_OK : TLSRPT_ERR_JSON_DEPTH,
                depth == 5 ? "json depth at the limit ok" : "json depth over the limit -> json-too-deep");
        json_stage_free(&s);
    }
    json_stage s;
    json_stage_init(&s, 32);
    int rc = json_stage_feed(&s, RFC_EXAMPLE, len - 3, err);
    if (rc == TLSRPT_OK)
        rc = json_stage_finish(&s, err);
    T_CHECK(rc == TLSRPT_ERR_JSON && err[0], "json truncated -> corrupt-json with a message");
    json_stage_free(&s);
    json_stage_init(&s, 32);
    rc = json_stage_feed(&s, "{\"a\" 1}", 7, err);
    if (rc == TLSRPT_OK)
        rc = json_stage_finish(&s, err);
    T_INTEQ(rc, TLSRPT_ERR_JSON, "json syntax error -> corrupt-json");
    json_stage_free(&s);
    json_stage_init(&s, 32);
    rc = json_stage_finish(&s, err);
    T_INTEQ(rc, TLSRPT_ERR_JSON, "json empty input -> corrupt-json");
    json_stage_free(&s);
}

/* UTF-8 repair: each case maps input bytes to the repaired string (U+FFFD = "~" here). */
static void test_utf8(void)
{
    static const struct { const char *in; size_t n; const char *want; const char *what; } c[] = {
        { "plain ascii", 11, "plain ascii", "ASCII unchanged" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
          "valid 2-, 3- and 4-byte sequences unchanged" },
        { "a\0b", 3, "a~b", "NUL -> U+FFFD" },
        { "\xc0\xaf", 2, "~~", "overlong 2-byte '/' -> two U+FFFD" },
        { "\xe0\x80\xaf", 3, "~~~", "overlong 3-byte -> three U+FFFD" },
        { "\xf0\x80\x80\xaf", 4, "~~~~", "overlong 4-byte -> four U+FFFD" },
        { "\xed\xa0\x80", 3, "~~~", "surrogate U+D800 -> three U+FFFD" },
        { "\xed\x9f\xbf", 3, "\xed\x9f\xbf", "U+D7FF (below the surrogates) kept" },
        { "\xf4\x90\x80\x80", 4, "~~~~", "U+110000 -> four U+FFFD" },
        { "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", "U+10FFFF kept" },
        { "\xf5\x80", 2, "~~", "lead byte F5 -> U+FFFD each" },
        { "x\xe2\x82", 3, "x~", "sequence truncated at the end -> one U+FFFD" },
        { "\xe2\x82x", 3, "~x", "sequence truncated before ASCII -> one U+FFFD" },
        { "\xf0\x9f\x98\xe2\x82\xac", 6, "~\xe2\x82\xac", "truncated 4-byte then a valid one" },
        { "\x80\xbf", 2, "~~", "lone continuation bytes" },
        { "\xff\xfe\xc3(", 4, "~~~(", "FF FE C3 '(' -> three U+FFFD" },
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char out[64], want[64], name[128];
        size_t w = 0;
        for (const char *p = c[i].want; *p; p++) {
            if (*p == '~') {
                memcpy(want + w, "\xEF\xBF\xBD", 3);
                w += 3;
            } else {
                want[w++] = *p;
            }
        }
        want[w] = 0;
        size_t n = utf8_repair(c[i].in, c[i].n, NULL);
        size_t m = utf8_repair(c[i].in, c[i].n, out);
        out[m] = 0;
        snprintf(name, sizeof name, "utf8: %s", c[i].what);
        T_CHECK(n == m && m == w && memcmp(out, want, w) == 0 && utf8_valid(out, m) &&
                utf8_valid(c[i].in, c[i].n) == (strcmp(c[i].in, c[i].want) == 0 && c[i].n == strlen(c[i].in)),
                name);
    }
    char msg[] = "bad \xff\xc3 name\x01\xe2\x82\xac!";
    utf8_sanitize(msg);
    T_STREQ(msg, "bad ?? name?\xe2\x82\xac!", "utf8: messages: ill-formed bytes and controls -> '?'");

    static const char *rep = "{\"organization-name\":\"Bad \xc0\xaf Org\",\"report-id\":\"id\xed\xa0\x80\","
        "\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"mx-host\":[\"mx\xf4\x90\x80\x80\"]},"
        "\"failure-details\":[{\"result-type\":\"x\xe2\x82\",\"receiving-mx-helo\":\"\\ud800\"}]}]}";
    char err[TLSRPT_ERRLEN];
    tlsrpt_report *r;
    int rc = map_text(rep, "hdr\xff.example", &r, err);
    T_INTEQ(rc, TLSRPT_OK, "utf8: a report with invalid UTF-8 strings maps");
    if (!r)
        return;
    T_STREQ(r->organization_name, "Bad \xEF\xBF\xBD\xEF\xBF\xBD Org", "utf8: organization-name repaired");
    T_STREQ(r->report_id, "id\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "utf8: report-id repaired");
    T_STREQ(r->policies[0].mx_host[0], "mx\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
            "utf8: mx-host repaired");
    T_STREQ(r->policies[0].failures[0].result_type, "x\xEF\xBF\xBD", "utf8: result-type repaired");
    T_STREQ(r->policies[0].failures[0].receiving_mx_helo, "\xEF\xBF\xBD",
            "utf8: escaped lone surrogate -> U+FFFD (json-c)");
    T_STREQ(r->policies[0].policy_domain, "hdr\xEF\xBF\xBD.example", "utf8: TLS-Report-Domain repaired");
    tlsrpt_report_free(r);

    char dom[300], nd[8];
    snprintf(dom, sizeof dom, "ab\xc3\xa9\xc3\xa9");
    tlsrpt_normalize_domain(dom, nd, 6);
    T_STREQ(nd, "ab\xc3\xa9", "normalize_domain: truncation never cuts a UTF-8 sequence");
}

/* Run the mapping tests. */
/* Issue 12.2: a policy without policy-domain takes the header, else the one domain the
   other policies name (sys4 tlsrpt-reporter's no-policy-found policies), else the report
   is no-policy-domain; domain_source says where each domain came from. */
static void test_domain_fill(void)
{
    char err[TLSRPT_ERRLEN] = "";
    tlsrpt_report *r;
    static const char *const sys4 = "{\"policies\":["
        "{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"Example.ORG.\"},"
        "\"summary\":{\"total-successful-session-count\":17}},"
        "{\"policy\":{\"policy-type\":\"no-policy-found\"},"
        "\"summary\":{\"total-successful-session-count\":4}},"
        "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\".\"}}]}";
    int rc = map_text(sys4, NULL, &r, err);
    T_INTEQ(rc, TLSRPT_OK, "fill: bare sys4 shape maps");
    if (r) {
        T_INTEQ(r->policies[0].policy_domain_source, TLSRPT_DOMAIN_REPORT, "fill: own domain is 'report'");
        T_STREQ(r->policies[1].policy_domain, "Example.ORG.", "fill: missing domain from the other policy, as it spells it");
        T_INTEQ(r->policies[1].policy_domain_source, TLSRPT_DOMAIN_OTHER_POLICIES, "fill: 'other-policies'");
        T_STREQ(r->policies[2].policy_domain, "Example.ORG.", "fill: '.' domain from the other policy");
        T_CHECK(!r->policies[1].policy_domain_from_header, "fill: not from a header");
        tlsrpt_report_free(r);
    }
    rc = map_text(sys4, "hdr.example", &r, err);
    T_INTEQ(rc, TLSRPT_OK, "fill: with a header");
    if (r) {
        T_STREQ(r->policies[1].policy_domain, "hdr.example", "fill: the header wins over other policies");
        T_INTEQ(r->policies[1].policy_domain_source, TLSRPT_DOMAIN_HEADER, "fill: 'header'");
        T_STREQ(r->policies[0].policy_domain, "Example.ORG.", "fill: own domain kept as sent");
        tlsrpt_report_free(r);
    }
    rc = map_text("{\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"a.example\"}},"
                  "{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"A.example.\"}},"
                  "{\"policy\":{\"policy-type\":\"no-policy-found\"}}]}", NULL, &r, err);
    T_CHECK(rc == TLSRPT_OK && r && strcmp(r->policies[2].policy_domain, "a.example") == 0,
            "fill: one domain in two spellings is one domain");
    tlsrpt_report_free(r);
    err[0] = 0;
    rc = map_text("{\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"a.example\"}},"
                  "{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"b.example\"}},"
                  "{\"policy\":{\"policy-type\":\"no-policy-found\"}}]}", NULL, &r, err);
    T_INTEQ(rc, TLSRPT_ERR_NO_POLICY_DOMAIN, "fill: two other domains -> no-policy-domain");
    T_CHECK(r == NULL && strstr(err, "policy 3 has no policy-domain") != NULL, "fill: the message names the policy");
    T_STREQ(tlsrpt_reason(TLSRPT_ERR_NO_POLICY_DOMAIN), "no-policy-domain", "fill: reason token");
    rc = map_text("{\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\"}}]}", NULL, &r, err);
    T_CHECK(rc == TLSRPT_OK && r && r->policies[0].policy_domain == NULL &&
            r->policies[0].policy_domain_source == TLSRPT_DOMAIN_NONE, "fill: no domain anywhere stays NULL");
    tlsrpt_report_free(r);
    T_STREQ(tlsrpt_domain_source_name(TLSRPT_DOMAIN_OTHER_POLICIES), "other-policies", "fill: source names");
}

int main(void)
{
    test_rfc_example();
    test_shapes();
    test_domain_fill();
    test_counts();
    test_session_limit();
    test_dates();
    test_json_stage();
    test_utf8();
    T_MAIN_END();
}
