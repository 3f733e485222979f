#!/usr/bin/env bash
# Builds the modules and runs the engine's quick benchmark (see bench/engine_quick.lua).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
exec lua5.4 bench/engine_quick.lua "$@"
