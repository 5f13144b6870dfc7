#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the pre-copy benchmark matrix of issue 2 and prints one JSON document
# (stdout, and --out FILE) plus a short table (stderr):
#   {1024, 4096} MiB x {random, half} x {1, 2} channels x prefault {yes, no}
# with an iperf3 loopback baseline measured first and last in the same run.
#
#   bench/run_precopy.sh [--quick] [--repeat N] [--build DIR] [--out FILE]
#
# --quick: 1 GiB only. Builds DIR (default build-bench, release) if needed.
# Prefault "user" is the matrix's "yes"; 1 GiB random also runs "kernel".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="$root/build-bench"
repeat=3
quick=0
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--repeat) repeat="$2"; shift ;;
	--build) build="$2"; shift ;;
	--out) out="$2"; shift ;;
	-h|--help) sed -n '3,11p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

bin="$build/bench/precopy_loopback"
if [ ! -d "$build" ]; then
	meson setup "$build" "$root" --buildtype=release -Dtests=false >&2
fi
ninja -j2 -C "$build" bench/precopy_loopback >&2

tmp=$(mktemp -d)
iperf_pid=""
cleanup() {
	[ -n "$iperf_pid" ] && kill "$iperf_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# One iperf3 client run against a one-shot server of our own; prints the
# received rate in bytes/s, or "null" without iperf3 or on failure.
iperf_once() {
	local port=$((20000 + RANDOM % 20000)) res="$tmp/iperf-$1.json"

	if ! command -v iperf3 >/dev/null; then
		echo null
		return
	fi
	iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
	iperf_pid=$!
	for _ in $(seq 50); do
		if iperf3 -c 127.0.0.1 -p "$port" -t 3 -J >"$res" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	wait "$iperf_pid" 2>/dev/null || true
	iperf_pid=""
	python3 -c 'import json,sys
try:
    print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8)
except Exception:
    print("null")' "$res"
}

sizes="1024 4096"
[ "$quick" = 1 ] && sizes="1024"

echo "iperf3 baseline (first)..." >&2
first=$(iperf_once first)
n=0
for size in $sizes; do
	for fill in random half; do
		for ch in 1 2; do
			# "kernel" (a diagnosis, see README.md): 1 GiB
			# incompressible only, to keep the matrix short.
			pfs="user none"
			[ "$size/$fill" = 1024/random ] && pfs="user none kernel"
			for pf in $pfs; do
				n=$((n + 1))
				args=(--size "$size" --fill "$fill" --channels "$ch"
				      --repeat "$repeat" --json "$tmp/r$n.json")
				[ "$pf" != none ] && args+=(--prefault="$pf")
				echo "== ${size} MiB $fill ch=$ch prefault=$pf" >&2
				"$bin" "${args[@]}" || echo "(exit $?)" >&2
			done
		done
	done
done
echo "iperf3 baseline (last)..." >&2
last=$(iperf_once last)

python3 "$here/precopy_summary.py" "$first" "$last" "$tmp"/r*.json \
	>"$tmp/all.json"
cat "$tmp/all.json"
[ -n "$out" ] && cp "$tmp/all.json" "$out"
exit 0
