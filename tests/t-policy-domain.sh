#!/bin/sh
# t-policy-domain.sh - issue 12.2: a policy without policy-domain is never dropped
# silently. Fixtures in the shape of Postfix's reporter (sys4 tlsrpt-reporter leaves
# policy-domain out of its no-policy-found policies), counted through
# `tlsrpt-parse --push` into a real memcached: a bare report takes the one domain its
# other policies name, a mail its TLS-Report-Domain header, and a report whose other
# policies name two domains is not counted (reason no-policy-domain, exit 1, no
# counter written). `--json` says where each domain came from (domain_source).
# SKIPs without memcached.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
P=$BUILD/tlsrpt-parse
F=$TLSRPT_SRCDIR/tests/fixtures/policy-domain
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
command -v memcached >/dev/null 2>&1 || { t_skip "policy-domain" "no memcached"; exit 0; }
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
svc_init
W=$SVC_TMP

# --json: the source of every domain
"$P" --json "$F/sys4-bare.json" "$F/sys4-mail.eml" "$F/sys4-two-domains.json" >"$W/j" 2>&1
src=$(/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    print(o["file"], o.get("reason", "ok"),
          ",".join("%s=%s" % (p["policy"].get("policy-domain"), p.get("domain_source")) for p in o.get("policies", [])))
' "$W/j")
t_eq "json: bare report, domain from the other policy" "$(echo "$src" | sed -n 1p)" \
    "sys4-bare.json ok example.org=report,example.org=other-policies"
t_eq "json: mail, domain from TLS-Report-Domain" "$(echo "$src" | sed -n 2p)" \
    "sys4-mail.eml ok example.net=header,example.net=header"
t_eq "json: two other domains, no-policy-domain" "$(echo "$src" | sed -n 3p)" \
    "sys4-two-domains.json no-policy-domain "

port=$(svc_memcached_start mc) || { t_fail "memcached starts" "see $W/mc.log"; exit 1; }
# The fixtures are not DKIM-signed: where tlsrpt-parse verifies report mails (--auth,
# issue 9.5), this test is about the decoder, so it counts them without verifying.
AUTH=
"$P" --help 2>&1 | grep -q -- '--auth' && AUTH="--auth none"
push() { "$P" --push $AUTH --servers "127.0.0.1:$port" --prefix pd: "$@"; }
push "$F/sys4-bare.json" "$F/sys4-mail.eml" >"$W/push1" 2>&1; rc=$?
t_eq "push: both reports counted" "$rc" 0
t_grep "push: bare report counted with all its sessions" "$W/push1" "sys4-bare.json: counted .* domains=example.org ok=19 fail=2"
t_grep "push: mail counted under the header's domain" "$W/push1" "sys4-mail.eml: counted .* domains=example.net ok=21 fail=1"
Y=2026-11-20
t_eq "counter: example.org ok (15 sts + 4 no-policy-found)" "$(t_get "$port" "pd:d:example.org:$Y:ok")" 19
t_eq "counter: example.org no-policy-found ok" "$(t_get "$port" "pd:d:example.org:$Y:ptype:no-policy-found:ok")" 4
t_eq "counter: example.org sts ok" "$(t_get "$port" "pd:d:example.org:$Y:ptype:sts:ok")" 15
t_eq "counter: example.net ok (17 + 4)" "$(t_get "$port" "pd:d:example.net:$Y:ok")" 21
t_eq "counter: example.net fail" "$(t_get "$port" "pd:d:example.net:$Y:fail")" 1
t_eq "counter: example.net reports" "$(t_get "$port" "pd:d:example.net:$Y:reports")" 1
push "$F/sys4-two-domains.json" >"$W/push2" 2>&1; rc=$?
t_eq "push: two other domains exits 1" "$rc" 1
t_grep "push: says no-policy-domain" "$W/push2" "sys4-two-domains.json: not counted: reason=no-policy-domain \(policy 3 has no policy-domain"
t_eq "counter: nothing of the refused report (example.com)" "$(t_get "$port" "pd:d:example.com:$Y:ok")" ""
t_eq "counter: nothing of the refused report (example.org)" "$(t_get "$port" "pd:d:example.org:$Y:reports")" 1
push "$F/sys4-bare.json" >"$W/push3" 2>&1
t_grep "push: replay is a duplicate" "$W/push3" "duplicate"
t_eq "counter: replay changed nothing" "$(t_get "$port" "pd:d:example.org:$Y:ok")" 19
exit $((T_FAILS > 0))
