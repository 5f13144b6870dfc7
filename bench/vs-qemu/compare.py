#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU 7.2 and toyvmm side by side (issue 3, "Benchmark"): migrate 1 GiB
of incompressible data with each, in one run, and print JSON (stdout and
--out) and a table (stderr). Normally started by run.sh, which installs
QEMU, builds toyvmm and writes the source's RAM file."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_run  # noqa: E402
import toyvmm_run  # noqa: E402

SETUPS = ("prealloc", "none")  # QEMU prealloc=on <-> toyvmm dest --prefault
FIGURES = ("total_time_ms", "downtime_ms", "transferred_bytes",
           "source_cpu_s", "dest_cpu_s")
TARGET_TOTAL_RATIO = 0.5
TARGET_DOWNTIME_MS = 5.0


def variants(only, extras_everywhere=False):
    """(name, kind, setup, params), in the order each repeat runs them."""
    out = []
    for setup in SETUPS:
        if only in (None, "qemu"):
            for mode in ("precopy", "multifd"):
                out.append(("qemu/%s/%s" % (mode, setup), "qemu", setup,
                            {"mode": mode}))
            # toyvmm's guest runs (idle) while it migrates; QEMU's peer
            # for downtime is a running guest too (its firmware, idling).
            if setup == "prealloc" or extras_everywhere:
                out.append(("qemu/precopy-running/%s" % setup, "qemu",
                            setup, {"mode": "precopy", "running": True}))
        if only in (None, "toyvmm"):
            # Staged receive (VMMIG_OPT_RECV_DIRECT=0), no memory hash: the
            # comparison proper (QEMU hashes nothing either).
            for ch in (1, 2):
                out.append(("toyvmm/%dch/%s" % (ch, setup), "toyvmm", setup,
                            {"channels": ch, "recv_direct": False,
                             "verify": False}))
            if setup != "prealloc" and not extras_everywhere:
                continue  # the extras below cost ~11 s more each on "none"
            # The library's default receive path, straight into guest memory.
            out.append(("toyvmm/1ch-direct/%s" % setup, "toyvmm", setup,
                        {"channels": 1, "recv_direct": True,
                         "verify": False}))
            # As the demo runs: the source hashes all memory at the pause
            # and the destination checks it before resuming (in downtime).
            out.append(("toyvmm/1ch-verify/%s" % setup, "toyvmm", setup,
                        {"channels": 1, "recv_direct": False,
                         "verify": True}))
    return out


def run_one(cfg, name, kind, setup, p, tag):
    if kind == "qemu":
        return qemu_run.run(cfg, p["mode"], setup == "prealloc", tag,
                            p.get("running", False))
    return toyvmm_run.run(cfg, p["channels"], setup == "prealloc",
                          p["recv_direct"], p["verify"], tag)


def summarize(runs):
    ok = [r for r in runs if r.get("ok")]
    s = {"runs_ok": len(ok), "runs": len(runs)}
    for k in FIGURES:
        vals = [r[k] for r in ok if r.get(k) is not None]
        s[k] = ({"best": min(vals), "median": statistics.median(vals)}
                if vals else None)
    return s


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def fig(summ, key, which="median"):
    v = summ.get(key)
    return v[which] if v else None


def compare(results):
    """Per setup: QEMU's better mode, and each toyvmm variant against it
    (targets) and against its peer (1 channel <-> precopy, 2 <-> multifd)."""
    out = {}
    for setup in SETUPS:
        q = {m: results.get("qemu/%s/%s" % (m, setup)) for m in
             ("precopy", "multifd")}
        q = {m: v["summary"] for m, v in q.items() if v}
        timed = {m: s for m, s in q.items() if fig(s, "total_time_ms")}
        if not timed:
            continue
        best_mode = min(timed, key=lambda m: fig(timed[m], "total_time_ms"))
        qb = timed[best_mode]
        entry = {"qemu_best_mode": best_mode,
                 "qemu_best_total_ms": fig(qb, "total_time_ms"),
                 "toyvmm": {}}
        run_q = results.get("qemu/precopy-running/%s" % setup)
        if run_q:
            entry["qemu_running_downtime_ms"] = fig(run_q["summary"],
                                                    "downtime_ms")
        for name, v in results.items():
            if not name.startswith("toyvmm/") or v["setup"] != setup:
                continue
            ts = v["summary"]
            peer = q.get("multifd" if v["params"]["channels"] > 1
                         else "precopy")
            med_total = fig(ts, "total_time_ms")
            med_down = fig(ts, "downtime_ms")
            e = {
                "total_ratio_to_qemu_best": ratio(
                    med_total, fig(qb, "total_time_ms")),
                "total_ratio_to_qemu_best_bestof": ratio(
                    fig(ts, "total_time_ms", "best"),
                    fig(qb, "total_time_ms", "best")),
                "target_total_met": med_total is not None and
                    med_total <= TARGET_TOTAL_RATIO *
                    fig(qb, "total_time_ms"),
                "downtime_ms": med_down,
                "target_downtime_met": med_down is not None and
                    med_down <= TARGET_DOWNTIME_MS,
            }
            if peer:
                e["peer"] = ("qemu/%s/%s" % ("multifd" if
                             v["params"]["channels"] > 1 else "precopy",
                             setup))
                for k in FIGURES:
                    e["ratio_%s" % k] = ratio(fig(ts, k), fig(peer, k))
            entry["toyvmm"][name] = e
        out[setup] = entry
    return out


def fmt(v, scale=1.0, digits=1):
    return "-" if v is None else "%.*f" % (digits, v * scale)


def table(results, comp, f):
    hdr = ("%-30s %5s %15s %15s %9s %13s %13s"
           % ("variant", "ok", "total ms b/m", "downtime ms b/m", "MiB",
              "src cpu s b/m", "dst cpu s b/m"))
    print(hdr, file=f)
    print("-" * len(hdr), file=f)
    for name, v in results.items():
        s = v["summary"]

        def bm(k, d=1):
            x = s.get(k)
            return "-" if not x else "%s/%s" % (fmt(x["best"], 1, d),
                                                fmt(x["median"], 1, d))
        mib = fig(s, "transferred_bytes")
        print("%-30s %2d/%-2d %15s %15s %9s %13s %13s"
              % (name, s["runs_ok"], s["runs"], bm("total_time_ms", 0),
                 bm("downtime_ms", 1), fmt(mib, 1 / 2**20, 0),
                 bm("source_cpu_s", 2), bm("dest_cpu_s", 2)), file=f)
    for setup, e in comp.items():
        print("\nsetup %s: QEMU best = %s (%s ms median); QEMU running "
              "guest's downtime %s ms; toyvmm / QEMU, medians:"
              % (setup, e["qemu_best_mode"],
                 fmt(e["qemu_best_total_ms"], 1, 0),
                 fmt(e.get("qemu_running_downtime_ms"), 1, 0)), file=f)
        print("  %-30s %9s %6s %12s %8s %8s %8s %8s" %
              ("variant", "total/best", "<=0.5", "downtime ms", "<=5ms",
               "src cpu", "dst cpu", "bytes"), file=f)
        for name, t in e["toyvmm"].items():
            print("  %-30s %9s %6s %12s %8s %8s %8s %8s" % (
                name, fmt(t["total_ratio_to_qemu_best"], 1, 2),
                "yes" if t["target_total_met"] else "NO",
                fmt(t["downtime_ms"], 1, 2),
                "yes" if t["target_downtime_met"] else "NO",
                fmt(t.get("ratio_source_cpu_s"), 1, 2),
                fmt(t.get("ratio_dest_cpu_s"), 1, 2),
                fmt(t.get("ratio_transferred_bytes"), 1, 3)), file=f)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--toyvmm", required=True, help="toyvmm executable")
    ap.add_argument("--src-file", required=True,
                    help="QEMU source RAM file (tmpfs), already filled")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("qemu", "toyvmm"))
    ap.add_argument("--downtime-ms", type=int, default=300,
                    help="downtime limit for both (QEMU's and libvmmig's "
                         "default: 300)")
    ap.add_argument("--channels-multifd", type=int, default=2)
    ap.add_argument("--timeout-s", type=int, default=180)
    ap.add_argument("--shm", default="/dev/shm")
    ap.add_argument("--extras-everywhere", action="store_true",
                    help="also run toyvmm's direct-receive and verified "
                         "variants without prealloc (slow)")
    ap.add_argument("--out")
    a = ap.parse_args()
    if os.path.getsize(a.src_file) != a.size_mib << 20:
        sys.exit("%s is not %d MiB" % (a.src_file, a.size_mib))
    with tempfile.TemporaryDirectory(prefix="vmmig-qemu-") as work:
        cfg = {"workdir": work, "shm": a.shm, "size_mib": a.size_mib,
               "src_file": a.src_file, "toyvmm": a.toyvmm,
               "downtime_ms": a.downtime_ms, "timeout_s": a.timeout_s,
               "channels_multifd": a.channels_multifd}
        vs = variants(a.only, a.extras_everywhere)
        results = {n: {"kind": k, "setup": s, "params": p, "runs": []}
                   for n, k, s, p in vs}
        t0 = time.monotonic()
        # Repeats interleave the variants, so that drift in the machine's
        # load spreads over all of them instead of hitting one.
        for rep in range(a.repeat):
            for n, k, s, p in vs:
                tag = "%s-%d" % (n.replace("/", "_"), rep)
                r = run_one(cfg, n, k, s, p, tag)
                results[n]["runs"].append(r)
                print("[%5.0fs] %-30s run %d: %s" % (
                    time.monotonic() - t0, n, rep + 1,
                    "total %s ms, downtime %s ms" % (
                        r.get("total_time_ms"), r.get("downtime_ms"))
                    if r.get("ok") else "FAILED %s" % r.get("error", r)),
                    file=sys.stderr, flush=True)
        for v in results.values():
            v["summary"] = summarize(v["runs"])
    comp = compare(results)
    doc = {"benchmark": "qemu-vs-toyvmm", "size_mib": a.size_mib,
           "repeat": a.repeat, "downtime_limit_ms": a.downtime_ms,
           "targets": {"total_ratio_max": TARGET_TOTAL_RATIO,
                       "downtime_ms_max": TARGET_DOWNTIME_MS},
           "elapsed_s": round(time.monotonic() - t0, 1),
           "variants": results, "comparison": comp}
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print("", file=sys.stderr)
    table(results, comp, sys.stderr)
    failed = sum(v["summary"]["runs"] - v["summary"]["runs_ok"]
                 for v in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
