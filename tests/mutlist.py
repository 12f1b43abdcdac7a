"""mutlist.py - read and apply the mutation list of tests/mutate.sh.

The list (tests/mutations.txt): entries separated by blank lines, each a few
"key: value" lines; '#' lines are comments.
  id:       short unique name (M01 ...)
  file:     path of the source file, from the top of the tree
  find:     the exact text to replace; it must occur exactly once in the file
  replace:  what it becomes (may be empty: the text is deleted)
  what:     one line saying what the mutation does
  tests:    optional, words for `make check TESTS=word` (each run in turn;
            default: the whole suite)
In find and replace, \\n stands for a newline, \\t for a tab and \\\\ for one
backslash (so a C "\\n" inside find is written \\\\n).
Errors: load() raises ValueError on a malformed entry; check() returns one
message per entry whose find text is missing or occurs more than once.
"""
import os

KEYS = ("id", "file", "find", "replace", "what", "tests")


def unescape(s):
    """Undo the \\n, \\t and \\\\ escapes of a find/replace value."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def load(path):
    """The entries of the list as dicts (find/replace unescaped)."""
    entries, cur = [], {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n") + [""]
    for no, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                for k in ("id", "file", "find", "replace", "what"):
                    if k not in cur:
                        raise ValueError("%s:%d: entry %s has no %s:" % (path, no, cur.get("id"), k))
                entries.append(cur)
                cur = {}
            continue
        key, sep, val = line.partition(":")
        if not sep or key not in KEYS:
            raise ValueError("%s:%d: not a 'key: value' line: %r" % (path, no, line))
        val = val[1:] if val.startswith(" ") else val
        cur[key] = unescape(val) if key in ("find", "replace") else val.strip()
    ids = [e["id"] for e in entries]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError("%s: duplicate ids %s" % (path, " ".join(dup)))
    return entries


def check(entries, tree):
    """Messages for entries that cannot be applied to tree."""
    bad = []
    for e in entries:
        p = os.path.join(tree, e["file"])
        if not os.path.isfile(p):
            bad.append("%s: no file %s" % (e["id"], e["file"]))
            continue
        with open(p, encoding="utf-8") as f:
            n = f.read().count(e["find"])
        if n != 1:
            bad.append("%s: find text occurs %d times in %s (must be once): %r"
                       % (e["id"], n, e["file"], e["find"][:80]))
        elif e["find"] == e["replace"]:
            bad.append("%s: replace equals find" % e["id"])
    return bad


def apply(e, tree):
    """Apply one entry to the file in tree (in place)."""
    p = os.path.join(tree, e["file"])
    with open(p, encoding="utf-8") as f:
        text = f.read()
    if text.count(e["find"]) != 1:
        raise ValueError("%s: find text not exactly once in %s" % (e["id"], e["file"]))
    with open(p, "w", encoding="utf-8") as f:
        f.write(text.replace(e["find"], e["replace"]))
