#!/usr/bin/env python3
"""mc-dump.py - every key of one or more memcached servers, for the fault tests.

  mc-dump.py dump HOST:PORT...        every item of every server, "key<TAB>value" lines
                                      sorted by key (keys listed with `lru_crawler
                                      metadump all` twice, the union taken, retried
                                      while the crawler is BUSY; values read with get)
  mc-dump.py get HOST:PORT... <KEYS   the keys named on stdin (one a line), read with get
                                      from every server, "key<TAB>value" for those found
                                      (the LRU crawler skips items it finds locked, so a
                                      check of named keys reads them directly)
  mc-dump.py stat HOST:PORT NAME      one value of `stats` (e.g. evictions, curr_items)

Values are printed as bytes decoded latin-1 with CR/LF/TAB written \\r \\n \\t. A key held
by two servers (it should not be) is printed twice. Stdlib only. Exit 1 when a server
does not answer.
"""
import socket
import sys
import time
import urllib.parse


def conn(server):
    """A connected socket and a buffered reader."""
    host, port = server.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    return s, s.makefile("rb")


def keys(server):
    """Every key of the server (metadump; retried while the crawler is BUSY, 10 s)."""
    for _ in range(100):
        s, r = conn(server)
        s.sendall(b"lru_crawler metadump all\r\n")
        out = []
        while True:
            line = r.readline()
            if line.startswith(b"BUSY"):
                out = None
                break
            if not line or line.startswith(b"END"):
                break
            if line.startswith(b"ERROR") or line.startswith(b"CLIENT_ERROR"):
                raise OSError("%s: metadump: %s" % (server, line.decode("latin-1").strip()))
            for f in line.split():
                if f.startswith(b"key="):
                    out.append(urllib.parse.unquote_to_bytes(f[4:].decode()).decode("latin-1"))
        s.close()
        if out is not None:
            return out
        time.sleep(0.1)
    raise OSError("%s: metadump: the LRU crawler stayed busy for 10 s" % server)


def values(server, ks):
    """{key: value} for the keys that still exist."""
    s, r = conn(server)
    got = {}
    for i in range(0, len(ks), 100):
        s.sendall(b"get " + " ".join(ks[i:i + 100]).encode("latin-1") + b"\r\n")
        while True:
            line = r.readline()
            if not line or line.startswith(b"END"):
                break
            _, k, _, n = line.split()[:4]
            data = r.read(int(n) + 2)[:-2]
            got[k.decode("latin-1")] = data.decode("latin-1")
    s.close()
    return got


def esc(v):
    """A value on one line."""
    return v.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def stat(server, name):
    """One stats value."""
    s, r = conn(server)
    s.sendall(b"stats\r\n")
    val = ""
    while True:
        line = r.readline()
        if not line or line.startswith(b"END"):
            break
        f = line.split()
        if len(f) >= 3 and f[1].decode() == name:
            val = f[2].decode()
    s.close()
    return val


def main(argv):
    """Dispatch."""
    try:
        if len(argv) >= 3 and argv[1] == "dump":
            rows = []
            for server in argv[2:]:
                # two listings: the crawler skips an item it finds locked at that moment
                ks = sorted(set(keys(server)) | set(keys(server)))
                for k, v in values(server, ks).items():
                    rows.append((k, v))
            for k, v in sorted(rows):
                print("%s\t%s" % (k, esc(v)))
            return 0
        if len(argv) >= 3 and argv[1] == "get":
            want = sorted(set(l.strip() for l in sys.stdin if l.strip()))
            rows = {}
            for server in argv[2:]:
                rows.update(values(server, want))
            for k in sorted(rows):
                print("%s\t%s" % (k, esc(rows[k])))
            return 0
        if len(argv) == 4 and argv[1] == "stat":
            print(stat(argv[2], argv[3]))
            return 0
    except OSError as e:
        sys.stderr.write("mc-dump.py: %s\n" % e)
        return 1
    sys.stderr.write(__doc__)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
