/*
 * test_config_auth.c - the DKIM keys of the configuration reader (config/keys_auth.c):
 * defaults (and the sample's values equal to them), every key and value, case and
 * lists; the errors with file and line (a Reporters entry that is a subdomain, a
 * public suffix or junk; a DkimNameservers list auth/ refuses; a relative
 * DkimKeyFile; bad enums); DkimTimeout and the Reporters list at both ends of their
 * range and one past; -n -v's printout round-trips; and the mapping onto auth/'s
 * tlsrpt_auth_conf, including the key an auth/ start error is blamed on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "tlib.h"

#define RA "ReportAddress rua@example.com\n"

/* Parse text into a fresh config; returns the error count, errors in err. */
static int parse(tm_config *c, const char *text, char *err, size_t errlen)
{
    if (tm_config_init(c) != 0)
        return -100;
    return tm_config_parse(c, text, strlen(text), "t.conf", err, errlen);
}

/* Built-in defaults, and the shipped sample's values equal them. */
static void test_defaults(void)
{
    char path[4096], err[4096] = "";
    tm_config c, s;
    T_INTEQ(tm_config_init(&c), 0, "auth defaults: init");
    T_INTEQ(c.authentication, TM_AUTH_DKIM, "auth defaults: Authentication dkim");
    T_INTEQ(c.on_unauth, TM_UNAUTH_DELIVER, "auth defaults: OnUnauthenticated deliver");
    T_INTEQ(c.n_reporters, 0, "auth defaults: no Reporters (any signer)");
    T_INTEQ(c.dkim_timeout_s, 5, "auth defaults: DkimTimeout 5");
    T_STREQ(c.dkim_key_file, "", "auth defaults: keys from DNS");
    T_INTEQ(c.dkim_require_tlsrpt, 0, "auth defaults: DkimRequireTlsrptService no");
    T_STREQ(c.dkim_nameservers, "", "auth defaults: resolv.conf");
    snprintf(path, sizeof path, "%s/conf/tlsrpt-milter.conf", tlib_srcdir());
    tm_config_init(&s);
    T_INTEQ(tm_config_load(&s, path, err, sizeof err), 0, "auth sample: parses");
    T_CHECK(s.authentication == c.authentication && s.on_unauth == c.on_unauth &&
            s.n_reporters == 0 && s.dkim_timeout_s == c.dkim_timeout_s &&
            !strcmp(s.dkim_key_file, "") && s.dkim_require_tlsrpt == 0 &&
            !strcmp(s.dkim_nameservers, ""), "auth sample: every DKIM key is the default");
    tm_config_free(&s);
    tm_config_free(&c);
}

/* Every key with other values, odd case, lists that add up. */
static void test_keys(void)
{
    char err[4096] = "";
    tm_config c;
    int n = parse(&c, RA "authentication NONE\nOnUnauthenticated Discard\n"
                  "Reporters Google.COM. microsoft.com,mail.ru\nReporters example.co.uk\n"
                  "DkimTimeout 12\nDkimKeyFile /etc/k.txt\nDkimRequireTlsrptService YES\n"
                  "DkimNameservers 127.0.0.1:5353, [::1]:53\n", err, sizeof err);
    if (n)
        printf("# %s", err);
    T_INTEQ(n, 0, "auth keys: no errors");
    T_INTEQ(c.authentication, TM_AUTH_NONE, "auth keys: Authentication none");
    T_INTEQ(c.on_unauth, TM_UNAUTH_DISCARD, "auth keys: OnUnauthenticated discard");
    T_INTEQ(c.n_reporters, 4, "auth keys: four Reporters over two lines");
    if (c.n_reporters == 4) {
        T_STREQ(c.reporters[0], "google.com", "auth keys: Reporters lower-cased, dot removed");
        T_STREQ(c.reporters[2], "mail.ru", "auth keys: Reporters comma separated");
        T_STREQ(c.reporters[3], "example.co.uk", "auth keys: Reporters under a two-label suffix");
    }
    T_INTEQ(c.dkim_timeout_s, 12, "auth keys: DkimTimeout");
    T_STREQ(c.dkim_key_file, "/etc/k.txt", "auth keys: DkimKeyFile");
    T_INTEQ(c.dkim_require_tlsrpt, 1, "auth keys: DkimRequireTlsrptService yes");
    T_STREQ(c.dkim_nameservers, "127.0.0.1:5353, [::1]:53", "auth keys: DkimNameservers");
    T_INTEQ(c.line[TM_K_DKIM_KEY_FILE], 7, "auth keys: line of DkimKeyFile");
    tlsrpt_auth_conf ac;
    tm_config_auth_conf(&c, &ac);
    T_CHECK(ac.timeout_s == 12 && ac.key_file && !strcmp(ac.key_file, "/etc/k.txt") &&
            ac.nameservers && ac.require_tlsrpt_service == 1 && ac.n_reporters == 4 &&
            ac.reporters && !strcmp(ac.reporters[1], "microsoft.com"),
            "auth conf: every key maps onto tlsrpt_auth_conf");
    T_INTEQ(tm_config_auth_key(&c), TM_K_DKIM_KEY_FILE, "auth conf: a start error is the key file's");
    tm_config_free(&c);
    parse(&c, RA "DkimNameservers 10.0.0.1\nDkimKeyFile\n", err, sizeof err);
    tm_config_auth_conf(&c, &ac);
    T_CHECK(!ac.key_file && ac.nameservers, "auth conf: an empty DkimKeyFile means DNS");
    T_INTEQ(tm_config_auth_key(&c), TM_K_DKIM_NAMESERVERS, "auth conf: ... errors the nameservers'");
    tm_config_free(&c);
    parse(&c, RA, err, sizeof err);
    tm_config_auth_conf(&c, &ac);
    T_CHECK(!ac.key_file && !ac.nameservers && !ac.reporters && ac.n_reporters == 0,
            "auth conf: defaults: DNS from resolv.conf, any signer");
    T_INTEQ(tm_config_auth_key(&c), TM_K_AUTHENTICATION, "auth conf: ... errors Authentication's");
    tm_config_free(&c);
}

/* One bad line: one error, exactly this message. */
static void expect_error(const char *line, const char *want)
{
    char text[512], err[4096] = "", name[600];
    tm_config c;
    snprintf(text, sizeof text, RA "%s\n", line);
    int n = parse(&c, text, err, sizeof err);
    snprintf(name, sizeof name, "auth error: '%s' is one error", line);
    T_INTEQ(n, 1, name);
    err[strcspn(err, "\n")] = 0;
    snprintf(name, sizeof name, "auth error: '%s' says so", line);
    T_STREQ(err, want, name);
    tm_config_free(&c);
}

/* The messages of refused values. */
static void test_errors(void)
{
    expect_error("Authentication maybe", "t.conf:2: bad value for Authentication: 'maybe' "
                 "(expected none or dkim)");
    expect_error("OnUnauthenticated drop", "t.conf:2: bad value for OnUnauthenticated: 'drop' "
                 "(expected deliver or discard)");
    expect_error("DkimRequireTlsrptService 1", "t.conf:2: bad value for DkimRequireTlsrptService: "
                 "'1' (expected no or yes)");
    expect_error("Reporters google.com mail.google.com", "t.conf:2: bad value for Reporters: "
                 "'mail.google.com' is not an organisational domain (use 'google.com': a signer's "
                 "subdomains are its organisation)");
    expect_error("Reporters co.uk", "t.conf:2: bad value for Reporters: 'co.uk' is a public "
                 "suffix, not an organisational domain");
    expect_error("Reporters tlsrpt@google.com", "t.conf:2: bad value for Reporters: "
                 "'tlsrpt@google.com' (expected an organisational domain such as google.com)");
    expect_error("DkimNameservers 127.0.0.1:99999", "t.conf:2: bad value for DkimNameservers: "
                 "bad nameserver '127.0.0.1:99999' (IP, IP:port or [IPv6]:port)");
    expect_error("DkimNameservers dns.example.net", "t.conf:2: bad value for DkimNameservers: "
                 "bad nameserver 'dns.example.net' (IP, IP:port or [IPv6]:port)");
    expect_error("DkimKeyFile keys.txt", "t.conf:2: bad value for DkimKeyFile: 'keys.txt' "
                 "(expected an absolute path, or nothing for keys from DNS)");
    expect_error("DkimTimeout 5s", "t.conf:2: bad value for DkimTimeout: '5s' (expected seconds "
                 "1..300)");
    expect_error("Authentication", "t.conf:2: missing value for Authentication");
}

/* DkimTimeout 1..300; Reporters up to 1024 entries. */
static void test_bounds(void)
{
    static const struct { const char *line; int ok, want; } t[] = {
        { "DkimTimeout 1", 1, 1 }, { "DkimTimeout 300", 1, 300 },
        { "DkimTimeout 0", 0, 0 }, { "DkimTimeout 301", 0, 0 },
    };
    char err[4096], name[200];
    tm_config c;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, RA "%s\n", t[i].line);
        int n = parse(&c, text, err, sizeof err);
        snprintf(name, sizeof name, "auth bound: '%s' %s", t[i].line,
                 t[i].ok ? "accepted" : "refused");
        T_INTEQ(n, t[i].ok ? 0 : 1, name);
        if (t[i].ok) {
            snprintf(name, sizeof name, "auth bound: '%s' reads %d", t[i].line, t[i].want);
            T_INTEQ(c.dkim_timeout_s, t[i].want, name);
        }
        tm_config_free(&c);
    }
    for (int extra = 0; extra <= 1; extra++) {
        size_t nr = TM_CONF_MAX_REPORTERS + (size_t)extra, cap = nr * 24 + 64;
        char *text = malloc(cap);
        size_t o = (size_t)snprintf(text, cap, RA);
        for (size_t i = 0; i < nr; i++)
            o += (size_t)snprintf(text + o, cap - o, "Reporters r%zu.example\n", i);
        int n = parse(&c, text, err, sizeof err);
        T_INTEQ(n, extra, extra ? "auth bound: 1025 Reporters refused"
                                : "auth bound: 1024 Reporters accepted");
        if (extra)
            T_CHECK(strstr(err, "t.conf:1026: too many entries (at most 1024)") != NULL,
                    "auth bound: ... on the 1025th line");
        tm_config_free(&c);
        free(text);
    }
}

/* -n -v prints the DKIM keys and the printout parses back to itself. */
static void test_print(void)
{
    char err[4096], *p1 = NULL, *p2 = NULL;
    size_t l1 = 0, l2 = 0;
    tm_config c, d;
    parse(&c, RA "Reporters google.com mail.ru\nDkimKeyFile /k\nOnUnauthenticated discard\n",
          err, sizeof err);
    FILE *f = open_memstream(&p1, &l1);
    tm_config_print(f, &c);
    fclose(f);
    T_CHECK(p1 && strstr(p1, "\nAuthentication dkim\nOnUnauthenticated discard\nReporters "
                         "google.com\nReporters mail.ru\nDkimTimeout 5\nDkimKeyFile /k\n"
                         "DkimRequireTlsrptService no\nDkimNameservers\n"),
            "auth print: every DKIM key, in table order");
    T_INTEQ(parse(&d, p1 ? p1 : "", err, sizeof err), 0, "auth print: the printout parses");
    f = open_memstream(&p2, &l2);
    tm_config_print(f, &d);
    fclose(f);
    T_STREQ(p2, p1, "auth print: and round-trips");
    tm_config_free(&c);
    tm_config_free(&d);
    free(p1);
    free(p2);
}

int main(void)
{
    test_defaults();
    test_keys();
    test_errors();
    test_bounds();
    test_print();
    T_MAIN_END();
}
