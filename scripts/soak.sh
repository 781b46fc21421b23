#!/usr/bin/env bash
# A longer soak of the simulation (test/sim/README.md) than .ci/run's fixed range: seeds
# from --first on, longer traces, until the time budget is spent. Prints the replay
# command and trace of the first violation; exits 1 then, 0 when every trace held.
# Usage: scripts/soak.sh [--first N] [--budget SECONDS] [--steps K] [sim arguments...]
#   defaults: --first 100000 (past the CI range) --budget 600 --steps 2000
set -euo pipefail
cd "$(dirname "$0")/.."
first=100000 budget=600 steps=2000
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --first) first=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ ! -x build/sim ]; then
  export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ci-docker-prune-test/ccache} CCACHE_BASEDIR=$PWD
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice cmake --build build -j2 --target sim
fi
exec build/sim --first "$first" --count 1000000000 --budget "$budget" --steps "$steps" "${extra[@]}"
