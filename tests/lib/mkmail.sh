# mkmail.sh - build test mails (POSIX sh functions, source this file).
#
#   mk_report_mail SRC OUT [DOMAIN] [TO]
#       OUT = a multipart/report mail carrying SRC (a .json or gzip'd .json
#       report, sniffed by its magic bytes) as application/tlsrpt+gzip or
#       application/tlsrpt+json, base64. TLS-Report-Domain: DOMAIN is added
#       when DOMAIN is not empty.
#   mk_part_mail OUT CTYPE CTE BODYFILE [DOMAIN] [TO]
#       the same frame with a report part whose Content-Type, transfer
#       encoding and (already encoded) body are given verbatim: for corrupt
#       parts.
#   mk_multi_mail OUT DOMAIN SRC...
#       one multipart/report mail with a text part and one attachment per SRC
#       (each as mk_report_mail would attach it; a SRC ending in .bad is
#       attached as application/tlsrpt+gzip whatever it holds: a corrupt part),
#       in the order given.
#   mk_gzip SRC OUT          gzip -n a file (reproducible bytes).
#   mk_tsv_line TSV FILE     the line of FILE in an expected.tsv.
#   mk_tsv_domain TSV FILE   the first non-empty policy domain of FILE in TSV.
# Limits: none beyond the tools (base64, gzip, od from coreutils/gzip).

# Write the mail frame around a report part: mk__frame OUT CTYPE CTE FNAME DOMAIN TO BODYFILE
mk__frame() {
    {
        printf 'From: TLS reporter <noreply-tlsrpt@reporter.test>\n'
        printf 'To: %s\n' "${6:-rua@rua.test}"
        printf 'Subject: Report Domain: %s Submitter: reporter.test\n' "${5:-unknown}"
        printf 'Date: Fri, 02 Jan 2026 10:00:00 +0000\n'
        printf 'Message-ID: <%s.%s@reporter.test>\n' "$(basename "$1")" "$$"
        [ -n "$5" ] && printf 'TLS-Report-Domain: %s\n' "$5"
        printf 'TLS-Report-Submitter: reporter.test\n'
        printf 'MIME-Version: 1.0\n'
        printf 'Content-Type: multipart/report; report-type="tlsrpt";\n'
        printf '\tboundary="=_tlsrpt_test_boundary"\n\n'
        printf 'This is a MIME-formatted message.\n\n'
        printf -- '--=_tlsrpt_test_boundary\n'
        printf 'Content-Type: text/plain; charset=us-ascii\n\n'
        printf 'This is an aggregate TLS report from reporter.test.\n\n'
        printf -- '--=_tlsrpt_test_boundary\n'
        printf 'Content-Type: %s\n' "$2"
        printf 'Content-Transfer-Encoding: %s\n' "$3"
        printf 'Content-Disposition: attachment; filename="%s"\n\n' "$4"
        cat "$7"
        printf '\n--=_tlsrpt_test_boundary--\n'
    } >"$1"
}

mk_report_mail() {
    _src=$1 _out=$2
    if [ "$(od -An -tx1 -N2 "$_src" | tr -d ' \n')" = 1f8b ]; then
        _ct=application/tlsrpt+gzip _fn=report.json.gz
    else
        _ct=application/tlsrpt+json _fn=report.json
    fi
    base64 -w 76 "$_src" >"$_out.b64" || return 1
    mk__frame "$_out" "$_ct" base64 "$_fn" "$3" "$4" "$_out.b64"
    rm -f "$_out.b64"
}

mk_multi_mail() {
    _out=$1 _dom=$2
    shift 2
    {
        printf 'From: TLS reporter <noreply-tlsrpt@reporter.test>\nTo: rua@rua.test\n'
        printf 'Subject: Report Domain: %s Submitter: reporter.test\n' "${_dom:-unknown}"
        printf 'Date: Fri, 02 Jan 2026 10:00:00 +0000\n'
        printf 'Message-ID: <%s.%s@reporter.test>\n' "$(basename "$_out")" "$$"
        [ -n "$_dom" ] && printf 'TLS-Report-Domain: %s\n' "$_dom"
        printf 'TLS-Report-Submitter: reporter.test\nMIME-Version: 1.0\n'
        printf 'Content-Type: multipart/report; report-type="tlsrpt";\n\tboundary="=_multi"\n\n'
        printf -- '--=_multi\nContent-Type: text/plain; charset=us-ascii\n\n'
        printf 'These are %d aggregate TLS reports from reporter.test.\n\n' "$#"
        _k=0
        for _src in "$@"; do
            _k=$((_k + 1))
            if [ "${_src%.bad}" != "$_src" ] ||
               [ "$(od -An -tx1 -N2 "$_src" | tr -d ' \n')" = 1f8b ]; then
                _ct=application/tlsrpt+gzip _fn=report$_k.json.gz
            else
                _ct=application/tlsrpt+json _fn=report$_k.json
            fi
            printf -- '--=_multi\nContent-Type: %s\nContent-Transfer-Encoding: base64\n' "$_ct"
            printf 'Content-Disposition: attachment; filename="%s"\n\n' "$_fn"
            base64 -w 76 "$_src"
            printf '\n'
        done
        printf -- '--=_multi--\n'
    } >"$_out"
}

mk_part_mail() {
    mk__frame "$1" "$2" "$3" report.bin "$5" "$6" "$4"
}

mk_gzip() {
    gzip -n -c "$1" >"$2"
}

mk_tsv_line() {
    awk -F '\t' -v f="$2" '$1 == f' "$1"
}

mk_tsv_domain() {
    mk_tsv_line "$1" "$2" | awk -F '\t' '{
        n = split($6, p, ";")
        for (i = 1; i <= n; i++) { split(p[i], f, ":"); if (f[1] != "") { print f[1]; exit } } }'
}
