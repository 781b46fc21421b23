// The Docker Engine API client over a unix socket (Boost.Beast, HTTP/1.1).
// Owns: one request/response per connection, API version negotiation, timeouts.
// Must not: send prunes on its own (only lib/prune/ builds prune targets), log above debug.
#pragma once
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "docker/error.hpp"
#include "util/net.hpp"
#include "model/types.hpp"
#include "util/time.hpp"

// Only the verb enum of Beast here: callers of request() need no more, and all of Beast
// (docker/net.hpp) costs each of their TUs ~0.7 s of parsing (issue 9, build time).
namespace cdp {
namespace http = boost::beast::http;
}  // namespace cdp

namespace cdp::docker {

// The newest API version this code was tested against. negotiate() picks
// min(server ApiVersion, this) and never below the server's MinAPIVersion (FACTS).
inline constexpr const char* kNewestTestedApi = "1.41";

struct Response {
  unsigned status = 0;
  std::string body;
};

class Client {
 public:
  Client(asio::any_io_executor ex, std::string socket_path);

  // GET /version (unversioned path); stores and returns the negotiated version.
  // Must be called after every (re)connect before versioned requests.
  awaitable<std::expected<std::string, Error>> negotiate(Duration timeout = std::chrono::seconds(5));
  const std::string& api_version() const { return api_version_; }

  // One request on a fresh connection, target relative to the version prefix
  // ("/info" -> "/v1.41/info"). `timeout` nullopt = no deadline (prune requests,
  // which must never be cancelled once sent). Non-2xx is returned as a Response,
  // not an Error: the caller decides (503, 409 have meaning).
  awaitable<std::expected<Response, Error>> request(http::verb verb, std::string target,
                                                     std::string body = {},
                                                     std::optional<Duration> timeout = std::chrono::seconds(10));

  // GET /info.
  awaitable<std::expected<EngineInfo, Error>> info();
  // GET /services?status=true. Any non-200 is an Error: a 503 comes from a worker, an
  // inactive swarm, a locked manager or one without quorum alike, and only /info tells
  // which (FACTS), so callers ask /services on a manager only and treat failure as unknown.
  awaitable<std::expected<std::vector<Service>, Error>> services();
  // GET /containers/{id}/json: the container with State.Status as its state ("restarting"
  // when State.Restarting). nullopt when the engine says 404 (it is gone).
  awaitable<std::expected<std::optional<Container>, Error>> inspect_container(std::string id);
  // GET /containers/json with a status filter (no `all`); `states` e.g. {"running","created"}.
  awaitable<std::expected<std::vector<Container>, Error>> containers(const std::vector<std::string>& states);
  // GET /images/json (every image; callers filter dangling ones client-side).
  awaitable<std::expected<nlohmann::json, Error>> images();
  // GET /system/df: what Docker's images, containers, volumes and build cache hold. It
  // walks every layer and volume (slow on a big host), so `timeout` is long. Dockerd
  // 20.10 runs one at a time and answers a concurrent call with 500 "a disk usage
  // operation is already running" (daemon/disk_usage.go): that is Error::Kind::http, 500.
  awaitable<std::expected<nlohmann::json, Error>> system_df(Duration timeout = std::chrono::seconds(120));

  const std::string& socket_path() const { return socket_path_; }
  asio::any_io_executor executor() const { return ex_; }

 private:
  // GET `target` (version-prefixed) with the list timeout.
  awaitable<std::expected<Response, Error>> get(std::string target);
  // One exchange on a fresh connection, `target` used as is (no version prefix).
  awaitable<std::expected<Response, Error>> raw_request(http::verb verb, std::string target, std::string body,
                                                         std::optional<Duration> timeout);

  asio::any_io_executor ex_;
  std::string socket_path_;
  std::string api_version_ = kNewestTestedApi;
};

// The largest reply body read into memory (lists, info, inspect, prune answers). Sized so
// that the body, its parsed JSON and the model built from it fit within the unit's
// MemoryMax=64M: measured 48 MB peak RSS for a 4 MiB /containers/json (3 350 labelled
// containers), 92 MB for 8 MiB (docs/design.md "Input limits"). A bigger reply is a
// protocol error (reconnect, gates closed), not an out-of-memory kill.
inline constexpr std::uint64_t kMaxReplyBytes = 8ull * 1024 * 1024;

// The version to use with an engine reporting ApiVersion `server` and MinAPIVersion
// `server_min` ("" when absent): min(server, kNewestTestedApi), raised to server_min when
// the engine no longer speaks ours. Error text when `server` is not "<major>.<minor>".
std::expected<std::string, std::string> choose_api_version(const std::string& server, const std::string& server_min);

// The engine's error text from a non-2xx body ({"message": "..."}), else the body's start.
std::string engine_message(std::string_view body);

// URL-encodes a JSON filters object for a query string: {"until":["24h"]} -> %7B%22until...
std::string encode_filters(const nlohmann::json& filters);

}  // namespace cdp::docker
