/*
 * rtypes.c - what each RFC 8460 result type means and where a postmaster
 * should look, and the wording of the analysis rules that every output
 * format prints. Static tables only; no errors.
 */
#include <stdio.h>
#include <string.h>
#include "stats.h"

/* RFC 8460 section 4.3 result types, in the RFC's order; "other" last. */
const ts_rtype ts_rtypes[] = {
    { "starttls-not-supported",
      "the receiving MX did not offer STARTTLS",
      "STARTTLS support on every MX host of DOMAIN" },
    { "certificate-host-mismatch",
      "the MX certificate does not name the MX host",
      "the subjectAltName of each MX certificate against the MX names in DNS and the policy" },
    { "certificate-expired",
      "the MX certificate has expired",
      "the MX certificate's expiry date: renew it and reload the MTA" },
    { "certificate-not-trusted",
      "the MX certificate chain does not lead to a trusted root",
      "the MX certificate chain: serve the full chain from a public CA" },
    { "validation-failure",
      "a general failure to validate the policy or certificate",
      "the failure-reason-code and additional-information of the reports" },
    { "tlsa-invalid",
      "a TLSA record (DANE) did not match or was invalid",
      "the _25._tcp TLSA records of each MX against the certificate it serves" },
    { "dnssec-invalid",
      "DNSSEC validation of the MX or TLSA records failed",
      "the DNSSEC signatures and DS chain of the zones of DOMAIN and its MX hosts" },
    { "dane-required",
      "the sender requires DANE but found no usable TLSA records",
      "the DNSSEC-signed TLSA records that each MX host needs" },
    { "sts-policy-fetch-error",
      "the MTA-STS policy could not be fetched",
      "the policy host mta-sts.DOMAIN: https://mta-sts.DOMAIN/.well-known/mta-sts.txt "
      "must answer over HTTPS" },
    { "sts-policy-invalid",
      "the MTA-STS policy was fetched but is not valid",
      "the syntax of mta-sts.txt (version, mode, mx, max_age) and the _mta-sts TXT record" },
    { "sts-webpki-invalid",
      "the certificate of the MTA-STS policy host did not validate",
      "the HTTPS certificate of mta-sts.DOMAIN" },
    { "other",
      "a failure outside the RFC 8460 types, as the reporter classed it",
      "the additional-information of the reports" },
};
const size_t ts_n_rtypes = sizeof(ts_rtypes) / sizeof(ts_rtypes[0]);

/* The table entry for a result type name, or NULL. */
const ts_rtype *ts_rtype_find(const char *name)
{
    size_t i;

    for (i = 0; i < ts_n_rtypes; i++)
        if (strcmp(ts_rtypes[i].name, name) == 0)
            return &ts_rtypes[i];
    return NULL;
}

/* Copy s into out replacing each "DOMAIN" by domain. */
static void subst_domain(const char *s, const char *domain, char *out, size_t outlen)
{
    size_t o = 0, dl = strlen(domain);

    while (*s && o + 1 < outlen) {
        if (strncmp(s, "DOMAIN", 6) == 0 && o + dl + 1 < outlen) {
            memcpy(out + o, domain, dl);
            o += dl;
            s += 6;
        } else
            out[o++] = *s++;
    }
    out[o] = '\0';
}

/* Headline for a majority result type: share, meaning, where to look. */
void ts_rtype_headline(const ts_rtype *t, const char *domain, double share,
                       char *out, size_t outlen)
{
    char look[512];

    subst_domain(t->look, domain, look, sizeof(look));
    snprintf(out, outlen, "%.0f%% of failed sessions are %s: %s; look at %s", share * 100.0,
             t->name, t->meaning, look);
}

const char *const ts_rule_keys[TS_NRULES] = { "spike", "distribution", "result_type",
                                              "readiness", "silent" };

/* The wording of one analysis rule. */
void ts_rules(int which, char *out, size_t outlen)
{
    switch (which) {
    case TS_RULE_SPIKE:
        snprintf(out, outlen, "a day is a spike when its failed sessions are >= %d and more "
                 "than %d x the median failed sessions of the days with reports among the %d "
                 "days before it (days without reports are left out; none: median 0)",
                 TS_SPIKE_FLOOR, TS_SPIKE_FACTOR, TS_LEAD_DAYS);
        break;
    case TS_RULE_DIST:
        snprintf(out, outlen, "failures are concentrated when one reporting organisation (or "
                 "one MX) holds >= %d%% of the window's failed sessions, else spread; with "
                 "only one organisation reporting at all the reporter verdict is single",
                 TS_CONC_PERCENT);
        break;
    case TS_RULE_TYPE:
        snprintf(out, outlen, "a result type with more than 50%% of the window's failed "
                 "sessions gets a headline saying what it means and where to look");
        break;
    case TS_RULE_READY:
        snprintf(out, outlen, "mode is the one most reports gave on the last day with a mode; "
                 "clean days are counted back from the window's last day, within the window: a "
                 "day with reports and 0 failed sessions counts, a day without reports is "
                 "skipped (neither counts nor breaks), the first day with failures ends the "
                 "run; testing mode "
                 "with >= %d clean days is ready to switch to enforce", TS_READY_DAYS);
        break;
    default:
        snprintf(out, outlen, "an organisation is silent when it reported earlier in the "
                 "window but not in its last %d days", TS_SILENT_DAYS);
        break;
    }
}
