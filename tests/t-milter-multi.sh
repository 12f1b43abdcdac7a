#!/bin/sh
# t-milter-multi.sh - mails with several report parts (issue 12.3), through the
# real build/tlsrpt-milter and build/tests/milter-driver, counting into a real
# memcached: each report part is decoded, counted and deduplicated on its own.
#
# Checks, with the README's table for several report parts: two new reports
# (discarded, both counted, one log line per report and a summary line); the same
# mail again (both duplicates); one new and one duplicate; a corrupt part before,
# after and between good ones (delivered to all with "error; reason=TOKEN;
# counted=N; of=M", the good ones counted, the first failed part's reason); all
# parts corrupt; a foreign policy domain in one of two; rua + a person (the rua
# recipient removed); Action tag ("counted; counted=2; of=2", then "duplicate;
# ..."); memcached down (deliver: counted=0; tempfail: 451); the mail-wide bounds
# MaxMimeParts and MaxMessageBytes over several reports (nothing counted); every
# body chunking (1, 7, 4096, 65535 bytes) giving the same result; 8 connections
# of two-report mails at once.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, memccat.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-milter-multi "$BUILD/tlsrpt-milter" "$DRV" memcached memccat memcflush gzip base64

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }

# Start milter NAME with extra config lines: mstart NAME "Key value"...
mstart() {
    _mn=$1
    shift
    svc_milter_conf "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" "127.0.0.1:$MC" "$@"
    svc_milter_start "$_mn" "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" ||
        { t_fail "milter-start-$_mn" "$(tail -3 "$SVC_TMP/$_mn.log" | tr '\n' '|')"; exit 1; }
}

# Drive milter SOCKNAME into $W/NAME.out: drive NAME SOCKNAME driver-args...
# (the milter's log length before it is kept in $W/NAME.off, for mlog)
drive() {
    _dn=$1 _ds=$2
    shift 2
    wc -l <"$SVC_TMP/$_ds.log" | tr -d ' ' >"$W/$_dn.off"
    timeout 120 "$DRV" -t 20 -s "unix:$SVC_TMP/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}

# A report with its own report-id: rep SRCNAME ID [gz] -> $W/ID.json(.gz), $W/ID.tsv
rep() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" "$FIX/$1" >"$W/$2.json"
    mk_tsv_line "$FIX/expected.tsv" "$1" | awk -F '\t' -v OFS='\t' -v id="$2" '{ $3 = id; print }' \
        >"$W/$2.tsv"
    if [ "$3" = gz ]; then mk_gzip "$W/$2.json" "$W/$2.json.gz"; fi
}

# The action lines of an output: acts NAME
acts() {
    grep -E '^(ADDHEADER|CHGHEADER|DELRCPT|DISCARD|ACCEPT|CONTINUE|TEMPFAIL|REJECT|REPLYCODE)' \
        "$W/$1.out"
}

# The milter's info and warning lines written since the drive NAME began: mlog NAME MILTER
mlog() {
    tail -n "+$(($(cat "$W/$1.off") + 1))" "$SVC_TMP/$2.log" | grep -E ' (info|warning|error): '
}

mstart m1 || exit 1
: >"$W/sent.tsv"

# ---- two new reports: discarded, both counted, a line each and a summary ----
rep report1.json multi-a
rep report2.json multi-b gz
mk_multi_mail "$W/two.eml" fixture.example "$W/multi-a.json" "$W/multi-b.json.gz"
drive two m1 -r rua@rua.test "$W/two.eml"
t_eq "two reports, both new: discarded" "$(acts two)" "DISCARD"
cat "$W/multi-a.tsv" "$W/multi-b.tsv" >>"$W/sent.tsv"
t_counters "two reports, both new: both counted" "$MC" tlsrpt: "$W/sent.tsv"
mlog two m1 >"$W/two.log"
t_grep "two reports: a line for the first (report=1/2)" "$W/two.log" \
    ': counted org="Fixture Org, Inc." report-id="multi-a" domains=.* ok=15 fail=3 report=1/2$'
t_grep "two reports: a line for the second (report=2/2)" "$W/two.log" \
    ': counted org="Other Reporter" report-id="multi-b" domains=fixture.example ok=7 fail=1 report=2/2$'
t_grep "two reports: the summary line names the action" "$W/two.log" \
    ': 2 report parts: counted=2 duplicate=0 not-counted=0 action=discarded$'
t_eq "two reports: three lines in all" "$(wc -l <"$W/two.log" | tr -d ' ')" 3

# ---- the same mail again: both duplicates ----
drive two-again m1 -r rua@rua.test "$W/two.eml"
t_eq "the same two reports again: discarded" "$(acts two-again)" "DISCARD"
t_counters "the same two reports again: counters unchanged" "$MC" tlsrpt: "$W/sent.tsv"
mlog two-again m1 >"$W/two-again.log"
t_eq "the same two reports again: two duplicate lines" \
    "$(grep -c ': duplicate org=.* report=[12]/2$' "$W/two-again.log")" 2
t_grep "the same two again: summary" "$W/two-again.log" ': counted=0 duplicate=2 not-counted=0 action=discarded$'

# ---- one new, one duplicate ----
rep report2.json multi-c
mk_multi_mail "$W/newdup.eml" fixture.example "$W/multi-a.json" "$W/multi-c.json"
drive newdup m1 -r rua@rua.test "$W/newdup.eml"
t_eq "one new + one duplicate: discarded" "$(acts newdup)" "DISCARD"
cat "$W/multi-c.tsv" >>"$W/sent.tsv"
t_counters "one new + one duplicate: the new one counted, the other not again" "$MC" tlsrpt: "$W/sent.tsv"
t_grep "one new + one duplicate: summary" "$SVC_TMP/m1.log" ': counted=1 duplicate=1 not-counted=0 action=discarded$'

# ---- a corrupt part after, before and between good ones ----
rep report1.json multi-d gz
rep report2.json multi-e gz
rep report2.json multi-f
head -c 120 "$W/multi-e.json.gz" >"$W/trunc.bad"
printf '{"organization-name": "Broken", "report-id": ' >"$W/badjson.json"
mk_multi_mail "$W/after.eml" fixture.example "$W/multi-d.json.gz" "$W/trunc.bad"
drive after m1 -r rua@rua.test "$W/after.eml"
t_eq "good + corrupt: delivered to all with the reason and counted=1; of=2" "$(acts after)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=1; of=2
ACCEPT"
cat "$W/multi-d.tsv" >>"$W/sent.tsv"
t_counters "good + corrupt: the good report counted" "$MC" tlsrpt: "$W/sent.tsv"
mlog after m1 >"$W/after.log"
t_grep "good + corrupt: a line for the corrupt part" "$W/after.log" \
    ': not counted: reason=corrupt-gzip \(.*\) report=2/2$'
t_grep "good + corrupt: the summary says delivered with which status" "$W/after.log" \
    ': 2 report parts: counted=1 duplicate=0 not-counted=1 action=delivered status="error; reason=corrupt-gzip; counted=1; of=2"$'
mk_multi_mail "$W/before.eml" fixture.example "$W/trunc.bad" "$W/multi-a.json" "$W/multi-e.json.gz"
drive before m1 -r rua@rua.test -r person@example.test "$W/before.eml"
t_eq "corrupt + duplicate + new, to rua + person: delivered to all, nobody removed" "$(acts before)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=2; of=3
ACCEPT"
cat "$W/multi-e.tsv" >>"$W/sent.tsv"
t_counters "corrupt + duplicate + new: the new one counted" "$MC" tlsrpt: "$W/sent.tsv"
mk_multi_mail "$W/between.eml" fixture.example "$W/multi-f.json" "$W/badjson.json" "$W/trunc.bad"
drive between m1 -r rua@rua.test "$W/between.eml"
t_eq "good + corrupt-json + corrupt-gzip: the first failed part's reason" "$(acts between)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-json; counted=1; of=3
ACCEPT"
cat "$W/multi-f.tsv" >>"$W/sent.tsv"
t_counters "good + two corrupt: the good one counted" "$MC" tlsrpt: "$W/sent.tsv"
mk_multi_mail "$W/allbad.eml" fixture.example "$W/trunc.bad" "$W/badjson.json"
drive allbad m1 -r rua@rua.test "$W/allbad.eml"
t_eq "two corrupt parts: delivered with the first one's reason, counted=0" "$(acts allbad)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=0; of=2
ACCEPT"
t_eq "two corrupt parts: a line for each and a summary" \
    "$(mlog allbad m1 | grep -c -E 'not counted: reason=corrupt-(gzip|json) .*report=[12]/2$|: 2 report parts: counted=0 duplicate=0 not-counted=2 action=delivered')" 3

# ---- rua + a person, all counted: the rua recipient removed ----
rep report1.json multi-g gz
rep report2.json multi-h gz
mk_multi_mail "$W/mixed.eml" fixture.example "$W/multi-g.json.gz" "$W/multi-h.json.gz"
drive mixed m1 -r person@example.test -r 'RUA+x@Rua.Test' "$W/mixed.eml"
t_eq "two counted, to rua + person: the rua recipient removed" "$(acts mixed)" \
    "DELRCPT <RUA+x@Rua.Test>
ACCEPT"
cat "$W/multi-g.tsv" "$W/multi-h.tsv" >>"$W/sent.tsv"
t_counters "two counted, to rua + person: counted" "$MC" tlsrpt: "$W/sent.tsv"

# ---- a foreign policy domain in one of two ----
mstart allow "PolicyDomains fixture.example"
rep report2.json multi-i
sed 's|"policy-domain": "[^"]*"|"policy-domain": "foreign.example"|' "$W/multi-i.json" >"$W/foreign.json"
rep report2.json multi-j
mk_multi_mail "$W/foreign.eml" "" "$W/foreign.json" "$W/multi-j.json"
drive foreign allow -r rua@rua.test "$W/foreign.eml"
t_eq "foreign + counted: delivered with reason=foreign-domain; counted=1; of=2" "$(acts foreign)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=foreign-domain; counted=1; of=2
ACCEPT"
cat "$W/multi-j.tsv" >>"$W/sent.tsv"
t_counters "foreign + counted: the other counted" "$MC" tlsrpt: "$W/sent.tsv"

# ---- Action tag ----
mstart tag "Action tag" "KeyPrefix tag:"
drive tag tag -r rua@rua.test "$W/two.eml"
t_eq "Action tag, two new: counted; counted=2; of=2" "$(acts tag)" \
    "ADDHEADER X-TLSRPT-Status: counted; counted=2; of=2
ACCEPT"
drive tag2 tag -r rua@rua.test "$W/two.eml"
t_eq "Action tag, the same again: duplicate; counted=2; of=2" "$(acts tag2)" \
    "ADDHEADER X-TLSRPT-Status: duplicate; counted=2; of=2
ACCEPT"
cat "$W/multi-a.tsv" "$W/multi-b.tsv" >"$W/tag.tsv"
t_counters "Action tag: both counted once under tag:" "$MC" tag: "$W/tag.tsv"

# ---- memcached down ----
DEAD=$(svc_free_port)
mstart down1 "MemcachedServers 127.0.0.1:$DEAD"
drive down1 down1 -r rua@rua.test "$W/two.eml"
t_eq "store down, deliver: reason=store-unavailable; counted=0; of=2" "$(acts down1)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable; counted=0; of=2
ACCEPT"
mstart down2 "MemcachedServers 127.0.0.1:$DEAD" "OnStoreError tempfail"
drive down2 down2 -r rua@rua.test "$W/two.eml"
t_eq "store down, tempfail: 451 at the first report" "$(acts down2 | sed 's/ .*//')" "REPLYCODE"
t_grep "store down, tempfail: 451 4.3.0" "$W/down2.out" '^REPLYCODE 451 4\.3\.0 '

# ---- the mail-wide bounds over several reports: nothing counted ----
i=0
set --
while [ $i -lt 5 ]; do
    rep report2.json "multi-n$i" gz
    set -- "$@" "$W/multi-n$i.json.gz"
    i=$((i + 1))
done
mk_multi_mail "$W/five.eml" fixture.example "$@"
mstart parts "MaxMimeParts 5" "KeyPrefix parts:"
drive parts parts -r rua@rua.test "$W/five.eml"
t_grep "5 reports, MaxMimeParts 5: delivered with mime-too-many-parts" "$W/parts.out" \
    '^ADDHEADER X-TLSRPT-Status: error; reason=mime-too-many-parts'
t_eq "5 reports, MaxMimeParts 5: nothing counted" \
    "$(t_get "$MC" parts:d:fixture.example:2026-01-03:reports)" ""
mstart parts7 "MaxMimeParts 7" "KeyPrefix parts7:"
drive parts7 parts7 -r rua@rua.test "$W/five.eml"
t_eq "5 reports, MaxMimeParts 7 (root + text + 5): discarded" "$(acts parts7)" "DISCARD"
t_eq "5 reports, MaxMimeParts 7: all five counted" \
    "$(t_get "$MC" parts7:d:fixture.example:2026-01-03:reports)" 5
size=$(wc -c <"$W/five.eml")
mstart msgsize "MaxMessageBytes $((size - 1))" "KeyPrefix size:"
drive msgsize msgsize -r rua@rua.test "$W/five.eml"
t_grep "5 reports, one byte over MaxMessageBytes: message-too-large" "$W/msgsize.out" \
    '^ADDHEADER X-TLSRPT-Status: error; reason=message-too-large'
t_eq "5 reports over MaxMessageBytes: nothing counted" \
    "$(t_get "$MC" size:d:fixture.example:2026-01-03:reports)" ""

# ---- every chunking gives the same result ----
for c in 1 7 4096 65535; do
    svc_mc_flush "$MC"
    drive "chunk$c" m1 -c "$c" -r rua@rua.test "$W/two.eml" "$W/after.eml" "$W/two.eml"
    t_eq "chunk $c: two new, corrupt + good, two duplicates" \
        "$(acts "chunk$c" | tr '\n' '|')" \
        "DISCARD|ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=1; of=2|ACCEPT|DISCARD|"
    cat "$W/multi-a.tsv" "$W/multi-b.tsv" "$W/multi-d.tsv" >"$W/chunk.tsv"
    t_counters "chunk $c: counters" "$MC" tlsrpt: "$W/chunk.tsv"
done

# ---- 8 connections at once, two reports each ----
svc_mc_flush "$MC"
: >"$W/conc.tsv"
: >"$W/conc.list"
i=1
while [ $i -le 16 ]; do
    rep report1.json "conc-a$i" gz
    rep report2.json "conc-b$i" gz
    mk_multi_mail "$W/conc$i.eml" fixture.example "$W/conc-a$i.json.gz" "$W/conc-b$i.json.gz"
    echo "$W/conc$i.eml" >>"$W/conc.list"
    cat "$W/conc-a$i.tsv" "$W/conc-b$i.tsv" >>"$W/conc.tsv"
    i=$((i + 1))
done
# shellcheck disable=SC2046
drive conc m1 -j 8 -n 2 -q -r rua@rua.test $(cat "$W/conc.list")
t_grep "8 connections x 2 two-report mails: all discarded" "$W/conc.out" '^SUMMARY messages=16 .*discard=16 .*errors=0 '
t_counters "8 connections x 2 two-report mails: 32 reports counted" "$MC" tlsrpt: "$W/conc.tsv"

t_check "milter m1 still running" svc_alive "$SVC_TMP/m1.pid"
exit 0
