#!/bin/sh
# t-memcached-restart.sh - memcached's restartable mode keeps the counters over a
# planned restart (issue 10.4; README "memcached: sizing and restarts").
# A real memcached 1.6 runs with -e FILE on a tmpfs (/dev/shm); the epoch is marked
# (tests/stats-seed mark, as the milter's loss check does), 30 reports over 3 domains
# and 2 days are counted with tlsrpt-parse --push; every key and value is dumped
# (tests/lib/mc-dump.py: lru_crawler metadump + get). memcached is stopped with
# SIGUSR1 (its graceful restart: it writes FILE.meta and exits), started again with
# the same -e and -m: every key is back with its value, tlsrpt-stats does not say
# lost (text and JSON), a replay of the same reports is all duplicates (the dedup
# markers survived) and counting goes on. Then the control: SIGTERM (what a plain
# `systemctl stop` sends) and the same start come up empty, and tlsrpt-stats over
# the counters written after it says lost (no epoch while counters exist). And -M:
# a 2 MB memcached with -M refuses reports (stats-seed count, the store's own API:
# store-unavailable, or store-partial when the counter burst failed half-way) and
# evicts nothing, tlsrpt-stats then shows the reports counted (plus at most the
# partial ones) and says nothing lost; the same without -M evicts and tlsrpt-stats
# says lost.
# Prerequisites (else SKIP): memcached 1.5.18+ with -e, a tmpfs at /dev/shm,
# tlsrpt-parse, tlsrpt-stats, stats-seed, python3.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"

PARSE=$BUILD/tlsrpt-parse
STATS=$BUILD/tlsrpt-stats
SEED=$BUILD/tests/stats-seed
DUMP=$TLSRPT_SRCDIR/tests/lib/mc-dump.py
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-memcached-restart "$PARSE" "$STATS" "$SEED" memcached python3
memcached -h 2>/dev/null | grep -q -- '--memory-file' ||
    { t_skip t-memcached-restart "this memcached has no -e (restartable mode)"; exit 0; }
[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] ||
    { t_skip t-memcached-restart "/dev/shm is not a tmpfs"; exit 0; }

svc_init
W=$SVC_TMP/w
mkdir -p "$W/reports"
MEM=$(mktemp -u /dev/shm/tlsrpt-test-mc.XXXXXX)
svc_after_stop() { rm -f "$MEM" "$MEM.meta"; }
PORT=$(svc_free_port)
S=127.0.0.1:$PORT

# Start memcached with the memory file (same options every time): mc_start
mc_start() {
    memcached -d -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -c 256 -u root -e "$MEM" \
        -P "$SVC_TMP/mc.pid" >>"$SVC_TMP/mc.log" 2>&1 && svc_wait_port "$PORT"
}
# Stop it with signal $1 and wait until it is gone (at most 10 s): mc_stop SIG
mc_stop() {
    _p=$(cat "$SVC_TMP/mc.pid")
    kill -"$1" "$_p"
    _n=0
    while kill -0 "$_p" 2>/dev/null && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
    ! kill -0 "$_p" 2>/dev/null && rm -f "$SVC_TMP/mc.pid"
}

# 30 reports: 3 domains x 2 days x 5 reporters, from the fixture report
for dom in a.example b.example c.example; do
    for day in 2026-01-02 2026-01-03; do
        for k in 1 2 3 4 5; do
            sed -e "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"rs-$dom-$day-$k\"|" \
                -e "s|\"organization-name\": \"[^\"]*\"|\"organization-name\": \"Reporter $k\"|" \
                -e "s|\"policy-domain\": \"[^\"]*\"|\"policy-domain\": \"$dom\"|" \
                -e "s|2026-01-03T|${day}T|g" "$FIX/report2.json" >"$W/reports/$dom-$day-$k.json"
        done
    done
done
printf 'ReportAddress rua@rua.test\nMemcachedServers %s\nAuthentication none\n' "$S" >"$W/c.conf"

mc_start || { t_fail memcached-start "$(tail -3 "$SVC_TMP/mc.log" | tr '\n' '|')"; exit 1; }
t_eq "epoch marked (the loss check's mark)" "$("$SEED" -s "$S" mark)" ok
"$PARSE" --push -c "$W/c.conf" "$W/reports" >"$W/push1.out" 2>&1
t_eq "30 reports counted with tlsrpt-parse --push" "$(grep -c ': counted ' "$W/push1.out")" 30
python3 "$DUMP" dump "$S" >"$W/before.tsv" || t_fail "dump before" "mc-dump.py failed"
nkeys=$(wc -l <"$W/before.tsv" | tr -d ' ')
t_check "a store of $nkeys keys to compare (>= 100)" test "$nkeys" -ge 100
t_grep "the dump holds the counters" "$W/before.tsv" '^tlsrpt:d:a\.example:2026-01-02:reports	5$'
"$STATS" -c "$W/c.conf" --today 2026-01-03 --days 7 >"$W/stats0.txt" 2>&1
t_nogrep "before the restart: tlsrpt-stats does not say lost" "$W/stats0.txt" 'lost'

# ---- the graceful restart: SIGUSR1 ----
mc_stop USR1
t_check "SIGUSR1: memcached exits" test ! -f "$SVC_TMP/mc.pid"
t_check "SIGUSR1: it wrote $MEM.meta" test -s "$MEM.meta"
mc_start || { t_fail memcached-restart "$(tail -3 "$SVC_TMP/mc.log" | tr '\n' '|')"; exit 1; }
python3 "$DUMP" dump --also "$W/before.tsv" "$S" >"$W/after.tsv" || t_fail "dump after" "mc-dump.py failed"
if cmp -s "$W/before.tsv" "$W/after.tsv"; then
    t_pass "after the restart: every one of the $nkeys keys is back with its value"
else
    t_fail "after the restart: every key back" "$(diff "$W/before.tsv" "$W/after.tsv" | head -5 | tr '\n' '|')"
fi
"$STATS" -c "$W/c.conf" --today 2026-01-03 --days 7 >"$W/stats1.txt" 2>&1
t_eq "after the restart: tlsrpt-stats exits 0" "$?" 0
t_nogrep "after the restart: tlsrpt-stats does not say lost" "$W/stats1.txt" 'lost'
t_grep "after the restart: tlsrpt-stats shows the counts" "$W/stats1.txt" '^a\.example +10 '
"$STATS" -c "$W/c.conf" --today 2026-01-03 --days 7 --format json >"$W/stats1.json" 2>&1
t_eq "after the restart: JSON loss checked, not lost" "$(python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["loss"]
print(l["checked"], l["lost"])' "$W/stats1.json")" "True False"
"$PARSE" --push -c "$W/c.conf" "$W/reports" >"$W/push2.out" 2>&1
t_eq "a replay after the restart: all 30 duplicates" "$(grep -c ': duplicate ' "$W/push2.out")" 30
sed 's|"report-id": "[^"]*"|"report-id": "rs-after"|' "$W/reports/a.example-2026-01-02-1.json" >"$W/after.json"
"$PARSE" --push -c "$W/c.conf" "$W/after.json" >/dev/null 2>&1
t_eq "counting goes on after the restart" \
    "$(t_get "$PORT" tlsrpt:d:a.example:2026-01-02:reports)" 6

# ---- the control: SIGTERM does not keep the cache ----
mc_stop TERM
t_check "SIGTERM: memcached exits" test ! -f "$SVC_TMP/mc.pid"
mc_start || { t_fail memcached-restart2 "$(tail -3 "$SVC_TMP/mc.log" | tr '\n' '|')"; exit 1; }
python3 "$DUMP" dump --also "$W/before.tsv" "$S" >"$W/term.tsv"
t_eq "SIGTERM then the same start: the cache comes up empty" "$(wc -l <"$W/term.tsv" | tr -d ' ')" 0
"$PARSE" --push -c "$W/c.conf" "$W/reports/a.example-2026-01-02-1.json" >/dev/null 2>&1
"$STATS" -c "$W/c.conf" --today 2026-01-03 --days 7 >"$W/stats2.txt" 2>&1
t_grep "after SIGTERM: tlsrpt-stats says lost" "$W/stats2.txt" 'counters were lost'
mc_stop TERM

# ---- -M: a full memcached refuses new reports instead of evicting old counters ----
python3 "$TLSRPT_SRCDIR/bench/mc-sizing-gen.py" "$W/fill" 400 3 1 2026-01-03 >/dev/null
printf 'MaxDomainsPerReporter 100000\n' >>"$W/c.conf"
# fill NAME OPTIONS...: a 2 MB memcached with OPTIONS, epoch marked, 1200 reports pushed
fill() {
    _fn=$1
    shift
    rm -f "$MEM" "$MEM.meta"
    memcached -d -l 127.0.0.1 -p "$PORT" -U 0 -m 2 -c 256 -u root "$@" -P "$SVC_TMP/mc.pid" \
        >>"$SVC_TMP/mc.log" 2>&1 && svc_wait_port "$PORT" || return 1
    "$SEED" -s "$S" mark >/dev/null
    "$SEED" -s "$S" -D 100000 count "$W/fill/google.com"/*.json 2>"$W/$_fn.out"
    "$STATS" -c "$W/c.conf" --today 2026-01-03 --days 3 --format json >"$W/$_fn.json" 2>/dev/null
    python3 -c '
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\nquit\r\n")
b = b""
while True:
    c = s.recv(65536)
    if not c: break
    b += c
st = dict(l.split()[1:3] for l in b.decode().splitlines() if l.startswith("STAT "))
print(st["evictions"])' "$PORT" >"$W/$_fn.evictions"
    mc_stop TERM
}
if fill full -M; then
    nn=$(grep -c 'not counted: ' "$W/full.out")
    ns=$(grep -c 'not counted: store-\(unavailable\|partial\) ' "$W/full.out")
    np=$(grep -c 'not counted: store-partial ' "$W/full.out")
    nc=$((1200 - nn))
    t_check "-M: memcached filled up: some reports refused ($nn of 1200, $np partial)" test "$nn" -gt 0
    t_eq "-M: every refused report has a store reason" "$ns" "$nn"
    t_eq "-M: nothing evicted" "$(cat "$W/full.evictions")" 0
    t_eq "-M: tlsrpt-stats: nothing lost, and its reports are the $nc counted (+ at most the $np partial)" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
n = sum(x["totals"]["reports"] for x in d["domains"])
print(d["loss"]["lost"], int(sys.argv[2]) <= n <= int(sys.argv[2]) + int(sys.argv[3]))' "$W/full.json" "$nc" "$np")" "False True"
else
    t_fail "-M: memcached -m 2 -M starts" "$(tail -3 "$SVC_TMP/mc.log" | tr '\n' '|')"
fi
if fill evict; then
    t_check "without -M: memcached evicts ($(cat "$W/evict.evictions") items)" test "$(cat "$W/evict.evictions")" -gt 0
    t_eq "without -M: tlsrpt-stats says lost (evictions)" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["loss"]["lost"])' "$W/evict.json")" True
else
    t_fail "memcached -m 2 starts" "$(tail -3 "$SVC_TMP/mc.log" | tr '\n' '|')"
fi

[ "$T_FAILS" -eq 0 ]
