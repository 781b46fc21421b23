// The emergency tier in the daemon (SPEC "The emergency tier"): Manager members that keep
// each image's last use (events + image lists, persisted in the state file under
// "image_last_use"), and carry out the episode's requests the timeline makes (ReadCandidates,
// EvictImage, PersistEmergency: policy/timeline.cpp sequences the episode inside the prune
// run). Decides nothing: lib/policy/emergency.* does; lib/prune/evict.* is the only code
// that removes an image. Hooks: load_state (manager.cpp), the event loop and relist
// (docker_watch.cpp), the timeline's actions (scheduler.cpp), stop().
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 + Asio 1.74 false positive

#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/emergency.hpp"
#include "prune/emergency_inputs.hpp"
#include "prune/evict.hpp"
#include "state/last_emergency.hpp"

namespace cdp {

namespace {
// Persisting on every container start would write the state file thousands of times a
// day on a busy CI host; a minute of last-use history lost in a crash is harmless
// (the images then count as first seen at the restart, i.e. younger, never older).
constexpr auto kUsePersistEvery = std::chrono::seconds(60);
}  // namespace

void Manager::emergency_load_state() {
  const auto& doc = state_file_.document();
  if (auto last = doc.find(kLastEmergencyKey); last != doc.end())
    timeline_.last_emergency = last_emergency_from_json(*last);
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

// ReadCandidates: the candidate rule's inputs fresh from Docker, the last uses updated with
// the images listed, then the rule itself (emergency::classify, pure) at this instant.
awaitable<void> Manager::emergency_candidates_job() {
  timeline::CandidatesRead result;
  if (!client_) {
    result.error = "docker unreachable";
  } else {
    docker::Client client = *client_;
    auto inputs = co_await read_emergency_inputs(client);
    if (!inputs) {
      result.error = inputs.error().message;
    } else {
      images_ = inputs->images;
      const TimePoint now = clock_->now().wall;
      image_use_.observe(images_, now);
      result.verdicts = emergency::classify(*inputs, image_use_, config_.emergency, now);
    }
  }
  if (finished_) co_return;
  feed(result);
}

// EvictImage: the one DELETE path (lib/prune/evict), then the disk re-read (SPEC: after
// each image) before the timeline hears the outcome.
awaitable<void> Manager::emergency_evict_job(emergency::Verdict candidate, bool dry_run) {
  emergency::EvictOutcome outcome;
  if (!client_) {
    outcome.kind = emergency::EvictOutcome::Kind::failed;
    outcome.detail = "docker unreachable";
  } else {
    docker::Client client = *client_;
    const Config config = config_;  // a reload mid-way must not change this request
    auto op = evict_image(client, config, candidate, dry_run);
    outcome = co_await std::move(op);
  }
  read_disk();
  if (finished_) co_return;
  feed(timeline::EvictFinished{std::move(outcome)});
}

void Manager::emergency_persist_last(const timeline::LastEmergency& last) {
  auto saved = state_file_.save_value(kLastEmergencyKey, last_emergency_to_json(last));
  if (!saved) spdlog::warn("{}; the last emergency episode will not survive a restart", saved.error());
  // The last uses observed during the episode: kept now rather than within the minute.
  image_use_dirty_ = true;
  emergency_persist(true);
}

}  // namespace cdp
