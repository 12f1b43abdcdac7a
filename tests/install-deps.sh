#!/bin/sh
# install-deps.sh - install the Debian packages needed to build, test and run the
# demo (as root, on Debian 12). Safe to run again. Used by `make deps`, `make demo`
# and .ci/run. Set NO_APT_UPDATE=1 to skip `apt-get update`.
# libidn2-dev: store/ (U-labels to A-labels); debhelper ... git: the Debian package's build
# (tests/t-deb.sh, debian/control's Build-Depends); m4 ... libssl3: Debian's Sendmail, unpacked privately by
# tests/t-e2e-sendmail.sh (m4 builds its .cf; the libraries are sendmail-bin's).
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev python3
libmilter-dev zlib1g-dev libjson-c-dev libmemcached-dev libidn2-dev
memcached libmemcached-tools postfix miltertest swaks valgrind
prometheus chromium
libopendkim-dev libpsl-dev libssl-dev publicsuffix python3-dkim python3-nacl opendkim-tools openssl
debhelper dpkg-dev lintian git
m4 libwrap0 libnsl2 libdb5.3 libldap-2.5-0 libsasl2-2 libssl3"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || { echo "install-deps.sh: all packages present"; exit 0; }
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: missing packages:$missing; run as root (sudo make deps)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; "No configuration" leaves the system MTA alone.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
[ -n "$NO_APT_UPDATE" ] || apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
