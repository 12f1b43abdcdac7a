#!/usr/bin/env python3
"""mc-dump.py - every key of one or more memcached servers, for the fault tests.

  mc-dump.py dump [--also FILE] HOST:PORT...
                                      every item of every server, "key<TAB>value" lines
                                      sorted by key (keys listed with `lru_crawler
                                      metadump all` until two listings in a row add
                                      nothing (at least 3, at most 12), the union taken,
                                      retried while the crawler is BUSY; values read
                                      with get). --also FILE: the keys of FILE's first
                                      column are read with get too (an earlier dump to
                                      compare with: a key missing then is missing for
                                      sure); how many of them the listings missed, if
                                      any, is said on stderr as a "# " line
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


def all_keys(server):
    """The union of listings until two in a row add nothing: the crawler skips an item
    it finds locked (the LRU maintainer moving it, a client reading it) at that moment."""
    seen = set(keys(server))
    quiet = 0
    for _ in range(11):
        more = set(keys(server)) - seen
        quiet = 0 if more else quiet + 1
        seen |= more
        if quiet == 2:
            break
    return sorted(seen)


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
            also, also_name, servers = set(), "", argv[2:]
            if len(servers) >= 3 and servers[0] == "--also":
                also_name = servers[1].rsplit("/", 1)[-1]
                with open(servers[1], encoding="latin-1") as f:
                    also = set(l.split("\t", 1)[0] for l in f if l.strip())
                servers = servers[2:]
            rows, missed = [], 0
            for server in servers:
                ks = all_keys(server)
                got = values(server, ks)
                late = values(server, sorted(also - set(ks))) if also else {}
                missed += len(late)
                got.update(late)
                for k, v in got.items():
                    rows.append((k, v))
            if missed:
                sys.stderr.write("# mc-dump: %d key(s) of %s read by get, missed by the "
                                 "crawler's listings\n" % (missed, also_name))
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
