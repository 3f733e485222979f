#!/usr/bin/env bash
# The demo: a whole course written against the bundled mock server, with its live progress
# display and summary. `make demo` builds first; this script builds nothing.
# The mock answers with small latency and a few random faults (503s, 429s, a reset), so the
# display shows retries; every chapter is still written.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin=./bin/coursegen
course=examples/demo/course.json
out=out/demo
log="$(mktemp)"
mock_pid=""

cleanup() {
  if [ -n "$mock_pid" ] && kill -0 "$mock_pid" 2>/dev/null; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The mock, on a free port; its first line says where it listens.
"$bin" mock --port 0 --latency-ms 300 --jitter-ms 200 \
  --faults 503:0.1,429:0.05,reset:0.03 --seed 7 >"$log" 2>&1 &
mock_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^listening on \(http:[^ ]*\).*$/\1/p' "$log" | head -n 1)"
  [ -n "$url" ] && break
  if ! kill -0 "$mock_pid" 2>/dev/null; then
    echo "demo: the mock server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "demo: the mock server did not say where it listens" >&2
  exit 1
fi
echo "demo: mock LLM server at $url (latency 300 ms ± 200 ms, 10% 503s, 5% 429s, 3% resets)"
echo

# 2. The course, written into out/demo/ (--force: the demo starts afresh each time).
mkdir -p "$(dirname "$out")"
status=0
GEMINI_API_KEY=demo-key-not-used-by-the-mock \
  "$bin" generate "$course" --out "$out" --provider gemini --base-url "$url" \
  --concurrency 4 --force --stats-json "$out.stats.json" || status=$?

# 3. Where to look, and how to make the same course for real.
echo
if [ "$status" -eq 0 ]; then
  echo "demo: the course is in $out/ (start with $out/README.md; the manifest is $out/course.json),"
  echo "      the run's statistics in $out.stats.json."
else
  echo "demo: generate exited with $status; what was written is in $out/."
fi
if [ -n "${GEMINI_API_KEY:-}" ]; then
  echo "demo: GEMINI_API_KEY is set, so the same course with the real API is one command away:"
else
  echo "demo: with GEMINI_API_KEY set, the same course with the real API is one command away:"
fi
echo "      $bin generate $course --out out/demo-real"
exit "$status"
