/*
 * main.c - tlsrpt-parse: decode TLS-RPT report mails (.eml), bare reports
 * (.json, .json.gz) and Maildir folders with the streaming decoder, and
 * print them as normalized JSON (default) or the oracle's TSV (--tsv), or
 * count them into memcached (--push), or recount the counters from the
 * archive (--rebuild, rebuild.c).
 *
 * Exit status: 0 every input gave a report (and, with --push, was counted
 * or already counted), 1 any input was rejected or not counted, 2 usage;
 * --rebuild has its own (rebuild.h).
 * Inputs are read in 64 KiB chunks with read(2); "-" is stdin. A directory is read as a
 * Maildir (cur/ and new/) when it has those, else every regular file in it,
 * in name order.
 */
#include "parse.h"
#include "rebuild.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OUT_JSON, OUT_TSV, OUT_PUSH };

struct opts {
    int out;
    tlsrpt_limits lim;
    push_ctx *push;
    int rejected;
};

/* Print usage. */
static void usage(FILE *f)
{
    fprintf(f,
        "usage: tlsrpt-parse [--json | --tsv | --push [-c FILE] [--servers LIST] [--prefix P]]\n"
        "                    [--max-report-bytes N] FILE|DIR|- ...\n"
        "       tlsrpt-parse --rebuild -c FILE [--day YYYY-MM-DD] [--force] [--verbose]\n"
        "                    [--threads N] [--servers LIST] [--prefix P] [ARCHIVEDIR...]\n"
        "  --json      normalized report as JSON, one object per input and line (default)\n"
        "  --tsv       one TSV line per input, the format of the corpus oracle\n"
        "  --push      count the reports into memcached like the milter (dedup: replay is safe)\n"
        "  -c FILE     milter config for --push (MemcachedServers, KeyPrefix, TTLs, limits)\n"
        "  --rebuild   recount every counter from the archive(s) (default: the config's\n"
        "              ArchiveDir; several = several MX hosts) and replace memcached's keys\n"
        "  --day D     only report day D; refused when other hosts counted into it, unless --force\n"
        "exit: 0 all inputs gave a report, 1 some were rejected or not counted, 2 usage\n"
        "--rebuild exit: 0 rebuilt, 1 damaged entries (nothing written; --force skips them),\n"
        "  2 usage or config, 3 memcached, 4 archive unreadable, 5 refused (other hosts)\n");
}

/* Decode one open file descriptor, read in 64 KiB chunks. */
static int decode_fd(int fd, const tlsrpt_limits *lim, tlsrpt_report **out, char *err, size_t errlen)
{
    static char buf[65536];
    tlsrpt_decoder *d = tlsrpt_decoder_new(lim, TLSRPT_MODE_AUTO);
    ssize_t n;
    int rc = TLSRPT_OK;
    *out = NULL;
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return TLSRPT_ERR_NOMEM;
    }
    while (rc == TLSRPT_OK && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            rc = tlsrpt_feed(d, buf, (size_t)n);
    if (rc == TLSRPT_OK && n < 0) {
        snprintf(err, errlen, "read error: %s", strerror(errno));
        tlsrpt_decoder_free(d);
        return TLSRPT_ERR_USAGE;
    }
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    if (rc == TLSRPT_OK)
        *out = tlsrpt_take_result(d);
    else
        snprintf(err, errlen, "%s", tlsrpt_errstr(d));
    tlsrpt_decoder_free(d);
    return rc;
}

/* Decode one file and emit its output. */
static void do_file(struct opts *o, const char *path)
{
    char err[512] = "";
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    tlsrpt_report *r = NULL;
    int rc;
    if (fd < 0) {
        snprintf(err, sizeof err, "cannot open: %s", strerror(errno));
        rc = TLSRPT_ERR_USAGE;
    } else {
        rc = decode_fd(fd, &o->lim, &r, err, sizeof err);
        if (fd != 0)
            close(fd);
    }
    if (rc != TLSRPT_OK)
        o->rejected = 1;
    if (o->out == OUT_TSV)
        out_tsv(stdout, name, r, err);
    else if (o->out == OUT_JSON)
        out_json(stdout, name, r, rc, err);
    else if (r)
        o->rejected |= push_report(o->push, path, r);
    else
        printf("%s: not counted: reason=%s (%s)\n", path, tlsrpt_reason(rc), err);
    tlsrpt_report_free(r);
}

/* Sort helper for directory entries. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decode every regular file of a directory, in name order. */
static void do_plain_dir(struct opts *o, const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!dh) {
        fprintf(stderr, "tlsrpt-parse: %s: %s\n", dir, strerror(errno));
        o->rejected = 1;
        return;
    }
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.' || (e->d_type != DT_REG && e->d_type != DT_UNKNOWN &&
                                    e->d_type != DT_LNK))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        if (asprintf(&names[n], "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name) >= 0)
            n++;
    }
    closedir(dh);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        do_file(o, names[i]);                   /* not regular: open/read says so */
        free(names[i]);
    }
    free(names);
}

/* A file, "-", a Maildir or a plain directory. */
static void do_path(struct opts *o, const char *path)
{
    struct stat st;
    char sub[4096];
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        do_file(o, path);
        return;
    }
    snprintf(sub, sizeof sub, "%s/cur", path);
    if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
        do_plain_dir(o, sub);
        snprintf(sub, sizeof sub, "%s/new", path);
        do_plain_dir(o, sub);
    } else {
        do_plain_dir(o, path);
    }
}

/* Check the --rebuild options; 0, or 1 after saying what is wrong. */
static int rebuild_args(int rebuild, const char *conf, const char *day, int threads)
{
    struct tm tm;
    char back[11];
    const char *end;
    if (!rebuild) {
        fprintf(stderr, "tlsrpt-parse: --day and --force go with --rebuild\n");
        return 1;
    }
    if (!conf) {
        fprintf(stderr, "tlsrpt-parse: --rebuild needs -c CONF (the milter's configuration)\n");
        return 1;
    }
    memset(&tm, 0, sizeof tm);
    if (day && (strlen(day) != 10 || !(end = strptime(day, "%Y-%m-%d", &tm)) || *end ||
                strftime(back, sizeof back, "%Y-%m-%d", &tm) != 10 || strcmp(back, day) != 0 ||
                (timegm(&tm), strftime(back, sizeof back, "%Y-%m-%d", &tm), strcmp(back, day) != 0))) {
        fprintf(stderr, "tlsrpt-parse: --day %s: not a day (YYYY-MM-DD)\n", day);
        return 1;
    }
    if (threads < 1 || threads > 16) {
        fprintf(stderr, "tlsrpt-parse: --threads: 1 to 16\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "json", no_argument, 0, 'j' }, { "tsv", no_argument, 0, 't' },
        { "push", no_argument, 0, 'p' }, { "servers", required_argument, 0, 's' },
        { "prefix", required_argument, 0, 'P' }, { "help", no_argument, 0, 'h' },
        { "max-report-bytes", required_argument, 0, 'R' }, { "version", no_argument, 0, 'V' },
        { "rebuild", no_argument, 0, 'B' }, { "day", required_argument, 0, 'D' },
        { "force", no_argument, 0, 'F' }, { "verbose", no_argument, 0, 'v' },
        { "threads", required_argument, 0, 'T' },
        { 0, 0, 0, 0 }
    };
    struct opts o = { .out = OUT_JSON };
    const char *conf = NULL, *servers = NULL, *prefix = NULL, *day = NULL;
    size_t max_report = 0;
    int c, rebuild = 0, force = 0, verbose = 0, threads = 2;
    while ((c = getopt_long(argc, argv, "c:hVv", lopts, NULL)) != -1) {
        switch (c) {
        case 'j': o.out = OUT_JSON; break;
        case 't': o.out = OUT_TSV; break;
        case 'p': o.out = OUT_PUSH; break;
        case 'c': conf = optarg; break;
        case 's': servers = optarg; break;
        case 'P': prefix = optarg; break;
        case 'R': max_report = strtoull(optarg, NULL, 10); break;
        case 'B': rebuild = 1; break;
        case 'D': day = optarg; break;
        case 'F': force = 1; break;
        case 'v': verbose = 1; break;
        case 'T': threads = atoi(optarg); break;
        case 'V': printf("tlsrpt-parse %s\n", TLSRPT_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (rebuild || day || force)
        return rebuild_args(rebuild, conf, day, threads) ? 2
               : rebuild_main(conf, servers, prefix, day, force, verbose, threads,
                              argv + optind, argc - optind);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    tlsrpt_limits_default(&o.lim);
    if (o.out == OUT_PUSH && !(o.push = push_open(conf, servers, prefix, &o.lim)))
        return 2;
    if (max_report)
        o.lim.max_report_bytes = max_report;
    if (o.out == OUT_TSV)
        out_tsv_header(stdout);
    for (int i = optind; i < argc; i++)
        do_path(&o, argv[i]);
    push_close(o.push);
    return o.rejected ? 1 : 0;
}
