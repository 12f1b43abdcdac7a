#!/usr/bin/env python3
"""mc-dump.py - every key of a memcached server with its value, sorted, one per line.

    mc-dump.py HOST:PORT [PREFIX]

Lists the keys with `lru_crawler metadump all` (memcached >= 1.4.31; no cachedump
limits), then reads each with `get`, and prints "KEY<TAB>VALUE" (the value with
non-printable bytes as \\xHH) for keys starting with PREFIX (default: all), sorted.
Exit 0, or 1 when the server does not answer or the crawler is busy.
Limits: values up to memcached's item size; the whole dump is held in memory (a test
tool, for stores of a few thousand keys).
"""
import socket
import sys
import urllib.parse


def recv_until(s, buf, end):
    """Read from s until buf ends with end; returns buf."""
    while not buf.endswith(end):
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def keys_of(s):
    """Every key the LRU crawler reports."""
    s.sendall(b"lru_crawler metadump all\r\n")
    data = recv_until(s, b"", b"END\r\n")
    if data.startswith(b"BUSY") or data.startswith(b"ERROR"):
        raise OSError(data.decode(errors="replace").strip())
    keys = []
    for line in data.split(b"\n"):
        if line.startswith(b"key="):
            k = line.split(b" ", 1)[0][4:].decode()
            keys.append(urllib.parse.unquote_to_bytes(k))
    return keys


def get(s, key):
    """The value of key, or None when it is gone."""
    s.sendall(b"get " + key + b"\r\n")
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n", 1)
    if head == b"END":
        return None
    n = int(head.split()[3])
    rest = recv_until_len(s, rest, n + 2 + 5)
    return rest[:n]


def recv_until_len(s, buf, n):
    """Read until buf holds at least n bytes."""
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def show(b):
    """Bytes as printable text."""
    return "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else "\\x%02x" % c for c in b)


def main(argv):
    if len(argv) < 2:
        print("usage: mc-dump.py HOST:PORT [PREFIX]", file=sys.stderr)
        return 1
    host, port = argv[1].rsplit(":", 1)
    prefix = argv[2].encode() if len(argv) > 2 else b""
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
        out = []
        for k in keys_of(s):
            if not k.startswith(prefix):
                continue
            v = get(s, k)
            if v is not None:
                out.append("%s\t%s" % (show(k), show(v)))
    except OSError as e:
        print("mc-dump.py: %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    for line in sorted(out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
