#!/usr/bin/env python3
"""mkmails.py - write the demo's mails and what the demo must find afterwards.

    python3 tests/demo/mkmails.py OUTDIR TODAY      (TODAY = YYYY-MM-DD, UTC)

The reports cover the 5 days before TODAY for the policy domain demo.example,
from three reporters shaped like the real ones (header set, report-id format,
file names, JSON quirks):
  Google      every day, application/tlsrpt+gzip, MTA-STS enforce with mx-host
  Microsoft   3 days, gzip, dates without a time zone (as Microsoft sends them)
  Mail.ru     2 days, application/tlsrpt+json (not compressed), sorted keys,
              no policy-string, free-text failure-reason-code
Failures of four result types are spread over the days. On top of that:
one Google report sent a second time (a duplicate), one ordinary mail to the
rua address (not a report), one Microsoft report addressed to the rua
address and to postmaster@demo.example, and a forged report: "Google Inc."
with the next report-id and 5000 failed sessions, From google.com but signed
by evil.example (tests/demo.sh signs every report with a demo key of its
signer, made at demo time), which the milter must refuse.

Output, all in OUTDIR:
  NN-LABEL.eml     the mails, in the order they are to be sent
  manifest.tsv     file, envelope sender, recipients (space-separated),
                   expected fate (counted | duplicate | no-report | unauthenticated),
                   Message-ID, the domain whose key signs it ("-": unsigned)
  expected.tsv     "C<TAB>key<TAB>value": counters (without the KeyPrefix) as
                   summed here from the reports written, per-organisation ones
                   under the signer's organisational domain (Authentication dkim), and
                   "S<TAB>key<TAB>value" facts for the demo's checks
                   (total-ok, total-fail, reports, seen:<sha256 hex>, ...)

The expected values are computed here from the report dicts, independently
of the C code. Deterministic for a given TODAY (fixed gzip mtime).
Limits: python3 standard library only.
"""
import base64
import datetime
import gzip
import hashlib
import json
import os
import sys

DOMAIN = "demo.example"
RUA = "tlsrpt@demo.example"
PERSON = "postmaster@demo.example"
DAYS = 5


def day_list(today):
    """The DAYS UTC days before today, oldest first, as date objects."""
    t = datetime.date.fromisoformat(today)
    return [t - datetime.timedelta(days=DAYS - i) for i in range(DAYS)]


def failure(rt, n, mx, ip, code=None):
    """One failure-details entry."""
    d = {"result-type": rt, "sending-mta-ip": ip,
         "receiving-mx-hostname": mx, "failed-session-count": n}
    if code:
        d["failure-reason-code"] = code
    return d


def sts_policy(with_mx=True):
    """The MTA-STS policy block of demo.example (enforce)."""
    p = {"policy-type": "sts",
         "policy-string": ["version: STSv1", "mode: enforce",
                           "mx: mx1.demo.example", "mx: mx2.demo.example",
                           "max_age: 604800"],
         "policy-domain": DOMAIN}
    if with_mx:
        p["mx-host"] = ["mx1.demo.example", "mx2.demo.example"]
    return p


def google_report(day, ok, fails):
    """A report dict shaped like Google's."""
    iso = day.isoformat()
    return {
        "organization-name": "Google Inc.",
        "date-range": {"start-datetime": iso + "T00:00:00Z",
                       "end-datetime": iso + "T23:59:59Z"},
        "contact-info": "smtp-tls-reporting@google.com",
        "report-id": iso + "T00:00:00Z_" + DOMAIN,
        "policies": [dict({"policy": sts_policy(),
                           "summary": {"total-successful-session-count": ok,
                                       "total-failure-session-count":
                                       sum(f["failed-session-count"] for f in fails)}},
                          **({"failure-details": fails} if fails else {}))],
    }


def microsoft_report(day, ok, fails, serial):
    """A report dict shaped like Microsoft's (no time zone on the dates)."""
    nxt = day + datetime.timedelta(days=1)
    return {
        "organization-name": "Microsoft Corporation",
        "date-range": {"start-datetime": day.isoformat() + "T00:00:00",
                       "end-datetime": nxt.isoformat() + "T00:00:00"},
        "contact-info": "tlsrpt-noreply@microsoft.com",
        "report-id": "%d+%s" % (133770000000000000 + serial, DOMAIN),
        "policies": [{"policy": sts_policy(with_mx=False),
                      "summary": {"total-successful-session-count": ok,
                                  "total-failure-session-count":
                                  sum(f["failed-session-count"] for f in fails)},
                      "failure-details": fails}],
    }


def mailru_report(day, ok, fails, uid):
    """A report dict shaped like Mail.ru's (no policy-string)."""
    iso = day.isoformat()
    nxt = (day + datetime.timedelta(days=1)).isoformat()
    return {
        "contact-info": "tls_support@corp.mail.ru",
        "date-range": {"end-datetime": nxt + "T00:00:00Z",
                       "start-datetime": iso + "T00:00:00Z"},
        "organization-name": "Mail.ru",
        "policies": [{"failure-details": fails,
                      "policy": {"policy-domain": DOMAIN, "policy-type": "sts"},
                      "summary": {"total-failure-session-count":
                                  sum(f["failed-session-count"] for f in fails),
                                  "total-successful-session-count": ok}}],
        "report-id": uid + "@mail.ru",
    }


def b64lines(data):
    """Base64 in 76-column lines."""
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def report_mail(shape, rep, to, msgid, date_hdr):
    """The text of a report mail in the header style of shape."""
    day = rep["date-range"]["start-datetime"][:10]
    start = int(datetime.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp())
    rid = rep["report-id"]
    if shape == "mailru":
        payload = json.dumps(rep, indent=3, sort_keys=True).encode()
        ctype, fname = "application/tlsrpt+json", "mail.ru!%s!%d!%d.json" % (DOMAIN, start, start + 86400)
        frm, sub = "Mail.ru TLS reporting <tlsrpt-noreply@corp.mail.ru>", "mail.ru"
        boundary = "----==--bound.%d.mail.ru" % start
    else:
        payload = gzip.compress(json.dumps(rep, indent=4).encode(), mtime=0)
        ctype = "application/tlsrpt+gzip"
        if shape == "google":
            fname = "google.com!%s!%d!%d!001.json.gz" % (DOMAIN, start, start + 86399)
            frm, sub = "noreply-smtp-tls-reporting@google.com", "google.com"
            boundary = "000000000000%08x0651a0be19" % start
        else:
            fname = "microsoft.com!%s!%d!%d.json.gz" % (DOMAIN, start, start + 86400)
            frm, sub = "<tlsrpt-noreply@microsoft.com>", "microsoft.com"
            boundary = "_%08x-4595-46ae-b003-a8055864441a_" % start
    hdr = [
        "From: " + frm,
        "To: " + ", ".join(to),
        "Date: " + date_hdr,
        "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>" % (DOMAIN, sub, rid),
        "TLS-Report-Domain: " + DOMAIN,
        "TLS-Report-Submitter: " + sub,
        "Message-ID: " + msgid,
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; boundary="%s"; report-type=tlsrpt' % boundary,
    ]
    body = [
        "", "--" + boundary,
        'Content-Type: text/plain; charset="UTF-8"', "",
        "This is an aggregate TLS report from %s" % sub, "",
        "--" + boundary,
        'Content-Type: %s; name="%s"' % (ctype, fname),
        'Content-Disposition: attachment; filename="%s"' % fname,
        "Content-Transfer-Encoding: base64", "",
        b64lines(payload), "",
        "--" + boundary + "--", "",
    ]
    return "\n".join(hdr + body)


def plain_mail(msgid, date_hdr):
    """An ordinary mail to the rua address: a person asking a question."""
    return "\n".join([
        "From: Alice Admin <alice@partner.example>",
        "To: " + RUA,
        "Date: " + date_hdr,
        "Subject: Are our TLS reports reaching you?",
        "Message-ID: " + msgid,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Hello, we started sending TLS-RPT reports to this address last week.",
        "Could you confirm that they arrive? Thanks, Alice", ""])


def signer(shape):
    """The organisational domain whose key signs a reporter's mails (its From's)."""
    return {"google": "google.com", "microsoft": "microsoft.com", "mailru": "mail.ru",
            "forged": "evil.example", "plain": "-"}[shape]


def envelope_from(shape):
    """Envelope sender per reporter (as in their real mails)."""
    return {"google": "reports@smtp-tls-reporting.bounces.google.com",
            "microsoft": "tlsrpt-noreply@microsoft.com",
            "mailru": "tlsrpt-noreply@corp.mail.ru",
            "forged": "reports@smtp-tls-reporting.bounces.google.com"}[shape]


def plan(days):
    """The mails to send: (label, shape, report or None, recipients, fate)."""
    d = days
    g_ok = [120, 98, 143, 110, 131]
    mails = []
    for i, day in enumerate(d):
        fails = []
        if i == 2:
            fails = [failure("certificate-expired", 4, "mx2.demo.example", "209.85.220.41")]
        if i == 4:
            fails = [failure("validation-failure", 2, "mx1.demo.example", "209.85.220.69")]
        mails.append(("google-" + day.isoformat(), "google", google_report(day, g_ok[i], fails),
                      [RUA], "counted"))
        if i == 2:
            mails.append(("mailru-" + day.isoformat(), "mailru", mailru_report(
                day, 12, [failure("sts-policy-fetch-error", 2, "mx1.demo.example", "94.100.180.1",
                                  "bad https response code: 404")],
                "b28254de-7b2e-be36-bb5c-4c3b92da8b25"), [RUA], "counted"))
        if i in (1, 3):
            fails = [] if i == 1 else [failure("starttls-not-supported", 3, "mx2.demo.example",
                                               "40.107.22.1")]
            mails.append(("microsoft-" + day.isoformat(), "microsoft",
                          microsoft_report(day, 55 + 6 * i, fails, i), [RUA], "counted"))
    # Google's report of day 4 once more: a duplicate.
    first = [m for m in mails if m[0] == "google-" + d[3].isoformat()][0]
    mails.append(("google-%s-resent" % d[3].isoformat(), "google", first[2], [RUA], "duplicate"))
    mails.append(("not-a-report", "plain", None, [RUA], "no-report"))
    mails.append(("mailru-" + d[4].isoformat(), "mailru", mailru_report(
        d[4], 9, [], "0c2f54a1-93de-4a7e-b1e0-3f8d1e5a7c44"), [RUA], "counted"))
    mails.append(("microsoft-%s-also-to-postmaster" % d[4].isoformat(), "microsoft",
                  microsoft_report(d[4], 47, [], 5), [RUA, PERSON], "counted"))
    # A forged report: Google's name and next report-id, 5000 failures, signed by another
    # domain. Counted, it would have made demo.example's newest day a failure spike.
    forged = google_report(d[4] + datetime.timedelta(days=1), 10,
                           [failure("certificate-expired", 5000, "mx1.demo.example", "192.0.2.66")])
    mails.append(("forged-google-signed-by-evil.example", "forged", forged, [RUA],
                  "unauthenticated"))
    return mails


def expected(mails):
    """Counter sums of key schema v1 for the counted reports, and check facts."""
    ctr, facts, seen = {}, {"total-ok": 0, "total-fail": 0, "reports": 0}, set()

    def add(k, v):
        ctr[k] = ctr.get(k, 0) + v
    for _label, shape, rep, _to, fate in mails:
        if rep is None or fate != "counted":
            continue
        org = signer(shape)
        key = (org, rep["report-id"])
        assert key not in seen, key
        seen.add(key)
        day = rep["date-range"]["start-datetime"][:10]
        base = "d:%s:%s" % (DOMAIN, day)
        ok = sum(p["summary"]["total-successful-session-count"] for p in rep["policies"])
        fail = sum(p["summary"]["total-failure-session-count"] for p in rep["policies"])
        for k, v in ((":ok", ok), (":fail", fail), (":reports", 1),
                     (":org:%s:ok" % org, ok), (":org:%s:fail" % org, fail)):
            add(base + k, v)
        for p in rep["policies"]:
            for f in p.get("failure-details", []):
                add(base + ":type:" + f["result-type"], f["failed-session-count"])
        facts["total-ok"] += ok
        facts["total-fail"] += fail
        facts["reports"] += 1
        h = hashlib.sha256(b"dkim\0" + key[0].encode() + b"\0" + key[1].encode()).hexdigest()
        facts["seen:" + h] = "%s %s" % key
    return ctr, facts


def main():
    """Write the mails, the manifest and the expectations."""
    if len(sys.argv) != 3:
        sys.exit("usage: mkmails.py OUTDIR YYYY-MM-DD")
    out, today = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    days = day_list(today)
    mails = plan(days)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    with open(os.path.join(out, "manifest.tsv"), "w") as man:
        for n, (label, shape, rep, to, fate) in enumerate(mails, 1):
            fname = "%02d-%s.eml" % (n, label)
            msgid = "<demo-%02d-%s@%s>" % (n, label, "demo.sender.invalid")
            if rep is None:
                text, frm = plain_mail(msgid, now), "alice@partner.example"
            else:
                text = report_mail("google" if shape == "forged" else shape, rep, to, msgid, now)
                frm = envelope_from(shape)
            with open(os.path.join(out, fname), "w") as f:
                f.write(text)
            man.write("\t".join([fname, frm, " ".join(to), fate, msgid, signer(shape)]) + "\n")
    ctr, facts = expected(mails)
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        for k in sorted(ctr):
            f.write("C\t%s\t%d\n" % (k, ctr[k]))
        for k, v in facts.items():
            f.write("S\t%s\t%s\n" % (k, v))


if __name__ == "__main__":
    main()
