// lib/docker/{client,events}.cpp against a FAKE socket, only for what a real dockerd
// cannot be made to do on demand: a chunked stream split mid-line then truncated, garbage
// bytes, a peer that accepts and never answers, no socket at all, a scripted 500.
// The fake is a raw blocking unix-socket server in a thread, scripted per connection.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "docker/client.hpp"
#include "docker/events.hpp"

using namespace cdp;
using namespace cdp::docker;
using namespace std::chrono_literals;

namespace {

// Accepts connections one after another; each is handed to `script` with its fd, then closed.
class RawServer {
 public:
  using Script = std::function<void(int fd, int index)>;
  explicit RawServer(Script script) : script_(std::move(script)) {
    char tmpl[] = "/tmp/cdp-fault-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/docker.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] {
      for (int i = 0;; ++i) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // shutdown() of the listener wakes accept with EINVAL
        script_(c, i);
        ::close(c);
      }
    });
  }
  ~RawServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }

 private:
  Script script_;
  std::string dir_, path_;
  int fd_ = -1;
  std::thread thread_;
};

// Reads up to the end of the request header; returns it ("" if the peer went away).
std::string read_request(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    req.append(buf, static_cast<std::size_t>(n));
  }
  return req;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

// Blocks until the client closes its end (a hung engine that never answers).
void wait_for_client_close(int fd) {
  char buf[256];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
}

std::string http_reply(unsigned status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("events: lines split across chunks come out whole; garbage is surfaced; truncation is closed") {
  std::atomic<bool> saw_events_request{false};
  RawServer server([&](int fd, int) {
    const std::string req = read_request(fd);
    saw_events_request = req.starts_with("GET /v1.41/events?filters=%7B%22type%22");
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    send_all(fd, chunk(R"({"Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"name":"x"}},"timeNano":1}
{"Type":"serv)"));
    send_all(fd, chunk(R"(ice","Action":"update","Actor":{"ID":"s1","Attributes":{"updatestate.new":"updating"}},"timeNano":2})"));
    send_all(fd, chunk("\ngarbage line\n{\"Type\":\"container\",\"Act"));
    // No final chunk: the connection just ends, as dockerd's shutdown does (FACTS).
  });
  std::vector<std::string> lines;
  std::optional<Error> end;
  asio::io_context io;
  EventStream es(io.get_executor(), server.path(), "1.41");
  // Built outside the coroutine: GCC 12 rejects string literals in a braced list inside
  // one ("array used as initializer").
  const nlohmann::json filters{{"type", {"container", "service"}}};
  asio::co_spawn(io, [&]() -> awaitable<void> {
    auto opened = co_await es.open(filters, 2s);
    if (!opened) { end = opened.error(); co_return; }
    for (;;) {
      auto line = co_await es.next_line();
      if (!line) { end = line.error(); co_return; }
      lines.push_back(*line);
    }
  }, asio::detached);
  io.run();

  CHECK(bool(saw_events_request));
  REQUIRE(lines.size() == 3);
  auto e1 = parse_event(lines[0]);
  REQUIRE(e1);
  CHECK((e1->type == "container" && e1->action == "start" && e1->actor_id == "c1"));
  auto e2 = parse_event(lines[1]);
  REQUIRE(e2);
  CHECK((e2->type == "service" && e2->action == "update" && e2->time_nano == 2));
  CHECK(e2->attributes.at("updatestate.new") == "updating");
  CHECK(lines[2] == "garbage line");
  CHECK_FALSE(parse_event(lines[2]));  // the caller logs and skips it
  REQUIRE(bool(end));
  CHECK(end->kind == Error::Kind::closed);
}

TEST_CASE("events: a clean end of the body is closed too; close() ends a pending read") {
  SECTION("final chunk") {
    RawServer server([](int fd, int) {
      read_request(fd);
      send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      send_all(fd, chunk("{\"Type\":\"node\",\"Action\":\"update\",\"Actor\":{\"ID\":\"n\"}}\n") + "0\r\n\r\n");
    });
    asio::io_context io;
    EventStream es(io.get_executor(), server.path(), "1.41");
    std::vector<std::expected<std::string, Error>> got;
    asio::co_spawn(io, [&]() -> awaitable<void> {
      if (!co_await es.open(nullptr, 2s)) co_return;  // the checks below then fail
      got.push_back(co_await es.next_line());
      got.push_back(co_await es.next_line());
    }, asio::detached);
    io.run();
    REQUIRE(got.size() == 2);
    CHECK(bool(got[0]));
    REQUIRE_FALSE(bool(got[1]));
    CHECK(got[1].error().kind == Error::Kind::closed);
  }
  SECTION("close while waiting") {
    RawServer server([](int fd, int) {
      read_request(fd);
      send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      wait_for_client_close(fd);  // a quiet stream: no keepalive (FACTS)
    });
    asio::io_context io;
    EventStream es(io.get_executor(), server.path(), "1.41");
    std::optional<std::expected<std::string, Error>> got;
    asio::steady_timer timer(io);
    asio::co_spawn(io, [&]() -> awaitable<void> {
      if (!co_await es.open(nullptr, 2s)) co_return;  // the checks below then fail
      timer.expires_after(50ms);
      timer.async_wait([&](auto) { es.close(); });
      got = co_await es.next_line();
    }, asio::detached);
    io.run();
    REQUIRE(bool(got));
    REQUIRE_FALSE(bool(*got));
    CHECK(got->error().kind == Error::Kind::closed);
  }
}

TEST_CASE("events: a non-200 answer to /events is an http error with the engine's message") {
  RawServer server([](int fd, int) {
    read_request(fd);
    send_all(fd, http_reply(400, "Bad Request", R"({"message":"client version 1.99 is too new"})"));
  });
  asio::io_context io;
  EventStream es(io.get_executor(), server.path(), "1.99");
  std::optional<std::expected<void, Error>> got;
  asio::co_spawn(io, [&]() -> awaitable<void> { got = co_await es.open(nullptr, 2s); }, asio::detached);
  io.run();
  REQUIRE(bool(got));
  REQUIRE_FALSE(bool(*got));
  INFO(got->error().message);
  CHECK(got->error().kind == Error::Kind::http);
  CHECK(got->error().status == 400);
  CHECK(got->error().message.find("client version 1.99 is too new") != std::string::npos);
}

TEST_CASE("request: a peer that accepts and never answers times out within the deadline") {
  RawServer server([](int fd, int) {
    read_request(fd);
    wait_for_client_close(fd);
  });
  asio::io_context io;
  Client client(io.get_executor(), server.path());
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<std::expected<Response, Error>> got;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    got = co_await client.request(http::verb::get, "/info", {}, 200ms);
  }, asio::detached);
  io.run();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  REQUIRE(bool(got));
  REQUIRE_FALSE(bool(*got));
  CHECK(got->error().kind == Error::Kind::timeout);
  CHECK(got->error().message.starts_with("Failed to "));
  CHECK(elapsed >= 200ms);
  CHECK(elapsed < 10s);  // generous: only "it did not hang"
}

TEST_CASE("request: no socket file is unreachable") {
  asio::io_context io;
  Client client(io.get_executor(), "/nonexistent/cdp-test/docker.sock");
  std::optional<std::expected<std::string, Error>> got;
  asio::co_spawn(io, [&]() -> awaitable<void> { got = co_await client.negotiate(500ms); }, asio::detached);
  io.run();
  REQUIRE(bool(got));
  REQUIRE_FALSE(bool(*got));
  CHECK(got->error().kind == Error::Kind::unreachable);
  CHECK(got->error().message.find("/nonexistent/cdp-test/docker.sock") != std::string::npos);

  EventStream es(io.get_executor(), "/nonexistent/cdp-test/docker.sock", "1.41");
  std::optional<std::expected<void, Error>> opened;
  asio::co_spawn(io, [&]() -> awaitable<void> { opened = co_await es.open(nullptr, 500ms); }, asio::detached);
  io.restart();
  io.run();
  REQUIRE(bool(opened));
  REQUIRE_FALSE(bool(*opened));
  CHECK(opened->error().kind == Error::Kind::unreachable);
}

TEST_CASE("request: a socket path too long for sun_path is unreachable, not a crash") {
  asio::io_context io;
  const std::string path = "/tmp/" + std::string(200, 'x') + "/docker.sock";
  Client client(io.get_executor(), path);
  std::optional<std::expected<std::string, Error>> got;
  asio::co_spawn(io, [&]() -> awaitable<void> { got = co_await client.negotiate(500ms); }, asio::detached);
  io.run();
  REQUIRE(bool(got));
  REQUIRE_FALSE(bool(*got));
  CHECK(got->error().kind == Error::Kind::unreachable);

  EventStream es(io.get_executor(), path, "1.41");
  std::optional<std::expected<void, Error>> opened;
  asio::co_spawn(io, [&]() -> awaitable<void> { opened = co_await es.open(nullptr, 500ms); }, asio::detached);
  io.restart();
  io.run();
  REQUIRE(bool(opened));
  REQUIRE_FALSE(bool(*opened));
  CHECK(opened->error().kind == Error::Kind::unreachable);
}

TEST_CASE("request: HTTP 500 comes back as a Response; info() turns it into an http Error") {
  RawServer server([](int fd, int) {
    read_request(fd);
    send_all(fd, http_reply(500, "Internal Server Error", R"({"message":"something broke"})"));
  });
  asio::io_context io;
  Client client(io.get_executor(), server.path());
  std::optional<std::expected<Response, Error>> raw;
  std::optional<std::expected<EngineInfo, Error>> info;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    raw = co_await client.request(http::verb::post, "/containers/prune", {}, std::nullopt);
    info = co_await client.info();
  }, asio::detached);
  io.run();
  REQUIRE(bool(raw));
  REQUIRE(bool(*raw));
  CHECK((*raw)->status == 500);
  CHECK(engine_message((*raw)->body) == "something broke");
  REQUIRE(bool(info));
  REQUIRE_FALSE(bool(*info));
  CHECK(info->error().kind == Error::Kind::http);
  CHECK(info->error().status == 500);
  CHECK(info->error().message == "Failed to get the engine info: HTTP 500: something broke");
}

TEST_CASE("negotiate: a Docker 29 engine gets its minimum version, and requests use it") {
  std::vector<std::string> targets;
  RawServer server([&](int fd, int index) {
    const std::string req = read_request(fd);
    targets.push_back(req.substr(0, req.find("\r\n")));
    if (index == 0)
      send_all(fd, http_reply(200, "OK", R"({"ApiVersion":"1.52","MinAPIVersion":"1.44","Version":"29.0.0"})"));
    else
      send_all(fd, http_reply(503, "Service Unavailable", R"({"message":"This node is not a swarm manager."})"));
  });
  asio::io_context io;
  Client client(io.get_executor(), server.path());
  std::optional<std::expected<std::string, Error>> version;
  std::optional<std::expected<std::vector<Service>, Error>> services;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    version = co_await client.negotiate(2s);
    services = co_await client.services();
  }, asio::detached);
  io.run();
  REQUIRE(bool(version));
  REQUIRE(bool(*version));
  CHECK(**version == "1.44");
  CHECK(client.api_version() == "1.44");
  REQUIRE(targets.size() == 2);
  CHECK(targets[0] == "GET /version HTTP/1.1");
  CHECK(targets[1] == "GET /v1.44/services?status=true HTTP/1.1");
  REQUIRE(bool(services));
  // A 503 is an error, never "no services": a locked or quorum-less manager answers it
  // too, and only /info tells a worker from those (FACTS).
  REQUIRE_FALSE(bool(*services));
  CHECK(services->error().kind == Error::Kind::http);
  CHECK(services->error().status == 503);
}

TEST_CASE("events: a line over 1 MiB is dropped as bad_input and the stream goes on") {
  RawServer server([](int fd, int) {
    read_request(fd);
    send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    // 1 MiB + 1 of one "event" in 64 KiB chunks, then a normal line.
    const std::string big(64 * 1024, 'x');
    for (int i = 0; i < 16; ++i) send_all(fd, chunk(big));
    send_all(fd, chunk("y\n"));
    send_all(fd, chunk("{\"Type\":\"node\",\"Action\":\"update\",\"Actor\":{\"ID\":\"n\"}}\n") + "0\r\n\r\n");
  });
  asio::io_context io;
  EventStream es(io.get_executor(), server.path(), "1.41");
  std::vector<std::expected<std::string, Error>> got;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    if (!co_await es.open(nullptr, 2s)) co_return;  // the checks below then fail
    for (int i = 0; i < 3; ++i) got.push_back(co_await es.next_line());
  }, asio::detached);
  io.run();
  REQUIRE(got.size() == 3);
  REQUIRE_FALSE(bool(got[0]));
  CHECK(got[0].error().kind == Error::Kind::bad_input);
  CHECK(got[0].error().message == "Dropped a Docker event line over 1048576 bytes");
  REQUIRE(bool(got[1]));
  CHECK(parse_event(*got[1])->type == "node");
  REQUIRE_FALSE(bool(got[2]));
  CHECK(got[2].error().kind == Error::Kind::closed);
}

TEST_CASE("request: a reply over the cap is refused, not buffered") {
  RawServer server([](int fd, int) {
    read_request(fd);
    const std::string body(kMaxReplyBytes + 1, ' ');
    send_all(fd, http_reply(200, "OK", body));
  });
  asio::io_context io;
  Client client(io.get_executor(), server.path());
  std::optional<std::expected<std::vector<Container>, Error>> got;
  const std::vector<std::string> states{"running"};
  asio::co_spawn(io, [&]() -> awaitable<void> { got = co_await client.containers(states); }, asio::detached);
  io.run();
  REQUIRE(bool(got));
  REQUIRE_FALSE(bool(*got));
  CHECK(got->error().kind == Error::Kind::protocol);
  INFO(got->error().message);
  CHECK(got->error().message.ends_with(": over the 8 MiB reply limit"));
  CHECK(kMaxReplyBytes == 8u * 1024 * 1024);
}

TEST_CASE("inspect: restarting, exited and 404") {
  RawServer server([](int fd, int index) {
    read_request(fd);
    if (index == 0)
      send_all(fd, http_reply(200, "OK", R"({"Id":"c1","State":{"Status":"restarting","Restarting":true}})"));
    else
      send_all(fd, http_reply(404, "Not Found", R"({"message":"No such container: c2"})"));
  });
  asio::io_context io;
  Client client(io.get_executor(), server.path());
  std::optional<std::expected<std::optional<Container>, Error>> a, b;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    a = co_await client.inspect_container("c1");
    b = co_await client.inspect_container("c2");
  }, asio::detached);
  io.run();
  REQUIRE((a && *a && a->value()));
  CHECK(a->value()->state == "restarting");
  REQUIRE((b && *b));
  CHECK_FALSE(b->value().has_value());
}
