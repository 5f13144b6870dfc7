# SPDX-License-Identifier: MIT
"""One toyvmm-to-toyvmm migration over TCP (loopback, or between the two
network namespaces of the shaped-link cases).

CPU per side is the process's user+sys between two samples taken while its
main thread sleeps: the source in --warmup (memory filled, guest running,
migration not started) and after the migration in --run-after; the
destination once it has published its address (prefault done) and after
the migration in --run-after. So neither the fill, the prefault nor the
teardown counts, the same as for QEMU, whose samples bracket `migrate`.
Each sample also reads the vCPU threads' CPU (procs.cpu_split()): the
"library" CPU is the process's minus theirs, the VMM's and libvmmig's
work without the running guest's.
"""
import json
import os
import time

import procs

WARMUP_MS = 1000    # source: window for the "before" sample
RUN_AFTER_MS = 600  # both: window for the "after" sample
MIN_AVAIL_GIB = 3.0  # stop a run before the host runs out of memory


class LowMemory(Exception):
    pass


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sample_when_sleeping(plist, timeout_s, settle_s=0.05):
    """(process CPU, vCPU threads' CPU) in seconds (procs.cpu_split()) of
    each process in plist, each taken while its main
    thread sleeps twice in a row settle_s apart (a lone short sleep, e.g.
    toyvmm's 20 ms TSC calibration, does not qualify). All are polled
    together so that no sleep window is missed. None where a process exits
    or the time runs out first."""
    out = [None] * len(plist)
    seen = [None] * len(plist)  # when its main thread was first seen asleep
    deadline = time.monotonic() + timeout_s
    next_mem_check = 0.0
    while time.monotonic() < deadline and None in out:
        now = time.monotonic()
        if now >= next_mem_check:
            if procs.mem_available_gib() < MIN_AVAIL_GIB:
                raise LowMemory("host below %.0f GiB available" %
                                MIN_AVAIL_GIB)
            next_mem_check = now + 0.5
        for i, p in enumerate(plist):
            if out[i] is not None or p.poll() is not None:
                continue
            if not procs.main_thread_sleeping(p.pid):
                seen[i] = None
            elif seen[i] is None:
                seen[i] = now
            elif now - seen[i] >= settle_s:
                out[i] = procs.cpu_split(p.pid)
        if all(o is not None or p.poll() is not None
               for o, p in zip(out, plist)):
            break
        time.sleep(0.005)
    return out


def run(cfg, p, tag):
    """p: channels, prefault, verify, and optionally fill (random),
    compression ("none" or "zstd"; None: the library's default),
    recv_direct (None: the library's default), mem_mib, backend, workload,
    net (the case's namespaces and address, see compare.py)."""
    work, bin_ = cfg["workdir"], cfg["toyvmm"]
    uri_file = os.path.join(work, tag + ".uri")
    sjson = os.path.join(work, tag + "-src.json")
    djson = os.path.join(work, tag + "-dst.json")
    for f in (uri_file, sjson, djson):
        if os.path.exists(f):
            os.unlink(f)
    net = p.get("net") or {}
    host = net.get("dst_addr", "127.0.0.1")
    mem = "%dM" % p.get("mem_mib", cfg["size_mib"])
    backend = ["--backend", p["backend"]] if p.get("backend") else []
    dargs = procs.in_netns(net.get("dst_ns"), [
        bin_, "dest", "--listen", "tcp:%s:0" % host, "--mem", mem,
        "--uri-file", uri_file, "--json", djson, "--no-progress",
        "--run-after", str(RUN_AFTER_MS)] + backend)
    if p.get("recv_direct") is not None:
        dargs += ["--recv-direct", "1" if p["recv_direct"] else "0"]
    if p.get("prefault"):
        dargs.append("--prefault")
    src = dst = None
    res = {"ok": False}
    try:
        t0 = time.monotonic()
        dst = procs.spawn(dargs, os.path.join(work, tag + "-dst.log"))
        if not procs.wait_until(lambda: os.path.exists(uri_file) or
                                dst.poll() is not None, 120):
            raise TimeoutError("destination did not publish its address")
        if dst.poll() is not None:
            raise RuntimeError("destination exited with %d" % dst.returncode)
        cpu_d0 = procs.cpu_split(dst.pid)
        res["dest_startup_s"] = round(time.monotonic() - t0, 3)
        with open(uri_file) as f:
            uri = f.read().strip()
        sargs = procs.in_netns(net.get("src_ns"), [
            bin_, "source", "--connect", uri, "--mem", mem,
            "--fill", p.get("fill", "random"),
            "--workload", p.get("workload", "idle"),
            "--channels", str(p["channels"]), "--json", sjson,
            "--no-progress", "--downtime-ms", str(cfg["downtime_ms"]),
            "--warmup", str(WARMUP_MS), "--run-after", str(RUN_AFTER_MS)]
            + backend)
        if not p.get("verify"):
            sargs.append("--no-verify")
        if p.get("compression"):  # else the library's default
            sargs += ["--compression", p["compression"]]
        # For looking into a run (e.g. --verbose's zstd log), not figures.
        sargs += os.environ.get("VSQ_TOYVMM_SOURCE_ARGS", "").split()
        src = procs.spawn(sargs, os.path.join(work, tag + "-src.log"))
        cpu_s0 = sample_when_sleeping([src], 300)[0]
        if cpu_s0 is None:
            raise RuntimeError("source never reached its warmup")
        wire0 = procs.wire_bytes(net)
        # The source leaves warmup by itself; wait for it to do so, then for
        # the post-migration sleep of both sides.
        procs.wait_until(lambda: not procs.main_thread_sleeping(src.pid),
                         WARMUP_MS / 1000 + 5)
        limit = p.get("timeout_s", cfg["timeout_s"])
        cpu_s1, cpu_d1 = sample_when_sleeping([src, dst], limit)
        if cpu_s1 is None and src.poll() is None:
            res["rss_mib_at_stop"] = [procs.rss_mib(x.pid) for x in (src, dst)]
            raise TimeoutError("source not done after %d s" % limit)
        wire1 = procs.wire_bytes(net)
        src.wait(timeout=60)
        dst.wait(timeout=60)
        s, d = read_json(sjson), read_json(djson)
        if not s or not d:
            raise RuntimeError("no JSON report (exit %s/%s)" %
                               (src.returncode, dst.returncode))
        st = s["stats"]
        res.update({
            "ok": s["result"] == "completed" and d["result"] == "completed",
            "total_time_ms": st["total_time_ms"],
            "downtime_ms": st["downtime_ms"],
            "setup_time_ms": st["setup_time_ms"],
            "transferred_bytes": st["transferred_bytes"],
            "wire_bytes": None if wire0 is None or wire1 is None else
                wire1 - wire0,
            "normal_pages": st["pages"]["normal"],
            "zero_pages": st["pages"]["zero"],
            "mbps": st["mbps"],
            "verified": d["stats"].get("verified"),
            "heartbeat_continues": d["heartbeat_at_start"] ==
                s["heartbeat_at_pause"] and d["heartbeat_at_exit"] >
                d["heartbeat_at_start"],
            "source_cpu_s": procs.cpu_delta(cpu_s0, cpu_s1, False),
            "source_lib_cpu_s": procs.cpu_delta(cpu_s0, cpu_s1, True),
            "dest_cpu_s": procs.cpu_delta(cpu_d0, cpu_d1, False),
            "dest_lib_cpu_s": procs.cpu_delta(cpu_d0, cpu_d1, True),
        })
        if p.get("verify") and res["verified"] is not True:
            res["ok"] = False
    except Exception as e:  # one failed run must not end the benchmark
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        procs.stop(src)
        procs.stop(dst)
        for f in (uri_file, uri_file + ".tmp"):
            if os.path.exists(f):
                os.unlink(f)
    return res
