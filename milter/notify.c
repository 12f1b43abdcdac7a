/*
 * notify.c - sd_notify(3) by hand (see notify.h): one sendto() of a
 * datagram to $NOTIFY_SOCKET, a path or an abstract name ("@name").
 * Hand-written rather than linking libsystemd: a dozen lines of a stable,
 * documented protocol, and the SysV start needs no systemd library.
 * Limits: a socket name longer than sun_path is ignored.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "notify.h"

/* Send state to the service manager, if there is one. */
void tm_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
        return;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = 0;                 /* abstract name */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0) {
        /* the manager will time out and say so */
    }
    close(fd);
}
