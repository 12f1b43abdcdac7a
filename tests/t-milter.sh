#!/bin/sh
# t-milter.sh - the real build/tlsrpt-milter driven over the milter protocol
# by build/tests/milter-driver (an MTA stand-in), counting into a real
# memcached on a free loopback port.
#
# Covers every disposition (counted + discard, counted + recipient removal,
# counted + tag, duplicate, each error reason token, store down with
# deliver/tempfail), body chunk sizes 1/7/4096/65535, abort mid-body, many
# messages per connection, 16 concurrent connections, and every corpus mail
# (whole and byte by byte) when the shared corpus is present; counters are checked
# with memccat against sums computed from expected.tsv lines (tests/lib/expect.awk).
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, memccat.
# Mails are built from tests/fixtures/milter/*.json in a temp dir; all
# services and files are removed by the trap in tests/lib/services.sh.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

MILTER=$BUILD/tlsrpt-milter
DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
t_need t-milter "$MILTER" "$DRV" memcached memccat memcflush gzip base64

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
SOCK=unix:$SVC_TMP/m1.sock

# Start milter NAME on unix:$SVC_TMP/NAME.sock: mstart NAME "Key value"...
# (each configuration gets its own NAME; they all stop together in the cleanup).
mstart() {
    _mn=$1
    shift
    svc_milter_conf "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" "127.0.0.1:$MC" "$@"
    if ! svc_milter_start "$_mn" "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock"; then
        t_fail "milter-start-$_mn" "$(tail -3 "$SVC_TMP/$_mn.log" | tr '\n' '|')"
        return 1
    fi
}

# Run the driver into $W/NAME.out: drive NAME SOCKNAME driver-args...
# (the milter and the last argument, the mail, are kept for expect_error)
drive() {
    _dn=$1 _ds=$2
    shift 2
    for _dl in "$@"; do :; done
    _last_sock=$_ds _last_mail=$_dl
    timeout 120 "$DRV" -t 20 -s "unix:$SVC_TMP/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}

# Copy a report JSON with another report-id: variant SRC NEWID OUT
variant() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" "$1" >"$3"
}

# Expected line for a variant: tsvline SRCNAME NEWID
tsvline() {
    mk_tsv_line "$FIX/expected.tsv" "$1" | awk -F '\t' -v OFS='\t' -v id="$2" '{ $3 = id; print }'
}

# An error disposition: delivered to all, status header with the token, nothing dropped;
# then the same mail of the last drive again to three report recipients and a person.
expect_error() {
    _en=$1 _tok=$2
    t_grep "$_en: header reason=$_tok" "$W/$_en.out" "^ADDHEADER X-TLSRPT-Status: error; reason=$_tok\$"
    t_grep "$_en: delivered" "$W/$_en.out" '^(ACCEPT|CONTINUE)$'
    t_nogrep "$_en: nothing discarded or removed" "$W/$_en.out" '^(DISCARD|DELRCPT|REJECT|TEMPFAIL)'
    drive "$_en-multi" "$_last_sock" -r rua@rua.test -r person@example.test -r 'RUA+x@Rua.Test' \
        -r rua+y@rua.test "$_last_mail"
    t_eq "$_en, 3 rua + person: one header with the reason, delivered, nobody removed" \
        "$(grep -E '^(ADDHEADER|DELRCPT|DISCARD|ACCEPT|CONTINUE|TEMPFAIL|REJECT)' "$W/$_en-multi.out")" \
        "ADDHEADER X-TLSRPT-Status: error; reason=$_tok
ACCEPT"
}

# ---- fixture mails ----
mk_gzip "$FIX/report1.json" "$W/r1.json.gz"
mk_report_mail "$W/r1.json.gz" "$W/r1.eml" fixture.example
mk_report_mail "$FIX/report2.json" "$W/r2.eml" fixture.example
mk_tsv_line "$FIX/expected.tsv" report1.json >"$W/r1.tsv"
mk_tsv_line "$FIX/expected.tsv" report2.json >"$W/r2.tsv"
: >"$W/sent.tsv"

mstart m1 || exit 1

# ---- the driver itself ----
"$DRV" -c 65536 -s "$SOCK" -r rua@rua.test "$FIX/plain.eml" >/dev/null 2>&1
t_eq "driver refuses body chunks over 65535 bytes" "$?" 2
"$DRV" -t 2 -s "unix:$SVC_TMP/none.sock" -r rua@rua.test "$FIX/plain.eml" >"$W/nosock.out" 2>&1
t_eq "driver: no milter is an error exit" "$?" 1
t_grep "driver: no milter is reported" "$W/nosock.out" '^ERROR conn=1 connect:'

# ---- A. basic dispositions ----
drive plain m1 -r rua@rua.test "$FIX/plain.eml"
expect_error plain no-report

# The status header as the MTA writes it: with SMFIP_HDR_LEADSPC negotiated (the
# driver's default, as Postfix and Sendmail) the milter sends the blank itself;
# without it, the MTA adds one and the milter must not.
drive plain-v m1 -v -r rua@rua.test "$FIX/plain.eml"
t_grep "the milter negotiates SMFIP_HDR_LEADSPC" "$W/plain-v.out" '^# negotiated .*\(HDR_LEADSPC\)$'
drive plain-nolead m1 -L -v -r rua@rua.test "$FIX/plain.eml"
t_nogrep "without SMFIP_HDR_LEADSPC offered: not negotiated" "$W/plain-nolead.out" 'HDR_LEADSPC'
t_grep "without SMFIP_HDR_LEADSPC: one blank after the colon, as with it" "$W/plain-nolead.out" \
    '^ADDHEADER X-TLSRPT-Status: error; reason=no-report$'

drive person m1 -r person@example.test "$W/r1.eml"
t_grep "not a candidate: accepted" "$W/person.out" '^ACCEPT$'
t_nogrep "not a candidate: untouched" "$W/person.out" '^(ADDHEADER|DISCARD|DELRCPT|CHGHEADER)'
t_eq "not a candidate: not counted" "$(t_get "$MC" tlsrpt:d:fixture.example:2026-01-02:reports)" ""

drive r1 m1 -r rua@rua.test "$W/r1.eml"
t_grep "report to rua only: discarded" "$W/r1.out" '^DISCARD$'
t_nogrep "report to rua only: no status header" "$W/r1.out" '^ADDHEADER'
cat "$W/r1.tsv" >>"$W/sent.tsv"
t_counters "report1 counted" "$MC" tlsrpt: "$W/sent.tsv"

drive r1dup m1 -r rua@rua.test "$W/r1.eml"
t_grep "duplicate: discarded like a counted one" "$W/r1dup.out" '^DISCARD$'
t_counters "duplicate: counters unchanged" "$MC" tlsrpt: "$W/sent.tsv"

drive r1mixed m1 -r rua@rua.test -r person@example.test "$W/r1.eml"
t_grep "duplicate to rua + person: rua removed" "$W/r1mixed.out" '^DELRCPT <rua@rua.test>$'
t_nogrep "duplicate to rua + person: person keeps it" "$W/r1mixed.out" '^(DISCARD|DELRCPT <person)'

drive r2 m1 -r person@example.test -r 'RUA+google@Rua.Test' "$W/r2.eml"
t_grep "delimiter + case: report recipient removed as received" "$W/r2.out" '^DELRCPT <RUA\+google@Rua.Test>$'
t_grep "report to rua + person: delivered to the person" "$W/r2.out" '^(ACCEPT|CONTINUE)$'
t_nogrep "report to rua + person: no discard" "$W/r2.out" '^(DISCARD|DELRCPT <person)'
cat "$W/r2.tsv" >>"$W/sent.tsv"
t_counters "report2 counted (json, recipient removal)" "$MC" tlsrpt: "$W/sent.tsv"
# Keys expected.tsv has no column for, from the fixture JSON: per-MX failures,
# MTA-STS mode, and the per-day index sets.
K=tlsrpt:d:fixture.example
t_eq "mx counter (report1, mx1)" "$(t_get "$MC" "$K:2026-01-02:mx:mx1.fixture.example:fail")" 2
t_eq "mx counter (report1, mx2)" "$(t_get "$MC" "$K:2026-01-02:mx:mx2.fixture.example:fail")" 1
t_eq "mx counter (report2, mx2)" "$(t_get "$MC" "$K:2026-01-03:mx:mx2.fixture.example:fail")" 1
t_eq "mode counter enforce (report1)" "$(t_get "$MC" "$K:2026-01-02:mode:enforce")" 1
t_eq "mode counter testing (report2)" "$(t_get "$MC" "$K:2026-01-03:mode:testing")" 1
t_eq "mode counter none (tlsa policy)" "$(t_get "$MC" tlsrpt:d:second.example:2026-01-02:mode:none)" 1
t_eq "orgs index" "$(t_get "$MC" "$K:2026-01-02:orgs")" "Fixture%20Org%2C%20Inc."
t_eq "types index" "$(t_get "$MC" "$K:2026-01-02:types" | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "certificate-expired starttls-not-supported "
t_eq "mxs index" "$(t_get "$MC" "$K:2026-01-02:mxs" | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "mx1.fixture.example mx2.fixture.example "

{ printf 'X-TLSRPT-Status: counted; forged=yes\n'; cat "$FIX/plain.eml"; } >"$W/forged.eml"
drive forged m1 -r rua@rua.test "$W/forged.eml"
t_grep "forged status header deleted" "$W/forged.out" '^CHGHEADER 1 X-TLSRPT-Status: $'
expect_error forged no-report

# ---- B. error reason tokens (default limits) ----
variant "$FIX/report1.json" err-gzip "$W/e.json"
mk_gzip "$W/e.json" "$W/e.json.gz"
head -c 150 "$W/e.json.gz" >"$W/trunc.gz"
mk_report_mail "$W/trunc.gz" "$W/corrupt-gzip.eml" fixture.example
drive corrupt-gzip m1 -r rua@rua.test "$W/corrupt-gzip.eml"
expect_error corrupt-gzip corrupt-gzip

printf 'H4sIAAAAAAAAA*%%$#not@base64!\n' >"$W/bad.b64"
mk_part_mail "$W/corrupt-base64.eml" application/tlsrpt+gzip base64 "$W/bad.b64" fixture.example
drive corrupt-base64 m1 -r rua@rua.test "$W/corrupt-base64.eml"
expect_error corrupt-base64 corrupt-base64

variant "$FIX/report1.json" err-json "$W/e.json"
head -c 300 "$W/e.json" | gzip -n >"$W/trunc-json.gz"
mk_report_mail "$W/trunc-json.gz" "$W/corrupt-json.eml" fixture.example
drive corrupt-json m1 -r rua@rua.test "$W/corrupt-json.eml"
expect_error corrupt-json corrupt-json

printf '{"hello": "world", "policies": 3}\n' >"$W/notreport.json"
mk_report_mail "$W/notreport.json" "$W/invalid-report.eml" fixture.example
drive invalid-report m1 -r rua@rua.test "$W/invalid-report.eml"
expect_error invalid-report invalid-report

variant "$FIX/report2.json" err-nodomain "$W/e.json"
grep -v '"policy-domain"' "$W/e.json" >"$W/nodomain.json"
mk_report_mail "$W/nodomain.json" "$W/no-policy-domain.eml" ""
drive no-policy-domain m1 -r rua@rua.test "$W/no-policy-domain.eml"
expect_error no-policy-domain no-policy-domain

variant "$FIX/report2.json" err-nodate "$W/e.json"
awk '/"date-range"/ { skip = 1 } !skip { print } skip && /}/ { skip = 0 }' "$W/e.json" >"$W/nodate.json"
mk_report_mail "$W/nodate.json" "$W/no-date.eml" fixture.example
drive no-date m1 -r rua@rua.test "$W/no-date.eml"
expect_error no-date no-date

variant "$FIX/report2.json" err-deep "$W/e.json"
awk 'NR == 1 { print; printf "  \"deep\": "; for (i = 0; i < 40; i++) printf "["; printf "1";
     for (i = 0; i < 40; i++) printf "]"; print ","; next } { print }' "$W/e.json" >"$W/deep.json"
mk_report_mail "$W/deep.json" "$W/json-too-deep.eml" fixture.example
drive json-too-deep m1 -r rua@rua.test "$W/json-too-deep.eml"
expect_error json-too-deep json-too-deep

# 12 nested multiparts (default MaxMimeDepth 8), the report innermost.
variant "$FIX/report2.json" err-mimedeep "$W/e.json"
{
    printf 'From: r@reporter.test\nTo: rua@rua.test\nSubject: deep\nTLS-Report-Domain: fixture.example\n'
    printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b0"\n\n'
    i=0
    while [ $i -lt 12 ]; do
        printf -- '--b%d\nContent-Type: multipart/mixed; boundary="b%d"\n\n' $i $((i + 1))
        i=$((i + 1))
    done
    printf -- '--b12\nContent-Type: application/tlsrpt+json\nContent-Transfer-Encoding: base64\n\n'
    base64 -w 76 "$W/e.json"
    while [ $i -ge 0 ]; do printf -- '--b%d--\n' $i; i=$((i - 1)); done
} >"$W/mime-too-deep.eml"
drive mime-too-deep m1 -r rua@rua.test "$W/mime-too-deep.eml"
expect_error mime-too-deep mime-too-deep

# 150 text parts before the report (default MaxMimeParts 100).
variant "$FIX/report2.json" err-manyparts "$W/e.json"
{
    printf 'From: r@reporter.test\nTo: rua@rua.test\nSubject: parts\nTLS-Report-Domain: fixture.example\n'
    printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="bb"\n\n'
    i=0
    while [ $i -lt 150 ]; do printf -- '--bb\nContent-Type: text/plain\n\npart %d\n' $i; i=$((i + 1)); done
    printf -- '--bb\nContent-Type: application/tlsrpt+json\nContent-Transfer-Encoding: base64\n\n'
    base64 -w 76 "$W/e.json"
    printf -- '--bb--\n'
} >"$W/mime-too-many-parts.eml"
drive mime-too-many-parts m1 -r rua@rua.test "$W/mime-too-many-parts.eml"
expect_error mime-too-many-parts mime-too-many-parts

# One folded header field of about 70 KB: over libmilter's default 64 KB packet
# limit (Postfix passes headers up to header_size_limit, 100 KB). Unless the
# milter raises the limit (smfi_setmaxdatasize), libmilter drops the connection
# and Postfix delivers the mail untagged (milter_default_action).
variant "$FIX/report2.json" err-header "$W/e.json"
mk_report_mail "$W/e.json" "$W/h.eml" fixture.example
longhdr() {
    printf 'X-Long: start\n'
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf " %069d\n", i }'
    cat "$W/h.eml"
}
longhdr 1000 >"$W/header-70k.eml"
drive header-70k m1 -r rua@rua.test "$W/header-70k.eml"
expect_error header-70k header-too-long
drive after-70k m1 -r rua@rua.test "$FIX/plain.eml"
t_grep "after a 70 KB header: milter still serves" "$W/after-70k.out" '^ADDHEADER X-TLSRPT-Status: error; reason=no-report$'

t_counters "errors: counters unchanged" "$MC" tlsrpt: "$W/sent.tsv"

# ---- C. configured limits and domain allow-list ----
awk 'BEGIN { n = 3000
  print "{\"organization-name\": \"Big Org\", \"report-id\": \"big-1\","
  print " \"date-range\": {\"start-datetime\": \"2026-02-01T00:00:00Z\", \"end-datetime\": \"2026-02-01T23:59:59Z\"},"
  print " \"contact-info\": \"big@reporter.test\","
  print " \"policies\": [{\"policy\": {\"policy-type\": \"no-policy-found\", \"policy-domain\": \"big.example\"},"
  print "   \"summary\": {\"total-successful-session-count\": 1, \"total-failure-session-count\": " n "},"
  print "   \"failure-details\": ["
  for (i = 1; i <= n; i++)
    printf "    {\"result-type\": \"%s\", \"sending-mta-ip\": \"192.0.2.%d\", \"receiving-mx-hostname\": \"mx%d.big.example\", \"failed-session-count\": 1}%s\n",
      (i % 2 ? "validation-failure" : "certificate-not-trusted"), i % 250, i % 7, (i < n ? "," : "")
  print "]}]}" }' >"$W/big.json"
printf 'big.json\tBig Org\tbig-1\t2026-02-01T00:00:00Z\t1\tbig.example:1:3000:certificate-not-trusted=1500,validation-failure=1500\t\n' >"$W/big.tsv"
mk_report_mail "$W/big.json" "$W/big.eml" big.example
mk_gzip "$W/big.json" "$W/big.json.gz"
mk_report_mail "$W/big.json.gz" "$W/biggz.eml" big.example

mstart lim1 "MaxHeaderBytes 4k" || exit 1
longhdr 80 >"$W/header-too-long.eml"
drive header-too-long lim1 -r rua@rua.test "$W/header-too-long.eml"
expect_error header-too-long header-too-long
mstart lim2 "MaxMessageBytes 100k" || exit 1
drive message-too-large lim2 -r rua@rua.test "$W/big.eml"
expect_error message-too-large message-too-large
mstart lim3 "MaxReportBytes 100k" || exit 1
drive report-too-large lim3 -r rua@rua.test "$W/biggz.eml"
expect_error report-too-large report-too-large
mstart lim4 "PolicyDomains only.example" || exit 1
variant "$FIX/report1.json" err-foreign "$W/e.json"
mk_report_mail "$W/e.json" "$W/foreign-domain.eml" fixture.example
drive foreign-domain lim4 -r rua@rua.test "$W/foreign-domain.eml"
expect_error foreign-domain foreign-domain
mstart lim5 "MaxJsonValues 100" || exit 1
drive json-too-many-values lim5 -r rua@rua.test "$W/big.eml"
expect_error json-too-many-values json-too-many-values
mstart lim6 "MaxSessionCount 2999" || exit 1
drive session-count lim6 -r rua@rua.test "$W/big.eml"
expect_error session-count invalid-report
mstart lim7 "MaxJsonValues 1000000" "MaxSessionCount 3000" "KeyPrefix lim7:" || exit 1
drive limits-at-value lim7 -r rua@rua.test "$W/big.eml"
t_grep "MaxSessionCount 3000: a count of exactly 3000 is counted" "$W/limits-at-value.out" '^DISCARD$'
mstart lim8 "MaxNewKeysPerReport 20" "KeyPrefix lim8:" || exit 1
drive new-keys lim8 -r rua@rua.test "$W/big.eml"
t_grep "MaxNewKeysPerReport 20: still counted" "$W/new-keys.out" '^DISCARD$'
t_grep "MaxNewKeysPerReport 20: the log says what the store left out" "$SVC_TMP/lim8.log" \
    ': counted org="Big Org" report-id="big-1" domains=big.example ok=1 fail=3000 folded="[^"]+" action=discarded$'
t_counters "limits: counters unchanged" "$MC" tlsrpt: "$W/sent.tsv"

# ---- D. Action tag ----
mstart tag "Action tag" "KeyPrefix tag:" || exit 1
drive tag tag -r rua@rua.test "$W/r1.eml"
t_grep "tag: counted status header" "$W/tag.out" '^ADDHEADER X-TLSRPT-Status: counted;'
t_grep "tag: delivered" "$W/tag.out" '^(ACCEPT|CONTINUE)$'
t_nogrep "tag: not discarded" "$W/tag.out" '^(DISCARD|DELRCPT)'
t_counters "tag: counted under KeyPrefix tag:" "$MC" tag: "$W/r1.tsv"
t_counters "tag: other prefix untouched" "$MC" tlsrpt: "$W/sent.tsv"
drive tagdup tag -r rua@rua.test "$W/r1.eml"
t_grep "tag: duplicate tagged as counted/duplicate" "$W/tagdup.out" '^ADDHEADER X-TLSRPT-Status: (counted|duplicate);'
t_counters "tag: duplicate not counted again" "$MC" tag: "$W/r1.tsv"

# ---- E. body chunk sizes ----
for c in 1 7 4096 65535; do
    svc_mc_flush "$MC"
    files="$W/r1.eml"
    cp "$W/r1.tsv" "$W/chunk.tsv"
    if [ "$c" -ge 4096 ]; then
        files="$files $W/big.eml"
        cat "$W/big.tsv" >>"$W/chunk.tsv"
    fi
    # shellcheck disable=SC2086
    drive "chunk$c" m1 -c "$c" -r rua@rua.test $files
    t_grep "chunk size $c: run clean" "$W/chunk$c.out" '^SUMMARY .* errors=0 '
    t_eq "chunk size $c: every report discarded" \
        "$(grep -c '^DISCARD$' "$W/chunk$c.out")" "$(echo $files | wc -w)"
    t_counters "chunk size $c: counters" "$MC" tlsrpt: "$W/chunk.tsv"
done

# ---- F. abort mid-body ----
svc_mc_flush "$MC"
drive abort m1 -a -r rua@rua.test "$W/r1.eml"
t_grep "abort: driver aborted" "$W/abort.out" '^ABORTED$'
t_eq "abort: nothing counted" "$(t_get "$MC" tlsrpt:d:fixture.example:2026-01-02:reports)" ""
drive abort2 m1 -A 1 -n 2 -c 100 -r rua@rua.test "$W/r1.eml"
t_grep "abort then same connection: next message counted" "$W/abort2.out" '^DISCARD$'
t_grep "abort then same connection: clean" "$W/abort2.out" '^SUMMARY messages=2 .*aborted=1 .*errors=0 '
t_counters "abort then same connection: counted once" "$MC" tlsrpt: "$W/r1.tsv"

# ---- G. many messages per connection, concurrency ----
svc_mc_flush "$MC"
: >"$W/many.tsv"
: >"$W/many.list"
i=1
while [ $i -le 80 ]; do
    variant "$FIX/report2.json" "conc-$i" "$W/c.json"
    mk_gzip "$W/c.json" "$W/c$i.json.gz"
    mk_report_mail "$W/c$i.json.gz" "$W/c$i.eml" fixture.example
    echo "$W/c$i.eml" >>"$W/many.list"
    tsvline report2.json "conc-$i" >>"$W/many.tsv"
    i=$((i + 1))
done
# shellcheck disable=SC2046
drive conc m1 -j 16 -n 5 -q -r rua@rua.test $(cat "$W/many.list")
t_grep "16 connections x 5 distinct reports: all discarded" "$W/conc.out" '^SUMMARY messages=80 .*discard=80 .*errors=0 '
t_counters "16 connections x 5: counters" "$MC" tlsrpt: "$W/many.tsv"
# shellcheck disable=SC2046
drive conc2 m1 -j 16 -n 5 -q -r rua@rua.test $(cat "$W/many.list")
t_grep "same 80 again concurrently: all duplicates discarded" "$W/conc2.out" '^SUMMARY messages=80 .*discard=80 .*errors=0 '
t_counters "same 80 again: counters unchanged" "$MC" tlsrpt: "$W/many.tsv"

svc_mc_flush "$MC"
drive race m1 -j 16 -n 1 -q -r rua@rua.test "$W/r1.eml"
t_grep "one report on 16 connections at once: all discarded" "$W/race.out" '^SUMMARY messages=16 .*discard=16 .*errors=0 '
t_counters "one report on 16 connections at once: counted once" "$MC" tlsrpt: "$W/r1.tsv"

svc_mc_flush "$MC"
drive perconn m1 -n 300 -q -r rua@rua.test "$FIX/plain.eml" "$W/r1.eml" "$W/r2.eml"
t_grep "300 messages on one connection" "$W/perconn.out" \
    '^SUMMARY messages=300 .*discard=200 .*errors=0 addheader=100 '
cat "$W/r1.tsv" "$W/r2.tsv" >"$W/perconn.tsv"
t_counters "300 messages on one connection: counters" "$MC" tlsrpt: "$W/perconn.tsv"

# ---- corpus: every mail on one connection, whole and byte by byte ----
CORPUS=${TLSRPT_CORPUS:-$TLSRPT_SRCDIR/../shared/corpus}
if [ -d "$CORPUS/real" ] && [ -f "$CORPUS/expected.tsv" ]; then
    : >"$W/corpus.tsv"
    : >"$W/corpus.list"
    for f in $(cd "$CORPUS/real" && LC_ALL=C ls | LC_ALL=C sort); do
        case $f in
            *.eml) echo "$CORPUS/real/$f" >>"$W/corpus.list" ;;
            *) mk_report_mail "$CORPUS/real/$f" "$W/$f.eml" "$(mk_tsv_domain "$CORPUS/expected.tsv" "$f")"
               echo "$W/$f.eml" >>"$W/corpus.list" ;;
        esac
        mk_tsv_line "$CORPUS/expected.tsv" "$f" >>"$W/corpus.tsv"
    done
    # uncountable: an error, or no policy domain at all
    nbad=$(awk -F '\t' '{ c = 0; n = split($6, p, ";")
            for (i = 1; i <= n; i++) { split(p[i], x, ":"); if (x[1] != "") c = 1 }
            if ($7 != "" || !c) u++ } END { print u + 0 }' "$W/corpus.tsv")
    nall=$(wc -l <"$W/corpus.list" | tr -d ' ')
    for c in 65535 1; do
        svc_mc_flush "$MC"
        # shellcheck disable=SC2046
        drive "corpus$c" m1 -c "$c" -r rua@rua.test $(cat "$W/corpus.list")
        t_grep "corpus, chunk $c: run clean" "$W/corpus$c.out" "^SUMMARY messages=$nall .*errors=0 "
        t_eq "corpus, chunk $c: countable mails discarded" \
            "$(grep -c '^DISCARD$' "$W/corpus$c.out")" "$((nall - nbad))"
        t_eq "corpus, chunk $c: the others delivered with a reason" \
            "$(grep -c '^ADDHEADER X-TLSRPT-Status: error; reason=' "$W/corpus$c.out")" "$nbad"
        t_counters "corpus, chunk $c: counters equal the expected.tsv sums" "$MC" tlsrpt: "$W/corpus.tsv"
    done
else
    echo "SKIP: milter corpus (shared corpus not found at $CORPUS)"
fi

# ---- H. memcached down, then back ----
DEAD=$(svc_free_port)
mstart down1 "MemcachedServers 127.0.0.1:$DEAD" || exit 1
drive down-deliver down1 -r rua@rua.test "$W/r1.eml"
expect_error down-deliver store-unavailable
drive down-plain down1 -r rua@rua.test "$FIX/plain.eml"
expect_error down-plain no-report
mstart down2 "MemcachedServers 127.0.0.1:$DEAD" "OnStoreError tempfail" || exit 1
drive down-tempfail down2 -r rua@rua.test "$W/r1.eml"
t_grep "store down + tempfail: 451" "$W/down-tempfail.out" '^(REPLYCODE 451 |TEMPFAIL$)'
t_nogrep "store down + tempfail: not discarded" "$W/down-tempfail.out" '^(DISCARD|DELRCPT|ACCEPT)'
svc_memcached_start mc2 "$DEAD" >/dev/null || t_fail memcached-restart "port $DEAD"
drive down-back down1 -r rua@rua.test "$W/r1.eml"
t_grep "store back: counting resumes" "$W/down-back.out" '^DISCARD$'
t_counters "store back: counters" "$DEAD" tlsrpt: "$W/r1.tsv"

# ---- milter still healthy ----
t_check "milter m1 still running" svc_alive "$SVC_TMP/m1.pid"
exit 0
