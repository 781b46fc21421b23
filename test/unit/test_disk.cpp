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
