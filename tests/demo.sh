#!/bin/sh
# demo.sh - `make demo`: show tlsrpt-milter doing its job, end to end, and
# check every step of it.
#
# As root, in a scratch directory of its own (DEMO_DIR, default
# /tmp/tlsrpt-demo) and on 127.0.0.1 free ports only, it starts a memcached,
# build/tlsrpt-milter with the demo config (tests/demo/tlsrpt-milter.conf.in:
# rua address tlsrpt@demo.example, Action discard) and a private Postfix
# instance wired to it that delivers demo.example to Maildirs. It makes a DKIM
# key for each reporter (and for evil.example) into $DEMO_DIR/dkim, the
# milter's DkimKeyFile (Authentication dkim: only authentic reports count),
# signs the mails written by tests/demo/mkmails.py with them (a forged Google
# report is signed by evil.example) and sends them through SMTP (swaks), then prints,
# section by section: the Postfix log, the milter log, every Maildir,
# a few memcached counters (memccat), `tlsrpt-stats` for demo.example, and
# writes the HTML page into the scratch directory. Last, memcached is restarted
# empty (what a Debian upgrade does): tlsrpt-stats says the counters were lost,
# and `tlsrpt-parse --rebuild` restores every counter from the milter's archive
# ($DEMO_DIR/archive), compared key by key.
#
# Each fact is checked; the exit status is 0 only when all checks passed
# (last line "demo: all N checks passed"). Everything is stopped at the end;
# DEMO_KEEP=1 leaves it running and prints how to stop it ($DEMO_DIR/stop).
# A second run stops a kept instance and removes the old scratch directory
# first (it refuses to delete a directory it did not create).
#
# Uses the service helpers of tests/lib/services.sh (memcached, the milter,
# the private Postfix, free ports, waits). Limits: bounded waits (SVC_WAIT,
# default 10 s; delivery 30 s); needs root, Postfix, memcached, swaks,
# memccat, python3, openssl and Debian's /usr/bin/python3 with python3-dkim
# (`make deps` installs them).

SRCDIR=$(cd "$(dirname "$0")/.." && pwd) || exit 1
BUILD=${BUILD:-$SRCDIR/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "demo: no build directory; run make" >&2; exit 1; }
TLSRPT_SRCDIR=$SRCDIR
DEMO_DIR=${DEMO_DIR:-/tmp/tlsrpt-demo}
case $DEMO_DIR in /*) ;; *) DEMO_DIR=$(pwd)/$DEMO_DIR ;; esac
DEMO_KEEP=${DEMO_KEEP:-0}
DOMAIN=demo.example
RUA=tlsrpt@demo.example
PERSON=postmaster@demo.example
PREFIX=tlsrpt:
export BUILD TLSRPT_SRCDIR

N_CHECKS=0
N_FAILED=0

# Print a section title.
section() {
    printf '\n===== %s =====\n' "$*"
}

# Stop with an error message (the EXIT trap stops what was started).
die() {
    echo "demo: ERROR: $*" >&2
    exit 1
}

# Record one check: check_result NAME STATUS [DETAIL] (STATUS 0 = passed).
check_result() {
    N_CHECKS=$((N_CHECKS + 1))
    if [ "$2" -eq 0 ]; then
        echo "  [ok]   $1"
    else
        N_FAILED=$((N_FAILED + 1))
        echo "  [FAIL] $1${3:+: $3}"
    fi
}

# Indent a file (or stdin) by two spaces for the report.
indent() {
    sed 's/^/  /' "$@"
}

# Refuse to run without what the demo needs.
demo_preflight() {
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo make demo): it starts a private Postfix instance"
    for c in memcached postfix postconf swaks memccat python3 openssl; do
        command -v "$c" >/dev/null 2>&1 || die "$c is missing: run 'make deps' (as root)"
    done
    /usr/bin/python3 -c 'import dkim' 2>/dev/null ||
        die "python3-dkim is missing (for /usr/bin/python3): run 'make deps' (as root)"
    [ -x "$BUILD/tlsrpt-milter" ] || die "$BUILD/tlsrpt-milter is missing: run 'make'"
}

# Stop a kept demo and remove the old scratch directory; create a fresh one.
demo_scratch() {
    if [ -e "$DEMO_DIR" ]; then
        [ -f "$DEMO_DIR/.tlsrpt-demo" ] ||
            die "$DEMO_DIR exists and was not made by the demo; set DEMO_DIR or remove it"
        [ -f "$DEMO_DIR/stop" ] && sh "$DEMO_DIR/stop" >/dev/null 2>&1
        rm -rf "$DEMO_DIR"
    fi
    mkdir -p "$DEMO_DIR" || die "cannot create $DEMO_DIR"
    chmod 755 "$DEMO_DIR"
    : >"$DEMO_DIR/.tlsrpt-demo"
}

# Write $DEMO_DIR/stop: stops Postfix, the milter and memcached (by pid file).
demo_write_stop() {
    cat >"$DEMO_DIR/stop" <<EOF
#!/bin/sh
# stop - stop the tlsrpt-milter demo started by tests/demo.sh (files are kept).
SVC_TMP='$DEMO_DIR'
BUILD='$BUILD'
. '$SRCDIR/tests/lib/services.sh'
PF_DIR=\$SVC_TMP/pf
SVC_PF_STARTED=1
[ -f "\$PF_DIR/conf/main.cf" ] && svc_postfix_stop
svc_stop milter
svc_stop memcached
if [ -f "\$SVC_TMP/created-main.cf" ]; then
    # the demo created an empty /etc/postfix/main.cf: remove it if still unused
    [ -z "\$(grep -v '^alternate_config_directories *= *\$' /etc/postfix/main.cf)" ] &&
        rm -f /etc/postfix/main.cf
    rm -f "\$SVC_TMP/created-main.cf"
fi
echo "tlsrpt-milter demo stopped (its files stay in \$SVC_TMP)"
EOF
    chmod 755 "$DEMO_DIR/stop"
}

# Stop everything, or with DEMO_KEEP=1 say how to use and stop it.
demo_finish() {
    if [ "$DEMO_KEEP" = 1 ]; then
        echo "demo: still running (DEMO_KEEP=1): Postfix 127.0.0.1:$PF_PORT," \
             "tlsrpt-milter 127.0.0.1:$MILTER_PORT, memcached 127.0.0.1:$MC_PORT"
        _one=$(ls "$DEMO_DIR/mails/"*.eml 2>/dev/null | head -1)
        echo "demo: send again: swaks --server 127.0.0.1:$PF_PORT --to $RUA --data @${_one:-FILE}"
        echo "demo: stop it:    sh $DEMO_DIR/stop"
    else
        sh "$DEMO_DIR/stop" >/dev/null 2>&1
        echo "demo: stopped; logs, Maildirs and the HTML page stay in $DEMO_DIR"
    fi
}

# At exit (normal or not): stop what was started unless DEMO_KEEP=1.
demo_exit() {
    _rc=$1
    trap - EXIT INT TERM HUP
    [ -n "$DEMO_FINISHED" ] || demo_finish
    exit "$_rc"
}

# A fresh Debian Postfix installed with "No configuration" has no main.cf,
# which the private instance's alternate_config_directories entry needs.
demo_system_maincf() {
    [ -f /etc/postfix/main.cf ] && return 0
    : >/etc/postfix/main.cf || return 1
    : >"$DEMO_DIR/created-main.cf"
}

# Start the private Postfix like svc_postfix_start, for demo.example mailboxes.
demo_postfix_start() {
    PF_DIR=$SVC_TMP/pf
    PF_MAILDIRS=$PF_DIR/maildirs
    PF_PORT=$(svc_free_port) || return 1
    svc_postfix_config "$@" || return 1
    postconf -c "$PF_DIR/conf" -e "myhostname = mx.$DOMAIN" "mydomain = $DOMAIN" \
        "virtual_mailbox_domains = $DOMAIN" || return 1
    printf '%s tlsrpt/\n%s postmaster/\n' "$RUA" "$PERSON" >"$PF_DIR/conf/vmailbox"
    demo_system_maincf || return 1
    svc_postfix_launch
}

# The demo's DKIM keys, one per signer, into $DEMO_DIR/dkim (keys.txt: the DkimKeyFile).
demo_keys() {
    KEYDIR=$DEMO_DIR/dkim
    mkdir -p "$KEYDIR" && chmod 755 "$KEYDIR" || die "cannot create $KEYDIR"
    : >"$KEYDIR/keys.txt"
    for _d in google.com microsoft.com mail.ru evil.example; do
        /usr/bin/python3 "$SRCDIR/tests/lib/dkim-sign.py" key "$KEYDIR/$_d.pem" demo "$_d" \
            "$KEYDIR/keys.txt" || die "cannot make a DKIM key for $_d"
    done
    chmod 644 "$KEYDIR/keys.txt"
}

# Start memcached, the milter (demo config) and Postfix; print where they are.
demo_services() {
    section "1. Services (127.0.0.1 only, files in $DEMO_DIR)"
    demo_keys
    MC_PORT=$(svc_memcached_start memcached) || die "memcached did not start: $(cat "$SVC_TMP/memcached.log")"
    MILTER_PORT=$(svc_free_port) || die "no free port"
    _user=nobody
    id nobody >/dev/null 2>&1 || _user=root
    ARCHIVE=$DEMO_DIR/archive
    mkdir -p "$ARCHIVE" && chown "$_user" "$ARCHIVE"
    sed -e "s|@MILTER_PORT@|$MILTER_PORT|g" -e "s|@MEMCACHED_PORT@|$MC_PORT|g" \
        -e "s|@USER@|$_user|g" -e "s|@KEYFILE@|$KEYDIR/keys.txt|g" -e "s|@ARCHIVE@|$ARCHIVE|g" \
        "$SRCDIR/tests/demo/tlsrpt-milter.conf.in" >"$DEMO_DIR/tlsrpt-milter.conf"
    svc_milter_start milter "$DEMO_DIR/tlsrpt-milter.conf" "inet:$MILTER_PORT@127.0.0.1" ||
        die "tlsrpt-milter did not start: $(tail -5 "$SVC_TMP/milter.log")"
    demo_postfix_start "inet:127.0.0.1:$MILTER_PORT" ||
        die "Postfix did not start: $(tail -5 "$SVC_TMP/postfix.log")"
    echo "  memcached      127.0.0.1:$MC_PORT"
    echo "  tlsrpt-milter  127.0.0.1:$MILTER_PORT  config $DEMO_DIR/tlsrpt-milter.conf (runs as $_user)"
    echo "                 Authentication dkim, DKIM keys of google.com, microsoft.com, mail.ru"
    echo "                 and evil.example made now: $KEYDIR/keys.txt (DkimKeyFile)"
    echo "                 archive $ARCHIVE (ArchiveDir, ArchiveAll yes)"
    echo "  Postfix        127.0.0.1:$PF_PORT  config $PF_DIR/conf, smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
    echo "                 Maildirs: $PF_MAILDIRS/tlsrpt ($RUA), $PF_MAILDIRS/postmaster ($PERSON)"
}

# Write the demo mails, then send each through SMTP; one line per mail.
demo_send() {
    TODAY=$(date -u +%Y-%m-%d)
    python3 "$SRCDIR/tests/demo/mkmails.py" "$DEMO_DIR/mails" "$TODAY" || die "mkmails.py failed"
    MAN=$DEMO_DIR/mails/manifest.tsv
    EXP=$DEMO_DIR/mails/expected.tsv
    section "2. Sending $(wc -l <"$MAN") mails to 127.0.0.1:$PF_PORT with swaks (files in $DEMO_DIR/mails)"
    echo "  (third column: what the milter should do: count it, see a duplicate, find no report,"
    echo "  or refuse it as unauthenticated; each report is DKIM-signed by the domain shown)"
    _bad=0
    _n=0
    while IFS='	' read -r _file _from _rcpts _fate _mid _signer; do
        _n=$((_n + 1))
        if [ "$_signer" != - ]; then
            /usr/bin/python3 "$SRCDIR/tests/lib/dkim-sign.py" sign "$KEYDIR/$_signer.pem" demo \
                "$_signer" "$DEMO_DIR/mails/$_file" "$DEMO_DIR/mails/$_file.signed" &&
                mv "$DEMO_DIR/mails/$_file.signed" "$DEMO_DIR/mails/$_file" || _bad=$((_bad + 1))
        fi
        _to=$(echo "$_rcpts" | tr ' ' ',')
        swaks --server "127.0.0.1:$PF_PORT" --helo sender.demo.invalid --from "$_from" \
            --to "$_to" --data "@$DEMO_DIR/mails/$_file" >"$DEMO_DIR/mails/$_file.swaks" 2>&1 </dev/null
        _st=$?
        _q=$(sed -n 's/^<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$DEMO_DIR/mails/$_file.swaks")
        [ "$_st" -eq 0 ] && [ -n "$_q" ] || { _bad=$((_bad + 1)); _q="NOT ACCEPTED (swaks exit $_st)"; }
        printf '  %-46s to %-44s %-15s %-13s queued as %s\n' "$_file" "$_rcpts" "$_fate" \
            "${_signer#-}" "$_q"
    done <"$MAN"
    [ "$_bad" -eq 0 ]
    check_result "Postfix accepted all $_n mails over SMTP" $? "$_bad not accepted (see $DEMO_DIR/mails/*.swaks)"
    svc_postfix_wait_queue 30
    check_result "Postfix queue empty: every mail delivered or discarded" $? "mail left in $PF_DIR/queue"
}

# Wait (at most $2 seconds) until file $1 has at least $3 lines matching $4.
wait_lines() {
    _i=0
    while [ "$_i" -lt $(($2 * 10)) ]; do
        [ "$(grep -c -- "$4" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    return 1
}

# Show the Postfix log and check the milter's discards.
demo_maillog() {
    _log=$PF_DIR/maillog
    # the deliveries: the non-report mail and the forged report to rua, the
    # rua+person report to the person
    wait_lines "$_log" 10 3 'status=sent'
    section "3. Postfix log ($_log; connect/disconnect lines left out)"
    grep -Ev 'postfix/smtpd\[[0-9]+\]: (connect|disconnect) from' "$_log" | indent
    _want=$(awk -F '\t' -v r="$RUA" '($4 == "counted" || $4 == "duplicate") && $3 == r' "$MAN" | wc -l)
    _got=$(grep -c 'milter triggers DISCARD action' "$_log")
    [ "$_got" -eq "$_want" ]
    check_result "Postfix log: $_want report mails sent only to $RUA were discarded by the milter" $? \
        "$_got 'milter triggers DISCARD action' lines, want $_want"
    _sent=$(grep -c "to=<$PERSON>.*status=sent" "$_log")
    _rua=$(grep -c "to=<$RUA>.*status=sent" "$_log")
    [ "$_sent" -eq 1 ] && [ "$_rua" -eq 2 ]
    check_result "Postfix log: one delivery to $PERSON, two to $RUA (the non-report mail, the forged report)" $? \
        "$_sent to $PERSON, $_rua to $RUA"
}

# Show the milter log and check one line per mail with the right outcome.
demo_milterlog() {
    section "4. tlsrpt-milter log ($SVC_TMP/milter.log)"
    indent "$SVC_TMP/milter.log"
    _wc=$(awk -F '\t' '$4 == "counted"' "$MAN" | wc -l)
    _wd=$(awk -F '\t' '$4 == "duplicate"' "$MAN" | wc -l)
    _c=$(grep -c ': counted org=' "$SVC_TMP/milter.log")
    _d=$(grep -c ': duplicate org=' "$SVC_TMP/milter.log")
    _n=$(grep -c 'not counted: reason=no-report' "$SVC_TMP/milter.log")
    _r=$(grep -c 'action=report-recipients-removed' "$SVC_TMP/milter.log")
    [ "$_c" -eq "$_wc" ] && [ "$_d" -eq "$_wd" ] && [ "$_n" -eq 1 ] && [ "$_r" -eq 1 ]
    check_result "milter log: $_wc reports counted, $_wd duplicate, 1 non-report mail delivered, 1 rua recipient removed" $? \
        "counted $_c, duplicate $_d, no-report $_n, recipient removed $_r"
    _s=$(grep -c -E ': (counted|duplicate) org="[^"]*" signer=(google\.com|microsoft\.com|mail\.ru) ' "$SVC_TMP/milter.log")
    [ "$_s" -eq $((_wc + _wd)) ]
    check_result "milter log: each counted report is counted under its DKIM signer (signer=google.com, ...)" $? \
        "$_s lines with a signer, want $((_wc + _wd))"
    grep -q 'not counted: reason=unauthenticated (d=evil.example not aligned with From domain google.com) org="Google Inc."' \
        "$SVC_TMP/milter.log"
    check_result "milter log: the forged Google report refused: reason=unauthenticated, d=evil.example not aligned with google.com" $?
}

# Print one header field of a mail file (first occurrence, unfolded).
mail_header() {
    awk -v h="$2" 'BEGIN { h = tolower(h) ":" }
        /^$/ { exit }
        /^[ \t]/ { if (on) v = v " " $0; next }
        { if (on) exit; if (tolower(substr($0, 1, length(h))) == h) { on = 1; v = substr($0, length(h) + 2) } }
        END { if (on) print v }' "$1"
}

# List the mails of one Maildir user: file, From, Subject, X-TLSRPT-Status.
show_maildir() {
    _files=$(find "$PF_MAILDIRS/$1/new" "$PF_MAILDIRS/$1/cur" -type f 2>/dev/null | sort)
    echo "  $PF_MAILDIRS/$1/  ($2): $(echo "$_files" | grep -c .) mail(s)"
    for _f in $_files; do
        echo "    $(basename "$_f")"
        echo "      From: $(mail_header "$_f" From)"
        echo "      Subject: $(mail_header "$_f" Subject)"
        _st=$(mail_header "$_f" X-TLSRPT-Status)
        echo "      X-TLSRPT-Status: ${_st:-(none)}"
    done
}

# Show both Maildirs and check what is (and is not) in them.
demo_maildirs() {
    section "5. Maildirs"
    show_maildir tlsrpt "$RUA"
    show_maildir postmaster "$PERSON"
    _nomid=$(awk -F '\t' '$4 == "no-report" { print $5 }' "$MAN")
    _fgmid=$(awk -F '\t' '$4 == "unauthenticated" { print $5 }' "$MAN")
    _pmid=$(awk -F '\t' -v p="$PERSON" 'index(" " $3 " ", " " p " ") { print $5 }' "$MAN")
    _got=
    for _f in $(find "$PF_MAILDIRS/tlsrpt/new" "$PF_MAILDIRS/tlsrpt/cur" -type f 2>/dev/null); do
        _got="$_got$(mail_header "$_f" Message-ID) $(mail_header "$_f" X-TLSRPT-Status)
"
    done
    [ "$(echo "$_got" | grep -v '^$' | sort)" = "$(printf '%s error; reason=no-report\n%s error; reason=unauthenticated\n' \
        "$_nomid" "$_fgmid" | sort)" ]
    check_result "rua Maildir: no counted report; the non-report mail (reason=no-report) and the forged report (reason=unauthenticated)" $? \
        "$(echo "$_got" | grep -v '^$' | tr '\n' '|')"
    _f=$(find "$PF_MAILDIRS/postmaster/new" -type f 2>/dev/null | head -1)
    [ "$(svc_maildir_count postmaster)" -eq 1 ] && [ -n "$_f" ] &&
        [ "$(mail_header "$_f" Message-ID)" = "$_pmid" ]
    check_result "postmaster Maildir: the person's copy of the report sent to both" $? \
        "$(svc_maildir_count postmaster) mail(s); first: $(mail_header "${_f:-/dev/null}" Message-ID), want $_pmid"
}

# Print one memcached value (empty when missing).
mc_get() {
    svc_mc_get "$MC_PORT" "$1"
}

# Show the main counters (memccat) and check all of them against the reports.
demo_counters() {
    section "6. memcached counters (memccat --servers=127.0.0.1:$MC_PORT KEY)"
    for _k in "${PREFIX}domains" "${PREFIX}d:$DOMAIN:days"; do
        printf '  %-62s %s\n' "$_k" "$(mc_get "$_k")"
    done
    awk -F '\t' '$1 == "C" && $2 !~ /:org:/ { print $2 }' "$EXP" | while read -r _k; do
        printf '  %-62s %s\n' "$PREFIX$_k" "$(mc_get "$PREFIX$_k")"
    done
    echo "  (per-organisation counters, d:D:DAY:org:ORG:ok|fail, are checked too)"
    _bad= _nk=0
    while IFS='	' read -r _t _k _v; do
        [ "$_t" = C ] || continue
        _nk=$((_nk + 1))
        _got=$(mc_get "$PREFIX$_k")
        [ "${_got:-missing}" = "$_v" ] || _bad="$_bad $_k=${_got:-missing}(want $_v)"
    done <"$EXP"
    [ -z "$_bad" ]
    check_result "memcached: all $_nk counters equal the sums of the reports sent" $? "$_bad"
    _bad= _nd=0 _sum=0
    while IFS='	' read -r _t _k _v; do
        case $_t:$_k in
            S:seen:*) _nd=$((_nd + 1))
                      [ -n "$(mc_get "$PREFIX$_k")" ] || _bad="$_bad no-marker($_v)" ;;
            S:reports) _want=$_v ;;
        esac
    done <"$EXP"
    for _d in $(mc_get "${PREFIX}d:$DOMAIN:days"); do
        _sum=$((_sum + $(mc_get "${PREFIX}d:$DOMAIN:$_d:reports" || echo 0)))
    done
    [ -z "$_bad" ] && [ "$_sum" -eq "$_want" ]
    check_result "dedup: $_nd distinct reports counted once each (the resent one was not counted again)" $? \
        "reports counted $_sum, want $_want;$_bad"
    [ -z "$(mc_get "${PREFIX}d:$DOMAIN:$TODAY:reports")$(mc_get "${PREFIX}d:$DOMAIN:$TODAY:fail")" ]
    check_result "the forged report changed no counter (no report and no failure for $TODAY)" $? \
        "d:$DOMAIN:$TODAY: reports $(mc_get "${PREFIX}d:$DOMAIN:$TODAY:reports"), fail $(mc_get "${PREFIX}d:$DOMAIN:$TODAY:fail")"
}

# Show tlsrpt-stats for the demo domain and write the HTML page.
demo_stats() {
    STATS=$BUILD/tlsrpt-stats
    section "7. tlsrpt-stats --servers 127.0.0.1:$MC_PORT --days 7 --today $TODAY $DOMAIN"
    if [ ! -x "$STATS" ]; then
        if ls "$SRCDIR"/tools/stats/*.c >/dev/null 2>&1; then
            check_result "tlsrpt-stats built" 1 "$STATS is missing: run make"
        else
            echo "  tlsrpt-stats not built yet: section skipped"
        fi
        return 0
    fi
    "$STATS" --servers "127.0.0.1:$MC_PORT" --days 7 --today "$TODAY" "$DOMAIN" \
        >"$DEMO_DIR/tlsrpt-stats.txt" 2>&1
    _st=$?
    indent "$DEMO_DIR/tlsrpt-stats.txt"
    _ok=$(awk -F '\t' '$1 == "S" && $2 == "total-ok" { print $3 }' "$EXP")
    _fail=$(awk -F '\t' '$1 == "S" && $2 == "total-fail" { print $3 }' "$EXP")
    _nrep=$(awk -F '\t' '$1 == "S" && $2 == "reports" { print $3 }' "$EXP")
    [ "$_st" -eq 0 ] && grep -q "$DOMAIN" "$DEMO_DIR/tlsrpt-stats.txt" &&
        grep -Eq "(^|[^0-9])$_nrep([^0-9]|$)" "$DEMO_DIR/tlsrpt-stats.txt" &&
        grep -Eq "(^|[^0-9])$_ok([^0-9]|$)" "$DEMO_DIR/tlsrpt-stats.txt" &&
        grep -Eq "(^|[^0-9])$_fail([^0-9]|$)" "$DEMO_DIR/tlsrpt-stats.txt"
    check_result "tlsrpt-stats: $DOMAIN with $_nrep reports, $_ok successful and $_fail failed sessions" $? \
        "exit $_st; see $DEMO_DIR/tlsrpt-stats.txt"
    section "8. HTML page"
    _html=$DEMO_DIR/tlsrpt-stats.html
    "$STATS" --servers "127.0.0.1:$MC_PORT" --days 7 --today "$TODAY" --format html \
        -o "$_html" "$DOMAIN" 2>"$DEMO_DIR/tlsrpt-stats-html.err"
    _st=$?
    echo "  written: $_html ($(wc -c <"$_html" 2>/dev/null || echo 0) bytes); open it in a browser:"
    echo "    file://$_html"
    [ "$_st" -eq 0 ] && grep -q "$DOMAIN" "$_html" && grep -qi '</html>' "$_html"
    check_result "HTML page written for $DOMAIN" $? "exit $_st: $(head -c 300 "$DEMO_DIR/tlsrpt-stats-html.err")"
}

# Every counter key with its value, sorted, set members sorted; the store's internal
# keys (epoch, index markers, saturation guards, per-day new-domain budgets) left out.
# mc_dump [--also EARLIER-DUMP]: that dump's keys are read with get too (the LRU crawler
# that lists the keys can skip an item being moved between its queues).
mc_dump() {
    /usr/bin/python3 "$SRCDIR/tests/lib/mc-dump.py" dump "$@" "127.0.0.1:$MC_PORT" |
        awk -F '\t' -v OFS='\t' '$1 ~ /:epoch$/ || $1 ~ /:ix:/ || $1 ~ /:max$/ ||
                $1 ~ /:newdomains$/ { next }
            $1 ~ /:seen:/ { split($2, w, " "); $2 = w[1]; print; next }
            { n = split($2, w, " "); if (n > 1) {
                  for (i = 2; i <= n; i++) { v = w[i]; j = i - 1
                      while (j > 0 && w[j] > v) { w[j + 1] = w[j]; j-- } w[j + 1] = v }
                  $2 = w[1]; for (i = 2; i <= n; i++) $2 = $2 " " w[i] }
              print }'
}

# memcached restarted empty: said, and rebuilt from the archive.
demo_rebuild() {
    _conf=$DEMO_DIR/tlsrpt-milter.conf
    section "9. memcached restarted empty (a Debian upgrade does that): lost, then rebuilt"
    _n=$(find "$ARCHIVE" -name '*.eml.gz' -path "$ARCHIVE/[0-9]*" | wc -l)
    echo "  the archive holds $_n mails ($ARCHIVE)"
    mc_dump >"$DEMO_DIR/counters-before.tsv"
    svc_stop memcached
    svc_memcached_start memcached "$MC_PORT" >/dev/null ||
        die "memcached did not restart: $(cat "$SVC_TMP/memcached.log")"
    echo "  \$ tlsrpt-stats -c $_conf --days 7 --today $TODAY $DOMAIN"
    "$BUILD/tlsrpt-stats" -c "$_conf" --days 7 --today "$TODAY" "$DOMAIN" >"$DEMO_DIR/stats-lost.txt" 2>&1
    grep -i 'lost' "$DEMO_DIR/stats-lost.txt" | head -3 | indent
    grep -qi 'lost' "$DEMO_DIR/stats-lost.txt" && grep -q 'tlsrpt-parse --rebuild' "$DEMO_DIR/stats-lost.txt"
    check_result "tlsrpt-stats says the counters were lost and names the command that rebuilds them" $? \
        "see $DEMO_DIR/stats-lost.txt"
    echo "  \$ tlsrpt-parse --rebuild -c $_conf"
    "$BUILD/tlsrpt-parse" --rebuild -c "$_conf" </dev/null >"$DEMO_DIR/rebuild.txt" 2>&1
    _st=$?
    indent "$DEMO_DIR/rebuild.txt"
    mc_dump --also "$DEMO_DIR/counters-before.tsv" >"$DEMO_DIR/counters-after.tsv"
    _keys=$(wc -l <"$DEMO_DIR/counters-before.tsv")
    [ "$_st" -eq 0 ] && [ "$_keys" -gt 0 ] && cmp -s "$DEMO_DIR/counters-before.tsv" "$DEMO_DIR/counters-after.tsv"
    check_result "tlsrpt-parse --rebuild restores every one of the $_keys counter keys exactly" $? \
        "exit $_st; diff $DEMO_DIR/counters-before.tsv $DEMO_DIR/counters-after.tsv"
    "$BUILD/tlsrpt-stats" -c "$_conf" --days 7 --today "$TODAY" "$DOMAIN" >"$DEMO_DIR/stats-rebuilt.txt" 2>&1
    ! grep -qi 'lost' "$DEMO_DIR/stats-rebuilt.txt"
    check_result "tlsrpt-stats after the rebuild: nothing lost" $? "see $DEMO_DIR/stats-rebuilt.txt"
}

# Run the demo.
main() {
    demo_preflight
    demo_scratch
    SVC_TMP=$DEMO_DIR
    . "$SRCDIR/tests/lib/services.sh"
    SVC_PF_STARTED=
    DEMO_FINISHED=
    demo_write_stop
    trap 'demo_exit $?' EXIT
    trap 'exit 130' INT TERM HUP
    echo "tlsrpt-milter demo: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), scratch directory $DEMO_DIR"
    demo_services
    demo_send
    demo_maillog
    demo_milterlog
    demo_maildirs
    demo_counters
    demo_stats
    demo_rebuild
    section "Result"
    DEMO_FINISHED=1
    demo_finish
    if [ "$N_FAILED" -eq 0 ]; then
        echo "demo: all $N_CHECKS checks passed"
        exit 0
    fi
    echo "demo: $N_FAILED of $N_CHECKS checks FAILED (see [FAIL] above; files in $DEMO_DIR)"
    exit 1
}

main "$@"
