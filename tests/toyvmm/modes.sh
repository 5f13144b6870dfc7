#!/bin/sh
# SPDX-License-Identifier: MIT
# Post-copy, hybrid and adaptive between two toyvmm processes over TCP
# loopback (the destination runs unchanged: the stream tells it the mode):
#   modes.sh TOYVMM BACKEND MODE WORKLOAD MEM EXPECT_MODE EXPECT_PATH
#            [SOURCE_OPTION...]
# asserts: both sides complete with memory verified (the library's hash of
# the memory at the pause, checked after the last page), the destination's
# guest starts from the heartbeat the source paused at and keeps counting
# (its thread ran across the switch, blocking on pages not there yet); the
# source reports EXPECT_MODE; with post-copy, bytes went after the switch
# and the guest faulted; EXPECT_PATH ("-": any) is the adaptive policy's
# path. The workloads and sizes behind each path are in meson.build.
toyvmm=$1 backend=$2 mode=$3 workload=$4 mem=$5 emode=$6 epath=$7
shift 7
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

start_dest "$backend" "$mem" 300
timeout 60 "$toyvmm" source --connect "$uri" --mode "$mode" \
	--workload "$workload" --mem "$mem" --fill random \
	--backend "$backend" --warmup 300 --json "$dir/src.json" \
	--no-progress "$@" >"$dir/src.out" 2>&1
rc=$?
wait_dest
check_exits
check_handover
got=$(sed -n 's/.*"stats":{"status":"[a-z-]*","mode":"\([a-z]*\)".*/\1/p' \
	"$dir/src.json")
[ "$got" = "$emode" ] || fail "source mode $got, expected $emode"
path=$(json_num "$dir/src.json" path)
reason=$(json_str "$dir/src.json" path_reason)
post=$(json_num "$dir/src.json" postcopy_bytes)
faults=$(json_num "$dir/src.json" postcopy_faults)
[ "$epath" = - ] || [ "$path" = "$epath" ] ||
	fail "adaptive took path $path ($reason), expected $epath"
# Did the switch to post-copy happen? The destination says so.
dmode=$(sed -n 's/.*"stats":{"status":"[a-z-]*","mode":"\([a-z]*\)".*/\1/p' \
	"$dir/dest.json")
if [ "$emode" = postcopy ] || [ "$emode" = hybrid ] || [ "$path" = 3 ]; then
	# It says hybrid when two pre-copy rounds or more came first.
	[ "$dmode" = postcopy ] || [ "$dmode" = hybrid ] ||
		fail "the destination never went post-copy"
	[ "$emode" != hybrid ] || [ "$dmode" = hybrid ] ||
		fail "destination mode $dmode for a hybrid"
	[ "$post" -gt 0 ] || fail "no bytes sent after the switch"
	[ "$faults" -gt 0 ] || fail "the guest never faulted on a missing page"
fi
echo "ok: $mode $workload: path $path ($reason), post-copy $post bytes," \
	"$faults faults, heartbeat $paused -> $started -> $ended"
cat "$dir/src.out" "$dir/dest.out"
exit 0
