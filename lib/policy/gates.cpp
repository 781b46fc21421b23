// The four gates of SPEC.md "The gates", evaluated on one snapshot at a given `now`
// (both clocks: intervals on the monotonic one, Docker's timestamps on the wall one).
// Pure: no I/O, no clock, no logging, no exceptions. Unknown means closed.
#include "policy/gates.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "util/duration.hpp"
#include "util/format.hpp"

namespace cdp {

const char* gate_name(GateId id) {
  switch (id) {
    case GateId::disk: return "disk";
    case GateId::runs: return "runs";
    case GateId::converge: return "converge";
    case GateId::cooldown: return "cooldown";
  }
  return "?";
}

bool GateReport::all_open() const {
  return std::all_of(gates.begin(), gates.end(), [](const GateVerdict& g) { return g.open; });
}

bool GateReport::all_open_except(GateId id) const {
  return std::all_of(gates.begin(), gates.end(),
                     [id](const GateVerdict& g) { return g.open || g.id == id; });
}

std::optional<std::string> stack_of(const Labels& labels, const Config& config) {
  for (const auto& key : config.gates.stack_labels) {
    if (auto it = labels.find(key); it != labels.end()) return it->second;
  }
  return std::nullopt;
}

std::vector<std::string> live_container_states() { return kLiveContainerStates; }

namespace {

void earliest(std::optional<TimePoint>& slot, TimePoint t) {
  if (!slot || t < *slot) slot = t;
}

// A monotonic instant in the wall frame of `now` (GateReport::time_wakeup): its distance
// from now is what the monotonic clock says, whatever the wall clock did.
TimePoint in_wall_frame(SteadyTime t, Now now) {
  return now.wall + std::chrono::duration_cast<Clock::duration>(t - now.mono);
}

// "a, b, c and 4 more": reasons stay one readable line on a busy host.
std::string join_names(const std::vector<std::string>& names, std::size_t max = 5) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  if (names.size() > max) out += fmt::format(" and {} more", names.size() - max);
  return out;
}

GateVerdict disk_gate(const Snapshot& snap, const Config& config) {
  GateVerdict v{GateId::disk, false, {}};
  if (!snap.disk) {
    v.reason = snap.disk_error.empty() ? "disk usage unknown" : snap.disk_error;
    return v;
  }
  const auto& d = *snap.disk;
  const double pct = d.percent(), ipct = d.inode_percent();
  const double thr = config.disk.threshold_percent, ithr = config.disk.inode_threshold_percent;
  const std::string& where = snap.disk_path.empty() ? d.path : snap.disk_path;
  if (pct >= thr) {
    v.open = true;
    v.reason = fmt::format("disk {:.1f}% >= {}% on {}", pct, thr, where);
  } else if (ipct >= ithr) {
    v.open = true;
    v.reason = fmt::format("inodes {:.1f}% >= {}% on {}", ipct, ithr, where);
  } else {
    v.reason = fmt::format("disk {:.1f}% < {}%, inodes {:.1f}% < {}% on {}", pct, thr, ipct, ithr, where);
  }
  return v;
}

// Why the swarm's services are unknown here (runs and converge closed), or nullopt.
// SPEC "The gates", swarm role: locked/pending/error, and a manager whose /services fails.
std::optional<std::string> services_unknown(const Snapshot& snap) {
  if (snap.swarm_role == SwarmRole::unknown)
    return fmt::format("swarm is {} on this node: its services are unknown", snap.swarm_state);
  if (snap.swarm_role == SwarmRole::manager && !snap.services_error.empty())
    return "services unknown on this manager: " + snap.services_error;
  return std::nullopt;
}

// Why only containers are used, by role: a worker cannot see the cluster's services.
std::string containers_only_reason(const Snapshot& snap) {
  switch (snap.swarm_role) {
    case SwarmRole::worker:
      return "this node is a swarm worker: a worker cannot see the cluster's services, only containers are used";
    case SwarmRole::inactive: return "swarm inactive on this node: no services, only containers are used";
    default: return "services not visible on this node (not a manager / swarm inactive): only containers are used";
  }
}

GateVerdict runs_gate(const Snapshot& snap, const Config& config, std::vector<std::string>& live) {
  GateVerdict v{GateId::runs, false, {}};
  if (!snap.docker_connected) return v.reason = "docker unreachable", v;
  if (!snap.synced) return v.reason = "not synced", v;
  if (auto why = services_unknown(snap)) return v.reason = *why, v;
  std::set<std::string> stacks;
  auto consider = [&](const Labels& labels) {
    auto stack = stack_of(labels, config);
    // SPEC "Never twice": a label value over 1 KiB never reaches the regex (std::regex
    // recurses per character: a 100 KB value can exhaust the stack). It does not match.
    if (!stack || stack->size() > kMaxMatchedLabelBytes) return;
    // regex_search: the operator's pattern means what it says (the default is anchored).
    if (std::regex_search(*stack, config.gates.run_stacks_re)) stacks.insert(*stack);
  };
  // Any swarm service of a run stack counts, whatever its replica count: a deployed run
  // is live until its stack is removed.
  if (snap.services_latest)
    for (const auto& s : snap.services_latest->services) consider(s.labels);
  for (const auto& c : snap.containers)
    if (is_live_container_state(c.state)) consider(c.labels);
  // Counted by the live model (one entry per stack, not per container: issue 9).
  if (snap.live_container_stacks)
    for (const auto& [stack, n] : *snap.live_container_stacks)
      if (n > 0 && stack.size() <= kMaxMatchedLabelBytes && std::regex_search(stack, config.gates.run_stacks_re))
        stacks.insert(stack);
  live.assign(stacks.begin(), stacks.end());
  if (live.empty()) {
    v.open = true;
    v.reason = snap.services_visible ? "no run stack live" : "no run stack live; " + containers_only_reason(snap);
  } else {
    v.reason = fmt::format("run stack{} {} live", live.size() > 1 ? "s" : "", join_names(live));
  }
  return v;
}

bool update_settled(const Service& s) {
  const auto& u = s.update_state;
  return !u || u->empty() || *u == "none" || *u == "completed" || *u == "rollback_completed";
}

// Converged in one observation. Unknown (no ServiceStatus) is not converged.
// Jobs: a replicated job is done when TotalCompletions tasks completed (Docker fills
// TotalCompletions from MaxConcurrent, which is DesiredTasks for jobs, when unset).
// A global job has one task per eligible node (DesiredTasks) and is done when none runs
// and at least that many completed. A start-first update shows 4/2 for a while: that is
// not converged (running must equal desired).
bool converged(const Service& s) {
  if (!update_settled(s) || !s.status) return false;
  const auto& st = *s.status;
  switch (s.mode) {
    case ServiceMode::replicated:
    case ServiceMode::global: return st.running == st.desired;
    case ServiceMode::replicated_job:
      return st.completed >= s.total_completions.value_or(std::max<std::uint64_t>(st.desired, 1));
    case ServiceMode::global_job: return st.running == 0 && st.completed >= st.desired;
  }
  return false;
}

std::string display_name(const Service& s) { return s.name.empty() ? s.id : s.name; }

GateVerdict converge_gate(const Snapshot& snap, const Config& config, Now now, GateReport& report) {
  GateVerdict v{GateId::converge, false, {}};
  if (!config.gates.converge) return v.open = true, v.reason = "converge gate disabled", v;
  if (!snap.docker_connected) return v.reason = "docker unreachable", v;
  if (!snap.synced) return v.reason = "not synced", v;
  if (auto why = services_unknown(snap)) return v.reason = *why, v;
  if (!snap.services_visible) {
    v.open = true;
    v.reason = containers_only_reason(snap);
    return v;
  }
  const auto& latest = snap.services_latest;
  const auto& previous = snap.services_previous;
  if (!latest) return v.reason = "services not listed yet", v;
  // SPEC "Never twice, never in a loop": the 1 s spacing is an interval, measured on the
  // monotonic stamps, so a wall-clock step can neither pair two observations taken less
  // than a second apart nor keep two that are apart from pairing.
  if (!previous) {
    v.reason = "waiting for a second observation of services";
    earliest(report.time_wakeup, in_wall_frame(latest->at + std::chrono::seconds(1), now));
    return v;
  }
  if (latest->at - previous->at < std::chrono::seconds(1)) {
    v.reason = "waiting for a second observation of services (less than 1 s apart)";
    earliest(report.time_wakeup, in_wall_frame(previous->at + std::chrono::seconds(1), now));
    return v;
  }
  std::map<std::string, const Service*> before;
  for (const auto& s : previous->services) before[s.id] = &s;

  // stuck_after is the WALL age of the service's UpdatedAt: that is Docker's wall time
  // (moby api/types/swarm/common.go Meta.UpdatedAt, a time.Time from the manager's clock),
  // and no monotonic instant of ours corresponds to it. A wall step moves that age; it only
  // decides which unconverged services are ignored, never the observation spacing above.
  const Duration stuck_after = config.gates.stuck_after;
  const TimePoint wall = now.wall;
  for (const auto& s : latest->services) {
    auto it = before.find(s.id);
    // A service not in the previous observation was seen only once: not converged yet.
    if (it != before.end() && converged(s) && converged(*it->second)) continue;
    const std::string name = display_name(s);
    if (s.update_state == "paused") {
      report.stuck_services.push_back(name + " (update paused)");
    } else if (s.update_state == "rollback_paused") {
      report.stuck_services.push_back(name + " (rollback paused)");
    } else if (stuck_after > Duration::zero() && s.updated_at && wall - *s.updated_at > stuck_after) {
      report.stuck_services.push_back(
          fmt::format("{} (unconverged {} after its last update)", name, format_age(std::chrono::duration_cast<Duration>(wall - *s.updated_at))));
    } else {
      report.unconverged_services.push_back(name);
      // "More than stuck_after ago": stuck 1 ms after the limit, so a wakeup never lands
      // on a moment where nothing has changed yet.
      if (stuck_after > Duration::zero() && s.updated_at)
        earliest(report.time_wakeup, *s.updated_at + stuck_after + Duration(1));
    }
  }
  std::sort(report.unconverged_services.begin(), report.unconverged_services.end());
  std::sort(report.stuck_services.begin(), report.stuck_services.end());
  const auto n = report.unconverged_services.size();
  if (n == 0) {
    v.open = true;
    v.reason = fmt::format("{} service{} converged", latest->services.size() - report.stuck_services.size(),
                           latest->services.size() - report.stuck_services.size() == 1 ? "" : "s");
  } else {
    v.reason = fmt::format("{} service{} converging: {}", n, n == 1 ? "" : "s",
                           join_names(report.unconverged_services));
  }
  if (!report.stuck_services.empty())
    v.reason += fmt::format("; stuck (ignored): {}", join_names(report.stuck_services));
  return v;
}

// last_prune_finished is in the wall frame of `now`: the daemon's timeline places it there
// from the prune's monotonic instant (timeline.cpp projected()), so its age is monotonic.
GateVerdict cooldown_gate(const Snapshot& snap, const Config& config, TimePoint now, GateReport& report) {
  GateVerdict v{GateId::cooldown, false, {}};
  const Duration cooldown = config.prune.cooldown;
  if (!snap.last_prune_finished) return v.open = true, v.reason = "no prune yet", v;
  const TimePoint last = *snap.last_prune_finished;
  // A clock set backwards makes the last prune look "in the future": count its age as 0.
  const Duration age = last > now ? Duration::zero() : std::chrono::duration_cast<Duration>(now - last);
  if (age >= cooldown) {
    v.open = true;
    v.reason = fmt::format("last prune {} ago, cooldown {} over", format_age(age), format_age(cooldown));
    return v;
  }
  const TimePoint until = last + cooldown;
  v.reason = fmt::format("last prune {} ago, cooldown {}: until {}", format_age(age), format_age(cooldown),
                         format_utc(until));
  earliest(report.time_wakeup, until);
  return v;
}

}  // namespace

GateReport evaluate_gates(const Snapshot& snap, const Config& config, Now now) {
  GateReport r;
  r.gates[0] = disk_gate(snap, config);
  r.gates[1] = runs_gate(snap, config, r.live_run_stacks);
  r.gates[2] = converge_gate(snap, config, now, r);
  r.gates[3] = cooldown_gate(snap, config, now.wall, r);
  return r;
}

}  // namespace cdp
