#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Figures of run_cacherestore.sh.

--one SRC.json DEST.json SIZE LOAD VARIANT RC DRC: one JSON line per run.
--table RESULTS.jsonl: JSON document on stdout (runs, and per size and load
the medians of each variant and the ratios plain / restore), a table on
stderr.
"""
import json
import statistics
import sys


def one(src, dst, size, load, variant, rc, drc):
    s = json.load(open(src))
    d = json.load(open(dst))
    ss, ds = s["stats"], d["stats"]
    st = d.get("storage", {})
    total_ms = ss["total_time_ms"]
    restore = ds.get("restore", {})
    row = {
        "size_mib": int(size), "load": load, "variant": variant,
        "ok": rc == "0" and drc == "0" and s["result"] == "completed",
        "total_time_ms": total_ms,
        "downtime_ms": ss["downtime_ms"],
        "setup_time_ms": ss["setup_time_ms"],
        "rounds": ss["rounds"],
        "transferred_bytes": ss["transferred_bytes"],
        "link_rate_mb_per_s": ss["transferred_bytes"] / total_ms / 1e3
        if total_ms else 0,
        "pages_normal": ss["pages"]["normal"],
        "pages_skipped": ss["pages"]["skipped"],
        "pages_restored": ds["pages"]["restored"],
        "restore_mismatches": restore.get("mismatches", 0),
        "restore_fallbacks": restore.get("fallbacks", 0),
        "restore_time_ms": restore.get("time_ms", 0),
        "storage_bytes_read": st.get("bytes_read", 0),
        "storage_busy_ms": st.get("busy_us", 0) / 1e3,
        "storage_rate_mb_per_s": st.get("busy_rate_mb_per_s", 0),
        "storage_queue_depth": st.get("queue_depth", 0),
        "storage_max_in_flight": st.get("max_in_flight", 0),
        "pool_pages": s.get("dbcache", {}).get("pool_pages", 0),
        "guest_dirtied_pages": s.get("dbcache", {}).get(
            "guest_dirtied_pages", 0),
        "dest_guest_bad_pages": d.get("dbcache", {}).get(
            "guest_bad_pages", 0),
    }
    print(json.dumps(row))


def med(rows, key):
    v = [r[key] for r in rows]
    return statistics.median(v) if v else None


def table(path):
    runs = [json.loads(l) for l in open(path) if l.strip()]
    groups = {}
    for r in runs:
        groups.setdefault((r["size_mib"], r["load"]), []).append(r)
    summary = []
    hdr = ("size  load  plain_s restore_s  ratio  down_plain down_restore "
           "restored_pages  storage_MB/s qd/max  restore_s")
    print(hdr, file=sys.stderr)
    for (size, load), rows in sorted(groups.items()):
        p = [r for r in rows if r["variant"] == "plain" and r["ok"]]
        c = [r for r in rows if r["variant"] == "restore" and r["ok"]]
        if not p or not c:
            continue
        e = {"size_mib": size, "load": load, "runs": len(p) + len(c)}
        for k in ("total_time_ms", "downtime_ms", "transferred_bytes"):
            e["plain_" + k] = med(p, k)
            e["restore_" + k] = med(c, k)
        for k in ("pages_restored", "pages_skipped", "restore_time_ms",
                  "storage_rate_mb_per_s", "storage_max_in_flight",
                  "storage_queue_depth", "restore_mismatches",
                  "restore_fallbacks"):
            e[k] = med(c, k)
        e["time_ratio"] = e["plain_total_time_ms"] / e["restore_total_time_ms"]
        e["bytes_ratio"] = (e["plain_transferred_bytes"] /
                            e["restore_transferred_bytes"])
        # The restore is "not the bottleneck" when it is done well before
        # the migration ends (its share of the total time).
        e["restore_share_of_total"] = (e["restore_time_ms"] /
                                       e["restore_total_time_ms"])
        summary.append(e)
        print("%4d %5s %8.1f %9.1f %6.2f %10.1f %12.1f %14d %13.0f %4d/%-4d %8.1f"
              % (size, load, e["plain_total_time_ms"] / 1e3,
                 e["restore_total_time_ms"] / 1e3, e["time_ratio"],
                 e["plain_downtime_ms"], e["restore_downtime_ms"],
                 e["pages_restored"], e["storage_rate_mb_per_s"],
                 e["storage_queue_depth"], e["storage_max_in_flight"],
                 e["restore_time_ms"] / 1e3), file=sys.stderr)
    print(json.dumps({"runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "--one":
        one(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)
