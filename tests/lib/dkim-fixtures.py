#!/usr/bin/python3
"""dkim-fixtures.py OUTDIR [CORPUS_REAL_DIR] - make DKIM test mails at test time.

Run with /usr/bin/python3 (Debian's python3-dkim and python3-nacl; the python3
on PATH may not see them). Generates fresh keys (openssl genrsa; nacl for
ed25519), signs TLS-RPT-shaped mails with dkimpy, and writes into OUTDIR:
  keys.txt      the key file (DkimKeyFile format: "sel._domainkey.dom record")
  NAME.eml      one mail per case, CRLF line endings
  manifest.tsv  one line per case: name, conf, expect, reason, detail, contact,
                submitter-disagrees, lookups ("-" = not checked), where
                conf is default | tlsrpt (DkimRequireTlsrptService yes) |
                reporters (Reporters google.com microsoft.com)
When CORPUS_REAL_DIR is given, each of its .eml files is re-signed with a test
key for its From domain (its own signatures kept) as corpus_FILE.eml.
Nothing here is committed: keys and mails live only in OUTDIR.
Exit 2 when dkimpy or openssl is missing (the caller SKIPs).
"""
import base64
import email
import email.policy
import email.utils
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time

try:
    import dkim
    from dkim.crypto import parse_pem_private_key
except ImportError:
    sys.exit(2)

OUT = sys.argv[1]
CORPUS = sys.argv[2] if len(sys.argv) > 2 else None
os.makedirs(OUT, exist_ok=True)
keylines = []
manifest = []


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


def rsa_key(bits):
    """A fresh RSA key: (private PEM PKCS#1, base64 SubjectPublicKeyInfo)."""
    path = os.path.join(OUT, "k%d-%d.pem" % (bits, len(keylines)))
    openssl("genrsa", "-traditional", "-out", path, str(bits))
    pem = open(path, "rb").read()
    pub = base64.b64encode(openssl("rsa", "-in", path, "-pubout", "-outform", "DER")).decode()
    os.unlink(path)
    return pem, pub


def ed_key():
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    return base64.b64encode(bytes(sk)), base64.b64encode(bytes(sk.verify_key)).decode()


def publish(sel, dom, pub, k="rsa", extra=""):
    keylines.append("%s._domainkey.%s v=DKIM1; k=%s;%s p=%s" % (sel, dom, k, extra, pub))


def report_mail(frm, submitter="reporter.example", contact="tlsrpt@reporter.example",
                extra_headers=(), body_note=""):
    """A TLS-RPT-shaped mail (multipart/report, gzip'd JSON), CRLF."""
    rep = {"organization-name": "Test Reporter", "date-range": {
        "start-datetime": "2026-05-10T00:00:00Z", "end-datetime": "2026-05-10T23:59:59Z"},
        "contact-info": contact, "report-id": "2026-05-10T00:00:00Z_policy.example",
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "policy.example",
                                 "mx-host": ["mx.policy.example"]},
                      "summary": {"total-successful-session-count": 120,
                                  "total-failure-session-count": 2}}]}
    gz = base64.encodebytes(gzip.compress(json.dumps(rep).encode(), mtime=0)).decode()
    b = "0000000000003729310651a0be19"
    hdr = ["From: %s" % frm, "To: tlsrpt@policy.example",
           "Subject: Report Domain: policy.example Submitter: %s Report-ID: <x@y>" % submitter,
           "Date: Mon, 11 May 2026 01:02:03 +0000",
           "Message-ID: <%s@reporter.example>" % hashlib.sha1(frm.encode()).hexdigest()[:16],
           "TLS-Report-Domain: policy.example", "TLS-Report-Submitter: %s" % submitter,
           "MIME-Version: 1.0",
           'Content-Type: multipart/report; boundary="%s"; report-type=tlsrpt' % b]
    hdr += list(extra_headers)
    body = ("--%s\nContent-Type: text/plain; charset=\"UTF-8\"\n\nThis is an aggregate TLS "
            "report from %s%s\n\n--%s\nContent-Type: application/tlsrpt+gzip; name=\"r.json.gz\""
            "\nContent-Disposition: attachment; filename=\"r.json.gz\"\nContent-Transfer-"
            "Encoding: base64\n\n%s\n--%s--\n" % (b, submitter, body_note, b, gz, b))
    return ("\n".join(hdr) + "\n\n" + body).replace("\n", "\r\n").encode()


def sign(msg, sel, dom, pem, alg=b"rsa-sha256", canon=b"relaxed/relaxed", length=False,
         t=None, x=None, ident=None):
    """The DKIM-Signature header (bytes, CRLF) for msg; dkimpy's own signing
    steps, with x= and t= settable (dkim.sign cannot set x=)."""
    d = dkim.DKIM(msg, signature_algorithm=alg)
    policy = dkim.CanonicalizationPolicy.from_c_value(canon)
    inc = tuple(h.lower() for h in d.default_sign_headers())
    d.include_headers = inc
    body = policy.canonicalize_body(d.body)
    d.hasher = dkim.HASH_ALGORITHMS[alg]
    bh = base64.b64encode(d.hasher(body).digest())
    if alg == b"ed25519-sha256":
        import nacl.signing
        import nacl.encoding
        pk = nacl.signing.SigningKey(pem, encoder=nacl.encoding.Base64Encoder)
    else:
        pk = parse_pem_private_key(pem)
    now = int(time.time()) if t is None else t
    fields = [(b"v", b"1"), (b"a", alg), (b"c", canon), (b"d", dom.encode()),
              (b"i", (ident or "@" + dom).encode())]
    if length:
        fields.append((b"l", str(len(body)).encode()))
    fields += [(b"q", b"dns/txt"), (b"s", sel.encode()), (b"t", str(now).encode())]
    if x is not None:
        fields.append((b"x", str(x).encode()))
    fields += [(b"h", b" : ".join(inc)), (b"bh", bh), (b"b", b"0" * 60)]
    return b"DKIM-Signature: " + d.gen_header(fields, inc, policy, b"DKIM-Signature", pk)


def case(name, data, expect, reason="", detail="", contact="-", conf="default",
         disagree="-", lookups="-"):
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(data)
    manifest.append("\t".join([name, conf, str(expect), reason or "-", detail or "-", contact,
                               str(disagree), str(lookups)]))


def body_of(m):
    i = m.index(b"\r\n\r\n")
    return m[:i + 4], m[i + 4:]


# keys: A (2048) for almost everything, B (2048) never published, M (1024)
# Microsoft's size, W (768) too small, E ed25519
A_PEM, A_PUB = rsa_key(2048)
B_PEM, _ = rsa_key(2048)
M_PEM, M_PUB = rsa_key(1024)
W_PEM, W_PUB = rsa_key(768)
for dom in ("google.com", "reporter.example", "mail.reporter.example", "evil.example",
            "example.com"):
    publish("s2048", dom, A_PUB)
publish("tlsrpttest", "microsoft.com", M_PUB)
publish("small", "reporter.example", W_PUB)
publish("revoked", "reporter.example", "")
for sel, s in (("semail", "email"), ("sstar", "*"), ("stlsrpt", "tlsrpt"), ("sother", "other"),
               ("smulti", "other:tlsrpt")):
    publish(sel, "reporter.example", A_PUB, extra=" s=%s;" % s)
for i in range(49):
    publish("s2048", "foreign%d.example" % i, A_PUB)

GFROM = "noreply-smtp-tls-reporting@google.com"
R = "tlsrpt@reporter.example"
RC = "tlsrpt@reporter.example"

g = report_mail(GFROM, "google.com", "smtp-tls-reporting@google.com")
g = sign(g, "s2048", "google.com", A_PEM) + g
case("signed_google", g, 1, "", "dkim=pass d=google.com", "smtp-tls-reporting@google.com",
     disagree=0, lookups=1)
case("unsigned", report_mail(R), 0, "unauthenticated", "no signature", RC, lookups=0)

m = report_mail(R)
s = sign(m, "s2048", "reporter.example", A_PEM) + m
h, b = body_of(s)
case("body_tampered", h + b.replace(b"aggregate", b"aggreGate", 1), 0, "unauthenticated",
     "body hash mismatch (d=reporter.example)", RC)
case("header_tampered", s.replace(b"Subject: Report", b"Subject: Rep0rt", 1), 0,
     "unauthenticated", "signature did not verify (d=reporter.example)", RC)
s = sign(m, "s2048", "reporter.example", A_PEM, length=True) + m
case("l_appended", s + b"\r\nappended by a stranger\r\n", 0, "unauthenticated",
     "l= present (d=reporter.example)", RC, lookups=0)
case("l_plain", s, 0, "unauthenticated", "l= present (d=reporter.example)", RC, lookups=0)

m = report_mail("tlsrpt@victim.example", "victim.example", "tlsrpt@victim.example")
case("unaligned", sign(m, "s2048", "evil.example", A_PEM) + m, 0, "unauthenticated",
     "d=evil.example not aligned with From domain victim.example", lookups=0)
m = report_mail("tlsrpt@mail.reporter.example")
case("from_subdomain", sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "",
     "dkim=pass d=reporter.example", RC)
m = report_mail(R)
case("d_subdomain", sign(m, "s2048", "mail.reporter.example", A_PEM) + m, 1, "",
     "dkim=pass d=mail.reporter.example", RC)
ok = sign(m, "s2048", "reporter.example", A_PEM) + m
case("contact_other_org", ok, 0, "unauthenticated", "contact-info in another organisation",
     "tlsrpt@other.example")
case("contact_mailto_ok", ok, 1, "", "dkim=pass", "mailto:tlsrpt@mail.reporter.example")
case("contact_uri", ok, 1, "", "dkim=pass", "https://reporter.example/tlsrpt")
case("no_contact", ok, 1, "", "dkim=pass")
case("unknown_reporter", ok, 0, "unknown-reporter", "signer reporter.example not in Reporters",
     RC, conf="reporters")
case("reporter_listed", g, 1, "", "dkim=pass d=google.com", "smtp-tls-reporting@google.com",
     conf="reporters")
m = report_mail(R, submitter="Example Reporting Organisation Inc.")
case("submitter_name", sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "", "dkim=pass", RC,
     disagree=1)

m = report_mail(R)
sigs = b"".join(sign(m, "s2048", "foreign%d.example" % i, A_PEM) for i in range(49))
case("fifty_sigs", sigs + sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "", "dkim=pass",
     RC, lookups=1)
junk = b"DKIM-Signature: v=1; this is ; not a ; = signature\r\n"
case("junk_then_valid", junk + sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "",
     "dkim=pass", RC, lookups=1)
case("junk_only", junk + m, 0, "unauthenticated", "no readable signature", RC, lookups=0)
case("bad_then_good", sign(m, "s2048", "reporter.example", B_PEM) +
     sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "", "dkim=pass", RC, lookups=1)
many = b"".join(sign(m, "s2048", "reporter.example", B_PEM) for i in range(20))
case("cap_aligned", many + sign(m, "s2048", "reporter.example", A_PEM) + m, 0,
     "unauthenticated", "signature did not verify", RC)
case("nokey_then_good", sign(m, "nosuchsel", "reporter.example", A_PEM) +
     sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "", "dkim=pass", RC, lookups=2)
case("revoked_then_good", sign(m, "revoked", "reporter.example", A_PEM) +
     sign(m, "s2048", "reporter.example", A_PEM) + m, 1, "", "dkim=pass", RC, lookups=2)
nb = m[:m.index(b"\r\n\r\n") + 4] + b"Body without its final line break."
case("no_final_crlf", sign(nb, "s2048", "reporter.example", A_PEM, canon=b"simple/simple") + nb,
     1, "", "dkim=pass", RC)
case("key_not_found", sign(m, "nosuchsel", "reporter.example", A_PEM) + m, 0,
     "unauthenticated", "key not found (d=reporter.example)", RC, lookups=1)
case("wrong_key", sign(m, "s2048", "reporter.example", B_PEM) + m, 0, "unauthenticated",
     "signature did not verify (d=reporter.example)", RC)
now = int(time.time())
case("expired", sign(m, "s2048", "reporter.example", A_PEM, t=now - 7200, x=now - 3600) + m, 0,
     "unauthenticated", "signature expired (d=reporter.example)", RC, lookups=0)
case("unexpired_x", sign(m, "s2048", "reporter.example", A_PEM, x=now + 86400) + m, 1, "",
     "dkim=pass", RC)
for c in ("simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed"):
    case("canon_" + c.replace("/", "_"), sign(m, "s2048", "reporter.example", A_PEM,
         canon=c.encode()) + m, 1, "", "dkim=pass", RC)
case("rsa_sha1", sign(m, "s2048", "reporter.example", A_PEM, alg=b"rsa-sha1") + m, 0,
     "unauthenticated", "rsa-sha1 refused", RC, lookups=0)
case("key_too_small", sign(m, "small", "reporter.example", W_PEM) + m, 0, "unauthenticated",
     "key unusable", RC)
case("key_revoked", sign(m, "revoked", "reporter.example", A_PEM) + m, 0, "unauthenticated",
     "(d=reporter.example)", RC)
try:
    E_PRIV, E_PUB = ed_key()
    publish("ed", "reporter.example", E_PUB, k="ed25519")
    case("ed25519", sign(m, "ed", "reporter.example", E_PRIV, alg=b"ed25519-sha256") + m, 1,
         "", "dkim=pass", RC)
except ImportError:
    pass
for sel, exp, why in (("semail", 1, ""), ("sstar", 1, ""), ("stlsrpt", 1, ""),
                      ("smulti", 1, ""), ("sother", 0, "key service type s=other")):
    case("service_" + sel[1:], sign(m, sel, "reporter.example", A_PEM) + m, exp,
         "" if exp else "unauthenticated", why or "dkim=pass", RC)
for sel, exp, why in (("semail", 0, "key service type s=email is not tlsrpt"),
                      ("s2048", 0, "key has no s=tlsrpt"), ("sstar", 1, ""),
                      ("stlsrpt", 1, ""), ("smulti", 1, "")):
    case("require_tlsrpt_" + sel[1:], sign(m, sel, "reporter.example", A_PEM) + m, exp,
         "" if exp else "unauthenticated", why or "dkim=pass", RC, conf="tlsrpt")

s = sign(m, "s2048", "reporter.example", A_PEM) + m
h, b = body_of(s)
case("two_from", h[:-2] + b"From: other@reporter.example\r\n\r\n" + b, 0, "unauthenticated",
     "several From headers", RC)
case("no_from", b"".join(l for l in h.splitlines(True) if not l.startswith(b"From:")) + b, 0,
     "unauthenticated",
     "no From header", RC)
m2 = report_mail("tlsrpt@reporter.example, other@reporter.example")
case("two_addresses", sign(m2, "s2048", "reporter.example", A_PEM) + m2, 0, "unauthenticated",
     "several From addresses", RC)
m2 = report_mail('"Reporter (TLS), Inc." <tlsrpt@reporter.example> (the reporter)')
case("from_display_name", sign(m2, "s2048", "reporter.example", A_PEM) + m2, 1, "",
     "dkim=pass", RC)
m2 = report_mail("tlsrpt@co.uk")
case("from_public_suffix", sign(m2, "s2048", "co.uk", A_PEM) + m2, 0, "unauthenticated",
     "From domain co.uk has no organisational domain", lookups=0)
small = report_mail(R)
small = small[:small.index(b"\r\n\r\n") + 4] + b"Hello TLS-RPT.\r\n"
case("small", sign(small, "s2048", "reporter.example", A_PEM) + small, 1, "", "dkim=pass", RC)
m2 = report_mail("tlsrpt-noreply@microsoft.com", "microsoft.com", "tlsrpt-noreply@microsoft.com")
case("microsoft_1024", sign(m2, "tlsrpttest", "microsoft.com", M_PEM) + m2, 1, "",
     "dkim=pass d=microsoft.com", "tlsrpt-noreply@microsoft.com")


def corpus_contact(msg):
    """The contact-info of the report inside a corpus mail, or '-'."""
    try:
        for part in email.message_from_bytes(msg, policy=email.policy.compat32).walk():
            ct = part.get_content_type()
            if ct.startswith("application/tlsrpt") or ct in ("application/gzip",
                                                              "application/json"):
                data = part.get_payload(decode=True)
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                c = json.loads(data).get("contact-info")
                return c if isinstance(c, str) and c and "\t" not in c else "-"
    except Exception:
        pass
    return "-"


if CORPUS and os.path.isdir(CORPUS):
    for fn in sorted(os.listdir(CORPUS)):
        if not fn.endswith(".eml"):
            continue
        raw = open(os.path.join(CORPUS, fn), "rb").read()
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        frm = email.message_from_bytes(raw).get("From", "")
        addr = email.utils.parseaddr(frm)[1]
        if "@" not in addr:
            continue
        dom = addr.rsplit("@", 1)[1].lower()
        if dom == "microsoft.com":
            sel, pem = "tlsrpttest", M_PEM
        else:
            sel, pem = "tlsrpttest", A_PEM
            if "tlsrpttest._domainkey." + dom not in "".join(keylines):
                publish(sel, dom, A_PUB)
        name = "corpus_" + fn[:-4].replace(".", "_")
        contact = corpus_contact(raw)
        # expectation by a cruder rule than libpsl's (last two labels; enough for
        # the corpus's .com domains): a contact address elsewhere is refused
        cdom = contact.rsplit("@", 1)[1].lower() if "@" in contact and "://" not in contact else ""
        if cdom and cdom.split(".")[-2:] != dom.split(".")[-2:]:
            case(name, sign(raw, sel, dom, pem) + raw, 0, "unauthenticated",
                 "contact-info in another organisation", contact)
        else:
            case(name, sign(raw, sel, dom, pem) + raw, 1, "", "dkim=pass d=" + dom, contact)

with open(os.path.join(OUT, "keys.txt"), "w") as f:
    f.write("# test keys, made at test time\n\n" + "\n".join(keylines) + "\n")
with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
    f.write("\n".join(manifest) + "\n")
