#!/bin/sh
# t-e2e-postfix.sh - end to end: a private Postfix (own config/queue in a temp
# dir, smtpd on three free loopback ports) with three tlsrpt-milter processes
# (A, B, and C with OnStoreError tempfail) that share one memcached; mail goes
# in over SMTP (swaks) and lands in Maildirs. The milters run the default
# Authentication dkim with a DkimKeyFile of keys made at test time
# (tests/lib/dkim-sign.py), and every report sent is signed with a test key of
# its reporter's domain.
#
# Checks: every corpus mail (bare .json/.json.gz wrapped in a report mail from
# its contact-info's domain), re-signed for its From domain and sent to the rua
# address, gives counters equal to the expected.tsv sums with the signer as the
# organisation, and only uncountable mails reach the rua Maildir, each tagged
# with its reason (unauthenticated for a report whose contact-info is in another
# organisation); a forged report (in Google's name, unsigned or signed by another
# domain) changes no counter and is delivered with reason=unauthenticated; the
# pre-emption attack (evil.example's report with Google's organization-name and
# report-id first, Google's own after it) counts Google's; a report signed with
# simple header canonicalisation over "Subject:value" verifies (Postfix keeps
# the blank after the colon: SMFIP_HDR_LEADSPC); a mail of two reports is counted
# as two, and one with a corrupt part is delivered with counted=1; of=2;
# a non-report mail is delivered tagged; a report to rua + a person reaches the
# person only; a report resent through the other smtpd/milter is counted once;
# with memcached stopped mail is delivered tagged store-unavailable (or gets
# a 451 with OnStoreError tempfail) and counting resumes when it is back;
# with the milters stopped mail still flows (milter_default_action = accept).
# The whole run takes about 20 s.
# Prerequisites (else SKIP): tlsrpt-milter, postfix, swaks, memcached, memccat,
# /usr/bin/python3 with python3-dkim, openssl;
# the corpus part is SKIPped (loudly) when the shared corpus is absent.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
CORPUS=${TLSRPT_CORPUS:-$TLSRPT_SRCDIR/../shared/corpus}
t_need t-e2e-postfix "$BUILD/tlsrpt-milter" postfix postconf swaks memcached memccat gzip base64 openssl
/usr/bin/python3 -c 'import dkim' 2>/dev/null || { t_skip t-e2e-postfix "python3-dkim missing"; exit 0; }
SIGN=$TLSRPT_SRCDIR/tests/lib/dkim-sign.py
[ "$(id -u)" = 0 ] || { t_skip t-e2e-postfix "a private Postfix instance needs root"; exit 0; }

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
KEYS=$SVC_TMP/keys.txt
: >"$KEYS"

# The contact-info of the (first) report in a mail or report file.
contact_of() {
    "$BUILD/tlsrpt-parse" --json "$1" 2>/dev/null | head -1 |
        sed -n 's/.*"contact-info":"\([^"]*\)".*/\1/p'
}

# The domain of a contact-info that is a mail address, else nothing.
contact_domain() {
    case $1 in
        *://*) ;;
        *@*) echo "${1##*@}" | tr 'A-Z' 'a-z' ;;
    esac
}

# The organisational domain of a domain, by the last two labels (enough for the
# domains of these tests: .com, .test, .example).
orgof() {
    echo "$1" | tr 'A-Z' 'a-z' | awk -F . '{ print (NF >= 2 ? $(NF - 1) "." $NF : $0) }'
}

# Sign IN as organisation ORG (a key made on first use) into OUT: dsign ORG IN OUT [opts]
dsign() {
    _o=$1 _in=$2 _out=$3
    shift 3
    if [ ! -f "$SVC_TMP/$_o.pem" ]; then
        /usr/bin/python3 "$SIGN" key "$SVC_TMP/$_o.pem" tlsrpttest "$_o" "$KEYS" ||
            t_fail "key for $_o" "dkim-sign.py key failed"
    fi
    /usr/bin/python3 "$SIGN" sign "$SVC_TMP/$_o.pem" tlsrpttest "$_o" "$_in" "$_out" "$@" ||
        t_fail "sign $(basename "$_in") as $_o" "dkim-sign.py sign failed"
}

# The From domain a corpus file's mail is sent from: its own From for a mail, else
# (a bare report, wrapped) its contact-info's domain, else reporter.test.
corpus_from() {
    case $1 in
        *.eml) sed -n '1,/^\r\{0,1\}$/ s/^From:.*@\([A-Za-z0-9.-]*\).*/\1/p' "$1" | head -1 ;;
        *) _cd=$(contact_domain "$(contact_of "$1")"); echo "${_cd:-reporter.test}" ;;
    esac
}

# Every key the milters need, before they start (they read the key file at start).
for o in reporter.test google.com evil.example; do dsign "$o" "$FIX/plain.eml" "$W/k.eml"; done
if [ -d "$CORPUS/real" ]; then
    for f in "$CORPUS"/real/*; do dsign "$(orgof "$(corpus_from "$f")")" "$FIX/plain.eml" "$W/k.eml"; done
fi
PA=$(svc_free_port) && PB=$(svc_free_port) && PC=$(svc_free_port) ||
    { t_fail free-ports "none found"; exit 1; }
for m in A B C; do
    eval "port=\$P$m"
    extra="OnStoreError deliver"
    [ $m = C ] && extra="OnStoreError tempfail"
    svc_milter_conf "$SVC_TMP/milter$m.conf" "inet:$port@127.0.0.1" "127.0.0.1:$MC" "$extra" \
        "Authentication dkim" "DkimKeyFile $KEYS"
    svc_milter_start "milter$m" "$SVC_TMP/milter$m.conf" "inet:$port@127.0.0.1" ||
        { t_fail "milter $m start" "$(tail -3 "$SVC_TMP/milter$m.log" | tr '\n' '|')"; exit 1; }
done
PF_MILTERS2=inet:127.0.0.1:$PB
PF_MILTERS3=inet:127.0.0.1:$PC
if ! svc_postfix_start "inet:127.0.0.1:$PA"; then
    t_fail "postfix start" "$(tail -5 "$SVC_TMP/postfix.log" "$SVC_TMP/pf/maillog" 2>/dev/null | tr '\n' '|')"
    exit 1
fi
t_pass "private postfix started (smtpd on $PF_PORT, $PF_PORT2, $PF_PORT3)"

# Send one mail over SMTP: send PORT RCPT[,RCPT] FILE
send() {
    if ! timeout 60 swaks --server "127.0.0.1:$1" --from reporter@reporter.test --to "$2" \
            --data "@$3" --timeout 30 >"$W/swaks.log" 2>&1; then
        [ -n "$SEND_MAY_FAIL" ] ||
        t_fail "smtp send $(basename "$3") to $2" "$(grep -E '^<[-~*]+ *[45]' "$W/swaks.log" | head -2 | tr '\n' '|')"
        return 1
    fi
}

# Wait for delivery; a stuck queue is a failure.
settle() {
    svc_postfix_wait_queue 30 ||
        t_fail "postfix queue empties ($1)" "$(postqueue -c "$PF_DIR/conf" -p 2>&1 | tail -3 | tr '\n' '|')"
}

# Delivered file of USER whose header matches REGEX (first one), or nothing.
delivered() {
    find "$PF_MAILDIRS/$1/new" "$PF_MAILDIRS/$1/cur" -type f 2>/dev/null |
        while read -r f; do
            if sed '/^\r\{0,1\}$/q' "$f" | grep -Eq -- "$2"; then echo "$f"; break; fi
        done
}

# Report variant mail with its own report-id from reporter.test, signed: vmail SRCJSON ID
# OUT.eml (its expected.tsv line, the signer as organisation, in $W/ID.tsv)
vmail() {
    sed -e "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" \
        -e 's|"contact-info": "[^"]*"|"contact-info": "tlsrpt@reporter.test"|' "$1" >"$W/$2.json"
    mk_gzip "$W/$2.json" "$W/$2.json.gz"
    mk_report_mail "$W/$2.json.gz" "$3.unsigned" fixture.example
    dsign reporter.test "$3.unsigned" "$3"
    mk_tsv_line "$FIX/expected.tsv" "$(basename "$1")" |
        awk -F '\t' -v OFS='\t' -v id="$2" '{ $3 = id; $2 = "reporter.test"; print }' >"$W/$2.tsv"
}

# ---- corpus: every mail to the rua address ----
if [ -d "$CORPUS/real" ] && [ -f "$CORPUS/expected.tsv" ]; then
    : >"$W/corpus.tsv"
    nsent=0
    nunauth=0
    for f in $(cd "$CORPUS/real" && LC_ALL=C ls | LC_ALL=C sort); do
        cdom=$(contact_domain "$(contact_of "$CORPUS/real/$f")")
        from=$(corpus_from "$CORPUS/real/$f")
        case $f in
            *.eml) mail=$CORPUS/real/$f ;;
            *) mail=$W/$f.eml
               mk_report_mail "$CORPUS/real/$f" "$mail" "$(mk_tsv_domain "$CORPUS/expected.tsv" "$f")"
               sed -i "s|^From: .*|From: TLS reporter <noreply-tlsrpt@$from>|" "$mail" ;;
        esac
        org=$(orgof "$from")
        dsign "$org" "$mail" "$W/$f.signed.eml"
        send "$PF_PORT" rua@rua.test "$W/$f.signed.eml" && nsent=$((nsent + 1))
        # authentic: no contact address, or one in the signer's organisation
        if [ -z "$cdom" ] || [ "$(orgof "$cdom")" = "$org" ]; then
            mk_tsv_line "$CORPUS/expected.tsv" "$f" | awk -F '\t' -v OFS='\t' -v o="$org" '{ $2 = o; print }'
        else
            nunauth=$((nunauth + 1))
            mk_tsv_line "$CORPUS/expected.tsv" "$f" | awk -F '\t' -v OFS='\t' '{ $7 = "unauthenticated"; print }'
        fi >>"$W/corpus.tsv"
    done
    settle corpus
    echo "# corpus: $nsent mails re-signed, $nunauth with a contact-info in another organisation"
    t_eq "corpus: every mail accepted over SMTP" "$nsent" "$(wc -l <"$W/corpus.tsv" | tr -d ' ')"
    t_counters "corpus: every counter equals the expected.tsv sums" "$MC" tlsrpt: "$W/corpus.tsv"
    # Mails with nothing countable (an error, or no policy domain) are delivered.
    want=$(awk -F '\t' '{ c = 0; n = split($6, p, ";")
            for (i = 1; i <= n; i++) { split(p[i], x, ":"); if (x[1] != "") c = 1 }
            if ($7 != "" || !c) u++ } END { print u + 0 }' "$W/corpus.tsv")
    t_eq "corpus: only uncountable mails reach the rua Maildir" "$(svc_maildir_count rua)" "$want"
    untagged=0
    for f in $(find "$PF_MAILDIRS/rua" -type f -path '*/new/*' 2>/dev/null); do
        grep -q '^X-TLSRPT-Status: error; reason=' "$f" || untagged=$((untagged + 1))
    done
    t_eq "corpus: every mail in the rua Maildir carries its reason" "$untagged" 0
    t_eq "corpus: the reports with a contact-info elsewhere delivered unauthenticated" \
        "$(grep -l '^X-TLSRPT-Status: error; reason=unauthenticated' "$PF_MAILDIRS"/rua/new/* 2>/dev/null | wc -l | tr -d ' ')" "$nunauth"
else
    echo "SKIP: e2e corpus (shared corpus not found at $CORPUS: only the project's own fixtures are sent)"
fi

# ---- DKIM through Postfix: forged reports, the pre-emption attack, LEADSPC, two reports ----
# A report of report2.json for dkim.example from FROM's domain: gmail ID ORG CONTACT FROM OUT
# (unsigned; the DKIM cases count into a domain of their own)
gmail() {
    sed -e "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$1\"|" \
        -e 's|"policy-domain": "fixture.example"|"policy-domain": "dkim.example"|' \
        -e "s|\"organization-name\": \"[^\"]*\"|\"organization-name\": \"$2\"|" \
        -e "s|\"contact-info\": \"[^\"]*\"|\"contact-info\": \"$3\"|" "$FIX/report2.json" >"$W/$1.json"
    mk_gzip "$W/$1.json" "$W/$1.json.gz"
    mk_report_mail "$W/$1.json.gz" "$5" dkim.example
    sed -i "s|^From: .*|From: $4|" "$5"
}
# The same as vmail for dkim.example: dmail ID OUT.eml
dmail() {
    vmail "$FIX/report2.json" "$1" "$2"
    sed -i 's|"policy-domain": "fixture.example"|"policy-domain": "dkim.example"|' "$W/$1.json"
    mk_gzip "$W/$1.json" "$W/$1.json.gz"
    mk_report_mail "$W/$1.json.gz" "$2.unsigned" dkim.example
    dsign reporter.test "$2.unsigned" "$2"
    sed -i 's/\tfixture.example:/\tdkim.example:/' "$W/$1.tsv"
}
D=tlsrpt:d:dkim.example:2026-01-03
before=$(t_get "$MC" "$D:reports")
gmail e2e-forged "Google Inc." smtp-tls-reporting@google.com noreply-smtp-tls-reporting@google.com \
    "$W/forged-unsigned.eml"
send "$PF_PORT" rua@rua.test "$W/forged-unsigned.eml"
dsign evil.example "$W/forged-unsigned.eml" "$W/forged-evil.eml"
sed -i 's/^Message-ID: <forged-unsigned/Message-ID: <forged-evil/' "$W/forged-evil.eml"
send "$PF_PORT2" rua@rua.test "$W/forged-evil.eml"
settle forged-google
for n in unsigned evil; do
    f=$(delivered rua "^Message-ID: <forged-$n")
    t_check "forged Google report ($n): delivered to rua" test -n "$f"
    t_check "forged Google report ($n): tagged reason=unauthenticated" \
        grep -q '^X-TLSRPT-Status: error; reason=unauthenticated$' "${f:-/nonexistent}"
done
t_eq "forged Google reports: no counter changed" "$(t_get "$MC" "$D:reports")" "$before"
t_eq "forged Google reports: no Google counter" \
    "$(t_get "$MC" "$D:org:google.com:ok")$(t_get "$MC" "$D:org:Google%20Inc.:ok")" ""
t_grep "forged Google report: the log says why" "$SVC_TMP/milterB.log" \
    'not counted: reason=unauthenticated \(d=evil.example not aligned with From domain google.com\) org="Google Inc." report-id="e2e-forged"'

gmail 2026-01-03T00:00:00Z_e2e "Google Inc." tlsrpt@evil.example noreply@evil.example "$W/pre-evil.u.eml"
dsign evil.example "$W/pre-evil.u.eml" "$W/pre-evil.eml"
send "$PF_PORT" rua@rua.test "$W/pre-evil.eml"
settle pre-evil
gmail 2026-01-03T00:00:00Z_e2e "Google Inc." smtp-tls-reporting@google.com \
    noreply-smtp-tls-reporting@google.com "$W/pre-google.u.eml"
dsign google.com "$W/pre-google.u.eml" "$W/pre-google.eml"
send "$PF_PORT2" rua@rua.test "$W/pre-google.eml"
settle pre-google
t_check "pre-emption: neither report in the rua Maildir" \
    test -z "$(delivered rua '^Message-ID: <pre-(evil|google).u.eml')"
t_eq "pre-emption: Google's real report counted under google.com" "$(t_get "$MC" "$D:org:google.com:ok")" 7
t_eq "pre-emption: evil.example's under its own name" "$(t_get "$MC" "$D:org:evil.example:ok")" 7
t_grep "pre-emption: Google's was counted, not a duplicate" "$SVC_TMP/milterB.log" \
    ': counted org="Google Inc." signer=google.com report-id="2026-01-03T00:00:00Z_e2e" '
# what dkim.example has counted so far: the two of the pre-emption
for o in evil.example google.com; do
    mk_tsv_line "$FIX/expected.tsv" report2.json | awk -F '\t' -v OFS='\t' -v o="$o" \
        '{ $2 = o; $3 = "2026-01-03T00:00:00Z_e2e"; sub(/^fixture\.example:/, "dkim.example:", $6); print }'
done >"$W/dkim.tsv"

dmail e2e-simple "$W/simple.eml"
sed -i 's/^Subject: /Subject:/' "$W/simple.eml.unsigned"
dsign reporter.test "$W/simple.eml.unsigned" "$W/simple.eml" --canon simple/simple
send "$PF_PORT" rua@rua.test "$W/simple.eml"
settle simple
t_check "simple/simple over Subject:value (HDR_LEADSPC with Postfix): not in the rua Maildir" \
    test -z "$(delivered rua '^Message-ID: <simple.eml')"
cat "$W/e2e-simple.tsv" >>"$W/dkim.tsv"
t_counters "simple/simple over Subject:value: counted" "$MC" tlsrpt: "$W/dkim.tsv"

dmail e2e-two-a "$W/two-a.eml"
dmail e2e-two-b "$W/two-b.eml"
mk_multi_mail "$W/two.eml.unsigned" dkim.example "$W/e2e-two-a.json.gz" "$W/e2e-two-b.json.gz"
dsign reporter.test "$W/two.eml.unsigned" "$W/two.eml"
head -c 100 "$W/e2e-two-b.json.gz" >"$W/trunc.bad"
dmail e2e-two-c "$W/two-c.eml"
mk_multi_mail "$W/twobad.eml.unsigned" dkim.example "$W/e2e-two-c.json.gz" "$W/trunc.bad"
dsign reporter.test "$W/twobad.eml.unsigned" "$W/twobad.eml"
send "$PF_PORT" rua@rua.test "$W/two.eml"
send "$PF_PORT2" rua@rua.test "$W/twobad.eml"
settle two
t_check "two reports in one mail: not in the rua Maildir" test -z "$(delivered rua '^Message-ID: <two.eml')"
cat "$W/e2e-two-a.tsv" "$W/e2e-two-b.tsv" "$W/e2e-two-c.tsv" >>"$W/dkim.tsv"
t_counters "two reports in one mail: both counted (and the good one of the other)" "$MC" tlsrpt: "$W/dkim.tsv"
f=$(delivered rua '^Message-ID: <twobad.eml')
t_check "a good and a corrupt report: delivered to rua with counted=1; of=2" \
    grep -q '^X-TLSRPT-Status: error; reason=corrupt-gzip; counted=1; of=2$' "${f:-/nonexistent}"

base_rua=$(svc_maildir_count rua)

# ---- a non-report mail to the rua address ----
send "$PF_PORT" rua@rua.test "$FIX/plain.eml"
settle plain
f=$(delivered rua '^Message-ID: <plain-1@sender.example>')
t_check "non-report mail delivered to rua" test -n "$f"
t_check "non-report mail tagged reason=no-report" grep -q '^X-TLSRPT-Status: error; reason=no-report' "${f:-/nonexistent}"

# ---- a sender's own X-TLSRPT-Status is replaced, not kept ----
{ printf 'X-TLSRPT-Status: counted; forged=yes\n'; sed 's/plain-1@/forged-1@/' "$FIX/plain.eml"; } >"$W/forged.eml"
send "$PF_PORT" rua@rua.test "$W/forged.eml"
settle forged
f=$(delivered rua '^Message-ID: <forged-1@sender.example>')
t_eq "forged status header: exactly one left" "$(grep -c '^X-TLSRPT-Status:' "${f:-/dev/null}")" 1
t_check "forged status header: ours (reason=no-report)" \
    grep -q '^X-TLSRPT-Status: error; reason=no-report' "${f:-/nonexistent}"

# ---- a report to rua + a person ----
vmail "$FIX/report1.json" e2e-mixed "$W/mixed.eml"
send "$PF_PORT" rua@rua.test,person@example.test "$W/mixed.eml"
settle mixed
t_check "report to rua + person: the person gets it" test -n "$(delivered person '^Message-ID: <mixed.eml')"
t_check "report to rua + person: rua does not" test -z "$(delivered rua '^Message-ID: <mixed.eml')"
t_counters "report to rua + person: counted" "$MC" tlsrpt: "$W/e2e-mixed.tsv"

# ---- resent report through both smtpd ports (two milter processes) ----
vmail "$FIX/report2.json" e2e-dup "$W/dup.eml"
send "$PF_PORT" rua@rua.test "$W/dup.eml"
send "$PF_PORT2" rua@rua.test "$W/dup.eml"
send "$PF_PORT2" rua@rua.test "$W/dup.eml"
settle dup
t_check "resent report: never in the rua Maildir" test -z "$(delivered rua '^Message-ID: <dup.eml')"
t_counters "resent report through two milters: counted once" "$MC" tlsrpt: "$W/e2e-dup.tsv"
t_check "milter B saw the duplicates" grep -q 'duplicate' "$SVC_TMP/milterB.log"

# ---- 12 SMTP clients at once, over both milters ----
: >"$W/par.tsv"
i=1
while [ $i -le 12 ]; do
    vmail "$FIX/report1.json" "e2e-par-$i" "$W/par$i.eml"
    cat "$W/e2e-par-$i.tsv" >>"$W/par.tsv"
    i=$((i + 1))
done
# the same day and domains as e2e-mixed: expected sums include it
cat "$W/e2e-mixed.tsv" "$W/par.tsv" >"$W/par-all.tsv"
pids=
i=1
while [ $i -le 12 ]; do
    port=$PF_PORT
    [ $((i % 2)) = 0 ] && port=$PF_PORT2
    timeout 60 swaks --server "127.0.0.1:$port" --from reporter@reporter.test --to rua@rua.test \
        --data "@$W/par$i.eml" --timeout 30 >"$W/par$i.log" 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
done
# shellcheck disable=SC2086
wait $pids
settle parallel
t_eq "12 parallel SMTP clients: all accepted" "$(grep -l '^<- *250 .*queued as' "$W"/par*.log | wc -l | tr -d ' ')" 12
t_check "12 parallel SMTP clients: none in the rua Maildir" test -z "$(delivered rua '^Message-ID: <par')"
t_counters "12 parallel SMTP clients: every report counted once" "$MC" tlsrpt: "$W/par-all.tsv"

# ---- memcached down, then back ----
svc_stop mc
vmail "$FIX/report2.json" e2e-down "$W/down.eml"
send "$PF_PORT" rua@rua.test "$W/down.eml"
settle down
f=$(delivered rua '^Message-ID: <down.eml')
t_check "memcached down: report delivered to rua" test -n "$f"
t_check "memcached down: tagged reason=store-unavailable" \
    grep -q '^X-TLSRPT-Status: error; reason=store-unavailable' "${f:-/nonexistent}"
vmail "$FIX/report2.json" e2e-tempfail "$W/tempfail.eml"
SEND_MAY_FAIL=1 send "$PF_PORT3" rua@rua.test "$W/tempfail.eml"
t_check "memcached down + OnStoreError tempfail: SMTP answer 451" grep -Eq '^<[-~*]+ *451' "$W/swaks.log"
settle tempfail
t_check "memcached down + tempfail: not delivered" test -z "$(delivered rua '^Message-ID: <tempfail.eml')"
if svc_memcached_start mc "$MC" >/dev/null; then
    vmail "$FIX/report1.json" e2e-up "$W/up.eml"
    vmail "$FIX/report2.json" e2e-up2 "$W/up2.eml"
    send "$PF_PORT" rua@rua.test "$W/up.eml"
    send "$PF_PORT2" rua@rua.test "$W/up2.eml"
    send "$PF_PORT3" rua@rua.test "$W/tempfail.eml"
    settle up
    t_check "memcached back: reports not in the rua Maildir" \
        test -z "$(delivered rua '^Message-ID: <up2?.eml')"
    cat "$W/e2e-up.tsv" "$W/e2e-up2.tsv" "$W/e2e-tempfail.tsv" >"$W/up.tsv"
    t_counters "memcached back: the three milters count again (retried mail too)" "$MC" tlsrpt: "$W/up.tsv"
else
    t_fail "memcached restart" "port $MC"
fi

# ---- milters stopped: mail still flows (milter_default_action = accept) ----
before=$(svc_maildir_count rua)
svc_stop milterA milterB milterC
vmail "$FIX/report1.json" e2e-nomilter "$W/nomilter.eml"
send "$PF_PORT" rua@rua.test "$W/nomilter.eml"
send "$PF_PORT2" rua@rua.test "$FIX/plain.eml"
settle nomilter
t_eq "milters stopped: both mails delivered" "$(svc_maildir_count rua)" "$((before + 2))"
f=$(delivered rua '^Message-ID: <nomilter.eml')
t_check "milters stopped: report delivered untouched" test -n "$f"
t_check "milters stopped: no status header" sh -c "! grep -q '^X-TLSRPT-Status' '${f:-/nonexistent}'"
t_counters "milters stopped: nothing more counted" "$MC" tlsrpt: "$W/up.tsv"
t_check "postfix logged the milter as unavailable" grep -Eiq 'connect to milter service.*refused' "$PF_DIR/maillog"
t_eq "rua Maildir: nothing lost or extra" "$(svc_maildir_count rua)" "$((base_rua + 5))"
exit 0
