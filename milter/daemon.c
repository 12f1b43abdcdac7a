/*
 * daemon.c - start-up steps of tlsrpt-milter (see daemon.h): user lookup,
 * the listening socket, the fork into the background, PidFile, the user
 * change, the "ready" hand-over, and the clean-up at exit.
 *
 * Errors are logged (tm_log) and returned; until tm_ready they also reach
 * stderr (log.h), which the background child keeps until then, so a start
 * failure is printed on the terminal and the parent exits 1.
 * libmilter logs the cause of a failed bind only to syslog, so an inet
 * socket is first bound here once (and closed) to say why it cannot be.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <libmilter/mfapi.h>
#include "daemon.h"
#include "log.h"
#include "msgctx.h"
#include "notify.h"

#define TM_MILTER_DATA_MAX ((1024 * 1024) - 1)    /* libmilter's MILTER_MDS_1M */

/* Resolve User/Group when running as root. */
int tm_resolve_user(tm_run *run)
{
    const tm_config *cfg = &run->gen->cfg;
    if (geteuid() != 0 || !cfg->user[0])
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    struct group *gr = cfg->group[0] ? getgrnam(cfg->group) : NULL;
    if (!pw || (cfg->group[0] && !gr)) {
        tm_log(LOG_ERR, "unknown User '%s' or Group '%s'", cfg->user, cfg->group);
        return -1;
    }
    run->uid = pw->pw_uid;
    run->gid = gr ? gr->gr_gid : pw->pw_gid;
    run->change_user = 1;
    return 0;
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

/* Bind inet:PORT@HOST / inet6:PORT@HOST once to learn why it would fail; 0 when it binds. */
static int probe_inet(const char *spec)
{
    int v6 = !strncasecmp(spec, "inet6:", 6);
    const char *p = spec + (v6 ? 6 : 5), *at = strchr(p, '@');
    char port[16], host[256];
    snprintf(port, sizeof port, "%.*s", at ? (int)(at - p) : (int)strlen(p), p);
    snprintf(host, sizeof host, "%s", at ? at + 1 : "");
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai != 0) {
        tm_log(LOG_ERR, "cannot open socket %s: host '%s': %s", spec, host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            tm_log(LOG_ERR, "cannot open socket %s: bind: %s", spec, strerror(errno));
            rc = -1;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
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
int tm_open_socket(tm_run *run)
{
    const tm_config *cfg = &run->gen->cfg;
    const char *path = tm_socket_path(cfg->socket);
    if (path && socket_in_use(path)) {
        tm_log(LOG_ERR, "socket %s is in use: another tlsrpt-milter running?", path);
        return -1;
    }
    if (!path && probe_inet(cfg->socket) != 0)
        return -1;
    umask(cfg->umask);
    if (smfi_setconn(cfg->socket) != MI_SUCCESS) {
        tm_log(LOG_ERR, "smfi_setconn(%s) failed", cfg->socket);
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
        tm_log(LOG_ERR, "cannot open socket %s (libmilter: see syslog)", cfg->socket);
        return -1;
    }
    if (!path)
        tcp_nodelay_listener();
    if (path && !(run->sock_path = strdup(path))) {
        tm_log(LOG_ERR, "out of memory");
        return -1;
    }
    if (path && lstat(path, &run->sock_st) == 0)
        run->have_sock_st = 1;
    if (path && run->change_user && chown(path, run->uid, run->gid) != 0)
        tm_log(LOG_WARNING, "chown %s: %s", path, strerror(errno));
    return 0;
}

/* Fork; the parent waits for the child's "ready" byte and exits. */
int tm_daemonize(tm_run *run)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid > 0) {
        char b;
        close(p[1]);
        ssize_t n;
        while ((n = read(p[0], &b, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 ? 0 : 1);
    }
    close(p[0]);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    run->ready_fd = p[1];
    setsid();
    if (chdir("/") != 0)
        tm_log(LOG_WARNING, "chdir /: %s", strerror(errno));
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return 0;
}

/* Write our pid into the PidFile (if any). */
int tm_write_pidfile(tm_run *run)
{
    const char *path = run->pidfile;
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
int tm_drop_privileges(tm_run *run)
{
    const tm_config *cfg = &run->gen->cfg;
    if (geteuid() != 0) {
        if (cfg->user[0])
            tm_log(LOG_NOTICE, "not started as root: keeping uid %ld (User %s not applied)",
                   (long)geteuid(), cfg->user);
        return 0;
    }
    if (!run->change_user) {
        tm_log(LOG_WARNING, "User is empty: running as root");
        return 0;
    }
    if (initgroups(cfg->user, run->gid) != 0 || setgid(run->gid) != 0
        || setuid(run->uid) != 0) {
        tm_log(LOG_ERR, "cannot change to user %s: %s", cfg->user, strerror(errno));
        return -1;
    }
    if (run->uid != 0 && setuid(0) == 0) {
        tm_log(LOG_ERR, "could regain root after the user change; stopping");
        return -1;
    }
    return 0;
}

/* Start-up done: parent, service manager, stderr. */
void tm_ready(tm_run *run)
{
    tm_log_startup_done();
    if (run->ready_fd >= 0) {
        if (write(run->ready_fd, "r", 1) != 1)
            tm_log(LOG_WARNING, "cannot tell the parent we are ready");
        close(run->ready_fd);
        run->ready_fd = -1;
        int fd = tm_log_to_stderr() ? -1 : open("/dev/null", O_WRONLY);
        if (fd >= 0) {                      /* the terminal is no longer ours */
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO)
                close(fd);
        }
    }
    tm_notify("READY=1");
}

/* Remove the PidFile and our UNIX socket (only if it is still the one we made). */
void tm_cleanup_files(tm_run *run)
{
    struct stat st;
    if (run->pid_written && unlink(run->pidfile) != 0 && errno != ENOENT)
        tm_log(LOG_NOTICE, "cannot remove PidFile %s: %s (make its directory writable by "
               "User)", run->pidfile, strerror(errno));
    if (run->sock_path && run->have_sock_st && lstat(run->sock_path, &st) == 0
        && st.st_ino == run->sock_st.st_ino && st.st_dev == run->sock_st.st_dev
        && S_ISSOCK(st.st_mode) && unlink(run->sock_path) != 0)
        tm_log(LOG_NOTICE, "cannot remove socket %s: %s", run->sock_path, strerror(errno));
}
