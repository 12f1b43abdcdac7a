#!/bin/sh
# run-tests.sh - run every test program ($BUILD/tests/test_*) and script (tests/t-*.sh).
# Each prints PASS:/FAIL:/SKIP: lines; a program that exits non-zero without a FAIL
# line (a crash) counts as one failure. Ends with "N passed, N failed, N skipped".
# TESTS="pattern" runs only the matching tests.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
export BUILD TLSRPT_SRCDIR
pass=0 fail=0 skip=0
logdir=$BUILD/test-logs
mkdir -p "$logdir"
for t in "$BUILD"/tests/test_* tests/t-*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t")
    case "$name" in *.d|*.o) continue ;; esac
    if [ -n "$TESTS" ]; then case "$name" in *$TESTS*) ;; *) continue ;; esac; fi
    log=$logdir/$name.log
    case "$t" in
        *.sh) sh "$t" >"$log" 2>&1 ;;
        *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    p=$(grep -c '^PASS:' "$log"); f=$(grep -c '^FAIL:' "$log"); s=$(grep -c '^SKIP:' "$log")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc without a FAIL line" >>"$log"
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '%-36s %4d passed %4d failed %4d skipped\n' "$name" "$p" "$f" "$s"
    if [ "$f" -ne 0 ]; then grep '^FAIL:' "$log" | head -20 | sed 's/^/    /'; tail -5 "$log" | sed 's/^/    | /'; fi
    grep '^SKIP:' "$log" | head -5 | sed 's/^/    /'
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
