// Event-ingest benchmark (issue 9): replays a recorded /events stream through a unix
// socket, as a chunked HTTP body like dockerd's, into the daemon's own EventStream,
// parse_event and LiveModel::apply_event, with N live containers and N/10 services in the
// model. Prints one JSON line: events/s (wall and per CPU-second of the reading thread),
// and the process's peak RSS. Not a test: bench/run.py builds and runs it.
//
//   bench-ingest CONTAINERS EVENTS [--decide] [--copy] [--services S]
// --decide also builds a snapshot and evaluates every gate after each event that changed
// the model: the daemon's worst case, when events arrive one at a time. --copy: the model
// without stack counts (snapshots copy every container, as before issue 9). --services:
// S services instead of CONTAINERS/10, to vary the two sizes apart (a decision copies and
// walks the two service observations: O(services), once per burst in the daemon).
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "docker/events.hpp"
#include "model/live_model.hpp"
#include "policy/gates.hpp"

using namespace cdp;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string hex_id(std::size_t k) {
  std::string s = fmt::format("{:016x}", k * 2654435761u + 1);
  while (s.size() < 64) s += s;
  return s.substr(0, 64);
}

// The recorded stream's task-container start and die lines (test/fixtures/events.ndjson,
// captured from dockerd 20.10), with their container id as a placeholder.
struct Templates {
  std::string start, die, id;
};

Templates load_templates(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> seen;  // id -> (start, die)
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("Type", "") != "container") continue;
    const std::string action = j.value("Action", "");
    const std::string id = j["Actor"].value("ID", "");
    if (action != "start" && action != "die") continue;
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == id; });
    if (it == seen.end()) it = seen.insert(seen.end(), {id, {}});
    (action == "start" ? it->second.first : it->second.second) = line;
  }
  for (const auto& [id, pair] : seen)
    if (!pair.first.empty() && !pair.second.empty()) return Templates{pair.first, pair.second, id};
  std::fprintf(stderr, "bench-ingest: no start/die pair in %s\n", path.c_str());
  std::exit(2);
}

std::string with_id(const std::string& tmpl, const std::string& from, const std::string& to) {
  std::string out = tmpl;
  for (auto p = out.find(from); p != std::string::npos; p = out.find(from, p + to.size())) out.replace(p, from.size(), to);
  return out;
}

Labels template_labels(const Templates& t) {
  Labels l;
  auto j = nlohmann::json::parse(t.start);
  for (auto& [k, v] : j["Actor"]["Attributes"].items()) l[k] = v.get<std::string>();
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench-ingest CONTAINERS EVENTS [--decide]\n");
    return 2;
  }
  const std::size_t n = std::strtoull(argv[1], nullptr, 10);
  const std::size_t m = std::strtoull(argv[2], nullptr, 10);
  bool decide = false, copy = false;
  std::size_t service_count = std::max<std::size_t>(1, n / 10);
  for (int i = 3; i < argc; ++i) {
    decide |= std::string(argv[i]) == "--decide";
    copy |= std::string(argv[i]) == "--copy";
    if (std::string(argv[i]) == "--services" && i + 1 < argc) service_count = std::strtoull(argv[++i], nullptr, 10);
  }
  const Templates t = load_templates(std::string(CDP_FIXTURES_DIR) + "/events.ndjson");
  const Labels labels = template_labels(t);

  // The model as after a sync: n live task containers, n/10 services seen twice.
  Config config;
  LiveModel model;
  // As the daemon does (Manager's constructor): the model counts live containers per stack
  // and its snapshots carry those counts. --copy: the old way, every container copied.
  if (!copy) model.set_stack_labels(config.gates.stack_labels);
  model.set_connected(true);
  std::vector<Container> cs;
  for (std::size_t k = 0; k < n; ++k)
    cs.push_back(Container{hex_id(k), "c" + std::to_string(k), "local/busybox:1", "running", labels, std::nullopt});
  model.set_containers(cs);
  std::vector<Service> services;
  for (std::size_t k = 0; k < service_count; ++k) {
    Service s;
    s.id = fmt::format("svc{:021}", k);
    s.name = "s" + std::to_string(k);
    s.status = Service::Status{1, 1, 0};
    services.push_back(s);
  }
  const SteadyTime t0 = std::chrono::steady_clock::now();
  model.set_services(services, t0 - std::chrono::seconds(2), model.service_generation());
  model.set_services(services, t0 - std::chrono::seconds(1), model.service_generation());
  model.mark_synced();
  cs.clear();
  cs.shrink_to_fit();

  // The body, written by the fake engine as it goes (not held in memory: the RSS shown is
  // the reader's): die then start of container k, k cycling over the n live ones, in
  // ~16 KiB chunks.
  auto write_body = [&](int fd) {
    auto put = [&](const std::string& data) {
      for (std::size_t off = 0; off < data.size();) {
        const ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w <= 0) return false;
        off += static_cast<std::size_t>(w);
      }
      return true;
    };
    std::string chunk;
    auto flush = [&] {
      const bool ok = put(fmt::format("{:x}\r\n", chunk.size()) + chunk + "\r\n");
      chunk.clear();
      return ok;
    };
    for (std::size_t i = 0; i < m; ++i) {
      const std::string id = hex_id((i / 2) % std::max<std::size_t>(n, 1));
      chunk += with_id(i % 2 ? t.start : t.die, t.id, id) + "\n";
      if (chunk.size() >= 16 * 1024 && !flush()) return;
    }
    if (!chunk.empty() && !flush()) return;
    put("0\r\n\r\n");
  };

  char dir[] = "/tmp/cdp-bench-ingest-XXXXXX";
  if (!::mkdtemp(dir)) return 1;
  const std::string path = std::string(dir) + "/docker.sock";
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 1) != 0) return 1;
  std::thread engine([&] {
    const int fd = ::accept(lfd, nullptr, nullptr);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) break;
      req.append(buf, static_cast<std::size_t>(r));
    }
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size())) write_body(fd);
    ::close(fd);
  });

  asio::io_context ioc;
  std::size_t applied = 0, changed = 0, open_runs = 0;
  double cpu0 = 0, cpu1 = 0;
  auto wall0 = std::chrono::steady_clock::now(), wall1 = wall0;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        docker::EventStream stream(ioc.get_executor(), path, "1.41");
        const nlohmann::json filters = nlohmann::json::object();
        auto opened = co_await stream.open(filters);
        if (!opened) {
          std::fprintf(stderr, "bench-ingest: %s\n", opened.error().message.c_str());
          co_return;
        }
        wall0 = std::chrono::steady_clock::now();
        cpu0 = thread_cpu_s();
        for (;;) {
          auto line = co_await stream.next_line();
          if (!line) break;
          auto e = docker::parse_event(*line);
          if (!e) continue;
          const EventEffect fx = model.apply_event(*e);
          ++applied;
          if (fx.changed) {
            ++changed;
            if (decide) {
              const Now now{std::chrono::steady_clock::now(), Clock::now()};
              const GateReport r = evaluate_gates(model.snapshot(), config, now);
              open_runs += r.gate(GateId::runs).open;
            }
          }
        }
        cpu1 = thread_cpu_s();
        wall1 = std::chrono::steady_clock::now();
      },
      asio::detached);
  ioc.run();
  engine.join();
  ::close(lfd);
  ::unlink(path.c_str());
  ::rmdir(dir);

  // VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so it would
  // show the parent's (python's) peak when that is higher.
  long hwm_kib = 0;
  {
    std::ifstream st("/proc/self/status");
    std::string l;
    while (std::getline(st, l))
      if (l.rfind("VmHWM:", 0) == 0) hwm_kib = std::strtol(l.c_str() + 6, nullptr, 10);
  }
  const double wall = std::chrono::duration<double>(wall1 - wall0).count();
  const double cpu = cpu1 - cpu0;
  std::printf(
      "{\"containers\": %zu, \"services\": %zu, \"events\": %zu, \"decide\": %s, \"copy\": %s, \"changed\": %zu, \"wall_s\": %.4f, "
      "\"cpu_s\": %.4f, \"events_per_s\": %.0f, \"events_per_cpu_s\": %.0f, \"max_rss_kib\": %ld, "
      "\"live_after\": %zu}\n",
      n, service_count, applied, decide ? "true" : "false", copy ? "true" : "false", changed, wall, cpu, wall > 0 ? applied / wall : 0.0,
      cpu > 0 ? applied / cpu : 0.0, hwm_kib, model.container_count());
  (void)open_runs;
  return applied == m ? 0 : 1;
}
