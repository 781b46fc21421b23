// When to read the disk next (issue 9: a threshold crossing seen within 2 s whoever writes
// and wherever, at near-zero cost far from the threshold). Pure: the distance to the
// threshold (bytes and inodes, either direction) divided by a worst-case fill rate, plus a
// grace, clamped to [min, poll_interval]. inotify and Docker events only bring a read
// forward; this spacing is what catches a writer nobody told us about.
#pragma once
#include <cstdint>
#include <optional>

#include "disk/usage.hpp"
#include "util/time.hpp"

namespace cdp {

struct DiskSpacing {
  // The fastest the filesystem is assumed to fill (or empty): 1 GiB/s, the sequential
  // write speed of a fast SSD, an assumption rather than a measurement of this host. A
  // faster writer seen between two reads raises it (`observed` below).
  double bytes_per_second = 1024.0 * 1024 * 1024;
  // Layer extraction creates many small files: assumed at most 100 000 inodes/s (raised
  // by `observed` too).
  double inodes_per_second = 100'000;
  // Added to the time-to-threshold: the crossing is then seen at most `grace` after it
  // happened, for a writer at the assumed rate. Half of the 2 s budget (SPEC
  // "Configuration"); the other half covers the 1 s coalescing of prompt reads.
  Duration grace = std::chrono::milliseconds(1000);
  Duration min = std::chrono::milliseconds(250);
  Duration max = std::chrono::seconds(60);  // disk.poll_interval
};

// Bytes that can be written (or freed, when at or over) before used% crosses
// `threshold_percent`, computed like DiskUsage::percent() (total = used + avail).
std::uint64_t bytes_to_threshold(const DiskUsage& u, double threshold_percent);
// The same for inodes.
std::uint64_t inodes_to_threshold(const DiskUsage& u, double threshold_percent);

// The fill rate (bytes/s, inodes/s) between two readings of the same path; 0 when the
// usage shrank or no time passed. Used to raise the assumed rate when the host is faster.
struct FillRate {
  double bytes_per_second = 0;
  double inodes_per_second = 0;
};
FillRate observed_fill_rate(const DiskUsage& before, const DiskUsage& after, Duration elapsed);

// The gap before the next statvfs: min(bytes, inodes) distance / max(assumed, observed)
// rate + grace, clamped to [spacing.min, spacing.max]. No reading (unreadable disk): max.
Duration next_disk_read(const std::optional<DiskUsage>& usage, double threshold_percent,
                        double inode_threshold_percent, const DiskSpacing& spacing,
                        const FillRate& observed = {});

}  // namespace cdp
