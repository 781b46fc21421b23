#!/usr/bin/env bash
# The whole test suite (README quick start; .ci/run calls exactly this):
#   1. installs what is missing (apt-get, Debian 12 packages only),
#   2. builds the product (build/) and an ASan+UBSan build of the unit tests (build-asan/),
#   3. runs the unit tests in both builds, and the seeded simulation (test/sim),
#   4. runs the integration tests (pytest, test/integration/) against the real pieces they
#      start themselves: a private dockerd with swarm, a private dbus-daemon, journald in a
#      mount namespace, systemd in nspawn.
# Ends with one line "summary: N passed, N failed[, N skipped]"; exits non-zero on any failure.
# Needs root (apt-get, mounts, network namespaces). Extra arguments go to pytest (e.g. -k name).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s\n' "$*"; }
die() { echo "test.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages, mounts filesystems and starts services)"

step "install dependencies"
bash scripts/install-deps.sh all || die "installing dependencies failed"

export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ci-docker-prune-test/ccache}
# Paths relative to the checkout, so a fresh clone in another folder (CI) hits the cache.
export CCACHE_BASEDIR="$root"
# Ninja, for a new build folder (an existing one keeps its generator): it starts a room's
# files before the rooms below it are archived, where make waits (issue 9, build time).
command -v ninja >/dev/null && export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

step "build (RelWithDebInfo) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null || die "cmake configure failed"
cmake --build build -j"$jobs" || die "build failed"
# The benchmarks are not in `all` (bench/run.py builds them on demand); build them here so
# an interface change cannot leave them broken unseen (it did once: bench/lists.cpp).
cmake --build build -j"$jobs" --target bench-ingest bench-lists || die "benchmark build failed"

step "build unit tests with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCDP_SANITIZE=ON "${launcher[@]}" >/dev/null \
  || die "cmake configure (asan) failed"
cmake --build build-asan -j"$jobs" --target unit-tests || die "asan build failed"

passed=0; failed=0; skipped=0
# Catch2 v2 closes with "All tests passed (A assertions in N test cases)" or
# "test cases: N | P passed | F failed".
count_catch() {
  local log=$1 line
  line=$(grep -E '^(All tests passed|test cases:)' "$log" | tail -n 1)
  if [[ $line =~ in\ ([0-9]+)\ test\ case ]]; then
    passed=$((passed + BASH_REMATCH[1]))
  elif [[ $line =~ \|\ ([0-9]+)\ passed\ \|\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  elif [[ $line =~ test\ cases:\ +([0-9]+)\ \|\ ([0-9]+)\ failed ]]; then
    failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1))  # the runner crashed before its closing line
  fi
}

rc=0
mkdir -p build/test-logs
step "unit tests (build/)"
./build/unit-tests 2>&1 | tee build/test-logs/unit.log; [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
count_catch build/test-logs/unit.log

step "unit tests under ASan+UBSan (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ./build-asan/unit-tests 2>&1 | tee build/test-logs/unit-asan.log; [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
count_catch build/test-logs/unit-asan.log

step "simulation (test/sim: seeds 1-10000, 120 timeline steps each; one test)"
./build/sim --first 1 --count 10000 --steps 120 --swarm-faults 2>&1 | tee build/test-logs/sim.log
if [ "${PIPESTATUS[0]}" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); rc=1; fi

step "integration tests (pytest, real dockerd / dbus-daemon / journald / systemd-nspawn)"
export CDP_BIN="$root/build/ci-docker-prune"
/usr/bin/python3 -m pytest -p no:cacheprovider -ra -v --junitxml=build/test-logs/integration.xml \
  test/integration "$@"
prc=$?
[ $prc -eq 0 ] || rc=1
if [ -f build/test-logs/integration.xml ]; then
  read -r t f e s < <(/usr/bin/python3 - build/test-logs/integration.xml <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
g = lambda k: sum(int(x.get(k, 0)) for x in suites)
print(g("tests"), g("failures"), g("errors"), g("skipped"))
PY
)
  passed=$((passed + t - f - e - s)); failed=$((failed + f + e)); skipped=$((skipped + s))
else
  failed=$((failed + 1))
fi

echo
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ $rc -eq 0 ] && [ $failed -eq 0 ]
