// The Docker Engine API client: one HTTP/1.1 request per fresh unix-socket connection,
// in a straight-line coroutine (Beast's async-local + awaitable examples), a deadline on
// the whole exchange, API version negotiation. Must not send prunes of its own accord or
// log above debug; non-2xx answers go back to the caller as a Response.
#include "docker/client.hpp"

#include <charconv>
#include <limits>

#include <spdlog/spdlog.h>

#include "docker/mapping.hpp"
#include "docker/stream.hpp"

namespace cdp::docker {
namespace {

// The lists: 200 services answer in about 5 ms (FACTS); 10 s means a hung engine.
constexpr Duration kListTimeout = std::chrono::seconds(10);

// "1.41" -> {1, 41}; nullopt for anything else.
std::optional<std::pair<int, int>> parse_api_version(std::string_view v) {
  const auto dot = v.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int major = 0, minor = 0;
  auto [p1, e1] = std::from_chars(v.data(), v.data() + dot, major);
  auto [p2, e2] = std::from_chars(v.data() + dot + 1, v.data() + v.size(), minor);
  if (e1 != std::errc{} || e2 != std::errc{} || p1 != v.data() + dot || p2 != v.data() + v.size())
    return std::nullopt;
  return std::pair{major, minor};
}

Error make_error(Error::Kind kind, std::string message, unsigned status = 0) {
  Error e;
  e.kind = kind;
  e.status = status;
  e.message = std::move(message);
  return e;
}

// A non-2xx answer as an Error ("Failed to get /info: HTTP 500: <engine message>").
Error http_error(std::string_view what, const Response& r) {
  return make_error(Error::Kind::http,
                    fmt::format("Failed to {}: HTTP {}: {}", what, r.status, engine_message(r.body)),
                    r.status);
}

template <typename T>
std::expected<T, Error> parse_reply(std::string_view what, const Response& r,
                                    std::expected<T, std::string> (*parse)(const nlohmann::json&)) {
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return std::unexpected(make_error(Error::Kind::protocol, fmt::format("Failed to {}: reply is not JSON", what)));
  auto parsed = parse(j);
  if (!parsed)
    return std::unexpected(make_error(Error::Kind::protocol, fmt::format("Failed to {}: {}", what, parsed.error())));
  return std::move(*parsed);
}

// The lists: parsed from the text as it streams, without a DOM (mapping.hpp, issue 9).
template <typename T>
std::expected<T, Error> parse_reply_text(std::string_view what, const Response& r,
                                         std::expected<T, std::string> (*parse)(std::string_view)) {
  auto parsed = parse(r.body);
  if (!parsed)
    return std::unexpected(make_error(Error::Kind::protocol, fmt::format("Failed to {}: {}", what, parsed.error())));
  return std::move(*parsed);
}

}  // namespace

std::string engine_message(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string text(body.substr(0, 200));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "(no message)" : text;
}

Client::Client(asio::any_io_executor ex, std::string socket_path)
    : ex_(std::move(ex)), socket_path_(std::move(socket_path)) {}

awaitable<std::expected<Response, Error>> Client::raw_request(http::verb verb, std::string target,
                                                              std::string body,
                                                              std::optional<Duration> timeout) {
  const std::string what = fmt::format("{} {}", http::to_string(verb), target);
  HttpStream stream(ex_);
  if (timeout)
    stream.expires_after(*timeout);
  else
    stream.expires_never();  // prunes: a disconnect would cancel them partway (FACTS)

  // Every co_await below takes named values only: GCC 12 mishandles temporaries in
  // co_await expressions (double destruction seen as "munmap_chunk(): invalid pointer").
  boost::system::error_code ec;
  auto endpoint = make_endpoint(socket_path_, "connect to " + socket_path_);
  if (!endpoint) co_return std::unexpected(endpoint.error());
  co_await stream.async_connect(*endpoint, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    Error e = transport_error(ec, "connect to " + socket_path_, true);
    co_return std::unexpected(std::move(e));
  }

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "ci-docker-prune/" CDP_VERSION);
  req.set(http::field::connection, "close");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    Error e = transport_error(ec, "send " + what, false);
    co_return std::unexpected(std::move(e));
  }

  beast::flat_buffer buffer;
  // Beast reads max(512, free capacity) bytes at a time: without room a 7 MB list took
  // ~15 000 recvmsg calls of 512 bytes (strace on bench-lists, issue 9).
  buffer.reserve(64 * 1024);
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  // A declared length over the cap is refused before any body byte is buffered (chunked
  // bodies meet the parser's body_limit instead).
  if (!ec && parser.content_length() && *parser.content_length() > kMaxReplyBytes) ec = http::error::body_limit;
  if (!ec) co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec == http::error::body_limit) {
    // SPEC "Never twice": reply sizes bounded within the unit's MemoryMax.
    Error e = make_error(Error::Kind::protocol, fmt::format("Failed to read the reply to {}: over the {} MiB reply limit",
                                                            what, kMaxReplyBytes / (1024 * 1024)));
    co_return std::unexpected(std::move(e));
  }
  if (ec) {
    Error e = transport_error(ec, "read the reply to " + what, false);
    co_return std::unexpected(std::move(e));
  }

  beast::error_code ignored;
  stream.socket().shutdown(local_stream::socket::shutdown_both, ignored);
  auto res = parser.release();
  spdlog::debug("docker: {} -> {}", what, res.result_int());
  co_return Response{res.result_int(), std::move(res.body())};
}

awaitable<std::expected<std::string, Error>> Client::negotiate(Duration timeout) {
  // /version is unversioned: it works whatever versions the engine accepts.
  std::string target = "/version", body;
  const std::optional<Duration> deadline = timeout;
  auto r = co_await raw_request(http::verb::get, std::move(target), std::move(body), deadline);
  if (!r) co_return std::unexpected(r.error());
  if (r->status != 200) co_return std::unexpected(http_error("get the engine version", *r));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("ApiVersion") || !j["ApiVersion"].is_string())
    co_return std::unexpected(make_error(Error::Kind::protocol, "Failed to get the engine version: no ApiVersion"));
  const std::string server = j["ApiVersion"].get<std::string>();
  const std::string server_min =
      j.contains("MinAPIVersion") && j["MinAPIVersion"].is_string() ? j["MinAPIVersion"].get<std::string>() : "";
  auto chosen = choose_api_version(server, server_min);
  if (!chosen)
    co_return std::unexpected(make_error(Error::Kind::protocol, "Failed to negotiate the API version: " + chosen.error()));
  api_version_ = *chosen;
  spdlog::debug("docker: engine API {} (min {}), using {}", server, server_min.empty() ? "?" : server_min, api_version_);
  co_return api_version_;
}

awaitable<std::expected<Response, Error>> Client::request(http::verb verb, std::string target, std::string body,
                                                          std::optional<Duration> timeout) {
  std::string full = "/v" + api_version_ + target;
  auto r = co_await raw_request(verb, std::move(full), std::move(body), timeout);
  co_return r;
}

awaitable<std::expected<Response, Error>> Client::get(std::string target) {
  std::string body;
  const std::optional<Duration> timeout = kListTimeout;
  auto r = co_await request(http::verb::get, std::move(target), std::move(body), timeout);
  co_return r;
}

awaitable<std::expected<EngineInfo, Error>> Client::info() {
  auto r = co_await get("/info");
  if (!r) co_return std::unexpected(r.error());
  if (r->status != 200) co_return std::unexpected(http_error("get the engine info", *r));
  co_return parse_reply<EngineInfo>("get the engine info", *r, &parse_info);
}

awaitable<std::expected<std::vector<Service>, Error>> Client::services() {
  auto r = co_await get("/services?status=true");
  if (!r) co_return std::unexpected(r.error());
  // 503 is not "no services": a locked or quorum-less manager answers it too (FACTS).
  if (r->status != 200) co_return std::unexpected(http_error("list services", *r));
  co_return parse_reply_text<std::vector<Service>>("list services", *r, &parse_services_text);
}

awaitable<std::expected<std::optional<Container>, Error>> Client::inspect_container(std::string id) {
  std::string target = "/containers/" + id + "/json";
  auto r = co_await get(std::move(target));
  if (!r) co_return std::unexpected(r.error());
  if (r->status == 404) co_return std::optional<Container>{};
  if (r->status != 200) co_return std::unexpected(http_error("inspect container " + id.substr(0, 12), *r));
  auto parsed = parse_reply<Container>("inspect container " + id.substr(0, 12), *r, &parse_container_inspect);
  if (!parsed) co_return std::unexpected(parsed.error());
  co_return std::optional<Container>{std::move(*parsed)};
}

awaitable<std::expected<std::vector<Container>, Error>> Client::containers(const std::vector<std::string>& states) {
  // A `status` filter lists non-running containers without all=1 (checked on 20.10:
  // test/integration/test_docker_engine.py::test_container_states). Empty = running only.
  std::string target = "/containers/json";
  if (!states.empty()) target += "?filters=" + encode_filters(nlohmann::json{{"status", states}});
  auto r = co_await get(std::move(target));
  if (!r) co_return std::unexpected(r.error());
  if (r->status != 200) co_return std::unexpected(http_error("list containers", *r));
  co_return parse_reply_text<std::vector<Container>>("list containers", *r, &parse_containers_text);
}

awaitable<std::expected<nlohmann::json, Error>> Client::images() {
  auto r = co_await get("/images/json");
  if (!r) co_return std::unexpected(r.error());
  if (r->status != 200) co_return std::unexpected(http_error("list images", *r));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_array())
    co_return std::unexpected(make_error(Error::Kind::protocol, "Failed to list images: reply is not a JSON array"));
  co_return j;
}

awaitable<std::expected<nlohmann::json, Error>> Client::system_df(Duration timeout) {
  auto r = co_await request(http::verb::get, "/system/df", {}, timeout);
  if (!r) co_return std::unexpected(r.error());
  if (r->status != 200) co_return std::unexpected(http_error("read Docker's disk usage", *r));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object())
    co_return std::unexpected(
        make_error(Error::Kind::protocol, "Failed to read Docker's disk usage: reply is not a JSON object"));
  co_return j;
}

std::expected<std::string, std::string> choose_api_version(const std::string& server, const std::string& server_min) {
  const auto s = parse_api_version(server);
  const auto newest = parse_api_version(kNewestTestedApi);
  if (!s) return std::unexpected("the engine reports ApiVersion \"" + server + "\"");
  std::string chosen = *s < *newest ? server : std::string(kNewestTestedApi);
  // An engine that no longer speaks our newest version (Docker 29 wants >= 1.44): use its
  // minimum. Untested ground, but refusing would leave the host unpruned forever.
  if (const auto m = parse_api_version(server_min); m && *parse_api_version(chosen) < *m) chosen = server_min;
  return chosen;
}

std::string encode_filters(const nlohmann::json& filters) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string text = filters.dump();
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace cdp::docker
