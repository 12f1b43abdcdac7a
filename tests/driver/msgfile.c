/*
 * msgfile.c - read a .eml file and split it into header fields and a CRLF
 * body for the milter driver.
 *
 * The header section ends at the first empty line. A leading mbox "From "
 * line is skipped. A line that starts with space or tab continues the
 * previous field (joined with "\n", as Postfix keeps folded headers); a
 * line without a colon ends the header section (it and the rest are body).
 * Limits: MSG_MAX_FILE bytes, MSG_MAX_HEADERS fields. Errors: -1 + err.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgfile.h"

/* Read a whole file, at most MSG_MAX_FILE bytes; NULL on error. */
static unsigned char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *p;
            if (cap >= MSG_MAX_FILE) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, MSG_MAX_FILE);
                goto fail;
            }
            if (ncap > MSG_MAX_FILE)
                ncap = MSG_MAX_FILE;
            if (!(p = realloc(buf, ncap + 1))) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            buf = p;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    if (!buf && !(buf = malloc(1)))
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* Length of the line at p (without its LF/CRLF) and where the next one starts. */
static size_t line_at(const unsigned char *p, const unsigned char *end, const unsigned char **next)
{
    const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
    const unsigned char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r')
        e--;
    return (size_t)(e - p);
}

/* Does the line look like "Name:" (printable, no space before the colon)? */
static int is_field_line(const unsigned char *p, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] == ':')
            return i > 0;
        if (p[i] <= ' ' || p[i] > '~')
            return 0;
    }
    return 0;
}

/* Append a new field from the line "Name: value". */
static int add_field(msgfile *m, const unsigned char *p, size_t len)
{
    const unsigned char *colon = memchr(p, ':', len);
    size_t nl = (size_t)(colon - p);
    msg_header *h;

    if (m->nhdrs >= MSG_MAX_HEADERS)
        return -1;
    h = realloc(m->hdrs, (m->nhdrs + 1) * sizeof(*h));
    if (!h)
        return -1;
    m->hdrs = h;
    h = &m->hdrs[m->nhdrs];
    h->name = strndup((const char *)p, nl);
    h->value = strndup((const char *)colon + 1, len - nl - 1);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return -1;
    }
    m->nhdrs++;
    return 0;
}

/* Append a continuation line to the last field, joined with "\n". */
static int add_continuation(msgfile *m, const unsigned char *p, size_t len)
{
    msg_header *h = &m->hdrs[m->nhdrs - 1];
    size_t old = strlen(h->value);
    char *v = realloc(h->value, old + 1 + len + 1);

    if (!v)
        return -1;
    v[old] = '\n';
    memcpy(v + old + 1, p, len);
    v[old + 1 + len] = '\0';
    h->value = v;
    return 0;
}

/* Copy the body with every line end turned into CRLF. */
static int set_body(msgfile *m, const unsigned char *p, const unsigned char *end)
{
    size_t n = (size_t)(end - p), i, o = 0;
    unsigned char *b = malloc(2 * n + 1);

    if (!b)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            b[o++] = '\r';
        b[o++] = p[i];
    }
    m->body = b;
    m->bodylen = o;
    return 0;
}

int msgfile_load(msgfile *m, const char *path, char *err, size_t errlen)
{
    size_t len;
    const unsigned char *p, *end, *next;
    unsigned char *data;

    memset(m, 0, sizeof(*m));
    if (!(data = slurp(path, &len, err, errlen)))
        return -1;
    p = data;
    end = data + len;
    if (len >= 5 && memcmp(p, "From ", 5) == 0)
        line_at(p, end, &p);
    while (p < end) {
        size_t ll = line_at(p, end, &next);
        int rc = 0;
        if (ll == 0) {          /* empty line: end of headers */
            p = next;
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && m->nhdrs > 0)
            rc = add_continuation(m, p, ll);
        else if (is_field_line(p, ll))
            rc = add_field(m, p, ll);
        else
            break;              /* not a header: the body starts here */
        if (rc < 0) {
            snprintf(err, errlen, "%s: too many or too large headers", path);
            goto fail;
        }
        p = next;
    }
    if (set_body(m, p, end) < 0 || !(m->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    free(data);
    return 0;
fail:
    free(data);
    msgfile_free(m);
    return -1;
}

void msgfile_free(msgfile *m)
{
    size_t i;
    for (i = 0; i < m->nhdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    free(m->hdrs);
    free(m->body);
    free(m->path);
    memset(m, 0, sizeof(*m));
}
