#!/bin/sh
# run-fuzz-auth.sh BINARY SECONDS - run the libFuzzer DKIM-path target
# (fuzz_auth.c) for a bounded time. Seeds: the DKIM test mails and their key
# file, made now by tests/lib/dkim-fixtures.py (Debian's /usr/bin/python3
# with python3-dkim; without it the target runs on the fixtures' plain mails
# and an empty key file), each under a few selector bytes; and every
# tests/fixtures mail. Temporary files are removed at exit; crash artifacts
# go to the binary's directory. Exits non-zero when libFuzzer finds a crash,
# leak, timeout or out-of-memory (-rss_limit_mb=512).
BIN=${1:?usage: run-fuzz-auth.sh BINARY SECONDS}
SECS=${2:-60}
SRC=${TLSRPT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ART=$(cd "$(dirname "$BIN")" && pwd)/artifacts
work=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-fuzz-auth.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/seeds" "$work/fx" "$ART"
if [ -x /usr/bin/python3 ] && /usr/bin/python3 "$SRC/tests/lib/dkim-fixtures.py" "$work/fx" >/dev/null 2>&1; then
    TLSRPT_FUZZ_KEYS=$work/fx/keys.txt
    export TLSRPT_FUZZ_KEYS
else
    echo "run-fuzz-auth: no python3-dkim: no signed seeds, no keys"
fi
n=0
for f in "$work"/fx/*.eml "$SRC"/tests/fixtures/*.eml; do
    [ -f "$f" ] || continue
    for pre in '\000' '\003' '\376' '\023'; do
        n=$((n + 1))
        { printf "$pre"; cat "$f"; } >"$work/seeds/s$n"
    done
done
ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
export ASAN_OPTIONS
echo "run-fuzz-auth: $n seeds, ${SECS}s, artifacts in $ART"
"$BIN" -max_total_time="$SECS" -rss_limit_mb=512 -timeout=20 -max_len=65536 \
    -artifact_prefix="$ART/" -print_final_stats=1 "$work/seeds"
rc=$?
if [ $rc -ne 0 ]; then
    echo "run-fuzz-auth: FAILED (libFuzzer exit $rc); see $ART" >&2
    exit 1
fi
echo "run-fuzz-auth: clean for ${SECS}s"
