#!/bin/sh
# t-stats.sh - tlsrpt-stats end to end. A private memcached is seeded through
# the project's own counting path (tests/stats-gen.py writes 40 days of
# reports for three domains, `tlsrpt-parse --push` counts them), then every
# analysis is checked exactly through --format json, the text view's key
# lines, the Prometheus output with promtool (and -o's atomic write), the
# HTML page's structure and escaping and its rendering in headless Chromium.
# Also: each error exit status (1 usage, 2 unreachable, 3 no data,
# 4 malformed counter, 5 output error) and hostile index contents.
# SKIPs when tlsrpt-stats, memcached or python3 is missing, or tlsrpt-parse
# has no --push; the promtool and Chromium parts SKIP when those are missing.
# STATS_KEEP=DIR copies the outputs (page.html, page.png, ...) there.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
S=$BUILD/tlsrpt-stats
P=$BUILD/tlsrpt-parse
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
"$S" -h | grep -q "4 malformed counter value"; check "--help documents exit statuses" '[ $? -eq 0 ]'

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
"$P" --push -c "$W/milter.conf" "$W"/reports/*.json >"$W/push.log" 2>&1; rc=$?
c=$(grep -c ': counted ' "$W/push.log")
check "tlsrpt-parse --push counts all $n generated reports" '[ $rc -eq 0 ] && [ "$c" -eq "$n" ] && [ "$n" -eq 351 ]'
ST="$S -c $W/milter.conf --today 2025-03-31"

# --- JSON: every analysis ---
$ST -v --format json >"$W/out.json" 2>"$W/verbose"; rc=$?
check "json exits 0" '[ $rc -eq 0 ]'
$CHK json "$W/out.json"
keys=$(sed -n 's/.*: \([0-9]*\) keys in \([0-9]*\) round trips/\1/p' "$W/verbose")
trips=$(sed -n 's/.*: \([0-9]*\) keys in \([0-9]*\) round trips/\2/p' "$W/verbose")
check "multi-get: $keys keys in $trips round trips" '[ "${keys:-0}" -gt 1500 ] && [ "${trips:-99}" -le 10 ]'
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

# --- malformed counter values: exit 4 naming the key ---
$CHK mcset "$port" "bad:domains" "x.example" "bad:d:x.example:days" "2025-03-31" \
    "bad:d:x.example:2025-03-31:ok" "12abc" "bad:d:x.example:2025-03-31:reports" "1"
$S --servers "$MC" --prefix bad: --today 2025-03-31 >"$W/o" 2>"$W/e"; rc=$?
check "text in a day counter exits 4" '[ $rc -eq 4 ] && [ ! -s "$W/o" ]'
check "the message names the key" 'grep -qF "key '"'bad:d:x.example:2025-03-31:ok'"' holds \"12abc\"" "$W/e"'
$CHK mcset "$port" "bad2:domains" "x.example" "bad2:d:x.example:days" "2025-03-31" \
    "bad2:d:x.example:2025-03-31:orgs" "Org%20A" "bad2:d:x.example:2025-03-31:org:Org%20A:fail" "-5"
$S --servers "$MC" --prefix bad2: --today 2025-03-31 --format json >/dev/null 2>"$W/e"; rc=$?
check "a negative org counter exits 4 naming it" '[ $rc -eq 4 ] && grep -qF "bad2:d:x.example:2025-03-31:org:Org%20A:fail" "$W/e"'

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
$S --servers "$MC" --prefix one: --today 2025-03-31 --format json >"$W/one.json"; rc=$?
check "one reporter: exits 0" '[ $rc -eq 0 ]'
$CHK single "$W/one.json"

if [ -n "$STATS_KEEP" ]; then
    mkdir -p "$STATS_KEEP" && cp "$W"/page.html "$W"/page.png "$W"/out.* "$STATS_KEEP"/ 2>/dev/null
fi
exit 0
