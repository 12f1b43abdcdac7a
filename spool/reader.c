/*
 * reader.c - read a committed archive entry back: its meta, and its
 * original message bytes in chunks (gunzip streaming, bounded memory).
 *
 * The end of the data is checked: the gzip stream must end with a valid
 * trailer (zlib checks CRC-32 and length), nothing may follow it, and the
 * byte count must equal the meta's `size`. A damaged or truncated entry is
 * therefore an error, never a short mail.
 * Errors: open -> NULL + err; read -> -1 and tlsrpt_spool_reader_error().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "spool_int.h"

#define RD_INBUF 16384

struct tlsrpt_spool_reader {
    tlsrpt_spool *sp;
    int fd;
    int z_ready, ended;
    z_stream z;
    tlsrpt_spool_meta *meta;
    unsigned long long size, want;      /* bytes produced, meta's size */
    int has_want;
    char id[TLSRPT_SPOOL_ID_MAX];
    char err[512];
    unsigned char in[RD_INBUF];
};

/* Load and check a meta file. */
tlsrpt_spool_meta *sp_meta_load(const tlsrpt_spool *sp, int dirfd, const char *name,
                                const char *id, char *err, size_t errlen)
{
    size_t len;
    char why[256];
    char *text = sp_read_small(dirfd, name, SP_META_FILE_MAX, &len);
    if (!text) {
        int e = errno;
        sp_errno(sp, err, errlen, e, "read %s", name);
        errno = e;
        return NULL;
    }
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_parse(text, len, why, sizeof why);
    free(text);
    if (!m) {
        sp_err(sp, err, errlen, "%s: %s", name, why);
        errno = EINVAL;
        return NULL;
    }
    const char *mid = tlsrpt_spool_meta_get(m, TLSRPT_SPOOL_K_ID, NULL);
    if (!mid || strcmp(mid, id) != 0) {
        sp_err(sp, err, errlen, "%s: its id line does not name this entry", name);
        tlsrpt_spool_meta_free(m);
        errno = EINVAL;
        return NULL;
    }
    return m;
}

/* Open a committed entry. */
tlsrpt_spool_reader *tlsrpt_spool_reader_open(tlsrpt_spool *sp, const char *id,
                                              char *err, size_t errlen)
{
    char day[11], path[SP_NAME_MAX + 16];
    if (tlsrpt_spool_id_day(id, day) < 0) {
        sp_err(sp, err, errlen, "not an entry id: '%.*s'", 120, id ? id : "(null)");
        return NULL;
    }
    tlsrpt_spool_reader *r = calloc(1, sizeof *r);
    if (!r) {
        sp_err(sp, err, errlen, "out of memory");
        return NULL;
    }
    r->sp = sp;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(path, sizeof path, "%s/%s.eml.gz", day, id);
    r->fd = openat(sp->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (r->fd < 0) {
        if (errno == ENOENT)
            sp_err(sp, err, errlen, "no committed entry %s", id);
        else
            sp_errno(sp, err, errlen, errno, "open %s", path);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/%s.meta", day, id);
    if (!(r->meta = sp_meta_load(sp, sp->rootfd, path, id, err, errlen)))
        goto fail;
    const char *sz = tlsrpt_spool_meta_get(r->meta, TLSRPT_SPOOL_K_SIZE, NULL);
    if (sz && *sz && strspn(sz, "0123456789") == strlen(sz)) {
        r->want = strtoull(sz, NULL, 10);
        r->has_want = 1;
    }
    if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
        sp_err(sp, err, errlen, "zlib inflateInit2 failed (out of memory)");
        goto fail;
    }
    r->z_ready = 1;
    return r;
fail:
    tlsrpt_spool_reader_close(r);
    return NULL;
}

/* Record a read error; returns -1. */
static long rd_fail(tlsrpt_spool_reader *r, const char *why)
{
    if (!r->err[0])
        sp_err(r->sp, r->err, sizeof r->err, "entry %s: %s", r->id, why);
    return -1;
}

/* Checks at the end of the gzip stream: nothing after it, the size from the meta. */
static long at_end(tlsrpt_spool_reader *r)
{
    unsigned char b;
    ssize_t n;
    r->ended = 1;
    if (r->z.avail_in > 0)
        return rd_fail(r, "bytes after the gzip stream");
    do
        n = read(r->fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 0)
        return rd_fail(r, n > 0 ? "bytes after the gzip stream" : "read error");
    if (r->has_want && r->size != r->want)
        return rd_fail(r, "length differs from the meta's size");
    return 0;
}

/* Next message bytes. */
long tlsrpt_spool_reader_read(tlsrpt_spool_reader *r, void *buf, size_t len)
{
    if (r->err[0])
        return -1;
    if (r->ended || len == 0)
        return 0;
    if (len > (1u << 30))
        len = 1u << 30;
    r->z.next_out = buf;
    r->z.avail_out = (uInt)len;
    while (r->z.avail_out > 0) {
        if (r->z.avail_in == 0) {
            ssize_t n = read(r->fd, r->in, sizeof r->in);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return rd_fail(r, strerror(errno));
            if (n == 0)
                return rd_fail(r, "truncated (the gzip stream does not end)");
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)n;
        }
        int zr = inflate(&r->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            r->size += len - r->z.avail_out;
            return at_end(r) < 0 ? -1 : (long)(len - r->z.avail_out);
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return rd_fail(r, r->z.msg ? r->z.msg : "corrupt gzip data");
    }
    r->size += len;
    return (long)len;
}

/* The entry's meta. */
const tlsrpt_spool_meta *tlsrpt_spool_reader_meta(const tlsrpt_spool_reader *r)
{
    return r->meta;
}

/* The reader's first error, "" when none. */
const char *tlsrpt_spool_reader_error(const tlsrpt_spool_reader *r)
{
    return r->err;
}

/* Close a reader; NULL is fine. */
void tlsrpt_spool_reader_close(tlsrpt_spool_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->z_ready)
        inflateEnd(&r->z);
    tlsrpt_spool_meta_free(r->meta);
    free(r);
}
