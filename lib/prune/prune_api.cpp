// The real PruneApi: the confirming lists over docker::Client, the steps through the
// executor (the only code that sends a prune).
#include "prune/prune_api.hpp"

#include "policy/gates.hpp"
#include "policy/watch_core.hpp"
#include "prune/executor.hpp"

namespace cdp {

namespace {

class DockerPruneApi final : public PruneApi {
 public:
  explicit DockerPruneApi(docker::Client client) : client_(std::move(client)) {}

  awaitable<std::expected<ConfirmLists, docker::Error>> confirm_lists() override {
    using R = std::expected<ConfirmLists, docker::Error>;
    ConfirmLists out;
    auto info = co_await client_.info();
    if (!info) {
      R failed = std::unexpected(info.error());  // named: GCC 12 temporaries in co_await
      co_return failed;
    }
    out.info = *info;
    // /services only on a manager, as the Docker watch lists them: a worker or an inactive
    // swarm answers 503 (nothing to see: containers only), and a locked/pending/error node's
    // 503 says nothing either (the gates close on the role read from /info). A manager
    // whose /services fails makes the confirmation fail: nothing is sent.
    if (watch::ask_services(swarm_role_of(out.info))) {
      auto services = co_await client_.services();
      if (!services) {
        R failed = std::unexpected(services.error());
        co_return failed;
      }
      out.services = *services;
    }
    const std::vector<std::string> states = live_container_states();
    auto containers = co_await client_.containers(states);
    if (!containers) {
      R failed = std::unexpected(containers.error());
      co_return failed;
    }
    out.containers = std::move(*containers);
    R ok = std::move(out);
    co_return ok;
  }

  awaitable<StepResult> prune_step(Config::Prune prune, PruneStep step, TimePoint now) override {
    auto op = run_step(client_, prune, step, now);
    StepResult r = co_await std::move(op);
    co_return r;
  }

 private:
  docker::Client client_;
};

}  // namespace

std::unique_ptr<PruneApi> make_docker_prune_api(const docker::Client& client) {
  return std::make_unique<DockerPruneApi>(client);
}

}  // namespace cdp
