// The live model on literals: list/event sequences in, Snapshot out. Also that the
// gates read the resulting snapshot as the daemon expects (runs, converge pairing).
#include <catch2/catch.hpp>

#include "model/live_model.hpp"
#include "policy/gates.hpp"

using namespace cdp;
using namespace std::chrono_literals;

namespace {
const TimePoint kWall0 = TimePoint(std::chrono::seconds(1'800'000'000));
// The monotonic clock at kWall0 (service observations are stamped on it); the clocks agree
// unless a test steps the wall clock.
const SteadyTime kMono0 = SteadyTime(std::chrono::hours(100));
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

// A model connected and synced with the given lists at kMono0.
LiveModel synced(const std::vector<Container>& cs, const std::vector<Service>& ss) {
  LiveModel m;
  m.set_connected(true);
  m.set_containers(cs);
  REQUIRE(m.set_services(ss, kMono0, m.service_generation()));
  m.mark_synced();
  return m;
}

GateReport gates(const LiveModel& m, Now now) {
  Snapshot s = m.snapshot();
  s.disk = DiskUsage{"/d", 90, 10, 1, 99};
  return evaluate_gates(s, Config{}, now);
}
// At monotonic `mono`, the wall clock as far from kWall0 (no step).
GateReport gates(const LiveModel& m, SteadyTime mono) {
  return gates(m, Now{mono, kWall0 + std::chrono::duration_cast<Clock::duration>(mono - kMono0)});
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
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 2s, n.service_generation()));
    REQUIRE(n.snapshot().services_previous);
    n.set_connected(false);
    CHECK_FALSE(n.snapshot().synced);
    CHECK_FALSE(n.snapshot().services_previous);
    // Reconnected: the first observation after it does not pair with the old one.
    n.set_connected(true);
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 10s, n.service_generation()));
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
  CHECK(gates(m, kMono0).live_run_stacks == std::vector<std::string>{kStack});
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
  CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);

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
  SECTION("die keeps it live and asks for an inspect and a disk re-read; exited: the runs gate opens") {
    fx = m.apply_event(event("container", "die", "x", attrs));
    CHECK(fx.disk_changed);
    REQUIRE(fx.inspect);
    CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);
    Container exited;
    exited.id = "x";
    exited.state = "exited";
    CHECK(m.apply_inspect("x", fx.inspect_ticket, exited));
    CHECK(m.snapshot().containers.empty());
    CHECK(gates(m, kMono0).gate(GateId::runs).open);
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
  CHECK_FALSE(gates(m, kMono0).gate(GateId::converge).open);

  SECTION("less than a second later: no pair") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 500ms, m.service_generation()));
    CHECK_FALSE(m.snapshot().services_previous);
  }
  SECTION("a second later: the pair opens the converge gate") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 1s, m.service_generation()));
    REQUIRE(m.snapshot().services_previous);
    CHECK(m.snapshot().services_previous->at == kMono0);
    CHECK(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a second later on mono, the wall clock stepped an hour back meanwhile: pairs, opens") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 1s, m.service_generation()));
    REQUIRE(m.snapshot().services_previous);
    CHECK(gates(m, Now{kMono0 + 1s, kWall0 - 1h}).gate(GateId::converge).open);
  }
  SECTION("500 ms later on mono, the wall clock stepped an hour forward meanwhile: no pair") {
    REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 500ms, m.service_generation()));
    CHECK_FALSE(m.snapshot().services_previous);
    const auto g = gates(m, Now{kMono0 + 500ms, kWall0 + 1h});
    CHECK_FALSE(g.gate(GateId::converge).open);
    CHECK(g.time_wakeup == kWall0 + 1h + 1s);  // 1 s after the latest, on mono, in now's wall frame
  }
  SECTION("a list requested before a service event is refused") {
    const auto gen = m.service_generation();
    m.apply_event(event("service", "update", "s1", {{"name", "s1"}}));
    CHECK_FALSE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 2s, gen));
    CHECK(m.snapshot().services_latest->at == kMono0);
  }
  SECTION("503: services not visible, no observations") {
    REQUIRE(m.set_services(std::nullopt, kMono0 + 1s, m.service_generation()));
    const auto s = m.snapshot();
    CHECK_FALSE(s.services_visible);
    CHECK_FALSE(s.services_latest);
    CHECK(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  }
}

TEST_CASE("live model: service events") {
  LiveModel m = synced({}, {service("run", 1, 1, kStack), service("other", 1, 1)});
  REQUIRE(m.set_services(std::vector<Service>{service("run", 1, 1, kStack), service("other", 1, 1)}, kMono0 + 1s,
                         m.service_generation()));
  REQUIRE(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  REQUIRE_FALSE(gates(m, kMono0 + 1s).gate(GateId::runs).open);

  SECTION("remove drops the service from both observations: runs opens, converge stays open") {
    auto fx = m.apply_event(event("service", "remove", "run", {{"name", "run"}}));
    CHECK(fx.changed);
    CHECK_FALSE(fx.poll_convergence);
    const auto g = gates(m, kMono0 + 1s);
    CHECK(g.gate(GateId::runs).open);
    CHECK(g.gate(GateId::converge).open);
  }
  SECTION("update closes converge until two fresh observations") {
    auto fx = m.apply_event(event("service", "update", "other", {{"name", "other"}, {"replicas.new", "3"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, kMono0 + 1s).gate(GateId::converge).open);
    // The first list after the event never pairs with the one before it.
    REQUIRE(m.set_services(std::vector<Service>{service("other", 3, 3)}, kMono0 + 5s, m.service_generation()));
    CHECK_FALSE(m.snapshot().services_previous);
    CHECK_FALSE(gates(m, kMono0 + 5s).gate(GateId::converge).open);
    REQUIRE(m.set_services(std::vector<Service>{service("other", 3, 3)}, kMono0 + 6s, m.service_generation()));
    CHECK(gates(m, kMono0 + 6s).gate(GateId::converge).open);
  }
  SECTION("create closes converge and asks for a poll") {
    auto fx = m.apply_event(event("service", "create", "new", {{"name", "new"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a node event closes converge") {
    auto fx = m.apply_event(event("node", "update", "n1"));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a task container of a listed service moving closes converge") {
    auto fx = m.apply_event(event("container", "die", "t1", {{"com.docker.swarm.service.id", "other"}}));
    CHECK(fx.poll_convergence);
    CHECK_FALSE(gates(m, kMono0 + 1s).gate(GateId::converge).open);
  }
  SECTION("a task container of a removed service does not") {
    m.apply_event(event("service", "remove", "run"));
    auto fx = m.apply_event(event("container", "die", "t2", {{"com.docker.swarm.service.id", "run"}}));
    CHECK(fx.poll_convergence);
    CHECK(gates(m, kMono0 + 1s).gate(GateId::converge).open);
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

  m.set_last_prune(kWall0);
  CHECK(m.snapshot().last_prune_finished == kWall0);
}

TEST_CASE("live model: a heal re-list beside the open stream loses no event (no blind window)") {
  // The daemon re-lists while it keeps applying events (docker_watch.cpp heal_loop);
  // these are the orderings of list answer and events the model must get right.
  LiveModel m = synced({container("a", "running", kStack)}, {});
  SECTION("an event between the list's request and its answer is replayed on the list") {
    const auto ticket = m.begin_relist();
    // While the list is in flight: a run container is created, and `a` goes away.
    m.apply_event(event("container", "create", "b", {{"com.docker.stack.namespace", kStack}}));
    m.apply_event(event("container", "destroy", "a"));
    // The list was taken before both: it still shows `a`, not `b`.
    auto inspect = m.finish_relist(ticket, {container("a", "running", kStack)});
    REQUIRE(inspect);
    CHECK(inspect->empty());
    const auto s = m.snapshot();
    REQUIRE(s.containers.size() == 1);
    CHECK(s.containers[0].id == "b");
    CHECK(s.synced);  // never unsynced: the stream never closed
  }
  SECTION("a list taken after the events agrees with their replay") {
    const auto ticket = m.begin_relist();
    m.apply_event(event("container", "create", "b", {{"com.docker.stack.namespace", kStack}}));
    REQUIRE(m.finish_relist(ticket, {container("a", "running", kStack), container("b", "created", kStack)}));
    CHECK(m.snapshot().containers.size() == 2);
  }
  SECTION("the observation pair starts over") {
    LiveModel n = synced({}, {service("s1", 1, 1)});
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 2s, n.service_generation()));
    REQUIRE(n.snapshot().services_previous);
    const auto ticket = n.begin_relist();
    CHECK_FALSE(n.snapshot().services_previous);
    REQUIRE(n.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 4s, n.service_generation()));
    CHECK_FALSE(n.snapshot().services_previous);  // the first after the heal pairs with nothing
    REQUIRE(n.finish_relist(ticket, {}));
  }
  SECTION("a list outlived by a lost connection or a newer list changes nothing") {
    const auto ticket = m.begin_relist();
    m.set_connected(false);
    m.set_connected(true);
    CHECK_FALSE(m.finish_relist(ticket, {}));
    const auto t1 = m.begin_relist();
    const auto t2 = m.begin_relist();
    CHECK_FALSE(m.finish_relist(t1, {}));
    CHECK(m.finish_relist(t2, {container("a", "running", kStack)}));
  }
  SECTION("a die replayed on the list asks for an inspect again") {
    const auto ticket = m.begin_relist();
    auto fx = m.apply_event(event("container", "die", "a"));
    REQUIRE(fx.inspect);
    auto inspect = m.finish_relist(ticket, {container("a", "restarting", kStack)});
    REQUIRE(inspect);
    REQUIRE(inspect->size() == 1);
    CHECK((*inspect)[0].id == "a");
    CHECK((*inspect)[0].ticket != fx.inspect_ticket);
    // The answer to the first inspect is stale now; only the second one counts.
    CHECK_FALSE(m.apply_inspect("a", fx.inspect_ticket, std::nullopt));
    CHECK(m.snapshot().containers.size() == 1);
    CHECK(m.apply_inspect("a", (*inspect)[0].ticket, std::nullopt));
    CHECK(m.snapshot().containers.empty());
  }
}

TEST_CASE("live model: a dying container stays live until Docker says it is not restarting") {
  LiveModel m = synced({container("a", "running", kStack)}, {});
  auto fx = m.apply_event(event("container", "die", "a", {{"com.docker.stack.namespace", kStack}}));
  REQUIRE(fx.inspect);
  CHECK(*fx.inspect == "a");
  CHECK(m.dying("a"));
  CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);  // still live: runs closed
  SECTION("restart policy: Docker says restarting -> live, runs closed") {
    Container inspected = container("a", "restarting", kStack);
    CHECK(m.apply_inspect("a", fx.inspect_ticket, inspected));
    CHECK(m.snapshot().containers.at(0).state == "restarting");
    CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);
    // The crash loop goes on: start, die, inspect again.
    m.apply_event(event("container", "start", "a", {{"com.docker.stack.namespace", kStack}}));
    auto fx2 = m.apply_event(event("container", "die", "a", {{"com.docker.stack.namespace", kStack}}));
    CHECK(fx2.inspect_ticket != fx.inspect_ticket);
    CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);
  }
  SECTION("no restart: exited -> gone, runs open") {
    CHECK(m.apply_inspect("a", fx.inspect_ticket, container("a", "exited", kStack)));
    CHECK(m.snapshot().containers.empty());
    CHECK(gates(m, kMono0).gate(GateId::runs).open);
  }
  SECTION("404: gone") {
    CHECK(m.apply_inspect("a", fx.inspect_ticket, std::nullopt));
    CHECK(m.snapshot().containers.empty());
  }
  SECTION("an answer older than a later start is ignored") {
    m.apply_event(event("container", "start", "a", {{"com.docker.stack.namespace", kStack}}));
    CHECK_FALSE(m.apply_inspect("a", fx.inspect_ticket, container("a", "exited", kStack)));
    CHECK(m.snapshot().containers.at(0).state == "running");
  }
  SECTION("destroy or a list decides too") {
    m.apply_event(event("container", "destroy", "a"));
    CHECK(m.snapshot().containers.empty());
    CHECK_FALSE(m.dying("a"));
  }
  SECTION("a list without it") {
    m.set_containers({});
    CHECK_FALSE(m.dying("a"));
    CHECK_FALSE(m.apply_inspect("a", fx.inspect_ticket, container("a", "running", kStack)));
  }
}

TEST_CASE("live model: swarm role and a manager's failed /services reach the snapshot") {
  LiveModel m = synced({}, {service("s1", 1, 1)});
  EngineInfo info;
  info.swarm_local_node_state = "active";
  info.swarm_control_available = true;
  m.set_info(info);
  m.set_services_error("Failed to list services: HTTP 503: The swarm does not have a leader");
  auto s = m.snapshot();
  CHECK(s.swarm_role == SwarmRole::manager);
  CHECK_FALSE(s.services_latest);
  CHECK_FALSE(gates(m, kMono0).gate(GateId::runs).open);
  CHECK_FALSE(gates(m, kMono0).gate(GateId::converge).open);
  // Listing again clears it.
  REQUIRE(m.set_services(std::vector<Service>{service("s1", 1, 1)}, kMono0 + 1s, m.service_generation()));
  CHECK(m.snapshot().services_error.empty());
  // Locked after a restart: /info says so; gates closed whatever the lists say.
  info.swarm_local_node_state = "locked";
  info.swarm_control_available = false;
  m.set_info(info);
  REQUIRE(m.set_services(std::nullopt, kMono0 + 2s, m.service_generation()));
  CHECK(m.snapshot().swarm_role == SwarmRole::unknown);
  CHECK(gates(m, kMono0 + 2s).gate(GateId::runs).reason == "swarm is locked on this node: its services are unknown");
}

namespace {
// The per-stack counts a model without stack labels implies: its snapshot's live
// containers counted by gates.cpp's stack_of (the first of the default stack labels).
std::map<std::string, std::size_t> counted(const LiveModel& plain) {
  std::map<std::string, std::size_t> out;
  for (const auto& c : plain.snapshot().containers)
    if (is_live_container_state(c.state))
      if (auto stack = stack_of(c.labels, Config{})) ++out[*stack];
  return out;
}

// The same inputs to a counting model and to a plain one; after each step the counts must
// equal what the plain model's containers imply, and the gates must agree.
struct Twins {
  LiveModel counting, plain;
  Twins() { REQUIRE_FALSE(counting.set_stack_labels(Config{}.gates.stack_labels)); }
  template <typename F>
  void both(F f) {
    f(counting);
    f(plain);
    check();
  }
  void check() const {
    REQUIRE(counting.snapshot().live_container_stacks);
    CHECK(*counting.snapshot().live_container_stacks == counted(plain));
    CHECK(counting.snapshot().containers.empty());
    CHECK(gates(counting, kMono0).live_run_stacks == gates(plain, kMono0).live_run_stacks);
    CHECK(gates(counting, kMono0).gate(GateId::runs).reason == gates(plain, kMono0).gate(GateId::runs).reason);
  }
  const std::map<std::string, std::size_t>& counts() const { return counting.stack_counts(); }
};

const std::string kOther = "abcd-1a2b3c_other";
Labels stack_attrs(const std::string& stack) {
  return {{"com.docker.stack.namespace", stack}, {"name", "web.1"}, {"image", "local/busybox:1"},
          {"com.docker.swarm.service.id", "svc1"}, {"com.docker.swarm.task.id", "t1"}, {"exitCode", "0"}};
}
}  // namespace

TEST_CASE("live model: stack counts follow lists, events, dying containers and inspects") {
  Twins t;
  t.both([](LiveModel& m) {
    m.set_connected(true);
    m.set_containers({container("a", "running", kStack), container("b", "exited", kStack),
                      container("c", "created", kOther), container("d", "paused", kStack), container("e", "running")});
    m.mark_synced();
  });
  CHECK(t.counts() == std::map<std::string, std::size_t>{{kStack, 2}, {kOther, 1}});
  CHECK_FALSE(gates(t.counting, kMono0).gate(GateId::runs).open);

  SECTION("create/start/destroy; a repeated start counts once") {
    t.both([](LiveModel& m) { m.apply_event(event("container", "create", "x", stack_attrs(kOther))); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "start", "x", stack_attrs(kOther))); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "start", "x", stack_attrs(kOther))); });
    CHECK(t.counts().at(kOther) == 2);
    t.both([](LiveModel& m) { m.apply_event(event("container", "destroy", "x")); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "destroy", "x")); });  // twice: no underflow
    CHECK(t.counts().at(kOther) == 1);
    t.both([](LiveModel& m) { m.apply_event(event("container", "destroy", "c")); });
    CHECK_FALSE(t.counts().contains(kOther));
  }
  SECTION("a container whose labels change between events moves to its new stack") {
    t.both([](LiveModel& m) { m.apply_event(event("container", "start", "e", stack_attrs(kStack))); });
    CHECK(t.counts().at(kStack) == 3);
    t.both([](LiveModel& m) { m.apply_event(event("container", "start", "e", stack_attrs(kOther))); });
    CHECK(t.counts().at(kStack) == 2);
    CHECK(t.counts().at(kOther) == 2);
  }
  SECTION("a dying container counts until Docker says it is gone; restart keeps it counted") {
    std::uint64_t ticket = 0;
    t.both([&](LiveModel& m) { ticket = m.apply_event(event("container", "die", "a", stack_attrs(kStack))).inspect_ticket; });
    CHECK(t.counts().at(kStack) == 2);  // dying: still live (SPEC)
    CHECK_FALSE(gates(t.counting, kMono0).gate(GateId::runs).open);
    t.both([&](LiveModel& m) { m.apply_inspect("a", ticket, container("a", "restarting", kStack)); });
    CHECK(t.counts().at(kStack) == 2);
    t.both([&](LiveModel& m) { m.apply_event(event("container", "restart", "a", stack_attrs(kStack))); });
    t.both([&](LiveModel& m) { ticket = m.apply_event(event("container", "die", "a", stack_attrs(kStack))).inspect_ticket; });
    t.both([&](LiveModel& m) { ticket = m.apply_event(event("container", "die", "d", stack_attrs(kStack))).inspect_ticket; });
    CHECK(t.counts().at(kStack) == 2);
    t.both([&](LiveModel& m) { m.apply_inspect("d", ticket, container("d", "exited", kStack)); });
    CHECK(t.counts().at(kStack) == 1);
    t.both([&](LiveModel& m) { m.apply_inspect("d", ticket, container("d", "exited", kStack)); });  // stale
    CHECK(t.counts().at(kStack) == 1);
    // The last run container: its 404 opens the runs gate.
    const std::uint64_t first = [&] {
      std::uint64_t k = 0;
      t.both([&](LiveModel& m) { k = m.apply_event(event("container", "die", "a", stack_attrs(kStack))).inspect_ticket; });
      return k;
    }();
    t.both([&](LiveModel& m) { m.apply_inspect("a", first, std::nullopt); });
    CHECK_FALSE(t.counts().contains(kStack));
    CHECK(gates(t.counting, kMono0).gate(GateId::runs).open);
  }
  SECTION("a heal re-list replays the events on the list") {
    std::uint64_t ticket = 0;
    std::optional<std::vector<InspectRequest>> inspect;
    t.both([&](LiveModel& m) { ticket = m.begin_relist(); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "create", "y", stack_attrs(kOther))); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "destroy", "c")); });
    t.both([](LiveModel& m) { m.apply_event(event("container", "die", "a")); });
    // The list predates all three: it still shows c and a running, not y.
    t.both([&](LiveModel& m) {
      inspect = m.finish_relist(ticket, {container("a", "running", kStack), container("c", "created", kOther),
                                         container("f", "running", kStack)});
    });
    REQUIRE(inspect);
    REQUIRE(inspect->size() == 1);
    CHECK(t.counts() == std::map<std::string, std::size_t>{{kStack, 2}, {kOther, 1}});
    const auto req = (*inspect)[0];
    t.both([&](LiveModel& m) { m.apply_inspect(req.id, req.ticket, std::nullopt); });
    CHECK(t.counts() == std::map<std::string, std::size_t>{{kStack, 1}, {kOther, 1}});
  }
  SECTION("a plain list replaces the counts") {
    t.both([](LiveModel& m) { m.set_containers({container("z", "restarting", kOther)}); });
    CHECK(t.counts() == std::map<std::string, std::size_t>{{kOther, 1}});
    t.both([](LiveModel& m) { m.set_containers({}); });
    CHECK(t.counts().empty());
    CHECK(gates(t.counting, kMono0).gate(GateId::runs).open);
  }
}

TEST_CASE("live model: with stack labels a container keeps only its stack label") {
  LiveModel m;
  m.set_stack_labels({"com.docker.stack.namespace", "ci.stack"});
  m.set_connected(true);
  m.apply_event(event("container", "start", "x", stack_attrs(kStack)));
  Container c = container("y", "running");
  c.labels = {{"ci.stack", "s2"}, {"com.docker.stack.namespace", "s1"}, {"other", "v"}};
  m.set_containers({c});
  m.apply_event(event("container", "start", "x", stack_attrs(kStack)));
  // The first key present names the stack, as gates.cpp stack_of does.
  CHECK(m.stack_counts() == std::map<std::string, std::size_t>{{kStack, 1}, {"s1", 1}});
  // The task's service id (read from the event, not the kept container) still marks the
  // observation pair stale.
  REQUIRE(m.set_services(std::vector<Service>{service("svc1", 1, 1)}, kMono0, m.service_generation()));
  REQUIRE(m.set_services(std::vector<Service>{service("svc1", 1, 1)}, kMono0 + 1s, m.service_generation()));
  REQUIRE(m.snapshot().services_previous);
  m.apply_event(event("container", "die", "x", stack_attrs(kStack)));
  CHECK_FALSE(m.snapshot().services_previous);
  // Other keys: the model says the containers must be listed again (labels were dropped).
  CHECK_FALSE(m.set_stack_labels({"com.docker.stack.namespace", "ci.stack"}));
  CHECK(m.set_stack_labels({"ci.stack"}));
  // y kept only its stack by the old keys (s1): ci.stack is unknown until that re-list.
  CHECK(m.stack_counts() == std::map<std::string, std::size_t>{{kStack, 1}, {"s1", 1}});
  m.set_containers({c});
  CHECK(m.stack_counts() == std::map<std::string, std::size_t>{{"s2", 1}});
}
