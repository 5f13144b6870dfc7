#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and run
# each one after the other to RUNS executions (default 10^7), starting from
# its committed corpus. Not CI: see tests/fuzz/README.md for the last run.
#   tests/fuzz/run-fuzz.sh [RUNS] [TARGET...]
# New corpus entries go to build-fuzz/corpus/<target> (merge the ones worth
# keeping by hand); crashes to build-fuzz/artifacts/<target>/.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-10000000}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_decode fuzz_rp fuzz_dest}
out=$top/build-fuzz

if ! command -v clang >/dev/null; then
	apt-get install -y clang
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
if [ ! -f "$out/build.ninja" ]; then
	CC=clang meson setup "$out" "$top" -Dtests=false -Dbench=false \
		-Db_lundef=false -Dbuildtype=debugoptimized \
		-Dc_args="$san -fsanitize=fuzzer-no-link -fno-omit-frame-pointer" \
		-Dc_link_args="$san"
fi
nice -n 19 ninja -C "$out" -j2 lib/libvmmig_internal.a
libs=$(pkg-config --libs libzstd uuid liburing)
# With TLS built in (meson finds GnuTLS), the library needs it too.
if grep -q 'HAVE_GNUTLS\|gnutls' "$out/build.ninja" 2>/dev/null &&
	pkg-config --exists gnutls; then
	libs="$libs $(pkg-config --libs gnutls)"
fi
for t in $targets; do
	nice -n 19 clang -g -O1 $san -fsanitize=fuzzer \
		-I"$top/include" -I"$top/lib" -I"$top/tests" -DVMMIG_BUILDING \
		"$top/tests/fuzz/$t.c" "$top/tests/fuzz/fuzz_util.c" \
		"$out/lib/libvmmig_internal.a" $libs -lpthread -o "$out/$t"
done
for t in $targets; do
	mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
	echo "== $t: $runs runs"
	# -rss_limit_mb: the destination target's guest and buffers are
	# small; 2 GiB flags a peer that makes us reserve memory.
	nice -n 19 "$out/$t" -runs="$runs" -print_final_stats=1 \
		-rss_limit_mb=2048 -max_len=65536 -timeout=10 \
		-artifact_prefix="$out/artifacts/$t/" \
		"$out/corpus/$t" "$top/tests/fuzz/corpus/$t" 2>&1 |
		grep -v -e '^#[0-9]*	\(NEW\|REDUCE\|pulse\)' -e '^"' | tail -n 40
done
