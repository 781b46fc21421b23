// The subcommands of the one binary (SPEC.md "Command line"). main.cpp parses argv and
// dispatches here; each command lives in its own file.
#pragma once
#include <optional>
#include <string>

namespace cdp {

// Exit codes (SPEC.md; documented in docs/configuration.md and --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // unexpected internal failure
inline constexpr int kExitConfig = 2;       // bad config or bad usage
inline constexpr int kExitUnreachable = 3;  // Docker (plan/prune) or the daemon (status) unreachable

struct CommandOptions {
  std::optional<std::string> config_path;  // -c FILE; nullopt = default path, missing = defaults
  bool json = false;                       // --json
  bool ignore_disk = false;                // prune --ignore-disk
  bool check = false;                      // status --check (monitoring: one line, exit 0-3)
};

int cmd_check_config(const CommandOptions& opts);  // daemon/cmd_check_config.cpp
int cmd_plan(const CommandOptions& opts);          // daemon/cmd_oneshot.cpp
int cmd_prune(const CommandOptions& opts);         // daemon/cmd_oneshot.cpp
int cmd_status(const CommandOptions& opts);        // daemon/cmd_status.cpp
int cmd_daemon(const CommandOptions& opts);        // daemon/cmd_daemon.cpp (+ daemon/manager.*)

}  // namespace cdp
