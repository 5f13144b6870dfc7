#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install test: install the library into a temporary root the way a package
# would, then use it the way an outside project does — pkg-config only, no
# path into the source tree — by building and running examples/minimal.
#
# usage: test_install.sh MESON BUILD_DIR SOURCE_DIR VERSION [SANITIZE]
# Exit: 0 pass, 1 fail, 77 skip (a tool is missing).
set -u

meson=$1 build=$2 src=$3 version=$4 sanitize=${5:-none}

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

for tool in pkg-config make nm cc timeout; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmig-install.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root

# 1. Install (meson test has already built everything).
"$meson" install --no-rebuild -C "$build" --destdir "$root" \
	>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }

pc=$(find "$root" -name vmmig.pc)
[ -n "$pc" ] && [ "$(echo "$pc" | wc -l)" -eq 1 ] || fail "vmmig.pc: '$pc'"
so=$(find "$root" -name 'libvmmig.so.*' -type f)
[ -n "$so" ] && [ "$(echo "$so" | wc -l)" -eq 1 ] || fail "libvmmig.so: '$so'"
incdir=$(find "$root" -type d -path '*/include/vmmig')
[ -n "$incdir" ] || fail "no include/vmmig installed"

# 2. Exactly the public headers are installed (no private ones).
want=$(cd "$src/include/vmmig" && ls -- *.h | sort)
have=$(cd "$incdir" && ls | sort)
[ "$want" = "$have" ] || fail "installed headers differ: want [$want] have [$have]"

# 3. pkg-config sees the staged prefix. The sysroot variable is how
# pkg-config relocates a tree installed with DESTDIR.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$root
LD_LIBRARY_PATH=$(dirname "$so")
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH
got=$(pkg-config --modversion vmmig) || fail "pkg-config --modversion vmmig"
[ "$got" = "$version" ] || fail "pkg-config version $got, project $version"
pkg-config --cflags vmmig | grep -q -- "-I$root" || fail "cflags: $(pkg-config --cflags vmmig)"
echo "pkg-config: vmmig $got: $(pkg-config --cflags --libs vmmig)"

# 4. The shared library exports vmmig_* and nothing else (the version node
# VMMIG_0.1 shows up as an absolute symbol), and every function the public
# headers declare.
nm -D --defined-only "$so" | sed "s/@.*//" >"$tmp/syms" || fail "nm $so"
extra=$(awk '$2 != "A" && $3 !~ /^vmmig_/ { print $3 }' "$tmp/syms")
[ -z "$extra" ] || fail "exported symbols outside vmmig_*: $extra"
missing=
for fn in $(grep -h 'VMMIG_API' "$incdir"/*.h | grep -o 'vmmig_[a-z0-9_]*(' |
	    tr -d '(' | sort -u); do
	grep -q " $fn\$" "$tmp/syms" || missing="$missing $fn"
done
[ -z "$missing" ] || fail "declared in the headers but not exported:$missing"
echo "exports: $(awk '$2 != "A"' "$tmp/syms" | wc -l) symbols, all vmmig_*"

# 4a. Every exported call has its man page (section 3), and each page says
# what the call does, its threads, the callbacks it triggers and its
# return values (the header's doc block has every part: test doc-comments).
mandir=$(find "$root" -type d -path '*/man/man3')
[ -n "$mandir" ] || fail "no man3 directory installed"
for fn in $(awk '$2 != "A" { print $3 }' "$tmp/syms"); do
	page="$mandir/$fn.3"
	[ -s "$page" ] || fail "no man page for $fn"
	for sec in NAME SYNOPSIS DESCRIPTION THREADS CALLBACKS "RETURN VALUE"; do
		grep -qx "\.SH $sec" "$page" || fail "$fn.3 has no $sec section"
	done
	grep -q "Not documented" "$page" && fail "$fn.3 has an undocumented part"
	# man-db reads the NAME line for whatis/apropos.
	if command -v lexgrog >/dev/null 2>&1; then
		lexgrog "$page" >/dev/null 2>&1 || fail "lexgrog cannot parse $fn.3"
	fi
done
echo "man pages: $(ls "$mandir" | wc -l) in $mandir"

# 4b. So does the static library: its global definitions are vmmig_* and
# every declared function; nothing internal (src_handshake, clock_now_us,
# ...) can clash with an embedder's names.
ar=$(find "$root" -name 'libvmmig.a' -type f)
[ -n "$ar" ] && [ "$(echo "$ar" | wc -l)" -eq 1 ] || fail "libvmmig.a: '$ar'"
nm --defined-only -g "$ar" | awk 'NF == 3 { print $3 }' >"$tmp/asyms" ||
	fail "nm $ar"
extra=$(grep -v '^vmmig_' "$tmp/asyms")
[ -z "$extra" ] || fail "libvmmig.a defines globals outside vmmig_*:" \
	"$(echo $extra | cut -c1-300)"
for fn in $(awk '$2 != "A" { print $3 }' "$tmp/syms"); do
	grep -qx "$fn" "$tmp/asyms" || fail "libvmmig.a lacks $fn"
done
echo "libvmmig.a: $(wc -l <"$tmp/asyms") global symbols, all vmmig_*"

# 5. Build the example out of the source tree with its own Makefile.
cp -R "$src/examples/minimal" "$tmp/minimal" || fail "copy example"
rm -f "$tmp/minimal/minimal"
cflags="-O2 -g -Wall -Wextra -Werror"
ldflags=
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
	# The installed library is instrumented: the program must be too.
	cflags="$cflags -fsanitize=$sanitize -fno-omit-frame-pointer"
	ldflags="-fsanitize=$sanitize"
fi
make -C "$tmp/minimal" CFLAGS="$cflags" LDFLAGS="$ldflags" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make"; }
ldd "$tmp/minimal/minimal" | grep -q "libvmmig.so.0 => $root" ||
	fail "example does not load the installed library: $(ldd "$tmp/minimal/minimal")"

# 6. Run it: a 64 MiB live migration between two processes, bounded in time.
timeout 120 "$tmp/minimal/minimal" 64 >"$tmp/run.log" 2>&1
rc=$?
cat "$tmp/run.log"
[ "$rc" -eq 0 ] || fail "minimal exited $rc"
grep -q '^OK: memory identical' "$tmp/run.log" || fail "no OK line"
grep -q '^destination stats: .*"status":"completed".*"verified":true' \
	"$tmp/run.log" || fail "destination did not complete verified"

# 7. The same program linked against libvmmig.a (pkg-config --static for
# what it needs), and run.
cc -std=c11 -D_GNU_SOURCE -pthread $cflags $(pkg-config --cflags vmmig) \
	-o "$tmp/minimal-static" "$src/examples/minimal/minimal.c" $ldflags \
	"$ar" $(pkg-config --libs-only-l --static vmmig | sed 's/-lvmmig//') \
	>"$tmp/static.log" 2>&1 || { cat "$tmp/static.log"; fail "static link"; }
ldd "$tmp/minimal-static" | grep -q libvmmig && fail "static build loads libvmmig.so"
timeout 120 "$tmp/minimal-static" 64 >"$tmp/run-static.log" 2>&1 ||
	{ cat "$tmp/run-static.log"; fail "static minimal failed"; }
grep -q '^OK: memory identical' "$tmp/run-static.log" ||
	fail "static minimal: no OK line"
echo "PASS"
exit 0
