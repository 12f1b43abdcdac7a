#!/bin/sh
# t-milter-daemon.sh - tlsrpt-milter as a daemon: options; -n as a real check
# of the file and this machine (socket directory and its permissions for
# User, socket path length, User/Group, KeyPrefix; every error FILE:LINE)
# and -n -v (every key, parses back to itself); start failures printed on
# stderr with exit 1 before the daemon detaches (socket directory missing,
# PidFile unwritable after the fork, inet port in use, socket in use);
# background start with PidFile, -p and the user change; one report counted
# and discarded; a non-report mail accepted at DATA; SIGTERM removes PidFile
# and socket; the OnStoreError modes with memcached unreachable.
# Signals are in t-milter-signals.sh, logging in t-milter-log.sh.
# Needs build/tlsrpt-milter, build/tests/milter-driver and memcached; SKIPs otherwise.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
M=$BUILD/tlsrpt-milter
D=$BUILD/tests/milter-driver
FX=$TLSRPT_SRCDIR/tests/fixtures
SAMPLE=$TLSRPT_SRCDIR/conf/tlsrpt-milter.conf

ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1 (${2:-})"; }
check() { if eval "$2"; then ok "$1"; else bad "$1" "$2"; fi; }
# Does a line of file $2 equal $1 exactly?
hasline() { grep -qxF -- "$1" "$2"; }

if [ ! -x "$M" ]; then echo "SKIP: milter-daemon (no $M)"; exit 0; fi

# --- options ---
v=$("$M" -V); check "daemon: -V prints the version" 'echo "$v" | grep -q "^tlsrpt-milter [0-9]"'
"$M" -h >/dev/null; check "daemon: -h exits 0" '[ $? -eq 0 ]'
"$M" -x >/dev/null 2>&1; rc=$?; check "daemon: bad option exits 2" '[ $rc -eq 2 ]'
"$M" -p run/x.pid -n >/dev/null 2>&1; rc=$?; check "daemon: -p wants an absolute path" '[ $rc -eq 2 ]'

. "$TLSRPT_SRCDIR/tests/lib/services.sh"
svc_init
T=$SVC_TMP
RUN=$T/run
mkdir -p "$RUN"
user=$(id -un)
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    user=nobody
    chown nobody "$RUN"
fi

# --- -n: the file ---
sed -e "s|^Socket .*|Socket unix:$RUN/m.sock|" -e "s|^User .*|User $user|" \
    -e "s|^ArchiveDir .*|ArchiveDir $RUN/archive|" "$SAMPLE" >"$T/sample.conf"
out=$("$M" -n -c "$T/sample.conf" 2>&1); rc=$?
check "daemon: -n accepts the sample (Socket, User, ArchiveDir of this machine)" \
    '[ $rc -eq 0 ] && [ "$out" = "$T/sample.conf: configuration OK" ]'
if ! id tlsrpt-milter >/dev/null 2>&1; then
    uline=$(grep -n '^User ' "$SAMPLE" | cut -d: -f1)
    "$M" -n -c "$SAMPLE" >/dev/null 2>"$T/e"; rc=$?
    check "daemon: -n: unknown User is an error with its line" \
        '[ $rc -eq 1 ] && hasline "$SAMPLE:$uline: User: unknown user '"'tlsrpt-milter'"'" "$T/e"'
fi
printf 'ReportAddress a@example.com\nNope 1\nAction drop\n' >"$T/bad.conf"
err=$("$M" -n -c "$T/bad.conf" 2>&1); rc=$?
check "daemon: -n fails on errors" '[ $rc -eq 1 ]'
check "daemon: -n names file and line" 'echo "$err" | grep -qF "$T/bad.conf:2: unknown key '"'Nope'"'"'
check "daemon: -n reports every error" 'echo "$err" | grep -qF "$T/bad.conf:3: bad value for Action: '"'drop'"' (expected discard or tag)"'
printf 'Action tag\nUser %s\nSocket unix:%s/m.sock\n' "$user" "$RUN" >"$T/noaddr.conf"
err=$("$M" -n -c "$T/noaddr.conf" 2>&1); rc=$?
check "daemon: ReportAddress is required" '[ $rc -eq 1 ] && echo "$err" | grep -q "no ReportAddress"'
"$M" -n -c "$T/missing.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: missing file fails" '[ $rc -eq 1 ] && grep -qF "$T/missing.conf: cannot open" "$T/e"'

# --- -n: this machine, every error with its line ---
base() { printf 'ReportAddress a@example.com\nUser %s\n' "$user"; }
{ base; echo "Socket unix:$T/nodir/m.sock"; } >"$T/n1.conf"
"$M" -n -c "$T/n1.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: -n: socket directory missing" \
    '[ $rc -eq 1 ] && hasline "$T/n1.conf:3: Socket: directory $T/nodir: does not exist" "$T/e"'
long=$T/$(printf '%0120d' 0).sock
{ base; echo "Socket unix:$long"; } >"$T/n2.conf"
"$M" -n -c "$T/n2.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: -n: socket path longer than sun_path" \
    '[ $rc -eq 1 ] && grep -q "^$T/n2.conf:3: bad value for Socket: the path is ${#long} bytes, a UNIX socket path holds at most 107$" "$T/e"'
printf 'ReportAddress a@example.com\nUser no-such-user-tm\nGroup no-such-group-tm\nSocket unix:%s/m.sock\n' \
    "$RUN" >"$T/n3.conf"
"$M" -n -c "$T/n3.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: -n: unknown User and Group, each with its line" \
    '[ $rc -eq 1 ] && hasline "$T/n3.conf:2: User: unknown user '"'no-such-user-tm'"'" "$T/e" && hasline "$T/n3.conf:3: Group: unknown group '"'no-such-group-tm'"'" "$T/e"'
{ base; echo "Socket unix:$RUN/m.sock"; echo "KeyPrefix has space"; } >"$T/n4.conf"
"$M" -n -c "$T/n4.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: -n: bad KeyPrefix with its line" \
    '[ $rc -eq 1 ] && grep -q "^$T/n4.conf:4: bad value for KeyPrefix: bad key prefix" "$T/e"'
if [ "$user" = nobody ]; then
    mkdir -p "$T/rootonly" "$T/closed/open"
    chmod 755 "$T/rootonly"; chmod 700 "$T/closed"; chmod 777 "$T/closed/open"
    uid=$(id -u nobody)
    { base; echo "Socket unix:$T/rootonly/m.sock"; } >"$T/n5.conf"
    "$M" -n -c "$T/n5.conf" >/dev/null 2>"$T/e"; rc=$?
    check "daemon: -n: socket directory not writable by User (as root, judged for User)" \
        '[ $rc -eq 1 ] && hasline "$T/n5.conf:3: Socket: user nobody (uid $uid) cannot create and remove files in $T/rootonly (mode 0755, owner uid 0, group gid 0)" "$T/e"'
    { base; echo "Socket unix:$T/closed/open/m.sock"; } >"$T/n6.conf"
    "$M" -n -c "$T/n6.conf" >/dev/null 2>"$T/e"; rc=$?
    check "daemon: -n: a directory above the socket not searchable by User" \
        '[ $rc -eq 1 ] && hasline "$T/n6.conf:3: Socket: user nobody (uid $uid) cannot reach $T/closed/open (no search permission on $T/closed, mode 0700)" "$T/e"'
    chgrp "$(id -gn nobody)" "$T/rootonly"; chmod 775 "$T/rootonly"
    "$M" -n -c "$T/n5.conf" >/dev/null 2>&1; rc=$?
    check "daemon: -n: group write for User's group is enough" '[ $rc -eq 0 ]'
else
    echo "SKIP: daemon: -n permission checks for User (needs root and user nobody)"
fi
printf 'ReportAddress a@example.com\nSocket unix:%s/m.sock\nUser %s\nPidFile %s/nodir/m.pid\n' \
    "$RUN" "$user" "$T" >"$T/n7.conf"
"$M" -n -c "$T/n7.conf" >/dev/null 2>"$T/e"; rc=$?
check "daemon: -n: PidFile directory missing" \
    '[ $rc -eq 1 ] && hasline "$T/n7.conf:4: PidFile: directory $T/nodir: does not exist" "$T/e"'

# --- -n -v: the effective configuration ---
"$M" -n -v -c "$T/sample.conf" >"$T/v1" 2>"$T/v1.err"; rc=$?
nkeys=$(grep -c '^[A-Za-z]' "$T/v1")
check "daemon: -n -v prints one line per key, defaults included ($nkeys keys)" \
    '[ $rc -eq 0 ] && [ "$nkeys" -ge 24 ] && hasline "LogTarget syslog" "$T/v1" && hasline "MaxMessageBytes 16M" "$T/v1" && hasline "Socket unix:$RUN/m.sock" "$T/v1"'
check "daemon: -n -v: 'configuration OK' on stderr, stdout only config" \
    'grep -q "configuration OK" "$T/v1.err" && ! grep -q "configuration OK" "$T/v1"'
"$M" -n -v -c "$T/v1" >"$T/v2" 2>/dev/null; rc=$?
check "daemon: -n -v output is a configuration that prints the same" '[ $rc -eq 0 ] && cmp -s "$T/v1" "$T/v2"'
"$M" -n -v -p "$RUN/p.pid" -c "$T/sample.conf" >"$T/v3" 2>/dev/null
check "daemon: -n -v shows the -p PidFile" 'hasline "PidFile $RUN/p.pid" "$T/v3"'

if [ ! -x "$D" ] || ! command -v memcached >/dev/null 2>&1; then
    echo "SKIP: milter-daemon services (no milter-driver or memcached)"
    exit 0
fi
MC=$(svc_memcached_start mc) || { bad "daemon: memcached start" "see $T/mc.log"; exit 1; }
cat >"$T/m.conf" <<EOF
Socket unix:$RUN/m.sock
ReportAddress tlsrpt@example.com
Authentication none
RecipientDelimiter +
MemcachedServers 127.0.0.1:$MC
PidFile $RUN/m.pid
User $user
LogLevel debug
LogTarget stderr
EOF

# --- start failures: on stderr, exit 1, before detaching ---
sed "s|^Socket .*|Socket unix:$T/nodir/f.sock|" "$T/m.conf" >"$T/f1.conf"
"$M" -c "$T/f1.conf" >"$T/f.out" 2>"$T/f.err"; rc=$?
check "daemon: start: socket directory missing: exit 1, reason on stderr" \
    '[ $rc -eq 1 ] && hasline "$T/f1.conf:1: Socket: directory $T/nodir: does not exist" "$T/f.err" && grep -q "not started" "$T/f.err"'
mkdir -p "$RUN/adir"
sed -e "s|^PidFile .*|PidFile $RUN/adir|" -e "s|^Socket .*|Socket unix:$RUN/f2.sock|" "$T/m.conf" >"$T/f2.conf"
"$M" -c "$T/f2.conf" >"$T/f.out" 2>"$T/f.err"; rc=$?
check "daemon: start: PidFile unwritable after the fork: exit 1, reason on stderr" \
    '[ $rc -eq 1 ] && grep -q "error: cannot write PidFile $RUN/adir: Is a directory" "$T/f.err"'
check "daemon: start: nothing left behind after a failure" '[ ! -e "$RUN/f2.sock" ] && ! pgrep -f "$T/f2.conf" >/dev/null'
sed "s|^Socket .*|Socket inet:$MC@127.0.0.1|" "$T/m.conf" >"$T/f3.conf"
"$M" -c "$T/f3.conf" >"$T/f.out" 2>"$T/f.err"; rc=$?
check "daemon: start: inet port in use: exit 1, bind error on stderr" \
    '[ $rc -eq 1 ] && grep -q "cannot open socket inet:$MC@127.0.0.1: bind: Address already in use" "$T/f.err"'

# --- background start ---
"$M" -c "$T/m.conf" 2>"$T/m.err"; rc=$?
check "daemon: background start exits 0 when ready" '[ $rc -eq 0 ]'
pid=$(cat "$RUN/m.pid" 2>/dev/null)
echo "$pid" >"$T/m.pid"          # let svc_cleanup stop it on failure
check "daemon: PidFile holds a live pid" '[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null'
check "daemon: socket created" '[ -S "$RUN/m.sock" ]'
mode=$(stat -c %A "$RUN/m.sock" 2>/dev/null)
check "daemon: socket mode follows UMask 007" '[ "$mode" = "srwxrwx---" ]'
if [ "$user" = nobody ]; then
    u=$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
    check "daemon: runs as User after start" '[ "$u" = nobody ]'
fi
"$M" -f -c "$T/m.conf" >"$T/m2.log" 2>&1; rc=$?
check "daemon: second instance on the same socket refused" '[ $rc -eq 1 ] && grep -q "in use" "$T/m2.log"'
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

# --- SIGTERM (a daemon is not our child: gone = no /proc entry or a zombie) ---
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
kill -TERM "$pid"
n=0
while ! gone "$pid" && [ $n -lt 150 ]; do sleep 0.02; n=$((n + 1)); done
check "daemon: SIGTERM stops it (within $((n * 20)) ms)" 'gone "$pid"'
check "daemon: PidFile removed at exit" '[ ! -e "$RUN/m.pid" ]'
check "daemon: socket removed at exit" '[ ! -e "$RUN/m.sock" ]'

# --- -p: the pid file from the command line ---
sed '/^PidFile /d' "$T/m.conf" >"$T/p.conf"
"$M" -c "$T/p.conf" -p "$RUN/p.pid" 2>"$T/p.err"; rc=$?
pid=$(cat "$RUN/p.pid" 2>/dev/null)
echo "$pid" >"$T/p.pid"
check "daemon: -p writes the pid file" '[ $rc -eq 0 ] && [ -n "$pid" ] && kill -0 "$pid"'
kill -TERM "$pid" 2>/dev/null
n=0
while ! gone "$pid" && [ $n -lt 150 ]; do sleep 0.02; n=$((n + 1)); done
check "daemon: -p pid file removed at exit" 'gone "$pid" && [ ! -e "$RUN/p.pid" ]'

# --- memcached unreachable ---
dead=$(svc_free_port)
for mode in deliver tempfail; do
    cat >"$T/s.conf" <<EOF
Socket unix:$RUN/s.sock
ReportAddress tlsrpt@example.com
Authentication none
MemcachedServers 127.0.0.1:$dead
StoreTimeout 200
OnStoreError $mode
User $user
LogTarget stderr
EOF
    svc_milter_start "s$mode" "$T/s.conf" "unix:$RUN/s.sock" ||
        { bad "daemon: start with OnStoreError $mode" "see $T/s$mode.log"; continue; }
    out=$("$D" -s "unix:$RUN/s.sock" -r tlsrpt@example.com "$FX/basic-crlf.eml" 2>&1)
    if [ $mode = deliver ]; then
        check "daemon: store down, deliver: error status" \
            'echo "$out" | grep -qx "ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable" && echo "$out" | grep -qx ACCEPT'
    else
        check "daemon: store down, tempfail: 451 4.3.0" 'echo "$out" | grep -q "^REPLYCODE 451 4.3.0"'
    fi
    check "daemon: store down, $mode: logged" 'grep -q "not counted: reason=store-unavailable" "$T/s$mode.log"'
    svc_stop "s$mode"
done
check "daemon: logs free of sanitizer reports" \
    '! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$T"/*.log "$T/m.err" "$T/f.err" 2>/dev/null'
exit 0
