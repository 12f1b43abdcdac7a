/*
 * payload.c - the report payload after transfer decoding: decide by magic
 * bytes whether it is gzip (1f 8b), zlib (CMF/FLG check) or plain JSON
 * (a '+gzip' label on plain JSON still decodes), inflate through zlib's
 * streaming API, count decoded bytes and stop the moment max_bytes is
 * reached (decompression-bomb cap), and feed the JSON stage.
 *
 * gzip header fields (FNAME, FCOMMENT, FEXTRA, FHCRC) are handled by zlib
 * itself (windowBits 16+15); bytes after the end of the first gzip member
 * are ignored. A leading UTF-8 byte order mark is skipped. In sniff mode a payload that does not start like JSON or a
 * compressed stream is rejected quietly (p->rejected) instead of failing.
 * Memory: one 16 KiB output buffer on the stack plus zlib's window.
 * Errors: TLSRPT_ERR_GZIP, TLSRPT_ERR_REPORT_SIZE, JSON stage errors.
 */
#include "stages.h"
#include <stdio.h>

enum { K_UNDECIDED = 0, K_PLAIN, K_GZIP, K_ZLIB };
#define OUTBUF 16384

/* Set up a payload decoder. */
int payload_init(payload *p, size_t max_report_bytes, int max_json_depth, int sniff)
{
    memset(p, 0, sizeof *p);
    p->max_bytes = max_report_bytes;
    p->sniff = sniff;
    return json_stage_init(&p->js, max_json_depth);
}

/* Pass decoded report bytes to the JSON stage, enforcing the cap and sniffing. */
static int emit(payload *p, const unsigned char *buf, size_t len, char *err)
{
    if (p->js.done || p->rejected)
        return TLSRPT_OK;
    while (!p->started && p->nbom < 3 && len > 0 && buf[0] == (unsigned char)"\xEF\xBB\xBF"[p->nbom]) {
        buf++;                                  /* a UTF-8 byte order mark is skipped */
        len--;
        p->nbom++;
    }
    if (!p->started) {
        size_t i = 0;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
            i++;
        if (i < len) {
            p->started = 1;
            if (p->sniff && buf[i] != '{' && buf[i] != '[') {
                p->rejected = 1;
                return TLSRPT_OK;
            }
        }
    }
    /* the cap counts the report up to the end of its JSON value: what follows it (the
       line end before a boundary, padding) is ignored, so a report of exactly the
       limit passes; never more than the limit reaches json-c */
    size_t room = p->max_bytes - p->out_bytes, take = len < room ? len : room;
    p->out_bytes += take;
    int rc = json_stage_feed(&p->js, (const char *)buf, take, err);
    if (rc == TLSRPT_OK && take < len && !p->js.done) {
        snprintf(err, TLSRPT_ERRLEN, "decoded report exceeds the limit of %zu bytes", p->max_bytes);
        return TLSRPT_ERR_REPORT_SIZE;
    }
    return rc;
}

/* Run inflate over input, emitting output as it is produced. */
static int inflate_feed(payload *p, const unsigned char *buf, size_t len, char *err)
{
    unsigned char out[OUTBUF];
    p->zs.next_in = (unsigned char *)buf;
    p->zs.avail_in = (uInt)len;
    while (!p->zend && !p->js.done && !p->rejected) {
        p->zs.next_out = out;
        p->zs.avail_out = sizeof out;
        int zr = inflate(&p->zs, Z_NO_FLUSH);
        size_t got = sizeof out - p->zs.avail_out;
        int rc = emit(p, out, got, err);
        if (rc != TLSRPT_OK)
            return rc;
        if (zr == Z_STREAM_END) {
            p->zend = 1;                        /* rest of the input is ignored */
        } else if (zr == Z_BUF_ERROR || (zr == Z_OK && p->zs.avail_in == 0 && got < sizeof out)) {
            break;                              /* needs more input */
        } else if (zr != Z_OK) {
            snprintf(err, TLSRPT_ERRLEN, "corrupt %s data: %s",
                     p->kind == K_GZIP ? "gzip" : "zlib", p->zs.msg ? p->zs.msg : "inflate error");
            return TLSRPT_ERR_GZIP;
        }
    }
    return TLSRPT_OK;
}

/* Decide the kind from the first two bytes and set up zlib if compressed. */
static int decide(payload *p, char *err)
{
    unsigned char a = p->magic[0], b = p->magic[1];
    int wbits = 0;
    if (a == 0x1f && b == 0x8b) {
        p->kind = K_GZIP;
        wbits = 16 + 15;
    } else if ((a & 0x0f) == 8 && (a >> 4) <= 7 && ((a << 8) | b) % 31 == 0) {
        p->kind = K_ZLIB;
        wbits = 15;
    } else {
        p->kind = K_PLAIN;
        return TLSRPT_OK;
    }
    if (inflateInit2(&p->zs, wbits) != Z_OK) {
        snprintf(err, TLSRPT_ERRLEN, "out of memory (inflateInit)");
        return TLSRPT_ERR_NOMEM;
    }
    p->zinit = 1;
    return TLSRPT_OK;
}

/* Feed transfer-decoded bytes. */
int payload_feed(payload *p, const unsigned char *buf, size_t len, char *err)
{
    int rc;
    if (p->kind == K_UNDECIDED) {
        while (len > 0 && p->nmagic < 2) {
            p->magic[p->nmagic++] = *buf++;
            len--;
        }
        if (p->nmagic < 2)
            return TLSRPT_OK;
        if ((rc = decide(p, err)) != TLSRPT_OK)
            return rc;
        if (p->kind == K_PLAIN)
            rc = emit(p, p->magic, 2, err);
        else
            rc = inflate_feed(p, p->magic, 2, err);
        if (rc != TLSRPT_OK)
            return rc;
    }
    if (len == 0)
        return TLSRPT_OK;
    if (p->kind == K_PLAIN)
        return emit(p, buf, len, err);
    return inflate_feed(p, buf, len, err);
}

/* End of the part: flush, and require a complete compressed stream and JSON value. */
int payload_finish(payload *p, char *err)
{
    int rc;
    if (p->kind == K_UNDECIDED && p->nmagic == 1) {
        p->kind = K_PLAIN;
        if ((rc = emit(p, p->magic, 1, err)) != TLSRPT_OK)
            return rc;
    }
    if (p->rejected || (p->kind == K_UNDECIDED && p->sniff) || (p->sniff && !p->started)) {
        p->rejected = 1;
        return TLSRPT_OK;
    }
    if ((p->kind == K_GZIP || p->kind == K_ZLIB) && !p->zend && !p->js.done) {
        snprintf(err, TLSRPT_ERRLEN, "truncated %s data", p->kind == K_GZIP ? "gzip" : "zlib");
        return TLSRPT_ERR_GZIP;
    }
    return json_stage_finish(&p->js, err);
}

/* Release zlib and JSON state. */
void payload_free(payload *p)
{
    if (p->zinit)
        inflateEnd(&p->zs);
    json_stage_free(&p->js);
    p->zinit = 0;
}
