// `plan`'s emergency section (SPEC "The emergency tier": plan lists the candidates in
// eviction order with their last use and size). Reads fresh lists and the state file's
// last uses; decides nothing itself (lib/policy/emergency.* does) and deletes nothing.
#pragma once
#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "model/image_use.hpp"
#include "model/snapshot.hpp"

namespace cdp {

struct EmergencyPlan {
  nlohmann::json json;  // the "emergency" member of `plan --json`
  std::string text;     // the lines `plan` prints
};

// The last uses the state file at `path` holds (key "image_last_use"). A missing file
// means none (every image then counts as first seen now); an unreadable or corrupt one
// too, and `warning` says why.
ImageUse load_image_use(const std::string& path, std::string& warning);

// Lists images, containers (all states) and services, applies the candidate rule at `now`.
awaitable<std::expected<EmergencyPlan, docker::Error>> emergency_plan(docker::Client& client, const Config& config,
                                                                      const Snapshot& snap, TimePoint now);

}  // namespace cdp
