// The metrics HTTP listener (see the header). Each connection is one coroutine reading
// a request with a bounded header and no body, answering from the callback, keeping the
// connection alive as HTTP/1.1 asks (Prometheus reuses connections), under a deadline.
#include "report/metrics_listener.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

#include "docker/net.hpp"  // Beast: the listener speaks HTTP itself

namespace cdp {

namespace {
using tcp = asio::ip::tcp;
// A scrape request is a few hundred bytes; anything bigger is not Prometheus.
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
// Covers one whole request (the idle wait on a kept-alive connection included) and one
// whole response; Prometheus' default scrape timeout is 10 s.
constexpr auto kDeadline = std::chrono::seconds(10);
// Concurrent connections: a scraper or two plus a curl; more is a misbehaving client,
// and refusing it keeps file descriptors for Docker and the bus.
constexpr int kMaxConnections = 16;
constexpr int kMaxRequestsPerConnection = 1000;
}  // namespace

struct MetricsListener::Shared {
  explicit Shared(asio::any_io_executor ex) : tcp_acceptor(ex), unix_acceptor(ex) {}
  tcp::acceptor tcp_acceptor;
  local_stream::acceptor unix_acceptor;
  std::string unix_path;
  Body body;
  bool closed = false;
  int connections = 0;
  // Open connections, so close() can end them (their coroutines then finish).
  std::map<std::uint64_t, std::function<void()>> closers;
  std::uint64_t next_id = 0;
};

namespace {

http::response<http::string_body> answer(const http::request<http::empty_body>& req,
                                         const MetricsListener::Body& body) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "ci-docker-prune/" CDP_VERSION);
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (target != "/metrics") {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "Not found: only /metrics is served here.\n";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "Method not allowed: GET /metrics.\n";
  } else {
    res.result(http::status::ok);
    // The text exposition format, as Prometheus' own client libraries label it.
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = body();
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays the GET's
  return res;
}

template <class Protocol>
awaitable<void> serve(std::shared_ptr<MetricsListener::Shared> sh, typename Protocol::socket socket) {
  using Stream = beast::basic_stream<Protocol, asio::any_io_executor, beast::unlimited_rate_policy>;
  auto stream = std::make_shared<Stream>(std::move(socket));
  const std::uint64_t id = sh->next_id++;
  sh->closers[id] = [weak = std::weak_ptr<Stream>(stream)] {
    if (auto s = weak.lock()) s->cancel();
  };
  beast::flat_buffer buffer(kMaxHeaderBytes);
  boost::system::error_code ec;
  for (int n = 0; n < kMaxRequestsPerConnection && !sh->closed; ++n) {
    stream->expires_after(kDeadline);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    co_await http::async_read(*stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec || sh->closed) {
      // A malformed, oversized or bodied request gets one 400; EOF, a timeout or our
      // own close just end the connection.
      const bool protocol_error = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                                  ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (protocol_error && !sh->closed) {
        http::response<http::string_body> bad{http::status::bad_request, 11};
        bad.set(http::field::content_type, "text/plain; charset=utf-8");
        bad.body() = "Bad request.\n";
        bad.keep_alive(false);
        bad.prepare_payload();
        boost::system::error_code ignored;
        co_await http::async_write(*stream, bad, asio::redirect_error(use_awaitable, ignored));
      }
      break;
    }
    const http::request<http::empty_body> req = parser.release();
    http::response<http::string_body> res = answer(req, sh->body);
    const bool keep = res.keep_alive();
    co_await http::async_write(*stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec || !keep) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(Protocol::socket::shutdown_send, ignored);
  stream->socket().close(ignored);
  sh->closers.erase(id);
}

template <class Protocol, class Acceptor>
awaitable<void> accept_loop(std::shared_ptr<MetricsListener::Shared> sh, Acceptor& acceptor) {
  asio::steady_timer pause(acceptor.get_executor());
  while (!sh->closed) {
    boost::system::error_code ec;
    typename Protocol::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (sh->closed || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and the like: wait a little rather than spin on a full descriptor table.
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (sh->connections >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++sh->connections;
    auto session = serve<Protocol>(sh, std::move(socket));
    asio::co_spawn(acceptor.get_executor(), std::move(session), [sh](std::exception_ptr) { --sh->connections; });
  }
}

}  // namespace

std::expected<std::unique_ptr<MetricsListener>, std::string> MetricsListener::open(asio::any_io_executor ex,
                                                                                    const MetricsListen& where,
                                                                                    Body body) {
  auto sh = std::make_shared<Shared>(ex);
  sh->body = std::move(body);
  boost::system::error_code ec;
  const auto fail = [&](const std::string& why) {
    return std::unexpected("Failed to listen on " + where.text + ": " + why);
  };
  if (where.is_unix) {
    struct stat st {};
    if (::lstat(where.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return fail("the path exists and is not a socket");
      ::unlink(where.path.c_str());  // left by a crash: nobody can be listening on it
    }
    local_stream::endpoint ep(where.path);
    sh->unix_acceptor.open(ep.protocol(), ec);
    if (!ec) sh->unix_acceptor.bind(ep, ec);
    if (ec) return fail(ec.message());
    sh->unix_path = where.path;
    // The daemon runs with UMask=0077; a scraper runs as another user.
    if (::chmod(where.path.c_str(), 0666) != 0) return fail(std::string("chmod: ") + std::strerror(errno));
    sh->unix_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec.message());
    asio::co_spawn(ex, accept_loop<local_stream>(sh, sh->unix_acceptor), asio::detached);
  } else {
    const auto addr = asio::ip::make_address(where.host, ec);
    if (ec) return fail(ec.message());
    tcp::endpoint ep(addr, where.port);
    sh->tcp_acceptor.open(ep.protocol(), ec);
    if (!ec) sh->tcp_acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) sh->tcp_acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) sh->tcp_acceptor.bind(ep, ec);
    if (!ec) sh->tcp_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec.message());
    asio::co_spawn(ex, accept_loop<tcp>(sh, sh->tcp_acceptor), asio::detached);
  }
  return std::unique_ptr<MetricsListener>(new MetricsListener(std::move(sh)));
}

MetricsListener::~MetricsListener() { close(); }

void MetricsListener::close() {
  auto& sh = *shared_;
  if (sh.closed) return;
  sh.closed = true;
  boost::system::error_code ignored;
  sh.tcp_acceptor.close(ignored);
  sh.unix_acceptor.close(ignored);
  if (!sh.unix_path.empty()) ::unlink(sh.unix_path.c_str());
  // Cancel what the connections wait on; each coroutine then sees `closed` and ends.
  auto closers = std::move(sh.closers);
  for (const auto& [id, close_one] : closers) close_one();
}

}  // namespace cdp
