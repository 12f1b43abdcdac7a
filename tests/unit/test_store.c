/*
 * test_store.c - unit tests of store/: key encoding (no injection, 250-byte
 * rule, hashed marker), SHA-256 vectors, and counting against a real
 * memcached this test starts itself on 127.0.0.1 and a random free port
 * (killed at exit, on a signal, and by PR_SET_PDEATHSIG if we crash).
 * Reports are built by hand; only tlsrpt_normalize_domain comes from parser/.
 * Prints SKIP for the memcached part when no memcached binary is installed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "store.h"
#include "sha256.h"

static pid_t mc_pid, mc_pid2;       /* main memcached, second one (two-server test) */
static int mc_port;

/* ---------- key encoding and SHA-256 ---------- */

/* Hex digest of a buffer through the one-shot API. */
static void sha_hex(const void *d, size_t n, char out[65])
{
    unsigned char dig[32];
    tlsrpt_sha256(d, n, dig);
    tlsrpt_hex(out, dig, 32);
}

/* SHA-256 known-answer vectors, incl. padding boundaries and incremental feed. */
static void test_sha256(void)
{
    static const struct { size_t n_a; const char *hex; } va[] = {
        { 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
        { 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
        { 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
        { 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
        { 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
    };
    char hex[65], a[128], name[64];
    sha_hex("", 0, hex);
    T_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty");
    sha_hex("abc", 3, hex);
    T_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m, strlen(m), hex);
    T_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "sha256 448-bit");
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof va / sizeof va[0]; i++) {
        sha_hex(a, va[i].n_a, hex);
        snprintf(name, sizeof name, "sha256 %zu x 'a'", va[i].n_a);
        T_STREQ(hex, va[i].hex, name);
    }
    tlsrpt_sha256_ctx c;
    unsigned char dig[32];
    tlsrpt_sha256_init(&c);
    for (int i = 0; i < 1000000 / 125; i++)
        tlsrpt_sha256_update(&c, a, 125);       /* odd chunking across blocks */
    tlsrpt_sha256_final(&c, dig);
    tlsrpt_hex(hex, dig, 32);
    T_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "sha256 million a");
}

/* Component encoding: every byte, no separators or controls survive, round trip. */
static void test_component(void)
{
    char raw[256], enc[800], dec[300];
    int bad = 0, n;
    for (int i = 1; i < 256; i++)
        raw[i - 1] = (char)i;
    raw[255] = 0;
    n = tlsrpt_key_component(enc, sizeof enc, raw);
    T_CHECK(n > 0 && (size_t)n == strlen(enc), "component length returned");
    for (const char *p = enc; *p; p++)
        if (*p == ' ' || *p == '\r' || *p == '\n' || *p == ':' || *p == '~' || (unsigned char)*p < 0x21
            || (unsigned char)*p > 0x7e)
            bad++;
    T_INTEQ(bad, 0, "component has no space/CR/LF/colon/control/tilde");
    n = tlsrpt_key_decode(dec, sizeof dec, enc);
    T_CHECK(n == 255 && memcmp(dec, raw, 256) == 0, "component decode round trip of all bytes");
    tlsrpt_key_component(enc, sizeof enc, "Google Inc.:x\r\n%~");
    T_STREQ(enc, "Google%20Inc.%3Ax%0D%0A%25%7E", "component upper-case %XX");
    tlsrpt_key_component(enc, sizeof enc, "a-b_c.D9");
    T_STREQ(enc, "a-b_c.D9", "component keeps [A-Za-z0-9._-]");
    T_INTEQ(tlsrpt_key_component(enc, 4, "a b"), -1, "component -1 when it does not fit");
    T_INTEQ(tlsrpt_key_component(enc, 4, "abc"), 3, "component exact fit");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "~0123"), -1, "decode refuses hashed component");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "%G1"), -1, "decode refuses bad escape");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "ab%4"), -1, "decode refuses short escape");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "a b"), -1, "decode refuses raw space");
}

/* Key building: join, exact 250 limit, longest component hashed with "~" + 32 hex. */
static void test_key_build(void)
{
    char key[512], big[400], hex[65], want[40];
    const char *c4[] = { "d", "example.com", "2026-05-11", "ok" };
    int n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c4, 4);
    T_STREQ(key, "tlsrpt:d:example.com:2026-05-11:ok", "key build joins with ':'");
    T_INTEQ(n, (int)strlen(key), "key build returns length");
    /* prefix 7 + "d:" 2 + X + ":" + "ok" 2 = 250 when X = 238 */
    memset(big, 'x', 238);
    big[238] = 0;
    const char *c3[] = { "d", big, "ok" };
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c3, 3);
    T_CHECK(n == 250 && strchr(key, '~') == NULL, "key of exactly 250 bytes kept");
    memset(big, 'x', 239);
    big[239] = 0;
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c3, 3);
    sha_hex(big, 239, hex);
    snprintf(want, sizeof want, "~%.32s", hex);
    T_CHECK(n > 0 && n <= 250, "key of 251 bytes shortened");
    T_CHECK(strstr(key, want) != NULL && strncmp(key, "tlsrpt:d:~", 10) == 0,
            "longest component replaced by ~ + 32 hex of SHA-256");
    memset(big, 'y', 300);
    big[300] = 0;
    const char *c5[] = { "d", big, "2026-05-11", big, "fail" };
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c5, 5);
    T_CHECK(n > 0 && n <= 250 && strchr(key, ' ') == NULL, "two long components both hashed");
    char prefix[300];
    memset(prefix, 'p', 260);
    prefix[260] = 0;
    T_INTEQ(tlsrpt_key_build(key, sizeof key, prefix, c4, 4), -1, "over-long prefix refused");
    T_INTEQ(tlsrpt_key_build(key, 10, "tlsrpt:", c4, 4), -1, "small output buffer refused");
}

/* ---------- memcached process ---------- */

/* Kill our memcached (atexit and signal paths). */
static void mc_kill(void)
{
    if (mc_pid > 0) {
        kill(mc_pid, SIGKILL);
        waitpid(mc_pid, NULL, 0);
        mc_pid = 0;
    }
    if (mc_pid2 > 0) {
        kill(mc_pid2, SIGKILL);
        waitpid(mc_pid2, NULL, 0);
        mc_pid2 = 0;
    }
}

/* Signal handler: clean up, then die of the same signal. */
static void on_signal(int sig)
{
    if (mc_pid > 0)
        kill(mc_pid, SIGKILL);
    if (mc_pid2 > 0)
        kill(mc_pid2, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Can we connect to 127.0.0.1:port? */
static int port_open(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A random port in 20000..59999 that we can bind now. */
static int free_port(void)
{
    for (int i = 0; i < 100; i++) {
        int p = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % 40000);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return p;
    }
    return -1;
}

/* Start memcached on port into *pid; 0 when it listens within 5 s. */
static int spawn_memcached(int portnum, pid_t *pid)
{
    char port[16];
    snprintf(port, sizeof port, "%d", portnum);
    fflush(stdout);
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (geteuid() == 0)
            execlp("memcached", "memcached", "-u", "root", "-l", "127.0.0.1", "-p", port,
                   "-U", "0", "-t", "2", (char *)NULL);
        else
            execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port, "-U", "0", "-t", "2",
                   (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (port_open(portnum))
            return 0;
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

/* Start the main memcached on mc_port. */
static int mc_start(void)
{
    return spawn_memcached(mc_port, &mc_pid);
}

/* Is there a memcached binary on PATH? */
static int have_memcached(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p; ) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/memcached", (int)n, p);
        if (access(buf, X_OK) == 0)
            return 1;
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

/* ---------- hand-built reports ---------- */

#define TR_POL 4
#define TR_FAIL 4
typedef struct tr {
    tlsrpt_report r;
    tlsrpt_policy pol[TR_POL];
    tlsrpt_failure f[TR_POL][TR_FAIL];
    char *ps[TR_POL][4];
} tr;

/* A report with no policies yet. */
static void tr_init(tr *t, const char *org, const char *rid, const char *day)
{
    memset(t, 0, sizeof *t);
    t->r.organization_name = (char *)org;
    t->r.report_id = (char *)rid;
    t->r.has_start = day != NULL;
    snprintf(t->r.day, sizeof t->r.day, "%s", day ? day : "");
    t->r.policies = t->pol;
}

/* Add a policy; returns its index. */
static int tr_policy(tr *t, const char *type, const char *domain, int64_t ok, int64_t fail)
{
    int i = (int)t->r.n_policies++;
    tlsrpt_policy *p = &t->pol[i];
    p->policy_type = (char *)type;
    p->policy_domain = (char *)domain;
    p->total_successful = ok;
    p->total_failure = fail;
    p->has_total_successful = p->has_total_failure = 1;
    p->failures = t->f[i];
    p->policy_string = t->ps[i];
    return i;
}

/* Add a policy-string line to policy i. */
static void tr_ps(tr *t, int i, const char *s)
{
    t->ps[i][t->pol[i].n_policy_string++] = (char *)s;
}

/* Add a failure-details entry to policy i. */
static void tr_fail(tr *t, int i, const char *rt, const char *mx, int64_t n)
{
    tlsrpt_failure *f = &t->f[i][t->pol[i].n_failures++];
    f->result_type = (char *)rt;
    f->receiving_mx_hostname = (char *)mx;
    f->failed_session_count = n;
    f->has_failed_session_count = 1;
}

/* ---------- reading memcached back ---------- */

static memcached_st *rd;
static char servers[64];

/* Value of key as a string into buf; 1 when found. */
static int get_str(const char *key, char *buf, size_t n)
{
    size_t len;
    uint32_t fl;
    memcached_return_t rc;
    char *v = memcached_get(rd, key, strlen(key), &len, &fl, &rc);
    if (!v && rc != MEMCACHED_NOTFOUND)     /* stale socket after a restart: once more */
        v = memcached_get(rd, key, strlen(key), &len, &fl, &rc);
    buf[0] = 0;
    if (!v)
        return 0;
    snprintf(buf, n, "%.*s", (int)len, v);
    free(v);
    return 1;
}

/* Numeric value of a counter, -1 when missing. */
static long long get_num(const char *key)
{
    char buf[64];
    return get_str(key, buf, sizeof buf) ? atoll(buf) : -1;
}

/* Check a counter's exact value. */
static void check_num(const char *key, long long want, const char *name)
{
    long long got = get_num(key);
    if (got != want)
        printf("  key %s: got %lld want %lld\n", key, got, want);
    T_INTEQ(got, want, name);
}

/* Does set value v hold exactly the members of want (space-separated), each once? */
static int set_equals(const char *v, const char *want)
{
    char a[4096], b[4096], *sa[256], *sb[256], *save;
    int na = 0, nb = 0;
    snprintf(a, sizeof a, "%s", v);
    snprintf(b, sizeof b, "%s", want);
    for (char *t = strtok_r(a, " ", &save); t && na < 256; t = strtok_r(NULL, " ", &save))
        sa[na++] = t;
    for (char *t = strtok_r(b, " ", &save); t && nb < 256; t = strtok_r(NULL, " ", &save))
        sb[nb++] = t;
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++) {
        int hits = 0;
        for (int j = 0; j < na; j++)
            hits += strcmp(sa[i], sa[j]) == 0;
        int inb = 0;
        for (int j = 0; j < nb; j++)
            inb |= strcmp(sa[i], sb[j]) == 0;
        if (hits != 1 || !inb)
            return 0;
    }
    return 1;
}

/* Check an index set's members (order free, each once). */
static void check_set(const char *key, const char *want, const char *name)
{
    char v[4096];
    int found = get_str(key, v, sizeof v);
    int ok = strspn(want, " ") == strlen(want) ? !found : found && set_equals(v, want);
    if (!ok)
        printf("  set %s: got \"%s\" want \"%s\"\n", key, v, want);
    T_CHECK(ok, name);
}

/* A store on our memcached with the given prefix and allow-list. */
static tlsrpt_store *mkstore(const char *prefix, const char *const *allow, size_t n)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = prefix, .counter_ttl = 0,
                               .dedup_ttl = 0, .policy_domains = allow, .n_policy_domains = n,
                               .timeout_ms = 500, .pool_size = 8 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    if (!st)
        printf("  store_new: %s\n", err);
    return st;
}

/* ---------- counting ---------- */

/* Server list validation names the bad entry. */
static void test_servers(void)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = "127.0.0.1:99999" };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "127.0.0.1:99999"), "bad port rejected, entry named");
    conf.servers = "127.0.0.1:11211, bad host!:1";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "'host!:1'"), "bad host rejected, entry named");
    conf.servers = " , ";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "no memcached servers"), "empty server list rejected");
    conf.servers = "::1:11211";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "::1:11211"), "unbracketed IPv6 rejected");
    conf.servers = "127.0.0.1:11211 [::1]:11212,localhost";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(st != NULL, "comma/space separated list with IPv6 and default port accepted");
    tlsrpt_store_free(st);
    conf.servers = "127.0.0.1:11211";
    conf.prefix = "bad prefix";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "prefix"), "prefix with a space rejected");
}

/* Every key of one report with two domains, then the duplicate. */
static void test_basic(tlsrpt_store *st)
{
    tr t;
    tlsrpt_count_info info;
    char err[512], hex[65], key[300], org[64];
    tr_init(&t, "Example Org", "r1", "2026-05-11");
    int p = tr_policy(&t, "sts", "Example.COM.", 10, 3);
    tr_ps(&t, p, "version: STSv1");
    tr_ps(&t, p, "mode: testing");
    tr_ps(&t, p, "mx: mx1.example.com");
    tr_fail(&t, p, "certificate-expired", "MX1.Example.com.", 2);
    tr_fail(&t, p, "weird-new-type", NULL, 1);
    tr_fail(&t, p, "starttls-not-supported", "", 0);
    p = tr_policy(&t, "tlsa", "example.com", 5, 0);
    p = tr_policy(&t, "sts", "other.org", 1, 0);
    tr_ps(&t, p, "version: STSv1\nmode: enforce\nmax_age: 86400");
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    if (rc != TLSRPT_COUNTED)
        printf("  count: %s\n", err);
    T_INTEQ(rc, TLSRPT_COUNTED, "basic report counted");
    T_CHECK(info.ok == 16 && info.fail == 3 && info.n_domains == 2, "info sums and domain count");
    T_STREQ(info.domains, "example.com,other.org", "info domains");
    T_CHECK(info.round_trips >= 3, "round trips counted");
    check_num("tlsrpt:d:example.com:2026-05-11:ok", 15, "ok summed over policies");
    check_num("tlsrpt:d:example.com:2026-05-11:fail", 3, "fail summed");
    check_num("tlsrpt:d:example.com:2026-05-11:reports", 1, "reports once per domain");
    check_num("tlsrpt:d:example.com:2026-05-11:type:certificate-expired", 2, "RFC type verbatim");
    check_num("tlsrpt:d:example.com:2026-05-11:type:other", 1, "unknown type -> other");
    check_num("tlsrpt:d:example.com:2026-05-11:type:starttls-not-supported", -1, "zero type skipped");
    check_num("tlsrpt:d:example.com:2026-05-11:mx:mx1.example.com:fail", 2, "mx normalized");
    check_num("tlsrpt:d:example.com:2026-05-11:org:Example%20Org:ok", 15, "org ok");
    check_num("tlsrpt:d:example.com:2026-05-11:org:Example%20Org:fail", 3, "org fail");
    check_num("tlsrpt:d:example.com:2026-05-11:mode:testing", 1, "sts mode testing");
    check_num("tlsrpt:d:example.com:2026-05-11:mode:none", -1, "tlsa policy adds no second mode");
    check_num("tlsrpt:d:other.org:2026-05-11:ok", 1, "second domain ok");
    check_num("tlsrpt:d:other.org:2026-05-11:fail", 0, "zero fail key still exists");
    check_num("tlsrpt:d:other.org:2026-05-11:mode:enforce", 1, "mode in a multi-line policy-string");
    check_set("tlsrpt:domains", "example.com other.org", "domains set");
    check_set("tlsrpt:d:example.com:days", "2026-05-11", "days set");
    check_set("tlsrpt:d:example.com:2026-05-11:orgs", "Example%20Org", "orgs set");
    check_set("tlsrpt:d:example.com:2026-05-11:types", "certificate-expired other", "types set");
    check_set("tlsrpt:d:example.com:2026-05-11:mxs", "mx1.example.com", "mxs set");
    memcpy(org, "Example Org\0r1", 14);
    sha_hex(org, 14, hex);
    snprintf(key, sizeof key, "tlsrpt:seen:%s", hex);
    T_CHECK(get_str(key, err, sizeof err), "dedup marker = SHA-256(org NUL report-id)");
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_DUPLICATE, "same report again is a duplicate");
    check_num("tlsrpt:d:example.com:2026-05-11:ok", 15, "duplicate left ok unchanged");
    check_num("tlsrpt:d:example.com:2026-05-11:reports", 1, "duplicate left reports unchanged");
    tr_init(&t, "Example Org", "r2", "2026-05-11");
    p = tr_policy(&t, "sts", "example.com", 4, 1);
    tr_ps(&t, p, "mode: testing");
    tr_fail(&t, p, "certificate-expired", "mx1.example.com", 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_COUNTED && info.round_trips == 2, "steady state costs 2 round trips");
    check_num("tlsrpt:d:example.com:2026-05-11:ok", 19, "second report added");
    check_set("tlsrpt:d:example.com:2026-05-11:types", "certificate-expired other", "types set unchanged");
}

/* Allow-list, uncountable reports, mode fallbacks. */
static void test_rules(void)
{
    const char *allow[] = { "Allowed.Example." };
    tlsrpt_store *st = mkstore("a:", allow, 1);
    tlsrpt_count_info info;
    char err[512], v[64];
    tr t;
    int rc, p;
    T_CHECK(st != NULL, "store with allow-list");
    if (!st)
        return;
    tr_init(&t, "O", "x1", "2026-05-12");
    tr_policy(&t, "sts", "foreign.example", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "foreign-domain") == 0,
            "only foreign domains -> foreign-domain");
    T_CHECK(!get_str("a:domains", v, sizeof v), "foreign report wrote nothing");
    tr_policy(&t, "no-policy-found", "allowed.example", 7, 0);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "allowed domain of a mixed report counted");
    check_num("a:d:allowed.example:2026-05-12:ok", 7, "allowed domain counted");
    check_num("a:d:foreign.example:2026-05-12:ok", -1, "foreign domain not counted");
    check_num("a:d:allowed.example:2026-05-12:mode:none", 1, "no-policy-found -> mode none");
    check_set("a:domains", "allowed.example", "domains lists allowed only");
    tr_init(&t, "O", "x2", "2026-05-12");
    tr_policy(&t, "sts", NULL, 1, 1);
    tr_policy(&t, "sts", ".", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "no-policy-domain") == 0,
            "no domain -> no-policy-domain");
    tr_init(&t, "O", "x3", NULL);
    tr_policy(&t, "sts", "allowed.example", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "no-date") == 0, "no start -> no-date");
    tr_init(&t, "O", "x4", "2026-05-13");
    p = tr_policy(&t, "sts", "allowed.example", 0, 0);
    tr_ps(&t, p, "version: STSv1");
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "all-zero report counted");
    check_num("a:d:allowed.example:2026-05-13:ok", 0, "zero ok key exists");
    check_num("a:d:allowed.example:2026-05-13:fail", 0, "zero fail key exists");
    check_num("a:d:allowed.example:2026-05-13:reports", 1, "zero report still a report");
    check_num("a:d:allowed.example:2026-05-13:mode:none", 1, "sts without mode -> none");
    check_set("a:d:allowed.example:days", "2026-05-12 2026-05-13", "days set grows");
    tlsrpt_store_free(st);
}

/* Hostile strings: encoded keys, long org hashed, member rebuilds the key. */
static void test_hostile(tlsrpt_store *st)
{
    static char longorg[400];
    tlsrpt_count_info info;
    char err[512], v[1024], key[300], dec[300];
    tr t;
    memset(longorg, 'L', 300);
    tr_init(&t, "evil org\r\nset x 0 0 1\r\n", "h1", "2026-05-14");
    tr_policy(&t, "sts", "inject.example", 2, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "hostile org counted");
    check_num("tlsrpt:d:inject.example:2026-05-14:org:evil%20org%0D%0Aset%20x%200%200%201%0D%0A:ok",
              2, "CR/LF/space encoded in key");
    T_CHECK(!get_str("x", v, sizeof v), "no injected key");
    get_str("tlsrpt:d:inject.example:2026-05-14:orgs", v, sizeof v);
    T_CHECK(tlsrpt_key_decode(dec, sizeof dec, v) > 0 && strcmp(dec, "evil org\r\nset x 0 0 1\r\n") == 0,
            "orgs member decodes to the raw name");
    tr_init(&t, longorg, "h2", "2026-05-14");
    tr_policy(&t, "sts", "inject.example", 3, 1);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "long org counted");
    get_str("tlsrpt:d:inject.example:2026-05-14:orgs", v, sizeof v);
    char *m = strchr(v, '~');
    T_CHECK(m && strlen(m) == 33, "long org member is ~ + 32 hex");
    const char *c[] = { "d", "inject.example", "2026-05-14", "org", m ? m : "", "fail" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", c, 6);
    check_num(key, 1, "key rebuilt from hashed member holds the count");
    static char longdom[256];
    char enc[800];
    for (int i = 0; i < 240; i++)
        longdom[i] = (i % 60 == 59) ? '.' : 'a' + i % 26;
    strcpy(longdom + 240, ".example");
    tr_init(&t, "O", "h3", "2026-05-14");
    tr_policy(&t, "sts", longdom, 6, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "248-byte domain counted");
    tlsrpt_key_component(enc, sizeof enc, longdom);
    const char *cd[] = { "d", enc, "2026-05-14", "ok" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", cd, 4);
    check_num(key, 6, "long domain: reader encoding the name itself finds the key");
    const char *cdays[] = { "d", enc, "days" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", cdays, 3);
    check_set(key, "2026-05-14", "long domain: days set found the same way");
    memset(longdom, '!', 90);           /* 90 '!' encode to 270 bytes: no DNS name */
    strcpy(longdom + 90, ".example");
    tr_init(&t, "O", "h4", "2026-05-14");
    tr_policy(&t, "sts", longdom, 6, 0);
    T_CHECK(tlsrpt_store_count(st, &t.r, &info, err, sizeof err) == TLSRPT_NOT_COUNTABLE
            && strcmp(info.reason, "no-policy-domain") == 0, "domain encoding over 253 bytes not counted");
}

/* Counter TTL over 30 days is sent as an absolute time (key must exist). */
static void test_ttl(void)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = "ttl:", .counter_ttl = 40L * 86400,
                               .dedup_ttl = 90L * 86400, .timeout_ms = 500 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_count_info info;
    tr t;
    tr_init(&t, "O", "t1", "2026-05-15");
    tr_policy(&t, "sts", "ttl.example", 5, 0);
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "count with 40-day TTL");
    check_num("ttl:d:ttl.example:2026-05-15:ok", 5, "40-day TTL counter alive (absolute expiry)");
    check_set("ttl:domains", "ttl.example", "40-day TTL set alive");
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_DUPLICATE,
            "90-day dedup marker alive");
    tlsrpt_store_free(st);
}

/* A counter holding a non-number makes the quiet incr fail: must be reported. */
static void test_quiet_error(tlsrpt_store *st)
{
    const char *k = "tlsrpt:d:bad.example:2026-05-16:fail";
    tlsrpt_count_info info;
    char err[512];
    tr t;
    memcached_set(rd, k, strlen(k), "abc", 3, 0, 0);
    tr_init(&t, "O", "q1", "2026-05-16");
    tr_policy(&t, "sts", "bad.example", 5, 1);
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  quiet error: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strcmp(info.reason, "store-unavailable") == 0 && err[0],
            "failed quiet increment detected by the barrier");
    tr_init(&t, "O", "q2", "2026-05-16");
    tr_policy(&t, "sts", "good.example", 5, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "next report on the pool counts fine");
    check_num("tlsrpt:d:good.example:2026-05-16:ok", 5, "next report exact");
}

/* ---------- concurrency ---------- */

#define CT_THREADS 8
#define CT_PER 40
#define CT_N (CT_THREADS * CT_PER)
static const char *const ct_orgs[] = { "org0", "Org One", "org2", "org3", "org4" };
static const char *const ct_doms[] = { "c1.example", "c2.example", "c3.example" };
static const char *const ct_days[] = { "2026-06-01", "2026-06-02" };
static const char *const ct_types[] = { "dnssec-invalid", "tlsa-invalid", "zzz", "dane-required" };
static const char *const ct_mxs[] = { "mx-a.example", "mx-b.example", "mx-c.example" };
static const char *const ct_orgenc[] = { "org0", "Org%20One", "org2", "org3", "org4" };

typedef struct ct_arg {
    tlsrpt_store *st;
    int id;
    int counted, dup, failed;
} ct_arg;

/* Build report g of the concurrency test. */
static void ct_report(tr *t, int g, char *rid, size_t n)
{
    snprintf(rid, n, "c-%d", g);
    tr_init(t, ct_orgs[g % 5], rid, ct_days[(g / 3) % 2]);
    int p = tr_policy(t, "sts", ct_doms[g % 3], g % 7, g % 4);
    tr_ps(t, p, g % 2 ? "mode: enforce" : "mode: testing");
    tr_fail(t, p, ct_types[g % 4], ct_mxs[g % 3], g % 3);
}

/* Thread body: count its own reports and its neighbour's (duplicates race). */
static void *ct_thread(void *v)
{
    ct_arg *a = v;
    char rid[32], err[512];
    tlsrpt_count_info info;
    tr t;
    for (int j = 0; j < CT_PER; j++) {
        for (int k = 0; k < 2; k++) {
            int g = ((a->id + k) % CT_THREADS) * CT_PER + j;
            ct_report(&t, g, rid, sizeof rid);
            int rc = tlsrpt_store_count(a->st, &t.r, &info, err, sizeof err);
            a->counted += rc == TLSRPT_COUNTED;
            a->dup += rc == TLSRPT_DUPLICATE;
            if (rc == TLSRPT_STORE_FAILED && a->failed++ == 0)
                printf("  thread %d: %s\n", a->id, err);
        }
    }
    return NULL;
}

/* Expected sums for one (domain, day) of the concurrency test. */
static void ct_check_dd(int d, int y)
{
    long long ok = 0, fail = 0, reps = 0, org_ok[5] = { 0 }, type[4] = { 0 }, mx[3] = { 0 }, enf = 0;
    char key[300], want_orgs[200] = "", want_types[200] = "", want_mxs[200] = "";
    for (int g = 0; g < CT_N; g++) {
        if (g % 3 != d || (g / 3) % 2 != y)
            continue;
        ok += g % 7, fail += g % 4, reps++, org_ok[g % 5] += g % 7, enf += g % 2;
        type[g % 4] += g % 3, mx[g % 3] += g % 3;
    }
    snprintf(key, sizeof key, "c:d:%s:%s:", ct_doms[d], ct_days[y]);
    size_t kl = strlen(key);
    snprintf(key + kl, sizeof key - kl, "ok");
    check_num(key, ok, "concurrent ok exact");
    snprintf(key + kl, sizeof key - kl, "fail");
    check_num(key, fail, "concurrent fail exact");
    snprintf(key + kl, sizeof key - kl, "reports");
    check_num(key, reps, "concurrent reports exact");
    snprintf(key + kl, sizeof key - kl, "mode:enforce");
    check_num(key, enf ? enf : -1, "concurrent mode exact");
    for (int o = 0; o < 5; o++) {
        snprintf(key + kl, sizeof key - kl, "org:%s:ok", ct_orgenc[o]);
        check_num(key, org_ok[o] || reps ? org_ok[o] : -1, "concurrent org ok exact");
        strcat(want_orgs, " "), strcat(want_orgs, ct_orgenc[o]);
    }
    for (int i = 0; i < 4; i++) {
        const char *tn = i == 2 ? "other" : ct_types[i];
        snprintf(key + kl, sizeof key - kl, "type:%s", tn);
        check_num(key, type[i] ? type[i] : -1, "concurrent type exact");
        if (type[i])
            strcat(want_types, " "), strcat(want_types, tn);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(key + kl, sizeof key - kl, "mx:%s:fail", ct_mxs[i]);
        check_num(key, mx[i] ? mx[i] : -1, "concurrent mx exact");
        if (mx[i])
            strcat(want_mxs, " "), strcat(want_mxs, ct_mxs[i]);
    }
    snprintf(key + kl, sizeof key - kl, "orgs");
    check_set(key, want_orgs, "concurrent orgs set: each once");
    snprintf(key + kl, sizeof key - kl, "types");
    check_set(key, want_types, "concurrent types set: each once");
    snprintf(key + kl, sizeof key - kl, "mxs");
    check_set(key, want_mxs, "concurrent mxs set: each once");
}

/* 8 threads, overlapping orgs/domains/days, every report counted twice. */
static void test_concurrency(void)
{
    tlsrpt_store *st = mkstore("c:", NULL, 0);
    pthread_t th[CT_THREADS];
    ct_arg args[CT_THREADS];
    int counted = 0, dup = 0, failed = 0;
    char key[100];
    if (!st)
        return;
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (ct_arg){ st, i, 0, 0, 0 };
        pthread_create(&th[i], NULL, ct_thread, &args[i]);
    }
    for (int i = 0; i < CT_THREADS; i++) {
        pthread_join(th[i], NULL);
        counted += args[i].counted, dup += args[i].dup, failed += args[i].failed;
    }
    T_INTEQ(failed, 0, "no store failure under concurrency");
    T_INTEQ(counted, CT_N, "each report counted exactly once");
    T_INTEQ(dup, CT_N, "each second count a duplicate");
    check_set("c:domains", "c1.example c2.example c3.example", "concurrent domains set: each once");
    for (int d = 0; d < 3; d++) {
        snprintf(key, sizeof key, "c:d:%s:days", ct_doms[d]);
        check_set(key, "2026-06-01 2026-06-02", "concurrent days set: each once");
        for (int y = 0; y < 2; y++)
            ct_check_dd(d, y);
    }
    tlsrpt_store_free(st);
}

/* A failure while writing the index removes the dedup marker: the replay counts. */
static void test_unmark(void)
{
    const char *big = "u:d:big.example:days";
    size_t n = 1048576;
    char *v = malloc(n), err[512], hex[65], key[300], buf[64];
    tlsrpt_store *st = mkstore("u:", NULL, 0);
    tlsrpt_count_info info;
    tr t;
    if (!v || !st)
        goto out;
    memset(v, 'x', n);
    while (n > 900000 && memcached_set(rd, big, strlen(big), v, n, 0, 0) != MEMCACHED_SUCCESS)
        n -= 8;                 /* the largest value memcached takes: no room to append */
    T_CHECK(n > 900000, "near-1MB set stored");
    tr_init(&t, "U", "u1", "2026-05-22");
    tr_policy(&t, "sts", "big.example", 9, 0);
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  full set: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strstr(err, big), "append over the item size fails, key named");
    sha_hex("U\0u1", 4, hex);
    snprintf(key, sizeof key, "u:seen:%s", hex);
    T_CHECK(!get_str(key, buf, sizeof buf), "dedup marker removed after the failure");
    check_num("u:d:big.example:2026-05-22:ok", -1, "no counter written");
    memcached_delete(rd, big, strlen(big), 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "replay counts");
    check_num("u:d:big.example:2026-05-22:ok", 9, "replay counted once");
out:
    free(v);
    tlsrpt_store_free(st);
}

/* A report naming 1005 distinct MX: 1000 get mx: counters, all count under type:. */
static void test_mx_cap(tlsrpt_store *st)
{
    enum { NMX = 1005 };
    static char names[NMX][32];
    tlsrpt_failure *f = calloc(NMX, sizeof *f);
    tlsrpt_count_info info;
    char err[512], key[300];
    size_t len;
    uint32_t fl;
    memcached_return_t rc;
    tr t;
    if (!f)
        return;
    tr_init(&t, "Cap", "cap1", "2026-05-23");
    int p = tr_policy(&t, "sts", "cap.example", 0, NMX);
    for (int i = 0; i < NMX; i++) {
        snprintf(names[i], sizeof names[i], "mx%04d.cap.example", i);
        f[i].result_type = "validation-failure";
        f[i].receiving_mx_hostname = names[i];
        f[i].failed_session_count = 1;
    }
    t.pol[p].failures = f;
    t.pol[p].n_failures = NMX;
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "1005-MX report counted");
    check_num("tlsrpt:d:cap.example:2026-05-23:type:validation-failure", NMX, "all failures under type:");
    check_num("tlsrpt:d:cap.example:2026-05-23:mx:mx0999.cap.example:fail", 1, "1000th MX counted");
    check_num("tlsrpt:d:cap.example:2026-05-23:mx:mx1000.cap.example:fail", -1, "1001st MX not counted per MX");
    snprintf(key, sizeof key, "tlsrpt:d:cap.example:2026-05-23:mxs");
    char *v = memcached_get(rd, key, strlen(key), &len, &fl, &rc);
    int members = 0;
    for (size_t i = 0; v && i < len; i++)
        members += v[i] != ' ' && (i == 0 || v[i - 1] == ' ');
    T_INTEQ(members, 1000, "mxs set holds 1000 members");
    free(v);
    free(f);
}

/* ---------- two servers ---------- */

/* Bursts must put every key where libmemcached's consistent hashing reads it. */
static void test_two_servers(void)
{
    char two[128], err[512], key[400];
    int port2 = free_port();
    tlsrpt_count_info info;
    tr t;
    if (port2 < 0 || spawn_memcached(port2, &mc_pid2) != 0) {
        T_CHECK(0, "second memcached started");
        return;
    }
    snprintf(two, sizeof two, "%s, 127.0.0.1:%d", servers, port2);
    tlsrpt_store_conf conf = { .servers = two, .prefix = "two:", .timeout_ms = 500 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    memcached_st *r2 = tlsrpt_store_memc_new(&conf, err, sizeof err);
    memcached_st *save = rd;
    T_CHECK(st && r2, "two-server store and reader");
    if (!st || !r2)
        goto out;
    tr_init(&t, "Two Org", "2s", "2026-05-21");
    int p = tr_policy(&t, "sts", "two.example", 50, 20);
    static char mx[4][32];
    for (int i = 0; i < 4; i++) {
        snprintf(mx[i], sizeof mx[i], "mx%d.two.example", i);
        tr_fail(&t, p, "validation-failure", mx[i], 5);
    }
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "two-server count");
    rd = r2;
    check_num("two:d:two.example:2026-05-21:ok", 50, "two servers: ok where libmemcached looks");
    check_num("two:d:two.example:2026-05-21:type:validation-failure", 20, "two servers: type");
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "two:d:two.example:2026-05-21:mx:%s:fail", mx[i]);
        check_num(key, 5, "two servers: mx counter where libmemcached looks");
    }
    check_set("two:d:two.example:2026-05-21:mxs", "mx0.two.example mx1.two.example mx2.two.example mx3.two.example",
              "two servers: mxs set");
    long long on_main = 0;
    rd = save;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "two:d:two.example:2026-05-21:mx:%s:fail", mx[i]);
        on_main += get_num(key) > 0;
    }
    printf("  %lld of 4 mx counters on the first server\n", on_main);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_DUPLICATE, "two-server duplicate");
out:
    rd = save;
    if (r2)
        memcached_free(r2);
    tlsrpt_store_free(st);
}

/* ---------- outage ---------- */

/* memcached stopped -> clear failure; restarted -> counting works again. */
static void test_outage(tlsrpt_store *st)
{
    tlsrpt_count_info info;
    char err[512];
    tr t;
    int rc = -1;
    mc_kill();
    tr_init(&t, "O", "o1", "2026-05-20");
    tr_policy(&t, "sts", "down.example", 3, 0);
    time_t t0 = time(NULL);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  down: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strcmp(info.reason, "store-unavailable") == 0,
            "memcached down -> TLSRPT_STORE_FAILED");
    T_CHECK(strstr(err, "seen:") && strstr(err, "add") && strlen(err) > 30,
            "failure names operation and key");
    T_CHECK(time(NULL) - t0 <= 5, "failure is quick (timeouts honoured)");
    T_CHECK(mc_start() == 0, "memcached restarted on the same port");
    for (int i = 0; i < 40 && rc != TLSRPT_COUNTED; i++) {
        rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
        if (rc != TLSRPT_COUNTED)
            usleep(100000);
    }
    if (rc != TLSRPT_COUNTED)
        printf("  after restart: %s\n", err);
    T_INTEQ(rc, TLSRPT_COUNTED, "counting works after restart (same report: marker was not kept)");
    check_num("tlsrpt:d:down.example:2026-05-20:ok", 3, "counted once after restart");
}

/* Offline checks, then everything against a private memcached. */
int main(void)
{
    tlsrpt_store *st;
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    test_sha256();
    test_component();
    test_key_build();
    test_servers();
    if (!have_memcached()) {
        T_SKIP("store counting", "no memcached binary on PATH");
        T_MAIN_END();
    }
    atexit(mc_kill);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    for (int i = 0; i < 5 && !mc_pid; i++) {
        mc_port = free_port();
        if (mc_port > 0 && mc_start() != 0)
            mc_kill();
    }
    if (!mc_pid) {
        T_CHECK(0, "memcached started");
        T_MAIN_END();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", mc_port);
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    T_CHECK(rd != NULL, "tlsrpt_store_memc_new connects");
    st = mkstore(NULL, NULL, 0);
    T_CHECK(st != NULL, "store created");
    if (rd && st) {
        test_basic(st);
        test_rules();
        test_hostile(st);
        test_ttl();
        test_quiet_error(st);
        test_concurrency();
        test_unmark();
        test_mx_cap(st);
        test_two_servers();
        test_outage(st);
    }
    tlsrpt_store_free(st);
    if (rd)
        memcached_free(rd);
    rconf.servers = "127.0.0.1:1";
    void *none = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    T_CHECK(none == NULL && strstr(err, "127.0.0.1:1"), "memc_new reports an unreachable server");
    mc_kill();
    T_MAIN_END();
}
