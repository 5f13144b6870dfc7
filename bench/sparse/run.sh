#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Sparse guests (issue 10): toyvmm's software guest of SIZE with zero fill
# and the memwrite:64 workload (~64 MiB/s written), migrated between two
# local processes over TCP loopback, once per tracker: uffd-wp (toyvmm's
# default, async mode: PAGEMAP_SCAN) and manual (the guest marks its
# writes, like an emulator; what a KVM dirty bitmap costs). Each process
# runs under /usr/bin/time for its peak RSS. Then sync_cost: one round's
# dirty sync and bitmap passes at 1 % dirty on 64 GiB, the dirty pages
# spread one by one over the guest, then in 2 MiB runs.
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
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT

# Poll /proc/PID/smaps until PID exits; write the peak of "RSS beyond
# guest memory": all resident memory but the guest's mapping (the largest
# one), i.e. toyvmm and libvmmig (bitmaps, buffers, hash tables); and to
# FILE.pte the peak of the kernel's page tables for the process (VmPTE;
# not in RSS: what a tracker that arms never-populated memory costs).
overhead() { # pid file
	python3 - "$1" "$2" <<'PY' &
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
peak = pte = 0
open(out + '.ready', 'w').close()
while os.path.exists('/proc/%s/smaps' % pid):
    try:
        txt = open('/proc/%s/smaps' % pid, 'rb').read()
        for line in open('/proc/%s/status' % pid, 'rb'):
            if line.startswith(b'VmPTE:'):
                pte = max(pte, int(line.split()[1]) * 1024)
    except OSError:
        time.sleep(0.02)
        continue
    sizes, rss = [], []
    for line in txt.splitlines():
        if line.startswith(b'Size:'):
            sizes.append(int(line.split()[1]))
        elif line.startswith(b'Rss:'):
            rss.append(int(line.split()[1]))
    if sizes and len(sizes) == len(rss):
        g = max(range(len(sizes)), key=lambda i: sizes[i])
        peak = max(peak, (sum(rss) - rss[g]) * 1024)
    time.sleep(0.02)
open(out, 'w').write(str(peak))
open(out + '.pte', 'w').write(str(pte))
PY
}

child() { # the toyvmm that /usr/bin/time (pid $1) runs
	for _ in $(seq 200); do
		pgrep -P "$1" -x toyvmm && return
		sleep 0.005
	done
	echo "$1"
}

one() { # size tracker n -> a JSON object on stdout
	local size=$1 trk=$2 n=$3 d=$tmp/$1-$2-$3
	mkdir -p "$d"
	/usr/bin/time -f %M -o "$d/dest.rss" "$toyvmm" dest \
		--listen tcp:127.0.0.1:0 --mem "$size" --backend software \
		--uri-file "$d/uri" --json "$d/dest.json" --no-progress \
		>"$d/dest.log" 2>&1 &
	local dpid=$!
	for _ in $(seq 100); do [ -s "$d/uri" ] && break; sleep 0.05; done
	overhead "$(child "$dpid")" "$d/dest.over"
	for _ in $(seq 100); do [ -e "$d/dest.over.ready" ] && break; sleep 0.02; done
	/usr/bin/time -f %M -o "$d/src.rss" "$toyvmm" source \
		--connect "$(cat "$d/uri")" --mem "$size" --fill zero \
		--workload memwrite:64 --backend software --tracker "$trk" \
		--downtime-ms "${DOWNTIME_MS:-10}" \
		--json "$d/src.json" --no-progress >"$d/src.log" 2>&1 &
	local spid=$!
	overhead "$(child "$spid")" "$d/src.over"
	wait "$spid" || true
	wait "$dpid" || true
	wait
	python3 - "$d" "$size" "$trk" <<'PY'
import json, sys
d, size, trk = sys.argv[1:]
def rss(p):
    try: return int(open(p).read().split()[-1]) * 1024
    except Exception: return None
def over(p):
    try: return int(open(p).read())
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
    'src_peak_rss_beyond_guest': over(d + '/src.over'),
    'dest_peak_rss_beyond_guest': over(d + '/dest.over'),
    'src_peak_page_tables': over(d + '/src.over.pte'),
    'dest_peak_page_tables': over(d + '/dest.over.pte'),
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
	{ "$build/bench/sparse/sync_cost" 64 1 9 1
	  "$build/bench/sparse/sync_cost" 64 1 9 512; } | paste -sd, -
	echo ']}'
} >"$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, statistics, sys
out = json.load(open(sys.argv[1]))
print(json.dumps(out, indent=1))
w = sys.stderr.write
w('%-5s %-8s %4s %9s %11s %8s %6s %8s %8s %9s %9s %7s %7s\n' % ('size',
  'tracker', 'runs', 'total ms', 'downtime ms', 'verified', 'rounds',
  'src RSS', 'dest RSS', 'src extra', 'dst extra', 'src PT', 'dst PT'))
groups = {}
for m in out['migrations']:
    groups.setdefault((m['size'], m['tracker']), []).append(m)
for (size, trk), ms in groups.items():
    ok = [m for m in ms if m['result'] == 'completed']
    med = lambda k: statistics.median([m[k] for m in ok]) if ok else float('nan')
    w('%-5s %-8s %4d %9.1f %11.2f %8s %6.0f %8.0f %8.0f %9.1f %9.1f %7.1f '
      '%7.1f\n' % (
      size, trk, len(ms), med('total_ms'), med('downtime_ms'),
      all(m['verified'] for m in ok) and len(ok) == len(ms), med('rounds'),
      med('src_peak_rss') / 2**20, med('dest_peak_rss') / 2**20,
      med('src_peak_rss_beyond_guest') / 2**20,
      med('dest_peak_rss_beyond_guest') / 2**20,
      med('src_peak_page_tables') / 2**20,
      med('dest_peak_page_tables') / 2**20))
w('(RSS: peak MiB; extra: peak MiB resident beyond the guest mapping; '
  'PT: peak MiB of page tables, VmPTE)\n')
for s in out['sync_cost']:
    w('sync, %s, %d GiB, %d%% dirty in runs of %d pages: median %.2f ms '
      '(min %.2f, max %.2f), start %.0f ms\n' % (s['tracker'],
      s['guest_gib'], s['dirty_pct'], s.get('run_pages', 1), s['sync_ms_median'],
      s['sync_ms_min'], s['sync_ms_max'], s['start_ms']))
PY
