/*
 * json.c - the JSON stage: json-c's incremental tokener fed as decoded
 * report bytes arrive, with a nesting-depth limit and a value-count limit.
 *
 * The first complete top-level value ends the stage; bytes after it are
 * ignored. Each chunk is counted (jcount.c) before json-c sees it, so
 * json-c's object tree never holds more than count.max_values weighted
 * values, for at most max_report_bytes of input (the payload stage
 * enforces that cap). Errors: TLSRPT_ERR_JSON (syntax, or input ended
 * inside the value), TLSRPT_ERR_JSON_DEPTH, TLSRPT_ERR_JSON_VALUES,
 * TLSRPT_ERR_NOMEM.
 */
#include "stages.h"
#include <stdio.h>

/* Create the tokener. */
int json_stage_init(json_stage *s, int max_depth)
{
    memset(s, 0, sizeof *s);
    s->tok = json_tokener_new_ex(max_depth);
    return s->tok ? TLSRPT_OK : TLSRPT_ERR_NOMEM;
}

/* Feed bytes; json-c keeps its own partial-token state between calls. */
int json_stage_feed(json_stage *s, const char *buf, size_t len, char *err)
{
    if (!s->done && len > 0 && json_count_feed(&s->count, buf, len) != 0) {
        snprintf(err, TLSRPT_ERRLEN, "JSON report holds more values than the limit of %zu "
                 "(MaxJsonValues; an object counts 12, an array 2)", s->count.max_values);
        return TLSRPT_ERR_JSON_VALUES;
    }
    while (len > 0 && !s->done) {
        int n = len > (size_t)1 << 30 ? 1 << 30 : (int)len;
        struct json_object *o = json_tokener_parse_ex(s->tok, buf, n);
        enum json_tokener_error e = json_tokener_get_error(s->tok);
        if (o) {
            s->obj = o;
            s->done = 1;
            return TLSRPT_OK;
        }
        if (e == json_tokener_continue) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (e == json_tokener_error_depth) {
            snprintf(err, TLSRPT_ERRLEN, "JSON nested deeper than the limit");
            return TLSRPT_ERR_JSON_DEPTH;
        }
        snprintf(err, TLSRPT_ERRLEN, "invalid JSON: %s", json_tokener_error_desc(e));
        return TLSRPT_ERR_JSON;
    }
    return TLSRPT_OK;
}

/* End of input: a value must be complete. */
int json_stage_finish(json_stage *s, char *err)
{
    if (s->done)
        return TLSRPT_OK;
    /* a bare top-level number or literal completes only at end of input */
    int rc = json_stage_feed(s, "", 1, err);
    if (rc != TLSRPT_OK)
        return rc;
    if (!s->done) {
        snprintf(err, TLSRPT_ERRLEN, "invalid JSON: input ended inside the report");
        return TLSRPT_ERR_JSON;
    }
    return TLSRPT_OK;
}

/* Free the tokener and any object still held. */
void json_stage_free(json_stage *s)
{
    if (s->tok)
        json_tokener_free(s->tok);
    if (s->obj)
        json_object_put(s->obj);
    memset(s, 0, sizeof *s);
}
