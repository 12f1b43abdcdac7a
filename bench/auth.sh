#!/bin/sh
# auth.sh [N] - build and run bench/auth.c: CPU cost of the DKIM verdict per
# report mail (auth/), N mails per figure (default 3000). Needs the `make`
# build (build/libtlsrpt-auth.a and the unit-test helpers), /usr/bin/python3
# with python3-dkim and openssl (mails and keys are made at start, in a temp
# directory removed at exit). Not part of `make check` or `make bench`.
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
TLSRPT_SRCDIR=$SRC
export TLSRPT_SRCDIR
mkdir -p "$BUILD/bench" || exit 1
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$SRC/auth" -I"$SRC/tests/unit" \
    $(pkg-config --cflags opendkim libpsl libcrypto) -o "$BUILD/bench/auth" "$SRC/bench/auth.c" \
    "$BUILD/obj/tests/unit/tlib_dkim.o" "$BUILD/obj/tests/unit/tlib_util.o" \
    "$BUILD/libtlsrpt-auth.a" $(pkg-config --libs opendkim libpsl libcrypto) -pthread || exit 1
exec "$BUILD/bench/auth" "$@"
