// The still_full warning's text: asks Docker what the disk holds (GET /system/df) and
// splits it (report/disk_split.hpp) into reclaimable now / later / kept / not Docker.
// Must not decide when to warn (the scheduler does) or prune anything.
#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "report/disk_split.hpp"

namespace cdp {

namespace {
// /system/df walks every layer and volume: minutes on a big host, never cancelled early.
constexpr Duration kDfTimeout = std::chrono::seconds(120);
// Dockerd 20.10 answers a concurrent /system/df (an operator's `docker system df`) with
// 500 "a disk usage operation is already running": wait and ask again, a few times.
constexpr int kDfAttempts = 3;
constexpr auto kDfRetryDelay = std::chrono::seconds(2);
}  // namespace

awaitable<StillFull> Manager::describe_still_full(const std::string& head) {
  StillFull out;
  const std::string fallback = head + ": the rest is image cache (tagged images) or volumes, which this policy keeps";
  if (!client_) {
    out.message = fallback + " (Docker's disk usage unknown: Docker unreachable)";
    co_return out;
  }
  docker::Client client = *client_;
  std::string why;
  for (int attempt = 1; attempt <= kDfAttempts; ++attempt) {
    const Duration timeout = kDfTimeout;
    auto df = co_await client.system_df(timeout);
    if (df) {
      const Snapshot snap = model_.snapshot();
      const std::uint64_t used = snap.disk ? snap.disk->used_bytes : 0;
      auto split = split_disk(*df, used, config_.prune.until_duration, Clock::now());
      if (split) {
        out.split = *split;
        out.message = still_full_message(head, *split, config_.prune.until);
        co_return out;
      }
      why = split.error();
      break;
    }
    why = df.error().message;
    const bool busy = df.error().kind == docker::Error::Kind::http && df.error().status == 500;
    if (!busy || attempt == kDfAttempts || stopping_) break;
    spdlog::debug("{}; asking again in {}s", why, kDfRetryDelay.count());
    const auto until = std::chrono::steady_clock::now() + kDfRetryDelay;
    co_await sleep_until(until);
  }
  out.message = fallback + " (what the disk holds is unknown: " + why + ")";
  co_return out;
}

}  // namespace cdp
