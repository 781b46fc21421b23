// What a prune would remove now (for `plan` and dry-run): stopped containers and dangling
// images created before now-until, build cache not used since now-until. Read-only.
#pragma once
#include <cstdint>
#include <expected>
#include <vector>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "model/types.hpp"

namespace cdp {

struct Candidates {
  std::vector<Candidate> containers;
  std::vector<Candidate> images;
  std::vector<Candidate> build_cache;
  std::uint64_t total_bytes() const;
};

awaitable<std::expected<Candidates, docker::Error>> list_candidates(docker::Client& client,
                                                                    const Config::Prune& prune,
                                                                    TimePoint now);
}  // namespace cdp
