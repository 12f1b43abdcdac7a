# checks.sh - PASS/FAIL/SKIP helpers for the shell tests (source this file).
#
#   t_pass NAME | t_fail NAME WHY | t_skip NAME WHY
#   t_need NAME WORD...              SKIP NAME and end the script unless each WORD is
#                                    there: with a / a file that must be executable
#                                    ("... not built"), else a command ("... not installed")
#   t_check NAME COMMAND...          PASS when the command succeeds
#   t_eq NAME GOT WANT               PASS when the strings are equal
#   t_grep NAME FILE REGEX           PASS when a line of FILE matches (grep -E)
#   t_nogrep NAME FILE REGEX         PASS when no line of FILE matches
#   t_counters NAME PORT PREFIX TSV  compare memcached with the sums of the
#                                    reports listed in TSV (expected.tsv lines in
#                                    the order they were sent; see expect.awk)
#   svc_after_stop                   (called by services.sh's cleanup) no sanitizer
#                                    report in the logs of the milters it ran
# T_FAILS counts the failures of this script.

T_FAILS=0
LIBDIR=${TLSRPT_SRCDIR:-.}/tests/lib

t_pass() { echo "PASS: $1"; }
t_skip() { echo "SKIP: $1 ($2)"; }
t_need() {
    _tn=$1
    shift
    for _w in "$@"; do
        case $_w in
            */*) [ -x "$_w" ] || { t_skip "$_tn" "$(basename "$_w") not built"; exit 0; } ;;
            *) command -v "$_w" >/dev/null 2>&1 || { t_skip "$_tn" "$_w not installed"; exit 0; } ;;
        esac
    done
}
t_fail() {
    echo "FAIL: $1 ($2)"
    T_FAILS=$((T_FAILS + 1))
}

t_check() {
    _n=$1
    shift
    if "$@" >/dev/null 2>&1; then t_pass "$_n"; else t_fail "$_n" "command failed: $*"; fi
}

t_eq() {
    if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1" "got '$2', want '$3'"; fi
}

t_grep() {
    if grep -Eq -- "$3" "$2" 2>/dev/null; then t_pass "$1"
    else t_fail "$1" "no line matching '$3' in $(basename "$2"): $(head -c 400 "$2" 2>/dev/null | tr '\n' '|')"; fi
}

t_nogrep() {
    if grep -Eq -- "$3" "$2" 2>/dev/null; then
        t_fail "$1" "unexpected line in $(basename "$2"): $(grep -E -- "$3" "$2" | head -1)"
    else t_pass "$1"; fi
}

# Every expected counter equal, every expected index member present; one line.
t_counters() {
    _name=$1 _port=$2 _prefix=$3 _tsv=$4
    _bad= _nk=0
    LC_ALL=C awk -v P="$_prefix" -v PT="$LIBDIR/ptypes.tsv" -f "$LIBDIR/expect.awk" "$_tsv" >"$_tsv.expect"
    while IFS='	' read -r _kind _key _val; do
        _got=$(memccat --servers="127.0.0.1:$_port" "$_key" 2>/dev/null)
        _nk=$((_nk + 1))
        if [ "$_kind" = X ]; then
            _bad="$_bad expect.awk: $_key $_val"
        elif [ "$_kind" = C ]; then
            [ "${_got:-0}" = "$_val" ] || _bad="$_bad $_key=${_got:-missing}(want $_val)"
        else
            case " $_got " in
                *" $_val "*) ;;
                *) _bad="$_bad $_key lacks $_val" ;;
            esac
        fi
    done <"$_tsv.expect"
    if [ "$_nk" -eq 0 ]; then
        t_fail "$_name" "no expected counters computed from $_tsv"
    elif [ -z "$_bad" ]; then
        t_pass "$_name ($_nk keys)"
    else
        t_fail "$_name" "$(echo "$_bad" | cut -c1-600)"
    fi
}

# Value of one counter (empty when missing): t_get PORT KEY
t_get() {
    memccat --servers="127.0.0.1:$1" "$2" 2>/dev/null
}

# After the milters stopped (leak reports come at exit): no sanitizer report in their logs.
svc_after_stop() {
    if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$SVC_TMP"/*.log 2>/dev/null; then
        t_fail "milter logs free of sanitizer reports" \
            "$(grep -Eh 'Sanitizer|runtime error:' "$SVC_TMP"/*.log | head -2 | tr '\n' '|')"
    else
        t_pass "milter logs free of sanitizer reports"
    fi
}
