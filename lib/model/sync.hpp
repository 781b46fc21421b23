// A fresh, one-shot sync into a Snapshot (for `plan`, `prune` and their re-checks):
// negotiate, /info, two /services observations >= 1 s apart, live containers, statvfs.
// The daemon does not use it (it keeps a live model); this must not log above debug.
#pragma once
#include <expected>
#include <optional>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "model/snapshot.hpp"

namespace cdp {

struct FreshSync {
  Snapshot snapshot;
  EngineInfo info;
};

// Fails with the first Docker error (unreachable, timeout, HTTP, protocol). A disk that
// cannot be read is not a failure: the snapshot carries disk_error (the gate closes).
// `last_prune` fills Snapshot::last_prune_finished (one-shots pass nullopt: no memory).
awaitable<std::expected<FreshSync, docker::Error>> fresh_sync(docker::Client& client, const Config& config,
                                                              std::optional<TimePoint> last_prune);

// The same, returning the snapshot alone.
awaitable<std::expected<Snapshot, docker::Error>> fresh_snapshot(docker::Client& client, const Config& config,
                                                                 std::optional<TimePoint> last_prune);

}  // namespace cdp
