#!/bin/sh
# t-milter-log.sh - where tlsrpt-milter's lines go and what they look like.
#   LogTarget stderr, LogFormat json: every line one valid JSON object (time,
#   level, pid, message; queue_id on mail lines); hostile bytes in a recipient
#   (invalid UTF-8, escape sequences) come out as '?' in text and JSON alike;
#   stderr that is the journal (JOURNAL_STREAM): "<PRIO>message" lines.
#   LogTarget syslog, in a private mount namespace whose /dev/log is a test
#   socket: lines go to syslog only (facility mail, once each), JSON too; a
#   start error also reaches stderr (-f and background); without /dev/log
#   the lines go to stderr instead of nowhere, also after detaching.
# The namespace parts need root, unshare and mount (SKIP otherwise); python3 checks JSON.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
M=$BUILD/tlsrpt-milter
D=$BUILD/tests/milter-driver
FX=$TLSRPT_SRCDIR/tests/fixtures
PY=/usr/bin/python3
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"

for p in "$M" "$D" "$PY"; do
    [ -x "$p" ] || { t_skip milter-log "no $p"; exit 0; }
done
command -v memcached >/dev/null 2>&1 || { t_skip milter-log "no memcached"; exit 0; }

svc_init
T=$SVC_TMP
MC=$(svc_memcached_start mc) || { t_fail "log: memcached start" "see $T/mc.log"; exit 1; }
SOCK=unix:$T/l.sock
user=
[ "$(id -u)" = 0 ] && user=root
HOSTILE=$(printf 'bad\377\376\033[31m@example.com')

# conf FILE "Key value"...
conf() {
    _f=$1
    shift
    {
        echo "Socket $SOCK"
        echo "ReportAddress tlsrpt@example.com"
        echo "Authentication none"
        echo "MemcachedServers 127.0.0.1:$MC"
        echo "User $user"
        echo "LogLevel debug"
        for _l in "$@"; do echo "$_l"; done
    } >"$_f"
}
# Two mails: a report, and one to a hostile recipient (logged at debug).
traffic() {
    "$D" -s "$SOCK" -r tlsrpt@example.com "$FX/basic-lf.eml" >/dev/null 2>&1
    "$D" -s "$SOCK" -r "$HOSTILE" "$FX/basic-lf.eml" >/dev/null 2>&1
}
# Is every line of $1 valid UTF-8 without control characters? (python, exit status)
clean_utf8() {
    "$PY" -c '
import sys
for l in open(sys.argv[1], "rb").read().split(b"\n"):
    t = l.decode("utf-8")
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in t), t
' "$1"
}

# --- LogTarget stderr, LogFormat json ---
conf "$T/j.conf" "LogTarget stderr" "LogFormat json"
svc_milter_start j "$T/j.conf" "$SOCK" || { t_fail "log: json milter starts" "$(tail -3 "$T/j.log")"; exit 1; }
traffic
svc_stop j
"$PY" - "$T/j.log" >"$T/j.check" 2>&1 <<'EOF'
import json, sys
n = q = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert set(o) >= {"time", "level", "pid", "message"}, o
    assert o["time"].endswith("Z") and o["level"] in ("error", "warning", "notice", "info", "debug")
    if o.get("queue_id") == "DRV00010001" and " org=" in o["message"]:
        q += 1
    if "recipient <bad" in o["message"]:
        assert o["message"].startswith("recipient <bad???[31m@example.com>"), o["message"]
        q += 1
    n += 1
print(n, q)
EOF
t_grep "log: json: every line a JSON object, mail lines with queue_id, hostile bytes as ?" "$T/j.check" '^[0-9]+ 2$'
t_grep "log: json: start line has no queue_id" "$T/j.log" '^\{"time":"[^"]*Z","level":"info","pid":[0-9]+,"message":"started '
t_check "log: json: valid UTF-8, no control characters" clean_utf8 "$T/j.log"

# --- text: the same hostile bytes ---
conf "$T/t.conf" "LogTarget stderr"
svc_milter_start t "$T/t.conf" "$SOCK" || { t_fail "log: text milter starts" "$(tail -3 "$T/t.log")"; exit 1; }
traffic
svc_stop t
t_grep "log: text: mail lines start with the queue id" "$T/t.log" ' info: DRV00010001: (counted|duplicate) org='
t_grep "log: text: hostile recipient logged with ?" "$T/t.log" 'debug: DRV00010001: recipient <bad\?\?\?\[31m@example.com>: other'
t_check "log: text: valid UTF-8, no control characters" clean_utf8 "$T/t.log"

# --- stderr that is the journal ---
: >"$T/js.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/js.log") "$M" -f -c "$T/t.conf" 2>>"$T/js.log" &
echo $! >"$T/js.pid"
n=0; while ! grep -q started "$T/js.log" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
svc_stop js
t_grep "log: journal: '<6>' prefix, no time stamp" "$T/js.log" '^<6>started '
t_nogrep "log: journal: no line with our own time stamp" "$T/js.log" '^[0-9]{4}-'

# --- LogTarget syslog: a private /dev/log ---
ns_ok=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
   unshare -m sh -c 'mount -t tmpfs tmpfs /mnt' 2>/dev/null; then
    ns_ok=1
fi
# NS: sh script run by unshare -m (env LOGSOCK, OLDDEV) that gives the command its own
# /dev, whose log is LOGSOCK ("" = no /dev/log at all); /dev/null etc. are the real
# ones. "LOGSOCK=... unshare -m sh -c "$NS" ns CMD... &" keeps one pid (unshare and
# sh exec), so svc_stop stops CMD itself.
mkdir -p "$T/olddev"
OLDDEV=$T/olddev
export OLDDEV
NS='set -e
mount --make-rprivate /
mount --bind /dev "$OLDDEV"
mount -t tmpfs -o mode=755 tmpfs /dev
for f in null zero random urandom; do touch /dev/$f; mount --bind "$OLDDEV/$f" /dev/$f; done
if [ -n "$LOGSOCK" ]; then touch /dev/log; mount --bind "$LOGSOCK" /dev/log; fi
exec "$@"'
# A syslog stand-in: every datagram on $1 appended to $2, one per line.
syslogd() {
    rm -f "$1"
    "$PY" - "$1" "$2" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab") as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\n") + b"\n")
        out.flush()
EOF
    echo $! >"$T/syslogd.pid"
    _n=0; while [ ! -S "$1" ] && [ $_n -lt 100 ]; do sleep 0.05; _n=$((_n + 1)); done
}
if [ $ns_ok = 1 ]; then
    syslogd "$T/log.sock" "$T/syslog"
    conf "$T/s.conf" "LogTarget syslog"
    LOGSOCK=$T/log.sock unshare -m sh -c "$NS" ns "$M" -f -c "$T/s.conf" >"$T/s.out" 2>"$T/s.err" &
    echo $! >"$T/s.pid"
    n=0; while ! "$D" -P -t 1 -s "$SOCK" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    traffic
    svc_stop s
    sleep 0.2
    t_grep "log: syslog: lines reach syslog, facility mail, ident tlsrpt-milter" "$T/syslog" \
        '^<22>.* tlsrpt-milter\[[0-9]+\]: started '
    t_grep "log: syslog: mail lines too" "$T/syslog" 'tlsrpt-milter\[[0-9]+\]: DRV00010001: (counted|duplicate) org='
    t_nogrep "log: syslog: nothing on stderr (once each, not twice)" "$T/s.err" '.'
    t_eq "log: syslog: the start line once" "$(grep -c ': started ' "$T/syslog")" 1

    : >"$T/syslog"
    conf "$T/sj.conf" "LogTarget syslog" "LogFormat json"
    LOGSOCK=$T/log.sock unshare -m sh -c "$NS" ns "$M" -f -c "$T/sj.conf" >/dev/null 2>"$T/sj.err" &
    echo $! >"$T/sj.pid"
    n=0; while ! "$D" -P -t 1 -s "$SOCK" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    svc_stop sj
    sleep 0.2
    t_check "log: syslog json: the message is a JSON object" "$PY" -c '
import json, sys
ls = [l for l in open(sys.argv[1], encoding="utf-8") if "started" in l]
assert ls and json.loads(ls[0].split("]: ", 1)[1])["message"].startswith("started ")' "$T/syslog"

    : >"$T/syslog"
    mkdir -p "$T/adir"
    conf "$T/f.conf" "LogTarget syslog" "PidFile $T/adir"
    LOGSOCK=$T/log.sock unshare -m sh -c "$NS" ns "$M" -f -c "$T/f.conf" >/dev/null 2>"$T/f.err"; rc=$?
    sleep 0.2
    t_eq "log: syslog, -f, start error: exit 1" "$rc" 1
    t_grep "log: syslog, -f, start error: on stderr too" "$T/f.err" "error: cannot write PidFile $T/adir: Is a directory"
    t_grep "log: syslog, -f, start error: in syslog" "$T/syslog" "cannot write PidFile $T/adir: Is a directory"
    LOGSOCK=$T/log.sock unshare -m sh -c "$NS" ns "$M" -c "$T/f.conf" >/dev/null 2>"$T/fb.err"; rc=$?
    t_eq "log: syslog, background, start error after the fork: exit 1" "$rc" 1
    t_grep "log: syslog, background, start error: on stderr" "$T/fb.err" "error: cannot write PidFile $T/adir"

    conf "$T/n.conf" "LogTarget syslog" "PidFile $T/n.pid"
    LOGSOCK= unshare -m sh -c "$NS" ns "$M" -c "$T/n.conf" 2>"$T/n.err"; rc=$?
    echo "$(cat "$T/n.pid" 2>/dev/null)" >"$T/nbg.pid"
    t_eq "log: no /dev/log: background start exits 0" "$rc" 0
    "$D" -s "$SOCK" -r tlsrpt@example.com "$FX/basic-lf.eml" >/dev/null 2>&1
    svc_stop nbg
    t_grep "log: no /dev/log: says so" "$T/n.err" 'notice: no syslog socket /dev/log: logging to stderr'
    t_grep "log: no /dev/log: lines go to stderr, also after detaching" "$T/n.err" 'info: DRV00010001: (counted|duplicate) org='
    kill "$(cat "$T/syslogd.pid")" 2>/dev/null
    rm -f "$T/syslogd.pid"
else
    t_skip "log: syslog target" "needs root, unshare and mount for a private /dev/log"
fi
exit 0
