#!/bin/sh
# SPDX-License-Identifier: MIT
# `toyvmm memfile --fill mix` (the content bench/vs-qemu hands QEMU):
#   memfile.sh TOYVMM
# asserts: the file has the guest's size, the same bytes twice (the fill is
# deterministic), the low 4 MiB zero (as toyvmm leaves them to its payload),
# and above them 40-60 % zero pages, 15-35 % text pages (printable ASCII,
# spaces and newlines only) and 15-35 % other (random) pages; a bad --out
# is a clear error.
toyvmm=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$toyvmm" memfile --mem 32M --fill mix --out "$dir/a" || fail "memfile a"
"$toyvmm" memfile --mem 32M --fill mix --out "$dir/b" || fail "memfile b"
cmp -s "$dir/a" "$dir/b" || fail "two runs wrote different bytes"
"$toyvmm" memfile --mem 32M --fill mix --out "$dir/none/x" 2>"$dir/err" &&
	fail "memfile into a missing directory succeeded"
grep -q "$dir/none/x" "$dir/err" || fail "error does not name the file"
"$toyvmm" memfile --mem 32M --fill mix 2>/dev/null &&
	fail "memfile without --out succeeded"
python3 - "$dir/a" <<'PY' || fail "content"
import sys
d = open(sys.argv[1], "rb").read()
assert len(d) == 32 << 20, len(d)
low = 4 << 20
assert d[:low].count(0) == low, "low 4 MiB not zero"
ok = set(range(0x20, 0x7f)) | {0x0a}
n = {"zero": 0, "text": 0, "other": 0}
for off in range(low, len(d), 4096):
    p = d[off:off + 4096]
    if p.count(0) == 4096:
        n["zero"] += 1
    elif set(p) <= ok:
        n["text"] += 1
    else:
        n["other"] += 1
tot = sum(n.values())
f = {k: v / tot for k, v in n.items()}
print("pages:", n)
assert 0.40 <= f["zero"] <= 0.60, f
assert 0.15 <= f["text"] <= 0.35, f
assert 0.15 <= f["other"] <= 0.35, f
PY
echo "ok: mix memfile"
