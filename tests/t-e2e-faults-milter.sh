#!/bin/sh
# t-e2e-faults-milter.sh - issue 10's faults of the milter and of the archive, end to end
# (the same parts as t-e2e-faults.sh: a private Postfix, real memcached, the real milter
# with ArchiveDir and Authentication dkim, reports signed at test time; tests/lib/faults.sh):
#
# 5. kill: the milter SIGKILLed while it writes an archive entry (a half-written
#    tmp/ID.eml.gz.tmp exists at that moment: checked) under a 300-mail load of ~100 KB
#    mails, restarted 3 s later on the same archive. Postfix's milter_default_action =
#    accept (the README's setting) decides the mails in flight and those that arrive while
#    the milter is down: delivered untouched (no X-TLSRPT-Status, not discarded); a mail
#    whose entry was committed before the kill is counted once (and may also be delivered,
#    when the kill came before the answer). Checks: no mail lost (discarded + delivered =
#    accepted), none bounced or 4xx'd; every discarded mail has a committed entry; every
#    committed entry is counted exactly once (every counter against the sums of exactly the
#    committed reports); the half-written entries were removed at restart and never counted
#    (an entry counted beyond the committed ones would show in the sums).
# 6. unwritable: the milter running as nobody, its archive directory taken away from it
#    (chown root, mode 0700) after start: no mail discarded, every one delivered to rua with
#    X-TLSRPT-Status: error; reason=archive-failed, and the log says archive-failed.
# 7. nc: 20 uncountable report candidates of five reasons (no-report, corrupt-gzip,
#    corrupt-json, unauthenticated, no-date) and 10 countable ones: P nc:TODAY:REASON equals
#    the mails sent per reason, no other reason counted, the index sets list the day and
#    the reasons, and tlsrpt-stats shows the same figures (json and prometheus).
# Takes about 1-1.5 min. SKIPs as t-e2e-faults.sh does.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/faults.sh"

fl_init t-e2e-faults-milter
EXPECT="$FL_PY $FL_LIB/fault-mails.py expect"

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

# ---- 5. the milter SIGKILLed mid-body under load ----
MC=$(svc_memcached_start mc5) || { t_fail memcached-start "see $SVC_TMP/mc5.log"; exit 1; }
A5=$SVC_TMP/arch5
mkdir -p "$A5"
fl_conf "$SVC_TMP/m5.conf" "$A5" "127.0.0.1:$MC"
fl_milter m5 "$SVC_TMP/m5.conf" || exit 1
fl_gen kill 300 countable --pad 100000
fl_mark
: >"$W/kill.log"
FL_RECONNECT=5 fl_send 8 "$W/kill.log" "$W"/kill-*.eml >"$W/kill.summary" &
sender=$!
fl_wait_accepted "$W/kill.log" 40 || t_fail "kill: load started" "fewer than 40 mails accepted in 60 s"
# memcached hung first, so that entries are pending (committed, not counted) at the kill
kill -STOP "$(cat "$SVC_TMP/mc5.pid")"
sleep 3
# a tmp file seen, the milter is frozen (SIGSTOP) and looked at again before the kill, so
# the entry cannot be committed between the look and the kill (it was, once, under load)
n=0 m5=$(cat "$SVC_TMP/m5.pid")
while [ $n -lt 1000 ]; do
    if ls "$A5/tmp" 2>/dev/null | grep -q '\.eml\.gz\.tmp$'; then
        kill -STOP "$m5"
        ls "$A5/tmp" 2>/dev/null | grep -q '\.eml\.gz\.tmp$' && break
        kill -CONT "$m5"
    fi
    sleep 0.01
    n=$((n + 1))
done
kill -9 "$m5"
ls "$A5/tmp" 2>/dev/null | grep '\.tmp$' >"$W/kill.tmp"
npend=$(ls "$A5/pending" 2>/dev/null | wc -l)
kill -CONT "$(cat "$SVC_TMP/mc5.pid")"
at_kill=$(grep -c '	250$' "$W/kill.log")
echo "# kill: milter SIGKILLed after $at_kill accepted mails, with $(wc -l <"$W/kill.tmp") file(s) in tmp/ and $npend pending (memcached hung 3 s before)"
t_check "kill: the milter died while writing an entry (a half-written tmp/*.eml.gz.tmp)" \
    grep -q '\.eml\.gz\.tmp$' "$W/kill.tmp"
t_check "kill: entries were pending (committed, not counted) when it died" test "$npend" -gt 0
t_check "kill: the kill came under load (not every mail sent yet)" test "$at_kill" -lt 300
sleep 1
rm -f "$SVC_TMP/m5.pid"
lines=$(wc -l <"$SVC_TMP/m5.log")
svc_milter_start m5 "$SVC_TMP/m5.conf" "inet:$FL_PORT@127.0.0.1" ||
    t_fail "kill: milter restart" "$(tail -3 "$SVC_TMP/m5.log" | tr '\n' '|')"
wait "$sender"
sed 's/^/# kill: /' "$W/kill.summary"
tail -n +"$((lines + 1))" "$SVC_TMP/m5.log" | grep -m1 'recover' >"$W/kill.recover"
sed 's/^/# kill: restart: /' "$W/kill.recover"
t_grep "kill: the restarted milter found the pending entries" "$W/kill.recover" \
    'pending: ([1-9][0-9]* new|[0-9]+ new, [1-9][0-9]* counting)'
fl_settle kill
fl_no_loss kill "$W/kill.log" 300
ndlv=$(grep -c 'to=<rua@rua.test>.*status=sent' "$W/kill.maillog")
# the restarted milter takes new mails as before
fl_gen kill2 50 countable
fl_mark
FL_RECONNECT=5 fl_send 8 "$W/kill2.log" "$W"/kill2-*.eml | sed 's/^/# kill, after the restart: /'
fl_settle kill2
fl_pending_wait "$A5" 30 || t_fail "kill: every pending entry counted after the restart" \
    "$(ls "$A5/pending" | wc -l) left"
fl_no_loss kill2 "$W/kill2.log" 50 0
stale=0
while read -r f; do [ -e "$A5/tmp/$f" ] && stale=$((stale + 1)); done <"$W/kill.tmp"
t_eq "kill: the half-written entries were removed at restart" "$stale" 0
fl_committed_ids "$A5" "$W/kill.ids"
# the report-ids of the mails the milter discarded (queue id -> message-id in the maillog)
awk '/ milter-discard: / { split($0, a, ": "); d[a[2]] = 1 }
     / message-id=</ { split($0, a, ": "); m = $0; sub(/.*message-id=</, "", m); sub(/@.*/, "", m)
                        id[a[2]] = m }
     END { for (q in d) print id[q] }' "$W/kill.maillog" | sort -u >"$W/kill.discarded"
t_eq "kill: every discarded mail has a committed archive entry" \
    "$(comm -23 "$W/kill.discarded" "$W/kill.ids" | wc -l | tr -d ' ')" 0
t_check "kill: the discarded mails were found in the maillog" test -s "$W/kill.discarded"
t_check "kill: mails passed while the milter was down (milter_default_action = accept)" test "$ndlv" -gt 0
tagged=$(grep -l '^X-TLSRPT-Status:' "$PF_MAILDIRS"/rua/new/* 2>/dev/null | wc -l)
t_eq "kill: the delivered mails went through untouched (no X-TLSRPT-Status)" "$tagged" 0
both=$(for f in "$PF_MAILDIRS"/rua/new/*; do
           sed -n 's/^Message-ID: <\(kill-[0-9]*\)@.*/\1/p' "$f" 2>/dev/null; done | sort -u | comm -12 - "$W/kill.ids" | wc -l)
echo "# kill: $(wc -l <"$W/kill.ids") committed entries, $(wc -l <"$W/kill.discarded") discarded, $ndlv delivered untouched ($both of them also committed: counted once and delivered)"
$EXPECT "$W/kill.manifest" "$W/kill2.manifest" --ids "$W/kill.ids" >"$W/kill.expect"
fl_counters "kill: every committed entry counted exactly once, nothing else" "$W/kill.expect" \
    "127.0.0.1:$MC"
svc_stop "$FL_CUR" mc5
FL_CUR=

# ---- 6. the archive directory unwritable ----
MC=$(svc_memcached_start mc6) || { t_fail memcached-start "see $SVC_TMP/mc6.log"; exit 1; }
A6=$SVC_TMP/arch6
mkdir -p "$A6"
chown nobody:nogroup "$A6"
chmod 644 "$KEYS"
fl_conf "$SVC_TMP/m6.conf" "$A6" "127.0.0.1:$MC" "User nobody" "Group nogroup"
fl_milter m6 "$SVC_TMP/m6.conf" || exit 1
fl_gen ok6 5 countable
fl_mark
fl_send 4 "$W/ok6.log" "$W"/ok6-*.eml | sed 's/^/# unwritable, before: /'
fl_settle ok6
fl_no_loss ok6 "$W/ok6.log" 5 0
fl_committed_ids "$A6" "$W/ok6.ids"
t_eq "unwritable: before, the archive works for the milter's user" "$(wc -l <"$W/ok6.ids" | tr -d ' ')" 5
chown -R root:root "$A6"
chmod 0700 "$A6"
fl_gen ro 30 countable
fl_mark
fl_send 4 "$W/ro.log" "$W"/ro-*.eml | sed 's/^/# unwritable: /'
fl_settle ro
fl_no_loss ro "$W/ro.log" 30 30
bad=0
for f in $(find "$PF_MAILDIRS/rua/new" -type f); do
    grep -q '^Message-ID: <ro-' "$f" || continue
    grep -q '^X-TLSRPT-Status: error; reason=archive-failed' "$f" || bad=$((bad + 1))
done
t_eq "unwritable: every mail delivered with reason=archive-failed" "$bad" 0
t_grep "unwritable: the log says archive-failed" "$SVC_TMP/m6.log" 'archive-failed'
chown -R nobody:nogroup "$A6"
svc_stop "$FL_CUR" mc6
FL_CUR=

# ---- 7. nc: what was not counted, counted per reason ----
MC=$(svc_memcached_start mc7) || { t_fail memcached-start "see $SVC_TMP/mc7.log"; exit 1; }
A7=$SVC_TMP/arch7
mkdir -p "$A7"
fl_conf "$SVC_TMP/m7.conf" "$A7" "127.0.0.1:$MC"
fl_milter m7 "$SVC_TMP/m7.conf" || exit 1
fl_gen nc-ok 10 countable
fl_gen nc-no-report 4 no-report
fl_gen nc-corrupt-gzip 3 corrupt-gzip
fl_gen nc-corrupt-json 5 corrupt-json
fl_gen nc-unauthenticated 6 unauthenticated
fl_gen nc-no-date 2 no-date
day0=$(date -u +%F)
fl_mark
fl_send 4 "$W/nc.log" "$W"/nc-*.eml | sed 's/^/# nc: /'
fl_settle nc
fl_pending_wait "$A7" 30 || t_fail "nc: nothing left pending" "$(ls "$A7/pending" | wc -l) left"
day=$(date -u +%F)
fl_no_loss nc "$W/nc.log" 30 20
if [ "$day0" != "$day" ]; then
    echo "SKIP: nc: the UTC day changed during the run ($day0 -> $day): arrival days ambiguous"
else
    for r in no-report corrupt-gzip corrupt-json unauthenticated no-date reasons; do
        printf 'tlsrpt:nc:%s:%s\n' "$day" "$r"
    done >"$W/nc.keys"                  # read with get too: the crawler's listing can miss one
    $FL_PY "$FL_LIB/mc-dump.py" dump --also "$W/nc.keys" "127.0.0.1:$MC" >"$W/nc.dump"
    for r in no-report corrupt-gzip corrupt-json unauthenticated no-date; do
        want=$(ls "$W"/nc-$r-*.eml | wc -l | tr -d ' ')
        t_eq "nc: P nc:$day:$r equals the $r mails sent" \
            "$(awk -F '\t' -v k="tlsrpt:nc:$day:$r" '$1 == k { print $2 }' "$W/nc.dump")" "$want"
        t_check "nc: P nc:$day:reasons lists $r" \
            grep -Eq "^tlsrpt:nc:$day:reasons(:\\+[0-9]+)?	(.* )?$r( |\$)" "$W/nc.dump"
    done
    t_eq "nc: no other reason counted" \
        "$(grep -E "^tlsrpt:nc:$day:" "$W/nc.dump" | grep -Ev ":(reasons(:\\+[0-9]+)?|no-report|corrupt-gzip|corrupt-json|unauthenticated|no-date)	" | cut -f1 | tr '\n' ' ')" ""
    t_grep "nc: P nc:days lists the day" "$W/nc.dump" "^tlsrpt:nc:days(:\\+[0-9]+)?	(.* )?$day( |\$)"
    $EXPECT "$W/nc-ok.manifest" >"$W/nc-ok.expect"
    fl_counters "nc: the countable ones counted" "$W/nc-ok.expect" "127.0.0.1:$MC"
    "$BUILD/tlsrpt-stats" -c "$SVC_TMP/m7.conf" --format json >"$W/nc.json" 2>"$W/nc.json.err"
    "$BUILD/tlsrpt-stats" -c "$SVC_TMP/m7.conf" --format prometheus >"$W/nc.prom" 2>"$W/nc.prom.err"
    for r in no-report:4 corrupt-gzip:3 corrupt-json:5 unauthenticated:6 no-date:2; do
        t_eq "nc: tlsrpt-stats json: not_counted ${r%:*}" "$($FL_PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["not_counted"]["by_reason"].get(sys.argv[2], 0))' "$W/nc.json" "${r%:*}" 2>&1)" "${r#*:}"
        t_grep "nc: tlsrpt-stats prometheus: tlsrpt_not_counted{reason=\"${r%:*}\"} ${r#*:}" "$W/nc.prom" \
            "^tlsrpt_not_counted\\{reason=\"${r%:*}\"\\} ${r#*:}\$"
    done
fi
exit 0
