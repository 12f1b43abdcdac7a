#!/usr/bin/env python3
"""gen.py - generate the inputs of `make bench` into one work directory.

usage: gen.py WORKDIR CORPUS_DIR N_CORPUS N_MILTER [LARGE_MB]

Writes (all deterministic, seeded):
  corpus/      N_CORPUS files: the CORPUS_DIR files replicated round-robin
               (names NNNNN__orig, extensions kept)
  corpus-pl/   the report payload of each corpus file (the bytes the oracle
               would decode: MIME and transfer encoding undone, gzip kept),
               for bench/limit; files with no report part are left out
  large.eml    one report mail: ~LARGE_MB MB of JSON (thousands of
               failure-details), gzip + base64 in a multipart/report mail
  large.json.gz  its payload, for bench/limit
  mil/         N_MILTER distinct report mails (unique report-id each),
               gzip + base64, 2 policies, a few failure-details
  mem/         64 distinct report mails with ~100 KB of JSON each
  bomb.eml     a decompression bomb: 256 MiB of JSON inflated from ~250 KB
Python 3 stdlib only. Errors: exits non-zero on a bad argument or I/O error.
"""
import base64
import email
import email.policy
import gzip
import json
import os
import random
import sys
import zlib

TYPES = ["starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
         "certificate-not-trusted", "validation-failure", "sts-policy-fetch-error",
         "sts-policy-invalid", "sts-webpki-invalid", "tlsa-invalid", "dnssec-invalid"]


def failure(rng, i):
    """One failure-details entry with varied, realistic values."""
    return {
        "result-type": TYPES[rng.randrange(len(TYPES))],
        "sending-mta-ip": "198.51.%d.%d" % (rng.randrange(256), rng.randrange(256)),
        "receiving-mx-hostname": "mx%d.example.org" % rng.randrange(40),
        "receiving-mx-helo": "mx%d.example.org" % rng.randrange(40),
        "receiving-ip": "203.0.113.%d" % rng.randrange(256),
        "failed-session-count": rng.randrange(1, 500),
        "additional-information": "https://reports.sender.test/details/%08x" % rng.getrandbits(32),
        "failure-reason-code": "X509_V_ERR_%d" % (i % 50),
    }


def policy(rng, domain, nfail):
    """One policies[] entry for domain with nfail failure-details."""
    return {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", "mx: *.%s" % domain,
                              "max_age: 604800"],
            "policy-domain": domain,
            "mx-host": ["*.%s" % domain],
        },
        "summary": {"total-successful-session-count": rng.randrange(100000),
                    "total-failure-session-count": rng.randrange(1000)},
        "failure-details": [failure(rng, i) for i in range(nfail)],
    }


def report(rng, rid, domains, nfail):
    """A whole report as a JSON-ready dict."""
    return {
        "organization-name": "Bench Sender Inc.",
        "date-range": {"start-datetime": "2026-11-%02dT00:00:00Z" % (1 + rid % 28),
                       "end-datetime": "2026-11-%02dT23:59:59Z" % (1 + rid % 28)},
        "contact-info": "smtp-tls-reporting@sender.test",
        "report-id": "bench-%08d-%08x@sender.test" % (rid, rng.getrandbits(32)),
        "policies": [policy(rng, d, nfail) for d in domains],
    }


def mail(payload_gz, rid, domain):
    """A multipart/report TLS-RPT mail carrying payload_gz base64-encoded (CRLF lines)."""
    b64 = base64.encodebytes(payload_gz).decode().replace("\n", "\r\n")
    head = ("From: tlsrpt@sender.test\r\nTo: rua@rua.test\r\n"
            "Subject: Report Domain: %s Submitter: sender.test Report-ID: <%d>\r\n"
            "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: sender.test\r\n"
            "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <bench-%d@sender.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"=_b%d\"\r\n\r\n"
            % (domain, rid, domain, rid, rid))
    body = ("--=_b%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "This is an aggregate TLS report from sender.test\r\n\r\n"
            "--=_b%d\r\nContent-Type: application/tlsrpt+gzip\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"sender.test!%s!1!2!%d.json.gz\"\r\n\r\n"
            % (rid, rid, domain, rid))
    return (head + body + b64 + "\r\n--=_b%d--\r\n" % rid).encode()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def report_payload(path):
    """The report bytes of a corpus file as the oracle finds them (gzip kept), or None."""
    data = open(path, "rb").read()
    if path.endswith(".eml"):
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        for part in msg.walk():
            name = (part.get_filename() or "").lower()
            if part.get_content_type() in ("application/tlsrpt+gzip", "application/tlsrpt+json") \
                    or name.endswith((".json", ".json.gz")):
                return part.get_payload(decode=True)
        return None
    return data


def gen_corpus(work, src, n):
    """Replicate the corpus files to n files and extract their payloads."""
    names = sorted(f for f in os.listdir(src)
                   if not f.endswith((".expected", ".py", ".md", ".tsv"))
                   and os.path.isfile(os.path.join(src, f)))
    if not names:
        sys.exit("gen.py: no corpus files in %s" % src)
    os.makedirs(os.path.join(work, "corpus"), exist_ok=True)
    os.makedirs(os.path.join(work, "corpus-pl"), exist_ok=True)
    payloads = {}
    for nm in names:
        try:
            payloads[nm] = report_payload(os.path.join(src, nm))
        except Exception:
            payloads[nm] = None
    for i in range(n):
        nm = names[i % len(names)]
        data = open(os.path.join(src, nm), "rb").read()
        write(os.path.join(work, "corpus", "%05d__%s" % (i, nm)), data)
        if payloads[nm] is not None:
            write(os.path.join(work, "corpus-pl", "%05d.pl" % i), payloads[nm])


def gen_large(work, mb):
    """One report of about mb MB of JSON, as a mail and as a bare payload."""
    rng = random.Random(5)
    nfail = 1
    per = len(json.dumps(failure(rng, 0))) + 2
    nfail = max(1, int(mb * 1024 * 1024 / per / 2))
    js = json.dumps(report(rng, 999999, ["big-a.example", "big-b.example"], nfail)).encode()
    gz = gzip.compress(js, 6)
    write(os.path.join(work, "large.json.gz"), gz)
    write(os.path.join(work, "large.eml"), mail(gz, 999999, "big-a.example"))
    write(os.path.join(work, "large.info"),
          ("%d %d %d\n" % (len(js), 2 * nfail, len(gz))).encode())


def gen_set(work, sub, n, nfail, seed, first_id):
    """n distinct report mails in work/sub, nfail failure-details per policy."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(work, sub), exist_ok=True)
    for i in range(n):
        rid = first_id + i
        doms = ["dom%d.example" % (rid % 7), "alt%d.example" % (rid % 5)]
        js = json.dumps(report(rng, rid, doms, nfail)).encode()
        write(os.path.join(work, sub, "m%05d.eml" % i), mail(gzip.compress(js, 6), rid, doms[0]))


def gen_bomb(work):
    """A report whose gzip inflates to 256 MiB (a JSON string of spaces)."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [co.compress(b'{"organization-name": "bomb", "report-id": "')]
    chunk = b"A" * (1 << 20)
    for _ in range(256):
        parts.append(co.compress(chunk))
    parts.append(co.compress(b'"}'))
    parts.append(co.flush())
    write(os.path.join(work, "bomb.eml"), mail(b"".join(parts), 4242, "bomb.example"))


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    work, src = sys.argv[1], sys.argv[2]
    n_corpus, n_milter = int(sys.argv[3]), int(sys.argv[4])
    large_mb = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    os.makedirs(work, exist_ok=True)
    gen_corpus(work, src, n_corpus)
    gen_large(work, large_mb)
    gen_set(work, "mil", n_milter, 3, 2, 100000)
    # ~100 KB of JSON: 2 policies x 150 failure-details of ~330 bytes
    gen_set(work, "mem", 64, 150, 3, 500000)
    gen_bomb(work)


if __name__ == "__main__":
    main()
