/*
 * stages.h - internal stages of the decoder, exposed for unit tests.
 *
 * Pipeline for one candidate MIME part:
 *   transfer decoding (b64 / qp / identity) -> payload (gzip/zlib sniff,
 *   inflate with the report-size cap) -> JSON tokener (depth limit)
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

/* ---- json stage (json.c): incremental tokener + mapping (map.c). ---- */
typedef struct json_stage {
    struct json_tokener *tok;
    struct json_object *obj;    /* completed top-level value */
    int done;                   /* obj complete; further bytes ignored */
} json_stage;
int json_stage_init(json_stage *s, int max_depth);
/* Feed decoded report bytes. TLSRPT_OK or TLSRPT_ERR_JSON / _JSON_DEPTH / _NOMEM. */
int json_stage_feed(json_stage *s, const char *buf, size_t len, char *err);
/* End: TLSRPT_OK with s->obj set, or an error (truncated JSON). */
int json_stage_finish(json_stage *s, char *err);
void json_stage_free(json_stage *s);

/* arena.c: the memory of one report (see tlsrpt_report.arena). */
tlsrpt_arena *arena_new(void);
void *arena_alloc(tlsrpt_arena *a, size_t n);
void arena_free(tlsrpt_arena *a);

/* map.c: json object -> report. report_domain may be NULL (TLS-Report-Domain header). */
int tlsrpt_map_report(struct json_object *obj, const char *report_domain,
                      tlsrpt_report **out, char *err);

/* ---- payload.c: sniff plain/gzip/zlib, inflate with cap, feed JSON. ---- */
typedef struct payload {
    int kind;               /* 0 undecided, 1 plain, 2 gzip, 3 zlib */
    unsigned char magic[2];
    int nmagic;
    z_stream zs;
    int zinit;
    int zend;               /* end of deflate stream seen: ignore the rest */
    size_t out_bytes;       /* decoded report bytes so far */
    size_t max_bytes;
    json_stage js;
    int sniff;              /* 1: give up quietly if not JSON/gzip (content sniffing) */
    int rejected;           /* sniff decided: not a report */
    int started;            /* first non-whitespace decoded JSON byte seen */
    int nbom;               /* bytes of a leading UTF-8 BOM skipped */
} payload;
int payload_init(payload *p, size_t max_report_bytes, int max_json_depth, int sniff);
/* Feed transfer-decoded bytes. TLSRPT_OK, or an error code with message. */
int payload_feed(payload *p, const unsigned char *buf, size_t len, char *err);
/* End of part: TLSRPT_OK with the JSON object ready in p->js.obj, or an error. */
int payload_finish(payload *p, char *err);
void payload_free(payload *p);

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
