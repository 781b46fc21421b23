// `ci-docker-prune status [--json|--check]`: reads every property of the running daemon
// over the system bus (one GetAll call, short timeout) and prints them. Owns only that
// read and its rendering; must not talk to Docker or decide anything (the daemon's
// verdicts are shown; report/health.hpp turns them into the --check verdict).
// --json prints one object: {"state", "docker_connected", "version", "dry_run",
// "config": {"path", "loaded_at" (UTC or null), "loaded_at_us", "hash", "changed_on_disk"
// (bool, null when the file cannot be read here)}, "disk": report_json.hpp's disk shape,
// "gates": [{"name","open","reason"}], "live_run_stacks", "unconverged_services",
// "stuck_services", "warnings", "last_prune": {"finished" (UTC or null), "finished_us",
// "reclaimed_bytes"}, "next_prune_not_before" (UTC or null), "next_prune_not_before_us",
// "emergency": report/emergency_status.hpp's shape}.
// --check prints one line and exits 0 ok, 1 warning, 2 critical, 3 daemon unreachable.
#include <systemd/sd-bus.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <expected>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "config/file_hash.hpp"
#include "report/bus.hpp"
#include "report/emergency_status.hpp"
#include "report/health.hpp"
#include "report_json.hpp"
#include "report/status_line.hpp"
#include "util/duration.hpp"
#include "util/format.hpp"
#include "util/time.hpp"

namespace cdp {
namespace {

// An operator typing `status` must get an answer quickly even if the daemon is wedged.
constexpr std::uint64_t kCallTimeoutUsec = 5'000'000;

struct ReadError {
  std::string message;
  int exit_code;
};

int read_strings(sd_bus_message* m, std::vector<std::string>& out) {
  int r = sd_bus_message_enter_container(m, 'a', "s");
  if (r < 0) return r;
  const char* s = nullptr;
  while ((r = sd_bus_message_read(m, "s", &s)) > 0) out.emplace_back(s);
  return r < 0 ? r : sd_bus_message_exit_container(m);
}

int read_gates(sd_bus_message* m, BusState& st) {
  int r = sd_bus_message_enter_container(m, 'a', "(sbs)");
  if (r < 0) return r;
  const char* name = nullptr;
  const char* reason = nullptr;
  int open = 0;
  while ((r = sd_bus_message_read(m, "(sbs)", &name, &open, &reason)) > 0) st.gates.emplace_back(name, open != 0, reason);
  return r < 0 ? r : sd_bus_message_exit_container(m);
}

// One property's variant value into `st`; unknown names (a newer daemon) are skipped.
int read_property(sd_bus_message* m, std::string_view name, BusState& st) {
  const char* s = nullptr;
  int b = 0;
  auto str = [&](std::string& out) {
    int r = sd_bus_message_read(m, "v", "s", &s);
    if (r >= 0) out = s;
    return r;
  };
  if (name == "State") return str(st.state);
  if (name == "DiskPath") return str(st.disk_path);
  if (name == "DockerConnected") {
    int r = sd_bus_message_read(m, "v", "b", &b);
    st.docker_connected = b != 0;
    return r;
  }
  if (name == "DiskUsedPercent") return sd_bus_message_read(m, "v", "d", &st.disk_used_percent);
  if (name == "DiskInodesUsedPercent") return sd_bus_message_read(m, "v", "d", &st.disk_inodes_used_percent);
  if (name == "DiskThresholdPercent") return sd_bus_message_read(m, "v", "d", &st.disk_threshold_percent);
  if (name == "LastPruneFinished") return sd_bus_message_read(m, "v", "t", &st.last_prune_finished_us);
  if (name == "LastPruneReclaimedBytes") return sd_bus_message_read(m, "v", "t", &st.last_prune_reclaimed_bytes);
  if (name == "NextPruneNotBefore") return sd_bus_message_read(m, "v", "t", &st.next_prune_not_before_us);
  if (name == "DiskInodeThresholdPercent") return sd_bus_message_read(m, "v", "d", &st.disk_inode_threshold_percent);
  if (name == "ConfigPath") return str(st.config_path);
  if (name == "ConfigLoadedAt") return sd_bus_message_read(m, "v", "t", &st.config_loaded_at_us);
  if (name == "ConfigHash") return str(st.config_hash);
  if (name == "Version") return str(st.version);
  if (name == "DryRun") {
    int r = sd_bus_message_read(m, "v", "b", &b);
    st.dry_run = b != 0;
    return r;
  }
  if (name == "EmergencyEnabled" || name == "LastEmergencyDryRun") {
    int r = sd_bus_message_read(m, "v", "b", &b);
    (name == "EmergencyEnabled" ? st.emergency_enabled : st.last_emergency_dry_run) = b != 0;
    return r;
  }
  if (name == "LastEmergencyFinished") return sd_bus_message_read(m, "v", "t", &st.last_emergency_finished_us);
  if (name == "LastEmergencyEvicted") return sd_bus_message_read(m, "v", "t", &st.last_emergency_evicted);
  if (name == "LastEmergencyReclaimedBytes") return sd_bus_message_read(m, "v", "t", &st.last_emergency_reclaimed_bytes);
  if (name == "LastEmergencyEnded") return str(st.last_emergency_ended);
  std::vector<std::string>* list = name == "LiveRunStacks"         ? &st.live_run_stacks
                                   : name == "UnconvergedServices" ? &st.unconverged_services
                                   : name == "StuckServices"       ? &st.stuck_services
                                   : name == "Warnings"            ? &st.warnings
                                                                   : nullptr;
  const char* sig = name == "Gates" ? "a(sbs)" : list ? "as" : nullptr;
  if (!sig) return sd_bus_message_skip(m, "v");
  int r = sd_bus_message_enter_container(m, 'v', sig);
  if (r < 0) return r;
  if (name == "Gates") r = read_gates(m, st);
  else r = read_strings(m, *list);
  return r < 0 ? r : sd_bus_message_exit_container(m);
}

std::expected<BusState, ReadError> read_status() {
  sd_bus* bus = nullptr;
  if (int r = sd_bus_open_system(&bus); r < 0)
    return std::unexpected(ReadError{fmt::format("cannot reach the system bus: {}", std::strerror(-r)), kExitUnreachable});
  sd_bus_set_method_call_timeout(bus, kCallTimeoutUsec);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call_method(bus, kBusName, kBusPath, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply, "s",
                             kBusInterface);
  std::expected<BusState, ReadError> result;
  if (r < 0) {
    const bool absent = sd_bus_error_has_names(&error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
    const bool no_reply = sd_bus_error_has_name(&error, SD_BUS_ERROR_NO_REPLY) || r == -ETIMEDOUT;
    std::string why = error.message ? error.message : std::strerror(-r);
    if (absent)
      why = fmt::format("the daemon is not running (nobody owns {} on the system bus)", kBusName);
    else if (no_reply)
      why = fmt::format("the daemon did not answer within {}s", kCallTimeoutUsec / 1'000'000);
    else
      why = "Failed to read the daemon's state: " + why;
    result = std::unexpected(ReadError{why, kExitUnreachable});
  } else {
    BusState st;
    r = sd_bus_message_enter_container(reply, 'a', "{sv}");
    while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
      const char* name = nullptr;
      r = sd_bus_message_read(reply, "s", &name);
      if (r >= 0) r = read_property(reply, name, st);
      if (r >= 0) r = sd_bus_message_exit_container(reply);
    }
    if (r < 0)
      result = std::unexpected(ReadError{fmt::format("Failed to parse the daemon's state: {}", std::strerror(-r)), kExitFailure});
    else
      result = std::move(st);
  }
  sd_bus_error_free(&error);
  sd_bus_message_unref(reply);
  sd_bus_flush_close_unref(bus);
  return result;
}

TimePoint from_us(std::uint64_t us) { return TimePoint(std::chrono::microseconds(us)); }

std::string utc(std::uint64_t us) { return format_utc(from_us(us)); }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::optional<double> known(double percent) {
  return std::isnan(percent) ? std::nullopt : std::optional<double>(percent);
}

// Whether the file the daemon read has changed since (a reload is due); nullopt when it
// cannot be read from here (another user, a path in the daemon's own namespace).
std::optional<bool> changed_on_disk(const BusState& st) {
  if (st.config_path.empty()) return std::nullopt;
  auto now_hash = config_file_hash(st.config_path);
  if (!now_hash) return st.config_hash.empty() ? std::optional<bool>(false) : std::nullopt;
  return *now_hash != st.config_hash;
}

// Why nothing is scheduled, for "Next prune:": the closed gates that are not about time.
std::string waiting_for(const BusState& st) {
  std::string closed;
  for (const auto& [name, open, reason] : st.gates)
    if (!open) closed += (closed.empty() ? "" : ", ") + name;
  if (st.state == "connecting") return "not scheduled: Docker unreachable or not synced";
  if (st.state == "idle") return "not scheduled: the disk is below the threshold";
  if (closed.empty()) return "not scheduled";
  return "not scheduled: waiting for the " + closed + " gate" + (closed.find(',') == std::string::npos ? "" : "s");
}

std::string list_or_none(const std::vector<std::string>& v) { return v.empty() ? "none" : join(v); }

void print_human(const BusState& st, TimePoint now) {
  auto ago = [&](std::uint64_t us) {
    return format_age(std::chrono::duration_cast<Duration>(now > from_us(us) ? now - from_us(us) : Duration::zero()));
  };
  std::string out = fmt::format("State: {}\n", st.state);
  out += fmt::format("Version: {}\n", st.version.empty() ? "(unknown)" : st.version);
  std::string config = st.config_path.empty() ? "(unknown)" : st.config_path;
  if (st.config_loaded_at_us) config += fmt::format(", loaded {} ago ({})", ago(st.config_loaded_at_us), utc(st.config_loaded_at_us));
  config += st.config_hash.empty() ? ", no file (all defaults)" : ", hash " + st.config_hash;
  if (changed_on_disk(st).value_or(false)) config += "; the file has changed since: systemctl reload ci-docker-prune";
  out += fmt::format("Config: {}\n", config);
  out += fmt::format("Dry run: {}\n", st.dry_run ? "on (nothing is ever removed)" : "off");
  out += emergency_status_text(st, now) + "\n";
  out += fmt::format("Docker: {}\n", st.docker_connected ? "connected" : "unreachable");
  const std::string where = st.disk_path.empty() ? "(unknown)" : st.disk_path;
  if (!known(st.disk_used_percent))
    out += fmt::format("Disk: unknown (threshold {:g}%, inodes {:g}%) on {}\n", st.disk_threshold_percent,
                       st.disk_inode_threshold_percent, where);
  else
    out += fmt::format("Disk: {:.1f}% used (threshold {:g}%), inodes {:.1f}% used (threshold {:g}%) on {}\n",
                       st.disk_used_percent, st.disk_threshold_percent, st.disk_inodes_used_percent,
                       st.disk_inode_threshold_percent, where);
  out += "Gates:\n";
  for (const auto& [name, open, reason] : st.gates)
    out += fmt::format("  {:<9} {:<6} {}\n", name, open ? "open" : "closed", reason);
  out += fmt::format("Live run stacks: {}\n", list_or_none(st.live_run_stacks));
  out += fmt::format("Unconverged services: {}\n", list_or_none(st.unconverged_services));
  out += fmt::format("Stuck services: {}\n", list_or_none(st.stuck_services));
  if (st.warnings.empty()) out += "Warnings: none\n";
  else {
    out += "Warnings:\n";
    for (const auto& w : st.warnings) out += "  " + w + "\n";
  }
  if (st.last_prune_finished_us == 0)
    out += "Last prune: never\n";
  else
    out += fmt::format("Last prune: {} ago ({}), reclaimed {}\n", ago(st.last_prune_finished_us),
                       utc(st.last_prune_finished_us), format_bytes(st.last_prune_reclaimed_bytes));
  if (st.next_prune_not_before_us == 0)
    out += fmt::format("Next prune: {}\n", waiting_for(st));
  else if (from_us(st.next_prune_not_before_us) <= now)
    out += "Next prune: now (every gate open)\n";
  else
    out += fmt::format("Next prune not before: {} (in {})\n", utc(st.next_prune_not_before_us),
                       format_age(std::chrono::duration_cast<Duration>(from_us(st.next_prune_not_before_us) - now)));
  std::fputs(out.c_str(), stdout);
}

void print_json(const BusState& st) {
  nlohmann::json gates = nlohmann::json::array();
  for (const auto& [name, open, reason] : st.gates) gates.push_back(gate_json(name, open, reason));
  auto time_or_null = [](std::uint64_t us) { return us == 0 ? nlohmann::json(nullptr) : nlohmann::json(utc(us)); };
  const auto changed = changed_on_disk(st);
  nlohmann::json j = {
      {"state", st.state},
      {"docker_connected", st.docker_connected},
      {"version", st.version},
      {"dry_run", st.dry_run},
      {"config",
       {{"path", st.config_path},
        {"loaded_at", time_or_null(st.config_loaded_at_us)},
        {"loaded_at_us", st.config_loaded_at_us},
        {"hash", st.config_hash},
        {"changed_on_disk", changed ? nlohmann::json(*changed) : nlohmann::json(nullptr)}}},
      {"disk", disk_json(st.disk_path, known(st.disk_used_percent), known(st.disk_inodes_used_percent),
                         st.disk_threshold_percent, st.disk_inode_threshold_percent)},
      {"gates", gates},
      {"live_run_stacks", st.live_run_stacks},
      {"unconverged_services", st.unconverged_services},
      {"stuck_services", st.stuck_services},
      {"warnings", st.warnings},
      {"last_prune",
       {{"finished", time_or_null(st.last_prune_finished_us)},
        {"finished_us", st.last_prune_finished_us},
        {"reclaimed_bytes", st.last_prune_reclaimed_bytes}}},
      {"next_prune_not_before", time_or_null(st.next_prune_not_before_us)},
      {"next_prune_not_before_us", st.next_prune_not_before_us},
      {"emergency", emergency_status_json(st)},
  };
  std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

int cmd_status(const CommandOptions& opts) {
  auto st = read_status();
  if (!st) {
    if (opts.check) {  // a monitoring check reads stdout: one line there, the plugin's UNKNOWN
      std::printf("UNKNOWN: %s\n", st.error().message.c_str());
      return kCheckUnknown;
    }
    std::fprintf(stderr, "ci-docker-prune status: %s\n", st.error().message.c_str());
    return st.error().exit_code;
  }
  if (opts.check) {
    const CheckResult r = check_health(*st);
    std::printf("%s\n", r.line.c_str());
    return r.exit_code;
  }
  if (opts.json)
    print_json(*st);
  else
    print_human(*st, Clock::now());
  return kExitOk;
}

}  // namespace cdp
