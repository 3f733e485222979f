#!/usr/bin/env bash
# `make bench [QUICK=1]`: installs what the contenders need when it is missing, then runs
# the harness, which prints one table per scenario and writes bench/RESULTS.md.
# A contender whose tools cannot be installed is skipped by the harness with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=""
command_line="make bench"
if [ "${1:-}" = "--quick" ]; then
  quick="--quick"
  command_line="make bench QUICK=1"
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=""
apt_install() {
  echo "bench: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq || true; apt_updated=1; fi
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || echo "bench: could not install $* (the contenders that need it are skipped)" >&2
}

command -v curl >/dev/null || apt_install curl
type -P time >/dev/null || apt_install time    # GNU time measures each contender's peak RSS
# The TLS scenario: nginx terminates https in front of the mock, openssl makes its certificate.
[ -x /usr/sbin/nginx ] || apt_install nginx
command -v openssl >/dev/null || apt_install openssl
command -v node >/dev/null || apt_install nodejs npm
command -v npm >/dev/null || apt_install npm

# The harness runs under a Python that has aiohttp (Debian's python3-aiohttp goes with
# the system interpreter, which may not be the first python3 on PATH).
pick_python() {
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import aiohttp' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}
python=$(pick_python) || { apt_install python3-aiohttp; python=$(pick_python) || python=python3; }

# Bottleneck for the Node.js contender, at the version pinned by bench/package-lock.json.
if [ ! -d bench/node_modules/bottleneck ] && command -v npm >/dev/null; then
  npm ci --prefix bench --no-audit --no-fund --silent \
    || echo "bench: npm ci failed (the Node.js contender is skipped)" >&2
fi

export PYTHONDONTWRITEBYTECODE=1    # keep bench/ free of __pycache__
"$python" bench/bench.py $quick --command "$command_line"
rc=$?
# The cost table: plain, cached, batch and cached+batch runs of a sourced course.
lua5.4 bench/cost.lua --append bench/RESULTS.md || rc=1
# The fleet scenario (one quota through Redis) needs redis-server; its table is appended.
if command -v redis-server >/dev/null; then
  if fleet=$(lua5.4 bench/fleet.lua $quick); then
    echo "$fleet"
    [ -f bench/RESULTS.md ] && printf '%s\n' "$fleet" >> bench/RESULTS.md
  else
    echo "bench: the fleet scenario failed" >&2
    rc=1
  fi
else
  echo "bench: redis-server not found (the fleet scenario is skipped)" >&2
fi
exit $rc
