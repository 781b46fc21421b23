// The daemon's host-wide lock file (see instance_lock.hpp). An edge: files and flock.
#include "util/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>

namespace cdp {

std::string instance_lock_path() {
  if (const char* rt = std::getenv("RUNTIME_DIRECTORY"); rt && *rt) {
    std::string_view dirs(rt);
    return std::string(dirs.substr(0, dirs.find(':'))) + "/daemon.lock";
  }
  return std::string(kDefaultRuntimeDir) + "/daemon.lock";
}

InstanceLock& InstanceLock::operator=(InstanceLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::expected<InstanceLock, std::string> InstanceLock::take(const std::string& path) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return std::unexpected(fmt::format("Failed to create {}: {}", dir.string(), ec.message()));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(fmt::format("Failed to open the lock file {}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    if (err == EWOULDBLOCK) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
      holder = text.empty() ? "pid unknown" : "pid " + std::string(text);
    }
    ::close(fd);
    if (err == EWOULDBLOCK)
      return std::unexpected(
          fmt::format("Failed to start: another ci-docker-prune daemon holds {} ({})", path, holder));
    return std::unexpected(fmt::format("Failed to lock {}: {}", path, std::strerror(err)));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(fmt::format("Failed to write our pid into {}: {}", path, std::strerror(err)));
  }
  return InstanceLock(fd);
}

}  // namespace cdp
