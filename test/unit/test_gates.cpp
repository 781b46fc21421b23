// The gates on snapshot literals: one TEST_CASE per gate, a SECTION per edge.
#include <catch2/catch.hpp>

#include "policy/gates.hpp"
#include "policy_fixtures.hpp"

using namespace cdp;
using namespace cdp::testfx;

namespace {
GateVerdict gate(const Snapshot& s, const Config& c, GateId id, TimePoint now = t0()) {
  return evaluate_gates(s, c, at(now)).gate(id);
}
}  // namespace

TEST_CASE("all gates open on the reference snapshot", "[gates]") {
  auto r = evaluate_gates(open_snapshot(), config(), at(t0()));
  CHECK(r.all_open());
  CHECK(std::string(gate_name(GateId::disk)) == "disk");
  CHECK(std::string(gate_name(GateId::cooldown)) == "cooldown");
  CHECK_FALSE(r.time_wakeup.has_value());
}

TEST_CASE("disk gate", "[gates][disk]") {
  auto s = open_snapshot();
  auto c = config();
  SECTION("exactly at the threshold is open") {
    s.disk = disk(80, 20);
    auto g = gate(s, c, GateId::disk);
    CHECK(g.open);
    CHECK(g.reason == "disk 80.0% >= 80% on /var/lib/docker");
  }
  SECTION("just below is closed and names both numbers") {
    s.disk = disk(7999, 2001);
    auto g = gate(s, c, GateId::disk);
    CHECK_FALSE(g.open);
    CHECK(g.reason == "disk 80.0% < 80%, inodes 3.0% < 80% on /var/lib/docker");
  }
  SECTION("well below") {
    s.disk = disk(41, 59);
    CHECK(gate(s, c, GateId::disk).reason == "disk 41.0% < 80%, inodes 3.0% < 80% on /var/lib/docker");
  }
  SECTION("inodes alone open it") {
    s.disk = disk(10, 90, 85, 15);
    auto g = gate(s, c, GateId::disk);
    CHECK(g.open);
    CHECK(g.reason == "inodes 85.0% >= 80% on /var/lib/docker");
  }
  SECTION("custom thresholds") {
    c.disk.threshold_percent = 95;
    c.disk.inode_threshold_percent = 99.5;
    s.disk = disk(94, 6, 99, 1);
    CHECK_FALSE(gate(s, c, GateId::disk).open);
    s.disk = disk(95, 5);
    CHECK(gate(s, c, GateId::disk).reason == "disk 95.0% >= 95% on /var/lib/docker");
  }
  SECTION("0-byte filesystem is 0%: closed") {
    s.disk = disk(0, 0, 0, 0);
    CHECK_FALSE(gate(s, c, GateId::disk).open);
  }
  SECTION("unknown disk is closed with the error as reason") {
    s.disk.reset();
    s.disk_error = "Failed to statvfs /var/lib/docker: No such file or directory";
    auto g = gate(s, c, GateId::disk);
    CHECK_FALSE(g.open);
    CHECK(g.reason == s.disk_error);
    s.disk_error.clear();
    CHECK(gate(s, c, GateId::disk).reason == "disk usage unknown");
  }
}

TEST_CASE("runs gate", "[gates][runs]") {
  auto s = open_snapshot();
  auto c = config();
  const Labels stack_ns{{"com.docker.stack.namespace", kRun}};
  SECTION("no run stack: open") {
    CHECK(gate(s, c, GateId::runs).reason == "no run stack live");
  }
  SECTION("a service of a run stack closes it and names the stack") {
    auto svc = service(kRun + "_app", 1, 1);
    svc.labels = stack_ns;
    set_services(s, {svc});
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::runs).open);
    CHECK(r.gate(GateId::runs).reason == "run stack " + kRun + " live");
    CHECK(r.live_run_stacks == std::vector<std::string>{kRun});
  }
  SECTION("a service scaled to 0 still counts: the stack is deployed") {
    auto svc = service(kRun + "_app", 0, 0);
    svc.labels = stack_ns;
    set_services(s, {svc});
    CHECK_FALSE(gate(s, c, GateId::runs).open);
  }
  SECTION("a container in each live state closes it; exited and dead do not") {
    for (std::string state : {"created", "running", "restarting", "paused", "removing"}) {
      INFO(state);
      s.containers = {container("x", state, stack_ns)};
      CHECK_FALSE(gate(s, c, GateId::runs).open);
      CHECK(is_live_container_state(state));
    }
    for (std::string state : {"exited", "dead"}) {
      INFO(state);
      s.containers = {container("x", state, stack_ns)};
      CHECK(gate(s, c, GateId::runs).open);
      CHECK_FALSE(is_live_container_state(state));
    }
  }
  SECTION("the stack label may be the second of stack_labels (compose project)") {
    s.containers = {container("x", "running", {{"com.docker.compose.project", kRun}})};
    CHECK_FALSE(gate(s, c, GateId::runs).open);
    CHECK(stack_of({{"com.docker.compose.project", "b"}, {"com.docker.stack.namespace", "a"}}, c) == "a");
  }
  SECTION("a label not in stack_labels is ignored") {
    s.containers = {container("x", "running", {{"other.label", kRun}})};
    CHECK(gate(s, c, GateId::runs).open);
  }
  SECTION("a non-matching stack does not close it") {
    auto svc = service("proxy_web", 1, 1);
    svc.labels = {{"com.docker.stack.namespace", "proxy"}};
    set_services(s, {svc});
    s.containers = {container("y", "running", {{"com.docker.stack.namespace", "abcde-1a2b3c_ci_commoninternet_net"}}),
                    container("z", "running", {{"com.docker.stack.namespace", "abcd-1a2b3g_ci_commoninternet_net"}})};
    CHECK(gate(s, c, GateId::runs).open);
  }
  SECTION("several stacks: sorted, unique, all named") {
    const std::string other = "zz-ffffff_ci_commoninternet_net";
    s.containers = {container("a", "running", {{"com.docker.stack.namespace", other}}),
                    container("b", "running", stack_ns), container("c", "created", stack_ns)};
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK(r.live_run_stacks == std::vector<std::string>{kRun, other});
    CHECK(r.gate(GateId::runs).reason == "run stacks " + kRun + ", " + other + " live");
  }
  SECTION("custom run_stacks regex") {
    c.gates.run_stacks = "^ci-";
    c.gates.run_stacks_re = std::regex(c.gates.run_stacks, std::regex::ECMAScript);
    s.containers = {container("a", "running", {{"com.docker.stack.namespace", "ci-42"}})};
    CHECK_FALSE(gate(s, c, GateId::runs).open);
  }
  SECTION("containers still count when services are not visible (non-manager)") {
    s.services_visible = false;
    s.services_latest.reset();
    s.services_previous.reset();
    s.containers = {container("x", "running", stack_ns)};
    CHECK_FALSE(gate(s, c, GateId::runs).open);
  }
  SECTION("not connected / not synced: closed") {
    s.docker_connected = false;
    CHECK(gate(s, c, GateId::runs).reason == "docker unreachable");
    CHECK_FALSE(gate(s, c, GateId::runs).open);
    s.docker_connected = true;
    s.synced = false;
    CHECK(gate(s, c, GateId::runs).reason == "not synced");
    CHECK_FALSE(gate(s, c, GateId::runs).open);
  }
}

TEST_CASE("converge gate", "[gates][converge]") {
  auto s = open_snapshot();
  auto c = config();
  c.gates.stuck_after = std::chrono::minutes(30);
  SECTION("converged in both observations: open") {
    auto g = gate(s, c, GateId::converge);
    CHECK(g.open);
    CHECK(g.reason == "1 service converged");
  }
  SECTION("update states none/completed/rollback_completed count as settled") {
    for (std::string u : {"completed", "rollback_completed"}) {
      set_services(s, {service("a", 2, 2, u)});
      CHECK(gate(s, c, GateId::converge).open);
    }
  }
  SECTION("updating closes it and lists the service") {
    auto svc = service("web", 2, 2, "updating");
    svc.updated_at = t0() - 1min;
    set_services(s, {svc});
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.gate(GateId::converge).reason == "1 service converging: web");
    CHECK(r.unconverged_services == std::vector<std::string>{"web"});
    // It becomes stuck just after updated_at + stuck_after.
    REQUIRE(r.time_wakeup);
    CHECK(*r.time_wakeup == t0() - 1min + 30min + 1ms);
  }
  SECTION("running != desired in only one observation still closes it") {
    s.services_previous->services = {service("web", 0, 1)};
    CHECK_FALSE(gate(s, c, GateId::converge).open);
    set_services(s, {service("web", 1, 1)});
    s.services_latest->services = {service("web", 0, 1)};
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("start-first update shows 4/2: not converged") {
    auto svc = service("web", 4, 2, "completed");
    svc.updated_at = t0() - 10s;
    set_services(s, {svc});
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("global service: running == desired") {
    auto svc = service("agent", 3, 3);
    svc.mode = ServiceMode::global;
    set_services(s, {svc});
    CHECK(gate(s, c, GateId::converge).open);
    svc.status->running = 2;
    svc.updated_at = t0() - 10s;
    set_services(s, {svc});
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("replicated job: completed >= total completions") {
    auto job = service("migrate", 0, 1);
    job.mode = ServiceMode::replicated_job;
    job.total_completions = 3;
    job.status->completed = 2;
    job.updated_at = t0() - 10s;
    set_services(s, {job});
    CHECK_FALSE(gate(s, c, GateId::converge).open);
    job.status->completed = 3;
    set_services(s, {job});
    CHECK(gate(s, c, GateId::converge).open);
  }
  SECTION("global job: none running and completed >= desired") {
    auto job = service("sweep", 1, 2);
    job.mode = ServiceMode::global_job;
    job.status->completed = 1;
    job.updated_at = t0() - 10s;
    set_services(s, {job});
    CHECK_FALSE(gate(s, c, GateId::converge).open);
    job.status = Service::Status{0, 2, 2};
    set_services(s, {job});
    CHECK(gate(s, c, GateId::converge).open);
  }
  SECTION("a missing ServiceStatus is unconverged (unknown means closed)") {
    auto svc = service("web", 0, 0);
    svc.status.reset();
    svc.updated_at = t0() - 10s;
    set_services(s, {svc});
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("update paused: stuck, listed, does not hold the gate") {
    auto svc = service("web", 1, 2, "paused");
    svc.updated_at = t0() - 10s;
    set_services(s, {svc, service("db", 1, 1)});
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK(r.gate(GateId::converge).open);
    CHECK(r.stuck_services == std::vector<std::string>{"web (update paused)"});
    CHECK(r.unconverged_services.empty());
    CHECK(r.gate(GateId::converge).reason == "1 service converged; stuck (ignored): web (update paused)");
  }
  SECTION("rollback_paused: stuck") {
    set_services(s, {service("web", 1, 2, "rollback_paused")});
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK(r.gate(GateId::converge).open);
    CHECK(r.stuck_services == std::vector<std::string>{"web (rollback paused)"});
  }
  SECTION("unconverged longer than stuck_after: stuck; exactly at it: not yet") {
    auto svc = service("pending", 0, 1);  // e.g. an unsatisfiable placement constraint
    svc.updated_at = t0() - 30min;
    set_services(s, {svc});
    auto at_limit = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(at_limit.gate(GateId::converge).open);
    CHECK(at_limit.time_wakeup == t0() + 1ms);
    auto after = evaluate_gates(s, c, at(t0() + 1s));
    CHECK(after.gate(GateId::converge).open);
    REQUIRE(after.stuck_services.size() == 1);
    CHECK(after.stuck_services[0].rfind("pending (unconverged 30m", 0) == 0);
    auto before = evaluate_gates(s, c, at(t0() - 1s));
    CHECK_FALSE(before.gate(GateId::converge).open);
  }
  SECTION("stuck_after 0: nothing is ever stuck by time") {
    c.gates.stuck_after = Duration::zero();
    auto svc = service("pending", 0, 1);
    svc.updated_at = t0() - 24h * 30;
    set_services(s, {svc});
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.stuck_services.empty());
    CHECK_FALSE(r.time_wakeup.has_value());
  }
  SECTION("a service seen only in the latest observation is not converged yet") {
    s.services_latest->services.push_back(service("new", 1, 1));
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.unconverged_services == std::vector<std::string>{"new"});
  }
  SECTION("a service gone from the latest observation is forgotten") {
    s.services_previous->services.push_back(service("gone", 0, 1));
    CHECK(gate(s, c, GateId::converge).open);
  }
  SECTION("observations less than 1 s apart: closed until previous + 1 s") {
    s.services_previous->at = s.services_latest->at - 999ms;
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.time_wakeup == t0() - 999ms);  // previous at m0() - 1999ms, + 1 s, in the wall frame
    s.services_previous->at = s.services_latest->at - 1s;
    CHECK(gate(s, c, GateId::converge).open);
  }
  SECTION("missing previous observation: closed, wake 1 s after the latest") {
    s.services_previous.reset();
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.time_wakeup == t0());  // latest at m0() - 1 s, + 1 s, in the wall frame
  }
  SECTION("no service listed yet: closed") {
    s.services_latest.reset();
    s.services_previous.reset();
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("non-manager: open, saying only containers are used") {
    s.services_visible = false;
    s.services_latest.reset();
    s.services_previous.reset();
    auto g = gate(s, c, GateId::converge);
    CHECK(g.open);
    CHECK(g.reason.find("not visible on this node") != std::string::npos);
  }
  SECTION("disabled by config: open whatever the services") {
    c.gates.converge = false;
    set_services(s, {service("web", 0, 1, "updating")});
    auto g = gate(s, c, GateId::converge);
    CHECK(g.open);
    CHECK(g.reason == "converge gate disabled");
  }
  SECTION("not connected / not synced: closed") {
    s.docker_connected = false;
    CHECK_FALSE(gate(s, c, GateId::converge).open);
    s.docker_connected = true;
    s.synced = false;
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
}

// SPEC "Never twice, never in a loop": the 1 s observation spacing is measured on the
// monotonic clock, so a wall-clock step between (or after) two observations changes nothing.
TEST_CASE("converge gate: a wall-clock step neither opens nor blocks it", "[gates][converge][clock]") {
  auto s = open_snapshot();
  auto c = config();
  s.services_latest->at = m0();
  SECTION("500 ms apart on mono, the wall stepped an hour forward: still closed") {
    s.services_previous->at = m0() - 500ms;
    const Now now{m0(), t0() + 1h};
    auto r = evaluate_gates(s, c, now);
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.gate(GateId::converge).reason.find("less than 1 s apart") != std::string::npos);
    // The wake-up is 500 ms away on mono, placed in the (stepped) wall frame of now.
    CHECK(r.time_wakeup == t0() + 1h + 500ms);
  }
  SECTION("500 ms apart on mono, the wall stepped an hour back: still closed") {
    s.services_previous->at = m0() - 500ms;
    auto r = evaluate_gates(s, c, Now{m0(), t0() - 1h});
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.time_wakeup == t0() - 1h + 500ms);
  }
  SECTION("exactly 1 s apart on mono, the wall stepped an hour back: open") {
    s.services_previous->at = m0() - 1s;
    CHECK(evaluate_gates(s, c, Now{m0(), t0() - 1h}).gate(GateId::converge).open);
  }
  SECTION("exactly 1 s apart on mono, the wall stepped an hour forward: open") {
    s.services_previous->at = m0() - 1s;
    CHECK(evaluate_gates(s, c, Now{m0(), t0() + 1h}).gate(GateId::converge).open);
  }
  SECTION("999 ms apart on mono: closed whatever the wall says") {
    s.services_previous->at = m0() - 999ms;
    for (auto wall : {t0() - 24h, t0() - 1s, t0(), t0() + 1s, t0() + 24h})
      CHECK_FALSE(evaluate_gates(s, c, Now{m0(), wall}).gate(GateId::converge).open);
  }
  SECTION("one observation: the wake-up is 1 s after it on mono, whatever the wall did") {
    s.services_previous.reset();
    auto r = evaluate_gates(s, c, Now{m0() + 200ms, t0() - 3h});
    CHECK_FALSE(r.gate(GateId::converge).open);
    CHECK(r.time_wakeup == t0() - 3h + 800ms);
  }
  SECTION("stuck_after is the wall age of Docker's UpdatedAt: a wall step moves it") {
    // UpdatedAt is Docker's wall time (moby api/types/swarm Meta): no monotonic instant
    // of ours matches it, so only the wall clock can age it.
    auto svc = service("pending", 0, 1);
    svc.updated_at = t0() - 1min;
    set_services(s, {svc});
    s.services_previous->at = m0() - 1s;
    auto fresh = evaluate_gates(s, c, Now{m0(), t0()});
    CHECK_FALSE(fresh.gate(GateId::converge).open);
    CHECK(fresh.time_wakeup == t0() - 1min + 30min + 1ms);
    auto stepped = evaluate_gates(s, c, Now{m0(), t0() + 1h});
    CHECK(stepped.gate(GateId::converge).open);
    CHECK(stepped.stuck_services.size() == 1);
  }
}

TEST_CASE("cooldown gate", "[gates][cooldown]") {
  auto s = open_snapshot();
  auto c = config();
  c.prune.cooldown = 15min;
  SECTION("no prune yet: open") {
    CHECK(gate(s, c, GateId::cooldown).reason == "no prune yet");
  }
  SECTION("1 s before the end: closed, wakes at the end") {
    s.last_prune_finished = t0() - 15min + 1s;
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::cooldown).open);
    CHECK(r.gate(GateId::cooldown).reason.rfind("last prune 14m ago, cooldown 15m: until ", 0) == 0);
    CHECK(r.time_wakeup == t0() + 1s);
  }
  SECTION("exactly at the end: open") {
    s.last_prune_finished = t0() - 15min;
    CHECK(gate(s, c, GateId::cooldown).open);
  }
  SECTION("1 s after: open") {
    s.last_prune_finished = t0() - 15min - 1s;
    auto g = gate(s, c, GateId::cooldown);
    CHECK(g.open);
    CHECK(g.reason == "last prune 15m ago, cooldown 15m over");
  }
  SECTION("the until time is printed in UTC") {
    s.last_prune_finished = TimePoint{} + std::chrono::seconds(1795738500);  // 2026-11-27T00:15:00Z
    CHECK(gate(s, c, GateId::cooldown, *s.last_prune_finished + 2min).reason ==
          "last prune 2m ago, cooldown 15m: until 2026-11-27T00:30:00Z");
  }
  SECTION("cooldown 0: always open") {
    c.prune.cooldown = Duration::zero();
    s.last_prune_finished = t0();
    CHECK(gate(s, c, GateId::cooldown).open);
  }
  SECTION("a last prune in the future (clock stepped back): closed until last + cooldown") {
    s.last_prune_finished = t0() + 1min;
    auto r = evaluate_gates(s, c, at(t0()));
    CHECK_FALSE(r.gate(GateId::cooldown).open);
    CHECK(r.time_wakeup == t0() + 16min);
  }
}

TEST_CASE("swarm role closes runs and converge when the swarm's state is unknown", "[gates][swarm]") {
  auto s = open_snapshot();
  auto c = config();
  const Labels stack_ns{{"com.docker.stack.namespace", kRun}};
  SECTION("locked: both closed, saying the services are unknown, even with no container") {
    s.swarm_role = SwarmRole::unknown;
    s.swarm_state = "locked";
    s.services_visible = false;
    s.services_latest.reset();
    s.services_previous.reset();
    for (GateId id : {GateId::runs, GateId::converge}) {
      auto g = gate(s, c, id);
      CHECK_FALSE(g.open);
      CHECK(g.reason == "swarm is locked on this node: its services are unknown");
    }
    CHECK(gate(s, c, GateId::disk).open);
  }
  SECTION("pending and error too") {
    s.swarm_role = SwarmRole::unknown;
    for (const char* st : {"pending", "error"}) {
      s.swarm_state = st;
      CHECK_FALSE(gate(s, c, GateId::runs).open);
      CHECK_FALSE(gate(s, c, GateId::converge).open);
    }
  }
  SECTION("a manager whose /services failed: both closed with the error") {
    s.services_error = "Failed to list services: HTTP 503: rpc error: code = Unknown desc = The swarm does not have a leader";
    s.services_latest.reset();
    s.services_previous.reset();
    auto g = gate(s, c, GateId::runs);
    CHECK_FALSE(g.open);
    CHECK(g.reason.starts_with("services unknown on this manager: Failed to list services: HTTP 503"));
    CHECK_FALSE(gate(s, c, GateId::converge).open);
  }
  SECTION("a worker: containers only, and the reasons say a worker cannot see the cluster") {
    s.swarm_role = SwarmRole::worker;
    s.services_visible = false;
    s.services_latest.reset();
    s.services_previous.reset();
    auto conv = gate(s, c, GateId::converge);
    CHECK(conv.open);
    CHECK(conv.reason == "this node is a swarm worker: a worker cannot see the cluster's services, only containers are used");
    auto runs = gate(s, c, GateId::runs);
    CHECK(runs.open);
    CHECK(runs.reason.find("a worker cannot see the cluster") != std::string::npos);
    s.containers = {container("x", "created", stack_ns)};
    CHECK_FALSE(gate(s, c, GateId::runs).open);
  }
  SECTION("inactive: containers only") {
    s.swarm_role = SwarmRole::inactive;
    s.swarm_state = "inactive";
    s.services_visible = false;
    s.services_latest.reset();
    s.services_previous.reset();
    CHECK(gate(s, c, GateId::converge).reason == "swarm inactive on this node: no services, only containers are used");
    CHECK(gate(s, c, GateId::runs).open);
  }
}

TEST_CASE("label values over 1 KiB never reach the regex and do not match", "[gates][limits]") {
  auto s = open_snapshot();
  auto c = config();
  c.gates.run_stacks = ".*";
  c.gates.run_stacks_re = std::regex(c.gates.run_stacks, std::regex::ECMAScript);
  s.containers = {container("big", "running", {{"com.docker.stack.namespace", std::string(100 * 1024, 'a')}})};
  // 100 KB through std::regex would recurse per character (the stack risk).
  CHECK(gate(s, c, GateId::runs).open);
  s.containers = {container("edge", "running", {{"com.docker.stack.namespace", std::string(1024, 'a')}})};
  CHECK_FALSE(gate(s, c, GateId::runs).open);
  s.containers = {container("over", "running", {{"com.docker.stack.namespace", std::string(1025, 'a')}})};
  CHECK(gate(s, c, GateId::runs).open);
}

TEST_CASE("runs gate reads the live model's per-stack counts like the containers they count", "[gates][runs]") {
  // LiveModel::set_stack_labels: the snapshot carries {stack: live containers} instead of
  // every container (issue 9); the verdict must be what the containers would give.
  auto s = open_snapshot();
  auto c = config();
  s.live_container_stacks = std::map<std::string, std::size_t>{{"not-a-run", 3}};
  CHECK(gate(s, c, GateId::runs).open);
  s.live_container_stacks->emplace(kRun, 1);
  auto r = evaluate_gates(s, c, at(t0()));
  CHECK_FALSE(r.gate(GateId::runs).open);
  CHECK(r.live_run_stacks == std::vector<std::string>{kRun});
  CHECK(r.gate(GateId::runs).reason == "run stack " + kRun + " live");
  // The same stack from a container and from a count is one stack.
  s.containers = {container("x", "running", {{"com.docker.stack.namespace", kRun}})};
  CHECK(evaluate_gates(s, c, at(t0())).live_run_stacks == std::vector<std::string>{kRun});
  s.containers.clear();
  (*s.live_container_stacks)[kRun] = 0;  // no live container left
  CHECK(gate(s, c, GateId::runs).open);
  // Over 1 KiB never reaches the regex, as for labels.
  c.gates.run_stacks = ".*";
  c.gates.run_stacks_re = std::regex(c.gates.run_stacks, std::regex::ECMAScript);
  s.live_container_stacks = std::map<std::string, std::size_t>{{std::string(1025, 'a'), 1}};
  CHECK(gate(s, c, GateId::runs).open);
  s.live_container_stacks = std::map<std::string, std::size_t>{{std::string(1024, 'a'), 1}};
  CHECK_FALSE(gate(s, c, GateId::runs).open);
}
