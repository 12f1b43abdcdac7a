#!/bin/sh
# valgrind.sh - run the decoder, store and auth (DKIM) unit tests, tlsrpt-parse over every
# fixture and corpus file, and --rebuild / tlsrpt-stats over an archive, under valgrind memcheck (errors and definite leaks fail).
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
         test_store_rules test_store_names test_store_budget test_store_rebuild; do
    [ -x "$BUILD/tests/$t" ] && run "$t" 0 "$BUILD/tests/$t"
done
run "tlsrpt-parse fixtures" 1 "$BUILD/tlsrpt-parse" --json tests/fixtures
corpus=${TLSRPT_CORPUS:-../shared/corpus}
if [ -d "$corpus/real" ]; then
    run "tlsrpt-parse corpus" 0 "$BUILD/tlsrpt-parse" --tsv "$corpus/real"
else
    echo "SKIP: corpus absent ($corpus)"
fi
# tlsrpt-parse --rebuild and tlsrpt-stats's archive comparison over an archive of every
# fixture (tests/archive-seed, counted live into a private memcached stopped by its pid)
if command -v memcached >/dev/null 2>&1 && [ -x "$BUILD/tests/archive-seed" ]; then
    vd=$(mktemp -d "${TMPDIR:-/tmp}/vg-rebuild.XXXXXX")
    vp=$(( 20000 + $$ % 20000 ))
    if memcached -d -l 127.0.0.1 -p "$vp" -U 0 -m 64 -u root -P "$vd/mc.pid" && sleep 0.3; then
        printf 'ReportAddress t@example.net\nMemcachedServers 127.0.0.1:%s\nKeyPrefix vg:\nArchiveDir %s/a\n' \
            "$vp" "$vd" >"$vd/c.conf"
        "$BUILD/tests/archive-seed" -c "$vd/c.conf" -d "$vd/a" -k google.com tests/fixtures/*.eml >/dev/null 2>&1
        run "tlsrpt-parse --rebuild" 0 "$BUILD/tlsrpt-parse" --rebuild -c "$vd/c.conf"
        run "tlsrpt-parse --rebuild --day" 0 "$BUILD/tlsrpt-parse" --rebuild -c "$vd/c.conf" --day 2024-05-01
        run "tlsrpt-stats archive comparison" 0 "$BUILD/tlsrpt-stats" -c "$vd/c.conf" --today 2026-11-19
        kill "$(cat "$vd/mc.pid")" 2>/dev/null
    else
        echo "SKIP: valgrind rebuild (memcached did not start)"
    fi
    rm -rf "$vd"
fi
rm -f /tmp/vg.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
