/*
 * loss.c - were counters lost? (issue 10) tlsrpt-stats asks the store's own
 * check (tlsrpt_store_check_loss, store/README.md "Loss detection": one round
 * trip for every server's P epoch and stats; it never marks) before reading,
 * and judges after reading, when it knows whether counters exist:
 *
 *   restart    a server has no P epoch while another has one, or while counters
 *              exist (key schema v2: "missing while other data exists = the
 *              server lost its data"): it restarted empty since counting began
 *   evictions  a server evicted items (memcached stats; any client's items, so
 *              counters *may* be missing)
 *   archive    the archive holds reports the counters lack: archive.c, with -c CONF and
 *              an ArchiveDir, compares the archive's countable reports per arrival day
 *              with P arr:A:H:counted (H = the archive id) and sets TS_LOST_ARCHIVE and
 *              loss.archive_checked (main.c calls it after ts_loss_judge)
 *
 * The findings go to ts_report.loss; every format says them with the command
 * that rebuilds (tlsrpt-parse --rebuild -c CONF). Limits: 64 servers (the
 * store's). Errors: none; a check that could not run leaves loss.checked = 0.
 */
#include <string.h>
#include "stats.h"

/* Ask the servers (before reading: the answer does not depend on the data). */
int ts_loss_ask(void *store, tlsrpt_loss *out)
{
    char err[256];

    return tlsrpt_store_check_loss(store, 0, out, err, sizeof err);
}

/* Judge what the servers said; data_seen: counters exist (some domain was listed). */
void ts_loss_judge(const tlsrpt_loss *in, int asked_ok, int data_seen, ts_report *r)
{
    ts_loss *l = &r->loss;
    size_t o = 0, s;
    int any_epoch = 0;

    memset(l, 0, sizeof *l);
    if (!asked_ok)
        return;
    l->checked = 1;
    for (s = 0; s < in->n; s++)
        any_epoch |= in->s[s].reachable && in->s[s].epoch > 0;
    for (s = 0; s < in->n && o < sizeof l->text; s++) {
        const tlsrpt_server_state *v = &in->s[s];
        if (!v->reachable)
            continue;
        if (v->epoch == 0 && (any_epoch || data_seen)) {
            l->why |= TS_LOST_RESTART;
            o += (size_t)snprintf(l->text + o, sizeof l->text - o, "%smemcached %s lost its "
                                  "data (it has no epoch %s: restarted empty since counting "
                                  "began)", o ? "; " : "", v->server,
                                  any_epoch ? "while another server has one"
                                            : "while counters exist");
        }
        if (v->evictions > 0 && o < sizeof l->text) {
            l->why |= TS_LOST_EVICTED;
            o += (size_t)snprintf(l->text + o, sizeof l->text - o, "%smemcached %s evicted %lld "
                                  "items (out of memory: counters may be missing)",
                                  o ? "; " : "", v->server, v->evictions);
        }
    }
}
