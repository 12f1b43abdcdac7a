#!/usr/bin/python3
"""dkim-sign.py - DKIM keys and signatures for the milter's shell tests, made at test time.

Run with /usr/bin/python3 (Debian's python3-dkim; the python3 on PATH may not
see it). Nothing it writes is committed: keys live in the test's temp dir.

  dkim-sign.py key PEM SEL DOMAIN KEYFILE [BITS]
      a fresh RSA key (openssl genrsa, default 2048 bits) into PEM, and its
      record "SEL._domainkey.DOMAIN v=DKIM1; k=rsa; p=..." appended to KEYFILE
      (the DkimKeyFile format of tlsrpt-milter.conf(5))
  dkim-sign.py pub PEM SEL DOMAIN KEYFILE
      publish the key in PEM once more, for another selector or domain
  dkim-sign.py sign PEM SEL DOMAIN IN OUT [--canon HDR/BODY] [--length] [--sha1]
      OUT = IN with LF line ends made CRLF and a DKIM-Signature by d=DOMAIN,
      s=SEL put in front (above any signature IN already has); --length adds
      l=, --sha1 signs rsa-sha1. Default canonicalization relaxed/relaxed.

Exit 2 when dkimpy or openssl is missing (the caller SKIPs), 1 on other errors.
"""
import base64
import subprocess
import sys

try:
    import dkim
except ImportError:
    sys.exit(2)


def openssl(*args):
    """Run openssl; its stdout."""
    try:
        return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout
    except FileNotFoundError:
        sys.exit(2)


def publish(pem, sel, dom, keyfile):
    """Append the key record of the private key in pem to keyfile."""
    pub = base64.b64encode(openssl("rsa", "-in", pem, "-pubout", "-outform", "DER")).decode()
    with open(keyfile, "a") as f:
        f.write("%s._domainkey.%s v=DKIM1; k=rsa; p=%s\n" % (sel, dom, pub))


def sign(pem, sel, dom, src, out, opts):
    """Write src signed by dom/sel into out."""
    msg = open(src, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    canon = b"relaxed/relaxed"
    if "--canon" in opts:
        canon = opts[opts.index("--canon") + 1].encode()
    hc, bc = canon.split(b"/")
    sig = dkim.sign(msg, sel.encode(), dom.encode(), open(pem, "rb").read(),
                    canonicalize=(hc, bc), length="--length" in opts,
                    signature_algorithm=b"rsa-sha1" if "--sha1" in opts else b"rsa-sha256",
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                     b"mime-version", b"content-type"])
    with open(out, "wb") as f:
        f.write(sig + msg)


def main(argv):
    """Dispatch the sub-command."""
    if len(argv) >= 6 and argv[1] == "key":
        bits = argv[6] if len(argv) > 6 else "2048"
        openssl("genrsa", "-traditional", "-out", argv[2], bits)
        publish(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 6 and argv[1] == "pub":
        publish(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 7 and argv[1] == "sign":
        sign(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7:])
    else:
        sys.stderr.write(__doc__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
