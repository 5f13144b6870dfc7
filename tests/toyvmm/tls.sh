#!/bin/sh
# SPDX-License-Identifier: MIT
# TLS between two toyvmm processes over TCP loopback:
#   tls.sh TOYVMM MKCERTS BACKEND CASE
# CASE psk, x509: the migration completes, memory verified, the guest goes
#   on at the destination from the heartbeat it paused at. psk-postcopy:
#   the same in post-copy (faults and requests on the return path, over
#   TLS, while pages stream the other way).
# CASE strangers: a connection of random bytes and an idle one reach the
#   (PSK) destination first; both are dropped and counted, and the real
#   source then completes as above.
# CASE plaintext, wrongpsk, foreignca: refused before any page lands: the
#   source fails with a clear error and its guest runs on; the destination
#   never starts the guest, names the reason and counts the refusal.
toyvmm=$1 mkcerts=$2 backend=$3 case=$4
. "$(dirname "$0")/lib.sh"
need_backend "$backend"
sh "$mkcerts" "$dir/c" >/dev/null 2>&1
case $? in 0) ;; 77) skip "certtool (gnutls-bin) missing" ;;
	*) fail "mkcerts.sh failed" ;; esac
# The foreign set: our CA (the source trusts the destination) but a client
# certificate from another CA.
mkdir "$dir/c/foreign"
cp "$dir/c/ok/ca-cert.pem" "$dir/c/other/client-cert.pem" \
	"$dir/c/other/client-key.pem" "$dir/c/foreign/"

psk="--tls-psk $dir/c/keys.psk"
x509="--tls-x509 $dir/c/ok"
case $case in
psk|psk-postcopy|strangers) dtls=$psk stls=$psk ;;
x509) dtls=$x509 stls=$x509 ;;
plaintext) dtls=$psk stls= ;;
wrongpsk) dtls=$psk stls="--tls-psk $dir/c/wrong.psk" ;;
foreignca) dtls=$x509 stls="--tls-x509 $dir/c/foreign" ;;
*) fail "unknown case $case" ;;
esac
refused=0
case $case in plaintext|wrongpsk|foreignca) refused=1 ;; esac

# shellcheck disable=SC2086 # $dtls/$stls are option lists
if [ $refused = 1 ]; then
	start_dest "$backend" 32M 300 $dtls --accept-timeout 3000
else
	start_dest "$backend" 32M 300 $dtls --handshake-timeout 1000
fi
tpids=
if [ "$case" = strangers ]; then
	# Each stranger says when it is connected: both must be queued
	# before the source, so the destination meets them first.
	port=${uri##*:}
	python3 -c "import os,socket,time
s=socket.create_connection(('127.0.0.1',$port)); s.sendall(os.urandom(4096))
open('$dir/junk.up','w').close(); time.sleep(20)" &
	tpids="$tpids $!"
	python3 -c "import socket,time
s=socket.create_connection(('127.0.0.1',$port))
open('$dir/idle.up','w').close(); time.sleep(20)" &
	tpids="$tpids $!"
	i=0
	while [ ! -e "$dir/junk.up" ] || [ ! -e "$dir/idle.up" ]; do
		i=$((i + 1))
		[ $i -gt 500 ] && fail "strangers did not connect in 10 s"
		sleep 0.02
	done
fi
mode="--mode precopy"
[ "$case" = psk-postcopy ] && mode="--mode postcopy --bandwidth 32M"
# shellcheck disable=SC2086
timeout 60 "$toyvmm" source --connect "$uri" $mode \
	--workload memwrite:16 --mem 32M --fill random --channels 2 \
	--backend "$backend" --warmup 100 --run-after 300 \
	--json "$dir/src.json" --no-progress $stls >"$dir/src.out" 2>&1
rc=$?
wait_dest
for p in $tpids; do kill $p 2>/dev/null; done

rejected=$(json_num "$dir/dest.json" rejected_connections)
if [ $refused = 0 ]; then
	check_exits
	check_handover
	if [ "$case" = psk-postcopy ]; then
		grep -q '"mode":"postcopy"' "$dir/src.json" ||
			fail "source: not post-copy"
	fi
	if [ "$case" = strangers ]; then
		[ "$rejected" = 2 ] ||
			fail "destination counted $rejected refusals, not 2"
	fi
	echo "ok: $case: completed, verified; $rejected refused"
	cat "$dir/src.out" "$dir/dest.out"
	exit 0
fi

[ $rc -eq 1 ] || fail "source exited $rc, expected 1 (failed)"
grep -q '"result":"failed"' "$dir/src.json" || fail "source: not failed"
[ $drc -ne 0 ] || fail "destination reported success"
[ "$(json_num "$dir/dest.json" heartbeat_at_start)" = 0 ] ||
	fail "the destination started the guest"
[ "${rejected:-0}" -ge 1 ] || fail "destination counted no refusal"
[ "$(json_num "$dir/dest.json" normal)" = 0 ] ||
	fail "pages landed on the destination"
done_hb=$(json_num "$dir/src.json" heartbeat_at_end_of_migration)
exit_hb=$(json_num "$dir/src.json" heartbeat_at_exit)
[ "$exit_hb" -gt "$done_hb" ] ||
	fail "source guest stopped: heartbeat $done_hb -> $exit_hb"
serr=$(json_str "$dir/src.json" error)
derr=$(json_str "$dir/dest.json" error)
case $case in
plaintext) want_s="TLS connections only" want_d="does not speak TLS" ;;
wrongpsk) want_s="TLS" want_d="TLS" ;;
foreignca) want_s="TLS" want_d="ertificate" ;;
esac
case $serr in *"$want_s"*) ;; *) fail "source error: $serr" ;; esac
case $derr in *"$want_d"*) ;; *) fail "destination error: $derr" ;; esac
echo "ok: $case refused; source: $serr; destination: $derr;" \
	"source guest running: heartbeat $done_hb -> $exit_hb"
exit 0
