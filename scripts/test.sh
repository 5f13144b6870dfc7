#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test run (what CI runs): install what is missing, a warning-free
# build (--werror) and every suite, then a second build with ASan+UBSan and
# every suite again. Exits non-zero on any failure.
#
# Environment: BUILD_DIR (default: build), ASAN_BUILD_DIR (default:
# $BUILD_DIR-asan), JOBS (default: 2).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
asan=${ASAN_BUILD_DIR:-$build-asan}
jobs=${JOBS:-2}

# setup DIR OPTIONS...: configure a new build dir, or re-apply the options to
# an existing one (so a tree first set up by demo.sh also gets --werror).
setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

# run DIR: build quietly (the log on failure), then every suite. Called in
# an || list, so errors are checked explicitly (set -e does not apply).
run() {
	local dir=$1 t0=$SECONDS rc=0
	echo "== build $dir"
	if ! ninja -C "$dir" -j"$jobs" >"$dir/test-build.log" 2>&1; then
		tail -n 60 "$dir/test-build.log"
		echo "test.sh: build failed in $dir" >&2
		return 1
	fi
	echo "== test $dir"
	meson test -C "$dir" --no-rebuild --print-errorlogs \
		--num-processes "$jobs" || rc=1
	echo "== $dir: $((SECONDS - t0)) s, $([ $rc = 0 ] && echo passed || echo FAILED)"
	return $rc
}

./scripts/install-deps.sh

# Both builds run even if the first fails, so that one CI log shows all.
status=0
setup "$build" -Dwerror=true -Dbuildtype=debugoptimized -Db_sanitize=none
run "$build" || status=1

# Leak checks on; UBSan findings fail the test instead of only printing.
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
setup "$asan" -Dwerror=true -Dbuildtype=debugoptimized \
	-Db_sanitize=address,undefined -Db_lundef=false
run "$asan" || status=1
if [ $status = 0 ]; then
	echo "test.sh: all suites passed in both builds ($SECONDS s)"
else
	echo "test.sh: FAILED ($SECONDS s)" >&2
fi
exit $status
