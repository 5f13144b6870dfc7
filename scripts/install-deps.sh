#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs what libvmmig needs to build, test, run its example and its
# benchmarks, on Debian 12 as root. Idempotent: when every package is already
# installed it does not touch apt at all, so repeated runs are instant.
set -euo pipefail

pkgs=(
	build-essential   # gcc, make, binutils (nm), libc headers
	meson ninja-build pkg-config
	liburing-dev libzstd-dev uuid-dev
	check             # unit test framework
	libgnutls28-dev   # TLS on migration channels (meson option tls)
	libunistring-dev  # in gnutls.pc's Libs.private: static links of libvmmig
	gnutls-bin        # certtool: tests make their x509 certificates
	python3           # build helper of examples/toyvmm (bin2c)
	iperf3 iproute2   # benchmarks: link baseline, netns/veth/tc shaping
)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root (or install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends \
		"${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get failed" >&2
	exit 1
fi
echo "install-deps: done"
