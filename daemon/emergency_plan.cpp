// `plan`'s emergency section: candidates in eviction order (last use, size) and what is
// kept and why, from fresh lists and the state file's last uses. Read-only: it never sends
// a DELETE (only lib/prune/evict.cpp does) and never writes the state file.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 + Asio 1.74 false positive

#include "emergency_plan.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "policy/emergency.hpp"
#include "prune/emergency_inputs.hpp"
#include "state/state_file.hpp"
#include "util/bytes.hpp"
#include "util/duration.hpp"

namespace cdp {

namespace {

using json = nlohmann::json;

json verdict_json(const emergency::Verdict& v) {
  json j = {{"id", v.id},
            {"tags", v.tags},
            {"last_used", emergency::format_utc_ms(v.last_use)},
            {"size", v.size}};
  if (v.kept != emergency::Kept::none) {
    j["kept"] = emergency::kept_name(v.kept);
    j["detail"] = v.detail;
  }
  return j;
}

// "sha256:<64 hex>" -> the 12 hex digits `docker images` shows.
std::string short_id(const std::string& id) {
  return id.rfind("sha256:", 0) == 0 ? id.substr(7, 12) : id.substr(0, 12);
}

std::string tags_text(const emergency::Verdict& v) {
  std::string out;
  for (const auto& t : v.tags) out += (out.empty() ? "" : ", ") + t;
  return out;
}

}  // namespace

ImageUse load_image_use(const std::string& path, std::string& warning) {
  StateFile file(path);
  auto loaded = file.load();
  // load() keeps a readable document even when its "last_prune" is malformed; only an
  // existing file with nothing readable is worth a warning (a missing one is a first start).
  if (!loaded && file.document().empty() && ::access(path.c_str(), F_OK) == 0)
    warning = loaded.error() + "; every image counts as first seen now";
  const auto& doc = file.document();
  auto it = doc.find(kImageLastUseKey);
  if (it == doc.end()) return {};
  std::size_t skipped = 0;
  ImageUse use = ImageUse::from_json(*it, &skipped);
  if (skipped)
    warning = fmt::format("{}: {} unreadable entr{} in {} ignored", path, skipped, skipped == 1 ? "y" : "ies",
                          kImageLastUseKey);
  return use;
}

awaitable<std::expected<EmergencyPlan, docker::Error>> emergency_plan(docker::Client& client, const Config& config,
                                                                      const Snapshot& snap, TimePoint now) {
  auto inputs = co_await read_emergency_inputs(client);
  if (!inputs) co_return std::unexpected(inputs.error());
  const auto& cfg = config.emergency;
  const std::string path = state_file_path();
  std::string warning;
  ImageUse use = load_image_use(path, warning);
  use.observe(inputs->images, now);  // images the file does not know: first seen now
  const auto verdicts = emergency::classify(*inputs, use, cfg, now);
  const auto cands = emergency::candidates(verdicts);
  const bool critical = snap.disk && emergency::over_critical(*snap.disk, cfg);

  EmergencyPlan p;
  json cj = json::array(), kj = json::array();
  std::uint64_t total = 0;
  for (const auto& v : verdicts) {
    if (v.kept == emergency::Kept::none) {
      cj.push_back(verdict_json(v));
      total += v.size;
    } else {
      kj.push_back(verdict_json(v));
    }
  }
  p.json = {{"enabled", cfg.enabled},
            {"critical_percent", cfg.critical_percent},
            {"target_percent", cfg.target_percent},
            {"max_images", cfg.max_images},
            {"min_age", format_duration(cfg.min_age)},
            {"over_critical_now", critical},
            {"state_file", path},
            {"state_warning", warning.empty() ? json(nullptr) : json(warning)},
            {"candidates", cj},
            {"candidates_bytes", total},
            {"kept", kj}};

  p.text = fmt::format("emergency tier (critical {}%, target {}%, at most {} images, unused for over {}):\n",
                       cfg.critical_percent, cfg.target_percent, cfg.max_images, format_duration(cfg.min_age));
  if (snap.disk)
    p.text += fmt::format("  disk {:.1f}% (inodes {:.1f}%): {}\n", snap.disk->percent(), snap.disk->inode_percent(),
                          critical ? "at or over critical: a prune leaving it there starts an episode"
                                   : "below critical: no episode");
  if (!warning.empty()) p.text += "  warning: " + warning + "\n";
  p.text += fmt::format("  candidates in eviction order: {} ({})\n", cands.size(), format_bytes(total));
  for (std::size_t i = 0; i < cands.size(); ++i)
    p.text += fmt::format("    {:>2}. {:<12}  last used {}  {:>9}  {}\n", i + 1, short_id(cands[i].id),
                          emergency::format_utc_ms(cands[i].last_use), format_bytes(cands[i].size), tags_text(cands[i]));
  p.text += fmt::format("  kept: {}\n", verdicts.size() - cands.size());
  for (const auto& v : verdicts)
    if (v.kept != emergency::Kept::none)
      p.text += fmt::format("    {:<12}  {:<7}  {}  ({})\n", short_id(v.id), emergency::kept_name(v.kept),
                            tags_text(v), v.detail);
  co_return p;
}

}  // namespace cdp
