#!/usr/bin/python3
"""fault-mails.py - the mails of the fault tests (tests/t-e2e-faults*.sh), made at test time.

Run with /usr/bin/python3 (Debian's python3-dkim). Nothing it writes is committed.

  fault-mails.py gen DIR PREFIX N KIND PEM SEL DOMAIN [--mx M] [--pad BYTES]
      N distinct report mails DIR/PREFIX-I.eml (I = 1..N), each a multipart/report
      with its gzip'd JSON report in base64, From noreply-tlsrpt@DOMAIN, report-id
      PREFIX-I, signed by d=DOMAIN s=SEL with the key in PEM (relaxed/relaxed), and
      one JSON line per mail appended to DIR/PREFIX.manifest (file, kind, the report).
      KIND: countable, or the reason the milter must give the mail:
        unauthenticated  a good report, not signed
        corrupt-gzip     a tlsrpt+gzip part whose bytes are not gzip
        corrupt-json     gzip of a JSON report cut in the middle
        no-report        a plain text mail, no report part
        no-date          a report without date-range
      --mx M   M more failure-details, each on a receiving MX of its own with a long
               name (one counter and one index member each: fills a small memcached)
      --pad B  a text part of B bytes before the report (a longer body to stream)
  fault-mails.py expect MANIFEST... [--ids FILE]
      the counters and index members (key schema v2, prefix tlsrpt:) that counting
      every countable report of the manifests exactly once gives, written from the
      schema in README.md, independently of the C code: "C<TAB>key<TAB>value" and
      "M<TAB>setkey<TAB>member" lines. --ids FILE: only the report-ids listed there.

The reports (report I): day 2026-11-(20 + I % 5); one sts policy for a.fault.test (b.fault.test
when I % 3 == 0), mode enforce for odd I, else testing; ok = 10 + I % 13, fail = I % 4 split
over certificate-expired at mx1.D and starttls-not-supported at mx2.D; the identity (org
key) is the signer's organisational domain DOMAIN.
Exit 2 when dkimpy is missing (the caller SKIPs), 1 on other errors.
"""
import base64
import gzip
import json
import os
import sys

try:
    import dkim
except ImportError:
    sys.exit(2)

P = "tlsrpt:"


def report(prefix, i, mx_extra):
    """The report dict of mail i."""
    dom = "b.fault.test" if i % 3 == 0 else "a.fault.test"
    mode = "enforce" if i % 2 else "testing"
    ok, fail = 10 + i % 13, i % 4
    details = []
    if fail:
        x = (fail + 1) // 2
        details.append({"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                        "receiving-mx-hostname": "mx1." + dom, "failed-session-count": x})
        if fail - x:
            details.append({"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.2",
                            "receiving-mx-hostname": "mx2." + dom,
                            "failed-session-count": fail - x})
    for k in range(mx_extra):
        pad = "x" * 60
        details.append({"result-type": "validation-failure", "sending-mta-ip": "192.0.2.3",
                        "receiving-mx-hostname": "mx%d-%s-%d.%s.evict.test" % (k, prefix, i, pad),
                        "failed-session-count": 1})
        fail += 1
    day = "2026-11-%02d" % (20 + i % 5)
    pol = {"policy": {"policy-type": "sts",
                      "policy-string": ["version: STSv1", "mode: " + mode, "mx: mx1." + dom,
                                        "max_age: 86400"],
                      "policy-domain": dom, "mx-host": ["mx1." + dom]},
           "summary": {"total-successful-session-count": ok,
                       "total-failure-session-count": fail}}
    if details:
        pol["failure-details"] = details
    return {"organization-name": "Fault Reporter",
            "date-range": {"start-datetime": day + "T00:00:00Z",
                           "end-datetime": day + "T23:59:59Z"},
            "contact-info": "tlsrpt@reporter.test", "report-id": "%s-%d" % (prefix, i),
            "policies": [pol]}


def mail(name, dom, part_ct, part_body, pad):
    """The unsigned mail bytes (CRLF) with one report part (or none when part_ct is None)."""
    b = "=_fault_boundary"
    h = ["From: TLS reporter <noreply-tlsrpt@%s>" % dom, "To: rua@rua.test",
         "Subject: Report Domain: fault.test Submitter: %s" % dom,
         "Date: Tue, 01 Dec 2026 10:00:00 +0000", "Message-ID: <%s@%s>" % (name, dom),
         "TLS-Report-Domain: fault.test", "TLS-Report-Submitter: %s" % dom, "MIME-Version: 1.0"]
    if part_ct is None:
        h.append("Content-Type: text/plain; charset=us-ascii")
        body = ["Hello, is this reaching you?", ""]
    else:
        h.append('Content-Type: multipart/report; report-type="tlsrpt"; boundary="%s"' % b)
        body = ["This is a MIME-formatted message.", "", "--" + b,
                "Content-Type: text/plain; charset=us-ascii", "",
                "This is an aggregate TLS report from %s." % dom]
        for k in range(pad // 76):
            body.append(("padding line %d " % k).ljust(76, "."))
        body += ["", "--" + b, "Content-Type: " + part_ct, "Content-Transfer-Encoding: base64",
                 'Content-Disposition: attachment; filename="report.json.gz"', ""]
        enc = base64.b64encode(part_body).decode()
        body += [enc[k:k + 76] for k in range(0, len(enc), 76)]
        body += ["", "--" + b + "--", ""]
    return ("\r\n".join(h) + "\r\n\r\n" + "\r\n".join(body)).encode()


def gen(argv):
    """The gen sub-command."""
    d, prefix, n, kind, pem, sel, dom = argv[:7]
    opts = argv[7:]
    mx_extra = int(opts[opts.index("--mx") + 1]) if "--mx" in opts else 0
    pad = int(opts[opts.index("--pad") + 1]) if "--pad" in opts else 0
    key = open(pem, "rb").read()
    with open(os.path.join(d, prefix + ".manifest"), "a") as man:
        for i in range(1, int(n) + 1):
            name = "%s-%d" % (prefix, i)
            rep = report(prefix, i, mx_extra)
            if kind == "no-date":
                del rep["date-range"]
            js = json.dumps(rep).encode()
            ct = "application/tlsrpt+gzip"
            if kind == "corrupt-gzip":
                body = b"this is not gzip at all " * 8
            elif kind == "corrupt-json":
                body = gzip.compress(js[:len(js) // 2], mtime=0)
            else:
                body = gzip.compress(js, mtime=0)
            msg = mail(name, dom, None if kind == "no-report" else ct, body, pad)
            if kind != "unauthenticated":
                sig = dkim.sign(msg, sel.encode(), dom.encode(), key,
                                canonicalize=(b"relaxed", b"relaxed"),
                                include_headers=[b"from", b"to", b"subject", b"date",
                                                 b"message-id", b"mime-version",
                                                 b"content-type"])
                msg = sig + msg
            path = os.path.join(d, name + ".eml")
            with open(path, "wb") as f:
                f.write(msg)
            man.write(json.dumps({"file": path, "kind": kind, "org": dom, "report": rep}) + "\n")
    return 0


def expect(argv):
    """The expect sub-command."""
    ids = None
    if "--ids" in argv:
        k = argv.index("--ids")
        ids = set(open(argv[k + 1]).read().split())
        argv = argv[:k] + argv[k + 2:]
    ctr, order, mem = {}, [], []

    def add(k, v):
        """Add v to counter k."""
        if k not in ctr:
            order.append(k)
            ctr[k] = 0
        ctr[k] += v

    def member(k, m):
        """Expect member m in set k."""
        if (k, m) not in mem:
            mem.append((k, m))

    seen = set()
    for path in argv:
        for line in open(path):
            m = json.loads(line)
            r = m["report"]
            if m["kind"] != "countable" or (ids is not None and r["report-id"] not in ids):
                continue
            if (m["org"], r["report-id"]) in seen:
                continue
            seen.add((m["org"], r["report-id"]))
            day = r["date-range"]["start-datetime"][:10]
            org = m["org"]
            for p in r["policies"]:
                dom = p["policy"]["policy-domain"]
                ok = p["summary"]["total-successful-session-count"]
                fail = p["summary"]["total-failure-session-count"]
                mode = [s.split(": ")[1] for s in p["policy"]["policy-string"]
                        if s.startswith("mode: ")][0]
                base = "%sd:%s:%s" % (P, dom, day)
                add(base + ":ok", ok)
                add(base + ":fail", fail)
                add(base + ":reports", 1)
                add(base + ":ptype:sts:ok", ok)
                add(base + ":ptype:sts:fail", fail)
                add(base + ":org:%s:ok" % org, ok)
                add(base + ":org:%s:fail" % org, fail)
                add(base + ":mode:" + mode, 1)
                member(P + "domains", dom)
                member("%sd:%s:days" % (P, dom), day)
                member(base + ":orgs", org)
                for fd in p.get("failure-details", []):
                    add(base + ":type:" + fd["result-type"], fd["failed-session-count"])
                    add(base + ":mx:%s:fail" % fd["receiving-mx-hostname"],
                        fd["failed-session-count"])
                    member(base + ":types", fd["result-type"])
                    member(base + ":mxs", fd["receiving-mx-hostname"])
    for k in order:
        print("C\t%s\t%d" % (k, ctr[k]))
    for k, m in mem:
        print("M\t%s\t%s" % (k, m))
    return 0


def main(argv):
    """Dispatch the sub-command."""
    if len(argv) >= 9 and argv[1] == "gen":
        return gen(argv[2:])
    if len(argv) >= 3 and argv[1] == "expect":
        return expect(argv[2:])
    sys.stderr.write(__doc__)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
