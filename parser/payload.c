/*
 * payload.c - the report payload after transfer decoding: decide by magic
 * bytes whether it is gzip (1f 8b), zlib (CMF/FLG check), a ZIP archive
 * ("PK\3\4", zip.c) or plain JSON, whatever the label says (a '+gzip' label
 * on plain JSON still decodes), inflate through zlib's streaming API, count
 * decoded bytes and stop the moment max_bytes is reached (decompression-bomb
 * cap), and feed the JSON stage.
 *
 * The first PAYLOAD_MAGIC bytes are held until the kind is decided, so the
 * decision (and the description of bytes that are not what their label
 * says) does not depend on how the input is chunked. gzip header fields
 * (FNAME, FCOMMENT, FEXTRA, FHCRC) are handled by zlib itself (windowBits
 * 16+15); bytes after the end of the first gzip member are ignored. A
 * leading UTF-8 byte order mark is skipped. In sniff mode a payload that
 * does not start like JSON or a compressed stream is rejected quietly
 * (p->rejected) instead of failing; a gzip or zip label (p->label) on bytes
 * that are neither compressed nor JSON fails, saying what they look like.
 * Memory: one 16 KiB output buffer on the stack plus zlib's window.
 * Errors: TLSRPT_ERR_GZIP, TLSRPT_ERR_REPORT_SIZE, TLSRPT_ERR_UNSUPPORTED_ARCHIVE
 * (zip.c), JSON stage errors.
 */
#include "stages.h"
#include <stdio.h>

enum { K_UNDECIDED = 0, K_PLAIN, K_GZIP, K_ZLIB, K_ZIP };
#define OUTBUF 16384

/* Set up a payload decoder. */
int payload_init(payload *p, size_t max_report_bytes, int max_json_depth, int sniff)
{
    memset(p, 0, sizeof *p);
    p->max_bytes = max_report_bytes;
    p->sniff = sniff;
    return json_stage_init(&p->js, max_json_depth);
}

/* Does b start with the n bytes of s? */
static int starts(const unsigned char *b, size_t len, const char *s, size_t n)
{
    return len >= n && memcmp(b, s, n) == 0;
}

/* Are all n bytes base64 alphabet (line ends allowed)? */
static int all_b64(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n", b[i]) || !b[i])
            return 0;
    return 1;
}

/* What the first n bytes of a payload look like, for error messages. */
const char *payload_describe(const unsigned char *b, size_t n)
{
    size_t text = 0;
    if (n == 0)
        return "empty data";
    if (starts(b, n, "\x1f\x8b", 2))
        return "gzip data";
    if (starts(b, n, "PK\3\4", 4))
        return "a zip archive";
    if (starts(b, n, "PK\5\6", 4))
        return "an empty zip archive";
    if (starts(b, n, "%PDF", 4))
        return "a PDF document";
    if (starts(b, n, "BZh", 3))
        return "bzip2 data";
    if (starts(b, n, "\xfd" "7zXZ", 5))
        return "xz data";
    if (starts(b, n, "7z\xbc\xaf", 4) || starts(b, n, "Rar!", 4))
        return "a 7-Zip or RAR archive";
    if (starts(b, n, "\x28\xb5\x2f\xfd", 4))
        return "zstd data";
    if (b[0] == '{' || b[0] == '[')
        return "JSON";
    if (starts(b, n, "<?xml", 5))
        return "XML";
    if (b[0] == '<')
        return "HTML or other markup";
    if (starts(b, n, "H4sI", 4) && all_b64(b, n))
        return "base64 text of gzip data (is the Content-Transfer-Encoding missing?)";
    if (starts(b, n, "UEsDB", 5) && all_b64(b, n))
        return "base64 text of a zip archive (is the Content-Transfer-Encoding missing?)";
    if ((starts(b, n, "eyJ", 3) || starts(b, n, "ewo", 3) || starts(b, n, "ew0K", 4)) && all_b64(b, n))
        return "base64 text of JSON (is the Content-Transfer-Encoding missing?)";
    if (n == PAYLOAD_MAGIC && all_b64(b, n))
        return "base64 text";
    for (size_t i = 0; i < n; i++)
        text += (b[i] >= 0x20 && b[i] != 0x7f) || b[i] == '\t' || b[i] == '\r' || b[i] == '\n';
    return text == n ? "plain text" : "binary data";
}

/* A compressed label on bytes that are neither compressed nor JSON: say what they are. */
static int label_mismatch(payload *p, char *err)
{
    char q[PAYLOAD_MAGIC + 1];
    size_t n = 0;
    for (int i = 0; i < p->nmagic && i < 12; i++)          /* printable ASCII only */
        q[n++] = p->magic[i] >= 0x20 && p->magic[i] < 0x7f && p->magic[i] != '"' ? (char)p->magic[i] : '.';
    q[n] = 0;
    snprintf(err, TLSRPT_ERRLEN, "labelled %s, but the data is not compressed: it looks like %s "
             "(starts \"%s\")", p->label == LABEL_ZIP ? "zip" : "gzip",
             payload_describe(p->magic, (size_t)p->nmagic), q);
    return TLSRPT_ERR_GZIP;
}

/* The report-size error (see stages.h). */
int payload_size_error(const payload *p, char *err)
{
    if (p->mail_capped)
        snprintf(err, TLSRPT_ERRLEN, "the reports of this mail decode to more than the mail's "
                 "budget (the larger of MaxMessageBytes and MaxReportBytes); %zu bytes were left",
                 p->max_bytes);
    else
        snprintf(err, TLSRPT_ERRLEN, "decoded report exceeds the limit of %zu bytes", p->max_bytes);
    return TLSRPT_ERR_REPORT_SIZE;
}

/* Pass decoded report bytes to the JSON stage, enforcing the cap and sniffing. */
int payload_emit(payload *p, const unsigned char *buf, size_t len, char *err)
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
            if (buf[i] != '{' && buf[i] != '[') {
                if (p->kind == K_PLAIN && (p->label == LABEL_GZIP || p->label == LABEL_ZIP))
                    return label_mismatch(p, err);
                if (p->sniff) {
                    p->rejected = 1;
                    return TLSRPT_OK;
                }
            }
        }
    }
    /* the cap counts the report up to the end of its JSON value: what follows it (the
       line end before a boundary, padding) is ignored, so a report of exactly the
       limit passes; never more than the limit reaches json-c */
    size_t room = p->max_bytes - p->out_bytes, take = len < room ? len : room;
    if (p->cancel && p->cancel(p->cancel_arg)) {
        snprintf(err, TLSRPT_ERRLEN, "decoding cancelled by the caller");
        return TLSRPT_ERR_CANCELLED;
    }
    p->out_bytes += take;
    int rc = json_stage_feed(&p->js, (const char *)buf, take, err);
    if (rc == TLSRPT_OK && take < len && !p->js.done) {
        return payload_size_error(p, err);
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
        int rc = payload_emit(p, out, got, err);
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

/* Decide the kind from the held first bytes and set up zlib if compressed. */
static int decide(payload *p, char *err)
{
    unsigned char a = p->magic[0], b = p->magic[1];
    int wbits = 0;
    if (p->nmagic >= 2 && a == 0x1f && b == 0x8b) {
        p->kind = K_GZIP;
        wbits = 16 + 15;
    } else if (p->nmagic >= 2 && (a & 0x0f) == 8 && (a >> 4) <= 7 && ((a << 8) | b) % 31 == 0) {
        p->kind = K_ZLIB;
        wbits = 15;
    } else if (p->nmagic >= 4 && memcmp(p->magic, "PK\3\4", 4) == 0) {
        p->kind = K_ZIP;
        return TLSRPT_OK;
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

/* Bytes of a decided payload, by kind. */
static int kind_feed(payload *p, const unsigned char *buf, size_t len, char *err)
{
    if (len == 0)
        return TLSRPT_OK;
    if (p->kind == K_PLAIN)
        return payload_emit(p, buf, len, err);
    if (p->kind == K_ZIP)
        return zip_feed(p, buf, len, err);
    return inflate_feed(p, buf, len, err);
}

/* Decide from the held bytes and pass them on; a kind this sniffing does not take
   is not a report (rejected quietly). */
static int decide_and_flush(payload *p, char *err)
{
    int rc = decide(p, err);
    if (rc != TLSRPT_OK)
        return rc;
    if ((p->sniff == SNIFF_COMPRESSED && p->kind != K_GZIP && p->kind != K_ZIP) ||
        (p->sniff == SNIFF_ZIP && p->kind != K_ZIP)) {
        p->rejected = 1;
        return TLSRPT_OK;
    }
    return kind_feed(p, p->magic, (size_t)p->nmagic, err);
}

/* Feed transfer-decoded bytes. */
int payload_feed(payload *p, const unsigned char *buf, size_t len, char *err)
{
    int rc;
    if (p->rejected)
        return TLSRPT_OK;
    if (p->kind == K_UNDECIDED) {
        while (len > 0 && p->nmagic < PAYLOAD_MAGIC) {
            p->magic[p->nmagic++] = *buf++;
            len--;
        }
        if (p->nmagic < PAYLOAD_MAGIC)
            return TLSRPT_OK;
        if ((rc = decide_and_flush(p, err)) != TLSRPT_OK || p->rejected)
            return rc;
    }
    return kind_feed(p, buf, len, err);
}

/* End of the part: flush, and require a complete compressed stream and JSON value. */
int payload_finish(payload *p, char *err)
{
    int rc;
    if (p->kind == K_UNDECIDED && p->nmagic > 0 && (rc = decide_and_flush(p, err)) != TLSRPT_OK)
        return rc;
    if (p->kind == K_ZIP && !p->rejected && (rc = zip_finish(p, err)) != TLSRPT_OK)
        return rc;
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
