// One-shot sync: everything the gates need, read straight from Docker and statvfs.
// An edge (it reads the clock and waits); the decision is made elsewhere, on its result.
#include "docker/sync.hpp"

#include "disk/usage.hpp"

namespace cdp {

namespace {
// The converge gate needs two observations at least one second apart on the monotonic
// clock (SPEC). Each is stamped after its answer, so the stamps are at least the wait apart.
constexpr auto kObservationGap = std::chrono::seconds(1);
}  // namespace

awaitable<std::expected<FreshSync, docker::Error>> fresh_sync(docker::Client& client, const Config& config,
                                                              std::optional<TimePoint> last_prune) {
  FreshSync out;
  Snapshot& snap = out.snapshot;
  snap.last_prune_finished = last_prune;

  if (auto v = co_await client.negotiate(); !v) co_return std::unexpected(v.error());
  auto info = co_await client.info();
  if (!info) co_return std::unexpected(info.error());
  out.info = *info;
  snap.docker_connected = true;
  snap.disk_path = config.disk.path.value_or(info->docker_root_dir);

  // SPEC "The gates", swarm role: /info decides; /services is asked on a manager only.
  snap.swarm_role = swarm_role_of(*info);
  snap.swarm_state = info->swarm_local_node_state;
  snap.services_visible = snap.swarm_role == SwarmRole::manager;
  if (snap.swarm_role == SwarmRole::manager) {
    auto first = co_await client.services();
    const SteadyTime first_at = std::chrono::steady_clock::now();
    if (!first) {
      // 503 (quorum lost, locked since /info), 5xx, timeout: unknown, runs/converge closed.
      snap.services_error = first.error().message;
    } else {
      asio::steady_timer timer(client.executor());
      timer.expires_after(kObservationGap);
      co_await timer.async_wait(use_awaitable);
      auto second = co_await client.services();
      const SteadyTime second_at = std::chrono::steady_clock::now();
      if (!second) {
        snap.services_error = second.error().message;
      } else {
        snap.services_previous = ServiceObservation{first_at, std::move(*first)};
        snap.services_latest = ServiceObservation{second_at, std::move(*second)};
      }
    }
  }

  // Named first: GCC 12 rejects a braced list of literals inside a co_await expression.
  const std::vector<std::string>& live_states = kLiveContainerStates;
  auto containers = co_await client.containers(live_states);
  if (!containers) co_return std::unexpected(containers.error());
  snap.containers = std::move(*containers);

  if (snap.disk_path.empty()) {
    snap.disk_error = "disk path unknown: Docker reported no DockerRootDir and disk.path is not set";
  } else if (auto disk = read_disk_usage(snap.disk_path)) {
    snap.disk = *disk;
  } else {
    snap.disk_error = disk.error();
  }
  snap.synced = true;
  co_return out;
}

awaitable<std::expected<Snapshot, docker::Error>> confirm_sync(docker::Client& client, const Snapshot& base) {
  Snapshot snap = base;
  const std::vector<std::string>& live_states = kLiveContainerStates;
  auto containers = co_await client.containers(live_states);
  if (!containers) co_return std::unexpected(containers.error());
  snap.containers = std::move(*containers);
  if (base.swarm_role == SwarmRole::manager && base.services_error.empty()) {
    auto services = co_await client.services();
    const SteadyTime at = std::chrono::steady_clock::now();
    if (!services) {
      // A manager whose /services fails since the sync: unknown, runs and converge closed.
      snap.services_error = services.error().message;
      snap.services_latest.reset();
      snap.services_previous.reset();
    } else {
      std::optional<ServiceObservation> pair = base.services_latest;
      if (!pair || at - pair->at < std::chrono::seconds(1)) pair = base.services_previous;
      snap.services_previous = std::move(pair);
      snap.services_latest = ServiceObservation{at, std::move(*services)};
    }
  }
  if (!snap.disk_path.empty()) {
    if (auto disk = read_disk_usage(snap.disk_path)) {
      snap.disk = *disk;
      snap.disk_error.clear();
    } else {
      snap.disk.reset();
      snap.disk_error = disk.error();
    }
  }
  co_return snap;
}

awaitable<std::expected<Snapshot, docker::Error>> fresh_snapshot(docker::Client& client, const Config& config,
                                                                 std::optional<TimePoint> last_prune) {
  auto s = co_await fresh_sync(client, config, last_prune);
  if (!s) co_return std::unexpected(s.error());
  co_return std::move(s->snapshot);
}

}  // namespace cdp
