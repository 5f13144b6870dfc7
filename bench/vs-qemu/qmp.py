# SPDX-License-Identifier: MIT
"""A minimal QMP client: one Unix socket, one command at a time.

Only what the benchmark needs: the greeting and qmp_capabilities handshake,
execute() that returns "return" or raises on "error", and skipping the
asynchronous events QEMU interleaves with replies (MIGRATION, STOP, ...).
"""
import json
import socket
import time


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.sock.connect(path)
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError("no QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    @classmethod
    def connect(cls, path, wait_s=20.0):
        """Connect once QEMU has created the socket (bounded wait)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return cls(path)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError("QEMU closed the QMP socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QMPError("%s: %s" % (cmd, reply["error"].get("desc")))
            return reply.get("return")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
