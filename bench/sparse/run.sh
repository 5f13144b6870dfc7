#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Sparse guests (issue 10): toyvmm's software guest of SIZE with zero fill
# and the memwrite:64 workload (~64 MiB/s written), migrated between two
# local processes over TCP loopback, once per tracker: uffd-wp (toyvmm's
# default, async mode: PAGEMAP_SCAN) and manual (the guest marks its
# writes, like an emulator; what a KVM dirty bitmap costs). Each process
# runs under /usr/bin/time for its peak RSS. Then sync_cost: one round's
# dirty sync and bitmap passes at 1 % dirty on 64 GiB.
#
# Prints one JSON object (stdout) and a table (stderr).
#   bench/sparse/run.sh [SIZE...]   (default: 16G 64G)
# Environment: BUILD_DIR (default build), RUNS (per size and tracker,
# default 3; the table shows medians), DOWNTIME_MS (the pre-copy policy's
# downtime limit, default 10, as toyvmm demo).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
toyvmm=$build/examples/toyvmm/toyvmm
runs=${RUNS:-3}
[ $# -gt 0 ] || set -- 16G 64G
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

one() { # size tracker n -> a JSON object on stdout
	local size=$1 trk=$2 n=$3 d=$tmp/$1-$2-$3
	mkdir -p "$d"
	/usr/bin/time -f %M -o "$d/dest.rss" "$toyvmm" dest \
		--listen tcp:127.0.0.1:0 --mem "$size" --backend software \
		--uri-file "$d/uri" --json "$d/dest.json" --no-progress \
		>"$d/dest.log" 2>&1 &
	local dpid=$!
	for _ in $(seq 100); do [ -s "$d/uri" ] && break; sleep 0.05; done
	/usr/bin/time -f %M -o "$d/src.rss" "$toyvmm" source \
		--connect "$(cat "$d/uri")" --mem "$size" --fill zero \
		--workload memwrite:64 --backend software --tracker "$trk" \
		--downtime-ms "${DOWNTIME_MS:-10}" \
		--json "$d/src.json" --no-progress >"$d/src.log" 2>&1 || true
	wait "$dpid" || true
	python3 - "$d" "$size" "$trk" <<'PY'
import json, sys
d, size, trk = sys.argv[1:]
def rss(p):
    try: return int(open(p).read().split()[-1]) * 1024
    except Exception: return None
try: s = json.load(open(d + '/src.json'))
except Exception: s = {'result': 'no json', 'stats': {}}
st = s.get('stats', {})
pages = st.get('pages', {})
print(json.dumps({
    'size': size, 'tracker': s.get('tracker', trk),
    'result': s.get('result'), 'verified': st.get('verified'),
    'total_ms': st.get('total_time_ms'), 'downtime_ms': st.get('downtime_ms'),
    'rounds': st.get('rounds'), 'bytes': st.get('transferred_bytes'),
    'pages_zero': pages.get('zero'), 'pages_normal': pages.get('normal'),
    'src_peak_rss': rss(d + '/src.rss'), 'dest_peak_rss': rss(d + '/dest.rss'),
}))
PY
}

{
	echo '{"migrations": ['
	first=1
	for size in "$@"; do
		for trk in uffd-wp manual; do
			for n in $(seq "$runs"); do
				[ $first = 1 ] || echo ','
				first=0
				one "$size" "$trk" "$n"
			done
		done
	done
	echo '], "sync_cost": ['
	"$build/bench/sparse/sync_cost" 64 1 9 | paste -sd, -
	echo ']}'
} >"$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, statistics, sys
out = json.load(open(sys.argv[1]))
print(json.dumps(out, indent=1))
w = sys.stderr.write
w('%-5s %-8s %4s %10s %11s %9s %8s %13s %13s\n' % ('size', 'tracker',
  'runs', 'total ms', 'downtime ms', 'verified', 'rounds', 'src RSS MiB',
  'dest RSS MiB'))
groups = {}
for m in out['migrations']:
    groups.setdefault((m['size'], m['tracker']), []).append(m)
for (size, trk), ms in groups.items():
    ok = [m for m in ms if m['result'] == 'completed']
    med = lambda k: statistics.median([m[k] for m in ok]) if ok else float('nan')
    w('%-5s %-8s %4d %10.1f %11.2f %9s %8.0f %13.0f %13.0f\n' % (size, trk,
      len(ms), med('total_ms'), med('downtime_ms'),
      all(m['verified'] for m in ok) and len(ok) == len(ms), med('rounds'),
      med('src_peak_rss') / 2**20, med('dest_peak_rss') / 2**20))
for s in out['sync_cost']:
    w('sync, %s, %d GiB, %d%% dirty: median %.2f ms (min %.2f, max %.2f), '
      'start %.0f ms\n' % (s['tracker'], s['guest_gib'], s['dirty_pct'],
      s['sync_ms_median'], s['sync_ms_min'], s['sync_ms_max'], s['start_ms']))
PY
