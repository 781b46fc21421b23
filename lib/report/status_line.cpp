// The one-line STATUS/summary formatter of SPEC.md "Reporting". Pure: it reads the
// decision's trail and formats; it must not evaluate gates or read the clock.
#include "report/status_line.hpp"

#include <array>

#include <fmt/format.h>

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

std::string prune_part(const Decision& d, const Snapshot& snap, TimePoint now,
                       std::optional<std::uint64_t> last_reclaimed) {
  if (!snap.last_prune_finished) return "no prune yet";
  const auto age = *snap.last_prune_finished > now
                       ? Duration::zero()
                       : std::chrono::duration_cast<Duration>(now - *snap.last_prune_finished);
  std::string out = fmt::format("last prune {} ago", format_age(age));
  if (last_reclaimed) out += fmt::format(" ({})", format_bytes(*last_reclaimed));
  if (!d.report.gate(GateId::cooldown).open) out += ", in cooldown";
  return out;
}

}  // namespace

std::string status_line(const Decision& decision, const Snapshot& snap, const Config& config, TimePoint now,
                        std::optional<std::uint64_t> last_reclaimed) {
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
  line += "; " + prune_part(decision, snap, now, last_reclaimed);
  return line;
}

}  // namespace cdp
