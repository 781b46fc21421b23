// A fake Docker socket for unit tests: a blocking HTTP/1.1 server on a unix socket in its
// own thread, answering each request from a handler and recording the exact request
// line, so tests can assert what was (and was not) sent. One request per connection.
#pragma once
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "docker/net.hpp"

namespace cdp::testfx {

struct RecordedRequest {
  std::string method;
  std::string target;  // as sent, e.g. "/v1.41/images/prune?filters=%7B..."
  std::string body;
};

struct FakeReply {
  unsigned status = 200;
  std::string body = "{}";
};

class FakeDockerServer {
 public:
  using Handler = std::function<FakeReply(const RecordedRequest&)>;

  explicit FakeDockerServer(Handler handler) : handler_(std::move(handler)) {
    char tmpl[] = "/tmp/cdp-fake-docker-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/docker.sock";
    acceptor_.open(local_stream::endpoint(path_).protocol());
    acceptor_.bind(local_stream::endpoint(path_));
    acceptor_.listen();
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeDockerServer() {
    stop_ = true;
    // Wake the blocking accept with one throwaway connection.
    boost::system::error_code ec;
    asio::io_context ioc;
    local_stream::socket s(ioc);
    s.connect(local_stream::endpoint(path_), ec);
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  const std::string& path() const { return path_; }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<RecordedRequest> requests_with_method(const std::string& method) const {
    std::vector<RecordedRequest> out;
    for (auto& r : requests())
      if (r.method == method) out.push_back(r);
    return out;
  }

 private:
  void serve() {
    while (!stop_) {
      local_stream::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) continue;
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      RecordedRequest rec{std::string(req.method_string()), std::string(req.target()), req.body()};
      {
        std::lock_guard lock(mu_);
        requests_.push_back(rec);
      }
      FakeReply reply = handler_(rec);
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, "application/json");
      res.set("Api-Version", "1.41");
      res.keep_alive(false);
      res.body() = reply.body;
      res.prepare_payload();
      http::write(sock, res, ec);
      sock.shutdown(local_stream::socket::shutdown_both, ec);
    }
  }

  Handler handler_;
  std::string dir_, path_;
  asio::io_context ioc_;
  local_stream::acceptor acceptor_{ioc_};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

// Percent-decodes a query value (the inverse of docker::encode_filters).
inline std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Runs one coroutine to completion on a fresh io_context and returns its value.
template <typename T, typename F>
T run_coro(F make) {
  asio::io_context ioc;
  std::optional<T> out;
  asio::co_spawn(ioc, [&]() -> awaitable<void> { out = co_await make(ioc.get_executor()); },
                 [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  ioc.run();
  return std::move(*out);
}

}  // namespace cdp::testfx
