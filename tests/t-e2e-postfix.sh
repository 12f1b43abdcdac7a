#!/bin/sh
# t-e2e-postfix.sh - end to end: a private Postfix (own config/queue in a temp
# dir, smtpd on three free loopback ports) with three tlsrpt-milter processes
# (A, B, and C with OnStoreError tempfail) that share one memcached; mail goes
# in over SMTP (swaks) and lands in Maildirs.
#
# Checks: every corpus mail (bare .json/.json.gz wrapped in a report mail)
# sent to the rua address gives counters equal to the expected.tsv sums and
# only uncountable mails reach the rua Maildir, each tagged with its reason;
# a non-report mail is delivered tagged; a report to rua + a person reaches the
# person only; a report resent through the other smtpd/milter is counted once;
# with memcached stopped mail is delivered tagged store-unavailable (or gets
# a 451 with OnStoreError tempfail) and counting resumes when it is back;
# with the milters stopped mail still flows (milter_default_action = accept).
# The whole run takes about 20 s.
# Prerequisites (else SKIP): tlsrpt-milter, postfix, swaks, memcached, memccat;
# the corpus part is SKIPped (loudly) when the shared corpus is absent.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
CORPUS=${TLSRPT_CORPUS:-$TLSRPT_SRCDIR/../shared/corpus}
[ -x "$BUILD/tlsrpt-milter" ] || { t_skip t-e2e-postfix "tlsrpt-milter not built"; exit 0; }
for c in postfix postconf swaks memcached memccat gzip base64; do
    command -v "$c" >/dev/null 2>&1 || { t_skip t-e2e-postfix "$c not installed"; exit 0; }
done
[ "$(id -u)" = 0 ] || { t_skip t-e2e-postfix "a private Postfix instance needs root"; exit 0; }

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
PA=$(svc_free_port) && PB=$(svc_free_port) && PC=$(svc_free_port) ||
    { t_fail free-ports "none found"; exit 1; }
for m in A B C; do
    eval "port=\$P$m"
    extra="OnStoreError deliver"
    [ $m = C ] && extra="OnStoreError tempfail"
    svc_milter_conf "$SVC_TMP/milter$m.conf" "inet:$port@127.0.0.1" "127.0.0.1:$MC" "$extra"
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

# Report variant mail with its own report-id: vmail SRCJSON ID OUT.eml
vmail() {
    sed "s|\"report-id\": \"[^\"]*\"|\"report-id\": \"$2\"|" "$1" >"$W/$2.json"
    mk_gzip "$W/$2.json" "$W/$2.json.gz"
    mk_report_mail "$W/$2.json.gz" "$3" fixture.example
    mk_tsv_line "$FIX/expected.tsv" "$(basename "$1")" |
        awk -F '\t' -v OFS='\t' -v id="$2" '{ $3 = id; print }' >"$W/$2.tsv"
}

# ---- corpus: every mail to the rua address ----
if [ -d "$CORPUS/real" ] && [ -f "$CORPUS/expected.tsv" ]; then
    : >"$W/corpus.tsv"
    nsent=0
    for f in $(cd "$CORPUS/real" && LC_ALL=C ls | LC_ALL=C sort); do
        case $f in
            *.eml) mail=$CORPUS/real/$f ;;
            *) mail=$W/$f.eml
               mk_report_mail "$CORPUS/real/$f" "$mail" "$(mk_tsv_domain "$CORPUS/expected.tsv" "$f")" ;;
        esac
        send "$PF_PORT" rua@rua.test "$mail" && nsent=$((nsent + 1))
        mk_tsv_line "$CORPUS/expected.tsv" "$f" >>"$W/corpus.tsv"
    done
    settle corpus
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
else
    echo "SKIP: e2e corpus (shared corpus not found at $CORPUS: only the project's own fixtures are sent)"
fi
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
