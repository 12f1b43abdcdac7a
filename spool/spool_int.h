/*
 * spool_int.h - internals shared by the spool's files (not for callers).
 *
 * struct tlsrpt_spool holds descriptors of DIR, DIR/tmp and DIR/pending,
 * open for the spool's life and only read after open, so any thread may use
 * them with the *at() calls; the sequence counter is atomic. Nothing else
 * is shared between threads.
 */
#ifndef TLSRPT_SPOOL_INT_H
#define TLSRPT_SPOOL_INT_H

#include <stdatomic.h>
#include <stdarg.h>
#include <sys/types.h>
#include "spool.h"

#define SP_DIR_MODE 0750
#define SP_FILE_MODE 0640
#define SP_META_FILE_MAX (2u * 1024 * 1024)   /* a meta file longer than this is malformed */
#define SP_KEY_MAX 32
#define SP_NAME_MAX (TLSRPT_SPOOL_ID_MAX + 32) /* a file name inside the archive */

struct tlsrpt_spool {
    char *dir;                      /* as given to open */
    int flags;
    int level;                      /* gzip level */
    int rootfd, tmpfd, pendfd;      /* DIR, DIR/tmp, DIR/pending (-1 when absent, read-only use) */
    char archive_id[TLSRPT_SPOOL_ARCHIVE_ID_MAX];
    atomic_ulong seq;               /* last sequence number handed out */
    pid_t pid;                      /* getpid() at open (ids) */
    tlsrpt_spool_note_fn *note;
    void *note_arg;
};

/* Format "archive DIR: " + fmt into err (when err is given); returns -1. */
int sp_err(const tlsrpt_spool *sp, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* As sp_err, with ": strerror(e)" appended. */
int sp_errno(const tlsrpt_spool *sp, char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Tell the note callback (if any) about event on path. */
void sp_note(const tlsrpt_spool *sp, const char *event, const char *path);
/* Write all of buf to fd (EINTR, short writes); 0 or -1 with errno. */
int sp_write_all(int fd, const void *buf, size_t len);
/* Read a whole small file at dirfd/name into a malloc'd NUL-terminated buffer (at most
   max bytes, else EFBIG); NULL with errno. */
char *sp_read_small(int dirfd, const char *name, size_t max, size_t *len);
/* fsync fd unless the spool is NOSYNC (datasync: fdatasync); 0 or -1 with errno. */
int sp_sync(const tlsrpt_spool *sp, int fd, int datasync);
/* Parse the pid of a valid id (0 when not valid). */
pid_t sp_id_pid(const char *id);
/* 1 when a file of entry id may belong to a writer still at work in another process
   (or this one: never, recover runs before our writers). */
int sp_id_live(const tlsrpt_spool *sp, const char *id);
/* Name "ID.SUFFIX" into out (SP_NAME_MAX); -1 when it does not fit. */
int sp_name(char *out, const char *id, const char *suffix);
/* Read the meta file dirfd/name and check it belongs to entry id. NULL + err (errno set:
   ENOENT when the file is missing, EINVAL when malformed). */
tlsrpt_spool_meta *sp_meta_load(const tlsrpt_spool *sp, int dirfd, const char *name,
                                const char *id, char *err, size_t errlen);

/* Pending files: "ID.new" etc. Parse a name: state (> 0) and id copied, or -1. */
int sp_pending_parse(const char *name, char id[TLSRPT_SPOOL_ID_MAX]);
/* The pending file name of (id, state). */
int sp_pending_name(char *out, const char *id, int state);
/* The names in a directory (filtered by keep(name) != 0), unsorted. */
typedef struct sp_names {
    char **v;
    size_t n, cap;
} sp_names;
int sp_list_dir(int dirfd, int (*keep)(const char *name), sp_names *out);
void sp_names_free(sp_names *l);
/* qsort of n strings that accepts n == 0 (and v NULL). */
void sp_sort(char **v, size_t n, int (*cmp)(const void *, const void *));
/* A file name whose leading id was parsed once, for sorting many names fast. */
typedef struct sp_key {
    char *name;                 /* starts with the id (belongs to a name list) */
    size_t alen;                /* length of the archive id at name + 17 */
    unsigned long long pid, seq;
    int state;                  /* a pending file's state; 0 for an entry */
} sp_key;
/* Fill k for name, whose id is id (NUL-terminated); -1 when id is not valid. */
int sp_key_make(sp_key *k, char *name, const char *id, int state);
/* qsort: id order (as tlsrpt_spool_id_cmp), then the most advanced state first. */
int sp_key_cmp(const void *a, const void *b);
/* 1 when two keys name the same id. */
int sp_key_same_id(const sp_key *a, const sp_key *b);
/* The pending files parsed and sorted by sp_key_cmp (names in *l). Caller frees *keys
   and l. 0, or -1 with errno. */
int sp_pending_keys(tlsrpt_spool *sp, sp_names *l, sp_key **keys, size_t *n);

/* Arrival-day directory names "YYYY-MM-DD" (1 when s is one). */
int sp_is_day(const char *s);

/* Test hook: called at each step of a commit with the step's name (NULL: none). */
extern void (*tlsrpt_spool_test_hook)(const char *point);
#define SP_HOOK(p) do { if (tlsrpt_spool_test_hook) tlsrpt_spool_test_hook(p); } while (0)

#endif
