#!/usr/bin/env python3
"""mcdump.py - print every key of a memcached and its value, sorted, one
"key<TAB>value" line each (values with control bytes escaped as \\xNN), for
comparing a store before and after (tests/t-rebuild.sh).

    mcdump.py HOST:PORT [PREFIX] [--exclude REGEX]...

Keys come from `lru_crawler metadump all` (memcached >= 1.4.31), values from
`get` in batches of 100. Only keys starting with PREFIX (default: all). Exit 1
when the server cannot be read. A key expiring between listing and get is
left out.
"""
import re
import socket
import sys
import urllib.parse


def talk(sock, cmd, end):
    sock.sendall(cmd)
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("mcdump: connection closed")
        data += chunk
    return data


def main():
    args = sys.argv[1:]
    excl = []
    while "--exclude" in args:
        i = args.index("--exclude")
        excl.append(re.compile(args[i + 1]))
        del args[i:i + 2]
    host, port = args[0].rsplit(":", 1)
    prefix = args[1] if len(args) > 1 else ""
    s = socket.create_connection((host, int(port)), timeout=10)
    dump = talk(s, b"lru_crawler metadump all\r\n", b"END\r\n").decode("ascii", "replace")
    keys = []
    for line in dump.split("\n"):
        if line.startswith("key="):
            k = urllib.parse.unquote(line.split(" ", 1)[0][4:])
            if k.startswith(prefix) and not any(e.search(k) for e in excl):
                keys.append(k)
    keys = sorted(set(keys))
    out = []
    for i in range(0, len(keys), 100):
        batch = keys[i:i + 100]
        data = talk(s, ("get " + " ".join(batch) + "\r\n").encode(), b"END\r\n")
        pos = 0
        while True:
            nl = data.index(b"\r\n", pos)
            head = data[pos:nl].decode()
            if head == "END":
                break
            _, k, _, n = head.split(" ")[:4]
            v = data[nl + 2:nl + 2 + int(n)]
            pos = nl + 2 + int(n) + 2
            out.append((k, "".join(chr(c) if 32 <= c < 127 else "\\x%02x" % c for c in v)))
    for k, v in sorted(out):
        print("%s\t%s" % (k, v))


main()
