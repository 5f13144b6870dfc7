#!/bin/sh
# SPDX-License-Identifier: MIT
# The migration as a person sees it, toyvmm to toyvmm:
#   timeline.sh TOYVMM BACKEND MODE
# asserts: --timeline writes a well-formed SVG that names its rounds and
# the pause (and the post-copy phase after a switch); the JSON carries the
# history, one pre-copy entry per round the stats count and one pause; the
# summary and JSON name the backend; the progress lines (not a tty: one a
# second) fit 80 columns and show the first pass's share, rate and what is
# left from its first second.
toyvmm=$1 backend=$2 mode=$3
. "$(dirname "$0")/lib.sh"
need_backend "$backend"

start_dest "$backend" 64M 200
# 32 MiB/s: the first pass of 64 MiB lasts about 2 s.
timeout 60 "$toyvmm" source --connect "$uri" --mode "$mode" \
	--workload memwrite:16 --mem 64M --backend "$backend" --warmup 100 \
	--bandwidth 32M --json "$dir/src.json" --timeline "$dir/t.svg" \
	--progress >"$dir/src.out" 2>"$dir/progress.out"
rc=$?
wait_dest
check_exits
check_completed

[ -s "$dir/t.svg" ] || fail "no timeline written"
python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
	"$dir/t.svg" || fail "the timeline is not well-formed XML"
grep -q '>R0</text>' "$dir/t.svg" || fail "timeline: no round R0"
grep -q '>pause [0-9.]* ms</text>' "$dir/t.svg" || fail "timeline: no pause"
grep -q "timeline drawn in $dir/t.svg" "$dir/src.out" ||
	fail "source did not say where the timeline is"

rounds=$(json_num "$dir/src.json" rounds)
pre=$(grep -o '"kind":"precopy"' "$dir/src.json" | wc -l)
pauses=$(grep -o '"kind":"pause"' "$dir/src.json" | wc -l)
[ "$pre" -eq "$rounds" ] ||
	fail "history: $pre pre-copy entries, stats say $rounds rounds"
[ "$pauses" -eq 1 ] || fail "history: $pauses pause entries"
if [ "$mode" != precopy ]; then
	grep -q '"kind":"postcopy"' "$dir/src.json" ||
		fail "history: no post-copy entry"
	grep -q '>post-copy</text>' "$dir/t.svg" ||
		fail "timeline: no post-copy phase"
fi

grep -q "\"backend\":\"$backend\"" "$dir/src.json" ||
	fail "JSON does not name the backend"
grep -q "migration completed ($backend backend)" "$dir/src.out" ||
	fail "summary does not name the backend"

awk 'length($0) > 80 { bad = 1; print "too wide: " $0 } END { exit bad }' \
	"$dir/progress.out" || fail "a progress line is wider than 80 columns"
grep -q 'pre-copy round 0: *[0-9]*% of 64 MiB, [0-9.]* MiB/s, [0-9.]* MiB left, ETA' \
	"$dir/progress.out" || fail "no first-pass progress with rate and ETA"
if grep 'pre-copy' "$dir/progress.out" | grep -q 'faults'; then
	fail "post-copy fields during pre-copy"
fi
echo "ok: $mode: $rounds round(s), timeline and history"
cat "$dir/progress.out"
exit 0
