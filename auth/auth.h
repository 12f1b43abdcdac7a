/*
 * auth.h - DKIM authentication of TLS-RPT report mails (RFC 8460 §3).
 *
 * RFC 8460 §3: a report sent by SMTP MUST carry a valid DKIM signature by the
 * reporting domain, a report without one MUST be ignored, and the signature
 * MUST NOT use l=. This module verifies a mail inline, as it streams through
 * the milter (nothing of the body is buffered here), with libopendkim, and
 * then judges each decoded report of that mail.
 *
 * The rule (auth/README.md has the long form): a mail is *authentic* when one
 * DKIM-Signature
 *   - verifies: header signature passed AND body hash matched;
 *   - has no l= (refused here; libopendkim would honour it);
 *   - is not rsa-sha1 (RFC 8301);
 *   - has a usable key: no s=, or s= listing email, * or tlsrpt; with
 *     require_tlsrpt_service (DkimRequireTlsrptService yes) only tlsrpt or *;
 *   - has a d= whose organisational domain (public suffix list) is the one of
 *     the single From: address's domain.
 * Each report is then judged (tlsrpt_auth_judge): a contact-info that is a
 * mail address must be in the signer's organisation; a TLS-Report-Submitter
 * that disagrees is reported for a log line, not enforced; when a Reporters
 * allow-list is configured, a signer organisation not on it gives reason
 * "unknown-reporter". The identity of a report is the signer's organisational
 * domain (signer_org: lower-case A-label, "google.com"), not the name the
 * report gives itself.
 *
 * Use (milter; every call from the thread that handles the message):
 *   lib = tlsrpt_auth_lib_new(&conf, err, sizeof err);   once per process
 *   a = tlsrpt_auth_new(lib, queue_id, flags);            per report mail
 *   tlsrpt_auth_header(a, name, value);                   each header, in order
 *   tlsrpt_auth_eoh(a);                                   end of headers
 *   tlsrpt_auth_body(a, chunk, len);                      each body chunk
 *   tlsrpt_auth_finish(a);                                end of message
 *   tlsrpt_auth_judge(a, contact_info, NULL, &v);         per decoded report
 *   tlsrpt_auth_free(a);
 * Tools that hold a raw message call tlsrpt_auth_feed(a, buf, len) (any
 * number of times, any chunking, CRLF or LF) instead of header/eoh/body, then
 * tlsrpt_auth_finish.
 *
 * Header values: tlsrpt_auth_header wants the value exactly as it followed
 * the colon, leading whitespace included (what libmilter hands over when the
 * milter negotiated SMFIP_HDR_LEADSPC). When the MTA stripped the leading
 * whitespace (no SMFIP_HDR_LEADSPC), pass TLSRPT_AUTH_HDR_STRIPPED to
 * tlsrpt_auth_new: one space is put back after the colon unless the value
 * already starts with a blank. (That guess is exact for "Name: value", the
 * form of every real signer; "simple" header canonicalisation of a header
 * written "Name:value" can only verify with SMFIP_HDR_LEADSPC.) Folded values
 * may use LF or CRLF line breaks; bare LFs are turned into CRLF, in the body too.
 *
 * Ownership: the lib copies what it needs from conf (conf may be freed after
 * tlsrpt_auth_lib_new). tlsrpt_auth_new copies log_id. Header names, values
 * and body chunks are only read during the call. A tlsrpt_verdict is filled
 * in the caller's storage, holds no pointers and needs no freeing. Free every
 * tlsrpt_auth before the lib it came from.
 *
 * Threads: one lib serves any number of threads at once; a tlsrpt_auth is
 * used by one thread at a time. Key lookups never touch libopendkim's resolver
 * (one unlocked state per library handle): keys come from the key file
 * (read once, at tlsrpt_auth_lib_new) or from our own DNS client, one socket
 * per query, which never waits past the mail's deadline (timeout_s counted
 * from the mail's first DNS query, for all its queries together).
 *
 * Limits (a stranger writes the headers): TLSRPT_AUTH_MAX_SIGS DKIM-Signature
 * headers go to libopendkim (later ones are skipped), each at most
 * TLSRPT_AUTH_MAX_SIG_LEN bytes (longer ones are skipped); at most
 * TLSRPT_AUTH_MAX_ALIGNED signatures whose d= is aligned with From are
 * verified (the others are ignored in libopendkim's prescreen callback,
 * before any key lookup: a mail with 50 foreign signatures costs no lookup);
 * at most TLSRPT_AUTH_MAX_HEADER_BYTES of headers in all (beyond: not
 * authentic, "headers too large"); one header at most TLSRPT_AUTH_MAX_HEADER
 * bytes for tlsrpt_auth_feed. Memory per mail is bounded by these.
 *
 * Errors: no input makes these calls crash or fail loudly; a mail that could
 * not be verified for any reason (out of memory included) is not authentic,
 * and the verdict's detail says why. Every string in a verdict is printable
 * ASCII without '"' or '\' (anything else is replaced by '?'), safe for a log
 * line or a header.
 */
#ifndef TLSRPT_AUTH_H
#define TLSRPT_AUTH_H

#include <stddef.h>

#define TLSRPT_AUTH_MAX_SIGS 64              /* DKIM-Signature headers given to libopendkim */
#define TLSRPT_AUTH_MAX_SIG_LEN 16384        /* bytes of one DKIM-Signature header */
#define TLSRPT_AUTH_MAX_ALIGNED 16           /* aligned signatures verified (= key lookups) */
#define TLSRPT_AUTH_MAX_HEADER_BYTES (1024 * 1024) /* all headers of a mail */
#define TLSRPT_AUTH_MAX_HEADER (128 * 1024)  /* one header, tlsrpt_auth_feed */
#define TLSRPT_AUTH_DEFAULT_TIMEOUT 5        /* DkimTimeout default, seconds */

/* Configuration, the keys of the config file (see auth/README.md). */
typedef struct tlsrpt_auth_conf {
    int timeout_s;                  /* DkimTimeout: seconds for all key lookups of a mail;
                                       <= 0: TLSRPT_AUTH_DEFAULT_TIMEOUT */
    const char *key_file;           /* DkimKeyFile: keys from this file, never DNS; NULL: DNS.
                                       Lines "selector._domainkey.domain v=DKIM1; k=rsa; p=...",
                                       '#' comments and blank lines ignored, first match wins */
    const char *nameservers;        /* DNS servers: "IP", "IP:port", "[IPv6]:port", separated
                                       by commas or spaces (at most 4); NULL: /etc/resolv.conf */
    int require_tlsrpt_service;     /* DkimRequireTlsrptService: key must say s=tlsrpt (or *) */
    const char *const *reporters;   /* Reporters: allowed signer organisational domains;
                                       NULL or none: any signer */
    size_t n_reporters;
} tlsrpt_auth_conf;

typedef struct tlsrpt_auth_lib tlsrpt_auth_lib;
typedef struct tlsrpt_auth tlsrpt_auth;

/* Counters of a lib since tlsrpt_auth_lib_new (for metrics). */
typedef struct tlsrpt_auth_stats {
    unsigned long mails;            /* tlsrpt_auth_finish calls */
    unsigned long authentic;        /* of those, authentic */
    unsigned long lookups;          /* key lookups (file or DNS) */
    unsigned long dns_timeouts;     /* lookups given up at the deadline */
} tlsrpt_auth_stats;

/* The verdict on one report (tlsrpt_auth_judge). */
typedef struct tlsrpt_verdict {
    int authentic;                  /* 1: count it under signer_org; 0: ignore it */
    char reason[24];                /* "" when authentic, else "unauthenticated" or
                                       "unknown-reporter" (the milter's reason token) */
    char detail[320];               /* which check failed, e.g. "body hash mismatch
                                       (d=evil.example)"; "dkim=pass d=google.com" if authentic */
    char signer[256];               /* d= of the signature that passed ("" if none) */
    char signer_org[256];           /* its organisational domain: the identity ("" if none) */
    char from_domain[256];          /* domain of the From: address ("" if unreadable) */
    int submitter_disagrees;        /* TLS-Report-Submitter present and not in signer_org */
    char submitter[128];            /* the TLS-Report-Submitter used ("" if none) */
    unsigned lookups;               /* key lookups made for this mail */
    unsigned signatures;            /* DKIM-Signature headers in the mail */
} tlsrpt_verdict;

#define TLSRPT_AUTH_HDR_STRIPPED 1u /* header values lost their leading blank (no LEADSPC) */

/* Process-wide state; NULL with a message in err when conf is unusable. */
tlsrpt_auth_lib *tlsrpt_auth_lib_new(const tlsrpt_auth_conf *conf, char *err, size_t errlen);
/* Free the lib (after every tlsrpt_auth made from it). NULL is fine. */
void tlsrpt_auth_lib_free(tlsrpt_auth_lib *lib);
/* Copy the lib's counters. */
void tlsrpt_auth_lib_stats(tlsrpt_auth_lib *lib, tlsrpt_auth_stats *st);

/* Start verifying one mail; log_id (queue id, may be NULL) names it to libopendkim.
 * flags: 0 or TLSRPT_AUTH_HDR_STRIPPED. NULL only when out of memory. */
tlsrpt_auth *tlsrpt_auth_new(tlsrpt_auth_lib *lib, const char *log_id, unsigned flags);
/* One header as the milter got it (name without colon, value as above). */
void tlsrpt_auth_header(tlsrpt_auth *a, const char *name, const char *value);
/* End of headers. Returns 1 when the body still matters, 0 when the verdict is
 * already known (no signature left to verify): the caller may skip tlsrpt_auth_body. */
int tlsrpt_auth_eoh(tlsrpt_auth *a);
/* One chunk of the body (any size, any split). */
void tlsrpt_auth_body(tlsrpt_auth *a, const void *buf, size_t len);
/* A raw message (headers, blank line, body) in any number of chunks, CRLF or
 * LF, a leading mbox "From " line skipped; instead of header/eoh/body. */
void tlsrpt_auth_feed(tlsrpt_auth *a, const void *buf, size_t len);
/* End of message: runs the final checks. Returns 1 when the mail is authentic
 * (before the per-report checks of tlsrpt_auth_judge), else 0. Idempotent. */
int tlsrpt_auth_finish(tlsrpt_auth *a);
/* The verdict on one report of the mail (after tlsrpt_auth_finish; any number
 * of times). contact_info: the report's contact-info (NULL if none); submitter:
 * the TLS-Report-Submitter to compare, NULL to use the mail's own header. */
void tlsrpt_auth_judge(tlsrpt_auth *a, const char *contact_info, const char *submitter,
                       tlsrpt_verdict *v);
/* Key lookups made so far for this mail (prescreening keeps this low). */
unsigned tlsrpt_auth_lookups(const tlsrpt_auth *a);
/* Free a per-mail handle. NULL is fine. */
void tlsrpt_auth_free(tlsrpt_auth *a);

/* Organisational domain (registrable domain of the public suffix list shipped
 * by Debian's publicsuffix package, or libpsl's built-in list) of a domain:
 * "noreply.google.com" -> "google.com", "x.mail.ru" -> "mail.ru",
 * "a.b.example.co.uk" -> "example.co.uk". Lower-cases, drops one trailing
 * dot. Returns 0 and fills out; -1 for a malformed or non-ASCII domain
 * (U-labels are not converted), -2 when the domain is a public suffix itself
 * ("co.uk", "com") or has no registrable part, -3 when out is too small.
 * Thread-safe; needs no lib. */
int tlsrpt_org_domain(const char *domain, char *out, size_t outlen);

#endif
