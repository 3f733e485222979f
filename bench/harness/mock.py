"""Starts the bundled mock LLM server as a separate process, and reads its statistics.

The mock runs as its own process so that its CPU never counts as the contenders', and a
fresh one serves each run: every contender then meets the same fault sequence (same seed)
and a full rate bucket. The command is `coursegen mock`; before that command existed the
same options went to `require "coursegen.mock".run{...}` from the tree. The environment
variable COURSEGEN_BENCH_MOCK may name another command that takes the same options.
"""
import json
import os
import shlex
import subprocess
import time
import urllib.request

from harness import server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli_help():
    try:
        out = subprocess.run([os.path.join(ROOT, "bin", "coursegen"), "mock", "--help"],
                             capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout + out.stderr if out.returncode == 0 else None


def _lua_module_present():
    return os.path.exists(os.path.join(ROOT, "lua", "coursegen", "mock.lua"))


def describe():
    """(kind, help text or None): which mock this run uses, or (None, reason)."""
    if os.environ.get("COURSEGEN_BENCH_MOCK"):
        return "env", None
    text = _cli_help()
    if text is not None:
        return "cli", text
    if _lua_module_present():
        return "lua", None
    return None, "no mock server: neither `coursegen mock` nor lua/coursegen/mock.lua works yet"


class Mock(server.Server):
    def __init__(self, kind, help_text, log_path, latency_ms, rpm=0, tpm=0, faults="",
                 seed=1, answer_words=None):
        opts = {"port": 0, "latency_ms": latency_ms, "seed": seed}
        if rpm:
            opts["rpm"] = rpm
        if tpm:
            opts["tpm"] = tpm
        if faults:
            opts["faults"] = faults
        if answer_words and (help_text is None or "answer-words" in help_text):
            opts["answer_words"] = answer_words
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(self._command(kind, opts), cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.url = self._wait_url()

    @staticmethod
    def _command(kind, opts):
        if kind == "lua":
            fields = ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in opts.items())
            code = ('package.path = "lua/?.lua;lua/?/init.lua;" .. package.path; '
                    'package.cpath = "build/?.so;" .. package.cpath; '
                    'require("coursegen.mock").run{ %s }' % fields)
            return ["lua5.4", "-e", code]
        prefix = (shlex.split(os.environ["COURSEGEN_BENCH_MOCK"]) if kind == "env"
                  else [os.path.join(ROOT, "bin", "coursegen"), "mock"])
        args = []
        for k, v in opts.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        return prefix + args

    def _wait_url(self):
        # The first stdout line is "listening on http://127.0.0.1:PORT"; 10 s at most.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as f:
                line = f.readline()
            if line.endswith("\n") and "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                if not url.startswith("http://127.0.0.1:"):
                    raise RuntimeError("mock is not on loopback: " + url)
                return url
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.close()
        with open(self.log_path, errors="replace") as f:
            raise RuntimeError("mock did not start: " + f.read()[-500:])

    def _call(self, method):
        req = urllib.request.Request(self.url + "/stats", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def stats(self):
        return self._call("GET")

    def reset_stats(self):
        self._call("DELETE")

    def log_tail(self):
        with open(self.log_path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-3:])[-300:]

    def close(self):
        server.stop(self.proc)
