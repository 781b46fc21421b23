// Runs a blocking client (sd-bus, HTTP) against a server that lives on an io_context, in
// one test: the client on a thread of its own, the io_context on the test's thread.
// Shared by test_bus_object.cpp and test_metrics.cpp.
#pragma once
#include <catch2/catch.hpp>

#include <chrono>
#include <future>

#include "util/net.hpp"

namespace cdp::testfx {

// Runs `body` on a client thread while `io` runs; stops `io` when `body` returns, and
// returns what it returned. Fails the test if it takes over 40 s.
template <typename F>
auto run_client(boost::asio::io_context& io, F body) {
  auto fut = std::async(std::launch::async, [&io, body] {
    auto r = body();
    boost::asio::post(io, [&io] { io.stop(); });
    return r;
  });
  io.run_for(std::chrono::seconds(30));
  // The client posts stop just before returning: give it a moment to finish returning.
  REQUIRE(fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return fut.get();
}

}  // namespace cdp::testfx
