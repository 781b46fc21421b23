// `sim`: runs seeded traces of test/sim (sim.hpp) and reports. One seed per trace, so a
// failure replays exactly with `--seed N --trace`. The real clock is read here only, to
// report traces and steps per second; the traces themselves never see it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sim.hpp"

namespace {

void usage() {
  std::puts(
      "usage: sim [--seed N | --first N --count C] [--steps K] [--trace] [--swarm-faults] [--no-wall-back]\n"
      "           [--budget SECONDS] [--slack MS]\n"
      "  --seed N          one trace (replay); with --trace prints its last ~50 steps\n"
      "  --first/--count   a seed range (default --first 1 --count 100)\n"
      "  --steps K         timeline steps per trace (default 120)\n"
      "  --budget SECONDS  stop starting new traces after this much real time (soak)\n"
      "  --swarm-faults    also a locked swarm and a manager without quorum (needs the swarm-role handling)\n"
      "  --no-wall-back    the wall clock steps forward only (the default steps it both ways)\n"
      "  --keep-going      count every failing seed instead of stopping at the first\n"
      "  --slack MS        liveness slack beyond settle + max(cooldown, 10 s) (default 2000)\n"
      "exit: 0 every trace held every invariant; 1 a violation (the replay command and trace are printed); 2 usage");
}

bool number(const char* s, std::int64_t& out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (!s[0] || *end) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  sim::Options base;
  std::int64_t first = 1, count = 100, budget = 0;
  bool one = false, keep_going = false;
  std::int64_t failures = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::int64_t& out) {
      if (i + 1 >= argc || !number(argv[i + 1], out)) {
        std::fprintf(stderr, "sim: %s needs a number\n", argv[i]);
        std::exit(2);
      }
      ++i;
    };
    std::int64_t v = 0;
    if (a == "--seed") value(v), first = v, count = 1, one = true;
    else if (a == "--first") value(first);
    else if (a == "--count") value(count);
    else if (a == "--steps") value(base.max_steps);
    else if (a == "--budget") value(budget);
    else if (a == "--slack") value(base.liveness_slack_ms);
    else if (a == "--trace") base.trace = true;
    else if (a == "--swarm-faults") base.swarm_faults = true;
    else if (a == "--no-wall-back") base.wall_back = false;
    else if (a == "--keep-going") keep_going = true;
    else if (a == "-h" || a == "--help") return usage(), 0;
    else {
      std::fprintf(stderr, "sim: unknown argument %s\n", argv[i]);
      usage();
      return 2;
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  sim::Stats total;
  std::int64_t traces = 0;
  for (std::int64_t seed = first; seed < first + count; ++seed) {
    if (budget > 0 && std::chrono::steady_clock::now() - t0 > std::chrono::seconds(budget)) break;
    sim::Options o = base;
    o.seed = static_cast<std::uint64_t>(seed);
    sim::Result r = sim::run_trace(o);
    ++traces;
    total += r.stats;
    if (one && o.trace) {
      for (const auto& line : r.trace) std::puts(line.c_str());
    }
    if (!r.ok && keep_going) {
      std::printf("FAIL %s\n", r.failure.c_str());
      ++failures;
      continue;
    }
    if (!r.ok) {
      std::printf("FAIL %s\nreplay: %s\n", r.failure.c_str(), sim::replay_command(o).c_str());
      if (!o.trace) {
        // Replay the same seed with the trace on: the run is deterministic.
        o.trace = true;
        sim::Result again = sim::run_trace(o);
        std::puts("trace (last ~50 steps):");
        for (const auto& line : again.trace) std::puts(line.c_str());
        if (again.failure != r.failure) std::printf("NOTE: the replay failed differently: %s\n", again.failure.c_str());
      }
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::printf(
        "sim: %lld traces, %lld steps, %.0f simulated hours in %.1f s: %.0f traces/s, %.0f steps/s; "
        "%lld prunes started, %lld steps sent, %lld refused by the confirming lists, %lld 409s, %lld daemon restarts, "
        "%lld quiet stretches pruned in time; %s\n",
        static_cast<long long>(traces), static_cast<long long>(total.steps), static_cast<double>(total.sim_ms) / 3.6e6, secs,
        static_cast<double>(traces) / secs, static_cast<double>(total.steps) / secs,
        static_cast<long long>(total.prunes_started), static_cast<long long>(total.steps_sent),
        static_cast<long long>(total.confirm_refused), static_cast<long long>(total.deferred),
        static_cast<long long>(total.daemon_restarts), static_cast<long long>(total.liveness_met),
        failures ? (std::to_string(failures) + " traces FAILED").c_str() : "all invariants held");
  }
  return failures ? 1 : 0;
}
