#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Combine precopy_loopback JSON files into one document (stdout) and print
a table (stderr). Args: iperf3_first_Bps iperf3_last_Bps file.json..."""
import json
import statistics
import sys


def num(s):
    return None if s in ("null", "") else float(s)


def main():
    first, last = num(sys.argv[1]), num(sys.argv[2])
    have = [x for x in (first, last) if x]
    iperf = sum(have) / len(have) if have else None
    results = []
    for path in sys.argv[3:]:
        try:
            with open(path) as f:
                results.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"skipping {path}: {e}", file=sys.stderr)
    order = {"user": 0, "none": 1, "kernel": 2}
    results.sort(key=lambda r: (r["size_mib"], r["fill"] != "random",
                                r["channels"],
                                order.get(r.get("prefault_mode"), 3)))
    for r in results:
        rates = [x["effective_rate_gb_per_s"] * 1e9 for x in r["runs"]
                 if x["ok"]]
        if iperf and rates:
            ratios = sorted(x / iperf for x in rates)
            r["ratio_to_iperf3"] = {"best": ratios[-1],
                                    "median": statistics.median(ratios)}
    doc = {"bench": "precopy_loopback matrix",
           "baseline": {"iperf3_first_bytes_per_s": first,
                        "iperf3_last_bytes_per_s": last,
                        "iperf3_mean_bytes_per_s": iperf},
           "targets": {"ratio_to_tcp_min": 0.8, "downtime_ms_max": 5,
                       "source_cpu_s_per_gib_max": 0.5,
                       "lib_mem_pct_max": 1.0},
           "results": results}
    json.dump(doc, sys.stdout, indent=1)
    print()
    table(doc)


def table(doc):
    e = sys.stderr
    b = doc["baseline"]
    fmt = lambda x: "n/a" if x is None else f"{x / 1e9:.2f}"
    print(f"\niperf3 loopback: first {fmt(b['iperf3_first_bytes_per_s'])} "
          f"last {fmt(b['iperf3_last_bytes_per_s'])} GB/s; values are "
          "best/median over the repeats", file=e)
    print(f"{'MiB':>5} {'fill':6} {'ch':>2} {'pf':>2} {'ok':>3} "
          f"{'total ms':>13} {'down ms':>11} {'GB/s':>9} {'%iperf':>9} "
          f"{'%plain':>9} {'srcCPU/GiB':>11} {'dstCPU/GiB':>11} "
          f"{'srcLib%':>8} {'dstLib%':>8}", file=e)
    for r in doc["results"]:
        s = r.get("summary", {})

        def bm(key, scale=1.0, d=0):
            v = s.get(key)
            if not v:
                return "-"
            return f"{v['best'] * scale:.{d}f}/{v['median'] * scale:.{d}f}"
        ri = r.get("ratio_to_iperf3")
        ri = f"{ri['best'] * 100:.0f}/{ri['median'] * 100:.0f}" if ri else "-"
        print(f"{r['size_mib']:>5} {r['fill']:6} {r['channels']:>2} "
              f"{r.get('prefault_mode', '?')[0]:>2} "
              f"{r['runs_ok']}/{r['repeat']} "
              f"{bm('total_time_ms'):>13} {bm('downtime_ms', d=1):>11} "
              f"{bm('effective_rate_gb_per_s', d=2):>9} {ri:>9} "
              f"{bm('ratio_to_plain_tcp', 100):>9} "
              f"{bm('source_cpu_s_per_gib', d=2):>11} "
              f"{bm('dest_cpu_s_per_gib', d=2):>11} "
              f"{bm('source_lib_mem_pct', d=2):>8} "
              f"{bm('dest_lib_mem_pct', d=2):>8}", file=e)


if __name__ == "__main__":
    main()
