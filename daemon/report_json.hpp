// The JSON pieces `status --json` and `plan --json`/`prune --json` share, so both describe
// the disk and the gates in one shape (issue 12): {"path", "used_percent" (null =
// unknown), "inodes_used_percent" (null = unknown), "threshold_percent",
// "inode_threshold_percent"} and [{"name", "open", "reason"}]. Formatting only.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cdp {

inline nlohmann::json disk_json(const std::string& path, std::optional<double> used_percent,
                                std::optional<double> inodes_used_percent, double threshold_percent,
                                double inode_threshold_percent) {
  auto opt = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"path", path},
          {"used_percent", opt(used_percent)},
          {"inodes_used_percent", opt(inodes_used_percent)},
          {"threshold_percent", threshold_percent},
          {"inode_threshold_percent", inode_threshold_percent}};
}

inline nlohmann::json gate_json(std::string_view name, bool open, std::string_view reason) {
  return {{"name", name}, {"open", open}, {"reason", reason}};
}

}  // namespace cdp
