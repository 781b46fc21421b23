// Fresh lists for the emergency tier's candidate rule (see emergency_inputs.hpp).
// Read-only: it lists, never deletes.
#include "prune/emergency_inputs.hpp"

#include "docker/mapping.hpp"

namespace cdp {

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;  // null: none
  for (const auto& s : *it)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// Spec.TaskTemplate.ContainerSpec.Image, "" when any level is missing.
std::string spec_image(const nlohmann::json& svc, const char* spec_key) {
  auto spec = svc.find(spec_key);
  if (spec == svc.end() || !spec->is_object()) return {};
  auto tt = spec->find("TaskTemplate");
  if (tt == spec->end() || !tt->is_object()) return {};
  auto cs = tt->find("ContainerSpec");
  if (cs == tt->end() || !cs->is_object()) return {};
  return str(*cs, "Image");
}

awaitable<std::expected<nlohmann::json, docker::Error>> get_json(docker::Client& client, std::string target,
                                                                 bool absent_on_503) {
  // Named values only across co_await (GCC 12 mishandles temporaries there).
  const std::string no_body;
  const std::optional<Duration> timeout = std::chrono::seconds(10);
  auto resp = co_await client.request(http::verb::get, target, no_body, timeout);
  if (!resp) co_return std::unexpected(resp.error());
  if (absent_on_503 && resp->status == 503) co_return nlohmann::json::array();
  if (resp->status != 200) {
    docker::Error e;
    e.kind = docker::Error::Kind::http;
    e.status = resp->status;
    e.message = "Failed to get " + target + ": HTTP " + std::to_string(resp->status) + ": " +
                docker::engine_message(resp->body);
    co_return std::unexpected(e);
  }
  auto j = nlohmann::json::parse(resp->body, nullptr, false);
  if (!j.is_array()) {
    docker::Error e;
    e.kind = docker::Error::Kind::protocol;
    e.message = "Failed to read " + target + ": not a JSON array";
    co_return std::unexpected(e);
  }
  co_return j;
}

}  // namespace

std::vector<ImageRecord> map_images(const nlohmann::json& images) {
  std::vector<ImageRecord> out;
  if (!images.is_array()) return out;
  for (const auto& img : images) {
    if (!img.is_object()) continue;
    ImageRecord r;
    r.id = str(img, "Id");
    if (r.id.empty()) continue;
    for (auto& t : strings(img, "RepoTags"))
      if (t != "<none>:<none>") r.tags.push_back(std::move(t));
    for (auto& d : strings(img, "RepoDigests"))
      if (d != "<none>@<none>") r.digests.push_back(std::move(d));
    if (auto it = img.find("Size"); it != img.end() && it->is_number() && it->get<double>() > 0)
      r.size = static_cast<std::uint64_t>(it->get<double>());
    if (auto it = img.find("Created"); it != img.end() && it->is_number_integer())
      r.created = TimePoint{} + std::chrono::seconds(it->get<std::int64_t>());
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<emergency::ContainerUse> map_container_uses(const nlohmann::json& containers) {
  std::vector<emergency::ContainerUse> out;
  if (!containers.is_array()) return out;
  for (const auto& c : containers)
    if (c.is_object()) out.push_back({str(c, "Id"), str(c, "Image"), str(c, "ImageID")});
  return out;
}

std::vector<std::string> map_service_images(const nlohmann::json& services) {
  std::vector<std::string> out;
  if (!services.is_array()) return out;
  for (const auto& s : services) {
    if (!s.is_object()) continue;
    for (const char* key : {"Spec", "PreviousSpec"})
      if (auto img = spec_image(s, key); !img.empty()) out.push_back(std::move(img));
  }
  return out;
}

awaitable<std::expected<emergency::Inputs, docker::Error>> read_emergency_inputs(docker::Client& client) {
  emergency::Inputs in;
  const std::string images_target = "/images/json", containers_target = "/containers/json?all=1",
                    services_target = "/services";
  const bool strict = false, absent_on_503 = true;
  auto images = co_await get_json(client, images_target, strict);
  if (!images) co_return std::unexpected(images.error());
  in.images = map_images(*images);
  // all=1: a stopped or created container keeps its image (Docker's own 409 agrees).
  auto containers = co_await get_json(client, containers_target, strict);
  if (!containers) co_return std::unexpected(containers.error());
  in.containers = map_container_uses(*containers);
  auto services = co_await get_json(client, services_target, absent_on_503);
  if (!services) co_return std::unexpected(services.error());
  in.service_images = map_service_images(*services);
  co_return in;
}

}  // namespace cdp
