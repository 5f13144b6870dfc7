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

# start_dest BACKEND MEM RUN_AFTER_MS: a destination in the background,
# listening on an ephemeral port; sets dpid and uri.
start_dest() {
	# No timeout(1) wrapper: $dpid must be toyvmm itself (kill_dest.sh).
	"$toyvmm" dest --listen tcp:127.0.0.1:0 --mem "$2" \
		--backend "$1" --uri-file "$dir/uri" --json "$dir/dest.json" \
		--run-after "$3" --no-progress >"$dir/dest.out" 2>&1 &
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
