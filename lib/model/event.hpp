// One Docker event as the model applies it: the shared type of lib/docker (which parses
// the /events stream into it) and lib/model (which applies it). Plain data, no JSON:
// it lives below both rooms so neither reaches up for it (issue 8).
#pragma once
#include <cstdint>
#include <string>

#include "model/types.hpp"

namespace cdp {

struct Event {
  std::string type;    // container, service, node, image, network, volume, ...
  std::string action;  // create, start, die, destroy, update, remove, ...
  std::string actor_id;
  Labels attributes;   // Actor.Attributes (container events carry all labels)
  std::int64_t time_nano = 0;
};

namespace docker {
using Event = cdp::Event;  // its old name, still used by lib/docker and the daemon
}  // namespace docker

}  // namespace cdp
