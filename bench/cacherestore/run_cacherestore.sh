#!/bin/sh
# SPDX-License-Identifier: MIT
# Cache-restore benchmark (issue 5): toyvmm's dbcache guest migrated over a
# 1 Gbit/s link between two network namespaces, plain pre-copy (the guest's
# hints kept from the library, --no-hints) against cache-restore (hints
# given; the destination reads the clean pool pages from the shared storage
# directory), same run, same guest, same load.
#
#   run_cacherestore.sh [--sizes "4096 6144"] [--loads "idle ro rw"]
#                       [--storage DIR] [--out FILE] [--toyvmm PATH]
#                       [--repeat N] [--quick]
#
# The link: a veth pair between namespaces vmmig-crA (source, 10.213.0.1)
# and vmmig-crB (destination, 10.213.0.2), each end shaped by `tc tbf` to
# 1 Gbit/s, plus the library's own cap (--bandwidth 125000000). The
# storage reads do not cross it: the data file is local to both namespaces
# (one file system), like the text's separate storage network.
# The destination prefaults its memory and receives through a buffer
# (--recv-direct 0) in both variants. Memory hash verification is off (it
# adds the same hashing time to both downtimes); the tests prove contents.
# Needs root, ip, tc, python3; about 2 x guest + 0.8 x guest of free memory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sizes="4096 6144" loads="idle ro rw" storage=/var/tmp/vmmig-cacherestore
out= toyvmm= repeat=1
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) sizes=$2; shift ;;
	--loads) loads=$2; shift ;;
	--storage) storage=$2; shift ;;
	--out) out=$2; shift ;;
	--toyvmm) toyvmm=$2; shift ;;
	--repeat) repeat=$2; shift ;;
	--quick) sizes=1024 ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "needs root (namespaces, tc)" >&2; exit 2; }
if [ -z "$toyvmm" ]; then
	b=$top/build-cacherestore
	[ -d "$b" ] || meson setup "$b" "$top" --buildtype=release >/dev/null ||
		exit 2
	ninja -C "$b" -j2 examples/toyvmm/toyvmm >/dev/null || exit 2
	toyvmm=$b/examples/toyvmm/toyvmm
fi
nsA=vmmig-crA nsB=vmmig-crB
work=$(mktemp -d /tmp/vmmig-cacherestore-XXXXXX)
results=$work/results.jsonl
dpid=
cleanup() {
	[ -n "$dpid" ] && kill $dpid 2>/dev/null
	ip netns del $nsA 2>/dev/null
	ip netns del $nsB 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns del $nsA 2>/dev/null; ip netns del $nsB 2>/dev/null
ip netns add $nsA && ip netns add $nsB &&
ip link add vmcrA netns $nsA type veth peer name vmcrB netns $nsB &&
ip -n $nsA addr add 10.213.0.1/30 dev vmcrA &&
ip -n $nsB addr add 10.213.0.2/30 dev vmcrB &&
ip -n $nsA link set lo up && ip -n $nsB link set lo up &&
ip -n $nsA link set vmcrA up && ip -n $nsB link set vmcrB up || exit 2
for e in "$nsA vmcrA" "$nsB vmcrB"; do
	set -- $e
	# burst >= rate / HZ; latency bounds the queue (~12 MB at 1 Gbit/s)
	ip netns exec $1 tc qdisc add dev $2 root tbf rate 1gbit \
		burst 512kb latency 100ms || exit 2
done

# The data file, once, as large as the largest pool (a smaller guest's
# pool uses its first blocks): a source that cannot connect only sets up.
mkdir -p "$storage"
max=0
for s in $sizes; do [ "$s" -gt $max ] && max=$s; done
echo "data file for ${max} MiB guests in $storage ..." >&2
"$toyvmm" source --connect tcp:127.0.0.1:1 --mem ${max}M --backend software \
	--workload dbcache:idle --storage "$storage" --warmup 0 \
	--io-timeout 500 --no-progress >"$work/prep.out" 2>&1
want=$(( (max << 20) / 100 * 80 ))
have=$(stat -c %s "$storage/ibdata.vmmig" 2>/dev/null || echo 0)
[ "$have" -ge $((want / 262144 * 262144)) ] || {
	cat "$work/prep.out"; echo "data file too short" >&2; exit 2; }

free_mib() { awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }

# run_one SIZE LOAD VARIANT REP: one migration; appends a JSON line.
run_one() {
	size=$1 load=$2 variant=$3 rep=$4
	tag=$size-$load-$variant-$rep
	dopt= sopt=--no-hints
	[ $variant = restore ] && dopt="--storage $storage" sopt=
	rm -f "$work/uri"
	ip netns exec $nsB "$toyvmm" dest --listen tcp:10.213.0.2:0 \
		--mem ${size}M --backend software --prefault --recv-direct 0 \
		$dopt --uri-file "$work/uri" --json "$work/$tag-dest.json" \
		--io-timeout 60000 --no-progress >"$work/$tag-dest.out" 2>&1 &
	dpid=$!
	i=0
	while [ ! -s "$work/uri" ]; do
		i=$((i + 1))
		# prefaulting 6 GiB takes a while here
		[ $i -gt 1200 ] || ! kill -0 $dpid 2>/dev/null && {
			echo "$tag: destination did not listen" >&2
			cat "$work/$tag-dest.out" >&2; return 1; }
		sleep 0.1
	done
	ip netns exec $nsA timeout 600 "$toyvmm" source \
		--connect "$(cat "$work/uri")" --mem ${size}M \
		--backend software --workload dbcache:$load --storage "$storage" \
		--bandwidth 125000000 --no-verify --warmup 1000 $sopt \
		--json "$work/$tag-src.json" --no-progress \
		>"$work/$tag-src.out" 2>&1
	rc=$?
	# A source that failed before connecting leaves the destination
	# listening for good.
	[ $rc -eq 0 ] || kill $dpid 2>/dev/null
	wait $dpid
	drc=$?
	dpid=
	python3 "$here/summary.py" --one "$work/$tag-src.json" \
		"$work/$tag-dest.json" "$size" "$load" "$variant" "$rc" "$drc" \
		>>"$results" || { cat "$work/$tag-src.out" "$work/$tag-dest.out" >&2; return 1; }
	tail -n 1 "$results" >&2
}

for size in $sizes; do
	need=$((size * 2 + size * 8 / 10 + 1024))
	if [ "$(free_mib)" -lt $need ]; then
		echo "skip ${size} MiB: $(free_mib) MiB available, need $need" >&2
		continue
	fi
	for load in $loads; do
		r=1
		while [ $r -le "$repeat" ]; do
			# Alternate the order so that neither variant always
			# runs on a warmer page cache.
			if [ $((r % 2)) -eq 1 ]; then v1=plain v2=restore
			else v1=restore v2=plain; fi
			run_one $size $load $v1 $r
			run_one $size $load $v2 $r
			r=$((r + 1))
		done
	done
done
if [ -n "$out" ]; then
	python3 "$here/summary.py" --table "$results" >"$out"
	cat "$out"
else
	python3 "$here/summary.py" --table "$results"
fi
