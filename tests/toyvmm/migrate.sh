#!/bin/sh
# SPDX-License-Identifier: MIT
# Pre-copy between two toyvmm processes over TCP loopback:
#   migrate.sh TOYVMM BACKEND WORKLOAD CHANNELS
# asserts: both sides complete, memory verified on both sides (the
# library's VMMIG_OPT_VERIFY hash), the destination's guest starts from the
# heartbeat the source paused at, and keeps counting after.
toyvmm=$1 backend=$2 workload=$3 channels=$4
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

start_dest "$backend" 64M 300
timeout 60 "$toyvmm" source --connect "$uri" --mode precopy \
	--workload "$workload" --mem 64M --fill random --channels "$channels" \
	--backend "$backend" --warmup 100 --json "$dir/src.json" \
	--no-progress >"$dir/src.out" 2>&1
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
echo "ok: $workload x$channels: heartbeat $paused -> $started -> $ended"
cat "$dir/src.out" "$dir/dest.out"
exit 0
