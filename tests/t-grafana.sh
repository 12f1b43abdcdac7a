#!/bin/sh
# t-grafana.sh - conf/grafana-dashboard.json names only metrics that exist (issue
# 10.6): every metric name in every panel's PromQL and in the templating query
# (tests/grafana-check.py) must be a sample name in real output, namely the
# milter's MetricsFile after a real run (build/tlsrpt-milter, a real memcached,
# mails of several kinds through build/tests/milter-driver) and tlsrpt-stats
# --format prometheus over a memcached seeded with the key schema v2 scenario
# (tests/stats-seed, tests/stats-gen.py: signers, a partial day, not-counted
# reasons). Also: the checker fails on a dashboard naming a metric that does not
# exist, the JSON imports (an __inputs datasource, unique panel ids, every target on
# ${DS_PROMETHEUS}), every expression is valid PromQL (promtool check rules, with
# Grafana's variables filled in), and both outputs pass promtool check metrics.
# Prerequisites (else SKIP): tlsrpt-milter, milter-driver, tlsrpt-stats, stats-seed,
# memcached, /usr/bin/python3, python3; promtool for its part.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

DASH=$TLSRPT_SRCDIR/conf/grafana-dashboard.json
CHECK=$TLSRPT_SRCDIR/tests/grafana-check.py
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
SEED=$BUILD/tests/stats-seed
t_need t-grafana "$BUILD/tlsrpt-milter" "$BUILD/tests/milter-driver" "$BUILD/tlsrpt-stats" "$SEED" memcached python3 gzip base64
[ -x /usr/bin/python3 ] || { t_skip t-grafana "/usr/bin/python3 missing"; exit 0; }

svc_init
W=$SVC_TMP/w
mkdir -p "$W"
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }

# ---- the milter's textfile from a real run ----
mk_gzip "$FIX/report1.json" "$W/r1.json.gz"
mk_report_mail "$W/r1.json.gz" "$W/r1.eml" fixture.example
svc_milter_conf "$SVC_TMP/m.conf" "unix:$SVC_TMP/m.sock" "127.0.0.1:$MC" \
    "MetricsFile $W/tlsrpt-milter.prom" "MetricsInterval 1"
svc_milter_start m "$SVC_TMP/m.conf" "unix:$SVC_TMP/m.sock" ||
    { t_fail milter-start "$(tail -3 "$SVC_TMP/m.log" | tr '\n' '|')"; exit 1; }
for mail in "$W/r1.eml" "$W/r1.eml" "$FIX/plain.eml"; do
    timeout 60 "$BUILD/tests/milter-driver" -t 20 -s "unix:$SVC_TMP/m.sock" -r rua@rua.test \
        "$mail" >>"$W/drive.out" 2>&1
done
svc_stop m                                      # the stop writes the file a last time
t_grep "the milter's textfile holds the run" "$W/tlsrpt-milter.prom" '^tlsrpt_milter_report_mails_total 3$'

# ---- tlsrpt-stats over the v2 scenario ----
python3 "$TLSRPT_SRCDIR/tests/stats-gen.py" v2 "$W/v2" || t_fail "stats-gen.py v2" "failed"
ok=1
"$SEED" -s "127.0.0.1:$MC" -p v2: mark >/dev/null || ok=
for sg in google.com microsoft.com evil.example; do
    "$SEED" -s "127.0.0.1:$MC" -p v2: -k $sg count "$W/v2/$sg"/*.json >/dev/null || ok=
done
"$SEED" -s "127.0.0.1:$MC" -p v2: count "$W/v2/none"/*.json >/dev/null || ok=
"$SEED" -s "127.0.0.1:$MC" -p v2: partial "$W/v2/none/part.json" >/dev/null || ok=
python3 "$TLSRPT_SRCDIR/tests/stats-gen.py" nc >"$W/nc.txt"
while read -r day reason cnt; do
    "$SEED" -s "127.0.0.1:$MC" -p v2: nc "$day" "$reason" "$cnt" >/dev/null || ok=
done <"$W/nc.txt"
t_eq "v2 scenario seeded through the store" "$ok" 1
"$BUILD/tlsrpt-stats" --servers "127.0.0.1:$MC" --prefix v2: --today 2025-03-31 --days 7 \
    --format prometheus >"$W/tlsrpt.prom" 2>"$W/stats.err"
t_eq "tlsrpt-stats --format prometheus exits 0" "$?" 0

if command -v promtool >/dev/null 2>&1; then
    for f in tlsrpt-milter.prom tlsrpt.prom; do
        if promtool check metrics <"$W/$f" >"$W/promtool.log" 2>&1; then t_pass "promtool: $f"
        else t_fail "promtool: $f" "$(head -3 "$W/promtool.log" | tr '\n' '|')"; fi
    done
else
    t_skip "promtool check metrics" "no promtool: apt-get install prometheus"
fi

# ---- the dashboard ----
/usr/bin/python3 - "$DASH" >"$W/shape.out" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ok = True
def bad(msg):
    global ok
    ok = False
    print("FAIL: grafana: " + msg)
if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
           for i in d.get("__inputs", [])):
    bad("no __inputs DS_PROMETHEUS (import asks for the data source)")
ids = [p["id"] for p in d["panels"]]
if len(ids) != len(set(ids)):
    bad("panel ids not unique")
for p in d["panels"]:
    if "gridPos" not in p:
        bad("panel %s has no gridPos" % p.get("title"))
    for t in p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            bad("panel %s target %s not on ${DS_PROMETHEUS}" % (p.get("title"), t.get("refId")))
if ok:
    print("PASS: grafana: the JSON imports (__inputs, unique ids, every target on ${DS_PROMETHEUS})")
EOF
cat "$W/shape.out"
grep -q '^FAIL' "$W/shape.out" && T_FAILS=$((T_FAILS + 1))

/usr/bin/python3 "$CHECK" "$DASH" "$W/tlsrpt-milter.prom" "$W/tlsrpt.prom" >"$W/check.out" 2>&1
rc=$?
cat "$W/check.out"
t_eq "every metric name of the dashboard is in the real output" "$rc" 0
n=$(sed -n 's/^# grafana-check: \([0-9]*\) metric names.*/\1/p' "$W/check.out")
t_check "the dashboard uses at least 30 metric names ($n)" test "${n:-0}" -ge 30
for want in tlsrpt_milter_reports_counted_total tlsrpt_milter_not_counted_total \
    tlsrpt_milter_archive_pending tlsrpt_milter_store_errors_total tlsrpt_milter_archive_errors_total \
    tlsrpt_milter_mail_duration_seconds_bucket tlsrpt_window_sessions tlsrpt_sts_enforce_ready \
    tlsrpt_counters_lost; do
    t_grep "the dashboard shows $want" "$W/check.out" "^PASS: grafana: $want "
done

# every expression parses as PromQL (Grafana's variables filled in): promtool check rules
if command -v promtool >/dev/null 2>&1; then
    /usr/bin/python3 - "$DASH" >"$W/rules.yml" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n- name: dashboard\n  rules:")
n = 0
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$__rate_interval", "5m").replace("$domain", ".*")
        n += 1
        print("  - record: dashboard:expr%d" % n)
        print("    expr: %s" % json.dumps(e))
EOF
    if promtool check rules "$W/rules.yml" >"$W/rules.out" 2>&1; then
        t_pass "every panel expression is valid PromQL ($(grep -c 'record:' "$W/rules.yml") rules)"
    else
        t_fail "every panel expression is valid PromQL" "$(grep -v '^ *$' "$W/rules.out" | head -5 | tr '\n' '|')"
    fi
fi

# the checker itself: a name that does not exist fails, with its name
sed 's/tlsrpt_milter_archive_pending/tlsrpt_milter_archive_pendingX/' "$DASH" >"$W/broken.json"
/usr/bin/python3 "$CHECK" "$W/broken.json" "$W/tlsrpt-milter.prom" "$W/tlsrpt.prom" >"$W/broken.out" 2>&1
t_eq "the checker fails on a metric that does not exist" "$?" 1
t_grep "the checker names it" "$W/broken.out" '^FAIL: grafana: tlsrpt_milter_archive_pendingX '
/usr/bin/python3 "$CHECK" "$DASH" "$W/tlsrpt-milter.prom" >"$W/half.out" 2>&1
t_eq "the checker fails without tlsrpt-stats's output" "$?" 1

[ "$T_FAILS" -eq 0 ]
