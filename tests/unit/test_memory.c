/*
 * test_memory.c - memory of one report's decoding, whatever the JSON's
 * shape (issue 13.1): each shape (value bombs of numbers, strings,
 * arrays, objects and members; a realistic report of failure-details;
 * one huge string, valid and invalid UTF-8) is generated streaming, up to
 * the default max_report_bytes, and decoded in a child process with the
 * default limits. The child's peak RSS growth must stay under
 * MEM_BOUND_MB, and tlsrpt_memory_estimate (polled between feeds) must be
 * within [EST_LOW, EST_HIGH] of it. Also: the boundary of max_json_values
 * (exactly the limit decodes, one more fails with json-too-many-values),
 * for plain values and objects; the counter is not fooled by strings,
 * escapes, single quotes or comments holding brackets.
 * Under ASan the RSS figures are printed, not checked (shadow memory).
 */
#include "tlib.h"
#include "tlib_report.h"
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define MEM_BOUND_MB 100        /* README: one report's decoding at the default limits */
#define EST_LOW 0.9
#define EST_HIGH 1.6

/* A streamed shape: prefix, `count` items (item(i) text), separator, suffix. */
typedef struct shape {
    const char *name;
    const char *prefix, *sep, *suffix;
    const char *item;           /* fixed item, or NULL: realistic failure-details */
    int want;                   /* expected outcome with the default limits */
} shape;

/* The i-th item of a shape into buf; returns its length. */
static size_t item_text(const shape *s, size_t i, char *buf, size_t cap)
{
    static const char *types[] = { "starttls-not-supported", "certificate-expired", "validation-failure" };
    if (s->item)
        return (size_t)snprintf(buf, cap, "%s", s->item);
    if (strcmp(s->name, "members") == 0)
        return (size_t)snprintf(buf, cap, "\"%07zx\":0", i);
    return (size_t)snprintf(buf, cap,
        "{\"result-type\":\"%s\",\"sending-mta-ip\":\"198.51.%zu.%zu\",\"receiving-mx-hostname\":"
        "\"mx%zu.example.org\",\"receiving-mx-helo\":\"mx%zu.example.org\",\"receiving-ip\":"
        "\"203.0.113.%zu\",\"failed-session-count\":%zu,\"additional-information\":"
        "\"https://reports.sender.test/details/%08zx\",\"failure-reason-code\":\"X509_V_ERR_%zu\"}",
        types[i % 3], i % 256, i / 256 % 256, i % 40, i % 41, i % 253, i % 499 + 1, i * 2654435761u % 0xffffffffu,
        i % 50);
}

/* Decode a shape of about `bytes` bytes, fed in 4 KiB chunks (the estimate is read
   between calls); rc, max estimate. */
static int decode_shape(const shape *s, size_t bytes, size_t *est_max)
{
    static char chunk[65536 + 1024];
    char it[1024];
    tlsrpt_decoder *d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_AUTO);
    size_t n = 0, total = 0, i = 0;
    int rc = TLSRPT_OK;
    *est_max = 0;
    n = (size_t)snprintf(chunk, sizeof chunk, "%s", s->prefix);
    size_t room = bytes - strlen(s->prefix) - strlen(s->suffix);
    while (rc == TLSRPT_OK) {
        size_t k = item_text(s, i, it, sizeof it);
        if (total + k + 1 > room)
            break;
        if (i > 0)
            chunk[n++] = s->sep[0];
        memcpy(chunk + n, it, k);
        n += k;
        total += k + 1;
        i++;
        if (n >= 4096) {
            rc = tlsrpt_feed(d, chunk, n);
            n = 0;
            size_t e = tlsrpt_memory_estimate(d);
            *est_max = e > *est_max ? e : *est_max;
        }
    }
    n += (size_t)snprintf(chunk + n, sizeof chunk - n, "%s", s->suffix);
    if (rc == TLSRPT_OK)
        rc = tlsrpt_feed(d, chunk, n);
    size_t e = tlsrpt_memory_estimate(d);
    *est_max = e > *est_max ? e : *est_max;
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    tlsrpt_decoder_free(d);
    return rc;
}

/* Peak RSS so far in KiB. */
static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Decode a shape in a child; check its outcome, RSS growth and the estimate. */
static void measure(const shape *s, size_t bytes)
{
    int fd[2];
    char name[256];
    if (pipe(fd) != 0)
        abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        size_t est;
        (void)decode_shape(&(shape){ "warm", "{\"policies\":[", ",", "]}", "1", 0 }, 4096, &est);
        long before = peak_kb();
        int rc = decode_shape(s, bytes, &est);
        long out[3] = { rc, peak_kb() - before, (long)(est / 1024) };
        if (write(fd[1], out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    long got[3] = { -1, 0, 0 };
    ssize_t r = read(fd[0], got, sizeof got);
    close(fd[0]);
    waitpid(pid, NULL, 0);
    double ratio = got[1] > 0 ? (double)got[2] / (double)got[1] : 0;
    printf("# %-10s %-22s RSS +%6.1f MB, estimate %6.1f MB (%.2fx)\n", s->name,
           tlsrpt_reason((int)got[0]), got[1] / 1024.0, got[2] / 1024.0, ratio);
    snprintf(name, sizeof name, "memory: %s -> %s", s->name, tlsrpt_reason(s->want));
    T_CHECK(r == (ssize_t)sizeof got && got[0] == s->want, name);
    if (UNDER_ASAN)
        return;
    snprintf(name, sizeof name, "memory: %s peak RSS +%.1f MB < %d MB", s->name, got[1] / 1024.0,
             MEM_BOUND_MB);
    T_CHECK(got[1] < MEM_BOUND_MB * 1024, name);
    if (got[1] > 8 * 1024) {
        snprintf(name, sizeof name, "memory: %s estimate %.2fx of RSS, within [%.1f, %.1f]", s->name,
                 ratio, EST_LOW, EST_HIGH);
        T_CHECK(ratio >= EST_LOW && ratio <= EST_HIGH, name);
    }
}

/* The shapes, each filling the default max_report_bytes. */
static void test_shapes(void)
{
    static const shape shapes[] = {
        { "numbers", "{\"policies\":[],\"x\":[", ",", "]}", "0", TLSRPT_ERR_JSON_VALUES },
        { "strings", "{\"policies\":[],\"x\":[", ",", "]}", "\"\"", TLSRPT_ERR_JSON_VALUES },
        { "arrays", "{\"policies\":[],\"x\":[", ",", "]}", "[]", TLSRPT_ERR_JSON_VALUES },
        { "objects", "{\"policies\":[],\"x\":[", ",", "]}", "{}", TLSRPT_ERR_JSON_VALUES },
        { "members", "{\"policies\":[],\"x\":{", ",", "}}", NULL, TLSRPT_ERR_JSON_VALUES },
        { "short16", "{\"policies\":[],\"x\":[", ",", "]}", "\"abcdefghijklmnop\"", TLSRPT_OK },
        { "realistic", "{\"organization-name\":\"x\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
          "\"policy-domain\":\"example.net\"},\"summary\":{\"total-successful-session-count\":1},"
          "\"failure-details\":[", ",", "]}]}", NULL, TLSRPT_OK },
        { "bigstring", "{\"policies\":[],\"organization-name\":\"", "a", "\"}", "a", TLSRPT_OK },
        { "badstring", "{\"policies\":[],\"organization-name\":\"", "\xff", "\"}", "\xff", TLSRPT_OK },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        measure(&shapes[i], TLSRPT_DEF_MAX_REPORT_BYTES - 16);
}

/* Decode text with max_json_values = lim; returns the code. */
static int with_limit(const char *text, size_t lim)
{
    tlsrpt_limits l = { .max_json_values = lim };
    int rc;
    tlsrpt_report *r = tlib_decode(text, strlen(text), &l, TLSRPT_MODE_RAW, &rc, NULL, 0);
    tlsrpt_report_free(r);
    return rc;
}

/* Exactly at the limit decodes, one more fails; what does and does not count. */
static void test_boundary(void)
{
    char buf[8192], name[160];
    /* {"policies":[],"x":[0,...]}: object 12 + 2 keys + 2 arrays 4 + n numbers */
    for (int n = 0; n <= 2; n++) {
        size_t k = (size_t)snprintf(buf, sizeof buf, "{\"policies\":[],\"x\":[");
        for (int i = 0; i < 100 + n; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s0", i ? "," : "");
        snprintf(buf + k, sizeof buf - k, "]}");
        size_t values = 12 + 2 + 4 + 100 + (size_t)n;
        snprintf(name, sizeof name, "max_json_values %zu, %zu values: %s", (size_t)118 + 1, values,
                 values <= 119 ? "decodes" : "json-too-many-values");
        T_INTEQ(with_limit(buf, 119), values <= 119 ? TLSRPT_OK : TLSRPT_ERR_JSON_VALUES, name);
    }
    /* objects count 12: three {} in the array */
    const char *objs = "{\"policies\":[],\"x\":[{},{},{}]}";  /* 12 + 2 + 4 + 36 = 54 */
    T_INTEQ(with_limit(objs, 54), TLSRPT_OK, "max_json_values 54: three empty objects (54) decode");
    T_INTEQ(with_limit(objs, 53), TLSRPT_ERR_JSON_VALUES, "max_json_values 53: three empty objects fail");
    /* brackets inside strings, escapes, single quotes and comments are not values */
    const char *hidden = "{\"policies\":[],\"x\":\"[[[{{{\\\"[[[\",'y':'[{\\\"[',/* [{[{ \" */\"z\":1 // [[[\n}";
    /* object 12, keys policies x y z 4, array 2, strings 2, number 1 = 21 */
    T_INTEQ(with_limit(hidden, 21), TLSRPT_OK, "brackets in strings, quotes, comments: 21 values, not more");
    T_INTEQ(with_limit(hidden, 20), TLSRPT_ERR_JSON_VALUES, "... and not fewer (20 fails)");
    const char *comment_quote = "{\"policies\":[],\"x\":/*\"*/[0,0,0,0,0,0,0,0,0,0],\"y\":\"\"}";
    T_INTEQ(with_limit(comment_quote, 27), TLSRPT_ERR_JSON_VALUES,
            "a quote in a comment does not hide the values after it");
    T_STREQ(tlsrpt_reason(TLSRPT_ERR_JSON_VALUES), "json-too-many-values", "reason token json-too-many-values");
    tlsrpt_limits l;
    tlsrpt_limits_default(&l);
    T_INTEQ(l.max_json_values, TLSRPT_DEF_MAX_JSON_VALUES, "limits_default sets max_json_values");
}

/* Run the memory tests. */
int main(void)
{
    test_boundary();
    test_shapes();
    T_MAIN_END();
}
