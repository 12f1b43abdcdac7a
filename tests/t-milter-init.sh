#!/bin/sh
# t-milter-init.sh - init/tlsrpt-milter.init, the SysV script, run for real
# (start-stop-daemon, the built daemon, a private RUNDIR and config): start
# waits for the daemon and reports its failure non-zero with the daemon's own
# error (-n errors, and an error of the daemon itself: port in use); status;
# start twice; reload re-reads (a broken file is refused before anything is
# signalled); stop within a second, pid file and socket gone.
# Needs root, start-stop-daemon, memcached and the user nobody (SKIP otherwise).
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
M=$BUILD/tlsrpt-milter
D=$BUILD/tests/milter-driver
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"

[ -x "$M" ] || { t_skip milter-init "no $M"; exit 0; }
[ "$(id -u)" = 0 ] || { t_skip milter-init "needs root"; exit 0; }
for c in start-stop-daemon memcached; do
    command -v $c >/dev/null 2>&1 || { t_skip milter-init "no $c"; exit 0; }
done
id nobody >/dev/null 2>&1 || { t_skip milter-init "no user nobody"; exit 0; }

svc_init
T=$SVC_TMP
MC=$(svc_memcached_start mc) || { t_fail "init: memcached start" "see $T/mc.log"; exit 1; }
R=$T/rundir
sed -e "s|^DAEMON=.*|DAEMON=$M|" -e "s|^CONF=.*|CONF=$T/i.conf|" -e "s|^RUNDIR=.*|RUNDIR=$R|" \
    -e "s|^RUNUSER=.*|RUNUSER=nobody|" -e "s|^RUNGROUP=.*|RUNGROUP=$(id -gn nobody)|" \
    -e "s|^DEFAULTS=.*|DEFAULTS=$T/no-defaults|" "$TLSRPT_SRCDIR/init/tlsrpt-milter.init" >"$T/init"
# conf "Key value"...: the script's configuration, Socket in RUNDIR.
conf() {
    {
        echo "Socket unix:$R/i.sock"
        echo "ReportAddress tlsrpt@example.com"
        echo "Authentication none"
        echo "MemcachedServers 127.0.0.1:$MC"
        echo "User nobody"
        for _l in "$@"; do echo "$_l"; done
    } >"$T/i.conf"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# The daemon is not our child: gone = no /proc entry or a zombie.
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
# Run the script, its output into $T/out.ACTION. There is no syslog socket here, so
# the daemon logs to its stderr, RUNDIR/tlsrpt-milter.stderr.
init() { sh "$T/init" "$@" >"$T/out.$1" 2>&1; }

conf "Action discard"
init start; rc=$?
pid=$(cat "$R/tlsrpt-milter.pid" 2>/dev/null)
[ -n "$pid" ] && echo "$pid" >"$T/daemon.pid"      # svc_cleanup stops it on failure
t_eq "init: start exits 0" "$rc" 0
t_check "init: start: pid file names a live daemon" kill -0 "$pid"
t_check "init: start: the socket is there when start returns" test -S "$R/i.sock"
t_eq "init: start: the daemon runs as nobody" "$(ps -o user= -p "$pid" | tr -d ' ')" nobody
t_check "init: start: RUNDIR belongs to nobody" test "$(stat -c %U "$R")" = nobody
init status; t_eq "init: status: running" "$?" 0
init start; t_eq "init: start again: exit 0, still the same daemon" "$?:$(cat "$R/tlsrpt-milter.pid")" "0:$pid"

conf "Action tag"
init reload; rc=$?
t_eq "init: reload exits 0" "$rc" 0
n=0; while ! grep -q "SIGHUP: reloaded" "$R/tlsrpt-milter.stderr" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
t_grep "init: reload: the daemon re-read the file" "$R/tlsrpt-milter.stderr" 'SIGHUP: reloaded .*action tag'
conf "Action drop"
init reload; rc=$?
t_eq "init: reload of a broken file fails" "$rc" 1
t_grep "init: reload: the error with FILE:LINE" "$T/out.reload" "^$T/i.conf:6: bad value for Action: 'drop'"
t_nogrep "init: reload: a broken file is not signalled" "$R/tlsrpt-milter.stderr" "reload of .* failed"
t_check "init: reload: still running" kill -0 "$pid"

conf "Action discard"
t0=$(now_ms)
init stop; rc=$?
n=0; while ! gone "$pid" && [ $n -lt 200 ]; do sleep 0.01; n=$((n + 1)); done
ms=$(($(now_ms) - t0))
echo "# init stop: ${ms} ms"
t_eq "init: stop exits 0" "$rc" 0
t_check "init: stop: gone in ${ms} ms (< 1500)" test "$ms" -lt 1500
t_check "init: stop: daemon gone" gone "$pid"
t_check "init: stop: pid file and socket removed" test ! -e "$R/tlsrpt-milter.pid" -a ! -e "$R/i.sock"
rm -f "$T/daemon.pid"
init status; t_eq "init: status: not running" "$?" 3
init stop; t_eq "init: stop when stopped: exit 0" "$?" 0

# Start failures: non-zero, with the reason.
conf
sed -i "1s|.*|Socket unix:$T/nodir/i.sock|" "$T/i.conf"
init start; rc=$?
t_eq "init: start with a missing socket directory fails" "$rc" 1
t_grep "init: ... and says why (FILE:LINE)" "$T/out.start" "^$T/i.conf:1: Socket: directory $T/nodir: does not exist"
conf
sed -i "1s|.*|Socket inet:$MC@127.0.0.1|" "$T/i.conf"
init start; rc=$?
t_eq "init: start on a port in use fails" "$rc" 1
t_grep "init: ... with the daemon's own error" "$T/out.start" "cannot open socket inet:$MC@127.0.0.1: bind: Address already in use"
t_check "init: ... and no pid file is left" test ! -e "$R/tlsrpt-milter.pid"
[ "$T_FAILS" -eq 0 ]
