"""coursegen benchmark: each scenario against a fresh mock, each contender measured from
outside; prints one table per scenario and writes them all to RESULTS.md. The raw figures
go to results/latest.json too (or latest-quick.json), from which --report-from rewrites
the tables without running anything.

Usage: python3 bench/bench.py [--quick] [--only NAME,...] [--contenders TEXT,...]
                              [--results FILE] [--command TEXT] [--report-from JSON]
"""
import argparse
import dataclasses
import datetime
import json
import os
import signal
import sys
import tempfile

from harness import contenders as contenders_mod
from harness import gateway, measure, mock, report, tls, workload
from harness.scenarios import Scenario, scenarios

BENCH = contenders_mod.BENCH
BASELINE = contenders_mod.CoursegenApi.name
ANSWER_WORDS = 20    # short answers (when the mock can): the large scenario measures
                     # requests, not body sizes; maxOutputTokens caps them anyway


def run_timeout(bound, quick):
    """A run's wall-time cap: generous against the lower bound, yet bounded (a contender that
    stalls on 429s would otherwise hold the whole benchmark)."""
    if quick:
        return max(10.0, 2 * bound + 2)
    return max(60.0, min(10 * bound, bound + 120))


def run_one(c, sc, work, total_tokens, mock_kind, mock_help, quick):
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    tag = c.__class__.__name__.lower()
    answers = os.path.join(work, "answers-%s.txt" % tag)
    name = c.name
    if c.max_n and sc.n > c.max_n:
        # It runs the first max_n requests, with their own lower bound.
        sc, name = dataclasses.replace(sc, n=c.max_n), "%s (N=%d)" % (c.name, c.max_n)
    row = report.Row(contender=name, n=sc.n, bound=sc.lower_bound(total_tokens))
    c.prepare(sc, work)
    if sc.server == "gateway":
        server = gateway.Gateway(work, os.path.join(logs, "gateway-%s.log" % tag),
                                 sc.latency_ms, sc.server_rps, sc.server_burst)
    else:
        server = mock.Mock(mock_kind, mock_help, os.path.join(logs, "mock-%s.log" % tag),
                           latency_ms=sc.latency_ms, rpm=sc.server_rpm, tpm=sc.server_tpm,
                           faults=sc.faults, seed=1, answer_words=ANSWER_WORDS)
        if sc.tls:
            server = tls.TlsFront(work, os.path.join(logs, "tls-%s.log" % tag), server)
    with server as srv:
        srv.reset_stats()
        cmd = c.command(sc, work, srv.url, answers)
        timeout = run_timeout(row.bound, quick)
        if isinstance(c, contenders_mod.ProcessPool):
            timeout = c.max_seconds + 30
            row.capped = True
        row.measured = measure.run(cmd, os.path.join(logs, "%s.log" % tag), timeout,
                                   tree=c.tree, env=c.env(sc, work), cwd=contenders_mod.ROOT)
        try:
            stats = srv.stats()
        except OSError:
            stats = {}
            row.error = "the mock stopped during the run, its figures are missing: " + srv.log_tail()
        if sc.tls:
            row.protocols, row.connections = srv.protocols()
    c.collect(sc, work, answers)
    status = stats.get("status") or {}
    row.sent = int(stats.get("requests", 0))
    row.answered = int(status.get("200", 0))
    row.injected_429 = int((stats.get("faults") or {}).get("429", 0))
    row.limited = int(status.get("429", 0)) - row.injected_429
    row.floor = sc.hinted_floor(row.bound, stats.get("hinted_429") or [])
    row.answers_ok, row.present = workload.check_answers(
        answers, sc.n, gateway.ANSWER if sc.server == "gateway" else None)
    m = row.measured
    print("  %.2f s (bound %.2f), %d sent, %d answers in order of %d, CPU %.2f s, %.1f MB%s"
          % (m.wall, row.bound, row.sent, row.present, sc.n, m.cpu, m.peak_rss_kb / 1024,
             ", timeout" if m.timed_out else ""), flush=True)
    if m.exit_code != 0 and not m.timed_out:
        with open(os.path.join(logs, "%s.log" % tag), errors="replace") as f:
            tail = (f.read().strip().splitlines() or [""])[-1][-200:]
        print("  %s exited %d: %s" % (c.name, m.exit_code, tail), flush=True)
    return row


def run_all(a, meta, after_each):
    """Runs the chosen scenarios; returns [(scenario, rows)]. after_each(done) runs after
    every scenario, so that an interrupted run keeps what it measured."""
    mock_kind, mock_help = mock.describe()
    if mock_kind is None:
        raise SystemExit("bench: " + mock_help)
    meta["mock"] = {"cli": "`coursegen mock`", "lua": "the `coursegen.mock` module",
                    "env": "an external server"}[mock_kind]
    meta["answers"] = ("%d words" % ANSWER_WORDS
                       if mock_help is None or "answer-words" in mock_help
                       else "cut at %d output tokens (maxOutputTokens)" % workload.MAX_OUTPUT_TOKENS)
    chosen = [s for s in scenarios(a.quick) if not a.only or s.name in a.only.split(",")]
    pool = [c for c in contenders_mod.all_contenders(a.quick)
            if not a.contenders or any(p in c.name for p in a.contenders.split(","))]
    for c in pool:
        why = c.unavailable()
        if why:
            print("skip %s: %s" % (c.name, why), flush=True)
    done = []
    for sc in chosen:
        with tempfile.TemporaryDirectory(prefix="coursegen-bench-") as work:
            total_tokens = workload.write_requests(os.path.join(work, "requests.tsv"), sc)
            rows = []
            for c in pool:
                why = c.unavailable() or c.skip(sc, a.quick) or (
                    gateway.unavailable() if sc.server == "gateway" else None) or (
                    tls.unavailable() if sc.tls else None)
                if why:
                    rows.append(report.Row(contender=c.name, skipped=why))
                    continue
                print("%s: %s ..." % (sc.name, c.name), flush=True)
                rows.append(run_one(c, sc, work, total_tokens, mock_kind, mock_help, a.quick))
        print("\n" + report.table(sc, rows, BASELINE, done), flush=True)
        done.append((sc, rows))
        after_each(done)
    return done


def save_raw(path, meta, done):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"meta": meta, "scenarios": [
            {"scenario": dataclasses.asdict(sc), "rows": [dataclasses.asdict(r) for r in rows]}
            for sc, rows in done]}, f, indent=1)


def load_raw(path):
    with open(path) as f:
        doc = json.load(f)
    done = []
    for entry in doc["scenarios"]:
        rows = []
        for r in entry["rows"]:
            if r.get("measured"):
                r["measured"] = measure.Measured(**r["measured"])
            rows.append(report.Row(**r))
        done.append((Scenario(**entry["scenario"]), rows))
    return doc["meta"], done


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    # SIGTERM unwinds like Ctrl-C, so the running contender and its mock are stopped.
    signal.signal(signal.SIGTERM, _interrupted)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="scenario names, comma-separated")
    ap.add_argument("--contenders", default="", help="parts of contender names, comma-separated")
    ap.add_argument("--results", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--report-from", default="", help="raw JSON of an earlier run")
    a = ap.parse_args()

    def write(meta, done):
        with open(a.results, "w") as f:
            f.write(report.document(meta, done, BASELINE))

    if a.report_from:
        write(*load_raw(a.report_from))
    else:
        meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "command": a.command, "quick": a.quick, "machine": report.machine(),
                "software": report.versions()}
        raw = os.path.join(BENCH, "results", "latest%s.json" % ("-quick" if a.quick else ""))

        def after_each(done):
            save_raw(raw, meta, done)
            write(meta, done)
        run_all(a, meta, after_each)
    print("written: %s" % os.path.relpath(a.results, contenders_mod.ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
