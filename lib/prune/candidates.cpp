// What a prune would remove now, for `plan` and dry-run. Read-only: it lists, never deletes.
// It mirrors the engine's own selection (moby image_prune.go, BuildKit cache/manager.go
// prune) as closely as the list endpoints allow; approximations are noted where made.
#include "prune/candidates.hpp"

#include <set>

#include "docker/mapping.hpp"

namespace cdp {

std::uint64_t Candidates::total_bytes() const {
  std::uint64_t t = 0;
  for (const auto* v : {&containers, &images, &build_cache})
    for (const auto& c : *v) t += c.size;
  return t;
}

namespace {

std::uint64_t json_size(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  const double v = it->get<double>();
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

std::string json_str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// Dangling for the engine = no reference that is a name:tag. RepoTags null, [] or
// ["<none>:<none>"] (older engines), or digest-only (repo@sha256 only) all qualify (FACTS).
bool is_dangling(const nlohmann::json& img) {
  auto it = img.find("RepoTags");
  if (it == img.end() || it->is_null()) return true;
  if (!it->is_array()) return false;
  for (const auto& t : *it)
    if (t.is_string() && t.get<std::string>() != "<none>:<none>") return false;
  return true;
}

// Containers the container step removes: every stopped one (created, exited, dead) whose
// Created is before the cutoff (the engine's `until` compares Created for containers).
awaitable<std::expected<std::vector<Candidate>, docker::Error>> container_candidates(
    docker::Client& client, TimePoint cutoff, std::vector<Container>& all) {
  // Named first: GCC 12 rejects a braced list of literals inside a co_await expression.
  const std::vector<std::string> every_state{"created", "restarting", "running", "removing",
                                             "paused", "exited", "dead"};
  auto listed = co_await client.containers(every_state);
  if (!listed) co_return std::unexpected(listed.error());
  all = std::move(*listed);
  std::vector<Candidate> out;
  for (const auto& c : all) {
    if (c.state != "created" && c.state != "exited" && c.state != "dead") continue;
    if (!c.created || *c.created >= cutoff) continue;
    // Size: the list does not ask for SizeRw (costly on big hosts); shown as 0.
    out.push_back(Candidate{c.id, c.name, 0, c.created});
  }
  co_return out;
}

// Dangling images created before the cutoff that no surviving container uses (the engine
// deletes without force, so an image a container still uses stays). Size is the image's
// Size: an approximation of what is freed, since layers shared with kept images stay.
std::vector<Candidate> image_candidates(const nlohmann::json& images, TimePoint cutoff,
                                        const std::vector<Container>& containers,
                                        const std::vector<Candidate>& removed_containers) {
  std::set<std::string> removed;
  for (const auto& c : removed_containers) removed.insert(c.id);
  std::set<std::string> in_use;
  for (const auto& c : containers)
    if (!removed.count(c.id)) in_use.insert(c.image);
  std::vector<Candidate> out;
  if (!images.is_array()) return out;
  for (const auto& img : images) {
    if (!img.is_object() || !is_dangling(img)) continue;
    const std::string id = json_str(img, "Id");
    if (id.empty() || in_use.count(id)) continue;
    auto created_it = img.find("Created");
    if (created_it == img.end() || !created_it->is_number()) continue;  // unknown age: not listed
    const TimePoint created = TimePoint{} + std::chrono::seconds(created_it->get<std::int64_t>());
    if (created >= cutoff) continue;
    std::string desc = "<none>";
    if (auto d = img.find("RepoDigests"); d != img.end() && d->is_array() && !d->empty() && (*d)[0].is_string())
      desc = (*d)[0].get<std::string>();
    out.push_back(Candidate{id, desc, json_size(img, "Size"), created});
  }
  return out;
}

// Build cache a non-`all` prune removes (BuildKit cache/manager.go prune): not in use,
// not shared with images, not of type internal/frontend, and last used before the cutoff
// (a record never used is eligible: BuildKit keeps only records with LastUsedAt after it).
// Approximation: BuildKit loops, so parents freed by the first pass also go; not listed.
std::vector<Candidate> cache_candidates(const nlohmann::json& df, TimePoint cutoff) {
  std::vector<Candidate> out;
  auto it = df.find("BuildCache");
  if (it == df.end() || !it->is_array()) return out;
  for (const auto& rec : *it) {
    if (!rec.is_object()) continue;
    if (rec.value("InUse", false) || rec.value("Shared", false)) continue;
    const std::string type = json_str(rec, "Type");
    if (type == "internal" || type == "frontend") continue;
    std::optional<TimePoint> last = docker::parse_time(json_str(rec, "LastUsedAt"));
    if (last && *last >= cutoff) continue;
    std::string desc = json_str(rec, "Description");
    if (desc.empty()) desc = type;
    out.push_back(Candidate{json_str(rec, "ID"), desc, json_size(rec, "Size"),
                            last ? last : docker::parse_time(json_str(rec, "CreatedAt"))});
  }
  return out;
}

}  // namespace

awaitable<std::expected<Candidates, docker::Error>> list_candidates(docker::Client& client,
                                                                    const Config::Prune& prune,
                                                                    TimePoint now) {
  const TimePoint cutoff = now - prune.until_duration;
  // The engine turns `until` into whole seconds for containers and images (moby's
  // timetypes.GetTimestamp: reference.Add(-d).Unix()) and prunes what was Created at or
  // before it; mirror that, or plan lists a just-aged object the prune keeps (seen as a
  // flaky test). Build cache uses the duration as is (BuildKit's KeepDuration).
  const TimePoint created_cutoff =
      std::chrono::floor<std::chrono::seconds>(cutoff) + std::chrono::nanoseconds(1);
  Candidates out;
  std::vector<Container> all_containers;
  auto containers = co_await container_candidates(client, created_cutoff, all_containers);
  if (!containers) co_return std::unexpected(containers.error());
  // A disabled container step keeps every container, so their images stay in use.
  if (prune.containers) out.containers = std::move(*containers);

  if (prune.images) {
    auto images = co_await client.images();
    if (!images) co_return std::unexpected(images.error());
    out.images = image_candidates(*images, created_cutoff, all_containers, out.containers);
  }
  if (prune.build_cache) {
    // /system/df walks every layer and volume: slow on big hosts (FACTS), so a long deadline.
    // Arguments named, not temporaries: GCC 12 mishandles temporaries inside co_await.
    const std::string target = "/system/df", no_body;
    const std::optional<Duration> deadline = std::chrono::seconds(60);
    auto df = co_await client.request(http::verb::get, target, no_body, deadline);
    if (!df) co_return std::unexpected(df.error());
    if (df->status != 200) {
      docker::Error e;
      e.kind = docker::Error::Kind::http;
      e.status = df->status;
      e.message = "Failed to get /system/df: HTTP " + std::to_string(df->status);
      co_return std::unexpected(e);
    }
    auto j = nlohmann::json::parse(df->body, nullptr, false);
    if (!j.is_object()) {
      docker::Error e;
      e.kind = docker::Error::Kind::protocol;
      e.message = "Failed to read /system/df: not a JSON object";
      co_return std::unexpected(e);
    }
    out.build_cache = cache_candidates(j, cutoff);
  }
  co_return out;
}

}  // namespace cdp
