// What the disk holds, for the still_full warning (issue 12): Docker's GET /system/df
// against the filesystem's used bytes, split by what this policy can do about it. Pure:
// no I/O, no clock (`now` is an input); must not decide whether to prune.
//
// Per kind, "now" is what the surgical prune removes once the gates open (stopped
// containers, dangling images and unused build cache older than prune.until), "later" the
// same kinds younger than until, "kept" what the policy never removes (running
// containers, tagged or used images, volumes, build cache in use or shared with images).
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "util/time.hpp"

namespace cdp {

struct SplitPart {
  std::uint64_t now = 0;    // reclaimable now
  std::uint64_t later = 0;  // reclaimable once older than prune.until
  std::uint64_t kept = 0;   // never removed by this policy
  std::uint64_t total() const { return now + later + kept; }
};

struct DiskSplit {
  SplitPart images, containers, volumes, build_cache;
  std::uint64_t fs_used = 0;     // the filesystem's used bytes (statvfs, as df)
  std::uint64_t not_docker = 0;  // fs_used - Docker's total, 0 when Docker counts more
  std::uint64_t docker_total() const {
    return images.total() + containers.total() + volumes.total() + build_cache.total();
  }
  std::uint64_t now() const { return images.now + containers.now + build_cache.now; }
  std::uint64_t later() const { return images.later + containers.later + build_cache.later; }
  std::uint64_t kept() const { return images.kept + containers.kept + volumes.kept + build_cache.kept; }
};

// Splits a /system/df reply (API 1.41 shape: LayersSize, Images[], Containers[],
// Volumes[], BuildCache[]). Images count their unique bytes (Size - SharedSize); the
// layers shared between images are "kept". Fails on a reply that is not that shape.
std::expected<DiskSplit, std::string> split_disk(const nlohmann::json& df, std::uint64_t fs_used, Duration until,
                                                 TimePoint now);

// One line for the still_full warning, after `head` (e.g. "Still full after the prune
// (disk 91.0% >= 80% on /var/lib/docker)"): "...: of 40.2 GB used, reclaimable now 0 B,
// reclaimable later (younger than 24h) 1.2 GB, kept by this policy 30.0 GB (images
// 25.1 GB, containers 0.3 GB, volumes 4.6 GB, build cache 0 B), not Docker 9.0 GB".
std::string still_full_message(const std::string& head, const DiskSplit& split, const std::string& until);

}  // namespace cdp
