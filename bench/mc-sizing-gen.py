#!/usr/bin/env python3
"""mc-sizing-gen.py - TLS-RPT reports shaped like real ones, for bench/mc-sizing.sh.

    mc-sizing-gen.py OUTDIR NDOMAINS NDAYS NREPORTERS LASTDAY

Writes OUTDIR/SIGNER/*.json: for each of NDOMAINS domains d00000.size.example...,
each of the NDAYS days ending LASTDAY and each of the first NREPORTERS signers
(google.com, microsoft.com, yahoo.com, comcast.net, mail.ru, ...), one report with
one sts policy (mode enforce, two MX names), 100..1099 successful sessions and, for
every fifth domain, 2 failures certificate-expired at mx1 and 1 starttls-not-supported
at mx2 (the usual shape of a big sender's daily report). Prints the reports written.
"""
import datetime
import json
import os
import sys

SIGNERS = [("google.com", "Google LLC"), ("microsoft.com", "Microsoft Corporation"),
           ("yahoo.com", "Yahoo"), ("comcast.net", "Comcast"), ("mail.ru", "Mail.Ru"),
           ("gmx.net", "GMX"), ("web.de", "WEB.DE"), ("orange.fr", "Orange")]


def report(sig, org, dom, day, i):
    mx1, mx2 = "mx1." + dom, "mx2." + dom
    fails = []
    if i % 5 == 0:
        fails = [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                  "receiving-mx-hostname": mx1, "failed-session-count": 2},
                 {"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.2",
                  "receiving-mx-hostname": mx2, "failed-session-count": 1}]
    return {"organization-name": org, "contact-info": "tlsrpt@" + sig,
            "report-id": "%s_%s_%s" % (day, dom, sig),
            "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
            "policies": [{"policy": {"policy-type": "sts", "policy-domain": dom,
                                     "policy-string": ["version: STSv1", "mode: enforce",
                                                       "mx: " + mx1, "mx: " + mx2, "max_age: 86400"],
                                     "mx-host": [mx1, mx2]},
                          "summary": {"total-successful-session-count": 100 + (i * 37) % 1000,
                                      "total-failure-session-count": 3 if fails else 0},
                          "failure-details": fails}]}


def main(argv):
    out, nd, ndays, nrep, last = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5]
    end = datetime.date.fromisoformat(last)
    n = 0
    for sig, org in SIGNERS[:nrep]:
        os.makedirs(os.path.join(out, sig), exist_ok=True)
        for k in range(ndays):
            day = (end - datetime.timedelta(days=ndays - 1 - k)).isoformat()
            for i in range(nd):
                dom = "d%05d.size.example" % i
                with open(os.path.join(out, sig, "%s-%s.json" % (dom, day)), "w") as f:
                    json.dump(report(sig, org, dom, day, i), f)
                n += 1
    print(n)


if __name__ == "__main__":
    main(sys.argv)
