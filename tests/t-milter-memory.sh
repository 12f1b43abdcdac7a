#!/bin/sh
# t-milter-memory.sh - MaxDecodeMemory, the decoders' budget across mails (issue 13.1),
# through the real build/tlsrpt-milter and build/tests/milter-driver.
#
# A value bomb (a 12 KB mail whose gzip holds 8 MB of JSON: {"x":[0,0,...]}, 4
# million zeros, under MaxReportBytes) is decoded until MaxJsonValues stops it,
# taking ~70 MB for a moment inside one decoder call. Eight of them at once on eight
# connections: with MaxDecodeMemory 180M (one mail's decoder bound at the default
# limits is 174M, so one decoding step at a time) the milter's peak RSS (VmHWM, reset
# before the burst) stays within MaxDecodeMemory + its idle RSS + 8 MB, every mail is
# delivered with reason=json-too-many-values or answered 451 (none lost, none
# counted), and the RSS is back near idle after the burst (malloc_trim, one malloc
# arena). The same burst with a budget too large to matter is measured for the record.
# SIGTERM in a burst of 24: the mails still waiting for room are answered 451 4.3.1
# (logged with reason=memory-budget, "stopping"), none lost, the milter gone within
# a second. Two SIGTERMs while one body chunk of five bomb parts decodes (~1 s): the
# decoder's cancel hook cuts the step short, the mail gets a temporary failure logged
# with reason=cancelled, the milter is gone well before its 0.7 s deadline. -n refuses a MaxDecodeMemory below one mail's bound.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, python3, gzip.
# Under AddressSanitizer the RSS figures are printed, not checked (shadow memory).
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-milter-memory "$BUILD/tlsrpt-milter" "$DRV" memcached memccat python3 gzip base64
ASAN=
nm "$BUILD/tlsrpt-milter" 2>/dev/null | grep -q __asan_init && ASAN=1

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }

# Eight value bombs, each its own report-id.
python3 - "$W" <<'EOF'
import base64, gzip, sys
for n in range(8):
    js = ('{"organization-name":"Bomb","report-id":"bomb-%d","x":[' % n).encode()
    js += b",".join([b"0"] * 4000000) + b"]}"
    b64 = base64.encodebytes(gzip.compress(js, 9, mtime=0)).decode()
    with open("%s/bomb%d.eml" % (sys.argv[1], n), "w") as f:
        f.write("From: Bomb <bomb@reporter.test>\nTo: rua@rua.test\nSubject: bomb %d\n"
                "MIME-Version: 1.0\nContent-Type: multipart/report; boundary=\"XX\"\n\n"
                "--XX\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n"
                "\n%s--XX--\n" % (n, b64))
EOF
t_check "value bomb: a mail of about 12 KB" test "$(wc -c <"$W/bomb0.eml")" -lt 12288

# One mail of eight bomb parts (~96 KB): its first 64 KB body chunk holds five of them,
# one decoding step of ~1 s (each part fails json-too-many-values, the next one goes on).
python3 - "$W" <<'EOF'
import re, sys
parts = []
for n in range(8):
    m = open("%s/bomb%d.eml" % (sys.argv[1], n)).read()
    parts.append(re.search(r"--XX\n(.*?)--XX--\n", m, re.S).group(1))
with open("%s/multi.eml" % sys.argv[1], "w") as f:
    f.write("From: Bomb <bomb@reporter.test>\nTo: rua@rua.test\nSubject: eight bombs\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; boundary=\"XX\"\n\n")
    for p in parts:
        f.write("--XX\n" + p)
    f.write("--XX--\n")
EOF

# A status field of /proc/PID/status in kB: kb PID FIELD
kb() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# Start milter NAME with extra lines, one small mail through it; its pid in $pid.
mstart() {
    _mn=$1
    shift
    svc_milter_conf "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" "127.0.0.1:$MC" "LogLevel info" "$@"
    svc_milter_start "$_mn" "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" ||
        { t_fail "milter-start-$_mn" "$(tail -3 "$SVC_TMP/$_mn.log" | tr '\n' '|')"; exit 1; }
    pid=$(cat "$SVC_TMP/$_mn.pid")
    "$DRV" -t 20 -j 8 -n 1 -q -s "unix:$SVC_TMP/$_mn.sock" -r rua@rua.test "$FIX/plain.eml" >/dev/null
}

# The burst: 8 bombs on 8 connections into $W/NAME.out; idle/peak/after RSS in kB.
burst() {
    _bn=$1 _bm=$2
    sleep 0.3
    idle=$(kb "$pid" VmRSS)
    echo 5 >"/proc/$pid/clear_refs"         # VmHWM := VmRSS: the peak of the burst only
    timeout 120 "$DRV" -t 60 -j 8 -n 1 -s "unix:$SVC_TMP/$_bm.sock" -r rua@rua.test \
        "$W"/bomb*.eml >"$W/$_bn.out" 2>&1
    peak=$(kb "$pid" VmHWM)
    sleep 0.3
    after=$(kb "$pid" VmRSS)
    echo "# $_bn: VmRSS idle ${idle} kB, VmHWM during the burst ${peak} kB, VmRSS after ${after} kB"
}

# ---- a budget too large to matter: the peak for the record ----
mstart wide "MaxDecodeMemory 4096M"
burst wide wide
t_grep "no budget: the 8 bombs delivered" "$W/wide.out" '^SUMMARY messages=8 accept=8 .*errors=0 '
wide_peak=$peak
svc_stop wide

# ---- one bomb: the RSS is back near idle right after it ----
mstart one "MaxDecodeMemory 180M"
sleep 0.3
idle=$(kb "$pid" VmRSS)
timeout 60 "$DRV" -t 30 -s "unix:$SVC_TMP/one.sock" -r rua@rua.test "$W/bomb0.eml" >"$W/one.out" 2>&1
sleep 0.3
after=$(kb "$pid" VmRSS)
echo "# one bomb: VmRSS idle ${idle} kB, after ${after} kB"
t_grep "one bomb: delivered with json-too-many-values" "$W/one.out" \
    '^ADDHEADER X-TLSRPT-Status: error; reason=json-too-many-values$'
if [ -z "$ASAN" ]; then
    t_check "one bomb: RSS back near idle (${after} kB <= ${idle} + 8192 kB)" \
        test "$after" -le "$((idle + 8192))"
fi
svc_stop one

# ---- MaxDecodeMemory 180M: one decoding step at a time ----
mstart tight "MaxDecodeMemory 180M"
burst tight tight
t_grep "180M: the run is clean" "$W/tight.out" '^SUMMARY messages=8 .*errors=0 '
njson=$(grep -c '^ADDHEADER X-TLSRPT-Status: error; reason=json-too-many-values$' "$W/tight.out")
n451=$(grep -c '^REPLYCODE 451 4\.3\.1 ' "$W/tight.out")
echo "# 180M: $njson delivered with json-too-many-values, $n451 answered 451"
t_eq "180M: every bomb delivered with its reason or answered 451 (none lost)" "$((njson + n451))" 8
t_nogrep "180M: none discarded or counted" "$W/tight.out" '^(DISCARD|DELRCPT)'
t_eq "180M: nothing counted" "$(t_get "$MC" tlsrpt:domains)" ""
limit=$((180 * 1024 + idle + 8192))
if [ -n "$ASAN" ]; then
    echo "SKIP: RSS checks under AddressSanitizer (peak ${peak} kB, after ${after} kB)"
else
    t_check "180M: peak RSS ${peak} kB <= MaxDecodeMemory + idle ${idle} kB + 8 MB (${limit} kB)" \
        test "$peak" -le "$limit"
    t_check "180M: RSS back near idle after the burst (${after} kB <= ${idle} + 8192 kB)" \
        test "$after" -le "$((idle + 8192))"
fi
echo "# peak with no budget ${wide_peak} kB, with MaxDecodeMemory 180M ${peak} kB"
t_eq "180M: a log line per bomb" "$(grep -c -E 'not counted: reason=(json-too-many-values|memory-budget)' "$SVC_TMP/tight.log")" 8

# ---- SIGTERM in a burst of 24: the mails waiting for room get 451, the milter stops ----
i=8
while [ $i -lt 24 ]; do
    sed "s/^Subject: bomb 0/Subject: bomb $i/" "$W/bomb0.eml" >"$W/bomb$i.eml"
    i=$((i + 1))
done
mstart stop "MaxDecodeMemory 180M"
timeout 120 "$DRV" -t 60 -j 24 -n 1 -s "unix:$SVC_TMP/stop.sock" -r rua@rua.test "$W"/bomb*.eml \
    >"$W/stop.out" 2>&1 &
dpid=$!
sleep 0.5
svc_kill_ms "$pid"
stop_ms=$SVC_KILL_MS
wait $dpid
njson=$(grep -c '^ADDHEADER X-TLSRPT-Status: error; reason=json-too-many-values$' "$W/stop.out")
nmem=$(grep -c '^REPLYCODE 451 4\.3\.1 ' "$W/stop.out")
nstop=$(grep -c -E '^(CONNECTION )?TEMPFAIL$' "$W/stop.out")
# a mail still in flight when the listener closes (under load: a connection not yet
# accepted) gets no answer: its MTA applies milter_default_action (never a loss)
nleft=$(grep -c '^ERROR ' "$W/stop.out")
echo "# SIGTERM in a burst of 24 bombs: gone in ${stop_ms} ms; $njson decoded, $nmem answered 451 4.3.1, $nstop tempfail, $nleft left to the MTA"
t_check "SIGTERM in a burst: gone within a second (${stop_ms} ms)" test "$stop_ms" -lt 1000
t_eq "SIGTERM in a burst: every mail decoded, answered 451 or tempfail, or left to the MTA (none lost)" \
    "$((njson + nmem + nstop + nleft))" 24
t_check "SIGTERM in a burst: mails were still waiting for room ($nmem)" test "$nmem" -ge 1
t_grep "SIGTERM in a burst: logged with reason=memory-budget, stopping" "$SVC_TMP/stop.log" \
    'not counted: reason=memory-budget \(its next decoding step may take up to [0-9]+k, the decoders of all mails hold [0-9]+k; waited [0-9]+ ms, stopping, MaxDecodeMemory 184320k\); temporary failure returned \(451 4\.3\.1\)$'
rm -f "$SVC_TMP/stop.pid"

# ---- two SIGTERMs during one long decoding step: it is cut short (reason=cancelled) ----
mstart cut
timeout 60 "$DRV" -t 30 -c 65535 -n 1 -s "unix:$SVC_TMP/cut.sock" -r rua@rua.test "$W/multi.eml" \
    >"$W/cut.out" 2>&1 &
dpid=$!
sleep 0.3
svc_kill_ms -2 "$pid"                              # the second signal: hurry at once
cut_ms=$SVC_KILL_MS
wait $dpid
echo "# two SIGTERMs while five bomb parts decode in one body chunk: gone in ${cut_ms} ms"
t_grep "decoding cut short: the mail got a temporary failure" "$W/cut.out" '^TEMPFAIL$'
t_grep "decoding cut short: logged with reason=cancelled" "$SVC_TMP/cut.log" \
    'stopping: temporary failure at a body chunk \(reason=cancelled: its decoding was cut short\)$'
t_nogrep "decoding cut short: not left in flight" "$SVC_TMP/cut.log" 'still in flight at the stop'
# without the cut the step runs on past the 0.7 s deadline (the mail left to its MTA)
t_check "decoding cut short: gone well before the 0.7 s deadline (${cut_ms} ms)" \
    test "$cut_ms" -lt 600
rm -f "$SVC_TMP/cut.pid"

# ---- -n refuses a budget below one mail's bound ----
printf 'ReportAddress rua@rua.test\nSocket inet:%s@127.0.0.1\nUser root\nMaxDecodeMemory 100M\n' \
    "$(svc_free_port)" >"$W/n.conf"
"$BUILD/tlsrpt-milter" -n -c "$W/n.conf" >"$W/n.out" 2>&1
t_eq "-n: MaxDecodeMemory below one mail's bound fails" "$?" 1
t_grep "-n: ... with the figures" "$W/n.out" \
    "^$W/n.conf:4: MaxDecodeMemory 100M is less than one mail's decoder may hold at these limits \\(174M: "
exit 0
