/*
 * tlsrpt.h - streaming decoder for TLS-RPT (RFC 8460) report mails and files.
 *
 * The decoder turns a report mail (RFC 5322 headers + MIME body) or a bare
 * .json / .json.gz / .zip report into a tlsrpt_report, fed in chunks of any size
 * (a zip holds one .json entry, stored or deflated):
 *
 *     tlsrpt_decoder *d = tlsrpt_decoder_new(&limits, TLSRPT_MODE_AUTO);
 *     while (...) tlsrpt_feed(d, buf, len);       // whole message bytes
 *     if (tlsrpt_finish(d) == TLSRPT_OK) use(tlsrpt_result(d));
 *     else log(tlsrpt_errstr(d));
 *     tlsrpt_decoder_free(d);
 *
 * or, the milter's way, tlsrpt_feed_header(name, value) per header, then
 * tlsrpt_end_headers(), then tlsrpt_feed_body(chunk) per body chunk.
 *
 * Errors are sticky: after the first error every call returns that error
 * and the decoder holds no more input. Memory per decoder is bounded by the
 * limits (see tlsrpt_limits_default) whatever the input. A mail may hold
 * several reports: tlsrpt_result_count / tlsrpt_result_at give them all,
 * tlsrpt_part_count / tlsrpt_part_at every report part's outcome.
 *
 * Depends only on libc, zlib and json-c.
 */
#ifndef TLSRPT_H
#define TLSRPT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TLSRPT_VERSION "0.1.0"

/* Error codes. Each has a stable short reason token (tlsrpt_reason()). */
enum tlsrpt_err {
    TLSRPT_OK = 0,
    TLSRPT_ERR_NO_REPORT,       /* "no-report"        no report part found */
    TLSRPT_ERR_MESSAGE_SIZE,    /* "message-too-large"  max_message_bytes */
    TLSRPT_ERR_REPORT_SIZE,     /* "report-too-large"   max_report_bytes (bomb) */
    TLSRPT_ERR_JSON_DEPTH,      /* "json-too-deep"      max_json_depth */
    TLSRPT_ERR_MIME_DEPTH,      /* "mime-too-deep"      max_mime_depth */
    TLSRPT_ERR_MIME_PARTS,      /* "mime-too-many-parts" max_mime_parts */
    TLSRPT_ERR_HEADER_SIZE,     /* "header-too-long"    max_header_bytes */
    TLSRPT_ERR_BASE64,          /* "corrupt-base64" */
    TLSRPT_ERR_GZIP,            /* "corrupt-gzip"  gzip/zlib/zip data (also truncated), or a
                                   gzip/zip label on bytes that are not compressed */
    TLSRPT_ERR_JSON,            /* "corrupt-json"  (also truncated) */
    TLSRPT_ERR_INVALID,         /* "invalid-report" JSON fine, not a valid report (also a
                                   session count above max_session_count) */
    TLSRPT_ERR_NOMEM,           /* "out-of-memory" */
    TLSRPT_ERR_USAGE,           /* "usage" API called out of order */
    TLSRPT_ERR_UNSUPPORTED_ARCHIVE, /* "unsupported-archive" zip that is not one .json entry,
                                       stored or deflated (encrypted, several entries, zip64) */
    TLSRPT_ERR_JSON_VALUES,     /* "json-too-many-values" max_json_values */
    TLSRPT_ERR_NO_POLICY_DOMAIN,/* "no-policy-domain" a policy without policy-domain, no
                                   TLS-Report-Domain, and the other policies name several
                                   domains (or it cannot be told which) */
    TLSRPT_ERR_CANCELLED,       /* "cancelled" the caller's cancel hook stopped the decoding
                                   (tlsrpt_decoder_set_cancel) */
    TLSRPT_ERR__COUNT
};

/* Limits; 0 in any field of a struct given to tlsrpt_decoder_new means the default. */
typedef struct tlsrpt_limits {
    size_t max_message_bytes;   /* whole message as fed (headers + body) */
    size_t max_report_bytes;    /* decoded (inflated) JSON bytes: bomb cap */
    size_t max_header_bytes;    /* one unfolded header field */
    int max_json_depth;         /* JSON nesting depth */
    int max_mime_depth;         /* nested multiparts */
    int max_mime_parts;         /* MIME parts in the whole message */
    size_t max_json_values;     /* JSON values in one report, weighted by what json-c's tree
                                   costs: an object counts 12, an array 2, a member name 1,
                                   any other value 1 (see TLSRPT_DEF_MAX_JSON_VALUES) */
    int64_t max_session_count;  /* largest session count (summary totals, failed-session-count);
                                   above it the report is invalid; <= 0 means the default */
} tlsrpt_limits;

#define TLSRPT_DEF_MAX_MESSAGE_BYTES (16u * 1024 * 1024)
#define TLSRPT_DEF_MAX_REPORT_BYTES  (8u * 1024 * 1024)
#define TLSRPT_DEF_MAX_HEADER_BYTES  (64u * 1024)
#define TLSRPT_DEF_MAX_JSON_DEPTH    32
#define TLSRPT_DEF_MAX_MIME_DEPTH    8
#define TLSRPT_DEF_MAX_MIME_PARTS    100
/* 500,000 weighted values: json-c's tree for one report stays under 45 MB (measured worst
   shape: 90 bytes per weighted value), and a whole report's decoding under 64 MB at the
   default max_report_bytes (README "Decoder limits"). */
#define TLSRPT_DEF_MAX_JSON_VALUES   1000000
/* 2^40: RFC 8460 counts are sessions per day; a larger one is a broken or hostile report. */
#define TLSRPT_DEF_MAX_SESSION_COUNT ((int64_t)1 << 40)

/* How fed bytes are read. */
enum tlsrpt_mode {
    TLSRPT_MODE_AUTO = 0,   /* bare report if first byte is '{'/ws or gzip/zlib/zip magic, else message */
    TLSRPT_MODE_MESSAGE,    /* RFC 5322 message */
    TLSRPT_MODE_RAW         /* bare JSON, gzip'd, zlib'd or zipped JSON */
};

/* One failure-details[] entry. Strings are NULL when absent or null. */
typedef struct tlsrpt_failure {
    char *result_type;              /* verbatim, may be a non-RFC value */
    char *sending_mta_ip;
    char *receiving_mx_hostname;
    char *receiving_mx_helo;
    char *receiving_ip;
    int64_t failed_session_count;   /* 0 when absent */
    int has_failed_session_count;
    char *additional_information;
    char *failure_reason_code;
} tlsrpt_failure;

/* Where a policy's domain came from (tlsrpt_policy.policy_domain_source). */
enum tlsrpt_domain_source {
    TLSRPT_DOMAIN_NONE = 0,         /* no domain at all (the store says no-policy-domain) */
    TLSRPT_DOMAIN_REPORT,           /* the policy's own policy-domain */
    TLSRPT_DOMAIN_HEADER,           /* the mail's TLS-Report-Domain header */
    TLSRPT_DOMAIN_OTHER_POLICIES    /* no header: the one domain the other policies name */
};
/* "none", "report", "header", "other-policies". */
const char *tlsrpt_domain_source_name(int source);

/* One policies[] entry. */
typedef struct tlsrpt_policy {
    char *policy_type;              /* "sts", "tlsa", "no-policy-found", or other */
    char **policy_string;           /* n_policy_string entries */
    size_t n_policy_string;
    char *policy_domain;            /* as in the report, or TLS-Report-Domain, or the one domain
                                       the report's other policies name; NULL if none */
    int policy_domain_from_header;  /* 1 when taken from the TLS-Report-Domain header */
    int policy_domain_source;       /* enum tlsrpt_domain_source */
    char **mx_host;                 /* mx-host, string or array, as an array */
    size_t n_mx_host;
    int64_t total_successful;       /* summary; 0 when absent */
    int64_t total_failure;
    int has_total_successful;
    int has_total_failure;
    tlsrpt_failure *failures;
    size_t n_failures;
} tlsrpt_policy;

/* A decoded report. Strings are NUL-terminated, well-formed UTF-8: an embedded NUL and
   each ill-formed sequence (overlong, surrogate, > U+10FFFF, truncated) became U+FFFD.
   All of its memory belongs to the decoder's arena: free it only with tlsrpt_report_free. */
typedef struct tlsrpt_arena tlsrpt_arena;
typedef struct tlsrpt_report {
    char *organization_name;
    char *contact_info;
    char *report_id;
    char *start_raw;                /* date-range/start-datetime verbatim */
    char *end_raw;
    time_t start;                   /* read as UTC when no offset is given */
    time_t end;
    int has_start;                  /* start_raw parsed */
    int has_end;
    char day[11];                   /* UTC day of start, "YYYY-MM-DD", "" if !has_start */
    tlsrpt_policy *policies;
    size_t n_policies;
    tlsrpt_arena *arena;            /* internal: owns every string, array and the report */
} tlsrpt_report;

typedef struct tlsrpt_decoder tlsrpt_decoder;

/* Set every limit to its default. */
void tlsrpt_limits_default(tlsrpt_limits *lim);

/* Create a decoder; lim may be NULL for defaults. NULL on out of memory. */
tlsrpt_decoder *tlsrpt_decoder_new(const tlsrpt_limits *lim, enum tlsrpt_mode mode);

/* A cancel hook: polled while a report is decoded (before each piece of at most 16 KiB
   of decompressed or plain JSON reaches json-c), so one long decoding step can be cut
   short (the milter does when it stops). When it returns non-zero the decoder stops
   with the sticky error TLSRPT_ERR_CANCELLED. fn NULL: none (the default). */
typedef int (*tlsrpt_cancel_fn)(void *arg);
void tlsrpt_decoder_set_cancel(tlsrpt_decoder *d, tlsrpt_cancel_fn fn, void *arg);

/* Feed raw bytes (whole message, or bare report). Returns TLSRPT_OK or the sticky error. */
int tlsrpt_feed(tlsrpt_decoder *d, const void *buf, size_t len);

/* Milter way: one header field (value may still contain folding). */
int tlsrpt_feed_header(tlsrpt_decoder *d, const char *name, const char *value);
/* Milter way: end of the message headers. */
int tlsrpt_end_headers(tlsrpt_decoder *d);
/* Milter way: a chunk of the body. */
int tlsrpt_feed_body(tlsrpt_decoder *d, const void *buf, size_t len);

/* End of input: decode what is pending, map and validate. TLSRPT_OK or an error. */
int tlsrpt_finish(tlsrpt_decoder *d);

/* A mail may hold several reports: every report part is decoded on its own (README
   "Which parts are reports"), in mail order. tlsrpt_finish is TLSRPT_OK when at least
   one report part decoded; when none did it returns the first report part's error
   (no-report when there was none). */

/* Reports after a successful finish (0 otherwise), and the i-th (owned by the decoder). */
size_t tlsrpt_result_count(const tlsrpt_decoder *d);
const tlsrpt_report *tlsrpt_result_at(const tlsrpt_decoder *d, size_t i);
/* The first report after a successful finish (owned by the decoder), else NULL. */
const tlsrpt_report *tlsrpt_result(const tlsrpt_decoder *d);
/* Take the first report out of the list (caller frees with tlsrpt_report_free); the
   next one becomes the first. */
tlsrpt_report *tlsrpt_take_result(tlsrpt_decoder *d);

/* One report part of the mail: decoded, or failed while others may have decoded. */
typedef struct tlsrpt_part {
    int part;                       /* leaf body number in the message, 1-based */
    int err;                        /* TLSRPT_OK, or why this part gave no report */
    const char *msg;                /* "" or the error message (UTF-8, no control chars) */
    const tlsrpt_report *report;    /* err == TLSRPT_OK: its report (NULL once taken) */
} tlsrpt_part;
/* Report parts, in mail order, once finished (whatever finish returned; after a
   hard error of the whole message only the parts before it). Pointers are the
   decoder's. */
size_t tlsrpt_part_count(const tlsrpt_decoder *d);
/* Part i into *out; returns its error (TLSRPT_OK when it decoded), or
   TLSRPT_ERR_USAGE when there is no part i. */
int tlsrpt_part_at(const tlsrpt_decoder *d, size_t i, tlsrpt_part *out);
/* The error of report part i (TLSRPT_OK when it decoded); *msg gets its message. */
int tlsrpt_part_error(const tlsrpt_decoder *d, size_t i, const char **msg);

/* Current error code (TLSRPT_OK when none). */
int tlsrpt_error(const tlsrpt_decoder *d);
/* Human message for the current error ("" when none; well-formed UTF-8 without control
   characters); owned by the decoder. */
const char *tlsrpt_errstr(const tlsrpt_decoder *d);
/* Total bytes fed so far. */
size_t tlsrpt_bytes_fed(const tlsrpt_decoder *d);
/* How the input is read: TLSRPT_MODE_MESSAGE, TLSRPT_MODE_RAW, or TLSRPT_MODE_AUTO while
   an AUTO decoder has not yet seen enough bytes to decide. */
enum tlsrpt_mode tlsrpt_input_mode(const tlsrpt_decoder *d);
/* Estimated bytes of memory the decoder holds now, its report(s) included: buffers,
   zlib, json-c's tree estimated from the weighted value count (jcount.c) with room for
   the report being mapped from it. Meant for a budget across concurrent decoders; how
   close it is to real RSS is measured in README "Decoder limits". */
size_t tlsrpt_memory_estimate(const tlsrpt_decoder *d);

void tlsrpt_decoder_free(tlsrpt_decoder *d);

/* Stable short token for an error code ("corrupt-gzip", ...). */
const char *tlsrpt_reason(int err);

/* Decode a whole buffer in one call (convenience for tools/tests). */
int tlsrpt_decode_buffer(const void *buf, size_t len, const tlsrpt_limits *lim,
                         enum tlsrpt_mode mode, tlsrpt_report **out,
                         char *errbuf, size_t errlen);

/* Free a report made by the decoder (NULL is fine). */
void tlsrpt_report_free(tlsrpt_report *r);

/* Parse an RFC 3339 date-time ("Z", offset, or none = UTC); 0 on success. */
int tlsrpt_parse_datetime(const char *s, time_t *out);

/* Write a lower-cased copy of a domain without a trailing dot into out (size outlen). */
void tlsrpt_normalize_domain(const char *in, char *out, size_t outlen);

#endif
