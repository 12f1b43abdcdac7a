#!/bin/sh
# t-install.sh - `make install DESTDIR= PREFIX=` puts every file where the README says,
# with the unit and init paths rewritten for PREFIX, and the installed binaries run;
# `make uninstall` with the same DESTDIR and PREFIX then leaves nothing in DESTDIR.
. "$TLSRPT_SRCDIR/tests/lib/checks.sh"
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT INT TERM
d=$t/root
cd "$TLSRPT_SRCDIR" || exit 1
if ! make -s install BUILD="$BUILD" DESTDIR="$d" PREFIX=/usr >"$d.log" 2>&1; then
    t_fail "make install" "$(tail -3 "$d.log" | tr '\n' '|')"
    rm -f "$d.log"
    exit 1
fi
rm -f "$d.log"
for f in usr/sbin/tlsrpt-milter usr/bin/tlsrpt-parse usr/bin/tlsrpt-stats \
         etc/tlsrpt-milter.conf.sample etc/init.d/tlsrpt-milter \
         lib/systemd/system/tlsrpt-milter.service lib/systemd/system/tlsrpt-stats.service \
         lib/systemd/system/tlsrpt-stats.timer \
         usr/share/man/man8/tlsrpt-milter.8 usr/share/man/man5/tlsrpt-milter.conf.5 \
         usr/share/man/man1/tlsrpt-parse.1 usr/share/man/man1/tlsrpt-stats.1; do
    t_check "installed $f" test -s "$d/$f"
done
t_grep "unit runs the milter from PREFIX" "$d/lib/systemd/system/tlsrpt-milter.service" \
    '^ExecStart=/usr/sbin/tlsrpt-milter -f'
t_grep "stats unit runs tlsrpt-stats from PREFIX" "$d/lib/systemd/system/tlsrpt-stats.service" \
    '^ExecStart=/usr/bin/tlsrpt-stats '
t_grep "init script runs the milter from PREFIX" "$d/etc/init.d/tlsrpt-milter" '^DAEMON=/usr/sbin/tlsrpt-milter$'
t_check "init script is executable" test -x "$d/etc/init.d/tlsrpt-milter"
t_check "installed milter runs (-V)" "$d/usr/sbin/tlsrpt-milter" -V
t_check "installed tlsrpt-parse runs (-V)" "$d/usr/bin/tlsrpt-parse" -V
# -n also checks this machine: point the socket and the user at what exists here.
sed -e 's/^ReportAddress .*/ReportAddress tlsrpt@example.com/' -e "s|^Socket .*|Socket unix:$d/t.sock|" \
    -e "s/^User .*/User $(id -un)/" -e "s|^ArchiveDir .*|ArchiveDir $t/archive|" \
    "$d/etc/tlsrpt-milter.conf.sample" >"$t/t.conf"
t_check "installed sample config passes -n" "$d/usr/sbin/tlsrpt-milter" -n -c "$t/t.conf"
t_grep "installed unit reloads with SIGHUP" "$d/lib/systemd/system/tlsrpt-milter.service" \
    '^ExecReload=/bin/kill -HUP \$MAINPID$'
t_grep "installed unit checks before a reload, from PREFIX" "$d/lib/systemd/system/tlsrpt-milter.service" \
    '^ExecReload=/usr/sbin/tlsrpt-milter -n -c /etc/tlsrpt-milter.conf$'

# uninstall: every file and every directory install made under DESTDIR is gone.
n=$(find "$d" -mindepth 1 | wc -l)
if make -s uninstall DESTDIR="$d" PREFIX=/usr >"$t/un.log" 2>&1; then
    t_pass "make uninstall runs"
else
    t_fail "make uninstall runs" "$(tail -3 "$t/un.log" | tr '\n' '|')"
fi
t_eq "make uninstall: nothing left of the $n entries install made" \
    "$(find "$d" -mindepth 1 | head -5 | tr '\n' ' ')" ""
[ "$T_FAILS" -eq 0 ]
