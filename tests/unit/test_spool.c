/*
 * test_spool.c - unit tests of the archive (spool/spool.h): layout and
 * archive id, write/commit/read back byte-exact for many chunkings (and a
 * small mail split at every byte), the gzip file read by plain zlib, the
 * meta format with hostile values and its parser's rejections, ids unique
 * from 8 threads. Pending states, iteration, recover and retention are in
 * test_spool_state.c; crash, disk-full, permission and concurrency tests in
 * test_spool_crash.c. Every archive lives in a private temp directory.
 */
#include "tlib.h"
#include "tlib_spool.h"
#include "spool_int.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DAY0 1796083200     /* 2026-12-01T00:00:00Z */

static char err[1024];

/* Open (create) a NOSYNC archive in a fresh temp dir. */
static tlsrpt_spool *fresh(const char *tag, char **dir)
{
    *dir = tsp_tmpdir(tag);
    return *dir ? tlsrpt_spool_open(*dir, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, err, sizeof err) : NULL;
}

/* Close and remove an archive. */
static void done(tlsrpt_spool *sp, char *dir)
{
    tlsrpt_spool_close(sp);
    tsp_rmrf(dir);
    free(dir);
}

/* Mode bits of DIR/sub. */
static int mode_of(const char *dir, const char *sub)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Layout, archive id, modes, reopen, not-an-archive. */
static void test_open(void)
{
    char *dir;
    tlsrpt_spool *sp = fresh("open", &dir);
    T_CHECK(sp != NULL, "open: create an archive");
    if (!sp)
        return;
    const char *aid = tlsrpt_spool_archive_id(sp);
    size_t n = strlen(aid);
    T_CHECK(n > 9 && n <= 40 && strspn(aid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") == n,
            "open: archive id is 10..40 of [A-Za-z0-9.-]");
    T_INTEQ(mode_of(dir, "tmp"), 0750, "open: tmp/ is 0750");
    T_INTEQ(mode_of(dir, "pending"), 0750, "open: pending/ is 0750");
    T_INTEQ(mode_of(dir, "archive-id"), 0640, "open: archive-id is 0640");
    char id[TLSRPT_SPOOL_ID_MAX];
    T_CHECK(tsp_put(sp, DAY0 + 3600, 1, 1000, 100, TLSRPT_SPOOL_NEW, id, err, sizeof err) == 0, "open: commit one");
    char sub[200];
    snprintf(sub, sizeof sub, "2026-12-01/%s.eml.gz", id);
    T_INTEQ(mode_of(dir, sub), 0640, "open: committed data file is 0640");
    T_INTEQ(mode_of(dir, "2026-12-01"), 0750, "open: day directory is 0750");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", aid);
    tlsrpt_spool_close(sp);
    sp = tlsrpt_spool_open(dir, 0, err, sizeof err);
    T_STREQ(sp ? tlsrpt_spool_archive_id(sp) : NULL, keep, "open: reopen without create keeps the archive id");
    char *other = tsp_tmpdir("notarch");
    tlsrpt_spool *sp2 = tlsrpt_spool_open(other, 0, err, sizeof err);
    T_CHECK(sp2 == NULL && strstr(err, "not an archive"), "open: a directory without archive-id is refused");
    tsp_rmrf(other);
    free(other);
    done(sp, dir);
}

/* Write a mail in chunks of `chunk`, read it back with `rd`-byte reads: byte-exact? */
static int roundtrip(tlsrpt_spool *sp, const unsigned char *msg, size_t len, size_t chunk, size_t rd)
{
    char id[TLSRPT_SPOOL_ID_MAX], why[512];
    tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, DAY0 + 60, err, sizeof err);
    if (!w)
        return 0;
    for (size_t off = 0; off < len; off += chunk)
        tlsrpt_spool_write(w, msg + off, len - off < chunk ? len - off : chunk);
    if (tlsrpt_spool_commit(w, NULL, 0, id, sizeof id, err, sizeof err) < 0)
        return 0;
    size_t got;
    unsigned char *back = tsp_read_all(sp, id, rd, &got, why, sizeof why);
    int ok = back && got == len && memcmp(back, msg, len) == 0;
    free(back);
    return ok;
}

/* Byte-exact round trips for several chunkings; split at every byte; plain zlib reads it. */
static void test_roundtrip(void)
{
    char *dir, name[128];
    tlsrpt_spool *sp = fresh("rt", &dir);
    size_t len = 150000;
    unsigned char *msg = malloc(len);
    tsp_message(7, len, msg);
    static const size_t chunks[] = { 1, 7, 4096, 65535, 150000 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        snprintf(name, sizeof name, "roundtrip: 150 KB in %zu-byte writes, byte-exact", chunks[i]);
        T_CHECK(roundtrip(sp, msg, len, chunks[i], i % 2 ? 13 : 65536), name);
    }
    T_CHECK(roundtrip(sp, msg, 0, 1, 100), "roundtrip: empty message");
    int all = 1;
    size_t small = 300, cut;
    for (cut = 0; cut <= small && all; cut++) {
        char id[TLSRPT_SPOOL_ID_MAX], why[256];
        size_t got;
        tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, DAY0, err, sizeof err);
        all = w && tlsrpt_spool_write(w, msg, cut) == 0 && tlsrpt_spool_write(w, msg + cut, small - cut) == 0 &&
              tlsrpt_spool_commit(w, NULL, 0, id, sizeof id, err, sizeof err) == 0;
        unsigned char *back = all ? tsp_read_all(sp, id, 1, &got, why, sizeof why) : NULL;
        all = back && got == small && memcmp(back, msg, small) == 0;
        free(back);
    }
    snprintf(name, sizeof name, "roundtrip: 300-byte mail split at every byte (stopped at %zu)", cut - 1);
    T_CHECK(all, all ? "roundtrip: 300-byte mail split at every byte, read in 1-byte reads" : name);
    /* the data file is a plain gzip file of exactly the bytes: read it with gzread */
    char id[TLSRPT_SPOOL_ID_MAX], path[4096];
    T_CHECK(tsp_put(sp, DAY0, 42, 20000, 999, 0, id, err, sizeof err) == 0, "roundtrip: commit for gzread");
    snprintf(path, sizeof path, "%s/2026-12-01/%s.eml.gz", dir, id);
    gzFile gz = gzopen(path, "rb");
    unsigned char *a = malloc(30000), *b = malloc(20000);
    int n = gz ? gzread(gz, a, 30000) : -1;
    tsp_message(42, 20000, b);
    T_CHECK(n == 20000 && memcmp(a, b, 20000) == 0, "roundtrip: the data file is gzip of the bytes exactly as fed (gzread)");
    if (gz)
        gzclose(gz);
    free(a), free(b), free(msg);
    /* compressible text (plain JSON) keeps deflate; base64 goes Huffman-only: both exact */
    size_t jl = 0, cap = 300000;
    char *json = malloc(cap);
    for (int i = 0; jl + 200 < cap; i++)
        jl += (size_t)snprintf(json + jl, cap - jl, "{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
                               "\"192.0.2.%d\",\"failed-session-count\":%d},\n", i % 250, i % 17);
    T_CHECK(roundtrip(sp, (unsigned char *)json, jl, 65535, 4096), "roundtrip: 300 KB of JSON text, byte-exact");
    long zsize = -1;
    struct stat st;
    tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, DAY0 + 77, err, sizeof err);
    tlsrpt_spool_write(w, json, jl);
    if (tlsrpt_spool_commit(w, NULL, 0, id, sizeof id, err, sizeof err) == 0) {
        snprintf(path, sizeof path, "%s/2026-12-01/%s.eml.gz", dir, id);
        zsize = stat(path, &st) == 0 ? (long)st.st_size : -1;
    }
    snprintf(name, sizeof name, "roundtrip: JSON text stays deflated (%ld of %zu bytes, want < 10%%)", zsize, jl);
    T_CHECK(zsize > 0 && zsize * 10 < (long)jl, name);
    free(json);
    done(sp, dir);
}

/* Hostile values survive a format/parse round trip and the file stays clean. */
static void test_meta_hostile(void)
{
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    unsigned char all[256], big[5000];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    memset(big, 'x', sizeof big);
    static const char *const bad_utf8[] = { "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                                            "\xe2\x82", "ok\xff" };
    tlsrpt_spool_meta_setn(m, "all-bytes", all, sizeof all);
    tlsrpt_spool_meta_set(m, "newline", "a\nb\r\nc");
    tlsrpt_spool_meta_setn(m, "nul", "a\0b", 3);
    tlsrpt_spool_meta_set(m, "utf-eight", "Gr\xc3\xbc\xc3\x9f \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xa7");
    tlsrpt_spool_meta_set(m, "percent", "100% %41 ");
    tlsrpt_spool_meta_set(m, "empty", "");
    for (size_t i = 0; i < 6; i++)
        tlsrpt_spool_meta_add(m, "bad-utf", bad_utf8[i], strlen(bad_utf8[i]));
    T_INTEQ(tlsrpt_spool_meta_setn(m, "long", big, sizeof big), 1, "meta: a 5000-byte value is truncated (returns 1)");
    size_t len, vl;
    char *text = tlsrpt_spool_meta_format(m, &len);
    int clean = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            clean = 0;
    }
    T_CHECK(clean && strncmp(text, "version 1\n", 10) == 0, "meta: file has no control byte, starts with version 1");
    T_CHECK(strstr(text, "newline a%0Ab%0D%0Ac\n") && strstr(text, "nul a%00b\n") && strstr(text, "percent 100%25%20%2541%20\n"),
            "meta: newline, NUL, % and space are %XX");
    T_CHECK(strstr(text, "Gr\xc3\xbc\xc3\x9f%20\xe6\x97\xa5") != NULL, "meta: valid UTF-8 stays readable");
    T_CHECK(strstr(text, "bad-utf %C0%80\n") && strstr(text, "bad-utf %ED%A0%80\n") && strstr(text, "bad-utf ok%FF\n") &&
            strstr(text, "bad-utf %E2%82\n"), "meta: overlong, surrogate, truncated and 0xff bytes are escaped");
    tlsrpt_spool_meta *p = tlsrpt_spool_meta_parse(text, len, err, sizeof err);
    T_CHECK(p != NULL, "meta: parse(format(m)) works");
    const char *v = p ? tlsrpt_spool_meta_get(p, "all-bytes", &vl) : NULL;
    T_CHECK(v && vl == 256 && memcmp(v, all, 256) == 0, "meta: all 256 byte values round trip");
    v = p ? tlsrpt_spool_meta_get(p, "nul", &vl) : NULL;
    T_CHECK(v && vl == 3 && memcmp(v, "a\0b", 3) == 0, "meta: embedded NUL round trips");
    v = p ? tlsrpt_spool_meta_get(p, "long", &vl) : NULL;
    T_INTEQ(v ? (long)vl : -1, TLSRPT_SPOOL_VALUE_MAX, "meta: long value bounded at TLSRPT_SPOOL_VALUE_MAX");
    int same = p && tlsrpt_spool_meta_count(p) == tlsrpt_spool_meta_count(m);
    for (size_t i = 0; same && i < tlsrpt_spool_meta_count(m); i++) {
        const char *k1, *k2, *v1, *v2;
        size_t l1, l2;
        tlsrpt_spool_meta_at(m, i, &k1, &v1, &l1);
        tlsrpt_spool_meta_at(p, i, &k2, &v2, &l2);
        same = strcmp(k1, k2) == 0 && l1 == l2 && memcmp(v1, v2, l1) == 0;
    }
    T_CHECK(same, "meta: every pair round trips in order (repeated keys too)");
    T_INTEQ(tlsrpt_spool_meta_set(m, "Bad", "x"), -1, "meta: upper-case key refused");
    T_INTEQ(tlsrpt_spool_meta_set(m, "k1", "x"), -1, "meta: digit in key refused");
    T_INTEQ(tlsrpt_spool_meta_set(m, "", "x"), -1, "meta: empty key refused");
    int i, r = 0;
    for (i = 0; i < TLSRPT_SPOOL_PAIRS_MAX + 5 && r >= 0; i++)
        r = tlsrpt_spool_meta_add(m, "many", "x", 1);
    T_INTEQ(tlsrpt_spool_meta_count(m), TLSRPT_SPOOL_PAIRS_MAX, "meta: pairs bounded at TLSRPT_SPOOL_PAIRS_MAX");
    free(text);
    tlsrpt_spool_meta_free(p);
    tlsrpt_spool_meta_free(m);
}

/* The parser rejects malformed files with a line number. */
static void test_meta_reject(void)
{
    static const struct { const char *text, *want, *name; } cases[] = {
        { "", "empty", "meta reject: empty file" },
        { "id x\n", "line 1: first line", "meta reject: no version line" },
        { "version 2\nid x\n", "unsupported version", "meta reject: version 2" },
        { "version 1\nId x\n", "line 2: bad key", "meta reject: upper-case key" },
        { "version 1\nk9 x\n", "line 2: bad key", "meta reject: digit in key" },
        { "version 1\nkey %G1\n", "line 2: bad %XX", "meta reject: bad escape" },
        { "version 1\nkey ab%4\n", "line 2: bad %XX", "meta reject: cut escape" },
        { "version 1\nkey a\tb\n", "line 2: control byte", "meta reject: raw tab" },
        { "version 1\nkey a\rb\n", "control byte", "meta reject: raw CR" },
        { "version 1\nkey a b\n", "space in a value", "meta reject: raw space in value" },
        { "version 1\nkey \xc3\x28\n", "invalid UTF-8", "meta reject: raw invalid UTF-8" },
        { "version 1\nkey x", "line 2: no newline", "meta reject: truncated last line" },
        { "version 1\n key\n", "bad key", "meta reject: line starting with a space" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        tlsrpt_spool_meta *m = tlsrpt_spool_meta_parse(cases[i].text, strlen(cases[i].text), err, sizeof err);
        T_CHECK(!m && strstr(err, cases[i].want), cases[i].name);
        tlsrpt_spool_meta_free(m);
    }
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_parse("version 1\nk\x00y x\n", 14, err, sizeof err);
    T_CHECK(!m, "meta reject: NUL in a key");
    char *lng = malloc(10 + 3 * 1100 + 10);
    strcpy(lng, "version 1\nk ");
    for (int i = 0; i < 1100; i++)
        strcat(lng, "%41");
    strcat(lng, "\n");
    m = tlsrpt_spool_meta_parse(lng, strlen(lng), err, sizeof err);
    T_CHECK(!m && strstr(err, "too long"), "meta reject: value over TLSRPT_SPOOL_VALUE_MAX");
    free(lng);
    m = tlsrpt_spool_meta_parse("version 1\nempty\nk v\n", 20, err, sizeof err);
    T_CHECK(m && tlsrpt_spool_meta_get(m, "empty", NULL) && !*tlsrpt_spool_meta_get(m, "empty", NULL),
            "meta: a key alone is an empty value");
    tlsrpt_spool_meta_free(m);
}

/* Report groups, the spool's own keys, and a reserved key refused at commit. */
static void test_meta_reports(void)
{
    char *dir, id[TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("rep", &dir);
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_SIGNER, "google.com");
    tlsrpt_spool_report r0 = { 0, "2026-11-30", "Google Inc.", 0, "2026-11-30T00:00:00Z_example.com", 0, "countable" };
    tlsrpt_spool_report r1 = { 1, NULL, "Evil\nOrg", 0, NULL, 0, NULL };
    tlsrpt_spool_report r2 = { 2, "2026-11-29", "a\0b", 3, "id 2", 0, "foreign-domain" };
    tlsrpt_spool_meta_add_report(m, &r0);
    tlsrpt_spool_meta_add_report(m, &r1);
    tlsrpt_spool_meta_add_report(m, &r2);
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_VERDICT, "countable");
    tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, DAY0 + 7200, err, sizeof err);
    tlsrpt_spool_write(w, "x", 1);
    T_INTEQ(tlsrpt_spool_commit(w, m, 0, id, sizeof id, err, sizeof err), 0, "reports: commit with 3 report groups");
    tlsrpt_spool_reader *rd = tlsrpt_spool_reader_open(sp, id, err, sizeof err);
    const tlsrpt_spool_meta *b = rd ? tlsrpt_spool_reader_meta(rd) : NULL;
    tlsrpt_spool_report g;
    T_INTEQ(tlsrpt_spool_meta_n_reports(b), 3, "reports: 3 groups read back");
    T_CHECK(tlsrpt_spool_meta_report(b, 0, &g) == 0 && g.index == 0 && g.day && !strcmp(g.day, "2026-11-30") &&
            !strcmp(g.org, "Google Inc.") && !strcmp(g.verdict, "countable"), "reports: group 0 fields");
    T_CHECK(tlsrpt_spool_meta_report(b, 1, &g) == 0 && g.index == 1 && !g.day && !strcmp(g.org, "Evil\nOrg") &&
            !g.report_id, "reports: group 1 (absent fields NULL, newline kept)");
    T_CHECK(tlsrpt_spool_meta_report(b, 2, &g) == 0 && g.org_len == 3 && !memcmp(g.org, "a\0b", 3) &&
            !strcmp(g.report_id, "id 2"), "reports: group 2 (NUL in org)");
    T_CHECK(tlsrpt_spool_meta_report(b, 3, &g) < 0, "reports: no group 3");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_ID, NULL), id, "meta: id written by the spool");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_ARCHIVE_ID, NULL), tlsrpt_spool_archive_id(sp), "meta: archive-id");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_ARRIVAL, NULL), "1796090400", "meta: arrival (unix)");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_ARRIVAL_UTC, NULL), "2026-12-01T02:00:00Z", "meta: arrival-utc");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_SIZE, NULL), "1", "meta: size");
    T_STREQ(tlsrpt_spool_meta_get(b, TLSRPT_SPOOL_K_VERDICT, NULL), "countable", "meta: caller's verdict kept");
    tlsrpt_spool_reader_close(rd);
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_ID, "forged");
    w = tlsrpt_spool_begin(sp, DAY0, err, sizeof err);
    T_CHECK(tlsrpt_spool_commit(w, m, TLSRPT_SPOOL_NEW, id, sizeof id, err, sizeof err) < 0 && strstr(err, "'id'"),
            "meta: a caller's 'id' key is refused at commit");
    T_INTEQ(tsp_count_files(dir, "tmp") + tsp_count_files(dir, "pending"), 0, "meta: refused commit leaves no file");
    tlsrpt_spool_meta_free(m);
    done(sp, dir);
}

/* Ids: 8 threads x 500 commits. */
typedef struct idjob {
    tlsrpt_spool *sp;
    char (*ids)[TLSRPT_SPOOL_ID_MAX];
    int n, fails;
} idjob;

/* Thread: commit n small entries, all in the same second. */
static void *id_thread(void *arg)
{
    idjob *j = arg;
    char e[512];
    for (int i = 0; i < j->n; i++)
        j->fails += tsp_put(j->sp, DAY0 + 5, (unsigned)i, 64, 64, 0, j->ids[i], e, sizeof e) < 0;
    return NULL;
}

/* qsort: ids as strings. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Ids unique from 8 threads, valid, sortable; a reopened spool (same pid) never reuses one. */
static void test_ids(void)
{
    char *dir;
    tlsrpt_spool *sp = fresh("ids", &dir);
    enum { T = 8, N = 500 };
    static char ids[T * N][TLSRPT_SPOOL_ID_MAX];
    pthread_t th[T];
    idjob jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (idjob){ sp, ids + t * N, N, 0 };
        pthread_create(&th[t], NULL, id_thread, &jobs[t]);
    }
    int fails = 0, valid = 1, dup = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        fails += jobs[t].fails;
    }
    T_INTEQ(fails, 0, "ids: 8 threads x 500 commits succeed");
    qsort(ids, T * N, TLSRPT_SPOOL_ID_MAX, cmp_str);
    for (int i = 0; i < T * N; i++) {
        valid &= tlsrpt_spool_id_valid(ids[i]) && strspn(ids[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(ids[i]);
        dup += i > 0 && strcmp(ids[i], ids[i - 1]) == 0;
    }
    T_CHECK(valid, "ids: every id valid and made of [A-Za-z0-9.-]");
    T_INTEQ(dup, 0, "ids: 4000 ids, no duplicate");
    T_INTEQ(tsp_count_files(dir, "2026-12-01"), 2 * T * N, "ids: 4000 data + 4000 meta files");
    /* the same pid again (a restart within the second): the sequence restarts at 1 */
    tlsrpt_spool *again = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, err, sizeof err);
    char id[TLSRPT_SPOOL_ID_MAX];
    int ok = tsp_put(again, DAY0 + 5, 1, 10, 10, 0, id, err, sizeof err) == 0;
    T_CHECK(ok && !bsearch(id, ids, T * N, TLSRPT_SPOOL_ID_MAX, cmp_str), "ids: a reopened spool skips ids already committed");
    T_CHECK(tlsrpt_spool_id_cmp("20261201T000005Z-h-a1-7-9", "20261201T000005Z-h-a1-7-10") < 0 &&
            tlsrpt_spool_id_cmp("20261201T000005Z-h-a1-10-1", "20261201T000005Z-h-a1-9-1") > 0 &&
            tlsrpt_spool_id_cmp("20261201T000004Z-z-9-9", "20261201T000005Z-a-1-1") < 0,
            "ids: order is time, then pid and sequence numerically");
    static const char *const bad[] = { "", "20261201T000005Z", "20261301T000005Z-h-1-1", "20261201T000005Z-h/x-1-1",
                                       "20261201T000005Z--1-1", "20261201T000005Z-h-1-", "../etc/passwd", "20261201X000005Z-h-1-1" };
    int rej = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        rej &= !tlsrpt_spool_id_valid(bad[i]);
    T_CHECK(rej, "ids: malformed ids (bad month, '/', empty archive id, path) are not valid");
    tlsrpt_spool_close(again);
    done(sp, dir);
}

int main(void)
{
    umask(0);
    test_open();
    test_roundtrip();
    test_meta_hostile();
    test_meta_reject();
    test_meta_reports();
    test_ids();
    T_MAIN_END();
}
