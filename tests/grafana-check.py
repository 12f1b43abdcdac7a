#!/usr/bin/python3
"""grafana-check.py - every metric name a Grafana dashboard uses must exist in real output.

    grafana-check.py DASHBOARD.json FILE.prom...

Loads the dashboard, walks every panel (rows and their nested panels too), takes each
target's PromQL `expr` and each templating query (label_values(EXPR, label): EXPR),
extracts the metric names in them and looks each up among the sample names of the
given Prometheus text files (the milter's MetricsFile and tlsrpt-stats --format
prometheus output from real runs). Prints one PASS/FAIL line per name, and FAIL for a
panel target without an expression or an expression naming no metric.
Exit: 0 all found, 1 something missing, 2 usage or unreadable input.
Limits: the PromQL reading is lexical (strings, label matchers, ranges, grouping
clauses and Grafana $variables removed; an identifier followed by "(" is a function);
enough for dashboards, not a PromQL parser.
"""
import json
import re
import sys

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "inf", "nan", "atan2"}


def metric_names(expr):
    """The metric names an expression uses."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r'\{[^}]*\}', ' ', e)                      # label matchers
    e = re.sub(r'\[[^\]]*\]', ' ', e)                     # ranges, subqueries
    e = re.sub(r'\$\{[^}]*\}|\$\w+', ' ', e)              # Grafana variables
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)
    names = set()
    for m in re.finditer(r'[A-Za-z_:][A-Za-z0-9_:]*', e):
        tok = m.group(0)
        rest = e[m.end():].lstrip()
        if tok.lower() in KEYWORDS or rest.startswith('('):
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == '.'):
            continue                                      # 1e3, 0.5s and the like
        names.add(tok)
    return names


def panels_of(dash):
    """Every panel, rows' nested panels included."""
    out = []
    stack = list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        out.append(p)
        stack.extend(p.get("panels", []))
    return out


def exprs_of(dash, bad):
    """(where, expr) of every panel target and templating query."""
    out = []
    for p in panels_of(dash):
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        if not targets:
            bad.append("panel '%s' has no targets" % p.get("title"))
        for t in targets:
            if not t.get("expr"):
                bad.append("panel '%s' target %s has no expr" % (p.get("title"), t.get("refId")))
                continue
            out.append(("panel '%s' %s" % (p.get("title"), t.get("refId")), t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r'\s*label_values\((.*),\s*\w+\s*\)\s*$', q)
        if m:
            out.append(("variable $%s" % v.get("name"), m.group(1)))
        elif q:
            out.append(("variable $%s" % v.get("name"), q))
    return out


def sample_names(paths):
    """Sample names in Prometheus text files (comments skipped)."""
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                names.add(re.split(r'[{\s]', line, maxsplit=1)[0])
    return names


def main(argv):
    if len(argv) < 3:
        print("usage: grafana-check.py DASHBOARD.json FILE.prom...", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            dash = json.load(f)
        have = sample_names(argv[2:])
    except (OSError, ValueError) as e:
        print("grafana-check.py: %s" % e, file=sys.stderr)
        return 2
    bad = []
    used = {}
    for where, expr in exprs_of(dash, bad):
        names = metric_names(expr)
        if not names:
            bad.append("%s names no metric: %s" % (where, expr))
        for n in names:
            used.setdefault(n, where)
    for n in sorted(used):
        if n in have:
            print("PASS: grafana: %s (%s) is in the real output" % (n, used[n]))
        else:
            print("FAIL: grafana: %s (%s) is in none of %s" % (n, used[n], " ".join(argv[2:])))
            bad.append(n)
    for b in bad:
        if b not in used:
            print("FAIL: grafana: %s" % b)
    print("# grafana-check: %d metric names, %d expressions checked, %d problems"
          % (len(used), len(exprs_of(dash, [])), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
