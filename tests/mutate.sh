#!/bin/sh
# mutate.sh - the mutation pass (`make mutate`, not part of `make check`).
#
# Applies each mutation of a list (default tests/mutations.txt, format described
# at its top) one at a time to a throwaway copy of the source tree, rebuilds,
# runs the tests the entry names (default: all) and records whether the suite
# noticed: killed (some test failed; the failing test programs are named),
# survived (every test passed), or did-not-build (counts as neither). Prints a
# table and the kill rate, and writes the table as TSV to $MUT_OUT.
#
#   sh tests/mutate.sh [LIST]        MUT_ONLY="ID ID..." runs only those entries
#   MUT_TMP=DIR    where the copy lives (default: a new directory under /tmp)
#   MUT_OUT=FILE   the TSV table (default: build/mutate-results.tsv)
#   MUT_TIMEOUT=S  seconds allowed per test run (default 600; a timeout is a kill)
#   MUT_KEEP=1     keep the copy afterwards
#
# The copy: every file of the work tree except .git and build directories, built
# once; each mutation edits one file there, rebuilds incrementally, and the file
# is put back (and touched, so the next build recompiles it) before the next one.
# Errors (exit 2): a list entry whose find text does not occur exactly once in its
# file, or an entry without id/file/find/replace: the list must be fixed, loudly.
# Exit 0 otherwise (survivors are reported, not an error).
SRC=$(cd "$(dirname "$0")/.." && pwd)
LIST=${1:-$SRC/tests/mutations.txt}
case $LIST in /*) ;; *) LIST=$(pwd)/$LIST ;; esac
OUT=${MUT_OUT:-$SRC/build/mutate-results.tsv}
TMO=${MUT_TIMEOUT:-600}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
[ -f "$LIST" ] || { echo "mutate: no list $LIST" >&2; exit 2; }

# Entries as TSV (id, file, tests, what) in $1; the find/replace pairs are read
# again by apply. Checks every entry's find text before anything is built.
"$PY" - "$LIST" "$SRC" >"${TMPDIR:-/tmp}/mutate-entries.$$" <<'EOF' || exit 2
import sys
sys.path.insert(0, sys.argv[2] + "/tests")
from mutlist import load, check
entries = load(sys.argv[1])
bad = check(entries, sys.argv[2])
for msg in bad:
    print("mutate: " + msg, file=sys.stderr)
if bad:
    sys.exit(2)
for e in entries:
    print("\t".join([e["id"], e["file"], e.get("tests", ""), e["what"]]))
EOF
ENTRIES=${TMPDIR:-/tmp}/mutate-entries.$$

W=${MUT_TMP:-$(mktemp -d /tmp/tlsrpt-mutate.XXXXXX)}
mkdir -p "$W/tree"
cleanup() {
    rm -f "$ENTRIES"
    [ -n "$MUT_KEEP" ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "mutate: copying the tree to $W/tree and building it once"
(cd "$SRC" && tar cf - --exclude=./.git --exclude=./build --exclude='./build-*' .) |
    (cd "$W/tree" && tar xf -) || exit 2
if ! (cd "$W/tree" && make -j2 all) >"$W/base-build.log" 2>&1; then
    echo "mutate: the unmutated tree does not build: see $W/base-build.log" >&2
    MUT_KEEP=1
    exit 2
fi
COMMIT=$(cd "$SRC" && git rev-parse --short HEAD 2>/dev/null)
DIRTY=$(cd "$SRC" && git status --porcelain 2>/dev/null | grep -v '^??' | head -1)
mkdir -p "$(dirname "$OUT")"
printf 'id\tresult\tkilled_by\tfile\twhat\n' >"$OUT"

killed=0 survived=0 nobuild=0 n=0
survivors=
printf '%-5s %-13s %-34s %s\n' ID RESULT KILLED-BY "FILE: WHAT"
while IFS='	' read -r id file tests what; do
    if [ -n "$MUT_ONLY" ]; then
        case " $MUT_ONLY " in *" $id "*) ;; *) continue ;; esac
    fi
    n=$((n + 1))
    T=$W/tree
    cp -p "$T/$file" "$W/orig"
    "$PY" - "$LIST" "$id" "$T" <<'EOF' || { echo "mutate: $id: could not apply" >&2; exit 2; }
import sys
sys.path.insert(0, sys.argv[3] + "/tests")
from mutlist import load, apply
apply([e for e in load(sys.argv[1]) if e["id"] == sys.argv[2]][0], sys.argv[3])
EOF
    by=
    if ! (cd "$T" && make -j2 all) >"$W/$id.build.log" 2>&1; then
        result=did-not-build
        nobuild=$((nobuild + 1))
    else
        : >"$W/$id.tests.log"
        for word in ${tests:-ALL}; do
            [ "$word" = ALL ] && word=
            (cd "$T" && TESTS=$word BUILD=$T/build TLSRPT_SRCDIR=$T \
                timeout "$TMO" sh tests/run-tests.sh) >>"$W/$id.tests.log" 2>&1
            [ $? -eq 124 ] && by="$by timeout"
        done
        by="$by $(awk '$2 ~ /^[0-9]+$/ && $3 == "passed" && $5 == "failed" && $4 > 0 { print $1 }' \
                  "$W/$id.tests.log" | sort -u | tr '\n' ' ')"
        by=$(echo $by)
        if [ -n "$by" ]; then
            result=killed
            killed=$((killed + 1))
        else
            result=survived
            survived=$((survived + 1))
            survivors="$survivors $id"
        fi
    fi
    cp -p "$W/orig" "$T/$file"
    touch "$T/$file"
    printf '%-5s %-13s %-34s %s: %s\n' "$id" "$result" "${by:--}" "$file" "$what"
    printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$result" "${by:--}" "$file" "$what" >>"$OUT"
done <"$ENTRIES"

tot=$((killed + survived))
echo "mutate: commit ${COMMIT:-unknown}${DIRTY:+ (with uncommitted changes)}, $(date -u +%Y-%m-%d)"
echo "mutate: $n mutations: $killed killed, $survived survived, $nobuild did not build"
[ -n "$survivors" ] && echo "mutate: survivors:$survivors"
if [ $tot -gt 0 ]; then
    echo "mutate: kill rate $killed/$tot = $((killed * 100 / tot))%"
fi
echo "mutate: table in $OUT"
exit 0
