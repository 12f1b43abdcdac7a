/*
 * msgfile.h - load a mail file (.eml) for the milter test driver: split it
 * into header fields (name, value) and a body converted to CRLF line ends,
 * the way Postfix hands them to a milter.
 *
 * Limits: MSG_MAX_FILE bytes per file, MSG_MAX_HEADERS header fields.
 * Errors: msgfile_load returns -1 with a message in err.
 */
#ifndef MSGFILE_H
#define MSGFILE_H

#include <stddef.h>

#define MSG_MAX_FILE (64u * 1024u * 1024u)
#define MSG_MAX_HEADERS 10000

/* One header field; value is everything after the colon (leading space kept),
   folded lines joined with "\n" (CR removed), as Postfix stores them. */
typedef struct msg_header {
    char *name;
    char *value;
} msg_header;

/* A loaded message; read-only after msgfile_load, shared by all threads. */
typedef struct msgfile {
    char *path;
    msg_header *hdrs;
    size_t nhdrs;
    unsigned char *body;    /* CRLF line ends */
    size_t bodylen;
} msgfile;

/* Load and split path; 0 or -1. */
int msgfile_load(msgfile *m, const char *path, char *err, size_t errlen);
/* Free everything msgfile_load allocated. */
void msgfile_free(msgfile *m);

#endif
