// Warnings and the `status --check` verdict (report/health.hpp). Pure: it reads the
// inputs it is given; it must not read the clock, the bus or Docker.
#include "report/health.hpp"

#include <cmath>

#include <fmt/format.h>

namespace cdp {

std::vector<std::string> collect_warnings(const WarningInputs& in) {
  std::vector<std::string> out;
  if (in.docker_connected && !in.disk_known)
    out.emplace_back("disk_unknown: the disk cannot be read, so the disk gate stays closed and nothing is pruned");
  if (in.disk_over && !in.any_step_enabled)
    out.emplace_back("no_prune_possible: the disk is over the threshold and every prune step is disabled");
  if (in.dry_run) out.emplace_back("dry_run: prune.dry_run is on, nothing is ever removed");
  if (in.blocked_long) out.emplace_back("blocked_long: " + *in.blocked_long);
  if (in.disk_over && in.still_full) out.emplace_back("still_full: " + *in.still_full);
  return out;
}

std::string_view warning_kind(std::string_view warning) {
  const auto colon = warning.find(": ");
  return colon == std::string_view::npos ? std::string_view() : warning.substr(0, colon);
}

CheckResult check_health(const BusState& st) {
  std::vector<std::string> critical, warning;
  if (!st.docker_connected) critical.emplace_back("Docker unreachable");
  for (const auto& w : st.warnings) {
    const auto kind = warning_kind(w);
    (kind == "no_prune_possible" || kind == "disk_unknown" ? critical : warning).push_back(w);
  }
  CheckResult r;
  const char* label = "OK";
  if (!critical.empty()) {
    r.exit_code = kCheckCritical;
    label = "CRITICAL";
  } else if (!warning.empty()) {
    r.exit_code = kCheckWarning;
    label = "WARNING";
  }
  r.line = fmt::format("{}: {}", label, st.state);
  for (const auto* list : {&critical, &warning})
    for (const auto& s : *list) r.line += "; " + s;
  if (std::isnan(st.disk_used_percent)) {
    r.line += "; disk unknown";
  } else {
    r.line += fmt::format("; disk {:.1f}% (threshold {:g}%), inodes {:.1f}% (threshold {:g}%)", st.disk_used_percent,
                          st.disk_threshold_percent, st.disk_inodes_used_percent, st.disk_inode_threshold_percent);
    // Performance data after '|': label=value[UOM];warn;crit;min;max (Nagios plugin guidelines).
    r.line += fmt::format(" | disk_used={:.1f}%;{:g};;0;100 inodes_used={:.1f}%;{:g};;0;100", st.disk_used_percent,
                          st.disk_threshold_percent, st.disk_inodes_used_percent, st.disk_inode_threshold_percent);
  }
  // One line: a reason with a newline (a gate reason quoting Docker) must not split it.
  for (auto& c : r.line)
    if (c == '\n' || c == '\r') c = ' ';
  return r;
}

}  // namespace cdp
