#!/bin/sh
# t-corpus.sh - tlsrpt-parse end to end: (1) `--tsv` over the shared corpus
# (../shared/corpus/real/*, or $TLSRPT_CORPUS) must equal the oracle's
# expected.tsv except lines listed with a reason in
# tests/data/corpus-differences.tsv (SKIP, loudly, when the corpus is
# absent); (2) every fixture in tests/fixtures through the CLI against its
# hand-written golden line NAME.expected (error goldens: empty fields and
# a substring of the message); (3) exit codes 0/1/2, stdin '-', --json.
# Prints PASS:/FAIL:/SKIP: lines (tests/run-tests.sh counts them).
SRC=${TLSRPT_SRCDIR:-$(pwd)}
BUILD=${BUILD:-$SRC/build}
PARSE=$BUILD/tlsrpt-parse
CORPUS=${TLSRPT_CORPUS:-$SRC/../shared/corpus}
DIFFS=$SRC/tests/data/corpus-differences.tsv
FIX=$SRC/tests/fixtures
TAB=$(printf '\t')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-corpus.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }

if [ ! -x "$PARSE" ]; then
    fail "tlsrpt-parse not built ($PARSE)"
    exit 1
fi

# ---- (1) the shared corpus against the oracle
corpus_check() {
    "$PARSE" --tsv "$CORPUS"/real/* >"$tmp/our.tsv" 2>"$tmp/err"
    rc=$?
    exp=$CORPUS/expected.tsv
    if [ "$(head -1 "$tmp/our.tsv")" = "$(head -1 "$exp")" ]; then
        pass "corpus: --tsv header line"
    else
        fail "corpus: --tsv header line ($(head -1 "$tmp/our.tsv"))"
    fi
    grep -v '^#' "$DIFFS" 2>/dev/null | grep -v '^$' >"$tmp/diffs"
    tail -n +2 "$exp" | cut -f1 | sort >"$tmp/exp.files"
    tail -n +2 "$tmp/our.tsv" | cut -f1 | sort >"$tmp/our.files"
    if cmp -s "$tmp/exp.files" "$tmp/our.files"; then
        pass "corpus: one line per file ($(wc -l <"$tmp/our.files") files)"
    else
        fail "corpus: files differ from expected.tsv: $(diff "$tmp/exp.files" "$tmp/our.files" | tr '\n' ' ')"
    fi
    while IFS= read -r f; do
        want=$(awk -F'\t' -v f="$f" 'NR > 1 && $1 == f' "$exp")
        got=$(awk -F'\t' -v f="$f" 'NR > 1 && $1 == f' "$tmp/our.tsv")
        listed=$(awk -F'\t' -v f="$f" '$1 == f { s = $2; for (i = 3; i < NF; i++) s = s "\t" $i; print s }' "$tmp/diffs")
        why=$(awk -F'\t' -v f="$f" '$1 == f { print $NF }' "$tmp/diffs")
        if [ "$got" = "$want" ]; then
            if [ -n "$listed" ]; then
                fail "corpus: $f equals the oracle but is listed as a difference (stale entry)"
            else
                pass "corpus: $f"
            fi
        elif [ -n "$listed" ] && [ "$got" = "$listed" ]; then
            pass "corpus: $f differs from the oracle as documented ($why)"
        else
            fail "corpus: $f"
            printf '    oracle: %s\n    ours:   %s\n' "$want" "$got"
            [ -n "$listed" ] && printf '    listed: %s\n' "$listed"
        fi
    done <"$tmp/exp.files"
    nerr=$(tail -n +2 "$tmp/our.tsv" | awk -F'\t' '$7 != ""' | wc -l)
    want_rc=0
    [ "$nerr" -gt 0 ] && want_rc=1
    if [ "$rc" -eq "$want_rc" ]; then
        pass "corpus: exit code $rc with $nerr rejected"
    else
        fail "corpus: exit code $rc, want $want_rc ($nerr rejected; stderr: $(head -3 "$tmp/err"))"
    fi
}

if [ -f "$CORPUS/expected.tsv" ] && [ -d "$CORPUS/real" ]; then
    corpus_check
else
    echo "*** shared corpus not found at $CORPUS: the oracle comparison is NOT run ***"
    echo "SKIP: corpus: tlsrpt-parse --tsv vs expected.tsv (no corpus at $CORPUS; set TLSRPT_CORPUS)"
fi

# ---- (2) fixtures against their golden lines
nfix=0
for e in "$FIX"/*.expected; do
    [ -f "$e" ] || continue
    in=${e%.expected}
    name=$(basename "$in")
    nfix=$((nfix + 1))
    "$PARSE" --tsv "$in" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    got=$(sed -n 2p "$tmp/out")
    want=$(head -1 "$e")
    werr=$(printf '%s\n' "$want" | cut -f7)
    if [ -z "$werr" ]; then
        if [ "$got" = "$want" ] && [ "$rc" -eq 0 ]; then
            pass "fixture: $name"
        else
            fail "fixture: $name (exit $rc)"
            printf '    want: %s\n    got:  %s\n' "$want" "$got"
        fi
    else
        gfields=$(printf '%s\n' "$got" | cut -f1-6)
        gerr=$(printf '%s\n' "$got" | cut -f7)
        case "$gerr" in
            *"$werr"*) ok=1 ;;
            *) ok=0 ;;
        esac
        if [ "$ok" -eq 1 ] && [ "$gfields" = "$name$TAB$TAB$TAB$TAB$TAB" ] && [ "$rc" -eq 1 ]; then
            pass "fixture: $name rejected ($gerr)"
        else
            fail "fixture: $name (exit $rc, want 1 and an error containing '$werr')"
            printf '    got:  %s\n' "$got"
        fi
    fi
done
if [ "$nfix" -ge 30 ]; then pass "fixtures: $nfix golden files"; else fail "fixtures: only $nfix golden files"; fi

# ---- (3) exit codes, stdin, JSON output
"$PARSE" --tsv "$FIX/basic-lf.eml" "$FIX/no-report.eml" >"$tmp/out" 2>/dev/null
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] && pass "exit 1 when any input is rejected, one line each" \
    || fail "exit $rc for a good and a rejected input ($(wc -l <"$tmp/out") lines)"
"$PARSE" --tsv "$FIX/basic-lf.eml" "$FIX/mx-host-string.json" "$FIX/contact-null-fname.json.gz" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 0 ] && pass "exit 0 when every input gave a report" || fail "exit $rc for good inputs"
"$PARSE" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass "exit 2 without arguments" || fail "exit $rc without arguments"
"$PARSE" --no-such-option "$FIX/basic-lf.eml" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass "exit 2 on an unknown option" || fail "exit $rc on an unknown option"
"$PARSE" --tsv - <"$FIX/singlepart-gzip.eml" >"$tmp/out" 2>/dev/null
rc=$?
want=$(cut -f2- "$FIX/singlepart-gzip.eml.expected")
got=$(sed -n 2p "$tmp/out" | cut -f2-)
[ "$rc" -eq 0 ] && [ "$got" = "$want" ] && pass "stdin '-' decodes like the file" \
    || fail "stdin '-' (exit $rc): $got"
"$PARSE" --tsv - <"$FIX/gzip-trailing-bytes.json.gz" >"$tmp/out" 2>/dev/null
rc=$?
want=$(cut -f2- "$FIX/gzip-trailing-bytes.json.gz.expected")
got=$(sed -n 2p "$tmp/out" | cut -f2-)
[ "$rc" -eq 0 ] && [ "$got" = "$want" ] && pass "stdin '-' with a bare .json.gz" \
    || fail "stdin '-' bare gzip (exit $rc): $got"
"$PARSE" "$FIX/basic-lf.eml" "$FIX/ms-date-noz-crlf.eml" >"$tmp/json" 2>/dev/null
rc=$?
if command -v python3 >/dev/null 2>&1; then
    if python3 - "$tmp/json" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
text = json.dumps(objs)
assert len(objs) == 2, objs
# dates normalised to UTC with Z, the UTC day present, domains lower-case
assert "2023-01-10T00:00:00Z" in text and "2023-01-10" in text, text
assert "example.net" in text and "certificate-expired" in text, text
PY
    then [ "$rc" -eq 0 ] && pass "--json (default): one JSON object per input, UTC dates" || fail "--json exit $rc"
    else fail "--json output (see above)"
    fi
else
    echo "SKIP: --json check (no python3)"
fi
# every fixture's --json line is strict UTF-8 and JSON: invalid UTF-8 in a report's
# strings is repaired to U+FFFD, never passed on (issue 12.5)
"$PARSE" --json "$FIX" >"$tmp/all.json" 2>/dev/null
if command -v python3 >/dev/null 2>&1; then
    if out=$(python3 - "$tmp/all.json" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
lines = [json.loads(l) for l in raw.decode("utf-8", "strict").splitlines() if l.strip()]
bad = [o for o in lines if o.get("file") == "invalid-utf8-strings.json"]
assert len(bad) == 1 and "\ufffd" in bad[0]["organization-name"], bad
assert "validation\ufffd\ufffd\ufffdfailure" == bad[0]["policies"][0]["failure-details"][0]["result-type"], bad
print(len(lines))
PY
    ); then pass "--json over every fixture ($out lines): strict UTF-8, valid JSON, invalid bytes as U+FFFD"
    else fail "--json over the fixtures is not strict UTF-8 JSON"
    fi
fi
exit 0
