/*
 * main.c - tlsrpt-milter: start-up, privileges, daemon mode, shutdown.
 *
 *   tlsrpt-milter [-c FILE] [-f] [-n] [-V] [-h]
 *
 * Order at start: read the configuration (errors name file and line, exit
 * 1); as root: set UMask, open the milter socket (a stale UNIX socket is
 * removed) and hand it to User/Group; fork into the background unless -f
 * (the parent exits 0 only once the child is ready, 1 if it failed);
 * write PidFile; drop to User/Group; create the memcached store; run
 * smfi_main(). SIGTERM/SIGINT/SIGHUP make smfi_main() return (libmilter
 * handles them); we then remove PidFile and our UNIX socket and exit 0.
 * Not root: no user change (logged), everything else the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "msgctx.h"
#include "log.h"

#define TM_MILTER_DATA_MAX ((1024 * 1024) - 1)    /* libmilter's MILTER_MDS_1M */
/* memcached connections shared by the worker threads (a report waits for a free one). */
#define TM_STORE_POOL 32
/* glibc malloc arenas for all threads (see main). */
#define TM_MALLOC_ARENAS 2

/* What start-up needs to remember until exit. */
typedef struct tm_run {
    const char *conf_path;
    int foreground, check_only;
    tm_config cfg;
    uid_t uid;                  /* target user/group when root */
    gid_t gid;
    int change_user;
    const char *sock_path;      /* UNIX socket path or NULL */
    struct stat sock_st;        /* our socket's identity, to remove only ours */
    int have_sock_st;
    int pid_written;
} tm_run;

/* Print the usage summary. */
static void usage(FILE *f)
{
    fprintf(f, "usage: tlsrpt-milter [-c FILE] [-f] [-n] [-V] [-h]\n"
            "  -c FILE  configuration file (default %s)\n"
            "  -f       stay in the foreground and log to stderr too\n"
            "  -n       check the configuration and exit (0 ok, 1 errors)\n"
            "  -V       print the version and exit\n"
            "  -h       this help\n", TM_CONF_DEFAULT_PATH);
}

/* Parse the command line; returns -1 to exit 0, 1 to exit 2 (usage), 0 to go on. */
static int parse_args(tm_run *run, int argc, char **argv)
{
    int ch;
    run->conf_path = TM_CONF_DEFAULT_PATH;
    while ((ch = getopt(argc, argv, "c:fnVh")) != -1) {
        switch (ch) {
        case 'c': run->conf_path = optarg; break;
        case 'f': run->foreground = 1; break;
        case 'n': run->check_only = 1; break;
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
    return 0;
}

/* Read the configuration; print every error. 0 ok, -1 on errors. */
static int load_config(tm_run *run)
{
    char err[8192];
    if (tm_config_init(&run->cfg) != 0) {
        fprintf(stderr, "tlsrpt-milter: out of memory\n");
        return -1;
    }
    if (tm_config_load(&run->cfg, run->conf_path, err, sizeof err) != 0) {
        fputs(err, stderr);
        return -1;
    }
    tlsrpt_store_conf sc;
    tm_config_store_conf(&run->cfg, TM_STORE_POOL, &sc);
    tlsrpt_store *st = tlsrpt_store_new(&sc, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s: MemcachedServers: %s\n", run->conf_path, err);
        return -1;
    }
    tlsrpt_store_free(st);
    return 0;
}

/* Resolve User/Group when running as root. 0 ok, -1 unknown user or group. */
static int resolve_user(tm_run *run)
{
    const tm_config *cfg = &run->cfg;
    if (geteuid() != 0 || !cfg->user[0])
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        fprintf(stderr, "%s: User: unknown user '%s'\n", run->conf_path, cfg->user);
        return -1;
    }
    run->uid = pw->pw_uid;
    run->gid = pw->pw_gid;
    if (cfg->group[0]) {
        struct group *gr = getgrnam(cfg->group);
        if (!gr) {
            fprintf(stderr, "%s: Group: unknown group '%s'\n", run->conf_path, cfg->group);
            return -1;
        }
        run->gid = gr->gr_gid;
    }
    run->change_user = 1;
    return 0;
}

/* The file system path of a unix:/local:/bare-path socket spec, else NULL. */
static const char *unix_path(const char *spec)
{
    if (!strncasecmp(spec, "unix:", 5))
        return spec + 5;
    if (!strncasecmp(spec, "local:", 6))
        return spec + 6;
    return spec[0] == '/' ? spec : NULL;
}

/* 1 when something already accepts connections on the UNIX socket path. */
static int socket_in_use(const char *path)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    int used = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return used;
}

/* libmilter answers end of message with one packet per change (a header added, a
   recipient removed); over TCP the second packet waits for the MTA's delayed ACK,
   about 40 ms a mail, unless TCP_NODELAY is set. libmilter has no call that returns
   its listening socket, so find it among our descriptors: a listening TCP socket
   (Linux copies TCP_NODELAY to the connections it accepts). */
static void tcp_nodelay_listener(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        int on = 0, one = 1;
        socklen_t ol = sizeof on;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) != 0 || !on ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            tm_log(LOG_WARNING, "TCP_NODELAY on the milter socket: %s", strerror(errno));
    }
}

/* Register with libmilter and open the listening socket (as root, before the user change). */
static int open_socket(tm_run *run)
{
    const char *path = unix_path(run->cfg.socket);
    if (path && socket_in_use(path)) {
        tm_log(LOG_ERR, "socket %s is in use: another tlsrpt-milter running?", path);
        return -1;
    }
    umask(run->cfg.umask);
    if (smfi_setconn(run->cfg.socket) != MI_SUCCESS) {
        tm_log(LOG_ERR, "smfi_setconn(%s) failed", run->cfg.socket);
        return -1;
    }
    /* One header field arrives as one milter packet: allow up to 1 MiB (the
       default 64 KiB makes libmilter drop the connection on a longer field;
       MaxHeaderBytes then decides). */
    smfi_setmaxdatasize(TM_MILTER_DATA_MAX);
    if (smfi_register(*tm_milter_desc()) != MI_SUCCESS) {
        tm_log(LOG_ERR, "smfi_register failed");
        return -1;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
        tm_log(LOG_ERR, "cannot open socket %s (does its directory exist? in use?)",
               run->cfg.socket);
        return -1;
    }
    run->sock_path = unix_path(run->cfg.socket);
    if (!run->sock_path)
        tcp_nodelay_listener();
    if (run->sock_path && lstat(run->sock_path, &run->sock_st) == 0)
        run->have_sock_st = 1;
    if (run->sock_path && run->change_user
        && chown(run->sock_path, run->uid, run->gid) != 0)
        tm_log(LOG_WARNING, "chown %s: %s", run->sock_path, strerror(errno));
    return 0;
}

/* Fork into the background; the parent waits for the child's "ready" byte. Returns the pipe fd. */
static int daemonize(void)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        char b;
        close(p[1]);
        ssize_t n;
        while ((n = read(p[0], &b, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    if (chdir("/") != 0)
        tm_log(LOG_WARNING, "chdir /: %s", strerror(errno));
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return p[1];
}

/* Write our pid into PidFile (if configured). */
static int write_pidfile(tm_run *run)
{
    const char *path = run->cfg.pidfile;
    if (!path[0])
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        tm_log(LOG_ERR, "cannot write PidFile %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int ok = write(fd, buf, (size_t)n) == n && fchmod(fd, 0644) == 0;
    if (run->change_user && fchown(fd, run->uid, run->gid) != 0)
        ok = 0;
    if (close(fd) != 0 || !ok) {
        tm_log(LOG_ERR, "cannot write PidFile %s: %s", path, strerror(errno));
        return -1;
    }
    run->pid_written = 1;
    return 0;
}

/* Become User/Group for good (root only). */
static int drop_privileges(tm_run *run)
{
    if (geteuid() != 0) {
        if (run->cfg.user[0])
            tm_log(LOG_NOTICE, "not started as root: keeping uid %ld (User %s not applied)",
                   (long)geteuid(), run->cfg.user);
        return 0;
    }
    if (!run->change_user) {
        tm_log(LOG_WARNING, "User is empty: running as root");
        return 0;
    }
    if (initgroups(run->cfg.user, run->gid) != 0 || setgid(run->gid) != 0
        || setuid(run->uid) != 0) {
        tm_log(LOG_ERR, "cannot change to user %s: %s", run->cfg.user, strerror(errno));
        return -1;
    }
    if (run->uid != 0 && setuid(0) == 0) {
        tm_log(LOG_ERR, "could regain root after the user change; stopping");
        return -1;
    }
    return 0;
}

/* Remove the PidFile and our UNIX socket (only if it is still the one we made). */
static void cleanup_files(tm_run *run)
{
    struct stat st;
    if (run->pid_written && unlink(run->cfg.pidfile) != 0 && errno != ENOENT)
        tm_log(LOG_NOTICE, "cannot remove PidFile %s: %s (make its directory writable by "
               "User)", run->cfg.pidfile, strerror(errno));
    if (run->sock_path && run->have_sock_st && lstat(run->sock_path, &st) == 0
        && st.st_ino == run->sock_st.st_ino && st.st_dev == run->sock_st.st_dev
        && S_ISSOCK(st.st_mode) && unlink(run->sock_path) != 0)
        tm_log(LOG_NOTICE, "cannot remove socket %s: %s", run->sock_path, strerror(errno));
}

/* Everything after the configuration is known: run the milter until stopped. */
static int run_milter(tm_run *run)
{
    int ready = -1, rc = 1;
    tlsrpt_store *st = NULL;
    tm_log_open(run->foreground, run->cfg.log_level);
    if (resolve_user(run) != 0 || open_socket(run) != 0)
        goto out;
    if (!run->foreground && (ready = daemonize()) < 0) {
        tm_log(LOG_ERR, "cannot fork: %s", strerror(errno));
        goto out;
    }
    if (write_pidfile(run) != 0 || drop_privileges(run) != 0)
        goto out;
    tlsrpt_store_conf sc;
    char err[256];
    tm_config_store_conf(&run->cfg, TM_STORE_POOL, &sc);
    if (!(st = tlsrpt_store_new(&sc, err, sizeof err))) {
        tm_log(LOG_ERR, "memcached store: %s", err);
        goto out;
    }
    tm_callbacks_init(&run->cfg, st);
    signal(SIGPIPE, SIG_IGN);
    tm_log(LOG_INFO, "started %s on %s (memcached %s, action %s, %zu report address(es))",
           TLSRPT_VERSION, run->cfg.socket, run->cfg.memcached_servers,
           run->cfg.action == TM_ACTION_TAG ? "tag" : "discard", run->cfg.n_report_addrs);
    if (ready >= 0) {
        if (write(ready, "r", 1) != 1)
            tm_log(LOG_WARNING, "cannot tell the parent we are ready");
        close(ready);
        ready = -1;
    }
    rc = smfi_main() == MI_SUCCESS ? 0 : 1;
    tm_log(rc ? LOG_ERR : LOG_INFO, "stopping (%s)", rc ? "smfi_main failed" : "signal");
out:
    if (ready >= 0)
        close(ready);
    cleanup_files(run);
    tlsrpt_store_free(st);
    tm_log_close();
    return rc;
}

int main(int argc, char **argv)
{
    tm_run run;
    memset(&run, 0, sizeof run);
    int a = parse_args(&run, argc, argv);
    if (a != 0)
        return a < 0 ? 0 : 2;
    if (load_config(&run) != 0) {
        tm_config_free(&run.cfg);
        return 1;
    }
    if (run.check_only) {
        if (run.cfg.user[0] && !getpwnam(run.cfg.user))
            fprintf(stderr, "%s: warning: User '%s' does not exist (needed when started as "
                    "root)\n", run.conf_path, run.cfg.user);
        if (run.cfg.group[0] && !getgrnam(run.cfg.group))
            fprintf(stderr, "%s: warning: Group '%s' does not exist (needed when started as "
                    "root)\n", run.conf_path, run.cfg.group);
        printf("%s: configuration OK\n", run.conf_path);
        tm_config_free(&run.cfg);
        return 0;
    }
    /* Few malloc arenas: libmilter runs every connection on its own thread, and
       glibc's default of 8 arenas per core keeps memory of past bursts resident. */
    mallopt(M_ARENA_MAX, TM_MALLOC_ARENAS);
    int rc = run_milter(&run);
    tm_config_free(&run.cfg);
    return rc;
}
