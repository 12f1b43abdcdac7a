/*
 * notify.h - tell the service manager how the daemon is doing, with the
 * sd_notify(3) protocol: one datagram ("READY=1", "RELOADING=1",
 * "STOPPING=1") to the socket named by $NOTIFY_SOCKET (systemd's
 * Type=notify; start-stop-daemon --notify-await speaks it too). Nothing
 * happens when the variable is unset. A start failure needs no message:
 * the process exits non-zero before READY=1.
 */
#ifndef TM_NOTIFY_H
#define TM_NOTIFY_H

/* Send one state line; errors are ignored (the manager then times out). */
void tm_notify(const char *state);

#endif
