/*
 * milter-driver.c - a test MTA for milters: speaks the milter protocol
 * (version 6, no libmilter) to a filter over unix:/path or inet:port@host and
 * prints what the filter asked for, one action per line (see session.c).
 *
 * usage: milter-driver -s SOCKET [-f FROM] -r RCPT [-r RCPT...] [-c CHUNK] [-d MS]
 *                      [-n MSGS] [-j CONNS] [-a | -A K] [-t SECONDS] [-L] [-q] [-v] FILE...
 *        milter-driver -P -s SOCKET [-t SECONDS]
 * -P only probes: connect, negotiate options, quit; exit 0 when the filter answered.
 * -d MS waits MS milliseconds before each body chunk (a slow MTA, for stop tests).
 * -L does not offer SMFIP_HDR_LEADSPC (header values then lose the space after the
 * colon, as with an MTA without it); -v also prints the negotiated flags.
 * Connection i sends messages i*MSGS .. i*MSGS+MSGS-1 of the FILE list, cycling.
 * Ends with one line:
 *   SUMMARY messages=N accept=N continue=N discard=N reject=N tempfail=N
 *           replycode=N aborted=N early=N errors=N addheader=N delrcpt=N ms=N
 * (accept..replycode count each message's final answer, given at EOM or before
 * it; early counts those given before EOM).
 * Limits: CHUNK 1..65535, MS 0..60000, CONNS 1..256, MSGS 1..100000, files 1..1000, RCPTs 1..2000.
 * Exit: 0 when every message got a final reply, 1 on a protocol error or
 * timeout, 2 on a usage or file error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mproto.h"
#include "session.h"

#define MAX_CONNS 256
#define MAX_RCPTS 2000
#define MAX_FILES 1000

/* One connection thread's arguments and results. */
typedef struct worker {
    pthread_t tid;
    const drv_opts *o;
    int idx;
    drv_stats st;
} worker;

/* Print usage and exit 2. */
static void usage(void)
{
    fputs("usage: milter-driver -s unix:/path|inet:port@host [-f from] -r rcpt [-r rcpt...]\n"
          "       [-c chunk 1..65535] [-d ms/chunk] [-n msgs/conn] [-j conns] [-a | -A k] [-t secs]\n"
          "       [-H helo] [-L] [-q] [-v] file...\n"
          "       milter-driver -P -s socket [-t secs]   (probe: negotiate and quit)\n", stderr);
    exit(2);
}

/* Parse a bounded integer option or exit 2. */
static long num_arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "milter-driver: %s must be %ld..%ld\n", what, lo, hi);
        exit(2);
    }
    return v;
}

/* Thread body: one connection. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    drv_run_connection(w->o, w->idx, &w->st);
    return NULL;
}

/* Add b into a. */
static void stats_add(drv_stats *a, const drv_stats *b)
{
    a->messages += b->messages; a->accept += b->accept; a->cont += b->cont;
    a->discard += b->discard; a->reject += b->reject; a->tempfail += b->tempfail;
    a->replycode += b->replycode; a->aborted += b->aborted; a->errors += b->errors;
    a->addheader += b->addheader; a->delrcpt += b->delrcpt; a->early += b->early;
}

/* Parse the command line into o; exits 2 on a usage error. */
static void parse_args(int argc, char **argv, drv_opts *o, const char **rcpts)
{
    int ch, nset = 0;

    memset(o, 0, sizeof(*o));
    o->from = "sender@driver.test";
    o->chunk = MP_MAX_BODY_CHUNK;
    o->nconn = 1;
    o->timeout_ms = 10000;
    o->helo = "driver.test";
    o->rcpts = rcpts;
    while ((ch = getopt(argc, argv, "s:f:r:c:d:n:j:aA:t:H:LqvPh")) != -1) {
        switch (ch) {
        case 's': o->socket = optarg; break;
        case 'f': o->from = optarg; break;
        case 'r':
            if (o->nrcpts >= MAX_RCPTS)
                usage();
            rcpts[o->nrcpts++] = optarg;
            break;
        case 'c': o->chunk = (size_t)num_arg(optarg, 1, MP_MAX_BODY_CHUNK, "chunk size"); break;
        case 'd': o->chunk_delay_ms = (int)num_arg(optarg, 0, 60000, "chunk delay"); break;
        case 'n': o->nmsg = (int)num_arg(optarg, 1, 100000, "messages per connection"); nset = 1; break;
        case 'j': o->nconn = (int)num_arg(optarg, 1, MAX_CONNS, "connections"); break;
        case 'a': o->abort_all = 1; break;
        case 'A': o->abort_nth = (int)num_arg(optarg, 1, 100000, "abort message number"); break;
        case 't': o->timeout_ms = (int)num_arg(optarg, 1, 3600, "timeout") * 1000; break;
        case 'H': o->helo = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'v': o->verbose = 1; break;
        case 'P': o->probe = 1; break;
        case 'L': o->no_leadspc = 1; break;
        default: usage();
        }
    }
    if (o->probe && o->socket)
        return;
    if (!o->socket || o->nrcpts == 0 || optind >= argc || argc - optind > MAX_FILES)
        usage();
    o->nfiles = (size_t)(argc - optind);
    if (!nset)
        o->nmsg = (int)o->nfiles;
}

int main(int argc, char **argv)
{
    static const char *rcpts[MAX_RCPTS];
    static worker w[MAX_CONNS];
    drv_opts o;
    drv_stats tot;
    struct timespec t0, t1;
    char err[512];
    size_t i;
    int k;

    parse_args(argc, argv, &o, rcpts);
    if (o.probe)
        return drv_probe(&o) == 0 ? 0 : 1;
    if (!(o.files = calloc(o.nfiles, sizeof(*o.files))))
        return 2;
    for (i = 0; i < o.nfiles; i++)
        if (msgfile_load(&o.files[i], argv[optind + (int)i], err, sizeof(err)) < 0) {
            fprintf(stderr, "milter-driver: %s\n", err);
            return 2;
        }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (k = 0; k < o.nconn; k++) {
        w[k].o = &o;
        w[k].idx = k;
        if (pthread_create(&w[k].tid, NULL, worker_main, &w[k]) != 0) {
            fprintf(stderr, "milter-driver: cannot start thread %d\n", k);
            return 2;
        }
    }
    memset(&tot, 0, sizeof(tot));
    for (k = 0; k < o.nconn; k++) {
        pthread_join(w[k].tid, NULL);
        stats_add(&tot, &w[k].st);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("SUMMARY messages=%lu accept=%lu continue=%lu discard=%lu reject=%lu tempfail=%lu "
           "replycode=%lu aborted=%lu early=%lu errors=%lu addheader=%lu delrcpt=%lu ms=%ld\n",
           tot.messages, tot.accept, tot.cont, tot.discard, tot.reject, tot.tempfail,
           tot.replycode, tot.aborted, tot.early, tot.errors, tot.addheader, tot.delrcpt,
           (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    for (i = 0; i < o.nfiles; i++)
        msgfile_free(&o.files[i]);
    free(o.files);
    return tot.errors ? 1 : 0;
}
