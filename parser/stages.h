/*
 * stages.h - internal stages of the decoder, exposed for unit tests.
 *
 * Pipeline for one candidate MIME part:
 *   transfer decoding (b64 / qp / identity) -> payload (gzip/zlib/zip sniff,
 *   inflate with the report-size cap; zip.c reads a one-entry zip) -> JSON tokener (depth limit)
 *   -> map to tlsrpt_report (map.c).
 * Each stage is a small streaming object: *_init / *_feed / *_finish.
 * Errors are returned as TLSRPT_ERR_* codes with a message written into
 * a caller-supplied buffer of TLSRPT_ERRLEN bytes.
 */
#ifndef TLSRPT_STAGES_H
#define TLSRPT_STAGES_H

#include "tlsrpt.h"
#include <json-c/json.h>
#include <zlib.h>
#include <string.h>
#include <stdint.h>

#define TLSRPT_ERRLEN 256

/* ---- b64.c: streaming base64 decoder; skips whitespace and CR/LF. ---- */
typedef struct b64_state {
    unsigned int acc;       /* pending bits */
    int nbits;              /* number of valid bits in acc (0..18) */
    int pad;                /* '=' seen: only whitespace/'=' may follow */
} b64_state;
void b64_init(b64_state *s);
/* Decode len bytes; writes at most len*3/4+3 bytes to out; returns bytes written, or -1 on a bad character. */
long b64_decode(b64_state *s, const char *in, size_t len, unsigned char *out);
/* End of input: 0 ok, -1 when a truncated quantum (a lone 6 bits) remains. */
int b64_finish(b64_state *s);

/* ---- qp.c: streaming quoted-printable decoder (RFC 2045 6.7). ---- */
typedef struct qp_state {
    char pend[3];           /* "=" or "=X" pending across chunks */
    int npend;
    /* trailing whitespace of the current line is held until we see the line end */
    char ws[76];
    int nws;
    int ws_overflow;
} qp_state;
void qp_init(qp_state *s);
/* Decode; out must hold len + sizeof(ws) + 3 bytes. Returns bytes written. Never fails (lenient). */
size_t qp_decode(qp_state *s, const char *in, size_t len, unsigned char *out);
/* Flush pending bytes at end of part; returns bytes written to out (>= 80 bytes). */
size_t qp_finish(qp_state *s, unsigned char *out);

/* ---- jcount.c: counts JSON values as the bytes stream, before json-c sees them. ---- */
#define JCOUNT_LEVELS 1024      /* nesting levels whose container kind is kept */
#define JCOUNT_MEMBERS 64       /* levels whose member count is kept (memory estimate) */
typedef struct json_count {
    size_t values;              /* weighted values so far (JV_* in jcount.c) */
    size_t max_values;          /* 0: no limit */
    size_t n[6];                /* by kind (JK_* in jcount.c), for the memory estimate */
    size_t str_bytes;           /* bytes inside strings and keys */
    size_t str_high;            /* of which bytes >= 0x80 (repair may triple them) */
    size_t str_len, str_max;    /* the current string's bytes, the longest */
    unsigned depth;
    unsigned char obj[JCOUNT_LEVELS / 8];   /* bit per level: an object (else an array) */
    unsigned char members[JCOUNT_MEMBERS];  /* members so far per level, saturating */
    unsigned char st;           /* JC_* state in jcount.c */
    unsigned char quote;        /* '"' or '\'' (json-c also reads single-quoted strings) */
    unsigned char want_key;     /* in an object where a member name comes next */
    unsigned char ended;        /* the top-level container closed: stop counting */
} json_count;
/* Count buf; 0, or -1 the moment the count passes max_values. */
int json_count_feed(json_count *c, const char *buf, size_t len);
/* Estimated bytes of json-c's tree (and tokener) for what was counted. */
size_t json_count_memory(const json_count *c);
/* Estimated arena bytes of the report mapped from it. */
size_t json_count_arena(const json_count *c);

/* ---- json stage (json.c): incremental tokener + mapping (map.c). ---- */
typedef struct json_stage {
    struct json_tokener *tok;
    struct json_object *obj;    /* completed top-level value */
    int done;                   /* obj complete; further bytes ignored */
    json_count count;           /* set count.max_values after json_stage_init */
} json_stage;
int json_stage_init(json_stage *s, int max_depth);
/* Feed decoded report bytes. TLSRPT_OK or TLSRPT_ERR_JSON / _JSON_DEPTH / _JSON_VALUES / _NOMEM. */
int json_stage_feed(json_stage *s, const char *buf, size_t len, char *err);
/* End: TLSRPT_OK with s->obj set, or an error (truncated JSON). */
int json_stage_finish(json_stage *s, char *err);
void json_stage_free(json_stage *s);

/* utf8.c: well-formed UTF-8 (no overlong, surrogate, > U+10FFFF or truncated sequence). */
/* 1 when s[0, n) is well-formed UTF-8 without NUL bytes. */
int utf8_valid(const char *s, size_t n);
/* s[0, n) with each maximal ill-formed subpart and NUL as U+FFFD into out (3n bytes;
   NULL: count only); returns the length written. */
size_t utf8_repair(const char *s, size_t n, char *out);
/* In place: bytes of ill-formed sequences and control characters become '?'. */
void utf8_sanitize(char *s);

/* arena.c: the memory of one report (see tlsrpt_report.arena). */
tlsrpt_arena *arena_new(void);
void *arena_alloc(tlsrpt_arena *a, size_t n);
void arena_free(tlsrpt_arena *a);
size_t arena_size(const tlsrpt_arena *a);

/* map.c: json object -> report. report_domain may be NULL (TLS-Report-Domain header).
   Session counts above max_count are invalid; tlsrpt_map_report uses the default. */
int tlsrpt_map_report(struct json_object *obj, const char *report_domain,
                      tlsrpt_report **out, char *err);
int tlsrpt_map_report_max(struct json_object *obj, const char *report_domain, int64_t max_count,
                          tlsrpt_report **out, char *err);

/* ---- zip.c: a ZIP archive of one .json entry, stored or deflated (payload kind zip). ---- */
typedef struct zip_state {
    int st;                 /* ZS_* in zip.c */
    unsigned char hdr[30];  /* local file header, then the data descriptor / next signature */
    size_t nhdr;
    unsigned flags, method;
    uint32_t crc, csize, usize;
    uint32_t crc_calc;      /* CRC-32 of the entry's data as decoded */
    size_t name_len, extra_len, pos;
    char name[128];         /* tail of the entry name (sanitized when printed) */
    size_t nname;
    unsigned char rec[4];   /* extra field: the current record's id and size */
    size_t nrec, rec_left;
    int zip64;              /* extra record 0x0001 seen */
    uint32_t left;          /* stored entry: data bytes still to come */
    size_t out;             /* bytes of the entry decoded (all count against the cap) */
} zip_state;

/* Content sniffing of a part (payload.sniff): which contents are a report. */
enum { SNIFF_NONE = 0,      /* whatever it is: decoded, errors are errors */
       SNIFF_JSON,          /* JSON, or gzip/zlib/zip of it */
       SNIFF_COMPRESSED,    /* gzip or zip of JSON only */
       SNIFF_ZIP };         /* zip of one .json entry only */

/* What a part's media type or file name says it holds (payload.label). */
enum { LABEL_NONE = 0, LABEL_JSON, LABEL_GZIP, LABEL_ZIP };

/* ---- payload.c: sniff plain/gzip/zlib/zip, inflate with cap, feed JSON. ---- */
#define PAYLOAD_MAGIC 16        /* first bytes held to decide the kind and describe it */
typedef struct payload {
    int kind;               /* 0 undecided, 1 plain, 2 gzip, 3 zlib, 4 zip */
    unsigned char magic[PAYLOAD_MAGIC];
    int nmagic;
    int label;              /* LABEL_*: set by the caller after payload_init (0: none) */
    zip_state zip;
    z_stream zs;
    int zinit;
    int zend;               /* end of deflate stream seen: ignore the rest */
    size_t out_bytes;       /* decoded report bytes so far */
    size_t max_bytes;
    json_stage js;
    int sniff;              /* SNIFF_*: what content is a report; else give up quietly */
    int mail_capped;        /* max_bytes is what is left of the mail's budget for reports */
    int rejected;           /* sniff decided: not a report */
    int started;            /* first non-whitespace decoded JSON byte seen */
    int nbom;               /* bytes of a leading UTF-8 BOM skipped */
    tlsrpt_cancel_fn cancel;    /* tlsrpt_decoder_set_cancel: polled before each piece */
    void *cancel_arg;
} payload;
int payload_init(payload *p, size_t max_report_bytes, int max_json_depth, int sniff);
/* Feed transfer-decoded bytes. TLSRPT_OK, or an error code with message. */
int payload_feed(payload *p, const unsigned char *buf, size_t len, char *err);
/* End of part: TLSRPT_OK with the JSON object ready in p->js.obj, or an error. */
int payload_finish(payload *p, char *err);
void payload_free(payload *p);
/* Pass decoded report bytes on to the JSON stage (cap, BOM, sniffing); zip.c uses it. */
int payload_emit(payload *p, const unsigned char *buf, size_t len, char *err);
/* The report-size error: the report's cap or the mail's budget (TLSRPT_ERR_REPORT_SIZE). */
int payload_size_error(const payload *p, char *err);
/* Describe what the first n bytes look like ("plain text", "a PDF document", ...). */
const char *payload_describe(const unsigned char *b, size_t n);
/* zip.c: feed archive bytes / end of part (TLSRPT_OK, _GZIP, _UNSUPPORTED_ARCHIVE, ...). */
int zip_feed(payload *p, const unsigned char *buf, size_t len, char *err);
int zip_finish(payload *p, char *err);

/* ---- mimehdr.c: header field helpers. ---- */
/* Content-Type / Content-Disposition value parsed. Strings are lower-cased where case-insensitive. */
typedef struct mime_ctype {
    char type[128];         /* "application/tlsrpt+gzip" (lower-case), "" if absent */
    char boundary[256];     /* verbatim, "" if absent */
    char name[256];         /* name= or filename= (RFC 2231 joined/decoded), verbatim */
    char report_type[64];   /* report-type (lower-case) */
} mime_ctype;
/* Parse a Content-Type value into ct (fills type, boundary, name, report_type). */
void mime_parse_ctype(const char *value, mime_ctype *ct);
/* Parse a Content-Disposition value; fills ct->name from filename (if found). */
void mime_parse_disposition(const char *value, mime_ctype *ct);
/* Get parameter `param` (case-insensitive, RFC 2231 continuations and charset'lang' decoded)
   from a header value after the first ';'. Returns 1 if found. */
int mime_get_param(const char *value, const char *param, char *out, size_t outlen);
/* Unfold in place: CRLF/LF followed by whitespace -> removed (keeps the whitespace). */
void mime_unfold(char *s);

/* Transfer encodings. */
enum { CTE_IDENTITY = 0, CTE_BASE64, CTE_QP };
int mime_parse_cte(const char *value);

#endif
