// The emergency tier's decisions (SPEC "The emergency tier"): the candidate rule, the LRU
// order, the episode's next step and its journal records. Pure: no I/O, no clock, no
// logging. It never sends anything; lib/prune/evict.* carries out an Evict.
#include "policy/emergency.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include <fmt/format.h>

#include "util/bytes.hpp"
#include "util/duration.hpp"

namespace cdp::emergency {

namespace {

using timeline::Journal;
using timeline::Severity;

std::string percent_text(double p) { return fmt::format("{:.1f}", p); }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "repo:tag@sha256:x" -> "repo@sha256:x"; "repo:tag" -> "repo:tag"; both familiar.
struct Ref {
  std::string name;       // "repo:tag" (":latest" added when neither tag nor digest was given)
  std::string by_digest;  // "repo@sha256:..." or ""
};
Ref parse_ref(std::string_view ref_in) {
  const std::string ref = familiar_reference(ref_in);
  Ref r;
  auto at = ref.find('@');
  r.name = ref.substr(0, at);
  if (at != std::string::npos) {
    std::string repo = r.name;
    auto slash = repo.rfind('/');
    auto colon = repo.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) repo.erase(colon);
    r.by_digest = repo + ref.substr(at);
    // "repo@sha256:x" has no tag: the name part alone means nothing more.
    if (r.name.find(':', slash == std::string::npos ? 0 : slash + 1) == std::string::npos) r.name.clear();
  }
  return r;
}

bool matches_keep(const std::vector<std::string>& tags, const Config::Emergency& cfg, std::string* which) {
  for (const auto& t : tags)
    for (std::size_t i = 0; i < cfg.keep_re.size(); ++i)
      if (std::regex_search(t, cfg.keep_re[i])) {
        *which = cfg.keep[i] + " matches " + t;
        return true;
      }
  return false;
}

bool lru_before(const Verdict& a, const Verdict& b) {
  if (a.last_use != b.last_use) return a.last_use < b.last_use;
  return a.id < b.id;
}

Journal record(Severity sev, std::string event, timeline::Fields fields, std::string message) {
  return Journal{sev, std::move(event), std::move(fields), std::move(message)};
}

// What is left on disk after the tier found nothing more to evict, by reason kept.
std::string remains(const std::vector<Verdict>& verdicts) {
  std::size_t n[5] = {};
  std::uint64_t bytes = 0;
  for (const auto& v : verdicts) {
    ++n[static_cast<int>(v.kept)];
    bytes += v.size;
  }
  return fmt::format("{} tagged images ({}) remain: {} used by a container, {} referenced by a service, "
                     "{} matching emergency.keep, {} used within emergency.min_age",
                     verdicts.size(), format_bytes(bytes), n[1], n[2], n[3], n[4]);
}

}  // namespace

const char* kept_name(Kept k) {
  switch (k) {
    case Kept::none: return "candidate";
    case Kept::in_use: return "in_use";
    case Kept::service: return "service";
    case Kept::keep: return "keep";
    case Kept::young: return "young";
  }
  return "candidate";
}

const char* evict_outcome_name(EvictOutcome::Kind k) {
  switch (k) {
    case EvictOutcome::Kind::removed: return "removed";
    case EvictOutcome::Kind::conflict: return "conflict";
    case EvictOutcome::Kind::failed: return "failed";
    case EvictOutcome::Kind::dry_run: return "dry_run";
    case EvictOutcome::Kind::refused: return "refused";
  }
  return "failed";
}

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::target_reached: return "target_reached";
    case StopReason::max_images: return "max_images";
    case StopReason::no_candidates: return "no_candidates";
    case StopReason::gate_closed: return "gate_closed";
    case StopReason::disk_unknown: return "disk_unknown";
    case StopReason::stopping: return "stopping";
  }
  return "no_candidates";
}

bool references(std::string_view ref_in, const ImageRecord& img) {
  if (ref_in.empty()) return false;
  // An id or id prefix (a service may be pinned to one).
  if (auto id = resolve_image(ref_in, {img}); id) return true;
  const Ref r = parse_ref(ref_in);
  // Conservative: the name OR the digest keeps the image. Docker runs the digest, but the
  // operator wrote the name, and a tag that moved may be moved back by the next deploy.
  for (const auto& t : img.tags)
    if (!r.name.empty() && familiar_reference(t) == r.name) return true;
  for (const auto& d : img.digests)
    if (!r.by_digest.empty() && familiar_reference(d) == r.by_digest) return true;
  return false;
}

std::vector<Verdict> classify(const Inputs& in, const ImageUse& use, const Config::Emergency& cfg, TimePoint now) {
  // Image id -> a container using it. ImageID is exact; Image (as named) covers a list
  // entry that lacks it.
  std::map<std::string, std::string> used_by;
  for (const auto& c : in.containers) {
    auto id = c.image_id.empty() ? resolve_image(c.image, in.images) : std::optional<std::string>(c.image_id);
    if (id) used_by.emplace(*id, c.id);
  }
  std::vector<Verdict> out;
  for (const auto& img : in.images) {
    if (img.tags.empty()) continue;  // dangling: the surgical prune's, not ours
    Verdict v{img.id, img.tags, img.size, use.last_use(img.id).value_or(now), Kept::none, {}};
    if (auto it = used_by.find(img.id); it != used_by.end()) {
      v.kept = Kept::in_use;
      v.detail = "container " + it->second.substr(0, 12);
    }
    if (v.kept == Kept::none)
      for (const auto& ref : in.service_images)
        if (references(ref, img)) {
          v.kept = Kept::service;
          v.detail = "service image " + ref;
          break;
        }
    if (v.kept == Kept::none && matches_keep(img.tags, cfg, &v.detail)) v.kept = Kept::keep;
    // Older than min_age: strictly (an image used exactly min_age ago is still young).
    if (v.kept == Kept::none && !(v.last_use < now - cfg.min_age)) {
      v.kept = Kept::young;
      const auto ago = std::max(Duration::zero(), std::chrono::duration_cast<Duration>(now - v.last_use));
      v.detail = "used " + format_duration(ago) + " ago";
    }
    out.push_back(std::move(v));
  }
  std::stable_sort(out.begin(), out.end(), [](const Verdict& a, const Verdict& b) {
    const bool ca = a.kept == Kept::none, cb = b.kept == Kept::none;
    if (ca != cb) return ca;
    return lru_before(a, b);
  });
  return out;
}

std::vector<Verdict> candidates(const std::vector<Verdict>& verdicts) {
  std::vector<Verdict> out;
  for (const auto& v : verdicts)
    if (v.kept == Kept::none) out.push_back(v);
  return out;
}

bool over_critical(const DiskUsage& d, const Config::Emergency& cfg) {
  return d.percent() >= cfg.critical_percent || d.inode_percent() >= cfg.critical_percent;
}

bool at_target(const DiskUsage& d, const Config::Emergency& cfg) {
  return d.percent() <= cfg.target_percent && d.inode_percent() <= cfg.target_percent;
}

std::optional<Start> start(const DiskUsage& d, const Config& config, bool dry_run) {
  const auto& cfg = config.emergency;
  if (!cfg.enabled || !over_critical(d, cfg)) return std::nullopt;
  Start s;
  s.episode.dry_run = dry_run;
  s.episode.start_percent = d.percent();
  s.record = record(Severity::warn, "emergency_start",
                    {{"CDP_DISK_PERCENT", percent_text(d.percent())},
                     {"CDP_DISK_INODES_PERCENT", percent_text(d.inode_percent())},
                     {"CDP_DRY_RUN", dry_run ? "1" : ""}},
                    fmt::format("Emergency tier{}: disk {}% (inodes {}%) on {} is at or over {}% after the prune; "
                                "{} least recently used unused images down to {}%, at most {}",
                                dry_run ? " (dry-run)" : "", percent_text(d.percent()),
                                percent_text(d.inode_percent()), d.path, percent_text(cfg.critical_percent),
                                dry_run ? "listing" : "evicting", percent_text(cfg.target_percent), cfg.max_images));
  return s;
}

Next next(const Episode& ep, const std::optional<DiskUsage>& disk_in, const std::vector<Verdict>& verdicts,
          const Config::Emergency& cfg, const std::optional<std::string>& gate_closed, bool stopping) {
  std::optional<DiskUsage> disk = disk_in;
  if (disk && ep.dry_run) {  // nothing was freed: project what the listed images would free
    const std::uint64_t freed = std::min(ep.reclaimed, disk->used_bytes);
    disk->used_bytes -= freed;
    disk->avail_bytes += freed;
  }
  std::vector<Verdict> left;
  std::vector<Verdict> kept;
  for (const auto& v : verdicts) {
    if (v.kept != Kept::none) kept.push_back(v);
    else if (!ep.tried.count(v.id)) left.push_back(v);
  }
  auto done = [&](StopReason reason, std::string why) -> Next {
    Done d;
    d.reason = reason;
    if (reason == StopReason::no_candidates && !(disk && at_target(*disk, cfg)))
      d.records.push_back(record(Severity::warn, "still_full",
                                 {{"CDP_DISK_PERCENT", disk ? percent_text(disk->percent()) : ""},
                                  {"CDP_TIER", "emergency"}},
                                 "Emergency tier found nothing more to evict: " + remains(kept)));
    d.records.push_back(record(
        Severity::info, "emergency_done",
        {{"CDP_REASON", stop_reason_name(reason)},
         {"CDP_EVICTED", std::to_string(ep.evicted)},
         {"CDP_RECLAIMED_BYTES", std::to_string(ep.reclaimed)},
         {"CDP_DISK_PERCENT", disk ? percent_text(disk->percent()) : ""},
         {"CDP_DRY_RUN", ep.dry_run ? "1" : ""}},
        fmt::format("Emergency tier {}: {} {} image{} ({}{}); {}", ep.dry_run ? "dry-run done" : "done",
                    ep.dry_run ? "would evict" : "evicted", ep.evicted, ep.evicted == 1 ? "" : "s",
                    format_bytes(ep.reclaimed), ep.dry_run ? " by their sizes" : "", why)));
    return d;
  };
  if (stopping) return done(StopReason::stopping, "stopping");
  if (gate_closed) return done(StopReason::gate_closed, "stopped: " + *gate_closed);
  if (!disk) return done(StopReason::disk_unknown, "stopped: the disk could not be read");
  if (at_target(*disk, cfg))
    return done(StopReason::target_reached, fmt::format("disk {}% (inodes {}%) at or below {}%",
                                                        percent_text(disk->percent()),
                                                        percent_text(disk->inode_percent()),
                                                        percent_text(cfg.target_percent)));
  if (ep.evicted >= cfg.max_images)
    return done(StopReason::max_images, fmt::format("emergency.max_images ({}) reached, disk {}%", cfg.max_images,
                                                    percent_text(disk->percent())));
  if (left.empty())
    return done(StopReason::no_candidates, fmt::format("no candidate left, disk {}%", percent_text(disk->percent())));
  return Evict{left.front(), ep.dry_run};
}

timeline::Journal record_eviction(Episode& ep, const Verdict& c, const EvictOutcome& o,
                                  const std::optional<DiskUsage>& before, const std::optional<DiskUsage>& after) {
  ep.tried.insert(c.id);
  std::uint64_t reclaimed = 0;
  using K = EvictOutcome::Kind;
  if (o.kind == K::dry_run) {
    reclaimed = c.size;
  } else if (before && after && before->used_bytes > after->used_bytes) {
    reclaimed = before->used_bytes - after->used_bytes;
  }
  const bool counts = o.kind == K::dry_run || !o.untagged.empty() || !o.deleted.empty();
  if (counts) ++ep.evicted;
  ep.reclaimed += reclaimed;
  const Severity sev = o.kind == K::removed || o.kind == K::dry_run ? Severity::info : Severity::warn;
  std::string what;
  switch (o.kind) {
    case K::removed:
      what = fmt::format("Evicted {} (last used {}): {} tag{} untagged, {} image record{} deleted, {} freed",
                         join(c.tags, ", "), format_utc_ms(c.last_use), o.untagged.size(),
                         o.untagged.size() == 1 ? "" : "s", o.deleted.size(), o.deleted.size() == 1 ? "" : "s",
                         format_bytes(reclaimed));
      break;
    case K::dry_run:
      what = fmt::format("Would evict {} (last used {}, {})", join(c.tags, ", "), format_utc_ms(c.last_use),
                         format_bytes(c.size));
      break;
    case K::conflict:
      what = fmt::format("Kept {}: Docker refused to remove it ({}); not forced", join(c.tags, ", "), o.detail);
      break;
    case K::failed: what = fmt::format("Failed to evict {}: {}", join(c.tags, ", "), o.detail); break;
    case K::refused: what = fmt::format("Not evicting {}: {}", join(c.tags, ", "), o.detail); break;
  }
  return record(sev, "emergency_evict",
                {{"CDP_IMAGE", join(c.tags, ",")},
                 {"CDP_IMAGE_ID", c.id},
                 {"CDP_LAST_USED", format_utc_ms(c.last_use)},
                 {"CDP_RECLAIMED_BYTES", std::to_string(reclaimed)},
                 {"CDP_OUTCOME", evict_outcome_name(o.kind)},
                 {"CDP_DISK_PERCENT", after ? percent_text(after->percent()) : ""}},
                what);
}

std::string format_utc_ms(TimePoint t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const std::time_t tt = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(ms));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto frac = (ms - std::chrono::floor<std::chrono::seconds>(ms)).count();
  return fmt::format("{}.{:03d}Z", buf, frac);
}

}  // namespace cdp::emergency
