// The /events stream: one long-lived connection, chunked body read incrementally,
// split on '\n' (not on chunks), no body limit, no timeout (FACTS: no keepalive).
#pragma once
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "docker/error.hpp"
#include "util/net.hpp"
#include "model/event.hpp"
#include "model/types.hpp"

namespace cdp::docker {

// Event: model/event.hpp (cdp::docker::Event is an alias of cdp::Event).

// Parses one line of the stream. Returns an error message for a line that is not a
// valid event object (the caller logs it and goes on).
std::expected<Event, std::string> parse_event(std::string_view line);

class EventStream {
 public:
  EventStream(asio::any_io_executor ex, std::string socket_path, std::string api_version);
  ~EventStream();
  // Connects and sends GET /events?filters=... ; returns once the response header arrived.
  awaitable<std::expected<void, Error>> open(const nlohmann::json& filters,
                                              Duration connect_timeout = std::chrono::seconds(5));
  // The next complete line (without '\n'), or an Error (Kind::closed on EOF / truncated stream).
  awaitable<std::expected<std::string, Error>> next_line();
  // Closes the socket; a pending next_line() completes with an error.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cdp::docker
