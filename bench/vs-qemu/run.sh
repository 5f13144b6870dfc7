#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# QEMU 7.2 and toyvmm side by side (issue 10): incompressible 1 GiB on
# loopback at 1/2/4 channels, a compressible mix over 1 and 10 Gbit/s tbf
# links between two network namespaces (plain and zstd), each against the
# same path's iperf3 rate, plus toyvmm's sparse 64 GiB guest. Prints one
# JSON document (stdout, and --out FILE) and tables (stderr). See
# bench/vs-qemu/README.md. Needs root (apt-get, ip netns, tc).
#
#   bench/vs-qemu/run.sh [--quick] [--repeat N] [--out FILE] [--build DIR]
#       [--size-mib N] [--mix-mib N] [--sparse-gib N (0: skip)] [--sparse-timeout-s S]
#       [--only incompressible|mix|sparse ...] [--links 1g 10g]
#       [--channels 1 2 4] (incompressible: the channel counts)
#       [--no-zstd-too] (incompressible: toyvmm --compression none too)
#
# --quick: 1 repeat instead of 3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-qemu"
shm=/dev/shm
args=()
size_mib=1024
mix_mib=1024
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) args+=(--repeat 1) ;;
	--no-zstd-too) args+=("$1") ;;
	--repeat|--out|--sparse-gib|--sparse-timeout-s) args+=("$1" "$2"); shift ;;
	--only|--links|--channels)
		args+=("$1"); shift
		while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do
			args+=("$1"); shift
		done
		continue ;;
	--size-mib) size_mib="$2"; shift ;;
	--mix-mib) mix_mib="$2"; shift ;;
	--build) build="$2"; shift ;;
	-h|--help) sed -n '3,15p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

# QEMU is this benchmark's own dependency, not the test suite's.
if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "installing qemu-system-x86..." >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends qemu-system-x86 >&2
fi
qemu-system-x86_64 --version | head -1 >&2
command -v iperf3 >/dev/null || { echo "iperf3 missing: run scripts/install-deps.sh" >&2; exit 1; }

if [ ! -d "$build" ]; then
	meson setup "$build" "$root" --buildtype=release -Dtests=false >&2
fi
ninja -j2 -C "$build" examples/toyvmm/toyvmm >&2
toyvmm="$build/examples/toyvmm/toyvmm"

# Two QEMU source RAM files, one destination file and a toyvmm guest pair
# at a time.
need_kib=$(( (size_mib * 2 + mix_mib * 3) * 1024 ))
avail_kib=$(df -k --output=avail "$shm" | tail -1)
if [ "$avail_kib" -lt "$need_kib" ]; then
	echo "$shm: need $((need_kib / 1024)) MiB free, have $((avail_kib / 1024))" >&2
	exit 1
fi

# The shaped links: a veth pair between two namespaces of our own, with
# addresses that exist only inside them. Removed on any exit.
tag=$$
ns_src="vsq-src-$tag" ns_dst="vsq-dst-$tag"
dev_src="vsqs$tag" dev_dst="vsqd$tag"
random_file="" mix_file=""
cleanup() {
	ip netns del "$ns_src" 2>/dev/null || true
	ip netns del "$ns_dst" 2>/dev/null || true
	rm -f "$random_file" "$mix_file"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns_src"
ip netns add "$ns_dst"
ip link add "$dev_src" netns "$ns_src" type veth peer name "$dev_dst" netns "$ns_dst"
ip -n "$ns_src" addr add 10.77.0.1/24 dev "$dev_src"
ip -n "$ns_dst" addr add 10.77.0.2/24 dev "$dev_dst"
for ns in "$ns_src" "$ns_dst"; do ip -n "$ns" link set lo up; done
ip -n "$ns_src" link set "$dev_src" up
ip -n "$ns_dst" link set "$dev_dst" up

random_file=$(mktemp "$shm/vmmig-bench-random-XXXXXX.ram")
echo "filling ${size_mib} MiB of QEMU source RAM from /dev/urandom..." >&2
head -c "$((size_mib << 20))" /dev/urandom >"$random_file"
mix_file=$(mktemp "$shm/vmmig-bench-mix-XXXXXX.ram")
echo "writing ${mix_mib} MiB of toyvmm's --fill mix for QEMU..." >&2
"$toyvmm" memfile --mem "${mix_mib}M" --fill mix --out "$mix_file"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$here/compare.py" --toyvmm "$toyvmm" --random-file "$random_file" \
	--mix-file "$mix_file" --size-mib "$size_mib" --mix-mib "$mix_mib" \
	--shm "$shm" --ns-src "$ns_src" --ns-dst "$ns_dst" \
	--src-dev "$dev_src" --dst-dev "$dev_dst" --dst-addr 10.77.0.2 \
	"${args[@]}"
