"""Runs one contender and measures it from outside: wall time, CPU and peak memory.

CPU comes from wait4() on the contender's process: user + system time of it and of the
processes it started and reaped (a process pool's workers), never the mock's.

Peak RSS cannot come from the same wait4(): Linux carries a process's largest RSS across
fork and exec, so a contender started by this harness would report at least the harness's
own size. GNU time, itself small, starts the contender instead and reports its peak (%M);
without it, the high-water mark (VmHWM) is sampled every 50 ms. For a contender made of
several processes at once (the process pool) the sum of their RSS is sampled too and the
larger figure kept.
"""
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

SAMPLE_S = 0.05


@dataclass
class Measured:
    wall: float
    cpu: float          # user + system seconds, the contender and its reaped children
    peak_rss_kb: int
    exit_code: int
    timed_out: bool


def _status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(root):
    """root's descendants, from one pass over /proc (parent of each process)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        todo += kids
    return found


class _Sampler(threading.Thread):
    """Keeps the largest VmHWM of one process and the largest RSS sum of the tree."""

    def __init__(self, root, skip_root):
        super().__init__(daemon=True)
        self.root, self.skip_root = root, skip_root
        self.hwm_kb = self.tree_kb = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(SAMPLE_S):
            pids = _descendants(self.root) + ([] if self.skip_root else [self.root])
            self.tree_kb = max(self.tree_kb, sum(_status_kb(p, "VmRSS:") for p in pids))
            self.hwm_kb = max([self.hwm_kb] + [_status_kb(p, "VmHWM:") for p in pids])


def run(cmd, log_path, timeout, tree=False, env=None, cwd=None):
    """Runs cmd (a list) with its output in log_path; kills its process group after
    timeout seconds. tree: the contender runs several processes at once."""
    gnu_time = shutil.which("time")
    rss_file = log_path + ".rss"
    if gnu_time:
        cmd = [gnu_time, "-f", "%M", "-o", rss_file] + cmd
    with open(log_path, "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    sampler = _Sampler(proc.pid, skip_root=bool(gnu_time))
    sampler.start()
    killer = threading.Timer(timeout, _stop, (proc.pid, bool(gnu_time)))
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:       # interrupted: leave nothing running behind
        _kill_group(proc.pid)
        raise
    wall = time.monotonic() - start
    killer.cancel()
    sampler.stop.set()
    sampler.join()
    _kill_group(proc.pid)   # whatever is left (a pool worker orphaned by a kill) goes too
    peak = sampler.tree_kb if tree else sampler.hwm_kb
    try:
        with open(rss_file) as f:
            peak = max(peak, int(f.read().split()[-1]))
    except (OSError, ValueError, IndexError):
        pass
    return Measured(wall=wall, cpu=usage.ru_utime + usage.ru_stime, peak_rss_kb=peak,
                    exit_code=os.waitstatus_to_exitcode(status), timed_out=wall >= timeout)


def _stop(root, wrapped):
    """At the timeout: kills the contender; when GNU time wraps it, time itself is left to
    reap it, so that its CPU still reaches wait4(), and goes 2 s later if it lingers."""
    if not wrapped:
        _kill_group(root)
        return
    for pid in _descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    threading.Timer(2.0, _kill_group, (root,)).start()


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
