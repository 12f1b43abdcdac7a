#!/bin/sh
# valgrind.sh - run the decoder, store and auth (DKIM) unit tests, and tlsrpt-parse over every
# fixture and corpus file, under valgrind memcheck (errors and definite leaks fail).
# Used by `make valgrind` (and CI). Prints PASS:/FAIL:/SKIP: lines and the summary.
BUILD=${BUILD:-$(pwd)/build}
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
pass=0 fail=0
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind not installed"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
# run NAME OKRC CMD...: pass when the command exits with OKRC (tlsrpt-parse exits 1
# when an input is rejected, which some fixtures are on purpose) and valgrind found nothing.
run() {
    name=$1; okrc=$2; shift 2
    $VG "$@" >/tmp/vg.$$ 2>&1
    if [ $? -eq "$okrc" ]; then
        echo "PASS: valgrind $name"; pass=$((pass + 1))
    else
        echo "FAIL: valgrind $name"; grep -E '==[0-9]+==|FAIL' /tmp/vg.$$ | head -20
        fail=$((fail + 1))
    fi
}
for t in test_stages test_zip test_multi test_map test_rcpt test_config test_config_auth test_keys test_store test_store_concurrency \
         test_auth test_auth_dns test_spool test_spool_state test_outcome test_bounds test_store_bounds \
         test_store_rules test_store_names test_store_budget test_store_rebuild test_metrics; do
    [ -x "$BUILD/tests/$t" ] && run "$t" 0 "$BUILD/tests/$t"
done
run "tlsrpt-parse fixtures" 1 "$BUILD/tlsrpt-parse" --json tests/fixtures
corpus=${TLSRPT_CORPUS:-../shared/corpus}
if [ -d "$corpus/real" ]; then
    run "tlsrpt-parse corpus" 0 "$BUILD/tlsrpt-parse" --tsv "$corpus/real"
else
    echo "SKIP: corpus absent ($corpus)"
fi
rm -f /tmp/vg.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
