// The emergency tier as STATUS and `status` show it (emergency_status.hpp). Formatting only.
#include "report/emergency_status.hpp"

#include <fmt/format.h>

#include "util/duration.hpp"
#include "util/format.hpp"

namespace cdp {

namespace {
std::string ago(TimePoint t, TimePoint now) {
  return format_age(std::chrono::duration_cast<Duration>(now > t ? now - t : Duration::zero())) + " ago";
}
std::uint64_t epoch_us(TimePoint t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}
}  // namespace

std::string last_episode_text(const timeline::LastEmergency& last, TimePoint now) {
  const char* s = last.evicted == 1 ? "" : "s";
  if (last.dry_run)
    return fmt::format("{}: would evict {} image{} ({} by their sizes), {}, dry-run", ago(last.wall, now), last.evicted,
                       s, format_bytes(last.reclaimed), last.ended);
  return fmt::format("{}: evicted {} image{} ({}), {}", ago(last.wall, now), last.evicted, s,
                     format_bytes(last.reclaimed), last.ended);
}

std::string emergency_status_part(const timeline::View& v, TimePoint now) {
  if (!v.emergency_enabled) return {};
  if (v.emergency_running) return "emergency tier evicting";
  if (!v.last_emergency) return "emergency tier on";
  return "emergency tier on, last episode " + last_episode_text(*v.last_emergency, now);
}

std::optional<timeline::LastEmergency> last_emergency_of(const BusState& st) {
  if (st.last_emergency_finished_us == 0) return std::nullopt;
  timeline::LastEmergency last;
  last.wall = TimePoint{} + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::microseconds(st.last_emergency_finished_us));
  last.evicted = st.last_emergency_evicted;
  last.reclaimed = st.last_emergency_reclaimed_bytes;
  last.ended = st.last_emergency_ended;
  last.dry_run = st.last_emergency_dry_run;
  return last;
}

std::string emergency_status_text(const BusState& st, TimePoint now) {
  std::string out = st.emergency_enabled ? "on" : "off (every tagged image is kept)";
  if (auto last = last_emergency_of(st))
    out += fmt::format("; last episode {} (finished {})", last_episode_text(*last, now), format_utc(last->wall));
  else if (st.emergency_enabled)
    out += "; no episode yet";
  return "Emergency tier: " + out;
}

nlohmann::json emergency_status_json(const BusState& st) {
  nlohmann::json last = nullptr;
  if (auto l = last_emergency_of(st))
    last = {{"finished", format_utc(l->wall)},
            {"finished_us", epoch_us(l->wall)},
            {"evicted", l->evicted},
            {"reclaimed_bytes", l->reclaimed},
            {"ended", l->ended},
            {"dry_run", l->dry_run}};
  return {{"enabled", st.emergency_enabled}, {"last_episode", last}};
}

}  // namespace cdp
