// inotify on the Docker root's top folders (overlay2, image, containers, buildkit, tmp,
// volumes) and on disk.path itself, read through the io_context. Owns the inotify fd.
// Must not read disk usage or decide: it only says "something changed" (at most about
// once a second, so a busy build cannot make the daemon spin).
#pragma once
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/net.hpp"

namespace cdp {

class DiskWatch {
 public:
  // `on_activity` runs on the executor after changes were seen.
  DiskWatch(asio::any_io_executor ex, std::function<void()> on_activity);
  ~DiskWatch();
  DiskWatch(const DiskWatch&) = delete;
  DiskWatch& operator=(const DiskWatch&) = delete;

  // Replaces the watched set with those of `paths` that exist. Returns how many are
  // watched, or "Failed to ..." when inotify itself is unavailable.
  std::expected<std::size_t, std::string> watch(const std::vector<std::string>& paths);
  void close();

  // The folders worth watching: `disk_path` and, when the Docker root is known, its top
  // folders where pulls, builds, containers and volumes write.
  static std::vector<std::string> paths_for(const std::string& docker_root, const std::string& disk_path);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace cdp
