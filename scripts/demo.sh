#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Quick-start demo: install what is missing, build libvmmig, install it into
# a staging root inside the build dir, and build and run examples/minimal
# against it with pkg-config: a live migration of 64 MiB (or $1 MiB) of
# constantly dirtied memory between two local processes, printing the stats
# of both sides. Exit status is the example's (0: memory identical).
#
# Environment: BUILD_DIR (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
build=${BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null
fi
echo "demo: building in $build"
ninja -C "$build" -j2 >"$build/demo-build.log" 2>&1 ||
	{ tail -n 50 "$build/demo-build.log"; exit 1; }

eval "$(./scripts/stage-install.sh "$build" "$PWD/$build/demo-root")"
mkdir -p "$build/demo"
make -s -C examples/minimal O="$PWD/$build/demo"
echo "demo: running examples/minimal"
exec "$build/demo/minimal" "${1:-64}"
