// Disk usage of one filesystem, bytes and inodes, computed exactly as df(1) does
// (SPEC.md "The gates"). read_disk_usage() is the only statvfs call in the project.
#pragma once
#include <cstdint>
#include <expected>
#include <string>

namespace cdp {

struct DiskUsage {
  std::string path;
  std::uint64_t used_bytes = 0;    // (f_blocks - f_bfree) * f_frsize
  std::uint64_t avail_bytes = 0;   // f_bavail * f_frsize
  std::uint64_t used_inodes = 0;   // f_files - f_ffree
  std::uint64_t avail_inodes = 0;  // f_favail
  // 100 * used / (used + avail); 0 when used + avail == 0 (a 0-byte or inode-less fs).
  double percent() const;
  double inode_percent() const;
};

// The raw statvfs numbers we use, so the arithmetic is testable on literals.
struct StatvfsNumbers {
  std::uint64_t frsize = 0, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, favail = 0;
};
DiskUsage compute_disk_usage(const std::string& path, const StatvfsNumbers& n);

// statvfs(path). Fails with "Failed to statvfs <path>: <strerror>".
std::expected<DiskUsage, std::string> read_disk_usage(const std::string& path);

}  // namespace cdp
