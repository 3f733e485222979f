"""Starts the rate-limiting gateway (real nginx `limit_req` in front of a Gemini-shaped
answer, a server nobody here wrote) for one run, and reads its statistics in the mock's
shape. The gateway's script is named by COURSEGEN_BENCH_GATEWAY, or found at
shared/gateway/gateway.sh beside the checkout (or beside one of its parent directories,
so that a second working tree of the same checkout finds it too); without it the
scenarios that need it are skipped with the reason.
"""
import json
import os
import socket
import subprocess

from harness import server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script():
    path = os.environ.get("COURSEGEN_BENCH_GATEWAY")
    if path:
        return path if os.path.isfile(path) else None
    here = ROOT
    while os.path.dirname(here) != here:
        here = os.path.dirname(here)
        path = os.path.join(here, "shared", "gateway", "gateway.sh")
        if os.path.isfile(path):
            return path
    return None


def unavailable():
    """None, or why the gateway cannot run here."""
    if not script():
        return "no gateway script (set COURSEGEN_BENCH_GATEWAY to gateway.sh)"
    return None


def free_port():
    # The gateway takes a port number: ask the system for a free one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway(server.Server):
    def __init__(self, work, log_path, latency_ms, rps, burst):
        self.port = free_port()
        self.env = dict(os.environ, GW_DIR=os.path.join(work, "gw-%d" % self.port))
        self.log_path = log_path
        out = self._run("start", str(int(rps)), str(int(burst)), str(int(latency_ms)))
        with open(log_path, "w") as f:
            f.write(out)
        self.url = "http://127.0.0.1:%d" % self.port

    def _run(self, *args):
        r = subprocess.run(["bash", script(), args[0], str(self.port)] + list(args[1:]),
                           capture_output=True, text=True, timeout=120, env=self.env)
        if r.returncode != 0:
            raise RuntimeError("gateway %s failed: %s" % (args[0], (r.stderr or r.stdout)[-300:]))
        return r.stdout

    def stats(self):
        s = json.loads(self._run("stats"))
        status = {"200": s.get("s200", 0), "429": s.get("s429", 0)}
        return {"requests": s.get("requests", 0), "status": status, "faults": {}}

    def reset_stats(self):
        """A fresh gateway serves each run: nothing to reset."""

    def log_tail(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-300:]

    def close(self):
        try:
            self._run("stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


# How every answer of the gateway begins (it quotes request ids, not the prompt).
ANSWER = "reply to "
