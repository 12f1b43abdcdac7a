# expect.awk - expected memcached counters (key schema v1, store/store.h) for
# the reports in an expected.tsv-format file, read in the order they were sent.
#
# Input: lines "file org report_id start npolicies policies error" (TAB-separated;
# a header line starting with "file" is skipped); policies "dom:succ:fail:rt=n,...;...".
# Rules (written from the schema, independent of the C code):
#   a line with an error, or whose (org, report_id) was already seen, counts nothing;
#   policies with an empty domain are not counted; the domain is lower-cased and
#   loses a trailing dot; the day is the first 10 characters of start (UTC);
#   per (report, domain): ok/fail summed per policy type; sts and tlsa describe the same
#   sessions, so the domain takes the one with more sessions (a tie: more failures) plus
#   no-policy-found and other types (rule 12); the types come from -v PT=ptypes.tsv, and a
#   report naming a domain twice without types there prints an "X" line (a test error);
#   reports += 1, org:ORG:ok/fail as the domain;
#   type:RT += n per result type (RFC 8460 names verbatim, others "other").
# Output: "C<TAB>key<TAB>value" per counter and "M<TAB>setkey<TAB>member" per index
# member; keys carry prefix P (-v P=...), components %XX-encoded outside [A-Za-z0-9._-].
# Run with LC_ALL=C so bytes stay bytes.
BEGIN {
    FS = "\t"
    if (P == "") P = "tlsrpt:"
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    n = split("starttls-not-supported certificate-host-mismatch certificate-expired " \
              "certificate-not-trusted validation-failure tlsa-invalid dnssec-invalid " \
              "dane-required sts-policy-fetch-error sts-policy-invalid sts-webpki-invalid", t, " ")
    for (i = 1; i <= n; i++) rfc[t[i]] = 1
    while (PT != "" && (getline line < PT) > 0)
        if (line !~ /^#/ && split(line, pt, "\t") == 2) ptypes[pt[1]] = pt[2]
}
function cls(t) { t = tolower(t); return t == "sts" || t == "tlsa" || t == "no-policy-found" ? t : "other" }
function enc(s,    out, i, c) {
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c ~ /[A-Za-z0-9._-]/) out = out c
        else out = out sprintf("%%%02X", ord[c])
    }
    return out
}
function add(k, v) { if (!(k in ctr)) order[++nk] = k; ctr[k] += v }
function member(k, m) { if (!((k, m) in mem)) { mem[k, m] = 1; morder[++nm] = k "\t" m } }
$1 == "file" { next }
{
    if ($7 != "") next
    id = $2 SUBSEP $3
    if (id in seen) next
    seen[id] = 1
    day = substr($4, 1, 10)
    np = split($6, pol, ";")
    ntp = split(($1 in ptypes) ? ptypes[$1] : "", tp, ",")
    delete dok; delete dfail; delete dseen; delete tok; delete tfail
    for (i = 1; i <= np; i++) {
        split(pol[i], f, ":")
        d = tolower(f[1]); sub(/\.$/, "", d)
        if (d == "") continue
        if (d in dseen && ntp != np) printf "X\t%s names %s twice: add its policy types to ptypes.tsv\n", $1, d
        c = ntp == np ? cls(tp[i]) : "sts"
        tok[d, c] += f[2]; tfail[d, c] += f[3]; dseen[d] = 1
        nt = split(f[4], ty, ",")
        for (j = 1; j <= nt; j++) {
            split(ty[j], kv, "=")
            rt = (kv[1] in rfc) ? kv[1] : "other"
            if (kv[2] + 0 > 0) add(P "d:" enc(d) ":" day ":type:" rt, kv[2])
        }
    }
    for (d in dseen) {
        ss = tok[d, "sts"] + tfail[d, "sts"]; st = tok[d, "tlsa"] + tfail[d, "tlsa"]
        w = (ss > st || (ss == st && tfail[d, "sts"] >= tfail[d, "tlsa"])) ? "sts" : "tlsa"
        dok[d] = tok[d, w] + tok[d, "no-policy-found"] + tok[d, "other"]
        dfail[d] = tfail[d, w] + tfail[d, "no-policy-found"] + tfail[d, "other"]
        base = P "d:" enc(d) ":" day
        add(base ":ok", dok[d]); add(base ":fail", dfail[d]); add(base ":reports", 1)
        add(base ":org:" enc($2) ":ok", dok[d]); add(base ":org:" enc($2) ":fail", dfail[d])
        member(P "domains", enc(d)); member(P "d:" enc(d) ":days", day)
    }
}
END {
    for (i = 1; i <= nk; i++) printf "C\t%s\t%d\n", order[i], ctr[order[i]]
    for (i = 1; i <= nm; i++) printf "M\t%s\n", morder[i]
}
