#!/bin/sh
# SPDX-License-Identifier: MIT
# Cache-restore with toyvmm's dbcache guest (software backend, 64 MiB, the
# default 80 % buffer pool = 13056 pages), two processes over TCP loopback:
#   dbcache.sh TOYVMM CASE [BACKEND]   (default: software)
# CASE:
#   ro        read-only load: the pool is not sent (source skips >= 90 % of
#             it) and the destination restores >= 90 % of it from storage
#   rw        read-write load: the DBMS dirties pages while migrating; they
#             are withdrawn (hint removes > 0) and sent over the network
#             (source pages_normal >= pages dirtied), the rest restored
#   wronghint the destination's copy of the data file has 16 blocks altered:
#             >= 16 hash mismatches, fetched over the network instead
#   missing   the destination's storage directory is empty: nothing is
#             restored, the hinted pages come over the network (fallbacks)
#   postcopy  --mode postcopy (a first pass, then the switch): >= half of
#             the pool restored from storage (the restores end before the
#             pause, so the guest may find no page missing afterwards)
#   postcopy-now  no first pass (--mode postcopy:now): hinted pages not
#             restored yet when the guest touches them are served from
#             storage; >= half of the pool restored, faults > 0: the
#             network push is capped at 16 MiB/s after the switch, so the
#             ~12 MiB only it has take ~0.8 s, while the guest's reads hit
#             a withdrawn pool page within its first few ms of running
#             (uncapped, the push once delivered all before the guest ran)
# Every case: both sides complete with memory verified; the destination's
# DBMS reads pages after the switch and finds no page with a wrong header.
toyvmm=$1 case=$2 backend=${3:-software}
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

mem=64M
st=$dir/storage            # the "shared storage" as the source mounts it
mkdir -p "$st" "$dir/empty" "$dir/alt"
load=dbcache:ro mode=precopy dst=$st pcbw=

# json_in FILE OBJ KEY: KEY's number inside the JSON object "OBJ":{...}.
json_in() {
	sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9][0-9]*\).*/\1/p" "$1"
}

# The data file exists before the migration when the source created it: a
# source whose destination refuses the connection only sets up and fails.
make_datafile() {
	"$toyvmm" source --connect tcp:127.0.0.1:1 --mem $mem \
		--backend software --workload dbcache:idle --storage "$st" \
		--warmup 0 --io-timeout 500 --no-progress >"$dir/prep.out" 2>&1
	[ -s "$st/ibdata.vmmig" ] || fail "no data file was created"
}

case $case in
ro) ;;
rw) load=dbcache:rw ;;
wronghint)
	make_datafile
	cp "$st/ibdata.vmmig" "$dir/alt/" || fail "copy"
	# 16 blocks spread over the pool, zeroed on the destination's copy.
	for b in 7 100 555 1000 2047 3000 4096 5001 6000 7007 8000 9001 \
		 10000 11111 12000 13000; do
		dd if=/dev/zero of="$dir/alt/ibdata.vmmig" bs=4096 seek=$b \
			count=1 conv=notrunc 2>/dev/null || fail "dd"
	done
	dst=$dir/alt ;;
missing) dst=$dir/empty ;;
postcopy) load=dbcache:rw mode=postcopy ;;
postcopy-now) load=dbcache:rw mode=postcopy:now pcbw="--postcopy-bandwidth 16M" ;;
*) echo "unknown case $case"; exit 1 ;;
esac

start_dest "$backend" $mem 300 --storage "$dst" --io-timeout 10000 \
	--recovery-timeout 0
timeout 60 "$toyvmm" source --connect "$uri" --mode $mode \
	--workload $load --mem $mem --backend "$backend" --storage "$st" \
	--warmup 300 --json "$dir/src.json" --no-progress $pcbw \
	>"$dir/src.out" 2>&1
rc=$?
# Bounded: a destination that hangs fails the test instead.
i=0
while kill -0 $dpid 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 300 ] && fail "destination still running 30 s after the source"
	sleep 0.1
done
wait_dest
check_exits
check_completed

pool=$(json_in "$dir/src.json" dbcache pool_pages)
skipped=$(json_in "$dir/src.json" pages skipped)
normal=$(json_in "$dir/src.json" pages normal)
removed=$(json_in "$dir/src.json" dbcache hint_remove_pages)
dirtied=$(json_in "$dir/src.json" dbcache guest_dirtied_pages)
restored=$(json_in "$dir/dest.json" pages restored)
mismatches=$(json_in "$dir/dest.json" restore mismatches)
fallbacks=$(json_in "$dir/dest.json" restore fallbacks)
faults=$(json_num "$dir/dest.json" postcopy_faults)
bad=$(json_in "$dir/dest.json" dbcache guest_bad_pages)
reads=$(json_in "$dir/dest.json" dbcache guest_reads)
for v in pool skipped normal removed dirtied restored mismatches fallbacks \
	 bad reads; do
	eval "[ -n \"\$$v\" ]" || fail "no $v in the reports"
done
[ "$pool" -eq 13056 ] || fail "pool of $pool pages, expected 13056"
most=$((pool * 9 / 10))
[ "$bad" -eq 0 ] || fail "destination DBMS read $bad pages with a bad header"
[ "$reads" -gt 0 ] || fail "destination DBMS did not run"

case $case in
ro)
	[ "$skipped" -ge $most ] || fail "source skipped only $skipped pages"
	[ "$restored" -ge $most ] || fail "only $restored of $pool restored"
	[ "$mismatches" -eq 0 ] || fail "$mismatches mismatches" ;;
rw)
	[ "$removed" -gt 0 ] && [ "$dirtied" -gt 0 ] ||
		fail "no page was withdrawn ($removed) or dirtied ($dirtied)"
	[ "$normal" -ge "$dirtied" ] ||
		fail "$dirtied pages dirtied but only $normal sent"
	[ "$restored" -ge $((pool / 2)) ] ||
		fail "only $restored of $pool restored" ;;
wronghint)
	[ "$mismatches" -ge 16 ] ||
		fail "$mismatches mismatches for 16 altered blocks"
	[ "$restored" -le $((pool - 16)) ] ||
		fail "$restored restored: altered blocks among them"
	[ "$restored" -ge $((most - 16)) ] ||
		fail "only $restored of $pool restored" ;;
missing)
	[ "$restored" -eq 0 ] || fail "$restored restored from nothing"
	[ "$fallbacks" -ge $most ] ||
		fail "only $fallbacks fallbacks to the network" ;;
postcopy|postcopy-now)
	# With a first pass the restores end before the pause (DRAIN), and
	# the guest may find nothing missing after the switch: faults are
	# certain only without one.
	[ "$case" = postcopy ] || { [ -n "$faults" ] && [ "$faults" -gt 0 ]; } ||
		fail "no post-copy faults"
	[ "$restored" -ge $((pool / 2)) ] ||
		fail "only $restored of $pool restored in post-copy" ;;
esac
echo "ok: $case: pool $pool, skipped $skipped, normal $normal, dirtied" \
	"$dirtied, restored $restored, mismatches $mismatches, fallbacks" \
	"$fallbacks, faults ${faults:-0}"
cat "$dir/src.out" "$dir/dest.out"
exit 0
