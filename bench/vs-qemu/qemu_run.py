# SPDX-License-Identifier: MIT
"""One QEMU-to-QEMU migration of a paused guest over TCP (loopback, or
between the two network namespaces of the shaped-link cases).

The source's RAM is a memory-backend-file on a tmpfs file filled with
incompressible data beforehand; the destination gets a fresh tmpfs file,
with or without prealloc=on. The destination starts with -incoming defer so
that capabilities (multifd) can be set before migrate-incoming.
"""
import os
import random
import time

import procs
from qmp import QMP

# QEMU 7.2 caps migration at 32 MiB/s unless told otherwise; 20 GB/s is far
# above what loopback carries here, so it never limits.
MAX_BANDWIDTH = 20 * 10**9
# A running source guest gets this long to get past its firmware first.
RUNNING_S = 2.0


def accel():
    """kvm where /dev/kvm opens, else tcg. The guest stays paused (-S), so
    this changes QEMU's startup, not how fast it migrates."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return "kvm"
    except OSError:
        return "tcg"


def qemu_args(memfile, size_mib, prealloc, qmp_path, incoming):
    obj = ("memory-backend-file,id=mem0,size=%dM,mem-path=%s,share=on"
           % (size_mib, memfile))
    if prealloc:
        obj += ",prealloc=on"
    args = ["qemu-system-x86_64", "-machine", "q35,memory-backend=mem0",
            "-m", "%dM" % size_mib, "-object", obj, "-accel", accel(), "-S", "-nographic",
            "-nodefaults", "-qmp", "unix:%s,server=on,wait=off" % qmp_path]
    if incoming:
        args += ["-incoming", "defer"]
    return args


# QEMU 7.2 sets the status to completed before it computes the figures
# (migration_completion(), then migration_calculate_complete()): a reply in
# between reads "completed" with total-time 0. Ask again for this long.
FIGURES_WAIT_S = 5.0


def poll_status(qmp, timeout_s, need_total=True):
    """query-migrate until a final status; returns the last reply. With
    need_total (the source), a completed reply must carry its total-time:
    asked again until it does or FIGURES_WAIT_S pass (then the caller finds
    it missing and does not count the run)."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = qmp.execute("query-migrate")
        if info.get("status") in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("migration still %s" % info.get("status"))
        time.sleep(0.02)
    wait_until = time.monotonic() + FIGURES_WAIT_S
    while (need_total and info.get("status") == "completed" and
           not info.get("total-time") and time.monotonic() < wait_until):
        time.sleep(0.02)
        info = qmp.execute("query-migrate")
    return info


def figures_missing(res):
    """Why a completed run's figures cannot be counted, or None: a total
    time of 0 or nothing transferred is an empty reply, not a result."""
    if not res.get("total_time_ms"):
        return "completed without a total time (%r)" % res.get("total_time_ms")
    if not res.get("transferred_bytes"):
        return "completed with nothing transferred"
    return None


def spot_check(src_file, dst_file, size, pages=256):
    """Compare `pages` random 4 KiB pages of the two RAM files (a full
    hash of 2 GiB would cost more than the migration)."""
    rng = random.Random(size)
    with open(src_file, "rb") as a, open(dst_file, "rb") as b:
        for _ in range(pages):
            off = rng.randrange(size // 4096) * 4096
            a.seek(off)
            b.seek(off)
            if a.read(4096) != b.read(4096):
                return False
    return True


def run(cfg, p, tag):
    """p: mode ("precopy" or "multifd"), channels (multifd), compression
    (multifd: "none" or "zstd"), prealloc, src_file (RAM file already
    filled), running (`cont` the source guest RUNNING_S before migrating),
    net (the case's namespaces and address, see compare.py). Returns a
    dict of figures."""
    work, size_mib = cfg["workdir"], p.get("mem_mib", cfg["size_mib"])
    mode, net = p["mode"], p.get("net") or {}
    src_qmp = os.path.join(work, "%s-src.qmp" % tag)
    dst_qmp = os.path.join(work, "%s-dst.qmp" % tag)
    dst_file = os.path.join(cfg["shm"], "vmmig-bench-%s-dst.ram" % tag)
    for f in (src_qmp, dst_qmp, dst_file):
        if os.path.exists(f):
            os.unlink(f)
    open(dst_file, "wb").close()
    src = dst = qs = qd = None
    res = {"ok": False}
    try:
        t0 = time.monotonic()
        dst = procs.spawn(procs.in_netns(net.get("dst_ns"), qemu_args(
            dst_file, size_mib, p.get("prealloc"), dst_qmp, True)),
            os.path.join(work, tag + "-dst.log"))
        src = procs.spawn(procs.in_netns(net.get("src_ns"), qemu_args(
            p["src_file"], size_mib, False, src_qmp, False)),
            os.path.join(work, tag + "-src.log"))
        # prealloc=on touches all of the destination's memory before QMP
        # comes up; that time is setup, not migration.
        qd = QMP.connect(dst_qmp, wait_s=120)
        qs = QMP.connect(src_qmp, wait_s=60)
        res["dest_startup_s"] = round(time.monotonic() - t0, 3)
        caps = [{"capability": "multifd", "state": mode == "multifd"}]
        for q in (qs, qd):
            q.execute("migrate-set-capabilities", capabilities=caps)
            if mode == "multifd":
                q.execute("migrate-set-parameters",
                          **{"multifd-channels": p["channels"],
                             "multifd-compression":
                                 p.get("compression", "none")})
        qs.execute("migrate-set-parameters",
                   **{"max-bandwidth": MAX_BANDWIDTH,
                      "downtime-limit": cfg["downtime_ms"]})
        if net.get("dst_ns"):
            # A fresh namespace: nothing else listens there.
            port = random.randrange(20000, 60000)
        else:
            port = procs.free_port()
        uri = "tcp:%s:%d" % (net.get("dst_addr", "127.0.0.1"), port)
        qd.execute("migrate-incoming", uri=uri)
        if p.get("running"):
            qs.execute("cont")
            time.sleep(RUNNING_S)
            res["source_run_state"] = qs.execute("query-status").get("status")
        cpu_s0, cpu_d0 = procs.cpu_split(src.pid), procs.cpu_split(dst.pid)
        wire0 = procs.wire_bytes(net)
        w0 = time.monotonic()
        qs.execute("migrate", uri=uri)
        info = poll_status(qs, cfg["timeout_s"])
        dinfo = poll_status(qd, cfg["timeout_s"], need_total=False)
        wall = time.monotonic() - w0
        cpu_s1, cpu_d1 = procs.cpu_split(src.pid), procs.cpu_split(dst.pid)
        wire1 = procs.wire_bytes(net)
        ram = info.get("ram", {})
        res.update({
            "ok": info["status"] == "completed" and
                  dinfo["status"] == "completed",
            "status": info["status"], "dest_status": dinfo["status"],
            "dest_run_state": qd.execute("query-status").get("status"),
            "total_time_ms": info.get("total-time"),
            "downtime_ms": info.get("downtime"),
            "setup_time_ms": info.get("setup-time"),
            "transferred_bytes": ram.get("transferred"),
            "wire_bytes": None if wire0 is None else wire1 - wire0,
            "normal_pages": ram.get("normal"),
            "zero_pages": ram.get("duplicate"),
            "mbps": ram.get("mbps"),
            "wall_ms": round(wall * 1000, 1),
            # QEMU's vCPU threads are unnamed (lib == process) and its
            # guest is paused: the same split as toyvmm's all the same.
            "source_cpu_s": procs.cpu_delta(cpu_s0, cpu_s1, False),
            "source_lib_cpu_s": procs.cpu_delta(cpu_s0, cpu_s1, True),
            "dest_cpu_s": procs.cpu_delta(cpu_d0, cpu_d1, False),
            "dest_lib_cpu_s": procs.cpu_delta(cpu_d0, cpu_d1, True),
        })
        why = figures_missing(res) if res["ok"] else None
        if why:
            res["ok"] = False
            res["error"] = why
        if res["ok"]:
            res["spot_check"] = spot_check(p["src_file"], dst_file,
                                           size_mib << 20)
            res["ok"] = res["spot_check"]
    except Exception as e:  # one failed run must not end the benchmark
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        for q in (qs, qd):
            if q:
                try:
                    q.execute("quit")
                except Exception:
                    pass
                q.close()
        procs.stop(src)
        procs.stop(dst)
        for f in (src_qmp, dst_qmp, dst_file):
            if os.path.exists(f):
                os.unlink(f)
    return res
