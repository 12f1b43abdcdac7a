/*
 * limit.c - the decoding limit for `make bench`: what zlib and json-c alone
 * cost on the same report payloads that tlsrpt-parse decodes, with no MIME,
 * no transfer decoding and no report mapping.
 *
 * usage: limit FILE|DIR ...
 * Each input is a payload (bare JSON, or gzip/zlib-wrapped JSON as sniffed
 * from its first bytes); a directory means every regular file in it. Each is
 * read in 64 KiB chunks, inflated into a 64 KiB window, and every window is
 * fed to json_tokener_parse_ex; the finished object tree is freed.
 * Prints one line:  files=N ok=N in_bytes=N json_bytes=N ms=N
 * Limits: a path up to PATH_MAX. Errors: an unreadable input or a corrupt
 * payload counts as not ok (exit 1); usage exit 2.
 */
#include <dirent.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#define CHUNK 65536

/* Totals over all inputs. */
typedef struct totals {
    unsigned long files, ok;
    unsigned long long in_bytes, json_bytes;
} totals;

/* Feed len JSON bytes to the tokener; 0 while fine, -1 on a JSON error. */
static int tok_feed(json_tokener *tok, const unsigned char *p, size_t len,
                    json_object **obj, totals *t)
{
    t->json_bytes += len;
    if (*obj || len == 0)
        return 0;
    *obj = json_tokener_parse_ex(tok, (const char *)p, (int)len);
    if (!*obj && json_tokener_get_error(tok) != json_tokener_continue)
        return -1;
    return 0;
}

/* Decode one open payload: inflate when it starts with a gzip/zlib header. */
static int decode(FILE *f, totals *t)
{
    static unsigned char in[CHUNK], out[CHUNK];
    json_tokener *tok = json_tokener_new();
    json_object *obj = NULL;
    z_stream z;
    int zon = 0, first = 1, rc = 0, zr = Z_OK;
    size_t n;

    memset(&z, 0, sizeof z);
    while (rc == 0 && (n = fread(in, 1, sizeof in, f)) > 0) {
        t->in_bytes += n;
        if (first) {
            first = 0;
            if (n >= 2 && ((in[0] == 0x1f && in[1] == 0x8b) ||
                           ((in[0] & 0x0f) == 8 && (in[0] * 256 + in[1]) % 31 == 0))) {
                if (inflateInit2(&z, 15 + 32) != Z_OK)
                    rc = -1;
                zon = 1;
            }
        }
        if (!zon) {
            rc = tok_feed(tok, in, n, &obj, t);
            continue;
        }
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (rc == 0 && z.avail_in > 0 && zr != Z_STREAM_END) {
            z.next_out = out;
            z.avail_out = sizeof out;
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                rc = -1;
            else
                rc = tok_feed(tok, out, sizeof out - z.avail_out, &obj, t);
        }
    }
    if (zon)
        inflateEnd(&z);
    if (rc == 0 && !obj)
        rc = -1;
    json_object_put(obj);
    json_tokener_free(tok);
    return rc;
}

/* Decode one file path. */
static void do_file(const char *path, totals *t)
{
    FILE *f = fopen(path, "rb");
    t->files++;
    if (!f)
        return;
    if (decode(f, t) == 0)
        t->ok++;
    fclose(f);
}

/* Compare two names for qsort. */
static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decode every regular file of a directory, in name order. */
static void do_dir(const char *dir, totals *t)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0, i;
    struct stat st;

    if (!dh)
        return;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 256) * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(dh);
    qsort(names, n, sizeof *names, cmp_name);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            do_file(path, t);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    totals t;
    struct timespec t0, t1;
    struct stat st;
    int i;

    if (argc < 2) {
        fputs("usage: limit FILE|DIR ...\n", stderr);
        return 2;
    }
    memset(&t, 0, sizeof t);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            do_dir(argv[i], &t);
        else
            do_file(argv[i], &t);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("files=%lu ok=%lu in_bytes=%llu json_bytes=%llu ms=%ld\n", t.files, t.ok,
           t.in_bytes, t.json_bytes,
           (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    return t.ok == t.files ? 0 : 1;
}
