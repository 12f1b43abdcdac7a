/*
 * conf.c - read MemcachedServers and KeyPrefix from the milter configuration
 * file ("Key value" lines, '#' starts a comment line, blank lines ignored;
 * key names compared without case; every other key is ignored).
 *
 * The value is taken verbatim (as the milter does: no quotes, no trailing
 * comments); the last occurrence of a key wins.
 * Limits: lines up to 4095 bytes (a longer line is an error), values up to
 * 1024 bytes (a longer value is ignored).
 * Errors: TS_EXIT_USAGE when the file cannot be read or a line is too long.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "stats.h"

/* Strip leading and trailing blanks in place; returns the start. */
static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

/* Replace *dst by a copy of value. */
static void set_value(char **dst, const char *value)
{
    free(*dst);
    *dst = ts_xstrdup(value);
}

/* Read the two keys from path into *servers / *prefix (left alone when absent). */
int ts_conf_read(const char *path, char **servers, char **prefix, ts_err *e)
{
    char line[4096], *key, *value;
    FILE *f = fopen(path, "r");
    int lineno = 0;

    if (!f) {
        ts_seterr(e, TS_EXIT_USAGE, "cannot read config %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            ts_seterr(e, TS_EXIT_USAGE, "%s:%d: line longer than %zu bytes", path, lineno,
                      sizeof(line) - 1);
            fclose(f);
            return -1;
        }
        key = trim(line);
        if (*key == '#' || *key == '\0')
            continue;
        value = key + strcspn(key, " \t");
        if (*value)
            *value++ = '\0';
        value = trim(value);
        if (strlen(value) > 1024)
            continue;
        if (strcasecmp(key, "MemcachedServers") == 0)
            set_value(servers, value);
        else if (strcasecmp(key, "KeyPrefix") == 0)
            set_value(prefix, value);
    }
    fclose(f);
    return 0;
}
