/*
 * check.c - the machine checks of tlsrpt-milter -n and of every start (see check.h).
 *
 * Limits: at most TM_CHECK_GROUPS supplementary groups are considered; a
 * path component longer than PATH_MAX is reported as not reachable.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "check.h"

#define TM_CHECK_GROUPS 256

/* Who the milter will be once running. */
typedef struct ident {
    uid_t uid;
    gid_t gid;
    gid_t groups[TM_CHECK_GROUPS];
    int ngroups;
    char name[64];              /* "user tlsrpt-milter (uid 107)" for messages */
} ident;

/* Is g one of id's groups? */
static int in_groups(const ident *id, gid_t g)
{
    if (g == id->gid)
        return 1;
    for (int i = 0; i < id->ngroups; i++)
        if (id->groups[i] == g)
            return 1;
    return 0;
}

/* May id do bits (4 r, 2 w, 1 x) on a file with st's owner and mode? Root may. */
static int may(const ident *id, const struct stat *st, unsigned bits)
{
    if (id->uid == 0)
        return 1;
    unsigned shift = st->st_uid == id->uid ? 6 : in_groups(id, st->st_gid) ? 3 : 0;
    return ((st->st_mode >> shift) & bits) == bits;
}

/* The identity of the running milter; 0, or -1 when User/Group are unknown (reported). */
static int resolve(const tm_config *cfg, ident *id, char *err, size_t errlen, int *nerr)
{
    struct passwd *pw = cfg->user[0] ? getpwnam(cfg->user) : NULL;
    struct group *gr = cfg->group[0] ? getgrnam(cfg->group) : NULL;
    int bad = 0;
    if (cfg->user[0] && !pw)
        bad += tm_config_errorf(cfg, TM_K_USER, err, errlen, "User: unknown user '%.64s'",
                                cfg->user);
    if (cfg->group[0] && !gr)
        bad += tm_config_errorf(cfg, TM_K_GROUP, err, errlen, "Group: unknown group '%.64s'",
                                cfg->group);
    *nerr += bad;
    if (bad)
        return -1;
    memset(id, 0, sizeof *id);
    if (geteuid() == 0 && pw) {                 /* a root start becomes User/Group */
        id->uid = pw->pw_uid;
        id->gid = gr ? gr->gr_gid : pw->pw_gid;
        id->ngroups = TM_CHECK_GROUPS;
        if (getgrouplist(cfg->user, id->gid, id->groups, &id->ngroups) < 0)
            id->ngroups = TM_CHECK_GROUPS;
        snprintf(id->name, sizeof id->name, "user %.32s (uid %ld)", cfg->user, (long)id->uid);
        return 0;
    }
    id->uid = geteuid();
    id->gid = getegid();
    int n = getgroups(TM_CHECK_GROUPS, id->groups);
    id->ngroups = n > 0 ? n : 0;
    snprintf(id->name, sizeof id->name, "uid %ld", (long)id->uid);
    return 0;
}

/* Check that id can reach directory dir (search permission on every directory above
   it) and, with need_write, create and remove files in it. 0 fine, else one error. */
static int check_dir(const tm_config *cfg, int key, const ident *id, const char *dir,
                     int need_write, char *err, size_t errlen)
{
    const char *kn = tm_config_key_name(key);
    char path[PATH_MAX];
    struct stat st;
    struct statvfs vfs;
    if (strlen(dir) >= sizeof path)
        return tm_config_errorf(cfg, key, err, errlen, "%s: directory path too long", kn);
    for (size_t i = 1; dir[i]; i++) {           /* every directory above dir */
        if (dir[i] != '/')
            continue;
        memcpy(path, dir, i);
        path[i] = 0;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && !may(id, &st, 1))
            return tm_config_errorf(cfg, key, err, errlen, "%s: %s cannot reach %.200s "
                                    "(no search permission on %.200s, mode %04o)", kn,
                                    id->name, dir, path, (unsigned)(st.st_mode & 07777));
    }
    if (stat(dir, &st) != 0)
        return tm_config_errorf(cfg, key, err, errlen, "%s: directory %.200s: %s", kn, dir,
                                errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tm_config_errorf(cfg, key, err, errlen, "%s: %.200s is not a directory", kn, dir);
    if (need_write && statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        return tm_config_errorf(cfg, key, err, errlen, "%s: directory %.200s is on a "
                                "read-only file system", kn, dir);
    if (!may(id, &st, need_write ? 3 : 1))
        return tm_config_errorf(cfg, key, err, errlen, "%s: %s cannot %s %.200s (mode %04o, "
                                "owner uid %ld, group gid %ld)", kn, id->name,
                                need_write ? "create and remove files in" : "search",
                                dir, (unsigned)(st.st_mode & 07777), (long)st.st_uid,
                                (long)st.st_gid);
    return 0;
}

/* The directory part of an absolute path ("/" for "/x"), into out. */
static void dir_of(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

/* Authentication dkim: DkimKeyFile readable by id (NULL: unknown, not judged), and the
   DKIM library starts with this configuration (the key file parses). 0 or one error. */
static int check_auth(const tm_config *cfg, const ident *id, char *err, size_t errlen)
{
    const char *kf = cfg->dkim_key_file;
    char dir[PATH_MAX], aerr[512] = "";
    struct stat st;
    if (kf[0] && id) {
        dir_of(kf, dir, sizeof dir);
        if (check_dir(cfg, TM_K_DKIM_KEY_FILE, id, dir, 0, err, errlen))
            return 1;
        if (stat(kf, &st) == 0 && !S_ISREG(st.st_mode))
            return tm_config_errorf(cfg, TM_K_DKIM_KEY_FILE, err, errlen, "DkimKeyFile: "
                                    "%.200s is not a regular file", kf);
        if (stat(kf, &st) == 0 && !may(id, &st, 4))
            return tm_config_errorf(cfg, TM_K_DKIM_KEY_FILE, err, errlen, "DkimKeyFile: %s "
                                    "cannot read %.200s (mode %04o, owner uid %ld, group gid %ld)",
                                    id->name, kf, (unsigned)(st.st_mode & 07777),
                                    (long)st.st_uid, (long)st.st_gid);
    }
    tlsrpt_auth_conf ac;
    tm_config_auth_conf(cfg, &ac);
    tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&ac, aerr, sizeof aerr);
    if (!lib) {
        int key = tm_config_auth_key(cfg);
        return tm_config_errorf(cfg, key, err, errlen, "%s: %s", tm_config_key_name(key), aerr);
    }
    tlsrpt_auth_lib_free(lib);
    return 0;
}

/* ArchiveDir: the directory (and its tmp/ and pending/ when they exist) writable by id,
   or, when it does not exist yet, its parent (the milter makes it at start). 0 or 1. */
static int check_archive(const tm_config *cfg, const ident *id, char *err, size_t errlen)
{
    const char *dir = cfg->archive_dir;
    char sub[PATH_MAX], parent[PATH_MAX];
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        dir_of(dir, parent, sizeof parent);
        return check_dir(cfg, TM_K_ARCHIVE_DIR, id, parent, 1, err, errlen);
    }
    if (check_dir(cfg, TM_K_ARCHIVE_DIR, id, dir, 1, err, errlen))
        return 1;
    static const char *const subs[] = { "tmp", "pending" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[i]);
        if (stat(sub, &st) == 0 && check_dir(cfg, TM_K_ARCHIVE_DIR, id, sub, 1, err, errlen))
            return 1;
    }
    return 0;
}

/* Every check of check.h. */
int tm_check_system(const tm_config *cfg, char *err, size_t errlen)
{
    int nerr = 0;
    ident id, me;
    char dir[PATH_MAX];
    const char *sock = tm_socket_path(cfg->socket);
    int known = resolve(cfg, &id, err, errlen, &nerr) == 0;
    if (known && sock) {
        dir_of(sock, dir, sizeof dir);
        nerr += check_dir(cfg, TM_K_SOCKET, &id, dir, 1, err, errlen);
    }
    if (known && cfg->archive_dir[0])
        nerr += check_archive(cfg, &id, err, errlen);
    if (cfg->authentication == TM_AUTH_DKIM)
        nerr += check_auth(cfg, known ? &id : NULL, err, errlen);
    if (cfg->pidfile[0]) {
        memset(&me, 0, sizeof me);
        me.uid = geteuid();
        me.gid = getegid();
        int n = getgroups(TM_CHECK_GROUPS, me.groups);
        me.ngroups = n > 0 ? n : 0;
        snprintf(me.name, sizeof me.name, "uid %ld", (long)me.uid);
        dir_of(cfg->pidfile, dir, sizeof dir);
        nerr += check_dir(cfg, TM_K_PIDFILE, &me, dir, 1, err, errlen);
    }
    return nerr;
}
