#!/bin/sh
# t-e2e-sendmail.sh - end to end through a real Sendmail: Debian's sendmail-bin and
# sendmail-cf, downloaded once (apt-get download) and unpacked privately (dpkg -x:
# nothing is installed, this machine's Postfix stays), run as "sendmail -bd -C" with a
# .cf built by m4 from conf/sendmail.mc.snippet's INPUT_MAIL_FILTER line (its S= set to
# a loopback socket), its own queue, and local delivery by a script into a private
# directory (no SMTP mailer: nothing can leave the machine). Two daemon ports, each with
# its own tlsrpt-milter (A: Action discard, B: Action tag), one memcached; mail goes in
# over SMTP (swaks).
#
# Proves on Sendmail what t-e2e-postfix.sh proves on Postfix: a report to the rua
# address is counted and discarded (logged with Sendmail's queue id, macro {i}); a
# report to rua + a person reaches the person only and is counted; a resent report is
# counted once; with Action tag it is delivered with "X-TLSRPT-Status: counted; ...";
# an uncountable mail (no report, corrupt gzip) is delivered with
# "X-TLSRPT-Status: error; reason=..."; a forged status header is replaced; with the
# milters stopped mail still flows, untouched (the snippet sets no F= flag).
# Takes about 10 s (the first run also downloads about 1 MB).
# SKIP when the Sendmail packages cannot be fetched (no apt source), and without root,
# the built milter, swaks, memcached, memccat, m4 or unshare.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
SNIPPET=$TLSRPT_SRCDIR/conf/sendmail.mc.snippet
t_need t-e2e-sendmail "$BUILD/tlsrpt-milter" swaks memcached memccat m4 unshare apt-get dpkg gzip base64
[ "$(id -u)" = 0 ] || { t_skip t-e2e-sendmail "a private Sendmail daemon needs root"; exit 0; }

svc_init
svc_sendmail_fetch
case $? in
    0) t_pass "Debian's Sendmail unpacked ($(ls "$SM_CACHE/debs" | tr '\n' ' '))" ;;
    1) t_skip t-e2e-sendmail "the Sendmail packages cannot be fetched: $(tail -1 "$SM_CACHE/fetch.log" 2>/dev/null)"
       exit 0 ;;
    *) t_fail "Sendmail packages unpack" "$(tail -2 "$SM_CACHE/fetch.log" | tr '\n' '|')"; exit 1 ;;
esac
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
PA=$(svc_free_port) && PB=$(svc_free_port) || { t_fail free-ports "none found"; exit 1; }
svc_milter_conf "$SVC_TMP/milterA.conf" "inet:$PA@127.0.0.1" "127.0.0.1:$MC" "Action discard"
svc_milter_conf "$SVC_TMP/milterB.conf" "inet:$PB@127.0.0.1" "127.0.0.1:$MC" "Action tag"
for m in A B; do
    eval "port=\$P$m"
    svc_milter_start "milter$m" "$SVC_TMP/milter$m.conf" "inet:$port@127.0.0.1" ||
        { t_fail "milter $m start" "$(tail -3 "$SVC_TMP/milter$m.log" | tr '\n' '|')"; exit 1; }
done
if ! svc_sendmail_start "$SNIPPET" "inet:$PA@127.0.0.1" "inet:$PB@127.0.0.1"; then
    t_fail "sendmail start" "$(tail -5 "$SVC_TMP/sendmail.log" 2>/dev/null | tr '\n' '|')"
    exit 1
fi
t_pass "private sendmail started (daemons on $SM_PORT and $SM_PORT2)"
t_grep "the .cf has the snippet's filter, on milter A's socket" "$SM_DIR/sendmail.cf" \
    "^Xtlsrpt-milter, S=inet:$PA@127.0.0.1,"
t_grep "local delivery goes to the test's script" "$SM_DIR/sendmail.cf" "^Mlocal,.*P=$SM_DIR/deliver,"
t_nogrep "no SMTP mailer: nothing can leave the machine" "$SM_DIR/sendmail.cf" '^M(e?smtp|smtp8|dsmtp|relay),'

# Send one mail over SMTP: send PORT RCPT[,RCPT] FILE; the queue id into $W/qid.
send() {
    if ! timeout 60 swaks --server "127.0.0.1:$1" --from reporter@reporter.test --to "$2" \
            --data "@$3" --timeout 30 >"$W/swaks.log" 2>&1; then
        t_fail "smtp send $(basename "$3") to $2" "$(grep -E '^<[-~*]+ *[45]' "$W/swaks.log" | head -2 | tr '\n' '|')"
        return 1
    fi
    sed -n 's/^<- *250 2\.0\.0 \([A-Za-z0-9]*\) Message accepted.*/\1/p' "$W/swaks.log" >"$W/qid"
}

# Wait for delivery; a stuck queue is a failure.
settle() {
    svc_sendmail_wait_queue 30 || t_fail "sendmail queue empties ($1)" "$(ls "$SM_DIR/queue" | head -3 | tr '\n' ' ')"
}

# Delivered file of USER whose header matches REGEX (first one), or nothing.
delivered() {
    find "$SM_MAIL/$1/new" -type f 2>/dev/null |
        while read -r f; do
            if sed '/^\r\{0,1\}$/q' "$f" | grep -Eq -- "$2"; then echo "$f"; break; fi
        done
}

# Report variant mail with its own report-id: vmail SRCJSON ID OUT.eml
vmail() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" "$1" >"$W/$2.json"
    mk_gzip "$W/$2.json" "$W/$2.json.gz"
    mk_report_mail "$W/$2.json.gz" "$3" fixture.example
    mk_tsv_line "$FIX/expected.tsv" "$(basename "$1")" |
        awk -F '\t' -v OFS='\t' -v id="$2" '{ $3 = id; print }' >"$W/$2.tsv"
}

# ---- counted and discarded ----
vmail "$FIX/report1.json" sm-only "$W/only.eml"
send "$SM_PORT" rua@rua.test "$W/only.eml"
qid=$(cat "$W/qid")
settle only
t_check "report to rua only: not delivered" test -z "$(delivered rua '^Message-ID: <only.eml')"
t_counters "report to rua only: counted" "$MC" tlsrpt: "$W/sm-only.tsv"
t_grep "milter logs Sendmail's queue id ({i}): counted, discarded" "$SVC_TMP/milterA.log" \
    "info: ${qid:-no-queue-id}: counted .*report-id=\"sm-only\".* action=discarded"
cp "$W/sm-only.tsv" "$W/all.tsv"

# ---- rua recipient removed, the other kept ----
vmail "$FIX/report2.json" sm-mixed "$W/mixed.eml"
send "$SM_PORT" rua@rua.test,person@example.test "$W/mixed.eml"
settle mixed
f=$(delivered person '^Message-ID: <mixed.eml')
t_check "report to rua + person: the person gets it" test -n "$f"
t_check "report to rua + person: untagged for the person" sh -c "! grep -q '^X-TLSRPT-Status' '${f:-/nonexistent}'"
t_check "report to rua + person: rua does not" test -z "$(delivered rua '^Message-ID: <mixed.eml')"
cat "$W/sm-mixed.tsv" >>"$W/all.tsv"
t_counters "report to rua + person: counted" "$MC" tlsrpt: "$W/all.tsv"
t_grep "milter: report recipients removed" "$SVC_TMP/milterA.log" 'report-id="sm-mixed".* action=report-recipients-removed'

# ---- a resent report is counted once ----
send "$SM_PORT" rua@rua.test "$W/only.eml"
settle dup
t_check "resent report: not delivered" test -z "$(delivered rua '^Message-ID: <only.eml')"
t_counters "resent report: counted once" "$MC" tlsrpt: "$W/all.tsv"
t_grep "milter saw the duplicate" "$SVC_TMP/milterA.log" 'duplicate .*report-id="sm-only"'

# ---- Action tag (milter B, second daemon) ----
vmail "$FIX/report1.json" sm-tag "$W/tag.eml"
send "$SM_PORT2" rua@rua.test "$W/tag.eml"
settle tag
f=$(delivered rua '^Message-ID: <tag.eml')
t_check "Action tag: delivered to rua" test -n "$f"
t_check "Action tag: X-TLSRPT-Status counted with org and report-id" \
    grep -q '^X-TLSRPT-Status: counted; org="Fixture Org, Inc."; report-id="sm-tag"' "${f:-/nonexistent}"
cat "$W/sm-tag.tsv" >>"$W/all.tsv"
t_counters "Action tag: counted" "$MC" tlsrpt: "$W/all.tsv"

# ---- uncountable mails are delivered with the reason ----
send "$SM_PORT" rua@rua.test "$FIX/plain.eml"
vmail "$FIX/report2.json" sm-trunc "$W/t.eml"
head -c 150 "$W/sm-trunc.json.gz" >"$W/trunc.gz"
mk_report_mail "$W/trunc.gz" "$W/trunc.eml" fixture.example
send "$SM_PORT" rua@rua.test "$W/trunc.eml"
{ printf 'X-TLSRPT-Status: counted; forged=yes\n'; sed 's/plain-1@/forged-1@/' "$FIX/plain.eml"; } >"$W/forged.eml"
send "$SM_PORT" rua@rua.test "$W/forged.eml"
settle uncountable
f=$(delivered rua '^Message-ID: <plain-1@sender.example>')
t_check "no report: delivered to rua" test -n "$f"
t_check "no report: X-TLSRPT-Status: error; reason=no-report" \
    grep -q '^X-TLSRPT-Status: error; reason=no-report' "${f:-/nonexistent}"
f=$(delivered rua '^Message-ID: <trunc.eml')
t_check "corrupt gzip: delivered to rua" test -n "$f"
t_check "corrupt gzip: X-TLSRPT-Status: error; reason=corrupt-gzip" \
    grep -q '^X-TLSRPT-Status: error; reason=corrupt-gzip' "${f:-/nonexistent}"
f=$(delivered rua '^Message-ID: <forged-1@sender.example>')
t_eq "forged status header: exactly one left" "$(grep -c '^X-TLSRPT-Status:' "${f:-/dev/null}")" 1
t_check "forged status header: ours (reason=no-report)" \
    grep -q '^X-TLSRPT-Status: error; reason=no-report' "${f:-/nonexistent}"
t_counters "uncountable mails: nothing more counted" "$MC" tlsrpt: "$W/all.tsv"

# ---- milters stopped: mail still flows (no F= in the snippet) ----
before=$(svc_sendmail_count rua)
svc_stop milterA milterB
vmail "$FIX/report1.json" sm-nomilter "$W/nomilter.eml"
send "$SM_PORT" rua@rua.test "$W/nomilter.eml"
sed 's/plain-1@/nomilter-2@/' "$FIX/plain.eml" >"$W/plain2.eml"
send "$SM_PORT2" rua@rua.test "$W/plain2.eml"
settle nomilter
t_eq "milters stopped: both mails delivered" "$(svc_sendmail_count rua)" "$((before + 2))"
f=$(delivered rua '^Message-ID: <nomilter.eml')
t_check "milters stopped: report delivered" test -n "$f"
t_check "milters stopped: no status header" sh -c "! grep -q '^X-TLSRPT-Status' '${f:-/nonexistent}'"
t_counters "milters stopped: nothing more counted" "$MC" tlsrpt: "$W/all.tsv"
t_eq "rua: only the tagged and the uncountable mails, and the two without milter" \
    "$(svc_sendmail_count rua)" 6
exit 0
