#!/bin/sh
# t-milter-daemon.sh - tlsrpt-milter as a daemon: options, configuration
# check (-n) with file:line errors, background start with PidFile and the
# user change, refusal of a second instance on the same socket, one report
# counted and discarded, a non-report mail accepted at DATA, clean stop on
# SIGTERM (pid file and socket removed), and the OnStoreError modes with
# memcached unreachable (foreground -f, log on stderr).
# Needs build/tlsrpt-milter, build/tests/milter-driver and memcached; SKIPs otherwise.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
M=$BUILD/tlsrpt-milter
D=$BUILD/tests/milter-driver
FX=$TLSRPT_SRCDIR/tests/fixtures

ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1 (${2:-})"; }
check() { if eval "$2"; then ok "$1"; else bad "$1" "$2"; fi; }

if [ ! -x "$M" ]; then echo "SKIP: milter-daemon (no $M)"; exit 0; fi

# --- options and configuration check (no services needed) ---
v=$("$M" -V); check "daemon: -V prints the version" 'echo "$v" | grep -q "^tlsrpt-milter [0-9]"'
"$M" -h >/dev/null; check "daemon: -h exits 0" '[ $? -eq 0 ]'
"$M" -x >/dev/null 2>&1; rc=$?; check "daemon: bad option exits 2" '[ $rc -eq 2 ]'
out=$("$M" -n -c "$TLSRPT_SRCDIR/conf/tlsrpt-milter.conf"); rc=$?
check "daemon: -n accepts the sample" '[ $rc -eq 0 ] && echo "$out" | grep -q "configuration OK"'

. "$TLSRPT_SRCDIR/tests/lib/services.sh"
svc_init
printf 'ReportAddress a@example.com\nNope 1\nAction drop\n' >"$SVC_TMP/bad.conf"
err=$("$M" -n -c "$SVC_TMP/bad.conf" 2>&1); rc=$?
check "daemon: -n fails on errors" '[ $rc -eq 1 ]'
check "daemon: -n names file and line" 'echo "$err" | grep -qF "$SVC_TMP/bad.conf:2: unknown key '"'Nope'"'"'
check "daemon: -n reports every error" 'echo "$err" | grep -qF "$SVC_TMP/bad.conf:3: bad value for Action: '"'drop'"' (expected discard or tag)"'
printf 'Action tag\n' >"$SVC_TMP/noaddr.conf"
err=$("$M" -n -c "$SVC_TMP/noaddr.conf" 2>&1); rc=$?
check "daemon: ReportAddress is required" '[ $rc -eq 1 ] && echo "$err" | grep -q "no ReportAddress"'
"$M" -n -c "$SVC_TMP/missing.conf" >/dev/null 2>&1; rc=$?
check "daemon: missing file fails" '[ $rc -eq 1 ]'

if [ ! -x "$D" ] || ! command -v memcached >/dev/null 2>&1; then
    echo "SKIP: milter-daemon services (no milter-driver or memcached)"
    exit 0
fi
MC=$(svc_memcached_start mc) || { bad "daemon: memcached start" "see $SVC_TMP/mc.log"; exit 1; }

RUN=$SVC_TMP/run
mkdir -p "$RUN"
user=
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    user=nobody
    chown nobody "$RUN"
fi
cat >"$SVC_TMP/m.conf" <<EOF
Socket unix:$RUN/m.sock
ReportAddress tlsrpt@example.com
RecipientDelimiter +
MemcachedServers 127.0.0.1:$MC
PidFile $RUN/m.pid
User $user
LogLevel debug
EOF

# --- background start ---
"$M" -c "$SVC_TMP/m.conf" 2>"$SVC_TMP/m.err"; rc=$?
check "daemon: background start exits 0 when ready" '[ $rc -eq 0 ]'
pid=$(cat "$RUN/m.pid" 2>/dev/null)
echo "$pid" >"$SVC_TMP/m.pid"          # let svc_cleanup stop it on failure
check "daemon: PidFile holds a live pid" '[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null'
check "daemon: socket created" '[ -S "$RUN/m.sock" ]'
mode=$(stat -c %A "$RUN/m.sock" 2>/dev/null)
check "daemon: socket mode follows UMask 007" '[ "$mode" = "srwxrwx---" ]'
if [ -n "$user" ]; then
    u=$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
    check "daemon: runs as User after start" '[ "$u" = nobody ]'
fi
"$M" -f -c "$SVC_TMP/m.conf" >"$SVC_TMP/m2.log" 2>&1; rc=$?
check "daemon: second instance on the same socket refused" '[ $rc -eq 1 ] && grep -q "in use" "$SVC_TMP/m2.log"'
check "daemon: first instance still running" 'kill -0 "$pid" 2>/dev/null && [ -S "$RUN/m.sock" ]'

# --- traffic ---
out=$("$D" -s "unix:$RUN/m.sock" -r tlsrpt+x@example.com "$FX/basic-lf.eml" 2>&1)
check "daemon: report counted and discarded" 'echo "$out" | grep -qx DISCARD'
doms=$(svc_mc_get "$MC" tlsrpt:domains)
check "daemon: counts reached memcached" 'echo " $doms " | grep -q " example.net "'
out=$("$D" -s "unix:$RUN/m.sock" -r tlsrpt@example.com "$FX/no-report.eml" 2>&1)
check "daemon: no report: delivered with error status" \
    'echo "$out" | grep -qx "ADDHEADER X-TLSRPT-Status: error; reason=no-report" && echo "$out" | grep -qx ACCEPT'
out=$("$D" -s "unix:$RUN/m.sock" -r someone@example.com "$FX/basic-lf.eml" 2>&1)
check "daemon: other mail accepted at DATA" 'echo "$out" | grep -q "early=1" && ! echo "$out" | grep -q ADDHEADER'

# --- SIGTERM ---
kill -TERM "$pid"
n=0
while kill -0 "$pid" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
check "daemon: SIGTERM stops it" '! kill -0 "$pid" 2>/dev/null'
check "daemon: PidFile removed at exit" '[ ! -e "$RUN/m.pid" ]'
check "daemon: socket removed at exit" '[ ! -e "$RUN/m.sock" ]'

# --- memcached unreachable ---
dead=$(svc_free_port)
for mode in deliver tempfail; do
    cat >"$SVC_TMP/s.conf" <<EOF
Socket unix:$RUN/s.sock
ReportAddress tlsrpt@example.com
MemcachedServers 127.0.0.1:$dead
StoreTimeout 200
OnStoreError $mode
User $user
EOF
    svc_milter_start "s$mode" "$SVC_TMP/s.conf" "unix:$RUN/s.sock" ||
        { bad "daemon: start with OnStoreError $mode" "see $SVC_TMP/s$mode.log"; continue; }
    out=$("$D" -s "unix:$RUN/s.sock" -r tlsrpt@example.com "$FX/basic-crlf.eml" 2>&1)
    if [ $mode = deliver ]; then
        check "daemon: store down, deliver: error status" \
            'echo "$out" | grep -qx "ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable" && echo "$out" | grep -qx ACCEPT'
    else
        check "daemon: store down, tempfail: 451 4.3.0" 'echo "$out" | grep -q "^REPLYCODE 451 4.3.0"'
    fi
    check "daemon: store down, $mode: logged" 'grep -q "not counted: reason=store-unavailable" "$SVC_TMP/s$mode.log"'
    svc_stop "s$mode"
done
check "daemon: logs free of sanitizer reports" \
    '! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$SVC_TMP"/*.log "$SVC_TMP/m.err" 2>/dev/null'
exit 0
