/*
 * control.c - the signal thread: reload on SIGHUP, drain and stop on
 * SIGTERM/SIGINT (the phases and rules are in control.h).
 *
 * libmilter (8.14 .. 8.17) starts, inside smfi_main(), a thread that
 * sigwait()s for SIGHUP, SIGTERM and SIGINT and, on any of them, stops the
 * milter at once (mi_stop_milters; with Debian's worker pool, sessions in
 * flight are then closed). Blocking the signals does not keep them from it:
 * sigwait() takes blocked signals, and with two threads in sigwait() for
 * the same signal the kernel picks either. So this program provides
 * sigwait() itself: libmilter.so's call binds to the executable's
 * definition (ELF symbol interposition), and libmilter's thread parks there
 * for good. Our own thread uses sigwaitinfo()/sigtimedwait(), which are
 * other symbols; nothing else in the program calls sigwait(). A debug line
 * "libmilter's signal thread parked" shows it took effect.
 *
 * Stopping the listener: smfi_stop() sets libmilter's stop flag and then
 * waits for the listener's mutex, which the listener holds across a
 * poll() of up to 5 s (MI_CHK_TIME). So smfi_stop() runs in a helper
 * thread while this thread interrupts that poll() with SIGUSR2 (an empty
 * handler, only unblocked in the main thread, which runs smfi_main) every
 * TM_KICK_MS until smfi_main has returned: the listener sees the flag and
 * returns at once. SIGUSR2 is therefore reserved.
 * Errors: a failed reload is logged and changes nothing; a thread that cannot
 * be created makes start-up fail (tm_control_start) or the stop wait for
 * libmilter's own poll timeout (logged).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmilter/mfapi.h>
#include "control.h"
#include "gen.h"
#include "log.h"
#include "notify.h"
#include "retry.h"

#define TM_KICK_SIG SIGUSR2
#define TM_KICK_MS 5
#define TM_TICK_MS 10

static atomic_int g_phase;
static atomic_int g_listener_ended;
static atomic_int g_parked;
static pthread_t g_main, g_thread;
static int g_started_thread;
static atomic_int g_stop_sig;
static char *g_conf_path;
static char *g_pidfile_arg;                 /* -p: wins over PidFile, or NULL */
/* The values that need a restart, as the milter started with them. */
static struct {
    char *socket, *user, *group, *pidfile, *archive_dir;
    mode_t umask;
    int log_target;
} g_run;

/* libmilter's signal thread calls this and stays here (see the file comment). */
int sigwait(const sigset_t *set, int *sig)
{
    (void)set;
    (void)sig;
    if (!atomic_exchange(&g_parked, 1))
        tm_log(LOG_DEBUG, "libmilter's signal thread parked: tlsrpt-milter handles "
               "SIGHUP, SIGTERM and SIGINT");
    for (;;)
        pause();
}

/* Empty: it only makes the listener's poll() return with EINTR. */
static void kick_handler(int sig)
{
    (void)sig;
}

/* The signals the control thread waits for. */
static void control_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

/* Block the signals for every thread to come; install the kick handler. */
int tm_control_init(void)
{
    sigset_t set;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = kick_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(TM_KICK_SIG, &sa, NULL) != 0)
        return -1;
    control_set(&set);
    sigaddset(&set, TM_KICK_SIG);
    errno = pthread_sigmask(SIG_BLOCK, &set, NULL);
    return errno ? -1 : 0;
}

/* The current stop phase. */
int tm_stop_phase(void)
{
    return atomic_load(&g_phase);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static long since_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Log a reload error text ("FILE:LINE: ...\n" lines) one line each. */
static void log_lines(int prio, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        tm_log(prio, "%.*s", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/* Warn about a key whose new value takes effect only at the next start. */
static void needs_restart(const tm_config *cfg, int key, const char *now, const char *new_val)
{
    char line[1024] = "";
    tm_config_errorf(cfg, key, line, sizeof line, "%s changed to '%.200s': needs a restart "
                     "(still using '%.200s')", tm_config_key_name(key), new_val, now);
    line[strcspn(line, "\n")] = 0;
    tm_log(LOG_WARNING, "%s", line);
}

/* Compare the restart-only keys of a new configuration with the running values. */
static void restart_notes(const tm_config *cfg)
{
    char a[16], b[16];
    if (strcmp(cfg->socket, g_run.socket))
        needs_restart(cfg, TM_K_SOCKET, g_run.socket, cfg->socket);
    if (strcmp(cfg->user, g_run.user))
        needs_restart(cfg, TM_K_USER, g_run.user, cfg->user);
    if (strcmp(cfg->group, g_run.group))
        needs_restart(cfg, TM_K_GROUP, g_run.group, cfg->group);
    if (strcmp(cfg->pidfile, g_run.pidfile))
        needs_restart(cfg, TM_K_PIDFILE, g_run.pidfile, cfg->pidfile);
    if (cfg->umask != g_run.umask) {
        snprintf(a, sizeof a, "%03o", (unsigned)g_run.umask);
        snprintf(b, sizeof b, "%03o", (unsigned)cfg->umask);
        needs_restart(cfg, TM_K_UMASK, a, b);
    }
    if (strcmp(cfg->archive_dir, g_run.archive_dir))
        needs_restart(cfg, TM_K_ARCHIVE_DIR, g_run.archive_dir, cfg->archive_dir);
    if (cfg->log_target != g_run.log_target)
        needs_restart(cfg, TM_K_LOG_TARGET, g_run.log_target == TM_LOG_STDERR ? "stderr"
                      : "syslog", cfg->log_target == TM_LOG_STDERR ? "stderr" : "syslog");
}

/* SIGHUP: build a new generation; install it only when it is complete. */
static void reload(void)
{
    char err[8192];
    int nerr = 0;
    tm_notify("RELOADING=1");
    tm_gen *g = tm_gen_load(g_conf_path, err, sizeof err, &nerr);
    if (!g) {
        log_lines(LOG_ERR, err);
        tm_log(LOG_ERR, "SIGHUP: reload of %s failed with %d error(s): still running with "
               "the previous configuration", g_conf_path, nerr);
        tm_notify("READY=1");
        return;
    }
    char *pf = g_pidfile_arg ? strdup(g_pidfile_arg) : NULL;
    if (pf) {                                   /* -p wins, as at start */
        free(g->cfg.pidfile);
        g->cfg.pidfile = pf;
        g->cfg.line[TM_K_PIDFILE] = 0;
    }
    restart_notes(&g->cfg);
    tm_log_set(g->cfg.log_level, g->cfg.log_format);
    unsigned inflight = tm_gen_inflight();
    tm_gen_install(g);
    tm_log(LOG_NOTICE, "SIGHUP: reloaded %s (generation %lu: action %s, authentication %s%s, "
           "%zu report address(es)); %u mail(s) in flight finish with the previous one",
           g_conf_path, g->id, g->cfg.action == TM_ACTION_TAG ? "tag" : "discard",
           g->auth ? "dkim with keys from " : "none", !g->auth ? "" : g->cfg.dkim_key_file[0]
           ? g->cfg.dkim_key_file : "DNS", g->cfg.n_report_addrs, inflight);
    tm_notify("READY=1");
}

/* Wait while mails are in flight, until limit_ms after t0; a second TERM/INT cuts it
   short (returns 1), SIGHUP is ignored. */
static int wait_inflight(const struct timespec *t0, long limit_ms)
{
    sigset_t set;
    control_set(&set);
    while (tm_gen_inflight() > 0 && since_ms(t0) < limit_ms) {
        struct timespec tick = { 0, TM_TICK_MS * 1000000L };
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            return 1;
        if (sig == SIGHUP)
            tm_log(LOG_NOTICE, "SIGHUP ignored: stopping");
    }
    return 0;
}

/* Helper thread: libmilter's stop (blocks until the listener lets go, see above). */
static void *stopper_main(void *arg)
{
    (void)arg;
    smfi_stop();
    return NULL;
}

/* Make smfi_main return now: smfi_stop in a helper, kicks for the listener's poll. */
static void end_listener(void)
{
    pthread_t t;
    int have = pthread_create(&t, NULL, stopper_main, NULL) == 0;
    if (!have) {
        tm_log(LOG_ERR, "cannot start the stop thread: stopping takes up to 5 s");
        smfi_stop();
        return;
    }
    while (!atomic_load(&g_listener_ended)) {
        pthread_kill(g_main, TM_KICK_SIG);
        struct timespec d = { 0, TM_KICK_MS * 1000000L };
        nanosleep(&d, NULL);
    }
    pthread_join(t, NULL);
}

/* One mail left in flight at the stop, by queue id. */
static void log_left(const char *qid, void *arg)
{
    (void)arg;
    tm_logq(LOG_WARNING, qid, "still in flight at the stop: not finished by tlsrpt-milter; "
            "its MTA applies its milter default action");
}

/* SIGTERM/SIGINT: drain, hurry, close (control.h). */
static void stop(int sig)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    tm_notify("STOPPING=1");
    atomic_store(&g_phase, TM_STOP_DRAIN);
    tm_retry_stop();
    tm_log(LOG_NOTICE, "%s: stopping; %u mail(s) in flight may finish within %d ms, new "
           "connections and mails get a temporary failure", name, tm_gen_inflight(),
           TM_STOP_GRACE_MS);
    int again = wait_inflight(&t0, TM_STOP_GRACE_MS);
    if (tm_gen_inflight() > 0) {
        atomic_store(&g_phase, TM_STOP_HURRY);
        tm_log(LOG_NOTICE, "%s: %u mail(s) still in flight; a report mail among them gets a "
               "temporary failure at its next step", again ? "second signal" : "grace time over",
               tm_gen_inflight());
        wait_inflight(&t0, TM_STOP_MAX_MS);
    }
    unsigned left = tm_gen_inflight();
    if (left > 0) {
        tm_log(LOG_WARNING, "%s: %u mail(s) still in flight (their MTA sent nothing for %ld "
               "ms): their MTA applies its milter default action", name, left, since_ms(&t0));
        tm_gen_each_inflight(log_left, NULL);
    }
    end_listener();
    tm_log(LOG_INFO, "%s: listener closed after %ld ms", name, since_ms(&t0));
}

/* The signal thread. */
static void *control_main(void *arg)
{
    (void)arg;
    sigset_t set;
    control_set(&set);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0)
            continue;                           /* EINTR */
        if (atomic_load(&g_listener_ended))
            break;                              /* smfi_main ended on its own */
        if (sig == SIGHUP) {
            reload();
            continue;
        }
        atomic_store(&g_stop_sig, sig);
        stop(sig);
        break;
    }
    return NULL;
}

/* Copy what the thread needs and start it. */
int tm_control_start(const char *conf_path, const char *pidfile_arg, const tm_config *started)
{
    g_main = pthread_self();
    g_conf_path = strdup(conf_path);
    g_pidfile_arg = pidfile_arg ? strdup(pidfile_arg) : NULL;
    g_run.socket = strdup(started->socket);
    g_run.user = strdup(started->user);
    g_run.group = strdup(started->group);
    g_run.pidfile = strdup(started->pidfile);
    g_run.archive_dir = strdup(started->archive_dir);
    g_run.umask = started->umask;
    g_run.log_target = started->log_target;
    if (!g_conf_path || !g_run.socket || !g_run.user || !g_run.group || !g_run.pidfile
        || !g_run.archive_dir
        || (pidfile_arg && !g_pidfile_arg))
        return -1;
    if ((errno = pthread_create(&g_thread, NULL, control_main, NULL)) != 0)
        return -1;
    g_started_thread = 1;
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, TM_KICK_SIG);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);  /* only here, in smfi_main's thread */
    return 0;
}

/* smfi_main returned. */
void tm_control_listener_ended(void)
{
    atomic_store(&g_listener_ended, 1);
    if (g_started_thread && !atomic_load(&g_stop_sig))
        pthread_kill(g_thread, SIGTERM);        /* wake it: it sees the flag and ends */
}

/* Wait for the signal thread; free its copies. */
int tm_control_join(void)
{
    if (g_started_thread)
        pthread_join(g_thread, NULL);
    g_started_thread = 0;
    free(g_conf_path);
    free(g_pidfile_arg);
    g_pidfile_arg = NULL;
    free(g_run.socket);
    free(g_run.user);
    free(g_run.group);
    free(g_run.pidfile);
    free(g_run.archive_dir);
    memset(&g_run, 0, sizeof g_run);
    g_conf_path = NULL;
    return atomic_load(&g_stop_sig);
}
