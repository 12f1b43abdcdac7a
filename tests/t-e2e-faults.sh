#!/bin/sh
# t-e2e-faults.sh - issue 10's memcached faults, end to end: a private Postfix, real
# memcached, the real milter with ArchiveDir and Authentication dkim (every report signed
# at test time by reporter.test, tests/lib/fault-mails.py), loads of a few hundred mails
# sent over 8 SMTP sessions by a sender that retries 4xx like a queue (tests/lib/smtp-send.py),
# faults injected by the test while the load runs. Shared helpers: tests/lib/faults.sh.
#
# 1. wipe: 150 reports (+ 10 corrupt ones, ArchiveAll yes) counted and archived, every key
#    dumped; memcached killed and started empty: tlsrpt-stats says "lost" and names the
#    rebuild; tlsrpt-parse --rebuild restores every key exactly (dump compared key by key),
#    a second run changes nothing, and tlsrpt-stats no longer says lost (SKIPped, loudly,
#    while tlsrpt-parse has no --rebuild);
# 2. hung: memcached SIGSTOPped 10 s under a 300-mail load, then SIGCONT: reports were left
#    pending during the stop, every report is counted exactly once in the end (every counter
#    and index member against the sums computed from the mails sent), no mail lost (each
#    accepted mail discarded by the milter: none delivered, bounced, deferred or 4xx'd);
# 3. two servers, one SIGKILLed under load and restarted empty: the same no-loss checks,
#    pending entries counted once the server is back, no counter above its expected value
#    (nothing counted twice on the surviving server), tlsrpt-stats says lost naming the
#    restarted server, and --rebuild makes every counter exact (SKIPped without --rebuild);
# 4. evict: a memcached of 2 MB and reports with 80 MX names each: memcached evicts (checked
#    first, so the next checks cannot pass vacuously), tlsrpt-stats says lost/evicted with
#    the rebuild command, the milter logs a line with "lost" (its check runs at start and
#    hourly: the test restarts it to see the line; the same after the wipe in 1).
# Takes about 1.5-2.5 min. SKIPs when the milter has no ArchiveDir (issue 10 not merged), or
# a prerequisite is missing (root, postfix, memcached, /usr/bin/python3 with python3-dkim).
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/faults.sh"

fl_init t-e2e-faults
EXPECT="$FL_PY $FL_LIB/fault-mails.py expect"
STATS=$BUILD/tlsrpt-stats

# Wait until LOG has at least N accepted mails (at most 60 s): fl_wait_accepted LOG N
fl_wait_accepted() {
    _n=0
    while [ $_n -lt 600 ]; do
        [ "$(grep -c '	250$' "$1" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.1
        _n=$((_n + 1))
    done
    return 1
}

# Restart milter NAME with CONF and wait (at most 10 s) for a log line of its new run that
# says counters were lost; the lines into FILE: fl_restart_lost NAME CONF FILE
fl_restart_lost() {
    _l=$(wc -l <"$SVC_TMP/$1.log")
    fl_milter "$1" "$2" || return 1
    _n=0
    while [ $_n -lt 100 ]; do
        tail -n +"$((_l + 1))" "$SVC_TMP/$1.log" | grep 'lost' >"$3" && return 0
        sleep 0.1
        _n=$((_n + 1))
    done
    return 1
}

# tlsrpt-stats' whole output (stdout and stderr) for CONF into FILE: fl_stats CONF FILE
fl_stats() {
    "$STATS" -c "$1" >"$2" 2>&1
    echo "exit $?" >>"$2"
}

# ---- 1. counted and archived; memcached killed and started empty; the rebuild ----
MC=$(svc_memcached_start mc1) || { t_fail memcached-start "see $SVC_TMP/mc1.log"; exit 1; }
A1=$SVC_TMP/arch1
mkdir -p "$A1"
fl_conf "$SVC_TMP/m1.conf" "$A1" "127.0.0.1:$MC" "ArchiveAll yes"
fl_milter m1 "$SVC_TMP/m1.conf" || exit 1
fl_gen wipe 150 countable
fl_gen wipebad 10 corrupt-json
fl_mark
fl_send 8 "$W/wipe.log" "$W"/wipe-*.eml "$W"/wipebad-*.eml | sed 's/^/# wipe: /'
fl_settle wipe
fl_pending_wait "$A1" 30 || t_fail "wipe: nothing left pending" "$(ls "$A1/pending" | head -3)"
fl_no_loss wipe "$W/wipe.log" 160 10
$EXPECT "$W/wipe.manifest" >"$W/wipe.expect"
fl_counters "wipe: every report counted once before the wipe" "$W/wipe.expect" "127.0.0.1:$MC"
t_eq "wipe: every countable report archived" \
    "$(fl_committed_ids "$A1" "$W/wipe.ids"; grep -c '^wipe-' "$W/wipe.ids")" 150
fl_dump "$W/before.dump" "127.0.0.1:$MC"
fl_stats "$SVC_TMP/m1.conf" "$W/stats0.out"
t_nogrep "wipe: tlsrpt-stats says nothing lost before the wipe" "$W/stats0.out" 'lost'
kill -9 "$(cat "$SVC_TMP/mc1.pid")"
sleep 0.5
svc_memcached_start mc1 "$MC" >/dev/null || t_fail "wipe: memcached restart" "port $MC"
t_eq "wipe: memcached is empty after the restart" \
    "$($FL_PY "$FL_LIB/mc-dump.py" stat "127.0.0.1:$MC" curr_items)" 0
fl_stats "$SVC_TMP/m1.conf" "$W/stats1.out"
t_grep "wipe: tlsrpt-stats says counters were lost" "$W/stats1.out" 'lost'
t_grep "wipe: tlsrpt-stats names the command that rebuilds" "$W/stats1.out" 'tlsrpt-parse --rebuild'
# the milter checks at start and then hourly: a restart shows its line at once
fl_restart_lost m1 "$SVC_TMP/m1.conf" "$W/lost1.log"
t_grep "wipe: the restarted milter logs that counters were lost, with the rebuild command" \
    "$W/lost1.log" 'lost.*tlsrpt-parse --rebuild'
if fl_has_rebuild; then
    "$BUILD/tlsrpt-parse" --rebuild -c "$SVC_TMP/m1.conf" "$A1" >"$W/rebuild1.out" 2>&1
    t_eq "wipe: tlsrpt-parse --rebuild exits 0" "$?" 0
    fl_dump "$W/after.dump" --also "$W/before.dump" "127.0.0.1:$MC"
    if cmp -s "$W/before.dump" "$W/after.dump"; then
        t_pass "wipe: --rebuild restores every key exactly ($(wc -l <"$W/before.dump") keys)"
    else
        t_fail "wipe: --rebuild restores every key exactly" \
            "$(diff "$W/before.dump" "$W/after.dump" | grep '^[<>]' | head -6 | tr '\n' '|')"
    fi
    fl_counters "wipe: after --rebuild every counter equals the sums of the mails" \
        "$W/wipe.expect" "127.0.0.1:$MC"
    "$BUILD/tlsrpt-parse" --rebuild -c "$SVC_TMP/m1.conf" "$A1" >"$W/rebuild2.out" 2>&1
    t_eq "wipe: a second --rebuild exits 0" "$?" 0
    fl_dump "$W/again.dump" --also "$W/after.dump" "127.0.0.1:$MC"
    t_check "wipe: a second --rebuild changes nothing" cmp -s "$W/after.dump" "$W/again.dump"
    fl_stats "$SVC_TMP/m1.conf" "$W/stats2.out"
    t_nogrep "wipe: after the rebuild tlsrpt-stats no longer says lost" "$W/stats2.out" 'lost'
else
    echo "SKIP: wipe: tlsrpt-parse has no --rebuild yet (branch rebuild not merged): the restore, the second run and stats after it are not checked"
fi
svc_stop mc1

# ---- 2. memcached hung (SIGSTOP 10 s) under load ----
MC=$(svc_memcached_start mc2) || { t_fail memcached-start "see $SVC_TMP/mc2.log"; exit 1; }
A2=$SVC_TMP/arch2
mkdir -p "$A2"
fl_conf "$SVC_TMP/m2.conf" "$A2" "127.0.0.1:$MC"
fl_milter m2 "$SVC_TMP/m2.conf" || exit 1
fl_gen hung 300 countable
fl_mark
: >"$W/hung.log"
fl_send 8 "$W/hung.log" "$W"/hung-*.eml >"$W/hung.summary" &
sender=$!
fl_wait_accepted "$W/hung.log" 50 || t_fail "hung: load started" "fewer than 50 mails accepted in 60 s"
kill -STOP "$(cat "$SVC_TMP/mc2.pid")"
sleep 10
npend=$(ls "$A2/pending" 2>/dev/null | wc -l)
kill -CONT "$(cat "$SVC_TMP/mc2.pid")"
echo "# hung: $(grep -c '	250$' "$W/hung.log") accepted when memcached resumed, $npend pending"
t_check "hung: reports were left pending while memcached hung" test "$npend" -gt 0
wait "$sender"
sed 's/^/# hung: /' "$W/hung.summary"
fl_settle hung
fl_pending_wait "$A2" 60 || t_fail "hung: the retry counted every pending entry within 60 s" \
    "$(ls "$A2/pending" | wc -l) left"
fl_no_loss hung "$W/hung.log" 300 0
$EXPECT "$W/hung.manifest" >"$W/hung.expect"
fl_counters "hung: every report counted exactly once in the end" "$W/hung.expect" "127.0.0.1:$MC"
svc_stop mc2

# ---- 3. two servers, one killed under load and restarted empty ----
MA=$(svc_memcached_start mc3a) && MB=$(svc_memcached_start mc3b) ||
    { t_fail memcached-start "see $SVC_TMP/mc3*.log"; exit 1; }
A3=$SVC_TMP/arch3
mkdir -p "$A3"
fl_conf "$SVC_TMP/m3.conf" "$A3" "127.0.0.1:$MA,127.0.0.1:$MB"
fl_milter m3 "$SVC_TMP/m3.conf" || exit 1
fl_gen two 300 countable
fl_mark
: >"$W/two.log"
fl_send 8 "$W/two.log" "$W"/two-*.eml >"$W/two.summary" &
sender=$!
fl_wait_accepted "$W/two.log" 60 || t_fail "two: load started" "fewer than 60 mails accepted in 60 s"
kill -9 "$(cat "$SVC_TMP/mc3b.pid")"
at_kill=$(grep -c '	250$' "$W/two.log")
sleep 4
svc_memcached_start mc3b "$MB" >/dev/null || t_fail "two: memcached B restart" "port $MB"
echo "# two: memcached B killed after $at_kill accepted mails, back empty 4 s later"
t_check "two: the kill came under load (not every mail sent yet)" test "$at_kill" -lt 300
wait "$sender"
sed 's/^/# two: /' "$W/two.summary"
fl_settle two
fl_pending_wait "$A3" 60 || t_fail "two: the retry counted every pending entry within 60 s" \
    "$(ls "$A3/pending" | wc -l) left"
fl_no_loss two "$W/two.log" 300 0
$EXPECT "$W/two.manifest" >"$W/two.expect"
FL_ATMOST=1 fl_counters "two: no counter above its expected value (nothing counted twice)" \
    "$W/two.expect" "127.0.0.1:$MA" "127.0.0.1:$MB"
fl_stats "$SVC_TMP/m3.conf" "$W/stats3.out"
t_grep "two: tlsrpt-stats says the restarted server lost its data" "$W/stats3.out" \
    "127\\.0\\.0\\.1:$MB[^0-9].*lost|lost.*127\\.0\\.0\\.1:$MB[^0-9]"
t_nogrep "two: tlsrpt-stats does not blame the server that stayed up" "$W/stats3.out" \
    "memcached 127\\.0\\.0\\.1:$MA lost"
if fl_has_rebuild; then
    "$BUILD/tlsrpt-parse" --rebuild -c "$SVC_TMP/m3.conf" "$A3" >"$W/rebuild3.out" 2>&1
    t_eq "two: tlsrpt-parse --rebuild exits 0" "$?" 0
    fl_counters "two: after --rebuild every report counted exactly once" "$W/two.expect" \
        "127.0.0.1:$MA" "127.0.0.1:$MB"
else
    echo "SKIP: two: tlsrpt-parse has no --rebuild yet (branch rebuild not merged): exactness after the restart-empty not checked (only: nothing counted twice)"
fi
svc_stop mc3a mc3b

# ---- 4. memcached small enough to evict ----
ME=$(svc_free_port)
memcached -d -l 127.0.0.1 -p "$ME" -U 0 -m 2 -c 256 -u root -P "$SVC_TMP/mc4.pid" \
    >>"$SVC_TMP/mc4.log" 2>&1 && svc_wait_port "$ME" ||
    { t_fail "evict: memcached -m 2 start" "$(tail -2 "$SVC_TMP/mc4.log")"; exit 1; }
A4=$SVC_TMP/arch4
mkdir -p "$A4"
fl_conf "$SVC_TMP/m4.conf" "$A4" "127.0.0.1:$ME"
fl_milter m4 "$SVC_TMP/m4.conf" || exit 1
fl_gen evict 150 countable --mx 80
fl_mark
fl_send 8 "$W/evict.log" "$W"/evict-*.eml | sed 's/^/# evict: /'
fl_settle evict
fl_pending_wait "$A4" 30 || t_fail "evict: nothing left pending" "$(ls "$A4/pending" | wc -l) left"
fl_no_loss evict "$W/evict.log" 150 0
ev=$($FL_PY "$FL_LIB/mc-dump.py" stat "127.0.0.1:$ME" evictions)
echo "# evict: memcached -m 2 evicted ${ev:-?} items"
t_check "evict: memcached did evict (else the checks below prove nothing)" test "${ev:-0}" -gt 0
fl_stats "$SVC_TMP/m4.conf" "$W/stats4.out"
t_grep "evict: tlsrpt-stats says counters were lost" "$W/stats4.out" 'lost'
t_grep "evict: tlsrpt-stats says memcached evicted items" "$W/stats4.out" 'evict'
t_grep "evict: tlsrpt-stats names the command that rebuilds" "$W/stats4.out" 'tlsrpt-parse --rebuild'
fl_restart_lost m4 "$SVC_TMP/m4.conf" "$W/lost4.log"
t_grep "evict: the (restarted) milter logs that counters were lost" "$W/lost4.log" 'lost.*evict'
svc_stop m4 mc4
exit 0
