#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU 7.2 and toyvmm side by side (issue 10, bench/vs-qemu): the same
guest memory migrated by each, interleaved in one run, with an iperf3
baseline on the same path; prints JSON (stdout and --out) and tables
(stderr). Normally started by run.sh, which installs QEMU, builds toyvmm,
writes the QEMU source RAM files and creates the namespaces of the shaped
links (and removes them afterwards)."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import qemu_run  # noqa: E402
import toyvmm_run  # noqa: E402

FIGURES = ("total_time_ms", "downtime_ms", "transferred_bytes", "wire_bytes",
           "source_cpu_s", "source_lib_cpu_s", "dest_cpu_s", "dest_lib_cpu_s",
           "gbps")
# The CPU ratio stays on process CPU (guest vCPU threads included), the
# figure this comparison always reported; source_lib_cpu_s is beside it.
RATIOS = ("total_time_ms", "downtime_ms", "transferred_bytes", "wire_bytes",
          "source_cpu_s")
# tbf: a burst of at least rate/HZ, so the shaper itself never limits.
LINKS = {"1g": ("1gbit", "1mb"), "10g": ("10gbit", "8mb")}
IPERF_S = 2


def incompressible_group(a):
    """1 GiB of random bytes on loopback, 1/2/4 channels each."""
    common = {"prealloc": True, "prefault": True, "verify": False,
              "src_file": a.random_file, "fill": "random"}
    vs = []
    for ch in a.channels:
        vs.append(("iperf3/P%d" % ch, "iperf", {"streams": ch}))
    for ch in a.channels:
        mode = "precopy" if ch == 1 else "multifd"
        vs.append(("qemu/%s-%dch" % (mode, ch), "qemu",
                   dict(common, mode=mode, channels=ch)))
    for ch in a.channels:
        vs.append(("toyvmm/%dch" % ch, "toyvmm", dict(common, channels=ch)))
        if a.no_zstd_too:
            vs.append(("toyvmm/%dch-none" % ch, "toyvmm",
                       dict(common, channels=ch, compression="none")))
    peers = {}
    for ch in a.channels:
        q = (["qemu/%s-%dch" % ("precopy" if ch == 1 else "multifd", ch)],
             "iperf3/P%d" % ch)
        peers["toyvmm/%dch" % ch] = q
        if a.no_zstd_too:
            peers["toyvmm/%dch-none" % ch] = q
    return {"name": "incompressible-loopback", "link": None, "variants": vs,
            "peers": peers, "repeat": a.repeat}


def mix_group(a, link):
    """The compressible mix over a tbf-shaped veth between two namespaces,
    2 channels on both sides: QEMU multifd without and with zstd, toyvmm
    with the library's default (adaptive zstd) and without compression."""
    net = {"src_ns": a.ns_src, "dst_ns": a.ns_dst, "dst_addr": a.dst_addr,
           "src_dev": a.src_dev}
    ch = a.mix_channels
    common = {"prealloc": True, "prefault": True, "verify": False,
              "src_file": a.mix_file, "fill": "mix", "net": net,
              "channels": ch, "mem_mib": a.mix_mib}
    vs = [("iperf3/P%d" % ch, "iperf", {"streams": ch, "net": net}),
          ("qemu/multifd-%dch" % ch, "qemu",
           dict(common, mode="multifd", compression="none")),
          ("qemu/multifd-zstd-%dch" % ch, "qemu",
           dict(common, mode="multifd", compression="zstd")),
          ("toyvmm/%dch" % ch, "toyvmm", dict(common)),
          ("toyvmm/%dch-none" % ch, "toyvmm",
           dict(common, compression="none"))]
    # The library's default (zstd, adaptive) against QEMU at its best on
    # this link, whichever of its two modes had the lower median; toyvmm
    # without compression against QEMU without.
    peers = {"toyvmm/%dch" % ch: (["qemu/multifd-%dch" % ch,
                                   "qemu/multifd-zstd-%dch" % ch],
                                  "iperf3/P%d" % ch),
             "toyvmm/%dch-none" % ch: (["qemu/multifd-%dch" % ch],
                                       "iperf3/P%d" % ch)}
    return {"name": "mix-%s" % link, "link": link, "variants": vs,
            "peers": peers, "repeat": a.repeat}


def sparse_group(a):
    """Issue 10's sparse guest: software backend, 64 GiB, ~1 GiB touched,
    verified; toyvmm only."""
    p = {"channels": 1, "verify": True, "fill": "zero", "backend": "software",
         "workload": "memwrite:64", "mem_mib": a.sparse_gib * 1024,
         # The guest populates 64 MiB/s for as long as the migration
         # runs: bounded, so that a slow run can't fill the host.
         "timeout_s": a.sparse_timeout_s}
    return {"name": "sparse-%dG" % a.sparse_gib, "link": None,
            "variants": [("toyvmm/sparse", "toyvmm", p)], "peers": {},
            "repeat": a.sparse_repeat}


def set_link(a, link):
    rate, burst = LINKS[link]
    for ns, dev in ((a.ns_src, a.src_dev), (a.ns_dst, a.dst_dev)):
        subprocess.run(procs.in_netns(ns, [
            "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
            rate, "burst", burst, "latency", "50ms"]), check=True)


def iperf(p, tag, work):
    """iperf3 -P N for IPERF_S seconds on the case's path: Gbit/s."""
    net = p.get("net") or {}
    host = net.get("dst_addr", "127.0.0.1")
    port = procs.free_port() if not net else 5201
    srv = procs.spawn(procs.in_netns(net.get("dst_ns"), [
        "iperf3", "-s", "-1", "-B", host, "-p", str(port)]),
        os.path.join(work, tag + "-iperf-s.log"))
    res = {"ok": False}
    try:
        time.sleep(0.3)
        out = subprocess.run(procs.in_netns(net.get("src_ns"), [
            "iperf3", "-c", host, "-p", str(port), "-P", str(p["streams"]),
            "-t", str(IPERF_S), "-J"]), capture_output=True, text=True,
            timeout=IPERF_S + 30)
        bps = json.loads(out.stdout)["end"]["sum_received"][
            "bits_per_second"]
        res = {"ok": True, "gbps": round(bps / 1e9, 3)}
    except Exception as e:  # noqa: BLE001 (reported, the run goes on)
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        procs.stop(srv)
    return res


def run_one(cfg, kind, p, tag):
    if kind == "iperf":
        return iperf(p, tag, cfg["workdir"])
    r = (qemu_run.run if kind == "qemu" else toyvmm_run.run)(cfg, p, tag)
    # Either side: a run that reports success without figures is not one.
    why = qemu_run.figures_missing(r) if r.get("ok") else None
    if why:
        r["ok"] = False
        r["error"] = why
    mib = p.get("mem_mib", cfg["size_mib"])
    if r.get("ok") and r.get("total_time_ms"):
        r["gbps"] = round(mib * 2**20 * 8 / (r["total_time_ms"] / 1000) / 1e9,
                          3)
    return r


def summarize(runs):
    ok = [r for r in runs if r.get("ok")]
    s = {"runs_ok": len(ok), "runs": len(runs)}
    for k in FIGURES:
        vals = [r[k] for r in ok if r.get(k) is not None]
        s[k] = ({"best": min(vals), "median": statistics.median(vals)}
                if vals else None)
    return s


def med(summ, key):
    v = summ.get(key) if summ else None
    return v["median"] if v else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def compare(group, results):
    """Per toyvmm variant: medians over its QEMU peer's, and both rates
    (guest bytes / total time) over the same path's iperf3 rate."""
    out = {}
    for name, (qpeers, ipeer) in group["peers"].items():
        t = results[name]["summary"]
        # QEMU at its best: the candidate with the lowest median total.
        qpeer = min(qpeers, key=lambda n: med(
            results[n]["summary"], "total_time_ms") or float("inf"))
        q = results[qpeer]["summary"]
        i = med(results[ipeer]["summary"], "gbps")
        e = {"qemu_peer": qpeer, "iperf_peer": ipeer, "iperf_gbps": i,
             "toyvmm_rate_over_iperf": ratio(med(t, "gbps"), i),
             "qemu_rate_over_iperf": ratio(med(q, "gbps"), i)}
        for k in RATIOS:
            e["ratio_" + k] = ratio(med(t, k), med(q, k))
        # QEMU 7.2's ram.transferred counts multifd-zstd pages before
        # compression; the veth's counter is what crossed the link.
        e["ratio_bytes"] = (e["ratio_wire_bytes"] if e["ratio_wire_bytes"]
                            else e["ratio_transferred_bytes"])
        out[name] = e
    return out


def fmt(v, scale=1.0, digits=1):
    return "-" if v is None else "%.*f" % (digits, v * scale)


def table(doc, f):
    for g in doc["groups"]:
        print("\n== %s (%s), medians of %d runs" % (
            g["name"], "tbf %s" % g["link"] if g["link"] else "loopback",
            g["repeat"]), file=f)
        hdr = "%-24s %5s %9s %9s %8s %8s %8s %9s %8s %8s %7s" % (
            "variant", "ok", "total ms", "down ms", "MiB sent", "MiB wire",
            "src cpu", "cpu/GiB", "lib cpu", "lib/GiB", "Gbit/s")
        print(hdr, file=f)
        print("-" * len(hdr), file=f)
        for name, v in g["variants"].items():
            s = v["summary"]
            cpu = med(s, "source_cpu_s")
            lib = med(s, "source_lib_cpu_s")
            gib = v["params"].get("mem_mib", doc["size_mib"]) / 1024

            def per_gib(x):
                return None if x is None or v["kind"] == "iperf" else x / gib
            print("%-24s %2d/%-2d %9s %9s %8s %8s %8s %9s %8s %8s %7s" % (
                name, s["runs_ok"], s["runs"],
                fmt(med(s, "total_time_ms"), 1, 0),
                fmt(med(s, "downtime_ms"), 1, 1),
                fmt(med(s, "transferred_bytes"), 1 / 2**20, 0),
                fmt(med(s, "wire_bytes"), 1 / 2**20, 0),
                fmt(cpu, 1, 2), fmt(per_gib(cpu), 1, 2),
                fmt(lib, 1, 2), fmt(per_gib(lib), 1, 2),
                fmt(med(s, "gbps"), 1, 2)), file=f)
        if not g["comparison"]:
            continue
        print("  toyvmm / QEMU (medians)   %-22s %6s %6s %6s %6s %11s"
              % ("peer", "total", "down", "bytes", "cpu",
                 "rate/iperf"), file=f)
        for name, e in g["comparison"].items():
            print("  %-25s %-22s %6s %6s %6s %6s %5s/%-5s" % (
                name, e["qemu_peer"], fmt(e["ratio_total_time_ms"], 1, 2),
                fmt(e["ratio_downtime_ms"], 1, 3),
                fmt(e["ratio_bytes"], 1, 2),
                fmt(e["ratio_source_cpu_s"], 1, 2),
                fmt(e["toyvmm_rate_over_iperf"], 1, 2),
                fmt(e["qemu_rate_over_iperf"], 1, 2)), file=f)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--toyvmm", required=True, help="toyvmm executable")
    ap.add_argument("--random-file", help="QEMU source RAM, random bytes")
    ap.add_argument("--mix-file", help="QEMU source RAM, toyvmm's mix")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--mix-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--channels", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--mix-channels", type=int, default=2)
    ap.add_argument("--no-zstd-too", action="store_true",
                    help="incompressible: toyvmm --compression none too")
    ap.add_argument("--links", nargs="*", default=["1g", "10g"])
    for opt in ("--ns-src", "--ns-dst", "--src-dev", "--dst-dev",
                "--dst-addr"):
        ap.add_argument(opt)  # the shaped links' namespaces (run.sh)
    ap.add_argument("--sparse-gib", type=int, default=64,
                    help="0: skip the sparse case")
    ap.add_argument("--sparse-repeat", type=int, default=1)
    ap.add_argument("--sparse-timeout-s", type=int, default=60)
    ap.add_argument("--only", nargs="+",
                    choices=("incompressible", "mix", "sparse"),
                    default=["incompressible", "mix", "sparse"])
    ap.add_argument("--downtime-ms", type=int, default=300,
                    help="downtime limit for both (QEMU's and libvmmig's "
                         "default: 300)")
    ap.add_argument("--timeout-s", type=int, default=300)
    ap.add_argument("--shm", default="/dev/shm")
    ap.add_argument("--out")
    a = ap.parse_args()
    groups = []
    if "incompressible" in a.only:
        groups.append(incompressible_group(a))
    if "mix" in a.only:
        groups += [mix_group(a, link) for link in a.links]
    if "sparse" in a.only and a.sparse_gib:
        groups.append(sparse_group(a))
    t0 = time.monotonic()
    docs = []
    with tempfile.TemporaryDirectory(prefix="vmmig-vsqemu-") as work:
        cfg = {"workdir": work, "shm": a.shm, "size_mib": a.size_mib,
               "toyvmm": a.toyvmm, "downtime_ms": a.downtime_ms,
               "timeout_s": a.timeout_s}
        for g in groups:
            if g["link"]:
                set_link(a, g["link"])
            res = {n: {"kind": k, "params": {x: y for x, y in p.items()
                                             if x != "net"}, "runs": []}
                   for n, k, p in g["variants"]}
            # Repeats interleave the variants, so that drift in the
            # machine's load spreads over all of them instead of one.
            for rep in range(g["repeat"]):
                for n, k, p in g["variants"]:
                    tag = "%s-%s-%d" % (g["name"], n.replace("/", "_"), rep)
                    r = run_one(cfg, k, p, tag)
                    res[n]["runs"].append(r)
                    print("[%5.0fs] %-18s %-24s run %d: %s" % (
                        time.monotonic() - t0, g["name"], n, rep + 1,
                        ("%s Gbit/s" % r.get("gbps") if k == "iperf" else
                         "total %s ms, downtime %s ms, %s MiB" % (
                             r.get("total_time_ms"), r.get("downtime_ms"),
                             fmt(r.get("transferred_bytes"), 1 / 2**20, 0)))
                        if r.get("ok") else "FAILED %s" % r.get("error", r)),
                        file=sys.stderr, flush=True)
            for v in res.values():
                v["summary"] = summarize(v["runs"])
            keep = os.environ.get("VSQ_KEEP_LOGS")
            if keep:  # the runs' logs, e.g. for --verbose's zstd decisions
                shutil.copytree(work, keep, dirs_exist_ok=True)
            docs.append({"name": g["name"], "link": g["link"],
                         "repeat": g["repeat"], "variants": res,
                         "comparison": compare(g, res)})
    doc = {"benchmark": "vs-qemu", "size_mib": a.size_mib,
           "mix_mib": a.mix_mib, "downtime_limit_ms": a.downtime_ms,
           "qemu_accel": qemu_run.accel(),
           "loadavg_end": open("/proc/loadavg").read().split()[:3],
           "elapsed_s": round(time.monotonic() - t0, 1), "groups": docs}
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    table(doc, sys.stderr)
    failed = sum(v["summary"]["runs"] - v["summary"]["runs_ok"]
                 for g in docs for v in g["variants"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
