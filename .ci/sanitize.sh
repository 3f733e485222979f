#!/usr/bin/env bash
# Runs the specs against C modules built under a sanitizer, or under valgrind.
#   asan      the whole suite, modules built with AddressSanitizer + UBSan
#   tsan      the engine's stress spec, modules built with ThreadSanitizer
#   valgrind  the specs that exercise C code, under memcheck (definite leaks fail)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: sanitize.sh asan|tsan|valgrind}
busted=(lua5.4 "$(command -v busted || echo /usr/bin/busted)")
c_specs=(spec/mock_spec.lua spec/mock_cache_spec.lua spec/engine_spec.lua spec/limiter_spec.lua spec/admission_spec.lua spec/retry_spec.lua spec/hints_spec.lua
         spec/redis_limiter_spec.lua spec/tls_spec.lua)
existing=()
for s in "${c_specs[@]}"; do [ -f "$s" ] && existing+=("$s"); done

case "$mode" in
asan)
  make --no-print-directory BUILD=build-asan OPT="-O1 -g" \
    SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" build
  # The interpreter is not instrumented, so the runtime is preloaded. Leaks are valgrind's job:
  # LeakSanitizer would also count the memory busted leaves to the operating system at exit.
  LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  COURSEGEN_BUILD=build-asan COURSEGEN_SANITIZER=asan "${busted[@]}" --run=all
  ;;
tsan)
  make --no-print-directory BUILD=build-tsan OPT="-O1 -g" SANFLAGS="-fsanitize=thread" build
  # TSan needs a memory layout that high ASLR entropy can break; setarch -R turns ASLR off.
  # Only the files holding stress specs are loaded: other files' setup blocks run shells,
  # which the preloaded TSan runtime breaks.
  setarch "$(uname -m)" -R env LD_PRELOAD="$(gcc -print-file-name=libtsan.so)" \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    COURSEGEN_BUILD=build-tsan COURSEGEN_SANITIZER=tsan "${busted[@]}" --run=stress $(grep -l '#stress' spec/*_spec.lua)
  ;;
valgrind)
  [ ${#existing[@]} -gt 0 ] || { echo "no C specs"; exit 0; }
  COURSEGEN_SANITIZER=valgrind valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --error-exitcode=99 --suppressions=.ci/valgrind.supp \
    "${busted[@]}" --exclude-tags=slow,stress "${existing[@]}"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
