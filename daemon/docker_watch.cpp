// The Docker watch (list-then-watch, FACTS): negotiate, open /events FIRST, then list
// info, services and containers, mark the model synced and apply events line by line.
// Also the heal re-list (stream kept open), the inspect of dying containers and the
// convergence poll. A thin driver: when to reconnect, heal or poll, and what to ask next,
// is decided by the pure policy/watch_core.hpp (the simulation drives the same core).
// Must not decide.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/gates.hpp"
#include "report/journal.hpp"
#include "report/notify.hpp"

namespace cdp {

namespace {
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
    auto result = co_await docker_session();
    if (stopping_) break;
    if (reconnect_requested_ || epoch != docker_epoch_) {
      // reload() already closed every Docker gate and bumped the epoch: nothing begun
      // for the old engine can land in the model any more.
      reconnect_requested_ = false;
      spdlog::info("Reconnecting to Docker at {} (docker.host changed)", config_.docker.host);
      model_.set_connected(false);
      client_.reset();
      session_.host_changed();
      changed();
      continue;
    }
    const std::string why = result ? std::string("the event stream ended") : result.error().message;
    const watch::Reconnect next = session_.ended(clock_->now().mono, model_.synced());
    switch (next.log) {
      case watch::LostLog::lost:
        journal::event(spdlog::level::warn, "docker_lost", {},
                       fmt::format("Lost Docker at {}: {}; every Docker gate is closed, reconnecting",
                                   config_.docker.host, why));
        break;
      case watch::LostLog::unreachable:
        spdlog::warn("Failed to reach Docker at {}: {}; retrying with backoff up to {}s", config_.docker.host, why,
                     std::chrono::duration_cast<std::chrono::seconds>(session_.backoff_max()).count());
        break;
      case watch::LostLog::quiet:
        spdlog::debug("Failed to reach Docker at {}: {}", config_.docker.host, why);
        break;
    }
    model_.set_connected(false);
    client_.reset();
    changed();
    on_first_sync_attempt();
    const SteadyTime retry_at = clock_->now().mono + next.wait;
    co_await docker_wake_.wait(retry_at);
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
  if (session_.synced(clock_->now().mono, was_connected)) {
    metrics_->docker_connected();
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
        ask_heal();
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
      ask_heal();
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
    ask_heal();
    co_return;
  }
  if (model_.apply_inspect(id, ticket, *inspected)) changed();
}

awaitable<std::expected<void, docker::Error>> Manager::list_services(docker::Client& client, std::uint64_t epoch) {
  const SwarmRole role = model_.swarm_role();
  const auto generation = model_.service_generation();
  if (!watch::ask_services(role)) {
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
  if (model_.set_services(*services, clock_->now().mono, generation)) poll_.observed(clock_->now().mono);
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

void Manager::ask_heal() {
  heal_.ask();
  heal_wake_.notify();
}

awaitable<void> Manager::heal_loop() {
  heal_ = watch::Heal(clock_->now().mono);
  while (!stopping_) {
    const SteadyTime wake_at = heal_.wake_at();
    co_await heal_wake_.wait(wake_at);
    if (stopping_) break;
    if (!heal_.due(clock_->now().mono)) continue;  // asked, but the spacing has not passed
    heal_.begun(clock_->now().mono);
    if (!model_.synced() || !client_ || !stream_ || model_.relisting()) continue;
    // The stream stays open (SPEC "Heal with no blind window"): events applied while the
    // lists are in flight are recorded and replayed on them (LiveModel::finish_relist).
    spdlog::debug("Re-listing to heal events Docker may have dropped");
    docker::Client client = *client_;
    const std::uint64_t epoch = docker_epoch_;
    auto listed = co_await relist(client, epoch);
    if (epoch != docker_epoch_ || stopping_) continue;
    if (heal_.finished(clock_->now().mono, listed.has_value())) {
      if (model_.synced() && stream_) {
        spdlog::warn("Failed to re-list Docker at {}: {}; reconnecting", config_.docker.host, listed.error().message);
        stream_->close();
      }
      continue;
    }
    conv_wake_.notify();
    changed();
  }
}

bool Manager::converge_gate_open() {
  return evaluate_gates(model_.snapshot(), config_, clock_->now()).gate(GateId::converge).open;
}

awaitable<void> Manager::convergence_loop() {
  // The moves come from watch::ConvergencePoll; conv_wake_ carries its hints (a notify
  // while a round runs is kept by the Wakeup and starts the next round).
  while (!stopping_) {
    const bool ready = client_.has_value() && model_.synced();
    const watch::PollMove move = poll_.next(clock_->now().mono, ready, model_.swarm_role());
    if (std::holds_alternative<watch::PollIdle>(move)) {
      co_await conv_wake_.wait(std::nullopt);
      poll_.hint();
      continue;
    }
    if (const auto* sleep = std::get_if<watch::PollSleep>(&move)) {
      report_poll_trouble(poll_.take_trouble());
      const SteadyTime until = sleep->until;
      co_await sleep_until(until);
      continue;
    }
    if (std::holds_alternative<watch::PollNoServices>(move)) {
      model_.set_services(std::nullopt, clock_->now().mono, model_.service_generation());
      changed();
      continue;
    }
    docker::Client client = *client_;
    const std::uint64_t epoch = docker_epoch_;
    if (std::holds_alternative<watch::PollAskInfo>(move)) {
      auto info = co_await client.info();
      if (epoch != docker_epoch_ || !model_.synced()) {
        poll_.stop();
        continue;
      }
      if (info) {
        model_.set_info(*info);
        changed();
      } else {
        poll_error_ = info.error().message;
      }
      poll_.info_answered(clock_->now().mono, info.has_value());
      continue;
    }
    // PollAskServices
    const auto generation = model_.service_generation();
    auto services = co_await client.services();
    if (epoch != docker_epoch_ || !model_.synced()) {
      poll_.stop();
      continue;
    }
    if (!services) {
      poll_error_ = services.error().message;
      model_.set_services_error(services.error().message);
      changed();
      poll_.services_answered(clock_->now().mono, watch::ServicesAnswer::failed, false);
      continue;
    }
    if (!model_.set_services(*services, clock_->now().mono, generation)) {
      poll_.services_answered(clock_->now().mono, watch::ServicesAnswer::stale, false);
      continue;
    }
    changed();
    const bool converged = converge_gate_open();
    if (poll_.services_answered(clock_->now().mono, watch::ServicesAnswer::accepted, converged))
      spdlog::info("Services listed again: {} on this manager", services->size());
  }
}

void Manager::report_poll_trouble(watch::PollTrouble trouble) {
  const auto cap = std::chrono::duration_cast<std::chrono::seconds>(watch::ConvergencePoll::kRetryMax).count();
  switch (trouble) {
    case watch::PollTrouble::none:
    case watch::PollTrouble::info_failed:  // the session's own requests say it, if it lasts
      break;
    case watch::PollTrouble::locked:
      spdlog::warn("Swarm is {} here: the runs and converge gates stay closed until it is not (checking with "
                   "backoff up to {}s)",
                   model_.info() ? model_.info()->swarm_local_node_state : "?", cap);
      break;
    case watch::PollTrouble::services_failed:
      spdlog::warn("{}; the runs and converge gates stay closed, retrying with backoff up to {}s", poll_error_, cap);
      break;
  }
}

}  // namespace cdp
