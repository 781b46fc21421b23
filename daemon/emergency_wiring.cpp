// The emergency tier in the daemon (SPEC "The emergency tier"): Manager members that keep
// each image's last use (events + image lists, persisted in the state file under
// "image_last_use") and run one episode right after a prune whose disk stays at or over
// emergency.critical_percent. Decides nothing: lib/policy/emergency.* does; lib/prune/
// evict.* is the only code that removes an image. Hooks: load_state (manager.cpp), the
// event loop and relist (docker_watch.cpp), the prune_done record (scheduler.cpp), stop().
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 + Asio 1.74 false positive

#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/emergency.hpp"
#include "policy/gates.hpp"
#include "prune/emergency_inputs.hpp"
#include "prune/evict.hpp"

namespace cdp {

namespace {
// Persisting on every container start would write the state file thousands of times a
// day on a busy CI host; a minute of last-use history lost in a crash is harmless
// (the images then count as first seen at the restart, i.e. younger, never older).
constexpr auto kUsePersistEvery = std::chrono::seconds(60);
}  // namespace

void Manager::emergency_load_state() {
  const auto& doc = state_file_.document();
  auto it = doc.find(kImageLastUseKey);
  if (it == doc.end()) return;
  std::size_t skipped = 0;
  image_use_ = ImageUse::from_json(*it, &skipped);
  if (skipped)
    spdlog::warn("{}: {} unreadable entr{} in {} ignored; those images count as first seen now",
                 state_file_.path(), skipped, skipped == 1 ? "y" : "ies", kImageLastUseKey);
}

void Manager::emergency_persist(bool force) {
  if (!image_use_dirty_) return;
  const auto now = Steady::now();
  if (!force && now - last_use_persist_ < kUsePersistEvery) return;
  last_use_persist_ = now;
  image_use_dirty_ = false;
  auto saved = state_file_.save_value(kImageLastUseKey, image_use_.to_json());
  if (!saved) spdlog::warn("{}; image last uses will not survive a restart", saved.error());
}

void Manager::emergency_on_event(const docker::Event& e) {
  if (e.type != "container" && e.type != "image") return;
  const ImageUseEvent ev{e.type, e.action, e.actor_id, e.attributes,
                         TimePoint{} + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(e.time_nano))};
  if (image_use_.apply(ev, images_)) image_use_dirty_ = true;
  // A new or moved image resolves only once listed; a deleted one leaves the list.
  if (e.type == "image" && e.action != "untag" && e.action != "save") emergency_request_images();
  emergency_persist(false);
}

void Manager::emergency_request_images() {
  if (images_listing_ || !client_) return;
  images_listing_ = true;
  spawn("images", emergency_list_images());
}

awaitable<void> Manager::emergency_list_images() {
  std::optional<docker::Client> client = client_;
  if (client) {
    const std::string target = "/images/json", no_body;
    const std::optional<Duration> timeout = std::chrono::seconds(30);
    auto resp = co_await client->request(http::verb::get, target, no_body, timeout);
    if (resp && resp->status == 200) {
      auto j = nlohmann::json::parse(resp->body, nullptr, false);
      if (j.is_array()) {
        images_ = map_images(j);
        const auto before = image_use_.all();
        image_use_.observe(images_, clock_->now().wall);
        if (image_use_.all() != before) image_use_dirty_ = true;
        spdlog::debug("Listed {} images for the emergency tier's last uses", images_.size());
        emergency_persist(false);
      }
    } else {
      spdlog::debug("Failed to list images for the emergency tier: {}",
                    resp ? "HTTP " + std::to_string(resp->status) : resp.error().message);
    }
  }
  images_listing_ = false;
}

void Manager::emergency_after_prune() {
  if (!config_.emergency.enabled || episode_running_ || stopping_) return;
  // The disk as the last step left it (step_job re-read it).
  const Snapshot snap = model_.snapshot();
  if (!snap.disk) return;
  auto s = emergency::start(*snap.disk, config_, config_.prune.dry_run);
  if (!s) return;
  reporter_->journal(s->record);
  episode_running_ = true;
  spawn("emergency", emergency_episode(s->episode));
}

awaitable<std::optional<std::string>> Manager::emergency_gates_closed() {
  if (!client_) co_return std::string("docker unreachable");
  auto api = prune_api_(*client_);
  auto lists = co_await api->confirm_lists();
  if (!lists) co_return "docker: " + lists.error().message;
  // The fresh lists are one observation of the services; the model's previous one is the
  // other of SPEC's two, as the timeline pairs them when it confirms a prune.
  Snapshot confirmed = snapshot_of(*lists);
  if (!confirmed.services_previous) confirmed.services_previous = model_.snapshot().services_previous;
  const GateReport r = evaluate_gates(confirmed, config_, clock_->now());
  // The disk gate is the episode's own (critical/target), the cooldown runs from the prune
  // just made: only the runs and converge gates are confirmed, as for a prune step.
  for (GateId id : {GateId::runs, GateId::converge})
    if (!r.gate(id).open) co_return std::string(gate_name(id)) + ": " + r.gate(id).reason;
  co_return std::nullopt;
}

awaitable<void> Manager::emergency_episode(emergency::Episode ep) {
  std::optional<DiskUsage> disk = model_.snapshot().disk;
  for (;;) {
    std::optional<std::string> closed = co_await emergency_gates_closed();
    std::vector<emergency::Verdict> verdicts;
    if (!closed && client_) {
      docker::Client client = *client_;
      auto inputs = co_await read_emergency_inputs(client);
      if (!inputs) {
        closed = "docker: " + inputs.error().message;  // unknown means closed
      } else {
        images_ = inputs->images;
        image_use_.observe(images_, clock_->now().wall);
        verdicts = emergency::classify(*inputs, image_use_, config_.emergency, clock_->now().wall);
      }
    }
    auto next = emergency::next(ep, disk, verdicts, config_.emergency, closed, stopping_);
    if (auto* done = std::get_if<emergency::Done>(&next)) {
      for (const auto& j : done->records) reporter_->journal(j);
      break;
    }
    const auto evict = std::get<emergency::Evict>(next);
    emergency::EvictOutcome outcome;
    if (!client_) {
      outcome.kind = emergency::EvictOutcome::Kind::failed;
      outcome.detail = "docker unreachable";
    } else {
      docker::Client client = *client_;
      const Config config = config_;  // a reload mid-way must not change this request
      auto op = evict_image(client, config, evict.candidate, evict.dry_run);
      outcome = co_await std::move(op);
    }
    read_disk();  // SPEC: the disk is re-read after each image
    const std::optional<DiskUsage> after = model_.snapshot().disk;
    reporter_->journal(emergency::record_eviction(ep, evict.candidate, outcome, disk, after));
    if (outcome.kind == emergency::EvictOutcome::Kind::removed) metrics_->emergency_eviction();
    disk = after;
  }
  image_use_dirty_ = true;
  emergency_persist(true);
  episode_running_ = false;
  changed();
}

}  // namespace cdp
