// df-compatible disk arithmetic on statvfs literals (SPEC.md "The gates").
#include <catch2/catch.hpp>

#include "disk/usage.hpp"

using namespace cdp;

TEST_CASE("compute_disk_usage matches df", "[disk]") {
  SECTION("reserved blocks count as neither used nor available (bfree != bavail)") {
    // 1000 blocks of 4 KiB, 300 free of which 250 available to users (50 reserved).
    StatvfsNumbers n{.frsize = 4096, .blocks = 1000, .bfree = 300, .bavail = 250,
                     .files = 100, .ffree = 40, .favail = 30};
    auto u = compute_disk_usage("/x", n);
    CHECK(u.path == "/x");
    CHECK(u.used_bytes == 700u * 4096);
    CHECK(u.avail_bytes == 250u * 4096);
    CHECK(u.percent() == Approx(100.0 * 700 / 950));  // 73.68..., not 70
    CHECK(u.used_inodes == 60);
    CHECK(u.avail_inodes == 30);
    CHECK(u.inode_percent() == Approx(100.0 * 60 / 90));
  }
  SECTION("0-byte, inode-less filesystem is 0%, not NaN") {
    auto u = compute_disk_usage("/proc", StatvfsNumbers{});
    CHECK(u.percent() == 0.0);
    CHECK(u.inode_percent() == 0.0);
  }
  SECTION("exactly 80.0%") {
    StatvfsNumbers n{.frsize = 1024, .blocks = 100, .bfree = 20, .bavail = 20,
                     .files = 10, .ffree = 2, .favail = 2};
    auto u = compute_disk_usage("/d", n);
    CHECK(u.percent() == 80.0);
    CHECK(u.inode_percent() == 80.0);
  }
  SECTION("full for users: 100% even with reserved blocks left") {
    StatvfsNumbers n{.frsize = 4096, .blocks = 100, .bfree = 5, .bavail = 0, .files = 0, .ffree = 0, .favail = 0};
    auto u = compute_disk_usage("/d", n);
    CHECK(u.percent() == 100.0);
    CHECK(u.inode_percent() == 0.0);
  }
  SECTION("bfree > blocks does not wrap") {
    StatvfsNumbers n{.frsize = 4096, .blocks = 10, .bfree = 20, .bavail = 20, .files = 5, .ffree = 9, .favail = 9};
    auto u = compute_disk_usage("/d", n);
    CHECK(u.used_bytes == 0);
    CHECK(u.used_inodes == 0);
    CHECK(u.percent() == 0.0);
  }
}

TEST_CASE("read_disk_usage", "[disk]") {
  SECTION("a real filesystem") {
    auto u = read_disk_usage("/");
    REQUIRE(u.has_value());
    CHECK(u->path == "/");
    CHECK(u->used_bytes + u->avail_bytes > 0);
    CHECK(u->percent() >= 0.0);
    CHECK(u->percent() <= 100.0);
  }
  SECTION("a missing path fails with a message naming it") {
    auto u = read_disk_usage("/nonexistent/cdp-test");
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error().find("Failed to statvfs /nonexistent/cdp-test: ") == 0);
  }
}

// Adaptive statvfs spacing (disk/spacing.hpp, issue 9) on literals.
#include "disk/spacing.hpp"

namespace {
constexpr std::uint64_t GiB = 1024ull * 1024 * 1024;
DiskUsage usage(std::uint64_t used, std::uint64_t avail, std::uint64_t iused = 0, std::uint64_t iavail = 0) {
  DiskUsage u;
  u.path = "/d";
  u.used_bytes = used;
  u.avail_bytes = avail;
  u.used_inodes = iused;
  u.avail_inodes = iavail;
  return u;
}
DiskSpacing spacing() {
  DiskSpacing s;  // 1 GiB/s, 100 000 inodes/s, grace 1 s, [250 ms, 60 s]
  return s;
}
using std::chrono::milliseconds;
using std::chrono::seconds;
}  // namespace

TEST_CASE("distance to the threshold, either side", "[disk][spacing]") {
  CHECK(bytes_to_threshold(usage(30 * GiB, 70 * GiB), 80) == 50 * GiB);
  CHECK(bytes_to_threshold(usage(90 * GiB, 10 * GiB), 80) == 10 * GiB);  // over: room to drop below
  CHECK(bytes_to_threshold(usage(80 * GiB, 20 * GiB), 80) == 0);
  CHECK(inodes_to_threshold(usage(0, 0, 500, 500), 80) == 300);
}

TEST_CASE("next_disk_read: headroom / rate + grace, clamped", "[disk][spacing]") {
  SECTION("far from the threshold (30% of 100 GiB, 50 GiB to go): the poll interval") {
    CHECK(next_disk_read(usage(30 * GiB, 70 * GiB), 80, 80, spacing()) == seconds(51));
  }
  SECTION("100 GiB to go: capped at poll_interval (60 s)") {
    CHECK(next_disk_read(usage(0, 200 * GiB), 50, 80, spacing()) == seconds(60));
  }
  SECTION("79% of 100 GiB: 1 GiB to go = 1 s + 1 s grace") {
    CHECK(next_disk_read(usage(79 * GiB, 21 * GiB), 80, 80, spacing()) == seconds(2));
  }
  SECTION("exactly at the threshold: the grace alone") {
    CHECK(next_disk_read(usage(80 * GiB, 20 * GiB), 80, 80, spacing()) == seconds(1));
  }
  SECTION("grace 0: the 250 ms floor") {
    auto s = spacing();
    s.grace = Duration(0);
    CHECK(next_disk_read(usage(80 * GiB, 20 * GiB), 80, 80, s) == milliseconds(250));
  }
  SECTION("inodes closer than bytes win: 20 000 inodes to go at 100 000/s = 200 ms + grace") {
    CHECK(next_disk_read(usage(10 * GiB, 90 * GiB, 780'000, 220'000), 80, 80, spacing()) == milliseconds(1200));
  }
  SECTION("inode-less filesystem: bytes alone") {
    CHECK(next_disk_read(usage(40 * GiB, 60 * GiB), 80, 80, spacing()) == seconds(41));
  }
  SECTION("a faster observed writer shortens the gap") {
    FillRate fast{4.0 * GiB, 0};
    CHECK(next_disk_read(usage(40 * GiB, 60 * GiB), 80, 80, spacing(), fast) == seconds(11));
  }
  SECTION("unreadable disk: poll_interval") {
    CHECK(next_disk_read(std::nullopt, 80, 80, spacing()) == seconds(60));
  }
  SECTION("poll_interval below the floor wins") {
    auto s = spacing();
    s.max = milliseconds(100);
    CHECK(next_disk_read(usage(80 * GiB, 20 * GiB), 80, 80, s) == milliseconds(100));
  }
}

TEST_CASE("observed_fill_rate", "[disk][spacing]") {
  auto r = observed_fill_rate(usage(1 * GiB, 9 * GiB, 10, 90), usage(3 * GiB, 7 * GiB, 30, 70), seconds(2));
  CHECK(r.bytes_per_second == Approx(1.0 * GiB));
  CHECK(r.inodes_per_second == Approx(10));
  auto shrink = observed_fill_rate(usage(3 * GiB, 7 * GiB), usage(1 * GiB, 9 * GiB), seconds(2));
  CHECK(shrink.bytes_per_second == 0);
  CHECK(observed_fill_rate(usage(1, 1), usage(2, 0), Duration(0)).bytes_per_second == 0);
}
