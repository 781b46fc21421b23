// Disk usage as df(1) computes it, and the project's only statvfs call.
// Must not decide anything (the disk gate lives in lib/policy/gates.cpp).
#include "disk/usage.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace cdp {

namespace {
// 100 * used / (used + avail); reserved blocks (bfree - bavail) count as neither, as in df.
double pct(std::uint64_t used, std::uint64_t avail) {
  const double total = static_cast<double>(used) + static_cast<double>(avail);
  if (total <= 0) return 0;  // a 0-byte or inode-less filesystem (e.g. some FUSE mounts)
  return 100.0 * static_cast<double>(used) / total;
}
// Saturating subtraction: a racy or odd statvfs (bfree > blocks) must not wrap.
std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }
}  // namespace

double DiskUsage::percent() const { return pct(used_bytes, avail_bytes); }
double DiskUsage::inode_percent() const { return pct(used_inodes, avail_inodes); }

DiskUsage compute_disk_usage(const std::string& path, const StatvfsNumbers& n) {
  DiskUsage u;
  u.path = path;
  u.used_bytes = sub(n.blocks, n.bfree) * n.frsize;
  u.avail_bytes = n.bavail * n.frsize;
  u.used_inodes = sub(n.files, n.ffree);
  u.avail_inodes = n.favail;
  return u;
}

std::expected<DiskUsage, std::string> read_disk_usage(const std::string& path) {
  struct statvfs s {};
  if (::statvfs(path.c_str(), &s) != 0) {
    const int err = errno;
    return std::unexpected("Failed to statvfs " + path + ": " + std::strerror(err));
  }
  StatvfsNumbers n;
  n.frsize = s.f_frsize ? s.f_frsize : s.f_bsize;  // Linux always sets f_frsize; be safe
  n.blocks = s.f_blocks;
  n.bfree = s.f_bfree;
  n.bavail = s.f_bavail;
  n.files = s.f_files;
  n.ffree = s.f_ffree;
  n.favail = s.f_favail;
  return compute_disk_usage(path, n);
}

}  // namespace cdp
