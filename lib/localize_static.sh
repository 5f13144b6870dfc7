#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The installed static library: every object of IN (an archive) linked into
# one relocatable object whose hidden symbols are then made local, so that
# libvmmig.a defines only the public vmmig_* API, as libvmmig.so does (the
# library's internal names, like src_handshake() or clock_now_us(), can't clash with
# an embedder's). The cross-file calls inside are resolved by `ld -r`.
#
# usage: localize_static.sh LD OBJCOPY AR IN OUT
set -eu
ld=$1 objcopy=$2 ar=$3 in=$4 out=$5
obj=$out.tmp.o
trap 'rm -f "$obj"' EXIT
"$ld" -r -o "$obj" --whole-archive "$in"
"$objcopy" --localize-hidden "$obj"
rm -f "$out"
"$ar" rcs "$out" "$obj"
