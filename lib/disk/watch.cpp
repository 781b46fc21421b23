// inotify through a posix::stream_descriptor. After each batch of events the reader
// pauses a second before reading again: the kernel queues (and merges) events meanwhile,
// so a write-heavy host costs one wakeup a second at most. Must not statvfs or decide.
#include "disk/watch.hpp"

#include <sys/inotify.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cdp {

namespace {
constexpr auto kPause = std::chrono::seconds(1);
// Writes, new and removed entries; no IN_ACCESS/IN_OPEN (reads change nothing).
constexpr std::uint32_t kMask = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
}  // namespace

struct DiskWatch::State : std::enable_shared_from_this<DiskWatch::State> {
  asio::any_io_executor ex;
  std::function<void()> on_activity;
  asio::posix::stream_descriptor fd;
  asio::steady_timer pause;
  std::vector<int> wds;
  bool reading = false;
  bool closed = false;

  State(asio::any_io_executor e, std::function<void()> cb)
      : ex(e), on_activity(std::move(cb)), fd(e), pause(e) {}

  awaitable<void> read_loop() {
    auto self = shared_from_this();  // the loop keeps the state alive, not the owner
    std::array<char, 4096> buf;
    while (!closed && fd.is_open()) {
      boost::system::error_code ec;
      co_await fd.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (ec || closed) break;
      if (on_activity) on_activity();
      pause.expires_after(kPause);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      // What queued during the pause is read by the next round, which reports it: a
      // change right after a report must not be lost (it may cross the threshold).
    }
    reading = false;
  }
};

DiskWatch::DiskWatch(asio::any_io_executor ex, std::function<void()> on_activity)
    : state_(std::make_shared<State>(ex, std::move(on_activity))) {}

DiskWatch::~DiskWatch() { close(); }

std::expected<std::size_t, std::string> DiskWatch::watch(const std::vector<std::string>& paths) {
  auto& s = *state_;
  if (s.closed) return std::unexpected(std::string("Failed to watch the disk: watcher closed"));
  if (!s.fd.is_open()) {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return std::unexpected(std::string("Failed to create an inotify instance: ") + std::strerror(errno));
    s.fd.assign(fd);
  }
  for (int wd : s.wds) ::inotify_rm_watch(s.fd.native_handle(), wd);
  s.wds.clear();
  for (const auto& p : paths) {
    const int wd = ::inotify_add_watch(s.fd.native_handle(), p.c_str(), kMask | IN_ONLYDIR);
    // A folder that does not exist (yet) is skipped; the next refresh picks it up.
    if (wd >= 0 && std::find(s.wds.begin(), s.wds.end(), wd) == s.wds.end()) s.wds.push_back(wd);
  }
  if (!s.reading) {
    s.reading = true;
    asio::co_spawn(s.ex, s.read_loop(), asio::detached);
  }
  return s.wds.size();
}

void DiskWatch::close() {
  if (!state_ || state_->closed) return;
  state_->closed = true;
  boost::system::error_code ec;
  state_->pause.cancel();
  state_->fd.close(ec);
}

std::vector<std::string> DiskWatch::paths_for(const std::string& docker_root, const std::string& disk_path) {
  std::vector<std::string> out;
  if (!disk_path.empty()) out.push_back(disk_path);
  if (!docker_root.empty()) {
    if (docker_root != disk_path) out.push_back(docker_root);
    for (const char* sub : {"overlay2", "image", "containers", "buildkit", "tmp", "volumes"})
      out.push_back((std::filesystem::path(docker_root) / sub).string());
  }
  return out;
}

}  // namespace cdp
