#!/bin/sh
# t-milter-metrics.sh - the milter's own figures as a Prometheus textfile
# (MetricsFile, issue 10.6): the real build/tlsrpt-milter with a real memcached,
# driven by build/tests/milter-driver with mails of each kind: counted (two
# reports), a duplicate, not counted for three reasons (no-report, corrupt-gzip,
# foreign-domain), a mail with no report recipient (not a candidate), memcached
# stopped (store-unavailable, delivered), a failed and a good SIGHUP reload, then
# OnStoreError tempfail (451), a reload to a MetricsFile that cannot be written
# (logged once, mails still answered) and back; with Authentication dkim a signed report (pass),
# an unsigned one (none) and a tampered one (fail). The textfile must hold
# exactly those numbers, be replaced atomically (no .tmp left, mode 0644), pass
# `promtool check metrics`, and be written a last time at SIGTERM, which still
# stops within a second. `-n` checks MetricsFile's directory (missing, not
# writable by User). tlsrpt-stats --format prometheus over the same memcached
# also passes promtool.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, memccat;
# promtool (Debian package prometheus) for its checks; /usr/bin/python3 with
# dkim and openssl for the DKIM part.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

MILTER=$BUILD/tlsrpt-milter
DRV=$BUILD/tests/milter-driver
STATS=$BUILD/tlsrpt-stats
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
SIGN=$TLSRPT_SRCDIR/tests/lib/dkim-sign.py
t_need t-milter-metrics "$MILTER" "$DRV" "$STATS" memcached memccat gzip base64
HAVE_PROMTOOL=
command -v promtool >/dev/null 2>&1 && HAVE_PROMTOOL=1

svc_init
W=$SVC_TMP/w
NODE=$SVC_TMP/node
mkdir -p "$W" "$NODE"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
PROM=$NODE/tlsrpt-milter.prom

# Run the driver into $W/NAME.out: drive NAME MILTER driver-args...
drive() {
    _dn=$1 _ds=$2
    shift 2
    timeout 60 "$DRV" -t 20 -s "unix:$SVC_TMP/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}

# A sample's value in FILE ("name{labels}" exactly; empty when absent): mval FILE SAMPLE
mval() {
    awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) exit 1 }' "$1"
}

# Wait (at most 6 s) until SAMPLE in FILE has VALUE: mwait FILE SAMPLE VALUE
mwait() {
    _n=0
    while [ "$(mval "$1" "$2" 2>/dev/null)" != "$3" ] && [ $_n -lt 60 ]; do
        sleep 0.1
        _n=$((_n + 1))
    done
}

# promtool check metrics on FILE (SKIP without promtool): promcheck NAME FILE
promcheck() {
    if [ -z "$HAVE_PROMTOOL" ]; then
        t_skip "$1: promtool check metrics" "no promtool: apt-get install prometheus"
        return
    fi
    if promtool check metrics <"$2" >"$W/promtool.log" 2>&1; then
        t_pass "$1: promtool check metrics"
    else
        t_fail "$1: promtool check metrics" "$(head -5 "$W/promtool.log" | tr '\n' '|')"
    fi
}

# ---- the mails ----
mk_gzip "$FIX/report1.json" "$W/r1.json.gz"
mk_report_mail "$W/r1.json.gz" "$W/r1.eml" fixture.example
mk_report_mail "$FIX/report2.json" "$W/r2.eml" fixture.example
sed 's|"report-id": "[^"]*"|"report-id": "metrics-foreign"|; s|"policy-domain": "[^"]*"|"policy-domain": "foreign.example"|' \
    "$FIX/report2.json" >"$W/foreign.json"
mk_report_mail "$W/foreign.json" "$W/foreign.eml" foreign.example
sed 's|"report-id": "[^"]*"|"report-id": "metrics-down"|' "$FIX/report2.json" >"$W/down.json"
mk_report_mail "$W/down.json" "$W/down.eml" fixture.example
head -c 150 "$W/r1.json.gz" >"$W/trunc.gz"
mk_report_mail "$W/trunc.gz" "$W/corrupt.eml" fixture.example

CONF=$SVC_TMP/m1.conf
svc_milter_conf "$CONF" "unix:$SVC_TMP/m1.sock" "127.0.0.1:$MC" \
    "PolicyDomains fixture.example second.example" "MetricsFile $PROM" "MetricsInterval 1"

# ---- -n checks the directory ----
svc_milter_conf "$W/n1.conf" "unix:$SVC_TMP/n.sock" "127.0.0.1:$MC" "MetricsFile $SVC_TMP/nodir/x.prom"
"$MILTER" -n -c "$W/n1.conf" >"$W/n1.out" 2>&1
t_eq "-n: a MetricsFile directory that does not exist is an error" "$?" 1
t_grep "-n: names the key, the line and the directory" "$W/n1.out" \
    "n1.conf:[0-9]+: MetricsFile: directory $SVC_TMP/nodir: does not exist"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    mkdir -p "$SVC_TMP/rootonly"
    chmod 755 "$SVC_TMP/rootonly"
    svc_milter_conf "$W/n2.conf" "unix:$SVC_TMP/n.sock" "127.0.0.1:$MC" "User nobody" \
        "MetricsFile $SVC_TMP/rootonly/x.prom"
    "$MILTER" -n -c "$W/n2.conf" >"$W/n2.out" 2>&1
    t_grep "-n: a directory User cannot write is an error" "$W/n2.out" \
        "MetricsFile: user nobody \\(uid [0-9]+\\) cannot create and remove files in $SVC_TMP/rootonly"
else
    t_skip "-n: a directory User cannot write" "not root or no user nobody"
fi
svc_milter_conf "$W/n3.conf" "unix:$SVC_TMP/n.sock" "127.0.0.1:$MC" "MetricsFile relative.prom"
"$MILTER" -n -c "$W/n3.conf" >"$W/n3.out" 2>&1
t_grep "-n: a relative MetricsFile is refused" "$W/n3.out" "bad value for MetricsFile: 'relative.prom'"
svc_milter_conf "$W/n4.conf" "unix:$SVC_TMP/n.sock" "127.0.0.1:$MC" "MetricsInterval 3601"
"$MILTER" -n -c "$W/n4.conf" >"$W/n4.out" 2>&1
t_grep "-n: MetricsInterval above 3600 is refused" "$W/n4.out" "bad value for MetricsInterval: '3601' \\(expected seconds 1..3600\\)"
"$MILTER" -n -v -c "$CONF" >"$W/nv.out" 2>/dev/null
t_grep "-n -v prints MetricsFile" "$W/nv.out" "^MetricsFile $PROM\$"
t_grep "-n -v prints MetricsInterval" "$W/nv.out" "^MetricsInterval 1\$"

svc_milter_start m1 "$CONF" "unix:$SVC_TMP/m1.sock" ||
    { t_fail milter-start "$(tail -3 "$SVC_TMP/m1.log" | tr '\n' '|')"; exit 1; }
MPID=$(cat "$SVC_TMP/m1.pid")
mwait "$PROM" tlsrpt_milter_config_generation 1
t_eq "the textfile is written at start" "$(mval "$PROM" tlsrpt_milter_config_generation)" 1
t_eq "mode 0644 (node_exporter reads it), whatever UMask" "$(stat -c %a "$PROM")" 644

drive c1 m1 -r rua@rua.test "$W/r1.eml"
drive c2 m1 -r rua@rua.test "$W/r2.eml"
drive dup m1 -r rua@rua.test "$W/r1.eml"
drive plain m1 -r rua@rua.test "$FIX/plain.eml"
drive corrupt m1 -r rua@rua.test "$W/corrupt.eml"
drive foreign m1 -r rua@rua.test "$W/foreign.eml"
drive other m1 -r person@example.test "$W/r2.eml"
t_eq "counted: discarded" "$(grep -c '^DISCARD$' "$W/c1.out" "$W/c2.out" "$W/dup.out" | awk -F: '{ s += $2 } END { print s }')" 3
t_grep "corrupt: delivered with its reason" "$W/corrupt.out" 'reason=corrupt-gzip$'
t_grep "foreign: delivered with its reason" "$W/foreign.out" 'reason=foreign-domain$'

# tlsrpt-stats over the same memcached, in the window of the fixtures' days
"$STATS" --servers "127.0.0.1:$MC" --today 2026-01-05 --days 7 --format prometheus >"$W/stats.prom" 2>"$W/stats.err"
t_eq "tlsrpt-stats --format prometheus: exit 0" "$?" 0
t_grep "tlsrpt-stats: the milter's counts are there" "$W/stats.prom" \
    '^tlsrpt_window_reports\{domain="fixture.example"\} 2$'
promcheck "tlsrpt-stats --format prometheus" "$W/stats.prom"

svc_stop mc
drive down m1 -r rua@rua.test "$W/down.eml"
t_grep "store down: delivered with store-unavailable" "$W/down.out" 'reason=store-unavailable$'

# a reload that fails, then one that works (OnStoreError tempfail)
cp "$CONF" "$W/good.conf"
echo "Action drop" >>"$CONF"
kill -HUP "$MPID"
mwait "$PROM" 'tlsrpt_milter_config_reloads_total{result="failed"}' 1
cp "$W/good.conf" "$CONF"
echo "OnStoreError tempfail" >>"$CONF"
kill -HUP "$MPID"
mwait "$PROM" tlsrpt_milter_config_generation 2
drive tempfail m1 -r rua@rua.test "$W/down.eml"
t_grep "store down, OnStoreError tempfail: 451" "$W/tempfail.out" '^REPLYCODE 451 '

# ---- the figures ----
mwait "$PROM" tlsrpt_milter_report_mails_total 8
cp "$PROM" "$W/run.prom"
chk() {
    t_eq "textfile: $1 = $2" "$(mval "$W/run.prom" "$1")" "$2"
}
chk tlsrpt_milter_report_mails_total 8
chk tlsrpt_milter_reports_counted_total 2
chk tlsrpt_milter_reports_duplicate_total 1
chk 'tlsrpt_milter_not_counted_total{reason="no-report"}' 1
chk 'tlsrpt_milter_not_counted_total{reason="corrupt-gzip"}' 1
chk 'tlsrpt_milter_not_counted_total{reason="foreign-domain"}' 1
chk 'tlsrpt_milter_not_counted_total{reason="store-unavailable"}' 2
chk 'tlsrpt_milter_not_counted_total{reason="other"}' 0
t_eq "textfile: not counted, all reasons = 5" \
    "$(awk '/^tlsrpt_milter_not_counted_total\{/ { s += $2 } END { print s }' "$W/run.prom")" 5
chk 'tlsrpt_milter_tempfail_total{reason="store-unavailable"}' 1
chk 'tlsrpt_milter_tempfail_total{reason="memory-budget"}' 0
chk tlsrpt_milter_store_errors_total 2
chk tlsrpt_milter_archive_errors_total 0
chk tlsrpt_milter_archive_pending 0
chk 'tlsrpt_milter_dkim_results_total{result="pass"}' 0
chk tlsrpt_milter_mail_duration_seconds_count 8
chk 'tlsrpt_milter_mail_duration_seconds_bucket{le="+Inf"}' 8
chk tlsrpt_milter_config_generation 2
chk 'tlsrpt_milter_config_reloads_total{result="ok"}' 1
chk 'tlsrpt_milter_config_reloads_total{result="failed"}' 1
chk tlsrpt_milter_mails_in_flight 0
now=$(date +%s)
st=$(mval "$W/run.prom" tlsrpt_milter_start_time_seconds)
t_check "textfile: start time within the last 5 minutes ($st)" test "$st" -le "$now" -a "$st" -gt $((now - 300))
sum=$(mval "$W/run.prom" tlsrpt_milter_mail_duration_seconds_sum)
t_check "textfile: time per mail summed, seconds ($sum)" awk -v s="$sum" 'BEGIN { exit !(s > 0 && s < 60) }'
t_check "textfile: buckets never decrease" awk '
    /^tlsrpt_milter_mail_duration_seconds_bucket/ { if ($2 < last) exit 1; last = $2 }' "$W/run.prom"
t_check "textfile: HELP and TYPE for every family" awk '
    /^# TYPE / { t[$3] = 1 } /^# HELP / { h[$3] = 1 }
    /^[a-z]/ { n = $1; sub(/\{.*/, "", n); sub(/_(bucket|sum|count)$/, "", n); need[n] = 1 }
    END { for (n in need) if (!t[n] || !h[n]) exit 1 }' "$W/run.prom"
t_eq "no temporary file left" "$(ls "$NODE")" tlsrpt-milter.prom
promcheck "the milter's textfile" "$W/run.prom"

# ---- a MetricsFile that cannot be written (a reload to a missing directory) ----
cp "$CONF" "$W/tempfail.conf"
echo "MetricsFile $SVC_TMP/nodir/tlsrpt-milter.prom" >>"$CONF"
kill -HUP "$MPID"
n=0
while ! grep -q 'MetricsFile: cannot create' "$SVC_TMP/m1.log" && [ $n -lt 60 ]; do
    sleep 0.1
    n=$((n + 1))
done
sleep 2.5                                              # two more intervals
t_eq "unwritable MetricsFile: logged once, not every interval" \
    "$(grep -c 'MetricsFile: cannot create' "$SVC_TMP/m1.log")" 1
drive plain2 m1 -r rua@rua.test "$FIX/plain.eml"
t_grep "unwritable MetricsFile: mails are still answered" "$W/plain2.out" 'reason=no-report$'
cp "$W/tempfail.conf" "$CONF"
kill -HUP "$MPID"
mwait "$PROM" tlsrpt_milter_config_generation 4
t_eq "back to a writable MetricsFile: rewritten at once" "$(mval "$PROM" tlsrpt_milter_config_generation)" 4
t_grep "back to a writable MetricsFile: said once" "$SVC_TMP/m1.log" "MetricsFile: $PROM written again"

# ---- the last write at the stop ----
drive plain3 m1 -r rua@rua.test "$FIX/plain.eml"
t0=$(date +%s%N)
kill -TERM "$MPID"
wait "$MPID" 2>/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
rm -f "$SVC_TMP/m1.pid"
t_check "SIGTERM with MetricsFile: gone in $ms ms (< 1000)" test "$ms" -lt 1000
t_eq "stop: the last figures are in the file" "$(mval "$PROM" tlsrpt_milter_report_mails_total)" 10
t_eq "stop: no-report now 3" "$(mval "$PROM" 'tlsrpt_milter_not_counted_total{reason="no-report"}')" 3

# ---- DKIM results ----
if /usr/bin/python3 -c 'import dkim' 2>/dev/null && command -v openssl >/dev/null 2>&1; then
    MC2=$(svc_memcached_start mc2) || t_fail memcached2-start "see $SVC_TMP/mc2.log"
    K=$SVC_TMP/keys
    mkdir -p "$K"
    : >"$K/keys.txt"
    /usr/bin/python3 "$SIGN" key "$K/r.pem" sel1 reporter.test "$K/keys.txt" ||
        t_fail "dkim key" "dkim-sign.py key failed"
    chmod 644 "$K/keys.txt"
    sed 's|"contact-info": "[^"]*"|"contact-info": "tlsrpt@reporter.test"|' "$FIX/report2.json" >"$W/d.json"
    mk_report_mail "$W/d.json" "$W/d.eml" fixture.example
    /usr/bin/python3 "$SIGN" sign "$K/r.pem" sel1 reporter.test "$W/d.eml" "$W/d-signed.eml" ||
        t_fail "dkim sign" "dkim-sign.py sign failed"
    sed 's|"report-id": "[^"]*"|"report-id": "metrics-unsigned"|' "$W/d.json" >"$W/u.json"
    mk_report_mail "$W/u.json" "$W/u.eml" fixture.example
    sed 's|This is an aggregate TLS report|This is an altered TLS report|' "$W/d-signed.eml" >"$W/d-tampered.eml"
    svc_milter_conf "$SVC_TMP/m2.conf" "unix:$SVC_TMP/m2.sock" "127.0.0.1:$MC2" \
        "Authentication dkim" "DkimKeyFile $K/keys.txt" "MetricsFile $NODE/m2.prom" "MetricsInterval 1"
    svc_milter_start m2 "$SVC_TMP/m2.conf" "unix:$SVC_TMP/m2.sock" ||
        t_fail milter2-start "$(tail -3 "$SVC_TMP/m2.log" | tr '\n' '|')"
    drive d1 m2 -r rua@rua.test "$W/d-signed.eml"
    drive d2 m2 -r rua@rua.test "$W/u.eml"
    drive d3 m2 -r rua@rua.test "$W/d-tampered.eml"
    t_grep "dkim: the signed report is counted" "$W/d1.out" '^DISCARD$'
    mwait "$NODE/m2.prom" tlsrpt_milter_report_mails_total 3
    cp "$NODE/m2.prom" "$W/dkim.prom"
    t_eq "dkim: pass 1" "$(mval "$W/dkim.prom" 'tlsrpt_milter_dkim_results_total{result="pass"}')" 1
    t_eq "dkim: none 1 (unsigned)" "$(mval "$W/dkim.prom" 'tlsrpt_milter_dkim_results_total{result="none"}')" 1
    t_eq "dkim: fail 1 (tampered)" "$(mval "$W/dkim.prom" 'tlsrpt_milter_dkim_results_total{result="fail"}')" 1
    t_eq "dkim: unauthenticated 2" "$(mval "$W/dkim.prom" 'tlsrpt_milter_not_counted_total{reason="unauthenticated"}')" 2
    t_eq "dkim: counted 1" "$(mval "$W/dkim.prom" tlsrpt_milter_reports_counted_total)" 1
    promcheck "the DKIM milter's textfile" "$W/dkim.prom"
else
    t_skip "metrics: DKIM results" "/usr/bin/python3 with dkim or openssl missing"
fi

[ "$T_FAILS" -eq 0 ]
