#!/bin/sh
# SPDX-License-Identifier: MIT
# Delta cache smaller than the guest (issue 12): toyvmm demo migrations of a
# 256 MiB guest with the cache off, 64 MiB, 128 MiB and 256 MiB, on the
# memwrite and refresh workloads, software and KVM backends (KVM skipped
# where /dev/kvm does not open). Prints one line per run: rounds, cache hits
# and misses, hit rate (hits / (hits + misses), i.e. over all pages sent
# with contents), the hit rate over pages sent again ("resend": the misses
# of the first pass, one per non-zero page, left out — no cache can hit
# those), DELTA pages, bytes on the wire, and those bytes as a ratio of the
# same workload's run without a cache in this invocation (the baseline: the
# machine is shared and noisy).
#
# usage: run_delta_cache.sh TOYVMM [REPEATS]   (e.g. build/examples/toyvmm/toyvmm)
set -eu
toyvmm=$1
reps=${2:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

backends=software
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then backends="software kvm"; fi

printf '%-12s %-8s %-6s %-3s %6s %8s %8s %6s %6s %7s %10s %6s\n' workload \
	backend cache rep rounds hits misses rate resend delta wire_MB ratio
for wl in memwrite:64 refresh:32; do
	for be in $backends; do
		for rep in $(seq 1 "$reps"); do
			base=
			for cache in 0 64M 128M 256M; do
				set -- --mem 256M --workload "$wl" --backend "$be" \
					--no-progress --json "$tmp/r.json"
				[ "$cache" = 0 ] || set -- "$@" --delta-cache "$cache"
				"$toyvmm" demo "$@" >"$tmp/out" 2>&1 || {
					echo "$wl $be $cache: toyvmm failed:" >&2
					tail -3 "$tmp/out" >&2
					continue
				}
				line=$(python3 - "$tmp/r.json" "$base" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))["stats"]
h, m = st["delta_cache"]["hits"], st["delta_cache"]["misses"]
rate = "%.1f%%" % (100.0 * h / (h + m)) if h + m else "-"
# First pass: every page once; the non-zero ones are unavoidable misses.
first = st["guest_bytes"] // 4096 - st["pages"]["zero"]
resent = h + m - first
resend = "%.1f%%" % (100.0 * h / resent) if h + m and resent > 0 else "-"
wire = st["transferred_bytes"]
base = float(sys.argv[2]) if sys.argv[2] else wire
print(wire, "%6d %8d %8d %6s %6s %7d %10.1f %6.3f" % (st["rounds"], h, m,
      rate, resend, st["pages"]["delta"], wire / 1048576.0, wire / base))
PY
)
				[ -n "$base" ] || base=${line%% *}
				printf '%-12s %-8s %-6s %-3s %s\n' "$wl" "$be" \
					"$cache" "$rep" "${line#* }"
			done
		done
	done
done
