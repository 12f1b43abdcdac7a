/*
 * rcpt.h - envelope recipient matching against the configured ReportAddress list.
 *
 * An address is normalized before comparing: surrounding white space and
 * <> removed, a source route (<@a,@b:user@dom>) dropped, lower-cased, a
 * trailing dot of the domain removed. "@domain" in the list matches every
 * local part of that domain. With a recipient delimiter ("+"), the local
 * part is also compared cut at the first delimiter character, so
 * tlsrpt+google@example.com matches tlsrpt@example.com.
 * Addresses longer than TM_CONF_ADDR_MAX never match.
 */
#ifndef TM_RCPT_H
#define TM_RCPT_H

#include <stddef.h>

/* Normalize an address into out (size outlen). 0 ok, -1 too long, empty or without '@'. */
int tm_addr_normalize(const char *in, char *out, size_t outlen);

/* 1 when the envelope address matches one of the n normalized list entries, else 0.
   delim: recipient delimiter characters ("" or NULL = none). */
int tm_rcpt_match(const char *addr, char *const *list, size_t n, const char *delim);

#endif
