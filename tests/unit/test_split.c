/*
 * test_split.c - the decoder gives the identical result whatever the
 * chunking: every fixture (tests/fixtures) and every shared corpus file
 * (../shared/corpus/real, SKIP when absent) is decoded whole, split once
 * at every byte position, and in chunks of 1, 2, 3, 7, 64, 4096 and
 * 65535 bytes; by tlsrpt_feed and, for mails, the milter way (header
 * name/value pairs, end of headers, body chunks). Results are compared
 * as a canonical rendering of every report of the mail and every failed
 * report part (tlib_report.c), or the error code when rejected. Fixtures are also checked against
 * their hand-written golden line (NAME.expected, oracle --tsv format).
 * Only regular files are inputs (subdirectories belong to other tests).
 * Limits: files over SPLIT_EVERY_MAX bytes are split at a stride.
 */
#include "tlib.h"
#include "tlib_report.h"
#include <dirent.h>
#include <sys/stat.h>

#define SPLIT_EVERY_MAX (64 * 1024)

static const size_t chunk_sizes[] = { 1, 2, 3, 7, 64, 4096, 65535 };

/* Is this directory entry an input file (not a golden file or script)? */
static int is_input(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.')
        return 0;
    static const char *skip[] = { ".expected", ".py", ".sh", ".md", ".txt", "~" };
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++) {
        size_t k = strlen(skip[i]);
        if (l >= k && strcmp(n + l - k, skip[i]) == 0)
            return 0;
    }
    return 1;
}

/* Compare `got` with the reference; print at most one FAIL per (file, way). */
static int same(const char *ref, char *got, const char *what, const char *file, size_t at,
                int *failed)
{
    int ok = strcmp(ref, got) == 0;
    if (!ok && !*failed) {
        printf("FAIL: %s %s (differs at %zu)\n--- whole:\n%.600s\n--- split:\n%.600s\n",
               what, file, at, ref, got);
        tlib_failed++;
        *failed = 1;
    }
    free(got);
    return ok;
}

/* All chunkings by one way (feed or milter) against ref. */
static void check_ways(const char *file, const char *buf, size_t len, const char *ref, int milter)
{
    const char *way = milter ? "milter-way" : "feed";
    char name[512];
    int failed = 0;
    size_t stride = len > SPLIT_EVERY_MAX ? len / 4096 + 1 : 1;
    for (size_t cut = 1; cut < len && !failed; cut += stride) {
        tlib_cut how = { cut, 0 };
        char *got = milter ? tlib_decode_milter(buf, len, NULL, how, NULL)
                           : tlib_decode_feed(buf, len, NULL, TLSRPT_MODE_AUTO, how, NULL);
        same(ref, got, way, file, cut, &failed);
    }
    snprintf(name, sizeof name, "%s split at every byte: %s", way, file);
    if (!failed)
        T_PASS(name);
    failed = 0;
    for (size_t i = 0; i < sizeof chunk_sizes / sizeof *chunk_sizes && !failed; i++) {
        tlib_cut how = { 0, chunk_sizes[i] };
        char *got = milter ? tlib_decode_milter(buf, len, NULL, how, NULL)
                           : tlib_decode_feed(buf, len, NULL, TLSRPT_MODE_AUTO, how, NULL);
        same(ref, got, way, file, chunk_sizes[i], &failed);
    }
    snprintf(name, sizeof name, "%s chunks of 1,2,3,7,64,4096,65535: %s", way, file);
    if (!failed)
        T_PASS(name);
}

/* Compare a fixture's decoding with its golden line. */
static void check_golden(const char *dir, const char *file, const char *buf, size_t len)
{
    char path[4096], err[512], name[512];
    snprintf(path, sizeof path, "%s/%s.expected", dir, file);
    snprintf(name, sizeof name, "golden %s", file);
    char *want = tlib_read_file(path, NULL);
    if (!want) {
        printf("FAIL: %s (no %s)\n", name, path);
        tlib_failed++;
        return;
    }
    want[strcspn(want, "\n")] = 0;
    int rc;
    tlsrpt_report *r = tlib_decode(buf, len, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    const char *werr = strrchr(want, '\t');
    werr = werr ? werr + 1 : "";
    if (*werr) {                                /* a rejected input */
        T_CHECK(!r && rc != TLSRPT_OK && *err && strstr(err, werr), name);
        if (r || !strstr(err, werr))
            printf("    got rc %d \"%s\", want an error containing \"%s\"\n", rc, err, werr);
    } else if (!r) {
        printf("FAIL: %s (rejected: %s: %s)\n", name, tlsrpt_reason(rc), err);
        tlib_failed++;
    } else {
        char *got = tlib_tsv_line(file, r);
        T_STREQ(got, want, name);
        free(got);
    }
    tlsrpt_report_free(r);
    free(want);
}

/* Run every check on one file. */
static void check_file(const char *dir, const char *file, int golden)
{
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *buf = tlib_read_file(path, &len);
    if (!buf) {
        printf("FAIL: read %s\n", path);
        tlib_failed++;
        return;
    }
    if (golden)
        check_golden(dir, file, buf, len);
    tlib_cut whole = { 0, 0 };
    int rc;
    char *ref = tlib_decode_feed(buf, len, NULL, TLSRPT_MODE_AUTO, whole, &rc);
    check_ways(file, buf, len, ref, 0);
    size_t l = strlen(file);
    if (l > 4 && strcmp(file + l - 4, ".eml") == 0) {
        char name[512];
        char *m = tlib_decode_milter(buf, len, NULL, whole, NULL);
        snprintf(name, sizeof name, "milter-way equals feed: %s", file);
        T_STREQ(m, ref, name);
        free(m);
        check_ways(file, buf, len, ref, 1);
    }
    free(ref);
    free(buf);
}

/* Sorted list of input files in dir; NULL when the directory is missing. */
static char **list_inputs(const char *dir, size_t *n)
{
    struct dirent **ents;
    int k = scandir(dir, &ents, NULL, alphasort);
    if (k < 0)
        return NULL;
    char **v = calloc((size_t)k + 1, sizeof *v);
    *n = 0;
    for (int i = 0; i < k; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        if (v && is_input(ents[i]->d_name) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            v[(*n)++] = strdup(ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    return v;
}

/* Check every file of a directory. */
static size_t check_dir(const char *dir, int golden)
{
    size_t n = 0;
    char **v = list_inputs(dir, &n);
    for (size_t i = 0; v && i < n; i++) {
        check_file(dir, v[i], golden);
        free(v[i]);
    }
    free(v);
    return n;
}

/* Fixtures (with golden lines), then the shared corpus when present. */
int main(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures", tlib_srcdir());
    size_t n = check_dir(dir, 1);
    T_CHECK(n >= 30, "fixtures present (tests/fixtures, at least 30)");
    snprintf(dir, sizeof dir, "%s/tests/fixtures/policy-domain", tlib_srcdir());
    T_CHECK(check_dir(dir, 0) == 3, "policy-domain fixtures split (issue 12.2: sys4 shapes)");
    const char *corpus = tlib_corpus_dir();
    if (!corpus) {
        T_SKIP("split tests on the shared corpus", "../shared/corpus absent");
    } else {
        snprintf(dir, sizeof dir, "%s/real", corpus);
        n = check_dir(dir, 0);
        T_CHECK(n > 0, "shared corpus has files");
    }
    T_MAIN_END();
}
