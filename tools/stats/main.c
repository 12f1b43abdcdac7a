/*
 * main.c - tlsrpt-stats: read the TLS-RPT counters from memcached and print
 * the daily trend, failure distribution, result-type clustering, MTA-STS
 * enforce readiness and silent reporters per domain as text, JSON,
 * Prometheus exposition or one HTML page.
 *
 *   tlsrpt-stats [-c FILE] [--servers LIST] [--prefix P] [--days N]
 *                [--today YYYY-MM-DD] [--format text|json|prometheus|html]
 *                [-o FILE] [-v] [DOMAIN...]
 *
 * -o FILE writes to a temporary file in FILE's directory and renames it over
 * FILE only when everything was written (for node_exporter's textfile
 * collector). Exit statuses: see enum ts_exit in stats.h and usage() below.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "stats.h"
#include "config.h"

/* Command-line settings. */
typedef struct opts {
    char *servers, *prefix, *output, *conf, *archive_dir;
    const char *format, *today;
    int days, verbose;
} opts;

/* Print the usage text to f. */
static void usage(FILE *f)
{
    fputs("usage: tlsrpt-stats [-c FILE] [--servers LIST] [--prefix P] [--days N]\n"
          "                    [--today YYYY-MM-DD] [--format text|json|prometheus|html]\n"
          "                    [-o FILE] [-v] [DOMAIN...]\n"
          "  -c, --config FILE   MemcachedServers and KeyPrefix of the milter's FILE\n"
          "  -s, --servers LIST  memcached servers host:port[,host:port] (127.0.0.1:11211)\n"
          "  -p, --prefix P      key prefix (tlsrpt:)\n"
          "  -d, --days N        window length in days, 1-366 (30)\n"
          "  -t, --today DAY     last day of the window (today, UTC)\n"
          "  -f, --format F      text, json, prometheus or html (text)\n"
          "  -o, --output FILE   write FILE atomically instead of standard output\n"
          "  -v, --verbose       print keys read and round trips to standard error\n"
          "exit: 0 ok (malformed counters are skipped with a warning), 1 usage/config,\n"
          "      2 memcached unreachable, 3 no data, 5 internal/output error\n", f);
}

/* Read the milter configuration with the milter's own reader (config/): a file the
   milter refuses is refused here with the same "FILE:LINE: ..." lines on stderr.
   Takes MemcachedServers and KeyPrefix from it. Returns TS_EXIT_OK or TS_EXIT_USAGE. */
static int read_config(const char *path, opts *o)
{
    char err[8192];
    tm_config cfg;
    if (tm_config_init(&cfg) != 0) {
        fputs("tlsrpt-stats: out of memory\n", stderr);
        return TS_EXIT_USAGE;
    }
    int nerr = tm_config_load(&cfg, path, err, sizeof err);
    if (nerr) {
        fputs(err, stderr);
        fprintf(stderr, "tlsrpt-stats: %d error(s) in %s (check it with tlsrpt-milter -n -c)\n",
                nerr, path);
    } else {
        free(o->servers);
        free(o->prefix);
        o->servers = ts_xstrdup(cfg.memcached_servers);
        o->prefix = ts_xstrdup(cfg.key_prefix);
        free(o->conf);
        o->conf = ts_xstrdup(path);
        free(o->archive_dir);
        o->archive_dir = cfg.archive_dir[0] ? ts_xstrdup(cfg.archive_dir) : NULL;
    }
    tm_config_free(&cfg);
    return nerr ? TS_EXIT_USAGE : TS_EXIT_OK;
}

/* Fail with a usage error. */
static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tlsrpt-stats: %s%s%s (see tlsrpt-stats --help)\n", msg, arg ? ": " : "",
            arg ? arg : "");
    return TS_EXIT_USAGE;
}

/* Parse the options into o; returns TS_EXIT_OK, or an exit status (-1: --help done). */
static int parse_opts(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        { "config", required_argument, 0, 'c' }, { "servers", required_argument, 0, 's' },
        { "prefix", required_argument, 0, 'p' }, { "days", required_argument, 0, 'd' },
        { "today", required_argument, 0, 't' }, { "format", required_argument, 0, 'f' },
        { "output", required_argument, 0, 'o' }, { "verbose", no_argument, 0, 'v' },
        { "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
    };
    char *servers = NULL, *prefix = NULL, *end;
    int c;
    long n;

    while ((c = getopt_long(argc, argv, "c:s:p:d:t:f:o:vhV", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (read_config(optarg, o) != TS_EXIT_OK)
                return TS_EXIT_USAGE;
            break;
        case 's': servers = optarg; break;
        case 'p': prefix = optarg; break;
        case 'd':
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno || *end || n < 1 || n > TS_MAX_DAYS)
                return usage_error("--days wants a number from 1 to 366", optarg);
            o->days = (int)n;
            break;
        case 't': o->today = optarg; break;
        case 'f': o->format = optarg; break;
        case 'o': o->output = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return -1;
        case 'V': puts("tlsrpt-stats " TS_VERSION); return -1;
        default: return usage_error("bad option", NULL);
        }
    }
    if (servers) {                      /* command line wins over the config file */
        free(o->servers);
        o->servers = ts_xstrdup(servers);
    }
    if (prefix) {
        free(o->prefix);
        o->prefix = ts_xstrdup(prefix);
    }
    if (strcmp(o->format, "text") && strcmp(o->format, "json") &&
        strcmp(o->format, "prometheus") && strcmp(o->format, "html"))
        return usage_error("unknown --format", o->format);
    return TS_EXIT_OK;
}

/* Add the domains named on the command line to r. */
static int add_named_domains(ts_report *r, int argc, char **argv)
{
    char norm[256], enc[TLSRPT_KEY_MAX + 1];
    ts_err e;
    int i;

    for (i = 0; i < argc; i++) {
        if (strlen(argv[i]) >= sizeof(norm))
            return usage_error("domain name too long", NULL);
        if (tlsrpt_store_normalize_domain(argv[i], norm, sizeof(norm)) != 0)
            return usage_error("bad domain name", argv[i]);
        if (tlsrpt_key_component(enc, sizeof(enc), norm) < 0)
            return usage_error("domain name too long", NULL);
        if (ts_report_add_domain(r, enc, NULL, 1, &e) < 0)
            return usage_error(e.msg, NULL);
    }
    return TS_EXIT_OK;
}

/* Print the report in the chosen format to f; 0 or -1. */
static int print_report(FILE *f, const char *format, const ts_report *r)
{
    if (strcmp(format, "json") == 0)
        return ts_out_json(f, r);
    if (strcmp(format, "prometheus") == 0)
        return ts_out_prom(f, r);
    if (strcmp(format, "html") == 0)
        return ts_out_html(f, r);
    return ts_out_text(f, r);
}

/* Write the report to path through a temporary file and rename(2). */
static int write_atomic(const char *path, const char *format, const ts_report *r)
{
    size_t n = strlen(path) + 32;
    char *tmp = ts_xmalloc(n);
    FILE *f;
    int fd, rc = -1;

    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "tlsrpt-stats: %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(tmp);
        return TS_EXIT_INTERNAL;
    }
    if (print_report(f, format, r) == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0)
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc < 0) {
        fprintf(stderr, "tlsrpt-stats: writing %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc < 0 ? TS_EXIT_INTERNAL : TS_EXIT_OK;
}

/* Read everything (and ask about loss); 0 or -1 with e. */
static int read_all(const tlsrpt_store_conf *sc, void *memc, ts_report *r, int all_domains,
                    ts_err *e)
{
    char err[256];
    tlsrpt_store *st = tlsrpt_store_new(sc, err, sizeof err);
    tlsrpt_loss *loss = ts_xmalloc(sizeof *loss);
    int asked = st && ts_loss_ask(st, loss) == 0;
    int rc = ts_fetch(memc, r, all_domains, e);

    ts_loss_judge(loss, asked, r->ndom > 0 && (rc == 0 || e->code != TS_EXIT_NODATA), r);
    /* The third sign of loss (issue 10.4): the archive holds reports the counters lack.
       No archive yet (ArchiveDir unset, the directory or its archive-id not made yet: the
       package makes the directory, the milter's first start the id): nothing to compare. */
    struct stat sb;
    char idfile[4200];
    snprintf(idfile, sizeof idfile, "%s/archive-id", r->archive_dir ? r->archive_dir : "");
    if (asked && r->archive_dir && (rc == 0 || e->code == TS_EXIT_NODATA) &&
        (stat(idfile, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR)) &&
        ts_archive_compare(memc, r->archive_dir, r, err, sizeof err) < 0)
        fprintf(stderr, "tlsrpt-stats: warning: the archive was not compared with the counters: "
                "%s\n", err);
    if (rc < 0 && r->loss.why) {
        char cmd[512];
        size_t n = strlen(e->msg);
        snprintf(e->msg + n, sizeof e->msg - n, "; counters were lost: %s; rebuild them with: %s",
                 r->loss.text, ts_rebuild_cmd(r, NULL, cmd, sizeof cmd));
    }
    free(loss);
    tlsrpt_store_free(st);
    return rc;
}

/* Connect, read, analyze and print; returns the exit status. */
static int run(opts *o, int argc, char **argv)
{
    tlsrpt_store_conf sc;
    ts_report r;
    ts_err e = { 0, "" };
    time_t today = time(NULL);
    char errbuf[256] = "";
    memcached_st *m;
    int rc;

    if (o->today && ts_parse_day(o->today, &today) < 0)
        return usage_error("--today wants YYYY-MM-DD", o->today);
    if (ts_report_init(&r, o->days, today, o->prefix, &e) < 0)
        return usage_error(e.msg, NULL);
    r.conf = o->conf;
    r.archive_dir = o->archive_dir;
    if ((rc = add_named_domains(&r, argc, argv)) != TS_EXIT_OK) {
        ts_report_free(&r);
        return rc;
    }
    memset(&sc, 0, sizeof(sc));
    sc.servers = o->servers;
    sc.prefix = o->prefix;
    m = tlsrpt_store_memc_new(&sc, errbuf, sizeof(errbuf));
    if (!m) {                   /* store/memc.c: a parsed list that fails to answer */
        ts_report_free(&r);
        if (strncmp(errbuf, "cannot reach", 12) == 0) {
            fprintf(stderr, "tlsrpt-stats: memcached unreachable: %s\n", errbuf);
            return TS_EXIT_UNREACHABLE;
        }
        return usage_error("bad memcached servers", errbuf[0] ? errbuf : o->servers);
    }
    rc = read_all(&sc, m, &r, argc == 0, &e);
    memcached_free(m);
    if (o->verbose)
        fprintf(stderr, "tlsrpt-stats: %zu keys in %u round trips\n", r.keys, r.round_trips);
    if (rc < 0) {
        fprintf(stderr, "tlsrpt-stats: %s\n", e.msg);
        ts_report_free(&r);
        return e.code;
    }
    if (r.loss.why)
        fprintf(stderr, "tlsrpt-stats: warning: counters were lost: %s; rebuild them with: "
                "tlsrpt-parse --rebuild -c %s\n", r.loss.text,
                r.conf ? r.conf : "/etc/tlsrpt-milter.conf");
    if (r.nbad)
        fprintf(stderr, "tlsrpt-stats: warning: %zu malformed counter(s) skipped; the report "
                "is complete otherwise\n", r.nbad);
    ts_analyze(&r);
    if (o->output)
        rc = write_atomic(o->output, o->format, &r);
    else if (print_report(stdout, o->format, &r) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "tlsrpt-stats: writing output: %s\n", strerror(errno));
        rc = TS_EXIT_INTERNAL;
    }
    ts_report_free(&r);
    return rc;
}

/* Parse the options, apply the defaults, run; the exit status is the result. */
int main(int argc, char **argv)
{
    opts o = { NULL, NULL, NULL, NULL, NULL, "text", NULL, 30, 0 };
    int rc = parse_opts(argc, argv, &o);

    if (rc == TS_EXIT_OK) {
        if (!o.servers)
            o.servers = ts_xstrdup("127.0.0.1:11211");
        if (!o.prefix)
            o.prefix = ts_xstrdup("tlsrpt:");
        rc = run(&o, argc - optind, argv + optind);
    } else if (rc < 0)
        rc = TS_EXIT_OK;
    free(o.servers);
    free(o.prefix);
    free(o.archive_dir);
    free(o.conf);
    return rc;
}
