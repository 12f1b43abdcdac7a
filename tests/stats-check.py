#!/usr/bin/env python3
"""stats-check.py - the checks of tests/t-stats.sh on tlsrpt-stats output,
for the scenario of tests/stats-gen.py (read its docstring for where every
expected value comes from). Prints PASS:/FAIL: lines.

  stats-check.py json FILE        every analysis, exactly, from --format json
  stats-check.py json7 FILE       the same data with --days 7
  stats-check.py text FILE        key lines of --format text, 80 columns, no controls
  stats-check.py prom FILE        samples of --format prometheus
  stats-check.py html FILE        structure and escaping of --format html
  stats-check.py dom FILE         the DOM Chromium rendered (--dump-dom)
  stats-check.py png FILE         the screenshot is a real 1200x2000 PNG with content
  stats-check.py hostile FILE     --format json of the hostile-index data is valid
  stats-check.py single FILE      --format json of the one-reporter data (verdict single)
  stats-check.py v2 FILE          --format json of the key schema v2 scenario (stats-gen.py
                                  V2_DOC): labels, policy types, not counted, partial
  stats-check.py v2text FILE      the same as text; v2prom, v2html: Prometheus, HTML
  stats-check.py chain FILE       --format json of the chained sets (P domains, one mxs)
  stats-check.py bad FILE         the v2 scenario with a malformed, a padded and two
                                  saturated counters (see cmd_bad)
  stats-check.py badtext FILE     its text view
  stats-check.py lost WHY FILE    --format json says counters were lost for reason WHY
  stats-check.py notlost FILE     --format json: the loss check ran and found nothing
  stats-check.py mcset PORT KEY VALUE [KEY VALUE...]   write raw keys (test setup)
"""
import importlib.util
import json
import os
import re
import socket
import struct
import sys
import zlib

_spec = importlib.util.spec_from_file_location(
    "stats_gen", os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats-gen.py"))
GEN = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(GEN)
INT64_MAX = 2 ** 63 - 1

HOSTILE_ORG = 'Evil <b>&"Org"</b>\n\u202e\u00e9'
HOSTILE_MX = '<img src=x onerror=alert(1)>.broad.example'
failed = 0


def check(name, cond, why=""):
    """Print one PASS/FAIL line."""
    global failed
    if cond:
        print("PASS: stats: " + name)
    else:
        failed += 1
        print("FAIL: stats: %s (%s)" % (name, why))


def eq(name, got, want):
    """PASS when got == want."""
    check(name, got == want, "got %r, want %r" % (got, want))


def check_window(doc):
    """Document-level fields."""
    eq("json schema", doc.get("schema"), "tlsrpt-stats/2")
    eq("json loss check ran, nothing lost", (doc["loss"]["checked"], doc["loss"]["lost"]),
       (True, False))
    eq("json no malformed counters", doc["malformed_counters"], {"total": 0, "keys": []})
    eq("json window", doc.get("window"),
       {"first_day": "2025-03-02", "last_day": "2025-03-31", "days": 30})
    eq("json rules", sorted(doc.get("rules", {})),
       ["distribution", "readiness", "result_type", "silent", "spike"])
    check("json spike rule states its numbers",
          all(s in doc["rules"]["spike"] for s in (">= 10", "3 x", "median", "7 days")))
    check("json readiness rule states 21 days", ">= 21 clean days" in doc["rules"]["readiness"])
    eq("json thresholds", doc.get("thresholds", {}).get("ready_days"), 21)


def check_spike(d):
    """spike.example: spike, single-reporter cluster, reset, silent reporter."""
    eq("spike totals", d["totals"], {"reports": 85, "ok": 47500, "fail": 464,
                                     "failure_rate": round(464 / 47964, 6), "report_days": 30,
                                     "saturated": False})
    eq("spike policy types: all sts", d["policy_types"]["sts"], {"ok": 47500, "fail": 464,
                                                                  "days": 30})
    eq("spike spikes", d["spikes"], ["2025-03-20"])
    days = {x["day"]: x for x in d["days"]}
    eq("spike day count", len(d["days"]), 30)
    eq("spike day 03-20", (days["2025-03-20"]["fail"], days["2025-03-20"]["spike"],
                           days["2025-03-20"]["baseline_median"]), (404, True, 3.0))
    eq("spike 03-05 below the floor is no spike", (days["2025-03-05"]["fail"],
                                                   days["2025-03-05"]["spike"]), (9, False))
    eq("spike first window day uses lead days", (days["2025-03-02"]["baseline_days"],
                                                 days["2025-03-02"]["baseline_median"]), (7, 3.0))
    o = d["organisations"]
    eq("spike org verdict", (o["verdict"], o["top"], o["top_share"], o["failed_total"]),
       ("concentrated", "Google Inc.", round(460 / 464, 4), 464))
    check("spike org advice", "look at that reporter's side" in o["advice"], o["advice"])
    eq("spike org rows", [(r["name"], r["ok"], r["fail"]) for r in o["rows"]],
       [("Google Inc.", 30000, 460), ("Microsoft Corporation", 15000, 4),
        ("Quiet Mail AG", 2500, 0)])
    m = d["mx_hosts"]
    eq("spike mx verdict", (m["verdict"], m["top"], [r["fail"] for r in m["rows"]]),
       ("concentrated", "mx1.spike.example", [460, 4]))
    check("spike mx advice", m["advice"].endswith("look at that MX"), m["advice"])
    t = d["result_types"]
    eq("spike majority type", (t["majority"], [(r["type"], r["fail"]) for r in t["rows"]]),
       ("certificate-expired", [("certificate-expired", 460), ("starttls-not-supported", 4)]))
    check("spike headline says renew", t["headline"] and "renew" in t["headline"], t["headline"])
    eq("spike readiness", d["readiness"], {
        "mode": "testing", "mode_day": "2025-03-31", "clean_days": 11, "required_days": 21,
        "more_days_needed": 10, "reset_day": "2025-03-20", "verdict": "reset",
        "message": "failures on 2025-03-20 reset the count: 10 more clean days needed"})
    eq("spike silent reporter", d["silent_reporters"],
       [{"name": "Quiet Mail AG", "label": None, "last_seen": "2025-03-26"}])
    eq("spike org identity is the organization-name without DKIM (no label)",
       [(r["label"], r["display"] == r["name"]) for r in o["rows"]], [(None, True)] * 3)


def check_broad(d):
    """broad.example: broad cluster, enforce mode, hostile strings."""
    eq("broad totals", (d["totals"]["reports"], d["totals"]["ok"], d["totals"]["fail"]),
       (120, 66000, 300))
    eq("broad no spike (flat 10/day)", d["spikes"], [])
    o = d["organisations"]
    eq("broad org verdict", (o["verdict"], o["top"], o["top_share"]), ("spread", "Org One", 0.3))
    check("broad org advice", o["advice"].endswith("look at your policy"), o["advice"])
    eq("broad org shares", sorted(r["share"] for r in o["rows"]), [0.2, 0.2, 0.3, 0.3])
    eq("broad hostile org kept verbatim", [r["name"] for r in o["rows"]][3], HOSTILE_ORG)
    m = d["mx_hosts"]
    eq("broad mx verdict", (m["verdict"], m["top"], m["top_share"]),
       ("spread", "mx1.broad.example", 0.3))
    check("broad mx advice", m["advice"].endswith("look at all your MX hosts"), m["advice"])
    # issue 13: an MX that is not a host name never reaches a key; it counts under ~invalid
    check("broad hostile mx counted under ~invalid, never by its name",
          "~invalid" in [r["name"] for r in m["rows"]] and HOSTILE_MX not in [r["name"] for r in m["rows"]])
    t = d["result_types"]
    eq("broad majority type", (t["majority"], t["rows"][0]["share"]),
       ("sts-policy-fetch-error", 0.6))
    check("broad headline names the policy host",
          t["headline"] and "mta-sts.broad.example" in t["headline"], t["headline"])
    r = d["readiness"]
    eq("broad readiness", (r["mode"], r["verdict"], r["message"]),
       ("enforce", "already-enforcing", "already enforcing"))
    eq("broad no silent reporter", d["silent_reporters"], [])


def check_clean(d):
    """clean.example: 22 clean days in testing mode, 2 days without reports."""
    eq("clean totals", d["totals"], {"reports": 56, "ok": 84000, "fail": 10,
                                     "failure_rate": round(10 / 84010, 6), "report_days": 28,
                                     "saturated": False})
    days = {x["day"]: x for x in d["days"]}
    eq("clean days without reports", [k for k, v in sorted(days.items())
                                      if not v["has_reports"]], ["2025-03-17", "2025-03-25"])
    eq("clean no-report day fields", (days["2025-03-17"]["reports"],
                                      days["2025-03-17"]["failure_rate"]), (0, None))
    eq("clean readiness", d["readiness"], {
        "mode": "testing", "mode_day": "2025-03-31", "clean_days": 22, "required_days": 21,
        "more_days_needed": 0, "reset_day": "2025-03-07", "verdict": "ready",
        "message": "ready to switch to enforce (22 clean days in testing mode)"})
    o = d["organisations"]
    eq("clean org verdict", (o["verdict"], o["top"], o["top_share"]),
       ("concentrated", "Google Inc.", 1.0))
    eq("clean majority type", d["result_types"]["majority"], "certificate-not-trusted")
    eq("clean no spike", d["spikes"], [])


def cmd_json(path):
    """Every analysis of the 30-day window."""
    doc = json.load(open(path, encoding="utf-8"))
    check_window(doc)
    doms = {d["domain"]: d for d in doc["domains"]}
    eq("json domains", sorted(doms), ["broad.example", "clean.example", "spike.example"])
    check_spike(doms["spike.example"])
    check_broad(doms["broad.example"])
    check_clean(doms["clean.example"])
    check("json summary line", doms["clean.example"]["summary"].startswith(
        "clean.example: 56 reports, 84000 ok, 10 failed (0.01%), 0 spikes; ready"),
        doms["clean.example"]["summary"])


def cmd_json7(path):
    """--days 7 spike.example: no failure day in the window -> more days needed."""
    doc = json.load(open(path, encoding="utf-8"))
    eq("days7 window", doc["window"]["days"], 7)
    d = doc["domains"][0]
    eq("days7 one named domain", (len(doc["domains"]), d["domain"]), (1, "spike.example"))
    r = d["readiness"]
    eq("days7 readiness", (r["clean_days"], r["more_days_needed"], r["reset_day"], r["verdict"],
                           r["message"]),
       (7, 14, None, "more-days-needed", "14 more clean days needed (7 so far)"))
    eq("days7 silent reporter (seen 03-26, window from 03-25)",
       [s["name"] for s in d["silent_reporters"]], ["Quiet Mail AG"])


def cmd_text(path):
    """Key lines of the text view, 80 columns, terminal-safe."""
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    flat = " ".join(text.split())           # prose may be wrapped anywhere
    check("text fits 80 columns", max(len(l) for l in lines) <= 80,
          max(lines, key=len))
    check("text has no control characters",
          not re.search("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]", text))
    check("text summary header first", lines[2].split() ==
          ["DOMAIN", "REPORTS", "OK", "FAILED", "RATE", "SPK", "READINESS"], lines[2])
    row = [l for l in lines[3:6] if l.startswith("spike.example")]
    eq("text summary row", row and row[0].split(),
       ["spike.example", "85", "47500", "464", "0.97%", "1", "10", "more", "(reset)"])
    check("text spike line", re.search(r"^2025-03-20 +3 +1600 +404 +20\.16%  SPIKE \(median 3\)$",
                                       text, re.M))
    check("text no-report day", re.search(r"^2025-03-17 .*no reports$", text, re.M))
    check("text org verdict", "concentrated: Google Inc. has 99% of failed sessions; look at"
          in flat)
    check("text mx verdict", "spread: the top MX, mx1.broad.example, has 30% of failed" in flat)
    check("text headline", "99% of failed sessions are certificate-expired" in flat)
    check("text readiness ready", "ready to switch to enforce (22 clean days in testing" in flat)
    check("text readiness reset", "mode testing (reported 2025-03-31), 11 clean days: failures "
          "on 2025-03-20 reset the count: 10 more clean days needed" in flat)
    check("text silent reporter", re.search(r"^  Quiet Mail AG +last report 2025-03-26$", text,
                                            re.M))
    check("text hostile org cleaned", 'Evil <b>&"Org"</b>??\u00e9' in text)
    check("text rules printed", "\nRules\n  spike: a day is a spike when" in text)


def cmd_prom(path):
    """Samples of the Prometheus exposition."""
    text = open(path, encoding="utf-8").read()
    want = [
        'tlsrpt_window_sessions{domain="spike.example",result="fail"} 464',
        'tlsrpt_window_sessions{domain="clean.example",result="ok"} 84000',
        'tlsrpt_window_failed_sessions{domain="broad.example",result_type="sts-policy-fetch-error"} 180',
        'tlsrpt_window_failed_sessions{domain="clean.example",result_type="dane-required"} 0',
        'tlsrpt_window_spikes{domain="spike.example"} 1',
        'tlsrpt_latest_day_sessions{domain="spike.example",result="ok"} 1500',
        'tlsrpt_sts_clean_day_run{domain="clean.example"} 22',
        'tlsrpt_sts_enforce_ready{domain="clean.example"} 1',
        'tlsrpt_sts_enforce_ready{domain="spike.example"} 0',
        'tlsrpt_sts_mode{domain="broad.example",mode="enforce"} 1',
        'tlsrpt_silent_reporters{domain="spike.example"} 1',
        'tlsrpt_window_org_failed_sessions{domain="broad.example",org="Evil <b>&\\"Org\\"</b>\\n\u202e\u00e9",org_label=""} 60',
        'tlsrpt_window_policy_type_sessions{domain="spike.example",policy_type="sts",result="fail"} 464',
        'tlsrpt_window_policy_type_sessions{domain="spike.example",policy_type="tlsa",result="ok"} 0',
        'tlsrpt_counters_lost{reason="restart"} 0',
        'tlsrpt_counters_loss_checked 1',
        'tlsrpt_stats_malformed_counters 0',
    ]
    for w in want:
        check("prom " + w.split("{")[0] + " " + (w.split("{") + [""])[1][:40], w + "\n" in text, w)
    eq("prom every RFC type per domain", len(re.findall(
        r"^tlsrpt_window_failed_sessions\{", text, re.M)), 36)
    check("prom no per-day labels", 'day="' not in text)


def cmd_html(path):
    """Structure and escaping of the HTML page."""
    html = open(path, encoding="utf-8").read()
    eq("html daily charts", len(re.findall(r'<svg [^>]*class="daily"', html)), 3)
    eq("html type charts", len(re.findall(r'<svg [^>]*class="types"', html)), 3)
    eq("html one spike marker", html.count('class="spiketext"'), 1)
    check("html spike tooltip", "<title>2025-03-20: 3 reports, 1600 ok, 404 failed (20.16%), "
          "spike</title>" in html)
    check("html daily table", "<tr><td>2025-03-20</td><td class=\"n\">3</td><td class=\"n\">"
          "1600</td><td class=\"n\">404</td><td class=\"n\">20.16%</td><td>spike</td></tr>"
          in html)
    check("html no-report days shaded", "<title>2025-03-17: no reports</title>" in html)
    check("html hostile org escaped", "Evil &lt;b&gt;&amp;&quot;Org&quot;&lt;/b&gt;" in html)
    check("html hostile mx never shown (counted under ~invalid)", "onerror" not in html and "~invalid" in html)
    check("html no injected tags", "<img" not in html and "<b>&" not in html)
    check("html no script, no external assets",
          not re.search(r"<script|<link|<iframe|url\(|@import|\ssrc=\"|href=\"(?!#)", html))
    check("html readiness verdicts", "ready to switch to enforce" in html and
          "already enforcing" in html and "failures on 2025-03-20 reset the count" in html)
    check("html tables", 'class="orgs"' in html and 'class="mx"' in html)
    check("html silent reporter", "Quiet Mail AG: last report 2025-03-26" in html)


def cmd_dom(path):
    """The DOM after Chromium rendered the page."""
    dom = open(path, encoding="utf-8", errors="replace").read()
    eq("chromium DOM has the daily SVGs", len(re.findall(r'<svg [^>]*class="daily"', dom)), 3)
    check("chromium DOM has the spike mark", ">spike</text>" in dom)
    check("chromium DOM has the readiness box", 'class="verdict good readiness"' in dom)


def cmd_png(path):
    """A real PNG of the window size with more than blank content."""
    data = open(path, "rb").read()
    check("png signature", data[:8] == b"\x89PNG\r\n\x1a\n")
    w, h = struct.unpack(">II", data[16:24])
    eq("png size", (w, h), (1200, 2000))
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in [m.start() - 4 for m in re.finditer(b"IDAT", data)])
    raw = zlib.decompress(idat)
    check("png not blank (many distinct bytes)", len(set(raw[: 400000])) > 20)
    check("png non-trivial size", len(data) > 30000, len(data))


def cmd_hostile(path):
    """Hostile index data: valid JSON, names kept, controls escaped."""
    doc = json.load(open(path, encoding="utf-8"))
    doms = [d["domain"] for d in doc["domains"]]
    eq("hostile domains listed (invalid members skipped)", len(doms), 4)
    check("hostile domain names are safe", all(re.fullmatch(r"[A-Za-z0-9._%-]+", d) for d in doms),
          doms)
    x = [d for d in doc["domains"] if d["domain"] == "x.example"][0]
    eq("hostile counters read", (x["totals"]["ok"], x["totals"]["fail"]), (5, 7))
    names = [r["name"] for r in x["organisations"]["rows"]]
    check("hostile org with NUL/ESC decoded", any("\x1b[31mEvil" in n for n in names), names)
    check("hostile invalid UTF-8 replaced", any("\ufffd" in n for n in names), names)
    labels = [r["label"] for r in x["organisations"]["rows"] if r["label"]]
    check("hostile org label decoded to valid UTF-8 (bad bytes U+FFFD)",
          len(labels) == 1 and labels[0].startswith("\ufffd\ufffd\n<b>\x1b["), labels)
    eq("no mode counted: no-sts verdict", (x["readiness"]["mode"], x["readiness"]["verdict"]),
       (None, "no-sts"))


def cmd_single(path):
    """One reporting organisation in mode none: single verdict, mode-none verdict."""
    d = json.load(open(path, encoding="utf-8"))["domains"][0]
    o = d["organisations"]
    eq("single reporter verdict", (o["verdict"], o["top"]), ("single", "Only Org"))
    check("single reporter advice", "cannot be told from yours" in o["advice"], o["advice"])
    eq("one MX alone is concentrated", d["mx_hosts"]["verdict"], "concentrated")
    eq("mode none verdict", (d["readiness"]["mode"], d["readiness"]["verdict"]),
       ("none", "mode-none"))
    eq("no majority with a 50/50 split", (d["result_types"]["majority"],
                                          d["result_types"]["headline"]), (None, None))


def rule12(pols):
    """Rule 12 for one report and domain: (ok, fail) from [(type, ok, fail)]."""
    cls = {"sts": "sts", "tlsa": "tlsa", "no-policy-found": "no-policy-found"}
    sums = {}
    for t, ok, f in pols:
        c = cls.get(t.lower(), "other")
        o, ff = sums.get(c, (0, 0))
        sums[c] = (o + ok, ff + f)
    s, t = sums.pop("sts", (0, 0)), sums.pop("tlsa", (0, 0))
    big = s if (sum(s), s[1]) >= (sum(t), t[1]) else t
    return (big[0] + sum(v[0] for v in sums.values()), big[1] + sum(v[1] for v in sums.values()))


def ptype_class(t):
    """The policy-type class of a type string."""
    return t if t in ("sts", "tlsa", "no-policy-found") else "other"


def v2_window():
    """The window of the v2 runs (--days 7 --today 2025-03-31)."""
    return ["2025-03-%02d" % d for d in range(25, 32)]


def lab_rows():
    """Expected organisation rows of lab.example: (name, label, ok, fail)."""
    n = len(GEN.LAB_DAYS)
    return sorted(((sg if sg != "none" else org, org if sg != "none" else None, n * ok,
                    n * sum(x[2] for x in fails)) for sg, org, ok, fails in GEN.LAB),
                  key=lambda r: (-r[3], -r[2], r[0]))


def cmd_v2(path):
    """Labels, policy types, not counted and partial days, from --format json."""
    doc = json.load(open(path, encoding="utf-8"))
    doms = {d["domain"]: d for d in doc["domains"]}
    eq("v2 domains", sorted(doms), ["lab.example", "part.example", "pt.example"])
    lab = doms["lab.example"]
    eq("v2 org rows: signer's domain as name, organization-name as label",
       [(r["name"], r["label"], r["ok"], r["fail"]) for r in lab["organisations"]["rows"]],
       lab_rows())
    g = [r for r in lab["organisations"]["rows"] if r["name"] == "google.com"][0]
    eq("v2 org display", g["display"], "google.com (Google Inc.)")
    eq("v2 top org and its label", (lab["organisations"]["top"], lab["organisations"]["top_label"]),
       (lab_rows()[0][0], lab_rows()[0][1]))
    check("v2 advice names the org with its label",
          "google.com (Google Inc.)" in lab["organisations"]["advice"], lab["organisations"]["advice"])
    eq("v2 hostile label kept verbatim (valid UTF-8)",
       [r["label"] for r in lab["organisations"]["rows"] if r["name"] == "evil.example"],
       [GEN.HOSTILE_LABEL])
    pt = doms["pt.example"]
    days = {x["day"]: x for x in pt["days"]}
    want_ok = want_fail = 0
    types = {}
    for day, pols in GEN.PT_DAYS.items():
        ok, fail = rule12(pols)
        want_ok, want_fail = want_ok + ok, want_fail + fail
        eq("v2 rule 12 on %s (sts and tlsa once, the rest added)" % day,
           (days[day]["ok"], days[day]["fail"]), (ok, fail))
        per = {}
        for t, o, f in pols:
            c = ptype_class(t)
            a = per.get(c, (0, 0))
            per[c] = (a[0] + o, a[1] + f)
            b = types.get(c, (0, 0, 0))
            types[c] = (b[0] + o, b[1] + f, b[2])
        for c in per:
            types[c] = types[c][:2] + (types[c][2] + 1,)
        eq("v2 policy types of %s" % day, days[day]["policy_types"],
           {c: {"ok": o, "fail": f} for c, (o, f) in per.items()})
    eq("v2 pt totals", (pt["totals"]["ok"], pt["totals"]["fail"]), (want_ok, want_fail))
    eq("v2 pt policy types (window)", pt["policy_types"],
       {c: {"ok": types.get(c, (0, 0, 0))[0], "fail": types.get(c, (0, 0, 0))[1],
            "days": types.get(c, (0, 0, 0))[2]} for c in ("sts", "tlsa", "no-policy-found", "other")})
    part = doms["part.example"]
    eq("v2 partial day marked", [x["day"] for x in part["days"] if x["partial"]], ["2025-03-29"])
    eq("v2 partial days listed", [x["day"] for x in part["partial_days"]], ["2025-03-29"])
    r = part["partial_days"][0]["rebuild"]
    check("v2 partial day names its rebuild command",
          r.startswith("tlsrpt-parse --rebuild -c ") and r.endswith(" --day 2025-03-29"), r)
    eq("v2 no partial mark elsewhere", [x["day"] for d in (lab, pt) for x in d["days"]
                                        if x["partial"]], [])
    win = v2_window()
    nc = [(d, rs, n) for d, rs, n in GEN.NC if d in win]
    by = {}
    for _, rs, n in nc:
        by[rs] = by.get(rs, 0) + n
    got = doc["not_counted"]
    eq("v2 not counted: total of the window", got["total"], sum(n for _, _, n in nc))
    eq("v2 not counted: by reason", got["by_reason"], by)
    eq("v2 not counted: per day and reason",
       [(x["day"], sorted(x["reasons"].items())) for x in got["days"]],
       [(d, sorted((rs, n) for dd, rs, n in nc if dd == d)) for d in sorted({d for d, _, _ in nc})])


def cmd_v2text(path):
    """The v2 scenario as text."""
    text = open(path, encoding="utf-8").read()
    flat = " ".join(text.split())
    check("v2 text fits 80 columns", max(len(l) for l in text.split("\n")) <= 80)
    check("v2 text has no control characters",
          not re.search("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]", text))
    check("v2 text org with label", re.search(r"^google\.com \(Google Inc\.\) +200 +8 ", text, re.M))
    check("v2 text hostile label cleaned", 'evil.example (Evil <b>"x"</b>&??\u00e9)' in text)
    check("v2 text partial day and its rebuild command",
          re.search(r"^2025-03-29 .* PARTIAL\?$", text, re.M) and
          re.search(r"rebuild that day with: tlsrpt-parse --rebuild -c \S+ --day 2025-03-29", flat))
    check("v2 text policy types", re.search(r"^tlsa +90 +30 +1$", text, re.M) and
          re.search(r"^other +2 +0 +1$", text, re.M))
    for d, rs, n in GEN.NC:
        present = re.search(r"^%s %s +%d$" % (d, re.escape(rs), n), text, re.M) is not None
        eq("v2 text not counted %s %s" % (d, rs), present, d in v2_window())


def cmd_v2prom(path):
    """The v2 scenario as Prometheus samples."""
    text = open(path, encoding="utf-8").read()
    want = ['tlsrpt_window_org_failed_sessions{domain="lab.example",org="google.com",'
            'org_label="Google Inc."} 8',
            'tlsrpt_window_org_failed_sessions{domain="lab.example",org="Plain Org",org_label=""} 0',
            'tlsrpt_window_org_failed_sessions{domain="lab.example",org="evil.example",'
            'org_label="Evil <b>\\"x\\"</b>&\\n\u202e\u00e9"} 2',
            'tlsrpt_window_policy_type_sessions{domain="pt.example",policy_type="tlsa",result="fail"} 30',
            'tlsrpt_window_policy_type_sessions{domain="pt.example",policy_type="other",result="ok"} 2',
            'tlsrpt_window_partial_marks{domain="part.example"} 1',
            'tlsrpt_window_partial_marks{domain="lab.example"} 0',
            'tlsrpt_counters_lost{reason="restart"} 0']
    win = v2_window()
    by = {}
    for d, rs, n in GEN.NC:
        if d in win:
            by[rs] = by.get(rs, 0) + n
    want += ['tlsrpt_not_counted{reason="%s"} %d' % (rs, n) for rs, n in by.items()]
    for w in want:
        check("v2 prom " + w[:70], w + "\n" in text, w)
    check("v2 prom: no reason outside the window", 'reason="invalid-report"' not in text)


def cmd_v2html(path):
    """The v2 scenario as HTML: labels, partial box, policy types, not counted."""
    html = open(path, encoding="utf-8").read()
    check("v2 html org with label", "<td>google.com (Google Inc.)</td>" in html)
    check("v2 html hostile label escaped",
          "evil.example (Evil &lt;b&gt;&quot;x&quot;&lt;/b&gt;&amp;?\u202e\u00e9)" in html)
    check("v2 html no injected tags", "<b>&quot;" not in html and '<b>"x"' not in html)
    check("v2 html partial box with its rebuild command",
          re.search(r'class="verdict warn partial">2025-03-29: .*--day 2025-03-29</code>', html))
    check("v2 html policy types table", 'class="ptypes"' in html and
          '<tr><td>tlsa</td><td class="n">90</td><td class="n">30</td>' in html)
    check("v2 html not counted table", re.search(
        r'<tr><td>2025-03-30</td><td>foreign-domain</td><td class="n">3</td></tr>', html))


def cmd_chain(path):
    """Chained sets: every member of links 1..N read."""
    doc = json.load(open(path, encoding="utf-8"))
    doms = {d["domain"]: d for d in doc["domains"]}
    eq("chain: every domain of the chained P domains", len(doms), 3501)
    check("chain: a domain from the last link", "d03499.bench.example" in doms)
    m = doms["chmx.example"]["mx_hosts"]
    eq("chain: every MX of the chained mxs set",
       sorted(r["name"] for r in m["rows"]), sorted(GEN.chain_mx(i) for i in range(GEN.CHAIN_MX)))
    eq("chain: their failures", m["failed_total"], GEN.CHAIN_MX)


def cmd_bad(path):
    """v2 data with bad:d:lab.example:2025-03-31:reports = "abc", the PT Org fail of
    pt.example 2025-03-31 = "999" right-padded, part.example 2025-03-29 ptype:sts:ok =
    2^63-1 and pt.example 2025-03-30 ptype:sts:ok = 2^64-1 (memcached's own maximum)."""
    doc = json.load(open(path, encoding="utf-8"))
    doms = {d["domain"]: d for d in doc["domains"]}
    eq("bad: every domain still printed", sorted(doms), ["lab.example", "part.example", "pt.example"])
    eq("bad: the malformed key named and skipped", doc["malformed_counters"],
       {"total": 1, "keys": [{"key": "bad:d:lab.example:2025-03-31:reports", "value": "abc"}]})
    eq("bad: lab.example reports without the malformed day", doms["lab.example"]["totals"]["reports"],
       len(GEN.LAB))
    eq("bad: a right-padded value is a number", [r["fail"] for r in
                                                 doms["pt.example"]["organisations"]["rows"]], [999])
    part = doms["part.example"]
    eq("bad: 2^63-1 reads as saturated", (part["totals"]["ok"], part["totals"]["saturated"],
                                          [x["saturated"] for x in part["days"] if x["day"] == "2025-03-29"]),
       (INT64_MAX, True, [True]))
    pt = doms["pt.example"]
    eq("bad: 2^64-1 reads as 2^63-1, and the window sum saturates (no wrap)",
       (pt["policy_types"]["sts"]["ok"], pt["totals"]["ok"], pt["totals"]["saturated"]),
       (INT64_MAX, INT64_MAX, True))
    eq("bad: saturated said at the top", doc["saturated"], True)
    eq("bad: lab.example not saturated", doms["lab.example"]["totals"]["saturated"], False)


def cmd_badtext(path):
    """The text view of the bad data."""
    text = open(path, encoding="utf-8").read()
    flat = " ".join(text.split())
    check("bad text: malformed warning names the key",
          "WARNING: 1 malformed counter skipped" in flat and
          'bad:d:lab.example:2025-03-31:reports holds "abc"' in flat)
    check("bad text: saturated shown", ">=2^63-1" in text and
          "NOTE: counts shown as >=2^63-1 are saturated: at least 9223372036854775807" in flat)
    check("bad text: every domain summarised", all(re.search("^%s " % re.escape(d), text, re.M)
                                                   for d in ("lab.example", "pt.example",
                                                             "part.example")))
    check("bad text fits 80 columns", max(len(l) for l in text.split("\n")) <= 80,
          max(text.split("\n"), key=len))


def cmd_lost(why, path):
    """Counters were lost for reason why: said, with the rebuild command."""
    doc = json.load(open(path, encoding="utf-8"))
    l = doc["loss"]
    eq("lost (%s): flagged" % why, (l["checked"], l["lost"], why in l["reasons"]), (True, True, True))
    check("lost (%s): the message says lost or evicted" % why,
          l["message"] and ("lost" in l["message"] or "evicted" in l["message"]), l["message"])
    check("lost (%s): names the rebuild command" % why,
          l["rebuild"] and l["rebuild"].startswith("tlsrpt-parse --rebuild -c "), l["rebuild"])


def cmd_notlost(path):
    """The loss check ran and found nothing."""
    doc = json.load(open(path, encoding="utf-8"))
    eq("not lost: checked, nothing lost", (doc["loss"]["checked"], doc["loss"]["lost"],
                                           doc["loss"]["reasons"]), (True, False, []))


def cmd_mcset(port, pairs):
    """Write raw keys with the text protocol (test setup only)."""
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    for k, v in zip(pairs[0::2], pairs[1::2]):
        b = v.encode("utf-8", "surrogateescape")
        s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(b), b))
        resp = b""
        while not resp.endswith(b"\r\n"):
            resp += s.recv(100)
        if resp != b"STORED\r\n":
            sys.exit("set %s: %r" % (k, resp))
    s.close()


def main():
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "mcset":
        cmd_mcset(arg, sys.argv[3:])
        return 0
    if cmd == "lost":
        try:
            cmd_lost(arg, sys.argv[3])
        except Exception as e:  # a crash in a check is a failure, not a pass
            check("lost checks ran", False, "%s: %s" % (type(e).__name__, e))
        return 1 if failed else 0
    fn = {"json": cmd_json, "json7": cmd_json7, "text": cmd_text, "prom": cmd_prom,
          "html": cmd_html, "dom": cmd_dom, "png": cmd_png, "hostile": cmd_hostile,
          "single": cmd_single, "v2": cmd_v2, "v2text": cmd_v2text, "v2prom": cmd_v2prom,
          "v2html": cmd_v2html, "chain": cmd_chain, "bad": cmd_bad, "badtext": cmd_badtext,
          "notlost": cmd_notlost}[cmd]
    try:
        fn(arg)
    except Exception as e:  # a crash in a check is a failure, not a pass
        check(cmd + " checks ran", False, "%s: %s" % (type(e).__name__, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
