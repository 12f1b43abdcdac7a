#!/bin/sh
# t-fixtures.sh - the committed golden files (tests/fixtures/*.expected) are
# exactly what tests/fixtures/make-fixtures.py writes, and every fixture the
# script makes is committed (guards hand edits and forgotten regenerations).
# The fixture bytes themselves are not compared: zlib versions may compress
# differently. SKIP without python3.
SRC=${TLSRPT_SRCDIR:-$(pwd)}
FIX=$SRC/tests/fixtures
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: fixtures regenerate (no python3)"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-fixtures.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
if python3 "$FIX/make-fixtures.py" "$tmp" >/dev/null; then
    echo "PASS: make-fixtures.py runs (hand-written golden lines agree with the reports)"
else
    echo "FAIL: make-fixtures.py failed"
    exit 1
fi
for e in "$tmp"/*.expected; do
    n=$(basename "$e")
    if ! [ -f "$FIX/${n%.expected}" ]; then
        echo "FAIL: fixture ${n%.expected} is generated but not committed"
    elif cmp -s "$e" "$FIX/$n"; then
        echo "PASS: golden $n matches the generator"
    else
        echo "FAIL: golden $n differs from the generator's"
    fi
done
for e in "$FIX"/*.expected; do
    [ -f "$tmp/$(basename "$e")" ] || echo "FAIL: $(basename "$e") is committed but not generated (stale)"
done
exit 0
