#!/bin/sh
# t-rebuild.sh - `tlsrpt-parse --rebuild` (issue 10.3) against a real memcached.
# Two archives (two MX hosts, each its own archive-id) are written at test time by
# tests/archive-seed exactly as PLAN-archive.md says the milter writes them: the
# report mails of tests/fixtures with CRLF, their meta (auth dkim with a signer-org
# for some, none for others, report groups), uncountable mails archived with their
# reason (ArchiveAll), an unauthenticated one, a resent report (duplicate) on the
# other host; and counted into memcached through the store as the milter counts
# (tlsrpt_store_count_req with the same identity, entry id, host id, arrival;
# tlsrpt_store_not_counted for the rest). Every key is dumped (lru_crawler metadump,
# tests/lib/mc-dump.py), memcached flushed, --rebuild run: every key and value is
# back (the store's internal keys aside: saturation guards d:D:Y:max, index markers
# ix:, the budgets' org:ORG:A:newdomains; a dedup marker's value is its entry id,
# "sent" live and "rebuilt" after; a --day rebuild may set another of an org's display
# labels, org:ORG:name, as that key is not per day). A second run changes nothing. A damaged day
# (a wrong counter, a deleted one, a stale MX in the day's set) is restored by
# --day; --day with one host's archive is refused for a day the other host counted
# into (exit 5, nothing written) and, with --force, says whose counts it replaced;
# a day only that host counted into is rebuilt. A damaged entry stops the rebuild
# (exit 1, named, nothing written) unless --force. Usage errors, a missing archive,
# the progress line on a terminal (script(1)). SKIPs without memcached.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
P=$BUILD/tlsrpt-parse
SEED=$BUILD/tests/archive-seed
FIX=$TLSRPT_SRCDIR/tests/fixtures
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
command -v memcached >/dev/null 2>&1 || { t_skip "rebuild" "no memcached"; exit 0; }
[ -x "$SEED" ] || { t_skip "rebuild" "no $SEED"; exit 0; }
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
svc_init
W=$SVC_TMP
port=$(svc_memcached_start mc) || { t_fail "memcached starts" "see $W/mc.log"; exit 1; }
MC=127.0.0.1:$port
printf 'ReportAddress tlsrpt@example.net\nMemcachedServers %s\nKeyPrefix rb:\nArchiveDir %s/a1\n' \
    "$MC" "$W" >"$W/c.conf"

# Live counting happens at arrival, so each host's mails are seeded in arrival order and
# the second host's after the first's (the rebuild merges the archives by arrival).
# A normalized dump: internal keys out (the epoch too: a full rebuild marks it, checked
# on its own), markers by entry id.
# Once d0 exists its keys are also read with get (--also): memcached's LRU crawler, which
# lists the keys, skips items the LRU maintainer is moving (measured here under CPU load:
# 11-17 of d0's keys missing from every listing right after a --day rebuild had read
# them), so a key missing after a rebuild is missing for sure.
norm() {
    awk -F'\t' '$1 ~ /^rb:/ && $1 !~ /^rb:ix:/ && $1 !~ /:(max|newdomains)$/ && $1 != "rb:epoch"' |
        sed -E 's/^(rb:seen:[^\t]*\t[^ ]*) (sent|rebuilt)$/\1/' | LC_ALL=C sort -u
}
dump() {
    if [ "$1" = "$W/d0" ]; then set -- "$1"; else set -- "$1" --also "$W/d0"; fi
    _out=$1
    shift
    /usr/bin/python3 "$TLSRPT_SRCDIR/tests/lib/mc-dump.py" dump "$@" "$MC" | norm >"$_out"
}
# A --day rebuild sets an org's display label (org:ORG:name, one for all days) from that
# day's reports: compare the rest exactly, and the label as present.
daycmp() {  # daycmp NAME DUMP
    grep -v '^rb:org:[^	]*:name	' "$W/d0" >"$W/d0.nolabel"
    grep -v '^rb:org:[^	]*:name	' "$2" >"$2.nolabel"
    if cmp -s "$W/d0.nolabel" "$2.nolabel" && [ "$(grep -c '^rb:org:[^	]*:name	' "$W/d0")" = "$(grep -c '^rb:org:[^	]*:name	' "$2")" ]
    then t_pass "$1"; else t_fail "$1" "$(diff "$W/d0" "$2" | head -6 | tr '\n' '|')"; fi
}
mcset() {   # mcset KEY VALUE
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); v=sys.argv[3].encode(); s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (sys.argv[2].encode(), len(v), v)); print(s.recv(100).decode().strip())' "$port" "$1" "$2" >/dev/null
}
mcdel() { python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"delete %s\r\n" % sys.argv[2].encode()); s.recv(100)' "$port" "$1"; }

# --- the archives, counted live ---
good= bad=
for f in "$FIX"/*.eml; do
    case "$(cut -f7 "$f.expected")" in "") good="$good $f" ;; *) bad="$bad $f" ;; esac
done
set -- $good
half=$(( $# / 2 )); g1= g2= i=0
for f in "$@"; do i=$((i + 1)); if [ $i -le $half ]; then g1="$g1 $f"; else g2="$g2 $f"; fi; done
T0=1795000000
S="$SEED -c $W/c.conf"
{
    $S -d "$W/a1" -t $T0 -k google.com $g1 &&
    $S -d "$W/a1" -t $((T0 + 3600)) $g2 &&
    $S -d "$W/a1" -t $((T0 + 7200)) $bad &&
    $S -d "$W/a1" -t $((T0 + 7800)) -k evil.example -v unauthenticated "$FIX/basic-crlf.eml" &&
    $S -d "$W/a2" -t $((T0 + 9000)) -k google.com "$FIX/basic-lf.eml" &&
    $S -d "$W/a2" -t $((T0 + 9090)) -k microsoft.com $(ls "$FIX"/multi-*.eml "$FIX"/qp-*.eml 2>/dev/null | head -6) &&
    $S -d "$W/a2" -t $((T0 + 9600)) -k sender.example "$FIX/policy-domain/sys4-mail.eml"
} >"$W/seed.out" 2>"$W/seed.err"
t_eq "archives written and counted live" "$?" 0
H1=$(cat "$W/a1/archive-id"); H2=$(cat "$W/a2/archive-id")
t_check "two archives, two archive ids" test -n "$H1" -a -n "$H2" -a "$H1" != "$H2"
t_grep "a resent report is a duplicate on the other host" "$W/seed.out" "$H2-.* counted=0 duplicate=1"
nc_seen=$(grep -c "notcounted=[1-9]" "$W/seed.out")
t_check "uncountable mails archived with their reason" test "$nc_seen" -ge 10
counted=$(awk '{sub("counted=","",$2); s+=$2} END {print s}' "$W/seed.out")
dups=$(awk '{sub("duplicate=","",$3); s+=$3} END {print s}' "$W/seed.out")
dump "$W/d0"
t_check "live counting wrote counters, nc:, arr:, hosts:, labels" sh -c "grep -q ':ok	' '$W/d0' && grep -q '^rb:nc:' '$W/d0' && grep -q '^rb:arr:.*:$H2:counted' '$W/d0' && grep -q '^rb:hosts:2024-05-01	' '$W/d0' && grep -q '^rb:org:google.com:name' '$W/d0'"

# --- memcached loses everything: the rebuild puts every key back ---
svc_mc_flush "$port"
dump "$W/empty"
t_check "flushed" test ! -s "$W/empty"
"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a2" >"$W/r1" 2>"$W/r1.err"; rc=$?
t_eq "full rebuild exits 0" "$rc" 0
dump "$W/d1"
if cmp -s "$W/d0" "$W/d1"; then t_pass "every key and value back ($(wc -l <"$W/d0") keys)"
else t_fail "every key and value back" "$(diff "$W/d0" "$W/d1" | head -8 | tr '\n' '|')"; fi
t_check "the full rebuild marks the flushed server's epoch (the loss is repaired)" \
    sh -c 'memccat --servers="127.0.0.1:$1" rb:epoch | grep -Eq "^[0-9]+$"' sh "$port"
t_grep "the full rebuild says it marked the epoch" "$W/r1" 'rebuild: 1 memcached server marked as counted from now on'
t_grep "summary: entries, reports, duplicates" "$W/r1" "entries read, $counted reports counted, $dups duplicates, 0 damaged"
t_grep "summary: not counted per reason" "$W/r1" "not counted:.* unauthenticated=1"
t_grep "summary: keys replaced and time" "$W/r1" "keys replaced \([0-9]+ written, 0 deleted\)"
t_grep "summary: both archives named" "$W/r1" "2 archives: $H1 \(.*\) $H2"
t_grep "summary: time and rate" "$W/r1" "^rebuild: [0-9.]+ s \([0-9]+ reports/s\)$"
t_nogrep "no progress line without a terminal" "$W/r1.err" "entries,"

"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a2" >"$W/r2" 2>&1; rc=$?
dump "$W/d2"
t_eq "second run exits 0" "$rc" 0
t_grep "second run replaces nothing" "$W/r2" " 0 keys replaced \(0 written, 0 deleted\), [1-9][0-9]* unchanged, 0 index sets written, 0 dedup markers added"
t_check "second run changes nothing" cmp -s "$W/d0" "$W/d2"

# --- a damaged day, restored by --day (both archives) ---
Y=2024-05-01
D=$(grep "^rb:d:[^:]*:$Y:ok	" "$W/d0" | head -1 | sed -E "s/^rb:d:([^:]*):.*/\1/")
mcset "rb:d:$D:$Y:ok" 999999
mcdel "rb:d:$D:$Y:reports"
mxs=$(grep "^rb:d:$D:$Y:mxs	" "$W/d0" | cut -f2)
mcset "rb:d:$D:$Y:mxs" "$mxs stale.example"
mcset "rb:d:$D:$Y:mx:stale.example:fail" 5
"$P" --rebuild -c "$W/c.conf" --day $Y --verbose "$W/a1" "$W/a2" >"$W/r3" 2>&1; rc=$?
dump "$W/d3"
t_eq "--day rebuild exits 0" "$rc" 0
daycmp "--day restores the damaged day exactly" "$W/d3"
t_grep "--verbose names the wrong counter" "$W/r3" "changed rb:d:$D:$Y:ok 999999 -> "
t_grep "--verbose names the stale one" "$W/r3" "changed rb:d:$D:$Y:mx:stale.example:fail 5 -> deleted"
t_grep "--verbose names the missing one" "$W/r3" "changed rb:d:$D:$Y:reports missing -> "
t_grep "--day summary: 1 day" "$W/r3" "1 report day replaced"

# --- one host's archive: refused for a day the other host counted into ---
mcset "rb:d:$D:$Y:ok" 777
"$P" --rebuild -c "$W/c.conf" --day $Y >"$W/r4" 2>"$W/r4.err"; rc=$?    # ArchiveDir = a1
t_eq "--day with one host's archive refused (exit 5)" "$rc" 5
t_grep "refusal names the other host and --force" "$W/r4.err" "refused: host\(s\) $H2 counted into $Y .*--force"
t_eq "refused: nothing written" "$(svc_mc_get "$port" "rb:d:$D:$Y:ok")" 777
"$P" --rebuild -c "$W/c.conf" --day $Y --force >"$W/r5" 2>&1; rc=$?
t_eq "--force replaces (exit 0)" "$rc" 0
t_grep "--force says whose counts it replaced" "$W/r5" "$H2"
ms=$(grep -c "^rb:d:[^:]*:$Y:org:microsoft.com:" "$W/d0")
t_check "the other host's reports were in that day" test "$ms" -gt 0
t_eq "--force: that day now holds this host's counts only" \
    "$(svc_mc_get "$port" "$(grep "^rb:d:[^:]*:$Y:org:microsoft.com:ok" "$W/d0" | head -1 | cut -f1)")" ""
"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a2" >"$W/r6" 2>&1
dump "$W/d6"
t_check "a full rebuild of both archives puts it back" cmp -s "$W/d0" "$W/d6"
# a day only the first host counted into: one archive is enough
Y1=2024-01-01
grep -q "^rb:hosts:$Y1	$H1$" "$W/d0"; t_eq "only host 1 counted into $Y1" "$?" 0
D1=$(grep "^rb:d:[^:]*:$Y1:ok	" "$W/d0" | head -1 | sed -E "s/^rb:d:([^:]*):.*/\1/")
mcset "rb:d:$D1:$Y1:fail" 4242
"$P" --rebuild -c "$W/c.conf" --day $Y1 >"$W/r7" 2>&1; rc=$?
dump "$W/d7"
t_eq "--day with only that host's archive exits 0" "$rc" 0
daycmp "... and restores the day" "$W/d7"

# --- a damaged entry: named, nothing written unless --force ---
cp -a "$W/a1" "$W/a1x"
victim=$(ls "$W"/a1x/*/*.eml.gz | head -1)
head -c 200 "$victim" >"$victim.cut" && mv "$victim.cut" "$victim"
mcset "rb:d:$D:$Y:ok" 555
"$P" --rebuild -c "$W/c.conf" "$W/a1x" "$W/a2" >"$W/r8" 2>"$W/r8.err"; rc=$?
t_eq "damaged entry: exit 1" "$rc" 1
t_grep "damaged entry named" "$W/r8.err" "$(basename "$victim" .eml.gz): read: "
t_eq "damaged entry: nothing written" "$(svc_mc_get "$port" "rb:d:$D:$Y:ok")" 555
"$P" --rebuild -c "$W/c.conf" --force "$W/a1x" "$W/a2" >"$W/r9" 2>&1; rc=$?
t_eq "damaged entry with --force: exit 0" "$rc" 0
t_grep "damaged entry with --force: counted without it" "$W/r9" ", 1 damaged,"
"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a2" >/dev/null 2>&1

# --- progress line on a terminal ---
if script -qec "'$P' --rebuild -c '$W/c.conf' '$W/a1' '$W/a2' >/dev/null" /dev/null >"$W/tty" 2>&1 </dev/null; then
    t_grep "progress line on a terminal" "$W/tty" "rebuild: [0-9]+/[0-9]+ entries, [0-9]+ reports counted"
else
    t_skip "progress line" "script(1) failed"
fi

# --- errors ---
"$P" --rebuild "$W/a1" >/dev/null 2>"$W/e"; rc=$?
t_eq "no -c: exit 2" "$rc" 2
"$P" --rebuild -c "$W/c.conf" --day 2024-02-30 >/dev/null 2>"$W/e"; rc=$?
t_eq "bad --day: exit 2" "$rc" 2
t_grep "bad --day says so" "$W/e" "not a day"
"$P" --day 2024-01-01 "$W/a1" >/dev/null 2>&1; rc=$?
t_eq "--day without --rebuild: exit 2" "$rc" 2
"$P" --rebuild -c "$W/c.conf" "$W/nowhere" >/dev/null 2>"$W/e"; rc=$?
t_eq "missing archive: exit 4" "$rc" 4
t_grep "missing archive named" "$W/e" "nowhere"
mkdir "$W/plain"
"$P" --rebuild -c "$W/c.conf" "$W/plain" >/dev/null 2>"$W/e"; rc=$?
t_eq "not an archive: exit 4" "$rc" 4
t_grep "not an archive says so" "$W/e" "no archive-id"
"$P" --rebuild -c "$W/c.conf" "$W/a1" "$W/a1/" >/dev/null 2>"$W/e"; rc=$?
t_eq "one archive twice: exit 2" "$rc" 2
printf 'ReportAddress tlsrpt@example.net\nMemcachedServers 127.0.0.1:%s\nKeyPrefix rb:\n' \
    "$(svc_free_port)" >"$W/dead.conf"
"$P" --rebuild -c "$W/dead.conf" "$W/a1" >/dev/null 2>"$W/e"; rc=$?
t_eq "memcached unreachable: exit 3" "$rc" 3
exit $((T_FAILS > 0))
