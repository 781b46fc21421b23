// The one-line STATUS/summary formatter of SPEC.md "Reporting". Pure: it reads the
// decision's trail and formats; it must not evaluate gates or read the clock.
#include "report/status_line.hpp"

#include <array>

#include <fmt/format.h>

#include "report/emergency_status.hpp"
#include "util/duration.hpp"
#include "util/format.hpp"

namespace cdp {

namespace {

std::string runs_part(const Decision& d) {
  const auto& g = d.report.gate(GateId::runs);
  if (!d.report.live_run_stacks.empty()) return g.reason;  // "run stack X live"
  return g.open ? "no run stack live" : g.reason;
}

std::string converge_part(const Decision& d, const Config& config, const Snapshot& snap) {
  const auto& r = d.report;
  const auto& g = r.gate(GateId::converge);
  if (!config.gates.converge) return "converge gate disabled";
  if (!snap.services_visible && snap.docker_connected && snap.synced) return "services not visible";
  if (!g.open && r.unconverged_services.empty()) return g.reason;  // e.g. waiting for a 2nd observation
  const auto n = r.unconverged_services.size();
  std::string out = fmt::format("{} service{} converging", n, n == 1 ? "" : "s");
  if (!r.stuck_services.empty()) out += fmt::format(", {} stuck", r.stuck_services.size());
  return out;
}

std::string prune_part(const Decision& d, std::optional<TimePoint> last, TimePoint now,
                       std::optional<std::uint64_t> last_reclaimed) {
  if (!last) return "no prune yet";
  const auto age = *last > now ? Duration::zero() : std::chrono::duration_cast<Duration>(now - *last);
  std::string out = fmt::format("last prune {} ago", format_age(age));
  if (last_reclaimed) out += fmt::format(" ({})", format_bytes(*last_reclaimed));
  if (!d.report.gate(GateId::cooldown).open) out += ", in cooldown";
  return out;
}

}  // namespace

namespace {
std::string line_for(const Decision& decision, const Snapshot& snap, const Config& config, TimePoint now,
                     std::optional<TimePoint> last, std::optional<std::uint64_t> last_reclaimed) {
  const auto& r = decision.report;
  std::string line = fmt::format("{}: ", state_name(decision.state));
  if (decision.state == State::connecting) {
    // Runs carries "docker unreachable" / "not synced"; the disk may still be known.
    line += r.gate(GateId::runs).reason;
    line += "; " + r.gate(GateId::disk).reason;
  } else {
    line += r.gate(GateId::disk).reason;
    line += "; " + runs_part(decision);
    line += "; " + converge_part(decision, config, snap);
  }
  line += "; " + prune_part(decision, last, now, last_reclaimed);
  return line;
}

}  // namespace

std::string status_line(const Decision& decision, const Snapshot& snap, const Config& config, TimePoint now,
                        std::optional<std::uint64_t> last_reclaimed) {
  return line_for(decision, snap, config, now, snap.last_prune_finished, last_reclaimed);
}

std::string status_line(const timeline::View& v, const Snapshot& snap, const Config& config, TimePoint now) {
  std::optional<TimePoint> last;
  std::optional<std::uint64_t> reclaimed;
  if (v.last_prune) {
    last = v.last_prune->wall;
    reclaimed = v.last_prune->reclaimed;
  }
  std::string line = line_for(v.decision, snap, config, now, last, reclaimed);
  if (v.running_step) {
    line += fmt::format("; step {} running", step_name(*v.running_step));
    // SPEC: a step over 10 minutes is slow, and STATUS says for how long.
    if (v.running_slow) line += fmt::format(" for {} (slow, not cancelled)", format_age(v.running_for));
  }
  // Issue 11: whether the emergency tier is on, and its last episode.
  if (const std::string e = emergency_status_part(v, now); !e.empty()) line += "; " + e;
  // SPEC / issue 12: dry-run is visible, and what it would free is said as such.
  if (v.dry_run) {
    line += "; dry-run: nothing is deleted";
    if (v.last_dry_run_would_free)
      line += fmt::format(", the last dry run would free {}", format_bytes(*v.last_dry_run_would_free));
  }
  return line;
}

}  // namespace cdp
