#!/usr/bin/env bash
# Builds every fuzzing target into build/fuzz/ and runs each for SECONDS (default 60).
# Fails on the first crash, leak or sanitizer report; the input that caused it is left in
# build/fuzz/<target>-crash-*, and belongs in fuzz/corpus/<target>/ once fixed.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
CC=${FUZZ_CC:-clang-14}
OUT=build/fuzz
mkdir -p "$OUT"

if ! command -v "$CC" >/dev/null; then
  echo "fuzz: $CC not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

LUA_CFLAGS=$(pkg-config --cflags lua5.4)
LUA_LIBS=$(pkg-config --libs lua5.4)
CURL_CFLAGS=$(pkg-config --cflags libcurl)
CURL_LIBS=$(pkg-config --libs libcurl)
FLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Icsrc -Icsrc/mock $LUA_CFLAGS $CURL_CFLAGS)

# target: the C files it needs besides its own, then extra libraries
declare -A SRCS=(
  [hints]="csrc/cg_hints.c csrc/cg_clock.c"
  [response]="csrc/cg_http.c csrc/cg_hints.c csrc/cg_retry.c csrc/cg_buf.c csrc/cg_clock.c"
  [mock_http]="csrc/mock/mock_http.c csrc/mock/mock_json.c"
  [mock_json]="csrc/mock/mock_json.c"
  [redis_url]="csrc/cg_redis_url.c"
)
declare -A LIBS=(
  [hints]="$LUA_LIBS -lm"
  [response]="$CURL_LIBS $LUA_LIBS -lm"
  [mock_http]=""
  [mock_json]=""
  [redis_url]=""
)

TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(hints response mock_http mock_json redis_url)

for t in "${TARGETS[@]}"; do
  [ -n "${SRCS[$t]+x}" ] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
  echo "fuzz: building $t"
  # shellcheck disable=SC2086
  "$CC" "${FLAGS[@]}" -o "$OUT/$t" "fuzz/fuzz_$t.c" ${SRCS[$t]} ${LIBS[$t]}
done

for t in "${TARGETS[@]}"; do
  # new inputs go to a scratch corpus under build/; the seeds in fuzz/corpus stay as committed
  work="$OUT/corpus-$t"
  mkdir -p "$work"
  echo "fuzz: running $t for ${SECONDS_EACH}s"
  if ! "$OUT/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$OUT/$t-" "$work" "fuzz/corpus/$t" \
       >"$OUT/$t.log" 2>&1; then
    tail -n 60 "$OUT/$t.log" >&2
    echo "fuzz: $t FAILED (log: $OUT/$t.log)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -n 1)
  echo "fuzz: $t ok, ${runs:-?} executions"
done
