// The state file ($STATE_DIRECTORY/state.json, else /var/lib/ci-docker-prune/state.json):
// what must survive a restart, today the last prune (SPEC "Never twice, never in a loop").
// Owns the file's format, the atomic write (temp, fsync, rename, fsync dir) and keeping keys
// it does not know (other rooms add theirs). Must not decide anything or log.
#pragma once
#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/timeline.hpp"

namespace cdp {

inline constexpr const char* kDefaultStateDirectory = "/var/lib/ci-docker-prune";

// $STATE_DIRECTORY (its first entry when systemd lists several, ':'-separated), else the
// default; then "/state.json".
std::string state_file_path();

// This boot's id (/proc/sys/kernel/random/boot_id), "" when unreadable. The monotonic
// clock restarts at boot, so a persisted monotonic instant means something only in the
// boot that wrote it.
std::string current_boot_id();

class StateFile {
 public:
  explicit StateFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  // Reads the file. A missing, unreadable or corrupt file leaves an empty document and
  // returns the warning to log ("Failed to read ...: ...; ..."); never throws.
  std::expected<void, std::string> load();

  // The last prune in the document, if one is there and well-formed. `same_boot` is set
  // when it was written in this boot (`boot_id` matches), i.e. its monotonic instant holds.
  std::optional<timeline::LastPrune> last_prune(const std::string& boot_id, bool& same_boot) const;

  // Stores `last` under "last_prune" (other keys kept) and writes the file atomically.
  // Fails with "Failed to write <path>: <why>"; the document keeps the new value anyway.
  std::expected<void, std::string> save_last_prune(const timeline::LastPrune& last, const std::string& boot_id);

  const nlohmann::json& document() const { return doc_; }

 private:
  std::expected<void, std::string> write() const;

  std::string path_;
  nlohmann::json doc_ = nlohmann::json::object();
};

}  // namespace cdp
