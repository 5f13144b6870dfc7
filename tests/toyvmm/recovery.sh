#!/bin/sh
# SPDX-License-Identifier: MIT
# A link cut by a proxy (cutproxy) between the two toyvmm processes:
#   recovery.sh TOYVMM CUTPROXY BACKEND MODE CUT_MIB
# MODE postcopy:now, hybrid:N: the cut comes after the switch (CUT_MIB into
# the post-copy stream); both sides pause, the source reconnects through
# the proxy with the same session, and the migration completes with memory
# verified, at least one recovery counted, and the guest's heartbeat going
# on at the destination from where it paused.
# MODE precopy: the cut comes during the first pass; the migration fails,
# the destination never starts the guest and the source guest keeps running.
toyvmm=$1 proxy=$2 backend=$3 mode=$4 cut_mib=$5
. "$(dirname "$0")/lib.sh"
need_backend "$backend"
ppid_=
stop_proxy() { [ -n "$ppid_" ] && kill $ppid_ 2>/dev/null; ppid_=; }
trap 'stop_proxy; cleanup' EXIT

# A 64 MiB guest whose memory is random: about 64 MiB cross after a
# post-copy:now switch, at the capped 32 MiB/s: two seconds to cut into.
start_dest "$backend" 64M 300 --recovery-timeout 15000 --io-timeout 3000
"$proxy" "${uri##*:}" $((cut_mib << 20)) "$dir/pport" 2>"$dir/proxy.out" &
ppid_=$!
i=0
while [ ! -s "$dir/pport" ]; do
	i=$((i + 1))
	[ $i -gt 250 ] && fail "proxy did not listen in 5 s"
	sleep 0.02
done
run_after=0
[ "$mode" = precopy ] && run_after=400
timeout 60 "$toyvmm" source --connect "tcp:127.0.0.1:$(cat "$dir/pport")" \
	--mode "$mode" --workload memwrite:32 --mem 64M --fill random \
	--bandwidth 32M --backend "$backend" --warmup 200 \
	--recovery-timeout 15000 --io-timeout 3000 --run-after $run_after \
	--json "$dir/src.json" --no-progress >"$dir/src.out" 2>&1
rc=$?
wait_dest
stop_proxy
grep -q cutting "$dir/proxy.out" || fail "the proxy never cut the link"

if [ "$mode" = precopy ]; then
	[ $rc -eq 1 ] || fail "source exited $rc, expected 1 (failed)"
	grep -q '"result":"failed"' "$dir/src.json" || fail "source: not failed"
	[ $drc -ne 0 ] || fail "destination reported success"
	[ "$(json_num "$dir/dest.json" heartbeat_at_start)" = 0 ] ||
		fail "the destination started the guest"
	done_hb=$(json_num "$dir/src.json" heartbeat_at_end_of_migration)
	exit_hb=$(json_num "$dir/src.json" heartbeat_at_exit)
	[ -n "$done_hb" ] && [ "$exit_hb" -gt "$done_hb" ] ||
		fail "source guest stopped: heartbeat $done_hb -> $exit_hb"
	echo "ok: cut before the switch: migration failed, source guest" \
		"running: heartbeat $done_hb -> $exit_hb"
	cat "$dir/src.out" "$dir/proxy.out"
	exit 0
fi

check_exits
check_handover
rec=$(json_num "$dir/src.json" postcopy_recoveries)
drec=$(json_num "$dir/dest.json" postcopy_recoveries)
[ "$rec" -ge 1 ] || fail "source counted no recovery"
[ "$drec" -ge 1 ] || fail "destination counted no recovery"
echo "ok: $mode cut at $cut_mib MiB: $rec recovery(ies), heartbeat" \
	"$paused -> $started -> $ended"
cat "$dir/src.out" "$dir/dest.out" "$dir/proxy.out"
exit 0
