# lib.sh - helpers of bench/run.sh (POSIX sh, sourced after tests/lib/services.sh):
# timing in milliseconds, medians, rates and ratios with awk, the results
# table (one row per figure, printed at the end) and small waits.
# Limits: every wait is bounded; times come from `date +%s%N` (1 ms is the
# smallest step reported, so each timed run should last 100 ms or more).

# Milliseconds since the epoch.
b_now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Run a command with its output to /dev/null; print its wall time in ms.
# The exit status of the command is kept in $B_RC.
b_time() {
    _t0=$(b_now_ms)
    "$@" >/dev/null 2>>"$SVC_TMP/bench-stderr.log"
    B_RC=$?
    _t1=$(b_now_ms)
    echo $((_t1 - _t0))
}

# Median of the numbers given as arguments (mean of the two middle ones when even).
b_median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "nan"; exit }
              if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Evaluate an awk arithmetic expression and print it with format $1: b_calc "%.1f" "3/2"
b_calc() {
    awk "BEGIN { x = $2; printf \"$1\", x }"
}

# Rate per second of N items in MS milliseconds: b_rate N MS
b_rate() {
    awk -v n="$1" -v ms="$2" 'BEGIN { if (ms <= 0) ms = 1; printf "%.1f", n * 1000 / ms }'
}

# Print the value of key K in a "k=v k=v" line: b_field LINE K
b_field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# Add a row to the results table:
# b_row ID WHAT INPUTS RUNS OURS PEER RATIO TARGET  (verdict from ratio vs target)
# TARGET is ">=X", "<=X" or "-" (informational).
b_row() {
    _v=-
    case $8 in
        ">="*) _v=$(awk -v r="$7" -v t="${8#>=}" 'BEGIN { print (r + 0 >= t + 0) ? "met" : "MISSED" }') ;;
        "<="*) _v=$(awk -v r="$7" -v t="${8#<=}" 'BEGIN { print (r + 0 <= t + 0) ? "met" : "MISSED" }') ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$_v" \
        >>"$B_TABLE"
    printf '  -> %s %s: %s vs %s, ratio %s (target %s: %s)\n' "$1" "$2" "$5" "$6" "$7" "$8" "$_v"
}

# Print the results table (tab-separated rows in $B_TABLE) as aligned text.
b_print_table() {
    printf 'ID\tFIGURE\tINPUTS\tRUNS\tOURS\tPEER/LIMIT\tRATIO\tTARGET\tVERDICT\n' |
        cat - "$B_TABLE" | awk -F'\t' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
        END { for (r = 1; r <= n; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf("%-" w[i] "s  ", c[r, i])
                sub(/ +$/, "", line); print line } }'
}

# Wait (at most $2 seconds) until directory $1 holds at least $3 entries; 0 or 1.
b_wait_count() {
    _n=0
    while [ $_n -lt $(($2 * 50)) ]; do
        [ "$(ls -U "$1" 2>/dev/null | wc -l)" -ge "$3" ] && return 0
        sleep 0.02
        _n=$((_n + 1))
    done
    return 1
}

# Peak resident set (VmHWM, kB) of a process: b_hwm PID
b_hwm() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Current resident set (VmRSS, kB) of a process: b_rss PID
b_rss() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Median of the paired ratios a_i / b_i of two space-separated lists of the
# same length (runs interleaved, so a pair shares the machine's load): b_ratio "A" "B"
b_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); m = split(b, y, " "); if (m < n) n = m
        for (i = 1; i <= n; i++) r[i] = (y[i] > 0) ? x[i] / y[i] : 0
        for (i = 2; i <= n; i++) { v = r[i]; j = i - 1
            while (j > 0 && r[j] > v) { r[j + 1] = r[j]; j-- } r[j + 1] = v }
        if (n == 0) { print "nan"; exit }
        printf "%.2f", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2 }'
}
