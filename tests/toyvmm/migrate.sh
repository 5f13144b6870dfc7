#!/bin/sh
# SPDX-License-Identifier: MIT
# Pre-copy between two toyvmm processes over TCP loopback:
#   migrate.sh TOYVMM BACKEND WORKLOAD CHANNELS [VCPUS [SOURCE_OPTION...]]
# asserts: both sides complete, memory verified on both sides (the
# library's VMMIG_OPT_VERIFY hash), the destination's guest starts from the
# heartbeat the source paused at, and keeps counting after.
toyvmm=$1 backend=$2 workload=$3 channels=$4 vcpus=${5:-1}
shift 4
[ $# -gt 0 ] && shift
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

start_dest "$backend" 64M 300
timeout 60 "$toyvmm" source --connect "$uri" --mode precopy \
	--workload "$workload" --mem 64M --fill random --channels "$channels" \
	--backend "$backend" --warmup 100 --json "$dir/src.json" \
	--no-progress --vcpus "$vcpus" "$@" >"$dir/src.out" 2>&1
rc=$?
wait_dest
check_exits
check_completed
grep -q "\"channels\":$channels," "$dir/src.json" ||
	fail "source: not $channels channel(s)"
paused=$(json_num "$dir/src.json" heartbeat_at_pause)
started=$(json_num "$dir/dest.json" heartbeat_at_start)
ended=$(json_num "$dir/dest.json" heartbeat_at_exit)
[ -n "$paused" ] && [ "$paused" -gt 0 ] || fail "no heartbeat at pause"
[ "$started" = "$paused" ] ||
	fail "destination resumed at heartbeat $started, source paused at $paused"
[ "$ended" -gt "$started" ] ||
	fail "heartbeat did not advance on the destination ($started -> $ended)"
check_vcpus "$vcpus"
# --tracker T: the source used that dirty tracker.
prev=
for a in "$@"; do
	if [ "$prev" = --tracker ]; then
		[ "$(json_str "$dir/src.json" tracker)" = "$a" ] ||
			fail "source tracker is not $a"
	fi
	prev=$a
done
echo "ok: $workload x$channels, $vcpus vCPU(s) $*: heartbeat $paused ->" \
	"$started -> $ended"
cat "$dir/src.out" "$dir/dest.out"
exit 0
