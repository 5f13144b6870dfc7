#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs an already built tree into a staging root (meson --destdir) and
# prints the environment that makes pkg-config and the loader use it:
#
#   eval "$(scripts/stage-install.sh BUILD_DIR ROOT)"
set -euo pipefail

build=$1 root=$2
rm -rf "$root"
meson install --no-rebuild --quiet -C "$build" --destdir "$root" >&2
pc=$(find "$root" -name vmmig.pc)
so=$(find "$root" -name 'libvmmig.so.0')
[ -n "$pc" ] && [ -n "$so" ] || { echo "stage-install: vmmig.pc or libvmmig.so.0 missing under $root" >&2; exit 1; }
# PKG_CONFIG_SYSROOT_DIR is pkg-config's way to relocate a DESTDIR tree.
printf 'export PKG_CONFIG_PATH=%q PKG_CONFIG_SYSROOT_DIR=%q LD_LIBRARY_PATH=%q\n' \
	"$(dirname "$pc")" "$root" "$(dirname "$so")"
