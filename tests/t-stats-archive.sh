#!/bin/sh
# t-stats-archive.sh - tlsrpt-stats -c compares the archive with the counters (issue
# 10.4, "the archive holds reports the counters lack", tools/stats/archive.c). Archives
# are written and counted live by tests/archive-seed as the milter would (P epoch
# marked first, as the milter does at start). Checked: all counted -> archive compared,
# nothing lost; a counter of an arrival day lowered -> lost, the day and the shortfall
# named, the rebuild command given, in json, text and prometheus; a report the other
# host counted first (a duplicate here), one the store refuses (foreign-domain, in
# nc:) and one still pending are not losses; memcached flushed -> exit 3 names the
# archive; --rebuild -> nothing lost again; ArchiveDir missing or without archive-id
# (not written yet) -> not compared, silently; a malformed archive-id -> a warning.
# SKIPs without memcached.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
S=$BUILD/tlsrpt-stats
P=$BUILD/tlsrpt-parse
SEED=$BUILD/tests/archive-seed
MARK=$BUILD/tests/stats-seed
FIX=$TLSRPT_SRCDIR/tests/fixtures
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
command -v memcached >/dev/null 2>&1 || { t_skip "stats-archive" "no memcached"; exit 0; }
[ -x "$SEED" ] && [ -x "$S" ] && [ -x "$MARK" ] || { t_skip "stats-archive" "programs not built"; exit 0; }
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
svc_init
W=$SVC_TMP
port=$(svc_memcached_start mc) || { t_fail "memcached starts" "see $W/mc.log"; exit 1; }
MC=127.0.0.1:$port
conf() {    # conf FILE ARCHIVEDIR
    printf 'ReportAddress tlsrpt@example.net\nMemcachedServers %s\nKeyPrefix sa:\nPolicyDomains example.net\nArchiveDir %s\n' \
        "$MC" "$2" >"$1"
}
conf "$W/c.conf" "$W/a1"
conf "$W/c2.conf" "$W/a2"
"$MARK" -s "$MC" -p sa: mark >/dev/null
stats() { "$S" -c "$W/c.conf" --today 2026-11-19 --days 5 "$@"; }
loss() { /usr/bin/python3 -c 'import json,sys; l=json.load(sys.stdin)["loss"]; print(l["archive_checked"], l["lost"], ",".join(l["reasons"]), l["message"] or "")'; }

T0=1795000000                       # 2026-11-18 11:06:40 UTC
sed 's/example\.net/other.example/g; s/Example\.NET/other.example/g; s/_sys4-mail/_sys4-foreign/g' "$FIX/policy-domain/sys4-mail.eml" >"$W/foreign.eml"
{
    "$SEED" -c "$W/c2.conf" -d "$W/a2" -t $T0 -k google.com "$FIX/basic-crlf.eml" &&
    "$SEED" -c "$W/c.conf" -d "$W/a1" -t $((T0 + 60)) -k google.com "$FIX/basic-lf.eml" "$FIX/basic-crlf.eml" \
        "$FIX/policy-domain/sys4-mail.eml" "$W/foreign.eml" &&
    "$SEED" -c "$W/c.conf" -d "$W/a1" -t $((T0 + 86400)) "$FIX/multi-two-gzip.eml" "$FIX/qp-json.eml" &&
    "$SEED" -c "$W/c.conf" -d "$W/a1" -t $((T0 + 90000)) -P "$FIX/bare-tlsrpt.eml"
} >"$W/seed.out" 2>"$W/seed.err"
t_eq "archives written and counted live" "$?" 0
t_grep "the other host counted the resent report first" "$W/seed.out" "counted=0 duplicate=1"
t_grep "a foreign domain is not counted" "$W/seed.out" "counted=0 duplicate=0 notcounted=1"
t_grep "one entry left pending" "$W/seed.out" " pending$"
H1=$(cat "$W/a1/archive-id")

stats --format json >"$W/j1" 2>"$W/e1"; rc=$?
t_eq "all counted: exit 0" "$rc" 0
t_eq "all counted: archive compared, nothing lost" "$(loss <"$W/j1")" "True False  "
t_check "all counted: no warning" test ! -s "$W/e1"

# a counter of the first arrival day lowered by 1: one report lost
k="sa:arr:2026-11-18:$H1:counted"
v=$(svc_mc_get "$port" "$k")
t_check "arr: counter live ($v)" test "${v:-0}" -ge 2
/usr/bin/python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); v=sys.argv[3].encode(); s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (sys.argv[2].encode(), len(v), v)); s.recv(100)' \
    "$port" "$k" "$((v - 1))"
stats --format json >"$W/j2" 2>"$W/e2"
t_eq "lowered: lost, reason archive" "$(loss <"$W/j2" | cut -d' ' -f1-3)" "True True archive"
t_grep "lowered: the message names archive, day and shortfall" "$W/j2" "the archive $H1 \\($W/a1\\) holds 1 countable reports the counters lack \\(lost, by arrival day: 2026-11-18: 1 of $((v + 2))\\)"
t_grep "lowered: json gives the rebuild command" "$W/j2" "\"rebuild\": *\"tlsrpt-parse --rebuild -c $W/c.conf\""
t_grep "lowered: stderr warning with the command" "$W/e2" "counters were lost: .*the archive $H1.*rebuild them with: tlsrpt-parse --rebuild -c"
stats >"$W/t2" 2>/dev/null
t_grep "lowered: text says lost" "$W/t2" "lost"
stats --format prometheus >"$W/p2" 2>/dev/null
t_grep "lowered: prometheus archive series" "$W/p2" '^tlsrpt_counters_lost\{reason="archive"\} 1$'

# memcached flushed: no data, and the archive says what is missing
svc_mc_flush "$port"
"$MARK" -s "$MC" -p sa: mark >/dev/null
stats --format json >"$W/j3" 2>"$W/e3"; rc=$?
t_eq "flushed: exit 3 (no data)" "$rc" 3
t_grep "flushed: the archive's reports are named lost" "$W/e3" "the archive $H1 .*holds [0-9]+ countable reports the counters lack.*rebuild them with"

# the rebuild of both hosts' archives: nothing lost
"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a2" >"$W/rb" 2>&1; rc=$?
t_eq "rebuild exits 0" "$rc" 0
stats --format json >"$W/j4" 2>"$W/e4"
t_eq "after the rebuild: nothing lost" "$(loss <"$W/j4")" "True False  "

# no archive directory: not compared, no warning; not an archive: a warning
conf "$W/none.conf" "$W/missing"
"$S" -c "$W/none.conf" --today 2026-11-19 --format json >"$W/j5" 2>"$W/e5"
t_eq "ArchiveDir missing: not compared" "$(loss <"$W/j5")" "False False  "
t_check "ArchiveDir missing: no warning" test ! -s "$W/e5"
mkdir "$W/plain"            # as the package leaves it before the milter's first start
conf "$W/plain.conf" "$W/plain"
"$S" -c "$W/plain.conf" --today 2026-11-19 --format json >"$W/j6" 2>"$W/e6"
t_eq "no archive-id yet: not compared" "$(loss <"$W/j6" | cut -d' ' -f1)" "False"
t_check "no archive-id yet: no warning" test ! -s "$W/e6"
echo 'not an id!' >"$W/plain/archive-id"
"$S" -c "$W/plain.conf" --today 2026-11-19 --format json >"$W/j7" 2>"$W/e7"
t_eq "bad archive-id: not compared" "$(loss <"$W/j7" | cut -d' ' -f1)" "False"
t_grep "bad archive-id: warning" "$W/e7" "archive was not compared with the counters: .*archive-id: malformed"
exit $((T_FAILS > 0))
