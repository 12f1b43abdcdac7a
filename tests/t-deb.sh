#!/bin/sh
# t-deb.sh - the Debian package, built from a fresh clone of the committed tree (HEAD;
# uncommitted changes are not in it) with "dpkg-buildpackage -us -uc -b", checked by
# lintian (no error), then installed and purged for real on this machine:
#   dpkg -i: the system user and group, postfix in the group, the socket and state
#     directories (0750, the user's), the conffiles, the enabled unit and rc links; the
#     milter is not started while ReportAddress is unset, and the postinst says why;
#   the installed unit's ExecStartPre/ExecStart, run as the unit's User/Group/UMask,
#     open the socket in /var/spool/postfix/tlsrpt-milter, where postfix (through the
#     group) can connect and count a report and nobody else can;
#   the installed init script starts the installed milter with the installed config
#     edited to a loopback inet socket and a test memcached; a report sent through it by
#     the milter driver is counted; reinstalling restarts it and keeps the edited file;
#   dpkg --purge stops it and removes what the package made, keeping a non-empty
#     archive (and saying so) and the user; a second install + purge removes
#     /var/lib/tlsrpt-milter too. The test then removes the user and group it caused
#     (when they did not exist before it), so the next run proves their creation again.
# The maintainer scripts run as on a real machine: dpkg runs in a private mount
# namespace where /usr/sbin/policy-rc.d (a container's "deny everything") is replaced
# by an "allow" one; nothing else changes. One package on the machine at a time (a
# lock). SKIP when the package is already on this machine (the test would replace and
# purge it), or without root, git, dpkg-buildpackage, debhelper, unshare, memcached;
# and in the sanitizer run (make asan: the package does not use that build).
# About 70 s, most of it the package build and lintian.
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
. "$TLSRPT_SRCDIR/tests/lib/services.sh"
. "$TLSRPT_SRCDIR/tests/lib/mkmail.sh"

PKG=tlsrpt-milter
FIX=$TLSRPT_SRCDIR/tests/fixtures/milter
UNIT=/lib/systemd/system/tlsrpt-milter.service
SPOOL=/var/spool/postfix/tlsrpt-milter
STATE=/var/lib/tlsrpt-milter
PIDF=/run/tlsrpt-milter/tlsrpt-milter.pid
[ "$(id -u)" = 0 ] || { t_skip t-deb "installing a package needs root"; exit 0; }
t_need t-deb git dpkg-buildpackage dh unshare flock setpriv memcached memccat gzip base64 \
    "$BUILD/tests/milter-driver"
case " $CFLAGS " in
    *-fsanitize=*) t_skip t-deb "sanitizer run: the package (built with Debian's flags) is tested by the plain make check"
                   exit 0 ;;
esac
commit=$(git -C "$TLSRPT_SRCDIR" rev-parse HEAD 2>/dev/null) || { t_skip t-deb "not a git checkout"; exit 0; }

svc_init
W=$SVC_TMP/w
mkdir -p "$W" && chmod 755 "$W"
cp "$BUILD/tests/milter-driver" "$W/drv"       # runnable by postfix and nobody
printf '#!/bin/sh\nexit 0\n' >"$W/policy-rc.d"
chmod 755 "$W/policy-rc.d"
DEB_INSTALLED= DEB_MADE_USER=

# dpkg's view of the package: installed, config-files, not-installed, or nothing.
pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null; }
# Run a command where policy-rc.d allows invoke-rc.d (output into $W/ns.out).
ns() {
    unshare -m sh -c '[ ! -e /usr/sbin/policy-rc.d ] || mount --bind "$0" /usr/sbin/policy-rc.d || exit 90
                      exec "$@"' "$W/policy-rc.d" "$@" >"$W/ns.out" 2>&1
}
# dpkg ARGS in that namespace, retried while another dpkg or apt holds the lock; output
# into $W/$DPKG_LOG.
# (Variables deb_*: the helpers' _n, _i, _rc belong to checks.sh and services.sh.)
dpkg_ns() {
    deb_i=0
    while :; do
        ns dpkg "$@"
        deb_rc=$?
        cp "$W/ns.out" "$W/$DPKG_LOG"
        grep -q 'lock' "$W/ns.out" && [ $deb_rc -ne 0 ] && [ $deb_i -lt 60 ] || return $deb_rc
        sleep 2
        deb_i=$((deb_i + 1))
    done
}
# The process is gone (not our child: no /proc entry, or a zombie); wait_gone: within 5 s.
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
wait_gone() {
    deb_w=0
    while ! gone "$1" && [ $deb_w -lt 50 ]; do sleep 0.1; deb_w=$((deb_w + 1)); done
    gone "$1"
}
# A test failing half-way leaves no package behind (after the services stopped).
# The user and group a purge keeps are removed again when this test made them.
svc_after_stop() {
    if [ -n "$DEB_INSTALLED" ]; then
        DPKG_LOG=cleanup.out dpkg_ns --purge "$PKG"
        rm -rf "$STATE"
    fi
    if [ -n "$DEB_MADE_USER" ] && id -u tlsrpt-milter >/dev/null 2>&1; then
        deluser --quiet --system tlsrpt-milter >/dev/null 2>&1
        delgroup --quiet --system tlsrpt-milter >/dev/null 2>&1
    fi
    return 0
}

# ---- build from a fresh clone ----
git clone -q --no-checkout "$TLSRPT_SRCDIR" "$W/src" && git -C "$W/src" checkout -q "$commit" ||
    { t_fail "git clone" "$commit"; exit 1; }
[ -z "$(git -C "$TLSRPT_SRCDIR" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
    echo "# note: the package is built from $commit; uncommitted changes are not in it"
t0=$(date +%s)
# Not the test runner's environment: its BUILD, an outer make's MAKEFLAGS (jobserver)
# and compiler flags (dpkg-buildflags give the package's).
(cd "$W/src" && env -u BUILD -u TLSRPT_SRCDIR -u TESTS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    -u CC -u CFLAGS -u CPPFLAGS -u LDFLAGS -u WERROR dpkg-buildpackage -us -uc -b -J2) >"$W/build.log" 2>&1
rc=$?
echo "# package build: $(($(date +%s) - t0)) s"
if [ $rc -ne 0 ]; then
    t_fail "dpkg-buildpackage -us -uc -b in a fresh clone" "$(grep -E 'error|Unmet|dpkg-' "$W/build.log" | tail -4 | tr '\n' '|')"
    exit 1
fi
deb=$(ls "$W"/${PKG}_*.deb 2>/dev/null | head -1)
t_check "dpkg-buildpackage -us -uc -b in a fresh clone: ${deb##*/}" test -s "$deb"
[ -s "$deb" ] || exit 1
t_grep "the build ran the service-free unit tests" "$W/build.log" '^build/tests/test_config: [1-9][0-9]* passed'
t_nogrep "the build ran no failing test" "$W/build.log" '^FAIL:'
dpkg-deb -x "$deb" "$W/x"
t_eq "package version = the milter's (-V)" "$("$W/x/usr/sbin/tlsrpt-milter" -V)" "tlsrpt-milter $(dpkg-deb -f "$deb" Version)"
dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' >"$W/depends"
for p in adduser libmilter1.0.1 libmemcached11 libjson-c5 zlib1g; do
    t_check "Depends: $p" grep -qx "$p" "$W/depends"
done
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' >"$W/contents"
for f in /usr/sbin/tlsrpt-milter /usr/bin/tlsrpt-parse /usr/bin/tlsrpt-stats /etc/tlsrpt-milter.conf \
         /etc/default/tlsrpt-milter /etc/init.d/tlsrpt-milter "$UNIT" \
         /lib/systemd/system/tlsrpt-stats.service /lib/systemd/system/tlsrpt-stats.timer \
         /usr/lib/tmpfiles.d/tlsrpt-milter.conf /usr/share/man/man8/tlsrpt-milter.8.gz \
         /usr/share/man/man5/tlsrpt-milter.conf.5.gz /usr/share/man/man1/tlsrpt-parse.1.gz \
         /usr/share/man/man1/tlsrpt-stats.1.gz /usr/share/doc/tlsrpt-milter/README.Debian.gz \
         /usr/share/doc/tlsrpt-milter/examples/tlsrpt-milter.conf; do
    t_check "package ships $f" grep -qx "$f" "$W/contents"
done
if command -v lintian >/dev/null 2>&1; then
    t0=$(date +%s)
    lintian --tag-display-limit 0 "$W"/${PKG}_*.changes >"$W/lintian.log" 2>&1
    echo "# lintian: $(($(date +%s) - t0)) s"
    sed -n 's/^\([EW]: .*\)/# lintian: \1/p' "$W/lintian.log"
    t_eq "lintian: no errors" "$(grep -c '^E:' "$W/lintian.log")" 0
else
    t_skip "lintian" "not installed"
fi

# ---- install (one package on this machine at a time) ----
exec 9>>/tmp/.tlsrpt-tests-deb.lock
flock -w 900 9 || { t_fail "deb lock" "another t-deb.sh held it for 15 minutes"; exit 1; }
case $(pkg_status) in
    ''|not-installed) ;;
    *) t_skip t-deb "package $PKG is on this machine ($(pkg_status)): the test would replace and purge it"
       exit 0 ;;
esac
pre_user=$(id -u tlsrpt-milter 2>/dev/null)
[ -n "$pre_user" ] || DEB_MADE_USER=1
DPKG_LOG=install1.out dpkg_ns -i "$deb"
rc=$?
DEB_INSTALLED=1
t_eq "dpkg -i" "$rc" 0
t_eq "dpkg: installed" "$(pkg_status)" installed
if [ -z "$pre_user" ]; then
    t_check "postinst created the user tlsrpt-milter" id -u tlsrpt-milter
else
    echo "# user tlsrpt-milter existed before this test: its creation is not proven here"
fi
t_check "a system user (uid < 1000)" test "$(id -u tlsrpt-milter 2>/dev/null || echo 99999)" -lt 1000
t_eq "its primary group" "$(id -gn tlsrpt-milter 2>/dev/null)" tlsrpt-milter
t_eq "no login shell" "$(getent passwd tlsrpt-milter | cut -d: -f7)" /usr/sbin/nologin
HAVE_POSTFIX=
getent passwd postfix >/dev/null && HAVE_POSTFIX=1
if [ -n "$HAVE_POSTFIX" ]; then
    t_check "postfix is in the group tlsrpt-milter" sh -c "id -nG postfix | tr ' ' '\n' | grep -qx tlsrpt-milter"
fi
for d in "$SPOOL" "$STATE" "$STATE/archive"; do
    t_eq "$d: 0750 tlsrpt-milter:tlsrpt-milter" "$(stat -c '%a %U:%G' "$d" 2>&1)" "750 tlsrpt-milter:tlsrpt-milter"
done
dpkg-query -W -f='${Conffiles}\n' "$PKG" >"$W/conffiles"
for f in /etc/tlsrpt-milter.conf /etc/default/tlsrpt-milter /etc/init.d/tlsrpt-milter; do
    t_grep "conffile $f" "$W/conffiles" "^ $f "
done
t_grep "postinst: not started while ReportAddress is unset" "$W/install1.out" 'not started: /etc/tlsrpt-milter.conf is not ready'
t_grep "postinst: says what -n says" "$W/install1.out" 'no ReportAddress configured'
t_check "postinst: no milter running" test ! -e "$PIDF"
t_grep "shipped config: the socket in Postfix's chroot" /etc/tlsrpt-milter.conf "^Socket unix:$SPOOL/tlsrpt-milter.sock\$"
t_nogrep "shipped config: ReportAddress unset" /etc/tlsrpt-milter.conf '^ReportAddress'
t_grep "unit: StateDirectory for the archive" "$UNIT" '^StateDirectory=tlsrpt-milter tlsrpt-milter/archive$'
t_grep "unit: runs /usr/sbin/tlsrpt-milter -f" "$UNIT" '^ExecStart=/usr/sbin/tlsrpt-milter -f -c /etc/tlsrpt-milter.conf$'
for h in 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'ProtectSystem=strict' 'User=tlsrpt-milter'; do
    t_grep "unit: $h" "$UNIT" "^$h\$"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    t_check "systemd-analyze verify: the three units" systemd-analyze verify "$UNIT" \
        /lib/systemd/system/tlsrpt-stats.service /lib/systemd/system/tlsrpt-stats.timer
fi
t_check "unit enabled" test -L /etc/systemd/system/multi-user.target.wants/tlsrpt-milter.service
t_check "stats timer shipped disabled" test ! -e /etc/systemd/system/timers.target.wants/tlsrpt-stats.timer
t_check "SysV rc links" sh -c 'ls /etc/rc2.d/S*tlsrpt-milter'
t_grep "tmpfiles.d: the socket directory" /usr/lib/tmpfiles.d/tlsrpt-milter.conf "^d $SPOOL 0750 tlsrpt-milter tlsrpt-milter -\$"

# ---- A. as the unit runs it: the user, the spool socket, postfix through the group ----
MC=$(svc_memcached_start mc) || { t_fail memcached-start "see $SVC_TMP/mc.log"; exit 1; }
# (the test reports are unsigned: Authentication none, as tests/lib/services.sh writes it)
sed -i -e 's|^#ReportAddress .*|ReportAddress rua@rua.test|' \
       -e 's|^Authentication .*|Authentication none|' \
       -e "s|^MemcachedServers .*|MemcachedServers 127.0.0.1:$MC|" /etc/tlsrpt-milter.conf
uuser=$(sed -n 's/^User=//p' "$UNIT") ugroup=$(sed -n 's/^Group=//p' "$UNIT") umsk=$(sed -n 's/^UMask=//p' "$UNIT")
# Run a command as the unit would: its User=, Group= (with the user's groups) and UMask=.
as_unit() { (umask "$umsk" && exec setpriv --reuid="$uuser" --regid="$ugroup" --init-groups "$@"); }
# shellcheck disable=SC2046
t_check "the unit's ExecStartPre (-n) passes as $uuser" as_unit $(sed -n 's/^ExecStartPre=//p' "$UNIT")
# shellcheck disable=SC2046
(umask "$umsk" && exec setpriv --reuid="$uuser" --regid="$ugroup" --init-groups \
    $(sed -n 's/^ExecStart=//p' "$UNIT")) >>"$SVC_TMP/unit.log" 2>&1 &
echo $! >"$SVC_TMP/unit.pid"                # the milter itself (exec), stopped by the cleanup
SOCK=unix:$SPOOL/tlsrpt-milter.sock
mk_gzip "$FIX/report1.json" "$W/r1.json.gz"
mk_report_mail "$W/r1.json.gz" "$W/r1.eml" fixture.example
mk_report_mail "$FIX/report2.json" "$W/r2.eml" fixture.example
mk_tsv_line "$FIX/expected.tsv" report1.json >"$W/sent.tsv"
if [ -n "$HAVE_POSTFIX" ]; then
    # Run a command as Postfix's processes run: user postfix with its groups (initgroups).
    as_postfix() { setpriv --reuid=postfix --regid=postfix --init-groups "$@"; }
    n=0
    until as_postfix "$W/drv" -P -t 2 -s "$SOCK" >/dev/null 2>&1 || [ $n -ge 50 ]; do sleep 0.2; n=$((n + 1)); done
    t_check "unit-style milter: postfix connects to $SOCK" as_postfix "$W/drv" -P -t 2 -s "$SOCK"
    t_eq "the socket: srwxrwx--- tlsrpt-milter:tlsrpt-milter" "$(stat -c '%A %U:%G' "${SOCK#unix:}" 2>&1)" \
        "srwxrwx--- tlsrpt-milter:tlsrpt-milter"
    t_check "nobody (not in the group) cannot connect" \
        sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups '$W/drv' -P -t 2 -s '$SOCK'"
    as_postfix "$W/drv" -t 20 -s "$SOCK" -r rua@rua.test "$W/r1.eml" >"$W/a.out" 2>&1
    t_grep "unit-style milter: report discarded" "$W/a.out" '^DISCARD$'
    t_counters "unit-style milter: counted" "$MC" tlsrpt: "$W/sent.tsv"
else
    t_skip "socket access by postfix" "no postfix user on this machine"
fi
upid=$(cat "$SVC_TMP/unit.pid")
t_eq "unit-style milter runs as $uuser" "$(ps -o user= -p "$upid" | tr -d ' ')" "$uuser"
svc_stop unit
t_check "unit-style milter: stopped, socket removed" test ! -e "${SOCK#unix:}"

# ---- B. the installed init script, the installed config on a loopback inet socket ----
PM=$(svc_free_port)
sed -i "s|^Socket .*|Socket inet:$PM@127.0.0.1|" /etc/tlsrpt-milter.conf
ns invoke-rc.d tlsrpt-milter start
t_eq "invoke-rc.d tlsrpt-milter start" "$?" 0
pid=$(cat "$PIDF" 2>/dev/null)
echo "$pid" >"$SVC_TMP/initd.pid"           # stopped by the cleanup if the test fails
t_check "init script: the pid file names a live milter" kill -0 "${pid:-0}"
t_eq "init script: the milter runs as tlsrpt-milter" "$(ps -o user= -p "${pid:-0}" | tr -d ' ')" tlsrpt-milter
"$W/drv" -t 20 -s "inet:$PM@127.0.0.1" -r rua@rua.test "$W/r2.eml" >"$W/b.out" 2>&1
t_grep "installed milter on loopback: report discarded" "$W/b.out" '^DISCARD$'
mk_tsv_line "$FIX/expected.tsv" report2.json >>"$W/sent.tsv"
t_counters "installed milter on loopback: counted" "$MC" tlsrpt: "$W/sent.tsv"
if [ ! -S /dev/log ]; then
    t_grep "installed milter logged the report (no /dev/log: its stderr file)" \
        /run/tlsrpt-milter/tlsrpt-milter.stderr 'info: .*counted org="Other Reporter" report-id="fixture-2"'
fi
DPKG_LOG=install2.out dpkg_ns -i "$deb"
t_eq "reinstall (configure with the old version)" "$?" 0
pid2=$(cat "$PIDF" 2>/dev/null)
echo "$pid2" >"$SVC_TMP/initd.pid"
t_check "reinstall restarted the milter (new pid, running)" sh -c "[ '${pid2:-0}' != '$pid' ] && kill -0 '${pid2:-0}'"
t_check "reinstall: the restarted milter answers" "$W/drv" -P -t 5 -s "inet:$PM@127.0.0.1"
t_grep "reinstall kept the edited conffile" /etc/tlsrpt-milter.conf "^Socket inet:$PM@127.0.0.1\$"

# ---- purge: a non-empty archive is kept, everything else goes ----
echo "an archived report" >"$STATE/archive/kept.eml"
DPKG_LOG=purge1.out dpkg_ns --purge "$PKG"
t_eq "dpkg --purge" "$?" 0
t_check "purge stopped the milter" wait_gone "${pid2:-0}"
rm -f "$SVC_TMP/initd.pid"
t_check "dpkg: not installed" sh -c "case \$(dpkg-query -W -f='\${db:Status-Status}' $PKG 2>/dev/null) in ''|not-installed) ;; *) exit 1 ;; esac"
for f in /etc/tlsrpt-milter.conf /etc/default/tlsrpt-milter /etc/init.d/tlsrpt-milter "$UNIT" \
         /usr/sbin/tlsrpt-milter /usr/lib/tmpfiles.d/tlsrpt-milter.conf "$SPOOL" /run/tlsrpt-milter \
         /etc/systemd/system/multi-user.target.wants/tlsrpt-milter.service; do
    t_check "purge removed $f" test ! -e "$f" -a ! -L "$f"
done
t_eq "purge removed the rc links" "$(ls /etc/rc?.d/ | grep -c 'tlsrpt-milter')" 0
t_check "purge kept the archived report" test -f "$STATE/archive/kept.eml"
t_eq "purge kept only the archive in $STATE" "$(ls -A "$STATE" 2>&1 | tr '\n' ' ')" "archive "
t_grep "purge says where the archive is" "$W/purge1.out" "purge keeps $STATE/archive"
if [ -n "$HAVE_POSTFIX" ]; then
    t_check "purge took postfix out of the group" sh -c "! id -nG postfix | tr ' ' '\n' | grep -qx tlsrpt-milter"
fi
t_check "purge kept the user (Debian practice, README.Debian)" id -u tlsrpt-milter
rm -rf "$STATE"

# ---- a second install (the shipped config again) and purge: nothing of the state left ----
DPKG_LOG=install3.out dpkg_ns -i "$deb"
t_eq "install after a purge" "$?" 0
t_grep "install after a purge: the shipped config, not started" "$W/install3.out" 'no ReportAddress configured'
DPKG_LOG=purge2.out dpkg_ns --purge "$PKG"
t_eq "second purge" "$?" 0
DEB_INSTALLED=
t_check "purge with an empty archive removed $STATE" test ! -e "$STATE"
t_check "purge removed $SPOOL" test ! -e "$SPOOL"
exit 0
