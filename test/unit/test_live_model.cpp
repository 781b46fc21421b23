// The live model on literals: list/event sequences in, Snapshot out. Also that the
// gates read the resulting snapshot as the daemon expects (runs, converge pairing).
#include <catch2/catch.hpp>

#include "model/live_model.hpp"
#include "policy/gates.hpp"

using namespace cdp;
using namespace std::chrono_literals;

namespace {
const TimePoint t0 = TimePoint(std::chrono::seconds(1'800'000'000));
const std::string kStack = "abcd-1a2b3c_ci_commoninternet_net";

Container container(std::string id, std::string state, std::string stack = {}) {
  Container c;
  c.id = std::move(id);
  c.state = std::move(state);
  if (!stack.empty()) c.labels["com.docker.stack.namespace"] = stack;
  return c;
}

Service service(std::string id, std::uint64_t running, std::uint64_t desired, std::string stack = {}) {
  Service s;
  s.id = id;
  s.name = id;
  if (!stack.empty()) s.labels["com.docker.stack.namespace"] = stack;
  s.status = Service::Status{running, desired, 0};
  return s;
}

docker::Event event(std::string type, std::string action, std::string id, Labels attrs = {}) {
  return docker::Event{std::move(type), std::move(action), std::move(id), std::move(attrs), 0};
}

// A model connected and synced with the given lists at t0.
LiveModel synced(const std::vector<Container>& cs, const std::vector<Service>& ss) {
  LiveModel m;
  m.set_connected(true);
  m.set_containers(cs);
  REQUIRE(m.set_services(ss, t0, m.service_generation()));
  m.mark_synced();
  return m;
}

GateReport gates(const LiveModel& m, TimePoint now) {
  Snapshot s = m.snapshot();
  s.disk = DiskUsage{"/d", 90, 10, 1, 99};
  return evaluate_gates(s, Config{}, now);
}
}  // namespace

TEST_CASE("live model: connection and sync") {
  LiveModel m;
  CHECK_FALSE(m.snapshot().docker_connected);
  CHECK_FALSE(m.snapshot().synced);
  m.mark_synced();  // not connected: cannot be synced
  CHECK_FALSE(m.synced());
  m.set_connected(true);
  m.mark_synced();
  CHECK(m.snapshot().synced);

  SECTION("losing Docker makes the model stale and forgets the observation pair") {
    LiveModel n = synced({}, {service("s1", 1, 1)});
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, t0 + 2s, n.service_generation()));
    REQUIRE(n.snapshot().services_previous);
    n.set_connected(false);
    CHECK_FALSE(n.snapshot().synced);
    CHECK_FALSE(n.snapshot().services_previous);
    // Reconnected: the first observation after it does not pair with the old one.
    n.set_connected(true);
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, t0 + 10s, n.service_generation()));
    CHECK_FALSE(n.snapshot().services_previous);
  }
}

TEST_CASE("live model: container lists keep live containers only") {
  LiveModel m = synced({container("a", "running", kStack), container("b", "exited", kStack),
                        container("c", "created"), container("d", "dead")},
                       {});
  const auto s = m.snapshot();
  REQUIRE(s.containers.size() == 2);
  CHECK(s.containers[0].id == "a");
  CHECK(s.containers[1].id == "c");
  CHECK(gates(m, t0).live_run_stacks == std::vector<std::string>{kStack});
}

TEST_CASE("live model: container events") {
  LiveModel m = synced({}, {});
  const Labels attrs = {{"com.docker.stack.namespace", kStack}, {"name", "web.1"}, {"image", "local/busybox:1"}};

  auto fx = m.apply_event(event("container", "create", "x", attrs));
  CHECK(fx.changed);
  REQUIRE(m.snapshot().containers.size() == 1);
  CHECK(m.snapshot().containers[0].state == "created");
  CHECK(m.snapshot().containers[0].name == "web.1");
  CHECK(m.snapshot().containers[0].image == "local/busybox:1");
  CHECK_FALSE(gates(m, t0).gate(GateId::runs).open);

  m.apply_event(event("container", "start", "x", attrs));
  CHECK(m.snapshot().containers[0].state == "running");
  m.apply_event(event("container", "pause", "x", attrs));
  CHECK(m.snapshot().containers[0].state == "paused");
  m.apply_event(event("container", "unpause", "x", attrs));
  CHECK(m.snapshot().containers[0].state == "running");

  SECTION("exec and health events carry arguments and change nothing") {
    fx = m.apply_event(event("container", "exec_start: sh -c true", "x", attrs));
    CHECK_FALSE(fx.changed);
    fx = m.apply_event(event("container", "health_status: healthy", "x", attrs));
    CHECK(m.snapshot().containers[0].state == "running");
  }
  SECTION("die drops it and asks for a disk re-read; the runs gate opens") {
    fx = m.apply_event(event("container", "die", "x", attrs));
    CHECK(fx.changed);
    CHECK(fx.disk_changed);
    CHECK(m.snapshot().containers.empty());
    CHECK(gates(m, t0).gate(GateId::runs).open);
    // destroy after die: nothing left to change, still a disk hint
    fx = m.apply_event(event("container", "destroy", "x", attrs));
    CHECK_FALSE(fx.changed);
    CHECK(fx.disk_changed);
  }
  SECTION("an event replayed from before the list is idempotent") {
    m.apply_event(event("container", "start", "x", attrs));
    CHECK(m.snapshot().containers.size() == 1);
  }
  SECTION("a container event without an id is ignored") {
    fx = m.apply_event(event("container", "start", "", attrs));
    CHECK_FALSE(fx.changed);
    CHECK(m.snapshot().containers.size() == 1);
  }
}

TEST_CASE("live model: service observations pair only a second apart") {
  LiveModel m = synced({}, {service("s1", 1, 1)});
  CHECK_FALSE(m.snapshot().services_previous);
  CHECK_FALSE(gates(m, t0).gate(GateId::converge).open);

  SECTION("less than a second later: no pair") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, t0 + 500ms, m.service_generation()));
    CHECK_FALSE(m.snapshot().services_previous);
  }
  SECTION("a second later: the pair opens the converge gate") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, t0 + 1s, m.service_generation()));
    REQUIRE(m.snapshot().services_previous);
    CHECK(m.snapshot().services_previous->at == t0);
    CHECK(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a list requested before a service event is refused") {
    const auto gen = m.service_generation();
    m.apply_event(event("service", "update", "s1", {{"name", "s1"}}));
    CHECK_FALSE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, t0 + 2s, gen));
    CHECK(m.snapshot().services_latest->at == t0);
  }
  SECTION("503: services not visible, no observations") {
    REQUIRE(m.set_services(std::nullopt, t0 + 1s, m.service_generation()));
    const auto s = m.snapshot();
    CHECK_FALSE(s.services_visible);
    CHECK_FALSE(s.services_latest);
    CHECK(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
}

TEST_CASE("live model: service events") {
  LiveModel m = synced({}, {service("run", 1, 1, kStack), service("other", 1, 1)});
  REQUIRE(m.set_services(std::vector<Service>{service("run", 1, 1, kStack), service("other", 1, 1)}, t0 + 1s,
                         m.service_generation()));
  REQUIRE(gates(m, t0 + 1s).gate(GateId::converge).open);
  REQUIRE_FALSE(gates(m, t0 + 1s).gate(GateId::runs).open);

  SECTION("remove drops the service from both observations: runs opens, converge stays open") {
    auto fx = m.apply_event(event("service", "remove", "run", {{"name", "run"}}));
    CHECK(fx.changed);
    CHECK_FALSE(fx.poll_convergence);
    const auto g = gates(m, t0 + 1s);
    CHECK(g.gate(GateId::runs).open);
    CHECK(g.gate(GateId::converge).open);
  }
  SECTION("update closes converge until two fresh observations") {
    auto fx = m.apply_event(event("service", "update", "other", {{"name", "other"}, {"replicas.new", "3"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, t0 + 1s).gate(GateId::converge).open);
    // The first list after the event never pairs with the one before it.
    REQUIRE(m.set_services(std::vector<Service>{service("other", 3, 3)}, t0 + 5s, m.service_generation()));
    CHECK_FALSE(m.snapshot().services_previous);
    CHECK_FALSE(gates(m, t0 + 5s).gate(GateId::converge).open);
    REQUIRE(m.set_services(std::vector<Service>{service("other", 3, 3)}, t0 + 6s, m.service_generation()));
    CHECK(gates(m, t0 + 6s).gate(GateId::converge).open);
  }
  SECTION("create closes converge and asks for a poll") {
    auto fx = m.apply_event(event("service", "create", "new", {{"name", "new"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a node event closes converge") {
    auto fx = m.apply_event(event("node", "update", "n1"));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a task container of a listed service moving closes converge") {
    auto fx = m.apply_event(event("container", "die", "t1", {{"com.docker.swarm.service.id", "other"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a task container of a removed service does not") {
    m.apply_event(event("service", "remove", "run"));
    auto fx = m.apply_event(event("container", "die", "t2", {{"com.docker.swarm.service.id", "run"}}));
    CHECK(fx.poll_convergence);
    CHECK(gates(m, t0 + 1s).gate(GateId::converge).open);
  }
}

TEST_CASE("live model: image events and the disk") {
  LiveModel m = synced({}, {});
  CHECK(m.apply_event(event("image", "delete", "sha256:abc")).disk_changed);
  // What writes the disk triggers a read too (issue 9): pull, load, import, tag.
  for (const char* verb : {"pull", "load", "import", "tag"})
    CHECK(m.apply_event(event("image", verb, "sha256:abc")).disk_changed);
  CHECK_FALSE(m.apply_event(event("image", "inspect", "sha256:abc")).disk_changed);
  CHECK(m.apply_event(event("container", "create", "c9")).disk_changed);
  CHECK(m.apply_event(event("container", "start", "c9")).disk_changed);
  CHECK_FALSE(m.apply_event(event("container", "exec_start: sh", "c9")).disk_changed);
  CHECK_FALSE(m.apply_event(event("network", "create", "n")).changed);

  CHECK_FALSE(m.snapshot().disk);
  m.set_disk_path("/var/lib/docker");
  m.set_disk(DiskUsage{"/var/lib/docker", 85, 15, 10, 90});
  auto s = m.snapshot();
  REQUIRE(s.disk);
  CHECK(s.disk_path == "/var/lib/docker");
  CHECK(s.disk->percent() == Approx(85.0));
  m.set_disk(std::unexpected(std::string("Failed to statvfs /x: No such file or directory")));
  s = m.snapshot();
  CHECK_FALSE(s.disk);
  CHECK(s.disk_error == "Failed to statvfs /x: No such file or directory");

  m.set_last_prune(t0);
  CHECK(m.snapshot().last_prune_finished == t0);
}

TEST_CASE("live model: stack counts give the runs gate the same verdicts as the containers", "[model]") {
  // The daemon's model counts live containers per stack (set_stack_labels, issue 9); the
  // runs gate must read those counts exactly as it reads the container list.
  const std::vector<std::string> keys{"com.docker.stack.namespace", "com.docker.compose.project"};
  LiveModel plain = synced({container("a", "running", kStack), container("b", "running", "other")}, {});
  LiveModel counted = synced({container("a", "running", kStack), container("b", "running", "other")}, {});
  counted.set_stack_labels(keys);
  auto same = [&](bool open) {
    CHECK(gates(plain, t0 + 1s).gate(GateId::runs).open == open);
    CHECK(gates(counted, t0 + 1s).gate(GateId::runs).open == open);
    CHECK(gates(counted, t0 + 1s).live_run_stacks == gates(plain, t0 + 1s).live_run_stacks);
  };
  CHECK(counted.snapshot().containers.empty());
  CHECK(counted.snapshot().live_container_stacks->at(kStack) == 1);
  same(false);
  const Labels run{{"com.docker.stack.namespace", kStack}};
  for (LiveModel* m : {&plain, &counted}) {
    m->apply_event(event("container", "create", "c", run));
    m->apply_event(event("container", "start", "c", run));  // known already: counted once
    m->apply_event(event("container", "die", "a", run));
  }
  CHECK(counted.snapshot().live_container_stacks->at(kStack) == 1);
  same(false);
  for (LiveModel* m : {&plain, &counted}) m->apply_event(event("container", "destroy", "c", run));
  CHECK(counted.snapshot().live_container_stacks->count(kStack) == 0);
  same(true);
  // A compose project label counts when the stack namespace is absent (first present wins).
  const Labels compose{{"com.docker.compose.project", kStack}};
  for (LiveModel* m : {&plain, &counted}) m->apply_event(event("container", "start", "d", compose));
  same(false);
  // A fresh list replaces the counts.
  for (LiveModel* m : {&plain, &counted}) m->set_containers({container("e", "exited", kStack)});
  same(true);
}
