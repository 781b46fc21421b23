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

// The cheap re-check before a later prune step (issue 9): one live-containers list, one
// services list and a statvfs on top of `base`, an earlier fresh_sync of the same engine.
// The new services observation pairs with base's latest, or with base's previous when the
// latest is less than 1 s old, so the converge gate still sees two observations >= 1 s
// apart without waiting. Fails with the first Docker error.
awaitable<std::expected<Snapshot, docker::Error>> confirm_sync(docker::Client& client, const Snapshot& base);

// The same, returning the snapshot alone.
awaitable<std::expected<Snapshot, docker::Error>> fresh_snapshot(docker::Client& client, const Config& config,
                                                                 std::optional<TimePoint> last_prune);

}  // namespace cdp
