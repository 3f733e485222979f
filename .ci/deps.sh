#!/usr/bin/env bash
# Installs the Debian packages that building and testing coursegen need, when missing.
# Quiet and non-interactive; does nothing when everything is present.
set -euo pipefail
pkgs=(build-essential pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev curl lua-cjson lua-busted
      luarocks lua-argparse lua-filesystem lua-system lua-term lua-check cppcheck valgrind
      libclang-rt-14-dev clang-14 wrk libhiredis-dev libutf8proc-dev libssl-dev redis-server socat pandoc unzip chromium fonts-liberation lua-socket)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
