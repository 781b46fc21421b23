// The Docker watch (list-then-watch, FACTS): negotiate, open /events FIRST, then list
// info, services and containers, mark the model synced and apply events line by line.
// On any error: log once, mark the model stale (every Docker gate closed), back off,
// reconnect and re-list. Also the heal re-list and the convergence poll. Must not decide.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/gates.hpp"
#include "report/journal.hpp"
#include "report/notify.hpp"

namespace cdp {

namespace {
constexpr auto kBackoffMax = std::chrono::seconds(30);
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

using SessionResult = std::expected<void, docker::Error>;

const std::vector<std::string>& kLiveStates = kLiveContainerStates;  // model/types.hpp

nlohmann::json event_filters() {
  // image: deletes change disk use. No label filter: it would drop service/node events (FACTS).
  return {{"type", {"container", "service", "node", "image"}}};
}
}  // namespace

awaitable<void> Manager::docker_loop() {
  while (!stopping_) {
    auto result = co_await docker_session();
    if (stopping_) break;
    if (heal_requested_ && model_.connected() && !reconnect_requested_) {
      // Our own close for the periodic re-list: reopen at once, Docker is not lost.
      heal_requested_ = false;
      continue;
    }
    heal_requested_ = false;
    const std::string why = result ? std::string("the event stream ended") : result.error().message;
    if (reconnect_requested_) {
      reconnect_requested_ = false;
      spdlog::info("Reconnecting to Docker at {} (docker.host changed)", config_.docker.host);
      model_.set_connected(false);
      client_.reset();
      changed();
      continue;
    }
    if (model_.connected()) {
      journal::event(spdlog::level::warn, "docker_lost", {},
                     fmt::format("Lost Docker at {}: {}; every Docker gate is closed, reconnecting",
                                 config_.docker.host, why));
      backoff_ = std::chrono::seconds(1);
    } else if (!unreachable_logged_) {
      spdlog::warn("Failed to reach Docker at {}: {}; retrying with backoff up to {}s", config_.docker.host, why,
                   kBackoffMax.count());
    } else {
      spdlog::debug("Failed to reach Docker at {}: {}", config_.docker.host, why);
    }
    unreachable_logged_ = true;
    model_.set_connected(false);
    client_.reset();
    changed();
    on_first_sync_attempt();
    co_await docker_wake_.wait(Steady::now() + backoff_);
    backoff_ = std::min<Duration>(backoff_ * 2, kBackoffMax);
  }
}

void Manager::on_first_sync_attempt() {
  if (first_attempt_done_) return;
  first_attempt_done_ = true;
  // SPEC: READY once the config is loaded and the first sync attempt finished, reachable
  // or not, so `systemctl start` never hangs on a down engine.
  evaluate();  // STATUS before READY: `systemctl status` shows a state from the start
  notify::ready();
}

awaitable<std::expected<void, docker::Error>> Manager::docker_session() {
  docker::Client client(ex_, config_.docker.socket_path());
  auto version = co_await client.negotiate();
  if (!version) {
    SessionResult failed = std::unexpected(version.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  auto stream = std::make_shared<docker::EventStream>(ex_, client.socket_path(), *version);
  // Named, not a temporary: GCC 12 may destroy temporaries in co_await expressions twice.
  const nlohmann::json filters = event_filters();
  auto opened = co_await stream->open(filters);
  if (!opened) {
    SessionResult failed = std::unexpected(opened.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  stream_ = stream;
  if (stopping_) {
    SessionResult ok;
    co_return ok;
  }

  const bool was_connected = model_.connected();
  if (!was_connected) model_.set_connected(true);
  auto listed = co_await relist(client);
  if (!listed) {
    stream_.reset();
    SessionResult failed = std::unexpected(listed.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  client_ = client;
  model_.mark_synced();
  backoff_ = std::chrono::seconds(1);
  if (!was_connected) {
    unreachable_logged_ = false;
    journal::event(spdlog::level::info, "docker_connected", {},
                   fmt::format("Connected to Docker {} at {} (API {}), {} live containers",
                               model_.info() ? model_.info()->server_version : "?", config_.docker.host,
                               *version, model_.container_count()));
    if (model_.info() && !config_.disk.path && model_.info()->swarm_local_node_state != "active")
      spdlog::info("Swarm is {} here: the runs gate uses containers only",
                   model_.info()->swarm_local_node_state);
  }
  refresh_disk_watch();
  request_disk_read();
  conv_wake_.notify();
  changed();
  on_first_sync_attempt();

  while (!stopping_) {
    auto line = co_await stream->next_line();
    if (!line) {
      if (stream_ == stream) stream_.reset();
      SessionResult failed = std::unexpected(line.error());  // named: GCC 12 temporaries
      co_return failed;
    }
    if (line->empty()) continue;
    auto event = docker::parse_event(*line);
    if (!event) {
      spdlog::warn("Failed to parse an event, skipping it: {}", event.error());
      continue;
    }
    const EventEffect fx = model_.apply_event(*event);
    if (fx.poll_convergence) conv_wake_.notify();
    if (fx.disk_changed) request_disk_read();
    if (fx.changed) changed();
  }
  SessionResult ok;
  co_return ok;
}

awaitable<std::expected<void, docker::Error>> Manager::relist(docker::Client& client) {
  auto info = co_await client.info();
  if (!info) {
    SessionResult failed = std::unexpected(info.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  model_.set_info(*info);
  const auto generation = model_.service_generation();
  auto services = co_await client.services();
  if (!services) {
    SessionResult failed = std::unexpected(services.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  // Events are not read during the lists, so the generation cannot have moved.
  model_.set_services(*services, Clock::now(), generation);
  last_services_poll_ = Steady::now();
  auto containers = co_await client.containers(kLiveStates);
  if (!containers) {
    SessionResult failed = std::unexpected(containers.error());  // named: GCC 12 temporaries
    co_return failed;
  }
  model_.set_containers(*containers);
  // The lists' JSON (~9 MB at 10 000 containers) is freed by now but glibc keeps its
  // pages: hand them back, or the daemon idles at ~60 MiB after one big sync (bench/run.py).
  *containers = {};
  ::malloc_trim(0);
  SessionResult ok;
  co_return ok;
}

awaitable<void> Manager::heal_loop() {
  asio::steady_timer timer(ex_);
  while (!stopping_) {
    timer.expires_after(kHealInterval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping_) break;
    if (model_.synced() && stream_) {
      spdlog::debug("Re-listing to heal events Docker may have dropped");
      heal_requested_ = true;
      stream_->close();
    }
  }
}

bool Manager::converge_gate_open() {
  return evaluate_gates(model_.snapshot(), config_, Clock::now()).gate(GateId::converge).open;
}

awaitable<void> Manager::convergence_loop() {
  while (!stopping_) {
    co_await conv_wake_.wait(std::nullopt);
    // No event exists for task convergence (FACTS): poll until two consecutive converged
    // observations (the converge gate opens), then wait for the next hint.
    const auto polling_since = Steady::now();
    while (!stopping_ && client_ && model_.synced()) {
      const auto spacing = Steady::now() - polling_since > kSlowPollAfter ? kSlowPollSpacing : kPollSpacing;
      co_await sleep_until(last_services_poll_ + spacing);
      if (stopping_ || !client_ || !model_.synced()) break;
      docker::Client client = *client_;
      const auto generation = model_.service_generation();
      auto services = co_await client.services();
      if (!services) break;  // the Docker watch notices the loss and reconnects
      if (!model_.synced()) break;
      if (!model_.set_services(*services, Clock::now(), generation)) {
        co_await sleep_until(Steady::now() + kStaleRetry);
        continue;
      }
      last_services_poll_ = Steady::now();
      changed();
      if (!*services || converge_gate_open()) break;
    }
  }
}

}  // namespace cdp
