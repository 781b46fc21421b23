// The /events line splitter (see lines.hpp). Pure.
#include "docker/lines.hpp"

namespace cdp::docker {

std::optional<LineSplitter::Item> LineSplitter::next() {
  for (;;) {
    const auto nl = pending_.find('\n');
    if (skipping_) {
      if (nl == std::string::npos) {
        pending_.clear();
        return std::nullopt;
      }
      pending_.erase(0, nl + 1);
      skipping_ = false;
      continue;
    }
    if (nl == std::string::npos) {
      if (pending_.size() <= max_) return std::nullopt;
      // Over the cap without an end in sight: report it now, drop the rest as it comes.
      pending_.clear();
      skipping_ = true;
      return Item{true, {}};
    }
    if (nl > max_) {
      pending_.erase(0, nl + 1);
      return Item{true, {}};
    }
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;  // blank separators carry nothing
    return Item{false, std::move(line)};
  }
}

}  // namespace cdp::docker
