/*
 * verify.c - DKIM for tlsrpt-parse (issue 9.5): a report mail given to
 * --push, or to --json when a configuration (-c) or --auth dkim asks for it,
 * is verified with the milter's own code and rule (auth/: libopendkim,
 * keys from DNS or DkimKeyFile as configured), and each of its reports is
 * judged like the milter judges it. A bare report (.json, .json.gz, .zip:
 * HTTPS-delivered, backfill) carries no signature: it is not verified and
 * is counted as the milter would with Authentication none.
 *
 * The raw bytes go to tlsrpt_auth_feed as they are read, next to the
 * decoder; nothing is buffered here. Once the decoder has read enough to
 * know the input is a bare report, the verification is dropped.
 * Ownership: pv_file owns its tlsrpt_auth; the lib is the caller's.
 * Errors: none of its own; an input that cannot be verified is not
 * authentic and the verdict's detail says why.
 */
#include "parse.h"
#include <stdlib.h>
#include <string.h>

/* Start verifying one input (NULL lib: verification off). */
void pv_start(pv_file *v, tlsrpt_auth_lib *lib, const char *name)
{
    memset(v, 0, sizeof *v);
    v->on = lib != NULL;
    if (lib && !(v->a = tlsrpt_auth_new(lib, name, 0)))
        v->oom = 1;
}

/* Feed a chunk that was also fed to d (d tells whether the input is a message). */
void pv_feed(pv_file *v, const tlsrpt_decoder *d, const void *buf, size_t len)
{
    if (!v->on || v->bare)
        return;
    if (tlsrpt_input_mode(d) == TLSRPT_MODE_RAW) {
        v->bare = 1;                            /* no signature to verify */
        tlsrpt_auth_free(v->a);
        v->a = NULL;
        return;
    }
    if (v->a)
        tlsrpt_auth_feed(v->a, buf, len);
}

/* End of input: 1 when the reports of this input must be judged (a verified message). */
int pv_finish(pv_file *v, const tlsrpt_decoder *d)
{
    if (!v->on || v->bare || tlsrpt_input_mode(d) == TLSRPT_MODE_RAW) {
        v->bare = 1;
        return 0;
    }
    if (v->a)
        tlsrpt_auth_finish(v->a);
    return 1;
}

/* The verdict on one report of a verified message. */
void pv_judge(pv_file *v, const tlsrpt_report *r, tlsrpt_verdict *out)
{
    memset(out, 0, sizeof *out);
    if (!v->a) {
        snprintf(out->reason, sizeof out->reason, "unauthenticated");
        snprintf(out->detail, sizeof out->detail, "%s",
                 v->oom ? "out of memory" : "not verified");
        return;
    }
    tlsrpt_auth_judge(v->a, r->contact_info, NULL, out);
}

/* Release the per-input state. */
void pv_end(pv_file *v)
{
    tlsrpt_auth_free(v->a);
    v->a = NULL;
}
