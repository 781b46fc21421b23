// The /system/df split of report/disk_split.hpp. Pure: parses, sums, formats.
#include "report/disk_split.hpp"

#include <ctime>

#include <fmt/format.h>

#include "report/status_line.hpp"

namespace cdp {

namespace {

using json = nlohmann::json;

std::uint64_t bytes(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  const double v = it->get<double>();  // -1 means "not computed" (volumes, SharedSize)
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

const json& array_or_empty(const json& df, const char* key) {
  static const json kEmpty = json::array();
  auto it = df.find(key);
  return it != df.end() && it->is_array() ? *it : kEmpty;
}

// "2026-11-27T00:24:52.422348924Z" -> whole seconds (Docker compares `until` in whole
// seconds too: timetypes.GetTimestamp). nullopt for anything else.
std::optional<TimePoint> parse_utc_seconds(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return Clock::from_time_t(timegm(&tm));
}

bool dangling(const json& image) {
  auto it = image.find("RepoTags");
  if (it == image.end() || !it->is_array() || it->empty()) return true;
  for (const auto& t : *it)
    if (!t.is_string() || t.get<std::string>() != "<none>:<none>") return false;
  return true;
}

bool live_state(const std::string& state) {
  // The container prune removes every container that is not running (moby: a `created`
  // one too); paused and restarting ones count as running there.
  return state == "running" || state == "paused" || state == "restarting" || state == "removing";
}

}  // namespace

std::expected<DiskSplit, std::string> split_disk(const json& df, std::uint64_t fs_used, Duration until,
                                                 TimePoint now) {
  if (!df.is_object() || !df.contains("LayersSize"))
    return std::unexpected(std::string("the /system/df reply has no LayersSize"));
  const TimePoint cutoff = now - until;
  auto older = [&](std::optional<TimePoint> t) { return t && *t < cutoff; };
  DiskSplit s;
  s.fs_used = fs_used;

  // Images: LayersSize counts every layer once; a dangling image's own layers are its
  // Size - SharedSize (the rest is shared with images that stay).
  const std::uint64_t layers = bytes(df, "LayersSize");
  std::uint64_t unique_reclaimable = 0;
  for (const auto& img : array_or_empty(df, "Images")) {
    if (!img.is_object() || !dangling(img) || bytes(img, "Containers") > 0) continue;
    const std::uint64_t size = bytes(img, "Size"), shared = bytes(img, "SharedSize");
    const std::uint64_t own = size > shared ? size - shared : 0;
    const auto created = Clock::from_time_t(static_cast<std::time_t>(bytes(img, "Created")));
    (older(created) ? s.images.now : s.images.later) += own;
    unique_reclaimable += own;
  }
  s.images.kept = layers > unique_reclaimable ? layers - unique_reclaimable : 0;

  for (const auto& c : array_or_empty(df, "Containers")) {
    if (!c.is_object()) continue;
    const std::uint64_t rw = bytes(c, "SizeRw");  // omitted (omitempty) when 0
    const std::string state = c.value("State", std::string());
    const auto created = Clock::from_time_t(static_cast<std::time_t>(bytes(c, "Created")));
    if (live_state(state)) s.containers.kept += rw;
    else (older(created) ? s.containers.now : s.containers.later) += rw;
  }

  for (const auto& v : array_or_empty(df, "Volumes")) {
    if (!v.is_object()) continue;
    auto usage = v.find("UsageData");
    if (usage != v.end() && usage->is_object()) s.volumes.kept += bytes(*usage, "Size");
  }

  // Build cache: a record in use, or shared with an image layer, frees nothing when pruned
  // (docker system df counts neither as reclaimable).
  for (const auto& b : array_or_empty(df, "BuildCache")) {
    if (!b.is_object()) continue;
    const std::uint64_t size = bytes(b, "Size");
    if (b.value("InUse", false) || b.value("Shared", false)) {
      s.build_cache.kept += size;
      continue;
    }
    const auto last = parse_utc_seconds(b.value("LastUsedAt", b.value("CreatedAt", std::string())));
    (older(last) ? s.build_cache.now : s.build_cache.later) += size;
  }

  const std::uint64_t docker = s.docker_total();
  s.not_docker = fs_used > docker ? fs_used - docker : 0;
  return s;
}

std::string still_full_message(const std::string& head, const DiskSplit& s, const std::string& until) {
  return fmt::format(
      "{}: of {} used, reclaimable now {}, reclaimable later (younger than {}) {}, kept by this policy {} "
      "(images {}, containers {}, volumes {}, build cache {}), not Docker {}",
      head, format_bytes(s.fs_used), format_bytes(s.now()), until, format_bytes(s.later()), format_bytes(s.kept()),
      format_bytes(s.images.kept), format_bytes(s.containers.kept), format_bytes(s.volumes.kept),
      format_bytes(s.build_cache.kept), format_bytes(s.not_docker));
}

}  // namespace cdp
