#!/usr/bin/env python3
"""dns-stub.py KEYFILE PORTFILE - a DNS server for the milter's DKIM tests (UDP, 127.0.0.1).

Answers TXT queries from KEYFILE (DkimKeyFile format: "NAME RECORD" lines, '#'
comments), re-read on every query so a test can add keys while it runs:
  a name in KEYFILE          the record as TXT (split into 255-byte strings)
  a name with a label "silent"   no answer at all (the client's timeout is tested)
  a name with a label "servfail" rcode 2 (SERVFAIL)
  anything else              NXDOMAIN
Binds a free port, writes it into PORTFILE, then serves until killed; one
line per query on stdout ("QUERY name -> answer|silent|servfail|nxdomain").
Limits: standard library only; one datagram per query, no TCP (the records
of the tests fit in one UDP answer with EDNS0).
"""
import socket
import struct
import sys


def keys(path):
    """The name -> record table of the key file."""
    table = {}
    for line in open(path, encoding="ascii", errors="replace"):
        line = line.strip()
        if line and not line.startswith("#") and " " in line:
            name, rec = line.split(" ", 1)
            table.setdefault(name.lower().rstrip("."), rec)
    return table


def qname(pkt):
    """The question name of a query and the offset after its question."""
    labels, i = [], 12
    while pkt[i]:
        n = pkt[i]
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels).lower(), i + 5


def answer(pkt, rcode, rec):
    """The reply to query pkt: rcode, and one TXT answer when rec is given."""
    name, end = qname(pkt)
    flags = 0x8180 | rcode
    head = struct.pack(">HHHHHH", struct.unpack(">H", pkt[:2])[0], flags, 1,
                       1 if rec is not None else 0, 0, 0)
    out = head + pkt[12:end]
    if rec is not None:
        data = rec.encode()
        rdata = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                         for i in range(0, len(data), 255))
        out += struct.pack(">HHHIH", 0xC00C, 16, 1, 60, len(rdata)) + rdata
    return out


def main():
    """Serve until killed."""
    keyfile, portfile = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    while True:
        pkt, peer = s.recvfrom(4096)
        if len(pkt) < 17:
            continue
        try:
            name, _ = qname(pkt)
        except IndexError:
            continue
        labels = name.split(".")
        if "silent" in labels:
            what = "silent"
        elif "servfail" in labels:
            what = "servfail"
            s.sendto(answer(pkt, 2, None), peer)
        else:
            rec = keys(keyfile).get(name)
            what = "answer" if rec is not None else "nxdomain"
            s.sendto(answer(pkt, 0 if rec is not None else 3, rec), peer)
        print("QUERY %s -> %s" % (name, what), flush=True)


if __name__ == "__main__":
    main()
