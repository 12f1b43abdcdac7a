/*
 * tlib_memcached.c - memcached processes for the unit tests and read-back
 * checks (see tlib_memcached.h). Every memcached started here listens on
 * 127.0.0.1 only, with UDP off and 2 threads; it runs as root only when
 * the test does (memcached refuses root without -u). Its pid is kept in a
 * table of TLIB_MC_MAX slots so the exit and signal paths can kill it.
 * Errors: spawn returns -1 when fork fails, the table is full, memcached
 * exits early or does not listen within 5 s (it is killed then).
 */
#include "tlib_memcached.h"
#include "tlib.h"
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t mc_pids[TLIB_MC_MAX];          /* running memcacheds, 0 = free slot */

/* Is there a memcached binary on PATH? */
int tlib_mc_have_binary(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p; ) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/memcached", (int)n, p);
        if (access(buf, X_OK) == 0)
            return 1;
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

/* Can we connect to 127.0.0.1:port? */
int tlib_mc_port_open(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A random port in 20000..59999 that we can bind now. */
int tlib_mc_free_port(void)
{
    for (int i = 0; i < 100; i++) {
        int p = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % 40000);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return p;
    }
    return -1;
}

/* The table slot holding pid (0: a free slot), or NULL. */
static pid_t *mc_slot(pid_t pid)
{
    for (int i = 0; i < TLIB_MC_MAX; i++)
        if (mc_pids[i] == pid)
            return &mc_pids[i];
    return NULL;
}

/* Kill and reap the memcached in *pid; *pid becomes 0. */
void tlib_mc_stop(pid_t *pid)
{
    pid_t *slot;
    if (*pid <= 0)
        return;
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    if ((slot = mc_slot(*pid)) != NULL)
        *slot = 0;
    *pid = 0;
}

/* Start memcached on port into *pid; 0 when it listens within 5 s. */
int tlib_mc_spawn(int portnum, pid_t *pid)
{
    return tlib_mc_spawn_x(portnum, pid, NULL);
}

/* Start memcached on port with extra arguments (NULL-terminated, at most 8). */
int tlib_mc_spawn_x(int portnum, pid_t *pid, const char *const *extra)
{
    char port[16];
    const char *argv[24];
    int n = 0;
    pid_t *slot = mc_slot(0);
    *pid = 0;
    if (!slot)
        return -1;
    snprintf(port, sizeof port, "%d", portnum);
    fflush(stdout);
    *pid = fork();
    if (*pid < 0) {
        *pid = 0;
        return -1;
    }
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        argv[n++] = "memcached";
        if (geteuid() == 0) {
            argv[n++] = "-u";
            argv[n++] = "root";
        }
        static const char *const base[] = { "-l", "127.0.0.1", "-p", NULL, "-U", "0", "-t", "2" };
        for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
            argv[n++] = base[i] ? base[i] : port;
        for (int i = 0; extra && extra[i] && i < 8; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execvp("memcached", (char *const *)argv);
        _exit(127);
    }
    *slot = *pid;
    for (int i = 0; i < 100; i++) {
        if (tlib_mc_port_open(portnum))
            return 0;
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *slot = 0;
            *pid = 0;
            return -1;
        }
        usleep(50000);
    }
    tlib_mc_stop(pid);
    return -1;
}

/* Start memcached on a free port, up to 5 tries. */
int tlib_mc_start(int *port, pid_t *pid)
{
    return tlib_mc_start_x(port, pid, NULL);
}

/* Start memcached with extra arguments on a free port, up to 5 tries. */
int tlib_mc_start_x(int *port, pid_t *pid, const char *const *extra)
{
    *pid = 0;
    for (int i = 0; i < 5 && !*pid; i++) {
        *port = tlib_mc_free_port();
        if (*port > 0)
            tlib_mc_spawn_x(*port, pid, extra);     /* leaves *pid 0 when it failed */
    }
    return *pid ? 0 : -1;
}

/* One "stats" value of the memcached on 127.0.0.1:port (text protocol), -1 when unknown. */
long long tlib_mc_stat(int port, const char *name)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    static char buf[16384];
    size_t n = 0;
    long long v = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0
        || write(fd, "stats\r\n", 7) != 7) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (n + 1 < sizeof buf) {
        ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        buf[n] = 0;
        if (strstr(buf, "END\r\n"))
            break;
    }
    close(fd);
    buf[n] = 0;
    char pat[80];
    snprintf(pat, sizeof pat, "STAT %s ", name);
    const char *p = strstr(buf, pat);
    if (p)
        v = atoll(p + strlen(pat));
    return v;
}

/* atexit hook: kill and reap every memcached still in the table. */
static void mc_kill_all(void)
{
    for (int i = 0; i < TLIB_MC_MAX; i++) {
        pid_t p = mc_pids[i];
        tlib_mc_stop(&p);
        mc_pids[i] = 0;
    }
}

/* Signal handler: kill every memcached, then die of the same signal. */
static void mc_on_signal(int sig)
{
    for (int i = 0; i < TLIB_MC_MAX; i++)
        if (mc_pids[i] > 0)
            kill(mc_pids[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Install the atexit hook and the signal handlers. */
void tlib_mc_cleanup_on_exit(void)
{
    atexit(mc_kill_all);
    signal(SIGINT, mc_on_signal);
    signal(SIGTERM, mc_on_signal);
    signal(SIGSEGV, mc_on_signal);
    signal(SIGABRT, mc_on_signal);
}

/* Value of key as a string into buf; 1 when found. */
int tlib_mc_get_str(memcached_st *m, const char *key, char *buf, size_t n)
{
    size_t len;
    uint32_t fl;
    memcached_return_t rc;
    char *v = memcached_get(m, key, strlen(key), &len, &fl, &rc);
    if (!v && rc != MEMCACHED_NOTFOUND)     /* stale socket after a restart: once more */
        v = memcached_get(m, key, strlen(key), &len, &fl, &rc);
    buf[0] = 0;
    if (!v)
        return 0;
    snprintf(buf, n, "%.*s", (int)len, v);
    free(v);
    return 1;
}

/* Numeric value of a counter, -1 when missing. */
long long tlib_mc_get_num(memcached_st *m, const char *key)
{
    char buf[64];
    return tlib_mc_get_str(m, key, buf, sizeof buf) ? atoll(buf) : -1;
}

/* Check a counter's exact value. */
void tlib_mc_check_num(memcached_st *m, const char *key, long long want, const char *name)
{
    long long got = tlib_mc_get_num(m, key);
    if (got != want)
        printf("  key %s: got %lld want %lld\n", key, got, want);
    T_INTEQ(got, want, name);
}

/* Does set value v hold exactly the members of want (space-separated), each once? */
static int set_equals(const char *v, const char *want)
{
    char a[4096], b[4096], *sa[256], *sb[256], *save;
    int na = 0, nb = 0;
    snprintf(a, sizeof a, "%s", v);
    snprintf(b, sizeof b, "%s", want);
    for (char *t = strtok_r(a, " ", &save); t && na < 256; t = strtok_r(NULL, " ", &save))
        sa[na++] = t;
    for (char *t = strtok_r(b, " ", &save); t && nb < 256; t = strtok_r(NULL, " ", &save))
        sb[nb++] = t;
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++) {
        int hits = 0;
        for (int j = 0; j < na; j++)
            hits += strcmp(sa[i], sa[j]) == 0;
        int inb = 0;
        for (int j = 0; j < nb; j++)
            inb |= strcmp(sa[i], sb[j]) == 0;
        if (hits != 1 || !inb)
            return 0;
    }
    return 1;
}

/* Check an index set's members (order free, each once). */
void tlib_mc_check_set(memcached_st *m, const char *key, const char *want, const char *name)
{
    char v[4096];
    int found = tlib_mc_get_str(m, key, v, sizeof v);
    int ok = strspn(want, " ") == strlen(want) ? !found : found && set_equals(v, want);
    if (!ok)
        printf("  set %s: got \"%s\" want \"%s\"\n", key, v, want);
    T_CHECK(ok, name);
}

/* A test's private memcached (see tlib_memcached.h). */
int tlib_mc_boot(const char *what, int *port, pid_t *pid, char *servers, size_t n)
{
    if (!tlib_mc_have_binary()) {
        T_SKIP(what, "no memcached binary on PATH");
        return -1;
    }
    tlib_mc_cleanup_on_exit();
    if (tlib_mc_start(port, pid) != 0) {
        T_CHECK(0, "memcached started");
        return -1;
    }
    snprintf(servers, n, "127.0.0.1:%d", *port);
    return 0;
}
