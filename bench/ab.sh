# ab.sh - the A/B rows of bench/run.sh (sourced after lib.sh): the same milter with one
# feature on and off, measured in the same run, interleaved run by run:
#   2.dkim.c1/c32     Authentication dkim (2048-bit RSA signatures made here, keys from a
#                     DkimKeyFile) vs Authentication none, the milter alone (issue 9: >= 0.8)
#   2.arch.c1/c32     ArchiveDir on (in the run's temp directory: the disk under /tmp,
#                     fsync'd as in production) vs off, the milter alone (issue 10: >= 0.8)
#   2.archshm.c1/c32  ArchiveDir on /dev/shm (tmpfs: fsync costs nothing) vs off, for
#                     comparison only: what the archive costs without the disk's flushes
#   3.arch / 3.dkim   through Postfix (section 3's instance, Action tag), the archive or
#                     DKIM on vs Postfix without a milter (issue 10 / 9: >= 0.9)
#   5.vbomb8          eight value bombs (12 KB mails, 8 MB of {"x":[0,0,...]} each) at once
#                     on eight connections, MaxDecodeMemory 180M: peak VmHWM (reset before
#                     the burst) against MaxDecodeMemory + idle VmRSS + 8 MB (issue 13: <= 1)
# A row whose feature this build lacks (no ArchiveDir key; no python3-dkim for signing) is
# printed as "not run" with the reason; it does not fail the bench.
# Limits: the /dev/shm archive is removed at the end of section 2 (and by b_ab_cleanup).

AB_SHM=

# Print why the archive rows cannot run (nothing when they can): b_ab_no_archive CONF
b_ab_no_archive() {
    "$BUILD/tlsrpt-milter" -n -c "$1" >"$SVC_TMP/ab-probe.out" 2>&1 && return 0
    echo "tlsrpt-milter -n refuses ArchiveDir: $(grep -m1 -i archive "$SVC_TMP/ab-probe.out" || head -1 "$SVC_TMP/ab-probe.out")"
}

# A row that could not be measured: b_row_na ID FIGURE INPUTS TARGET WHY
b_row_na() {
    printf '%s\t%s\t%s\t-\tn/a\t-\t-\t%s\tnot run: %s\n' "$1" "$2" "$3" "$4" "$5" >>"$B_TABLE"
    printf '  -> %s %s: not run (%s)\n' "$1" "$2" "$5"
}

# The key of sender.test and the N_MIL mails signed with it in $W/mils (once); 0 when done.
b_ab_sign() {
    [ -f "$W/mils.done" ] && return 0
    /usr/bin/python3 -c 'import dkim' 2>/dev/null || return 1
    : >"$SVC_TMP/ab-keys.txt"
    /usr/bin/python3 "$SRC/tests/lib/dkim-sign.py" key "$SVC_TMP/ab.pem" bench sender.test \
        "$SVC_TMP/ab-keys.txt" || return 1
    mkdir -p "$W/mils"
    /usr/bin/python3 - "$SVC_TMP/ab.pem" "$W/mil" "$W/mils" <<'EOF' || return 1
import dkim, os, sys
key = open(sys.argv[1], "rb").read()
for n in sorted(os.listdir(sys.argv[2])):
    msg = open(os.path.join(sys.argv[2], n), "rb").read()
    sig = dkim.sign(msg, b"bench", b"sender.test", key, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                     b"mime-version", b"content-type"])
    open(os.path.join(sys.argv[3], n), "wb").write(sig + msg)
EOF
    : >"$W/mils.done"
}

# Section 2's A/B rows (after its own rows): DKIM and the archive, the milter alone.
b_milter_ab() {
    echo "== 2. (A/B) the same milter with DKIM / the archive on and off, milter-driver, $N_MIL distinct mails"
    _c="StoreTimeout 1000"
    svc_milter_conf "$SVC_TMP/abn.conf" "unix:$SVC_TMP/abn.sock" "127.0.0.1:$MC" "$_c" "LogLevel info"
    svc_milter_start abn "$SVC_TMP/abn.conf" "unix:$SVC_TMP/abn.sock" ||
        { b_fail 2 "tlsrpt-milter (Authentication none) does not start"; return; }
    _dk=1 _ar=1 _why_d= _why_a=
    if b_ab_sign; then
        svc_milter_conf "$SVC_TMP/abd.conf" "unix:$SVC_TMP/abd.sock" "127.0.0.1:$MC" "$_c" \
            "LogLevel info" "Authentication dkim" "DkimKeyFile $SVC_TMP/ab-keys.txt"
        svc_milter_start abd "$SVC_TMP/abd.conf" "unix:$SVC_TMP/abd.sock" ||
            { _dk= _why_d="tlsrpt-milter (Authentication dkim) does not start"; }
    else
        _dk= _why_d="no /usr/bin/python3 with python3-dkim to sign the mails"
    fi
    mkdir -p "$SVC_TMP/ab-arch"
    AB_SHM=$(mktemp -d /dev/shm/tlsrpt-bench.XXXXXX)
    svc_milter_conf "$SVC_TMP/aba.conf" "unix:$SVC_TMP/aba.sock" "127.0.0.1:$MC" "$_c" \
        "LogLevel info" "ArchiveDir $SVC_TMP/ab-arch"
    svc_milter_conf "$SVC_TMP/abs.conf" "unix:$SVC_TMP/abs.sock" "127.0.0.1:$MC" "$_c" \
        "LogLevel info" "ArchiveDir $AB_SHM"
    _why_a=$(b_ab_no_archive "$SVC_TMP/aba.conf")
    if [ -n "$_why_a" ]; then
        _ar=
    else
        svc_milter_start aba "$SVC_TMP/aba.conf" "unix:$SVC_TMP/aba.sock" &&
            svc_milter_start abs "$SVC_TMP/abs.conf" "unix:$SVC_TMP/abs.sock" ||
            { _ar= _why_a="tlsrpt-milter with ArchiveDir does not start"; }
    fi
    for _j in 1 32; do
        _per=$((N_MIL / _j))
        _tn= _td= _ta= _ts= _cnt=
        for _r in $(seq "$RUNS"); do
            svc_mc_flush "$MC"
            _s=$(b_drive "unix:$SVC_TMP/abn.sock" "$_j" "$_per" "$W"/mil/*.eml)
            _tn="$_tn $(b_field "$_s" ms)" _cnt="$_cnt n$(b_field "$_s" discard)"
            if [ -n "$_dk" ]; then
                svc_mc_flush "$MC"
                _s=$(b_drive "unix:$SVC_TMP/abd.sock" "$_j" "$_per" "$W"/mils/*.eml)
                _td="$_td $(b_field "$_s" ms)" _cnt="$_cnt/d$(b_field "$_s" discard)"
            fi
            if [ -n "$_ar" ]; then
                svc_mc_flush "$MC"
                _s=$(b_drive "unix:$SVC_TMP/aba.sock" "$_j" "$_per" "$W"/mil/*.eml)
                _ta="$_ta $(b_field "$_s" ms)" _cnt="$_cnt/a$(b_field "$_s" discard)"
                svc_mc_flush "$MC"
                _s=$(b_drive "unix:$SVC_TMP/abs.sock" "$_j" "$_per" "$W"/mil/*.eml)
                _ts="$_ts $(b_field "$_s" ms)" _cnt="$_cnt/s$(b_field "$_s" discard)"
            fi
        done
        _n=$((_per * _j))
        echo "   $_j conn: ms none:$_tn; dkim:${_td:- -}; archive:${_ta:- -}; archive on /dev/shm:${_ts:- -}"
        echo "   $_j conn: discarded (= counted) of $_n per run, n=none d=dkim a=archive s=/dev/shm:$_cnt"
        _mn=$(b_median $_tn)
        if [ -n "$_dk" ]; then
            b_row "2.dkim.c$_j" "mails/s" "$_n signed mails (RSA 2048), $_j conn, dkim vs none" "$RUNS" \
                "$(b_rate "$_n" "$(b_median $_td)")" "none $(b_rate "$_n" "$_mn")" \
                "$(b_ratio "$_tn" "$_td")" ">=0.8"
        else
            b_row_na "2.dkim.c$_j" "mails/s" "$_n signed mails, $_j conn, dkim vs none" ">=0.8" "$_why_d"
        fi
        if [ -n "$_ar" ]; then
            b_row "2.arch.c$_j" "mails/s" "$_n mails, $_j conn, ArchiveDir (fsync) vs none" "$RUNS" \
                "$(b_rate "$_n" "$(b_median $_ta)")" "none $(b_rate "$_n" "$_mn")" \
                "$(b_ratio "$_tn" "$_ta")" ">=0.8"
            b_row "2.archshm.c$_j" "mails/s" "$_n mails, $_j conn, ArchiveDir on tmpfs (no-fsync cost) vs none" \
                "$RUNS" "$(b_rate "$_n" "$(b_median $_ts)")" "none $(b_rate "$_n" "$_mn")" \
                "$(b_ratio "$_tn" "$_ts")" "-"
        else
            b_row_na "2.arch.c$_j" "mails/s" "$_n mails, $_j conn, ArchiveDir vs none" ">=0.8" "$_why_a"
        fi
    done
    [ -n "$_ar" ] && echo "   archive entries: $(find "$SVC_TMP/ab-arch" -name '*.eml.gz' | wc -l) on disk, $(find "$AB_SHM" -name '*.eml.gz' | wc -l) on /dev/shm"
    svc_stop abn abd aba abs
    b_ab_cleanup
}

# Remove the /dev/shm archive (run.sh's exit path calls it too).
b_ab_cleanup() {
    case $AB_SHM in /dev/shm/tlsrpt-bench.*) rm -rf "$AB_SHM" ;; esac
    AB_SHM=
}

# Section 3's A/B listeners, after svc_postfix_start and before the reload: start the
# milters and add their smtpd lines to master.cf. Sets AB_PA / AB_PD (the smtpd ports;
# empty when that row cannot run, AB_WHY_A / AB_WHY_D saying why).
b_postfix_ab_start() {
    AB_PA= AB_PD= AB_WHY_A= AB_WHY_D= AB_T3A= AB_T3D=
    _ma=$(svc_free_port) _md=$(svc_free_port)
    mkdir -p "$SVC_TMP/ab3-arch"
    svc_milter_conf "$SVC_TMP/m3a.conf" "inet:$_ma@127.0.0.1" "127.0.0.1:$MC" \
        "StoreTimeout 1000" "LogLevel info" "Action tag" "ArchiveDir $SVC_TMP/ab3-arch"
    AB_WHY_A=$(b_ab_no_archive "$SVC_TMP/m3a.conf")
    if [ -z "$AB_WHY_A" ]; then
        if svc_milter_start m3a "$SVC_TMP/m3a.conf" "inet:$_ma@127.0.0.1"; then
            AB_PA=$(svc_free_port)
            echo "127.0.0.1:$AB_PA inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$_ma" \
                >>"$PF_DIR/conf/master.cf"
        else
            AB_WHY_A="tlsrpt-milter with ArchiveDir does not start"
        fi
    fi
    if b_ab_sign; then
        svc_milter_conf "$SVC_TMP/m3d.conf" "inet:$_md@127.0.0.1" "127.0.0.1:$MC" \
            "StoreTimeout 1000" "LogLevel info" "Action tag" "Authentication dkim" \
            "DkimKeyFile $SVC_TMP/ab-keys.txt"
        if svc_milter_start m3d "$SVC_TMP/m3d.conf" "inet:$_md@127.0.0.1"; then
            AB_PD=$(svc_free_port)
            echo "127.0.0.1:$AB_PD inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$_md" \
                >>"$PF_DIR/conf/master.cf"
        else
            AB_WHY_D="tlsrpt-milter (Authentication dkim) does not start"
        fi
    else
        AB_WHY_D="no /usr/bin/python3 with python3-dkim to sign the mails"
    fi
}

# Wait for the A/B listeners after the reload; 0 when every started one listens.
b_postfix_ab_wait() {
    { [ -z "$AB_PA" ] || svc_wait_port "$AB_PA"; } && { [ -z "$AB_PD" ] || svc_wait_port "$AB_PD"; }
}

# One run of each A/B listener (inside section 3's loop, after its own runs).
b_postfix_ab_run() {
    if [ -n "$AB_PA" ]; then svc_mc_flush "$MC"; AB_T3A="$AB_T3A $(b_pf_once "$AB_PA")"; fi
    if [ -n "$AB_PD" ]; then svc_mc_flush "$MC"; AB_T3D="$AB_T3D $(b_pf_once "$AB_PD" "$W/mils")"; fi
}

# The A/B rows of section 3: b_postfix_ab_rows "NO-MILTER MS LIST"; stops the A/B milters.
b_postfix_ab_rows() {
    echo "   ms tlsrpt-milter + archive inet:${AB_T3A:- -}; tlsrpt-milter + dkim inet (signed mails):${AB_T3D:- -}"
    _t0=$(b_median $1)
    case "$AB_T3A $AB_T3D" in *fail*) b_fail 3 "an A/B postfix run did not deliver everything"; return ;; esac
    if [ -n "$AB_PA" ]; then
        b_row 3.arch "delivered mails/s" "$N_MIL mails, 8 sessions, milter + ArchiveDir on TCP" "$RUNS" \
            "$(b_rate "$N_MIL" "$(b_median $AB_T3A)")" "no milter $(b_rate "$N_MIL" "$_t0")" \
            "$(b_ratio "$1" "$AB_T3A")" ">=0.9"
    else
        b_row_na 3.arch "delivered mails/s" "$N_MIL mails, 8 sessions, milter + ArchiveDir" ">=0.9" "$AB_WHY_A"
    fi
    if [ -n "$AB_PD" ]; then
        b_row 3.dkim "delivered mails/s" "$N_MIL signed mails, 8 sessions, milter + dkim on TCP" "$RUNS" \
            "$(b_rate "$N_MIL" "$(b_median $AB_T3D)")" "no milter $(b_rate "$N_MIL" "$_t0")" \
            "$(b_ratio "$1" "$AB_T3D")" ">=0.9"
    else
        b_row_na 3.dkim "delivered mails/s" "$N_MIL signed mails, 8 sessions, milter + dkim" ">=0.9" "$AB_WHY_D"
    fi
    svc_stop m3a m3d
}

# Section 5's value-bomb row: eight value bombs at once, MaxDecodeMemory 180M.
b_vbomb() {
    python3 - "$W" <<'EOF' || { b_fail 5 "value bombs not generated"; return; }
import base64, gzip, os, sys
os.makedirs(os.path.join(sys.argv[1], "vbomb"), exist_ok=True)
for n in range(8):
    js = ('{"organization-name":"Bomb","report-id":"bomb-%d","x":[' % n).encode()
    js += b",".join([b"0"] * 4000000) + b"]}"
    b64 = base64.encodebytes(gzip.compress(js, 9, mtime=0)).decode()
    with open(os.path.join(sys.argv[1], "vbomb", "bomb%d.eml" % n), "w") as f:
        f.write("From: Bomb <bomb@reporter.test>\nTo: rua@rua.test\nSubject: bomb %d\n"
                "MIME-Version: 1.0\nContent-Type: multipart/report; boundary=\"XX\"\n\n"
                "--XX\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n"
                "\n%s--XX--\n" % (n, b64))
EOF
    svc_milter_conf "$SVC_TMP/m5v.conf" "unix:$SVC_TMP/m5v.sock" "127.0.0.1:$MC" \
        "StoreTimeout 1000" "LogLevel info" "MaxDecodeMemory 180M"
    _pk= _id= _lim= _s=
    for _r in $(seq "$RUNS"); do
        _pid=$(b_mem_milter "m5v-$_r" "$SVC_TMP/m5v.conf") || { b_fail 5 "tlsrpt-milter does not start"; return; }
        sleep 0.3
        _i=$(b_rss "$_pid")
        echo 5 >"/proc/$_pid/clear_refs"      # VmHWM := VmRSS: the peak of the burst only
        _s=$(b_drive "unix:$SVC_TMP/m5v-$_r.sock" 8 1 "$W"/vbomb/*.eml)
        _h=$(b_hwm "$_pid")
        _pk="$_pk $_h" _id="$_id $_i" _lim="$_lim $((180 * 1024 + _i + 8192))"
        svc_stop "m5v-$_r" &
    done
    wait
    echo "   8 value bombs at once: last SUMMARY $_s"
    echo "   VmRSS idle kB:$_id; VmHWM during the burst kB:$_pk"
    b_row 5.vbomb8 "peak RSS MB" "8 value bombs (8 MB JSON each) at once, MaxDecodeMemory 180M" "$RUNS" \
        "$(b_calc "%.1f" "$(b_median $_pk) / 1024")" \
        "180 + idle $(b_calc "%.1f" "$(b_median $_id) / 1024") + 8" "$(b_ratio "$_pk" "$_lim")" "<=1"
}
