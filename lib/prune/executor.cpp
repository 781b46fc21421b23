// The surgical prune: the ONLY code that sends a prune request (SPEC.md "The surgical
// prune"). Exactly three targets, exactly the filter {"until":[until]}, no other query
// parameter; no volume/network prune, no `dangling`, no `all`. Only this file knows dry-run.
#include "prune/executor.hpp"

#include <array>

#include <fmt/format.h>

#include "prune/candidates.hpp"
#include "util/format.hpp"

namespace cdp {

namespace {

// The one place prune paths exist. Nothing else in the project may build a prune target.
const char* prune_path(PruneStep s) {
  switch (s) {
    case PruneStep::containers: return "/containers/prune";
    case PruneStep::images: return "/images/prune";
    case PruneStep::build_cache: return "/build/prune";
  }
  return "/_ping";  // unreachable: every enumerator is handled above
}

// Docker's error bodies are {"message": "..."}; fall back to the raw body.
std::string engine_message(const docker::Response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string body = r.body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body;
}

// Reads a 200 prune answer. null lists are empty (FACTS). Image entries are
// {"Untagged": ref} or {"Deleted": id}; both are listed, in the engine's order.
bool parse_prune_answer(PruneStep step, const std::string& body, StepResult& out) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return false;
  const char* list_key = step == PruneStep::containers ? "ContainersDeleted"
                         : step == PruneStep::images   ? "ImagesDeleted"
                                                       : "CachesDeleted";
  if (auto it = j.find(list_key); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (e.is_string()) {
        out.deleted.push_back(e.get<std::string>());
      } else if (e.is_object()) {
        for (const char* k : {"Untagged", "Deleted"})
          if (e.contains(k) && e[k].is_string()) out.deleted.push_back(e[k].get<std::string>());
      }
    }
  }
  if (auto it = j.find("SpaceReclaimed"); it != j.end() && it->is_number()) {
    const double v = it->get<double>();
    out.reclaimed = v > 0 ? static_cast<std::uint64_t>(v) : 0;
  }
  return true;
}

const std::vector<Candidate>& candidates_of(const Candidates& c, PruneStep s) {
  switch (s) {
    case PruneStep::containers: return c.containers;
    case PruneStep::images: return c.images;
    case PruneStep::build_cache: return c.build_cache;
  }
  return c.containers;
}

awaitable<StepResult> send_step(docker::Client& client, PruneStep step, const std::string& until) {
  StepResult r;
  r.step = step;
  const std::string target =
      std::string(prune_path(step)) + "?filters=" + docker::encode_filters(nlohmann::json{{"until", nlohmann::json::array({until})}});
  // No timeout: a client disconnect cancels a prune partway (FACTS); once sent, we wait.
  // Arguments named, not temporaries: GCC 12 mishandles temporaries inside co_await.
  std::string no_body;
  const std::optional<Duration> no_timeout;
  auto resp = co_await client.request(http::verb::post, target, no_body, no_timeout);
  if (!resp) {
    r.outcome = StepResult::Outcome::failed;
    r.detail = resp.error().message;
  } else if (resp->status == 200) {
    if (parse_prune_answer(step, resp->body, r)) {
      r.outcome = StepResult::Outcome::done;
    } else {
      r.outcome = StepResult::Outcome::failed;
      r.detail = fmt::format("Failed to read the {} prune answer: not a JSON object", step_name(step));
    }
  } else if (resp->status == 409) {
    r.outcome = StepResult::Outcome::deferred;
    r.detail = engine_message(*resp);
  } else {
    r.outcome = StepResult::Outcome::failed;
    r.detail = fmt::format("HTTP {}: {}", resp->status, engine_message(*resp));
  }
  co_return r;
}

}  // namespace

awaitable<StepResult> run_step(docker::Client& client, const Config::Prune& prune, PruneStep step, TimePoint now) {
  if (!prune.dry_run) {
    auto sent = send_step(client, step, prune.until);
    StepResult r = co_await std::move(sent);
    co_return r;
  }
  StepResult r;
  r.step = step;
  auto listed = co_await list_candidates(client, prune, now);
  if (!listed) {
    r.outcome = StepResult::Outcome::failed;
    r.detail = listed.error().message;
    co_return r;
  }
  r.outcome = StepResult::Outcome::dry_run;
  for (const auto& c : candidates_of(*listed, step)) {
    r.deleted.push_back(c.id);
    r.reclaimed += c.size;
  }
  co_return r;
}

awaitable<PruneResult> run_prune(docker::Client& client, const Config::Prune& prune, TimePoint now,
                                 GateCheck check_before_step) {
  PruneResult res;
  std::optional<std::string> stopped;                 // the reason a gate closed
  std::optional<std::expected<Candidates, docker::Error>> listed;  // dry-run: listed once
  for (PruneStep step : {PruneStep::containers, PruneStep::images, PruneStep::build_cache}) {
    StepResult r;
    r.step = step;
    if (!step_enabled(prune, step)) {
      r.outcome = StepResult::Outcome::disabled;
      res.steps.push_back(std::move(r));
      continue;
    }
    if (!stopped && check_before_step) stopped = co_await check_before_step();
    if (stopped) {
      r.outcome = StepResult::Outcome::gate_closed;
      r.detail = *stopped;
      res.stopped_by_gate = true;
      res.steps.push_back(std::move(r));
      continue;
    }
    if (prune.dry_run) {
      if (!listed) listed = co_await list_candidates(client, prune, now);
      if (!*listed) {
        r.outcome = StepResult::Outcome::failed;
        r.detail = (*listed).error().message;
      } else {
        r.outcome = StepResult::Outcome::dry_run;
        for (const auto& c : candidates_of(**listed, step)) {
          r.deleted.push_back(c.id);
          r.reclaimed += c.size;
        }
      }
    } else {
      r = co_await send_step(client, step, prune.until);
    }
    if (r.outcome == StepResult::Outcome::deferred) res.any_deferred = true;
    res.reclaimed += r.reclaimed;
    res.steps.push_back(std::move(r));
  }
  res.summary = summarize_steps(res.steps);
  co_return res;
}

}  // namespace cdp
