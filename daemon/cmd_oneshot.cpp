// `plan` and `prune` (SPEC.md "Command line"): one-shot commands on a fresh sync, no daemon.
// Owns: the 10 s reachability deadline, the gate verdicts for a one-shot (no memory of the
// last prune: cooldown open, settle not applied), and their output. Decides nothing itself:
// the gates (lib/policy) decide, the executor (lib/prune) is the only code that prunes.
// GCC 12 flags Asio 1.74's awaitable frame (its own operator new/delete, recycled through
// thread_info_base) as mismatched once a coroutine call is inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "report_json.hpp"
#include "config/config.hpp"
#include "docker/client.hpp"
#include "docker/sync.hpp"
#include "emergency_plan.hpp"
#include "policy/decision.hpp"
#include "prune/candidates.hpp"
#include "prune/executor.hpp"
#include "report/journal.hpp"
#include "report/status_line.hpp"
#include "util/clock.hpp"
#include "util/format.hpp"

namespace cdp {

namespace {

using json = nlohmann::json;

// SPEC: one-shot commands give up on an unreachable Docker within 10 s.
constexpr auto kReachDeadline = std::chrono::seconds(10);

struct Outcome {
  int exit = kExitOk;
  std::string out;  // stdout
  std::string err;  // one stderr line
};

bool write_all(std::FILE* f, const std::string& s) {
  return s.empty() || (std::fwrite(s.data(), 1, s.size(), f) == s.size() && std::fflush(f) == 0);
}

std::string iso(std::optional<TimePoint> t) { return t ? format_utc(*t) : std::string(); }

// Runs `body` on a fresh io_context. `reached` is set by the body once Docker answered
// /version and /info; if that has not happened within kReachDeadline the run is abandoned
// (exit 3). Later requests keep their own timeouts, and a prune is never cut short.
template <typename Body>
Outcome run_oneshot(const Config& config, Body body) {
  asio::io_context ioc;
  docker::Client client(ioc.get_executor(), config.docker.socket_path());
  bool reached = false, finished = false;
  Outcome result;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        result = co_await body(client, reached);
        finished = true;
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          result = Outcome{kExitFailure, {}, std::string("Failed to run the command: ") + ex.what()};
        }
        finished = true;
        ioc.stop();
      });
  asio::steady_timer deadline(ioc, kReachDeadline);
  deadline.async_wait([&](boost::system::error_code ec) {
    if (ec || reached || finished) return;
    result = Outcome{kExitUnreachable, {},
                     fmt::format("Failed to reach Docker at {}: no answer within {} s", config.docker.host,
                                 kReachDeadline.count())};
    finished = true;
    ioc.stop();
  });
  // Stop waiting on the deadline once the body is done.
  while (!finished && !ioc.stopped()) {
    ioc.run_one();
    if (finished || reached) deadline.cancel();
  }
  return result;
}

Outcome unreachable(const Config& config, const docker::Error& e) {
  return Outcome{kExitUnreachable, {}, fmt::format("Failed to reach Docker at {}: {}", config.docker.host, e.message)};
}

// One-shots have no memory of the last prune (cooldown open) and no settle (SPEC).
GateReport evaluate(const Snapshot& snap, const Config& config, Now now) {
  return evaluate_gates(snap, config, now);
}

bool gates_allow(const GateReport& r, bool ignore_disk) {
  return ignore_disk ? r.all_open_except(GateId::disk) : r.all_open();
}

std::string closed_reasons(const GateReport& r, bool ignore_disk) {
  std::string out;
  for (const auto& g : r.gates) {
    if (g.open || (ignore_disk && g.id == GateId::disk)) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: {}", gate_name(g.id), g.reason);
  }
  return out;
}

json gates_json(const GateReport& r) {
  json gates = json::array();
  for (const auto& g : r.gates) gates.push_back(gate_json(gate_name(g.id), g.open, g.reason));
  return gates;
}

json report_json(const Snapshot& snap, const Config& config, const Decision& d, TimePoint now) {
  json j;
  j["state"] = state_name(d.state);
  j["status"] = status_line(d, snap, config, now, std::nullopt);
  j["gates"] = gates_json(d.report);
  j["disk"] = disk_json(snap.disk_path, snap.disk ? std::optional(snap.disk->percent()) : std::nullopt,
                        snap.disk ? std::optional(snap.disk->inode_percent()) : std::nullopt,
                        config.disk.threshold_percent, config.disk.inode_threshold_percent);
  j["live_run_stacks"] = d.report.live_run_stacks;
  j["unconverged_services"] = d.report.unconverged_services;
  j["stuck_services"] = d.report.stuck_services;
  return j;
}

json candidates_json(const std::vector<Candidate>& list) {
  json a = json::array();
  for (const auto& c : list)
    a.push_back({{"id", c.id}, {"description", c.description}, {"size", c.size},
                 {"created_or_last_used", c.created_or_last_used ? json(iso(c.created_or_last_used)) : json(nullptr)}});
  return a;
}

std::string gates_table(const GateReport& r) {
  std::string out = "gates:\n";
  for (const auto& g : r.gates)
    out += fmt::format("  {:<9} {:<7} {}\n", gate_name(g.id), g.open ? "open" : "closed", g.reason);
  return out;
}

std::string candidates_table(const char* title, const std::vector<Candidate>& list) {
  std::uint64_t total = 0;
  for (const auto& c : list) total += c.size;
  std::string out = fmt::format("  {}: {} ({})\n", title, list.size(), format_bytes(total));
  for (const auto& c : list) {
    const std::string id = c.id.rfind("sha256:", 0) == 0 ? c.id.substr(7, 12) : c.id.substr(0, 12);
    out += fmt::format("    {:<12}  {:>9}  {}\n", id, format_bytes(c.size), c.description);
  }
  return out;
}

awaitable<Outcome> plan_body(const Config& config, bool as_json, docker::Client& client, bool& reached) {
  auto sync = co_await fresh_sync(client, config, std::nullopt);
  if (!sync) co_return unreachable(config, sync.error());
  reached = true;
  const Now both = SystemTime{}.now();
  const TimePoint now = both.wall;
  const Decision d = decide(sync->snapshot, config, both, SchedulerMemory{now - config.gates.settle, false, std::nullopt});
  auto cands = co_await list_candidates(client, config.prune, now);
  if (!cands) co_return Outcome{kExitFailure, {}, "Failed to list prune candidates: " + cands.error().message};
  const bool would = d.report.all_open();
  // The emergency tier's candidates, only when it is enabled (SPEC "The emergency tier").
  std::optional<EmergencyPlan> emergency;
  if (config.emergency.enabled) {
    auto ep = co_await emergency_plan(client, config, sync->snapshot, now);
    if (!ep) co_return Outcome{kExitFailure, {}, "Failed to list emergency candidates: " + ep.error().message};
    emergency = std::move(*ep);
  }
  spdlog::debug("plan: {}", status_line(d, sync->snapshot, config, now, std::nullopt));
  Outcome o;
  if (as_json) {
    json j = report_json(sync->snapshot, config, d, now);
    j["would_prune"] = would;
    j["until"] = config.prune.until;
    j["dry_run"] = config.prune.dry_run;
    j["candidates"] = {{"containers", candidates_json(cands->containers)},
                       {"images", candidates_json(cands->images)},
                       {"build_cache", candidates_json(cands->build_cache)}};
    j["total_bytes"] = cands->total_bytes();
    if (emergency) j["emergency"] = emergency->json;
    o.out = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  } else {
    o.out = status_line(d, sync->snapshot, config, now, std::nullopt) + "\n" + gates_table(d.report);
    o.out += fmt::format("candidates (older than {}):\n", config.prune.until);
    o.out += candidates_table("containers", cands->containers);
    o.out += candidates_table("images", cands->images);
    o.out += candidates_table("build_cache", cands->build_cache);
    o.out += fmt::format("  total: {}\n", format_bytes(cands->total_bytes()));
    if (emergency) o.out += emergency->text;
    o.out += would ? "a prune now would run\n"
                   : "a prune now would be skipped: " + closed_reasons(d.report, false) + "\n";
  }
  co_return o;
}

json steps_json(const PruneResult& res) {
  json a = json::array();
  for (const auto& s : res.steps)
    a.push_back({{"step", step_name(s.step)}, {"outcome", outcome_name(s.outcome)}, {"deleted", s.deleted},
                 {"reclaimed", s.reclaimed}, {"detail", s.detail}});
  return a;
}

awaitable<Outcome> prune_body(const Config& config, const CommandOptions& opts, docker::Client& client,
                              bool& reached) {
  auto sync = co_await fresh_sync(client, config, std::nullopt);
  if (!sync) co_return unreachable(config, sync.error());
  reached = true;
  const Now both = SystemTime{}.now();
  const TimePoint now = both.wall;
  const Decision d = decide(sync->snapshot, config, both, SchedulerMemory{now - config.gates.settle, false, std::nullopt});
  json j = report_json(sync->snapshot, config, d, now);
  Outcome o;
  if (!gates_allow(d.report, opts.ignore_disk)) {
    const std::string why = closed_reasons(d.report, opts.ignore_disk);
    spdlog::info("Prune skipped: {}", why);
    j["outcome"] = "skipped";
    j["reason"] = why;
    o.out = opts.json ? j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n" : "skipped: " + why + "\n";
    co_return o;
  }
  // Re-check before each step (STYLE: re-decide right before acting). The first step goes
  // on the sync just made; the later ones on a cheap confirming list (containers + one
  // services list) on top of it, not a second full sync with its 1 s wait (issue 9).
  bool first = true;
  GateCheck check = [&]() -> awaitable<std::optional<std::string>> {
    if (std::exchange(first, false)) co_return std::nullopt;
    auto again = co_await confirm_sync(client, sync->snapshot);
    if (!again) co_return "docker: " + again.error().message;
    auto r = evaluate(*again, config, SystemTime{}.now());
    if (gates_allow(r, opts.ignore_disk)) co_return std::nullopt;
    co_return closed_reasons(r, opts.ignore_disk);
  };
  // The call is its own statement: its by-value GateCheck argument is then not a
  // temporary alive across the co_await (GCC 12 mishandles those).
  auto prune_op = run_prune(client, config.prune, now, check);
  const PruneResult res = co_await std::move(prune_op);
  bool failed = false;
  for (const auto& s : res.steps) failed |= s.outcome == StepResult::Outcome::failed;
  const char* outcome = config.prune.dry_run ? "dry_run" : res.stopped_by_gate ? "stopped" : failed ? "failed" : "pruned";
  spdlog::info("Prune {}: {}", outcome, res.summary);
  j["outcome"] = outcome;
  j["reclaimed"] = res.reclaimed;
  j["summary"] = res.summary;
  j["steps"] = steps_json(res);
  j["any_deferred"] = res.any_deferred;
  if (opts.json) {
    o.out = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  } else {
    o.out = fmt::format("{}: {}; reclaimed {}\n", outcome, res.summary, format_bytes(res.reclaimed));
  }
  // A step Docker refused is not "pruned or skipped": say so with a distinct code.
  if (failed) o.exit = kExitFailure;
  co_return o;
}

int finish(const Outcome& o) {
  if (!write_all(stdout, o.out)) {
    std::fprintf(stderr, "Failed to write to stdout\n");
    return kExitFailure;
  }
  if (!o.err.empty()) std::fprintf(stderr, "%s\n", o.err.c_str());
  return o.exit;
}

std::optional<Config> load(const CommandOptions& opts) {
  auto config = load_config(opts.config_path, docker_host_from_env());
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return std::nullopt;
  }
  journal::setup_oneshot(config->log.level);
  return std::move(*config);
}

}  // namespace

int cmd_plan(const CommandOptions& opts) {
  auto config = load(opts);
  if (!config) return kExitConfig;
  return finish(run_oneshot(*config, [&](docker::Client& c, bool& reached) {
    return plan_body(*config, opts.json, c, reached);
  }));
}

int cmd_prune(const CommandOptions& opts) {
  auto config = load(opts);
  if (!config) return kExitConfig;
  return finish(run_oneshot(*config, [&](docker::Client& c, bool& reached) {
    return prune_body(*config, opts, c, reached);
  }));
}

}  // namespace cdp
