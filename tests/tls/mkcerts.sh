#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Test credentials, made fresh at test time (no private key is committed):
#   DIR/ok/     a CA and its server and client certificates, in QEMU's
#               tls-creds-x509 layout (ca-cert.pem, server-cert.pem,
#               server-key.pem, client-cert.pem, client-key.pem); the server
#               certificate names localhost and 127.0.0.1
#   DIR/other/  the same layout from another CA
#   DIR/keys.psk, DIR/wrong.psk   QEMU keys.psk files (identity "vmmig")
# Usage: mkcerts.sh DIR. Needs certtool (Debian: gnutls-bin).
set -eu
dir=$1
command -v certtool >/dev/null || { echo "mkcerts: no certtool" >&2; exit 77; }
mkdir -p "$dir"
tmpl=$(mktemp)
trap 'rm -f "$tmpl"' EXIT

key() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
	--outfile "$1" 2>/dev/null; }

# mkset OUT CA_NAME
mkset() {
	out=$1
	mkdir -p "$out"
	key "$out/ca-key.pem"
	printf 'cn = "%s"\nca\ncert_signing_key\nexpiration_days = 2\n' \
		"$2" >"$tmpl"
	certtool --generate-self-signed --load-privkey "$out/ca-key.pem" \
		--template "$tmpl" --outfile "$out/ca-cert.pem" 2>/dev/null
	key "$out/server-key.pem"
	printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nencryption_key\nexpiration_days = 2\n' >"$tmpl"
	certtool --generate-certificate --load-privkey "$out/server-key.pem" \
		--load-ca-certificate "$out/ca-cert.pem" \
		--load-ca-privkey "$out/ca-key.pem" --template "$tmpl" \
		--outfile "$out/server-cert.pem" 2>/dev/null
	key "$out/client-key.pem"
	printf 'cn = "vmmig source"\ntls_www_client\nsigning_key\nencryption_key\nexpiration_days = 2\n' >"$tmpl"
	certtool --generate-certificate --load-privkey "$out/client-key.pem" \
		--load-ca-certificate "$out/ca-cert.pem" \
		--load-ca-privkey "$out/ca-key.pem" --template "$tmpl" \
		--outfile "$out/client-cert.pem" 2>/dev/null
	rm -f "$out/ca-key.pem"
}

mkset "$dir/ok" "vmmig test CA"
mkset "$dir/other" "another CA"
hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
echo "vmmig:$(hex)" >"$dir/keys.psk"
echo "vmmig:$(hex)" >"$dir/wrong.psk"
