/*
 * mproto.h - MTA side of the Sendmail/Postfix milter protocol (version 6),
 * packet level only: connect to a milter socket, send and receive packets.
 *
 * Packet format (both directions): 4-byte big-endian length N (counting the
 * command byte), 1 command byte, N-1 data bytes.
 *
 * Limits: a received packet over MP_MAX_PACKET bytes is a protocol error;
 * every read and write waits at most timeout_ms (poll), so nothing hangs.
 * Errors: functions return -1 and leave a message in the connection's err[].
 */
#ifndef MPROTO_H
#define MPROTO_H

#include <stddef.h>
#include <stdint.h>

#define MP_MAX_PACKET (1024u * 1024u)   /* largest reply we accept */
#define MP_MAX_BODY_CHUNK 65535u        /* libmilter refuses 65536 and more */

/* Commands, MTA -> filter (libmilter mfdef.h letters). */
#define SMFIC_ABORT   'A'
#define SMFIC_BODY    'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO   'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO    'H'
#define SMFIC_HEADER  'L'
#define SMFIC_MAIL    'M'
#define SMFIC_EOH     'N'
#define SMFIC_OPTNEG  'O'
#define SMFIC_QUIT    'Q'
#define SMFIC_RCPT    'R'
#define SMFIC_DATA    'T'

/* Protocol step flags (negotiated in OPTNEG). */
#define SMFIP_NOCONNECT 0x00000001u
#define SMFIP_NOHELO    0x00000002u
#define SMFIP_NOMAIL    0x00000004u
#define SMFIP_NORCPT    0x00000008u
#define SMFIP_NOBODY    0x00000010u
#define SMFIP_NOHDRS    0x00000020u
#define SMFIP_NOEOH     0x00000040u
#define SMFIP_NR_HDR    0x00000080u
#define SMFIP_NOUNKNOWN 0x00000100u
#define SMFIP_NODATA    0x00000200u
#define SMFIP_SKIP      0x00000400u
#define SMFIP_RCPT_REJ  0x00000800u
#define SMFIP_NR_CONN   0x00001000u
#define SMFIP_NR_HELO   0x00002000u
#define SMFIP_NR_MAIL   0x00004000u
#define SMFIP_NR_RCPT   0x00008000u
#define SMFIP_NR_DATA   0x00010000u
#define SMFIP_NR_UNKN   0x00020000u
#define SMFIP_NR_EOH    0x00040000u
#define SMFIP_NR_BODY   0x00080000u
#define SMFIP_HDR_LEADSPC 0x00100000u
#define SMFIP_ALL       0x001fffffu

#define SMFIF_ALL       0x000001ffu     /* every modification action */
#define SMFI_VERSION_MTA 6u

/* One open milter connection. */
typedef struct mp_conn {
    int fd;
    int timeout_ms;
    uint32_t version;           /* negotiated */
    uint32_t actions;           /* actions the filter asked for */
    uint32_t prot;              /* protocol flags the filter asked for */
    unsigned char *rbuf;        /* last received packet data (owned) */
    size_t rcap;
    char err[256];
} mp_conn;

/* Open a connection to "unix:/path", "local:/path" or "inet:port@host"; 0 or -1. */
int mp_connect(mp_conn *c, const char *spec, int timeout_ms);
/* Close the socket and free buffers. */
void mp_close(mp_conn *c);
/* Send one packet; 0 or -1. */
int mp_send(mp_conn *c, int cmd, const void *data, size_t len);
/* Receive one packet: *cmd, data in c->rbuf (NUL-terminated copy), *len; 0 or -1. */
int mp_recv(mp_conn *c, int *cmd, size_t *len);
/* Negotiate options (offer version 6, all actions, all steps; with no_leadspc every step
   but SMFIP_HDR_LEADSPC, like an MTA that strips the blank after a header's colon);
   0 or -1. */
int mp_optneg(mp_conn *c, int no_leadspc);

/* Growable byte buffer for building packet data; bounded by MP_MAX_PACKET. */
typedef struct mp_buf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} mp_buf;

/* Append bytes; sets oom and ignores the data when the bound is exceeded. */
void mp_buf_add(mp_buf *b, const void *data, size_t len);
/* Append a string including its NUL. */
void mp_buf_str(mp_buf *b, const char *s);
/* Append a big-endian 32-bit integer. */
void mp_buf_u32(mp_buf *b, uint32_t v);
/* Free the buffer's memory. */
void mp_buf_free(mp_buf *b);

#endif
