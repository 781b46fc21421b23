// The one image-delete path (SPEC "The emergency tier"; see evict.hpp). Why no force:
// moby's ImageDelete (daemon/images/image_delete.go) refuses, with 409, to remove the last
// tag of an image a container (running or stopped) uses unless forced; that refusal is
// the safety net under our own candidate rule, so it is never overridden. Only the query
// Docker's defaults give (force false, prune of untagged parents true) is ever sent.
#include "prune/evict.hpp"

#include <cctype>

#include <fmt/format.h>

namespace cdp {

namespace {

using emergency::EvictOutcome;

// Reads a 200 DELETE /images answer: [{"Untagged": ref} | {"Deleted": id}, ...].
void read_answer(const std::string& body, EvictOutcome& out) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_array()) return;
  for (const auto& e : j) {
    if (!e.is_object()) continue;
    if (auto it = e.find("Untagged"); it != e.end() && it->is_string()) out.untagged.push_back(it->get<std::string>());
    if (auto it = e.find("Deleted"); it != e.end() && it->is_string()) out.deleted.push_back(it->get<std::string>());
  }
}

}  // namespace

std::string image_delete_target(const std::string& tag) {
  std::string out = "/images/";
  for (unsigned char ch : tag) {
    const bool plain = std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-' || ch == '/' || ch == ':' || ch == '@';
    if (plain) out += static_cast<char>(ch);
    else out += fmt::format("%{:02X}", ch);
  }
  return out;
}

awaitable<EvictOutcome> evict_image(docker::Client& client, const Config& config, const emergency::Verdict& candidate,
                                    bool dry_run) {
  EvictOutcome out;
  if (!config.emergency.enabled) {
    out.kind = EvictOutcome::Kind::refused;
    out.detail = "emergency.enabled is false";
    co_return out;
  }
  if (dry_run) {
    out.kind = EvictOutcome::Kind::dry_run;
    co_return out;
  }
  std::vector<std::string> gone;  // tags that were already gone (404)
  for (const auto& tag : candidate.tags) {
    // Named values, not temporaries, across co_await (GCC 12 coroutine bug).
    const std::string target = image_delete_target(tag);
    const std::string no_body;
    const std::optional<Duration> no_timeout;
    auto resp = co_await client.request(http::verb::delete_, target, no_body, no_timeout);
    if (!resp) {
      out.kind = EvictOutcome::Kind::failed;
      out.detail = fmt::format("Failed to remove {}: {}", tag, resp.error().message);
      co_return out;
    }
    if (resp->status == 200) {
      read_answer(resp->body, out);
      continue;
    }
    if (resp->status == 404) {  // removed meanwhile by someone else: nothing to do for it
      gone.push_back(tag);
      continue;
    }
    out.kind = resp->status == 409 ? EvictOutcome::Kind::conflict : EvictOutcome::Kind::failed;
    out.detail = fmt::format("{}: HTTP {}: {}", tag, resp->status, docker::engine_message(resp->body));
    co_return out;
  }
  out.kind = EvictOutcome::Kind::removed;
  for (const auto& tag : gone) out.detail += (out.detail.empty() ? "already gone: " : ", ") + tag;
  co_return out;
}

}  // namespace cdp
