# SPDX-License-Identifier: MIT
"""Process helpers for the QEMU comparison: CPU time from /proc (the whole
process, and its guest vCPU threads apart), what the main thread is doing,
free TCP ports, bounded waits and clean kills."""
import os
import signal
import socket
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")
# x86-64 syscall numbers of the sleeps toyvmm's sleep_ms() ends up in.
SLEEP_SYSCALLS = {35, 230}  # nanosleep, clock_nanosleep


def _stat_cpu(path):
    """user + sys of a /proc/.../stat file, in seconds, and its comm."""
    with open(path) as f:
        text = f.read()
    # comm (field 2) may hold spaces: split after its closing paren.
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICK, comm


def cpu_seconds(pid):
    """user + sys of the whole process (all threads) so far, in seconds."""
    return _stat_cpu("/proc/%d/stat" % pid)[0]


def is_vcpu_thread(comm):
    """A guest vCPU thread by its name: toyvmm names them vcpuN; QEMU's
    are "CPU N/KVM" (or /TCG) where thread names are on (-name
    debug-threads=on; without it QEMU's are all unnamed, and its guest
    is paused by -S anyway)."""
    return comm.startswith("vcpu") or (comm.startswith("CPU ") and "/" in comm)


def cpu_split(pid):
    """(process CPU, CPU of its live vCPU threads), in seconds, from
    /proc/PID/stat and /proc/PID/task/*/stat read together. Process minus
    vCPU threads is what the VMM and the library spent: toyvmm's idle KVM
    guest exits to the VMM every 500 us, and that is guest cost, which
    QEMU's paused guest (-S) does not have. A thread that exits between
    two samples leaves its time in the process's figure only."""
    total = cpu_seconds(pid)
    vcpu = 0.0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        tids = []
    for tid in tids:
        try:
            cpu, comm = _stat_cpu("/proc/%d/task/%s/stat" % (pid, tid))
        except (OSError, ValueError):
            continue  # the thread just exited
        if is_vcpu_thread(comm):
            vcpu += cpu
    return total, vcpu


def cpu_delta(a, b, lib):
    """CPU between two cpu_split() samples: the process's, or (lib) the
    process's minus its vCPU threads'. None without the second sample."""
    if b is None:
        return None
    if lib:
        return round((b[0] - b[1]) - (a[0] - a[1]), 3)
    return round(b[0] - a[0], 3)


def main_thread_sleeping(pid):
    """True while the main thread sits in nanosleep/clock_nanosleep.

    toyvmm sleeps on its main thread exactly where the benchmark wants a
    CPU sample: in --warmup (source set up, migration not started) and in
    --run-after (migration over, process not yet tearing down)."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, pid)) as f:
            first = f.read().split(None, 1)[0]
    except (OSError, IndexError):
        return False
    return first.isdigit() and int(first) in SLEEP_SYSCALLS


def wait_until(pred, timeout_s, step_s=0.01):
    """Poll pred() until it is true or timeout_s passes; returns pred()."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step_s)
    return pred()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, grace_s=5.0):
    """End a child we started: SIGTERM, then SIGKILL after grace_s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn(args, log_path):
    """Start a child with stdout+stderr into log_path."""
    log = open(log_path, "w")
    try:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def in_netns(ns, args):
    """args run inside network namespace ns (None: this one). `ip netns
    exec` execs the command, so the child's pid is the program's own."""
    return ["ip", "netns", "exec", ns] + args if ns else args


def wire_bytes(net):
    """Bytes the source side's veth has sent so far (None off the shaped
    link): what crossed the wire, headers included."""
    if not net or not net.get("src_ns"):
        return None
    out = subprocess.run(in_netns(net["src_ns"], [
        "cat", "/sys/class/net/%s/statistics/tx_bytes" % net["src_dev"]]),
        capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def rss_mib(pid):
    """Resident memory of a process, MiB (None once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def mem_available_gib():
    """MemAvailable of the host, GiB: a guard for guests that populate
    memory for as long as their migration runs (the sparse case)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")
