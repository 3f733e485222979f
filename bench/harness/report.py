"""Tables of results, one per scenario, as Markdown (printed and written to RESULTS.md)."""
import os
import platform
import subprocess
from dataclasses import dataclass
from typing import Optional

from harness.measure import Measured


@dataclass
class Row:
    contender: str
    skipped: Optional[str] = None      # why it did not run
    measured: Optional[Measured] = None
    bound: float = 0.0
    sent: int = 0                       # requests the mock received, retries included
    answered: int = 0                   # requests the mock answered 200
    limited: int = 0                    # answered 429 by the mock's rate limit
    injected_429: int = 0               # 429s the fault injection sent
    answers_ok: bool = False
    present: int = 0
    n: int = 0
    capped: bool = False                # stopped early on purpose (process pool)
    error: Optional[str] = None         # what went wrong around the run (the mock died)
    floor: float = 0.0                  # the bound raised by the hinted 429s (hinted_floor)
    protocols: Optional[dict] = None    # over TLS: requests per negotiated protocol
    connections: int = 0                # over TLS: connections the front saw


HEADER = ("| contender | makespan s | bound s | ratio | sent | 429 | answers | CPU s "
          "| CPU/answer ms | peak RSS MB | time vs cg | CPU vs cg | RSS vs cg |")
RULE = "|" + "---|" * 13
# Scenarios whose faults name waits get the hinted floor and the ratio against it.
FLOOR_HEADER = HEADER.replace("| ratio |", "| ratio | floor s | vs floor |")


def _cpu_per_answer(row):
    """CPU milliseconds per request the mock answered 200: the work that got somewhere."""
    return row.measured.cpu / max(row.answered, 1) * 1000


def _ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def _makespan(row):
    m = row.measured
    if m.timed_out:
        return "timeout >%.0f" % m.wall, None
    if row.capped and 0 < row.present < row.n:
        projected = m.wall * row.n / row.present
        return "%.1f (capped; ~%.0f projected)" % (m.wall, projected), projected
    return "%.2f" % m.wall, m.wall


def _hinted(scenario):
    return "429" in scenario.faults


def table(scenario, rows, baseline_name, done=()):
    """One scenario's table; `done`: the [(scenario, rows)] measured before it, where a TLS
    scenario finds its plain-HTTP twin for the CPU comparison."""
    base = next((r for r in rows if r.contender == baseline_name and r.measured
                 and not r.measured.timed_out), None)
    hinted = _hinted(scenario)
    lines = ["### %s: N=%d, concurrency %d, latency %d ms%s" % (
        scenario.name, scenario.n, scenario.concurrency, scenario.latency_ms, _limits(scenario)),
        "", FLOOR_HEADER if hinted else HEADER, RULE + ("---|---|" if hinted else "")]
    skipped = []
    for r in rows:
        if r.skipped:
            skipped.append("- %s: skipped, %s" % (r.contender, r.skipped))
            continue
        if r.error:
            skipped.append("- %s: %s" % (r.contender, r.error))
        m = r.measured
        span_text, span = _makespan(r)
        answers = "yes" if r.answers_ok else "no (%d/%d)" % (r.present, r.n)
        cpu_req = _cpu_per_answer(r)
        rss = m.peak_rss_kb / 1024
        vs = ("-", "-", "-")
        if base and r is not base:
            bm = base.measured
            vs = (_ratio(span, bm.wall), _ratio(cpu_req, _cpu_per_answer(base)),
                  _ratio(rss, bm.peak_rss_kb / 1024))
        limited = "%d" % r.limited + (" (+%d injected)" % r.injected_429 if r.injected_429 else "")
        ratio = _ratio(span, r.bound) if span else "-"
        if hinted:
            floor = r.floor or r.bound
            ratio += " | %.2f | %s" % (floor, _ratio(span, floor) if span else "-")
        lines.append("| %s | %s | %.2f | %s | %d | %s | %s | %.2f | %.3f | %.1f | %s | %s | %s |" % (
            r.contender, span_text, r.bound, ratio, r.sent,
            limited, answers, m.cpu, cpu_req, rss, *vs))
    notes = _tls_notes(scenario, rows, done) if scenario.tls else []
    return "\n".join(lines + [""] + notes + skipped + [""])


def _tls_notes(scenario, rows, done):
    """Per contender: CPU per answer through TLS against the same scenario in plain HTTP
    (when it ran in this run), and the protocol it negotiated."""
    plain = next((r for sc, r in done if sc.name == scenario.name[:-len("-tls")]), [])
    plain_cpu = {r.contender: _cpu_per_answer(r) for r in plain if r.measured and r.answered}
    notes = []
    for r in rows:
        if r.skipped or not r.measured:
            continue
        cpu = _cpu_per_answer(r)
        vs = ("%.3f ms plain, TLS costs %.2f ×" % (plain_cpu[r.contender], cpu / plain_cpu[r.contender])
              if r.contender in plain_cpu and plain_cpu[r.contender] else "no plain-HTTP figure in this run")
        protos = ", ".join("%s %d" % kv for kv in sorted((r.protocols or {}).items())) or "none logged"
        notes.append("- %s: CPU/answer %.3f ms through TLS (%s); %s on %d connection%s" % (
            r.contender, cpu, vs, protos, r.connections, "" if r.connections == 1 else "s"))
    return notes + [""] if notes else []


def _limits(s):
    parts = []
    if s.server_rps and getattr(s, "server", "mock") == "gateway":
        parts.append("nginx limit_req %g req/s burst %d" % (s.server_rps, s.server_burst))
        if s.client_rps != s.server_rps:
            parts.append("clients told %g req/s" % s.client_rps)
    elif s.server_rps:
        parts.append("server %g req/s" % s.server_rps)
        if s.client_rps != s.server_rps:
            parts.append("clients told %g req/s" % s.client_rps)
    if s.server_tps:
        parts.append("%g tokens/min" % (s.server_tps * 60))
    if s.faults:
        parts.append("faults %s" % s.faults)
    if getattr(s, "tls", False):
        parts.append("https through nginx (self-signed CA, HTTP/2 offered)")
    return (", " + ", ".join(parts)) if parts else ", no rate limit"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return "%s, %d CPUs (nproc), %.1f GiB memory, %s %s" % (
        model, os.cpu_count(), mem_gb, platform.system(), platform.release())


def versions():
    def first(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "n/a"
    return ", ".join([first(["lua5.4", "-v"]).split("  ")[0], first(["curl", "--version"]).split(" (")[0],
                      "Python " + platform.python_version(), "node " + first(["node", "--version"])])


def document(meta, done, baseline):
    """The whole RESULTS.md: how it was measured, then one table per scenario."""
    head = """# Benchmark results

- Date: {date}
- Command: `{command}`{mode}
- Machine: {machine}
- Software: {software}
- Mock: {mock}, a fresh process for every run (every contender meets the same fault
  sequence and a full rate bucket); answers {answers}. Its CPU is not counted.
- Gateway (the tables that name nginx limit_req): real nginx with `limit_req` (a leaky
  bucket with the burst shown, `nodelay`) in front of a fixed Gemini answer, a fresh
  instance for every run; the clients are not told its burst. Its answers quote request
  ids, not prompts, so "answers" there checks presence and count only.

How to read the tables:
- makespan: the contender's wall time from start to exit, process start-up included.
- bound: `max(N/R, T/TR, ceil(N/C)*L)`, with R the server's request rate, T the token
  estimates (prompt characters / 4 + output budget) over TR the server's token rate, C the
  concurrency and L the server latency. The server's bucket starts full (one second's
  worth), so a run can end slightly under it.
- floor (tables whose faults include 429s that name a wait): the bound no client that
  honours the wait can beat. The mock's faults follow arrival order from a fixed seed, the
  same for every contender, and it reports at which arrival k each hinted 429 went out and
  the wait H it named. The k-th request cannot arrive before `floor((k-1)/C)*L`, so that
  429 ends no sooner than `(floor((k-1)/C)+1)*L + H + L` (its answer, the wait, the
  retry); the floor is the largest of these and the bound. "vs floor" divides the makespan
  by it: a 1 s wait landing near the end of a 1.6 s run costs a second whoever the client.
  Each contender meets its own arrivals (its retries count), so floors differ a little; a
  client that does not retry can end under its floor, with answers missing.
- TLS tables (https through nginx with a certificate made by openssl at bench time, each
  contender trusting its CA through its own option): the lines under the table give each
  contender's CPU per answer through TLS next to its plain-HTTP figure from the same run,
  and the protocol and connections nginx logged for it (HTTP/2 where the client asked for
  it). nginx's CPU, like the mock's, is not counted.
- sent: requests the mock received, retries included. 429: the mock's rate-limit answers
  (injected faults shown apart).
- answers: "yes" when every answer is present and in submission order (the mock quotes
  each prompt's unique first line; line k must hold request k's).
- CPU: user + system seconds of the contender and the processes it reaped (wait4), per
  request the mock answered 200 in "CPU/answer". Peak RSS: the contender's largest
  process (GNU time), or for the process pool the sampled sum of its processes.
- "vs cg": divided by coursegen (Lua API) in the same scenario.
- A capped run (the process pool, slow by design) shows the makespan projected for all N
  from the share it finished; a timeout shows the cap it hit.
- The contenders of one table run one after the other on the same machine, so compare
  within a table; on a busy machine the absolute figures move from run to run.

""".format(mode=" (quick mode: smaller N)" if meta.get("quick") else "", **meta)
    return head + "\n".join(table(sc, rows, baseline, done[:i]) for i, (sc, rows) in enumerate(done))
