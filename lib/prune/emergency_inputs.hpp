// What the emergency tier's candidate rule reads, fresh from Docker, right before it is
// applied (`plan`, and before each eviction): every image, every container in any state
// (with ImageID), every service's Spec and PreviousSpec image. Read-only; the JSON mappers
// are pure and tested on answers captured from a real dockerd (test/fixtures/).
#pragma once
#include <expected>

#include <nlohmann/json.hpp>

#include "docker/client.hpp"
#include "policy/emergency.hpp"

namespace cdp {

// GET /images/json -> tagged and untagged images ("<none>:<none>" tags dropped).
std::vector<ImageRecord> map_images(const nlohmann::json& images);
// GET /containers/json?all=1 -> id, Image, ImageID of each.
std::vector<emergency::ContainerUse> map_container_uses(const nlohmann::json& containers);
// GET /services -> Spec and PreviousSpec TaskTemplate.ContainerSpec.Image of each (non-empty).
std::vector<std::string> map_service_images(const nlohmann::json& services);

// The three lists. /services answering 503 (not a manager, swarm inactive) means no
// services here; any other failure is an error (unknown means nothing is evicted).
awaitable<std::expected<emergency::Inputs, docker::Error>> read_emergency_inputs(docker::Client& client);

}  // namespace cdp
