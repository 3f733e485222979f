#!/usr/bin/env bash
# Installs the Debian packages of one or more groups, when missing; a no-op when they are there.
#   runtime  build coursegen and write a course (make, make demo, make rock)
#   export   coursegen export and --source conversion (pandoc; pdftotext from poppler-utils)
#   test     everything make test and make check run besides (browser, sanitizers, valgrind,
#            Redis, wrk, socat, linters); make bench installs its contenders itself
# With no group: all three. Quiet and non-interactive.
set -euo pipefail
runtime=(build-essential pkg-config ca-certificates lua5.4 liblua5.4-dev libcurl4-openssl-dev
         libhiredis-dev libssl-dev libutf8proc-dev lua-cjson lua-argparse lua-filesystem lua-system lua-term
         luarocks)
export_=(pandoc poppler-utils unzip)
test_=(curl lua-busted lua-check lua-socket cppcheck valgrind libclang-rt-14-dev clang-14
       wrk redis-server socat chromium fonts-liberation procps util-linux bsdutils strace nginx)
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(runtime export test)
pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
  runtime) pkgs+=("${runtime[@]}") ;;
  export) pkgs+=("${export_[@]}") ;;
  test) pkgs+=("${test_[@]}") ;;
  *) echo "deps.sh: unknown group '$g' (runtime, export, test)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing (${groups[*]}): ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
