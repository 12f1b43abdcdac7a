#!/bin/sh
# t-stats.sh - tlsrpt-stats end to end. A private memcached is seeded through
# the project's own counting path (tests/stats-gen.py writes 40 days of
# reports for three domains, `tlsrpt-parse --push` counts them), then every
# analysis is checked exactly through --format json, the text view's key
# lines, the Prometheus output with promtool (and -o's atomic write), the
# HTML page's structure and escaping and its rendering in headless Chromium.
# Also: each error exit status (1 usage, 2 unreachable, 3 no data, 5 output
# error), hostile index contents, and key schema v2 (tests/stats-seed counts
# through the store's own API what --push cannot: DKIM identities with their
# org labels, not-counted candidates, partial marks, the epoch): labels, the
# policy-type split, not counted per day and reason, partial days, malformed
# and saturated counters (skipped / shown, everything else still printed, exit
# 0), chained index sets, and lost counters (memcached restarted empty; a 1 MB
# memcached evicting).
# SKIPs when tlsrpt-stats, memcached or python3 is missing, or tlsrpt-parse
# has no --push; the promtool and Chromium parts SKIP when those are missing.
# STATS_KEEP=DIR copies the outputs (page.html, page.png, ...) there.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
S=$BUILD/tlsrpt-stats
P=$BUILD/tlsrpt-parse
SEED=$BUILD/tests/stats-seed
T=$TLSRPT_SRCDIR/tests
CHK="python3 $T/stats-check.py"

ok() { echo "PASS: stats: $1"; }
bad() { echo "FAIL: stats: $1 (${2:-})"; }
check() { if eval "$2"; then ok "$1"; else bad "$1" "$2"; fi; }

if [ ! -x "$S" ]; then echo "SKIP: stats (no $S)"; exit 0; fi
for tool in memcached python3; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: stats (no $tool)"; exit 0; }
done

. "$T/lib/services.sh"
svc_init
W=$SVC_TMP

# --- usage errors: exit 1 ---
"$S" --format xml >/dev/null 2>"$W/e"; rc=$?
check "unknown format exits 1" '[ $rc -eq 1 ] && grep -q "unknown --format: xml" "$W/e"'
"$S" --days 0 >/dev/null 2>&1; rc=$?; check "--days 0 exits 1" '[ $rc -eq 1 ]'
"$S" --today 2025-02-30 >/dev/null 2>&1; rc=$?; check "bad --today exits 1" '[ $rc -eq 1 ]'
"$S" -c "$W/missing.conf" >/dev/null 2>"$W/e"; rc=$?
check "missing config exits 1" '[ $rc -eq 1 ] && grep -qF "$W/missing.conf: cannot open: No such file" "$W/e"'
# The milter's own reader: a file the milter refuses is refused with the same FILE:LINE lines.
printf 'ReportAddress a@example.com\nMemcachedServers 127.0.0.1:1\nAction drop\nKeyPrefix has space\nSocket unix:%s/m.sock\nUser %s\n' \
    "$W" "$(id -un)" >"$W/bad.conf"     # Socket, User: tlsrpt-milter -n checks them on this machine
"$S" -c "$W/bad.conf" >/dev/null 2>"$W/e"; rc=$?
check "config the milter refuses exits 1" '[ $rc -eq 1 ]'
check "config errors name file and line" 'grep -qxF "$W/bad.conf:3: bad value for Action: '"'drop'"' (expected discard or tag)" "$W/e" && grep -q "^$W/bad.conf:4: bad value for KeyPrefix: bad key prefix" "$W/e"'
if [ -x "$BUILD/tlsrpt-milter" ]; then
    "$BUILD/tlsrpt-milter" -n -c "$W/bad.conf" >/dev/null 2>"$W/me"
    grep "^$W/bad.conf:" "$W/e" >"$W/e.stats"; grep "^$W/bad.conf:" "$W/me" >"$W/e.milter"
    check "same errors as tlsrpt-milter -n" '[ -s "$W/e.stats" ] && cmp -s "$W/e.stats" "$W/e.milter"'
fi
"$S" --servers 'no host!' >/dev/null 2>&1; rc=$?; check "bad server list exits 1" '[ $rc -eq 1 ]'
"$S" -h | grep -q "malformed counters are skipped with a warning"; check "--help documents exit statuses" '[ $? -eq 0 ]'

# --- memcached unreachable: exit 2 ---
dead=$(svc_free_port)
"$S" --servers "127.0.0.1:$dead" >/dev/null 2>"$W/e"; rc=$?
check "unreachable memcached exits 2" '[ $rc -eq 2 ] && grep -q "memcached unreachable" "$W/e"'

port=$(svc_memcached_start mc) || { bad "memcached starts" "see $W/mc.log"; exit 1; }
MC="127.0.0.1:$port"

# --- no data: exit 3 ---
"$S" --servers "$MC" >"$W/o" 2>"$W/e"; rc=$?
check "empty memcached exits 3" '[ $rc -eq 3 ] && grep -q "no domains counted yet" "$W/e" && [ ! -s "$W/o" ]'

# --- seed through tlsrpt-parse --push ---
if [ ! -x "$P" ] || ! "$P" --help 2>&1 | grep -q -- '--push'; then
    echo "SKIP: stats (no tlsrpt-parse --push to seed memcached with)"
    exit 0
fi
n=$(python3 "$T/stats-gen.py" "$W/reports")
printf 'ReportAddress tlsrpt@example.com\nMemcachedServers %s\nKeyPrefix tlsrpt:\n' "$MC" >"$W/milter.conf"
# P epoch first, as tlsrpt-milter writes it at start: counters without it read as lost
[ -x "$SEED" ] || { bad "tests/stats-seed built" "$SEED"; exit 1; }
mark=$("$SEED" -s "$MC" mark); check "epoch marked on an empty memcached" '[ "$mark" = ok ]'
"$P" --push -c "$W/milter.conf" "$W"/reports/*.json >"$W/push.log" 2>&1; rc=$?
c=$(grep -c ': counted ' "$W/push.log")
check "tlsrpt-parse --push counts all $n generated reports" '[ $rc -eq 0 ] && [ "$c" -eq "$n" ] && [ "$n" -eq 351 ]'
ST="$S -c $W/milter.conf --today 2025-03-31"
"$P" --push -c "$W/milter.conf" "$W"/reports/*.json >"$W/push2.log" 2>&1; rc=$?
c=$(grep -c ': duplicate ' "$W/push2.log")
check "tlsrpt-parse --push again: exit 0, all $n duplicates" '[ $rc -eq 0 ] && [ "$c" -eq "$n" ]'
f1=$(ls "$W"/reports/*.json | head -1)
"$P" --push -c "$W/milter.conf" --prefix pp: "$f1" >/dev/null 2>&1; rc=$?
"$S" --servers "$MC" --prefix pp: --today 2025-03-31 --days 366 --format json >"$W/pp.json" 2>/dev/null; rc2=$?
check "tlsrpt-parse --push --prefix: counted under that prefix" '[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(sum(x[\"totals\"][\"reports\"] for x in d[\"domains\"]) != 1)" "$W/pp.json"'

# --- JSON: every analysis ---
$ST -v --format json >"$W/out.json" 2>"$W/verbose"; rc=$?
check "json exits 0" '[ $rc -eq 0 ]'
$CHK json "$W/out.json"
keys=$(sed -n 's/.*: \([0-9]*\) keys in \([0-9]*\) round trips/\1/p' "$W/verbose")
trips=$(sed -n 's/.*: \([0-9]*\) keys in \([0-9]*\) round trips/\2/p' "$W/verbose")
check "multi-get: $keys keys in $trips round trips" '[ "${keys:-0}" -gt 1000 ] && [ "${trips:-99}" -le 8 ]'
$ST --days 7 --format json SPIKE.Example. >"$W/d7.json"; rc=$?
check "named domain, --days 7 exits 0" '[ $rc -eq 0 ]'
$CHK json7 "$W/d7.json"

# --- text ---
$ST >"$W/out.txt"; rc=$?
check "text exits 0" '[ $rc -eq 0 ]'
$CHK text "$W/out.txt"

# --- Prometheus ---
$ST --format prometheus >"$W/out.prom"; rc=$?
check "prometheus exits 0" '[ $rc -eq 0 ]'
$CHK prom "$W/out.prom"
mkdir -p "$W/node"
$ST --format prometheus -o "$W/node/tlsrpt.prom"; rc=$?
check "-o writes the file atomically (no temp left)" '[ $rc -eq 0 ] && [ -s "$W/node/tlsrpt.prom" ] && [ "$(ls "$W/node" | wc -l)" -eq 1 ]'
$ST --format prometheus -o "$W/nodir/tlsrpt.prom" 2>/dev/null; rc=$?
check "-o into a missing directory exits 5" '[ $rc -eq 5 ]'
# the command line of init/tlsrpt-stats.service, with the test's paths
unit=$TLSRPT_SRCDIR/init/tlsrpt-stats.service
mkdir -p "$W/textfile"
cmd=$(sed -n 's/^ExecStart=//p' "$unit" | sed "s|/usr/local/bin/tlsrpt-stats|$S|; s|/etc/tlsrpt-milter.conf|$W/milter.conf|; s|/var/lib/prometheus/node-exporter|$W/textfile|")
$cmd --today 2025-03-31; rc=$?
check "the service's ExecStart writes tlsrpt.prom" '[ $rc -eq 0 ] && [ -s "$W/textfile/tlsrpt.prom" ] && [ "$(grep -v generated_timestamp "$W/textfile/tlsrpt.prom")" = "$(grep -v generated_timestamp "$W/node/tlsrpt.prom")" ]'
check "the timer runs it every 15 minutes" 'grep -q "^OnCalendar=\*:0/15" "$TLSRPT_SRCDIR/init/tlsrpt-stats.timer"'
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$W/out.prom" >"$W/promtool.log" 2>&1; rc=$?
    check "promtool check metrics passes" '[ $rc -eq 0 ]'
    promtool check metrics <"$W/node/tlsrpt.prom" >/dev/null 2>&1; rc=$?
    check "promtool passes the -o file" '[ $rc -eq 0 ]'
else
    echo "SKIP: stats: promtool check metrics (no promtool: apt-get install prometheus)"
fi

# --- HTML, rendered in headless Chromium ---
$ST --format html >"$W/page.html"; rc=$?
check "html exits 0" '[ $rc -eq 0 ]'
$CHK html "$W/page.html"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
if [ -n "$CHROME" ]; then
    mkdir -p "$W/home" "$W/chrome"
    copts="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir=$W/chrome"
    HOME=$W/home timeout 120 "$CHROME" $copts --screenshot="$W/page.png" \
        --window-size=1200,2000 "file://$W/page.html" >"$W/chrome.log" 2>&1
    check "chromium wrote a screenshot" '[ -s "$W/page.png" ]'
    [ -s "$W/page.png" ] && $CHK png "$W/page.png"
    HOME=$W/home timeout 120 "$CHROME" $copts --dump-dom "file://$W/page.html" \
        >"$W/dom.html" 2>>"$W/chrome.log"
    $CHK dom "$W/dom.html"
else
    echo "SKIP: stats: chromium rendering (no chromium: apt-get install chromium)"
fi

# --- no data for a named domain: exit 3 ---
$ST nothere.example >/dev/null 2>"$W/e"; rc=$?
check "unknown domain exits 3" '[ $rc -eq 3 ] && grep -q "no data for nothere.example" "$W/e"'
$S -c "$W/milter.conf" --today 2025-01-31 spike.example >/dev/null 2>&1; rc=$?
check "domain without a day in the window exits 3" '[ $rc -eq 3 ]'

# --- key schema v2 through the store's own API (stats-gen.py V2_DOC) ---
python3 "$T/stats-gen.py" v2 "$W/v2"
printf 'ReportAddress tlsrpt@example.com\nMemcachedServers %s\nKeyPrefix v2:\n' "$MC" >"$W/v2.conf"
# seed PREFIX: the v2 scenario under PREFIX (epoch, reports by signer, partial mark, nc)
seed_v2() {
    "$SEED" -s "$MC" -p "$1" mark >/dev/null &&
    for sg in google.com microsoft.com evil.example; do
        "$SEED" -s "$MC" -p "$1" -k $sg count "$W/v2/$sg"/*.json || return 1
    done &&
    "$SEED" -s "$MC" -p "$1" count "$W/v2/none"/*.json &&
    "$SEED" -s "$MC" -p "$1" partial "$W/v2/none/part.json" &&
    python3 "$T/stats-gen.py" nc | while read -r day reason cnt; do
        "$SEED" -s "$MC" -p "$1" nc "$day" "$reason" "$cnt" || exit 1
    done
}
seed_v2 v2:; check "v2 scenario counted through the store" '[ $? -eq 0 ]'
V2="$S -c $W/v2.conf --today 2025-03-31 --days 7"
for f in json text prometheus html; do
    $V2 --format $f >"$W/v2.$f" 2>"$W/v2.$f.err"; rc=$?
    check "v2: $f exits 0 without warnings" '[ $rc -eq 0 ] && [ ! -s "$W/v2.$f.err" ]'
done
$CHK v2 "$W/v2.json"
$CHK notlost "$W/v2.json"
$CHK v2text "$W/v2.text"
$CHK v2prom "$W/v2.prometheus"
$CHK v2html "$W/v2.html"
check "v2: the rebuild command names the -c file" 'tr "\n" " " <"$W/v2.text" | tr -s " " | grep -qF -- "--rebuild -c $W/v2.conf --day 2025-03-29"'
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$W/v2.prometheus" >"$W/promtool-v2.log" 2>&1; rc=$?
    check "v2: promtool check metrics passes" '[ $rc -eq 0 ]'
fi

# --- malformed, right-padded and saturated counters: named, skipped, shown; exit 0 ---
seed_v2 bad:
$CHK mcset "$port" "bad:d:lab.example:2025-03-31:reports" "abc" \
    "bad:d:pt.example:2025-03-31:org:PT%20Org:fail" "999       " \
    "bad:d:part.example:2025-03-29:ptype:sts:ok" "9223372036854775807" \
    "bad:d:pt.example:2025-03-30:ptype:sts:ok" "18446744073709551615"
BADS="$S --servers $MC --prefix bad: --today 2025-03-31 --days 7"
$BADS --format json >"$W/bad.json" 2>"$W/bad.err"; rc=$?
check "malformed counter: exit 0, the report is written" '[ $rc -eq 0 ] && [ -s "$W/bad.json" ]'
check "malformed counter: standard error names the key" 'grep -qF "malformed counter skipped: key '"'bad:d:lab.example:2025-03-31:reports'"' holds \"abc\"" "$W/bad.err"'
$CHK bad "$W/bad.json"
$BADS >"$W/bad.text" 2>/dev/null; rc=$?
check "malformed counter: text exits 0" '[ $rc -eq 0 ]'
$CHK badtext "$W/bad.text"
$BADS --format prometheus >"$W/bad.prom" 2>/dev/null
check "malformed counter: prometheus counts it" 'grep -qx "tlsrpt_stats_malformed_counters 1" "$W/bad.prom" && grep -qx "tlsrpt_window_saturated{domain=\"part.example\"} 1" "$W/bad.prom"'
$BADS --format html >"$W/bad.html" 2>/dev/null
check "malformed counter: html names it" 'grep -qF "<code>bad:d:lab.example:2025-03-31:reports</code> holds &quot;abc&quot;" "$W/bad.html" && grep -qF "&gt;=2^63-1" "$W/bad.html"'
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$W/bad.prom" >/dev/null 2>&1; rc=$?
    check "malformed counter: promtool passes" '[ $rc -eq 0 ]'
fi

# --- chained index sets: P domains and one day's mxs longer than one 64 KB link ---
python3 "$T/stats-gen.py" chain "$W/chain"
"$SEED" -s "$MC" -p ch: mark >/dev/null && "$SEED" -s "$MC" -p ch: -n 100000 count "$W/chain/none"/*.json &&
    "$SEED" -s "$MC" -p ch: bench 3500 1 2025-03-31 >/dev/null; rc=$?
check "chained sets seeded" '[ $rc -eq 0 ]'
check "P domains is chained (link 1 exists)" '[ -n "$(svc_mc_get "$port" "ch:domains:+1")" ] && svc_mc_get "$port" "ch:domains" | grep -q "+1"'
check "the mxs set is chained" 'svc_mc_get "$port" "ch:d:chmx.example:2025-03-31:mxs" | grep -q "+1"'
$S --servers "$MC" --prefix ch: --today 2025-03-31 --days 1 --format json -v >"$W/chain.json" 2>"$W/chain.err"; rc=$?
check "chained sets: exit 0" '[ $rc -eq 0 ]'
$CHK chain "$W/chain.json"
trips=$(sed -n 's/.*: \([0-9]*\) keys in \([0-9]*\) round trips/\2/p' "$W/chain.err")
check "chained sets: one more round trip per phase with a chain ($trips)" '[ "${trips:-99}" -le 6 ]'

# --- lost counters: memcached restarted empty, then a 1 MB memcached evicting ---
lport=$(svc_memcached_start lost) || { bad "second memcached starts" "see $W/lost.log"; exit 1; }
printf 'ReportAddress tlsrpt@example.com\nMemcachedServers 127.0.0.1:%s\nKeyPrefix tlsrpt:\n' "$lport" >"$W/lost.conf"
"$SEED" -s "127.0.0.1:$lport" mark >/dev/null && "$SEED" -s "127.0.0.1:$lport" count "$W/v2/none"/lab*.json
LS="$S -c $W/lost.conf --today 2025-03-31 --days 7"
$LS --format json >"$W/lost0.json" 2>/dev/null
$CHK notlost "$W/lost0.json"
svc_stop lost
svc_memcached_start lost "$lport" >/dev/null || { bad "memcached restarts" "see $W/lost.log"; exit 1; }
$LS >/dev/null 2>"$W/e"; rc=$?
check "restarted empty, nothing counted since: no data (exit 3)" '[ $rc -eq 3 ] && grep -q "no domains counted yet" "$W/e"'
"$SEED" -s "127.0.0.1:$lport" count "$W/v2/none/pt-2025-03-31.json"      # the milter counts on
$LS >"$W/lost.text" 2>"$W/lost.err"; rc=$?
check "restarted empty: the text says lost and names the rebuild" '[ $rc -eq 0 ] && grep -q "WARNING: counters were lost" "$W/lost.text" && tr "\n" " " <"$W/lost.text" | tr -s " " | grep -qF "rebuild them from the archive with: tlsrpt-parse --rebuild -c $W/lost.conf"'
check "restarted empty: standard error says lost too" 'grep -q "counters were lost: .*lost its data" "$W/lost.err"'
$LS --format json >"$W/lost.json" 2>/dev/null
$CHK lost restart "$W/lost.json"
$LS --format prometheus >"$W/lost.prom" 2>/dev/null
check "restarted empty: tlsrpt_counters_lost{reason=restart} 1" 'grep -qx "tlsrpt_counters_lost{reason=\"restart\"} 1" "$W/lost.prom"'
$LS --format html >"$W/lost.html" 2>/dev/null
check "restarted empty: the html says lost" 'grep -q "class=\"verdict bad lost\">Counters were lost: " "$W/lost.html"'
eport=$(svc_free_port)
memcached -d -l 127.0.0.1 -p "$eport" -U 0 -m 1 -I 512k -c 64 -u root -P "$SVC_TMP/evict.pid" \
    >>"$SVC_TMP/evict.log" 2>&1 && svc_wait_port "$eport" || { bad "1 MB memcached starts" "see $SVC_TMP/evict.log"; exit 1; }
"$SEED" -s "127.0.0.1:$eport" bench 1000 3 2025-03-31 >/dev/null
$S --servers "127.0.0.1:$eport" --today 2025-03-31 --days 3 --format json >"$W/evict.json" 2>"$W/evict.err"; rc=$?
check "evictions: exit 0" '[ $rc -eq 0 ]'
$CHK lost evictions "$W/evict.json"
check "evictions: standard error says so" 'grep -q "counters were lost: .*evicted [0-9]* items" "$W/evict.err"'

# --- hostile index contents: no crash, every format safe ---
$CHK mcset "$port" "h:domains" "x.example bad%ZZ ../../etc %0A%0D %3Cscript%3E.example a:b" \
    "h:d:x.example:days" "2025-03-31 notaday 9999-99-99 2025-02-30" \
    "h:d:x.example:2025-03-31:ok" "5" "h:d:x.example:2025-03-31:fail" "7 " \
    "h:d:x.example:2025-03-31:reports" "1" \
    "h:d:x.example:2025-03-31:orgs" "%1B%5B31mEvil%00 %FF%FEx %E2%80%AE" \
    "h:d:x.example:2025-03-31:org:%1B%5B31mEvil%00:fail" "7" \
    "h:d:x.example:2025-03-31:mxs" "%01mx %02mx" \
    "h:d:x.example:2025-03-31:mx:%01mx:fail" "3" "h:d:x.example:2025-03-31:mx:%02mx:fail" "4" \
    "h:d:x.example:2025-03-31:types" "certificate-expired %3Cb%3E" \
    "h:d:x.example:2025-03-31:type:certificate-expired" "2" "h:d:x.example:2025-03-31:type:%3Cb%3E" "5"
"$SEED" -s "$MC" -p h: mark >/dev/null
$CHK mcset "$port" "h:org:%1B%5B31mEvil%00:name" "%FF%FE%0A%3Cb%3E%1B%5B0m" \
    "h:d:x.example:2025-03-31:ptype:sts:ok" "5" "h:d:x.example:2025-03-31:ptype:sts:fail" "7   "
HS="$S --servers $MC --prefix h: --today 2025-03-31"
for f in text json prometheus html; do
    $HS --format $f >"$W/h.$f" 2>"$W/h.$f.err"; rc=$?
    check "hostile index: $f exits 0" '[ $rc -eq 0 ] && [ -s "$W/h.$f" ]'
done
check "hostile index: invalid members warned about" 'grep -q "invalid member(s) skipped" "$W/h.text.err"'
$CHK hostile "$W/h.json"
check "hostile index: no escape byte in text" '! grep -q "$(printf "\033")" "$W/h.text"'
check "hostile index: unknown majority type said so" 'grep -q "are <b> (not an RFC 8460 type)" "$W/h.text"'
check "hostile index: html escapes the type" 'grep -q "are &lt;b&gt; (not an RFC 8460 type)" "$W/h.html" && ! grep -v "^<li><b>" "$W/h.html" | grep -q "<b>"'
check "hostile index: labels that escape alike are summed" 'grep -qF "mx=\"?mx\"} 7" "$W/h.prometheus"'
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$W/h.prometheus" >/dev/null 2>&1; rc=$?
    check "hostile index: promtool passes" '[ $rc -eq 0 ]'
fi

# --- one reporter, one MX, mode none, no majority type ---
$CHK mcset "$port" "one:domains" "one.example" "one:d:one.example:days" "2025-03-30" \
    "one:d:one.example:2025-03-30:reports" "1" "one:d:one.example:2025-03-30:ok" "10" \
    "one:d:one.example:2025-03-30:fail" "4" "one:d:one.example:2025-03-30:mode:none" "1" \
    "one:d:one.example:2025-03-30:orgs" "Only%20Org" \
    "one:d:one.example:2025-03-30:org:Only%20Org:ok" "10" \
    "one:d:one.example:2025-03-30:org:Only%20Org:fail" "4" \
    "one:d:one.example:2025-03-30:mxs" "mx.one.example" \
    "one:d:one.example:2025-03-30:mx:mx.one.example:fail" "4" \
    "one:d:one.example:2025-03-30:types" "tlsa-invalid dnssec-invalid" \
    "one:d:one.example:2025-03-30:type:tlsa-invalid" "2" \
    "one:d:one.example:2025-03-30:type:dnssec-invalid" "2"
"$SEED" -s "$MC" -p one: mark >/dev/null
$S --servers "$MC" --prefix one: --today 2025-03-31 --format json >"$W/one.json"; rc=$?
check "one reporter: exits 0" '[ $rc -eq 0 ]'
$CHK single "$W/one.json"

# --- every threshold exactly at its value and one past it (tests/stats-bounds.py) ---
python3 "$T/stats-bounds.py" seed "$port"
for p in $(python3 "$T/stats-bounds.py" prefixes); do
    $S --servers "$MC" --prefix "$p" --today 2025-03-31 --format json >"$W/b.json"; rc=$?
    check "bounds $p: exits 0" '[ $rc -eq 0 ]'
    python3 "$T/stats-bounds.py" check "$p" "$W/b.json"
done
for n in 1 366; do
    $S --servers "$MC" --prefix rd-21: --today 2025-03-31 --days $n --format json >"$W/b.json"; rc=$?
    check "--days $n accepted" '[ $rc -eq 0 ]'
    python3 "$T/stats-bounds.py" window $n "$W/b.json"
done
"$S" --servers "$MC" --days 367 >/dev/null 2>"$W/e"; rc=$?
check "--days 367 exits 1" '[ $rc -eq 1 ] && grep -q "from 1 to 366" "$W/e"'

if [ -n "$STATS_KEEP" ]; then
    mkdir -p "$STATS_KEEP" && cp "$W"/page.html "$W"/page.png "$W"/out.* "$STATS_KEEP"/ 2>/dev/null
fi
exit 0
