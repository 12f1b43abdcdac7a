/* tlib_util.c - file and path helpers for the unit tests (see tlib.h). */
#include "tlib.h"
#include <sys/stat.h>

int tlib_failed;

/* Read a whole file into a NUL-terminated buffer. */
char *tlib_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* Where the shared corpus is, or NULL when absent. */
const char *tlib_corpus_dir(void)
{
    static char path[4096];
    const char *e = getenv("TLSRPT_CORPUS");
    struct stat st;
    if (!e || !*e) {
        snprintf(path, sizeof path, "%s/../shared/corpus", tlib_srcdir());
        e = path;
    }
    return stat(e, &st) == 0 && S_ISDIR(st.st_mode) ? e : NULL;
}

/* Source tree root. */
const char *tlib_srcdir(void)
{
    const char *e = getenv("TLSRPT_SRCDIR");
    return e && *e ? e : ".";
}
