#!/bin/sh
# t-milter-paths.sh - every path of the README's "What happens to a mail" table,
# through the real build/tlsrpt-milter and build/tests/milter-driver, counting into
# a real memcached: with one and with several report recipients (ReportAddress
# list, @domain, RecipientDelimiter "+", "+-" and none), each report recipient
# removed exactly once and exactly as received, the others kept; the forged
# X-TLSRPT-Status removal in every path that adds our header (tag, duplicate,
# error, store failure delivered, more report recipients than TM_MAX_RUA_RCPTS)
# and in the recipient-removal path, for every capitalisation and for several
# forged fields (each deleted once, last index first, empty value; a field whose
# name only starts with X-TLSRPT-Status untouched); TM_MAX_RUA_RCPTS (1000)
# exactly and one past it. t-milter.sh covers the error tokens and the load cases.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, memccat.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

MILTER=$BUILD/tlsrpt-milter
DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-milter-paths "$MILTER" "$DRV" memcached memccat gzip base64

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
DEAD=$(svc_free_port)
ADDRS="ReportAddress second@rua.test, @whole.test"

# Start milter NAME with extra config lines: mstart NAME "Key value"...
mstart() {
    _mn=$1
    shift
    svc_milter_conf "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" "127.0.0.1:$MC" "$@"
    if ! svc_milter_start "$_mn" "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock"; then
        t_fail "milter-start-$_mn" "$(tail -3 "$SVC_TMP/$_mn.log" | tr '\n' '|')"
        exit 1
    fi
}

# Drive milter SOCKNAME into $W/NAME.out: drive NAME SOCKNAME driver-args...
drive() {
    _dn=$1 _ds=$2
    shift 2
    timeout 120 "$DRV" -t 20 -s "unix:$SVC_TMP/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}

# A fresh report mail (its own report-id, so it is counted once): fresh ID OUT
fresh() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"paths-$1\"|" "$FIX/report2.json" >"$W/$1.json"
    mk_report_mail "$W/$1.json" "$2" fixture.example
}

# Prepend header lines (given as arguments) to a mail: forge IN OUT "Name: value"...
forge() {
    _in=$1 _out=$2
    shift 2
    { for _h in "$@"; do printf '%s\n' "$_h"; done; cat "$_in"; } >"$_out"
}

# The CHGHEADER lines deleting N forged fields, last first: chg N
chg() {
    _i=$1
    while [ "$_i" -gt 0 ]; do printf 'CHGHEADER %d X-TLSRPT-Status: \n' "$_i"; _i=$((_i - 1)); done
}

# The action lines of an output (what the milter asked for, in order): acts NAME
acts() {
    grep -E '^(ADDHEADER|CHGHEADER|INSHEADER|DELRCPT|ADDRCPT|DISCARD|ACCEPT|CONTINUE|TEMPFAIL|REJECT|REPLYCODE)' \
        "$W/$1.out"
}

# Each of the given report recipients removed exactly once, nothing else removed,
# in $W/NAME.out: removed NAME ADDR...
removed() {
    _rn=$1
    shift
    _want=$(for _a in "$@"; do echo "DELRCPT <$_a>"; done | LC_ALL=C sort)
    t_eq "$_rn: each report recipient removed exactly once, as received, no other" \
        "$(grep '^DELRCPT' "$W/$_rn.out" | LC_ALL=C sort)" "$_want"
}

fresh plain-report "$W/report.eml"
forge "$FIX/plain.eml" "$W/plain-forged.eml" 'X-TLSRPT-Status: counted; forged=1'

mstart pd "$ADDRS"
mstart pt "$ADDRS" "Action tag" "KeyPrefix tag:"
mstart pn "$ADDRS" "RecipientDelimiter"
mstart pm "$ADDRS" "RecipientDelimiter +-"
mstart pdown "$ADDRS" "MemcachedServers 127.0.0.1:$DEAD"
mstart ptemp "$ADDRS" "MemcachedServers 127.0.0.1:$DEAD" "OnStoreError tempfail"

# ---- A. counted, Action discard: one, two, three report recipients, with and without others ----
n=0
for set in "rua@rua.test" "rua@rua.test second@rua.test" "RUA+google@Rua.Test Anyone@WHOLE.test second@rua.test."; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    rargs=$(for a in $set; do printf -- '-r %s ' "$a"; done)
    fresh "only$n" "$W/only$n.eml"
    # shellcheck disable=SC2086
    drive "only$n" pd $rargs "$W/only$n.eml"
    t_eq "counted, $n report recipient(s) only: discarded, nothing else" "$(acts "only$n")" DISCARD
    t_eq "counted, $n report recipient(s) only: counted" \
        "$(t_get "$MC" tlsrpt:d:fixture.example:2026-01-03:reports)" "$((3 * n - 2))"
    for who in first last; do
        fresh "mix$n$who" "$W/mix$n$who.eml"
        if [ $who = first ]; then
            # shellcheck disable=SC2086
            drive "mix$n$who" pd -r person@example.test $rargs -r other@whole.test.example "$W/mix$n$who.eml"
        else
            # shellcheck disable=SC2086
            drive "mix$n$who" pd $rargs -r person@example.test "$W/mix$n$who.eml"
        fi
        # shellcheck disable=SC2086
        removed "mix$n$who" $set
        t_nogrep "counted, $n rua + others ($who): no discard, no header" "$W/mix$n$who.out" '^(DISCARD|ADDHEADER|CHGHEADER)'
        t_grep "counted, $n rua + others ($who): delivered to the others" "$W/mix$n$who.out" '^(ACCEPT|CONTINUE)$'
    done
done
done=$(t_get "$MC" tlsrpt:d:fixture.example:2026-01-03:reports)
t_eq "every counted mail counted once" "$done" 9

# duplicates: the same three mails again
for n in 1 2 3; do
    case $n in
        1) set="rua@rua.test" ;;
        2) set="rua@rua.test second@rua.test" ;;
        3) set="RUA+google@Rua.Test Anyone@WHOLE.test second@rua.test." ;;
    esac
    # shellcheck disable=SC2086
    rargs=$(for a in $set; do printf -- '-r %s ' "$a"; done)
    # shellcheck disable=SC2086
    drive "dup$n" pd $rargs "$W/only$n.eml"
    t_eq "duplicate, $n report recipient(s) only: discarded" "$(acts "dup$n")" DISCARD
    # shellcheck disable=SC2086
    drive "dupmix$n" pd $rargs -r person@example.test "$W/only$n.eml"
    # shellcheck disable=SC2086
    removed "dupmix$n" $set
    t_nogrep "duplicate, $n rua + person: no discard, no header" "$W/dupmix$n.out" '^(DISCARD|ADDHEADER)'
done
t_eq "duplicates: not counted again" "$(t_get "$MC" tlsrpt:d:fixture.example:2026-01-03:reports)" 9

# ---- B. which recipients are report recipients ----
fresh nodelim "$W/nodelim.eml"
drive nodelim pn -r rua@rua.test -r rua+x@rua.test "$W/nodelim.eml"
removed nodelim rua@rua.test
fresh multidelim "$W/multidelim.eml"
drive multidelim pm -r rua-x@rua.test -r rua+y@rua.test -r rua_z@rua.test "$W/multidelim.eml"
removed multidelim rua-x@rua.test rua+y@rua.test
fresh plusdelim "$W/plusdelim.eml"
drive plusdelim pd -r rua-x@rua.test -r rua+y@rua.test -r +rua@rua.test "$W/plusdelim.eml"
removed plusdelim rua+y@rua.test
fresh dom "$W/dom.eml"
drive dom pd -r x@sub.whole.test -r y@whole.test -r z@whole.test. -r w@notwhole.test "$W/dom.eml"
removed dom y@whole.test z@whole.test.
fresh nonrua "$W/nonrua.eml"
drive nonrua pd -r rua@rua.test.example -r xrua@rua.test -r second@rua "$W/nonrua.eml"
t_eq "look-alike addresses: not report recipients, mail accepted untouched" "$(acts nonrua)" ACCEPT
drive atdata pd -v -r person@example.test -r rua@rua.test.example "$W/report.eml"
t_grep "no report recipient: accepted at DATA" "$W/atdata.out" '^# DATA -> ACCEPT$'
t_nogrep "no report recipient: no header or body sent to the milter" "$W/atdata.out" '^# (HEADER|EOH|BODY)'
drive atdata2 pd -v -r person@example.test -r rua@rua.test "$W/report.eml"
t_grep "a report recipient: DATA continues" "$W/atdata2.out" '^# DATA -> CONTINUE$'

# ---- C. forged X-TLSRPT-Status, every capitalisation, in every path adding our header ----
caps="X-TLSRPT-Status x-tlsrpt-status X-TLSRPT-STATUS x-TlSrPt-StAtUs"
for c in $caps; do
    forge "$FIX/plain.eml" "$W/f-$c.eml" "$c: counted; forged=yes"
    drive "f-err-$c" pd -r rua@rua.test -r second@rua.test "$W/f-$c.eml"
    t_eq "error path, forged '$c': deleted, then our reason" "$(acts "f-err-$c")" \
        "$(chg 1)
ADDHEADER X-TLSRPT-Status: error; reason=no-report
ACCEPT"
    fresh "ft-$c" "$W/ft.eml"
    forge "$W/ft.eml" "$W/ft-$c.eml" "$c: counted; forged=yes"
    drive "f-tag-$c" pt -r rua@rua.test "$W/ft-$c.eml"
    t_eq "tag path, forged '$c': deleted, then counted" "$(acts "f-tag-$c" | sed 's/; org=.*//')" \
        "$(chg 1)
ADDHEADER X-TLSRPT-Status: counted
ACCEPT"
    drive "f-dup-$c" pt -r rua@rua.test -r second@rua.test "$W/ft-$c.eml"
    t_eq "tag duplicate path, forged '$c': deleted, then duplicate" \
        "$(acts "f-dup-$c" | sed 's/; org=.*//')" "$(chg 1)
ADDHEADER X-TLSRPT-Status: duplicate
ACCEPT"
    drive "f-down-$c" pdown -r rua@rua.test -r person@example.test "$W/ft-$c.eml"
    t_eq "store failure path, forged '$c': deleted, then store-unavailable" "$(acts "f-down-$c")" \
        "$(chg 1)
ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable
ACCEPT"
    fresh "fr-$c" "$W/fr.eml"
    forge "$W/fr.eml" "$W/fr-$c.eml" "$c: counted; forged=yes"
    drive "f-rm-$c" pd -r rua@rua.test -r person@example.test -r second@rua.test "$W/fr-$c.eml"
    t_eq "recipient removal path, forged '$c': deleted, rua removed, no header" \
        "$(acts "f-rm-$c" | grep -v '^DELRCPT')" "$(chg 1)
ACCEPT"
    removed "f-rm-$c" rua@rua.test second@rua.test
done

# OnStoreError tempfail: the whole mail deferred, whatever its recipients; nothing changed
for set in "-r rua@rua.test" "-r rua@rua.test -r second@rua.test" "-r rua@rua.test -r person@example.test -r second@rua.test"; do
    # shellcheck disable=SC2086
    drive temp ptemp $set "$W/ft-X-TLSRPT-Status.eml"
    t_eq "store failure, tempfail, recipients $set: 451, nothing changed" "$(acts temp)" \
        "REPLYCODE 451 4.3.0 TLS-RPT report store unavailable, try again later"
done

# several forged fields at once, and one whose name only starts like ours
hdrs="X-TLSRPT-Status: counted; forged=1|X-TLSRPT-Status-Note: keep me|x-tlsrpt-status: duplicate; forged=2|X-TLSRPT-STATUS: error; forged=3"
forge3() {
    _old=$IFS
    IFS='|'
    # shellcheck disable=SC2086
    forge "$1" "$2" $hdrs
    IFS=$_old
}
forge3 "$FIX/plain.eml" "$W/f3-err.eml"
drive f3-err pd -r rua@rua.test "$W/f3-err.eml"
t_eq "3 forged fields, error path: each deleted once (3, 2, 1), the look-alike kept" \
    "$(acts f3-err)" "$(chg 3)
ADDHEADER X-TLSRPT-Status: error; reason=no-report
ACCEPT"
fresh f3 "$W/f3.eml"
forge3 "$W/f3.eml" "$W/f3-tag.eml"
drive f3-tag pt -r rua@rua.test "$W/f3-tag.eml"
t_eq "3 forged fields, tag path: each deleted once" "$(acts f3-tag | sed 's/; org=.*//')" \
    "$(chg 3)
ADDHEADER X-TLSRPT-Status: counted
ACCEPT"
drive f3-down pdown -r rua@rua.test "$W/f3-tag.eml"
t_eq "3 forged fields, store failure path: each deleted once" "$(acts f3-down)" "$(chg 3)
ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable
ACCEPT"
fresh f3r "$W/f3r.eml"
forge3 "$W/f3r.eml" "$W/f3-rm.eml"
drive f3-rm pd -r rua@rua.test -r person@example.test "$W/f3-rm.eml"
t_eq "3 forged fields, recipient removal path: each deleted once" "$(acts f3-rm)" "$(chg 3)
DELRCPT <rua@rua.test>
ACCEPT"
fresh f3d "$W/f3d.eml"
forge3 "$W/f3d.eml" "$W/f3-disc.eml"
drive f3-disc pd -r rua@rua.test -r second@rua.test "$W/f3-disc.eml"
t_eq "3 forged fields, discard path: discarded, nothing changed" "$(acts f3-disc)" DISCARD

# ---- D. TM_MAX_RUA_RCPTS (1000) report recipients: exactly at it, and one past ----
i=1
: >"$W/r1000"
while [ $i -le 1001 ]; do echo "rua+$i@rua.test" >>"$W/r1000"; i=$((i + 1)); done
head -n 1000 "$W/r1000" | sed 's/^/-r /' | tr '\n' ' ' >"$W/a1000"
sed 's/^/-r /' "$W/r1000" | tr '\n' ' ' >"$W/a1001"
for k in 1000 1001; do
    fresh "max$k" "$W/max$k.eml"
    forge "$W/max$k.eml" "$W/maxf$k.eml" "X-TLSRPT-Status: forged"
    # shellcheck disable=SC2046
    drive "max$k" pd $(cat "$W/a$k") -r person@example.test "$W/maxf$k.eml"
    fresh "maxo$k" "$W/maxo$k.eml"
    # shellcheck disable=SC2046
    drive "maxo$k" pd $(cat "$W/a$k") "$W/maxo$k.eml"
done
t_eq "1000 rua + person: 1000 distinct report recipients removed" \
    "$(grep '^DELRCPT' "$W/max1000.out" | sort -u | wc -l | tr -d ' ')" 1000
t_eq "1000 rua + person: each exactly once, as received" \
    "$(grep '^DELRCPT' "$W/max1000.out" | LC_ALL=C sort)" "$(head -n 1000 "$W/r1000" | sed 's/.*/DELRCPT <&>/' | LC_ALL=C sort)"
t_eq "1000 rua + person: forged deleted, no header, delivered" \
    "$(acts max1000 | grep -v '^DELRCPT')" "$(chg 1)
ACCEPT"
t_eq "1001 rua + person: tagged instead, nobody removed" \
    "$(acts max1001 | sed 's/; org=.*//')" "$(chg 1)
ADDHEADER X-TLSRPT-Status: counted
ACCEPT"
t_eq "1000 rua only: discarded" "$(acts maxo1000)" DISCARD
t_eq "1001 rua only: tagged, not discarded" "$(acts maxo1001 | sed 's/; org=.*//')" \
    "ADDHEADER X-TLSRPT-Status: counted
ACCEPT"

for m in pd pt pn pm pdown ptemp; do
    t_check "milter $m still running" svc_alive "$SVC_TMP/$m.pid"
done
exit 0
