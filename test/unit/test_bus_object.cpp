// Bus (lib/report/bus.cpp) against a real, private dbus-daemon using the shipped policy
// (scripts/private-dbus.sh): properties, PropertiesChanged with exactly the changed names,
// the asynchronous PruneNow reply, the error on close, Reload's error. The client side is
// a plain sd-bus connection on its own thread while the test's io_context runs the Bus.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "fixtures_dir.hpp"
#include "report/bus.hpp"
#include "run_client.hpp"

namespace {
using namespace cdp;

// The private bus: started per test, stopped by its pid, its dir removed.
struct PrivateBus {
  pid_t pid = -1;
  std::string dir;
  std::string address;
  std::optional<std::string> old_env;

  PrivateBus() {
    char tmpl[] = "/tmp/cdp-bus-XXXXXX";
    dir = mkdtemp(tmpl);
    const std::string script = cdp::testfx::fixtures_dir() + "/../../scripts/private-dbus.sh";
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      // dbus-daemon warns that it cannot raise its fd limit: noise, not a failure.
      if (int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, 2);
      execl("/bin/bash", "bash", script.c_str(), dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* f = fdopen(fds[0], "r");
    char line[512] = {};
    if (fgets(line, sizeof line, f)) address = line;
    fclose(f);
    while (!address.empty() && address.back() == '\n') address.pop_back();
    if (const char* e = getenv("DBUS_SYSTEM_BUS_ADDRESS")) old_env = e;
    setenv("DBUS_SYSTEM_BUS_ADDRESS", address.c_str(), 1);
  }
  ~PrivateBus() {
    if (old_env) setenv("DBUS_SYSTEM_BUS_ADDRESS", old_env->c_str(), 1);
    else unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir);
  }
};

BusState sample_state() {
  BusState s;
  s.state = "blocked";
  s.docker_connected = true;
  s.disk_path = "/var/lib/docker";
  s.disk_used_percent = 84.5;
  s.disk_inodes_used_percent = 3.25;
  s.disk_threshold_percent = 80;
  s.gates = {{"disk", true, "84.5% >= 80%"}, {"runs", false, "run stack abcd-1a2b3c_ci_commoninternet_net live"}};
  s.live_run_stacks = {"abcd-1a2b3c_ci_commoninternet_net"};
  s.unconverged_services = {};
  s.last_prune_finished_us = 1'700'000'000'000'000;
  s.last_prune_reclaimed_bytes = 1234;
  s.next_prune_not_before_us = 1'700'000'900'000'000;
  return s;
}

sd_bus* client() {
  sd_bus* b = nullptr;
  REQUIRE(sd_bus_open_system(&b) >= 0);
  sd_bus_set_method_call_timeout(b, 10'000'000);
  return b;
}

using cdp::testfx::run_client;

}  // namespace

TEST_CASE("Bus publishes properties and PropertiesChanged on a private system bus") {
  if (access("/usr/bin/dbus-daemon", X_OK) != 0) {
    WARN("dbus-daemon not installed: Bus tests not run");
    return;
  }
  PrivateBus pb;
  REQUIRE_FALSE(pb.address.empty());
  asio::io_context io;
  Bus::PruneReply held;
  Bus::Handlers handlers;
  std::unique_ptr<Bus> bus;
  handlers.prune_now = [&](bool ignore_disk, Bus::PruneReply reply) {
    CHECK(ignore_disk);
    held = std::move(reply);
    // Change two properties, then answer later from the loop (as a real prune would).
    auto next = sample_state();
    next.state = "pruning";
    next.disk_used_percent = 50;
    bus->publish(next);
    asio::post(io, [&] { held("pruned", 4242); });
  };
  handlers.reload = [] { return std::expected<void, std::string>(std::unexpected("bad config: x")); };
  auto opened = Bus::open(io.get_executor(), handlers);
  REQUIRE(opened.has_value());
  bus = std::move(*opened);
  bus->publish(sample_state());

  SECTION("every property reads back as published") {
    auto got = run_client(io, [] {
      sd_bus* c = client();
      sd_bus_error err = SD_BUS_ERROR_NULL;
      char* state = nullptr;
      double disk = 0;
      uint64_t last = 0;
      int r1 = sd_bus_get_property_string(c, kBusName, kBusPath, kBusInterface, "State", &err, &state);
      sd_bus_message* m = nullptr;
      int r2 = sd_bus_get_property(c, kBusName, kBusPath, kBusInterface, "DiskUsedPercent", &err, &m, "d");
      if (r2 >= 0) sd_bus_message_read(m, "d", &disk);
      m = sd_bus_message_unref(m);
      int r3 = sd_bus_get_property_trivial(c, kBusName, kBusPath, kBusInterface, "LastPruneFinished", &err, 't', &last);
      int r4 = sd_bus_get_property(c, kBusName, kBusPath, kBusInterface, "Gates", &err, &m, "a(sbs)");
      std::vector<std::string> gates;
      if (r4 >= 0 && sd_bus_message_enter_container(m, 'a', "(sbs)") >= 0) {
        const char *n, *why;
        int open;
        while (sd_bus_message_read(m, "(sbs)", &n, &open, &why) > 0) gates.push_back(std::string(n) + (open ? "+" : "-") + why);
      }
      sd_bus_message_unref(m);
      std::string s = state ? state : "";
      free(state);
      sd_bus_error_free(&err);
      sd_bus_flush_close_unref(c);
      return std::make_tuple(r1, r2, r3, r4, s, disk, last, gates);
    });
    auto [r1, r2, r3, r4, state, disk, last, gates] = got;
    CHECK(r1 >= 0);
    CHECK(r2 >= 0);
    CHECK(r3 >= 0);
    CHECK(r4 >= 0);
    CHECK(state == "blocked");
    CHECK(disk == 84.5);
    CHECK(last == 1'700'000'000'000'000ULL);
    CHECK(gates == std::vector<std::string>{"disk+84.5% >= 80%",
                                            "runs-run stack abcd-1a2b3c_ci_commoninternet_net live"});
  }

  SECTION("PruneNow replies asynchronously; PropertiesChanged names exactly what changed") {
    auto got = run_client(io, [] {
      sd_bus* c = client();
      std::set<std::string> changed;
      auto on_changed = [](sd_bus_message* m, void* ud, sd_bus_error*) -> int {
        auto* out = static_cast<std::set<std::string>*>(ud);
        const char* iface = nullptr;
        if (sd_bus_message_read(m, "s", &iface) < 0) return 0;
        if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
          const char* name = nullptr;
          sd_bus_message_read(m, "s", &name);
          out->insert(name);
          sd_bus_message_skip(m, "v");
          sd_bus_message_exit_container(m);
        }
        return 0;
      };
      sd_bus_match_signal(c, nullptr, kBusName, kBusPath, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                          on_changed, &changed);
      sd_bus_error err = SD_BUS_ERROR_NULL;
      sd_bus_message* reply = nullptr;
      int r = sd_bus_call_method(c, kBusName, kBusPath, kBusInterface, "PruneNow", &err, &reply, "b", 1);
      const char* outcome = "";
      uint64_t bytes = 0;
      std::string out;
      if (r >= 0 && sd_bus_message_read(reply, "st", &outcome, &bytes) >= 0) out = outcome;
      sd_bus_message_unref(reply);
      // The signal was sent before the reply, so it is already queued here.
      for (int i = 0; i < 50 && changed.empty(); ++i)
        if (sd_bus_process(c, nullptr) == 0) sd_bus_wait(c, 100'000);
      sd_bus_error_free(&err);
      sd_bus_flush_close_unref(c);
      return std::make_tuple(r, out, bytes, changed);
    });
    auto [r, outcome, bytes, changed] = got;
    CHECK(r >= 0);
    CHECK(outcome == "pruned");
    CHECK(bytes == 4242);
    CHECK(changed == std::set<std::string>{"State", "DiskUsedPercent"});
  }

  SECTION("Reload's error becomes a D-Bus error") {
    auto got = run_client(io, [] {
      sd_bus* c = client();
      sd_bus_error err = SD_BUS_ERROR_NULL;
      int r = sd_bus_call_method(c, kBusName, kBusPath, kBusInterface, "Reload", &err, nullptr, "");
      std::string name = err.name ? err.name : "", msg = err.message ? err.message : "";
      sd_bus_error_free(&err);
      sd_bus_flush_close_unref(c);
      return std::make_tuple(r, name, msg);
    });
    auto [r, name, msg] = got;
    CHECK(r < 0);
    CHECK(name == "net.commoninternet.CiDockerPrune1.Error.ReloadFailed");
    CHECK(msg == "bad config: x");
  }
}

TEST_CASE("Bus::close answers a pending PruneNow with an error") {
  if (access("/usr/bin/dbus-daemon", X_OK) != 0) return;
  PrivateBus pb;
  asio::io_context io;
  std::unique_ptr<Bus> bus;
  Bus::PruneReply held;
  Bus::Handlers handlers;
  handlers.prune_now = [&](bool, Bus::PruneReply reply) {
    held = std::move(reply);  // never answered: the daemon stops first
    asio::post(io, [&] { bus->close(); });
  };
  auto opened = Bus::open(io.get_executor(), handlers);
  REQUIRE(opened.has_value());
  bus = std::move(*opened);
  auto [r, name] = run_client(io, [] {
    sd_bus* c = client();
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = sd_bus_call_method(c, kBusName, kBusPath, kBusInterface, "PruneNow", &err, nullptr, "b", 0);
    std::string name = err.name ? err.name : "";
    sd_bus_error_free(&err);
    sd_bus_flush_close_unref(c);
    return std::make_pair(r, name);
  });
  CHECK(r < 0);
  CHECK(name == "net.commoninternet.CiDockerPrune1.Error.ShuttingDown");
  held("late", 1);  // a reply after close is dropped, not sent, not a crash
}

TEST_CASE("A second Bus cannot take the name") {
  if (access("/usr/bin/dbus-daemon", X_OK) != 0) return;
  PrivateBus pb;
  asio::io_context io;
  auto first = Bus::open(io.get_executor(), {});
  REQUIRE(first.has_value());
  auto second = Bus::open(io.get_executor(), {});
  REQUIRE_FALSE(second.has_value());
  // One line naming the owner: its unique name and pid (here: ourselves).
  CHECK(second.error().starts_with("Failed to start: the bus name net.commoninternet.CiDockerPrune1 is owned by "
                                   "the connection :1."));
  CHECK(second.error().find("(pid " + std::to_string(::getpid()) + ")") != std::string::npos);
  CHECK(second.error().find('\n') == std::string::npos);
}
