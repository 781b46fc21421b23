// Issue 7's small pure pieces, with no sleeps: the reconnect backoff, the event line cap,
// the host-wide lock file and the bounded D-Bus name lists.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "policy/watch_core.hpp"
#include "docker/lines.hpp"
#include "report/bus.hpp"
#include "util/instance_lock.hpp"

using namespace cdp;
using namespace std::chrono_literals;

TEST_CASE("backoff: a failed re-list never resets it; a session synced a minute does") {
  watch::Backoff b;
  // Connect, list fails (never synced): 1, 2, 4, ... 30, 30 -- not one warning a second.
  CHECK(b.after_session(std::nullopt) == 1s);
  CHECK(b.after_session(std::nullopt) == 2s);
  CHECK(b.after_session(std::nullopt) == 4s);
  CHECK(b.after_session(0s) == 8s);      // synced, lost at once: not healthy
  CHECK(b.after_session(59s) == 16s);    // still short of a minute
  CHECK(b.after_session(std::nullopt) == 30s);
  CHECK(b.after_session(std::nullopt) == 30s);
  CHECK(b.after_session(60s) == 1s);     // a healthy session: start over
  CHECK(b.after_session(std::nullopt) == 2s);
  b.reset();
  CHECK(b.current() == 1s);
}

TEST_CASE("event lines: over 1 MiB dropped (reported once), the stream goes on") {
  docker::LineSplitter s(16);
  SECTION("whole lines, split across feeds, CRLF and blank lines") {
    s.feed("ab");
    CHECK_FALSE(s.next());
    s.feed("c\r\n\n");
    auto i = s.next();
    REQUIRE(i);
    CHECK_FALSE(i->oversized);
    CHECK(i->line == "abc");
    CHECK_FALSE(s.next());
    CHECK_FALSE(s.holds_partial());
  }
  SECTION("an overlong line without its end yet: reported at once, the rest skipped") {
    s.feed(std::string(17, 'x'));
    auto i = s.next();
    REQUIRE(i);
    CHECK(i->oversized);
    s.feed(std::string(1000, 'y'));  // memory stays bounded while skipping
    CHECK_FALSE(s.next());
    s.feed("zz\n{\"ok\":1}\n");
    auto j = s.next();
    REQUIRE(j);
    CHECK_FALSE(j->oversized);
    CHECK(j->line == "{\"ok\":1}");
  }
  SECTION("an overlong line that arrives whole") {
    s.feed(std::string(20, 'x') + "\nnext\n");
    auto i = s.next();
    REQUIRE(i);
    CHECK(i->oversized);
    CHECK(s.next()->line == "next");
  }
  SECTION("exactly at the cap is kept") {
    s.feed(std::string(16, 'x') + "\n");
    auto i = s.next();
    REQUIRE(i);
    CHECK_FALSE(i->oversized);
    CHECK(i->line.size() == 16);
  }
  CHECK(docker::kMaxEventLineBytes == 1024 * 1024);
}

TEST_CASE("instance lock: a second taker fails naming the holder's pid") {
  char tmpl[] = "/tmp/cdp-lock-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/sub/daemon.lock";  // the folder is created
  {
    auto first = InstanceLock::take(path);
    REQUIRE(first);
    std::ifstream in(path);
    std::string pid;
    in >> pid;
    CHECK(pid == std::to_string(::getpid()));
    // flock is per open file description: a second open in this process conflicts too,
    // as a second daemon process would.
    auto second = InstanceLock::take(path);
    REQUIRE_FALSE(second);
    CHECK(second.error() == "Failed to start: another ci-docker-prune daemon holds " + path + " (pid " +
                                std::to_string(::getpid()) + ")");
  }
  // Released with its descriptor: the next daemon takes it.
  CHECK(InstanceLock::take(path));
  std::filesystem::remove_all(dir);
}

TEST_CASE("instance lock path: RUNTIME_DIRECTORY, else /run/ci-docker-prune") {
  const char* old = std::getenv("RUNTIME_DIRECTORY");
  const std::string saved = old ? old : "";
  ::setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
  CHECK(instance_lock_path() == "/run/a/daemon.lock");
  ::unsetenv("RUNTIME_DIRECTORY");
  CHECK(instance_lock_path() == "/run/ci-docker-prune/daemon.lock");
  if (old) ::setenv("RUNTIME_DIRECTORY", saved.c_str(), 1);
}

TEST_CASE("bus: string lists are capped at 100 names plus a count") {
  std::vector<std::string> names;
  for (int i = 0; i < 250; ++i) names.push_back("stack" + std::to_string(i));
  auto out = bounded_names(names);
  REQUIRE(out.size() == 101);
  CHECK(out[99] == "stack99");
  CHECK(out[100] == "... and 150 more");
  names.resize(100);
  CHECK(bounded_names(names) == names);
}
