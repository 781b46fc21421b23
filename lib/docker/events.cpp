// The /events stream: one long-lived connection, the chunked body read incrementally
// into a line buffer and split on '\n' (a JSON object may straddle chunks), no body limit,
// no deadline once the header arrived (FACTS: the stream has no keepalive). Must not
// interpret events (the model does) or log above debug.
#include "docker/events.hpp"

#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "docker/client.hpp"
#include "docker/lines.hpp"
#include "docker/stream.hpp"

namespace cdp::docker {

struct EventStream::Impl {
  explicit Impl(asio::any_io_executor ex) : stream(std::move(ex)) {}
  HttpStream stream;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  LineSplitter lines;    // bytes read but not yet returned as lines (capped, lines.hpp)
  std::string error_body;  // a non-200 answer's body, for its message
  bool to_error_body = false;
  bool ended = false;   // the body ended (final chunk or EOF): no more bytes will come
  std::string socket_path;
  std::string api_version;

  // Reads some body bytes into `lines`. Returns an error once nothing more can come.
  awaitable<std::expected<void, Error>> read_some(const std::string& what) {
    char chunk[16 * 1024];
    auto& body = parser.get().body();
    body.data = chunk;
    body.size = sizeof chunk;
    boost::system::error_code ec;
    co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    const std::string_view got(chunk, sizeof chunk - body.size);
    if (to_error_body)
      error_body.append(got);
    else
      lines.feed(got);
    if (ec == http::error::need_buffer) ec = {};  // our chunk buffer is full: fine
    if (ec) {
      ended = true;
      co_return std::unexpected(transport_error(ec, what, false));
    }
    if (parser.is_done()) ended = true;
    co_return std::expected<void, Error>{};
  }
};

EventStream::EventStream(asio::any_io_executor ex, std::string socket_path, std::string api_version)
    : impl_(std::make_unique<Impl>(std::move(ex))) {
  impl_->socket_path = std::move(socket_path);
  impl_->api_version = std::move(api_version);
  // Beast reads max(512, free capacity) bytes at a time: room for 16 KiB (our chunk size)
  // makes one read per burst instead of one per 512 bytes (bench/ingest.cpp, issue 9).
  impl_->buffer.reserve(16 * 1024);
  // The body is endless by design. Not boost::none: Beast 1.74 compares a Content-Length
  // against the optional (`len_ > body_limit_`, true when none) and fails every
  // non-chunked reply -- e.g. a 400 with its JSON message -- with "body limit exceeded".
  impl_->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

EventStream::~EventStream() { close(); }

awaitable<std::expected<void, Error>> EventStream::open(const nlohmann::json& filters, Duration connect_timeout) {
  Impl& s = *impl_;
  const std::string what = "open the Docker event stream at " + s.socket_path;
  s.stream.expires_after(connect_timeout);
  boost::system::error_code ec;
  // Named values only in co_await expressions (GCC 12 temporaries bug, see client.cpp).
  auto endpoint = make_endpoint(s.socket_path, what);
  if (!endpoint) co_return std::unexpected(endpoint.error());
  co_await s.stream.async_connect(*endpoint, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected(transport_error(ec, what, true));

  std::string target = "/v" + s.api_version + "/events";
  if (!filters.is_null() && !filters.empty()) target += "?filters=" + encode_filters(filters);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "ci-docker-prune/" CDP_VERSION);
  co_await http::async_write(s.stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected(transport_error(ec, what, false));
  co_await http::async_read_header(s.stream, s.buffer, s.parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected(transport_error(ec, what, false));

  const unsigned status = s.parser.get().result_int();
  if (status != 200) {
    // Read the (small) error body for its message, still under the connect deadline.
    s.to_error_body = true;
    while (!s.ended && s.error_body.size() < 64 * 1024) {
      auto more = co_await s.read_some(what);
      if (!more) break;
    }
    Error e;
    e.kind = Error::Kind::http;
    e.status = status;
    e.message = fmt::format("Failed to {}: HTTP {}: {}", what, status, engine_message(s.error_body));
    s.error_body.clear();
    close();
    co_return std::unexpected(std::move(e));
  }
  s.stream.expires_never();  // from here on the stream may be silent for hours
  if (s.parser.is_done()) s.ended = true;
  co_return std::expected<void, Error>{};
}

awaitable<std::expected<std::string, Error>> EventStream::next_line() {
  Impl& s = *impl_;
  for (;;) {
    if (auto item = s.lines.next()) {
      if (!item->oversized) co_return std::move(item->line);
      Error e;
      e.kind = Error::Kind::bad_input;
      e.message = fmt::format("Dropped a Docker event line over {} bytes", kMaxEventLineBytes);
      co_return std::unexpected(std::move(e));
    }
    if (s.ended) {
      // FACTS: on shutdown dockerd ends the stream without a final chunk; any bytes
      // left without '\n' are half an event. Either way the stream is over.
      Error e;
      e.kind = Error::Kind::closed;
      e.message = !s.lines.holds_partial() ? "Failed to read the Docker event stream: the engine closed it"
                                           : "Failed to read the Docker event stream: closed in the middle of an event";
      s.lines.clear();
      co_return std::unexpected(std::move(e));
    }
    const std::string what = "read the Docker event stream";
    auto r = co_await s.read_some(what);
    if (!r) {
      // Complete lines buffered before the error are handed out first (`ended` is set);
      // then the loop above reports the end. A deadline stays a timeout.
      if (r.error().kind == Error::Kind::timeout) {
        Error e = r.error();
        co_return std::unexpected(std::move(e));
      }
    }
  }
}

void EventStream::close() {
  if (!impl_) return;
  impl_->stream.close();  // noexcept; a pending read completes with operation_aborted
}

std::expected<Event, std::string> parse_event(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::unexpected(fmt::format("not a JSON object: {:.120}", line));
  try {
    Event e;
    auto str = [&](const nlohmann::json& obj, const char* key) -> std::string {
      auto it = obj.find(key);
      if (it == obj.end() || it->is_null()) return {};
      if (!it->is_string()) throw std::runtime_error(fmt::format("\"{}\" is not a string", key));
      return it->get<std::string>();
    };
    e.type = str(j, "Type");
    e.action = str(j, "Action");
    if (e.type.empty() || e.action.empty()) return std::unexpected(fmt::format("event without Type/Action: {:.120}", line));
    if (auto actor = j.find("Actor"); actor != j.end() && actor->is_object()) {
      e.actor_id = str(*actor, "ID");
      if (auto attrs = actor->find("Attributes"); attrs != actor->end() && attrs->is_object())
        for (const auto& [k, v] : attrs->items())
          if (v.is_string()) e.attributes.emplace(k, v.get<std::string>());
    }
    if (auto t = j.find("timeNano"); t != j.end() && t->is_number_integer()) e.time_nano = t->get<std::int64_t>();
    return e;
  } catch (const std::exception& ex) {
    return std::unexpected(fmt::format("bad event ({}): {:.120}", ex.what(), line));
  }
}

}  // namespace cdp::docker
