#!/bin/sh
# SPDX-License-Identifier: MIT
# Killing the destination mid-migration leaves the source guest running:
#   kill_dest.sh TOYVMM BACKEND
# The link is capped (--bandwidth) so that the first pass takes seconds;
# the destination is SIGKILLed during it. The source must report the
# failure and its guest's heartbeat must keep advancing afterwards.
toyvmm=$1 backend=$2
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

start_dest "$backend" 64M 0
timeout 60 "$toyvmm" source --connect "$uri" --workload memwrite:16 \
	--mem 64M --fill random --bandwidth 16M --run-after 400 \
	--backend "$backend" --warmup 0 --json "$dir/src.json" \
	--no-progress >"$dir/src.out" 2>&1 &
spid=$!
sleep 1
kill -9 $dpid
wait $dpid 2>/dev/null
dpid=
wait $spid
rc=$?
[ $rc -eq 1 ] || fail "source exited $rc, expected 1 (migration failed)"
grep -q '"result":"failed"' "$dir/src.json" || fail "source: not failed"
done_hb=$(json_num "$dir/src.json" heartbeat_at_end_of_migration)
exit_hb=$(json_num "$dir/src.json" heartbeat_at_exit)
[ -n "$done_hb" ] && [ "$exit_hb" -gt "$done_hb" ] ||
	fail "source guest stopped: heartbeat $done_hb -> $exit_hb"
echo "ok: source guest still running after the destination died:" \
	"heartbeat $done_hb -> $exit_hb"
cat "$dir/src.out"
exit 0
