// The confirming list's cost (issue 9): GET /containers/json (live states) plus one
// GET /services?status=true through the daemon's own docker::Client, parsed into model
// types, against whatever engine listens at SOCKET (bench/run.py's fake engine with 1 000
// services and 10 000 containers), then what the daemon's confirm does with them
// (Manager::snapshot_of: a LiveModel of their own, its snapshot, every gate). Prints one
// JSON line with each run's wall milliseconds and this thread's CPU milliseconds (the
// engine's own time to serve the bytes is in the wall time only).
//
//   bench-lists SOCKET [RUNS] [--dom]
// --dom: the path before issue 9's fix, for a side-by-side ratio on the same engine: the
// whole reply parsed into a DOM, then mapped; a model copying every container.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <time.h>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "docker/mapping.hpp"
#include "model/live_model.hpp"
#include "model/types.hpp"
#include "policy/gates.hpp"
#include "util/clock.hpp"

using namespace cdp;

namespace {
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench-lists SOCKET [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const bool dom = argc > 3 && std::string(argv[3]) == "--dom";
  asio::io_context ioc;
  docker::Client client(ioc.get_executor(), argv[1]);
  std::vector<double> ms, cpu_ms;
  const Config config;
  std::size_t open_runs = 0;
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
          const double c0 = thread_cpu_ms();
          const std::vector<std::string>& states = kLiveContainerStates;
          std::expected<std::vector<Container>, std::string> c;
          std::expected<std::vector<Service>, std::string> s;
          if (dom) {
            std::string target = "/containers/json?filters=" + docker::encode_filters(nlohmann::json{{"status", states}});
            auto rc_ = co_await client.request(http::verb::get, std::move(target));
            std::string starget = "/services?status=true";
            auto rs = co_await client.request(http::verb::get, std::move(starget));
            if (!rc_ || !rs) {
              rc = 1;
              co_return;
            }
            c = docker::parse_containers(nlohmann::json::parse(rc_->body));
            s = docker::parse_services(nlohmann::json::parse(rs->body));
          } else {
            auto cc = co_await client.containers(states);
            auto ss = co_await client.services();
            if (cc) c = std::move(*cc);
            if (ss) s = std::move(*ss);
            if (!cc || !ss) {
              std::fprintf(stderr, "bench-lists: %s\n", (!cc ? cc.error() : ss.error()).message.c_str());
              c = std::unexpected(std::string("list failed"));
            }
          }
          if (!c || !s) {
            rc = 1;
            co_return;
          }
          LiveModel fresh;
          if (!dom) fresh.set_stack_labels(config.gates.stack_labels);
          fresh.set_connected(true);
          // (Not set_services: its time argument is being changed on another branch; one
          // pass over 1 000 services is not what this measures.)
          fresh.set_containers(*c);
          fresh.mark_synced();
          open_runs += evaluate_gates(fresh.snapshot(), config, SystemTime{}.now()).gate(GateId::runs).open;
          const double c1 = thread_cpu_ms();
          const auto t1 = std::chrono::steady_clock::now();
          containers = c->size();
          services = s->size();
          ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          cpu_ms.push_back(c1 - c0);
        }
      },
      asio::detached);
  ioc.run();
  auto join = [](const std::vector<double>& xs) {
    std::string list;
    for (double x : xs) list += (list.empty() ? "" : ", ") + std::to_string(x);
    return list;
  };
  std::printf("{\"containers\": %zu, \"services\": %zu, \"ms\": [%s], \"cpu_ms\": [%s], \"runs_open\": %zu}\n",
              containers, services, join(ms).c_str(), join(cpu_ms).c_str(), open_runs);
  return rc;
}
