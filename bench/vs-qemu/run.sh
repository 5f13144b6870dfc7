#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# QEMU 7.2 and toyvmm side by side (issue 3): migrates the same amount of
# incompressible guest memory (1 GiB) with each over loopback TCP, in one
# run, and prints one JSON document (stdout, and --out FILE) plus a table
# (stderr). See bench/qemu/README.md.
#
#   bench/qemu/run.sh [--quick] [--repeat N] [--only qemu|toyvmm]
#                     [--build DIR] [--out FILE] [--size-mib N]
#
# --quick: 1 repeat instead of 3. Installs qemu-system-x86 if it is missing
# (apt-get; needs root) and builds toyvmm in DIR (default build-qemu,
# release) if needed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-qemu"
shm=/dev/shm
args=()
size_mib=1024
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) args+=(--repeat 1) ;;
	--repeat|--only|--out) args+=("$1" "$2"); shift ;;
	--extras-everywhere) args+=("$1") ;;
	--size-mib) size_mib="$2"; shift ;;
	--build) build="$2"; shift ;;
	-h|--help) sed -n '3,14p' "$0"; exit 0 ;;
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

if [ ! -d "$build" ]; then
	meson setup "$build" "$root" --buildtype=release -Dtests=false >&2
fi
ninja -j2 -C "$build" examples/toyvmm/toyvmm >&2
toyvmm="$build/examples/toyvmm/toyvmm"

# Source and destination RAM files plus toyvmm's two guests, one at a time.
need_kib=$(( size_mib * 1024 * 3 ))
avail_kib=$(df -k --output=avail "$shm" | tail -1)
if [ "$avail_kib" -lt "$need_kib" ]; then
	echo "$shm: need $((need_kib / 1024)) MiB free, have $((avail_kib / 1024))" >&2
	exit 1
fi

src_file=$(mktemp "$shm/vmmig-bench-src-XXXXXX.ram")
trap 'rm -f "$src_file"' EXIT
echo "filling ${size_mib} MiB of QEMU source RAM from /dev/urandom..." >&2
head -c "$((size_mib << 20))" /dev/urandom >"$src_file"

python3 "$here/compare.py" --toyvmm "$toyvmm" --src-file "$src_file" \
	--size-mib "$size_mib" --shm "$shm" "${args[@]}"
