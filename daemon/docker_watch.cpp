// The Docker watch (list-then-watch, FACTS): negotiate, open /events FIRST, then list
// info, services and containers, mark the model synced and apply events line by line.
// On any error: log once, mark the model stale (every Docker gate closed), back off,
// reconnect and re-list. Also the heal re-list (stream kept open), the inspect of dying
// containers and the convergence poll. Must not decide.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/gates.hpp"
#include "report/journal.hpp"
#include "report/notify.hpp"

namespace cdp {

namespace {
// The replay buffer is 256 events and a slow reader silently loses events (FACTS):
// re-list this often to heal what was dropped.
constexpr auto kHealInterval = std::chrono::minutes(5);
// SPEC: two observations at least a second apart. A service that stays unconverged
// (pending on a constraint, crash-looping) is polled less often after a minute.
constexpr auto kPollSpacing = std::chrono::seconds(1);
constexpr auto kSlowPollSpacing = std::chrono::seconds(2);
constexpr auto kSlowPollAfter = std::chrono::seconds(60);
// A list refused as stale (a service event arrived meanwhile) is retried after this.
constexpr auto kStaleRetry = std::chrono::milliseconds(50);
// Heal re-lists asked for by bad input are at least this far apart (a flood of bad lines
// must not become a list storm).
constexpr auto kMinHealSpacing = std::chrono::seconds(1);
// A failed convergence poll (or a locked/pending swarm, whose unlock emits nothing we
// watch) is retried with backoff from 1 s up to this.
constexpr Duration kPollRetryMax = std::chrono::seconds(30);

using SessionResult = std::expected<void, docker::Error>;

const std::vector<std::string>& kLiveStates = kLiveContainerStates;  // model/types.hpp

nlohmann::json event_filters() {
  // image: deletes change disk use. No label filter: it would drop service/node events (FACTS).
  return {{"type", {"container", "service", "node", "image"}}};
}

// A session or list begun before docker.host changed: its results are about the old engine.
SessionResult superseded() {
  docker::Error e;
  e.kind = docker::Error::Kind::closed;
  e.message = "docker.host changed";
  return std::unexpected(std::move(e));
}
}  // namespace

awaitable<void> Manager::docker_loop() {
  while (!stopping_) {
    const std::uint64_t epoch = docker_epoch_;
    // A reload while we waited below is already in effect for this session.
    reconnect_requested_ = false;
    synced_since_.reset();
    auto result = co_await docker_session();
    if (stopping_) break;
    std::optional<Duration> synced_for;
    if (synced_since_) synced_for = std::chrono::duration_cast<Duration>(Steady::now() - *synced_since_);
    synced_since_.reset();
    if (reconnect_requested_ || epoch != docker_epoch_) {
      // reload() already closed every Docker gate and bumped the epoch: nothing begun
      // for the old engine can land in the model any more.
      reconnect_requested_ = false;
      spdlog::info("Reconnecting to Docker at {} (docker.host changed)", config_.docker.host);
      model_.set_connected(false);
      client_.reset();
      backoff_.reset();
      changed();
      continue;
    }
    const std::string why = result ? std::string("the event stream ended") : result.error().message;
    if (model_.synced()) {
      journal::event(spdlog::level::warn, "docker_lost", {},
                     fmt::format("Lost Docker at {}: {}; every Docker gate is closed, reconnecting",
                                 config_.docker.host, why));
    } else if (!unreachable_logged_) {
      spdlog::warn("Failed to reach Docker at {}: {}; retrying with backoff up to {}s", config_.docker.host, why,
                   std::chrono::duration_cast<std::chrono::seconds>(docker::Backoff::kMax).count());
    } else {
      spdlog::debug("Failed to reach Docker at {}: {}", config_.docker.host, why);
    }
    unreachable_logged_ = true;
    model_.set_connected(false);
    client_.reset();
    changed();
    on_first_sync_attempt();
    // Reset only by a session that stayed synced a while (docker/backoff.hpp): a re-list
    // that fails right after each connect must not retry every second forever.
    const Duration wait = backoff_.after_session(synced_for);
    co_await docker_wake_.wait(Steady::now() + wait);
  }
}

void Manager::on_first_sync_attempt() {
  if (first_attempt_done_) return;
  first_attempt_done_ = true;
  // SPEC: READY once the config is loaded and the first sync attempt finished, reachable
  // or not, so `systemctl start` never hangs on a down engine.
  feed(timeline::ModelChanged{});  // STATUS before READY: `systemctl status` shows a state from the start
  notify::ready();
}

awaitable<std::expected<void, docker::Error>> Manager::docker_session() {
  const std::uint64_t epoch = docker_epoch_;
  docker::Client client(ex_, config_.docker.socket_path());
  auto version = co_await client.negotiate();
  if (!version) {
    SessionResult failed = std::unexpected(version.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  if (epoch != docker_epoch_) co_return superseded();
  auto stream = std::make_shared<docker::EventStream>(ex_, client.socket_path(), *version);
  // Named, not a temporary: GCC 12 may destroy temporaries in co_await expressions twice.
  const nlohmann::json filters = event_filters();
  auto opened = co_await stream->open(filters);
  if (!opened) {
    SessionResult failed = std::unexpected(opened.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  if (epoch != docker_epoch_) co_return superseded();
  stream_ = stream;
  if (stopping_) {
    SessionResult ok;
    co_return ok;
  }

  const bool was_connected = model_.connected();
  if (!was_connected) model_.set_connected(true);
  // Events are not read during this first list: they wait in the socket and are applied
  // after it, in order (list, then watch).
  auto listed = co_await relist(client, epoch);
  if (!listed) {
    if (stream_ == stream) stream_.reset();
    SessionResult failed = std::unexpected(listed.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  client_ = client;
  model_.mark_synced();
  emergency_request_images();  // first seen / forgotten images (emergency_wiring.cpp)
  synced_since_ = Steady::now();
  if (!was_connected || unreachable_logged_) {
    metrics_->docker_connected();
    unreachable_logged_ = false;
    journal::event(spdlog::level::info, "docker_connected", {},
                   fmt::format("Connected to Docker {} at {} (API {}), {} live containers",
                               model_.info() ? model_.info()->server_version : "?", config_.docker.host,
                               *version, model_.container_count()));
    if (model_.info() && model_.info()->swarm_local_node_state != "active")
      spdlog::info("Swarm is {} here: {}", model_.info()->swarm_local_node_state,
                   model_.swarm_role() == SwarmRole::inactive
                       ? "the runs gate uses containers only"
                       : "its services are unknown, the runs and converge gates stay closed");
    else if (model_.swarm_role() == SwarmRole::worker)
      spdlog::info("This node is a swarm worker: a worker cannot see the cluster's services, the runs gate "
                   "uses containers only");
  }
  refresh_disk_watch();
  request_disk_read();
  conv_wake_.notify();
  changed();
  on_first_sync_attempt();

  while (!stopping_) {
    auto line = co_await stream->next_line();
    if (epoch != docker_epoch_) co_return superseded();
    if (!line) {
      if (line.error().kind == docker::Error::Kind::bad_input) {
        // SPEC: dropped with a warning, and a re-list heals whatever it carried.
        spdlog::warn("{}; re-listing", line.error().message);
        heal_wake_.notify();
        continue;
      }
      if (stream_ == stream) stream_.reset();
      SessionResult failed = std::unexpected(line.error());  // named: GCC 12 temporaries
      co_return failed;
    }
    if (line->empty()) continue;
    auto event = docker::parse_event(*line);
    if (!event) {
      spdlog::warn("Failed to parse an event, dropping it and re-listing: {}", event.error());
      heal_wake_.notify();
      continue;
    }
    apply_event_effect(model_.apply_event(*event));
    metrics_->event_applied();
    emergency_on_event(*event);  // last use per image (emergency_wiring.cpp)
  }
  SessionResult ok;
  co_return ok;
}

void Manager::apply_event_effect(const EventEffect& fx) {
  if (fx.poll_convergence) conv_wake_.notify();
  if (fx.disk_changed) request_disk_read();
  if (fx.inspect) spawn("inspect", inspect_job(*fx.inspect, fx.inspect_ticket, docker_epoch_));
  if (fx.changed) changed();
}

awaitable<void> Manager::inspect_job(std::string id, std::uint64_t ticket, std::uint64_t epoch) {
  if (!client_) co_return;  // lost meanwhile: the reconnect's list decides
  docker::Client client = *client_;
  auto inspected = co_await client.inspect_container(id);
  if (epoch != docker_epoch_ || !model_.synced()) co_return;
  if (!inspected) {
    // Still live in the model (unknown means closed); a re-list decides instead.
    spdlog::debug("{}; re-listing", inspected.error().message);
    heal_wake_.notify();
    co_return;
  }
  if (model_.apply_inspect(id, ticket, *inspected)) changed();
}

awaitable<std::expected<void, docker::Error>> Manager::list_services(docker::Client& client, std::uint64_t epoch) {
  const SwarmRole role = model_.swarm_role();
  const auto generation = model_.service_generation();
  if (role != SwarmRole::manager) {
    // Worker / inactive: no services to see. Locked/pending/error: unknown, and the gates
    // read the role from /info. Either way /services is not asked (its 503 says nothing).
    model_.set_services(std::nullopt, clock_->now().mono, generation);
    SessionResult ok;
    co_return ok;
  }
  auto services = co_await client.services();
  if (epoch != docker_epoch_) co_return superseded();
  if (!services) {
    // A manager that cannot list (503: quorum lost; 5xx; timeout): runs and converge
    // closed; the convergence poll retries with backoff and re-reads /info.
    model_.set_services_error(services.error().message);
    conv_wake_.notify();
    SessionResult ok;
    co_return ok;
  }
  // Refused when a service event arrived meanwhile (heal lists run beside the stream):
  // the convergence poll observes again.
  if (model_.set_services(*services, clock_->now().mono, generation)) last_services_poll_ = Steady::now();
  SessionResult ok;
  co_return ok;
}

awaitable<std::expected<void, docker::Error>> Manager::relist(docker::Client& client, std::uint64_t epoch) {
  const std::uint64_t ticket = model_.begin_relist();
  auto fail = [&](const docker::Error& e) -> SessionResult {
    model_.abort_relist(ticket);
    return std::unexpected(e);
  };
  auto info = co_await client.info();
  if (epoch != docker_epoch_) co_return superseded();
  if (!info) co_return fail(info.error());
  model_.set_info(*info);
  auto services = co_await list_services(client, epoch);
  if (!services) co_return fail(services.error());
  auto containers = co_await client.containers(kLiveStates);
  if (epoch != docker_epoch_) co_return superseded();
  if (!containers) co_return fail(containers.error());
  auto inspect = model_.finish_relist(ticket, *containers);
  if (!inspect) {
    // The connection was lost (or another list began) meanwhile: this list is stale.
    docker::Error e;
    e.kind = docker::Error::Kind::closed;
    e.message = "the connection to Docker was lost during the list";
    co_return fail(e);
  }
  for (const auto& r : *inspect) spawn("inspect", inspect_job(r.id, r.ticket, epoch));
  // The lists' JSON (~9 MB at 10 000 containers) is freed by now but glibc keeps its
  // pages: hand them back, or the daemon idles at ~60 MiB after one big sync (bench/run.py).
  *containers = {};
  ::malloc_trim(0);
  SessionResult ok;
  co_return ok;
}

awaitable<void> Manager::heal_loop() {
  while (!stopping_) {
    co_await heal_wake_.wait(Steady::now() + kHealInterval);
    if (stopping_) break;
    if (!model_.synced() || !client_ || !stream_ || model_.relisting()) continue;
    // The stream stays open (SPEC "Heal with no blind window"): events applied while the
    // lists are in flight are recorded and replayed on them (LiveModel::finish_relist).
    spdlog::debug("Re-listing to heal events Docker may have dropped");
    docker::Client client = *client_;
    const std::uint64_t epoch = docker_epoch_;
    auto listed = co_await relist(client, epoch);
    if (epoch != docker_epoch_ || stopping_) continue;
    if (!listed) {
      // Lists fail while the stream looks fine: unknown. Reconnect (gates closed) rather
      // than go on with a model that could not be checked.
      if (model_.synced() && stream_) {
        spdlog::warn("Failed to re-list Docker at {}: {}; reconnecting", config_.docker.host, listed.error().message);
        stream_->close();
      }
      continue;
    }
    conv_wake_.notify();
    changed();
    co_await sleep_until(Steady::now() + kMinHealSpacing);
  }
}

bool Manager::converge_gate_open() {
  return evaluate_gates(model_.snapshot(), config_, clock_->now()).gate(GateId::converge).open;
}

awaitable<void> Manager::convergence_loop() {
  while (!stopping_) {
    co_await conv_wake_.wait(std::nullopt);
    // No event exists for task convergence (FACTS): poll until two consecutive converged
    // observations (the converge gate opens), then wait for the next hint. A failed poll
    // is retried with backoff, and re-reads /info first (SPEC: the role on every failure).
    const auto polling_since = Steady::now();
    Duration retry = docker::Backoff::kFirst;
    bool failing = false;
    while (!stopping_ && client_ && model_.synced()) {
      const auto spacing = Steady::now() - polling_since > kSlowPollAfter ? kSlowPollSpacing : kPollSpacing;
      co_await sleep_until(failing ? Steady::now() + retry : last_services_poll_ + spacing);
      if (stopping_ || !client_ || !model_.synced()) break;
      if (failing) retry = std::min<Duration>(retry * 2, kPollRetryMax);
      docker::Client client = *client_;
      const std::uint64_t epoch = docker_epoch_;
      if (failing || model_.swarm_role() != SwarmRole::manager) {
        auto info = co_await client.info();
        if (epoch != docker_epoch_ || !model_.synced()) break;
        if (!info) {
          failing = true;
          continue;
        }
        model_.set_info(*info);
        changed();
      }
      const SwarmRole role = model_.swarm_role();
      if (role == SwarmRole::worker || role == SwarmRole::inactive) {
        model_.set_services(std::nullopt, clock_->now().mono, model_.service_generation());
        changed();
        break;
      }
      if (role == SwarmRole::unknown) {
        // Locked/pending/error: nothing to observe until it changes; Docker sends no
        // event we watch for an unlock, so look again with backoff.
        if (!failing)
          spdlog::warn("Swarm is {} here: the runs and converge gates stay closed until it is not (checking with "
                       "backoff up to {}s)",
                       model_.info() ? model_.info()->swarm_local_node_state : "?",
                       std::chrono::duration_cast<std::chrono::seconds>(kPollRetryMax).count());
        failing = true;
        continue;
      }
      const auto generation = model_.service_generation();
      auto services = co_await client.services();
      if (epoch != docker_epoch_ || !model_.synced()) break;
      if (!services) {
        if (!failing)
          spdlog::warn("{}; the runs and converge gates stay closed, retrying with backoff up to {}s",
                       services.error().message,
                       std::chrono::duration_cast<std::chrono::seconds>(kPollRetryMax).count());
        model_.set_services_error(services.error().message);
        changed();
        failing = true;
        continue;
      }
      if (!model_.set_services(*services, clock_->now().mono, generation)) {
        co_await sleep_until(Steady::now() + kStaleRetry);
        continue;
      }
      if (failing) spdlog::info("Services listed again: {} on this manager", services->size());
      failing = false;
      retry = docker::Backoff::kFirst;
      last_services_poll_ = Steady::now();
      changed();
      if (converge_gate_open()) break;
    }
  }
}

}  // namespace cdp
