// The last emergency episode's JSON shape in the state file (last_emergency.hpp).
#include "state/last_emergency.hpp"

namespace cdp {

nlohmann::json last_emergency_to_json(const timeline::LastEmergency& last) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(last.wall.time_since_epoch()).count();
  return {{"finished_us", static_cast<std::uint64_t>(us > 0 ? us : 0)},
          {"evicted", last.evicted},
          {"reclaimed_bytes", last.reclaimed},
          {"ended", last.ended},
          {"dry_run", last.dry_run}};
}

std::optional<timeline::LastEmergency> last_emergency_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto u = [&](const char* k) { return j.contains(k) && j[k].is_number_unsigned(); };
  if (!u("finished_us") || !u("evicted") || !u("reclaimed_bytes") || !j.contains("ended") || !j["ended"].is_string())
    return std::nullopt;
  timeline::LastEmergency last;
  last.wall = TimePoint{} + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::microseconds(j["finished_us"].get<std::uint64_t>()));
  last.evicted = j["evicted"].get<std::uint64_t>();
  last.reclaimed = j["reclaimed_bytes"].get<std::uint64_t>();
  last.ended = j["ended"].get<std::string>();
  last.dry_run = j.contains("dry_run") && j["dry_run"].is_boolean() && j["dry_run"].get<bool>();
  return last;
}

}  // namespace cdp
