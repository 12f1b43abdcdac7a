#!/bin/sh
# t-milter-dkim.sh - only authentic reports count (issue 9, RFC 8460 section 3):
# the real build/tlsrpt-milter with Authentication dkim, driven by
# build/tests/milter-driver, counting into a real memcached; keys and signatures
# made at test time (tests/lib/dkim-sign.py: /usr/bin/python3 with python3-dkim,
# openssl), keys from a DkimKeyFile or from a DNS server of the test's own on
# loopback (tests/lib/dns-stub.py).
#
# Checks: signed and counted (under the signer: org:reporter.test counters, the
# log names signer and organization-name); unsigned; the body tampered after
# signing; l=; d= not aligned with From; From a subdomain of d= (passes);
# contact-info in another organisation; 50 signatures of which one is valid; a junk
# DKIM-Signature before a valid one; a report claiming Google signed by another
# domain (never counted); the pre-emption attack (evil.example signs a report with
# Google's organization-name and report-id, sent first; Google's real one is still
# counted); key not found; the keys from DNS (found, NXDOMAIN, SERVFAIL, silence:
# not counted, delivered with the reason, after DkimTimeout and no later, while
# another connection is served at once, and SIGTERM stops within a second); every
# body chunking giving the same verdict; OnUnauthenticated discard; the Reporters
# allow-list; a mail of two reports judged each with its own contact-info;
# SMFIP_HDR_LEADSPC (simple canonicalisation of "Name:value" verifies only with it;
# an MTA without it still verifies the usual "Name: value"); SIGHUP re-reads the key
# file; -n checks DkimKeyFile (missing, unreadable by User, malformed) and prints
# the DKIM keys with -v.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, memcached, memccat,
# /usr/bin/python3 with dkim, openssl.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

MILTER=$BUILD/tlsrpt-milter
DRV=$BUILD/tests/milter-driver
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
SIGN=$TLSRPT_SRCDIR/tests/lib/dkim-sign.py
t_need t-milter-dkim "$MILTER" "$DRV" memcached memccat gzip base64 openssl
/usr/bin/python3 -c 'import dkim' 2>/dev/null || { t_skip t-milter-dkim "python3-dkim missing"; exit 0; }

svc_init
W=$SVC_TMP/w
K=$SVC_TMP/keys
mkdir -p "$W" "$K"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
KEYS=$K/keys.txt
: >"$KEYS"

# Keys: reporter.test (the From of mk_report_mail), google.com, evil.example.
for d in reporter.test google.com evil.example; do
    /usr/bin/python3 "$SIGN" key "$K/$d.pem" sel1 "$d" "$KEYS" ||
        { t_fail "key for $d" "dkim-sign.py key failed"; exit 1; }
done
/usr/bin/python3 "$SIGN" key "$K/other.pem" sel9 reporter.test "$K/unpublished.txt"
chmod 644 "$KEYS"

# Start milter NAME with Authentication dkim and the key file: mstart NAME "Key value"...
mstart() {
    _mn=$1
    shift
    svc_milter_conf "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" "127.0.0.1:$MC" \
        "Authentication dkim" "DkimKeyFile $KEYS" "$@"
    svc_milter_start "$_mn" "$SVC_TMP/$_mn.conf" "unix:$SVC_TMP/$_mn.sock" ||
        { t_fail "milter-start-$_mn" "$(tail -3 "$SVC_TMP/$_mn.log" | tr '\n' '|')"; exit 1; }
}

# Drive milter SOCKNAME into $W/NAME.out: drive NAME SOCKNAME driver-args...
drive() {
    _dn=$1 _ds=$2
    shift 2
    wc -l <"$SVC_TMP/$_ds.log" | tr -d ' ' >"$W/$_dn.off"
    timeout 120 "$DRV" -t 30 -s "unix:$SVC_TMP/$_ds.sock" "$@" >"$W/$_dn.out" 2>&1
}

# The action lines of an output: acts NAME
acts() {
    grep -E '^(ADDHEADER|CHGHEADER|DELRCPT|DISCARD|ACCEPT|CONTINUE|TEMPFAIL|REJECT|REPLYCODE)' \
        "$W/$1.out"
}

# The milter's info/warning lines since the drive NAME began: mlog NAME MILTER
mlog() {
    tail -n "+$(($(cat "$W/$1.off") + 1))" "$SVC_TMP/$2.log" | grep -E ' (info|warning|error): '
}

# A report JSON with its own report-id, contact-info and organization-name:
# rjson SRC ID CONTACT [ORG] -> $W/ID.json, and $W/ID.tsv (its expected.tsv line)
rjson() {
    _org=${4:-}
    sed -e "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" \
        -e "s|\"contact-info\": \"[^\"]*\"|\"contact-info\": \"$3\"|" "$FIX/$1" >"$W/$2.json"
    [ -n "$_org" ] && sed -i "s|\"organization-name\": \"[^\"]*\"|\"organization-name\": \"$_org\"|" "$W/$2.json"
    mk_tsv_line "$FIX/expected.tsv" "$1" |
        awk -F '\t' -v OFS='\t' -v id="$2" -v org="$_org" '{ $3 = id; if (org != "") $2 = org; print }' >"$W/$2.tsv"
}

# A report mail of JSON ID from FROM: rmail ID FROM -> $W/ID.eml (unsigned, LF)
rmail() {
    mk_gzip "$W/$1.json" "$W/$1.json.gz"
    mk_report_mail "$W/$1.json.gz" "$W/$1.eml" fixture.example
    sed -i "s|^From: .*|From: TLS reporter <$2>|" "$W/$1.eml"
}

# Sign IN as DOMAIN with its key into OUT: dsign DOMAIN IN OUT [options]
dsign() {
    _d=$1 _in=$2 _out=$3
    shift 3
    /usr/bin/python3 "$SIGN" sign "$K/$_d.pem" sel1 "$_d" "$_in" "$_out" "$@" ||
        t_fail "sign $(basename "$_in") as $_d" "dkim-sign.py sign failed"
}

# Counter value: ctr KEY (without the prefix)
ctr() {
    t_get "$MC" "tlsrpt:$1"
}

mstart m1
: >"$W/sent.tsv"
D=d:fixture.example:2026-01-03

# ---- signed and counted ----
rjson report2.json dk-ok tlsrpt@reporter.test
rmail dk-ok noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-ok.eml" "$W/signed.eml"
drive signed m1 -r rua@rua.test "$W/signed.eml"
t_eq "signed by its From domain: counted and discarded" "$(acts signed)" DISCARD
cat "$W/dk-ok.tsv" >>"$W/sent.tsv"
t_eq "signed: counted once for the domain" "$(ctr $D:reports)" 1
t_eq "signed: per-organisation counter under the signer" "$(ctr $D:org:reporter.test:ok)" 7
t_eq "signed: nothing under the organization-name" "$(ctr "$D:org:Other%20Reporter:ok")" ""
t_grep "signed: the log names signer and organization-name" "$SVC_TMP/m1.log" \
    ': counted org="Other Reporter" signer=reporter.test report-id="dk-ok" domains=fixture.example ok=7 fail=1 action=discarded$'
drive signed-again m1 -r rua@rua.test "$W/signed.eml"
t_eq "signed, sent again: a duplicate, discarded" "$(acts signed-again)" DISCARD
t_eq "signed, sent again: not counted twice" "$(ctr $D:reports)" 1

# An unauthenticated mail: delivered to all with the reason, nothing counted.
# unauth NAME FILE DETAIL-REGEX
unauth() {
    drive "$1" m1 -r rua@rua.test "$2"
    t_eq "$1: delivered with reason=unauthenticated" "$(acts "$1")" \
        "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
    t_grep "$1: the log says which check failed" "$SVC_TMP/m1.log" \
        ": not counted: reason=unauthenticated \\($3.*\\) org=.*; delivered with X-TLSRPT-Status\$"
    t_eq "$1: no counter changed" "$(ctr $D:reports)" "$want_reports"
}
want_reports=1

# ---- unsigned, tampered, l=, not aligned, contact-info elsewhere ----
rjson report2.json dk-unsigned tlsrpt@reporter.test
rmail dk-unsigned noreply-tlsrpt@reporter.test
unauth unsigned "$W/dk-unsigned.eml" "no signature"
rjson report2.json dk-tamper tlsrpt@reporter.test
rmail dk-tamper noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-tamper.eml" "$W/tamper.eml"
sed -i 's/aggregate TLS report/aggregate TLS rep0rt/' "$W/tamper.eml"
unauth tampered "$W/tamper.eml" "body hash mismatch \\(d=reporter.test\\)"
rjson report2.json dk-l tlsrpt@reporter.test
rmail dk-l noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-l.eml" "$W/l.eml" --length
unauth l-tag "$W/l.eml" "l= present \\(d=reporter.test\\)"
rjson report2.json dk-unal tlsrpt@reporter.test
rmail dk-unal noreply-tlsrpt@reporter.test
dsign evil.example "$W/dk-unal.eml" "$W/unaligned.eml"
unauth unaligned "$W/unaligned.eml" "d=evil.example not aligned with From domain reporter.test"
rjson report2.json dk-contact tlsrpt@other.example
rmail dk-contact noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-contact.eml" "$W/contact.eml"
unauth contact-elsewhere "$W/contact.eml" "contact-info in another organisation \\(other.example, signer reporter.test\\)"
rjson report2.json dk-nokey tlsrpt@reporter.test
rmail dk-nokey noreply-tlsrpt@reporter.test
/usr/bin/python3 "$SIGN" sign "$K/other.pem" sel9 reporter.test "$W/dk-nokey.eml" "$W/nokey.eml"
unauth key-not-found "$W/nokey.eml" "key not found \\(d=reporter.test\\)"

# ---- From a subdomain of d=: passes ----
rjson report2.json dk-sub tlsrpt@reporter.test
rmail dk-sub noreply-tlsrpt@mail.reporter.test
dsign reporter.test "$W/dk-sub.eml" "$W/sub.eml"
drive sub m1 -r rua@rua.test "$W/sub.eml"
t_eq "From a subdomain of d=: counted" "$(acts sub)" DISCARD
t_eq "From a subdomain of d=: its reports counter" "$(ctr $D:reports)" 2

# ---- 50 signatures of which one is valid; a junk signature before a valid one ----
rjson report2.json dk-fifty tlsrpt@reporter.test
rmail dk-fifty noreply-tlsrpt@reporter.test
/usr/bin/python3 "$SIGN" key "$K/f.pem" sel1 foreign0.test "$KEYS"
cp "$W/dk-fifty.eml" "$W/fifty.eml"
i=0
while [ $i -lt 49 ]; do
    [ $i -gt 0 ] && /usr/bin/python3 "$SIGN" pub "$K/f.pem" sel1 "foreign$i.test" "$KEYS"
    /usr/bin/python3 "$SIGN" sign "$K/f.pem" sel1 "foreign$i.test" "$W/fifty.eml" "$W/fifty.tmp" &&
        mv "$W/fifty.tmp" "$W/fifty.eml"
    i=$((i + 1))
done
dsign reporter.test "$W/fifty.eml" "$W/fifty-signed.eml"
t_eq "fifty: the mail has 50 signatures" "$(grep -c '^DKIM-Signature:' "$W/fifty-signed.eml")" 50
drive fifty m1 -r rua@rua.test "$W/fifty-signed.eml"
t_eq "50 signatures, one valid: counted" "$(acts fifty)" DISCARD
t_eq "50 signatures, one valid: its reports counter" "$(ctr $D:reports)" 3
rjson report2.json dk-junk tlsrpt@reporter.test
rmail dk-junk noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-junk.eml" "$W/junk.tmp"
{ printf 'DKIM-Signature: v=1; this is ; not a ; = signature\r\n'; cat "$W/junk.tmp"; } >"$W/junk.eml"
drive junk m1 -r rua@rua.test "$W/junk.eml"
t_eq "a junk DKIM-Signature before a valid one: counted" "$(acts junk)" DISCARD
want_reports=4
t_eq "junk before valid: its reports counter" "$(ctr $D:reports)" $want_reports

# ---- forged Google reports: never a counter ----
rjson report2.json dk-fg smtp-tls-reporting@google.com "Google Inc."
rmail dk-fg noreply-smtp-tls-reporting@google.com
unauth google-unsigned "$W/dk-fg.eml" "no signature"
dsign evil.example "$W/dk-fg.eml" "$W/fg-evil.eml"
unauth google-signed-by-evil "$W/fg-evil.eml" "d=evil.example not aligned with From domain google.com"
t_eq "forged Google reports: no Google counter" "$(ctr "$D:org:google.com:ok")$(ctr "$D:org:Google%20Inc.:ok")" ""

# ---- the pre-emption attack ----
rjson report2.json 2026-01-03T00:00:00Z_fixture.example tlsrpt@evil.example "Google Inc."
cp "$W/2026-01-03T00:00:00Z_fixture.example.json" "$W/pre-evil.json"
sed -i 's|"total-successful-session-count": [0-9]*|"total-successful-session-count": 1000000|' "$W/pre-evil.json"
rmail pre-evil noreply-tlsrpt@evil.example
dsign evil.example "$W/pre-evil.eml" "$W/pre-evil-signed.eml"
drive pre-evil m1 -r rua@rua.test "$W/pre-evil-signed.eml"
t_eq "pre-emption: evil.example's report with Google's name, first: counted as evil.example's" \
    "$(acts pre-evil)" DISCARD
t_grep "pre-emption: logged under its signer" "$SVC_TMP/m1.log" \
    ': counted org="Google Inc." signer=evil.example report-id="2026-01-03T00:00:00Z_fixture.example" '
cp "$W/2026-01-03T00:00:00Z_fixture.example.json" "$W/pre-google.json"
sed -i 's|"contact-info": "[^"]*"|"contact-info": "smtp-tls-reporting@google.com"|' "$W/pre-google.json"
rmail pre-google noreply-smtp-tls-reporting@google.com
dsign google.com "$W/pre-google.eml" "$W/pre-google-signed.eml"
drive pre-google m1 -r rua@rua.test "$W/pre-google-signed.eml"
t_eq "pre-emption: Google's real report after it: counted" "$(acts pre-google)" DISCARD
t_grep "pre-emption: Google's report is counted, not a duplicate" "$SVC_TMP/m1.log" \
    ': counted org="Google Inc." signer=google.com report-id="2026-01-03T00:00:00Z_fixture.example" '
t_eq "pre-emption: Google's counters are Google's own" "$(ctr "$D:org:google.com:ok")" 7
t_eq "pre-emption: evil.example's counters are apart" "$(ctr "$D:org:evil.example:ok")" 1000000
# (the label is the organization-name, as a key component or plain: store/'s choice)
t_check "pre-emption: Google's label is Google's organization-name" \
    sh -c "case '$(ctr org:google.com:name)' in 'Google Inc.'|'Google%20Inc.') exit 0 ;; esac; exit 1"
t_check "pre-emption: evil.example's label is its own" \
    sh -c "case '$(ctr org:evil.example:name)' in 'Google Inc.'|'Google%20Inc.') exit 0 ;; esac; exit 1"
want_reports=6

# ---- every chunking gives the same verdict ----
for c in 1 7 4096 65535; do
    drive "chunk$c" m1 -c "$c" -r rua@rua.test "$W/signed.eml" "$W/tamper.eml" "$W/l.eml" \
        "$W/fifty-signed.eml"
    t_eq "chunk $c: duplicate, tampered, l=, fifty" "$(acts "chunk$c" | tr '\n' '|')" \
        "DISCARD|ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated|ACCEPT|ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated|ACCEPT|DISCARD|"
done
t_eq "chunkings: nothing more counted" "$(ctr $D:reports)" $want_reports

# ---- HDR_LEADSPC: "Subject:value" with simple header canonicalisation ----
rjson report2.json dk-lead tlsrpt@reporter.test
rmail dk-lead noreply-tlsrpt@reporter.test
sed -i 's|^Subject: |Subject:|' "$W/dk-lead.eml"
dsign reporter.test "$W/dk-lead.eml" "$W/lead.eml" --canon simple/simple
drive lead-nolead m1 -L -v -r rua@rua.test "$W/lead.eml"
t_nogrep "an MTA without HDR_LEADSPC: not negotiated" "$W/lead-nolead.out" 'HDR_LEADSPC'
t_eq "without HDR_LEADSPC, simple canon of Subject:value cannot verify" "$(acts lead-nolead)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
drive lead m1 -v -r rua@rua.test "$W/lead.eml"
t_grep "the milter negotiates HDR_LEADSPC" "$W/lead.out" '^# negotiated .*HDR_LEADSPC'
t_eq "with HDR_LEADSPC, simple canon of Subject:value verifies" "$(acts lead)" DISCARD
rjson report2.json dk-simple tlsrpt@reporter.test
rmail dk-simple noreply-tlsrpt@reporter.test
dsign reporter.test "$W/dk-simple.eml" "$W/simple.eml" --canon simple/simple
drive simple-nolead m1 -L -r rua@rua.test "$W/simple.eml"
t_eq "without HDR_LEADSPC, simple canon of the usual Name: value verifies" "$(acts simple-nolead)" DISCARD
want_reports=8
t_eq "HDR_LEADSPC cases: counted" "$(ctr $D:reports)" $want_reports

# ---- a mail of two reports: each judged with its own contact-info ----
rjson report2.json dk-two-a tlsrpt@reporter.test
rjson report2.json dk-two-b tlsrpt@elsewhere.example
mk_multi_mail "$W/two.eml" fixture.example "$W/dk-two-a.json" "$W/dk-two-b.json"
sed -i "s|^From: .*|From: TLS reporter <noreply-tlsrpt@reporter.test>|" "$W/two.eml"
dsign reporter.test "$W/two.eml" "$W/two-signed.eml"
drive two m1 -r rua@rua.test "$W/two-signed.eml"
t_eq "two reports, one with a contact-info elsewhere: delivered, counted=1; of=2" "$(acts two)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated; counted=1; of=2
ACCEPT"
want_reports=9
t_eq "two reports: the authentic one counted" "$(ctr $D:reports)" $want_reports
mlog two m1 >"$W/two.log"
t_grep "two reports: the other's line says why" "$W/two.log" \
    'not counted: reason=unauthenticated \(contact-info in another organisation \(elsewhere.example, signer reporter.test\)\) org="Other Reporter" report-id="dk-two-b" report=2/2$'

# ---- OnUnauthenticated discard ----
mstart disc "OnUnauthenticated discard"
drive disc disc -r rua@rua.test "$W/dk-unsigned.eml"
t_eq "OnUnauthenticated discard, rua only: discarded" "$(acts disc)" DISCARD
t_grep "OnUnauthenticated discard: logged" "$SVC_TMP/disc.log" \
    ': not counted: reason=unauthenticated \(no signature\) org="Other Reporter" report-id="dk-unsigned"; ignored \(OnUnauthenticated discard\): discarded$'
drive disc2 disc -r rua@rua.test -r person@example.test "$W/tamper.eml"
t_eq "OnUnauthenticated discard, rua + person: the rua recipient removed" "$(acts disc2)" \
    "DELRCPT <rua@rua.test>
ACCEPT"
drive disc3 disc -r rua@rua.test "$W/two-signed.eml"
t_eq "OnUnauthenticated discard, one authentic of two: a counted mail" "$(acts disc3)" DISCARD
t_eq "OnUnauthenticated discard: nothing counted for the unauthentic" "$(ctr $D:reports)" $want_reports

# ---- the Reporters allow-list ----
mstart rep "Reporters google.com microsoft.com" "KeyPrefix rep:"
drive rep rep -r rua@rua.test "$W/signed.eml" "$W/pre-evil-signed.eml" "$W/pre-google-signed.eml"
t_eq "Reporters: reporter.test and evil.example refused, Google counted" "$(acts rep | tr '\n' '|')" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unknown-reporter|ACCEPT|ADDHEADER X-TLSRPT-Status: error; reason=unknown-reporter|ACCEPT|DISCARD|"
t_grep "Reporters: the log names the signer" "$SVC_TMP/rep.log" \
    'not counted: reason=unknown-reporter \(signer evil.example not in Reporters\)'
t_eq "Reporters: only Google counted" "$(t_get "$MC" "rep:$D:reports")" 1

# ---- keys from DNS: found, NXDOMAIN, SERVFAIL, silence ----
DNSKEYS=$K/dns.txt
cp "$KEYS" "$DNSKEYS"
python3 "$TLSRPT_SRCDIR/tests/lib/dns-stub.py" "$DNSKEYS" "$SVC_TMP/dns.port" >"$SVC_TMP/dns.log" 2>&1 &
echo $! >"$SVC_TMP/dns.pid"
n=0
while [ ! -s "$SVC_TMP/dns.port" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
DNSPORT=$(cat "$SVC_TMP/dns.port" 2>/dev/null)
[ -n "$DNSPORT" ] || { t_fail "dns stub start" "$(cat "$SVC_TMP/dns.log")"; exit 1; }
svc_milter_conf "$SVC_TMP/dns.conf" "unix:$SVC_TMP/dns.sock" "127.0.0.1:$MC" "Authentication dkim" \
    "DkimNameservers 127.0.0.1:$DNSPORT" "DkimTimeout 2" "KeyPrefix dns:"
svc_milter_start dns "$SVC_TMP/dns.conf" "unix:$SVC_TMP/dns.sock" ||
    { t_fail milter-start-dns "$(tail -3 "$SVC_TMP/dns.log")"; exit 1; }
drive dns-ok dns -r rua@rua.test "$W/signed.eml"
t_eq "DNS: key found, counted" "$(acts dns-ok)" DISCARD
t_grep "DNS: the stub answered the milter" "$SVC_TMP/dns.log" '^QUERY sel1._domainkey.reporter.test -> answer$'
drive dns-nx dns -r rua@rua.test "$W/nokey.eml"
t_grep "DNS: NXDOMAIN: key not found" "$SVC_TMP/dns.log" '^QUERY sel9._domainkey.reporter.test -> nxdomain$'
t_eq "DNS: NXDOMAIN: delivered unauthenticated" "$(acts dns-nx)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
for what in servfail silent; do
    /usr/bin/python3 "$SIGN" pub "$K/reporter.test.pem" sel1 "$what.reporter.test" "$DNSKEYS"
    rjson report2.json "dk-$what" "tlsrpt@$what.reporter.test"
    rmail "dk-$what" "noreply-tlsrpt@$what.reporter.test"
    /usr/bin/python3 "$SIGN" sign "$K/reporter.test.pem" sel1 "$what.reporter.test" "$W/dk-$what.eml" "$W/$what.eml"
done
drive dns-servfail dns -r rua@rua.test "$W/servfail.eml"
t_eq "DNS: SERVFAIL: delivered unauthenticated" "$(acts dns-servfail)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
t_grep "DNS: SERVFAIL: logged as a DNS error" "$SVC_TMP/dns.log" \
    'not counted: reason=unauthenticated \(DNS error \(rcode 2 SERVFAIL\) \(d=servfail.reporter.test\)\)'
# silence: DkimTimeout 2 s, measured by the driver; meanwhile another connection is served.
t0=$(date +%s%N)
drive dns-silent dns -r rua@rua.test "$W/silent.eml" &
spid=$!
sleep 0.3
drive dns-during dns -r rua@rua.test "$W/signed.eml"
t1=$(date +%s%N)
wait $spid
t2=$(date +%s%N)
during=$(( (t1 - t0) / 1000000 - 300 ))
total=$(( (t2 - t0) / 1000000 ))
echo "# DNS silent: another connection served in ${during} ms, the silent one answered after ${total} ms"
t_check "DNS silent: another connection is served meanwhile (${during} ms)" test "$during" -lt 1000
t_eq "DNS silent: the other mail (a duplicate) discarded" "$(acts dns-during)" DISCARD
t_eq "DNS silent: delivered unauthenticated" "$(acts dns-silent)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
t_grep "DNS silent: logged as a DNS timeout" "$SVC_TMP/dns.log" \
    'not counted: reason=unauthenticated \(DNS timeout \(d=silent.reporter.test\)\)'
t_check "DNS silent: answered after DkimTimeout (${total} ms >= 2000)" test "$total" -ge 2000
t_check "DNS silent: ... and not much later (${total} ms < 3500)" test "$total" -lt 3500
ms=$(sed -n 's/.*DKIM: 1 key lookup(s) at end of headers in \([0-9]*\) ms$/\1/p' "$SVC_TMP/dns.log" | sort -n | tail -1)
t_check "DNS silent: the milter's own measure of the lookup (${ms:-none} ms) is DkimTimeout" \
    sh -c "[ '${ms:-0}' -ge 1950 ] && [ '${ms:-0}' -lt 2600 ]"
t_eq "DNS: only the authentic one counted" "$(t_get "$MC" "dns:$D:reports")" 1

# SIGTERM while a mail waits for DNS: gone within a second.
drive dns-term dns -r rua@rua.test "$W/silent.eml" &
dpid=$!
sleep 0.4
svc_kill_ms "$(cat "$SVC_TMP/dns.pid")"
stop_ms=$SVC_KILL_MS
wait $dpid
echo "# SIGTERM with a mail waiting for DNS: gone in ${stop_ms} ms"
t_check "SIGTERM while a mail waits for DNS: gone within a second (${stop_ms} ms)" test "$stop_ms" -lt 1000
t_grep "SIGTERM while a mail waits for DNS: the mail is logged as left in flight" "$SVC_TMP/dns.log" \
    'still in flight at the stop'
rm -f "$SVC_TMP/dns.pid"

# ---- SIGHUP re-reads the key file ----
rjson report2.json dk-later tlsrpt@reporter.test
rmail dk-later noreply-tlsrpt@reporter.test
/usr/bin/python3 "$SIGN" key "$K/later.pem" sel2 reporter.test "$K/later.txt"
/usr/bin/python3 "$SIGN" sign "$K/later.pem" sel2 reporter.test "$W/dk-later.eml" "$W/later.eml"
drive hup1 m1 -r rua@rua.test "$W/later.eml"
t_eq "before the reload: a key not yet in the file" "$(acts hup1)" \
    "ADDHEADER X-TLSRPT-Status: error; reason=unauthenticated
ACCEPT"
cp "$KEYS" "$K/keys.orig"
printf 'sel2._domainkey.reporter.test\n' >>"$KEYS"
kill -HUP "$(cat "$SVC_TMP/m1.pid")"
n=0
until grep -q 'SIGHUP: reload of' "$SVC_TMP/m1.log" || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
t_grep "a broken key file on reload: refused with the key's line" "$SVC_TMP/m1.log" \
    "error: $SVC_TMP/m1.conf:[0-9]+: DkimKeyFile: "
cat "$K/keys.orig" "$K/later.txt" >"$KEYS"
kill -HUP "$(cat "$SVC_TMP/m1.pid")"
n=0
until grep -q 'SIGHUP: reloaded' "$SVC_TMP/m1.log" || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
drive hup2 m1 -r rua@rua.test "$W/later.eml"
t_eq "after the reload: the new key is used" "$(acts hup2)" DISCARD

# ---- -n checks the DKIM keys ----
base="ReportAddress rua@rua.test
Socket inet:$(svc_free_port)@127.0.0.1
User nobody"
printf '%s\nDkimKeyFile %s/none.txt\n' "$base" "$K" >"$W/n1.conf"
"$MILTER" -n -c "$W/n1.conf" >"$W/n1.out" 2>&1
t_eq "-n: a missing DkimKeyFile fails" "$?" 1
t_grep "-n: ... naming the file and line" "$W/n1.out" "^$W/n1.conf:4: DkimKeyFile: .*none.txt"
cp "$KEYS" "$K/private.txt"
chmod 600 "$K/private.txt"
printf '%s\nDkimKeyFile %s/private.txt\n' "$base" "$K" >"$W/n2.conf"
"$MILTER" -n -c "$W/n2.conf" >"$W/n2.out" 2>&1
t_eq "-n: a DkimKeyFile User cannot read fails" "$?" 1
t_grep "-n: ... saying who cannot read it" "$W/n2.out" "^$W/n2.conf:4: DkimKeyFile: user nobody .* cannot read .*private.txt"
printf 'sel1._domainkey.x.test v=DKIM1; k=rsa; p=\n%s\n' "no-space-here" >"$K/bad.txt"
chmod 644 "$K/bad.txt"
printf '%s\nDkimKeyFile %s/bad.txt\n' "$base" "$K" >"$W/n3.conf"
"$MILTER" -n -c "$W/n3.conf" >"$W/n3.out" 2>&1
t_eq "-n: a malformed DkimKeyFile fails" "$?" 1
t_grep "-n: ... with the key file's own line" "$W/n3.out" "^$W/n3.conf:4: DkimKeyFile: .*bad.txt:2"
printf '%s\nDkimKeyFile %s\nReporters google.com, Mail.RU\nOnUnauthenticated discard\n' "$base" "$KEYS" >"$W/n4.conf"
"$MILTER" -n -v -c "$W/n4.conf" >"$W/n4.out" 2>"$W/n4.err"
t_eq "-n -v: a good DKIM configuration passes" "$?" 0
t_eq "-n -v: prints the DKIM keys" "$(grep -E '^(Authentication|OnUnauthenticated|Reporters|Dkim)' "$W/n4.out")" \
    "Authentication dkim
OnUnauthenticated discard
Reporters google.com
Reporters mail.ru
DkimTimeout 5
DkimKeyFile $KEYS
DkimRequireTlsrptService no
DkimNameservers"
printf '%s\nReporters mail.google.com\n' "$base" >"$W/n5.conf"
"$MILTER" -n -c "$W/n5.conf" >"$W/n5.out" 2>&1
t_grep "-n: Reporters must be organisational domains" "$W/n5.out" \
    "^$W/n5.conf:4: bad value for Reporters: 'mail.google.com' is not an organisational domain \\(use 'google.com'"

t_check "milter m1 still running" svc_alive "$SVC_TMP/m1.pid"
exit 0
