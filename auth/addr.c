/*
 * addr.c - the address parsing the rule needs, and log-safe strings.
 *
 * auth_addr_list reads an RFC 5322 address-list (a From: value): display
 * names, quoted strings, comments (nested), angle addresses, groups; it
 * counts the mailboxes and returns the domain of the first. Hand-written
 * because no Debian library exposes a small address parser (libopendkim's
 * dkim_mail_parse takes one address only and cannot count them); it never
 * writes past its buffers and refuses unbalanced quotes, comments or angles.
 * auth_contact_domain takes the domain of a contact-info that is an address
 * ("x@y", "mailto:x@y", "Name <x@y>"); a URI such as https:// is not one.
 * auth_clean copies a string keeping printable ASCII except '"' and '\'.
 */
#include <string.h>
#include <strings.h>
#include "auth_int.h"

/* The domain after the last '@' of addr (addr-spec text, blanks removed). */
static int addr_domain(const char *addr, size_t len, char *domain, size_t domlen)
{
    const char *at = NULL;
    for (size_t i = 0; i < len; i++)
        if (addr[i] == '@')
            at = addr + i;
    if (!at || at == addr)
        return -1;
    size_t dl = len - (size_t)(at + 1 - addr);
    return auth_domain_norm(at + 1, dl, domain, domlen) == 0 ? 0 : -1;
}

/* Mailbox text being collected; over-long ones are marked bad. */
struct mbox {
    char buf[512];
    size_t len;
    int bad, angle_done;
};

/* End one mailbox: count it, keep the first one's domain. */
static int mbox_end(struct mbox *m, int *count, char *domain, size_t domlen, int *first_bad)
{
    if (m->len == 0 && !m->bad)
        return 0;
    (*count)++;
    if (*count == 1)
        *first_bad = m->bad || addr_domain(m->buf, m->len, domain, domlen) < 0;
    memset(m, 0, sizeof *m);
    return 0;
}

/* Count the mailboxes of an address-list; the first one's domain into domain.
 * Returns the count (0: none), -1 when unreadable or the first has no domain. */
int auth_addr_list(const char *v, char *domain, size_t domlen)
{
    struct mbox m;
    int count = 0, first_bad = 0, quote = 0, comment = 0, angle = 0, group = 0;
    memset(&m, 0, sizeof m);
    domain[0] = 0;
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (comment) {
            if (c == '\\' && p[1])
                p++;
            else if (c == '(')
                comment++;
            else if (c == ')')
                comment--;
            continue;
        }
        if (quote) {
            if (c == '\\' && p[1])
                p++;
            else if (c == '"')
                quote = 0;
            continue;
        }
        if (c == '(') {
            comment = 1;
        } else if (c == '"') {
            quote = 1;              /* quoted display name or local part: no '@' counted */
            if (!angle && !m.angle_done && m.len < sizeof m.buf)
                m.buf[m.len++] = 'q';
        } else if (c == '<') {
            if (angle || m.angle_done)
                return -1;
            angle = 1;
            m.len = 0;              /* what came before was the display name */
        } else if (c == '>') {
            if (!angle)
                return -1;
            angle = 0;
            m.angle_done = 1;
        } else if (c == ':' && !angle) {
            if (group)
                return -1;
            group = 1;              /* group name: a display name */
            memset(&m, 0, sizeof m);
        } else if (c == ';' && !angle && group) {
            group = 0;
            mbox_end(&m, &count, domain, domlen, &first_bad);
        } else if (c == ',' && !angle) {
            mbox_end(&m, &count, domain, domlen, &first_bad);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        } else if (!m.angle_done) {
            if (m.len < sizeof m.buf - 1)
                m.buf[m.len++] = c;
            else
                m.bad = 1;
        }
    }
    if (quote || comment || angle)
        return -1;
    mbox_end(&m, &count, domain, domlen, &first_bad);
    if (count >= 1 && first_bad)
        return -1;
    return count;
}

/* Domain of a contact-info that is a mail address: 1 (domain filled), 0 not an
 * address, -1 an address whose domain is unreadable. */
int auth_contact_domain(const char *c, char *domain, size_t domlen)
{
    if (!c || !strchr(c, '@') || strstr(c, "://"))
        return 0;
    while (*c == ' ' || *c == '\t')
        c++;
    if (strncasecmp(c, "mailto:", 7) == 0)
        c += 7;
    const char *lt = strchr(c, '<');
    if (lt)
        c = lt + 1;
    const char *at = strrchr(c, '@');
    if (!at)
        return -1;
    const char *e = at + 1;
    while (*e && *e != '>' && *e != '?' && *e != ' ' && *e != '\t' && *e != ',' && *e != ';')
        e++;
    if (at == c)
        return -1;
    return auth_domain_norm(at + 1, (size_t)(e - at - 1), domain, domlen) == 0 ? 1 : -1;
}

/* Copy src into dst keeping printable ASCII; '"', '\' and the rest become '?'. */
void auth_clean(char *dst, size_t dstlen, const char *src)
{
    size_t n = 0;
    if (dstlen == 0)
        return;
    for (; src && *src && n + 1 < dstlen; src++) {
        unsigned char c = (unsigned char)*src;
        dst[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    dst[n] = 0;
}
