// The daemon's warnings and the monitoring verdict of `status --check` (Nagios/Icinga
// exit codes), from what the daemon publishes on D-Bus. Pure: no I/O, no clock; the
// daemon gathers the inputs, `status` reads them back over the bus.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/bus.hpp"

namespace cdp {

// Exit codes of `status --check` (SPEC "Command line"), the plugin convention.
inline constexpr int kCheckOk = 0;
inline constexpr int kCheckWarning = 1;
inline constexpr int kCheckCritical = 2;
inline constexpr int kCheckUnknown = 3;  // the daemon (or the bus) is unreachable

struct WarningInputs {
  bool dry_run = false;
  bool docker_connected = false;
  bool disk_known = false;        // statvfs answered (false also before DockerRootDir is known)
  bool disk_over = false;         // the disk gate is open (bytes or inodes at/over threshold)
  bool any_step_enabled = true;   // prune.containers || images || build_cache
  std::optional<std::string> blocked_long;  // "the runs gate has blocked pruning for 1h5m: ..."
  std::optional<std::string> still_full;    // the last still_full message, while still over
};

// The Warnings property: "<kind>: <what>", kinds dry_run, blocked_long, still_full
// (warnings) and no_prune_possible, disk_unknown (critical). disk_unknown only while
// Docker is connected (unreachable Docker is its own critical state, DockerConnected).
std::vector<std::string> collect_warnings(const WarningInputs& in);

// "still_full" for "still_full: ...". Empty when there is no ": ".
std::string_view warning_kind(std::string_view warning);

struct CheckResult {
  int exit_code = kCheckOk;
  std::string line;  // one line, e.g. "WARNING: blocked; blocked_long: ... | disk_used=84.1%;80;;0;100"
};

// Critical: Docker unreachable, or a no_prune_possible / disk_unknown warning.
// Warning: any other warning. Else OK.
CheckResult check_health(const BusState& st);

}  // namespace cdp
