# faults.sh - shared setup and checks of the fault tests (tests/t-e2e-faults*.sh, issue 10):
# a private Postfix whose smtpd uses one tlsrpt-milter on a fixed loopback port (restarted
# with another configuration per scenario), mails signed at test time by reporter.test,
# sent like a sender's queue would (retrying 4xx), and the checks every scenario shares.
# Source after checks.sh and services.sh (POSIX sh).
#
#   fl_init NAME          SKIP (exit 0) when a prerequisite is missing, when the milter
#                         does not know ArchiveDir (issue 10's archive not in this build);
#                         else svc_init, the key, the Postfix, $W, $FL_PORT (the milter's)
#   fl_conf FILE ARCHDIR SERVERS [LINE...]   the milter config of a scenario: Authentication
#                         dkim with the test key, ArchiveDir ARCHDIR, MemcachedServers SERVERS
#   fl_milter NAME CONF   (re)start the milter NAME on $FL_PORT with CONF (stops "$FL_CUR")
#   fl_gen PREFIX N KIND [--mx M] [--pad B]  mails $W/PREFIX-I.eml + $W/PREFIX.manifest
#   fl_send SESSIONS LOG FILE...   send, retrying 4xx for 90 s; prints the summary line
#                         (FL_RECONNECT=K: a new SMTP session after every K mails)
#   fl_settle WHAT        wait for the Postfix queue to empty (a stuck queue is a failure)
#   fl_pending_wait DIR SECS  0 when DIR/pending/ is empty within SECS
#   fl_mark               remember where the maillog ends (the scenario's log starts there)
#   fl_no_loss NAME LOG N [DELIVERED]   every one of the N files accepted once (no 5xx, no
#                         4xx), the maillog since fl_mark says each accepted mail was either
#                         discarded by the milter or delivered to rua (DELIVERED of them, when
#                         given), none bounced or rejected, and the Maildir grew by as many
#   fl_counters NAME EXPECT SERVER...   every counter of EXPECT (fault-mails.py expect
#                         output) equal in the union of the servers, every member present;
#                         with FL_ATMOST=1: none above its expected value instead
#   fl_dump FILE [--also EARLIER] SERVER...  every key of the servers into FILE (mc-dump.py;
#                         --also: the keys of an earlier dump read with get too), without the
#                         keys store/store.h calls internal: P epoch (wall clock), P ix:H
#                         (index member markers), P org:ORG:A:newdomains and P d:D:Y:max
#                         (budget and saturation guards; the rebuild deletes the latter);
#                         a dedup marker's value is cut to its entry id (the live marker says
#                         "ID sent", a rebuilt one "ID rebuilt"); a set's members sorted
#   fl_committed_ids DIR OUT   report-ids of the committed archive entries of DIR (those
#                         whose DAY/ID.eml.gz exists: spool/README.md I1) into OUT
#   fl_has_rebuild        0 when tlsrpt-parse knows --rebuild
# Limits: every wait is bounded.

FL_PY=/usr/bin/python3
FL_LIB=$TLSRPT_SRCDIR/tests/lib

# SKIP or set up: svc_init, the key, the archive probe, the Postfix.
fl_init() {
    FL_NAME=$1
    [ -x "$BUILD/tlsrpt-milter" ] || { t_skip "$FL_NAME" "tlsrpt-milter not built"; exit 0; }
    for _c in postfix postconf memcached memccat python3 openssl; do
        command -v "$_c" >/dev/null 2>&1 || { t_skip "$FL_NAME" "$_c not installed"; exit 0; }
    done
    $FL_PY -c 'import dkim' 2>/dev/null || { t_skip "$FL_NAME" "python3-dkim missing"; exit 0; }
    [ "$(id -u)" = 0 ] || { t_skip "$FL_NAME" "a private Postfix instance needs root"; exit 0; }
    svc_init
    W=$SVC_TMP/w
    mkdir -p "$W"
    KEYS=$SVC_TMP/keys.txt
    : >"$KEYS"
    $FL_PY "$FL_LIB/dkim-sign.py" key "$SVC_TMP/reporter.pem" faults reporter.test "$KEYS" ||
        { t_fail "$FL_NAME: key" "dkim-sign.py key failed"; exit 1; }
    FL_PORT=$(svc_free_port) || { t_fail "$FL_NAME: free port" "none"; exit 1; }
    # Does this build have the archive? (-n refuses an unknown key)
    mkdir -p "$SVC_TMP/probe.arch"
    fl_conf "$SVC_TMP/probe.conf" "$SVC_TMP/probe.arch" 127.0.0.1:1
    if ! "$BUILD/tlsrpt-milter" -n -c "$SVC_TMP/probe.conf" >"$SVC_TMP/probe.out" 2>&1; then
        if grep -qi 'ArchiveDir' "$SVC_TMP/probe.out"; then
            t_skip "$FL_NAME" "this tlsrpt-milter does not know ArchiveDir (issue 10's archive, branch archive, not merged): $(head -1 "$SVC_TMP/probe.out")"
            exit 0
        fi
        t_fail "$FL_NAME: tlsrpt-milter -n of the test config" "$(head -3 "$SVC_TMP/probe.out" | tr '\n' '|')"
        exit 1
    fi
    FL_CUR=
    if ! svc_postfix_start "inet:127.0.0.1:$FL_PORT"; then
        t_fail "$FL_NAME: postfix start" "$(tail -5 "$SVC_TMP/postfix.log" "$SVC_TMP/pf/maillog" 2>/dev/null | tr '\n' '|')"
        exit 1
    fi
    # a milter that takes a while to answer must not be given up on at once
    postconf -c "$PF_DIR/conf" -e milter_content_timeout=60s milter_command_timeout=30s \
        default_process_limit=40 >/dev/null
    postfix -c "$PF_DIR/conf" reload >>"$SVC_TMP/postfix.log" 2>&1
    t_pass "$FL_NAME: private postfix started (smtpd on $PF_PORT, milter on $FL_PORT)"
}

# The milter config of a scenario.
fl_conf() {
    _fc=$1 _fa=$2 _fs=$3
    shift 3
    svc_milter_conf "$_fc" "inet:$FL_PORT@127.0.0.1" "$_fs" "Authentication dkim" \
        "DkimKeyFile $KEYS" "ArchiveDir $_fa" "StoreTimeout 1000" "LogLevel info" "$@"
}

# (Re)start the milter on $FL_PORT.
fl_milter() {
    [ -n "$FL_CUR" ] && svc_stop "$FL_CUR"
    FL_CUR=$1
    svc_milter_start "$1" "$2" "inet:$FL_PORT@127.0.0.1" ||
        { t_fail "milter $1 start" "$(tail -3 "$SVC_TMP/$1.log" | tr '\n' '|')"; return 1; }
}

# Make mails with fault-mails.py gen.
fl_gen() {
    _p=$1 _n=$2 _k=$3
    shift 3
    $FL_PY "$FL_LIB/fault-mails.py" gen "$W" "$_p" "$_n" "$_k" "$SVC_TMP/reporter.pem" faults \
        reporter.test "$@" || t_fail "mails $_p" "fault-mails.py gen failed"
}

# Send files through the private Postfix like a queue (smtp-send.py).
fl_send() {
    _s=$1 _l=$2
    shift 2
    python3 "$FL_LIB/smtp-send.py" "$PF_PORT" "$_s" "$_l" --retry 90 ${FL_RECONNECT:+--reconnect $FL_RECONNECT} "$@"
}

# Wait for the Postfix queue to empty.
fl_settle() {
    svc_postfix_wait_queue 90 ||
        t_fail "postfix queue empties ($1)" "$(postqueue -c "$PF_DIR/conf" -p 2>&1 | tail -3 | tr '\n' '|')"
    sleep 1     # postlogd writes the last lines
}

# Wait until an archive has no pending entry.
fl_pending_wait() {
    _n=0
    while [ $_n -lt $(($2 * 5)) ]; do
        [ -z "$(ls -A "$1/pending" 2>/dev/null)" ] && return 0
        sleep 0.2
        _n=$((_n + 1))
    done
    return 1
}

# Remember where the maillog and the rua Maildir stand.
fl_mark() {
    FL_MARK=$(wc -l <"$PF_DIR/maillog" 2>/dev/null || echo 0)
    FL_RUA0=$(svc_maildir_count rua)
}

# The maillog lines since fl_mark.
fl_log() {
    tail -n +"$((FL_MARK + 1))" "$PF_DIR/maillog"
}

# Every mail accepted once, and discarded or delivered, none bounced.
fl_no_loss() {
    _nm=$1 _lg=$2 _nf=$3 _want=$4
    _acc=$(awk -F '\t' '$2 == 250 { a[$1] = 1 } END { n = 0; for (f in a) n++; print n }' "$_lg")
    _twice=$(awk -F '\t' '$2 == 250 { a[$1]++ } END { n = 0; for (f in a) if (a[f] > 1) n++; print n }' "$_lg")
    _5xx=$(awk -F '\t' '$2 ~ /^5/' "$_lg" | wc -l)
    _4xx=$(awk -F '\t' '$2 ~ /^4/ || $2 == "conn"' "$_lg" | wc -l)
    t_eq "$_nm: all $_nf mails accepted over SMTP" "$_acc" "$_nf"
    t_eq "$_nm: none accepted twice" "$_twice" 0
    t_eq "$_nm: no SMTP answer 5xx" "$_5xx" 0
    t_eq "$_nm: no SMTP answer 4xx (with an archive a store failure neither bounces nor tempfails)" "$_4xx" 0
    fl_log >"$W/$_nm.maillog"
    _disc=$(grep -c 'milter-discard' "$W/$_nm.maillog")
    _dlv=$(grep -c 'to=<rua@rua.test>.*status=sent' "$W/$_nm.maillog")
    _bnc=$(grep -Ec 'status=(bounced|deferred)|milter-reject' "$W/$_nm.maillog")
    echo "# $_nm: accepted $_acc, discarded $_disc, delivered $_dlv, bounced/deferred/rejected $_bnc"
    t_eq "$_nm: no mail lost (discarded + delivered = accepted)" "$((_disc + _dlv))" "$_acc"
    t_eq "$_nm: none bounced, deferred or rejected (maillog)" "$_bnc" 0
    t_eq "$_nm: the rua Maildir holds the delivered ones" "$(($(svc_maildir_count rua) - FL_RUA0))" "$_dlv"
    [ -z "$_want" ] || t_eq "$_nm: delivered to rua" "$_dlv" "$_want"
}

# The counters of the servers against an expectation.
fl_counters() {
    _nm=$1 _ex=$2
    shift 2
    $FL_PY "$FL_LIB/mc-dump.py" dump "$@" >"$_ex.dump" ||
        { t_fail "$_nm" "mc-dump.py failed"; return; }
    # the expected keys read directly too (the crawler's listing may skip a locked item),
    # and the links of chained sets they name
    awk -F '\t' '$1 == "C" || $1 == "M" { print $2 }' "$_ex" | sort -u |
        $FL_PY "$FL_LIB/mc-dump.py" get "$@" >"$_ex.get" ||
        { t_fail "$_nm" "mc-dump.py get failed"; return; }
    awk -F '\t' '{ n = split($2, w, " "); for (i = 1; i <= n; i++) if (w[i] ~ /^\+[0-9]+$/)
                   print $1 ":" w[i] }' "$_ex.get" |
        $FL_PY "$FL_LIB/mc-dump.py" get "$@" >>"$_ex.get"
    _miss=$(cut -f1 "$_ex.get" | sort -u | comm -23 - "$(cut -f1 "$_ex.dump" | sort -u >"$_ex.listed"; echo "$_ex.listed")" | wc -l)
    [ "$_miss" -eq 0 ] || echo "# $_nm: $_miss expected key(s) found by get but not in the crawler's listing"
    cat "$_ex.get" >>"$_ex.dump"
    _bad=$(awk -F '\t' -v atmost="${FL_ATMOST:-0}" '
        NR == FNR { v[$1] = $2; next }
        $1 == "C" { n++; g = ($2 in v) ? v[$2] : 0
                    if (atmost ? g + 0 > $3 + 0 : g + 0 != $3 + 0) { b++; if (b <= 5) s = s " " $2 "=" g "(want " $3 ")" } }
        $1 == "M" { n++; m = 0; base = $2
                    for (k in v) if (k == base || index(k, base ":+") == 1) {
                        w = " " v[k] " "; if (index(w, " " $3 " ")) m = 1 }
                    if (!m && !atmost) { b++; if (b <= 5) s = s " " base " lacks " $3 } }
        END { if (!n) print "no expected keys"; else if (b) print b " wrong:" s }' "$_ex.dump" "$_ex")
    if [ -z "$_bad" ]; then t_pass "$_nm ($(grep -c . "$_ex") keys)"; else t_fail "$_nm" "$_bad"; fi
}

# Every non-internal key of the servers, normalised, into a file.
fl_dump() {
    _out=$1
    shift
    $FL_PY "$FL_LIB/mc-dump.py" dump "$@" |
        awk -F '\t' -v OFS='\t' '$1 ~ /^tlsrpt:epoch$/ || $1 ~ /^tlsrpt:org:[^:]*:[0-9-]*:newdomains$/ ||
                $1 ~ /^tlsrpt:ix:/ || $1 ~ /^tlsrpt:d:[^:]*:[0-9-]*:max$/ { next }
            $1 ~ /^tlsrpt:seen:/ { split($2, w, " "); $2 = w[1]; print; next }
            { n = split($2, w, " "); if (n > 1) { # a set: its members in order
                  for (i = 2; i <= n; i++) { v = w[i]; j = i - 1
                      while (j > 0 && w[j] > v) { w[j + 1] = w[j]; j-- } w[j + 1] = v }
                  $2 = w[1]; for (i = 2; i <= n; i++) $2 = $2 " " w[i] }
              print }' >"$_out"
}

# The report-ids of an archive's committed entries.
fl_committed_ids() {
    find "$1" -mindepth 2 -maxdepth 2 -name '*.eml.gz' -path "$1/[0-9]*" 2>/dev/null |
        sed 's/\.eml\.gz$/.meta/' | xargs -r sed -n 's/^report-id //p' | sort -u >"$2"
}

# Does tlsrpt-parse know --rebuild?
fl_has_rebuild() {
    "$BUILD/tlsrpt-parse" --help 2>&1 | grep -q -- '--rebuild'
}
