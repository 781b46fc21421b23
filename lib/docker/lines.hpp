// Splits the /events body into lines with a cap on a line's length (SPEC "Never twice":
// an event line over 1 MiB is dropped with a warning). Pure: no I/O, no logging. Memory
// stays within the cap plus one fed chunk, whatever the peer sends.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cdp::docker {

// The longest event line accepted. Docker's biggest events are container events with all
// labels as attributes: a few KB in practice; 1 MiB is the SPEC's bound.
inline constexpr std::size_t kMaxEventLineBytes = 1024 * 1024;

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = kMaxEventLineBytes) : max_(max_line) {}

  struct Item {
    bool oversized = false;  // a line over the cap was dropped (reported once, as it passes it)
    std::string line;        // the line without "\n" / "\r\n" (empty when oversized)
  };

  void feed(std::string_view bytes) { pending_.append(bytes); }
  // The next complete line, an oversized report, or nullopt when more bytes are needed.
  // Blank lines are skipped.
  std::optional<Item> next();
  // Bytes of an unfinished line are held (a stream ending now ends mid-event).
  bool holds_partial() const { return !pending_.empty() || skipping_; }
  void clear() {
    pending_.clear();
    skipping_ = false;
  }

 private:
  std::size_t max_;
  std::string pending_;
  bool skipping_ = false;  // inside an oversized line: drop bytes up to its '\n'
};

}  // namespace cdp::docker
