#!/bin/sh
# run-fuzz.sh BINARY SECONDS - run the libFuzzer decoder target for a bounded
# time. Seeds: every fixture in tests/fixtures and, when present, every file
# of the shared corpus (../shared/corpus/real or $TLSRPT_CORPUS/real), each
# under a few 2-byte prefixes (the target's way/chunking/limits selectors).
# New inputs go to a temporary corpus (removed at exit); crash artifacts to
# the binary's directory. Exits non-zero when libFuzzer finds a crash,
# leak, timeout or out-of-memory (-rss_limit_mb=512).
BIN=${1:?usage: run-fuzz.sh BINARY SECONDS}
SECS=${2:-60}
SRC=${TLSRPT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CORPUS=${TLSRPT_CORPUS:-$SRC/../shared/corpus}
ART=$(cd "$(dirname "$BIN")" && pwd)/artifacts
work=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/seeds" "$ART"

n=0
for f in "$SRC"/tests/fixtures/* "$CORPUS"/real/*; do
    [ -f "$f" ] || continue
    case "$f" in *.expected|*.py|*.sh|*.md) continue ;; esac
    # feed AUTO/4096, milter way/64 with small limits, feed MESSAGE/varying, RAW/7
    for pre in '\024\000' '\023\001' '\035\000' '\016\377'; do
        n=$((n + 1))
        { printf "$pre"; cat "$f"; } >"$work/seeds/s$n"
    done
done
# a smaller ASan quarantine keeps long runs well under the RSS limit
ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
export ASAN_OPTIONS
echo "run-fuzz: $n seeds, ${SECS}s, artifacts in $ART"
"$BIN" -max_total_time="$SECS" -rss_limit_mb=512 -timeout=20 -max_len=65536 \
    -dict="$SRC/tests/fuzz/tlsrpt.dict" -artifact_prefix="$ART/" -print_final_stats=1 \
    "$work/seeds"
rc=$?
if [ $rc -ne 0 ]; then
    echo "run-fuzz: FAILED (libFuzzer exit $rc); see $ART" >&2
    exit 1
fi
echo "run-fuzz: clean for ${SECS}s"
