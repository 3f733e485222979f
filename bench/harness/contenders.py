"""The contenders: how each one is started for a scenario, when it is skipped and why, and
(for the two that write no answer file themselves) how their output becomes one.

Every client program under bench/contenders/ takes the same options:
  --url U --requests requests.tsv --out answers.txt --concurrency C --rpm R --tpm T
(and --ca-file PEM when the server is behind TLS; Node takes its CA from the environment)
and writes one line per request, in submission order: "<id>\\t<first line of the answer>".
"""
import json
import os
import shutil
import sys

from harness import tls, workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
CONTENDERS = os.path.join(BENCH, "contenders")


class Contender:
    name = ""
    tree = False          # several processes at once: sample the whole tree's RSS
    quick_only = None     # quick mode: the scenarios it runs in (None: all), and why
    quick_reason = ""
    max_n = None          # the most requests it can take in one run (None: any number)

    def unavailable(self):
        """None, or why this contender cannot run on this machine at all."""
        return None

    def skip(self, scenario, quick):
        """None, or why this contender sits out this scenario."""
        if quick and self.quick_only is not None and scenario.name not in self.quick_only:
            return "quick mode: " + self.quick_reason
        return None

    def prepare(self, scenario, work):
        """Writes what the contender needs beside requests.tsv (not measured)."""

    def command(self, scenario, work, url, answers):
        raise NotImplementedError

    def collect(self, scenario, work, answers):
        """Turns the contender's own output into answers.txt (not measured)."""

    def env(self, scenario, work):
        return None

    @staticmethod
    def client_args(scenario, work, url, answers):
        args = ["--url", url, "--requests", os.path.join(work, "requests.tsv"),
                "--out", answers, "--concurrency", str(scenario.concurrency),
                "--rpm", str(scenario.client_rpm), "--tpm", str(scenario.client_tpm)]
        return args + (["--ca-file", tls.ca_file(work)] if scenario.tls else [])


def _tree_env():
    env = dict(os.environ)
    env["LUA_PATH"] = "lua/?.lua;lua/?/init.lua;;"
    env["LUA_CPATH"] = "build/?.so;;"
    return env


def _engine_missing():
    for path in ("build/coursegen/core.so", "lua/coursegen/engine.lua"):
        if not os.path.exists(os.path.join(ROOT, path)):
            return "the engine is not there yet (%s missing)" % path
    return None


class CoursegenApi(Contender):
    name = "coursegen (Lua API)"

    def unavailable(self):
        return _engine_missing()

    def env(self, scenario, work):
        return _tree_env()

    def command(self, scenario, work, url, answers):
        return ["lua5.4", os.path.join(CONTENDERS, "coursegen_api.lua")] + \
            self.client_args(scenario, work, url, answers)


class CoursegenCli(Contender):
    """`coursegen generate` of a course whose chapter titles are the request first lines."""
    name = "coursegen generate"
    max_n = 500           # a course has at most 500 chapters: larger scenarios run 500
    quick_only = ("rate-bound", "over-limit")
    quick_reason = "the command runs in the rate-limited scenarios only (the full run has all)"

    def unavailable(self):
        missing = _engine_missing()
        if missing:
            return missing
        if not any(os.path.exists(os.path.join(ROOT, "lua", "coursegen", p))
                   for p in ("cli.lua", os.path.join("cli", "init.lua"))):
            return "the command line is not there yet (lua/coursegen/cli/init.lua missing)"
        return None

    def skip(self, scenario, quick):
        if scenario.name.startswith("large"):
            return ("every chapter prompt carries the whole outline, so the bytes sent grow "
                    "as N squared (%d chapters)" % scenario.n)
        if scenario.prompt_chars[1]:
            return "chapter prompts are built by the pipeline, their sizes cannot be set"
        if scenario.server == "gateway":
            return "the gateway's fixed answer quotes no chapter, so a course's files cannot be checked"
        return Contender.skip(self, scenario, quick)

    def prepare(self, scenario, work):
        course = {"title": "Benchmark course",
                  "chapters": [workload.first_line(i, scenario.n) for i in range(1, scenario.n + 1)]}
        with open(os.path.join(work, "course.json"), "w") as f:
            json.dump(course, f)

    def env(self, scenario, work):
        env = dict(os.environ)
        env.setdefault("GEMINI_API_KEY", "bench")
        return env

    def command(self, scenario, work, url, answers):
        out = os.path.join(work, "course-out")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [os.path.join(ROOT, "bin", "coursegen"), "generate", os.path.join(work, "course.json"),
               "--out", out, "--provider", "gemini", "--base-url", url,
               "--concurrency", str(scenario.concurrency), "--force", "--quiet", "--no-progress"]
        if scenario.client_rpm:
            cmd += ["--rpm", str(scenario.client_rpm)]
        if scenario.client_tpm:
            cmd += ["--tpm", str(scenario.client_tpm)]
        if scenario.tls:
            cmd += ["--ca-file", tls.ca_file(work)]
        return cmd

    def collect(self, scenario, work, answers):
        # The manifest lists the chapters in order; each file's first line is the title the
        # pipeline wrote, the mock's answer (which quotes the chapter) follows.
        out = os.path.join(work, "course-out")
        try:
            with open(os.path.join(out, "course.json")) as f:
                chapters = json.load(f)["chapters"]
        except (OSError, ValueError, KeyError):
            chapters = []
        with open(answers, "w") as ans:
            for ch in sorted(chapters, key=lambda c: c.get("index", 0)):
                text = ""
                try:
                    with open(os.path.join(out, ch["file"]), errors="replace") as f:
                        text = " ".join(f.read().split("\n")[1:])
                except (OSError, KeyError, TypeError):
                    pass
                ans.write("%s\t%s\n" % (ch.get("index"), text[:300]))


class Curl(Contender):
    """curl --parallel: the C floor, with no limiter and no retry."""
    name = "curl --parallel"

    def unavailable(self):
        return None if shutil.which("curl") else "curl is not installed"

    def prepare(self, scenario, work):
        os.makedirs(os.path.join(work, "curl-out"), exist_ok=True)

    def command(self, scenario, work, url, answers):
        config = os.path.join(work, "curl.config")
        with open(config, "w") as f:
            # One group per request, separated by "next" (options do not carry over).
            for rid, _, body in workload.read_requests(os.path.join(work, "requests.tsv")):
                quoted = body.replace("\\", "\\\\").replace('"', '\\"')
                f.write('%surl = "%s%s"\nheader = "Content-Type: application/json"\n'
                        'data-binary = "%s"\noutput = "%s/curl-out/%d.json"\n'
                        % ("next\n" if rid > 1 else "", url, workload.MODEL_PATH, quoted, work, rid))
                if scenario.tls:    # options do not carry over "next": each group names it
                    f.write('cacert = "%s"\n' % tls.ca_file(work))
        # Over TLS curl negotiates HTTP/2 by itself; without --parallel-immediate it waits
        # to multiplex transfers on one connection, as its manual describes.
        immediate = [] if scenario.tls else ["--parallel-immediate"]
        return ["curl", "--silent", "--parallel"] + immediate + [
            "--parallel-max", str(scenario.concurrency), "--config", config]

    def collect(self, scenario, work, answers):
        with open(answers, "w") as ans:
            for i in range(1, scenario.n + 1):
                try:
                    with open(os.path.join(work, "curl-out", "%d.json" % i), "rb") as f:
                        text = workload.answer_text(f.read())
                except OSError:
                    text = None
                ans.write("%d\t%s\n" % (i, text if text is not None else "missing"))


class ProcessPool(Contender):
    name = "process pool (replaced)"
    tree = True
    quick_only = ("rate-bound",)
    quick_reason = "runs in the rate-bound scenario only (0.3 s a request by design)"

    def __init__(self, quick):
        # Slow by design (0.3 s a request on average): each run is capped, and the makespan
        # shown for a capped run is projected from the share it finished.
        self.max_seconds = 5 if quick else 60

    def skip(self, scenario, quick):
        if scenario.name.startswith("large"):
            return "0.3 s a request by design: %d requests would take %.0f min" % (
                scenario.n, scenario.n * 0.3 / 60)
        if scenario.tls:
            return "0.3 s a request by design; its plain-HTTP table already shows what it costs"
        return Contender.skip(self, scenario, quick)

    def command(self, scenario, work, url, answers):
        return [sys.executable, os.path.join(CONTENDERS, "pool_client.py"),
                "--max-seconds", str(self.max_seconds)] + self.client_args(scenario, work, url, answers)


class Aiohttp(Contender):
    name = "asyncio+aiohttp (tuned)"

    def unavailable(self):
        try:
            import aiohttp  # noqa: F401  (only to tell whether the contender can run)
        except ImportError:
            return "aiohttp is not importable by %s (Debian package python3-aiohttp)" % (
                os.path.basename(sys.executable))
        return None

    def command(self, scenario, work, url, answers):
        return [sys.executable, os.path.join(CONTENDERS, "aiohttp_client.py")] + \
            self.client_args(scenario, work, url, answers)


class Bottleneck(Contender):
    name = "node bottleneck+fetch"

    def unavailable(self):
        if not shutil.which("node"):
            return "node is not installed"
        if not os.path.isdir(os.path.join(BENCH, "node_modules", "bottleneck")):
            return "npm package bottleneck missing (npm install --prefix bench)"
        return None

    def env(self, scenario, work):
        if not scenario.tls:
            return None
        return dict(os.environ, NODE_EXTRA_CA_CERTS=tls.ca_file(work))

    def command(self, scenario, work, url, answers):
        args = self.client_args(scenario, work, url, answers)
        if "--ca-file" in args:
            del args[args.index("--ca-file"):args.index("--ca-file") + 2]
        return ["node", os.path.join(CONTENDERS, "bottleneck_client.js")] + args


def all_contenders(quick):
    return [CoursegenApi(), CoursegenCli(), Curl(), ProcessPool(quick), Aiohttp(), Bottleneck()]
