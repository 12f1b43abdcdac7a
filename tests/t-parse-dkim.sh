#!/bin/sh
# t-parse-dkim.sh - tlsrpt-parse verifies report mails with the milter's DKIM
# code and rule (issue 9.5): --push of a .eml counts it only when authentic,
# under its signer's organisational domain; a bare .json is counted under its
# organization-name (no signature to verify); --json shows the verdict with -c
# or --auth dkim and not without; --auth none overrides the configuration.
# Real parts: keys and signatures made at test time (tests/lib/dkim-sign.py),
# the configuration's DkimKeyFile, a real memcached.
# Prerequisites (else SKIP): tlsrpt-parse, memcached, memccat, gzip, base64,
# openssl, /usr/bin/python3 with dkim.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

P=$BUILD/tlsrpt-parse
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
SIGN=$TLSRPT_SRCDIR/tests/lib/dkim-sign.py
t_need t-parse-dkim "$P" memcached memccat gzip base64 openssl
/usr/bin/python3 -c 'import dkim' 2>/dev/null || { t_skip t-parse-dkim "python3-dkim missing"; exit 0; }

svc_init
W=$SVC_TMP/w
K=$SVC_TMP/keys
mkdir -p "$W" "$K"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
KEYS=$K/keys.txt
: >"$KEYS"
for d in reporter.test evil.example; do
    /usr/bin/python3 "$SIGN" key "$K/$d.pem" sel1 "$d" "$KEYS" ||
        { t_fail "key for $d" "dkim-sign.py key failed"; exit 1; }
done
CONF=$W/parse.conf
printf 'ReportAddress rua@rua.test\nMemcachedServers 127.0.0.1:%s\nAuthentication dkim\nDkimKeyFile %s\n' "$MC" "$KEYS" >"$CONF"
D=d:fixture.example:2026-01-03
ctr() { t_get "$MC" "tlsrpt:$1"; }

# A report mail of FIX/SRC with report-id ID and organization-name ORG from FROM:
# rmail SRC ID ORG FROM -> $W/ID.eml (unsigned) and $W/ID.json
rmail() {
    sed -e "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" \
        -e "s|\"organization-name\": \"[^\"]*\"|\"organization-name\": \"$3\"|" \
        -e "s|\"contact-info\": \"[^\"]*\"|\"contact-info\": \"tlsrpt@${4#*@}\"|" "$FIX/$1" >"$W/$2.json"
    mk_gzip "$W/$2.json" "$W/$2.json.gz"
    mk_report_mail "$W/$2.json.gz" "$W/$2.eml" fixture.example
    sed -i "s|^From: .*|From: TLS reporter <$4>|" "$W/$2.eml"
}
# Sign IN as DOMAIN: dsign DOMAIN IN OUT
dsign() {
    /usr/bin/python3 "$SIGN" sign "$K/$1.pem" sel1 "$1" "$2" "$3" ||
        t_fail "sign $(basename "$2") as $1" "dkim-sign.py sign failed"
}

# ---- signed: counted under the signer ----
rmail report2.json pd-ok "Other Reporter" noreply@reporter.test
dsign reporter.test "$W/pd-ok.eml" "$W/signed.eml"
"$P" --push -c "$CONF" "$W/signed.eml" >"$W/signed.out" 2>&1; rc=$?
t_eq "signed .eml: exit 0" "$rc" 0
t_grep "signed .eml: counted under the signer" "$W/signed.out" 'counted org="Other Reporter" signer=reporter.test report-id=pd-ok'
t_eq "signed .eml: the domain's reports counter" "$(ctr $D:reports)" 1
t_eq "signed .eml: per-organisation counter under the signer" "$(ctr $D:org:reporter.test:ok)" 7
t_eq "signed .eml: nothing under the organization-name" "$(ctr "$D:org:Other%20Reporter:ok")" ""
"$P" --push -c "$CONF" "$W/signed.eml" >"$W/signed2.out" 2>&1; rc=$?
t_grep "signed .eml again: a duplicate" "$W/signed2.out" 'duplicate org="Other Reporter" signer=reporter.test'
t_eq "signed .eml again: not counted twice" "$(ctr $D:reports)" 1

# ---- unsigned and tampered: not counted ----
rmail report2.json pd-unsigned "Other Reporter" noreply@reporter.test
"$P" --push -c "$CONF" "$W/pd-unsigned.eml" >"$W/unsigned.out" 2>&1; rc=$?
t_eq "unsigned .eml: exit 1" "$rc" 1
t_grep "unsigned .eml: not counted, unauthenticated" "$W/unsigned.out" 'not counted: reason=unauthenticated \(no signature'
rmail report2.json pd-tamper "Other Reporter" noreply@reporter.test
dsign reporter.test "$W/pd-tamper.eml" "$W/tamper.eml"
sed -i 's/aggregate TLS report/aggregate TLS rep0rt/' "$W/tamper.eml"   # the text part, after signing
"$P" --push -c "$CONF" "$W/tamper.eml" >"$W/tamper.out" 2>&1; rc=$?
t_eq "tampered body: exit 1" "$rc" 1
t_grep "tampered body: not counted" "$W/tamper.out" "not counted: reason=unauthenticated \\(body hash mismatch \\(d=reporter.test\\)"
t_eq "unsigned and tampered: no counter changed" "$(ctr $D:reports)" 1

# ---- a report naming Google signed by evil.example counts as evil.example's ----
rmail report2.json pd-forge "Google Inc." noreply@evil.example
dsign evil.example "$W/pd-forge.eml" "$W/forge.eml"
"$P" --push -c "$CONF" "$W/forge.eml" >"$W/forge.out" 2>&1
t_grep "Google's name signed by evil.example: counted under evil.example" "$W/forge.out" 'signer=evil.example'
t_eq "no counter under Google's name" "$(ctr "$D:org:Google%20Inc.:ok")$(ctr "$D:org:google.com:ok")" ""
t_eq "evil.example's counter" "$(ctr "$D:org:evil.example:ok")" 7

# ---- a bare report: no signature to verify, counted under its organization-name ----
sed -e 's|"report-id": "[^"]*"|"report-id": "pd-bare"|' "$FIX/report2.json" >"$W/bare.json"
org=$(sed -n 's/.*"organization-name": "\([^"]*\)".*/\1/p' "$W/bare.json" | head -1 | sed 's/ /%20/g')
"$P" --push -c "$CONF" "$W/bare.json" >"$W/bare.out" 2>&1; rc=$?
t_eq "bare .json: exit 0" "$rc" 0
t_grep "bare .json: counted, no signer" "$W/bare.out" 'counted org="[^"]*" report-id=pd-bare'
t_eq "bare .json: counted under its organization-name" "$(ctr "$D:org:$org:ok")" 7
t_eq "bare .json: the domain's reports counter" "$(ctr $D:reports)" 3

# ---- --json shows the verdict with -c or --auth dkim, not without ----
"$P" --json -c "$CONF" "$W/signed.eml" "$W/tamper.eml" "$W/bare.json" >"$W/j.out" 2>&1
t_check "--json -c: a line per input, valid JSON" /usr/bin/python3 -c '
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert len(ls) == 3
assert ls[0]["dkim"]["result"] == "pass" and ls[0]["dkim"]["signer-org"] == "reporter.test", ls[0]["dkim"]
assert ls[1]["dkim"]["result"] == "fail" and ls[1]["dkim"]["reason"] == "unauthenticated", ls[1]["dkim"]
assert "body hash" in ls[1]["dkim"]["detail"], ls[1]["dkim"]
assert "dkim" not in ls[2]
' "$W/j.out"
"$P" --json "$W/signed.eml" >"$W/j2.out" 2>&1
t_check "--json without -c: no verdict" sh -c '! grep -q "\"dkim\"" "$1"' sh "$W/j2.out"
"$P" --json --auth dkim "$W/pd-unsigned.eml" >"$W/j3.out" 2>&1
t_grep "--json --auth dkim: the verdict, keys as configured (DNS by default)" "$W/j3.out" '"dkim":\{"result":"fail","reason":"unauthenticated","detail":"no signature"'

# ---- --auth none overrides the configuration ----
"$P" --push -c "$CONF" --auth none "$W/pd-unsigned.eml" >"$W/none.out" 2>&1; rc=$?
t_eq "--auth none: an unsigned mail is counted (exit 0)" "$rc" 0
t_eq "--auth none: counted" "$(ctr $D:reports)" 4
"$P" --push -c "$CONF" --auth maybe "$W/pd-unsigned.eml" >"$W/bad.out" 2>&1; rc=$?
t_eq "--auth maybe: usage error, exit 2" "$rc" 2
t_grep "--auth maybe: says what is expected" "$W/bad.out" "expected dkim or none"

# ---- a bad DkimKeyFile is refused before anything is read ----
printf 'ReportAddress rua@rua.test\nMemcachedServers 127.0.0.1:%s\nDkimKeyFile %s/missing.txt\n' "$MC" "$W" >"$W/bad.conf"
"$P" --push -c "$W/bad.conf" "$W/signed.eml" >"$W/badk.out" 2>&1; rc=$?
t_eq "missing DkimKeyFile: exit 2" "$rc" 2
t_grep "missing DkimKeyFile: named" "$W/badk.out" "missing.txt"
exit 0
