/*
 * daemon.h - the start-up steps of tlsrpt-milter between reading the
 * configuration and smfi_main(), and the clean-up at exit (daemon.c).
 *
 * Ownership: tm_run lives in main() for the whole run; the strings in it are
 * its own copies (a reload frees the start-up configuration long before
 * exit). run->gen is the start-up generation until it is installed.
 */
#ifndef TM_DAEMON_H
#define TM_DAEMON_H

#include <sys/stat.h>
#include <sys/types.h>
#include "gen.h"

typedef struct tm_run {
    const char *conf_path;
    const char *pidfile_arg;    /* -p FILE: wins over PidFile, or NULL */
    int foreground, check_only, verbose;
    tm_gen *gen;                /* start-up generation, owned until installed */
    uid_t uid;                  /* target user/group when root */
    gid_t gid;
    int change_user;
    char *sock_path;            /* UNIX socket path (copy) or NULL */
    struct stat sock_st;        /* our socket's identity, to remove only ours */
    int have_sock_st;
    char *pidfile;              /* effective PidFile (copy), "" = none */
    int pid_written;
    int ready_fd;               /* pipe to the parent waiting for "ready", or -1 */
} tm_run;

/* Resolve User/Group for a root start (they were checked already). 0 or -1. */
int tm_resolve_user(tm_run *run);
/* Register with libmilter and open the listening socket (as root). 0 or -1 (logged). */
int tm_open_socket(tm_run *run);
/* Fork into the background: the parent waits for tm_ready and exits 0, or 1 when the
   child ends first. The child keeps stderr until it is ready. 0 or -1. */
int tm_daemonize(tm_run *run);
/* Write the PidFile, if any. 0 or -1 (logged). */
int tm_write_pidfile(tm_run *run);
/* Become User/Group for good (root start). 0 or -1 (logged). */
int tm_drop_privileges(tm_run *run);
/* Start-up is complete: release the waiting parent, tell the service manager, let go
   of stderr (unless lines are logged there). */
void tm_ready(tm_run *run);
/* Remove the PidFile and our UNIX socket (only if it is still the one we made). */
void tm_cleanup_files(tm_run *run);

#endif
