# SPDX-License-Identifier: MIT
# Helpers of the toyvmm tests (sourced). Exit codes: 0 pass, 1 fail, 77 skip.
set -u

fail() { echo "FAIL: $*"; show_logs; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

show_logs() {
	for f in "$dir"/*.out "$dir"/*.json; do
		[ -f "$f" ] && { echo "--- $f"; cat "$f"; }
	done
}

# The KVM variants need a /dev/kvm that opens (ENODEV/ENOENT/EACCES: skip).
need_backend() {
	if [ "$1" = kvm ]; then
		# Read-only redirection: never create a /dev/kvm file.
		[ -c /dev/kvm ] && ( exec 3</dev/kvm ) 2>/dev/null ||
			skip "/dev/kvm unavailable"
	fi
}

# json_num FILE KEY: the number after "KEY": in FILE.
json_num() {
	sed -n "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p" "$1"
}

# json_arr FILE KEY: the numbers of the array "KEY":[...] in FILE, one per
# line.
json_arr() {
	sed -n "s/.*\"$2\":\[\([0-9,]*\)\].*/\1/p" "$1" | tr ',' '\n'
}

# check_vcpus N: the guest had N vCPUs, each started at the destination
# from the heartbeat it paused at on the source, and each went on there.
check_vcpus() {
	[ "$(json_num "$dir/src.json" vcpus)" = "$1" ] ||
		fail "source: not $1 vCPU(s)"
	[ "$(json_num "$dir/dest.json" vcpus)" = "$1" ] ||
		fail "destination: not $1 vCPU(s)"
	json_arr "$dir/src.json" heartbeats_at_start >"$dir/hb.pause"
	json_arr "$dir/dest.json" heartbeats_at_start >"$dir/hb.start"
	json_arr "$dir/dest.json" heartbeats_at_exit >"$dir/hb.exit"
	cmp -s "$dir/hb.pause" "$dir/hb.start" ||
		fail "vCPU heartbeats at start differ from those at pause:" \
			$(cat "$dir/hb.pause") / $(cat "$dir/hb.start")
	paste "$dir/hb.start" "$dir/hb.exit" | while read -r s e; do
		[ "$e" -gt "$s" ] || { echo "vCPU heartbeat $s -> $e"; exit 1; }
	done || fail "a vCPU's heartbeat did not go on at the destination"
	[ "$(wc -l <"$dir/hb.exit")" = "$1" ] || fail "not $1 heartbeats"
}

# json_str FILE KEY: the string after "KEY": in FILE.
json_str() {
	sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"
}

# wait_dest: wait for the background destination; drc is its exit status.
wait_dest() {
	wait $dpid
	drc=$?
	dpid=
}

# check_exits: the source (rc) and the destination (drc) both exited 0.
check_exits() {
	[ $rc -eq 0 ] || fail "source exited $rc"
	[ $drc -eq 0 ] || fail "destination exited $drc"
}

# check_completed: both sides' reports say completed, memory verified.
check_completed() {
	for side in src dest; do
		grep -q '"result":"completed"' "$dir/$side.json" ||
			fail "$side: not completed"
		grep -q '"verified":true' "$dir/$side.json" ||
			fail "$side: memory not verified"
	done
}

# check_handover: check_completed, and the guest went on at the
# destination from the very heartbeat it paused at.
check_handover() {
	check_completed
	paused=$(json_num "$dir/src.json" heartbeat_at_pause)
	started=$(json_num "$dir/dest.json" heartbeat_at_start)
	ended=$(json_num "$dir/dest.json" heartbeat_at_exit)
	[ -n "$paused" ] && [ "$paused" -gt 0 ] || fail "no heartbeat at pause"
	[ "$started" = "$paused" ] ||
		fail "destination resumed at heartbeat $started, source paused" \
			"at $paused"
	[ "$ended" -gt "$started" ] ||
		fail "heartbeat did not advance on the destination" \
			"($started -> $ended)"
}

# start_dest BACKEND MEM RUN_AFTER_MS [DEST_OPTION...]: a destination in
# the background, listening on an ephemeral port; sets dpid and uri.
start_dest() {
	_b=$1 _m=$2 _r=$3
	shift 3
	# No timeout(1) wrapper: $dpid must be toyvmm itself (kill_dest.sh).
	"$toyvmm" dest --listen tcp:127.0.0.1:0 --mem "$_m" \
		--backend "$_b" --uri-file "$dir/uri" --json "$dir/dest.json" \
		--run-after "$_r" --no-progress "$@" >"$dir/dest.out" 2>&1 &
	dpid=$!
	i=0
	while [ ! -s "$dir/uri" ]; do
		i=$((i + 1))
		[ $i -gt 500 ] && fail "destination did not listen in 10 s"
		kill -0 $dpid 2>/dev/null || fail "destination exited early"
		sleep 0.02
	done
	uri=$(cat "$dir/uri")
}

dir=$(mktemp -d /tmp/toyvmm-test-XXXXXX)
dpid=
cleanup() {
	[ -n "$dpid" ] && kill -9 $dpid 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
