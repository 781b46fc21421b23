// The confirming list's cost (issue 9): GET /containers/json (live states) plus one
// GET /services?status=true through the daemon's own docker::Client, parsed into model
// types, against whatever engine listens at SOCKET (bench/run.py's fake engine with 1 000
// services and 10 000 containers). Prints one JSON line with each run's milliseconds.
//
//   bench-lists SOCKET [RUNS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "docker/client.hpp"
#include "model/types.hpp"

using namespace cdp;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench-lists SOCKET [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  asio::io_context ioc;
  docker::Client client(ioc.get_executor(), argv[1]);
  std::vector<double> ms;
  std::size_t containers = 0, services = 0;
  int rc = 0;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        auto v = co_await client.negotiate();
        if (!v) {
          std::fprintf(stderr, "bench-lists: %s\n", v.error().message.c_str());
          rc = 3;
          co_return;
        }
        for (int i = 0; i < runs; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          const std::vector<std::string>& states = kLiveContainerStates;
          auto c = co_await client.containers(states);
          auto s = co_await client.services();
          const auto t1 = std::chrono::steady_clock::now();
          if (!c || !s || !*s) {
            rc = 1;
            co_return;
          }
          containers = c->size();
          services = (*s)->size();
          ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
      },
      asio::detached);
  ioc.run();
  std::string list;
  for (double x : ms) list += (list.empty() ? "" : ", ") + std::to_string(x);
  std::printf("{\"containers\": %zu, \"services\": %zu, \"ms\": [%s]}\n", containers, services, list.c_str());
  return rc;
}
