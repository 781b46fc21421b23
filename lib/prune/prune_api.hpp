// The narrow Docker seam of the prune path: the confirming lists read right before a
// prune's first step, and one prune step. The daemon wires the real engine (over
// docker::Client); tests and a simulation wire a fake. Must not decide or log.
#pragma once
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "model/types.hpp"
#include "policy/prune_step.hpp"

namespace cdp {

// GET /info, /services?status=true (nullopt: 503, not visible here), live containers.
struct ConfirmLists {
  EngineInfo info;
  std::optional<std::vector<Service>> services;
  std::vector<Container> containers;
};

class PruneApi {
 public:
  virtual ~PruneApi() = default;
  virtual awaitable<std::expected<ConfirmLists, docker::Error>> confirm_lists() = 0;
  // Sends (or, dry-run, lists) one step; never cancelled once sent; never fails (outcome).
  virtual awaitable<StepResult> prune_step(Config::Prune prune, PruneStep step, TimePoint now) = 0;
};

// The real engine behind a negotiated client (copied: a prune outlives a reconnect).
std::unique_ptr<PruneApi> make_docker_prune_api(const docker::Client& client);

}  // namespace cdp
