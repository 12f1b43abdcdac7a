/*
 * main.c - tlsrpt-milter: options, configuration check, and the order of a run.
 *
 *   tlsrpt-milter [-c FILE] [-p PIDFILE] [-f] [-n [-v]] [-V] [-h]
 *
 * Start: read the configuration and check it and the machine (check.h;
 * errors "FILE:LINE: ..." on stderr, exit 1); block the signals for all
 * threads (control.h); open the log; as root: set UMask, open the milter
 * socket (a stale UNIX socket is removed, a live one refused) and hand it to
 * User/Group; fork into the background unless -f (the parent exits 0 once
 * the child is ready, 1 if it failed; until then the child's errors reach
 * stderr); write PidFile; drop to User/Group; install the configuration,
 * start the signal thread, say "ready" (parent, $NOTIFY_SOCKET); run
 * smfi_main() until SIGTERM/SIGINT; remove PidFile and our UNIX socket.
 * Exit: 0 after a stop by signal, 1 on a start failure or when smfi_main
 * fails, 2 on a usage error. Not root: no user change, the rest the same.
 * -f only keeps the process in the foreground; where lines go is LogTarget.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libmilter/mfapi.h>
#include "check.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "budget.h"
#include "metrics.h"
#include "archive.h"
#include "retry.h"

/* glibc malloc arenas for all threads (see main). */
#define TM_MALLOC_ARENAS 1
#define TM_ERR_MAX 16384

/* Print the usage summary. */
static void usage(FILE *f)
{
    fprintf(f, "usage: tlsrpt-milter [-c FILE] [-p PIDFILE] [-f] [-n [-v]] [-V] [-h]\n"
            "  -c FILE     configuration file (default %s)\n"
            "  -p PIDFILE  write the process id there (wins over PidFile)\n"
            "  -f          stay in the foreground (logging still follows LogTarget)\n"
            "  -n          check the configuration and this machine, then exit (0 ok, 1 errors)\n"
            "  -v          with -n: print every key with its effective value\n"
            "  -V          print the version and exit\n"
            "  -h          this help\n", TM_CONF_DEFAULT_PATH);
}

/* Parse the command line; returns -1 to exit 0, 1 to exit 2 (usage), 0 to go on. */
static int parse_args(tm_run *run, int argc, char **argv)
{
    int ch;
    run->conf_path = TM_CONF_DEFAULT_PATH;
    while ((ch = getopt(argc, argv, "c:p:fnvVh")) != -1) {
        switch (ch) {
        case 'c': run->conf_path = optarg; break;
        case 'p': run->pidfile_arg = optarg; break;
        case 'f': run->foreground = 1; break;
        case 'n': run->check_only = 1; break;
        case 'v': run->verbose = 1; break;
        case 'V': printf("tlsrpt-milter %s\n", TLSRPT_VERSION); return -1;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tlsrpt-milter: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (run->pidfile_arg && run->pidfile_arg[0] != '/') {
        fprintf(stderr, "tlsrpt-milter: -p wants an absolute path\n");
        return 1;
    }
    return 0;
}

/* Apply -p to a configuration (the key then counts as set on the command line). */
static int apply_pidfile_arg(const tm_run *run, tm_config *cfg)
{
    if (!run->pidfile_arg)
        return 0;
    char *p = strdup(run->pidfile_arg);
    if (!p)
        return -1;
    free(cfg->pidfile);
    cfg->pidfile = p;
    cfg->line[TM_K_PIDFILE] = 0;
    return 0;
}

/* -n: the configuration, then the machine; -v prints the effective configuration. */
static int check_only(tm_run *run)
{
    static char err[TM_ERR_MAX];
    tm_config cfg;
    if (tm_config_init(&cfg) != 0) {
        fprintf(stderr, "tlsrpt-milter: out of memory\n");
        return 1;
    }
    int nerr = tm_config_load(&cfg, run->conf_path, err, sizeof err);
    fputs(err, stderr);
    if (apply_pidfile_arg(run, &cfg) != 0)
        nerr++;
    if (nerr == 0 || cfg.source[0]) {           /* the file was read */
        err[0] = 0;
        nerr += tm_check_system(&cfg, err, sizeof err);
        fputs(err, stderr);
        if (run->verbose && tm_config_print(stdout, &cfg) != 0)
            nerr++;
    }
    if (nerr == 0)
        fprintf(run->verbose ? stderr : stdout, "%s: configuration OK\n", run->conf_path);
    tm_config_free(&cfg);
    return nerr ? 1 : 0;
}

/* Read and check everything a start needs; errors on stderr. 0 or -1. */
static int load_for_start(tm_run *run)
{
    static char err[TM_ERR_MAX];
    int nerr = 0;
    run->gen = tm_gen_load(run->conf_path, err, sizeof err, &nerr);
    if (!run->gen || apply_pidfile_arg(run, &run->gen->cfg) != 0
        || tm_check_system(&run->gen->cfg, err, sizeof err) != 0) {
        fputs(err, stderr);
        fprintf(stderr, "tlsrpt-milter: not started (%s)\n", run->conf_path);
        return -1;
    }
    run->pidfile = strdup(run->gen->cfg.pidfile);
    return run->pidfile ? 0 : -1;
}

/* Everything between the checked configuration and smfi_main; 0 when running. */
static int start(tm_run *run)
{
    const tm_config *cfg = &run->gen->cfg;
    tm_log_open(cfg->log_target, cfg->log_format, cfg->log_level);
    if (tm_resolve_user(run) != 0 || tm_open_socket(run) != 0)
        return -1;
    if (!run->foreground && tm_daemonize(run) != 0) {
        tm_log(LOG_ERR, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (tm_write_pidfile(run) != 0 || tm_drop_privileges(run) != 0)
        return -1;
    tm_gen *g = run->gen;
    run->gen = NULL;
    tm_gen_install(g);                          /* owned by gen.c from now on */
    tm_mem_init();                              /* the idle RSS, for the heap trims */
    if (tm_metrics_start(&g->cfg) != 0) {
        tm_log(LOG_ERR, "cannot start the metrics thread: %s", strerror(errno));
        return -1;
    }
    if (tm_archive_open(&g->cfg) != 0 || tm_retry_start(run->conf_path) != 0)
        return -1;                              /* as User: the archive's files are its */
    if (tm_control_start(run->conf_path, run->pidfile_arg, &g->cfg) != 0) {
        tm_log(LOG_ERR, "cannot start the signal thread: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    tm_log(LOG_INFO, "started %s on %s (memcached %s, action %s, authentication %s%s, "
           "%zu report address(es))", TLSRPT_VERSION, g->cfg.socket, g->cfg.memcached_servers,
           g->cfg.action == TM_ACTION_TAG ? "tag" : "discard",
           g->auth ? "dkim with keys from " : "none", !g->auth ? ""
           : g->cfg.dkim_key_file[0] ? g->cfg.dkim_key_file : "DNS", g->cfg.n_report_addrs);
    return 0;
}

/* Run the milter until stopped; the exit status. */
static int run_milter(tm_run *run)
{
    int rc = 1;
    if (tm_control_init() != 0) {
        fprintf(stderr, "tlsrpt-milter: cannot block signals: %s\n", strerror(errno));
        return 1;
    }
    if (start(run) == 0) {
        tm_ready(run);
        rc = smfi_main() == MI_SUCCESS ? 0 : 1;
        tm_control_listener_ended();
        int sig = tm_control_join();
        tm_retry_join();
        tm_metrics_stop();                      /* the last MetricsFile */
        if (sig)
            rc = 0;
        tm_log(rc ? LOG_ERR : LOG_INFO, "stopped (%s)", sig == SIGINT ? "SIGINT"
               : sig ? "SIGTERM" : "smfi_main failed");
    } else
        tm_log(LOG_ERR, "not started");
    if (run->ready_fd >= 0)
        close(run->ready_fd);
    tm_cleanup_files(run);
    unsigned left = tm_gen_inflight();
    tm_log_close();
    /* A mail still in flight means its libmilter thread is still in our code (a
       decoding step): exit() would run the libraries' exit handlers (and, in the
       sanitizer build, a leak scan of the whole heap: measured 200-300 ms) under it.
       Its MTA applies its default action on the closed connection either way. */
    if (left > 0)
        _exit(rc);
    return rc;
}

int main(int argc, char **argv)
{
    tm_run run;
    memset(&run, 0, sizeof run);
    run.ready_fd = -1;
    int a = parse_args(&run, argc, argv);
    if (a != 0)
        return a < 0 ? 0 : 2;
    if (run.check_only)
        return check_only(&run);
    if (load_for_start(&run) != 0) {
        tm_gen_discard(run.gen);
        return 1;
    }
    /* One malloc arena: libmilter runs every connection on its own thread; glibc's
       default of 8 arenas per core keeps memory of past bursts resident, and
       malloc_trim gives freed pages back from the main arena only (measured: a value
       bomb's 64 MB stayed resident in a second arena after malloc_trim, and went with
       one; 400 small report mails on 16 connections took the same time either way). */
    mallopt(M_ARENA_MAX, TM_MALLOC_ARENAS);
    int rc = run_milter(&run);
    tm_gen_discard(run.gen);                    /* only when start-up failed early */
    free(run.sock_path);
    free(run.pidfile);
    return rc;
}
