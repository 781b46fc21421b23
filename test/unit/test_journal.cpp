// Log record formats and the level filter. The journald path is exercised by the
// integration tests (a private journald); here: the stderr form and JOURNAL_STREAM detection.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "report/journal.hpp"

using namespace std::chrono_literals;
namespace journal = cdp::journal;

namespace {
// Points fd 2 at a temporary file for the lifetime of the object and gives back what was written.
class CaptureStderr {
 public:
  CaptureStderr() {
    std::fflush(stderr);
    char path[] = "/tmp/cdp-journal-test-XXXXXX";
    fd_ = mkstemp(path);
    REQUIRE(fd_ >= 0);
    unlink(path);
    saved_ = dup(2);
    dup2(fd_, 2);
  }
  ~CaptureStderr() { restore(); }
  std::string text() {
    std::fflush(stderr);
    std::string out;
    char buf[4096];
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fd_, buf, sizeof buf, at)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return out;
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    close(fd_);
    saved_ = -1;
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
};

std::string dev_ino(int fd) {
  struct stat st {};
  REQUIRE(fstat(fd, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}
}  // namespace

TEST_CASE("format_line: UTC timestamp with milliseconds, level, message") {
  // 2026-11-26T10:00:00.123Z
  cdp::TimePoint t{std::chrono::seconds(1795687200) + 123ms};
  CHECK(journal::format_line(t, spdlog::level::info, "hello") == "2026-11-26T10:00:00.123Z info hello");
  CHECK(journal::format_line(t, spdlog::level::warn, "w") == "2026-11-26T10:00:00.123Z warn w");
  CHECK(journal::format_line(t, spdlog::level::err, "e") == "2026-11-26T10:00:00.123Z error e");
  CHECK(journal::format_line(t, spdlog::level::debug, "a\nb") == "2026-11-26T10:00:00.123Z debug a\\nb");
  CHECK(journal::format_line(cdp::TimePoint{}, spdlog::level::trace, "") == "1970-01-01T00:00:00.000Z trace ");
}

TEST_CASE("format_fields: key=value, quoted only when needed") {
  CHECK(journal::format_fields({}) == "");
  CHECK(journal::format_fields({{"CDP_EVENT", "gate"}, {"CDP_GATE", "disk"}}) == " CDP_EVENT=gate CDP_GATE=disk");
  CHECK(journal::format_fields({{"A", ""}}) == " A=\"\"");
  CHECK(journal::format_fields({{"A", "x y"}}) == " A=\"x y\"");
  CHECK(journal::format_fields({{"A", "say \"hi\"\n"}}) == " A=\"say \\\"hi\\\"\\n\"");
  CHECK(journal::format_fields({{"A", "k=v"}}) == " A=\"k=v\"");
}

TEST_CASE("priority maps levels to syslog priorities") {
  CHECK(journal::priority(spdlog::level::trace) == 7);
  CHECK(journal::priority(spdlog::level::debug) == 7);
  CHECK(journal::priority(spdlog::level::info) == 6);
  CHECK(journal::priority(spdlog::level::warn) == 4);
  CHECK(journal::priority(spdlog::level::err) == 3);
  CHECK(journal::priority(spdlog::level::critical) == 2);
}

TEST_CASE("stderr_is_journal compares JOURNAL_STREAM with fstat(2)") {
  CaptureStderr capture;
  std::string id = dev_ino(2);
  unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(journal::stderr_is_journal());
  setenv("JOURNAL_STREAM", id.c_str(), 1);
  CHECK(journal::stderr_is_journal());
  setenv("JOURNAL_STREAM", (id + "1").c_str(), 1);
  CHECK_FALSE(journal::stderr_is_journal());
  setenv("JOURNAL_STREAM", (id + "x").c_str(), 1);
  CHECK_FALSE(journal::stderr_is_journal());
  setenv("JOURNAL_STREAM", "garbage", 1);
  CHECK_FALSE(journal::stderr_is_journal());
  unsetenv("JOURNAL_STREAM");
}

TEST_CASE("records on stderr respect the level; events carry their fields") {
  unsetenv("JOURNAL_STREAM");
  CaptureStderr capture;
  journal::setup(cdp::LogLevel::info);
  spdlog::debug("hidden debug");
  spdlog::info("shown info");
  journal::event(spdlog::level::debug, "gate", {{"CDP_GATE", "disk"}}, "hidden event");
  journal::event(spdlog::level::info, "gate", {{"CDP_GATE", "disk"}, {"CDP_OPEN", "1"}}, "Gate disk opened");
  journal::event(spdlog::level::info, "gate", {{"CDP_GATE", "runs"}, {"CDP_DISK_PERCENT", ""}}, "Unknown disk");
  journal::set_level(cdp::LogLevel::warn);
  spdlog::info("hidden after set_level");
  spdlog::warn("shown warn");
  std::string out = capture.text();
  capture.restore();
  journal::setup(cdp::LogLevel::info);

  CHECK(out.find("hidden") == std::string::npos);
  CHECK_THAT(out, Catch::Contains("Z info shown info\n"));
  CHECK_THAT(out, Catch::Contains("Z info Gate disk opened CDP_EVENT=gate CDP_GATE=disk CDP_OPEN=1\n"));
  // An empty value is "unknown": the field is left out, not recorded empty.
  CHECK_THAT(out, Catch::Contains("Z info Unknown disk CDP_EVENT=gate CDP_GATE=runs\n"));
  CHECK_THAT(out, Catch::Contains("Z warn shown warn\n"));
  CHECK(std::count(out.begin(), out.end(), '\n') == 4);
}

TEST_CASE("one-shot logging is silent unless debug or trace is asked for") {
  unsetenv("JOURNAL_STREAM");
  CaptureStderr capture;
  journal::setup_oneshot(cdp::LogLevel::info);
  spdlog::error("silent error");
  journal::event(spdlog::level::warn, "still_full", {}, "silent event");
  journal::set_level(cdp::LogLevel::error);  // keeps the one-shot mode
  spdlog::error("silent again");
  journal::set_level(cdp::LogLevel::debug);
  spdlog::debug("asked-for debug");
  std::string out = capture.text();
  capture.restore();
  journal::setup(cdp::LogLevel::info);

  CHECK(out.find("silent") == std::string::npos);
  CHECK_THAT(out, Catch::Contains(" debug asked-for debug\n"));
}

// Hidden (not run by default): test/integration/test_journal.py runs it under a private
// journald with JOURNAL_STREAM naming its stderr, then reads the records back.
TEST_CASE("emit records to the journal", "[.journal]") {
  REQUIRE(journal::stderr_is_journal());
  journal::setup(cdp::LogLevel::info);
  spdlog::debug("cdp-test filtered debug");
  spdlog::info("cdp-test plain info");
  journal::event(spdlog::level::debug, "gate", {}, "cdp-test filtered event");
  journal::event(spdlog::level::warn, "still_full",
                 {{"CDP_DISK_PERCENT", "91.5"}, {"MESSAGE_ID", journal::kPruneFinishedMessageId}},
                 "cdp-test event with fields");
  spdlog::error("cdp-test line one\nline two");
}
