#!/bin/sh
# SPDX-License-Identifier: MIT
# A guest that dies is loud, never "heartbeat 0 to 0":
#   crash.sh TOYVMM BACKEND
# The crash workload idles, then does `out` to a port the VMM never granted
# (on KVM: #GP, no IDT, triple fault, KVM_EXIT_SHUTDOWN).
# asserts: (1) a source whose guest died before the migration refuses to
# migrate it (exit 3) and prints the vCPU's exit with its registers; (2) a
# guest that dies on the destination after a completed migration makes the
# destination exit 3 with guest_alive false; (3) the demo says the guest
# died.
toyvmm=$1 backend=$2
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

# (1) Dead before the migration: nothing is sent (port 9: nobody listens,
# and the source must not even try).
timeout 30 "$toyvmm" source --connect 127.0.0.1:9 --workload crash:20 \
	--mem 64M --backend "$backend" --warmup 300 --no-progress \
	>"$dir/dead.out" 2>&1
rc=$?
[ $rc -eq 3 ] || fail "source with a dead guest exited $rc, not 3"
grep -q "not migrating a dead guest" "$dir/dead.out" ||
	fail "source did not say it refuses a dead guest"
if [ "$backend" = kvm ]; then
	grep -q "SHUTDOWN" "$dir/dead.out" || fail "no SHUTDOWN exit printed"
	grep -q "rip 0x" "$dir/dead.out" || fail "no registers printed"
	grep -q "cr0 0x" "$dir/dead.out" || fail "no control registers"
fi
rm -f "$dir/dead.out"

# (2) Dies 2 s of guest time into its life (the workload argument's limit
# is 2048): after the migration, which takes some 100 ms on an idle host and
# may take far longer on a loaded one (a guest that died on the source would
# fail it). The destination watches it for up to 20 s, stopping when it
# died.
start_dest "$backend" 64M 20000
timeout 60 "$toyvmm" source --connect "$uri" --workload crash:2000 \
	--mem 64M --backend "$backend" --warmup 100 --json "$dir/src.json" \
	--no-progress --downtime-ms 300 >"$dir/src.out" 2>&1
rc=$?
wait_dest
[ $rc -eq 0 ] || fail "source exited $rc"
[ $drc -eq 3 ] || fail "destination with a dead guest exited $drc, not 3"
grep -q '"guest_alive":false' "$dir/dest.json" ||
	fail "destination report does not say the guest died"
grep -q "DIED" "$dir/dest.out" || fail "destination did not say DIED"
rm -f "$dir"/*.json "$dir"/*.out "$dir/uri"

# (3) The demo says so.
timeout 60 "$toyvmm" demo --workload crash:20 --warmup 300 --mem 64M \
	--backend "$backend" --no-progress >"$dir/demo.out" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "demo of a dead guest exited 0"
grep -q "demo: FAILED: the guest died" "$dir/demo.out" ||
	fail "demo did not say the guest died"
echo "ok: a dead $backend guest is reported on both sides and by the demo"
exit 0
