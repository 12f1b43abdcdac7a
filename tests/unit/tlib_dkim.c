/* tlib_dkim.c - DKIM fixtures made at test time and ways to verify them (see tlib_dkim.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tlib.h"
#include "tlib_dkim.h"

static char fx_dir[256];
static const char *fx_why;
static int fx_tried;
static struct tdk_case cases[TDK_MAX_CASES];
static int ncases;

/* Remove the fixture directory at exit. */
static void fx_cleanup(void)
{
    char cmd[300];
    if (fx_dir[0] && !getenv("TDK_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fx_dir);
    }
}

/* One "-"-or-value field into dst. */
static void field(char *dst, size_t n, const char *src)
{
    size_t l = strcmp(src, "-") == 0 ? 0 : strlen(src);
    l = l < n ? l : n - 1;                      /* cut to dst, as snprintf would */
    memcpy(dst, src, l);
    dst[l] = 0;
}

/* Read manifest.tsv into cases[]. */
static int manifest_read(void)
{
    char path[300], line[1024];
    snprintf(path, sizeof path, "%s/manifest.tsv", fx_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (ncases < TDK_MAX_CASES && fgets(line, sizeof line, f)) {
        char *col[8];
        int n = 0;
        line[strcspn(line, "\n")] = 0;
        for (char *p = line; n < 8; n++) {
            col[n] = p;
            p = strchr(p, '\t');
            if (!p) {
                n++;
                break;
            }
            *p++ = 0;
        }
        if (n != 8)
            continue;
        struct tdk_case *c = &cases[ncases++];
        field(c->name, sizeof c->name, col[0]);
        field(c->conf, sizeof c->conf, col[1]);
        c->expect = atoi(col[2]);
        field(c->reason, sizeof c->reason, col[3]);
        field(c->detail, sizeof c->detail, col[4]);
        field(c->contact, sizeof c->contact, col[5]);
        c->disagree = strcmp(col[6], "-") ? atoi(col[6]) : -1;
        c->lookups = strcmp(col[7], "-") ? atoi(col[7]) : -1;
    }
    fclose(f);
    return ncases > 0 ? 0 : -1;
}

/* Make the fixtures once (see tlib_dkim.h). */
const char *tdk_fixtures(const char **why)
{
    if (!fx_tried) {
        fx_tried = 1;
        char cmd[1200];
        snprintf(fx_dir, sizeof fx_dir, "%s/tlsrpt-dkim.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (access("/usr/bin/python3", X_OK) != 0 || system("command -v openssl >/dev/null") != 0) {
            fx_why = "no /usr/bin/python3 or openssl";
        } else if (!mkdtemp(fx_dir)) {
            fx_why = "mkdtemp failed";
        } else {
            atexit(fx_cleanup);
            const char *corpus = tlib_corpus_dir();
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/lib/dkim-fixtures.py' '%s'%s%s%s",
                     tlib_srcdir(), fx_dir, corpus ? " '" : "", corpus ? corpus : "",
                     corpus ? "/real'" : "");
            int rc = system(cmd);
            if (WIFEXITED(rc) && WEXITSTATUS(rc) == 2)
                fx_why = "python3-dkim missing";
            else if (rc != 0 || manifest_read() < 0)
                fx_why = "dkim-fixtures.py failed";
        }
    }
    if (why)
        *why = fx_why;
    return fx_why ? NULL : fx_dir;
}

/* The cases of the manifest. */
int tdk_cases(const struct tdk_case **out)
{
    *out = cases;
    return ncases;
}

/* The case named name. */
const struct tdk_case *tdk_case_get(const char *name)
{
    for (int i = 0; i < ncases; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

/* Read NAME.eml. */
char *tdk_load(const char *name, size_t *len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s.eml", fx_dir, name);
    return tlib_read_file(path, len);
}

/* A lib for a manifest conf. */
tlsrpt_auth_lib *tdk_lib(const char *conf)
{
    char path[300], err[256];
    static const char *const reporters[] = { "google.com", "microsoft.com" };
    snprintf(path, sizeof path, "%s/keys.txt", fx_dir);
    tlsrpt_auth_conf c = { .key_file = path };
    if (strcmp(conf, "tlsrpt") == 0)
        c.require_tlsrpt_service = 1;
    if (strcmp(conf, "reporters") == 0)
        c.reporters = reporters, c.n_reporters = 2;
    tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&c, err, sizeof err);
    if (!lib)
        fprintf(stderr, "tdk_lib(%s): %s\n", conf, err);
    return lib;
}

/* Verify by tlsrpt_auth_feed in chunks. */
void tdk_verify_feed(tlsrpt_auth_lib *lib, const char *msg, size_t len, size_t chunk,
                     const char *contact, tlsrpt_verdict *v)
{
    tlsrpt_auth *a = tlsrpt_auth_new(lib, "feed", 0);
    if (chunk == 0)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk)
        tlsrpt_auth_feed(a, msg + off, len - off < chunk ? len - off : chunk);
    tlsrpt_auth_finish(a);
    tlsrpt_auth_judge(a, contact && *contact ? contact : NULL, NULL, v);
    tlsrpt_auth_free(a);
}

/* Give one header "name: value\r\n folded" the libmilter way. */
static void milter_header(tlsrpt_auth *a, const char *h, size_t hl, unsigned flags)
{
    const char *colon = memchr(h, ':', hl);
    if (!colon)
        return;
    char *name = strndup(h, (size_t)(colon - h)), *val = malloc(hl + 1);
    size_t n = 0;
    const char *p = colon + 1, *end = h + hl;
    if (flags & (TLSRPT_AUTH_HDR_STRIPPED | TDK_STRIP_UNTOLD))
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
    for (; p < end; p++)
        if (*p != '\r')
            val[n++] = *p;                      /* folds as bare LF, as Postfix sends them */
    while (n > 0 && val[n - 1] == '\n')
        n--;
    val[n] = 0;
    tlsrpt_auth_header(a, name, val);
    free(name);
    free(val);
}

/* Verify the libmilter way. */
void tdk_verify_milter(tlsrpt_auth_lib *lib, const char *msg, size_t len, size_t chunk,
                       unsigned flags, const char *contact, tlsrpt_verdict *v)
{
    tlsrpt_auth *a = tlsrpt_auth_new(lib, "milter", flags & TLSRPT_AUTH_HDR_STRIPPED);
    const char *p = msg, *end = msg + len;
    while (p < end) {
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            p += *p == '\n' ? 1 : 2;           /* the empty line */
            break;
        }
        const char *e = p;
        for (;;) {                              /* one header with its continuations */
            const char *nl = memchr(e, '\n', (size_t)(end - e));
            e = nl ? nl + 1 : end;
            if (e >= end || (*e != ' ' && *e != '\t'))
                break;
        }
        milter_header(a, p, (size_t)(e - p), flags);
        p = e;
    }
    tlsrpt_auth_eoh(a);
    size_t bl = (size_t)(end - p);
    if (chunk == 0)
        chunk = bl ? bl : 1;
    for (size_t off = 0; off < bl; off += chunk)
        tlsrpt_auth_body(a, p + off, bl - off < chunk ? bl - off : chunk);
    tlsrpt_auth_finish(a);
    tlsrpt_auth_judge(a, contact && *contact ? contact : NULL, NULL, v);
    tlsrpt_auth_free(a);
}

/* Does v match c? */
int tdk_matches(const struct tdk_case *c, const tlsrpt_verdict *v, char *why, size_t whylen)
{
    if (v->authentic != c->expect)
        snprintf(why, whylen, "authentic=%d, want %d (detail: %s)", v->authentic, c->expect,
                 v->detail);
    else if (strcmp(v->reason, c->reason) != 0)
        snprintf(why, whylen, "reason '%s', want '%s' (detail: %s)", v->reason, c->reason,
                 v->detail);
    else if (c->detail[0] && !strstr(v->detail, c->detail))
        snprintf(why, whylen, "detail '%s' lacks '%s'", v->detail, c->detail);
    else if (c->lookups >= 0 && (int)v->lookups != c->lookups)
        snprintf(why, whylen, "%u lookups, want %d", v->lookups, c->lookups);
    else if (c->disagree >= 0 && v->submitter_disagrees != c->disagree)
        snprintf(why, whylen, "submitter_disagrees=%d, want %d (%s)", v->submitter_disagrees,
                 c->disagree, v->submitter);
    else
        return 1;
    return 0;
}
