/*
 * control.h - signals of the running milter: SIGHUP reloads, SIGTERM and
 * SIGINT stop within a second without losing a mail. See control.c for how
 * libmilter's own signal handling is kept out of the way.
 *
 * Stop, from the signal on (t = 0):
 *   TM_STOP_DRAIN  new connections and new mails get a temporary failure;
 *                  mails in flight go on and finish as usual;
 *   TM_STOP_HURRY  from TM_STOP_GRACE_MS (or a second TERM/INT) a report
 *                  mail still in flight gets a temporary failure at its next
 *                  callback; one without report recipients is accepted;
 *   then           at TM_STOP_MAX_MS at the latest (at once when no mail is
 *                  in flight), the listening socket is closed and smfi_main
 *                  returns. A mail whose MTA sent nothing in the whole time
 *                  is logged with its queue id: its MTA applies its milter
 *                  default action when the connection closes.
 * Reload: the file is read into a new generation (gen.h); on any error the
 * old one stays and every error is logged as "FILE:LINE: ...". Socket,
 * User, Group, UMask, PidFile, LogTarget and ArchiveDir cannot change while running: a
 * change is logged as needing a restart and the running value stays.
 */
#ifndef TM_CONTROL_H
#define TM_CONTROL_H

#include "config.h"

enum tm_stop_phase { TM_STOP_NONE = 0, TM_STOP_DRAIN, TM_STOP_HURRY };

#define TM_STOP_GRACE_MS 500
#define TM_STOP_MAX_MS 700

/* In the main thread before any other thread exists (and before a fork): block
   SIGHUP/SIGTERM/SIGINT in every thread to come. 0, or -1 with errno. */
int tm_control_init(void);
/* Start the signal thread (after the fork, before smfi_main). conf_path is the file to
   re-read, pidfile_arg the -p value (or NULL) that wins over PidFile; started holds
   the values that need a restart (copied). 0 or -1. */
int tm_control_start(const char *conf_path, const char *pidfile_arg, const tm_config *started);
/* The current phase (any thread). */
int tm_stop_phase(void);
/* Main thread: smfi_main has returned (by our stop or by a failure). */
void tm_control_listener_ended(void);
/* Main thread: wait for the signal thread. Returns the signal that stopped the milter,
   or 0 when smfi_main ended on its own. */
int tm_control_join(void);

#endif
