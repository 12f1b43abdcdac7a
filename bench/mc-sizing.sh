#!/bin/sh
# mc-sizing.sh - memcached memory per report with key schema v2 (README "memcached:
# sizing and restarts"). For each shape NDOMAINS:NDAYS:NREPORTERS it starts an empty
# memcached (-m 2048, nothing evicted), marks the epoch and counts the reports of
# bench/mc-sizing-gen.py through the store (tests/stats-seed count -k SIGNER, the
# milter's counting code with DKIM identities; MaxDomainsPerReporter raised, since
# every report here arrives on one day), then prints
# memcached's `stats` (curr_items, bytes) and `stats slabs` (total_malloced: what -m
# must hold) per report and per domain-day.
#   sh bench/mc-sizing.sh [SHAPE...]     default: 3000:7:4 3000:7:1 300:30:4
# Needs: build/tests/stats-seed, memcached, python3. Prints one line per shape.
BUILD=${BUILD:-$(pwd)/build}
SRC=${TLSRPT_SRCDIR:-$(pwd)}
. "$SRC/tests/lib/services.sh"
svc_init
[ $# -gt 0 ] || set -- 3000:7:4 3000:7:1 300:30:4
mcstat() {      # mcstat PORT CMD FIELD
    python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode() + b"\r\nquit\r\n")
b = b""
while True:
    c = s.recv(65536)
    if not c: break
    b += c
for l in b.decode().splitlines():
    p = l.split()
    if len(p) == 3 and p[1] == sys.argv[3]: print(p[2])' "$@"
}
printf '%-12s %8s %10s %9s %12s %12s %9s %9s %9s %6s\n' shape reports domaindays items \
    bytes malloced bytes/rep mall/rep items/rep evict
for shape in "$@"; do
    IFS=: read -r nd ndays nrep <<X
$shape
X
    rm -rf "$SVC_TMP/gen"
    n=$(python3 "$SRC/bench/mc-sizing-gen.py" "$SVC_TMP/gen" "$nd" "$ndays" "$nrep" 2026-11-30)
    port=$(svc_free_port)
    memcached -d -l 127.0.0.1 -p "$port" -U 0 -m 2048 -c 256 -u root -P "$SVC_TMP/mc.pid" ||
        exit 1
    svc_wait_port "$port"
    "$BUILD/tests/stats-seed" -s "127.0.0.1:$port" -n 2000 mark >/dev/null
    for d in "$SVC_TMP/gen"/*; do
        find "$d" -name '*.json' | xargs -n 2000 "$BUILD/tests/stats-seed" \
            -s "127.0.0.1:$port" -n 2000 -D 100000 -k "$(basename "$d")" count >/dev/null ||
            echo "seed failed" >&2
    done
    items=$(mcstat "$port" stats curr_items)
    bytes=$(mcstat "$port" stats bytes)
    mall=$(mcstat "$port" "stats slabs" total_malloced)
    ev=$(mcstat "$port" stats evictions)
    dd=$((nd * ndays))
    printf '%-12s %8d %10d %9d %12d %12d %9d %9d %9.2f %6d\n' "$shape" "$n" "$dd" "$items" \
        "$bytes" "$mall" $((bytes / n)) $((mall / n)) "$(echo "$items $n" | awk '{ print $1 / $2 }')" "$ev"
    svc_stop mc
done
