#!/usr/bin/env python3
"""stats-gen.py OUTDIR - write the TLS-RPT report files (RFC 8460 JSON) that
tests/t-stats.sh counts with `tlsrpt-parse --push` and then reads back with
tlsrpt-stats. (stats-gen.py v2 OUTDIR and stats-gen.py chain OUTDIR: the key
schema v2 scenarios, see V2_DOC below.) 40 days, 2025-02-20 .. 2025-03-31 (day i = 2025-02-20 + i),
one report per organisation, domain and day. The scenario (and so every value
t-stats.sh expects) is described here; the window checked is the last 30 days
(i = 10..39, 2025-03-02 .. 2025-03-31) with 7 lead days (i = 3..9).

spike.example   mode testing
  Google Inc.            every day: ok 1000, fail 3 (certificate-expired, mx1) for i <= 27,
                         except i = 13 (2025-03-05): 9; i = 28 (2025-03-20): 400; 0 after.
  Microsoft Corporation  every day: ok 500; i = 28: 4 failed (starttls-not-supported, mx2).
  Quiet Mail AG          i = 0..34 (last 2025-03-26): ok 100 -> silent reporter.
  => one spike (2025-03-20: 404 > 3 x median 3), failures concentrated on Google Inc.
     and mx1 (460 of 464), certificate-expired majority, failures on 2025-03-20 reset
     the count: 11 clean days, 10 more needed.
broad.example   mode enforce
  Org One ok 800 fail 3 (sts-policy-fetch-error, mx1), Org Two ok 700 fail 3
  (sts-policy-fetch-error, mx2), Org Three ok 600 fail 2 (certificate-host-mismatch, mx3),
  a hostile organisation ok 100 fail 2 (validation-failure, hostile MX name); every day.
  => spread (top Org One / mx1.broad.example 30%), sts-policy-fetch-error 60% majority,
     already enforcing.
clean.example   mode testing
  Google Inc. ok 2000, Microsoft Corporation ok 1000, every day but i = 25 and 33
  (2025-03-17, 2025-03-25: no report at all); Google fails 5 (certificate-not-trusted,
  mx.clean.example) on i = 12 and i = 15 (2025-03-07).
  => 22 clean days (2025-03-08 .. 2025-03-31 less the 2 days without reports): ready.
"""
import datetime
import json
import os
import sys

HOSTILE_ORG = 'Evil <b>&"Org"</b>\n\u202e\u00e9'
HOSTILE_MX = '<img src=x onerror=alert(1)>.broad.example'
START = datetime.date(2025, 2, 20)


def report(org, domain, i, mode, ok, failures):
    """One RFC 8460 report of org about domain for day i; failures: [(type, mx, n)]."""
    day = START + datetime.timedelta(days=i)
    fail = sum(n for _, _, n in failures)
    mxs = sorted({mx for _, mx, _ in failures}) or ["mx1." + domain]
    return {
        "organization-name": org,
        "date-range": {"start-datetime": day.isoformat() + "T00:00:00Z",
                       "end-datetime": day.isoformat() + "T23:59:59Z"},
        "contact-info": "tlsrpt@reporter.example",
        "report-id": "%s/%s/%s" % (org, domain, day.isoformat()),
        "policies": [{
            "policy": {"policy-type": "sts",
                       "policy-string": ["version: STSv1", "mode: " + mode,
                                         "mx: *." + domain, "max_age: 604800"],
                       "policy-domain": domain, "mx-host": mxs},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": fail},
            "failure-details": [{"result-type": t, "sending-mta-ip": "192.0.2.%d" % (k + 1),
                                 "receiving-mx-hostname": mx, "failed-session-count": n}
                                for k, (t, mx, n) in enumerate(failures)],
        }],
    }


def spike_example(i):
    """Reports of spike.example on day i."""
    out = []
    g = 3 if i <= 27 else 0
    g = 9 if i == 13 else 400 if i == 28 else g
    out.append(("Google Inc.", 1000, [("certificate-expired", "mx1.spike.example", g)] if g else []))
    ms = [("starttls-not-supported", "mx2.spike.example", 4)] if i == 28 else []
    out.append(("Microsoft Corporation", 500, ms))
    if i <= 34:
        out.append(("Quiet Mail AG", 100, []))
    return "spike.example", "testing", out


def broad_example(i):
    """Reports of broad.example on day i."""
    return "broad.example", "enforce", [
        ("Org One", 800, [("sts-policy-fetch-error", "mx1.broad.example", 3)]),
        ("Org Two", 700, [("sts-policy-fetch-error", "mx2.broad.example", 3)]),
        ("Org Three", 600, [("certificate-host-mismatch", "mx3.broad.example", 2)]),
        (HOSTILE_ORG, 100, [("validation-failure", HOSTILE_MX, 2)]),
    ]


def clean_example(i):
    """Reports of clean.example on day i."""
    if i in (25, 33):
        return "clean.example", "testing", []
    g = [("certificate-not-trusted", "mx.clean.example", 5)] if i in (12, 15) else []
    return "clean.example", "testing", [("Google Inc.", 2000, g),
                                        ("Microsoft Corporation", 1000, [])]


V2_DOC = """
v2 OUTDIR: files in OUTDIR/SIGNER/ (SIGNER = the DKIM organisational domain given to
`stats-seed -k`, or "none": counted with the organization-name as identity).
lab.example, 2025-03-30 and 2025-03-31, one sts report a day from each of:
  google.com     "Google Inc."             ok 100, 4 failed (certificate-expired, mx1)
  microsoft.com  "Microsoft Corporation"   ok 50
  none           "Plain Org"               ok 10
  evil.example   HOSTILE_LABEL             ok 1, 1 failed (validation-failure, mx2)
  => orgs google.com (label Google Inc.) ok 200 fail 8, microsoft.com ok 100, Plain Org
     (no label) ok 20, evil.example (label HOSTILE_LABEL) ok 2 fail 2.
pt.example ("PT Org", none):
  2025-03-31: sts ok 100 fail 10, tlsa ok 90 fail 30, no-policy-found ok 5 fail 1,
              "weird" (other) ok 2;  2025-03-30: sts ok 50, no-policy-found ok 3.
  => rule 12 per report: the larger of sts / tlsa (ok + fail), plus the others:
     PT_DAYS gives the expected values (stats-check.py computes them with rule12()).
part.example ("Part Org", none): 2025-03-29 sts ok 7 fail 1; t-stats.sh then marks
  that report partial (stats-seed partial): the day 2025-03-29 is marked.
chain OUTDIR: chmx.example, 2025-03-31, "Chain Org" (none), two reports whose failures
  name CHAIN_MX distinct MX hosts (1000 + the rest: the store counts at most 1000 MX
  names per report and domain), 1 failed session each: its mxs set is longer than one
  64 KB link.
"""
HOSTILE_LABEL = 'Evil <b>"x"</b>&\n\u202e\u00e9'
PT_DAYS = {  # day: [(policy-type, ok, fail)]
    "2025-03-31": [("sts", 100, 10), ("tlsa", 90, 30), ("no-policy-found", 5, 1),
                   ("weird", 2, 0)],
    "2025-03-30": [("sts", 50, 0), ("no-policy-found", 3, 0)],
}
CHAIN_MX = 1500


def v2_report(org, rid, day, policies):
    """A report of org for day with policies [(type, domain, ok, [(rt, mx, n)])]."""
    out = []
    for ptype, domain, ok, fails in policies:
        out.append({
            "policy": {"policy-type": ptype, "policy-domain": domain,
                       "policy-string": ["version: STSv1", "mode: testing"] if ptype == "sts"
                       else []},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(n for _, _, n in fails)},
            "failure-details": [{"result-type": t, "receiving-mx-hostname": mx,
                                 "failed-session-count": n} for t, mx, n in fails]})
    return {"organization-name": org, "report-id": rid,
            "date-range": {"start-datetime": day + "T00:00:00Z",
                           "end-datetime": day + "T23:59:59Z"},
            "contact-info": "tlsrpt@reporter.example", "policies": out}


def write(outdir, signer, name, rep):
    """Write one report file into OUTDIR/SIGNER/NAME."""
    d = os.path.join(outdir, signer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        json.dump(rep, f, indent=1)


LAB = [("google.com", "Google Inc.", 100, [("certificate-expired", "mx1.lab.example", 4)]),
       ("microsoft.com", "Microsoft Corporation", 50, []),
       ("none", "Plain Org", 10, []),
       ("evil.example", HOSTILE_LABEL, 1, [("validation-failure", "mx2.lab.example", 1)])]
LAB_DAYS = ("2025-03-30", "2025-03-31")
# t-stats.sh: not counted (arrival day, reason, count); the last is outside the window
NC = [("2025-03-30", "foreign-domain", 3), ("2025-03-30", "corrupt-json", 1),
      ("2025-03-31", "no-date", 2), ("2025-02-01", "invalid-report", 5)]


def main_v2(outdir):
    """The key schema v2 scenario (V2_DOC)."""
    n = 0
    for day in LAB_DAYS:
        for signer, org, ok, fails in LAB:
            n += 1
            write(outdir, signer, "lab%d.json" % n,
                  v2_report(org, "lab/%s/%s" % (signer, day), day,
                            [("sts", "lab.example", ok, fails)]))
    for day, pols in PT_DAYS.items():
        write(outdir, "none", "pt-%s.json" % day,
              v2_report("PT Org", "pt/" + day, day,
                        [(t, "pt.example", ok, [("validation-failure", "mx.pt.example", f)]
                          if f else []) for t, ok, f in pols]))
    write(outdir, "none", "part.json",
          v2_report("Part Org", "part/1", "2025-03-29",
                    [("sts", "part.example", 7, [("starttls-not-supported", "mx.part.example", 1)])]))


def chain_mx(i):
    """The i-th MX name of the chain scenario (about 60 bytes)."""
    return "mx%04d-%s.chmx.example" % (i, "a" * 40)


def main_chain(outdir):
    """One domain-day whose mxs set spans more than one link."""
    for k, (lo, hi) in enumerate(((0, 1000), (1000, CHAIN_MX))):
        write(outdir, "none", "chain%d.json" % k,
              v2_report("Chain Org", "chain/%d" % k, "2025-03-31",
                        [("sts", "chmx.example", 0,
                          [("certificate-expired", chain_mx(i), 1) for i in range(lo, hi)])]))


def main():
    if sys.argv[1] == "v2":
        return main_v2(sys.argv[2])
    if sys.argv[1] == "chain":
        return main_chain(sys.argv[2])
    if sys.argv[1] == "nc":                    # the not-counted lines for t-stats.sh
        for day, reason, count in NC:
            print(day, reason, count)
        return None
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    n = 0
    for i in range(40):
        for gen in (spike_example, broad_example, clean_example):
            domain, mode, rows = gen(i)
            for org, ok, failures in rows:
                n += 1
                path = os.path.join(outdir, "r%04d.json" % n)
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(report(org, domain, i, mode, ok, failures), f, indent=1)
    print(n)


if __name__ == "__main__":
    main()
