/*
 * zip.c - a report sent as a ZIP archive (payload kind zip, "PK\3\4"):
 * exactly one entry whose name ends in ".json", stored (method 0) or
 * deflated (method 8), read streaming from its local file header; the
 * central directory at the end is never needed.
 *
 * Local header (30 bytes, then the name and the extra field), the data,
 * an optional data descriptor (flag bit 3: CRC and sizes after the data,
 * with or without its "PK\7\10" signature); deflated data is raw-inflated
 * (zlib windowBits -15), which finds the end of the data by itself. A
 * stored entry with bit 3 has no delimiter and is refused. The CRC-32 of
 * the decoded data is checked. After the entry a central directory header
 * ("PK\1\2") or end record ends the archive (the rest is ignored); a second
 * local header ("PK\3\4") means several entries.
 * Every decoded byte counts against max_report_bytes, also bytes after the
 * JSON value (a bomb cannot hide behind a short report).
 * Hand-written: zlib has no streaming zip reader (minizip needs the whole
 * file and seeks to the central directory).
 * Errors: TLSRPT_ERR_UNSUPPORTED_ARCHIVE (encrypted, several entries,
 * zip64, a method other than 0/8, stored with a data descriptor, an entry
 * not named .json), TLSRPT_ERR_GZIP (corrupt or truncated archive or data,
 * CRC mismatch), TLSRPT_ERR_REPORT_SIZE, JSON errors. In sniff mode
 * without a zip label an entry not named .json is not a report: rejected
 * quietly.
 */
#include "stages.h"
#include <stdio.h>
#include <strings.h>

enum { ZS_HDR = 0, ZS_NAME, ZS_EXTRA, ZS_DATA, ZS_DESC, ZS_NEXT, ZS_END };
#define ZOUT 16384

/* Little-endian 16 and 32 bit values. */
static unsigned le16(const unsigned char *b)
{
    return (unsigned)b[0] | (unsigned)b[1] << 8;
}
static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The entry name's last 64 bytes into out (sizeof name + 4), printable ASCII only
   (it comes from a stranger). */
static const char *safe_name(const zip_state *z, char *out)
{
    size_t n = 0, from = z->nname > 64 ? z->nname - 64 : 0;
    if (z->name_len > z->nname - from) {
        memcpy(out, "...", 3);
        n = 3;
    }
    for (size_t i = from; i < z->nname; i++)
        out[n++] = z->name[i] >= 0x20 && z->name[i] < 0x7f && z->name[i] != '"' ? z->name[i] : '?';
    out[n] = 0;
    return out;
}

/* An archive we do not read. */
static int unsupported(char *err, const char *what, const char *detail)
{
    snprintf(err, TLSRPT_ERRLEN, "unsupported zip archive: %.88s%.140s", what, detail);
    return TLSRPT_ERR_UNSUPPORTED_ARCHIVE;
}

/* A broken archive. */
static int corrupt(char *err, const char *what)
{
    snprintf(err, TLSRPT_ERRLEN, "corrupt zip archive: %.200s", what);
    return TLSRPT_ERR_GZIP;
}

/* Name and extra field read: decide whether and how the entry is decoded. */
static int entry_start(payload *p, char *err)
{
    zip_state *z = &p->zip;
    char det[sizeof z->name + 16], nm[sizeof z->name + 4];
    size_t l = z->nname;                /* a long name: its kept tail decides */
    int json = l >= 5 && strncasecmp(z->name + l - 5, ".json", 5) == 0;
    if (!json && p->sniff && p->label != LABEL_ZIP) {
        p->rejected = 1;                /* some other zip (an office document...) */
        return TLSRPT_OK;
    }
    snprintf(det, sizeof det, " (entry \"%s\")", safe_name(z, nm));
    if (z->flags & 0x41 || z->method == 99)
        return unsupported(err, "the entry is encrypted", det);
    if (z->zip64 || z->csize == 0xffffffffu || z->usize == 0xffffffffu)
        return unsupported(err, "zip64 entry", det);
    if (z->method != 0 && z->method != 8) {
        char m[64];
        snprintf(m, sizeof m, "compression method %u (only 0 stored and 8 deflated)", z->method);
        return unsupported(err, m, det);
    }
    if (z->method == 0 && (z->flags & 8))
        return unsupported(err, "a stored entry with a data descriptor (its end cannot be found)", det);
    if (!json)
        return unsupported(err, "the entry is not a .json file", det);
    z->crc_calc = (uint32_t)crc32(0, Z_NULL, 0);
    if (z->method == 8) {
        if (inflateInit2(&p->zs, -15) != Z_OK) {
            snprintf(err, TLSRPT_ERRLEN, "out of memory (inflateInit)");
            return TLSRPT_ERR_NOMEM;
        }
        p->zinit = 1;
    }
    z->left = z->csize;
    z->st = ZS_DATA;
    return TLSRPT_OK;
}

/* Decoded entry bytes: CRC, the cap (every byte), then the JSON stage. */
static int entry_out(payload *p, const unsigned char *b, size_t n, char *err)
{
    zip_state *z = &p->zip;
    if (n > p->max_bytes - z->out)
        return payload_size_error(p, err);
    z->out += n;
    z->crc_calc = (uint32_t)crc32(z->crc_calc, b, (uInt)n);
    return payload_emit(p, b, n, err);
}

/* The entry's data ended: its CRC is checked here or after the descriptor. */
static int entry_end(payload *p, char *err)
{
    zip_state *z = &p->zip;
    z->nhdr = 0;
    if (z->flags & 8) {
        z->st = ZS_DESC;
        return TLSRPT_OK;
    }
    z->st = ZS_NEXT;
    return z->crc_calc == z->crc ? TLSRPT_OK : corrupt(err, "CRC mismatch in the entry's data");
}

/* Entry data: stored bytes or raw deflate; returns bytes used or -1 on error. */
static long entry_data(payload *p, const unsigned char *buf, size_t len, char *err, int *rc)
{
    zip_state *z = &p->zip;
    unsigned char out[ZOUT];
    if (z->method == 0) {
        size_t n = len < z->left ? len : z->left;
        z->left -= (uint32_t)n;
        *rc = entry_out(p, buf, n, err);        /* the end: zip_feed sees left == 0 */
        return *rc == TLSRPT_OK ? (long)n : -1;
    }
    p->zs.next_in = (unsigned char *)buf;
    p->zs.avail_in = (uInt)len;
    for (;;) {
        p->zs.next_out = out;
        p->zs.avail_out = sizeof out;
        int zr = inflate(&p->zs, Z_NO_FLUSH);
        size_t got = sizeof out - p->zs.avail_out;
        if ((*rc = entry_out(p, out, got, err)) != TLSRPT_OK || p->rejected)
            return -1;
        if (zr == Z_STREAM_END) {
            *rc = entry_end(p, err);
            return *rc == TLSRPT_OK ? (long)(len - p->zs.avail_in) : -1;
        }
        if (zr == Z_BUF_ERROR || (zr == Z_OK && p->zs.avail_in == 0 && got < sizeof out))
            return (long)len;                   /* needs more input */
        if (zr != Z_OK) {
            char m[TLSRPT_ERRLEN];
            snprintf(m, sizeof m, "deflate data: %.160s", p->zs.msg ? p->zs.msg : "inflate error");
            *rc = corrupt(err, m);
            return -1;
        }
    }
}

/* Collect want bytes of a fixed record into z->hdr; 1 when complete. */
static int collect(zip_state *z, size_t want, const unsigned char **buf, size_t *len)
{
    while (z->nhdr < want && *len > 0) {
        z->hdr[z->nhdr++] = *(*buf)++;
        (*len)--;
    }
    return z->nhdr >= want;
}

/* The local file header is complete. */
static int header_done(payload *p, char *err)
{
    zip_state *z = &p->zip;
    const unsigned char *h = z->hdr;
    if (le32(h) != 0x04034b50u)
        return corrupt(err, "no local file header");
    z->flags = le16(h + 6);
    z->method = le16(h + 8);
    z->crc = le32(h + 14);
    z->csize = le32(h + 18);
    z->usize = le32(h + 22);
    z->name_len = le16(h + 26);
    z->extra_len = le16(h + 28);
    z->pos = 0;
    z->st = ZS_NAME;                            /* zip_feed moves on when the name is empty */
    return TLSRPT_OK;
}

/* Name bytes (the tail is kept) and extra field records (zip64 is id 1). */
static size_t name_extra(zip_state *z, const unsigned char *buf, size_t len)
{
    size_t used = 0;
    if (z->st == ZS_NAME) {
        for (; used < len && z->pos < z->name_len; used++, z->pos++) {
            if (z->nname == sizeof z->name) {
                memmove(z->name, z->name + 1, sizeof z->name - 1);
                z->nname--;
            }
            z->name[z->nname++] = (char)buf[used];
        }
    }
    for (; z->st == ZS_EXTRA && used < len && z->pos < z->extra_len; used++, z->pos++) {
        if (z->rec_left > 0) {
            z->rec_left--;
            continue;
        }
        z->rec[z->nrec++] = buf[used];
        if (z->nrec == 4) {
            z->zip64 |= le16(z->rec) == 0x0001;
            z->rec_left = le16(z->rec + 2);
            z->nrec = 0;
        }
    }
    return used;
}

/* After the data: the descriptor (bit 3), then the next record's signature. */
static int trailer(payload *p, const unsigned char **buf, size_t *len, char *err)
{
    zip_state *z = &p->zip;
    if (z->st == ZS_DESC) {                     /* [PK\7\10] crc csize usize */
        if (!collect(z, 4, buf, len))
            return TLSRPT_OK;
        size_t want = le32(z->hdr) == 0x08074b50u ? 16 : 12;
        if (!collect(z, want, buf, len))
            return TLSRPT_OK;
        uint32_t crc = le32(z->hdr + want - 12);
        z->st = ZS_NEXT;
        z->nhdr = 0;
        if (crc != z->crc_calc)
            return corrupt(err, "CRC mismatch in the entry's data");
    }
    if (z->st == ZS_NEXT && collect(z, 4, buf, len)) {
        z->st = ZS_END;
        if (le32(z->hdr) == 0x04034b50u)
            return unsupported(err, "several entries (one .json file expected)", "");
    }
    return TLSRPT_OK;
}

/* Feed archive bytes (see file comment); len 0 only makes the moves that need no input. */
int zip_feed(payload *p, const unsigned char *buf, size_t len, char *err)
{
    zip_state *z = &p->zip;
    int rc = TLSRPT_OK;
    while (rc == TLSRPT_OK && !p->rejected && z->st != ZS_END) {
        if (z->st == ZS_NAME && z->pos == z->name_len) {
            z->st = ZS_EXTRA;
            z->pos = 0;
        } else if (z->st == ZS_EXTRA && z->pos == z->extra_len) {
            rc = entry_start(p, err);
        } else if (z->st == ZS_DATA && z->method == 0 && z->left == 0) {
            rc = entry_end(p, err);
        } else if (len == 0) {
            break;
        } else if (z->st == ZS_HDR) {
            if (collect(z, 30, &buf, &len))
                rc = header_done(p, err);
        } else if (z->st == ZS_NAME || z->st == ZS_EXTRA) {
            size_t n = name_extra(z, buf, len);
            buf += n;
            len -= n;
        } else if (z->st == ZS_DATA) {
            long n = entry_data(p, buf, len, err, &rc);
            if (n < 0)
                break;
            buf += n;
            len -= (size_t)n;
        } else {
            rc = trailer(p, &buf, &len, err);
        }
    }
    return rc;
}

/* End of the part: the entry must be complete. */
int zip_finish(payload *p, char *err)
{
    zip_state *z = &p->zip;
    int rc = zip_feed(p, NULL, 0, err);
    if (rc != TLSRPT_OK || p->rejected || z->st == ZS_NEXT || z->st == ZS_END)
        return rc;
    if (z->st < ZS_DATA && p->sniff && p->label != LABEL_ZIP) {
        p->rejected = 1;                        /* never saw a .json name: not a report */
        return TLSRPT_OK;
    }
    return corrupt(err, z->st < ZS_DATA ? "truncated in the local file header" :
                        z->st == ZS_DATA ? "truncated in the entry's data" :
                        "truncated in the data descriptor");
}
