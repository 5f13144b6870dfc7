#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Quick-start demo: install what is missing, build libvmmig and the toy VMM,
# and live-migrate a running toy guest (KVM when /dev/kvm works, otherwise
# the software guest running the same workload) between two local
# processes, printing the progress and both sides' statistics. Exit status
# is the demo's (0: memory identical at the switchover, heartbeat went on).
#
# Arguments are passed to `toyvmm demo` (default: --mem 256M). Environment:
# BUILD_DIR (default: build).
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

if [ $# -eq 0 ]; then
	set -- --mem 256M
fi
json="$build/demo-stats.json"
svg="$build/demo-timeline.svg"
"$build/examples/toyvmm/toyvmm" demo --json "$json" --timeline "$svg" "$@"
echo "demo: source statistics ($json):"
cat "$json"
echo
echo "demo: the migration's timeline (rounds, pause, post-copy faults): $svg"
