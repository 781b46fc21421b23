// JSON -> model types (pure). Tested on fixtures captured from a real dockerd
// (test/fixtures/). Unknown fields are ignored; a missing required field is an error.
#pragma once
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/types.hpp"

namespace cdp::docker {
std::expected<std::vector<Service>, std::string> parse_services(const nlohmann::json& j);
std::expected<std::vector<Container>, std::string> parse_containers(const nlohmann::json& j);
// The same from the reply's text, streaming: only the fields the model reads are kept,
// one element at a time (issue 9: no DOM of a 7 MB list). Same checks and error texts as
// above; text that is not JSON is "reply is not JSON".
std::expected<std::vector<Service>, std::string> parse_services_text(std::string_view text);
std::expected<std::vector<Container>, std::string> parse_containers_text(std::string_view text);
std::expected<EngineInfo, std::string> parse_info(const nlohmann::json& j);
// GET /containers/{id}/json -> Container; state is "restarting" when State.Restarting,
// else State.Status (moby sets Restarting before it emits `die`: daemon/monitor.go).
std::expected<Container, std::string> parse_container_inspect(const nlohmann::json& j);
// RFC 3339 with nanoseconds ("2026-11-26T10:00:00.123456789Z") -> TimePoint.
std::optional<TimePoint> parse_time(std::string_view text);
}  // namespace cdp::docker
