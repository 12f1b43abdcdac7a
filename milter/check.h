/*
 * check.h - what a start needs from this machine, checked before anything
 * is opened: by tlsrpt-milter -n and at every start, with the same messages.
 *
 *   - User and Group exist (when not empty);
 *   - a UNIX Socket's directory exists, is a directory, every directory above
 *     it can be searched, and it is writable and searchable by the identity
 *     the milter will run as (User/Group and User's groups when started as
 *     root, else the current uid/gid/groups) -- judged from owner, group and
 *     mode bits, not access(2), which would answer for root; ACLs are not
 *     read; a read-only file system is an error;
 *   - PidFile's directory exists and is writable by the one who writes it
 *     (root when started as root: always; else the current user);
 *   - ArchiveDir (when set) is such a writable directory (and its tmp/ and
 *     pending/ when they exist), or does not exist yet and its parent is one
 *     (the milter creates it at start);
 *   - with Authentication dkim: DkimKeyFile (when set) is a regular file that
 *     the milter's identity can reach and read, and the DKIM library starts
 *     with the configuration (the key file parses, the public suffix list is
 *     there) -- so a reload after the user change reads it too.
 * Every error is "FILE:LINE: Key: ..." (tm_config_errorf) appended to err.
 */
#ifndef TM_CHECK_H
#define TM_CHECK_H

#include <stddef.h>
#include "config.h"

/* Run every check; returns the number of errors (0 = fine). */
int tm_check_system(const tm_config *cfg, char *err, size_t errlen);

#endif
