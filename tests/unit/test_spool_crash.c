/*
 * test_spool_crash.c - the archive under faults: a writer process SIGKILLed
 * at every step of a commit (via the test hook) and at random moments, then
 * recover: every committed entry reads back complete and byte-exact, no
 * half-written entry is ever listed, the garbage is gone, pending states
 * are kept. Disk full, permissions and concurrency: test_spool_faults.c.
 */
#include "tlib.h"
#include "tlib_spool.h"
#include "spool_int.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY0 1796083200     /* 2026-12-01T00:00:00Z */
#define MAXE 4096

static char err[1024];

/* The ids an archive lists, and whether each reads back intact. */
typedef struct listing {
    char (*ids)[TLSRPT_SPOOL_ID_MAX];
    int n, bad;
    tlsrpt_spool *sp;
    char why[1024];
} listing;

/* each callback: remember the id, check the entry. */
static int list_cb(void *arg, const tlsrpt_spool_entry *e)
{
    listing *l = arg;
    char why[512];
    if (l->n < MAXE)
        snprintf(l->ids[l->n], TLSRPT_SPOOL_ID_MAX, "%s", e->id);
    l->n++;
    if (!e->meta || !tsp_check(l->sp, e->id, why, sizeof why)) {
        if (!l->bad++)
            snprintf(l->why, sizeof l->why, "%s: %s", e->id, e->meta ? why : e->meta_error);
    }
    return 0;
}

/* List and check every entry of sp. */
static void list_all(tlsrpt_spool *sp, listing *l)
{
    static char ids[MAXE][TLSRPT_SPOOL_ID_MAX];
    l->ids = ids;
    l->n = l->bad = 0;
    l->sp = sp;
    l->why[0] = 0;
    tlsrpt_spool_each(sp, NULL, NULL, list_cb, l, err, sizeof err);
}

/* 1 when id is in the listing. */
static int listed(const listing *l, const char *id)
{
    for (int i = 0; i < l->n && i < MAXE; i++)
        if (!strcmp(l->ids[i], id))
            return 1;
    return 0;
}

/* Files under DIR/YYYY-MM-DD directories. */
static long day_files(const char *dir)
{
    long n = 0;
    for (int d = -1; d < 3; d++) {
        char day[16];
        time_t t = DAY0 + d * 86400;
        strftime(day, sizeof day, "%Y-%m-%d", gmtime(&t));
        n += tsp_count_files(dir, day);
    }
    return n;
}

static const char *kill_point;
static int kill_count;

/* Test hook: SIGKILL ourselves at the kill_count-th time kill_point is reached. */
static void kill_hook(const char *point)
{
    if (kill_point && strcmp(point, kill_point) == 0 && --kill_count == 0)
        raise(SIGKILL);
}

/* Read "id index" lines from fd until EOF into ids/idx; returns the count. */
static int read_ids(int fd, char (*ids)[TLSRPT_SPOOL_ID_MAX], int *idx, int max)
{
    static char buf[1 << 20];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) != 0)
        if (r > 0)
            n += (size_t)r;
        else if (errno != EINTR)
            break;
    buf[n] = 0;
    int k = 0;
    for (char *line = strtok(buf, "\n"); line && k < max; line = strtok(NULL, "\n"))
        if (sscanf(line, "%99s %d", ids[k], &idx[k]) == 2)
            k++;
    return k;
}

/* Child: commit `first` entries (reported on fd), then one more killed at point. */
static void hook_child(const char *dir, int fd, const char *point)
{
    char e[512], id[TLSRPT_SPOOL_ID_MAX], line[160];
    tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE, e, sizeof e);
    if (!sp)
        _exit(2);
    for (int i = 0; i < 3; i++) {
        if (tsp_put(sp, DAY0 + 100 + i, (unsigned)(1000 + i), 40000, 4096, TLSRPT_SPOOL_NEW, id, e, sizeof e) < 0)
            _exit(2);
        int n = snprintf(line, sizeof line, "%s %d\n", id, i);
        if (write(fd, line, (size_t)n) != n)
            _exit(2);
    }
    kill_point = point;
    kill_count = strcmp(point, "write") == 0 ? 6 : 1;
    tlsrpt_spool_test_hook = kill_hook;
    tsp_put(sp, DAY0 + 200, 2000, 60000, 4096, TLSRPT_SPOOL_NEW, id, e, sizeof e);
    _exit(3);                           /* the hook did not fire */
}

/* Kill a writer at every step of a commit; recover; check. */
static void test_kill_points(void)
{
    static const char *const points[] = { "begin", "write", "data-written", "meta-written", "synced",
                                          "pending-created", "meta-renamed", "data-renamed", "committed" };
    static char ids[8][TLSRPT_SPOOL_ID_MAX];
    for (size_t p = 0; p < sizeof points / sizeof points[0]; p++) {
        char *dir = tsp_tmpdir("killpt"), name[1400];
        int pfd[2], idx[8], status = 0;
        if (!dir || pipe(pfd) < 0)
            return;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            hook_child(dir, pfd[1], points[p]);
        }
        close(pfd[1]);
        int n = read_ids(pfd[0], ids, idx, 8);
        close(pfd[0]);
        waitpid(pid, &status, 0);
        snprintf(name, sizeof name, "kill at %s: the writer died by SIGKILL there", points[p]);
        T_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && n == 3, name);
        tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE, err, sizeof err);
        tlsrpt_spool_recover_stats st;
        tlsrpt_spool_recover(sp, &st, err, sizeof err);
        listing l;
        list_all(sp, &l);
        int late = !strcmp(points[p], "data-renamed") || !strcmp(points[p], "committed");
        int ok = l.bad == 0 && l.n == 3 + late;
        for (int i = 0; i < n; i++)
            ok &= listed(&l, ids[i]) && tlsrpt_spool_state(sp, ids[i]) == TLSRPT_SPOOL_NEW;
        snprintf(name, sizeof name, "kill at %s: %d entries listed (want %d), all byte-exact%s%s", points[p],
                 l.n, 3 + late, l.bad ? ": " : "", l.why);
        T_CHECK(ok, name);
        snprintf(name, sizeof name, "kill at %s: recover leaves no garbage (tmp, orphan meta, orphan pending)", points[p]);
        T_CHECK(tsp_count_files(dir, "tmp") == 0 && day_files(dir) == 2 * l.n &&
                tsp_count_files(dir, "pending") == l.n && st.pending[TLSRPT_SPOOL_NEW] == l.n, name);
        tlsrpt_spool_close(sp);
        tsp_rmrf(dir);
        free(dir);
    }
}

/* Child: write entries forever (sizes, chunkings and states vary), report each commit. */
static void loop_child(const char *dir, int fd, int flags, unsigned base)
{
    char e[512], id[TLSRPT_SPOOL_ID_MAX], line[160];
    tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE | flags, e, sizeof e);
    if (!sp)
        _exit(2);
    for (unsigned i = 0;; i++) {
        size_t size = (i * 7919u) % 120000, chunk = (size_t[]){ 1, 100, 4096, 65535 }[i % 4];
        int pending = i % 3 ? TLSRPT_SPOOL_NEW : 0;
        if (chunk == 1 && size > 3000)
            size = 3000;
        if (tsp_put(sp, DAY0 + (i % 3) * 86400 + 300, base + i, size, chunk, pending, id, e, sizeof e) < 0)
            _exit(2);
        int n = snprintf(line, sizeof line, "%s %u\n", id, i);
        if (write(fd, line, (size_t)n) != n)
            _exit(2);
        if (pending && i % 5 == 0) {
            tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, e, sizeof e);
            tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, e, sizeof e);
        }
    }
}

/* The state a reported entry must have (-1: the last one, whose state change may have been cut). */
static int want_state(int i, int last)
{
    if (i % 3 == 0)
        return TLSRPT_SPOOL_DONE;
    if (i % 5 == 0)
        return last ? -1 : TLSRPT_SPOOL_DONE;
    return TLSRPT_SPOOL_NEW;
}

/* SIGKILL a writer at random moments, 24 times on one archive; check after each. */
static void test_kill_random(void)
{
    static char ids[MAXE][TLSRPT_SPOOL_ID_MAX];
    static int idx[MAXE];
    char *dir = tsp_tmpdir("killrnd"), name[1400];
    int rounds = 24, total = 0, all_ok = 1, garbage_ok = 1, died = 1;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("kill random: seed %u\n", seed);
    srand(seed);
    for (int r = 0; r < rounds && all_ok; r++) {
        int pfd[2], status = 0;
        if (pipe(pfd) < 0)
            break;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            loop_child(dir, pfd[1], r % 2 ? TLSRPT_SPOOL_NOSYNC : 0, (unsigned)r * 100000u);
        }
        close(pfd[1]);
        struct timespec ts = { 0, (long)(2 + rand() % 60) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int n = read_ids(pfd[0], ids, idx, MAXE);
        close(pfd[0]);
        waitpid(pid, &status, 0);
        died &= WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE, err, sizeof err);
        tlsrpt_spool_recover_stats st;
        tlsrpt_spool_recover(sp, &st, err, sizeof err);
        listing l;
        list_all(sp, &l);
        int ok = l.bad == 0 && l.n >= total + n && l.n <= total + n + 1;
        for (int i = 0; i < n && ok; i++) {
            int w = want_state(idx[i], i == n - 1), s = tlsrpt_spool_state(sp, ids[i]);
            ok = listed(&l, ids[i]) && (w < 0 ? s >= 0 : s == w);
        }
        if (!ok) {
            snprintf(name, sizeof name, "kill random: round %d: %d listed, %d before + %d reported%s%s", r, l.n,
                     total, n, l.bad ? ": " : "", l.why);
            T_CHECK(ok, name);
        }
        all_ok &= ok;
        garbage_ok &= tsp_count_files(dir, "tmp") == 0 && day_files(dir) == 2 * l.n;
        total = l.n;
        tlsrpt_spool_close(sp);
    }
    T_CHECK(died, "kill random: every writer died by SIGKILL");
    snprintf(name, sizeof name, "kill random: 24 kills, %d entries: every reported commit listed, intact, in its state", total);
    T_CHECK(all_ok && total > 24, name);
    T_CHECK(garbage_ok, "kill random: after each recover no tmp file and no orphan meta");
    tsp_rmrf(dir);
    free(dir);
}

int main(void)
{
    umask(0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_kill_points();
    test_kill_random();
    T_MAIN_END();
}
