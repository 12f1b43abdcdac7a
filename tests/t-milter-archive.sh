#!/bin/sh
# t-milter-archive.sh - the milter's archive (ArchiveDir, issue 10) with the real
# build/tlsrpt-milter, build/tests/milter-driver and real memcached servers.
#
# Checks: an archived entry gunzips to exactly the mail sent (CRLF, with and without
# SMFIP_HDR_LEADSPC) and its meta has the verdict; counters equal those of a milter
# without archive fed the same mails (exactly once); memcached down -> the mail is
# discarded (tagged "pending" with Action tag), the entry pending, counted once when
# memcached is back; memcached SIGSTOPped during a mail, then SIGCONT -> counted once;
# the archive unwritable (a file in place of its tmp/) -> delivered with
# reason=archive-failed (451 with OnStoreError tempfail), nc:archive-failed; milter
# SIGKILLed mid-body -> nothing counted, the half entry removed at restart; killed with
# an entry pending -> counted once after the restart; entries left partial or counting
# (no marker) -> flagged partial, nc:partial-count, not counted again; ArchiveAll keeps uncountable mails
# (ArchiveAll no does not); nc: counters equal the uncountable mails per reason;
# a mail of two reports whose second burst fails half-way: the first counted once, only
# the second's day flagged; ArchiveDays expiry at start; the loss line against an empty memcached; -n checks of
# ArchiveDir; with Authentication dkim the meta's verdict and the retry counting under
# the signer recorded at arrival; the stop stays under a second.
# Needs tlsrpt-milter, milter-driver, memcached, memccat, gzip; SKIPs otherwise.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

MILTER=$BUILD/tlsrpt-milter
DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-milter-archive "$MILTER" "$DRV" memcached memccat gzip base64 cmp

svc_init
T=$SVC_TMP
W=$T/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $T/mc.log"; exit 1; }
MC2=$(svc_memcached_start mc2) || { t_fail memcached-start "see $T/mc2.log"; exit 1; }
DAY=$(date -u +%F)
RD=2026-01-02                               # the fixture report's day
RD2=2026-01-03                              # report2's

# mstart NAME MEMCACHED_PORT "Key value"...: milter NAME on unix:$T/NAME.sock
mstart() {
    _mn=$1 _mp=$2
    shift 2
    svc_milter_conf "$T/$_mn.conf" "unix:$T/$_mn.sock" "127.0.0.1:$_mp" "StoreTimeout 300" "$@"
    svc_milter_start "$_mn" "$T/$_mn.conf" "unix:$T/$_mn.sock" && return 0
    t_fail "milter-start-$_mn" "$(tail -3 "$T/$_mn.log" | tr '\n' '|')"
    return 1
}
# drive OUTNAME MILTER driver-args...
drive() {
    _dn=$1 _ds=$2
    shift 2
    timeout 120 "$DRV" -t 30 -s "unix:$T/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}
# A variant of report1 with another report-id: mkv ID -> $W/ID.eml
mkv() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$1\"|" "$FIX/report1.json" >"$W/$1.json"
    mk_report_mail "$W/$1.json" "$W/$1.eml" fixture.example
}
# The counters of the fixture report's domains and day: cnt PORT PREFIX
cnt() {
    for _d in fixture.example second.example; do
        for _k in reports ok fail; do
            printf '%s=%s ' "$_d:$_k" "$(t_get "$1" "${2}d:$_d:$RD:$_k")"
        done
    done
}
# Pending entries of archive DIR: npend DIR
npend() { ls "$1/pending" 2>/dev/null | wc -l | tr -d ' '; }
# Committed entries (all days): nentries DIR
nentries() { ls "$1"/????-??-??/*.eml.gz 2>/dev/null | wc -l | tr -d ' '; }
# Wait (at most 20 s) until archive DIR has nothing pending; 0 or 1.
wait_settled() {
    _i=0
    while [ "$(npend "$1")" != 0 ] && [ $_i -lt 200 ]; do sleep 0.1; _i=$((_i + 1)); done
    [ "$(npend "$1")" = 0 ]
}
crlf() { sed 's/$/\r/' "$1"; }

mstart ref "$MC" "KeyPrefix ref:" || exit 1

# ---- 1. archived as received, meta, counted as without an archive ----
A1=$T/a1
mstart a1 "$MC" "KeyPrefix a1:" "ArchiveDir $A1" || exit 1
t_check "start: the archive directory is created with its archive-id" test -s "$A1/archive-id"
mk_report_mail "$FIX/report1.json" "$W/r1.eml" fixture.example
drive r1 a1 -r rua@rua.test "$W/r1.eml"
drive r1ref ref -r rua@rua.test "$W/r1.eml"
t_grep "archived and counted: discarded" "$W/r1.out" '^DISCARD$'
t_eq "one committed entry" "$(nentries "$A1")" 1
E1=$(ls "$A1/$DAY"/*.eml.gz 2>/dev/null | head -1)
crlf "$W/r1.eml" >"$W/r1.crlf"
if [ -n "$E1" ] && gzip -dc "$E1" | cmp -s - "$W/r1.crlf"; then
    t_pass "the entry gunzips to exactly the mail sent (CRLF lines, folded header kept)"
else
    t_fail "the entry gunzips to exactly the mail sent" "$(gzip -dc "$E1" 2>&1 | cmp - "$W/r1.crlf" 2>&1)"
fi
M1=${E1%.eml.gz}.meta
t_grep "meta: verdict countable" "$M1" '^verdict countable$'
t_grep "meta: the report with its day and verdict" "$M1" '^report-day 2026-01-02$'
t_grep "meta: report-verdict countable" "$M1" '^report-verdict countable$'
t_grep "meta: the report-id" "$M1" '^report-id fixture-1@reporter.example$'
t_grep "meta: the queue id" "$M1" '^queue-id DRV[0-9]+$'
t_grep "meta: auth none" "$M1" '^auth none$'
t_eq "counted: nothing left pending" "$(npend "$A1")" 0
t_eq "counters equal those of a milter without archive" "$(cnt "$MC" a1:)" "$(cnt "$MC" ref:)"
t_check "counters are there at all" test -n "$(t_get "$MC" "a1:d:fixture.example:$RD:reports")"
t_grep "the log line names the archive entry" "$T/a1.log" "counted org=.* archive=$(basename "${E1%.eml.gz}") action=discarded"
mkv nolead
drive nolead a1 -L -r rua@rua.test "$W/nolead.eml"
crlf "$W/nolead.eml" >"$W/nolead.crlf"
E=$(grep -l '^report-id nolead$' "$A1/$DAY"/*.meta | head -1)
if [ -n "$E" ] && gzip -dc "${E%.meta}.eml.gz" | cmp -s - "$W/nolead.crlf"; then
    t_pass "without SMFIP_HDR_LEADSPC: 'Name: value', the same bytes"
else
    t_fail "without SMFIP_HDR_LEADSPC: the same bytes" "entry ${E:-missing}"
fi
drive nolead-ref ref -r rua@rua.test "$W/nolead.eml"
drive r1dup a1 -r rua@rua.test "$W/r1.eml"
t_grep "a duplicate is archived and discarded" "$W/r1dup.out" '^DISCARD$'
t_eq "a duplicate: counters unchanged" "$(cnt "$MC" a1:)" "$(cnt "$MC" ref:)"

# ---- 2. memcached down: handled, pending, counted once when it is back ----
A2=$T/a2
mstart a2 "$MC2" "KeyPrefix a2:" "ArchiveDir $A2" || exit 1
A2T=$T/a2t
mstart a2t "$MC2" "KeyPrefix a2:" "ArchiveDir $A2T" "Action tag" || exit 1
svc_stop mc2
mkv down-1
mkv down-tag
drive down a2 -r rua@rua.test "$W/down-1.eml"
t_grep "memcached down: the mail is still discarded" "$W/down.out" '^DISCARD$'
t_nogrep "memcached down: no error header, no tempfail" "$W/down.out" '^(ADDHEADER|TEMPFAIL)'
t_eq "memcached down: the entry is pending" "$(ls "$A2/pending")" "$(basename "$(ls "$A2/$DAY"/*.eml.gz)" .eml.gz).new"
t_grep "memcached down: the log says pending" "$T/a2.log" 'pending: reason=store-unavailable .*kept in the archive'
drive down-tag a2t -r rua@rua.test "$W/down-tag.eml"
t_grep "memcached down, Action tag: tagged pending" "$W/down-tag.out" \
    '^ADDHEADER X-TLSRPT-Status: pending; org="Fixture Org, Inc."; report-id="down-tag"$'
svc_memcached_start mc2 "$MC2" >/dev/null || t_fail "memcached mc2 restart" "$(tail -2 "$T/mc2.log")"
if wait_settled "$A2" && wait_settled "$A2T"; then t_pass "memcached back: the retry thread counted the entries"
else t_fail "memcached back: entries counted" "pending: $(ls "$A2/pending" "$A2T/pending" | tr '\n' ' ')"; fi
drive down-ref ref -r rua@rua.test "$W/down-1.eml"
drive down-tag-ref ref -r rua@rua.test "$W/down-tag.eml"
mstart ref2 "$MC" "KeyPrefix r2:" || exit 1
drive d1 ref2 -r rua@rua.test "$W/down-1.eml"
drive d2 ref2 -r rua@rua.test "$W/down-tag.eml"
t_eq "counted exactly once after memcached came back" "$(cnt "$MC2" a2:)" "$(cnt "$MC" r2:)"
t_grep "the retry is logged" "$T/a2.log" 'archive .*: counted report 0 .*report-id="down-1".*\(retry\)'

# ---- 3. memcached hung (SIGSTOP) during a mail, then SIGCONT: counted once ----
mkv hung-1
kill -STOP "$(cat "$T/mc2.pid")"
drive hung a2 -r rua@rua.test "$W/hung-1.eml"
t_grep "memcached hung: the mail is discarded" "$W/hung.out" '^DISCARD$'
t_eq "memcached hung: one entry pending" "$(npend "$A2")" 1
sleep 1
kill -CONT "$(cat "$T/mc2.pid")"
if wait_settled "$A2"; then t_pass "memcached resumed: the pending entry settled"
else t_fail "memcached resumed: settled" "$(ls "$A2/pending")"; fi
drive h1 ref2 -r rua@rua.test "$W/hung-1.eml"
t_eq "memcached hung then resumed: counted exactly once" "$(cnt "$MC2" a2:)" "$(cnt "$MC" r2:)"
t_nogrep "memcached hung: not taken for a duplicate" "$T/a2.log" 'duplicate report 0 .*hung-1'

# ---- 4. the archive cannot be written: delivered with archive-failed ----
A4=$T/a4
mstart a4 "$MC" "KeyPrefix a4:" "ArchiveDir $A4" || exit 1
mstart a4t "$MC" "KeyPrefix a4:" "ArchiveDir $T/a4t" "OnStoreError tempfail" || exit 1
rm -rf "$A4/tmp" "$T/a4t/tmp"
: >"$A4/tmp"                                # a file in place of the directory
: >"$T/a4t/tmp"
mkv afail
drive afail a4 -r rua@rua.test "$W/afail.eml"
t_grep "archive unwritable: delivered with reason=archive-failed" "$W/afail.out" \
    '^ADDHEADER X-TLSRPT-Status: error; reason=archive-failed$'
t_grep "archive unwritable: accepted" "$W/afail.out" '^ACCEPT$'
t_nogrep "archive unwritable: never discarded" "$W/afail.out" '^(DISCARD|DELRCPT|TEMPFAIL)'
t_eq "archive unwritable: not counted" "$(t_get "$MC" "a4:d:fixture.example:$RD:reports")" ""
t_eq "archive unwritable: nc:$DAY:archive-failed = 1" "$(t_get "$MC" "a4:nc:$DAY:archive-failed")" 1
t_grep "archive unwritable: the log names the reason" "$T/a4.log" 'not counted: reason=archive-failed \(archive '
drive afail-t a4t -r rua@rua.test "$W/afail.eml"
t_grep "archive unwritable, OnStoreError tempfail: 451" "$W/afail-t.out" '^REPLYCODE 451 4.3.0'
t_nogrep "archive unwritable, tempfail: never discarded" "$W/afail-t.out" '^(DISCARD|DELRCPT)'

# ---- 5. milter SIGKILLed mid-body; killed with an entry pending ----
A5=$T/a5
MC5=$(svc_memcached_start mc5) || { t_fail memcached-start "mc5"; exit 1; }
mstart a5 "$MC5" "KeyPrefix a5:" "ArchiveDir $A5" || exit 1
mkv killed
timeout 60 "$DRV" -t 30 -c 64 -d 100 -s "unix:$T/a5.sock" -r rua@rua.test "$W/killed.eml" \
    >"$W/killed.out" 2>&1 &
dpid=$!
sleep 1.5
t_eq "SIGKILL mid-body: a half entry in tmp/" "$(ls "$A5/tmp" | wc -l | tr -d ' ')" 1
kill -9 "$(cat "$T/a5.pid")"
wait "$dpid"
t_eq "SIGKILL mid-body: nothing committed" "$(nentries "$A5")" 0
mstart a5 "$MC5" "KeyPrefix a5:" "ArchiveDir $A5" || exit 1
t_grep "restart: recover removed the half entry" "$T/a5.log" 'recovered: 1 unfinished mail\(s\) removed'
t_eq "restart: tmp/ is empty" "$(ls "$A5/tmp" | wc -l | tr -d ' ')" 0
t_eq "SIGKILL mid-body: never counted" "$(t_get "$MC5" "a5:d:fixture.example:$RD:reports")" ""
svc_stop mc5
mkv kill-pending
drive kp a5 -r rua@rua.test "$W/kill-pending.eml"
t_eq "memcached down: one entry pending" "$(npend "$A5")" 1
kill -9 "$(cat "$T/a5.pid")"
sleep 0.2
svc_memcached_start mc5 "$MC5" >/dev/null || t_fail "memcached mc5 restart" ""
mstart a5 "$MC5" "KeyPrefix a5:" "ArchiveDir $A5" || exit 1
if wait_settled "$A5"; then t_pass "killed with an entry pending: counted after the restart"
else t_fail "killed with an entry pending: counted after the restart" "$(ls "$A5/pending")"; fi
mstart ref5 "$MC" "KeyPrefix r5:" || exit 1
drive k1 ref5 -r rua@rua.test "$W/kill-pending.eml"
t_eq "killed with an entry pending: counted exactly once" "$(cnt "$MC5" a5:)" "$(cnt "$MC" r5:)"

# Entries left by a stop while memcached hung (its late "add" lands after SIGCONT, the
# marker holding the entry id): left "partial" -> flagged, nc:partial-count, not counted
# again; left "counting" with that marker -> counted once (nothing had gone out); left
# "counting" and the marker gone (memcached lost it) -> flagged partial, not counted.
nflag=0
for st in partial counting nomarker; do
    kill -STOP "$(cat "$T/mc5.pid")"
    mkv "left-$st"
    drive "left-$st" a5 -r rua@rua.test "$W/left-$st.eml"
    svc_stop a5
    kill -CONT "$(cat "$T/mc5.pid")"
    sleep 0.5
    p=$(ls "$A5/pending")
    to=$st
    [ "$st" = nomarker ] && to=counting
    mv "$A5/pending/$p" "$A5/pending/${p%.new}.$to"
    if [ "$st" = nomarker ]; then
        key=$(grep "report-id=\"left-$st\"" "$T/a5.log" | grep -o 'a5:seen:[0-9a-f]*' | head -1)
        memcrm --servers="127.0.0.1:$MC5" "$key"
        t_eq "left $st: the marker is gone" "$(t_get "$MC5" "$key")" ""
    fi
    before=$(cnt "$MC5" a5:)
    mstart a5 "$MC5" "KeyPrefix a5:" "ArchiveDir $A5" || exit 1
    if wait_settled "$A5"; then t_pass "an entry left $st: settled at start"
    else t_fail "an entry left $st: settled at start" "$(ls "$A5/pending")"; fi
    if [ "$st" = counting ]; then
        drive "left-$st-ref" ref5 -r rua@rua.test "$W/left-$st.eml"
        t_eq "left counting, own marker: counted exactly once" "$(cnt "$MC5" a5:)" "$(cnt "$MC" r5:)"
    else
        nflag=$((nflag + 1))
        t_eq "left $st: not counted again" "$(cnt "$MC5" a5:)" "$before"
        t_eq "left $st: its report's day flagged partial" \
            "$(t_get "$MC5" "a5:d:fixture.example:$RD:partial")" "$nflag"
        t_eq "left $st: nc:partial-count" "$(t_get "$MC5" "a5:nc:$DAY:partial-count")" "$nflag"
    fi
done
t_grep "an entry left partial: logged with the repair" "$T/a5.log" \
    'may be partly counted .*tlsrpt-parse --rebuild --day'

# ---- 6. ArchiveAll, and the nc: counters per reason ----
A6=$T/a6
mstart a6 "$MC" "KeyPrefix a6:" "ArchiveDir $A6" "ArchiveAll yes" "PolicyDomains only.example" || exit 1
mk_gzip "$W/down-1.json" "$W/e.json.gz"
head -c 150 "$W/e.json.gz" >"$W/trunc.gz"
mk_report_mail "$W/trunc.gz" "$W/corrupt-gzip.eml" fixture.example
printf 'H4sIAAAAAAAAA*%%$#not@base64!\n' >"$W/bad.b64"
mk_part_mail "$W/corrupt-base64.eml" application/tlsrpt+gzip base64 "$W/bad.b64" fixture.example
drive cg1 a6 -r rua@rua.test "$W/corrupt-gzip.eml"
drive cg2 a6 -r rua@rua.test "$W/corrupt-gzip.eml"
drive cb1 a6 -r rua@rua.test "$W/corrupt-base64.eml"
drive fd1 a6 -r rua@rua.test "$W/r1.eml"
t_grep "ArchiveAll: the uncountable mail is delivered" "$W/cg1.out" '^ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip$'
t_eq "ArchiveAll: every report mail kept (2 corrupt-gzip, 1 corrupt-base64, 1 foreign)" "$(nentries "$A6")" 4
t_eq "ArchiveAll: the corrupt ones have their reason as the verdict" \
    "$(cat "$A6/$DAY"/*.meta | grep '^verdict ' | sort | uniq -c | awk '{ printf "%s:%s ", $3, $1 }')" \
    "corrupt-base64:1 corrupt-gzip:2 countable:1 "
t_eq "ArchiveAll: nothing pending" "$(npend "$A6")" 0
t_eq "nc: corrupt-gzip = 2" "$(t_get "$MC" "a6:nc:$DAY:corrupt-gzip")" 2
t_eq "nc: corrupt-base64 = 1" "$(t_get "$MC" "a6:nc:$DAY:corrupt-base64")" 1
t_eq "nc: foreign-domain = 1" "$(t_get "$MC" "a6:nc:$DAY:foreign-domain")" 1
t_get "$MC" a6:nc:days >"$W/ncdays"
t_grep "nc: the day is listed in P nc:days" "$W/ncdays" "$DAY"
n1=$(nentries "$A1")
drive cg-a1 a1 -r rua@rua.test "$W/corrupt-gzip.eml"
t_eq "ArchiveAll no: an uncountable mail is not kept" "$(nentries "$A1")" "$n1"
t_eq "ArchiveAll no: tmp/ left clean" "$(ls "$A1/tmp" | wc -l | tr -d ' ')" 0
t_eq "nc: counted without ArchiveAll too" "$(t_get "$MC" "a1:nc:$DAY:corrupt-gzip")" 1

# ---- 6b. two reports in one mail, the second's counter burst fails half-way (a counter
# that is not a number): the first is counted, only the second's day is flagged ----
mstart a10 "$MC" "KeyPrefix a10:" "ArchiveDir $T/a10" || exit 1
sed -e 's|"report-id": "[^"]*"|"report-id": "multi-a"|' "$FIX/report1.json" >"$W/ma.json"
sed -e 's|"report-id": "[^"]*"|"report-id": "multi-b"|' -e 's|fixture.example|other.example|g' \
    "$FIX/report2.json" >"$W/mb.json"
mk_multi_mail "$W/multi.eml" "" "$W/ma.json" "$W/mb.json"
mkdir -p "$W/k"
for k in ok max; do                 # max: the saturation guard, so the counters are checked
    printf 'xyz' >"$W/k/a10:d:other.example:$RD2:$k"
    memccp --servers="127.0.0.1:$MC" "$W/k/a10:d:other.example:$RD2:$k" >/dev/null 2>&1
done
t_eq "multi: a counter that is not a number is set" "$(t_get "$MC" "a10:d:other.example:$RD2:ok")" xyz
drive multi a10 -r rua@rua.test "$W/multi.eml"
t_grep "multi, second report partly counted: the mail is handled (discarded)" "$W/multi.out" '^DISCARD$'
if wait_settled "$T/a10"; then t_pass "multi: the partial entry settled"
else t_fail "multi: the partial entry settled" "$(ls "$T/a10/pending")"; fi
mstart ref10 "$MC" "KeyPrefix r10:" || exit 1
sed -e 's|"report-id": "[^"]*"|"report-id": "multi-a"|' "$FIX/report1.json" >"$W/ma1.json"
mk_report_mail "$W/ma1.json" "$W/ma1.eml" fixture.example
drive ma1 ref10 -r rua@rua.test "$W/ma1.eml"
t_eq "multi: the first report counted exactly once" \
    "$(t_get "$MC" "a10:d:fixture.example:$RD:reports") $(t_get "$MC" "a10:d:fixture.example:$RD:ok")" \
    "$(t_get "$MC" "r10:d:fixture.example:$RD:reports") $(t_get "$MC" "r10:d:fixture.example:$RD:ok")"
t_eq "multi: the second report's day flagged partial" "$(t_get "$MC" "a10:d:other.example:$RD2:partial")" 1
t_eq "multi: the first report's day not flagged" "$(t_get "$MC" "a10:d:fixture.example:$RD:partial")" ""
t_eq "multi: nc:partial-count = 1" "$(t_get "$MC" "a10:nc:$DAY:partial-count")" 1

# ---- 6c. the same report twice in one mail: counted once, never taken for a partial
# count (every report of an archived mail is counted as the same entry id), at once and
# by the retry thread after memcached was down ----
mstart a11 "$MC" "KeyPrefix a11:" "ArchiveDir $T/a11" || exit 1
sed -e 's|"report-id": "[^"]*"|"report-id": "twice-a"|' "$FIX/report1.json" >"$W/tw.json"
mk_multi_mail "$W/twice.eml" "" "$W/tw.json" "$W/tw.json"
drive twice a11 -r rua@rua.test "$W/twice.eml"
t_grep "twice in one mail: discarded" "$W/twice.out" '^DISCARD$'
t_eq "twice in one mail: counted once" "$(t_get "$MC" "a11:d:fixture.example:$RD:reports")" 1
t_eq "twice in one mail: nothing pending" "$(npend "$T/a11")" 0
t_eq "twice in one mail: no day flagged partial" "$(t_get "$MC" "a11:d:fixture.example:$RD:partial")" ""
t_grep "twice in one mail: the second is logged as a duplicate" "$T/a11.log" 'duplicate .*report-id="twice-a".* report=2/2'
MC12=$(svc_memcached_start mc12) || { t_fail memcached-start "mc12"; exit 1; }
mstart a12 "$MC12" "KeyPrefix a12:" "ArchiveDir $T/a12" || exit 1
svc_stop mc12
sed -e 's|"report-id": "[^"]*"|"report-id": "twice-b"|' "$FIX/report1.json" >"$W/tw2.json"
mk_multi_mail "$W/twice2.eml" "" "$W/tw2.json" "$W/tw2.json"
drive twice2 a12 -r rua@rua.test "$W/twice2.eml"
t_grep "twice in one mail, memcached down: discarded" "$W/twice2.out" '^DISCARD$'
svc_memcached_start mc12 "$MC12" >/dev/null || t_fail "memcached mc12 restart" "$(tail -2 "$T/mc12.log")"
if wait_settled "$T/a12"; then t_pass "twice in one mail, memcached back: settled"
else t_fail "twice in one mail, memcached back: settled" "$(ls "$T/a12/pending")"; fi
t_eq "twice in one mail, by the retry thread: counted once" "$(t_get "$MC12" "a12:d:fixture.example:$RD:reports")" 1
t_eq "twice in one mail, by the retry thread: no day flagged partial" \
    "$(t_get "$MC12" "a12:d:fixture.example:$RD:partial")$(t_get "$MC12" "a12:nc:$DAY:partial-count")" ""

# ---- 7. ArchiveDays at start; 8. the loss line against an empty memcached ----
svc_stop a1
mkdir "$A1/2020-01-01"
cp "$E1" "$A1/2020-01-01/"
cp "$M1" "$A1/2020-01-01/"
MC8=$(svc_memcached_start mc8) || { t_fail memcached-start "mc8"; exit 1; }
mstart a1b "$MC8" "KeyPrefix a1:" "ArchiveDir $A1" "ArchiveDays 30" || exit 1
i=0
while ! grep -q 'ArchiveDays 30' "$T/a1b.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
t_check "ArchiveDays 30: the 2020 day is removed at start" test ! -e "$A1/2020-01-01"
t_check "ArchiveDays 30: today's entry stays" test -f "$E1"
t_grep "ArchiveDays: logged" "$T/a1b.log" 'archive: ArchiveDays 30: 1 entry of 1 day\(s\) removed'
i=0
while ! grep -q 'counters lost' "$T/a1b.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
t_grep "an empty memcached under a non-empty archive: one line with 'lost' and the rebuild command" \
    "$T/a1b.log" "memcached counters lost: .*tlsrpt-parse --rebuild -c $T/a1b.conf"

# ---- 9. -n and ArchiveDir ----
svc_milter_conf "$T/n1.conf" "unix:$T/n1.sock" "127.0.0.1:$MC" "ArchiveDir $T/nodir/archive"
"$MILTER" -n -c "$T/n1.conf" >/dev/null 2>"$W/n1.err"; rc=$?
t_check "-n: ArchiveDir whose parent is missing is an error" test "$rc" = 1
t_grep "-n: ... naming the line" "$W/n1.err" "^$T/n1.conf:[0-9]+: ArchiveDir: directory $T/nodir: does not exist\$"
svc_milter_conf "$T/n2.conf" "unix:$T/n2.sock" "127.0.0.1:$MC" "ArchiveDir $T/new-archive"
t_check "-n: an ArchiveDir still to be made in a writable parent is fine" "$MILTER" -n -c "$T/n2.conf"
svc_milter_conf "$T/n3.conf" "unix:$T/n3.sock" "127.0.0.1:$MC" "ArchiveDir rel/archive"
"$MILTER" -n -c "$T/n3.conf" >/dev/null 2>"$W/n3.err"
t_grep "-n: a relative ArchiveDir is refused" "$W/n3.err" 'bad value for ArchiveDir'
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    mkdir -p "$T/ro-archive"
    chmod 755 "$T/ro-archive"
    svc_milter_conf "$T/n4.conf" "unix:$T/n4.sock" "127.0.0.1:$MC" "ArchiveDir $T/ro-archive" "User nobody"
    "$MILTER" -n -c "$T/n4.conf" >/dev/null 2>"$W/n4.err"
    t_grep "-n: an ArchiveDir User cannot write is an error" "$W/n4.err" \
        "ArchiveDir: user nobody .* cannot create and remove files in $T/ro-archive"
else
    t_skip "-n: ArchiveDir not writable by User" "needs root and user nobody"
fi

# ---- 11. Authentication dkim: the meta has the verdict, the retry counts under the signer ----
SIGN=$TLSRPT_SRCDIR/tests/lib/dkim-sign.py
if command -v openssl >/dev/null 2>&1 && /usr/bin/python3 -c 'import dkim' 2>/dev/null; then
    K=$T/keys
    mkdir -p "$K"
    /usr/bin/python3 "$SIGN" key "$K/r.pem" sel1 reporter.test "$K/keys.txt"
    chmod 644 "$K/keys.txt"
    A9=$T/a9
    mstart a9 "$MC2" "KeyPrefix a9:" "ArchiveDir $A9" "Authentication dkim" "DkimKeyFile $K/keys.txt" || exit 1
    sed -e 's|"report-id": "[^"]*"|"report-id": "dkim-1"|' \
        -e 's|"contact-info": "[^"]*"|"contact-info": "tlsrpt@reporter.test"|' "$FIX/report1.json" >"$W/dk.json"
    mk_report_mail "$W/dk.json" "$W/dk-unsigned.eml" fixture.example
    /usr/bin/python3 "$SIGN" sign "$K/r.pem" sel1 reporter.test "$W/dk-unsigned.eml" "$W/dk.eml"
    svc_stop mc2
    drive dk a9 -r rua@rua.test "$W/dk.eml"
    t_grep "dkim, memcached down: discarded" "$W/dk.out" '^DISCARD$'
    E=$(ls "$A9/$DAY"/*.meta 2>/dev/null | head -1)
    t_eq "dkim: the meta has the DKIM verdict" \
        "$(grep -E '^(auth|auth-result|signer|signer-org|from-domain|verdict) ' "$E" | tr '\n' ' ')" \
        "auth dkim auth-result pass signer reporter.test signer-org reporter.test from-domain reporter.test verdict countable "
    sed 's/\r*$/\r/' "$W/dk.eml" >"$W/dk.crlf"
    if gzip -dc "${E%.meta}.eml.gz" | cmp -s - "$W/dk.crlf"; then t_pass "dkim: the signed mail archived byte for byte"
    else t_fail "dkim: the signed mail archived byte for byte" "$(gzip -dc "${E%.meta}.eml.gz" | cmp - "$W/dk.crlf" 2>&1)"; fi
    svc_memcached_start mc2 "$MC2" >/dev/null || t_fail "memcached mc2 restart" ""
    if wait_settled "$A9"; then t_pass "dkim: the retry counted it"
    else t_fail "dkim: the retry counted it" "$(ls "$A9/pending")"; fi
    t_eq "dkim: counted under the signer recorded at arrival" \
        "$(t_get "$MC2" "a9:d:fixture.example:$RD:org:reporter.test:ok")" 10
else
    t_skip "archive with Authentication dkim" "openssl or python3-dkim missing"
fi

# ---- 10. the stop stays under a second with the retry thread ----
svc_kill_ms "$(cat "$T/a2.pid")"
ms=$SVC_KILL_MS
t_check "SIGTERM with an archive: stopped within a second (${ms} ms)" test "$ms" -lt 1000

svc_stop ref ref2 ref5 ref10 a10 a1b a2 a2t a4 a4t a5 a6 a9 mc mc2 mc5 mc8
