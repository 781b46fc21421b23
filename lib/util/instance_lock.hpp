// One daemon per host (SPEC "Never twice, never in a loop"): an exclusive flock(2) on
// $RUNTIME_DIRECTORY/daemon.lock (else /run/ci-docker-prune/daemon.lock), holding the
// owner's pid so a second daemon can name it. Must not log: the caller prints its line.
#pragma once
#include <expected>
#include <string>

namespace cdp {

inline constexpr const char* kDefaultRuntimeDir = "/run/ci-docker-prune";

// $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=; the first entry when several) +
// "/daemon.lock", else kDefaultRuntimeDir + "/daemon.lock".
std::string instance_lock_path();

class InstanceLock {
 public:
  InstanceLock() = default;
  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& o) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();
  bool held() const { return fd_ >= 0; }

  // Creates the folder if needed, opens the file, takes the lock without waiting and
  // writes our pid into it. Fails with one line: who holds it ("... (pid 123)"), or why
  // the file could not be locked.
  static std::expected<InstanceLock, std::string> take(const std::string& path);

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;  // the lock lives as long as this descriptor (closed on exec)
};

}  // namespace cdp
