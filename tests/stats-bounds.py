#!/usr/bin/env python3
"""stats-bounds.py - every threshold of tlsrpt-stats exactly at its value and one
past it, on counters seeded straight into memcached (one key prefix per scenario,
domain b.example, window 2025-03-02 .. 2025-03-31 with --today 2025-03-31).
Used by tests/t-stats.sh; prints PASS:/FAIL: lines.

  stats-bounds.py seed PORT           write every scenario's keys
  stats-bounds.py prefixes            the scenario prefixes, one a line
  stats-bounds.py check PREFIX FILE   check tlsrpt-stats --format json of PREFIX
  stats-bounds.py window N FILE       the JSON of --days N has a window of N days

The rules (README "tlsrpt-stats"): spike = failed >= 10 and > 3 x the median of
the days with reports among the 7 days before; concentrated = one org / MX with
>= 80% of failed sessions (else spread; single = one org); a result-type headline
for a type with > 50%; ready = mode testing and >= 21 clean days (a day without
reports neither counts nor breaks the run); silent = reported in the window but
not in its last 3 days; a count (or a window sum) at 2^63-1 is saturated.
"""
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
D = "b.example"
LAST = datetime.date(2025, 3, 31)
failed = 0


def day(k):
    """The day k days before the window's last day, YYYY-MM-DD."""
    return (LAST - datetime.timedelta(days=k)).isoformat()


def rep(fail=0, ok=100, orgs=None, mxs=None, types=None, mode="testing"):
    """One day's counters: orgs {name: (ok, fail)}, mxs {name: fail}, types {type: fail}."""
    return {"ok": ok, "fail": fail, "orgs": orgs or {"OrgA": (ok, fail)},
            "mxs": mxs if mxs is not None else ({"mx.b.example": fail} if fail else {}),
            "types": types if types is not None else ({"validation-failure": fail} if fail else {}),
            "mode": mode}


def spike_days(dfail, lead):
    """Day 0 with dfail failed sessions, lead = failures of the days before (None: no report)."""
    days = {day(0): rep(dfail)}
    for k, f in enumerate(lead, 1):
        if f is not None:
            days[day(k)] = rep(f)
    return days


def run_days(clean, fail_at, gap=None):
    """clean days with reports back from the last day (gap: a day without reports among
    them), then a day with failures at fail_at days back."""
    days, k, n = {}, 0, 0
    while n < clean:
        if k != gap:
            days[day(k)] = rep(0)
            n += 1
        k += 1
    days[day(fail_at if fail_at is not None else k)] = rep(1)
    return days


def two(a, b, what):
    """One day with failures a + b split over two orgs, MXs or result types."""
    if what == "orgs":
        return {day(0): rep(a + b, orgs={"OrgA": (100, a), "OrgB": (100, b)})}
    if what == "types":
        return {day(0): rep(a + b, types={"certificate-expired": a, "validation-failure": b})}
    return {day(0): rep(a + b, mxs={"mx1.b.example": a, "mx2.b.example": b})}


SILENT = {day(3): rep(0, orgs={"Quiet": (10, 0), "OrgA": (10, 0)}),
          day(2): rep(0, orgs={"Recent": (10, 0), "OrgA": (10, 0)}),
          day(0): rep(0, orgs={"OrgA": (10, 0)})}

# prefix: (days, expectations)
SCEN = {
    "sp-floor10:": (spike_days(10, [0] * 7), {"spike": True}),
    "sp-floor9:": (spike_days(9, [0] * 7), {"spike": False}),
    "sp-fac12:": (spike_days(12, [4] * 7), {"spike": False, "median": 4}),
    "sp-fac13:": (spike_days(13, [4] * 7), {"spike": True, "median": 4}),
    # 7 days before: 0 0 0 20 20 20 20 (median 20); the 8th day back (0) is not in it
    "sp-lead40:": (spike_days(40, [0, 0, 0, 20, 20, 20, 20, 0, 0]), {"spike": False, "median": 20}),
    "sp-lead60:": (spike_days(60, [0, 0, 0, 20, 20, 20, 20, 0, 0]), {"spike": False, "median": 20}),
    "sp-lead61:": (spike_days(61, [0, 0, 0, 20, 20, 20, 20, 0, 0]), {"spike": True, "median": 20}),
    # days without reports are not in the median: 0 0 (none) 30 30 (none) 30 -> 30
    "sp-gaps:": (spike_days(90, [0, 0, None, 30, 30, None, 30]), {"spike": False, "median": 30}),
    "co-org80:": (two(80, 20, "orgs"), {"orgs": "concentrated"}),
    "co-org79:": (two(79, 21, "orgs"), {"orgs": "spread"}),
    "co-mx80:": (two(80, 20, "mxs"), {"mxs": "concentrated"}),
    "co-mx79:": (two(79, 21, "mxs"), {"mxs": "spread"}),
    "mj-50:": (two(50, 50, "types"), {"majority": None}),
    "mj-51:": (two(51, 49, "types"), {"majority": "certificate-expired"}),
    "rd-21:": (run_days(21, None, gap=5), {"ready": "ready", "clean": 21}),
    "rd-20:": (run_days(20, None, gap=5), {"ready": "reset", "clean": 20, "needed": 1}),
    "si-3:": (SILENT, {"silent": ["Quiet"]}),
    # saturation: a counter at 2^63-1 is "at least that"; one below is a number; two
    # days whose sum passes 2^63-1 stop there (never wrap), one below it does not
    "sa-max:": ({day(0): rep(0, ok=2 ** 63 - 1)}, {"saturated": True, "ok": 2 ** 63 - 1}),
    "sa-max1:": ({day(0): rep(0, ok=2 ** 63 - 2)}, {"saturated": False, "ok": 2 ** 63 - 2}),
    "sa-sum:": ({day(0): rep(0, ok=2 ** 62), day(1): rep(0, ok=2 ** 62)},
                {"saturated": True, "ok": 2 ** 63 - 1}),
    "sa-sum1:": ({day(0): rep(0, ok=2 ** 62 - 1), day(1): rep(0, ok=2 ** 62 - 1)},
                 {"saturated": False, "ok": 2 ** 63 - 2}),
}


def keys(prefix, days):
    """The raw key/value pairs of a scenario, as the store writes them."""
    kv = {prefix + "domains": D, prefix + "d:%s:days" % D: " ".join(sorted(days)),
          # P epoch, as tlsrpt-milter writes it at start: counters without it read as lost
          prefix + "epoch": str(int(time.time()))}
    for y, r in days.items():
        b = "%sd:%s:%s:" % (prefix, D, y)
        kv.update({b + "reports": "1", b + "ok": str(r["ok"]), b + "fail": str(r["fail"]),
                   b + "mode:" + r["mode"]: "1"})
        for idx in ("orgs", "mxs", "types"):
            if r[idx]:
                kv[b + idx] = " ".join(r[idx])
        for o, (ok, f) in r["orgs"].items():
            kv[b + "org:%s:ok" % o] = str(ok)
            kv[b + "org:%s:fail" % o] = str(f)
        for m, f in r["mxs"].items():
            kv[b + "mx:%s:fail" % m] = str(f)
        for t, f in r["types"].items():
            kv[b + "type:" + t] = str(f)
    return kv


def check(name, cond, why=""):
    """Print one PASS/FAIL line."""
    global failed
    if cond:
        print("PASS: stats bounds: " + name)
    else:
        failed += 1
        print("FAIL: stats bounds: %s (%s)" % (name, why))


def eq(name, got, want):
    check(name, got == want, "got %r, want %r" % (got, want))


def cmd_check(prefix, path):
    """The expectations of one scenario against tlsrpt-stats' JSON."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    dom = [x for x in doc["domains"] if x["domain"] == D]
    if not dom:
        check(prefix + " domain present", False, "no %s in the output" % D)
        return
    d = dom[0]
    want = SCEN[prefix][1]
    last = [x for x in d["days"] if x["day"] == day(0)][0]
    p = prefix.rstrip(":")
    if "spike" in want:
        eq(p + ": day %s spike" % day(0), last["spike"], want["spike"])
        eq(p + ": day %s in the spike list" % day(0), day(0) in [
            s if isinstance(s, str) else s.get("day") for s in d["spikes"]], want["spike"])
    if "median" in want:
        eq(p + ": baseline median", last["baseline_median"], want["median"])
    if "orgs" in want:
        eq(p + ": organisations verdict", d["organisations"]["verdict"], want["orgs"])
    if "mxs" in want:
        eq(p + ": MX verdict", d["mx_hosts"]["verdict"], want["mxs"])
    if "majority" in want:
        eq(p + ": result-type majority", d["result_types"]["majority"], want["majority"])
        check(p + ": headline only with a majority",
              (d["result_types"]["headline"] is None) == (want["majority"] is None),
              "headline %r" % d["result_types"]["headline"])
    if "ready" in want:
        rd = d["readiness"]
        eq(p + ": readiness verdict", rd["verdict"], want["ready"])
        eq(p + ": clean days", rd["clean_days"], want["clean"])
        eq(p + ": more days needed", rd["more_days_needed"], want.get("needed", 0))
    if "silent" in want:
        eq(p + ": silent reporters", [s["name"] for s in d["silent_reporters"]], want["silent"])
    if "saturated" in want:
        eq(p + ": window ok and saturated", (d["totals"]["ok"], d["totals"]["saturated"]),
           (want["ok"], want["saturated"]))


def cmd_window(n, path):
    """--days n: a window of n days ending on the last day, every one listed."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    eq("--days %d: window" % n, doc["window"],
       {"first_day": day(n - 1), "last_day": day(0), "days": n})
    eq("--days %d: days listed" % n, [len(x["days"]) for x in doc["domains"]], [n])


def main():
    cmd = sys.argv[1]
    if cmd == "prefixes":
        print("\n".join(SCEN))
        return 0
    if cmd == "seed":
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "stats_check", os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats-check.py"))
        sc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sc)
        pairs = []
        for prefix, (days, _) in SCEN.items():
            for k, v in keys(prefix, days).items():
                pairs += [k, v]
        sc.cmd_mcset(sys.argv[2], pairs)
        return 0
    try:
        if cmd == "window":
            cmd_window(int(sys.argv[2]), sys.argv[3])
        else:
            cmd_check(sys.argv[2], sys.argv[3])
    except Exception as e:  # a crash in a check is a failure, not a pass
        check(sys.argv[2] + " checks ran", False, "%s: %s" % (type(e).__name__, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
