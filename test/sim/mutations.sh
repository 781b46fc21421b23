#!/usr/bin/env bash
# Issue 8 "Must show": the simulation catches each of these one-line mutations of the
# product. For each, in a scratch copy of the tree (tracked and untracked files; the
# checkout itself is never touched): apply the change, build build/sim there, run the
# seed range. Prints one line per mutation, "caught (...)", "missed" or "n/a (why)",
# and exits 0 only when every mutation is caught -- except one marked "guarded": a line
# that a second, independent guard of the product makes harmless on its own; its miss is
# printed with that guard and does not fail the check.
# Usage: test/sim/mutations.sh [--count N] [--keep]   (N seeds per mutation, default 10000)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
count=10000
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--count N] [--keep]" >&2; exit 2 ;;
  esac
done

scratch=$(mktemp -d /tmp/cdp-mutations.XXXXXX)
[ $keep -eq 1 ] || trap 'rm -rf "$scratch"' EXIT
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -x -C "$scratch"
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ci-docker-prune-test/ccache}
export CCACHE_BASEDIR="$scratch" CCACHE_NOHASHDIR=1  # reuse the checkout's compile cache (debug info paths aside)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$scratch" -B "$scratch/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null \
  || { echo "mutations: cmake configure failed" >&2; exit 1; }

build() { nice cmake --build "$scratch/build" -j2 --target sim >"$scratch/build.log" 2>&1; }
# Runs the sim; prints its FAIL line (empty when every seed held).
run() { "$scratch/build/sim" --first 1 --count "$count" "$@" 2>&1 | grep -m1 '^FAIL' ; }

# name | file | perl substitution (must change exactly one line) | sim arguments [| guarded: why]
mutations=(
  "skip the confirming list|lib/policy/timeline.cpp|s/^(\s*)Snapshot fresh = fresh_in;/\$1Snapshot fresh = snap_; (void)fresh_in;/|--steps 120"
  # A 503 from /services read as "a worker, no services here" (what the code did before
  # the swarm-role handling of branch safety), in its two places: a locked node's role,
  # and a manager's failing /services.
  "read 503 as a worker (locked swarm)|lib/model/types.hpp|s/^(\s*)return SwarmRole::unknown;/\$1return SwarmRole::worker;/|--swarm-faults"
  # The live model's half only: the confirming lists refuse a manager's failed /services
  # on their own (prune/prune_api.cpp confirm_lists(), which the sim follows since session
  # 14), so the model opening runs/converge on it leads to a refused confirmation, never to
  # a step. Caught before only through the sim's own copy of the confirmation, which fed
  # the 503 to the mutated model (and through a stale mutant build, see the touch below).
  "read 503 as a worker (manager without quorum)|lib/model/live_model.cpp|s/^(\s*)services_error_ = std::move\(why\);/\$1(void)why; services_visible_ = false; return;/|--swarm-faults|guarded: the confirming lists fail on a manager's 503 (prune/prune_api.cpp)"
  "drop the 10 s floor|lib/policy/timeline.cpp|s/^(\s*)if \(s\.last_any_end\) h = \*s\.last_any_end \+ kFloor;/\$1\/\/ mutation: no floor/|--steps 120"
  "forget the state file|lib/policy/timeline.cpp|s/^(\s*)if \(!persisted\) return s;/\$1return s;/|--steps 120"
  # The Docker watch's core (policy/watch_core.cpp), driven by the sim as by the daemon: a
  # failed /services ends the convergence poll instead of retrying with backoff, so a
  # quorum that comes back is never seen (the converge gate stays closed).
  "give up the poll after a failed /services|lib/policy/watch_core.cpp|s/^(\s*)fail\(now, PollTrouble::services_failed\);/\$1phase_ = Phase::idle;/|--swarm-faults"
)

all=0
build || { echo "mutations: the unmutated tree does not build (see $scratch/build.log)"; exit 1; }
declare -A baseline
# Every baseline on the unmutated build, before any mutation: a mutant's binary must never
# stand in for the unmutated one.
for m in "${mutations[@]}"; do
  IFS='|' read -r name file subst args guard <<<"$m"
  # shellcheck disable=SC2086
  if [ -z "${baseline[$args]+x}" ]; then baseline[$args]=$(run $args); fi
done
for m in "${mutations[@]}"; do
  IFS='|' read -r name file subst args guard <<<"$m"
  if [ -n "${baseline[$args]}" ]; then
    echo "$name: n/a (the unmutated tree already fails with $args: ${baseline[$args]})"
    all=1
    continue
  fi
  cp "$scratch/$file" "$scratch/$file.orig"
  perl -pi -e "$subst" "$scratch/$file"
  changed=$(diff "$scratch/$file.orig" "$scratch/$file" | grep -c '^>')
  if [ "$changed" -ne 1 ]; then
    echo "$name: n/a (the mutation matched $changed lines of $file: the code moved, update test/sim/mutations.sh)"
    mv "$scratch/$file.orig" "$scratch/$file"
    all=1
    continue
  fi
  if ! build; then
    echo "$name: n/a (the mutant does not build, see $scratch/build.log)"
    mv "$scratch/$file.orig" "$scratch/$file"
    all=1
    continue
  fi
  # shellcheck disable=SC2086
  fail=$(run $args)
  if [ -n "$fail" ]; then
    echo "$name: caught (${fail#FAIL })"
  else
    if [ -n "$guard" ]; then
      echo "$name: missed ($count seeds, $args), as expected: $guard"
    else
      echo "$name: missed ($count seeds, $args)"
      all=1
    fi
  fi
  # Restored with a fresh mtime: the copy is older than the mutant's objects, and make
  # would keep the mutant compiled into every later mutation's build.
  mv "$scratch/$file.orig" "$scratch/$file"
  touch "$scratch/$file"
done
build >/dev/null 2>&1 || true  # leave the scratch build unmutated (with --keep)
exit $all
