/*
 * test_rcpt.c - recipient matching of tlsrpt-milter (config/rcpt.c):
 * angle brackets, case, recipient delimiter, @domain entries, odd input.
 */
#include "rcpt.h"
#include "config.h"
#include "tlib.h"

static char *list[] = { "tlsrpt@example.com", "@reports.example.net", "tls+rpt@example.org" };
#define N (sizeof list / sizeof list[0])

/* One matching case. */
static void m(const char *addr, const char *delim, int want, const char *name)
{
    T_INTEQ(tm_rcpt_match(addr, list, N, delim), want, name);
}

/* Normalization of single addresses. */
static void test_normalize(void)
{
    char out[TM_CONF_ADDR_MAX];
    T_INTEQ(tm_addr_normalize(" <TLSRPT@Example.COM.> ", out, sizeof out), 0, "norm: ok");
    T_STREQ(out, "tlsrpt@example.com", "norm: trimmed, lowered, dot dropped");
    T_INTEQ(tm_addr_normalize("<@relay.example:User@Example.com>", out, sizeof out), 0,
            "norm: source route ok");
    T_STREQ(out, "user@example.com", "norm: source route dropped");
    T_INTEQ(tm_addr_normalize("<>", out, sizeof out), -1, "norm: empty address");
    T_INTEQ(tm_addr_normalize("postmaster", out, sizeof out), -1, "norm: no @");
    T_INTEQ(tm_addr_normalize("a@b.example", out, 5), -1, "norm: too long for buffer");
}

/* Matching rules. */
static void test_match(void)
{
    m("<tlsrpt@example.com>", "", 1, "match: exact with <>");
    m("tlsrpt@example.com", NULL, 1, "match: bare");
    m("<TlsRpt@EXAMPLE.com>", "", 1, "match: case-insensitive");
    m("<tlsrpt@example.com.>", "", 1, "match: trailing dot");
    m("<tlsrpt+google@example.com>", "", 0, "match: delimiter off");
    m("<tlsrpt+google@example.com>", "+", 1, "match: delimiter +");
    m("<tlsrpt-google@example.com>", "+-", 1, "match: second delimiter char");
    m("<tlsrpt-google@example.com>", "+", 0, "match: other char is not a delimiter");
    m("<+x@example.com>", "+", 0, "match: empty local part before delimiter");
    m("<tls+rpt@example.org>", "+", 1, "match: configured address with the delimiter");
    m("<tls@example.org>", "+", 0, "match: cut address not configured");
    m("<anyone@reports.example.net>", "", 1, "match: @domain");
    m("<x+y@Reports.Example.NET>", "+", 1, "match: @domain with delimiter");
    m("<anyone@sub.reports.example.net>", "", 0, "match: @domain is not subdomains");
    m("<tlsrpt@example.com.evil>", "", 0, "match: suffix domain");
    m("<xtlsrpt@example.com>", "", 0, "match: longer local part");
    m("<>", "+", 0, "match: null address");
    m("", "+", 0, "match: empty string");
    m("<tlsrpt@example.com", "", 1, "match: unbalanced < tolerated");
    m("<tlsrpt@other@example.com>", "", 0, "match: odd address with two @");
    char longaddr[1200];
    memset(longaddr, 'a', sizeof longaddr);
    strcpy(longaddr + sizeof longaddr - 20, "@example.com");
    m(longaddr, "+", 0, "match: over-long address never matches");
    T_INTEQ(tm_rcpt_match(NULL, list, N, "+"), 0, "match: NULL");
    T_INTEQ(tm_rcpt_match("tlsrpt@example.com", list, 0, "+"), 0, "match: empty list");
}

int main(void)
{
    test_normalize();
    test_match();
    T_MAIN_END();
}
