/*
 * test_spool_faults.c - the archive when the disk is full (a 64 KB tmpfs,
 * as root; SKIP when mount fails), when directories are not writable
 * (EACCES, as user nobody when run as root, since root ignores modes), and
 * under concurrency: writer threads committing while a reader checks every
 * listed entry and a retry-like thread claims pending ones, and two
 * processes writing one archive. Errors must be clean (a message with the
 * system error) and leave no committed entry and no garbage behind.
 */
#include "tlib.h"
#include "tlib_spool.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY0 1796083200     /* 2026-12-01T00:00:00Z */

static char err[1024];

/* each callback: count entries (and check them when arg->check). */
typedef struct counter {
    tlsrpt_spool *sp;
    int check, n, bad;
} counter;
static int count_cb(void *arg, const tlsrpt_spool_entry *e)
{
    counter *c = arg;
    char why[512];
    c->n++;
    if (c->check && (!e->meta || !tsp_check(c->sp, e->id, why, sizeof why))) {
        if (!c->bad++)
            printf("  bad entry %s: %s\n", e->id, e->meta ? why : e->meta_error);
    }
    return 0;
}

/* Number of committed entries (checked when check). */
static int n_entries(tlsrpt_spool *sp, int check, int *bad)
{
    counter c = { sp, check, 0, 0 };
    tlsrpt_spool_each(sp, NULL, NULL, count_cb, &c, err, sizeof err);
    if (bad)
        *bad = c.bad;
    return c.n;
}

static void enospc_checks(const char *mnt);

/* Disk full: a 64 KB tmpfs. */
static void test_enospc(void)
{
    char *mnt = tsp_tmpdir("enospc");
    if (!mnt || geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0755") < 0) {
        T_SKIP("enospc: 64 KB tmpfs", geteuid() ? "not root" : strerror(errno));
        if (mnt)
            rmdir(mnt);
        free(mnt);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();                 /* the parent unmounts, however the checks end */
    if (pid == 0) {
        enospc_checks(mnt);
        fflush(stdout);
        _exit(tlib_failed ? 1 : 0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "enospc: checks ran to the end");
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    free(mnt);
}

/* The disk-full checks on the tmpfs at mnt. */
static void enospc_checks(const char *mnt)
{
    char arch[4200], fill[4300], id[TLSRPT_SPOOL_ID_MAX];
    snprintf(arch, sizeof arch, "%s/archive", mnt);
    tlsrpt_spool *sp = tlsrpt_spool_open(arch, TLSRPT_SPOOL_CREATE, err, sizeof err);
    T_CHECK(sp != NULL, "enospc: archive on a 64 KB tmpfs");
    if (!sp)
        return;
    int r = tsp_put(sp, DAY0, 1, 300000, 65535, TLSRPT_SPOOL_NEW, id, err, sizeof err);
    printf("  300 KB mail: %s\n", r < 0 ? err : "committed");
    T_CHECK(r < 0 && strstr(err, "No space left on device") && strstr(err, "tmp/"),
            "enospc: a 300 KB mail fails with ENOSPC naming the file");
    T_CHECK(n_entries(sp, 0, NULL) == 0 && tsp_count_files(arch, "tmp") == 0 && tsp_count_files(arch, "pending") == 0,
            "enospc: no entry committed, no tmp or pending file left");
    T_CHECK(tsp_put(sp, DAY0, 2, 3000, 512, TLSRPT_SPOOL_NEW, id, err, sizeof err) == 0,
            "enospc: a small mail fits again once the failed one is cleaned up");
    /* fill the disk page by page, then free one page: the data fits, the meta does not */
    int k = 0;
    char page[4096];
    memset(page, 'f', sizeof page);
    for (;; k++) {
        snprintf(fill, sizeof fill, "%s/fill%d", mnt, k);
        int fd = open(fill, O_WRONLY | O_CREAT, 0600);
        ssize_t w = fd < 0 ? -1 : write(fd, page, sizeof page);
        if (fd >= 0)
            close(fd);
        if (w != (ssize_t)sizeof page)
            break;
    }
    snprintf(fill, sizeof fill, "%s/fill0", mnt);
    unlink(fill);
    r = tsp_put(sp, DAY0, 3, 200, 200, TLSRPT_SPOOL_NEW, id, err, sizeof err);
    printf("  one free page: %s\n", r < 0 ? err : "committed");
    T_CHECK(r < 0 && strstr(err, "No space left on device"), "enospc: one page left: the commit fails with ENOSPC");
    T_CHECK(n_entries(sp, 1, NULL) == 1 && tsp_count_files(arch, "tmp") == 0 && tsp_count_files(arch, "pending") == 1,
            "enospc: still only the earlier entry, no tmp file, no new pending file");
    tlsrpt_spool_close(sp);
}

/* The EACCES checks, run as a user that modes apply to. */
static void eacces_checks(const char *base)
{
    char arch[4200], rootonly[4200], id[TLSRPT_SPOOL_ID_MAX], day[4300];
    snprintf(rootonly, sizeof rootonly, "%s/rootonly/archive", base);
    tlsrpt_spool *sp = tlsrpt_spool_open(rootonly, TLSRPT_SPOOL_CREATE, err, sizeof err);
    T_CHECK(!sp && strstr(err, "Permission denied"), "eacces: creating an archive in a directory we cannot write");
    snprintf(arch, sizeof arch, "%s/archive", base);
    sp = tlsrpt_spool_open(arch, TLSRPT_SPOOL_CREATE, err, sizeof err);
    T_CHECK(sp != NULL, "eacces: our own archive opens");
    if (!sp)
        return;
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s/tmp", arch);
    chmod(tmp, 0500);
    int r = tsp_put(sp, DAY0, 1, 2000, 100, TLSRPT_SPOOL_NEW, id, err, sizeof err);
    T_CHECK(r < 0 && strstr(err, "Permission denied") && strstr(err, "tmp/"), "eacces: read-only tmp/: begin fails cleanly");
    chmod(tmp, 0750);
    chmod(arch, 0500);                  /* no new day directory */
    r = tsp_put(sp, DAY0, 2, 2000, 100, TLSRPT_SPOOL_NEW, id, err, sizeof err);
    T_CHECK(r < 0 && strstr(err, "Permission denied") && strstr(err, "mkdir"), "eacces: day directory cannot be made: commit fails");
    chmod(arch, 0750);
    T_CHECK(n_entries(sp, 0, NULL) == 0 && tsp_count_files(arch, "tmp") == 0 && tsp_count_files(arch, "pending") == 0,
            "eacces: nothing committed, no tmp or pending file left");
    T_CHECK(tsp_put(sp, DAY0, 3, 2000, 100, 0, id, err, sizeof err) == 0, "eacces: writable again: commit works");
    snprintf(day, sizeof day, "%s/2026-12-01", arch);
    chmod(day, 0500);                   /* existing day directory read-only: the renames fail */
    r = tsp_put(sp, DAY0, 4, 2000, 100, TLSRPT_SPOOL_NEW, id, err, sizeof err);
    T_CHECK(r < 0 && strstr(err, "Permission denied") && strstr(err, "rename"), "eacces: read-only day directory: commit fails");
    chmod(day, 0750);
    T_CHECK(n_entries(sp, 1, NULL) == 1 && tsp_count_files(arch, "tmp") == 0 && tsp_count_files(arch, "pending") == 0 &&
            tsp_count_files(arch, "2026-12-01") == 2, "eacces: only the earlier entry, no garbage");
    tlsrpt_spool_close(sp);
    chmod(arch, 0);
    sp = tlsrpt_spool_open(arch, 0, err, sizeof err);
    T_CHECK(!sp && strstr(err, "Permission denied"), "eacces: an unreadable archive does not open");
    chmod(arch, 0750);
    tlsrpt_spool_close(sp);
}

/* Unwritable directories: as nobody (65534) in a child when we are root. */
static void test_eacces(void)
{
    char *base = tsp_tmpdir("eacces"), ro[4200];
    if (!base)
        return;
    chmod(base, 0755);
    snprintf(ro, sizeof ro, "%s/rootonly", base);
    mkdir(ro, 0755);
    if (geteuid() != 0) {
        chmod(ro, 0555);
        eacces_checks(base);
    } else {
        int status = -1;
        if (chown(base, 65534, 65534) < 0)
            perror("chown");
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) < 0 || setuid(65534) < 0)
                _exit(9);
            eacces_checks(base);
            fflush(stdout);
            _exit(tlib_failed ? 1 : 0);
        }
        waitpid(pid, &status, 0);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "eacces: checks as user nobody ran and passed");
    }
    tsp_rmrf(base);
    free(base);
}

/* Concurrency: writers, a reader, a claimer. */
typedef struct shared {
    tlsrpt_spool *sp;
    atomic_int writers_left, claims, commits_pending, reads, read_bad, errors;
} shared;

/* Claim one entry like the milter or the retry thread would. */
static void claim(shared *s, const char *id)
{
    char e[512];
    int r = tlsrpt_spool_set_state(s->sp, id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, e, sizeof e);
    if (r == 0) {
        atomic_fetch_add(&s->claims, 1);
        if (tlsrpt_spool_set_state(s->sp, id, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, e, sizeof e) != 0)
            atomic_fetch_add(&s->errors, 1);
    } else if (r < 0) {
        atomic_fetch_add(&s->errors, 1);
    }
}

/* Writer thread: 250 entries; every other one pending, claimed at once (sometimes). */
static void *writer(void *arg)
{
    shared *s = arg;
    char id[TLSRPT_SPOOL_ID_MAX], e[512];
    static atomic_uint seed;
    for (int i = 0; i < 250; i++) {
        int pending = i % 2 ? TLSRPT_SPOOL_NEW : 0;
        unsigned sd = atomic_fetch_add(&seed, 1);
        if (tsp_put(s->sp, DAY0 + i, sd, 500 + (sd * 3001) % 40000, 1000, pending, id, e, sizeof e) < 0) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        if (pending) {
            atomic_fetch_add(&s->commits_pending, 1);
            if (i % 4 == 1)
                claim(s, id);
        }
    }
    atomic_fetch_sub(&s->writers_left, 1);
    return NULL;
}

/* Reader thread: list and check everything until the writers are done. */
static void *reader(void *arg)
{
    shared *s = arg;
    while (atomic_load(&s->writers_left) > 0) {
        int bad;
        atomic_fetch_add(&s->reads, n_entries(s->sp, 1, &bad));
        atomic_fetch_add(&s->read_bad, bad);
    }
    return NULL;
}

/* pending callback of the claimer. */
static int claim_cb(void *arg, const char *id, int state)
{
    if (state == TLSRPT_SPOOL_NEW)
        claim(arg, id);
    return 0;
}

/* Claimer thread (the retry thread): claim pending entries until the writers are done. */
static void *claimer(void *arg)
{
    shared *s = arg;
    char e[512];
    int last = 0;
    while (!last) {
        last = atomic_load(&s->writers_left) == 0;
        tlsrpt_spool_pending(s->sp, claim_cb, s, e, sizeof e);
    }
    return NULL;
}

/* 4 writers, 1 reader, 1 claimer on one archive. */
static void test_concurrency(void)
{
    char *dir = tsp_tmpdir("conc"), name[200];
    shared s;
    memset(&s, 0, sizeof s);
    s.sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE, err, sizeof err);
    atomic_store(&s.writers_left, 4);
    pthread_t w[4], r, c;
    for (int i = 0; i < 4; i++)
        pthread_create(&w[i], NULL, writer, &s);
    pthread_create(&r, NULL, reader, &s);
    pthread_create(&c, NULL, claimer, &s);
    for (int i = 0; i < 4; i++)
        pthread_join(w[i], NULL);
    pthread_join(r, NULL);
    pthread_join(c, NULL);
    T_INTEQ(atomic_load(&s.errors), 0, "concurrency: 4 writers x 250, no error");
    snprintf(name, sizeof name, "concurrency: reader checked %d listed entries while writing, none half-written",
             atomic_load(&s.reads));
    T_CHECK(atomic_load(&s.read_bad) == 0 && atomic_load(&s.reads) > 0, name);
    T_INTEQ(atomic_load(&s.claims), atomic_load(&s.commits_pending), "concurrency: every pending entry claimed exactly once");
    int bad;
    T_CHECK(n_entries(s.sp, 1, &bad) == 1000 && bad == 0 && tsp_count_files(dir, "pending") == 0,
            "concurrency: 1000 entries intact, nothing left pending");
    tlsrpt_spool_close(s.sp);
    tsp_rmrf(dir);
    free(dir);
}

/* Two processes write one archive in the same seconds: ids stay unique. */
static void test_two_processes(void)
{
    char *dir = tsp_tmpdir("twoproc");
    tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, err, sizeof err);
    pid_t kids[2];
    fflush(stdout);
    for (int k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0) {
            char e[512], id[TLSRPT_SPOOL_ID_MAX];
            tlsrpt_spool *mine = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, e, sizeof e);
            int fails = !mine;
            for (int i = 0; mine && i < 300; i++)
                fails += tsp_put(mine, DAY0 + i / 100, (unsigned)(k * 1000 + i), 300, 300, 0, id, e, sizeof e) < 0;
            _exit(fails ? 1 : 0);
        }
    int ok = 1, bad;
    for (int k = 0; k < 2; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    T_CHECK(ok && n_entries(sp, 1, &bad) == 600 && bad == 0, "two processes: 600 entries, unique ids, intact");
    tlsrpt_spool_close(sp);
    tsp_rmrf(dir);
    free(dir);
}

int main(void)
{
    umask(0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_enospc();
    test_eacces();
    test_concurrency();
    test_two_processes();
    T_MAIN_END();
}
